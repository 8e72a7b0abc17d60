/* test_alert.c — core/alert.c: the platforms' signatures (against values
 * computed with openssl dgst and Python's hmac), the bodies each platform
 * expects, the texts in both languages, the mail, and reading answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alert.h"

static void dingtalk_and_feishu_signatures_match_independent_implementations(void **state)
{
    (void)state;
    char out[128];
    /* printf '%s\n%s' 1733450000000 SECa1b2c3d4e5f6 | openssl dgst -sha256 -hmac SECa1b2c3d4e5f6 -binary | base64 */
    assert_int_equal(escp_dingtalk_sign("SECa1b2c3d4e5f6", 1733450000000LL, out, sizeof out), 0);
    assert_string_equal(out, "sbzWXIdmxRtekSld95FisbAU%2FCDFqzPy1AKtE5y24%2Bo%3D");
    /* hmac.new(b'1733450000\nfeishu-secret-xyz', b'', sha256), base64 */
    assert_int_equal(escp_feishu_sign("feishu-secret-xyz", 1733450000LL, out, sizeof out), 0);
    assert_string_equal(out, "evbfXIgxHhZSM38U3E3hay5UQCby880vvHUWz9VpA88=");
    /* too small a buffer is an error, not a cut signature */
    assert_int_equal(escp_dingtalk_sign("SECa1b2c3d4e5f6", 1733450000000LL, out, 10), -1);
}

/* The body a platform gets, parsed (the text freed). */
static json_t *body_of(enum escp_channel_kind kind, const struct escp_alert *a, const char *secret, int64_t now)
{
    char *text = escp_alert_body(kind, a, secret, now);
    assert_non_null(text);
    json_t *b = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(b);
    return b;
}

static json_t *facts(void)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "type", "breached", "kind", "ack", "ticket_id",
                     (json_int_t)42, "tier", "line-2", "severity", "major", "subject",
                     "宽带断网，客户手机138****5678", "due_at", "2026-12-06T04:20:00.000Z");
}

static void each_platform_gets_its_own_body_shape(void **state)
{
    (void)state;
    json_t *f = facts();
    struct escp_alert_link acks[] = {{"张伟", "https://esc.example.com/ack/abc"}};
    struct escp_alert a = {f, "zh", "https://esc.example.com/console/#/ticket/42", acks, 1};

    json_t *b = body_of(ESCP_CH_WECOM, &a, NULL, 0);
    assert_string_equal(json_string_value(json_object_get(b, "msgtype")), "markdown");
    const char *md = json_string_value(json_object_get(json_object_get(b, "markdown"), "content"));
    assert_non_null(strstr(md, "【投诉受理超时】#42 宽带断网"));
    assert_non_null(strstr(md, "[一键受理（张伟）](https://esc.example.com/ack/abc)"));
    assert_non_null(strstr(md, "二线"));
    json_decref(b);

    b = body_of(ESCP_CH_DINGTALK, &a, NULL, 0);
    assert_string_equal(json_string_value(json_object_get(b, "msgtype")), "markdown");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(b, "markdown"), "title")),
                           "#42"));
    json_decref(b);

    b = body_of(ESCP_CH_FEISHU, &a, "feishu-secret-xyz", 1733450000);
    assert_string_equal(json_string_value(json_object_get(b, "msg_type")), "text");
    assert_string_equal(json_string_value(json_object_get(b, "timestamp")), "1733450000");
    assert_string_equal(json_string_value(json_object_get(b, "sign")),
                        "evbfXIgxHhZSM38U3E3hay5UQCby880vvHUWz9VpA88=");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(b, "content"), "text")),
                           "一键受理（张伟）: https://esc.example.com/ack/abc"));
    json_decref(b);
    /* without a secret, no signature fields */
    b = body_of(ESCP_CH_FEISHU, &a, NULL, 1733450000);
    assert_null(json_object_get(b, "sign"));
    json_decref(b);

    a.lang = "en";
    b = body_of(ESCP_CH_SLACK, &a, NULL, 0);
    const char *text = json_string_value(json_object_get(b, "text"));
    assert_non_null(strstr(text, "*[Acknowledgement overdue] #42"));
    assert_non_null(strstr(text, "<https://esc.example.com/ack/abc|Acknowledge (张伟)>"));
    assert_non_null(strstr(text, "line 2"));
    json_decref(b);

    b = body_of(ESCP_CH_WEBHOOK, &a, NULL, 0);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "alert");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "facts"), "ticket_id")), 42);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(b, "ack_links"), 0),
                                                          "url")),
                        "https://esc.example.com/ack/abc");
    json_decref(b);
    json_decref(f);
}

