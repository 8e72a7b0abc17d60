/* api_tickets.c — bytes <-> json_t <-> request structs for the ticket routes.
 * Validation lives here; decisions live in service.c and fsm.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsm.h"
#include "core/mask.h"
#include "db/store.h"
#include "http/http.h"

/* ---- validation helpers ---- */

/* Parse the body as a JSON object. An empty body is {} when allow_empty. */
json_t *escp_body_object(struct escp_req *r, bool allow_empty)
{
    if (r->body_len == 0) {
        if (allow_empty)
            return json_object();
        esc_error_set(&r->err, ESC_ERR_INVALID_JSON, NULL, "a JSON object body is required");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        esc_error_set(&r->err, ESC_ERR_INVALID_JSON, NULL, "the body is not valid JSON: %s at line %d",
                      jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(j)) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, NULL, "the body must be a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

int escp_only_keys(json_t *obj, const char *const *allowed, const char *prefix, esc_error_t *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char field[64];
            snprintf(field, sizeof field, "%s%.*s", prefix, 48, key);
            esc_error_set(err, ESC_ERR_VALIDATION, field, "unknown field");
            return -1;
        }
    }
    return 0;
}

enum { OPTIONAL = 0, REQUIRED = 1 };

/* A string field of 1..max characters (min_chars 0 allows ""). NULL/absent -> *out = NULL. */
static int get_str(json_t *obj, const char *key, const char *field, int required, size_t min_chars,
                   size_t max_chars, const char **out, esc_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            esc_error_set(err, ESC_ERR_VALIDATION, field, "%s is required", field);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be a string", field);
        return -1;
    }
    size_t n = esc_utf8_length(json_string_value(v));
    if (n < min_chars || n > max_chars) {
        esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be %zu to %zu characters", field,
                      min_chars, max_chars);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_enum(json_t *obj, const char *key, int (*valid)(const char *), const char *dflt,
                    int required, const char **out, esc_error_t *err)
{
    if (get_str(obj, key, key, required, 1, 64, out, err) != 0)
        return -1;
    if (!*out) {
        *out = dflt;
        return 0;
    }
    if (!valid(*out)) {
        esc_error_set(err, ESC_ERR_VALIDATION, key, "%s has an unknown value", key);
        return -1;
    }
    return 0;
}

static int severity_valid(const char *s) { return esc_severity_from_name(s) >= 0; }

static int phone_valid(const char *s)
{
    int digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits++;
        else if (!strchr("+-() .", *s))
            return 0;
    }
    return digits >= 3;
}

static int email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@') && !strpbrk(s, " \t\r\n<>");
}

int64_t escp_parse_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return strtoll(s, NULL, 10);
}

/* Every ticket leaves the API masked, with its ETag. */
static void reply_ticket(struct escp_req *r, int status, json_t *ticket)
{
    escp_ticket_mask(ticket);
    snprintf(r->etag, sizeof r->etag, "\"%" JSON_INTEGER_FORMAT "\"",
             json_integer_value(json_object_get(ticket, "version")));
    r->status = status;
    r->json = ticket;
}

static int require_role(struct escp_req *r, enum esc_action action)
{
    if (esc_fsm_role_may(action, &r->actor))
        return 0;
    esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "the %s role may not %s tickets",
                  esc_role_name(r->actor.role), esc_action_name(action));
    return -1;
}

static int is_manager(const struct esc_actor *a)
{
    return a->role == ESC_ROLE_MANAGER || a->role == ESC_ROLE_ADMIN;
}

int escp_require_manager(struct escp_req *r)
{
    if (is_manager(&r->actor))
        return 0;
    esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "only managers and admins may do this");
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

