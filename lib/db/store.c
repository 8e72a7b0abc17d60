/* store.c — the connection pool (which prepares every store file's
 * statements on each connection), running statements and reading their
 * columns by name, error mapping, migrations and readiness.  With
 * store_*.c, the only code that holds SQL text or includes libpq. */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "db/store.h"
#include "db/store_internal.h"

/* Every store file's table of statements: X(f) is escp_stmts_<f>, defined
 * in the file whose functions run them (store_<f>.c; "pool" is this file's).
 * A new store file adds one entry here. */
#define STMT_TABLES(X) X(pool) X(tickets) X(sla) X(reports) X(events) X(metrics) X(webhooks) X(dashboard) X(principals) X(retention) \
    X(taxonomy) X(problems) X(alerts)
#define DECLARE_TABLE(f) extern const struct escp_stmt_table escp_stmts_##f;
STMT_TABLES(DECLARE_TABLE)
#define LIST_TABLE(f) &escp_stmts_##f,
static const struct escp_stmt_table *const tables[] = {STMT_TABLES(LIST_TABLE)};
#define NTABLES ((int)(sizeof tables / sizeof tables[0]))

enum { S_VOCABULARY, S__COUNT };
static const struct escp_stmt stmts[S__COUNT] = {
    /* The names the CHECK constraints of tickets.state, timers.kind and
     * breaches.kind allow, against the model's lists ($1 the states, $2 the
     * timer kinds, $3 the breach kinds; core/model.h): one row per column
     * whose names differ, with the model's names the database lacks
     * (`missing`) and the database's names the model lacks (`extra`).  The
     * SQL names single members of these lists where a parameter cannot stand
     * (the claim queue's partial index is on state = 'awaiting_ack'), and the
     * database checks what it stores against these constraints, so keeping
     * them in step with the model keeps those literals in step too. */
    [S_VOCABULARY] = {"vocabulary",
        "SELECT x.tbl || '.' || x.col AS col, "
        " array_to_string(ARRAY(SELECT unnest(x.want) EXCEPT SELECT unnest(d.have)), ',') AS missing, "
        " array_to_string(ARRAY(SELECT unnest(d.have) EXCEPT SELECT unnest(x.want)), ',') AS extra "
        "FROM (VALUES ('tickets', 'state', $1::text[]), ('timers', 'kind', $2::text[]), "
        "  ('breaches', 'kind', $3::text[])) AS x(tbl, col, want) "
        "LEFT JOIN LATERAL (SELECT array_agg(DISTINCT m[1]) AS have FROM pg_constraint k "
        " JOIN pg_attribute a ON a.attrelid = k.conrelid AND k.conkey = ARRAY[a.attnum] "
        " CROSS JOIN LATERAL regexp_matches(pg_get_constraintdef(k.oid), '''([^'']*)''', 'g') AS m "
        " WHERE k.conrelid = x.tbl::regclass AND k.contype = 'c' AND a.attname = x.col) d ON true "
        "WHERE d.have IS NULL OR NOT (d.have @> x.want AND x.want @> d.have)"},
};
const struct escp_stmt_table escp_stmts_pool = {stmts, S__COUNT};

struct esc_store {
    char *conninfo;
    int size;
    struct escp_conn *conns;
    int leased;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double last_failure; /* escp_mono_now() of the last failed connect, 0 = none: throttles reconnects */
    int statement_timeout_ms; /* of connections made from now on; 0 = the server's */
};

void esc_store_set_statement_timeout(struct esc_store *s, int ms)
{
    pthread_mutex_lock(&s->mu);
    s->statement_timeout_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&s->mu);
}

static void notice_quiet(void *arg, const PGresult *res) { (void)arg; (void)res; }

/* statement_timeout of the SLA engine's and the webhook worker's own
 * connections: their statements work in batches of at most a few thousand
 * rows and take well under a second; the bound only ends one stuck on a lock. */
#define WORKER_STATEMENT_TIMEOUT_MS 60000

