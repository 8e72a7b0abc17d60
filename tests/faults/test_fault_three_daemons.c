/* test_fault_three_daemons.c — three daemons serve one database; every few
 * seconds one of them is killed with SIGKILL and started again, while the
 * fault suite's mixed load runs against all three and ack deadlines of two
 * seconds fall all the time.
 *
 * A daemon killed mid-request leaves its transaction to PostgreSQL, which
 * rolls it back when the connection drops; one killed mid-pass of its SLA
 * engine leaves its batch of timers locked until then, and the other
 * daemons' engines (FOR UPDATE SKIP LOCKED) fire them afterwards.  So:
 *
 *   - every write a client was answered 2xx is in the database (fl_check);
 *   - every ack period that ran past its deadline has exactly one breach,
 *     and no breach is recorded twice or for a period that ended in time;
 *   - no timer is left overdue;
 *   - the clients of a killed daemon move to the others: the longest time
 *     without any successful answer is measured and printed. */
#include "harness.h"
#include "fault_load.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACK_S 2        /* the normal policy's ack deadline during the test */
#define DAEMONS 3
#define KILLS 8
#define PERIOD_S 3.0   /* between kills, +- up to JITTER_S */
#define JITTER_S 1.0
#define THREADS 6      /* two clients per daemon to start with */

static h_ctx *H;
static fl_load *LOAD; /* running, or not freed yet: a failed test leaves it to teardown */
static pid_t PIDS[DAEMONS];
static const char *URLS[DAEMONS];

static int setup(void **state)
{
    (void)state;
    H = h_start("test_fault_three_daemons", NULL);
    h_put_policy(H, "normal", h_fmt(H, "{\"ack_seconds\": %d, \"resolve_seconds\": 86400}", ACK_S));
    /* three daemons of our own, each killed and restarted in turn */
    h_daemon_stop_ok(H);
    for (int i = 0; i < DAEMONS; i++)
        PIDS[i] = h_extra_start(H, &URLS[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (LOAD) {
        fl_load_stop(LOAD);
        fl_load_free(LOAD);
        LOAD = NULL;
    }
    for (int i = 0; i < DAEMONS; i++)
        if (PIDS[i])
            h_extra_stop(H, PIDS[i]);
    h_finish(H);
    return 0;
}

static void sigkill_one_of_three_every_few_seconds_loses_nothing(void **state)
{
    (void)state;
    unsigned seed = (unsigned)getpid();
    struct fl_config cfg = fl_config_for(H, "three");
    cfg.n_urls = DAEMONS;
    cfg.threads = THREADS;
    cfg.request_timeout_s = 15;
    cfg.seed = seed;
    for (int i = 0; i < DAEMONS; i++)
        cfg.urls[i] = URLS[i];
    fl_load *l = LOAD = fl_load_start(&cfg);
    assert_non_null(l);
    h_sleep(PERIOD_S);

    fl_fault_begin(l);
    double restart_max = 0, restart_sum = 0;
    for (int k = 0; k < KILLS; k++) {
        int i = k % DAEMONS;
        if (kill(PIDS[i], SIGKILL) != 0)
            fail_msg("daemon %d (pid %d) was already gone", i, (int)PIDS[i]);
        int st;
        waitpid(PIDS[i], &st, 0);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
            fail_msg("daemon %d had exited on its own (status %d) before the SIGKILL", i, st);
        PIDS[i] = 0;
        double t0 = h_now();
        PIDS[i] = h_extra_start(H, &URLS[i]); /* answers /healthz 200 */
        double took = h_now() - t0;
        restart_sum += took;
        if (took > restart_max)
            restart_max = took;
        fl_load_set_url(l, i, URLS[i]);
        h_sleep(PERIOD_S - JITTER_S + 2.0 * JITTER_S * (double)rand_r(&seed) / RAND_MAX);
    }
    fl_fault_end(l);
    fl_load_stop(l);
    struct fl_stats st = fl_load_stats(l);

    /* creates without an answer: retried with their keys (each commits at most once) */
    long unanswered = fl_load_retry_unanswered(l, URLS[0], 15.0);
    assert_int_equal(unanswered, 0);
    /* every ack deadline left fires: then every awaiting_ack period is complete */
    long long left = h_wait_sql_count(H, 0, ACK_S + 10.0, "SELECT count(*) FROM timers WHERE kind = 'ack'");
    assert_int_equal(left, 0);
    struct fl_check_result res;
    int ck = fl_check(l, H->conninfo, ACK_S, 2.0, &res, stderr);

    char errors[256];
    fl_errors_text(&st, errors, sizeof errors);
    fprintf(stderr,
            "three daemons: %d SIGKILLs; a restart answered /healthz after %.3f s on average, %.3f s "
            "at most; longest gap between 2xx answers %.3f s\n"
            "three daemons: %ld requests, %ld answered 2xx, %ld writes in the ledger; errors: %s; "
            "%ld breaches\n",
            KILLS, restart_sum / KILLS, restart_max, st.longest_gap_s, st.requests, st.answered_2xx,
            st.writes, errors, res.breaches);
    fl_report_row("SIGKILL 1 of 3 daemons, 8 times", st.answered_2xx, errors, st.longest_gap_s, res.lost);

    assert_int_equal(ck, 0);
    assert_int_equal(res.lost, 0);
    if (res.breaches == 0)
        fail_msg("no deadline fell: the test checked no breach");
    fl_load_free(l);
    LOAD = NULL;

    /* the survivors and the restarted ones stop cleanly */
    for (int i = 0; i < DAEMONS; i++) {
        int rc = h_extra_stop(H, PIDS[i]);
        PIDS[i] = 0;
        assert_int_equal(rc, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigkill_one_of_three_every_few_seconds_loses_nothing),
    };
    return h_run_group_tests(tests, setup, teardown);
}
