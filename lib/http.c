/* http.c — libmicrohttpd glue: the request lifecycle, the one route table,
 * authentication, and rendering of responses and errors. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "escalated/fsm.h"
#include "escalated/log.h"
#include "escalated/server.h"
#include "escalated/store.h"
#include "http.h"
#include "metrics.h"

#define MAX_BODY (1024 * 1024)

struct esc_server {
    struct esc_server_config cfg;
    struct MHD_Daemon *mhd;
    struct esc_store *store;
    struct escp_svc svc;
    struct escp_metrics *metrics;
    volatile int stopping;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int in_flight;
};

struct esc_store *escp_server_store(struct esc_server *s) { return s->store; }
struct escp_metrics *escp_server_metrics(struct esc_server *s) { return s->metrics; }

int escp_server_in_flight(struct esc_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->in_flight;
    pthread_mutex_unlock(&s->mu);
    return n;
}

enum auth { AUTH_NONE, AUTH_ANY };

struct route {
    const char *method;
    const char *pattern; /* segments; "{}" matches one parameter */
    void (*handler)(struct escp_req *r);
    enum auth auth;
    int action;          /* -1 unless an action route */
};

static const struct route routes[] = {
    {"GET", "/healthz", escp_api_healthz, AUTH_NONE, -1},
    {"GET", "/readyz", escp_api_readyz, AUTH_NONE, -1},
    {"POST", "/v1/tickets", escp_api_ticket_create, AUTH_ANY, ESC_ACT_CREATE},
    {"GET", "/v1/tickets", escp_api_ticket_list, AUTH_ANY, -1},
    {"GET", "/v1/tickets/{}", escp_api_ticket_get, AUTH_ANY, -1},
    {"GET", "/v1/tickets/{}/events", escp_api_ticket_events, AUTH_ANY, -1},
    {"GET", "/v1/tickets/{}/customer", escp_api_ticket_customer, AUTH_ANY, -1},
    {"POST", "/v1/tickets/{}/acknowledge", escp_api_ticket_action, AUTH_ANY, ESC_ACT_ACKNOWLEDGE},
    {"POST", "/v1/tickets/{}/escalate", escp_api_ticket_action, AUTH_ANY, ESC_ACT_ESCALATE},
    {"POST", "/v1/tickets/{}/return", escp_api_ticket_action, AUTH_ANY, ESC_ACT_RETURN},
    {"POST", "/v1/tickets/{}/wait", escp_api_ticket_action, AUTH_ANY, ESC_ACT_WAIT},
    {"POST", "/v1/tickets/{}/resume", escp_api_ticket_action, AUTH_ANY, ESC_ACT_RESUME},
    {"POST", "/v1/tickets/{}/resolve", escp_api_ticket_action, AUTH_ANY, ESC_ACT_RESOLVE},
    {"POST", "/v1/tickets/{}/close", escp_api_ticket_action, AUTH_ANY, ESC_ACT_CLOSE},
    {"POST", "/v1/tickets/{}/reopen", escp_api_ticket_action, AUTH_ANY, ESC_ACT_REOPEN},
    {"POST", "/v1/tickets/{}/comment", escp_api_ticket_action, AUTH_ANY, ESC_ACT_COMMENT},
    {"POST", "/v1/queues/{}/claim", escp_api_claim, AUTH_ANY, -1},
    {"GET", "/v1/breaches", escp_api_breaches, AUTH_ANY, -1},
    {"GET", "/v1/policies", escp_api_policies_get, AUTH_ANY, -1},
    {"PUT", "/v1/policies/{}", escp_api_policy_put, AUTH_ANY, -1},
    {"GET", "/v1/calendar", escp_api_calendar_get, AUTH_ANY, -1},
    {"PUT", "/v1/calendar", escp_api_calendar_put, AUTH_ANY, -1},
    {"GET", "/v1/reports/sla", escp_api_report_sla, AUTH_ANY, -1},
    {"GET", "/v1/reports/monthly", escp_api_report_monthly, AUTH_ANY, -1},
    {"GET", "/v1/events", escp_api_events, AUTH_ANY, -1},
    /* @reports-routes */
    {"GET", "/metrics", escp_api_metrics, AUTH_NONE, -1},
    /* @events-metrics-routes */
    {"POST", "/v1/webhooks", escp_api_webhook_create, AUTH_ANY, -1},
    {"GET", "/v1/webhooks", escp_api_webhook_list, AUTH_ANY, -1},
    {"GET", "/v1/webhooks/{}", escp_api_webhook_get, AUTH_ANY, -1},
    {"DELETE", "/v1/webhooks/{}", escp_api_webhook_delete, AUTH_ANY, -1},
    {"GET", "/v1/notifications", escp_api_notification_list, AUTH_ANY, -1},
    {"GET", "/v1/notifications/{}", escp_api_notification_get, AUTH_ANY, -1},
    {"POST", "/v1/notifications/{}/retry", escp_api_notification_retry, AUTH_ANY, -1},
    /* @webhooks-routes */
    {"GET", "/v1/dashboard/summary", escp_api_dashboard_summary, AUTH_ANY, -1},
    {"GET", "/dashboard", escp_api_dashboard_page, AUTH_NONE, -1},
    {"GET", "/dashboard/", escp_api_dashboard_page, AUTH_NONE, -1},
    {"GET", "/dashboard/chart.js", escp_api_dashboard_chartjs, AUTH_NONE, -1},
    {"GET", "/dashboard/{}", escp_api_dashboard_file, AUTH_NONE, -1},
    /* @dashboard-routes */
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* Match path against pattern; fills up to 2 parameters. */
static int match(const char *pattern, const char *path, const char **params, char *store, size_t cap)
{
    int np = 0;
    size_t used = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen == 2 && p[0] == '{' && p[1] == '}') {
            if (slen == 0 || np >= 2 || used + slen + 1 > cap)
                return 0;
            memcpy(store + used, s, slen);
            store[used + slen] = '\0';
            params[np++] = store + used;
            used += slen + 1;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen, s += slen;
    }
    return *p == '\0' && *s == '\0';
}

