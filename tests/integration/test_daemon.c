/* test_daemon.c — the process: health and readiness, the CLI, migrate run
 * twice and concurrently, SIGTERM with a request in flight, the database
 * going away and coming back (503 unavailable with Retry-After, recovery
 * without a restart), and the append-only history.
 *
 * This program stops and starts PostgreSQL, so it runs on a private cluster
 * of its own (scripts/pg.sh start-test with its own state file), never on the
 * cluster the other integration tests share. */
#include "harness.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static h_ctx *H;
static int setup(void **state)
{
    (void)state;
    H = h_start_private("test_daemon");
    return H ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_finish_private(H);
    return 0;
}

/* pg_ctl on our private cluster, as the postgres user when we are root. */
#define pg_ctl(what) h_pg_ctl(H, (what))

static void healthz_and_readyz_answer_200_without_a_token(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/healthz", NULL, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "GET", "/readyz", NULL, NULL);
    h_expect_status(r, 200);
    /* a token is not needed, and a bad one does not hurt */
    r = h_req(H, "GET", "/healthz", "esc_bogus", NULL);
    h_expect_status(r, 200);
}

static void the_cli_has_help_and_version_and_keys_create_checks_its_flags_and_stores_a_hash(void **state)
{
    (void)state;
    char *out = NULL;
    char *help[] = {H->bin, "--help", NULL};
    assert_int_equal(h_run(help, &out), 0);
    assert_non_null(strstr(out, "serve"));
    assert_non_null(strstr(out, "migrate"));
    assert_non_null(strstr(out, "keys"));
    free(out);
    char *ver[] = {H->bin, "--version", NULL};
    assert_int_equal(h_run(ver, &out), 0);
    assert_true(strlen(out) > 0);
    assert_non_null(strpbrk(out, "0123456789"));
    free(out);
    char *badrole[] = {H->bin, "keys", "create", "--name", "x", "--role", "wizard", "--db", H->conninfo, NULL};
    assert_true(h_run(badrole, &out) != 0);
    free(out);
    char *notier[] = {H->bin, "keys", "create", "--name", "x", "--role", "agent", "--db", H->conninfo, NULL};
    assert_true(h_run(notier, &out) != 0);
    free(out);
    char *badtier[] = {H->bin, "keys", "create", "--name", "x", "--role", "agent", "--tier", "4",
                       "--db", H->conninfo, NULL};
    assert_true(h_run(badtier, &out) != 0);
    free(out);
    char *bogus[] = {H->bin, "frobnicate", NULL};
    assert_true(h_run(bogus, &out) != 0);
    free(out);
    /* `--tier line-2` is accepted too (decisions.md) and the key works */
    char *lt[] = {H->bin, "keys", "create", "--name", "tier by name", "--role", "agent", "--tier", "line-2",
                  "--db", H->conninfo, NULL};
    assert_int_equal(h_run(lt, &out), 0);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = 0;
    assert_true(strncmp(out, "esc_", 4) == 0);
    assert_int_equal(strlen(out), 4 + 43);
    h_resp *r = h_req(H, "POST", "/v1/queues/line-2/claim", out, NULL);
    assert_true(r->status == 200 || r->status == 204);
    /* only the hash is stored */
    const char *plain = h_sql_value(H, "SELECT count(*) FROM principals WHERE token_hash = '%s'", out);
    assert_non_null(plain);
    assert_string_equal(plain, "0");
    const char *hashed = h_sql_value(H, "SELECT count(*) FROM principals WHERE token_hash = "
                                        "encode(sha256(convert_to('%s', 'UTF8')), 'hex')", out);
    assert_non_null(hashed);
    assert_string_equal(hashed, "1");
    free(out);
}

static void *run_migrate(void *arg)
{
    char *conninfo = arg;
    char *argv[] = {H->bin, "migrate", "--db", conninfo, NULL};
    char *out = NULL;
    intptr_t rc = h_run(argv, &out);
    free(out);
    return (void *)rc;
}

