/* test_problem.c — the problem lifecycle's table and request bodies
 * (core/problem.c), every cell: no server, no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/problem.h"

/* The expected table: to-state per (from, act), -1 = 409. */
static const int want[ESC_PSTATE__COUNT][ESC_PACT__COUNT] = {
    /*                     root_cause  workaround  plan  fix  verify  close  reopen */
    [ESC_PSTATE_OPEN] = {ESC_PSTATE_ROOT_CAUSE_FOUND, -1, -1, -1, -1, -1, -1},
    [ESC_PSTATE_ROOT_CAUSE_FOUND] = {-1, ESC_PSTATE_ROOT_CAUSE_FOUND, ESC_PSTATE_ACTION_PLANNED, -1, -1, -1, -1},
    [ESC_PSTATE_ACTION_PLANNED] = {-1, ESC_PSTATE_ACTION_PLANNED, -1, ESC_PSTATE_FIXED, -1, -1, -1},
    [ESC_PSTATE_FIXED] = {-1, ESC_PSTATE_FIXED, -1, -1, ESC_PSTATE_VERIFYING, -1, ESC_PSTATE_OPEN},
    [ESC_PSTATE_VERIFYING] = {-1, ESC_PSTATE_VERIFYING, -1, -1, -1, ESC_PSTATE_CLOSED, ESC_PSTATE_OPEN},
    [ESC_PSTATE_CLOSED] = {-1, -1, -1, -1, -1, -1, -1},
};

static void every_cell_of_the_lifecycle(void **state)
{
    (void)state;
    for (int s = 0; s < ESC_PSTATE__COUNT; s++)
        for (int a = 0; a < ESC_PACT__COUNT; a++) {
            esc_error_t err = {0};
            enum esc_problem_state to = ESC_PSTATE__COUNT;
            int rc = esc_problem_step((enum esc_problem_state)s, (enum esc_problem_act)a, &to, &err);
            if (want[s][a] < 0) {
                assert_int_equal(rc, -1);
                assert_int_equal(err.code, ESC_ERR_INVALID_TRANSITION);
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(to, want[s][a]);
            }
        }
}

static void state_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < ESC_PSTATE__COUNT; s++)
        assert_int_equal(esc_problem_state_from_name(esc_problem_state_names[s]), s);
    assert_int_equal(esc_problem_state_from_name("resolved"), -1);
    assert_int_equal(esc_problem_state_from_name(NULL), -1);
}

static void who_may(void **state)
{
    (void)state;
    struct esc_actor fd = {.id = 1, .role = ESC_ROLE_FRONTDESK}, mgr = {.id = 2, .role = ESC_ROLE_MANAGER},
                     adm = {.id = 3, .role = ESC_ROLE_ADMIN}, a1 = {.id = 4, .role = ESC_ROLE_AGENT, .tier = 1},
                     a2 = {.id = 5, .role = ESC_ROLE_AGENT, .tier = 2},
                     a3 = {.id = 6, .role = ESC_ROLE_AGENT, .tier = 3};
    assert_false(esc_problem_may_create(&fd));
    assert_false(esc_problem_may_create(&a1));
    assert_true(esc_problem_may_create(&a2) && esc_problem_may_create(&a3));
    assert_true(esc_problem_may_create(&mgr) && esc_problem_may_create(&adm));
    /* the owner, whatever their tier, and managers */
    assert_true(esc_problem_actor_may(&a1, 4));
    assert_false(esc_problem_actor_may(&a2, 6));
    assert_true(esc_problem_actor_may(&mgr, 6));
    assert_false(esc_problem_actor_may(&fd, 6));
}

static json_t *j(const char *text) { return json_loads(text, 0, NULL); }

