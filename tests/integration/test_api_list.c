/* test_api_list.c — GET /v1/tickets: every filter, limits, cursor pagination. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static h_ctx *H;

#define N_BULK 120

static json_int_t bulk[N_BULK];
static json_int_t t_l2, t_l3, t_major, t_resolved, t_waiting, t_zh, t_pct, t_mixed, t_closed;

static json_int_t mk(const char *subject, const char *severity, const char *description)
{
    json_t *b = json_pack("{s:s}", "subject", subject);
    if (severity)
        json_object_set_new(b, "severity", json_string(severity));
    if (description)
        json_object_set_new(b, "description", json_string(description));
    return h_int(h_create_ticket(H, NULL, b), "id");
}

/* A fixed world that every test reads: N_BULK plain tickets plus a few in
 * every state and tier.  The tests add tickets of their own; the only
 * change to these is the breaches the breached-filter test marks on three
 * of them, which no other test looks at. */
static int setup(void **state)
{
    (void)state;
    H = h_start("test_api_list", NULL);
    for (int i = 0; i < N_BULK; i++)
        bulk[i] = mk(h_fmt(H, "bulk ticket %03d", i), NULL, NULL);
    const char *A1 = H->k.agent[1], *A2 = H->k.agent[2];
    t_l2 = mk("line-2 ticket", NULL, NULL);
    h_action_ok(H, A1, t_l2, "acknowledge", NULL);
    h_action_ok(H, A1, t_l2, "escalate", h_reason("r"));
    h_action_ok(H, A2, t_l2, "acknowledge", NULL);
    t_l3 = mk("line-3 ticket", "major", NULL);
    h_action_ok(H, A1, t_l3, "acknowledge", NULL);
    h_action_ok(H, A1, t_l3, "escalate", h_reason("r"));
    h_action_ok(H, A2, t_l3, "acknowledge", NULL);
    h_action_ok(H, A2, t_l3, "escalate", h_reason("r"));
    t_major = mk("major awaiting", "major", NULL);
    t_resolved = mk("resolved ticket", NULL, NULL);
    h_action_ok(H, A1, t_resolved, "acknowledge", NULL);
    h_action_ok(H, A1, t_resolved, "resolve", h_resolve_body("operations"));
    t_waiting = mk("waiting ticket", NULL, NULL);
    h_action_ok(H, A1, t_waiting, "acknowledge", NULL);
    h_action_ok(H, A1, t_waiting, "wait", h_reason("w"));
    t_closed = mk("closed ticket", NULL, NULL);
    h_action_ok(H, A1, t_closed, "acknowledge", NULL);
    h_action_ok(H, A1, t_closed, "resolve", h_resolve_body("operations"));
    h_action_ok(H, H->k.frontdesk, t_closed, "close", h_close_body("satisfied", 0));
    t_zh = mk("宽带故障：光猫指示灯不亮", NULL, "用户住在朝阳区，已经报修两次");
    t_pct = mk("refund 100% please", NULL, "a_b literal underscore");
    t_mixed = mk("Router MiXeD Case", NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

/* Every page of a query: the ids in order. */
static json_int_t *list_all(const char *query, const char *token, size_t *n_out, int limit)
{
    size_t cap = 256, n = 0;
    json_int_t *ids = malloc(cap * sizeof *ids);
    const char *cursor = NULL;
    for (int page = 0; page < 1000; page++) {
        const char *path = h_fmt(H, "/v1/tickets?%s%slimit=%d%s%s", query ? query : "",
                                 query && *query ? "&" : "", limit, cursor ? "&cursor=" : "",
                                 cursor ? h_urlenc(H, cursor) : "");
        h_resp *r = h_req(H, "GET", path, token ? token : H->k.manager, NULL);
        h_expect_status(r, 200);
        json_t *items = h_get(r->json, "items");
        assert_true(json_is_array(items));
        assert_true(json_array_size(items) <= (size_t)limit);
        assert_true(h_has(r->json, "next_cursor"));
        json_t *it;
        size_t i;
        json_array_foreach(items, i, it) {
            if (n == cap) {
                cap *= 2;
                ids = realloc(ids, cap * sizeof *ids);
            }
            ids[n++] = h_int(it, "id");
        }
        json_t *nc = h_get(r->json, "next_cursor");
        if (json_is_null(nc))
            break;
        assert_true(json_is_string(nc));
        cursor = json_string_value(nc);
        if (json_array_size(items) == 0)
            fail_msg("an empty page with a next_cursor");
    }
    *n_out = n;
    return ids;
}

static int contains(const json_int_t *ids, size_t n, json_int_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static size_t total(void) { return (size_t)h_sql_ll(H, "SELECT count(*) FROM tickets"); }

static void cursor_pages_list_every_ticket_once_newest_first(void **state)
{
    (void)state;
    size_t n;
    json_int_t *ids = list_all(NULL, NULL, &n, 25);
    assert_int_equal(n, total());
    assert_true(n >= N_BULK);
    /* newest first, each exactly once */
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] < ids[i - 1]);
    for (int i = 0; i < N_BULK; i++)
        assert_true(contains(ids, n, bulk[i]));
    free(ids);
    /* pages of 7 and of 200 see the same */
    ids = list_all(NULL, H->k.agent[3], &n, 7);
    assert_int_equal(n, total());
    free(ids);
    ids = list_all(NULL, H->k.frontdesk, &n, 200);
    assert_int_equal(n, total());
    free(ids);

    /* default limit 50; the last page has next_cursor null */
    h_resp *r = h_req(H, "GET", "/v1/tickets", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 50);
    assert_true(json_is_string(h_get(r->json, "next_cursor")));
    r = h_req(H, "GET", "/v1/tickets?limit=200&q=bulk%20ticket%20000", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    assert_true(h_isnull(r->json, "next_cursor"));

    /* a ticket created while paging does not disturb the pages behind us */
    r = h_req(H, "GET", "/v1/tickets?limit=30", H->k.manager, NULL);
    h_expect_status(r, 200);
    const char *cur = h_str(r->json, "next_cursor");
    json_int_t last = h_int(r->json, "items.29.id");
    mk("created while paging", NULL, NULL);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?limit=30&cursor=%s", h_urlenc(H, cur)), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_true(h_int(r->json, "items.0.id") < last);
}

static void bad_limits_cursors_and_filter_values_are_400(void **state)
{
    (void)state;
    const char *bad[] = {"limit=0", "limit=201", "limit=-5", "limit=abc", "limit=",
                         "cursor=not-a-cursor!!", "tier=line-4", "state=open", "severity=minor",
                         "breached=late", "due_before=yesterday", "assignee=someone",
                         "frobnicate=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?%s", bad[i]), H->k.manager, NULL);
        if (r->status != 400)
            print_error("query %s\n", bad[i]);
        h_expect_error(r, 400, "validation_failed");
    }
    h_resp *r = h_req(H, "GET", "/v1/tickets?limit=200", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_true(json_array_size(h_get(r->json, "items")) <= 200);
    r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    r = h_req(H, "GET", "/v1/tickets", NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
}

/* Check every item of a filtered listing satisfies pred, and which ids are in. */
static void filter_case(const char *query, const char *field, const char *const *allowed,
                        const json_int_t *must, size_t n_must, const json_int_t *must_not,
                        size_t n_must_not)
{
    size_t n;
    const char *cursor = NULL;
    size_t cap = 512;
    json_int_t *ids = malloc(cap * sizeof *ids);
    n = 0;
    for (;;) {
        const char *path = h_fmt(H, "/v1/tickets?%s&limit=200%s%s", query, cursor ? "&cursor=" : "",
                                 cursor ? h_urlenc(H, cursor) : "");
        h_resp *r = h_req(H, "GET", path, H->k.manager, NULL);
        if (r->status != 200)
            print_error("query %s\n", query);
        h_expect_status(r, 200);
        json_t *it;
        size_t i;
        json_array_foreach(h_get(r->json, "items"), i, it) {
            if (field) {
                const char *v = h_str(it, field);
                int ok = 0;
                for (size_t k = 0; v && allowed[k]; k++)
                    ok |= strcmp(v, allowed[k]) == 0;
                if (!ok) {
                    print_error("query %s: ticket %lld has %s=%s\n", query, (long long)h_int(it, "id"),
                                field, v ? v : "(none)");
                    fail();
                }
            }
            if (n == cap) {
                cap *= 2;
                ids = realloc(ids, cap * sizeof *ids);
            }
            ids[n++] = h_int(it, "id");
        }
        if (!json_is_string(h_get(r->json, "next_cursor")))
            break;
        cursor = h_str(r->json, "next_cursor");
    }
    for (size_t i = 0; i < n_must; i++) {
        if (!contains(ids, n, must[i])) {
            print_error("query %s: ticket %lld missing\n", query, (long long)must[i]);
            fail();
        }
    }
    for (size_t i = 0; i < n_must_not; i++) {
        if (contains(ids, n, must_not[i])) {
            print_error("query %s: ticket %lld should not be listed\n", query, (long long)must_not[i]);
            fail();
        }
    }
    free(ids);
}

#define ARR(...) ((const json_int_t[]){__VA_ARGS__}), (sizeof((const json_int_t[]){__VA_ARGS__}) / sizeof(json_int_t))
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void tier_state_and_severity_filters_list_only_their_values(void **state)
{
    (void)state;
    filter_case("tier=line-2", "tier", NAMES("line-2"), ARR(t_l2), ARR(bulk[0], t_l3));
    filter_case("tier=line-3", "tier", NAMES("line-3"), ARR(t_l3), ARR(t_l2, bulk[5]));
    filter_case("tier=line-2,line-3", "tier", NAMES("line-2", "line-3"), ARR(t_l2, t_l3), ARR(bulk[3]));
    filter_case("tier=line-1", "tier", NAMES("line-1"), ARR(bulk[0], t_resolved), ARR(t_l2, t_l3));
    filter_case("state=awaiting_ack", "state", NAMES("awaiting_ack"), ARR(bulk[7], t_l3, t_major),
                ARR(t_l2, t_resolved, t_waiting, t_closed));
    filter_case("state=acknowledged", "state", NAMES("acknowledged"), ARR(t_l2), ARR(bulk[7], t_waiting));
    filter_case("state=waiting_customer", "state", NAMES("waiting_customer"), ARR(t_waiting), ARR(t_l2));
    filter_case("state=resolved", "state", NAMES("resolved"), ARR(t_resolved), ARR(t_closed));
    filter_case("state=closed", "state", NAMES("closed"), ARR(t_closed), ARR(t_resolved));
    filter_case("state=resolved,closed", "state", NAMES("resolved", "closed"), ARR(t_resolved, t_closed),
                ARR(t_waiting));
    filter_case("severity=major", "severity", NAMES("major"), ARR(t_major, t_l3), ARR(bulk[1]));
    filter_case("severity=normal", "severity", NAMES("normal"), ARR(bulk[1], t_l2), ARR(t_major));
    filter_case("severity=major&tier=line-3&state=awaiting_ack", "tier", NAMES("line-3"), ARR(t_l3),
                ARR(t_major));
}

static void assignee_filter_takes_an_id_or_me(void **state)
{
    (void)state;
    const char *q = h_fmt(H, "assignee=%lld", (long long)H->k.agent_id[2]);
    filter_case(q, "assignee.name", NAMES(H->k.agent_name[2]), ARR(t_l2), ARR(t_l3, bulk[0]));
    q = h_fmt(H, "assignee=%lld", (long long)H->k.agent_id[1]);
    filter_case(q, "assignee.name", NAMES(H->k.agent_name[1]), ARR(t_waiting),
                ARR(t_l2, bulk[0]));
    /* `me` is the caller */
    h_resp *r = h_req(H, "GET", "/v1/tickets?assignee=me&limit=200", H->k.agent[2], NULL);
    h_expect_status(r, 200);
    json_t *it;
    size_t i;
    int seen = 0;
    json_array_foreach(h_get(r->json, "items"), i, it) {
        h_assert_int(it, "assignee.id", H->k.agent_id[2]);
        seen |= h_int(it, "id") == t_l2;
    }
    assert_true(seen);
    r = h_req(H, "GET", "/v1/tickets?assignee=me", H->k.frontdesk, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    /* an id nobody has */
    r = h_req(H, "GET", "/v1/tickets?assignee=987654", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
}

static void q_matches_a_literal_substring_case_insensitively_chinese_included(void **state)
{
    (void)state;
    /* Chinese substring of the subject, and of the description */
    filter_case(h_fmt(H, "q=%s", h_urlenc(H, "光猫")), NULL, NULL, ARR(t_zh), ARR(bulk[0], t_pct));
    filter_case(h_fmt(H, "q=%s", h_urlenc(H, "朝阳区")), NULL, NULL, ARR(t_zh), ARR(bulk[0]));
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "光猫")), H->k.agent[1], NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    h_assert_str(r->json, "items.0.subject", "宽带故障：光猫指示灯不亮");
    /* case-insensitive */
    filter_case("q=mixed%20case", NULL, NULL, ARR(t_mixed), ARR(t_zh));
    filter_case("q=ROUTER", NULL, NULL, ARR(t_mixed), ARR(t_zh));
    /* % and _ are literal */
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "100%")), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "%")), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "a_b")), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "_")), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    /* nothing */
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "不存在的内容")), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    assert_true(h_isnull(r->json, "next_cursor"));
}