static void a_digest_lists_the_first_items_and_counts_the_rest(void **state)
{
    (void)state;
    json_t *items = json_array();
    for (int i = 1; i <= 3; i++)
        json_array_append_new(items, json_pack("{s:s,s:s,s:i,s:s}", "type", "breached", "kind", "ack",
                                               "ticket_id", i, "subject", "s"));
    json_t *f = json_pack("{s:s,s:o,s:i}", "type", "digest", "items", items, "folded", 7);
    struct escp_alert a = {f, "zh", NULL, NULL, 0};
    char *title = NULL, *plain = NULL;
    assert_int_equal(escp_alert_text(&a, &title, NULL, NULL, &plain), 0);
    assert_string_equal(title, "【escalated】7 条提醒汇总");
    assert_non_null(strstr(plain, "#3 s"));
    assert_non_null(strstr(plain, "另有 4 条"));
    free(title);
    free(plain);
    json_decref(f);
}

static void a_ladder_step_says_which_step_and_round(void **state)
{
    (void)state;
    json_t *f = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:s}", "type", "ladder", "event", "ack_breach",
                          "ticket_id", 7, "step", 2, "steps", 3, "round", 1, "repeat", 2, "subject", "x");
    struct escp_alert a = {f, "en", NULL, NULL, 0};
    char *title = NULL;
    assert_int_equal(escp_alert_text(&a, &title, NULL, NULL, NULL), 0);
    assert_string_equal(title, "[Acknowledgement overdue] #7 x · step 2 of 3 (round 1 of 2)");
    free(title);
    json_decref(f);
}

