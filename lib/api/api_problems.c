/* api_problems.c — bytes <-> json_t <-> request structs for the problem
 * routes (issue 10; docs/problems.md): problems, their lifecycle, their
 * corrective and preventive actions, and the complaints linked to them.
 * Who may act on one problem (its owner or a manager; the owner of an
 * action) is the use case's to say (service/problems.c), after the route's
 * role mask here. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/problem.h"
#include "http/http.h"

/* The roles that work on problems: managers (and admins), and agents. */
#define PROBLEM_WORKERS (ESCP_MANAGERS | ESCP_AGENTS)

/* A problem answers with its version as the ETag (for If-Match). */
static void reply_problem(struct escp_req *r, int status, json_t *p)
{
    snprintf(r->etag, sizeof r->etag, "\"%" JSON_INTEGER_FORMAT "\"",
             json_integer_value(json_object_get(p, "version")));
    r->status = status;
    r->json = p;
}

static int no_query(struct escp_req *r) { return escp_query_only(r, (const char *const[]){NULL}); }

/* ---- POST /v1/problems ---- */

static void escp_api_problem_create(struct escp_req *r)
{
    struct escp_problem_req rq;
    json_t *b = NULL;
    /* the role mask admits every agent; line-1 agents may not: 403 before
     * anything about the request */
    if (!esc_problem_may_create(&r->actor)) {
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL,
                      "problems are opened by managers and agents of line-2 and line-3");
        return;
    }
    if (no_query(r) != 0 || !(b = escp_body_object(r, false)))
        return;
    if (escp_problem_body_parse(b, &rq, &r->err) == 0) {
        json_t *p = escp_svc_problem_create(r->svc, &r->actor, &rq, &r->err);
        if (p) {
            snprintf(r->location, sizeof r->location, "/v1/problems/%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(p, "id")));
            reply_problem(r, 201, p);
        }
    }
    json_decref(b);
}

/* ---- GET /v1/problems, /v1/problems/{id}, /v1/problems/{id}/events ---- */

static void escp_api_problem_list(struct escp_req *r)
{
    static const char *const allowed[] = {"state", "category", "owner", "limit", "cursor", NULL};
    struct escp_problem_filter f = {.limit = 50};
    const char *v;
    if (escp_query_only(r, allowed) != 0)
        return;
    if ((v = escp_query(r, "state"))) {
        if (esc_problem_state_from_name(v) < 0) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "state", "state must be a problem state");
            return;
        }
        f.state = v;
    }
    if ((v = escp_query(r, "category"))) {
        if (!*v || strlen(v) > 256) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "category", "category must be 1 to 64 characters");
            return;
        }
        f.category = v;
    }
    if ((v = escp_query(r, "owner")) && (f.owner_id = escp_parse_id(v)) <= 0) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "owner", "owner must be a principal id");
        return;
    }
    if (escp_limit_query(r, 200, &f.limit) != 0 || escp_cursor_query(r, 'p', &f.before_id) != 0)
        return;
    json_t *items = escp_svc_problem_list(r->svc, &f, &r->err);
    if (!items)
        return;
    json_t *next = escp_page_next(items, f.limit, 'p');
    r->status = 200;
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}

static void escp_api_problem_get(struct escp_req *r)
{
    int64_t id;
    if (no_query(r) != 0 || (id = escp_path_id(r, 0, "problem")) <= 0)
        return;
    json_t *p = escp_svc_problem_get(r->svc, id, &r->err);
    if (p)
        reply_problem(r, 200, p);
}

static void escp_api_problem_events(struct escp_req *r)
{
    int64_t id;
    if (no_query(r) != 0 || (id = escp_path_id(r, 0, "problem")) <= 0)
        return;
    r->json = escp_svc_problem_events(r->svc, id, &r->err);
    r->status = 200;
}

/* ---- POST /v1/problems/{id}/<transition> ---- */

static void escp_api_problem_act(struct escp_req *r)
{
    enum esc_problem_act act = (enum esc_problem_act)r->action;
    struct escp_problem_args a = {.if_match = -1};
    json_t *b = NULL;
    int64_t id;
    /* verify and close may come without a body */
    if (no_query(r) != 0 ||
        !(b = escp_body_object(r, act == ESC_PACT_VERIFY || act == ESC_PACT_CLOSE)))
        return;
    if (escp_problem_act_body_parse(act, b, &a, &r->err) == 0 && (id = escp_path_id(r, 0, "problem")) > 0 &&
        escp_if_match(r, &a.if_match) == 0) {
        json_t *p = escp_svc_problem_act(r->svc, &r->actor, id, act, &a, &r->err);
        if (p)
            reply_problem(r, 200, p);
    }
    json_decref(b);
}