int escp_ticket_body_parse(json_t *b, struct escp_new_ticket *nt, esc_error_t *err)
{
    static const char *const keys[] = {"subject", "description", "severity", "channel", "category",
                                       "customer", "external_ref", NULL};
    static const char *const ckeys[] = {"name", "phone", "email", "id_number", NULL};

    if (escp_only_keys(b, keys, "", err) != 0 ||
        get_str(b, "subject", "subject", REQUIRED, 1, 200, &nt->subject, err) != 0 ||
        get_str(b, "description", "description", OPTIONAL, 0, 10000, &nt->description, err) != 0 ||
        get_enum(b, "severity", severity_valid, "normal", OPTIONAL, &nt->severity, err) != 0 ||
        get_enum(b, "channel", esc_channel_valid, "other", OPTIONAL, &nt->channel, err) != 0 ||
        get_str(b, "category", "category", OPTIONAL, 1, 64, &nt->category, err) != 0 ||
        get_str(b, "external_ref", "external_ref", OPTIONAL, 1, 128, &nt->external_ref, err) != 0)
        return -1;
    if (!nt->description)
        nt->description = "";
    json_t *cust = json_object_get(b, "customer");
    if (cust && !json_is_null(cust)) {
        if (!json_is_object(cust)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer", "customer must be an object");
            return -1;
        }
        if (escp_only_keys(cust, ckeys, "customer.", err) != 0 ||
            get_str(cust, "name", "customer.name", OPTIONAL, 1, 200, &nt->customer_name, err) != 0 ||
            get_str(cust, "phone", "customer.phone", OPTIONAL, 1, 32, &nt->customer_phone, err) != 0 ||
            get_str(cust, "email", "customer.email", OPTIONAL, 3, 254, &nt->customer_email, err) != 0 ||
            get_str(cust, "id_number", "customer.id_number", OPTIONAL, 1, 64, &nt->customer_id_number, err) != 0)
            return -1;
        if (nt->customer_phone && !phone_valid(nt->customer_phone)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer.phone",
                          "customer.phone must be digits, optionally with + - ( ) . and spaces");
            return -1;
        }
        if (nt->customer_email && !email_valid(nt->customer_email)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer.email", "customer.email is not an email address");
            return -1;
        }
    }
    return 0;
}

static void escp_api_ticket_create(struct escp_req *r)
{
    struct escp_new_ticket nt = {0};
    esc_error_t *err = &r->err;
    json_t *b = NULL;

    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || require_role(r, ESC_ACT_CREATE) != 0)
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

static int path_id(struct escp_req *r, int64_t *id)
{
    *id = escp_parse_id(r->params[0]);
    if (*id <= 0) {
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
        return -1;
    }
    return 0;
}

static void escp_api_ticket_get(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || path_id(r, &id) != 0)
        return;
    struct escp_conn *c = escp_lease(r->svc->store, &r->err);
    if (!c)
        return;
    json_t *t = escp_store_ticket_get(c, id, &r->err);
    escp_release(r->svc->store, c);
    if (t)
        reply_ticket(r, 200, t);
}

/* ---- GET /v1/tickets/{id}/events ---- */

static void escp_api_ticket_events(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || path_id(r, &id) != 0)
        return;
    struct escp_conn *c = escp_lease(r->svc->store, &r->err);
    if (!c)
        return;
    json_t *doc = escp_store_ticket_events(c, id, &r->err);
    escp_release(r->svc->store, c);
    if (!doc)
        return;
    size_t i;
    json_t *ev;
    static const char *const free_text[] = {"reason", "body", "resolution", NULL};
    json_array_foreach(json_object_get(doc, "items"), i, ev) {
        for (const char *const *k = free_text; *k; k++) {
            json_t *v = json_object_get(ev, *k);
            char *m = json_is_string(v) ? esc_mask_text(json_string_value(v)) : NULL;
            if (m)
                json_object_set_new(ev, *k, json_string(m));
            free(m);
        }
    }
    r->status = 200;
    r->json = doc;
}

/* ---- GET /v1/tickets/{id}/customer ---- */

static void escp_api_ticket_customer(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    if (!is_manager(&r->actor)) {
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "only managers may see unmasked customer data");
        return;
    }
    if (path_id(r, &id) != 0)
        return;
    struct escp_conn *c = escp_lease(r->svc->store, &r->err);
    if (!c)
        return;
    r->json = escp_store_customer_reveal(c, id, r->actor.id, &r->err);
    escp_release(r->svc->store, c);
    if (r->json) /* the customer_revealed event: wake the event feed */
        escp_wake_events(r->svc->wake);
    r->status = 200;
}

/* ---- POST /v1/tickets/{id}/<action> ---- */

static int parse_if_match(struct escp_req *r, int *out)
{
    const char *h = escp_header(r, MHD_HTTP_HEADER_IF_MATCH);
    *out = -1;
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    char buf[16];
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "If-Match", "If-Match must be \"<version>\"");
        return -1;
    }
    memcpy(buf, h, n);
    buf[n] = '\0';
    int64_t v = escp_parse_id(buf);
    if (v <= 0 || v > 2000000000) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "If-Match", "If-Match must be \"<version>\"");
        return -1;
    }
    *out = (int)v;
    return 0;
}

