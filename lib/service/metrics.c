/* metrics.c — what GET /metrics reports from outside the HTTP layer: the
 * pool's usage, the SLA engine's counters, and the figures read from the
 * database, reused while they are recent for what they cost to read. */
#include "base/clock.h"
#include "base/log.h"
#include "service/service.h"
#include "workers/workers.h"

/* How long a scrape waits for a pooled connection: a saturated pool must not
 * make the scrape itself time out, since that is when it matters most. */
#define SCRAPE_LEASE_MS 1000

void escp_svc_pool_usage(struct escp_svc *svc, int *leased, int *size)
{
    escp_pool_usage(svc->store, leased, size);
}

bool escp_svc_engine_stats(struct escp_svc *svc, struct escp_engine_stats *out)
{
    if (!svc->engine)
        return false; /* a server started without the SLA engine */
    escp_engine_stats(svc->engine, out);
    return true;
}

bool escp_svc_db_metrics(struct escp_svc *svc, struct escp_metrics *m, struct escp_db_figures *out)
{
    esc_error_t err = {0};
    /* one scrape at a time reads: the others wait here and reuse its reading */
    struct escp_db_reading *rd = escp_metrics_db_lock(m);
    bool ok = rd->have && escp_metrics_db_reusable(escp_mono_now(), rd->read_at, rd->cost);
    if (!ok) {
        struct escp_conn *c = escp_lease_wait(svc->store, SCRAPE_LEASE_MS, &err);
        if (c) {
            struct escp_db_metrics d;
            double t0 = escp_mono_now();
            ok = escp_store_metrics(c, &d, &err) == 0;
            double t1 = escp_mono_now();
            escp_release(svc->store, c);
            if (ok)
                *rd = (struct escp_db_reading){true, d, t1, t1 - t0};
        }
        if (!ok)
            log_debug("metrics: database figures unavailable: %s", err.message);
    }
    if (ok) {
        out->d = rd->d;
        out->cost = rd->cost;
        out->age = escp_mono_now() - rd->read_at;
    }
    escp_metrics_db_unlock(m);
    return ok;
}
