/* store_dashboard.c — the aggregates of the manager dashboard
 * (GET /v1/dashboard/summary): three prepared statements over indexed
 * columns, read in one transaction so they share the database clock. */
#include <stdio.h>
#include <stdlib.h>

#include "api/dashboard.h"
#include "core/mask.h"
#include "db/store_internal.h"

static json_int_t int_at(const PGresult *res, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *tier_json(const char *v)
{
    return json_string(esc_tier_name((enum esc_tier)atoi(v)));
}

/* {"open": [...], "open_total", "generated_at", "feed_after"} into out */
static int load_open(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                     esc_error_t *err)
{
    char recent[16];
    snprintf(recent, sizeof recent, "%d", q->recent_events);
    const char *v[2] = {ESCP_DASH_OPEN_STATES, recent};
    PGresult *res = escp_exec(c, ESCP_S_DASH_OPEN, 2, v, err);
    if (!res)
        return -1;
    json_t *open = json_array();
    json_int_t total = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        json_int_t n = int_at(res, i, 2);
        total += n;
        json_array_append_new(open, json_pack("{s:o,s:s,s:I}", "tier", tier_json(PQgetvalue(res, i, 0)),
                                              "state", PQgetvalue(res, i, 1), "count", n));
    }
    json_object_set_new(out, "generated_at",
                        PQntuples(res) ? escp_json_time(PQgetvalue(res, 0, 3)) : json_null());
    /* 0 (the feed's start) when there are fewer events than that */
    json_object_set_new(out, "feed_after",
                        json_integer(PQntuples(res) && escp_val(res, 0, 4) ? int_at(res, 0, 4) : 0));
    json_object_set_new(out, "open", open);
    json_object_set_new(out, "open_total", json_integer(total));
    PQclear(res);
    return 0;
}

static json_t *str_or_null(const PGresult *res, int row, int col)
{
    const char *s = escp_val(res, row, col);
    return s ? json_string(s) : json_null();
}

static int load_at_risk(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                        esc_error_t *err)
{
    char horizon[16], limit[16];
    snprintf(horizon, sizeof horizon, "%d", q->horizon_seconds);
    snprintf(limit, sizeof limit, "%d", q->at_risk_limit);
    const char *v[2] = {horizon, limit};
    PGresult *res = escp_exec(c, ESCP_S_DASH_AT_RISK, 2, v, err);
    if (!res)
        return -1;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        /* the subject is free text: masked as in every ordinary response */
        char *subject = esc_mask_text(PQgetvalue(res, i, 2));
        json_t *assignee = json_null();
        if (escp_val(res, i, 9))
            assignee = json_pack("{s:I,s:o}", "id", int_at(res, i, 9), "name", str_or_null(res, i, 10));
        json_array_append_new(items,
            json_pack("{s:I,s:s,s:o,s:s,s:s,s:o,s:s,s:o,s:o}",
                      "id", int_at(res, i, 1),
                      "subject", subject ? subject : PQgetvalue(res, i, 2),
                      "tier", tier_json(PQgetvalue(res, i, 3)),
                      "state", PQgetvalue(res, i, 4),
                      "severity", PQgetvalue(res, i, 5),
                      "category", str_or_null(res, i, 6),
                      "deadline", PQgetvalue(res, i, 7),
                      "due_at", escp_json_time(PQgetvalue(res, i, 8)),
                      "assignee", assignee));
        free(subject);
    }
    json_object_set_new(out, "at_risk_next_hour",
                        json_pack("{s:i,s:I,s:o}", "horizon_seconds", q->horizon_seconds, "count",
                                  PQntuples(res) ? int_at(res, 0, 0) : (json_int_t)0, "items", items));
    PQclear(res);
    return 0;
}

static int load_breach_days(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                            esc_error_t *err)
{
    char days[16];
    snprintf(days, sizeof days, "%d", q->days);
    const char *v[1] = {days};
    PGresult *res = escp_exec(c, ESCP_S_DASH_BREACH_DAYS, 1, v, err);
    if (!res)
        return -1;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(list, json_pack("{s:s,s:I,s:I,s:I}", "day", PQgetvalue(res, i, 0),
                                              "ack", int_at(res, i, 1), "resolve", int_at(res, i, 2),
                                              "callback", int_at(res, i, 3)));
    json_object_set_new(out, "timezone",
                        PQntuples(res) ? json_string(PQgetvalue(res, 0, 4)) : json_null());
    json_object_set_new(out, "breaches_per_day", list);
    PQclear(res);
    return 0;
}

json_t *escp_store_dashboard_summary(struct escp_conn *c, const struct escp_dash_query *q,
                                     esc_error_t *err)
{
    json_t *out = json_object();
    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (escp_begin(c, err) != 0)
        goto fail;
    if (load_open(c, q, out, err) != 0 || load_at_risk(c, q, out, err) != 0 ||
        load_breach_days(c, q, out, err) != 0) {
        escp_rollback(c);
        goto fail;
    }
    if (escp_commit(c, err) != 0)
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}