const char *escp_query(struct escp_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *escp_header(struct escp_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct query_check {
    const char *const *allowed;
    const char *bad;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query_check *q = cls;
    for (const char *const *a = q->allowed; *a; a++)
        if (strcmp(*a, key) == 0)
            return MHD_YES;
    q->bad = key;
    return MHD_NO;
}

int escp_query_only(struct escp_req *r, const char *const *allowed)
{
    struct query_check q = {allowed, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
    if (q.bad) {
        char esc[64];
        esc_log_escape(q.bad, esc, sizeof esc);
        esc_error_set(&r->err, ESC_ERR_VALIDATION, esc, "unknown query parameter");
        return -1;
    }
    return 0;
}

static int authenticate(struct escp_req *r)
{
    const char *h = escp_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        esc_error_set(&r->err, ESC_ERR_UNAUTHENTICATED, NULL,
                      "an Authorization: Bearer <token> header is required");
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    return escp_authenticate(r->srv->store, tok, &r->actor, &r->err);
}

static void dispatch(struct escp_req *r)
{
    const char *params[2] = {0};
    char pstore[256];
    char allow[64] = "";
    int path_known = 0;
    const struct route *hit = NULL;

    for (size_t i = 0; i < NROUTES && !hit; i++) {
        if (!match(routes[i].pattern, r->path, params, pstore, sizeof pstore))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, r->method) == 0 ||
            (strcmp(r->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            hit = &routes[i];
        } else if (!strstr(allow, routes[i].method)) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, routes[i].method);
        }
    }
    if (!hit) {
        if (path_known) {
            snprintf(r->allow, sizeof r->allow, "%s", allow);
            esc_error_set(&r->err, ESC_ERR_METHOD_NOT_ALLOWED, NULL, "use %s on this path", allow);
        } else {
            esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "no such route");
        }
        return;
    }
    /* re-match to keep the parameters of the route that was hit */
    match(hit->pattern, r->path, r->params, r->path + strlen(r->path) + 1, 256);
    r->action = hit->action;
    if (hit->auth != AUTH_NONE && authenticate(r) != 0)
        return;
    hit->handler(r);
}

