/* http.h — what the api/ handlers get from the HTTP layer: the request and
 * its response, the route entry each api_*.c file exports its routes in, and
 * the request helpers (query parameters, bodies, paging). */
#ifndef ESCALATED_HTTP_H
#define ESCALATED_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>

#include "core/deadline.h"
#include "core/model.h"
#include "core/validate.h"
#include "service/service.h"

struct escp_http;

struct escp_req {
    struct escp_http *http;
    struct escp_svc *svc;
    struct MHD_Connection *conn;
    const char *method;
    char *path;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    const char *params[2];   /* path parameters ({id}, {tier}) */
    int action;              /* enum esc_action for action routes */
    struct esc_actor actor;
    volatile int *stopping;
    struct escp_poll poll;   /* a long poll's state between its looks (escp_long_poll) */
    /* the response */
    int status;
    json_t *json;            /* owned */
    char *raw;               /* owned, with raw_len and ctype */
    size_t raw_len;
    const char *ctype;
    double started;          /* monotonic seconds when the headers arrived (metrics) */
    char etag[24], location[64];
    bool replayed;
    char allow[64];
    const char *const *headers; /* more response headers: {name, value, ..., NULL}, static */
    const char *cache_control;  /* NULL = "no-store" */
    esc_error_t err;
};

/* Query parameter or header (NULL when absent); borrowed from libmicrohttpd.
 * r must be a request the server made.  A positive `wait` takes one of the
 * server's long-poll slots until the request is answered, or reads "0" when
 * all are taken (escp_http_config.max_long_polls). */
const char *escp_query(struct escp_req *r, const char *name);
const char *escp_header(struct escp_req *r, const char *name);
/* For a long-poll handler whose look (a use case filling r->poll) found
 * nothing: true when the request is to wait, and the handler then returns
 * without an answer.  The server suspends the request, which then holds no
 * thread, and calls the handler again from the start when r->poll's slot
 * moves, its recheck_ms pass, or the wait ends; the handler looks again and
 * answers, or waits again.  false when the wait is over (wait_ms since the
 * headers came, or the server is stopping): answer "nothing".
 *
 * Ownership (http.c): a suspended request is on the server's list of
 * waiters, and libmicrohttpd neither calls its handler nor completes it
 * while it is suspended.  Whoever takes it off the list, under the server's
 * lock (a wake-up, the deadline thread, the stop), resumes it exactly once
 * and does not touch it afterwards: from then on it is libmicrohttpd's, and
 * may be completed and freed at once.  No request is on the list when
 * MHD_stop_daemon runs. */
bool escp_long_poll(struct escp_req *r, int wait_ms);
/* 0 when every query parameter is one of `allowed` (NULL-terminated); else a
 * validation error naming the first unknown one. */
int escp_query_only(struct escp_req *r, const char *const *allowed);
/* The If-Match header: *out = the version in "<version>" (W/ and unquoted
 * accepted), -1 when there is none; -1 with a 400 naming If-Match when it
 * is not a version. */
int escp_if_match(struct escp_req *r, int *out);
/* Path parameter i as an id; 0 with 404 "no such <what>" when it is not one
 * that can exist. */
int64_t escp_path_id(struct escp_req *r, int i, const char *what);

/* ---- routes ----
 * Each api_*.c exports a table of these, ended by an entry with a NULL
 * method.  `roles` is who may call it: ESCP_PUBLIC needs no token; otherwise
 * the dispatcher authenticates and answers 403 to a role not in the mask,
 * before the handler runs and before the body is looked at.  Finer rules
 * (the state machine's, per ticket) stay with the use case. */
#define ESCP_PUBLIC 0u
#define ESCP_ROLE(role) (1u << (role))
#define ESCP_ANY_ROLE                                                                     \
    (ESCP_ROLE(ESC_ROLE_FRONTDESK) | ESCP_ROLE(ESC_ROLE_AGENT) | ESCP_ROLE(ESC_ROLE_MANAGER) | \
     ESCP_ROLE(ESC_ROLE_ADMIN))
#define ESCP_MANAGERS (ESCP_ROLE(ESC_ROLE_MANAGER) | ESCP_ROLE(ESC_ROLE_ADMIN))
#define ESCP_ADMINS ESCP_ROLE(ESC_ROLE_ADMIN)
#define ESCP_AGENTS ESCP_ROLE(ESC_ROLE_AGENT)

struct escp_route {
    const char *method;
    const char *pattern; /* segments; "{}" is a parameter, "{tier}" one that names a tier */
    void (*handler)(struct escp_req *r); /* sets r->status and r->json, or r->err */
    unsigned roles;
    int action;          /* enum esc_action for action routes, else -1 */
};

/* ---- the server ----
 * libmicrohttpd with a fixed pool of threads, each polling its own
 * connections with epoll (docs/security.md, "Slow and hostile clients").
 * Every number left 0 takes the default below. */
