/* harness.h — integration-test harness for escalated.
 *
 * One harness per test program: a fresh database on the shared test cluster
 * (ESC_PG_STATE), migrated with `$ESC_BIN migrate`, principals made with
 * `$ESC_BIN keys create`, and the real daemon (`$ESC_BIN serve`) running as a
 * child process on a free port.  HTTP goes through libcurl; responses are
 * parsed with jansson and owned by the harness (freed at h_finish, or earlier
 * with h_free), so tests need not free them.
 *
 * Functions whose names end in _ok, and h_start/h_finish, assert with cmocka:
 * call them from the test thread only.  h_req and h_sql_* never assert and are
 * safe from any thread.
 */
#ifndef ESC_TEST_HARNESS_H
#define ESC_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <sys/types.h>

typedef struct h_resp {
    long status;          /* 0 on a transport error (then body holds curl's message) */
    json_t *json;         /* parsed body, or NULL */
    char *body;           /* raw body, NUL-terminated */
    size_t body_len;
    char *headers;        /* the final response's header block */
    char *method, *path;  /* what was asked, for messages */
    double seconds;       /* how long it took */
} h_resp;

typedef struct h_principal {
    char *name;
    char *role;
    int tier;
    char *token;
    int64_t id;
} h_principal;

typedef struct h_ctx h_ctx;

/* The standard principals every harness has. */
struct h_std {
    const char *frontdesk, *manager, *admin;
    const char *agent[4];          /* [1..3] agents of line-1..3 */
    int64_t frontdesk_id, manager_id, admin_id;
    int64_t agent_id[4];
    const char *agent_name[4];
    const char *manager_name, *frontdesk_name;
};

struct h_ctx {
    struct h_std k;            /* tokens and ids of the standard principals */
    char *name;                /* program name (for the database, the log) */
    char *conninfo;            /* of the test database */
    char *admin_conninfo;      /* of the cluster's `postgres` database */
    char *dbname;
    char *pghost, *pgport, *pgdir;
    char *bin;                 /* $ESC_BIN */
    char *base_url;            /* http://127.0.0.1:PORT */
    char *log_path;            /* the daemon's stderr */
    char *data_key_file;       /* made for this run; also in ESCALATED_DATA_KEY_FILE, which
                                  the daemons started here inherit */
    int port;
    pid_t pid;                 /* of the running daemon, 0 if none */
    int verbose;
    void *priv;                /* the harness's own state */
};

/* Start everything (database, migrate, principals, daemon).  `name` is the
 * test program's name.  state_file may be NULL: then $ESC_PG_STATE is used. */
h_ctx *h_start(const char *name, const char *state_file);
/* Stop the daemon (asserting a clean exit 0), drop the database, free all. */
void h_finish(h_ctx *h);

/* For programs that stop and start PostgreSQL: a throw-away cluster of their
 * own (scripts/pg.sh start-test <cwd>/<name>.pgstate; pg.sh is $ESC_PG_SCRIPT,
 * else $ESC_TEST_DATA/../../scripts/pg.sh, else scripts/pg.sh), then h_start
 * on it.  NULL if the cluster did not start.  One per program. */
h_ctx *h_start_private(const char *name);
/* h_finish, then pg.sh stop-test and cleanup. */
void h_finish_private(h_ctx *h);
/* pg_ctl start|stop on h's cluster (as postgres when root); exit status. */
int h_pg_ctl(h_ctx *h, const char *what);

/* Create one more principal; returns its token (owned by the harness).
 * role: frontdesk|agent|manager|admin; tier 1..3 for agents, else 0. */
const char *h_key(h_ctx *h, const char *role, int tier, const char *name);
const h_principal *h_principal_by_token(h_ctx *h, const char *token);