/* ---- actions ---- */

static void escp_api_action_add(struct escp_req *r)
{
    struct escp_action_req rq;
    json_t *b = NULL;
    int64_t id;
    if (no_query(r) != 0 || !(b = escp_body_object(r, false)))
        return;
    if (escp_problem_action_body_parse(b, &rq, &r->err) == 0 && (id = escp_path_id(r, 0, "problem")) > 0) {
        json_t *p = escp_svc_problem_action_add(r->svc, &r->actor, id, &rq, &r->err);
        if (p)
            reply_problem(r, 201, p);
    }
    json_decref(b);
}

static void escp_api_action_complete(struct escp_req *r)
{
    int64_t id, aid;
    if (no_query(r) != 0)
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
    if ((id = escp_path_id(r, 0, "problem")) <= 0 || (aid = escp_path_id(r, 1, "action")) <= 0)
        return;
    r->json = escp_svc_problem_action_complete(r->svc, &r->actor, id, aid, &r->err);
    r->status = 200;
}

/* ---- linked tickets ---- */

static void escp_api_problem_link(struct escp_req *r)
{
    int64_t *ids = NULL, id;
    size_t n;
    bool waiting;
    json_t *b = NULL;
    if (no_query(r) != 0 || !(b = escp_body_object(r, false)))
        return;
    if (!(ids = malloc(ESCP_LINK_MAX * sizeof *ids)))
        esc_error_set(&r->err, ESC_ERR_INTERNAL, NULL, "out of memory");
    else if (escp_link_body_parse(b, ids, &n, &waiting, &r->err) == 0 &&
             (id = escp_path_id(r, 0, "problem")) > 0) {
        json_t *p = escp_svc_problem_link(r->svc, &r->actor, id, ids, n, waiting, &r->err);
        if (p)
            reply_problem(r, 200, p);
    }
    free(ids);
    json_decref(b);
}

static void escp_api_problem_unlink(struct escp_req *r)
{
    int64_t id, tid;
    if (no_query(r) != 0 || (id = escp_path_id(r, 0, "problem")) <= 0 || (tid = escp_path_id(r, 1, "ticket")) <= 0)
        return;
    json_t *p = escp_svc_problem_unlink(r->svc, &r->actor, id, tid, &r->err);
    if (p)
        reply_problem(r, 200, p);
}

/* Reading is for every role (the front desk tells customers what is known);
 * changing is for managers and agents, and then per problem (service/). */
const struct escp_route escp_routes_problems[] = {
    {"POST", "/v1/problems",                      escp_api_problem_create, PROBLEM_WORKERS, -1},
    {"GET", "/v1/problems",                       escp_api_problem_list, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/problems/{}",                    escp_api_problem_get, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/problems/{}/events",             escp_api_problem_events, ESCP_ANY_ROLE, -1},
    {"POST", "/v1/problems/{}/root_cause",        escp_api_problem_act, PROBLEM_WORKERS, ESC_PACT_ROOT_CAUSE},
    {"POST", "/v1/problems/{}/workaround",        escp_api_problem_act, PROBLEM_WORKERS, ESC_PACT_WORKAROUND},
    {"POST", "/v1/problems/{}/fix",               escp_api_problem_act, PROBLEM_WORKERS, ESC_PACT_FIX},
    {"POST", "/v1/problems/{}/verify",            escp_api_problem_act, PROBLEM_WORKERS, ESC_PACT_VERIFY},
    {"POST", "/v1/problems/{}/close",             escp_api_problem_act, ESCP_MANAGERS, ESC_PACT_CLOSE},
    {"POST", "/v1/problems/{}/reopen",            escp_api_problem_act, PROBLEM_WORKERS, ESC_PACT_REOPEN},
    {"POST", "/v1/problems/{}/actions",           escp_api_action_add, PROBLEM_WORKERS, -1},
    {"POST", "/v1/problems/{}/actions/{}/complete", escp_api_action_complete, PROBLEM_WORKERS, -1},
    {"POST", "/v1/problems/{}/tickets",           escp_api_problem_link, PROBLEM_WORKERS, -1},
    {"DELETE", "/v1/problems/{}/tickets/{}",      escp_api_problem_unlink, PROBLEM_WORKERS, -1},
    {0},
};
