/* test_api_claim.c — POST /v1/queues/{tier}/claim: order, 204 on empty,
 * ?wait=N long polling, who may claim, and no double claims under load. */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

static const char *claim_path(int tier, const char *query)
{
    return h_fmt(H, "/v1/queues/line-%d/claim%s", tier, query ? query : "");
}

/* Claim everything left in a tier's queue so a test starts from empty. */
static void drain(int tier)
{
    for (int i = 0; i < 1000; i++) {
        h_resp *r = h_req(H, "POST", claim_path(tier, NULL), H->k.agent[tier], NULL);
        if (r->status == 204)
            return;
        h_expect_status(r, 200);
    }
    fail_msg("queue line-%d did not drain", tier);
}

static void claim_takes_majors_first_then_the_earliest_ack_deadline_and_204_when_empty(void **state)
{
    (void)state;
    drain(1);
    /* created in this order; ack_due_at follows creation */
    json_int_t a = h_int(h_create_ticket_subject(H, "normal A", "normal"), "id");
    h_sleep(0.01);
    json_int_t b = h_int(h_create_ticket_subject(H, "normal B", "normal"), "id");
    h_sleep(0.01);
    json_int_t c = h_int(h_create_ticket_subject(H, "major C", "major"), "id");
    h_sleep(0.01);
    json_int_t d = h_int(h_create_ticket_subject(H, "normal D", "normal"), "id");
    h_sleep(0.01);
    json_int_t e = h_int(h_create_ticket_subject(H, "major E", "major"), "id");
    json_int_t want[] = {c, e, a, b, d};
    for (size_t i = 0; i < 5; i++) {
        h_resp *r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[1], NULL);
        h_expect_status(r, 200);
        if (h_int(r->json, "id") != want[i]) {
            print_error("claim %zu: expected ticket %lld, got %lld\n", i, (long long)want[i],
                        (long long)h_int(r->json, "id"));
            fail();
        }
        h_assert_str(r->json, "state", "acknowledged");
        h_assert_str(r->json, "tier", "line-1");
        h_assert_int(r->json, "assignee.id", H->k.agent_id[1]);
        h_assert_null(r->json, "ack_due_at");
        h_assert_ts(r->json, "acknowledged_at");
        assert_non_null(h_header(r, "ETag"));
    }
    /* the claim is an acknowledgement in the history */
    json_t *ev = h_events(H, c);
    json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    h_assert_str(last, "type", "acknowledged");
    h_assert_int(last, "actor.id", H->k.agent_id[1]);

    /* the queue is now empty: 204 without a body */
    h_resp *r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[1], NULL);
    h_expect_status(r, 204);
    assert_int_equal(r->body_len, 0);
}

static void claim_takes_only_awaiting_tickets_of_the_agents_own_tier(void **state)
{
    (void)state;
    drain(1);
    drain(2);
    json_int_t id = h_int(h_create_ticket_subject(H, "goes to line-2", NULL), "id");
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    /* acknowledged tickets are not in the queue */
    h_resp *r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[1], NULL);
    h_expect_status(r, 204);
    h_action_ok(H, H->k.agent[1], id, "escalate", h_reason("line-2 please"));
    r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[1], NULL);
    h_expect_status(r, 204);
    r = h_req(H, "POST", claim_path(2, NULL), H->k.agent[2], NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "id", id);
    h_assert_int(r->json, "assignee.id", H->k.agent_id[2]);
}

static void only_agents_of_the_tier_may_claim_and_unknown_queues_are_404(void **state)
{
    (void)state;
    drain(1);
    h_create_ticket(H, NULL, NULL);
    h_resp *r;
    r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[2], NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[3], NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "POST", claim_path(1, NULL), H->k.frontdesk, NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "POST", claim_path(1, NULL), H->k.manager, NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "POST", claim_path(1, NULL), NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
    r = h_req(H, "POST", claim_path(1, NULL), "esc_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxxxxx", NULL);
    h_expect_error(r, 401, "unauthenticated");
    r = h_req(H, "POST", "/v1/queues/line-4/claim", H->k.agent[1], NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "POST", "/v1/queues/support/claim", H->k.agent[1], NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "GET", claim_path(1, NULL), H->k.agent[1], NULL);
    h_expect_error(r, 405, "method_not_allowed");
    assert_non_null(h_header(r, "Allow"));
    assert_non_null(strstr(h_header(r, "Allow"), "POST"));
    /* still there for the right agent */
    r = h_req(H, "POST", claim_path(1, NULL), H->k.agent[1], "{}");
    h_expect_status(r, 200);
}

