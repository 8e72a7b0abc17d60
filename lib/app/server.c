/* server.c — the composition root: the store's pool, the use cases, the SLA
 * engine and the delivery worker, and the HTTP server with the api/ route
 * tables.  daemon/main.c and the in-process tests start escalated here. */
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "app/server.h"
#include "base/datakey.h"
#include "base/log.h"
#include "http/http.h"
#include "service/service.h"
#include "workers/workers.h"

/* The routes served, in the order they are matched (not static: the
 * OpenAPI test walks the same list, tests/openapi/test_openapi_routes.c). */
const struct escp_route *const escp_route_tables[] = {
    escp_routes_health,  escp_routes_tickets, escp_routes_sla,      escp_routes_reports,
    escp_routes_events,  escp_routes_metrics, escp_routes_webhooks, escp_routes_dashboard,
    escp_routes_principals,
    escp_routes_retention,
    escp_routes_taxonomy,
    escp_routes_problems,
    escp_routes_console,
    escp_routes_channels,
    NULL,
};

#define DEFAULT_POOL_SIZE 16
#define DEFAULT_TARGET_PCT 90
#define DEFAULT_STATEMENT_TIMEOUT_MS 30000
#define RESEAL_BATCH 500

struct esc_server {
    struct escp_svc svc;
    struct escp_http *http;
};

/* The SLA engine committed breaches, warnings or ladder steps: wake the
 * GET /v1/events long polls, and the workers that send what it wrote to the
 * outboxes (they would otherwise look only at their next poll). */
static void after_fire(void *arg)
{
    struct escp_svc *svc = arg;
    escp_wake_events(svc->wake);
    escp_webhooks_poke(svc->webhooks);
    escp_alerts_poke(svc->alerts);
}

static void server_free(struct esc_server *s)
{
    escp_engine_stop(s->svc.engine);
    escp_webhooks_stop(s->svc.webhooks);
    escp_alerts_stop(s->svc.alerts);
    esc_store_free(s->svc.store);
    escp_wake_free(s->svc.wake);
    escp_keyring_free(s->svc.keys);
    free(s);
}

/* Every HTTP connection is a descriptor: raise the soft RLIMIT_NOFILE to the
 * hard limit, and keep `want` connections within it, leaving room for the
 * database connections, the pool threads' epoll and wake-up descriptors, the
 * webhook worker's sockets and the listening socket. */
static int connections_within_fds(int want, int reserve)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)want + (rlim_t)reserve)
        return want;
    int fit = rl.rlim_cur > (rlim_t)reserve + 16 ? (int)(rl.rlim_cur - (rlim_t)reserve) : 16;
    log_warn("only %llu descriptors may be open (RLIMIT_NOFILE): serving %d HTTP connections "
             "at once, not %d", (unsigned long long)rl.rlim_cur, fit, want);
    return fit;
}

