/* test_api_render.c — an object looks the same wherever the API shows it:
 * an event in the event feed is exactly the event of the ticket's history
 * plus its ticket_id, free text masked alike (docs/api.md#get-v1events), and
 * the event a comment answers with is masked as the history shows it. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static h_ctx *H;

#define CARD "4111111111111111" /* passes the Luhn check */
#define CARD_MASKED "4111********1111" /* first 4 and last 4, as the bank_card field */

static int setup(void **state)
{
    (void)state;
    H = h_start("test_api_render", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

/* The feed's event of this id, or NULL when it is not served (yet). */
static json_t *feed_event(json_int_t id)
{
    json_int_t after = 0;
    for (;;) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/events?after=%lld&limit=1000", (long long)after),
                          H->k.manager, NULL);
        h_expect_status(r, 200);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(r->json, "items"), i, e) if (h_int(e, "id") == id) return e;
        if (!json_is_true(json_object_get(r->json, "has_more")))
            return NULL;
        after = h_int(r->json, "next_after");
    }
}

static void feed_and_history_agree(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, H->k.frontdesk,
                                json_pack("{s:s, s:s}", "subject", "card " CARD, "description", "x"));
    json_int_t id = h_int(t, "id");
    assert_non_null(strstr(h_str(t, "subject"), CARD_MASKED));
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);

    /* the comment answers with its event, masked like the history */
    h_resp *r = h_action(H, H->k.agent[1], id, "comment", json_pack("{s:s}", "body", "paid with " CARD));
    h_expect_status(r, 201);
    h_assert_str(r->json, "body", "paid with " CARD_MASKED);
    h_action_ok(H, H->k.agent[1], id, "escalate", h_reason("card " CARD " refused"));

    json_t *history = h_events(H, id);
    assert_true(json_array_size(history) >= 4);
    size_t i;
    json_t *e;
    int texts = 0;
    json_array_foreach(history, i, e) {
        char *text = json_dumps(e, JSON_COMPACT);
        assert_null(strstr(text, CARD));
        texts += strstr(text, CARD_MASKED) != NULL;
        free(text);

        /* served within a few seconds (an older transaction may hold it back) */
        json_t *f = NULL;
        for (int tries = 0; tries < 100 && !(f = feed_event(h_int(e, "id"))); tries++)
            h_sleep(0.05);
        assert_non_null(f);
        h_assert_int(f, "ticket_id", id);
        json_t *g = json_deep_copy(f);
        json_object_del(g, "ticket_id");
        if (!json_equal(g, e)) {
            char *a = json_dumps(e, JSON_COMPACT), *b = json_dumps(f, JSON_COMPACT);
            print_error("history: %s\nfeed:    %s\n", a, b);
            free(a);
            free(b);
            fail();
        }
        json_decref(g);
    }
    assert_int_equal(texts, 2); /* the comment's body and the escalation's reason */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(feed_and_history_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
