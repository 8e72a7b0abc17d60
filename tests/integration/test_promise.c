/* test_promise.c — promised times (issue 10 item 6, docs/api.md "The plan"):
 * acknowledge, escalate and the new `plan` action carry a plan {solution,
 * promised_at}; the ticket shows the promise in force, the history records
 * it, the `promise` timer follows it (set, replaced, stopped by resolve and
 * by a change of tier), and a promise that passes unresolved records one
 * breach of kind `promise` with its notification.  The solution is free
 * text: stored masked, revealed on the recorded reveal. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

static h_ctx *H;

/* An RFC 3339 instant `seconds` from now by the database's clock (the clock
 * of record: the daemon compares promised_at with the database's now()). */
static const char *in_seconds(double seconds)
{
    return h_sql_value(H, "SELECT to_char((now() + make_interval(secs => %f)) AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", seconds);
}

static json_t *plan_body(const char *solution, const char *at)
{
    return json_pack("{s:{s:s, s:s}}", "plan", "solution", solution, "promised_at", at);
}

/* The promise timer's due time of a ticket as epoch seconds, or -1 when it
 * has none. */
static double promise_timer(json_int_t id)
{
    const char *v = h_sql_value(H, "SELECT coalesce(extract(epoch FROM (SELECT due_at FROM timers "
                                   "WHERE ticket_id = %lld AND kind = 'promise')), -1)",
                                (long long)id);
    assert_non_null(v);
    return strtod(v, NULL);
}

/* A ticket acknowledged by line-1's agent. */
static json_int_t acknowledged(void)
{
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    return id;
}

static void acknowledge_with_a_plan_sets_the_promise_and_its_timer(void **state)
{
    (void)state;
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    const char *at = in_seconds(3600);
    json_t *t = h_action_ok(H, H->k.agent[1], id, "acknowledge", plan_body("上门更换光猫", at));
    h_assert_str(t, "plan.solution", "上门更换光猫");
    h_assert_str(t, "plan.promised_at", at);
    h_assert_str(t, "plan.tier", "line-1");
    h_assert_int(t, "plan.by", H->k.agent_id[1]);
    assert_true(fabs(promise_timer(id) - h_ts_epoch(at)) < 0.002);
    /* the same on a GET, and in the history on the acknowledged event */
    h_assert_str(h_get_ticket(H, NULL, id), "plan.promised_at", at);
    json_t *ev = NULL;
    assert_int_equal(h_count_events(H, id, "acknowledged", &ev), 1);
    h_assert_str(ev, "plan.solution", "上门更换光猫");
    h_assert_str(ev, "plan.promised_at", at);

    /* a ticket acknowledged without a plan has none */
    json_int_t other = acknowledged();
    assert_true(h_isnull(h_get_ticket(H, NULL, other), "plan"));
    assert_true(promise_timer(other) < 0);
}

static void plan_replaces_the_promise_and_is_recorded(void **state)
{
    (void)state;
    json_int_t id = acknowledged();
    const char *first = in_seconds(7200), *second = in_seconds(3 * 86400);
    json_t *t = h_action_ok(H, H->k.agent[1], id, "plan", plan_body("先远程排查", first));
    int v1 = (int)h_int(t, "version");
    h_assert_str(t, "plan.promised_at", first);
    t = h_action_ok(H, H->k.agent[1], id, "plan", plan_body("更换设备", second));
    assert_int_equal(h_int(t, "version"), v1 + 1);
    h_assert_str(t, "plan.solution", "更换设备");
    h_assert_str(t, "plan.promised_at", second);
    h_assert_str(t, "state", "acknowledged");
    assert_true(fabs(promise_timer(id) - h_ts_epoch(second)) < 0.002);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM timers WHERE ticket_id = %lld AND kind = 'promise'",
                              (long long)id), 1);
    json_t *ev = NULL;
    assert_int_equal(h_count_events(H, id, "planned", &ev), 2);
    h_assert_str(ev, "plan.solution", "更换设备");
    h_assert_str(ev, "actor.name", H->k.agent_name[1]);

    /* waiting for the customer the assignee may promise again */
    h_action_ok(H, H->k.agent[1], id, "wait", h_reason("等客户在家"));
    h_action_ok(H, H->k.agent[1], id, "plan", plan_body("周末上门", in_seconds(86400)));
}

