/* test_api_fsm.c — the state machine of SPEC section 3 over HTTP: the whole
 * life of a ticket through the three tiers, the history it leaves, invalid
 * transitions, who may act, If-Match, and concurrent actions. */
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;
static const char *AGENT2B; /* a second line-2 agent */
static const char *AGENT1B; /* a second line-1 agent */

static int setup(void **state)
{
    (void)state;
    H = h_start("test_api_fsm", NULL);
    AGENT2B = h_key(H, "agent", 2, "Agent Two B");
    AGENT1B = h_key(H, "agent", 1, "Agent One B");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

static json_int_t new_ticket(const char *severity) { return h_new_ticket(H, NULL, severity, NULL); }

static json_int_t version_of(json_int_t id) { return h_int(h_get_ticket(H, NULL, id), "version"); }

static size_t event_count(json_int_t id) { return json_array_size(h_events(H, id)); }

/* Version strictly increases with every change. */
static json_int_t step(json_int_t *ver, json_t *t)
{
    json_int_t v = h_int(t, "version");
    assert_true(v > *ver);
    *ver = v;
    return v;
}

static int is_core_event(const char *type)
{
    static const char *skip[] = {"breached", "at_risk", "notified", "customer_revealed"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (strcmp(type, skip[i]) == 0)
            return 0;
    return 1;
}

/* The default calendar: Asia/Shanghai (UTC+8, no DST), Mon-Fri 09:00-18:30, no
 * holidays.  The callback is due at 18:30 local (10:30Z) on the 3rd working
 * day after the local day of the resolution. */
static void check_callback_due(json_t *t)
{
    double resolved = h_ts_epoch(h_str(t, "resolved_at"));
    long day = (long)((resolved + 8 * 3600) / 86400); /* local day number */
    int worked = 0;
    while (worked < 3) {
        day++;
        int wd = (int)((day + 4) % 7); /* 0 = Sunday (1970-01-01 was a Thursday) */
        if (wd >= 1 && wd <= 5)
            worked++;
    }
    double want = (double)day * 86400 + 18.5 * 3600 - 8 * 3600;
    double got = h_ts_epoch(h_str(t, "callback_due_at"));
    if (got != want) {
        print_error("callback_due_at %s, expected %.0f s after the epoch (resolved_at %s)\n",
                    h_str(t, "callback_due_at"), want, h_str(t, "resolved_at"));
        fail();
    }
}

/* The timers table agrees with the live deadlines on every ticket. */
static void check_timers_agree(void)
{
    const char *n = h_sql_value(H,
        "SELECT count(*) FROM tickets t WHERE "
        " t.ack_due_at IS DISTINCT FROM (SELECT due_at FROM timers WHERE ticket_id = t.id AND kind = 'ack') OR "
        " t.resolve_due_at IS DISTINCT FROM (SELECT due_at FROM timers WHERE ticket_id = t.id AND kind = 'resolve') OR "
        " t.callback_due_at IS DISTINCT FROM (SELECT due_at FROM timers WHERE ticket_id = t.id AND kind = 'callback')");
    assert_non_null(n);
    if (strcmp(n, "0") != 0) {
        print_error("%s ticket(s) whose deadlines disagree with the timers table\n", n);
        fail();
    }
}

static void a_ticket_through_three_tiers_and_back_leaves_its_history_and_deadlines_right(void **state)
{
    (void)state;
    const char *A1 = H->k.agent[1], *A2 = H->k.agent[2], *A3 = H->k.agent[3];
    json_t *t = h_create_ticket(H, H->k.frontdesk,
                                json_pack("{s:s, s:s, s:s}", "subject", "路由器反复重启",
                                          "severity", "normal", "category", "skill"));
    json_int_t id = h_int(t, "id");
    json_int_t ver = h_int(t, "version");

    /* line-1 acknowledges */
    t = h_action_ok(H, A1, id, "acknowledge", NULL);
    step(&ver, t);
    h_assert_str(t, "state", "acknowledged");
    h_assert_str(t, "tier", "line-1");
    h_assert_int(t, "assignee.id", H->k.agent_id[1]);
    h_assert_str(t, "assignee.name", H->k.agent_name[1]);
    h_assert_null(t, "ack_due_at");
    h_assert_ts(t, "acknowledged_at");
    h_assert_ts(t, "resolve_due_at");
    const char *resolve_due0 = h_str(t, "resolve_due_at");
    double rdue0 = h_ts_epoch(resolve_due0);

    /* line-1 escalates to line-2 */
    t = h_action_ok(H, A1, id, "escalate", h_reason("not a customer-side problem"));
    step(&ver, t);
    h_assert_str(t, "tier", "line-2");
    h_assert_str(t, "state", "awaiting_ack");
    h_assert_null(t, "assignee");
    h_assert_ts(t, "ack_due_at");
    /* the resolve clock keeps running across hand-offs */
    assert_true(fabs(h_ts_epoch(h_str(t, "resolve_due_at")) - rdue0) < 0.01);

    /* a line-1 agent cannot acknowledge at line-2 */
    h_resp *r = h_action(H, A1, id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    t = h_action_ok(H, A2, id, "acknowledge", NULL);
    step(&ver, t);
    h_assert_str(t, "state", "acknowledged");
    h_assert_int(t, "assignee.id", H->k.agent_id[2]);

    /* line-2 escalates a product defect to line-3 */
    t = h_action_ok(H, A2, id, "escalate", h_reason("firmware defect"));
    step(&ver, t);
    h_assert_str(t, "tier", "line-3");
    h_assert_str(t, "state", "awaiting_ack");
    h_assert_null(t, "assignee");
    t = h_action_ok(H, A3, id, "acknowledge", NULL);
    step(&ver, t);
    h_assert_int(t, "assignee.id", H->k.agent_id[3]);

    /* line-3 sends it back: assignee = the last line-2 assignee */
    t = h_action_ok(H, A3, id, "return", h_reason("not ours: configuration"));
    step(&ver, t);
    h_assert_str(t, "tier", "line-2");
    h_assert_str(t, "state", "awaiting_ack");
    h_assert_int(t, "assignee.id", H->k.agent_id[2]);
    h_assert_str(t, "assignee.name", H->k.agent_name[2]);
    h_assert_ts(t, "ack_due_at");
    t = h_action_ok(H, A2, id, "acknowledge", NULL);
    step(&ver, t);
    h_assert_int(t, "assignee.id", H->k.agent_id[2]);
    h_assert_null(t, "ack_due_at");

    /* wait for the customer: the resolve clock pauses */
    t = h_action_ok(H, A2, id, "wait", h_reason("需要客户提供路由器型号"));
    step(&ver, t);
    h_assert_str(t, "state", "waiting_customer");
    h_assert_null(t, "resolve_due_at");
    check_timers_agree();
    h_sleep(1.5);
    t = h_action_ok(H, A2, id, "resume", NULL);
    step(&ver, t);
    h_assert_str(t, "state", "acknowledged");
    h_assert_ts(t, "resolve_due_at");
    double moved = h_ts_epoch(h_str(t, "resolve_due_at")) - rdue0;
    if (!(moved >= 1.4 && moved < 5.0)) {
        print_error("resolve_due_at moved by %.3f s after a 1.5 s pause\n", moved);
        fail();
    }
    double rdue1 = h_ts_epoch(h_str(t, "resolve_due_at"));
    check_timers_agree();

    /* resolve */
    t = h_action_ok(H, A2, id, "resolve",
                    json_pack("{s:s, s:s}", "resolution", "重置了配置", "root_cause", "operations"));
    step(&ver, t);
    h_assert_str(t, "state", "resolved");
    h_assert_str(t, "tier", "line-2");
    h_assert_str(t, "resolution", "重置了配置");
    h_assert_str(t, "root_cause", "operations");
    h_assert_ts(t, "resolved_at");
    h_assert_ts(t, "callback_due_at");
    h_assert_null(t, "resolve_due_at");
    assert_true(h_ts_diff(h_str(t, "resolved_at"), h_str(t, "callback_due_at")) > 0);
    check_callback_due(t);
    check_timers_agree();
    (void)rdue1;

    /* unsatisfied: reopen goes back to the resolver's tier and person */
    t = h_action_ok(H, H->k.frontdesk, id, "reopen", h_reason("客户仍无法上网"));
    step(&ver, t);
    h_assert_str(t, "state", "awaiting_ack");
    h_assert_str(t, "tier", "line-2");
    h_assert_int(t, "assignee.id", H->k.agent_id[2]);
    h_assert_ts(t, "ack_due_at");
    h_assert_ts(t, "resolve_due_at");
    h_assert_null(t, "callback_due_at");
    /* a fresh resolve window from the reopening */
    {
        json_t *evs = h_events(H, id);
        const char *reopened_at = h_str(json_array_get(evs, json_array_size(evs) - 1), "at");
        double win = h_ts_diff(reopened_at, h_str(t, "resolve_due_at"));
        if (fabs(win - 86400) > 1.0) {
            print_error("after reopen resolve_due_at is %.3f s after the reopening, expected 86400\n", win);
            fail();
        }
        win = h_ts_diff(reopened_at, h_str(t, "ack_due_at"));
        assert_true(fabs(win - 600) < 1.0);
    }
    check_timers_agree();
    t = h_action_ok(H, A2, id, "acknowledge", NULL);
    step(&ver, t);
    t = h_action_ok(H, A2, id, "resolve",
                    json_pack("{s:s, s:s}", "resolution", "更换了路由器", "root_cause", "product_defect"));
    step(&ver, t);
    h_assert_str(t, "root_cause", "product_defect");

    /* close with satisfaction */
    t = h_action_ok(H, H->k.frontdesk, id, "close",
                    json_pack("{s:{s:s, s:i, s:s}}", "satisfaction", "result", "satisfied", "score", 5,
                              "feedback", "很满意"));
    step(&ver, t);
    h_assert_str(t, "state", "closed");
    h_assert_ts(t, "closed_at");
    h_assert_null(t, "callback_due_at");
    h_assert_null(t, "ack_due_at");
    h_assert_null(t, "resolve_due_at");
    h_assert_str(t, "satisfaction.result", "satisfied");
    h_assert_int(t, "satisfaction.score", 5);
    h_assert_str(t, "satisfaction.feedback", "很满意");

    check_timers_agree();
    /* GET agrees */
    json_t *g = h_get_ticket(H, NULL, id);
    h_assert_int(g, "version", ver);
    h_assert_str(g, "state", "closed");

    /* the history, in order, with actors and reasons */
    struct {
        const char *type;
        int64_t actor;
        const char *from_tier, *to_tier, *from_state, *to_state, *reason;
    } want[] = {
        {"created", H->k.frontdesk_id, NULL, "line-1", NULL, "awaiting_ack", NULL},
        {"acknowledged", H->k.agent_id[1], NULL, NULL, "awaiting_ack", "acknowledged", NULL},
        {"escalated", H->k.agent_id[1], "line-1", "line-2", "acknowledged", "awaiting_ack",
         "not a customer-side problem"},
        {"acknowledged", H->k.agent_id[2], NULL, NULL, "awaiting_ack", "acknowledged", NULL},
        {"escalated", H->k.agent_id[2], "line-2", "line-3", "acknowledged", "awaiting_ack",
         "firmware defect"},
        {"acknowledged", H->k.agent_id[3], NULL, NULL, "awaiting_ack", "acknowledged", NULL},
        {"returned", H->k.agent_id[3], "line-3", "line-2", "acknowledged", "awaiting_ack",
         "not ours: configuration"},
        {"acknowledged", H->k.agent_id[2], NULL, NULL, "awaiting_ack", "acknowledged", NULL},
        {"waiting", H->k.agent_id[2], NULL, NULL, "acknowledged", "waiting_customer",
         "需要客户提供路由器型号"},
        {"resumed", H->k.agent_id[2], NULL, NULL, "waiting_customer", "acknowledged", NULL},
        {"resolved", H->k.agent_id[2], NULL, NULL, "acknowledged", "resolved", NULL},
        {"reopened", H->k.frontdesk_id, NULL, NULL, "resolved", "awaiting_ack", "客户仍无法上网"},
        {"acknowledged", H->k.agent_id[2], NULL, NULL, "awaiting_ack", "acknowledged", NULL},
        {"resolved", H->k.agent_id[2], NULL, NULL, "acknowledged", "resolved", NULL},
        {"closed", H->k.frontdesk_id, NULL, NULL, "resolved", "closed", NULL},
    };
    size_t nwant = sizeof want / sizeof *want;
    json_t *ev = h_events(H, id);
    size_t k = 0;
    json_int_t last_id = 0;
    double last_at = 0;
    json_t *e;
    size_t i;
    json_array_foreach(ev, i, e) {
        const char *type = h_str(e, "type");
        assert_non_null(type);
        assert_true(h_int(e, "id") > last_id);
        last_id = h_int(e, "id");
        h_assert_ts(e, "at");
        assert_true(h_ts_epoch(h_str(e, "at")) >= last_at);
        last_at = h_ts_epoch(h_str(e, "at"));
        if (!is_core_event(type))
            continue;
        if (k >= nwant) {
            print_error("unexpected extra event %s\n", type);
            fail();
        }
        if (strcmp(type, want[k].type) != 0) {
            print_error("event %zu: expected %s, got %s\n", k, want[k].type, type);
            fail();
        }
        h_assert_int(e, "actor.id", want[k].actor);
        assert_non_null(h_str(e, "actor.name"));
        assert_non_null(h_str(e, "actor.role"));
        if (want[k].from_tier)
            h_assert_str(e, "from_tier", want[k].from_tier);
        if (want[k].to_tier)
            h_assert_str(e, "to_tier", want[k].to_tier);
        if (want[k].from_state)
            h_assert_str(e, "from_state", want[k].from_state);
        if (want[k].to_state)
            h_assert_str(e, "to_state", want[k].to_state);
        if (want[k].reason)
            h_assert_str(e, "reason", want[k].reason);
        if (strcmp(type, "resolved") == 0)
            assert_non_null(h_str(e, "root_cause"));
        if (strcmp(type, "closed") == 0)
            h_assert_str(e, "satisfaction.result", "satisfied");
        k++;
    }
    assert_int_equal(k, nwant);
    /* the actor of the first escalation is line-1's agent, with role */
    e = NULL;
    json_array_foreach(ev, i, e) if (strcmp(h_str(e, "type"), "escalated") == 0) break;
    h_assert_str(e, "actor.role", "agent");
    h_assert_str(e, "actor.name", H->k.agent_name[1]);

    /* a closed ticket takes nothing more, not even comments */
    size_t n_ev = json_array_size(ev);
    r = h_action(H, H->k.frontdesk, id, "comment", json_pack("{s:s}", "body", "late"));
    h_expect_error(r, 409, "invalid_transition");
    r = h_action(H, H->k.frontdesk, id, "reopen", h_reason("again"));
    h_expect_error(r, 409, "invalid_transition");
    assert_int_equal(version_of(id), ver);
    assert_int_equal(event_count(id), n_ev);
}

/* Try an action that must be refused with 409 and change nothing. */
static void expect_invalid(json_int_t id, const char *token, const char *action, json_t *body)
{
    json_int_t v = version_of(id);
    size_t n = event_count(id);
    h_resp *r = h_action(H, token, id, action, body);
    if (r->status != 409)
        print_error("action %s\n", action);
    h_expect_error(r, 409, "invalid_transition");
    assert_int_equal(version_of(id), v);
    assert_int_equal(event_count(id), n);
}

static json_t *resolve_body(void) { return h_resolve_body("customer_side"); }
static json_t *close_body(void) { return h_close_body("unsatisfied", 0); }

static void an_action_not_allowed_in_the_state_is_409_and_changes_nothing(void **state)
{
    (void)state;
    const char *M = H->k.manager;
    /* awaiting_ack at line-1 */
    json_int_t id = new_ticket(NULL);
    expect_invalid(id, M, "escalate", h_reason("r"));
    expect_invalid(id, M, "return", h_reason("r"));
    expect_invalid(id, M, "wait", h_reason("r"));
    expect_invalid(id, M, "resume", NULL);
    expect_invalid(id, M, "resolve", resolve_body());
    expect_invalid(id, M, "close", close_body());
    expect_invalid(id, M, "reopen", h_reason("r"));

    /* acknowledged at line-1: no return below line-1, no second ack */
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    expect_invalid(id, M, "return", h_reason("r"));
    expect_invalid(id, H->k.agent[1], "return", h_reason("r"));
    expect_invalid(id, H->k.agent[1], "acknowledge", NULL);
    expect_invalid(id, M, "resume", NULL);
    expect_invalid(id, M, "close", close_body());
    expect_invalid(id, M, "reopen", h_reason("r"));

    /* waiting_customer */
    h_action_ok(H, H->k.agent[1], id, "wait", h_reason("w"));
    expect_invalid(id, M, "wait", h_reason("r"));
    expect_invalid(id, M, "escalate", h_reason("r"));
    expect_invalid(id, M, "return", h_reason("r"));
    expect_invalid(id, H->k.agent[1], "acknowledge", NULL);
    expect_invalid(id, M, "close", close_body());
    /* resolve straight from waiting_customer is allowed */
    json_t *t = h_action_ok(H, H->k.agent[1], id, "resolve", resolve_body());
    h_assert_str(t, "state", "resolved");
    h_assert_str(t, "root_cause", "customer_side");

    /* resolved */
    expect_invalid(id, M, "resolve", resolve_body());
    expect_invalid(id, M, "escalate", h_reason("r"));
    expect_invalid(id, M, "wait", h_reason("r"));
    expect_invalid(id, M, "resume", NULL);
    expect_invalid(id, H->k.agent[1], "acknowledge", NULL);

    /* closed (by a line-1 agent, which may close) */
    t = h_action_ok(H, H->k.agent[1], id, "close", close_body());
    h_assert_str(t, "state", "closed");
    h_assert_str(t, "satisfaction.result", "unsatisfied");
    h_assert_null(t, "satisfaction.score");
    h_assert_null(t, "satisfaction.feedback");
    expect_invalid(id, M, "close", close_body());
    expect_invalid(id, M, "reopen", h_reason("r"));
    expect_invalid(id, M, "comment", json_pack("{s:s}", "body", "b"));
    expect_invalid(id, M, "resolve", resolve_body());

    /* line-3: no escalation above it */
    id = new_ticket(NULL);
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_action_ok(H, M, id, "escalate", h_reason("to 2"));
    h_action_ok(H, H->k.agent[2], id, "acknowledge", NULL);
    h_action_ok(H, M, id, "escalate", h_reason("to 3"));
    h_action_ok(H, H->k.agent[3], id, "acknowledge", NULL);
    expect_invalid(id, M, "escalate", h_reason("to 4?"));
    expect_invalid(id, H->k.agent[3], "escalate", h_reason("to 4?"));
}

static void only_the_assignee_the_tiers_agents_or_a_manager_may_act_checked_in_order(void **state)
{
    (void)state;
    const char *A1 = H->k.agent[1], *A2 = H->k.agent[2], *A3 = H->k.agent[3];
    json_int_t id = new_ticket(NULL);
    json_int_t v = version_of(id);
    h_resp *r;
    /* roles that can never acknowledge */
    r = h_action(H, H->k.frontdesk, id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_action(H, H->k.manager, id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    /* the wrong tier */
    r = h_action(H, A2, id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_action(H, A3, id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    assert_int_equal(version_of(id), v);
    json_t *t = h_action_ok(H, A1, id, "acknowledge", NULL);
    assert_true(h_int(t, "version") > v);

    /* not the assignee: another line-1 agent, a line-2 agent, frontdesk */
    v = version_of(id);
    const char *others[] = {AGENT1B, A2};
    const char *acts[] = {"escalate", "wait", "resolve"};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 3; j++) {
            json_t *b = strcmp(acts[j], "resolve") == 0 ? resolve_body() : h_reason("x");
            r = h_action(H, others[i], id, acts[j], b);
            h_expect_error(r, 403, "forbidden");
        }
    }
    r = h_action(H, H->k.frontdesk, id, "escalate", h_reason("x"));
    h_expect_error(r, 403, "forbidden");
    assert_int_equal(version_of(id), v);

    /* the manager may act for the assignee (and admin as a manager) */
    t = h_action_ok(H, H->k.manager, id, "wait", h_reason("manager parks it"));
    h_assert_str(t, "state", "waiting_customer");
    r = h_action(H, AGENT1B, id, "resume", NULL);
    h_expect_error(r, 403, "forbidden");
    t = h_action_ok(H, H->k.admin, id, "resume", NULL);
    h_assert_str(t, "state", "acknowledged");
    t = h_action_ok(H, H->k.manager, id, "escalate", h_reason("manager escalates"));
    h_assert_str(t, "tier", "line-2");
    t = h_action_ok(H, AGENT2B, id, "acknowledge", NULL);
    h_assert_str(t, "assignee.name", "Agent Two B");
    /* the other line-2 agent is not the assignee */
    r = h_action(H, A2, id, "return", h_reason("x"));
    h_expect_error(r, 403, "forbidden");
    t = h_action_ok(H, AGENT2B, id, "return", h_reason("customer-side"));
    h_assert_str(t, "tier", "line-1");
    h_assert_int(t, "assignee.id", H->k.agent_id[1]);

    /* close/reopen: frontdesk, line-1 agent, manager — not line-2/3 agents */
    t = h_action_ok(H, A1, id, "acknowledge", NULL);
    t = h_action_ok(H, A1, id, "resolve", resolve_body());
    r = h_action(H, A2, id, "close", close_body());
    h_expect_error(r, 403, "forbidden");
    r = h_action(H, A3, id, "reopen", h_reason("x"));
    h_expect_error(r, 403, "forbidden");
    t = h_action_ok(H, AGENT1B, id, "reopen", h_reason("line-1 agent reopens"));
    h_assert_str(t, "tier", "line-1");
    h_assert_int(t, "assignee.id", H->k.agent_id[1]); /* the resolver */
    h_action_ok(H, A1, id, "acknowledge", NULL);
    h_action_ok(H, A1, id, "resolve", resolve_body());
    t = h_action_ok(H, H->k.manager, id, "close", close_body());
    h_assert_str(t, "state", "closed");

    /* role checks come before existence (decisions.md order of checks) */
    r = h_action(H, H->k.frontdesk, 987654321, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_action(H, H->k.manager, 987654321, "escalate", h_reason("x"));
    h_expect_error(r, 404, "not_found");
    /* state (409) before person (403): a line-2 agent acknowledging an
     * already acknowledged line-1 ticket */
    id = new_ticket(NULL);
    h_action_ok(H, A1, id, "acknowledge", NULL);
    r = h_action(H, A2, id, "acknowledge", NULL);
    h_expect_error(r, 409, "invalid_transition");
    /* body (400) before state (409) */
    r = h_action(H, H->k.manager, id, "close", json_pack("{s:s}", "bogus", "x"));
    h_expect_error(r, 400, "validation_failed");
}

static void if_match_refuses_stale_versions_with_412_checked_after_400_and_before_409(void **state)
{
    (void)state;
    json_int_t id = new_ticket(NULL);
    json_int_t v = version_of(id);
    h_resp *r;
    /* stale */
    r = h_action_if(H, H->k.agent[1], id, "acknowledge", NULL, h_fmt(H, "\"%lld\"", (long long)v + 7));
    h_expect_error(r, 412, "version_mismatch");
    assert_int_equal(version_of(id), v);
    /* current: quoted */
    r = h_action_if(H, H->k.agent[1], id, "acknowledge", NULL, h_fmt(H, "\"%lld\"", (long long)v));
    h_expect_status(r, 200);
    assert_string_equal(h_header(r, "ETag"), h_fmt(H, "\"%lld\"", (long long)h_int(r->json, "version")));
    v = h_int(r->json, "version");
    /* unquoted and weak forms are accepted */
    r = h_action_if(H, H->k.agent[1], id, "wait", h_reason("w"), h_fmt(H, "%lld", (long long)v));
    h_expect_status(r, 200);
    v = h_int(r->json, "version");
    r = h_action_if(H, H->k.agent[1], id, "resume", NULL, h_fmt(H, "W/\"%lld\"", (long long)v));
    h_expect_status(r, 200);
    v = h_int(r->json, "version");
    /* the previous version is now stale */
    r = h_action_if(H, H->k.agent[1], id, "escalate", h_reason("x"), h_fmt(H, "\"%lld\"", (long long)v - 1));
    h_expect_error(r, 412, "version_mismatch");
    /* malformed */
    r = h_action_if(H, H->k.agent[1], id, "escalate", h_reason("x"), "\"abc\"");
    h_expect_error_field(r, 400, "validation_failed", "If-Match");
    assert_int_equal(version_of(id), v);
    /* 412 is checked before 409: a stale If-Match on an impossible action */
    r = h_action_if(H, H->k.agent[1], id, "close", close_body(), h_fmt(H, "\"%lld\"", (long long)v - 1));
    h_expect_error(r, 412, "version_mismatch");
    /* with the right version the impossible action is 409 */
    r = h_action_if(H, H->k.agent[1], id, "close", close_body(), h_fmt(H, "\"%lld\"", (long long)v));
    h_expect_error(r, 409, "invalid_transition");
    /* 400 before 412 */
    r = h_action_if(H, H->k.agent[1], id, "escalate", json_object(), h_fmt(H, "\"%lld\"", (long long)v - 1));
    h_expect_error_field(r, 400, "validation_failed", "reason");
    assert_int_equal(version_of(id), v);
}

struct racer {
    const char *token, *action, *body, *if_match;
    json_int_t id;
    long status;
    const char *code;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    const char *path = h_fmt(H, "/v1/tickets/%lld/%s", (long long)rc->id, rc->action);
    h_resp *r = rc->if_match ? h_req(H, "POST", path, rc->token, rc->body, rc->if_match)
                             : h_req(H, "POST", path, rc->token, rc->body);
    rc->status = r->status;
    rc->code = h_str(r->json, "error.code");
    return NULL;
}

/* a and b at once; the results land back in them */
static void run_race(struct racer *a, struct racer *b)
{
    struct racer both[2] = {*a, *b};
    h_race(2, race, both, sizeof both[0]);
    *a = both[0];
    *b = both[1];
}

static void check_one_winner(struct racer *a, struct racer *b, json_int_t id, json_int_t v0)
{
    int ok = (a->status == 200) + (b->status == 200);
    int lost = (a->status == 409 || a->status == 412) + (b->status == 409 || b->status == 412);
    if (ok != 1 || lost != 1) {
        print_error("race on %s: got %ld (%s) and %ld (%s)\n", a->action, a->status,
                    a->code ? a->code : "-", b->status, b->code ? b->code : "-");
        fail();
    }
    /* exactly one change happened */
    json_int_t v1 = version_of(id);
    assert_true(v1 > v0);
}

static void two_actions_at_once_on_one_ticket_have_exactly_one_winner(void **state)
{
    (void)state;
    for (int round = 0; round < 10; round++) {
        /* two line-1 agents acknowledge the same ticket */
        json_int_t id = new_ticket(NULL);
        json_int_t v0 = version_of(id);
        struct racer a = {H->k.agent[1], "acknowledge", "{}", NULL, id, 0, NULL};
        struct racer b = {AGENT1B, "acknowledge", "{}", NULL, id, 0, NULL};
        run_race(&a, &b);
        check_one_winner(&a, &b, id, v0);
        json_t *t = h_get_ticket(H, NULL, id);
        json_int_t winner = a.status == 200 ? H->k.agent_id[1]
                                            : h_principal_by_token(H, AGENT1B)->id;
        h_assert_int(t, "assignee.id", winner);
        assert_int_equal(h_count_events(H, id, "acknowledged", NULL), 1);

        /* assignee and manager escalate at once */
        const char *tok = a.status == 200 ? H->k.agent[1] : AGENT1B;
        v0 = version_of(id);
        struct racer c = {tok, "escalate", "{\"reason\": \"a\"}", NULL, id, 0, NULL};
        struct racer d = {H->k.manager, "escalate", "{\"reason\": \"b\"}", NULL, id, 0, NULL};
        run_race(&c, &d);
        check_one_winner(&c, &d, id, v0);
        t = h_get_ticket(H, NULL, id);
        h_assert_str(t, "tier", "line-2");

        /* two different actions with the same If-Match: one 200, one 412 */
        h_action_ok(H, H->k.agent[2], id, "acknowledge", NULL);
        v0 = version_of(id);
        const char *im = h_fmt(H, "If-Match: \"%lld\"", (long long)v0);
        struct racer e1 = {H->k.agent[2], "wait", "{\"reason\": \"w\"}", im, id, 0, NULL};
        struct racer e2 = {H->k.manager, "escalate", "{\"reason\": \"e\"}", im, id, 0, NULL};
        run_race(&e1, &e2);
        check_one_winner(&e1, &e2, id, v0);
        t = h_get_ticket(H, NULL, id);
        const char *st = h_str(t, "state");
        if (e1.status == 200)
            assert_string_equal(st, "waiting_customer");
        else
            assert_string_equal(h_str(t, "tier"), "line-3");
    }
}

static void an_unknown_action_is_404_and_get_on_an_action_is_405(void **state)
{
    (void)state;
    json_int_t id = new_ticket(NULL);
    h_resp *r = h_action(H, H->k.manager, id, "teleport", NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/acknowledge", (long long)id), H->k.agent[1], NULL);
    h_expect_error(r, 405, "method_not_allowed");
    const char *allow = h_header(r, "Allow");
    assert_non_null(allow);
    assert_non_null(strstr(allow, "POST"));
    /* acknowledge takes an empty body as well as {} */
    r = h_req(H, "POST", h_fmt(H, "/v1/tickets/%lld/acknowledge", (long long)id), H->k.agent[1], NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "state", "acknowledged");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_ticket_through_three_tiers_and_back_leaves_its_history_and_deadlines_right),
        cmocka_unit_test(an_action_not_allowed_in_the_state_is_409_and_changes_nothing),
        cmocka_unit_test(only_the_assignee_the_tiers_agents_or_a_manager_may_act_checked_in_order),
        cmocka_unit_test(if_match_refuses_stale_versions_with_412_checked_after_400_and_before_409),
        cmocka_unit_test(two_actions_at_once_on_one_ticket_have_exactly_one_winner),
        cmocka_unit_test(an_unknown_action_is_404_and_get_on_an_action_is_405),
    };
    return h_run_group_tests(tests, setup, teardown);
}