static void migrate_run_twice_or_by_four_processes_at_once_succeeds(void **state)
{
    (void)state;
    /* on the harness database: already migrated, again is a no-op */
    char *argv[] = {H->bin, "migrate", "--db", H->conninfo, NULL};
    assert_int_equal(h_run(argv, NULL), 0);
    /* a fresh database migrated by 4 processes at once */
    const char *db = h_fmt(H, "esc_migrate_%d", (int)getpid());
    char *admin = NULL, *conn = NULL;
    assert_true(asprintf(&admin, "host=%s port=%s user=postgres dbname=postgres", H->pghost, H->pgport) > 0);
    assert_true(asprintf(&conn, "host=%s port=%s user=postgres dbname=%s", H->pghost, H->pgport, db) > 0);
    PGconn *c = PQconnectdb(admin);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, h_fmt(H, "DROP DATABASE IF EXISTS %s", db)));
    PGresult *res = PQexec(c, h_fmt(H, "CREATE DATABASE %s", db));
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, run_migrate, conn);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        assert_int_equal((intptr_t)rc, 0);
    }
    PGconn *d = PQconnectdb(conn);
    res = PQexec(d, "SELECT (SELECT count(*) FROM policies), (SELECT count(*) FROM calendar)");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "2");
    assert_string_equal(PQgetvalue(res, 0, 1), "1");
    PQclear(res);
    PQfinish(d);
    assert_int_equal((intptr_t)run_migrate(conn), 0);
    PQclear(PQexec(c, h_fmt(H, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db)));
    PQfinish(c);
    free(admin);
    free(conn);
}

struct inflight {
    long status;
    double seconds;
};

static void *long_claim(void *arg)
{
    struct inflight *f = arg;
    h_resp *r = h_req(H, "POST", "/v1/queues/line-3/claim?wait=3", H->k.agent[3], NULL);
    f->status = r->status;
    f->seconds = r->seconds;
    return NULL;
}

static void sigterm_answers_the_request_in_flight_and_exits_0(void **state)
{
    (void)state;
    /* an empty line-3 queue: the claim waits */
    for (;;) {
        h_resp *r = h_req(H, "POST", "/v1/queues/line-3/claim", H->k.agent[3], NULL);
        if (r->status == 204)
            break;
        h_expect_status(r, 200);
    }
    struct inflight f = {0, 0};
    pthread_t th;
    pthread_create(&th, NULL, long_claim, &f);
    h_sleep(0.5);
    int port = H->port;
    double t0 = h_now();
    int st = h_daemon_stop(H); /* SIGTERM */
    double took = h_now() - t0;
    pthread_join(th, NULL);
    if (st != 0) {
        h_daemon_log_tail(H, 30);
        fail_msg("exit status %d after SIGTERM", st);
    }
    /* the request in flight got a complete answer */
    if (f.status != 204 && f.status != 200) {
        print_error("the in-flight claim got %ld (0 = connection cut) after %.3f s\n", f.status, f.seconds);
        fail();
    }
    assert_true(took < 10.0);
    /* and nothing listens any more */
    h_resp *r = h_req(H, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r->status, 0);
    (void)port;
    h_daemon_start(H);
}

static void tickets_survive_a_daemon_restart(void **state)
{
    (void)state;
    json_t *t = h_create_ticket_subject(H, "重启后仍在", "major");
    json_int_t id = h_int(t, "id");
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_daemon_restart(H);
    json_t *g = h_get_ticket(H, NULL, id);
    h_assert_str(g, "subject", "重启后仍在");
    h_assert_str(g, "state", "acknowledged");
    h_assert_int(g, "assignee.id", H->k.agent_id[1]);
}

static void expect_503(h_resp *r)
{
    h_expect_error(r, 503, "unavailable");
    const char *ra = h_header(r, "Retry-After");
    if (!ra || atoi(ra) < 1) {
        print_error("503 without a Retry-After (got %s)\n", ra ? ra : "none");
        fail();
    }
}