struct esc_server *esc_server_start(const struct esc_server_config *cfg, esc_error_t *err)
{
    struct esc_server *s = calloc(1, sizeof *s);
    if (!s) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    int pool = cfg->pool_size > 0 ? cfg->pool_size : DEFAULT_POOL_SIZE;
    if (!cfg->data_key_file) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                      "no data key file: customer data is stored encrypted with it "
                      "(--data-key-file or ESCALATED_DATA_KEY_FILE; create one with "
                      "`escalated data-key create --data-key-file FILE`)");
        goto fail;
    }
    if (!(s->svc.keys = escp_keyring_load(cfg->data_key_file, err)))
        goto fail;
    s->svc.store = esc_store_new(cfg->db, pool, err);
    s->svc.wake = escp_wake_new();
    if (!s->svc.store || !s->svc.wake) {
        if (s->svc.store)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    s->svc.webhook_allow_private = cfg->webhook_allow_private_network != 0;
    s->svc.target_resolution_rate = (cfg->target_resolution_pct > 0 ? cfg->target_resolution_pct
                                                                    : DEFAULT_TARGET_PCT) / 100.0;
    s->svc.target_satisfaction_rate =
        (cfg->target_satisfaction_pct > 0 ? cfg->target_satisfaction_pct : DEFAULT_TARGET_PCT) / 100.0;
    esc_store_set_statement_timeout(s->svc.store, cfg->statement_timeout_ms > 0
                                                      ? cfg->statement_timeout_ms
                                                      : DEFAULT_STATEMENT_TIMEOUT_MS);
    /* rows still in clear (from before migration 006, or written by a
     * daemon of the release before during an upgrade) are sealed before
     * this daemon answers anything: the partial index makes the check free
     * once there are none */
    long sealed = 0;
    esc_error_t rerr = {0};
    if (escp_customer_reseal(s->svc.store, s->svc.keys, 0, RESEAL_BATCH, &sealed, &rerr) != 0) {
        /* a daemon serves (503s, /healthz) while the database is away, as
         * before; the rows wait for the next start */
        if (rerr.code != ESC_ERR_UNAVAILABLE) {
            esc_error_set(err, rerr.code, rerr.field, "%s", rerr.message);
            goto fail;
        }
        log_warn("customer data: rows still in clear not checked (%s); the next start seals them",
                 rerr.message);
    }
    if (sealed > 0)
        log_info("customer data: sealed %ld rows that were still in clear", sealed);
    /* the same for free text written before migration 008: masked, its
     * findings sealed, before anything is answered */
    long scanned = 0;
    esc_error_t terr = {0};
    if (escp_free_text_scan_old(s->svc.store, s->svc.keys, RESEAL_BATCH, &scanned, &terr) != 0) {
        if (terr.code != ESC_ERR_UNAVAILABLE) {
            esc_error_set(err, terr.code, terr.field, "%s", terr.message);
            goto fail;
        }
        log_warn("free text: tickets from before migration 008 not scanned (%s); the next start "
                 "scans them", terr.message);
    }
    if (scanned > 0)
        log_info("free text: scanned %ld tickets from before migration 008", scanned);
    /* announce deadlines that other daemons' engines may sleep past (every
     * daemon of a database should run with the same max sleep) */
    s->svc.notify_within_ms = cfg->engine_max_sleep_ms > 0 ? cfg->engine_max_sleep_ms
                                                           : ESCP_ENGINE_MAX_SLEEP_MS;
    if (!cfg->no_engine) {
        s->svc.engine = escp_engine_start(cfg->db, cfg->engine_batch, cfg->engine_max_sleep_ms, err);
        if (!s->svc.engine)
            goto fail;
    }
    if (!cfg->no_webhooks) {
        struct escp_webhook_config wc = {.max_attempts = cfg->webhook_max_attempts,
                                         .backoff_base_ms = cfg->webhook_backoff_ms,
                                         .backoff_cap_ms = cfg->webhook_backoff_cap_ms,
                                         .timeout_ms = cfg->webhook_timeout_ms,
                                         .allow_private_network =
                                             cfg->webhook_allow_private_network != 0};
        s->svc.webhooks = escp_webhooks_start(cfg->db, &wc, err);
        if (!s->svc.webhooks)
            goto fail;
        /* the alert worker sends with the webhook worker's attempt budget */
        struct escp_alerts_config ac = {.timeout_ms = cfg->webhook_timeout_ms > 0
                                                          ? 2 * cfg->webhook_timeout_ms : 0,
                                        .allow_private_network = cfg->webhook_allow_private_network != 0,
                                        .public_url = cfg->public_url,
                                        .ca_file = cfg->alert_ca_file,
                                        .ack_link_ttl_s = cfg->ack_link_ttl_s,
                                        .max_attempts = cfg->alert_max_attempts,
                                        .backoff_base_ms = cfg->alert_backoff_ms,
                                        .keys = &s->svc,
                                        .open_secret = escp_svc_channel_secret,
                                        .ack_link = escp_svc_ack_link};
        s->svc.alerts = escp_alerts_start(cfg->db, &ac, err);
        if (!s->svc.alerts)
            goto fail;
    }
    /* registered once the workers it pokes exist (NULL-safe when they do not) */
    escp_engine_on_fired(s->svc.engine, after_fire, &s->svc);
    /* A thread per transaction the pool can run: a waiting long poll is
     * suspended and holds none (http.c). */
    int long_polls = cfg->max_long_polls > 0 ? cfg->max_long_polls : ESCP_HTTP_MAX_LONG_POLLS;
    int threads = cfg->http_threads > 0 ? cfg->http_threads : pool;
    int want = cfg->max_connections > 0 ? cfg->max_connections : ESCP_HTTP_MAX_CONNECTIONS;
    struct escp_http_config hc = {.listen_host = cfg->listen_host,
                                  .listen_port = cfg->listen_port,
                                  .threads = threads,
                                  .max_long_polls = long_polls,
                                  .max_connections = connections_within_fds(want, pool + 2 * threads + 128),
                                  .per_ip_connections = cfg->per_ip_connections,
                                  .timeout_s = cfg->idle_timeout_s,
                                  .auth_fail_limit = cfg->auth_fail_limit,
                                  .auth_fail_window_s = cfg->auth_fail_window_s,
                                  .shutdown_grace_s = cfg->shutdown_grace_s,
                                  .tls_cert_pem = cfg->tls_cert_pem,
                                  .tls_key_pem = cfg->tls_key_pem};
    s->http = escp_http_start(&hc, escp_route_tables, &s->svc, err);
    if (!s->http)
        goto fail;
    return s;
fail:
    server_free(s);
    return NULL;
}

