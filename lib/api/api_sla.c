/* api_sla.c — policies, the business calendar and breaches (SPEC section 4):
 * managers' routes (the route entries say so; the dispatcher checks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/deadline.h"
#include "http/http.h"

/* ---- GET /v1/policies, PUT /v1/policies/{severity} ---- */

static void escp_api_policies_get(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    r->json = escp_svc_policies(r->svc, &r->err);
    r->status = 200;
}

static int int_field(json_t *b, const char *key, int64_t lo, int64_t hi, int64_t *out, esc_error_t *err)
{
    json_t *v = json_object_get(b, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        esc_error_set(err, ESC_ERR_VALIDATION, key, "%s must be an integer from %lld to %lld", key,
                      (long long)lo, (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static void escp_api_policy_put(struct escp_req *r)
{
    static const char *const keys[] = {"ack_seconds", "resolve_seconds", "warn_ratio",
                                       "callback_business_days", "severity", NULL};
    esc_error_t *err = &r->err;
    struct escp_policy_change pc = {.severity = r->params[0], .warn_ratio = -1};
    json_t *b = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    if (esc_severity_from_name(r->params[0]) < 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such severity: use normal or major");
        return;
    }
    if (!(b = escp_body_object(r, false)))
        return;
    if (escp_only_keys(b, keys, "", err) != 0 ||
        int_field(b, "ack_seconds", 1, 30 * 86400, &pc.ack_seconds, err) != 0 ||
        int_field(b, "resolve_seconds", 1, 366 * 86400, &pc.resolve_seconds, err) != 0 ||
        int_field(b, "callback_business_days", 1, 365, &pc.callback_business_days, err) != 0)
        goto out;
    json_t *sev = json_object_get(b, "severity");
    if (sev && !(json_is_string(sev) && strcmp(json_string_value(sev), r->params[0]) == 0)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "severity", "severity must match the path");
        goto out;
    }
    json_t *w = json_object_get(b, "warn_ratio");
    if (w) {
        if (!json_is_number(w) || !(json_number_value(w) > 0 && json_number_value(w) < 1)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "warn_ratio", "warn_ratio must be a number between 0 and 1");
            goto out;
        }
        pc.warn_ratio = json_number_value(w);
    }
    if (!pc.ack_seconds && !pc.resolve_seconds && !pc.callback_business_days && pc.warn_ratio < 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, NULL,
                      "give at least one of ack_seconds, resolve_seconds, warn_ratio, callback_business_days");
        goto out;
    }
    r->json = escp_svc_policy_put(r->svc, &pc, err);
    r->status = 200;
out:
    json_decref(b);
}

/* ---- GET/PUT /v1/calendar ---- */

static void escp_api_calendar_get(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    r->json = escp_svc_calendar_get(r->svc, &r->err);
    r->status = 200;
}

static void escp_api_calendar_put(struct escp_req *r)
{
    struct esc_calendar cal;
    memset(&cal, 0, sizeof cal);
    json_t *b = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    if (!(b = escp_body_object(r, false)))
        return;
    if (esc_calendar_from_json(b, &cal, &r->err) != 0)
        goto out;
    r->json = escp_svc_calendar_put(r->svc, &cal, &r->err);
    r->status = 200;
out:
    esc_calendar_free(&cal);
    json_decref(b);
}

/* ---- GET /v1/breaches ---- */

static void escp_api_breaches(struct escp_req *r)
{
    static const char *const allowed[] = {"kind", "tier", "severity", "ticket", "from", "to",
                                          "limit", "cursor", NULL};
    struct escp_breach_filter f = {.limit = 50};
    char tier[16], ticket[24], from[48], to[48];
    const char *v;
    esc_error_t *err = &r->err;
    if (escp_query_only(r, allowed) != 0)
        return;
    if ((v = escp_query(r, "kind"))) {
        /* every breach kind of the model (core/model.h), "action" included */
        if (esc_breach_from_name(v) < 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "kind", "kind must be a breach kind (ack, resolve, ...)");
            return;
        }
        f.kind = v;
    }
    if ((v = escp_query(r, "tier"))) {
        int t = esc_tier_from_name(v);
        if (t < 1) {
            esc_error_set(err, ESC_ERR_VALIDATION, "tier", "tier must be line-1, line-2 or line-3");
            return;
        }
        snprintf(tier, sizeof tier, "%d", t);
        f.tier = tier;
    }
    if ((v = escp_query(r, "severity"))) {
        if (esc_severity_from_name(v) < 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "severity", "severity must be normal or major");
            return;
        }
        f.severity = v;
    }
    if ((v = escp_query(r, "ticket"))) {
        int64_t id = escp_parse_id(v);
        if (id <= 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "ticket", "ticket must be a ticket id");
            return;
        }
        snprintf(ticket, sizeof ticket, "%lld", (long long)id);
        f.ticket = ticket;
    }
    if (escp_time_query(r, "from", from, sizeof from, &f.from) != 0 ||
        escp_time_query(r, "to", to, sizeof to, &f.to) != 0 ||
        escp_limit_query(r, 200, &f.limit) != 0 || escp_cursor_query(r, 'b', &f.before_id) != 0)
        return;
    json_t *items = escp_svc_breaches(r->svc, &f, err);
    if (!items)
        return;
    json_t *next = escp_page_next(items, f.limit, 'b');
    r->status = 200;
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}

const struct escp_route escp_routes_sla[] = {
    {"GET", "/v1/breaches",    escp_api_breaches, ESCP_MANAGERS, -1},
    {"GET", "/v1/policies",    escp_api_policies_get, ESCP_MANAGERS, -1},
    {"PUT", "/v1/policies/{}", escp_api_policy_put, ESCP_MANAGERS, -1},
    {"GET", "/v1/calendar",    escp_api_calendar_get, ESCP_MANAGERS, -1},
    {"PUT", "/v1/calendar",    escp_api_calendar_put, ESCP_MANAGERS, -1},
    {0},
};