static void plan_is_the_assignees_and_checked(void **state)
{
    (void)state;
    json_int_t id = acknowledged();
    const char *at = in_seconds(3600);
    /* only agents promise; of them only the assignee */
    h_expect_error(h_action(H, H->k.manager, id, "plan", plan_body("s", at)), 403, "forbidden");
    h_expect_error(h_action(H, H->k.frontdesk, id, "plan", plan_body("s", at)), 403, "forbidden");
    h_expect_error(h_action(H, H->k.agent[2], id, "plan", plan_body("s", at)), 403, "forbidden");
    /* not before it is taken */
    json_int_t waiting = h_new_ticket(H, NULL, NULL, NULL);
    h_expect_error(h_action(H, H->k.agent[1], waiting, "plan", plan_body("s", at)), 409,
                   "invalid_transition");
    /* the body */
    h_expect_error_field(h_action(H, H->k.agent[1], id, "plan", NULL), 400, "validation_failed",
                         "plan");
    h_expect_error_field(h_action(H, H->k.agent[1], id, "plan", plan_body("s", "tomorrow")), 400,
                         "validation_failed", "plan.promised_at");
    h_expect_error_field(h_action(H, H->k.agent[1], id, "plan", plan_body("s", in_seconds(-60))),
                         400, "validation_failed", "plan.promised_at");
    h_expect_error_field(h_action(H, H->k.agent[1], id, "plan",
                                  plan_body("s", in_seconds(91.0 * 86400))),
                         400, "validation_failed", "plan.promised_at");
    h_expect_error_field(h_action(H, H->k.agent[1], id, "plan", plan_body("", at)), 400,
                         "validation_failed", "plan.solution");
    /* nothing of the refused requests stuck */
    assert_true(h_isnull(h_get_ticket(H, NULL, id), "plan"));
    assert_int_equal(h_count_events(H, id, "planned", NULL), 0);
    assert_true(promise_timer(id) < 0);
    /* acknowledge with a plan in the past changes nothing either */
    h_expect_error_field(h_action(H, H->k.agent[1], waiting, "acknowledge",
                                  plan_body("s", in_seconds(-1))),
                         400, "validation_failed", "plan.promised_at");
    h_assert_str(h_get_ticket(H, NULL, waiting), "state", "awaiting_ack");
}

static void a_change_of_tier_ends_the_promise_unless_it_brings_one(void **state)
{
    (void)state;
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    h_action_ok(H, H->k.agent[1], id, "acknowledge", plan_body("一线处理", in_seconds(3600)));
    /* escalated with a plan: the new promise, at the new tier */
    const char *at2 = in_seconds(2 * 86400);
    json_t *t = h_action_ok(H, H->k.agent[1], id, "escalate",
                            json_pack("{s:s, s:{s:s, s:s}}", "reason", "需要二线", "plan",
                                      "solution", "二线工程师上门", "promised_at", at2));
    h_assert_str(t, "plan.promised_at", at2);
    h_assert_str(t, "plan.tier", "line-2");
    assert_true(fabs(promise_timer(id) - h_ts_epoch(at2)) < 0.002);
    json_t *ev = NULL;
    h_count_events(H, id, "escalated", &ev);
    h_assert_str(ev, "plan.solution", "二线工程师上门");
    /* line-2 promises, then escalates without a plan: no promise in force */
    h_action_ok(H, H->k.agent[2], id, "acknowledge", plan_body("二线方案", in_seconds(86400)));
    t = h_action_ok(H, H->k.agent[2], id, "escalate", h_reason("需要三线"));
    assert_true(h_isnull(t, "plan"));
    assert_true(promise_timer(id) < 0);
    /* a return ends line-3's promise as well */
    h_action_ok(H, H->k.agent[3], id, "acknowledge", plan_body("三线方案", in_seconds(86400)));
    t = h_action_ok(H, H->k.agent[3], id, "return", h_reason("二线可处理"));
    assert_true(h_isnull(t, "plan"));
    assert_true(promise_timer(id) < 0);
}

static void resolving_keeps_the_promise_and_stops_its_timer(void **state)
{
    (void)state;
    json_int_t id = acknowledged();
    const char *at = in_seconds(1.5);
    h_action_ok(H, H->k.agent[1], id, "plan", plan_body("马上处理", at));
    json_t *t = h_action_ok(H, H->k.agent[1], id, "resolve", h_resolve_body("operations"));
    h_assert_str(t, "plan.promised_at", at);
    assert_true(promise_timer(id) < 0);
    /* the promised time passes: no breach, the promise was kept */
    h_sleep_until_wall(h_ts_epoch(at) + 1.5);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM breaches WHERE ticket_id = %lld",
                              (long long)id), 0);
    /* a reopen leaves no promise in force: the tier promises anew */
    t = h_action_ok(H, H->k.frontdesk, id, "reopen", h_reason("客户说没好"));
    assert_true(h_isnull(t, "plan"));
}

