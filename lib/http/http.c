/* http.c — libmicrohttpd glue: the request lifecycle, the dispatcher over
 * the route tables the api/ files export, and rendering of responses and
 * errors.
 *
 * Slow and hostile clients (docs/security.md): libmicrohttpd runs a fixed
 * pool of threads, each with its own epoll set, so an idle or half-sent
 * connection costs a socket and a little memory, not a thread; connections
 * are limited in all and per client address, and one that stays idle for
 * `timeout_s` is closed.  A request is judged as soon as its headers are in:
 * the route is found on the raw bytes of the path, the token is checked and
 * the role compared with the route's mask, and a request that fails is
 * answered there and then, its body never buffered.  Failed tokens are
 * counted per address (ratelimit.h).
 *
 * Long polls (?wait=N) hold no thread while they wait: a handler that found
 * nothing asks to wait (escp_long_poll), and the request is suspended
 * (MHD_suspend_connection) and put on the list of waiters with what it waits
 * for: a wake generation (escp_wake), the next re-check, its deadline.  The
 * wake listener (on_wake) and one timer thread resume it; libmicrohttpd then
 * calls the handler again, which looks again.  At most `max_long_polls` wait
 * at once, a safety bound; the others are answered as with wait=0. */
#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/metrics.h"
#include "http/http.h"
#include "http/ratelimit.h"
#include "http/route.h"

#define MAX_BODY (1024 * 1024)
#define PARAMS_CAP 256 /* room after the path for its parameters */

struct escp_http {
    struct escp_http_config cfg; /* with the defaults filled in */
    struct MHD_Daemon *mhd;
    struct escp_svc *svc;
    struct escp_metrics *metrics;
    struct escp_ratelimit *auth_failures;
    const struct escp_route **routes; /* the tables flattened, in order */
    size_t nroutes;
    volatile int stopping;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int in_flight;  /* requests between their headers and their completion */
    double last_start; /* escp_mono_now() when the last request's headers came */
    int long_polls; /* requests holding a long-poll slot */
    /* suspended requests (see escp_long_poll in http.h for who owns them),
     * and the thread that resumes them when their time comes */
    struct req *waiters;
    pthread_cond_t timer_cv;
    pthread_t timer;
    bool timer_quit;
};

/* The request as this file sees it: the part the handlers get, then the
 * dispatcher's own state.  Allocated when the request line is parsed
 * (uri_logged), freed when the request completes (on_completed). */
struct req {
    struct escp_req r; /* first: handlers get &q->r */
    const struct escp_route *route;
    bool headers_seen;  /* the access handler has been called */
    bool counted;       /* counted in in_flight */
    bool answer_now;    /* an error to send before any body is read */
    enum { WAIT_UNSEEN, WAIT_SLOT, WAIT_CAPPED, WAIT_NONE } wait;
    int retry_after;    /* seconds, for 429 */
    /* long polls: set by escp_long_poll; the rest under s->mu while listed */
    bool suspend;       /* the handler asked to wait */
    double deadline;    /* monotonic; 0 until the first escp_long_poll */
    double due;         /* resume by then: the next re-check or the deadline */
    struct req *prev, *next; /* on s->waiters */
    struct req *rnext;  /* on a list of those being resumed, off s->waiters */
};

static struct req *req_of(struct escp_req *r) { return (struct req *)((char *)r - offsetof(struct req, r)); }

struct escp_metrics *escp_http_metrics(struct escp_http *h) { return h->metrics; }

