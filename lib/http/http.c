/* http.c — libmicrohttpd glue: the request lifecycle, the dispatcher over
 * the route tables the api/ files export (authentication and the role check
 * from the route entry, before the body is looked at), and rendering of
 * responses and errors. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/metrics.h"
#include "http/http.h"

#define MAX_BODY (1024 * 1024)

struct escp_http {
    struct escp_http_config cfg;
    struct MHD_Daemon *mhd;
    struct escp_svc *svc;
    struct escp_metrics *metrics;
    const struct escp_route **routes; /* the tables flattened, in order */
    size_t nroutes;
    volatile int stopping;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int in_flight;
};

struct escp_metrics *escp_http_metrics(struct escp_http *h) { return h->metrics; }

int escp_http_in_flight(struct escp_http *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->in_flight;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* "line-1" .. "line-3" */
static bool tier_segment(const char *s, size_t len)
{
    char name[8];
    if (len >= sizeof name)
        return false;
    memcpy(name, s, len);
    name[len] = '\0';
    return esc_tier_from_name(name) >= 1;
}

/* Match path against pattern; fills up to 2 parameters.  A pattern segment
 * in braces is a parameter: "{}" matches any segment, "{tier}" only a tier
 * name. */
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
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || np >= 2 || used + slen + 1 > cap)
                return 0;
            if (plen == 6 && memcmp(p, "{tier}", 6) == 0 && !tier_segment(s, slen))
                return 0; /* a queue that does not exist is no route: 404 before any token check */
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
    return escp_authenticate(r->svc->store, tok, &r->actor, &r->err);
}

/* "manager, admin": the roles of a route's mask, for a 403's message. */
static void roles_text(unsigned roles, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < ESC_ROLE__COUNT; i++)
        if (roles & ESCP_ROLE(i))
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", o ? ", " : "",
                                  esc_role_name((enum esc_role)i));
}

static void dispatch(struct escp_http *h, struct escp_req *r)
{
    const char *params[2] = {0};
    char pstore[256];
    char allow[64] = "";
    int path_known = 0;
    const struct escp_route *hit = NULL;

    for (size_t i = 0; i < h->nroutes && !hit; i++) {
        const struct escp_route *rt = h->routes[i];
        if (!match(rt->pattern, r->path, params, pstore, sizeof pstore))
            continue;
        path_known = 1;
        if (strcmp(rt->method, r->method) == 0 ||
            (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            hit = rt;
        } else if (!strstr(allow, rt->method)) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, rt->method);
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
    if (hit->roles != ESCP_PUBLIC) {
        if (authenticate(r) != 0)
            return;
        if (!(hit->roles & ESCP_ROLE(r->actor.role))) {
            char who[64];
            roles_text(hit->roles, who, sizeof who);
            esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "the %s role may not use this route (it is for: %s)",
                          esc_role_name(r->actor.role), who);
            return;
        }
    }
    hit->handler(r);
}

/* ---- metrics ---- */

/* The route a request counts under: the one it was dispatched to, else the
 * first whose path matches (405), else -1 ("unmatched"). */
static int route_index(const struct escp_http *h, const char *method, const char *path)
{
    const char *params[2];
    char pstore[256];
    int first = -1;
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct escp_route *rt = h->routes[i];
        if (!match(rt->pattern, path, params, pstore, sizeof pstore))
            continue;
        if (strcmp(rt->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))
            return (int)i;
        if (first < 0)
            first = (int)i;
    }
    return first;
}

static struct escp_metrics *metrics_new(const struct escp_http *h)
{
    const char **patterns = calloc(h->nroutes + 1, sizeof *patterns);
    const char **methods = calloc(h->nroutes + 1, sizeof *methods);
    struct escp_metrics *m = NULL;
    if (patterns && methods) {
        for (size_t i = 0; i < h->nroutes; i++) {
            patterns[i] = h->routes[i]->pattern;
            methods[i] = h->routes[i]->method;
        }
        m = escp_metrics_new(patterns, methods, h->nroutes);
    }
    free(patterns);
    free(methods);
    return m;
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
    struct escp_http *s = cls;
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
        r->http = s;
        r->svc = s->svc;
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
        dispatch(s, r);

    int status = 500;
    struct MHD_Response *resp = render(r, &status);
    if (!resp)
        return MHD_NO;
    /* counted before the response is queued, so a client that has its
     * answer finds it counted in its next scrape */
    escp_metrics_observe(s->metrics, route_index(s, method, r->path), method, status,
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
    struct escp_http *s = cls;
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

static void http_free(struct escp_http *h)
{
    escp_metrics_free(h->metrics);
    free(h->routes);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->idle);
    free(h);
}

struct escp_http *escp_http_start(const struct escp_http_config *cfg,
                                  const struct escp_route *const *tables, struct escp_svc *svc,
                                  esc_error_t *err)
{
    struct escp_http *s = calloc(1, sizeof *s);
    struct addrinfo *ai = NULL;
    if (!s) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->svc = svc;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    size_t n = 0;
    for (const struct escp_route *const *t = tables; *t; t++)
        for (const struct escp_route *rt = *t; rt->method; rt++)
            n++;
    s->routes = calloc(n + 1, sizeof *s->routes);
    if (s->routes) {
        for (const struct escp_route *const *t = tables; *t; t++)
            for (const struct escp_route *rt = *t; rt->method; rt++)
                s->routes[s->nroutes++] = rt;
        s->metrics = metrics_new(s);
    }
    if (!s->metrics) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
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
    http_free(s);
    return NULL;
}

int escp_http_port(const struct escp_http *s) { return s->port; }

void escp_http_stop(struct escp_http *s)
{
    if (!s)
        return;
    s->stopping = 1;
    escp_wake_all(s->svc->wake);
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
    http_free(s);
}
