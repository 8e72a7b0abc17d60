/* server.c — the composition root: the store's pool, the use cases, the SLA
 * engine and the delivery worker, and the HTTP server with the api/ route
 * tables.  daemon/main.c and the in-process tests start escalated here. */
#include <stdlib.h>

#include "api/api.h"
#include "app/server.h"
#include "base/log.h"
#include "http/http.h"
#include "service/service.h"
#include "workers/workers.h"

/* The routes served, in the order they are matched. */
static const struct escp_route *const escp_route_tables[] = {
    escp_routes_health,  escp_routes_tickets, escp_routes_sla,      escp_routes_reports,
    escp_routes_events,  escp_routes_metrics, escp_routes_webhooks, escp_routes_dashboard,
    NULL,
};

struct esc_server {
    struct escp_svc svc;
    struct escp_http *http;
};

/* The SLA engine committed breach/at_risk events: wake GET /v1/events long polls. */
static void wake_event_feed(void *wake) { escp_wake_events(wake); }

static void server_free(struct esc_server *s)
{
    escp_engine_stop(s->svc.engine);
    escp_webhooks_stop(s->svc.webhooks);
    esc_store_free(s->svc.store);
    escp_wake_free(s->svc.wake);
    free(s);
}

struct esc_server *esc_server_start(const struct esc_server_config *cfg, esc_error_t *err)
{
    struct esc_server *s = calloc(1, sizeof *s);
    if (!s) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->svc.store = esc_store_new(cfg->db, cfg->pool_size > 0 ? cfg->pool_size : 16, err);
    s->svc.wake = escp_wake_new();
    if (!s->svc.store || !s->svc.wake) {
        if (s->svc.store)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    /* announce deadlines that other daemons' engines may sleep past (every
     * daemon of a database should run with the same max sleep) */
    s->svc.notify_within_ms = cfg->engine_max_sleep_ms > 0 ? cfg->engine_max_sleep_ms
                                                           : ESCP_ENGINE_MAX_SLEEP_MS;
    if (!cfg->no_engine) {
        s->svc.engine = escp_engine_start(cfg->db, cfg->engine_batch, cfg->engine_max_sleep_ms, err);
        if (!s->svc.engine)
            goto fail;
        escp_engine_on_fired(s->svc.engine, wake_event_feed, s->svc.wake);
    }
    if (!cfg->no_webhooks) {
        struct escp_webhook_config wc = {.max_attempts = cfg->webhook_max_attempts,
                                         .backoff_base_ms = cfg->webhook_backoff_ms,
                                         .backoff_cap_ms = cfg->webhook_backoff_cap_ms,
                                         .timeout_ms = cfg->webhook_timeout_ms};
        s->svc.webhooks = escp_webhooks_start(cfg->db, &wc, err);
        if (!s->svc.webhooks)
            goto fail;
    }
    struct escp_http_config hc = {.listen_host = cfg->listen_host,
                                  .listen_port = cfg->listen_port,
                                  .max_connections = cfg->max_connections,
                                  .shutdown_grace_s = cfg->shutdown_grace_s};
    s->http = escp_http_start(&hc, escp_route_tables, &s->svc, err);
    if (!s->http)
        goto fail;
    return s;
fail:
    server_free(s);
    return NULL;
}

int esc_server_global_init(void) { return escp_webhooks_global_init(); }

int esc_server_port(const struct esc_server *s) { return escp_http_port(s->http); }

void esc_server_stop(struct esc_server *s)
{
    if (!s)
        return;
    escp_http_stop(s->http); /* answers what is in flight first */
    server_free(s);
}