int escp_action_body_parse(enum esc_action action, json_t *b, struct escp_action_args *a,
                           esc_error_t *err)
{
    switch (action) {
    case ESC_ACT_ACKNOWLEDGE:
    case ESC_ACT_RESUME:
        escp_only_keys(b, (const char *const[]){NULL}, "", err);
        break;
    case ESC_ACT_ESCALATE:
    case ESC_ACT_RETURN:
    case ESC_ACT_WAIT:
    case ESC_ACT_REOPEN:
        if (escp_only_keys(b, (const char *const[]){"reason", NULL}, "", err) == 0)
            get_str(b, "reason", "reason", REQUIRED, 1, 2000, &a->reason, err);
        break;
    case ESC_ACT_RESOLVE:
        if (escp_only_keys(b, (const char *const[]){"resolution", "root_cause", NULL}, "", err) == 0 &&
            get_str(b, "resolution", "resolution", REQUIRED, 1, 10000, &a->resolution, err) == 0)
            get_enum(b, "root_cause", esc_root_cause_valid, NULL, REQUIRED, &a->root_cause, err);
        break;
    case ESC_ACT_CLOSE: {
        json_t *s = json_object_get(b, "satisfaction");
        if (escp_only_keys(b, (const char *const[]){"satisfaction", NULL}, "", err) != 0)
            break;
        if (!json_is_object(s)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "satisfaction",
                          "satisfaction must be an object with result, score and feedback");
            break;
        }
        if (escp_only_keys(s, (const char *const[]){"result", "score", "feedback", NULL},
                      "satisfaction.", err) != 0 ||
            get_str(s, "result", "satisfaction.result", REQUIRED, 1, 32, &a->sat_result, err) != 0 ||
            get_str(s, "feedback", "satisfaction.feedback", OPTIONAL, 0, 2000, &a->sat_feedback, err) != 0)
            break;
        if (strcmp(a->sat_result, "satisfied") != 0 && strcmp(a->sat_result, "unsatisfied") != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "satisfaction.result",
                          "satisfaction.result must be satisfied or unsatisfied");
            break;
        }
        json_t *score = json_object_get(s, "score");
        if (score && !json_is_null(score)) {
            if (!json_is_integer(score) || json_integer_value(score) < 1 || json_integer_value(score) > 5) {
                esc_error_set(err, ESC_ERR_VALIDATION, "satisfaction.score",
                              "satisfaction.score must be an integer from 1 to 5");
                break;
            }
            a->sat_score = (int)json_integer_value(score);
        }
        break;
    }
    case ESC_ACT_COMMENT:
        if (escp_only_keys(b, (const char *const[]){"body", NULL}, "", err) == 0)
            get_str(b, "body", "body", REQUIRED, 1, 10000, &a->body, err);
        break;
    default:
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such action");
    }
    return err->code == ESC_OK ? 0 : -1;
}

static void escp_api_ticket_action(struct escp_req *r)
{
    enum esc_action action = (enum esc_action)r->action;
    struct escp_action_args a = {.if_match = -1};
    esc_error_t *err = &r->err;
    json_t *b = NULL;
    int64_t id;

    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || require_role(r, action) != 0)
        return;
    if (!(b = escp_body_object(r, action == ESC_ACT_ACKNOWLEDGE || action == ESC_ACT_RESUME)))
        return;
    escp_action_body_parse(action, b, &a, err);
    if (err->code != ESC_OK || path_id(r, &id) != 0 || parse_if_match(r, &a.if_match) != 0)
        goto out;

    json_t *res = escp_svc_act(r->svc, &r->actor, id, action, &a, err);
    if (!res)
        goto out;
    if (action == ESC_ACT_COMMENT) {
        r->status = 201;
        r->json = res;
    } else {
        reply_ticket(r, 200, res);
    }
out:
    json_decref(b);
}

/* ---- POST /v1/queues/{tier}/claim ---- */

static void escp_api_claim(struct escp_req *r)
{
    int tier = esc_tier_from_name(r->params[0]);
    if (escp_query_only(r, (const char *const[]){"wait", NULL}) != 0)
        return;
    if (tier < 1) {
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "no such queue");
        return;
    }
    if (r->actor.role != ESC_ROLE_AGENT) {
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "only agents claim tickets");
        return;
    }
    if (!esc_fsm_may_claim(&r->actor, (enum esc_tier)tier)) {
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "only an agent of %s may claim from its queue",
                      esc_tier_name((enum esc_tier)tier));
        return;
    }
    if (r->body_len) { /* a body is allowed but must be an empty JSON object */
        json_t *b = escp_body_object(r, true);
        if (!b)
            return;
        int rc = escp_only_keys(b, (const char *const[]){NULL}, "", &r->err);
        json_decref(b);
        if (rc != 0)
            return;
    }
    int wait_ms = 0;
    const char *w = escp_query(r, "wait");
    if (w) {
        char *end;
        double secs = strtod(w, &end);
        if (end == w || *end || !(secs >= 0 && secs <= 30)) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "wait", "wait must be 0 to 30 seconds");
            return;
        }
        wait_ms = (int)(secs * 1000);
    }
    json_t *t = escp_svc_claim(r->svc, &r->actor, (enum esc_tier)tier, wait_ms, r->stopping, &r->err);
    if (t)
        reply_ticket(r, 200, t);
    else
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
    return (strcmp(s, "ack") == 0 || strcmp(s, "resolve") == 0 || strcmp(s, "callback") == 0) ? 0 : -1;
}