/* statement_timeout_ms: 0 leaves the server's setting (migrations, keys). */
static PGconn *connect_db(const char *conninfo, int statement_timeout_ms, esc_error_t *err)
{
    /* The session speaks UTC in ISO format: timestamps parse the same everywhere.
     * The statement timeout rides in the startup packet: no extra round trip. */
    char options[160] = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601";
    if (statement_timeout_ms > 0)
        snprintf(options + strlen(options), sizeof options - strlen(options),
                 " -c statement_timeout=%d", statement_timeout_ms);
    const char *keys[] = {"dbname", "options", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo && *conninfo ? conninfo : NULL, options, "escalated", "5", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        char msg[256];
        esc_log_escape(pg ? PQerrorMessage(pg) : "out of memory", msg, sizeof msg);
        log_warn("database connection failed: %s", msg);
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg, notice_quiet, NULL);
    return pg;
}

static int prepare(PGconn *pg, const struct escp_stmt *st, esc_error_t *err)
{
    PGresult *res = PQprepare(pg, st->name, st->sql, 0, NULL);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        escp_map_error(pg, res, st->name, err);
    PQclear(res);
    return rc;
}

static PGresult *exec_prepared(PGconn *pg, const struct escp_stmt *st, int nparams,
                               const char *const *values, esc_error_t *err)
{
    PGresult *res = PQexecPrepared(pg, st->name, nparams, values, NULL, NULL, 0);
    ExecStatusType rs = PQresultStatus(res);
    if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)
        return res;
    escp_map_error(pg, res, st->name, err);
    PQclear(res);
    return NULL;
}

/* The database allows every state, timer kind and breach kind of the model
 * (S_VOCABULARY); ESC_ERR_UNAVAILABLE when it lacks one: this build would
 * store what the schema rejects.  Names the database allows beyond the
 * model's are a newer schema (a migration applied before every daemon was
 * upgraded): a warning, once, since this build cannot count or show them. */
static int check_vocabulary(PGconn *pg, esc_error_t *err)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    char states[ESCP_NAMES_LEN], timers[ESCP_NAMES_LEN], breaches[ESCP_NAMES_LEN];
    const char *v[3] = {escp_pg_names(states, sizeof states, esc_state_names, ESC_STATE__COUNT, err),
                        escp_pg_names(timers, sizeof timers, esc_timer_names, ESCP_TIMER__COUNT, err),
                        escp_pg_names(breaches, sizeof breaches, esc_breach_names, ESC_BREACH__COUNT, err)};
    if (!v[0] || !v[1] || !v[2])
        return -1;
    PGresult *res = exec_prepared(pg, &stmts[S_VOCABULARY], 3, v, err);
    int rc = -1, col, missing, extra, lacking = 0;
    if (!res || escp_columns(res, stmts[S_VOCABULARY].name, err, "col", &col, "missing", &missing,
                             "extra", &extra, NULL) != 0)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *lacks = PQgetvalue(res, i, missing), *more = PQgetvalue(res, i, extra);
        if (*lacks) {
            lacking = 1;
            log_error("the database's %s does not allow {%s} of this build (core/model.h)",
                      PQgetvalue(res, i, col), lacks);
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL,
                          "the database schema does not match this build");
        } else if (*more && !atomic_flag_test_and_set(&warned)) {
            log_warn("the database's %s also allows {%s}, which this build does not know "
                     "(core/model.h): a newer schema?", PQgetvalue(res, i, col), more);
        }
    }
    if (lacking)
        goto out;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* A new session of the pool's (or escp_conn_open's): every registered
 * statement prepared, and the vocabulary checked. */
static int setup_session(PGconn *pg, esc_error_t *err)
{
    for (int t = 0; t < NTABLES; t++)
        for (int i = 0; i < tables[t]->n; i++)
            if (prepare(pg, &tables[t]->stmts[i], err) != 0)
                return -1;
    return check_vocabulary(pg, err);
}

/* Every registered statement has a name and a text, and no two share a
 * name (a repeated one would fail every connection's prepare). */