static void a_missed_promise_is_breached_once_with_a_notification(void **state)
{
    (void)state;
    json_int_t id = acknowledged();
    const char *at = in_seconds(1.5);
    h_action_ok(H, H->k.agent[1], id, "plan", plan_body("半小时内回电", at));
    h_wait_breaches(H, id, "promise", 10);
    double detected = h_sql_d(H, "SELECT extract(epoch FROM detected_at) FROM breaches "
                                 "WHERE ticket_id = %lld AND kind = 'promise'", (long long)id);
    /* at the promised time, not before (the engine's lateness is well
     * under a second on an idle machine) */
    assert_true(detected >= h_ts_epoch(at));
    assert_true(detected - h_ts_epoch(at) < 2.0);
    h_resp *kr = h_req(H, "GET", h_fmt(H, "/v1/breaches?kind=promise&ticket=%lld", (long long)id),
                       H->k.manager, NULL);
    h_expect_status(kr, 200);
    assert_int_equal(json_array_size(h_get(kr->json, "items")), 1);
    json_t *b = h_breaches_of(H, id);
    assert_int_equal(json_array_size(b), 1);
    h_assert_str(json_array_get(b, 0), "kind", "promise");
    h_assert_str(json_array_get(b, 0), "due_at", at);
    h_assert_str(json_array_get(b, 0), "tier", "line-1");
    h_assert_int(json_array_get(b, 0), "assignee.id", H->k.agent_id[1]);
    json_t *t = h_get_ticket(H, NULL, id);
    h_assert_str(t, "breaches.0", "promise");
    json_t *ev = NULL;
    assert_int_equal(h_count_events(H, id, "breached", &ev), 1);
    h_assert_str(ev, "kind", "promise");
    /* the outbox row the webhooks deliver: type breached, kind promise */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications WHERE ticket_id = %lld "
                                 "AND type = 'breached' AND payload->>'kind' = 'promise' "
                                 "AND payload->>'due_at' = '%s'", (long long)id, at), 1);
    /* exactly once: the timer is gone, nothing more fires */
    assert_true(promise_timer(id) < 0);
    h_sleep(1.5);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM breaches WHERE ticket_id = %lld",
                              (long long)id), 1);
    /* a new promise after the missed one can be missed again */
    h_action_ok(H, H->k.agent[1], id, "plan", plan_body("今天下班前", in_seconds(1)));
    h_wait_sql_count(H, 2, 10, "SELECT count(*) FROM breaches WHERE ticket_id = %lld AND kind = 'promise'",
                     (long long)id);
    assert_int_equal(h_count_events(H, id, "breached", NULL), 2);
}

#define PHONE "13812345678"
#define PHONE_MASKED "138****5678"

static void the_solution_is_masked_and_revealed(void **state)
{
    (void)state;
    h_probe_install(H);
    json_int_t id = acknowledged();
    const char *solution = "回电客户 " PHONE " 约时间上门";
    json_t *t = h_action_ok(H, H->k.agent[1], id, "plan", plan_body(solution, in_seconds(3600)));
    h_assert_str(t, "plan.solution", "回电客户 " PHONE_MASKED " 约时间上门");
    json_t *ev = NULL;
    h_count_events(H, id, "planned", &ev);
    h_assert_str(ev, "plan.solution", "回电客户 " PHONE_MASKED " 约时间上门");
    const char *hits = h_probe_clear(H, PHONE);
    assert_non_null(hits);
    if (*hits)
        fail_msg("'%s' is stored in clear in: %s", PHONE, hits);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id), H->k.manager,
                      NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "free_text_events.0.solution", solution);
}

static int setup(void **state)
{
    (void)state;
    H = h_start("test_promise", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acknowledge_with_a_plan_sets_the_promise_and_its_timer),
        cmocka_unit_test(plan_replaces_the_promise_and_is_recorded),
        cmocka_unit_test(plan_is_the_assignees_and_checked),
        cmocka_unit_test(a_change_of_tier_ends_the_promise_unless_it_brings_one),
        cmocka_unit_test(resolving_keeps_the_promise_and_stops_its_timer),
        cmocka_unit_test(a_missed_promise_is_breached_once_with_a_notification),
        cmocka_unit_test(the_solution_is_masked_and_revealed),
    };
    return h_run_group_tests(tests, setup, teardown);
}