static const char *fmt_ts(double epoch, int offset_minutes)
{
    time_t t = (time_t)epoch + offset_minutes * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (offset_minutes == 0)
        return h_fmt(H, "%sZ", buf);
    return h_fmt(H, "%s%c%02d:%02d", buf, offset_minutes > 0 ? '+' : '-', abs(offset_minutes) / 60,
                 abs(offset_minutes) % 60);
}

static void due_before_lists_tickets_with_a_live_deadline_before_that_instant(void **state)
{
    (void)state;
    json_t *t = h_get_ticket(H, NULL, t_major);
    double now = h_ts_epoch(h_str(t, "created_at"));
    /* within the hour: tickets whose ack timer runs (awaiting_ack) */
    const char *hour = fmt_ts(now + 3600, 0);
    filter_case(h_fmt(H, "due_before=%s", h_urlenc(H, hour)), "state", NAMES("awaiting_ack"),
                ARR(t_major, bulk[0], t_l3), ARR(t_l2, t_resolved, t_waiting, t_closed));
    /* the same instant written at +08:00 */
    const char *hour8 = fmt_ts(now + 3600, 480);
    filter_case(h_fmt(H, "due_before=%s", h_urlenc(H, hour8)), "state", NAMES("awaiting_ack"),
                ARR(t_major, bulk[0]), ARR(t_l2, t_resolved));
    /* within 30 days: resolve timers (line-2, acknowledged) and callbacks too */
    const char *month = fmt_ts(now + 30 * 86400.0, 0);
    filter_case(h_fmt(H, "due_before=%s", h_urlenc(H, month)), NULL, NULL,
                ARR(t_major, t_l2, t_resolved), ARR(t_closed, t_waiting));
    /* in the past: nothing */
    const char *past = fmt_ts(now - 86400, 0);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?due_before=%s", h_urlenc(H, past)), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
}