int esc_server_global_init(void) { return escp_webhooks_global_init(); }

int esc_server_reload(struct esc_server *s, const struct esc_server_reload *r, esc_error_t *err)
{
    struct escp_webhook_config wc = {.max_attempts = r->webhook_max_attempts,
                                     .backoff_base_ms = r->webhook_backoff_ms,
                                     .backoff_cap_ms = r->webhook_backoff_cap_ms,
                                     .timeout_ms = r->webhook_timeout_ms,
                                     .allow_private_network = r->webhook_allow_private_network != 0};
    s->svc.webhook_allow_private = r->webhook_allow_private_network != 0;
    escp_webhooks_configure(s->svc.webhooks, &wc); /* NULL (--webhook-worker off): nothing */
    return escp_keyring_reload(s->svc.keys, err);
}

int esc_data_key_rotate(const char *db, const char *data_key_file, int batch, unsigned *version,
                        long *rows, esc_error_t *err)
{
    struct escp_keyring *kr = NULL;
    struct esc_store *store = NULL;
    unsigned added = 0;
    int rc = -1;
    *rows = 0;
    /* the key file is checked before anything is added to it */
    if (!(kr = escp_keyring_load(data_key_file, err)))
        goto out;
    escp_keyring_free(kr);
    kr = NULL;
    if (esc_datakey_add_version(data_key_file, &added, err) != 0)
        goto out;
    log_info("data key file %s: added version %u", data_key_file, added);
    /* daemons look at the file at most once a second before they seal:
     * after this, every one of them seals with the new version, so the
     * rows re-sealed below stay re-sealed */
    sleep(2);
    if (version)
        *version = added;
    if (!(kr = escp_keyring_load(data_key_file, err)) || !(store = esc_store_new(db, 1, err)))
        goto out;
    if (escp_customer_reseal(store, kr, escp_keyring_version(kr),
                             batch > 0 ? batch : RESEAL_BATCH, rows, err) != 0)
        goto out;
    rc = 0;
out:
    esc_store_free(store);
    escp_keyring_free(kr);
    return rc;
}

int esc_server_port(const struct esc_server *s) { return escp_http_port(s->http); }

void esc_server_stop(struct esc_server *s)
{
    if (!s)
        return;
    escp_http_stop(s->http); /* answers what is in flight first */
    server_free(s);
}