/* ---- metrics ---- */

/* The route a request counts under: the one it was dispatched to, else the
 * first whose path matches (405), else -1 ("unmatched"). */
static int route_index(const char *method, const char *path)
{
    const char *params[2];
    char pstore[256];
    int first = -1;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!match(routes[i].pattern, path, params, pstore, sizeof pstore))
            continue;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            return (int)i;
        if (first < 0)
            first = (int)i;
    }
    return first;
}

static struct escp_metrics *metrics_new(void)
{
    const char *patterns[NROUTES], *methods[NROUTES];
    for (size_t i = 0; i < NROUTES; i++) {
        patterns[i] = routes[i].pattern;
        methods[i] = routes[i].method;
    }
    return escp_metrics_new(patterns, methods, NROUTES);
}

/* ---- response rendering ---- */

static struct MHD_Response *render(struct escp_req *r, int *status)
{
    char *text = NULL;
    size_t len = 0;
    const char *ctype = "application/json; charset=utf-8";

    if (r->err.code != ESC_OK) {
        *status = esc_code_http_status(r->err.code);
        json_t *e = json_pack("{s:s,s:s}", "code", esc_code_name(r->err.code), "message",
                              r->err.message);
        if (r->err.field[0])
            json_object_set_new(e, "field", json_string(r->err.field));
        json_t *doc = json_pack("{s:o}", "error", e);
        text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        len = text ? strlen(text) : 0;
    } else if (r->raw) {
        *status = r->status;
        text = r->raw;
        r->raw = NULL;
        len = r->raw_len;
        ctype = r->ctype;
    } else if (r->json) {
        *status = r->status ? r->status : 200;
        text = json_dumps(r->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
        len = text ? strlen(text) : 0;
    } else {
        *status = r->status ? r->status : 204;
    }
    if (text && len < 1 << 30) {
        char *nl = realloc(text, len + 2); /* a trailing newline is kind to curl users */
        if (nl) {
            text = nl;
            text[len++] = '\n';
            text[len] = '\0';
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text ? text : (char *)"",
                                                                text ? MHD_RESPMEM_MUST_FREE
                                                                     : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return NULL;
    }
    if (len)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (r->err.code == ESC_ERR_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (r->err.code == ESC_ERR_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->err.code == ESC_ERR_UNAUTHENTICATED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->err.code == ESC_OK) {
        if (r->etag[0])
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
        if (r->location[0])
            MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
        if (r->replayed)
            MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    }
    if (r->err.code == ESC_OK && r->headers)
        for (const char *const *h = r->headers; h[0] && h[1]; h += 2)
            MHD_add_response_header(resp, h[0], h[1]);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            r->err.code == ESC_OK && r->cache_control ? r->cache_control : "no-store");
    return resp;
}

static void req_free(struct escp_req *r)
{
    if (!r)
        return;
    json_decref(r->json);
    free(r->raw);
    free(r->body);
    free(r->path);
    free(r);
}

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct esc_server *s = cls;
    struct escp_req *r = *con_cls;

    if (!r) { /* first call: headers only; answer from a later call (keeps keep-alive) */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        size_t ulen = strlen(url);
        r->path = malloc(ulen + 1 + 256 + 1); /* the path, then room for its parameters */
        if (!r->path) {
            free(r);
            return MHD_NO;
        }
        memcpy(r->path, url, ulen + 1);
        r->srv = s;
        r->svc = &s->svc;
        r->conn = conn;
        r->method = method;
        r->stopping = &s->stopping;
        r->started = escp_mono_now();
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > MAX_BODY)
            r->too_large = true;
        pthread_mutex_lock(&s->mu);
        s->in_flight++;
        pthread_mutex_unlock(&s->mu);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!r->too_large && r->body_len + n > MAX_BODY)
            r->too_large = true;
        if (!r->too_large) {
            if (r->body_len + n + 1 > r->body_cap) {
                size_t cap = r->body_cap ? r->body_cap : 4096;
                while (cap < r->body_len + n + 1)
                    cap *= 2;
                char *nb = realloc(r->body, cap);
                if (!nb)
                    return MHD_NO;
                r->body = nb;
                r->body_cap = cap;
            }
            memcpy(r->body + r->body_len, upload_data, n);
            r->body_len += n;
            r->body[r->body_len] = '\0';
        }
        *upload_data_size = 0; /* consumed (or discarded past the limit) */
        return MHD_YES;
    }

    if (r->too_large)
        esc_error_set(&r->err, ESC_ERR_PAYLOAD_TOO_LARGE, NULL, "the body is larger than 1 MiB");
    else if (r->body_len > 0 && !is_json_type(escp_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        esc_error_set(&r->err, ESC_ERR_UNSUPPORTED_MEDIA, NULL,
                      "the body must be application/json");
    else
        dispatch(r);

    int status = 500;
    struct MHD_Response *resp = render(r, &status);
    if (!resp)
        return MHD_NO;
    /* counted before the response is queued, so a client that has its
     * answer finds it counted in its next scrape */
    escp_metrics_observe(s->metrics, route_index(method, r->path), method, status,
                         escp_mono_now() - r->started);
    if (status >= 500 && r->err.code == ESC_ERR_INTERNAL)
        log_error("%s %s -> %d", method, r->path, status);
    else
        log_debug("%s %s -> %d", method, r->path, status);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct esc_server *s = cls;
    struct escp_req *r = *con_cls;
    if (!r)
        return;
    req_free(r);
    *con_cls = NULL;
    pthread_mutex_lock(&s->mu);
    s->in_flight--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("http: %s", msg);
}

/* The SLA engine committed breach/at_risk events: wake GET /v1/events long polls. */
static void wake_event_feed(void *wake) { escp_wake_events(wake); }

struct esc_server *esc_server_start(const struct esc_server_config *cfg, esc_error_t *err)
{
    struct esc_server *s = calloc(1, sizeof *s);
    struct addrinfo *ai = NULL;
    if (!s) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->store = esc_store_new(cfg->db, cfg->pool_size > 0 ? cfg->pool_size : 16, err);
    s->svc.wake = escp_wake_new();
    s->metrics = metrics_new();
    if (!s->store || !s->svc.wake)
        goto fail;
    if (!s->metrics) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    s->svc.store = s->store;
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

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    char port[8];
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    int gai = getaddrinfo(cfg->listen_host && *cfg->listen_host ? cfg->listen_host : NULL, port,
                          &hints, &ai);
    if (gai != 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "listen", "cannot resolve listen address: %s",
                      gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 1024),
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->mhd) {
        esc_error_set(err, ESC_ERR_UNAVAILABLE, "listen", "cannot listen on %s:%d",
                      cfg->listen_host ? cfg->listen_host : "*", cfg->listen_port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->listen_port;
    return s;
fail:
    escp_engine_stop(s->svc.engine);
    escp_webhooks_stop(s->svc.webhooks);
    esc_store_free(s->store);
    escp_wake_free(s->svc.wake);
    escp_metrics_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s);
    return NULL;
}

int esc_server_port(const struct esc_server *s) { return s->port; }

void esc_server_stop(struct esc_server *s)
{
    if (!s)
        return;
    s->stopping = 1;
    escp_wake_all(s->svc.wake);
    MHD_socket fd = MHD_quiesce_daemon(s->mhd); /* no new connections */
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->cfg.shutdown_grace_s > 0 ? s->cfg.shutdown_grace_s : 30;
    pthread_mutex_lock(&s->mu);
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->idle, &s->mu, &until) != 0)
            break;
    if (s->in_flight > 0)
        log_warn("stopping with %d requests still in flight", s->in_flight);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->mhd);
    escp_engine_stop(s->svc.engine);
    escp_webhooks_stop(s->svc.webhooks);
    esc_store_free(s->store);
    escp_wake_free(s->svc.wake);
    escp_metrics_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s);
}