static void breached_filter_lists_the_tickets_with_that_breach(void **state)
{
    (void)state;
    /* The SLA engine is not part of this test: mark breaches in the database
     * directly and check the filter reads them. */
    const char *err = NULL;
    int rc = h_sql_exec(H, h_fmt(H, "UPDATE tickets SET breaches = '{ack}' WHERE id = %lld", (long long)bulk[10]), &err);
    assert_int_equal(rc, 0);
    rc = h_sql_exec(H, h_fmt(H, "UPDATE tickets SET breaches = '{ack,resolve}' WHERE id = %lld", (long long)t_l2), &err);
    assert_int_equal(rc, 0);
    rc = h_sql_exec(H, h_fmt(H, "UPDATE tickets SET breaches = '{callback}' WHERE id = %lld", (long long)t_resolved), &err);
    assert_int_equal(rc, 0);
    h_resp *r = h_req(H, "GET", "/v1/tickets?breached=ack&limit=200", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 2);
    filter_case("breached=ack", NULL, NULL, ARR(bulk[10], t_l2), ARR(t_resolved, bulk[11]));
    filter_case("breached=resolve", NULL, NULL, ARR(t_l2), ARR(bulk[10], t_resolved));
    filter_case("breached=callback", NULL, NULL, ARR(t_resolved), ARR(bulk[10], t_l2));
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)t_l2), H->k.manager, NULL);
    h_expect_status(r, 200);
    json_t *b = h_get(r->json, "breaches");
    assert_int_equal(json_array_size(b), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursor_pages_list_every_ticket_once_newest_first),
        cmocka_unit_test(bad_limits_cursors_and_filter_values_are_400),
        cmocka_unit_test(tier_state_and_severity_filters_list_only_their_values),
        cmocka_unit_test(assignee_filter_takes_an_id_or_me),
        cmocka_unit_test(q_matches_a_literal_substring_case_insensitively_chinese_included),
        cmocka_unit_test(due_before_lists_tickets_with_a_live_deadline_before_that_instant),
        cmocka_unit_test(breached_filter_lists_the_tickets_with_that_breach),
    };
    return h_run_group_tests(tests, setup, teardown);
}
