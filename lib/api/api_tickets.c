/* api_tickets.c — bytes <-> json_t <-> request structs for the ticket routes:
 * each handler checks the caller may act, validates the request (core/
 * validate.c for bodies), calls one use case (service/) and puts what it
 * returns, rendered there, in the response. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsm.h"
#include "core/mask.h"
#include "http/http.h"

/* A ticket answers with its version as the ETag (for If-Match). */
static void reply_ticket(struct escp_req *r, int status, json_t *ticket)
{
    snprintf(r->etag, sizeof r->etag, "\"%" JSON_INTEGER_FORMAT "\"",
             json_integer_value(json_object_get(ticket, "version")));
    r->status = status;
    r->json = ticket;
}

/* The state machine's role column (fsm.c), asked first thing so that a
 * caller who may never do this gets 403 before any 400: it depends on the
 * person (an agent's tier for close and reopen), not only on the role, so
 * the route entries of the actions admit every role and leave it to this. */
static int require_role(struct escp_req *r, enum esc_action action)
{
    if (esc_fsm_role_may(action, &r->actor))
        return 0;
    esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "the %s role may not %s tickets",
                  esc_role_name(r->actor.role), esc_action_name(action));
    return -1;
}

/* ---- POST /v1/tickets ---- */

static void request_hash(const char *body, size_t len, char out[65])
{
    /* the hash of the canonical JSON, so key order and spacing do not matter */
    json_t *j = json_loadb(body, len, 0, NULL);
    char *canon = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    escp_token_hash(canon ? canon : "", out);
    free(canon);
    json_decref(j);
}

static void escp_api_ticket_create(struct escp_req *r)
{
    struct escp_new_ticket nt = {0};
    esc_error_t *err = &r->err;
    json_t *b = NULL;

    if (require_role(r, ESC_ACT_CREATE) != 0 || escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    if (!(b = escp_body_object(r, false)))
        return;
    if (escp_ticket_body_parse(b, &nt, err) != 0)
        goto out;
    const char *key = escp_header(r, "Idempotency-Key");
    if (key) {
        size_t n = strlen(key);
        if (n < 1 || n > 255) {
            esc_error_set(err, ESC_ERR_VALIDATION, "Idempotency-Key",
                          "Idempotency-Key must be 1 to 255 characters");
            goto out;
        }
        nt.idempotency_key = key;
        request_hash(r->body, r->body_len, nt.request_hash);
    }
    bool replayed = false;
    json_t *t = escp_svc_create(r->svc, &r->actor, &nt, &replayed, err);
    if (t) {
        snprintf(r->location, sizeof r->location, "/v1/tickets/%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(t, "id")));
        r->replayed = replayed;
        reply_ticket(r, 201, t);
    }
out:
    json_decref(b);
}

/* ---- GET /v1/tickets/{id} ---- */

static void escp_api_ticket_get(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "ticket")) <= 0)
        return;
    json_t *t = escp_svc_ticket_get(r->svc, id, &r->err);
    if (t)
        reply_ticket(r, 200, t);
}

/* ---- GET /v1/tickets/{id}/events ---- */

static void escp_api_ticket_events(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "ticket")) <= 0)
        return;
    r->json = escp_svc_ticket_events(r->svc, id, &r->err);
    r->status = 200;
}

/* ---- GET /v1/tickets/{id}/customer ---- */

static void escp_api_ticket_customer(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "ticket")) <= 0)
        return;
    r->json = escp_svc_customer_reveal(r->svc, id, &r->actor, &r->err);
    r->status = 200;
}

/* ---- POST /v1/tickets/{id}/<action> ---- */