static int check_tables(esc_error_t *err)
{
    for (int t = 0; t < NTABLES; t++) {
        for (int i = 0; i < tables[t]->n; i++) {
            const struct escp_stmt *a = &tables[t]->stmts[i];
            if (!a->name || !a->sql) {
                log_error("statement %d of table %d has no name or no text", i, t);
                esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
                return -1;
            }
            for (int u = 0; u <= t; u++)
                for (int j = 0; j < (u == t ? i : tables[u]->n); j++)
                    if (tables[u]->stmts[j].name && strcmp(tables[u]->stmts[j].name, a->name) == 0) {
                        log_error("two statements are named %s", a->name);
                        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
                        return -1;
                    }
        }
    }
    return 0;
}

struct esc_store *esc_store_new(const char *conninfo, int size, esc_error_t *err)
{
    if (size < 1 || size > 256) {
        esc_error_set(err, ESC_ERR_VALIDATION, "pool_size", "the pool size must be 1..256");
        return NULL;
    }
    if (check_tables(err) != 0)
        return NULL;
    struct esc_store *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->conninfo = strdup(conninfo ? conninfo : "");
    s->conns = calloc((size_t)size, sizeof *s->conns);
    if (!s->conninfo || !s->conns)
        goto oom;
    s->size = size;
    for (int i = 0; i < size; i++)
        s->conns[i].index = i;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
oom:
    if (s) {
        free(s->conninfo);
        free(s->conns);
        free(s);
    }
    esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    return NULL;
}

void esc_store_free(struct esc_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->size; i++)
        PQfinish(s->conns[i].pg);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->conns);
    free(s->conninfo);
    free(s);
}

struct escp_conn *escp_conn_open(const char *conninfo, esc_error_t *err)
{
    struct escp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->index = -1;
    c->pg = connect_db(conninfo, WORKER_STATEMENT_TIMEOUT_MS, err);
    if (!c->pg || setup_session(c->pg, err) != 0) {
        escp_conn_close(c);
        return NULL;
    }
    return c;
}

struct escp_conn *escp_conn_open_stmts(const char *conninfo, const struct escp_stmt *const *which,
                                       int n, esc_error_t *err)
{
    struct escp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->index = -1;
    c->pg = connect_db(conninfo, WORKER_STATEMENT_TIMEOUT_MS, err);
    if (!c->pg)
        goto fail;
    for (int i = 0; i < n; i++)
        if (prepare(c->pg, which[i], err) != 0)
            goto fail;
    return c;
fail:
    escp_conn_close(c);
    return NULL;
}

int escp_conn_prepare(struct escp_conn *c, const struct escp_stmt *st, esc_error_t *err)
{
    return prepare(c->pg, st, err);
}

void escp_conn_close(struct escp_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

int escp_conn_ok(struct escp_conn *c) { return c && c->pg && PQstatus(c->pg) == CONNECTION_OK; }

/* Whether an idle session (no statement in flight) is still alive.  An idle
 * session has nothing to read; input means the server closed it (a crash, a
 * failover, a terminated backend), usually after a parting notice.  libpq
 * notices the end only when a read returns it, and one PQconsumeInput reads
 * the notice and stops; so read while there is input (a few times at most):
 * a closed session turns CONNECTION_BAD here, and the lease connects again
 * instead of handing out a session whose first statement fails.  In the
 * common case this costs one poll() with no timeout. */
static int idle_session_alive(PGconn *pg)
{
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    for (int i = 0; i < 4 && PQstatus(pg) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) > 0; i++)
        if (!PQconsumeInput(pg)) /* notices are dropped (notice_quiet); the end sets CONNECTION_BAD */
            break;
    return PQstatus(pg) == CONNECTION_OK && p.fd >= 0;
}

struct escp_conn *escp_lease(struct esc_store *s, esc_error_t *err)
{
    return escp_lease_wait(s, 10000, err);
}

