/* test_fault_sigkill.c — SIGKILL of the daemon under a mixed load (create
 * with Idempotency-Key, acknowledge, escalate, claim, resolve), twice, each
 * time restarted at once while the clients keep going.  Then every create
 * that got no answer is sent again with its key, and the database is checked
 * against the ledger (ledger.h): every answered write present at the version
 * and state answered, one ticket per key, history length == version, each
 * ack deadline that fell (2 s) recorded exactly once.
 *
 * Runs on the shared test cluster: only the daemon is killed. */
#include "harness.h"
#include "fault_load.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACK_SECONDS 2

static h_ctx *H;

/* SIGKILL, reap, start again on a new port; the seconds it took. */
static double kill_and_restart(fl_load *l)
{
    pid_t pid = h_daemon_pid(H);
    double t0 = fl_now();
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    H->pid = 0;
    h_daemon_start(H); /* answers /healthz when it returns */
    fl_load_set_url(l, 0, H->base_url);
    return fl_now() - t0;
}

static void sigkill_under_load_loses_no_answered_write_and_no_breach(void **state)
{
    (void)state;
    /* short ack deadlines so that some fall around the kills; the resolve
     * deadline far away (one timer per ticket fires: ledger.h) */
    h_put_policy(H, "normal", h_fmt(H, "{\"ack_seconds\": %d, \"resolve_seconds\": 36000}", ACK_SECONDS));
    struct fl_config cfg = fl_config_for(H, "kill");
    fl_load *l = fl_load_start(&cfg);
    assert_non_null(l);
    h_sleep(3);
    struct fl_stats before = fl_load_stats(l);
    fl_fault_begin(l);
    double down1 = kill_and_restart(l);
    h_sleep(3);
    double down2 = kill_and_restart(l);
    h_sleep(2);
    fl_fault_end(l);
    h_sleep(1);
    fl_load_stop(l);
    struct fl_stats s = fl_load_stats(l);
    fprintf(stderr, "sigkill: restarts took %.2f s and %.2f s; %ld writes before the first kill, %ld in all\n",
            down1, down2, before.writes, s.writes);

    /* the creates without an answer, again with the same key: each gets its
     * ticket (the one the first attempt made, if it committed) */
    long left = fl_load_retry_unanswered(l, H->base_url, 20);
    assert_int_equal(left, 0);

    /* let the engine fire what is due, then compare */
    h_sleep(ACK_SECONDS + 1.0);
    struct fl_check_result res;
    int rc = fl_check(l, H->conninfo, ACK_SECONDS, 1.0, &res, stderr);
    char errs[200];
    fl_errors_text(&s, errs, sizeof errs);
    fl_report_row("SIGKILL daemon x2 under load", s.answered_2xx, errs, s.longest_gap_s,
                  res.lost + res.key_violations + res.breach_lost);
    if (rc != 0)
        h_daemon_log_tail(H, 30);
    assert_int_equal(rc, 0);
    /* the load did something on both sides of the kills */
    assert_true(before.writes > 50);
    assert_true(s.writes > before.writes + 50);
    assert_true(s.unanswered_creates >= 0);
    assert_true(res.breaches > 0);
    assert_int_equal(s.s5xx_other, 0);

    /* The checker itself: each kind of damage it looks for, made by hand on
     * this database, is reported (a checker that passes everything would
     * prove nothing).  The history is append-only, so the damage is to the
     * tickets, the keys and the breaches. */
    const struct fl_entry *led;
    size_t n = fl_ledger(l, &led);
    int64_t victim = 0, keyed = 0;
    for (size_t i = 0; i < n && (!victim || !keyed); i++) {
        if (!victim && led[i].op == FL_ESCALATE)
            victim = led[i].ticket;
        if (!keyed && led[i].op == FL_CREATE && led[i].ticket != victim)
            keyed = led[i].ticket;
    }
    assert_true(victim > 0 && keyed > 0);
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE tickets SET version = version - 1 WHERE id = %lld",
                                         (long long)victim), &err), 0);
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE tickets SET idempotency_key = idempotency_key || 'x' "
                                            "WHERE id = %lld", (long long)keyed), &err), 0);
    long long dup = h_sql_ll(H, "SELECT min(id) FROM breaches");
    long long gone = h_sql_ll(H, "SELECT max(id) FROM breaches WHERE kind = 'ack'"); /* another one */
    assert_true(gone != dup);
    assert_int_equal(h_sql_exec(H, h_fmt(H, "INSERT INTO breaches (ticket_id, kind, tier, severity, assignee_id, "
                                            "due_at, detected_at) SELECT ticket_id, kind, tier, severity, "
                                            "assignee_id, due_at, detected_at FROM breaches WHERE id = %lld",
                                         dup), &err), 0);
    assert_int_equal(h_sql_exec(H, h_fmt(H, "DELETE FROM breaches WHERE id = %lld", gone), &err), 0);
    struct fl_check_result bad;
    fprintf(stderr, "sigkill: the checker on a database damaged by hand (the reports below are expected):\n");
    assert_int_equal(fl_check(l, H->conninfo, ACK_SECONDS, 1.0, &bad, stderr), -1);
    assert_true(bad.lost >= 1);
    assert_true(bad.history_violations >= 1);
    assert_true(bad.key_violations >= 1);
    assert_true(bad.breach_doubled >= 1);
    assert_true(bad.breach_lost >= 1);
    fl_load_free(l);
    h_restore_settings(H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigkill_under_load_loses_no_answered_write_and_no_breach),
    };
    return h_run_tests_with_daemon(&H, "test_fault_sigkill", 0, tests);
}
