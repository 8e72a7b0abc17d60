/* test_free_text_pii.c — personal data in free text (issue 8 item 3,
 * migration 008, docs/security.md): subject, description, category,
 * reasons, comments, resolution and feedback are stored masked with what
 * was found sealed beside them; no clear value in any table; every output
 * masked; the recorded reveal gives the originals back; `q` searches the
 * masked text only. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

#define PHONE "13812345678"
#define PHONE_MASKED "138****5678"
#define ID_NUMBER "110101199003071233"
#define ID_MASKED "110***********1233"
#define CARD "6222 0212 3456 7890 128" /* passes Luhn */
#define CARD_MASKED "6222***********0128"
#define EMAIL "wang.xm@example.com"
#define EMAIL_MASKED "w***@example.com"
#define WORD "光猫掉线qzx" /* a word of the subject nobody else uses */

#define SUBJECT WORD "，客户手机" PHONE
#define DESCRIPTION "身份证" ID_NUMBER "，卡号" CARD "。请回电。"
#define CATEGORY "billing " PHONE
#define REASON "客户邮箱 " EMAIL " 已确认"
#define COMMENT "客户又来电 " PHONE "，邮箱 " EMAIL
#define RESOLUTION "已退款到卡 " CARD
#define FEEDBACK "满意，有事打 " PHONE


static const char *const clear_values[] = {PHONE, ID_NUMBER, CARD, "6222021234567890128",
                                           "wang.xm", NULL};

static void assert_nowhere_in_clear(void)
{
    for (const char *const *v = clear_values; *v; v++) {
        const char *hits = h_probe_clear(H, *v);
        assert_non_null(hits);
        if (*hits)
            fail_msg("'%s' is stored in clear in: %s", *v, hits);
    }
}

/* the text holds no clear value */
static void assert_masked_text(const char *what, const char *text)
{
    assert_non_null(text);
    for (const char *const *v = clear_values; *v; v++)
        if (strstr(text, *v))
            fail_msg("%s shows '%s' in clear: %s", what, *v, text);
}

static json_int_t ticket_with_everything(void)
{
    json_t *t = h_create_ticket(H, H->k.frontdesk,
                                json_pack("{s:s, s:s, s:s}", "subject", SUBJECT, "description",
                                          DESCRIPTION, "category", CATEGORY));
    json_int_t id = h_int(t, "id");
    h_assert_str(t, "subject", WORD "，客户手机" PHONE_MASKED);
    h_assert_str(t, "description", "身份证" ID_MASKED "，卡号" CARD_MASKED "。请回电。");
    h_assert_str(t, "category", "billing " PHONE_MASKED);
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_action_ok(H, H->k.agent[1], id, "wait", h_reason(REASON));
    h_resp *r = h_reqj(H, "POST", h_fmt(H, "/v1/tickets/%lld/comment", (long long)id),
                       H->k.agent[1], json_pack("{s:s}", "body", COMMENT));
    h_expect_status(r, 201);
    assert_masked_text("the comment answer", r->body);
    h_action_ok(H, H->k.agent[1], id, "resume", NULL);
    h_action_ok(H, H->k.agent[1], id, "resolve",
                json_pack("{s:s, s:s}", "resolution", RESOLUTION, "root_cause", "operations"));
    h_action_ok(H, H->k.frontdesk, id, "close",
                json_pack("{s:{s:s, s:i, s:s}}", "satisfaction", "result", "satisfied", "score", 5,
                          "feedback", FEEDBACK));
    return id;
}

static void nothing_is_stored_in_clear_and_every_output_is_masked(void **state)
{
    (void)state;
    json_int_t id = ticket_with_everything();
    assert_nowhere_in_clear();
    /* the columns hold the masked text itself, and the findings sealed */
    assert_string_equal(h_sql_value(H, "SELECT subject FROM tickets WHERE id = %lld", (long long)id),
                        WORD "，客户手机" PHONE_MASKED);
    assert_string_equal(h_sql_value(H, "SELECT resolution FROM tickets WHERE id = %lld", (long long)id),
                        "已退款到卡 " CARD_MASKED);
    assert_string_equal(h_sql_value(H, "SELECT sat_feedback FROM tickets WHERE id = %lld", (long long)id),
                        "满意，有事打 " PHONE_MASKED);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id = %lld AND pii_sealed "
                                 "LIKE 'esc1:v%%'", (long long)id), 1);
    /* wait, comment, resolve and close had findings; acknowledge and resume none */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM events WHERE ticket_id = %lld AND "
                                 "pii_sealed LIKE 'esc1:v%%'", (long long)id), 4);
    assert_string_equal(h_sql_value(H, "SELECT body FROM events WHERE ticket_id = %lld AND "
                                       "type = 'commented'", (long long)id),
                        "客户又来电 " PHONE_MASKED "，邮箱 " EMAIL_MASKED);
    /* a category at the API's limit of 64 characters that grows when masked */
    json_t *t = h_create_ticket(H, H->k.frontdesk,
                                json_pack("{s:s, s:s}", "subject", "邮箱", "category",
                                          "ab@x.cn ab@x.cn ab@x.cn ab@x.cn ab@x.cn ab@x.cn ab@x.cn ab@x.cn"));
    h_assert_str(t, "category", "a***@x.cn a***@x.cn a***@x.cn a***@x.cn a***@x.cn a***@x.cn "
                                "a***@x.cn a***@x.cn");
    /* no finding: stored as it is, nothing sealed */
    json_int_t plain = h_new_ticket(H, "路由器重启后正常 2024", NULL, NULL);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id = %lld AND "
                                 "pii_sealed IS NULL AND subject = '路由器重启后正常 2024'",
                              (long long)plain), 1);

    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), H->k.agent[1], NULL);
    h_expect_status(r, 200);
    assert_masked_text("the ticket", r->body);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, WORD)), H->k.agent[1], NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    assert_masked_text("the list", r->body);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/events", (long long)id), H->k.agent[1], NULL);
    h_expect_status(r, 200);
    assert_masked_text("the history", r->body);
    assert_non_null(strstr(r->body, EMAIL_MASKED));
    r = h_req(H, "GET", "/v1/events?after=0", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_masked_text("the event feed", r->body);
    r = h_req(H, "GET",
              "/v1/reports/sla?group_by=category&from=2000-01-01T00:00:00Z&to=2099-01-01T00:00:00Z",
              H->k.manager, NULL, "Accept: text/csv");
    h_expect_status(r, 200);
    assert_masked_text("the CSV report", r->body);
    assert_non_null(strstr(r->body, "billing " PHONE_MASKED));
}

