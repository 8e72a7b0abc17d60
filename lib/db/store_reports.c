/* store_reports.c — the manager reports: the SLA table and the monthly view
 * (docs/reports.md).  The aggregation is SQL over the tickets created in the
 * period (index tickets_created); rates are divided here, null when their
 * denominator is 0. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

static json_int_t count_col(const PGresult *res, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *real_or_null(const char *s) { return s ? json_real(strtod(s, NULL)) : json_null(); }

/* num / den, or null when den is 0 */
static json_t *rate(json_int_t num, json_int_t den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

int escp_store_report_begin(struct escp_conn *c, esc_error_t *err)
{
    if (escp_begin(c, err) != 0)
        return -1;
    PGresult *res = escp_exec(c, ESCP_S_REPORT_SETTINGS, 0, NULL, err);
    PQclear(res);
    return res ? 0 : -1;
}

int escp_store_report_period(struct escp_conn *c, const char *from, const char *to,
                             struct escp_report_period *p, esc_error_t *err)
{
    const char *v[2] = {from, to};
    PGresult *res = escp_exec(c, ESCP_S_REPORT_PERIOD, 2, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        copy_text(p->from, sizeof p->from, PQgetvalue(res, 0, 0));
        copy_text(p->to, sizeof p->to, PQgetvalue(res, 0, 1));
        copy_text(p->tz, sizeof p->tz, PQgetvalue(res, 0, 2));
        p->ordered = PQgetvalue(res, 0, 3)[0] == 't';
        p->days = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        rc = 0;
    } else {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    }
    PQclear(res);
    return rc;
}

int escp_store_report_month(struct escp_conn *c, const char *month, struct escp_report_period *p,
                            char month_out[8], esc_error_t *err)
{
    const char *v[1] = {month};
    PGresult *res = escp_exec(c, ESCP_S_REPORT_MONTH, 1, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        snprintf(month_out, 8, "%.7s", PQgetvalue(res, 0, 0));
        copy_text(p->from, sizeof p->from, PQgetvalue(res, 0, 1));
        copy_text(p->to, sizeof p->to, PQgetvalue(res, 0, 2));
        copy_text(p->tz, sizeof p->tz, PQgetvalue(res, 0, 3));
        p->ordered = true;
        p->days = 0;
        rc = 0;
    } else {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    }
    PQclear(res);
    return rc;
}

json_t *escp_store_report_sla(struct escp_conn *c, const struct escp_report_period *p,
                              const char *group_by, esc_error_t *err)
{
    enum { K, CREATED, ACKED, RESOLVED, CLOSED, ACK_BR, RES_BR, MTTA, MTTR, P90, IN_SLA, SATISFIED, RATED };
    const char *v[4] = {p->from, p->to, group_by, p->tz};
    PGresult *res = escp_exec(c, ESCP_S_REPORT_SLA, 4, v, err);
    if (!res)
        return NULL;
    json_t *groups = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_int_t created = count_col(res, i, CREATED), resolved = count_col(res, i, RESOLVED);
        json_int_t ack_br = count_col(res, i, ACK_BR), res_br = count_col(res, i, RES_BR);
        const char *key = escp_val(res, i, K);
        json_t *g = json_object();
        json_object_set_new(g, "key", key ? json_string(key) : json_null());
        json_object_set_new(g, "created", json_integer(created));
        json_object_set_new(g, "acknowledged", json_integer(count_col(res, i, ACKED)));
        json_object_set_new(g, "resolved", json_integer(resolved));
        json_object_set_new(g, "closed", json_integer(count_col(res, i, CLOSED)));
        json_object_set_new(g, "ack_breaches", json_integer(ack_br));
        json_object_set_new(g, "resolve_breaches", json_integer(res_br));
        json_object_set_new(g, "ack_breach_rate", rate(ack_br, created));
        json_object_set_new(g, "resolve_breach_rate", rate(res_br, created));
        json_object_set_new(g, "mtta_seconds", real_or_null(escp_val(res, i, MTTA)));
        json_object_set_new(g, "mttr_seconds", real_or_null(escp_val(res, i, MTTR)));
        json_object_set_new(g, "p90_ttr_seconds", real_or_null(escp_val(res, i, P90)));
        json_object_set_new(g, "resolution_rate", rate(count_col(res, i, IN_SLA), resolved));
        json_object_set_new(g, "satisfaction_rate",
                            rate(count_col(res, i, SATISFIED), count_col(res, i, RATED)));
        json_array_append_new(groups, g);
    }
    PQclear(res);
    return groups;
}

/* One row of the monthly view.  key_name NULL: the totals row; else a
 * category or root-cause row whose share is count / share_of. */
static json_t *monthly_row(const PGresult *res, int i, const char *key_name, json_int_t share_of)
{
    enum { PART, KEY, N, AB, RB, RESOLVED, IN_SLA, SAT, RATED };
    json_int_t n = count_col(res, i, N), ab = count_col(res, i, AB), rb = count_col(res, i, RB);
    json_t *o = json_object();
    if (key_name) {
        const char *key = escp_val(res, i, KEY);
        json_object_set_new(o, key_name, key ? json_string(key) : json_null());
        json_object_set_new(o, "count", json_integer(n));
        json_object_set_new(o, "share", rate(n, share_of));
    } else {
        json_object_set_new(o, "created", json_integer(n));
        json_object_set_new(o, "resolved", json_integer(count_col(res, i, RESOLVED)));
    }
    json_object_set_new(o, "ack_breaches", json_integer(ab));
    json_object_set_new(o, "resolve_breaches", json_integer(rb));
    json_object_set_new(o, "ack_breach_rate", rate(ab, n));
    json_object_set_new(o, "resolve_breach_rate", rate(rb, n));
    if (!key_name) {
        json_object_set_new(o, "resolution_rate",
                            rate(count_col(res, i, IN_SLA), count_col(res, i, RESOLVED)));
        json_object_set_new(o, "satisfaction_rate",
                            rate(count_col(res, i, SAT), count_col(res, i, RATED)));
    }
    return o;
}

json_t *escp_store_report_monthly(struct escp_conn *c, const struct escp_report_period *p, int limit,
                                  esc_error_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[3] = {p->from, p->to, lim};
    PGresult *res = escp_exec(c, ESCP_S_REPORT_MONTHLY, 3, v, err);
    if (!res)
        return NULL;
    /* the totals row comes first (ORDER BY part): the shares' denominators */
    if (PQntuples(res) < 1 || atoi(PQgetvalue(res, 0, 0)) != 0) {
        PQclear(res);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        return NULL;
    }
    json_t *totals = monthly_row(res, 0, NULL, 0);
    json_int_t created = json_integer_value(json_object_get(totals, "created"));
    json_int_t resolved = json_integer_value(json_object_get(totals, "resolved"));
    json_t *cats = json_array(), *causes = json_array();
    for (int i = 1; i < PQntuples(res); i++) {
        if (atoi(PQgetvalue(res, i, 0)) == 1) /* categories: shares of the month's tickets */
            json_array_append_new(cats, monthly_row(res, i, "category", created));
        else /* root causes: shares of its resolved tickets */
            json_array_append_new(causes, monthly_row(res, i, "root_cause", resolved));
    }
    PQclear(res);
    return json_pack("{s:o,s:o,s:o}", "totals", totals, "categories", cats, "root_causes", causes);
}
