/* test_ops.c — the operations kit (docs/operations.md): `escalated check` on
 * a good configuration, an unmigrated database, a newer schema, a missing or
 * wrong data key; SIGHUP re-reading the --config file (log level and format,
 * webhook settings; the others logged as needing a restart; a broken file
 * changing nothing); and a backup restored with pg_dump/pg_restore that the
 * same data key opens. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"

static h_ctx *H;

static int setup(void **state)
{
    (void)state;
    H = h_start("test_ops", NULL);
    return H ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

/* `escalated check ARGS...` with the harness's data key (the environment);
 * its exit status, its stdout in *out (harness-owned). */
static int run_check(const char **out, const char *db, const char *extra1, const char *extra2)
{
    char *argv[] = {H->bin, "check", "--db", (char *)db, "--listen", "127.0.0.1:0",
                    (char *)extra1, (char *)extra2, NULL};
    char *text = NULL;
    int rc = h_run(argv, &text);
    *out = h_fmt(H, "%s", text ? text : "");
    free(text);
    return rc;
}

static void expect_in(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("'%s' is not in:\n%s", needle, text);
}

/* A database of the harness's cluster: fresh (empty), dropped at the end of
 * the test by drop_db. */
static char *make_db(const char *name)
{
    PGconn *c = PQconnectdb(H->admin_conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, h_fmt(H, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name)));
    PGresult *res = PQexec(c, h_fmt(H, "CREATE DATABASE %s", name));
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
    char *conn = NULL;
    assert_true(asprintf(&conn, "host=%s port=%s user=postgres dbname=%s", H->pghost, H->pgport,
                         name) > 0);
    return conn;
}

static void drop_db(const char *name)
{
    PGconn *c = PQconnectdb(H->admin_conninfo);
    PQclear(PQexec(c, h_fmt(H, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name)));
    PQfinish(c);
}

/* A ticket with a sealed customer, so that check has a record to open. */
static json_int_t ticket_with_customer(void)
{
    json_t *t = h_create_ticket(H, H->k.frontdesk,
                                json_pack("{s:s, s:s, s:{s:s, s:s}}", "subject", "ops check",
                                          "severity", "normal", "customer", "name", "Zhang San",
                                          "phone", "+8613812345678"));
    return h_int(t, "id");
}

static void check_passes_on_a_good_configuration(void **state)
{
    (void)state;
    json_int_t id = ticket_with_customer();
    const char *out;
    int rc = run_check(&out, H->conninfo, NULL, NULL);
    if (rc != 0)
        fail_msg("check exited %d:\n%s", rc, out);
    expect_in(out, "ok    settings");
    expect_in(out, "ok    data key");
    expect_in(out, "ok    migrations    all ");
    expect_in(out, "ok    schema        every statement prepares");
    /* the newest sealed record is this ticket's (no test of this program
     * makes one later before this runs) */
    expect_in(out, h_fmt(H, "ok    sealed data   ticket %lld's customer record", (long long)id));
    expect_in(out, "escalated check: all passed");
}

static void check_fails_on_an_unmigrated_database(void **state)
{
    (void)state;
    const char *name = h_fmt(H, "esc_check_empty_%d", (int)getpid());
    char *conn = make_db(name);
    const char *out;
    assert_int_equal(run_check(&out, conn, NULL, NULL), 1);
    expect_in(out, "ok    database      connected");
    expect_in(out, "FAIL  migrations    none of this build's");
    expect_in(out, "run `escalated migrate`");
    expect_in(out, "skip  schema");
    expect_in(out, "escalated check: 1 check failed");
    /* half migrated: the missing one is named */
    char *argv[] = {H->bin, "migrate", "--db", conn, NULL};
    assert_int_equal(h_run(argv, NULL), 0);
    PGconn *c = PQconnectdb(conn);
    PQclear(PQexec(c, "DELETE FROM escalated_migrations WHERE name = '008_free_text_pii.sql'"));
    PQfinish(c);
    assert_int_equal(run_check(&out, conn, NULL, NULL), 1);
    expect_in(out, "FAIL  migrations");
    expect_in(out, "missing 008_free_text_pii.sql");
    drop_db(name);
    free(conn);
}