int escp_http_in_flight(struct escp_http *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->in_flight;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ?wait=N on a long-poll route: a slot while fewer than max_long_polls wait,
 * else "0" (the API allows any client to ask for no wait).  A value that is
 * not a positive number is left for the handler to judge. */
static const char *long_poll_admit(struct req *q, const char *v)
{
    struct escp_http *s = q->r.http;
    if (q->wait == WAIT_UNSEEN) {
        char *end;
        double secs = strtod(v, &end);
        q->wait = WAIT_NONE;
        if (end != v && !*end && isfinite(secs) && secs > 0) {
            pthread_mutex_lock(&s->mu);
            if (s->long_polls < s->cfg.max_long_polls) {
                s->long_polls++;
                q->wait = WAIT_SLOT;
            } else {
                q->wait = WAIT_CAPPED;
            }
            pthread_mutex_unlock(&s->mu);
            if (q->wait == WAIT_CAPPED) {
                char path[128];
                log_debug("%s %s: %d long polls wait already; answering without waiting", q->r.method,
                          esc_log_escape(q->r.path, path, sizeof path), s->cfg.max_long_polls);
            }
        }
    }
    return q->wait == WAIT_CAPPED ? "0" : v;
}

static void long_poll_release(struct req *q)
{
    if (q->wait != WAIT_SLOT)
        return;
    q->wait = WAIT_NONE;
    pthread_mutex_lock(&q->r.http->mu);
    q->r.http->long_polls--;
    pthread_mutex_unlock(&q->r.http->mu);
}

const char *escp_query(struct escp_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (v && strcmp(name, "wait") == 0)
        v = long_poll_admit(req_of(r), v);
    return v;
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

static const struct sockaddr *client_addr(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t len)
{
    const void *a = NULL;
    if (sa && sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa && sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)len))
        snprintf(out, len, "?");
}

/* The bearer token: refused outright while the client's address has used up
 * its failed tokens (the token is not even looked up), else verified, and a
 * token that fails is counted against the address. */
static int authenticate(struct escp_http *s, struct req *q)
{
    struct escp_req *r = &q->r;
    const char *h = escp_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        esc_error_set(&r->err, ESC_ERR_UNAUTHENTICATED, NULL,
                      "an Authorization: Bearer <token> header is required");
        return -1;
    }
    const struct sockaddr *sa = client_addr(r->conn);
    double now = escp_mono_now();
    double wait = escp_ratelimit_blocked(s->auth_failures, sa, now);
    if (wait > 0) {
        q->retry_after = (int)ceil(wait);
        esc_error_set(&r->err, ESC_ERR_RATE_LIMITED, NULL,
                      "too many failed tokens from this address; try again in %d s", q->retry_after);
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    if (escp_authenticate(r->svc->store, tok, &r->actor, &r->err) == 0)
        return 0;
    if (r->err.code == ESC_ERR_UNAUTHENTICATED &&
        escp_ratelimit_fail(s->auth_failures, sa, now)) {
        char who[INET6_ADDRSTRLEN];
        addr_text(sa, who, sizeof who);
        log_warn("%s: %d failed tokens within %d s; its tokens are refused until the window ends",
                 who, s->cfg.auth_fail_limit, s->cfg.auth_fail_window_s);
    }
    return -1;
}

/* The route of the request (404 / 405 otherwise), its token and the role:
 * everything that is judged on the headers alone.  0, or -1 with r->err. */