static void bodies(void **state)
{
    (void)state;
    struct {
        const char *text, *field; /* field NULL = valid */
    } create[] = {
        {"{\"title\": \"t\"}", NULL},
        {"{}", "title"},
        {"{\"title\": \"\"}", "title"},
        {"{\"title\": \"t\", \"owner_id\": 0}", "owner_id"},
        {"{\"title\": \"t\", \"owner_id\": \"5\"}", "owner_id"},
        {"{\"title\": \"t\", \"signature_keywords\": [\"\"]}", "signature_keywords"},
        {"{\"title\": \"t\", \"signature_keywords\": \"a\"}", "signature_keywords"},
        {"{\"title\": \"t\", \"verify_window_days\": 0}", "verify_window_days"},
        {"{\"title\": \"t\", \"bogus\": 1}", "bogus"},
        {"{\"title\": \"t\", \"signature_keywords\": [\"发热\"], \"verify_window_days\": 30}", NULL},
    };
    for (size_t i = 0; i < sizeof create / sizeof *create; i++) {
        json_t *b = j(create[i].text);
        struct escp_problem_req rq;
        esc_error_t err = {0};
        int rc = escp_problem_body_parse(b, &rq, &err);
        if (create[i].field) {
            assert_int_equal(rc, -1);
            assert_string_equal(err.field, create[i].field);
        } else {
            assert_int_equal(rc, 0);
        }
        json_decref(b);
    }

    struct escp_problem_args a = {.if_match = 7};
    esc_error_t err = {0};
    json_t *b = j("{\"root_cause\": \"x\", \"root_cause_kind\": \"product_defect\", \"workaround\": \"w\"}");
    assert_int_equal(escp_problem_act_body_parse(ESC_PACT_ROOT_CAUSE, b, &a, &err), 0);
    assert_int_equal(a.if_match, 7);
    assert_string_equal(a.root_cause_kind, "product_defect");
    json_decref(b);
    b = j("{\"root_cause\": \"x\", \"root_cause_kind\": \"bad\"}");
    assert_int_equal(escp_problem_act_body_parse(ESC_PACT_ROOT_CAUSE, b, &a, &err), -1);
    assert_string_equal(err.field, "root_cause_kind");
    json_decref(b);
    memset(&err, 0, sizeof err);
    b = j("{}");
    assert_int_equal(escp_problem_act_body_parse(ESC_PACT_REOPEN, b, &a, &err), -1);
    assert_string_equal(err.field, "reason");
    memset(&err, 0, sizeof err);
    assert_int_equal(escp_problem_act_body_parse(ESC_PACT_CLOSE, b, &a, &err), 0);
    assert_int_equal(escp_problem_act_body_parse(ESC_PACT_VERIFY, b, &a, &err), 0);
    assert_int_equal(escp_problem_act_body_parse(ESC_PACT_FIX, b, &a, &err), -1);
    assert_string_equal(err.field, "fix");
    json_decref(b);

    struct escp_action_req ar;
    memset(&err, 0, sizeof err);
    b = j("{\"kind\": \"corrective\", \"description\": \"d\", \"owner_id\": 3, \"due_at\": \"2026-12-31T00:00:00Z\"}");
    assert_int_equal(escp_problem_action_body_parse(b, &ar, &err), 0);
    assert_int_equal(ar.owner_id, 3);
    json_decref(b);
    b = j("{\"kind\": \"other\", \"description\": \"d\", \"owner_id\": 3, \"due_at\": \"2026-12-31T00:00:00Z\"}");
    assert_int_equal(escp_problem_action_body_parse(b, &ar, &err), -1);
    assert_string_equal(err.field, "kind");
    json_decref(b);
    memset(&err, 0, sizeof err);
    b = j("{\"kind\": \"preventive\", \"description\": \"d\", \"owner_id\": 3, \"due_at\": \"tomorrow\"}");
    assert_int_equal(escp_problem_action_body_parse(b, &ar, &err), -1);
    assert_string_equal(err.field, "due_at");
    json_decref(b);

    int64_t ids[ESCP_LINK_MAX];
    size_t n;
    bool waiting;
    memset(&err, 0, sizeof err);
    b = j("{\"ticket_ids\": [3, 1], \"waiting_on_problem\": true}");
    assert_int_equal(escp_link_body_parse(b, ids, &n, &waiting, &err), 0);
    assert_int_equal(n, 2);
    assert_true(waiting);
    json_decref(b);
    const char *bad[] = {"{\"ticket_ids\": []}", "{\"ticket_ids\": [1, 1]}", "{\"ticket_ids\": [0]}",
                         "{\"ticket_ids\": \"1\"}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        b = j(bad[i]);
        assert_int_equal(escp_link_body_parse(b, ids, &n, &waiting, &err), -1);
        assert_string_equal(err.field, "ticket_ids");
        json_decref(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_cell_of_the_lifecycle),
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(who_may),
        cmocka_unit_test(bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