static void without_the_database_requests_are_503_and_the_daemon_recovers_by_itself(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    /* a token never used yet: authenticating it needs the database */
    const char *fresh = h_key(H, "manager", 0, "fresh manager");
    assert_int_equal(pg_ctl("stop"), 0);

    h_resp *r = h_req(H, "GET", "/v1/tickets", H->k.manager, NULL);
    expect_503(r);
    r = h_req(H, "GET", "/v1/tickets", fresh, NULL);
    expect_503(r);
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"while down\"}");
    expect_503(r);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), H->k.manager, NULL);
    expect_503(r);
    r = h_action(H, H->k.agent[1], id, "acknowledge", NULL);
    expect_503(r);
    r = h_req(H, "POST", "/v1/queues/line-1/claim", H->k.agent[1], NULL);
    expect_503(r);
    /* liveness stays, readiness goes */
    r = h_req(H, "GET", "/healthz", NULL, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "GET", "/readyz", NULL, NULL);
    h_expect_status(r, 503);
    assert_int_equal(kill(h_daemon_pid(H), 0), 0);

    /* back again: the daemon recovers by itself */
    assert_int_equal(pg_ctl("start"), 0);
    assert_int_equal(h_sql_wait(H, 30), 0);
    double end = h_now() + 15.0;
    long st = 0;
    while (h_now() < end) {
        r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL);
        st = r->status;
        if (st == 200)
            break;
        h_sleep(0.2);
    }
    if (st != 200) {
        h_daemon_log_tail(H, 30);
        fail_msg("the daemon did not recover within 15 s of PostgreSQL coming back (last %ld)", st);
    }
    r = h_req(H, "GET", "/readyz", NULL, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "GET", "/v1/tickets?limit=1", fresh, NULL);
    h_expect_status(r, 200);
    /* nothing was half-written while it was down */
    const char *n = h_sql_value(H, "SELECT count(*) FROM tickets WHERE subject = 'while down'");
    assert_non_null(n);
    assert_string_equal(n, "0");
    h_assert_str(h_get_ticket(H, NULL, id), "state", "awaiting_ack");
    t = h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_assert_str(t, "state", "acknowledged");
    h_create_ticket(H, NULL, NULL);
}

static void history_rows_cannot_be_updated_or_deleted(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    h_action_ok(H, H->k.manager, id, "comment", json_pack("{s:s}", "body", "keep me"));
    const char *n0 = h_sql_value(H, "SELECT count(*) FROM events WHERE ticket_id = %lld", (long long)id);
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE events SET body = 'changed' WHERE ticket_id = %lld",
                                         (long long)id), &err), -1);
    assert_non_null(err);
    assert_int_equal(h_sql_exec(H, "UPDATE events SET reason = reason", &err), -1);
    assert_int_equal(h_sql_exec(H, h_fmt(H, "DELETE FROM events WHERE ticket_id = %lld", (long long)id), &err), -1);
    assert_int_equal(h_sql_exec(H, "DELETE FROM events", &err), -1);
    assert_int_equal(h_sql_exec(H, "TRUNCATE events CASCADE", &err), -1);
    const char *n1 = h_sql_value(H, "SELECT count(*) FROM events WHERE ticket_id = %lld", (long long)id);
    assert_string_equal(n0, n1);
    assert_non_null(h_sql_value(H, "SELECT 1 FROM events WHERE ticket_id = %lld AND body = 'keep me'", (long long)id));
    /* the API still shows it */
    json_t *ev = h_events(H, id);
    h_assert_str(json_array_get(ev, json_array_size(ev) - 1), "body", "keep me");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthz_and_readyz_answer_200_without_a_token),
        cmocka_unit_test(the_cli_has_help_and_version_and_keys_create_checks_its_flags_and_stores_a_hash),
        cmocka_unit_test(migrate_run_twice_or_by_four_processes_at_once_succeeds),
        cmocka_unit_test(sigterm_answers_the_request_in_flight_and_exits_0),
        cmocka_unit_test(tickets_survive_a_daemon_restart),
        cmocka_unit_test(without_the_database_requests_are_503_and_the_daemon_recovers_by_itself),
        cmocka_unit_test(history_rows_cannot_be_updated_or_deleted),
    };
    return h_run_group_tests(tests, setup, teardown);
}