static void check_fails_on_a_newer_schema(void **state)
{
    (void)state;
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, "INSERT INTO escalated_migrations (name) VALUES ('999_future.sql')",
                                &err), 0);
    const char *out;
    int rc = run_check(&out, H->conninfo, NULL, NULL);
    assert_int_equal(h_sql_exec(H, "DELETE FROM escalated_migrations WHERE name = '999_future.sql'",
                                &err), 0);
    assert_int_equal(rc, 1);
    expect_in(out, "FAIL  migrations    the database has migrations this build does not know "
                   "(999_future.sql)");
}

static void check_fails_without_the_data_key(void **state)
{
    (void)state;
    const char *out;
    assert_int_equal(run_check(&out, H->conninfo, "--data-key-file", "/nonexistent/data.key"), 1);
    expect_in(out, "FAIL  data key      /nonexistent/data.key");
    expect_in(out, "skip  sealed data");
    expect_in(out, "ok    migrations"); /* the rest is still checked */
}

static void check_fails_with_another_data_key(void **state)
{
    (void)state;
    ticket_with_customer();
    char dir[] = "/tmp/esc_ops_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *other = h_fmt(H, "%s/other.key", dir);
    char *argv[] = {H->bin, "data-key", "create", "--data-key-file", (char *)other, NULL};
    assert_int_equal(h_run(argv, NULL), 0);
    const char *out;
    assert_int_equal(run_check(&out, H->conninfo, "--data-key-file", other), 1);
    expect_in(out, "ok    data key");
    expect_in(out, "FAIL  sealed data");
    expect_in(out, "does not open with this data key file");
    unlink(other);
    rmdir(dir);
}

static void check_reports_a_malformed_setting(void **state)
{
    (void)state;
    const char *out;
    assert_int_equal(run_check(&out, H->conninfo, "--pool-size", "0"), 1);
    expect_in(out, "FAIL  settings      --pool-size: 0 is out of range");
}