/* The daemon. */
void h_daemon_start(h_ctx *h);                 /* asserts it answers /healthz 200 in 10 s */
int h_daemon_stop(h_ctx *h);                   /* SIGTERM; returns the exit status (-1 on signal/timeout) */
void h_daemon_stop_ok(h_ctx *h);               /* asserts exit status 0 */
void h_daemon_restart(h_ctx *h);
/* SIGKILL the daemon and reap it (no shutdown of any kind); h_daemon_start again. */
void h_daemon_kill(h_ctx *h);
pid_t h_daemon_pid(h_ctx *h);
/* Extra args appended to `serve` on the next start (NULL-terminated, copied). */
void h_daemon_args(h_ctx *h, const char *const *argv);
/* Print the tail of the daemon log to stderr. */
void h_daemon_log_tail(h_ctx *h, int lines);

/* A second (third, ...) daemon on the same database, for multi-process tests.
 * Returns its pid and sets *base_url (harness-owned); stop it with h_extra_stop. */
pid_t h_extra_start(h_ctx *h, const char **base_url);
int h_extra_stop(h_ctx *h, pid_t pid); /* SIGTERM; exit status or -1 */

/* Run a command; stdout captured into *out (malloc'd, may be NULL). Returns exit status or -1. */
int h_run(char *const argv[], char **out);

/* ---- HTTP ---------------------------------------------------------- */
/* h_req(h, method, path, token, body, ["Header: value", ...]):
 * body is raw text or NULL; when a body is given and no Content-Type header
 * is, Content-Type: application/json is sent.  A header "Name:" (nothing
 * after the colon) removes what curl would send by default. token NULL = no
 * Authorization header. */
#define h_req(h, method, path, token, ...) \
    h_req_((h), (method), (path), (token), __VA_ARGS__, (const char *)NULL)
h_resp *h_req_(h_ctx *h, const char *method, const char *path, const char *token,
               const char *body, ...);
h_resp *h_reqv(h_ctx *h, const char *method, const char *path, const char *token,
               const char *body, size_t body_len, const char *const *headers);
/* The same against another daemon (base like "http://127.0.0.1:PORT"). */
h_resp *h_reqv_at(h_ctx *h, const char *base, const char *method, const char *path,
                  const char *token, const char *body, size_t body_len,
                  const char *const *headers);
/* Same, with a JSON body; steals the reference to `body` (may be NULL). */
#define h_reqj(h, method, path, token, ...) \
    h_reqj_((h), (method), (path), (token), __VA_ARGS__, (const char *)NULL)
h_resp *h_reqj_(h_ctx *h, const char *method, const char *path, const char *token,
                json_t *body, ...);