int escp_time_query(struct escp_req *r, const char *name, char *buf, size_t len, const char **out)
{
    const char *v = escp_query(r, name);
    esc_time_t t;
    *out = NULL;
    if (!v)
        return 0;
    if (esc_time_parse(v, &t) != 0) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, name, "%s must be an RFC 3339 time", name);
        return -1;
    }
    escp_time_pg(t, buf, len);
    *out = buf;
    return 0;
}

int escp_limit_query(struct escp_req *r, int max, int *limit)
{
    const char *v = escp_query(r, "limit");
    if (!v)
        return 0;
    int64_t n = escp_parse_id(v);
    if (n < 1 || n > max) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "limit", "limit must be 1 to %d", max);
        return -1;
    }
    *limit = (int)n;
    return 0;
}

int escp_cursor_query(struct escp_req *r, char prefix, int64_t *before_id)
{
    const char *v = escp_query(r, "cursor");
    if (!v)
        return 0;
    char *end = NULL;
    unsigned long long n = v[0] == prefix && v[1] ? strtoull(v + 1, &end, 16) : 0;
    if (!n || !end || *end || n > INT64_MAX) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "cursor", "cursor is not one this server gave");
        return -1;
    }
    *before_id = (int64_t)n;
    return 0;
}

json_t *escp_page_next(json_t *items, int limit, char prefix)
{
    if (json_array_size(items) <= (size_t)limit)
        return json_null();
    json_array_remove(items, (size_t)limit);
    json_int_t last = json_integer_value(json_object_get(json_array_get(items, (size_t)limit - 1), "id"));
    char cur[32];
    snprintf(cur, sizeof cur, "%c%llx", prefix, (unsigned long long)last);
    return json_string(cur);
}

static void escp_api_ticket_list(struct escp_req *r)
{
    static const char *const allowed[] = {"tier", "state", "severity", "assignee", "breached",
                                          "due_before", "q", "limit", "cursor", NULL};
    struct escp_list_filter f = {.limit = 50};
    char tiers[64], states[128], sevs[64], due[48], *pattern = NULL;
    esc_error_t *err = &r->err;

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
            esc_error_set(err, ESC_ERR_VALIDATION, "breached", "breached must be ack, resolve or callback");
            return;
        }
        f.breached = v;
    }
    if ((v = escp_query(r, "due_before"))) {
        esc_time_t t;
        if (esc_time_parse(v, &t) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "due_before", "due_before must be an RFC 3339 time");
            return;
        }
        escp_time_pg(t, due, sizeof due);
        f.due_before = due;
    }
    if (escp_limit_query(r, 200, &f.limit) != 0)
        return;
    /* opaque to clients: "c" followed by the last id seen, in hex */
    if (escp_cursor_query(r, 'c', &f.before_id) != 0)
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

    struct escp_conn *c = escp_lease(r->svc->store, err);
    if (!c)
        goto out;
    json_t *items = escp_store_ticket_list(c, &f, err);
    escp_release(r->svc->store, c);
    if (!items)
        goto out;
    json_t *next = escp_page_next(items, f.limit, 'c');
    size_t i;
    json_t *t;
    json_array_foreach(items, i, t) escp_ticket_mask(t);
    r->status = 200;
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
out:
    free(pattern);
}

const struct escp_route escp_routes_tickets[] = {
    {"POST", "/v1/tickets",                escp_api_ticket_create, ESCP_ANY_ROLE, ESC_ACT_CREATE},
    {"GET", "/v1/tickets",                 escp_api_ticket_list, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/tickets/{}",              escp_api_ticket_get, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/tickets/{}/events",       escp_api_ticket_events, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/tickets/{}/customer",     escp_api_ticket_customer, ESCP_ANY_ROLE, -1},
    {"POST", "/v1/tickets/{}/acknowledge", escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_ACKNOWLEDGE},
    {"POST", "/v1/tickets/{}/escalate",    escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_ESCALATE},
    {"POST", "/v1/tickets/{}/return",      escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_RETURN},
    {"POST", "/v1/tickets/{}/wait",        escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_WAIT},
    {"POST", "/v1/tickets/{}/resume",      escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_RESUME},
    {"POST", "/v1/tickets/{}/resolve",     escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_RESOLVE},
    {"POST", "/v1/tickets/{}/close",       escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_CLOSE},
    {"POST", "/v1/tickets/{}/reopen",      escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_REOPEN},
    {"POST", "/v1/tickets/{}/comment",     escp_api_ticket_action, ESCP_ANY_ROLE, ESC_ACT_COMMENT},
    {"POST", "/v1/queues/{tier}/claim",    escp_api_claim, ESCP_AGENTS, -1},
    {0},
};