static int route_and_auth(struct escp_http *s, struct req *q)
{
    struct escp_req *r = &q->r;
    const char *params[2] = {0};
    char pstore[PARAMS_CAP];
    char allow[64] = "";
    int path_known = 0;
    const struct escp_route *hit = NULL;

    for (size_t i = 0; i < s->nroutes && !hit; i++) {
        const struct escp_route *rt = s->routes[i];
        if (!escp_route_match(rt->pattern, r->path, params, pstore, sizeof pstore))
            continue;
        path_known = 1;
        if (strcmp(rt->method, r->method) == 0 ||
            (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            hit = rt;
        } else if (!strstr(allow, rt->method) && strlen(allow) + strlen(rt->method) + 3 < sizeof allow) {
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
        return -1;
    }
    /* re-match to keep the parameters of the route that was hit */
    escp_route_match(hit->pattern, r->path, r->params, r->path + strlen(r->path) + 1, PARAMS_CAP);
    r->action = hit->action;
    q->route = hit;
    if (hit->roles == ESCP_PUBLIC)
        return 0;
    if (authenticate(s, q) != 0)
        return -1;
    if (!(hit->roles & ESCP_ROLE(r->actor.role))) {
        char who[64];
        roles_text(hit->roles, who, sizeof who);
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL, "the %s role may not use this route (it is for: %s)",
                      esc_role_name(r->actor.role), who);
        return -1;
    }
    return 0;
}

/* ---- metrics ---- */

/* The route a request counts under: the one it was dispatched to, else the
 * first whose path matches (405), else -1 ("unmatched"). */
static int route_index(const struct escp_http *h, const char *method, const char *path)
{
    const char *params[2];
    char pstore[PARAMS_CAP];
    int first = -1;
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct escp_route *rt = h->routes[i];
        if (!escp_route_match(rt->pattern, path, params, pstore, sizeof pstore))
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

static struct MHD_Response *render(struct req *q, int *status)
{
    struct escp_req *r = &q->r;
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
    if (r->err.code == ESC_ERR_RATE_LIMITED) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", q->retry_after > 0 ? q->retry_after : 1);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
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
    /* Stopping: close the connection after this answer, so that a client on
     * a kept-alive connection does not send its next request into a server
     * that is about to close it.  Without this a steady client kept requests
     * in flight through the whole grace, and those in flight at its end were
     * cut (tests/faults/test_fault_sigterm). */
    if (*r->stopping)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            r->err.code == ESC_OK && r->cache_control ? r->cache_control : "no-store");
    return resp;
}

static void req_free(struct req *q)
{
    if (!q)
        return;
    json_decref(q->r.json);
    free(q->r.raw);
    free(q->r.body);
    free(q->r.path);
    free(q);
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

/* Render, count and queue the answer. */
static enum MHD_Result respond(struct escp_http *s, struct req *q)
{
    struct escp_req *r = &q->r;
    int status = 500;
    struct MHD_Response *resp = render(q, &status);
    if (!resp)
        return MHD_NO;
    /* counted before the response is queued, so a client that has its
     * answer finds it counted in its next scrape */
    escp_metrics_observe(s->metrics, route_index(s, r->method, r->path), r->method, status,
                         escp_mono_now() - r->started);
    char path[128];
    esc_log_escape(r->path, path, sizeof path); /* raw bytes from the client */
    if (status >= 500 && r->err.code == ESC_ERR_INTERNAL)
        log_error("%s %s -> %d", r->method, path, status);
    else
        log_debug("%s %s -> %d", r->method, path, status);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- long polls that hold no thread ---- */

bool escp_long_poll(struct escp_req *r, int wait_ms)
{
    struct req *q = req_of(r);
    if (q->deadline == 0)
        q->deadline = r->started + wait_ms / 1000.0;
    /* under a millisecond left is no wait: it would only cost another look */
    if (*r->stopping || escp_mono_now() >= q->deadline - 0.001)
        return false;
    q->suspend = true;
    return true;
}

static void waiter_unlink(struct escp_http *s, struct req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        s->waiters = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

/* Resume the requests of a chain made off the list (after s->mu is given
 * back: libmicrohttpd takes locks of its own).  Each may be completed and
 * freed as soon as it is resumed, so its link is read first. */
static void resume_chain(struct req *chain)
{
    while (chain) {
        struct req *q = chain;
        chain = q->rnext;
        q->rnext = NULL;
        MHD_resume_connection(q->r.conn);
    }
}

/* Suspend q until r->poll's slot moves, its re-check, or its deadline.  The
 * connection is suspended before it is listed, so that nobody can resume it
 * before that; a wake-up that came since the look, or a stop, resumes it at
 * once (the handler then looks again, or answers). */
static void wait_for(struct escp_http *s, struct req *q)
{
    struct escp_req *r = &q->r;
    double now = escp_mono_now();
    double due = now + r->poll.recheck_ms / 1000.0;
    q->due = due < q->deadline ? due : q->deadline;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&s->mu);
    /* read under s->mu: a bump after this read finds q listed (on_wake takes s->mu) */
    bool moved = escp_wake_gen(s->svc->wake, (enum esc_tier)r->poll.slot) != r->poll.gen;
    bool listed = !s->stopping && !moved;
    if (listed) {
        q->next = s->waiters;
        if (q->next)
            q->next->prev = q;
        q->prev = NULL;
        s->waiters = q;
        pthread_cond_signal(&s->timer_cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (!listed)
        MHD_resume_connection(r->conn);
}

/* The wake listener (escp_wake_listen).  A queue's generation moves once
 * per ticket that enters it, so one claimer is resumed, the one that has
 * waited longest (the list is newest first): resuming them all would have
 * every one look for the one ticket.  A claimer that finds it gone waits
 * again, and what a resumed claimer leaves (it failed) the others find at
 * their next re-check.  Feed readers all want the new events: all are
 * resumed, and all of every slot on a stop (-1). */
static void on_wake(void *cls, int slot)
{
    struct escp_http *s = cls;
    struct req *chain = NULL, *oldest = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct req *q = s->waiters, *next; q; q = next) {
        next = q->next;
        if (slot < 0 || (slot == ESC_TIER_NONE && q->r.poll.slot == slot)) {
            waiter_unlink(s, q);
            q->rnext = chain;
            chain = q;
        } else if (q->r.poll.slot == slot) {
            oldest = q;
        }
    }
    if (oldest) {
        waiter_unlink(s, oldest);
        oldest->rnext = chain;
        chain = oldest;
    }
    pthread_mutex_unlock(&s->mu);
    resume_chain(chain);
}

/* The timer thread: resumes each waiter at its `due` time, for the re-check
 * of other daemons' commits and for its deadline (libmicrohttpd times out
 * no suspended connection).  A client that went away is noticed then, when
 * the answer cannot be sent. */
static void *timer_main(void *arg)
{
    struct escp_http *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->timer_quit) {
        double now = escp_mono_now(), next = now + 60;
        struct req *chain = NULL;
        for (struct req *q = s->waiters, *n; q; q = n) {
            n = q->next;
            if (q->due <= now) {
                waiter_unlink(s, q);
                q->rnext = chain;
                chain = q;
            } else if (q->due < next) {
                next = q->due;
            }
        }
        if (chain) {
            pthread_mutex_unlock(&s->mu);
            resume_chain(chain);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        struct timespec until = escp_mono_after(next - now);
        pthread_cond_timedwait(&s->timer_cv, &s->mu, &until);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The first call, with the headers complete and no byte of the body read:
 * everything that can be judged now is.  A request with a body that fails
 * is answered at once, which also makes libmicrohttpd skip the body and
 * close the connection afterwards; one without a body is answered from
 * the next call, which keeps the connection open for the next request. */
static void on_headers(struct escp_http *s, struct req *q)
{
    struct escp_req *r = &q->r;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    bool body = len > 0 ||
                MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (len > MAX_BODY) {
        r->too_large = true;
        esc_error_set(&r->err, ESC_ERR_PAYLOAD_TOO_LARGE, NULL, "the body is larger than 1 MiB");
    } else if (len > 0 && !is_json_type(escp_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        esc_error_set(&r->err, ESC_ERR_UNSUPPORTED_MEDIA, NULL, "the body must be application/json");
    } else {
        route_and_auth(s, q);
    }
    q->answer_now = r->err.code != ESC_OK && body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct escp_http *s = cls;
    struct req *q = *con_cls;
    (void)url; /* decoded; routes are matched on the raw path uri_logged kept */
    (void)version;
    if (!q)
        return MHD_NO; /* uri_logged ran out of memory */
    struct escp_req *r = &q->r;

    if (!q->headers_seen) {
        q->headers_seen = true;
        r->method = method;
        r->started = escp_mono_now();
        pthread_mutex_lock(&s->mu);
        s->in_flight++;
        s->last_start = r->started;
        pthread_mutex_unlock(&s->mu);
        q->counted = true;
        on_headers(s, q);
        return q->answer_now ? respond(s, q) : MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->err.code != ESC_OK)
            return MHD_YES; /* judged already (a body-less request cannot get here) */
        if (r->body_len + n > MAX_BODY) {
            /* Only a chunked body gets here (a Content-Length over the limit
             * was answered with the headers).  This libmicrohttpd cannot queue
             * a response while a body is arriving, so the connection is
             * closed rather than the rest of the body read. */
            char path[128];
            log_info("%s %s: chunked body over 1 MiB; closing the connection", method,
                     esc_log_escape(r->path, path, sizeof path));
            return MHD_NO;
        }
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
        return MHD_YES;
    }

    if (r->err.code == ESC_OK) {
        if (r->body_len > 0 && !is_json_type(escp_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
            esc_error_set(&r->err, ESC_ERR_UNSUPPORTED_MEDIA, NULL, "the body must be application/json");
        else
            q->route->handler(r);
        if (q->suspend && r->err.code == ESC_OK) {
            q->suspend = false;
            wait_for(s, q);
            return MHD_YES; /* answered when a later call finds something, or the wait ends */
        }
        q->suspend = false;
        long_poll_release(q);
    }
    return respond(s, q);
}

/* Called when the request line is parsed, before libmicrohttpd decodes the
 * path: the request is allocated here, with the path's raw bytes. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct escp_http *s = cls;
    struct req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    size_t ulen = uri ? strcspn(uri, "?") : 0;
    q->r.path = malloc(ulen + 1 + PARAMS_CAP + 1); /* the path, then room for its parameters */
    if (!q->r.path) {
        free(q);
        return NULL;
    }
    memcpy(q->r.path, uri ? uri : "", ulen);
    q->r.path[ulen] = '\0';
    q->r.http = s;
    q->r.svc = s->svc;
    q->r.conn = conn;
    q->r.method = "";
    q->r.stopping = &s->stopping;
    return q;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct escp_http *s = cls;
    struct req *q = *con_cls;
    (void)conn;
    (void)toe;
    if (!q)
        return;
    *con_cls = NULL;
    long_poll_release(q);
    bool counted = q->counted;
    req_free(q);
    if (!counted)
        return;
    pthread_mutex_lock(&s->mu);
    s->in_flight--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

/* libmicrohttpd's messages.  Those a client causes at will (closing in the
 * middle of a request, a malformed request) go to debug; of the others (the
 * connection limits reached, resources short) no more than MHD_LOG_PER_S a
 * second reach the log, so that a flood of connections cannot become a
 * flood of log lines. */
#define MHD_LOG_PER_S 10

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t second;
    static int lines, dropped;
    static const char *const by_clients[] = {
        "Connection was closed by remote side", "The connection was forcibly closed by remote peer",
        "Socket has been disconnected when reading", "Connection socket is closed when reading",
        "The socket is no longer available for sending", "Error processing request",
        "Failed to send the", "Received HTTP/1.1 request without `Host' header",
        "Application reported internal error", /* the chunked body over 1 MiB (logged already) */
    };
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (size_t i = 0; i < sizeof by_clients / sizeof *by_clients; i++) {
        if (strncmp(msg, by_clients[i], strlen(by_clients[i])) == 0) {
            log_debug("http: %s", msg);
            return;
        }
    }
    time_t now = time(NULL);
    int show, was_dropped = 0;
    pthread_mutex_lock(&mu);
    if (now != second) {
        was_dropped = dropped;
        second = now;
        lines = dropped = 0;
    }
    show = lines < MHD_LOG_PER_S;
    if (show)
        lines++;
    else
        dropped++;
    pthread_mutex_unlock(&mu);
    if (was_dropped)
        log_warn("http: %d libmicrohttpd messages not shown (more than %d in a second)", was_dropped,
                 MHD_LOG_PER_S);
    if (show)
        log_warn("http: %s", msg);
}

static void http_free(struct escp_http *h)
{
    escp_metrics_free(h->metrics);
    escp_ratelimit_free(h->auth_failures);
    free(h->routes);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->idle);
    pthread_cond_destroy(&h->timer_cv);
    free(h);
}

static void config_defaults(struct escp_http_config *c)
{
    if (c->threads <= 0)
        c->threads = ESCP_HTTP_THREADS;
    if (c->max_long_polls <= 0)
        c->max_long_polls = ESCP_HTTP_MAX_LONG_POLLS;
    if (c->max_connections <= 0)
        c->max_connections = ESCP_HTTP_MAX_CONNECTIONS;
    if (c->per_ip_connections <= 0)
        c->per_ip_connections = ESCP_HTTP_PER_IP_CONNECTIONS;
    if (c->timeout_s <= 0)
        c->timeout_s = ESCP_HTTP_TIMEOUT_S;
    if (c->auth_fail_limit <= 0)
        c->auth_fail_limit = ESCP_HTTP_AUTH_FAIL_LIMIT;
    if (c->auth_fail_window_s <= 0)
        c->auth_fail_window_s = ESCP_HTTP_AUTH_FAIL_WINDOW_S;
    if (c->shutdown_grace_s <= 0)
        c->shutdown_grace_s = 30;
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
    config_defaults(&s->cfg);
    s->svc = svc;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    escp_cond_init_mono(&s->timer_cv);
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
    s->auth_failures = escp_ratelimit_new(s->cfg.auth_fail_limit, s->cfg.auth_fail_window_s,
                                          ESCP_HTTP_AUTH_FAIL_SLOTS);
    if (!s->metrics || !s->auth_failures) {
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
    /* A pool of threads, each with its own epoll set: connections cost no
     * thread while they idle.  ITC lets MHD_quiesce_daemon reach the pool,
     * and a resumed long poll wake its thread. */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* HTTPS through libmicrohttpd's GnuTLS: TLS 1.2 and 1.3 only (1.0 and
     * 1.1 are deprecated by RFC 8996), GnuTLS's NORMAL ciphers otherwise. */
    bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    struct MHD_OptionItem tls_options[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            freeaddrinfo(ai);
            esc_error_set(err, ESC_ERR_VALIDATION, "tls-cert",
                          "this libmicrohttpd was built without TLS: serve plain HTTP behind a "
                          "reverse proxy instead (docs/operations.md#https)");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_URI_LOG_CALLBACK, uri_logged, s,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->cfg.per_ip_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.timeout_s,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                              MHD_OPTION_ARRAY, tls ? tls_options : tls_options + 3,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->mhd && tls) {
        /* libmicrohttpd has logged GnuTLS's reason (mhd_log) */
        esc_error_set(err, ESC_ERR_VALIDATION, "tls-cert",
                      "cannot serve HTTPS on %s:%d: the certificate or key is not valid PEM, or "
                      "they do not belong together, or the port is taken (see the log above)",
                      cfg->listen_host ? cfg->listen_host : "*", cfg->listen_port);
        goto fail;
    }
    if (!s->mhd) {
        esc_error_set(err, ESC_ERR_UNAVAILABLE, "listen", "cannot listen on %s:%d",
                      cfg->listen_host ? cfg->listen_host : "*", cfg->listen_port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->listen_port;
    if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "cannot start the long-poll timer thread");
        MHD_stop_daemon(s->mhd);
        goto fail;
    }
    escp_wake_listen(s->svc->wake, on_wake, s);
    log_info("http: %s, %d threads, %d long polls waiting at once (on no thread), %d connections (%d per address), "
             "idle connections closed after %d s",
             tls ? "HTTPS (TLS 1.2+)" : "plain HTTP", s->cfg.threads, s->cfg.max_long_polls, s->cfg.max_connections,
             s->cfg.per_ip_connections, s->cfg.timeout_s);
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
    /* set under s->mu: wait_for lists no request after this, and the
     * wake-up resumes every one listed, to be answered as the wait were over */
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    escp_wake_all(s->svc->wake);
    MHD_socket fd = MHD_quiesce_daemon(s->mhd); /* no new connections */
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Done when nothing is in flight and no request has started for a
     * quiet moment: a request a client wrote into a kept-alive connection
     * just before the signal is read within milliseconds, and is answered
     * (with Connection: close) rather than cut when the daemon stops.  No
     * open connection at all ends the wait at once. */
    const double quiet_s = 0.25;
    const double deadline = escp_mono_now() + s->cfg.shutdown_grace_s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        double now = escp_mono_now();
        if (s->in_flight == 0) {
            const union MHD_DaemonInfo *ci = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if ((ci && ci->num_connections == 0) || now - s->last_start >= quiet_s)
                break;
        }
        if (now >= deadline)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L; /* the quiet moment is a matter of time, not of a signal */
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->idle, &s->mu, &until);
    }
    if (s->in_flight > 0)
        log_warn("stopping with %d requests still in flight", s->in_flight);
    s->timer_quit = true;
    pthread_cond_signal(&s->timer_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->timer, NULL);
    escp_wake_listen(s->svc->wake, NULL, NULL);
    MHD_stop_daemon(s->mhd);
    http_free(s);
}