#define ESCP_HTTP_THREADS 32             /* pool threads */
#define ESCP_HTTP_MAX_LONG_POLLS 10000  /* long polls waiting at once (a safety bound) */
#define ESCP_HTTP_MAX_CONNECTIONS 4096   /* connections at once, all clients */
#define ESCP_HTTP_PER_IP_CONNECTIONS 64  /* connections at once from one address */
#define ESCP_HTTP_TIMEOUT_S 10           /* an idle connection is closed after this */
#define ESCP_HTTP_AUTH_FAIL_LIMIT 20     /* failed tokens from one address ... */
#define ESCP_HTTP_AUTH_FAIL_WINDOW_S 60  /* ... within this many seconds: 429 until it ends */
#define ESCP_HTTP_AUTH_FAIL_SLOTS 4096   /* addresses the failure counter remembers */
struct escp_http_config {
    const char *listen_host; /* NULL or "" = every address */
    int listen_port;         /* 0 = any free port */
    int threads;             /* libmicrohttpd's pool; a thread serves one request at a time */
    int max_long_polls;      /* requests that may wait (?wait=N) at once; they hold no thread
                                while they wait; more are answered as with wait=0 (default
                                ESCP_HTTP_MAX_LONG_POLLS) */
    int max_connections;     /* the caller keeps it within RLIMIT_NOFILE */
    int per_ip_connections;
    int timeout_s;           /* idle (or slowly sent) connections */
    int auth_fail_limit;
    int auth_fail_window_s;
    int shutdown_grace_s;    /* how long a stop waits for requests in flight (default 30) */
    const char *tls_cert_pem; /* both set: serve HTTPS (TLS 1.2 and 1.3) with this certificate */
    const char *tls_key_pem;  /* (chain) and key, PEM text; borrowed until escp_http_stop */
};
/* Serve the routes of `tables` (NULL-terminated; matched in order) with the
 * use cases of svc (borrowed; must outlive the server). */
struct escp_http *escp_http_start(const struct escp_http_config *cfg,
                                  const struct escp_route *const *tables, struct escp_svc *svc,
                                  esc_error_t *err);
int escp_http_port(const struct escp_http *h);
/* Stop accepting, answer the long polls (each gets its empty answer), wait
 * for requests in flight (up to the grace period), then stop.  NULL-safe. */
void escp_http_stop(struct escp_http *h);
/* For GET /metrics: the request counters, and the requests in flight. */
struct escp_metrics *escp_http_metrics(struct escp_http *h);
int escp_http_in_flight(struct escp_http *h);

/* ---- query values (request.c) ----
 * PURE: the value of one query parameter, as text, to what it means; the
 * request helpers below call these with escp_query's value, and
 * tests/fuzz/fuzz_query.c calls them with arbitrary text.  Each returns 0
 * with *out set, or -1 with a validation error naming the parameter in *err
 * (and *out untouched). */
/* RFC 3339 (esc_time_parse), an instant in the years 0001..9999 UTC. */
int escp_parse_time(const char *v, const char *name, esc_time_t *out, esc_error_t *err);
/* A decimal count 1..max (escp_parse_id's digits). */
int escp_parse_limit(const char *v, int max, int *limit, esc_error_t *err);
/* Seconds 0..max_s, decimals allowed, rounded to the nearest millisecond. */
int escp_parse_wait(const char *v, int max_s, int *wait_ms, esc_error_t *err);
/* `prefix` followed by an id 1..INT64_MAX in hex, as escp_page_next writes it. */
int escp_parse_cursor(const char *v, char prefix, int64_t *before_id, esc_error_t *err);

/* ---- request helpers (request.c) ----
 * Each that can fail sets r->err (a validation error naming the parameter,
 * unless said otherwise) and returns -1 or NULL. */
/* The body as a JSON object (new reference); an empty body is {} when
 * allow_empty.  ESC_ERR_INVALID_JSON for text that is not JSON (invalid
 * UTF-8 and duplicate keys included), a validation error for another type. */
json_t *escp_body_object(struct escp_req *r, bool allow_empty);
/* 403 unless the caller is a manager or an admin.  The dispatcher checks
 * each route's roles before its handler runs; this stays for the handlers
 * that have not dropped their own check yet. */
/* An optional RFC 3339 query parameter as PostgreSQL text in buf; *out is
 * buf, or NULL when absent. */
int escp_time_query(struct escp_req *r, const char *name, char *buf, size_t len, const char **out);
/* An optional `limit` query parameter, 1..max; left alone when absent. */
int escp_limit_query(struct escp_req *r, int max, int *limit);
/* An optional `wait` query parameter: seconds, 0..max_s, decimals allowed;
 * *wait_ms is 0 when absent. */
int escp_wait_query(struct escp_req *r, int max_s, int *wait_ms);
/* Paging by id, newest first.  The opaque cursor is `prefix` followed by the
 * last id seen, in hex.  escp_cursor_query: 0 with *before_id set (left
 * alone when there is no cursor).  escp_page_next: items holds up to
 * limit + 1 rows; drops the extra one and returns the next cursor (a new
 * string), or json null on the last page. */
int escp_cursor_query(struct escp_req *r, char prefix, int64_t *before_id);
json_t *escp_page_next(json_t *items, int limit, char prefix);

#endif
