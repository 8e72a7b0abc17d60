/* escalated — the HTTP server (libmicrohttpd), in the library so tests can
 * start it in-process.  A fixed pool of HTTP threads, each polling its own
 * connections with epoll, so idle and slow connections cost no thread
 * (docs/security.md); database work goes through the store's pool of
 * `pool_size` connections (the knee of PostgreSQL on these machines is ~16
 * transactions in flight).  Every number left 0 takes its default. */
#ifndef ESCALATED_SERVER_H
#define ESCALATED_SERVER_H

#include "base/error.h"

/* Every route table served, NULL-terminated, in the order they are matched. */
struct escp_route;
extern const struct escp_route *const escp_route_tables[];

struct esc_server_config {
    const char *db;          /* conninfo; NULL = libpq defaults */
    const char *data_key_file; /* the data key (docs/security.md); required: customer data
                                  is sealed with it, and the start refuses without it */
    const char *listen_host; /* "127.0.0.1" */
    int listen_port;         /* 0 = any free port */
    int pool_size;           /* database connections */
    int max_connections;     /* HTTP connections at once (default 4096; lowered to fit
                                RLIMIT_NOFILE, whose soft limit is raised to the hard one) */
    int per_ip_connections;  /* HTTP connections at once from one client address (default 64) */
    int http_threads;        /* HTTP threads (default pool_size) */
    int max_long_polls;      /* ?wait=N requests waiting at once (suspended: on no thread); more
                                are answered at once, as with wait=0 (default 10,000) */
    int idle_timeout_s;      /* an HTTP connection idle (or sending this slowly) is closed
                                (default 10) */
    int auth_fail_limit;     /* failed tokens from one address within auth_fail_window_s ... */
    int auth_fail_window_s;  /* ... before its tokens get 429 until the window ends (20, 60) */
    int statement_timeout_ms; /* PostgreSQL statement_timeout of the pool's connections
                                 (default 30,000) */
    int shutdown_grace_s;    /* how long SIGTERM waits for requests in flight */
    int engine_batch;        /* timers fired per statement (default 500) */
    int engine_max_sleep_ms; /* longest the SLA engine sleeps without looking, and the window
                                within which a new deadline is announced to other daemons by
                                NOTIFY (default 60000; the same on every daemon of a database) */
    int no_engine;           /* 1: do not run the SLA engine in this process */
    /* the webhook delivery worker (docs/webhooks.md); 0 = the default */
    int no_webhooks;             /* 1: do not run the delivery worker in this process */
    int webhook_max_attempts;    /* attempts before a delivery fails (default 10) */
    int webhook_backoff_ms;      /* back-off after the first failed attempt (default 30,000) */
    int webhook_backoff_cap_ms;  /* the longest back-off (default 3,600,000) */
    int webhook_timeout_ms;      /* one attempt, connect included (default 5,000) */
    const char *tls_cert_pem;    /* both set: serve HTTPS with this certificate (chain) */
    const char *tls_key_pem;     /* and key, PEM text, borrowed until esc_server_stop */
    int webhook_allow_private_network; /* 1: webhooks may also aim at loopback, private and
                                          shared addresses (docs/security.md#webhook-destinations) */
    /* the monthly report's targets, percent (docs/reports.md#targets); 0 = 90 */
    int target_resolution_pct, target_satisfaction_pct;
    /* the alert worker (docs/channels.md): runs with the webhook worker */
    const char *public_url;      /* where people reach the daemon: links in alerts; NULL = none */
    const char *alert_ca_file;   /* more CAs for the TLS of channels; NULL = the system's */
    int ack_link_ttl_s;          /* how long a one-click link works (default 3,600) */
    int alert_max_attempts;      /* before the fallback (default 5) */
    int alert_backoff_ms;        /* after a first failed attempt, doubling (default 5,000) */
};

struct esc_server;

/* Process-wide set-up of the libraries the server uses (libcurl): call once,
 * before any thread starts.  0, or -1 when it fails. */
int esc_server_global_init(void);
struct esc_server *esc_server_start(const struct esc_server_config *cfg, esc_error_t *err);
/* `escalated data-key rotate`: add a data key version to the file, then
 * seal again, in transactions of `batch` rows (0 = 500), every row sealed
 * with an older version (and any still in clear), while daemons serve.
 * *version (may be NULL) gets the new version, *rows the rows re-sealed.
 * Daemons that loaded the file before reload it when they meet the new
 * version.  0, or -1 with err. */
int esc_data_key_rotate(const char *db, const char *data_key_file, int batch, unsigned *version,
                        long *rows, esc_error_t *err);

/* What a running server may change (SIGHUP, docs/operations.md#reloading-sighup):
 * the webhook delivery settings (0 = the default) and the data key file,
 * loaded again.  The log level and format are the logger's (base/log.h). */
struct esc_server_reload {
    int webhook_max_attempts, webhook_backoff_ms, webhook_backoff_cap_ms, webhook_timeout_ms;
    int webhook_allow_private_network;
};
/* Apply r: the delivery worker takes the new settings before its next pass
 * (an attempt in flight ends with the old ones); new webhooks are checked
 * against the new allow_private_network at once.  The data key file is
 * loaded again; 0, or -1 with err when it does not load (the key in use
 * stays, the rest is applied). */
int esc_server_reload(struct esc_server *s, const struct esc_server_reload *r, esc_error_t *err);

/* The port actually bound (useful with listen_port 0). */
int esc_server_port(const struct esc_server *s);
/* Stop accepting, wake long-polls, wait for requests in flight (up to the
 * grace period), then stop.  NULL-safe. */
void esc_server_stop(struct esc_server *s);

#endif
