/* api_retention.c — the retention period and the anonymisation run
 * (docs/api.md "Retention"): admins' routes (the route entries say so; the
 * dispatcher checks). */
#include <string.h>

#include "core/validate.h"
#include "http/http.h"

/* Tickets one POST /v1/retention/run covers (listed, or anonymised): a
 * bound on the answer and on the request's length; `escalated retention
 * run` has none. */
#define RUN_LIMIT_MAX 10000
#define RUN_LIMIT_DEFAULT 1000

static void escp_api_retention_get(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    r->json = escp_svc_retention_get(r->svc, &r->err);
    r->status = 200;
}

static void escp_api_retention_put(struct escp_req *r)
{
    static const char *const keys[] = {"months", NULL};
    json_t *b = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, false)))
        return;
    json_t *m = json_object_get(b, "months");
    if (escp_only_keys(b, keys, "", &r->err) != 0)
        goto out;
    if (!json_is_integer(m)) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "months",
                      "months (an integer, at least %d) is required", ESCP_RETENTION_MIN_MONTHS);
        goto out;
    }
    /* the bounds are the service's, so the command line has the same */
    r->json = escp_svc_retention_put(r->svc, r->actor.id, json_integer_value(m), &r->err);
    r->status = 200;
out:
    json_decref(b);
}

static void escp_api_retention_run(struct escp_req *r)
{
    static const char *const allowed[] = {"dry_run", "limit", NULL};
    int limit = RUN_LIMIT_DEFAULT;
    bool dry_run = false;
    const char *v;
    if (escp_query_only(r, allowed) != 0 || escp_limit_query(r, RUN_LIMIT_MAX, &limit) != 0)
        return;
    if ((v = escp_query(r, "dry_run"))) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "dry_run", "dry_run must be true or false");
            return;
        }
        dry_run = strcmp(v, "true") == 0;
    }
    /* the request is in the query; a body, if any, must be an empty object */
    json_t *b = escp_body_object(r, true);
    if (!b)
        return;
    int extra = escp_only_keys(b, (const char *const[]){NULL}, "", &r->err);
    json_decref(b);
    if (extra != 0)
        return;
    r->json = escp_svc_retention_run(r->svc, r->actor.id, dry_run, limit, true, &r->err);
    r->status = 200;
}

const struct escp_route escp_routes_retention[] = {
    {"GET",  "/v1/retention",     escp_api_retention_get, ESCP_ADMINS, -1},
    {"PUT",  "/v1/retention",     escp_api_retention_put, ESCP_ADMINS, -1},
    {"POST", "/v1/retention/run", escp_api_retention_run, ESCP_ADMINS, -1},
    {0},
};
