/* test_fault_failover.c — the database's primary dies under load and its
 * synchronous standby is promoted; the daemon is not restarted.
 *
 * The test makes its own pair (scripts/pg.sh start-pair: a primary, and a
 * standby from pg_basebackup -R that the primary commits to synchronously)
 * and gives the daemon ONE connection string naming both:
 *
 *     host=A,B port=pA,pB user=postgres dbname=... target_session_attrs=read-write
 *
 * so that each new connection goes to whichever of the two takes writes.
 * Under the fault suite's mixed load, with ack deadlines of a few seconds
 * falling all the time, it crashes the primary (immediate stop: every session
 * cut, no checkpoint), waits DETECT_S (what a failover manager takes to
 * decide), promotes the standby, and keeps the load on for a while.  Then:
 *
 *   - the daemon is the same process, ready (/readyz), and its SLA engine
 *     fires the deadlines that fall after the failover on the new primary,
 *     on time;
 *   - every write a client was answered 2xx is in the new primary, and the
 *     breaches are recorded exactly once with none missing (fl_check),
 *     deadlines that fell while there was no primary included;
 *   - the webhook worker delivers every breach notification, those of the
 *     failover included;
 *   - the engine LISTENs again on the new primary: a deadline committed
 *     through another daemon wakes it from its 60 s sleep;
 *   - the longest time without a successful answer is measured and printed,
 *     with its parts (the detection delay is the test's own choice).
 *
 * A second test crashes and restarts the new primary while the daemon is
 * idle, and checks that the first requests after it do not fail on the
 * pool's dead sessions. */
#include "harness.h"
#include "fault_load.h"
#include "receiver.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACK_S 3          /* the normal policy's ack deadline during the test */
#define WARM_S 3.0       /* load before the fault */
#define DETECT_S 1.0     /* from the crash to the promotion */
#define AFTER_S 6.0      /* load after the promotion: deadlines fall on the new primary */
#define THREADS 4

static h_ctx *H;
static fl_load *LOAD; /* running, or not freed yet: a failed test leaves it to teardown */
static char *STATE; /* our pg.sh state file */
static char *PGSH;
static fr_receiver *RX;
static int PROMOTED; /* the standby is the primary now */

/* scripts/pg.sh: $ESC_PG_SCRIPT, else beside the test data, as the harness finds it. */
static char *pg_script(void)
{
    const char *s = getenv("ESC_PG_SCRIPT");
    if (s && *s)
        return strdup(s);
    const char *data = getenv("ESC_TEST_DATA");
    char *p = NULL;
    if (data && *data && asprintf(&p, "%s/../../scripts/pg.sh", data) > 0 && access(p, X_OK) == 0)
        return p;
    free(p);
    return strdup("scripts/pg.sh");
}

/* pg.sh <cmd> STATE; its exit status. */
static int pair(const char *cmd)
{
    char *argv[] = {PGSH, (char *)cmd, STATE, NULL};
    char *out = NULL;
    int rc = h_run(argv, &out);
    if (out && *out)
        fprintf(stderr, "%s", out);
    free(out);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, ".");
    PGSH = pg_script();
    if (asprintf(&STATE, "%s/test_fault_failover.pgstate", cwd) < 0)
        return -1;
    if (pair("start-pair") != 0) {
        fprintf(stderr, "test_fault_failover: %s start-pair failed\n", PGSH);
        return -1;
    }
    /* The state file names both hosts (PGHOST=A,B PGPORT=pA,pB), so the
     * harness's connection strings name both; the primary is first and up
     * while h_start creates, migrates and makes the principals. */
    H = h_start("test_fault_failover", STATE);
    char *ci = NULL;
    if (asprintf(&ci, "%s target_session_attrs=read-write", H->conninfo) < 0)
        return -1;
    free(H->conninfo);
    H->conninfo = ci; /* the daemon's --db from the restart on, and the checker's */
    RX = fr_start();
    if (!RX)
        return -1;
    static const char *const args[] = {"--webhook-allow-private-network", "on", NULL};
    h_daemon_args(H, args);
    h_daemon_restart(H);
    h_put_policy(H, "normal", h_fmt(H, "{\"ack_seconds\": %d, \"resolve_seconds\": 86400}", ACK_S));
    json_t *b = json_pack("{s:s, s:[s]}", "url", fr_url(RX), "event_types", "breached");
    h_resp *r = h_reqj(H, "POST", "/v1/webhooks", H->k.admin, b);
    h_expect_status(r, 201);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* the daemon exits 0 on SIGTERM, failover or not; stopped here, not by
     * h_finish, which would exit before the pair is stopped */
    if (LOAD) {
        fl_load_stop(LOAD);
        fl_load_free(LOAD);
        LOAD = NULL;
    }
    int st = H ? h_daemon_stop(H) : 0;
    if (st != 0)
        fprintf(stderr, "test_fault_failover: the daemon's exit status after SIGTERM was %d, expected 0\n", st);
    if (H)
        h_finish(H);
    fr_stop(RX);
    if (STATE)
        pair("stop-pair");
    free(STATE);
    free(PGSH);
    return st == 0 ? 0 : -1;
}