static void escp_api_ticket_action(struct escp_req *r)
{
    enum esc_action action = (enum esc_action)r->action;
    struct escp_action_args a = {.if_match = -1};
    esc_error_t *err = &r->err;
    json_t *b = NULL;
    int64_t id;

    if (require_role(r, action) != 0 || escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    if (!(b = escp_body_object(r, action == ESC_ACT_ACKNOWLEDGE || action == ESC_ACT_RESUME)))
        return;
    if (escp_action_body_parse(action, b, &a, err) != 0 || (id = escp_path_id(r, 0, "ticket")) <= 0 ||
        escp_if_match(r, &a.if_match) != 0)
        goto out;
    json_t *res = escp_svc_act(r->svc, &r->actor, id, action, &a, err);
    if (!res)
        goto out;
    if (action == ESC_ACT_COMMENT) { /* the new event */
        r->status = 201;
        r->json = res;
    } else {
        reply_ticket(r, 200, res);
    }
out:
    json_decref(b);
}

/* ---- POST /v1/queues/{tier}/claim ---- */

#define CLAIM_WAIT_MAX_S 30

static void escp_api_claim(struct escp_req *r)
{
    /* the route only matches a tier's name ({tier}); the route entry admits
     * agents, and which queue is theirs is the state machine's to say */
    enum esc_tier tier = (enum esc_tier)esc_tier_from_name(r->params[0]);
    if (!esc_fsm_may_claim(&r->actor, tier)) {
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "only an agent of %s may claim from its queue",
                      esc_tier_name(tier));
        return;
    }
    if (escp_query_only(r, (const char *const[]){"wait", NULL}) != 0)
        return;
    if (r->body_len) { /* a body is allowed but must be an empty JSON object */
        json_t *b = escp_body_object(r, true);
        if (!b)
            return;
        int rc = escp_only_keys(b, (const char *const[]){NULL}, "", &r->err);
        json_decref(b);
        if (rc != 0)
            return;
    }
    int wait_ms;
    if (escp_wait_query(r, CLAIM_WAIT_MAX_S, &wait_ms) != 0)
        return;
    json_t *t = escp_svc_claim(r->svc, &r->actor, tier, &r->poll, &r->err);
    if (t)
        reply_ticket(r, 200, t);
    else if (r->err.code != ESC_OK || !escp_long_poll(r, wait_ms))
        r->status = 204;
}

/* ---- GET /v1/tickets ---- */

/* "a,b" -> "{a,b}" after checking each name; NULL param -> NULL. */
static int list_param(struct escp_req *r, const char *name, int (*to_enum)(const char *),
                      bool numeric, char *out, size_t cap, const char **res)
{
    const char *v = escp_query(r, name);
    *res = NULL;
    if (!v)
        return 0;
    size_t o = 0;
    out[o++] = '{';
    const char *p = v;
    while (1) {
        size_t n = strcspn(p, ",");
        char item[32];
        if (n == 0 || n >= sizeof item)
            goto bad;
        memcpy(item, p, n);
        item[n] = '\0';
        int e = to_enum(item);
        if (e < 0)
            goto bad;
        int w = numeric ? snprintf(out + o, cap - o, "%s%d", o > 1 ? "," : "", e)
                        : snprintf(out + o, cap - o, "%s%s", o > 1 ? "," : "", item);
        if (w < 0 || (size_t)w >= cap - o - 1)
            goto bad;
        o += (size_t)w;
        if (!p[n])
            break;
        p += n + 1;
    }
    out[o++] = '}';
    out[o] = '\0';
    *res = out;
    return 0;
bad:
    esc_error_set(&r->err, ESC_ERR_VALIDATION, name, "%s has an unknown value", name);
    return -1;
}

static int breach_kind(const char *s)
{
    return (strcmp(s, "ack") == 0 || strcmp(s, "resolve") == 0 || strcmp(s, "callback") == 0 ||
            strcmp(s, "promise") == 0) ? 0 : -1;
}

