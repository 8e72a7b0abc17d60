/* store_metrics.c — the figures GET /metrics reads from the database: one
 * statement, so one snapshot, answering rows of (family, label, label,
 * value). */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/metrics.h"
#include "db/store_internal.h"

enum { S_METRICS, S__COUNT };

static const struct escp_stmt stmts[S__COUNT] = {
    /* Every figure read from the database, in one snapshot, as rows
     * (family f, labels a and b, value v).  Open tickets ($1: the open
     * states, core/model.h) are counted through the (state, tier) index; the
     * rest are counts over small or indexed tables (see docs/metrics.md for
     * the cost). */
    [S_METRICS] = {"metrics",
        "SELECT 'open' AS f, tier::text AS a, state AS b, count(*)::text AS v FROM tickets "
        " WHERE state = ANY ($1::text[]) GROUP BY tier, state "
        "UNION ALL SELECT 'timer', kind, NULL, count(*)::text FROM timers GROUP BY kind "
        "UNION ALL SELECT 'overdue', NULL, NULL, "
        " greatest(0, coalesce(extract(epoch FROM now() - min(due_at)), 0))::float8::text FROM timers "
        "UNION ALL SELECT 'breach', kind, NULL, count(*)::text FROM breaches GROUP BY kind "
        "UNION ALL SELECT 'notification', status, NULL, count(*)::text FROM notifications GROUP BY status "
        "UNION ALL SELECT 'delivery', status, NULL, count(*)::text FROM deliveries GROUP BY status"},
};

const struct escp_stmt_table escp_stmts_metrics = {stmts, S__COUNT};

static int index_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int escp_store_metrics(struct escp_conn *c, struct escp_db_metrics *out, esc_error_t *err)
{
    char open[ESCP_NAMES_LEN];
    const char *v[1] = {escp_pg_names(open, sizeof open, esc_state_names, ESC_OPEN_STATES, err)};
    int fcol, acol, bcol, vcol, rc = -1;
    memset(out, 0, sizeof *out);
    if (!v[0])
        return -1;
    PGresult *res = escp_exec(c, &stmts[S_METRICS], 1, v, err);
    if (!res || escp_columns(res, stmts[S_METRICS].name, err, "f", &fcol, "a", &acol, "b", &bcol,
                             "v", &vcol, NULL) != 0)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *f = PQgetvalue(res, i, fcol), *a = escp_val(res, i, acol);
        const char *b = escp_val(res, i, bcol), *val = PQgetvalue(res, i, vcol);
        uint64_t n = strtoull(val, NULL, 10);
        int k = -1;
        if (strcmp(f, "open") == 0) {
            int tier = a ? atoi(a) : 0;
            int st = esc_state_from_name(b);
            if (tier >= 1 && tier <= 3 && st >= 0 && st < ESCP_OPEN_STATES) {
                out->open[tier - 1][st] = n;
                k = 0;
            }
        } else if (strcmp(f, "timer") == 0) {
            if ((k = esc_timer_from_name(a)) >= 0)
                out->timers[k] = n;
        } else if (strcmp(f, "overdue") == 0) {
            out->timer_overdue_s = strtod(val, NULL);
            k = 0;
        } else if (strcmp(f, "breach") == 0) {
            if ((k = esc_breach_from_name(a)) >= 0)
                out->breaches[k] = n;
        } else if (strcmp(f, "notification") == 0) {
            if ((k = index_of(a, escp_metrics_notify_statuses, ESCP_NOTIFY_STATUSES)) >= 0)
                out->notifications[k] = n;
        } else if (strcmp(f, "delivery") == 0) {
            if ((k = index_of(a, escp_metrics_delivery_statuses, ESCP_DELIVERY_STATUSES)) >= 0)
                out->deliveries[k] = n;
        }
        if (k < 0)
            log_debug("metrics: ignoring an unexpected row (%s)", f);
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}