/* printf into a harness-owned buffer (for paths). */
const char *h_fmt(h_ctx *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* URL-encode a query value (harness-owned). */
const char *h_urlenc(h_ctx *h, const char *s);

/* A response header's value (case-insensitive name), harness-owned, or NULL. */
const char *h_header(const h_resp *r, const char *name);
void h_free(h_ctx *h, h_resp *r); /* optional: free early */

/* Assertions with the caller's file/line, printing the request and body on failure. */
#define h_expect_status(r, st) h_expect_status_((r), (st), __FILE__, __LINE__)
#define h_expect_error(r, st, code) h_expect_error_((r), (st), (code), NULL, __FILE__, __LINE__)
#define h_expect_error_field(r, st, code, field) \
    h_expect_error_((r), (st), (code), (field), __FILE__, __LINE__)
void h_expect_status_(const h_resp *r, long status, const char *file, int line);
/* Non-fatal: 1 when r is that error; else prints why (with `label`) and returns 0. */
int h_check_error(const h_resp *r, long status, const char *code, const char *field,
                  const char *label);
void h_expect_error_(const h_resp *r, long status, const char *code, const char *field,
                     const char *file, int line);

/* ---- JSON ---------------------------------------------------------- */
/* Dotted paths with array indexes: "assignee.name", "items.0.id". */
json_t *h_get(json_t *o, const char *path);
const char *h_str(json_t *o, const char *path);   /* NULL unless a string */
json_int_t h_int(json_t *o, const char *path);    /* -1 unless an integer */
int h_isnull(json_t *o, const char *path);        /* present and null */
int h_has(json_t *o, const char *path);           /* present (null counts) */
json_t *h_json(const char *text);                 /* parse or fail the test; caller owns */
size_t h_utf8_len(const char *s);                 /* characters */
/* Seconds between two RFC 3339 timestamps (b - a); NAN if unparsable. */
double h_ts_diff(const char *a, const char *b);
double h_ts_epoch(const char *ts);

/* Field assertions on a JSON object (print the object on failure).
 * h_assert_str with want NULL asserts the field is JSON null. */
#define h_assert_str(o, path, want) h_assert_str_((o), (path), (want), __FILE__, __LINE__)
#define h_assert_int(o, path, want) h_assert_int_((o), (path), (want), __FILE__, __LINE__)
#define h_assert_null(o, path) h_assert_null_((o), (path), 1, __FILE__, __LINE__)
#define h_assert_set(o, path) h_assert_null_((o), (path), 0, __FILE__, __LINE__)
#define h_assert_ts(o, path) h_assert_ts_((o), (path), __FILE__, __LINE__)
void h_assert_str_(json_t *o, const char *path, const char *want, const char *file, int line);
void h_assert_int_(json_t *o, const char *path, json_int_t want, const char *file, int line);
void h_assert_null_(json_t *o, const char *path, int want_null, const char *file, int line);
/* an RFC 3339 UTC timestamp with milliseconds: 2026-11-23T09:15:00.123Z */
void h_assert_ts_(json_t *o, const char *path, const char *file, int line);

/* ---- conveniences -------------------------------------------------- */
/* POST /v1/tickets; body NULL = a fresh subject. Asserts 201; returns the ticket. */
#define h_create_ticket(h, token, body) h_create_ticket_((h), (token), (body), __FILE__, __LINE__)
#define h_create_ticket_subject(h, subject, severity) \
    h_create_ticket_subject_((h), (subject), (severity), __FILE__, __LINE__)
json_t *h_create_ticket_(h_ctx *h, const char *token, json_t *body, const char *file, int line);
json_t *h_create_ticket_subject_(h_ctx *h, const char *subject, const char *severity,
                                 const char *file, int line);
/* POST /v1/tickets/{id}/{action}; body may be NULL (sends "{}"). Steals body. */
h_resp *h_action(h_ctx *h, const char *token, json_int_t id, const char *action, json_t *body);
h_resp *h_action_if(h_ctx *h, const char *token, json_int_t id, const char *action,
                    json_t *body, const char *if_match);
/* Same, asserting 200; returns the ticket. */
#define h_action_ok(h, token, id, action, body) \
    h_action_ok_((h), (token), (id), (action), (body), __FILE__, __LINE__)
json_t *h_action_ok_(h_ctx *h, const char *token, json_int_t id, const char *action,
                     json_t *body, const char *file, int line);
#define h_get_ticket(h, token, id) h_get_ticket_((h), (token), (id), __FILE__, __LINE__)
#define h_events(h, id) h_events_((h), (id), __FILE__, __LINE__)
json_t *h_get_ticket_(h_ctx *h, const char *token, json_int_t id, const char *file, int line);
json_t *h_events_(h_ctx *h, json_int_t id, const char *file, int line); /* the items array */
json_t *h_reason(const char *reason);                             /* {"reason": ...} */

/* ---- SQL on the test database ------------------------------------- */
/* Run a statement; 0 ok, -1 failed (error message in *err, harness-owned). */
int h_sql_exec(h_ctx *h, const char *sql, const char **err);
/* First column of the first row (harness-owned), NULL if no row or error. */
const char *h_sql_value(h_ctx *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hold rows locked as another transaction would (an engine's pass, say): a
 * connection of its own, BEGIN, then `fmt` (a SELECT ... FOR UPDATE), which
 * must lock `rows` rows.  h_hold_end commits and closes it. */
struct pg_conn *h_hold_rows(h_ctx *h, long rows, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void h_hold_end(struct pg_conn *c);
/* Wait for the cluster to answer (after restarting it). */
int h_sql_wait(h_ctx *h, double seconds);
/* h_sql_value as a number (query at most 2047 characters); fails the test
 * (fail_msg, test thread only) when there is no value. */
long long h_sql_ll(h_ctx *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double h_sql_d(h_ctx *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- more conveniences --------------------------------------------- */
/* POST /v1/tickets as frontdesk with a subject (NULL: a unique one) and,
 * when not NULL, a severity and a category.  Asserts 201; returns the id. */
#define h_new_ticket(h, subject, severity, category) \
    h_new_ticket_((h), (subject), (severity), (category), __FILE__, __LINE__)
json_int_t h_new_ticket_(h_ctx *h, const char *subject, const char *severity,
                         const char *category, const char *file, int line);
json_t *h_resolve_body(const char *root_cause);        /* {"resolution", "root_cause"} */
json_t *h_close_body(const char *result, int score);   /* {"satisfaction"}; score 0 = none */
/* How many events of `type` the ticket's history has; *last (when not NULL)
 * gets the last of them (harness-owned), untouched when there is none. */
size_t h_count_events(h_ctx *h, json_int_t id, const char *type, json_t **last);
/* GET /v1/breaches?ticket=ID as manager (asserts 200): the items array. */
json_t *h_breaches_of(h_ctx *h, json_int_t id);
/* h_reqj against another daemon (h_extra_start's base URL). */
h_resp *h_reqj_at(h_ctx *h, const char *base, const char *method, const char *path,
                  const char *token, json_t *body);
/* `unit` n times, harness-owned. */
const char *h_repeat(h_ctx *h, const char *unit, size_t n);

/* One bad request and the error field it must name (NULL: not checked): for
 * GET and DELETE `text` is the query string, otherwise the body. */
struct h_bad {
    const char *text, *field;
};
/* Send every case to `path` (a '?' and the query are appended for GET and
 * DELETE) and check the answer is `status` with `code` and the field, as
 * h_check_error does (printing each mismatch).  Returns how many were not. */
int h_check_bad(h_ctx *h, const char *method, const char *path, const char *token, long status,
                const char *code, const struct h_bad *cases, size_t n);

/* ---- settings: policies and the business calendar -------------------- */
/* PUT /v1/policies/{severity} as manager with a JSON text; asserts 200 and
 * returns the policy. */
json_t *h_put_policy(h_ctx *h, const char *severity, const char *json);
/* Put the policies and the calendar back as h_start found them (the
 * migration's defaults), for a per-test setup: a test that changes them
 * then fails leaves nothing behind for the next. */
void h_restore_settings(h_ctx *h);

/* ---- waiting ------------------------------------------------------- */
/* Poll a count query (printf-style, at most 2047 characters) every 50 ms
 * until it equals `want` or `seconds` pass; returns the last value.  Fails
 * the test (test thread only) when the query gives no value. */
long long h_wait_sql_count(h_ctx *h, long long want, double seconds, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Wait until ticket `id` has a breach of each kind in `kinds` ("ack",
 * "ack,resolve"); fails the test after `seconds`. */
void h_wait_breaches(h_ctx *h, json_int_t id, const char *kinds, double seconds);

/* ---- threads ------------------------------------------------------- */
/* Start n threads, fn(&args[i]) each (args: n elements of `size` bytes),
 * released together by a barrier so that their requests race, and join
 * them.  fn must not assert (cmocka asserts from the test thread only). */
void h_race(int n, void *(*fn)(void *), void *args, size_t size);

/* ---- running the tests --------------------------------------------- */
/* cmocka_run_group_tests, limited to the tests whose names match
 * $ESC_TEST_FILTER (cmocka's pattern: * and ? wildcards) when it is set, so
 * that one test runs alone:
 *   ESC_TEST_FILTER='claim_wait_*' ctest -R test_api_claim */
#define h_run_group_tests(tests, setup, teardown) \
    (h_apply_test_filter(), cmocka_run_group_tests((tests), (setup), (teardown)))
void h_apply_test_filter(void);

/* ---- misc ---------------------------------------------------------- */
double h_now(void);           /* monotonic seconds */
void h_sleep(double seconds);
double h_wall(void);          /* wall-clock (CLOCK_REALTIME) seconds, as the database sees time */
void h_sleep_until_wall(double t); /* sleep until h_wall() reaches t */
/* A unique-ish string with a prefix, harness-owned. */
const char *h_unique(h_ctx *h, const char *prefix);
/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int h_free_port(void);
/* Set TZ to `zone` for the C library's localtime/mktime; returns the old
 * value for h_tz_pop (which restores it and frees it). */
char *h_tz_push(const char *zone);
void h_tz_pop(char *saved);
/* "YYYY-MM-DD" of an instant in an IANA zone, by the C library. */
void h_local_day(double epoch, const char *zone, char out[16]);

/* ---- raw connections (for clients that misbehave) ------------------ */
/* A TCP connection to the daemon (h->port on 127.0.0.1) from the source
 * address `src` (any 127.x.y.z: loopback has them all; NULL = the kernel's
 * choice).  The descriptor, or -1. */
int h_raw_connect(h_ctx *h, const char *src);
/* Send all of buf (no SIGPIPE); 0, or -1 when the peer is gone. */
int h_raw_send(int fd, const void *buf, size_t len);
/* Read into buf (NUL-terminated) until the peer closes, cap - 1 bytes have
 * arrived, or `seconds` pass.  The bytes read; *closed is 1 when the peer
 * closed (end of file or a reset). */
ssize_t h_raw_read(int fd, char *buf, size_t cap, double seconds, int *closed);
/* Raise this process's soft RLIMIT_NOFILE to at least n (as far as the hard
 * limit allows); the soft limit now, or -1. */
long h_nofile_at_least(long n);

/* Where a value is stored in clear: h_probe_install creates the SQL function
 * probe_clear(needle), which searches every text, json and array column of
 * every table; h_probe_clear answers the columns that hold the needle ("" when
 * none).  The needle must not contain a quote. */
void h_probe_install(h_ctx *h);
const char *h_probe_clear(h_ctx *h, const char *needle);

/* ---- the usual file -------------------------------------------------- */
/* A file whose tests share one daemon: h_start(name) as the cmocka group
 * setup (with h_probe_install after it when flags has H_WITH_PROBE), h_finish
 * as the group teardown, *hp the context while the tests run.  One copy of
 * the setup/teardown pair most files wrote out; a file whose setup does more
 * (receivers, settings, a second daemon) keeps its own. */
enum { H_WITH_PROBE = 1 };
#define h_run_tests_with_daemon(hp, name, flags, tests) \
    h_run_tests_with_daemon_((hp), (name), (flags), #tests, (tests), sizeof(tests) / sizeof((tests)[0]))
int h_run_tests_with_daemon_(h_ctx **hp, const char *name, unsigned flags, const char *group,
                             const struct CMUnitTest *tests, size_t count);

/* The directory part of a path ("." when it has none), malloc'd. */
char *h_dirname(const char *path);
/* The build directory (where ESC_BIN is) and the source tree (two levels up
 * from ESC_TEST_DATA, <src>/tests/data), malloc'd: for the tests that run the
 * build's tools or read the tree (the console, the dashboard). */
char *h_build_dir(void);
char *h_source_dir(void);

/* A self-signed certificate for 127.0.0.1 (openssl req, two days) written to
 * crt and its key to key (mode 0600); fails the test when openssl cannot. */
void h_make_cert(const char *crt, const char *key);

#endif