static void a_mail_has_encoded_subject_and_base64_body(void **state)
{
    (void)state;
    json_t *f = facts();
    json_t *to = json_pack("[s,s]", "a@example.com", "b@example.com");
    struct escp_alert a = {f, "zh", NULL, NULL, 0};
    char *m = escp_alert_mail(&a, "escalated <alerts@example.com>", to, "Sun, 06 Dec 2026 04:20:00 +0000",
                              "42.1@escalated");
    assert_non_null(m);
    assert_non_null(strstr(m, "To: a@example.com, b@example.com\r\n"));
    assert_non_null(strstr(m, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(m, "Content-Transfer-Encoding: base64\r\n\r\n"));
    assert_non_null(strstr(m, "Message-ID: <42.1@escalated>\r\n"));
    /* no line of the body longer than 76 characters + CRLF, no bare LF */
    const char *body = strstr(m, "\r\n\r\n") + 4;
    for (const char *p = body; *p;) {
        const char *e = strstr(p, "\r\n");
        assert_non_null(e);
        assert_true(e - p <= 76);
        p = e + 2;
    }
    for (const char *p = m; *p; p++)
        if (*p == '\n')
            assert_true(p > m && p[-1] == '\r');
    free(m);
    json_decref(to);
    json_decref(f);
}

static void answers_are_read_per_platform(void **state)
{
    (void)state;
    char why[64];
    int block;
    assert_int_equal(escp_alert_reply(ESCP_CH_WECOM, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", 27, 0, 60,
                                      &block, why, sizeof why), ESCP_ALERT_OK);
    assert_int_equal(escp_alert_reply(ESCP_CH_WECOM, 200, "{\"errcode\":45009}", 17, 0, 60, &block, why,
                                      sizeof why), ESCP_ALERT_BLOCKED);
    assert_int_equal(block, 60);
    assert_int_equal(escp_alert_reply(ESCP_CH_DINGTALK, 200, "{\"errcode\":130101}", 18, 0, 600, &block,
                                      why, sizeof why), ESCP_ALERT_BLOCKED);
    assert_int_equal(block, 600);
    assert_string_equal(why, "errcode 130101");
    assert_int_equal(escp_alert_reply(ESCP_CH_DINGTALK, 200, "{\"errcode\":310000}", 18, 0, 600, &block,
                                      why, sizeof why), ESCP_ALERT_REJECTED);
    assert_int_equal(escp_alert_reply(ESCP_CH_FEISHU, 200, "{\"code\":0,\"msg\":\"success\"}", 26, 0, 60,
                                      &block, why, sizeof why), ESCP_ALERT_OK);
    assert_int_equal(escp_alert_reply(ESCP_CH_FEISHU, 200, "{\"StatusCode\":0}", 16, 0, 60, &block, why,
                                      sizeof why), ESCP_ALERT_OK);
    assert_int_equal(escp_alert_reply(ESCP_CH_FEISHU, 200, "{\"code\":19021}", 14, 0, 60, &block, why,
                                      sizeof why), ESCP_ALERT_REJECTED);
    assert_int_equal(escp_alert_reply(ESCP_CH_FEISHU, 200, "{\"code\":11232}", 14, 0, 60, &block, why,
                                      sizeof why), ESCP_ALERT_BLOCKED);
    assert_int_equal(escp_alert_reply(ESCP_CH_SLACK, 200, "ok", 2, 0, 60, &block, why, sizeof why),
                     ESCP_ALERT_OK);
    assert_int_equal(escp_alert_reply(ESCP_CH_SLACK, 429, "", 0, 30, 60, &block, why, sizeof why),
                     ESCP_ALERT_BLOCKED);
    assert_int_equal(block, 30);
    assert_int_equal(escp_alert_reply(ESCP_CH_SLACK, 404, "no_service", 10, 0, 60, &block, why, sizeof why),
                     ESCP_ALERT_REJECTED);
    assert_int_equal(escp_alert_reply(ESCP_CH_WEBHOOK, 503, "", 0, 0, 0, &block, why, sizeof why),
                     ESCP_ALERT_RETRY);
    assert_int_equal(escp_alert_reply(ESCP_CH_WEBHOOK, 0, NULL, 0, 0, 0, &block, why, sizeof why),
                     ESCP_ALERT_RETRY);
    /* a 200 from a robot without its JSON is not taken for a delivery */
    assert_int_equal(escp_alert_reply(ESCP_CH_WECOM, 200, "<html>", 6, 0, 60, &block, why, sizeof why),
                     ESCP_ALERT_RETRY);
}

static void kinds_and_their_limits(void **state)
{
    (void)state;
    assert_int_equal(escp_channel_kind_from_name("dingtalk"), ESCP_CH_DINGTALK);
    assert_int_equal(escp_channel_kind_from_name("teams"), -1);
    assert_int_equal(escp_channel_kind_from_name(NULL), -1);
    struct escp_channel_limits l = escp_channel_default_limits(ESCP_CH_DINGTALK);
    assert_int_equal(l.count, 20);
    assert_int_equal(l.seconds, 60);
    assert_int_equal(l.block_seconds, 600);
    assert_int_equal(escp_channel_default_limits(ESCP_CH_WECOM).count, 20);
    assert_int_equal(escp_channel_default_limits(ESCP_CH_FEISHU).count, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dingtalk_and_feishu_signatures_match_independent_implementations),
        cmocka_unit_test(each_platform_gets_its_own_body_shape),
        cmocka_unit_test(a_digest_lists_the_first_items_and_counts_the_rest),
        cmocka_unit_test(a_ladder_step_says_which_step_and_round),
        cmocka_unit_test(a_mail_has_encoded_subject_and_base64_body),
        cmocka_unit_test(answers_are_read_per_platform),
        cmocka_unit_test(kinds_and_their_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