struct escp_conn *escp_lease_wait(struct esc_store *s, int wait_ms, esc_error_t *err)
{
    struct escp_conn *c = NULL;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long long ns = deadline.tv_nsec + (long long)(wait_ms > 0 ? wait_ms : 0) * 1000000LL;
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);

    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* prefer a slot that is already connected */
        for (int i = 0; i < s->size && !c; i++)
            if (!s->conns[i].in_use && s->conns[i].pg && PQstatus(s->conns[i].pg) == CONNECTION_OK)
                c = &s->conns[i];
        for (int i = 0; i < s->size && !c; i++)
            if (!s->conns[i].in_use)
                c = &s->conns[i];
        if (c)
            break;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0) {
            pthread_mutex_unlock(&s->mu);
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the server is busy; try again");
            return NULL;
        }
    }
    c->in_use = 1;
    s->leased++;
    double last_failure = s->last_failure;
    int statement_timeout_ms = s->statement_timeout_ms;
    pthread_mutex_unlock(&s->mu);

    int needs_connect = !c->pg || !idle_session_alive(c->pg);
    int throttled = needs_connect && last_failure > 0 && escp_mono_now() - last_failure < 0.2;

    if (throttled) {
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        escp_release(s, c);
        return NULL;
    }
    if (needs_connect) {
        PQfinish(c->pg);
        c->pg = connect_db(s->conninfo, statement_timeout_ms, err);
        if (c->pg && setup_session(c->pg, err) != 0) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        if (!c->pg) {
            pthread_mutex_lock(&s->mu);
            s->last_failure = escp_mono_now();
            pthread_mutex_unlock(&s->mu);
            escp_release(s, c);
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        s->last_failure = 0;
        pthread_mutex_unlock(&s->mu);
    }
    return c;
}