/* Answers that were not service: 5xx and no answer at all. */
static long failures(const struct fl_stats *s)
{
    return s->s503_retry + s->s503_bare + s->s5xx_other + s->transport;
}

/* Wait until the load has more 2xx answers than `n`; fl_now() then, or -1. */
static double first_success_after(fl_load *l, long n, double seconds)
{
    double end = fl_now() + seconds;
    while (fl_now() < end) {
        if (fl_load_stats(l).answered_2xx > n)
            return fl_now();
        h_sleep(0.01);
    }
    return -1;
}

static void primary_crash_and_promotion_lose_no_answered_write(void **state)
{
    (void)state;
    pid_t pid = h_daemon_pid(H);
    /* the required setup: commits wait for the standby's flush, so an
     * answered write is on the standby when the primary dies */
    const char *sync = h_sql_value(H, "SELECT string_agg(sync_state, ',') FROM pg_stat_replication");
    const char *commit = h_sql_value(H, "SHOW synchronous_commit");
    if (!sync || strcmp(sync, "sync") != 0 || !commit || strcmp(commit, "on") != 0)
        fail_msg("the primary does not replicate synchronously (sync_state %s, synchronous_commit %s)",
                 sync ? sync : "none", commit ? commit : "?");
    struct fl_config cfg = fl_config_for(H, "failover");
    cfg.threads = THREADS;
    cfg.request_timeout_s = 15;
    fl_load *l = LOAD = fl_load_start(&cfg);
    assert_non_null(l);
    h_sleep(WARM_S);
    struct fl_stats before = fl_load_stats(l);
    if (before.answered_2xx == 0)
        fail_msg("no answer at all before the fault");

    fl_fault_begin(l);
    double t_crash = fl_now();
    if (pair("crash-primary") != 0)
        fail_msg("pg.sh crash-primary failed");
    double t_crashed = fl_now();
    h_sleep(DETECT_S - (t_crashed - t_crash));
    long n_promote = fl_load_stats(l).answered_2xx;
    double t_promote = fl_now();
    if (pair("promote-standby") != 0)
        fail_msg("pg.sh promote-standby failed");
    double t_promoted = fl_now(), wall_promoted = h_wall();
    PROMOTED = 1;
    struct fl_stats at_promoted = fl_load_stats(l);
    double t_first = first_success_after(l, n_promote, 20.0);
    h_sleep(AFTER_S);
    fl_fault_end(l);
    fl_load_stop(l);
    struct fl_stats st = fl_load_stats(l);

    /* the same daemon process served throughout */
    int wst;
    if (kill(pid, 0) != 0 || waitpid(pid, &wst, WNOHANG) != 0) {
        h_daemon_log_tail(H, 40);
        fail_msg("the daemon did not survive the failover");
    }
    if (t_first < 0) {
        h_daemon_log_tail(H, 40);
        fail_msg("no successful answer within 20 s of the promotion");
    }

    /* ready again: the database is reachable and its schema current */
    h_expect_status(h_req(H, "GET", "/readyz", NULL, NULL), 200);

    /* creates without an answer: retried with their keys (each commits at most once) */
    long unanswered = fl_load_retry_unanswered(l, NULL, 15.0);
    assert_int_equal(unanswered, 0);

    /* the engine fires every ack deadline left (it is on the new primary, or
     * none would fire): then every awaiting_ack period is complete */
    long long left = h_wait_sql_count(H, 0, ACK_S + 10.0, "SELECT count(*) FROM timers WHERE kind = 'ack'");
    assert_int_equal(left, 0);
    struct fl_check_result res;
    int ck = fl_check(l, H->conninfo, ACK_S, 2.0, &res, stderr);

    /* deadlines that fell after the engine had time to reconnect (1 s
     * retry): fired on the new primary, and on time */
    double after = wall_promoted + 2.0;
    long long late_n = h_sql_ll(H, "SELECT count(*) FROM breaches WHERE due_at > to_timestamp(%.3f)", after);
    double late_max = h_sql_d(H, "SELECT coalesce(max(extract(epoch FROM detected_at - due_at)), 0) "
                                 "FROM breaches WHERE due_at > to_timestamp(%.3f)", after);
    /* deadlines that fell while there was no primary: fired once it came */
    double wall_crash = wall_promoted - (t_promoted - t_crash);
    long long gap_n = h_sql_ll(H, "SELECT count(*) FROM breaches WHERE due_at BETWEEN to_timestamp(%.3f) "
                                  "AND to_timestamp(%.3f)", wall_crash, wall_promoted);
    /* the engine's first pass on the new primary, and the lateness of what
     * fell from the crash until it had surely reconnected */
    double engine_back = h_sql_d(H, "SELECT coalesce(extract(epoch FROM min(detected_at)) - %.3f, -1) "
                                    "FROM breaches WHERE detected_at > to_timestamp(%.3f)",
                                 wall_promoted, wall_promoted);
    double during_max = h_sql_d(H, "SELECT coalesce(max(extract(epoch FROM detected_at - due_at)), 0) "
                                   "FROM breaches WHERE due_at BETWEEN to_timestamp(%.3f) AND to_timestamp(%.3f)",
                                wall_crash, after);

    /* the webhook worker reconnected too: every breach notification delivered */
    long long undelivered = h_wait_sql_count(
        H, 0, 20.0,
        "SELECT count(*) FROM notifications n WHERE n.type = 'breached' AND NOT EXISTS "
        "(SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'delivered')");
    long long notified = h_sql_ll(H, "SELECT count(*) FROM notifications WHERE type = 'breached'");

    /* The engine LISTENs again on the new primary.  No timer is due for
     * hours now, so it sleeps its maximum (60 s); a deadline committed
     * through another daemon, which stops at once, is fired on time only if
     * that daemon's NOTIFY reaches this engine. */
    const char *b_url = NULL;
    pid_t b_pid = h_extra_start(H, &b_url);
    h_resp *cr = h_reqj_at(H, b_url, "POST", "/v1/tickets", H->k.frontdesk,
                           json_pack("{s:s}", "subject", "a deadline from another daemon"));
    h_expect_status(cr, 201);
    json_int_t b_ticket = h_int(cr->json, "id");
    assert_int_equal(h_extra_stop(H, b_pid), 0);
    if (h_wait_sql_count(H, 1, ACK_S + 5.0, "SELECT count(*) FROM breaches WHERE ticket_id = %lld AND kind = 'ack'",
                         (long long)b_ticket) != 1)
        fail_msg("a deadline committed through another daemon did not fire: no LISTEN on the new primary?");
    double notify_late = h_sql_d(H, "SELECT extract(epoch FROM detected_at - due_at) FROM breaches "
                                    "WHERE ticket_id = %lld AND kind = 'ack'", (long long)b_ticket);

    char errors[256];
    fl_errors_text(&st, errors, sizeof errors);
    long errors_after = failures(&st) - failures(&at_promoted);
    fprintf(stderr,
            "failover: crash took %.3f s; promotion %.3f s after the crash, took %.3f s; first 2xx "
            "%.3f s after the promotion; longest gap between 2xx answers %.3f s\n"
            "failover: %ld requests, %ld answered 2xx, %ld writes in the ledger; errors: %s; "
            "%ld errors after the promotion\n"
            "failover: %ld breaches; %lld due while there was no primary; the engine's first breach "
            "on the new primary %.3f s after the promotion; those due from the crash to 2 s after the "
            "promotion detected at most %.3f s late, the %lld due later at most %.3f s late; %lld "
            "breach notifications, %lld undelivered; receiver answered %ld; a deadline committed "
            "through another daemon fired %.3f s late\n",
            t_crashed - t_crash, t_promote - t_crash, t_promoted - t_promote, t_first - t_promoted,
            st.longest_gap_s, st.requests, st.answered_2xx, st.writes, errors, errors_after, res.breaches, gap_n,
            engine_back, during_max, late_n, late_max, notified, undelivered, fr_count(RX), notify_late);
    fl_report_row("primary crash, standby promoted", st.answered_2xx, errors, st.longest_gap_s, res.lost);

    assert_int_equal(ck, 0);
    assert_int_equal(res.lost, 0);
    if (late_n == 0)
        fail_msg("no deadline fell after the failover: the test checked nothing there");
    if (late_max > 1.5)
        fail_msg("breaches due after the failover were detected up to %.3f s late", late_max);
    assert_int_equal(undelivered, 0);
    if (notify_late > 1.0)
        fail_msg("a deadline committed through another daemon fired %.3f s late: no LISTEN on the new primary?",
                 notify_late);
    fl_load_free(l);
    LOAD = NULL;
}

/* The database goes away and comes back while the daemon is idle (a
 * failover at night): the pooled sessions are dead but nothing has used
 * them.  The first requests after it must not fail on them: a lease finds a
 * session the server closed and connects again instead.  Here the new
 * primary is crashed and restarted (the pair has no standby left to fail
 * over to); the daemon's sessions see the same as in a failover. */
static void first_requests_after_the_database_came_back_do_not_fail(void **state)
{
    (void)state;
    if (!PROMOTED)
        skip();
    /* the load left most of the pool's slots connected */
    if (pair("crash-restart-standby") != 0)
        fail_msg("pg.sh crash-restart-standby failed");
    int failed = 0;
    long first = 0;
    for (int i = 0; i < 48; i++) {
        h_resp *r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.agent[1], NULL);
        if (r->status != 200) {
            if (!failed++)
                first = r->status;
        }
        h_free(H, r);
    }
    fprintf(stderr, "after the restart: %d of 48 sequential requests failed (first: %ld)\n", failed, first);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(primary_crash_and_promotion_lose_no_answered_write),
        cmocka_unit_test(first_requests_after_the_database_came_back_do_not_fail),
    };
    return h_run_group_tests(tests, setup, teardown);
}
