/* test_fault_pg_outage.c — PostgreSQL stopped for 10 s under a mixed load.
 *
 *   - every request sent while the database is away is answered 503 with
 *     Retry-After, within a bound (no hang, no 500, no cut connection);
 *   - the same daemon serves again once the database is back (no restart);
 *   - every ack deadline that fell during the outage is recorded once, with
 *     detected_at within 1 s of the database's return;
 *   - the database agrees with the ledger (ledger.h).
 *
 * This program stops PostgreSQL, so it runs on a private cluster of its own
 * (h_start_private), never on the cluster the other tests share. */
#include "harness.h"
#include "fault_load.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define ACK_SECONDS 2
#define OUTAGE_SECONDS 10.0
/* the longest a request may take while the database is away: the pool fails
 * a lease fast (docs/design.md), so even a long poll is answered at once */
#define ANSWER_BOUND_S 3.0

static h_ctx *H;

static int setup(void **state)
{
    (void)state;
    H = h_start_private("test_fault_pg_outage");
    return H ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_finish_private(H);
    return 0;
}

static void pg_outage_of_10_s_is_503_throughout_and_every_deadline_fires_once_at_return(void **state)
{
    (void)state;
    h_put_policy(H, "normal", h_fmt(H, "{\"ack_seconds\": %d, \"resolve_seconds\": 36000}", ACK_SECONDS));
    pid_t pid = h_daemon_pid(H);
    struct fl_config cfg = fl_config_for(H, "outage");
    cfg.seed = (unsigned)pid;
    fl_load *l = fl_load_start(&cfg);
    assert_non_null(l);
    h_sleep(3);
    struct fl_stats before = fl_load_stats(l);

    double wall_stop = h_wall();
    fl_fault_begin(l);
    assert_int_equal(h_pg_ctl(H, "stop"), 0);
    double stopped = h_now();
    h_sleep(OUTAGE_SECONDS - 0.5);
    fl_fault_end(l); /* the window's statistics: requests sent while it was down */
    struct fl_stats during = fl_load_stats(l);
    h_sleep(OUTAGE_SECONDS - (h_now() - stopped) > 0 ? OUTAGE_SECONDS - (h_now() - stopped) : 0);
    assert_int_equal(h_pg_ctl(H, "start"), 0); /* -w: returns once it accepts connections */
    double wall_back = h_wall();
    h_sleep(3);
    fl_load_stop(l);
    struct fl_stats s = fl_load_stats(l);
    /* the same process served before and after */
    assert_int_equal(h_daemon_pid(H), pid);
    assert_int_equal(kill(pid, 0), 0);
    fprintf(stderr,
            "pg outage: %.1f s down; in the window %ld requests: 503+RA %ld, 503 bare %ld, 5xx %ld, transport %ld, "
            "slowest %.3f s\n",
            wall_back - wall_stop, during.fault_requests, during.fault_503_retry, during.fault_503_bare,
            during.fault_5xx_other, during.fault_transport, during.fault_max_latency_s);

    long left = fl_load_retry_unanswered(l, H->base_url, 20);
    h_sleep(ACK_SECONDS + 1.0);
    struct fl_check_result res;
    int rc = fl_check(l, H->conninfo, ACK_SECONDS, 1.0, &res, stderr);

    /* the deadlines that fell while the database was away: fired at its
     * return, within a second, once (doubles are in res) */
    long long fell = h_sql_ll(H, "SELECT count(*) FROM breaches WHERE due_at > to_timestamp(%.6f) "
                                 "AND due_at < to_timestamp(%.6f)", wall_stop, wall_back);
    double late = h_sql_d(H, "SELECT coalesce(max(extract(epoch FROM detected_at) - %.6f), 0) FROM breaches "
                             "WHERE due_at > to_timestamp(%.6f) AND due_at < to_timestamp(%.6f)",
                          wall_back, wall_stop, wall_back);
    fprintf(stderr, "pg outage: %lld deadlines fell during the outage; the last fired %.3f s after the return\n",
            fell, late);

    char errs[200];
    fl_errors_text(&s, errs, sizeof errs);
    fl_report_row("PostgreSQL stopped 10 s", s.answered_2xx, errs, s.longest_gap_s,
                  res.lost + res.key_violations + res.breach_lost);
    if (rc != 0)
        h_daemon_log_tail(H, 30);
    assert_int_equal(rc, 0);
    assert_int_equal(left, 0);
    /* 503 with Retry-After throughout, answered at once */
    assert_true(during.fault_requests > 100);
    assert_int_equal(during.fault_503_bare, 0);
    assert_int_equal(during.fault_5xx_other, 0);
    assert_int_equal(during.fault_transport, 0);
    assert_true(during.fault_503_retry > 100);
    assert_true(during.fault_max_latency_s < ANSWER_BOUND_S);
    assert_int_equal(s.s5xx_other, 0);
    assert_int_equal(s.transport, 0);
    /* it served before and after */
    assert_true(before.writes > 50);
    assert_true(s.writes > during.writes + 50);
    /* deadlines fell during the outage and each fired within 1 s of the return */
    assert_true(fell > 0);
    assert_true(late < 1.0);
    fl_load_free(l);
    h_restore_settings(H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pg_outage_of_10_s_is_503_throughout_and_every_deadline_fires_once_at_return),
    };
    return h_run_group_tests(tests, setup, teardown);
}
