/* store_sla.c — the SLA engine's statements, policies, the calendar and breaches. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

int escp_store_fire_due(struct escp_conn *c, int batch, int *fired, double *max_late_s, esc_error_t *err)
{
    char b[16];
    snprintf(b, sizeof b, "%d", batch);
    const char *v[1] = {b};
    PGresult *res = escp_exec(c, ESCP_S_FIRE_DUE, 1, v, err);
    if (!res)
        return -1;
    *fired = atoi(PQgetvalue(res, 0, 0));
    *max_late_s = strtod(PQgetvalue(res, 0, 1), NULL);
    PQclear(res);
    return 0;
}

int escp_store_next_due(struct escp_conn *c, double *seconds, bool *none, esc_error_t *err)
{
    PGresult *res = escp_exec(c, ESCP_S_NEXT_DUE, 0, NULL, err);
    if (!res)
        return -1;
    *none = PQgetisnull(res, 0, 0);
    *seconds = *none ? 0 : strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    return 0;
}

/* ---- the cross-daemon wake-up (LISTEN/NOTIFY) ---- */

int escp_store_listen(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = PQexec(c->pg, "LISTEN " ESCP_TIMER_CHANNEL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        escp_map_error(c->pg, res, "listen", err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* The engine's session commits asynchronously: a pass does not wait for its
 * WAL flush (under I/O pressure a flush took up to a second and held up the
 * next pass).  See timer_engine.c for why that is safe. */
static struct escp_conn *engine_open(const char *conninfo, bool listen, esc_error_t *err)
{
    static const enum escp_stmt mine[] = {ESCP_S_FIRE_DUE, ESCP_S_NEXT_DUE};
    struct escp_conn *c = escp_conn_open_stmts(conninfo, mine, 2, err);
    if (!c)
        return NULL;
    PGresult *res = PQexec(c->pg, "SET synchronous_commit TO off");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        escp_map_error(c->pg, res, "engine session", err);
        PQclear(res);
        escp_conn_close(c);
        return NULL;
    }
    PQclear(res);
    if (listen && escp_store_listen(c, err) != 0) {
        escp_conn_close(c);
        return NULL;
    }
    return c;
}

struct escp_conn *escp_store_engine_open(const char *conninfo, esc_error_t *err)
{
    return engine_open(conninfo, true, err);
}

struct escp_conn *escp_store_drainer_open(const char *conninfo, esc_error_t *err)
{
    return engine_open(conninfo, false, err);
}

int escp_store_notify_timer(struct escp_conn *c, esc_time_t due, esc_error_t *err)
{
    char b[48];
    escp_time_pg(due, b, sizeof b);
    const char *v[1] = {b};
    PGresult *res = escp_exec(c, ESCP_S_TIMER_NOTIFY, 1, v, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int escp_conn_socket(struct escp_conn *c) { return c && c->pg ? PQsocket(c->pg) : -1; }

int escp_conn_notifications(struct escp_conn *c, int *count)
{
    *count = 0;
    if (!c || !c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return -1;
    if (!PQconsumeInput(c->pg))
        return -1;
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL) {
        (*count)++;
        PQfreemem(n);
    }
    return PQstatus(c->pg) == CONNECTION_OK ? 0 : -1;
}

static json_t *policy_row(const PGresult *res, int i)
{
    return json_pack("{s:s,s:I,s:I,s:f,s:I,s:o}", "severity", PQgetvalue(res, i, 0),
                     "ack_seconds", (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10),
                     "resolve_seconds", (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10),
                     "warn_ratio", strtod(PQgetvalue(res, i, 3), NULL),
                     "callback_business_days", (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10),
                     "updated_at", escp_json_time(PQgetvalue(res, i, 5)));
}

json_t *escp_store_policies(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = escp_exec(c, ESCP_S_POLICIES, 0, NULL, err);
    if (!res)
        return NULL;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items, policy_row(res, i));
    PQclear(res);
    return json_pack("{s:o}", "items", items);
}

json_t *escp_store_policy_put(struct escp_conn *c, const char *severity, int64_t ack_s, int64_t resolve_s,
                              double warn_ratio, int64_t days, esc_error_t *err)
{
    char a[24], r[24], w[32], d[24];
    snprintf(a, sizeof a, "%" PRId64, ack_s);
    snprintf(r, sizeof r, "%" PRId64, resolve_s);
    snprintf(w, sizeof w, "%.17g", warn_ratio);
    snprintf(d, sizeof d, "%" PRId64, days);
    /* 0 (or a negative ratio) = keep the current value */
    const char *v[5] = {severity, ack_s ? a : NULL, resolve_s ? r : NULL,
                        warn_ratio > 0 ? w : NULL, days ? d : NULL};
    PGresult *res = escp_exec(c, ESCP_S_POLICY_PUT, 5, v, err);
    if (!res)
        return NULL;
    json_t *out = PQntuples(res) == 1 ? policy_row(res, 0) : NULL;
    if (!out)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such severity");
    PQclear(res);
    return out;
}

json_t *escp_store_calendar_put(struct escp_conn *c, const json_t *doc, esc_error_t *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *v[1] = {text};
    PGresult *res = text ? escp_exec(c, ESCP_S_CALENDAR_PUT, 1, v, err) : NULL;
    free(text);
    if (!res)
        return NULL;
    json_t *out = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (!out)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the business calendar is missing");
    PQclear(res);
    return out;
}

json_t *escp_store_breach_list(struct escp_conn *c, const struct escp_breach_filter *f, esc_error_t *err)
{
    char before[24], limit[16];
    snprintf(before, sizeof before, "%" PRId64, f->before_id);
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    const char *v[8] = {f->kind, f->tier, f->severity, f->ticket, f->from, f->to,
                        f->before_id ? before : NULL, limit};
    PGresult *res = escp_exec(c, ESCP_S_BREACH_LIST, 8, v, err);
    if (!res)
        return NULL;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *tier = esc_tier_name((enum esc_tier)atoi(PQgetvalue(res, i, 3)));
        json_t *assignee = json_null();
        if (!PQgetisnull(res, i, 5)) {
            json_decref(assignee);
            assignee = json_pack("{s:I,s:s}", "id", (json_int_t)strtoll(PQgetvalue(res, i, 5), NULL, 10),
                                 "name", PQgetisnull(res, i, 6) ? "" : PQgetvalue(res, i, 6));
        }
        json_array_append_new(items, json_pack("{s:I,s:I,s:s,s:s,s:s,s:o,s:o,s:o}",
            "id", (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
            "ticket_id", (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10),
            "kind", PQgetvalue(res, i, 2), "tier", tier ? tier : "", "severity", PQgetvalue(res, i, 4),
            "assignee", assignee, "due_at", escp_json_time(PQgetvalue(res, i, 7)),
            "detected_at", escp_json_time(PQgetvalue(res, i, 8))));
    }
    PQclear(res);
    return items;
}