void escp_release(struct esc_store *s, struct escp_conn *c)
{
    if (!c)
        return;
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        escp_rollback(c);
    pthread_mutex_lock(&s->mu);
    c->in_use = 0;
    s->leased--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void escp_pool_usage(struct esc_store *s, int *leased, int *size)
{
    pthread_mutex_lock(&s->mu);
    *leased = s->leased;
    *size = s->size;
    pthread_mutex_unlock(&s->mu);
}

static int simple(struct escp_conn *c, const char *sql, esc_error_t *err)
{
    PGresult *res = PQexec(c->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        escp_map_error(c->pg, res, sql, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int escp_begin(struct escp_conn *c, esc_error_t *err) { return simple(c, "BEGIN", err); }
int escp_commit(struct escp_conn *c, esc_error_t *err) { return simple(c, "COMMIT", err); }
void escp_rollback(struct escp_conn *c)
{
    PGresult *res = PQexec(c->pg, "ROLLBACK");
    PQclear(res);
}

void escp_map_error(PGconn *pg, const PGresult *res, const char *what, esc_error_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char msg[512];
    esc_log_escape(res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                        : PQerrorMessage(pg),
                   msg, sizeof msg);

    if (PQstatus(pg) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0) {
        log_warn("database unavailable during %s: %s", what, msg);
        /* After a crash of the server (immediate shutdown, failover) libpq
         * can fail a statement for the lost session and still report
         * CONNECTION_OK: it read the server's parting notice, not yet the
         * end.  Reading once more makes it CONNECTION_BAD, so the pool and
         * the workers (escp_conn_ok) connect again at once rather than
         * failing one more statement on it. */
        if (PQstatus(pg) == CONNECTION_OK && !state)
            PQconsumeInput(pg);
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        return;
    }
    if (strcmp(state, "23505") == 0) {
        if (constraint && strstr(constraint, "external_ref")) {
            esc_error_set(err, ESC_ERR_CONFLICT, "external_ref",
                          "a ticket with this external_ref already exists");
            return;
        }
        log_warn("unique violation in %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_CONFLICT, NULL, "the request conflicts with existing data");
        return;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        log_warn("transaction conflict in %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "a concurrent change interfered; try again");
        return;
    }
    if (strncmp(state, "22", 2) == 0) {
        log_warn("data exception in %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_VALIDATION, NULL, "a value is out of range");
        return;
    }
    log_error("database error in %s: %s", what, msg);
    esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
}

PGresult *escp_exec(struct escp_conn *c, const struct escp_stmt *s, int nparams,
                    const char *const *values, esc_error_t *err)
{
    return exec_prepared(c->pg, s, nparams, values, err);
}

int escp_columns(const PGresult *res, const char *what, esc_error_t *err, ...)
{
    int rc = 0;
    va_list ap;
    va_start(ap, err);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        int *col = va_arg(ap, int *);
        *col = PQfnumber(res, name);
        if (*col < 0 && rc == 0) {
            log_error("statement %s answers no column %s", what, name);
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
            rc = -1;
        }
    }
    va_end(ap);
    return rc;
}

const char *escp_val(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

json_t *escp_json_int(const char *text)
{
    return text ? json_integer((json_int_t)strtoll(text, NULL, 10)) : json_null();
}

const char *escp_pg_names(char *buf, size_t len, const char *const *names, int n, esc_error_t *err)
{
    size_t used = 0;
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%c%s", i ? ',' : '{', names[i]);
    if (used < len)
        used += (size_t)snprintf(buf + used, len - used, n ? "}" : "{}");
    if (used >= len) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        return NULL;
    }
    return buf;
}

/* ---- migrations ---- */

static PGresult *exec_params(PGconn *pg, const char *sql, int n, const char *const *v)
{
    return PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
}

static int ok_result(PGconn *pg, PGresult *res, const char *what, esc_error_t *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    escp_map_error(pg, res, what, err);
    return -1;
}

int esc_store_migrate(const char *conninfo, int *applied, esc_error_t *err)
{
    int rc = -1, count = 0;
    PGresult *res = NULL;
    PGconn *pg = connect_db(conninfo, 0, err);
    if (!pg)
        return -1;

    /* One migrator at a time, across processes: a session-level advisory lock. */
    res = PQexec(pg, "SELECT pg_advisory_lock(7302355519420615681)");
    if (ok_result(pg, res, "migration lock", err))
        goto out;
    PQclear(res);
    res = PQexec(pg, "CREATE TABLE IF NOT EXISTS escalated_migrations ("
                     " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    if (ok_result(pg, res, "migration table", err))
        goto out;

    for (const struct escp_migration *m = escp_migrations; m->name; m++) {
        PQclear(res);
        const char *v[1] = {m->name};
        res = exec_params(pg, "SELECT 1 FROM escalated_migrations WHERE name = $1", 1, v);
        if (ok_result(pg, res, "migration check", err))
            goto out;
        if (PQntuples(res) > 0)
            continue;
        PQclear(res);
        res = PQexec(pg, "BEGIN");
        if (ok_result(pg, res, "migration begin", err))
            goto out;
        PQclear(res);
        res = PQexec(pg, m->sql);
        if (ok_result(pg, res, m->name, err)) {
            char msg[256];
            esc_log_escape(PQresultErrorMessage(res), msg, sizeof msg);
            log_error("migration %s failed: %s", m->name, msg);
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
        PQclear(res);
        res = exec_params(pg, "INSERT INTO escalated_migrations (name) VALUES ($1)", 1, v);
        if (ok_result(pg, res, "migration record", err)) {
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
        PQclear(res);
        res = PQexec(pg, "COMMIT");
        if (ok_result(pg, res, "migration commit", err))
            goto out;
        log_info("applied migration %s", m->name);
        count++;
    }
    rc = 0;
out:
    PQclear(res);
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(7302355519420615681)"));
    PQfinish(pg);
    if (applied)
        *applied = count;
    return rc;
}

int esc_store_ready(struct esc_store *s, esc_error_t *err)
{
    int rc = -1;
    struct escp_conn *c = escp_lease(s, err);
    if (!c)
        return -1;
    PGresult *res = PQexec(c->pg, "SELECT name FROM escalated_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        escp_map_error(c->pg, res, "readiness", err);
        if (err && err->code != ESC_ERR_UNAVAILABLE) {
            esc_error_clear(err);
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the schema is not migrated");
        }
        goto out;
    }
    int name_col;
    if (escp_columns(res, "readiness", err, "name", &name_col, NULL) != 0)
        goto out;
    for (const struct escp_migration *m = escp_migrations; m->name; m++) {
        int found = 0;
        for (int i = 0; i < PQntuples(res) && !found; i++)
            found = strcmp(PQgetvalue(res, i, name_col), m->name) == 0;
        if (!found) {
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "migration %s is not applied", m->name);
            goto out;
        }
    }
    rc = 0;
out:
    PQclear(res);
    escp_release(s, c);
    return rc;
}