static void escp_api_ticket_list(struct escp_req *r)
{
    static const char *const allowed[] = {"tier", "state", "severity", "assignee", "breached",
                                          "due_before", "q", "limit", "cursor",
                                          "customer_phone", "customer_id_number", NULL};
    struct escp_list_filter f = {.limit = 50};
    char tiers[64], states[128], sevs[64], due[48], *pattern = NULL;
    esc_error_t *err = &r->err;

    /* finding a customer's other complaints is the managers' (issue 8),
     * refused before any parameter is judged, as a route's roles are */
    f.customer_phone = escp_query(r, "customer_phone");
    f.customer_id_number = escp_query(r, "customer_id_number");
    if ((f.customer_phone || f.customer_id_number) && r->actor.role != ESC_ROLE_MANAGER &&
        r->actor.role != ESC_ROLE_ADMIN) {
        esc_error_set(err, ESC_ERR_FORBIDDEN, NULL,
                      "only managers and admins may search by customer_phone or customer_id_number");
        return;
    }
    if (escp_query_only(r, allowed) != 0 ||
        list_param(r, "tier", esc_tier_from_name, true, tiers, sizeof tiers, &f.tiers) != 0 ||
        list_param(r, "state", esc_state_from_name, false, states, sizeof states, &f.states) != 0 ||
        list_param(r, "severity", esc_severity_from_name, false, sevs, sizeof sevs, &f.severities) != 0)
        return;
    const char *v;
    if ((v = escp_query(r, "assignee"))) {
        f.assignee = strcmp(v, "me") == 0 ? r->actor.id : escp_parse_id(v);
        if (f.assignee <= 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "assignee", "assignee must be a principal id or me");
            return;
        }
    }
    if ((v = escp_query(r, "breached"))) {
        if (breach_kind(v) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "breached", "breached must be ack, resolve, callback or promise");
            return;
        }
        f.breached = v;
    }
    if (escp_time_query(r, "due_before", due, sizeof due, &f.due_before) != 0 ||
        escp_limit_query(r, 200, &f.limit) != 0 ||
        /* opaque to clients: "c" followed by the last id seen, in hex */
        escp_cursor_query(r, 'c', &f.before_id) != 0)
        return;
    if ((v = escp_query(r, "q"))) {
        size_t n = strlen(v);
        if (esc_utf8_length(v) < 1 || esc_utf8_length(v) > 200) {
            esc_error_set(err, ESC_ERR_VALIDATION, "q", "q must be 1 to 200 characters");
            return;
        }
        pattern = malloc(2 * n + 3);
        if (!pattern) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            return;
        }
        size_t o = 0;
        pattern[o++] = '%';
        for (size_t i = 0; i < n; i++) {
            if (v[i] == '%' || v[i] == '_' || v[i] == '\\')
                pattern[o++] = '\\';
            pattern[o++] = v[i];
        }
        pattern[o++] = '%';
        pattern[o] = '\0';
        f.q_pattern = pattern;
    }
    json_t *items = escp_svc_ticket_list(r->svc, &f, err);
    if (!items)
        goto out;
    json_t *next = escp_page_next(items, f.limit, 'c');
    r->status = 200;
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
out:
    free(pattern);
}

/* The actions admit every role here: who may do each is the state machine's
 * table (fsm.c), asked first in the handler (require_role). */
const struct escp_route escp_routes_tickets[] = {
    {"POST", "/v1/tickets",                escp_api_ticket_create, ESCP_ANY_ROLE, ESC_ACT_CREATE},
    {"GET", "/v1/tickets",                 escp_api_ticket_list, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/tickets/{}",              escp_api_ticket_get, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/tickets/{}/events",       escp_api_ticket_events, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/tickets/{}/customer",     escp_api_ticket_customer, ESCP_MANAGERS, -1},
    {"POST", "/v1/tickets/{}/acknowledge", escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_ACKNOWLEDGE},
    {"POST", "/v1/tickets/{}/escalate",    escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_ESCALATE},
    {"POST", "/v1/tickets/{}/return",      escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_RETURN},
    {"POST", "/v1/tickets/{}/wait",        escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_WAIT},
    {"POST", "/v1/tickets/{}/resume",      escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_RESUME},
    {"POST", "/v1/tickets/{}/resolve",     escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_RESOLVE},
    {"POST", "/v1/tickets/{}/close",       escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_CLOSE},
    {"POST", "/v1/tickets/{}/reopen",      escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_REOPEN},
    {"POST", "/v1/tickets/{}/comment",     escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_COMMENT},
    {"POST", "/v1/tickets/{}/plan",        escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_PLAN},
    {"POST", "/v1/queues/{tier}/claim",    escp_api_claim, ESCP_AGENTS, -1},
    {0},
};