static void claim_wait_takes_0_to_30_s_and_an_empty_queue_answers_204_after_it(void **state)
{
    (void)state;
    h_resp *r;
    r = h_req(H, "POST", claim_path(1, "?wait=31"), H->k.agent[1], NULL);
    h_expect_error(r, 400, "validation_failed");
    r = h_req(H, "POST", claim_path(1, "?wait=-1"), H->k.agent[1], NULL);
    h_expect_error(r, 400, "validation_failed");
    r = h_req(H, "POST", claim_path(1, "?wait=abc"), H->k.agent[1], NULL);
    h_expect_error(r, 400, "validation_failed");
    drain(1);
    /* an empty queue with wait=1 answers 204 after about a second */
    r = h_req(H, "POST", claim_path(1, "?wait=1"), H->k.agent[1], NULL);
    h_expect_status(r, 204);
    if (r->seconds < 0.9 || r->seconds > 3.0) {
        print_error("?wait=1 on an empty queue took %.3f s\n", r->seconds);
        fail();
    }
    r = h_req(H, "POST", claim_path(1, "?wait=0"), H->k.agent[1], NULL);
    h_expect_status(r, 204);
    assert_true(r->seconds < 0.9);
}

static void *create_later(void *arg)
{
    (void)arg;
    h_sleep(0.5);
    h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"arrives late\"}");
    return NULL;
}

static void a_waiting_claim_gets_a_ticket_created_while_it_waits(void **state)
{
    (void)state;
    drain(1);
    pthread_t th;
    pthread_create(&th, NULL, create_later, NULL);
    h_resp *r = h_req(H, "POST", claim_path(1, "?wait=2"), H->k.agent[1], NULL);
    pthread_join(th, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "subject", "arrives late");
    h_assert_int(r->json, "assignee.id", H->k.agent_id[1]);
    if (r->seconds < 0.4 || r->seconds > 1.9) {
        print_error("?wait=2 answered after %.3f s; the ticket came at 0.5 s\n", r->seconds);
        fail();
    }
}

#define N_CLAIMERS 20
#define N_TICKETS 10

struct claimer {
    const char *token;
    long status;
    json_int_t got;
    json_int_t assignee;
};

static void *claim_once(void *arg)
{
    struct claimer *c = arg;
    h_resp *r = h_req(H, "POST", claim_path(1, NULL), c->token, NULL);
    c->status = r->status;
    c->got = r->status == 200 ? h_int(r->json, "id") : 0;
    c->assignee = r->status == 200 ? h_int(r->json, "assignee.id") : 0;
    return NULL;
}

static void twenty_agents_claiming_at_once_take_ten_tickets_each_once(void **state)
{
    (void)state;
    drain(1);
    json_int_t ids[N_TICKETS];
    for (int i = 0; i < N_TICKETS; i++)
        ids[i] = h_int(h_create_ticket(H, NULL, NULL), "id");
    struct claimer c[N_CLAIMERS];
    for (int i = 0; i < N_CLAIMERS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].token = h_key(H, "agent", 1, h_fmt(H, "claimer %d", i));
    }
    h_race(N_CLAIMERS, claim_once, c, sizeof c[0]);
    int ok = 0, empty = 0;
    int taken[N_TICKETS] = {0};
    for (int i = 0; i < N_CLAIMERS; i++) {
        if (c[i].status == 200) {
            ok++;
            int found = 0;
            for (int j = 0; j < N_TICKETS; j++) {
                if (ids[j] == c[i].got) {
                    taken[j]++;
                    found = 1;
                }
            }
            assert_true(found);
            assert_int_equal(c[i].assignee, h_principal_by_token(H, c[i].token)->id);
            /* the database agrees */
            json_t *t = h_get_ticket(H, NULL, c[i].got);
            h_assert_int(t, "assignee.id", c[i].assignee);
            h_assert_str(t, "state", "acknowledged");
        } else if (c[i].status == 204) {
            empty++;
        } else {
            print_error("claimer %d got HTTP %ld\n", i, c[i].status);
            fail();
        }
    }
    assert_int_equal(ok, N_TICKETS);
    assert_int_equal(empty, N_CLAIMERS - N_TICKETS);
    for (int j = 0; j < N_TICKETS; j++) {
        assert_int_equal(taken[j], 1);
        assert_int_equal(h_count_events(H, ids[j], "acknowledged", NULL), 1);
    }
}

/* Waiting claimers: 4 agents wait, 2 tickets arrive, exactly 2 get one. */
struct waiter {
    const char *token;
    long status;
    json_int_t got;
};

static void *claim_wait3(void *arg)
{
    struct waiter *w = arg;
    h_resp *r = h_req(H, "POST", claim_path(1, "?wait=3"), w->token, NULL);
    w->status = r->status;
    w->got = r->status == 200 ? h_int(r->json, "id") : 0;
    return NULL;
}