/* The daemon's log since `from` bytes (harness-owned text). */
static const char *log_since(long from)
{
    FILE *f = fopen(H->log_path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    if (end < from)
        from = 0;
    fseek(f, from, SEEK_SET);
    char *buf = calloc(1, (size_t)(end - from) + 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (size_t)(end - from), f);
    buf[n] = '\0';
    fclose(f);
    const char *out = h_fmt(H, "%s", buf);
    free(buf);
    return out;
}

static long log_size(void)
{
    struct stat st;
    return stat(H->log_path, &st) == 0 ? (long)st.st_size : 0;
}

/* Wait up to 10 s for `needle` in the log after `from`. */
static const char *wait_log(long from, const char *needle)
{
    for (int i = 0; i < 200; i++) {
        const char *text = log_since(from);
        if (strstr(text, needle))
            return text;
        usleep(50 * 1000);
    }
    fail_msg("'%s' did not appear in the daemon log:\n%s", needle, log_since(from));
    return NULL;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The next sd_notify datagram on fd within 10 s, as text (harness-owned). */
static const char *notify_next(int fd)
{
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n < 0)
        fail_msg("no sd_notify message within 10 s: %s", strerror(errno));
    buf[n] = '\0';
    return h_fmt(H, "%s", buf);
}

static void sighup_rereads_the_config_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/esc_ops_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *conf = h_fmt(H, "%s/escalated.env", dir);
    write_file(conf, "# as the package installs it, with two values set\n"
                     "ESCALATED_LOG_LEVEL=info\nESCALATED_WEBHOOK_MAX_ATTEMPTS=10\n");
    h_daemon_args(H, (const char *const[]){"--config", conf, NULL});
    /* systemd's side of Type=notify: a datagram socket in NOTIFY_SOCKET,
     * which the daemon inherits */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", dir);
    int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(nfd >= 0);
    assert_int_equal(bind(nfd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    h_daemon_restart(H);
    const char *msg = notify_next(nfd);
    expect_in(msg, "READY=1");
    expect_in(msg, h_fmt(H, "MAINPID=%d", (int)h_daemon_pid(H)));

    /* JSON logs, debug, 3 attempts, a pool size that needs a restart */
    long from = log_size();
    write_file(conf, "ESCALATED_LOG_LEVEL=debug\nESCALATED_LOG_FORMAT=json\n"
                     "ESCALATED_WEBHOOK_MAX_ATTEMPTS=3\nESCALATED_WEBHOOK_TIMEOUT_MS=700\n"
                     "ESCALATED_POOL_SIZE=3\n");
    assert_int_equal(kill(h_daemon_pid(H), SIGHUP), 0);
    expect_in(notify_next(nfd), "RELOADING=1");
    expect_in(notify_next(nfd), "READY=1");
    const char *text = wait_log(from, "\"msg\":\"webhook worker: max attempts 3");
    expect_in(text, "--pool-size changed (ESCALATED_POOL_SIZE (--config line 5)): it takes a "
                    "restart");
    expect_in(text, "{\"ts\":\"");
    expect_in(text, "\"level\":\"info\",\"msg\":\"reloaded: log level debug, log format json");
    expect_in(text, "timeout 700 ms");
    expect_in(text, "reloaded: sealing with version 1"); /* the data key file, loaded again */
    h_expect_status(h_req(H, "GET", "/healthz", NULL, NULL), 200);

    /* a broken file changes nothing: still JSON, still serving */
    from = log_size();
    write_file(conf, "ESCALATED_LOG_FORMAT=xml\n");
    assert_int_equal(kill(h_daemon_pid(H), SIGHUP), 0);
    expect_in(notify_next(nfd), "RELOADING=1");
    expect_in(notify_next(nfd), "READY=1");
    text = wait_log(from, "nothing changed");
    expect_in(text, "\"level\":\"error\",\"msg\":\"reload: ESCALATED_LOG_FORMAT (--config line 1)");
    h_expect_status(h_req(H, "GET", "/healthz", NULL, NULL), 200);

    /* back to text */
    from = log_size();
    write_file(conf, "ESCALATED_LOG_FORMAT=text\n");
    assert_int_equal(kill(h_daemon_pid(H), SIGHUP), 0);
    text = wait_log(from, " info  reloaded: log level info, log format text");

    expect_in(notify_next(nfd), "RELOADING=1");
    expect_in(notify_next(nfd), "READY=1");
    assert_int_equal(h_daemon_stop(H), 0);
    expect_in(notify_next(nfd), "STOPPING=1");
    unsetenv("NOTIFY_SOCKET");
    close(nfd);
    unlink(sa.sun_path);
    h_daemon_args(H, NULL);
    h_daemon_start(H);
    unlink(conf);
    rmdir(dir);
}

/* pg_dump of the database and the data key file are a complete backup:
 * restored into a new database, check opens its sealed records with the
 * same key, and every ticket is there. */
static void a_backup_restores_with_the_data_key(void **state)
{
    (void)state;
    ticket_with_customer();
    const char *bindir = getenv("ESC_PG_BINDIR") ? getenv("ESC_PG_BINDIR") : "/usr/lib/postgresql/15/bin";
    char dir[] = "/tmp/esc_ops_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *dump = h_fmt(H, "%s/escalated.dump", dir);
    char *d_argv[] = {(char *)h_fmt(H, "%s/pg_dump", bindir), "-Fc", "-f", (char *)dump,
                      (char *)H->conninfo, NULL};
    assert_int_equal(h_run(d_argv, NULL), 0);

    const char *name = h_fmt(H, "esc_restore_%d", (int)getpid());
    char *conn = make_db(name);
    char *r_argv[] = {(char *)h_fmt(H, "%s/pg_restore", bindir), "--exit-on-error", "-d", conn,
                      (char *)dump, NULL};
    assert_int_equal(h_run(r_argv, NULL), 0);
    const char *out;
    int rc = run_check(&out, conn, NULL, NULL);
    if (rc != 0)
        fail_msg("check of the restored database exited %d:\n%s", rc, out);
    expect_in(out, "ok    sealed data   ticket ");
    PGconn *c = PQconnectdb(conn);
    PGresult *res = PQexec(c, "SELECT count(*) FROM tickets");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(atoll(PQgetvalue(res, 0, 0)), h_sql_ll(H, "SELECT count(*) FROM tickets"));
    PQclear(res);
    PQfinish(c);
    drop_db(name);
    free(conn);
    unlink(dump);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_passes_on_a_good_configuration),
        cmocka_unit_test(check_fails_on_an_unmigrated_database),
        cmocka_unit_test(check_fails_on_a_newer_schema),
        cmocka_unit_test(check_fails_without_the_data_key),
        cmocka_unit_test(check_fails_with_another_data_key),
        cmocka_unit_test(check_reports_a_malformed_setting),
        cmocka_unit_test(sighup_rereads_the_config_file),
        cmocka_unit_test(a_backup_restores_with_the_data_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
