/* store_metrics.c — the figures GET /metrics reads from the database: one
 * statement (ESCP_S_METRICS), so one snapshot, answering rows of
 * (family, label, label, value). */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/metrics.h"
#include "db/store_internal.h"

static int index_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int escp_store_metrics(struct escp_conn *c, struct escp_db_metrics *out, esc_error_t *err)
{
    memset(out, 0, sizeof *out);
    PGresult *res = escp_exec(c, ESCP_S_METRICS, 0, NULL, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *f = PQgetvalue(res, i, 0), *a = escp_val(res, i, 1), *b = escp_val(res, i, 2);
        const char *v = PQgetvalue(res, i, 3);
        uint64_t n = strtoull(v, NULL, 10);
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
            out->timer_overdue_s = strtod(v, NULL);
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
    PQclear(res);
    return 0;
}