static void four_waiting_claims_two_arrivals_each_ticket_goes_to_one(void **state)
{
    (void)state;
    drain(1);
    struct waiter w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i].token = h_key(H, "agent", 1, h_fmt(H, "waiter %d", i));
        pthread_create(&th[i], NULL, claim_wait3, &w[i]);
    }
    h_sleep(0.5);
    json_int_t t1 = h_int(h_create_ticket(H, NULL, NULL), "id");
    json_int_t t2 = h_int(h_create_ticket(H, NULL, NULL), "id");
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int ok = 0, got1 = 0, got2 = 0;
    for (int i = 0; i < 4; i++) {
        if (w[i].status == 200) {
            ok++;
            got1 += w[i].got == t1;
            got2 += w[i].got == t2;
        } else if (w[i].status != 204) {
            print_error("waiter %d got HTTP %ld\n", i, w[i].status);
            fail();
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(got1, 1);
    assert_int_equal(got2, 1);
}

/* Two daemons on one database: claims through either never collide. */
struct xclaimer {
    const char *token, *base;
    long status;
    json_int_t got;
};

static void *xclaim_once(void *arg)
{
    struct xclaimer *c = arg;
    h_resp *r = h_reqv_at(H, c->base, "POST", claim_path(1, NULL), c->token, NULL, 0, NULL);
    c->status = r->status;
    c->got = r->status == 200 ? h_int(r->json, "id") : 0;
    return NULL;
}

static void claims_through_two_daemons_never_collide_and_a_wait_sees_the_other_daemons_ticket(void **state)
{
    (void)state;
    drain(1);
    const char *base2 = NULL;
    pid_t pid2 = h_extra_start(H, &base2);
    json_int_t ids[N_TICKETS];
    for (int i = 0; i < N_TICKETS; i++)
        ids[i] = h_int(h_create_ticket(H, NULL, NULL), "id");
    struct xclaimer c[N_CLAIMERS];
    for (int i = 0; i < N_CLAIMERS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].token = h_key(H, "agent", 1, h_fmt(H, "x-claimer %d", i));
        c[i].base = i % 2 ? base2 : H->base_url;
    }
    h_race(N_CLAIMERS, xclaim_once, c, sizeof c[0]);
    int taken[N_TICKETS] = {0}, ok = 0;
    for (int i = 0; i < N_CLAIMERS; i++) {
        if (c[i].status == 200) {
            ok++;
            for (int j = 0; j < N_TICKETS; j++)
                taken[j] += ids[j] == c[i].got;
        } else if (c[i].status != 204) {
            print_error("claimer %d got HTTP %ld\n", i, c[i].status);
            fail();
        }
    }
    assert_int_equal(ok, N_TICKETS);
    for (int j = 0; j < N_TICKETS; j++)
        assert_int_equal(taken[j], 1);

    /* a claim waiting on one daemon sees a ticket created through the other */
    drain(1);
    struct waiter w = {H->k.agent[1], 0, 0};
    pthread_t wt;
    pthread_create(&wt, NULL, claim_wait3, &w);
    h_sleep(0.5);
    h_resp *r = h_reqj_at(H, base2, "POST", "/v1/tickets", H->k.frontdesk,
                          json_pack("{s:s}", "subject", "via daemon 2"));
    h_expect_status(r, 201);
    pthread_join(wt, NULL);
    int st = h_extra_stop(H, pid2);
    assert_int_equal(st, 0);
    if (w.status != 200 || w.got != h_int(r->json, "id")) {
        print_error("a claim waiting (wait=3) on daemon 1 got %ld (ticket %lld) for a ticket "
                    "created through daemon 2 0.5 s later\n", w.status, (long long)w.got);
        fail();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_takes_majors_first_then_the_earliest_ack_deadline_and_204_when_empty),
        cmocka_unit_test(claim_takes_only_awaiting_tickets_of_the_agents_own_tier),
        cmocka_unit_test(only_agents_of_the_tier_may_claim_and_unknown_queues_are_404),
        cmocka_unit_test(claim_wait_takes_0_to_30_s_and_an_empty_queue_answers_204_after_it),
        cmocka_unit_test(a_waiting_claim_gets_a_ticket_created_while_it_waits),
        cmocka_unit_test(twenty_agents_claiming_at_once_take_ten_tickets_each_once),
        cmocka_unit_test(four_waiting_claims_two_arrivals_each_ticket_goes_to_one),
        cmocka_unit_test(claims_through_two_daemons_never_collide_and_a_wait_sees_the_other_daemons_ticket),
    };
    return h_run_tests_with_daemon(&H, "test_api_claim", 0, tests);
}