static void the_recorded_reveal_gives_the_original_text(void **state)
{
    (void)state;
    json_int_t id = ticket_with_everything();
    size_t before = h_count_events(H, id, "customer_revealed", NULL);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id),
                      H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "free_text.subject", SUBJECT);
    h_assert_str(r->json, "free_text.description", DESCRIPTION);
    h_assert_str(r->json, "free_text.category", CATEGORY);
    json_t *evs = h_get(r->json, "free_text_events");
    assert_int_equal(json_array_size(evs), 4);
    const char *want[4][2] = {{"reason", REASON}, {"body", COMMENT}, {"resolution", RESOLUTION},
                              {"feedback", FEEDBACK}};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(evs, i);
        assert_true(h_int(e, "event_id") > 0);
        h_assert_str(e, want[i][0], want[i][1]);
    }
    assert_int_equal(h_count_events(H, id, "customer_revealed", NULL), before + 1);
    /* a ticket without findings: its text as stored, no event texts */
    json_int_t plain = h_new_ticket(H, "无个人信息的投诉", NULL, NULL);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)plain), H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "free_text.subject", "无个人信息的投诉");
    assert_int_equal(json_array_size(h_get(r->json, "free_text_events")), 0);
    /* findings moved to another ticket do not open there */
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE tickets SET pii_sealed = (SELECT pii_sealed FROM tickets "
             "WHERE id = %lld), subject = (SELECT subject FROM tickets WHERE id = %lld) "
             "WHERE id = %lld", (long long)id, (long long)id, (long long)plain);
    const char *err = NULL;
    if (h_sql_exec(H, sql, &err) != 0)
        fail_msg("%s", err);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)plain), H->k.manager, NULL);
    h_expect_status(r, 500);
    assert_null(strstr(r->body, PHONE));
}

static void q_searches_the_masked_text_only(void **state)
{
    (void)state;
    json_int_t id = h_int(h_create_ticket(H, H->k.frontdesk,
                                          json_pack("{s:s, s:s}", "subject", "宽带投诉qsm 客户 " PHONE,
                                                    "description", "卡 " CARD)),
                          "id");
    assert_true(id > 0);
    static const char *const none[] = {PHONE, "1234", "6222021234", "0212 3456", NULL};
    for (const char *const *q = none; *q; q++) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, *q)), H->k.agent[1], NULL);
        h_expect_status(r, 200);
        if (json_array_size(h_get(r->json, "items")) != 0)
            fail_msg("q=%s found a ticket by digits of a masked number: %s", *q, r->body);
    }
    static const char *const some[] = {"宽带投诉qsm", "qsm", PHONE_MASKED, NULL};
    for (const char *const *q = some; *q; q++) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, *q)), H->k.agent[1], NULL);
        h_expect_status(r, 200);
        if (json_array_size(h_get(r->json, "items")) < 1)
            fail_msg("q=%s found nothing", *q);
    }
    /* the trigram indexes exist and the list query can use them */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM pg_indexes WHERE tablename = 'tickets' "
                                 "AND indexdef LIKE '%%gin_trgm_ops%%'"), 2);
}

static void a_ticket_from_before_008_is_masked_and_sealed_when_the_daemon_starts(void **state)
{
    (void)state;
    json_int_t id = h_new_ticket(H, "old row", NULL, NULL);
    h_daemon_stop_ok(H);
    /* what a row written before migration 008 holds: clear text, not scanned */
    const char *err = NULL;
    if (h_sql_exec(H, h_fmt(H, "UPDATE tickets SET subject = '%s', description = '%s', "
                               "resolution = '%s', text_scanned = false WHERE id = %lld",
                            SUBJECT, DESCRIPTION, RESOLUTION, (long long)id), &err) != 0)
        fail_msg("%s", err);
    h_daemon_start(H);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE NOT text_scanned"), 0);
    assert_string_equal(h_sql_value(H, "SELECT subject FROM tickets WHERE id = %lld", (long long)id),
                        WORD "，客户手机" PHONE_MASKED);
    assert_string_equal(h_sql_value(H, "SELECT resolution FROM tickets WHERE id = %lld", (long long)id),
                        "已退款到卡 " CARD_MASKED);
    assert_nowhere_in_clear();
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id), H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "free_text.subject", SUBJECT);
    h_assert_str(r->json, "free_text.description", DESCRIPTION);
    h_assert_str(r->json, "free_text.resolution", RESOLUTION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_is_stored_in_clear_and_every_output_is_masked),
        cmocka_unit_test(the_recorded_reveal_gives_the_original_text),
        cmocka_unit_test(q_searches_the_masked_text_only),
        cmocka_unit_test(a_ticket_from_before_008_is_masked_and_sealed_when_the_daemon_starts),
    };
    return h_run_tests_with_daemon(&H, "test_free_text_pii", H_WITH_PROBE, tests);
}
