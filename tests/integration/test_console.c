/* test_console.c — the agent console end to end, in a real browser.
 *
 * Without the browser: the routes the console adds (GET /v1/me, a tier's
 * queue in claim order, the actions the state machine allows this caller)
 * against what the claim and the actions really do, and the page's files.
 *
 * In headless Chromium (harness_webdriver.h), as the people who use it: the
 * front desk records a complaint in the form; an agent of line 1
 * acknowledges it from the queue with the keyboard and escalates it; an
 * agent of line 2 claims it and escalates it; an agent of line 3
 * acknowledges it and returns it; line 2 finds it among its tickets, takes
 * it back and returns it; line 1 acknowledges it again and resolves it; the
 * front desk finds it among the callbacks due and closes it.
 * Each step through the page's own buttons and forms; after each, the
 * ticket as the API shows it.  Also: the deadline counting down, the
 * history on the page, Chinese, no sideways scrolling on a 390 px phone.
 * Screenshots go to the build directory (console-queue.png,
 * console-ticket.png, console-phone.png, console-zh.png); with
 * ESC_UPDATE_DOCS=1 they also replace docs/console-*.png. */
#include "harness_webdriver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIME_BOX_S 120.0

static h_ctx *H;
static char *OUTDIR, *SRCDIR;

static const char *SUBJECT = "宽带连续三天无法上网，客户手机13812345678";
static const char *MASKED = "138****5678";

static char *dirname_of(const char *path)
{
    char *d = strdup(path);
    char *slash = strrchr(d, '/');
    if (slash && slash != d)
        *slash = '\0';
    else
        strcpy(d, ".");
    return d;
}

/* ------------------------------------------------------ the API routes */

/* RFC 3339 UTC `seconds` from now (harness-owned). */
static const char *future_iso(int seconds)
{
    time_t t = (time_t)h_wall() + seconds;
    struct tm tm;
    char b[32];
    gmtime_r(&t, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return h_fmt(H, "%s", b);
}

static json_t *actions_of(const char *token, json_int_t id)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/actions", (long long)id), token, NULL);
    h_expect_status(r, 200);
    return h_get(r->json, "actions");
}

static int has_action(json_t *actions, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a) if (strcmp(json_string_value(a), name) == 0) return 1;
    return 0;
}

/* The actions listed are exactly those the server then accepts: try each
 * of them and each of the others on a copy of the situation. */
static void the_listed_actions_are_the_ones_that_succeed(void **state)
{
    (void)state;
    static const char *const all[] = {"acknowledge", "escalate", "return", "wait", "resume",
                                      "resolve", "close", "reopen", "comment", "plan"};
    struct {
        const char *who, *token;
    } people[] = {{"line-1", H->k.agent[1]}, {"line-2", H->k.agent[2]}, {"manager", H->k.manager},
                  {"frontdesk", H->k.frontdesk}};
    for (size_t p = 0; p < sizeof people / sizeof people[0]; p++) {
        for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) {
            /* a ticket acknowledged at line-1 by its agent */
            json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
            h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
            json_t *listed = actions_of(people[p].token, id);
            json_t *body = NULL;
            if (!strcmp(all[a], "escalate") || !strcmp(all[a], "return") || !strcmp(all[a], "wait") ||
                !strcmp(all[a], "reopen"))
                body = h_reason("test");
            else if (!strcmp(all[a], "resolve"))
                body = h_resolve_body("operations");
            else if (!strcmp(all[a], "close"))
                body = h_close_body("satisfied", 5);
            else if (!strcmp(all[a], "comment"))
                body = json_pack("{s:s}", "body", "test");
            else if (!strcmp(all[a], "plan")) /* an hour from now, by the test's clock */
                body = json_pack("{s:{s:s,s:s}}", "plan", "solution", "test", "promised_at",
                                 future_iso(3600));
            h_resp *r = h_action(H, people[p].token, id, all[a], body);
            int ok = r->status == 200 || r->status == 201;
            if (ok != has_action(listed, all[a]))
                fail_msg("%s %s on an acknowledged line-1 ticket: answered %ld, but /actions %s it",
                         people[p].who, all[a], r->status,
                         has_action(listed, all[a]) ? "lists" : "does not list");
        }
    }
    /* awaiting acknowledgement at line-1: only its agents may acknowledge */
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    assert_true(has_action(actions_of(H->k.agent[1], id), "acknowledge"));
    assert_false(has_action(actions_of(H->k.agent[2], id), "acknowledge"));
    assert_false(has_action(actions_of(H->k.manager, id), "acknowledge"));
    assert_true(has_action(actions_of(H->k.agent[2], id), "comment"));
    /* the version comes with it, as the ticket's ETag */
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/actions", (long long)id), H->k.agent[1], NULL);
    h_assert_int(r->json, "ticket_id", id);
    h_assert_int(r->json, "version", 1);
    assert_string_equal(h_header(r, "ETag"), "\"1\"");
    h_expect_error(h_req(H, "GET", "/v1/tickets/999999999/actions", H->k.agent[1], NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", "/v1/tickets/0/actions", H->k.agent[1], NULL), 404, "not_found");
    h_expect_error_field(h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/actions?x=1", (long long)id),
                               H->k.agent[1], NULL), 400, "validation_failed", "x");
    h_expect_error(h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/actions", (long long)id), NULL, NULL),
                   401, "unauthenticated");
}

static void me_says_who_the_token_belongs_to(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/me", H->k.agent[2], NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "id", H->k.agent_id[2]);
    h_assert_str(r->json, "name", H->k.agent_name[2]);
    h_assert_str(r->json, "role", "agent");
    h_assert_str(r->json, "tier", "line-2");
    h_assert_ts(r->json, "server_time");
    double skew = h_ts_epoch(h_str(r->json, "server_time")) - h_wall();
    assert_true(skew > -2 && skew < 2);
    r = h_req(H, "GET", "/v1/me", H->k.frontdesk, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "role", "frontdesk");
    h_assert_null(r->json, "tier");
    h_assert_int(r->json, "id", H->k.frontdesk_id);
    h_expect_error(h_req(H, "GET", "/v1/me", NULL, NULL), 401, "unauthenticated");
    h_expect_error(h_req(H, "GET", "/v1/me", "esc_nope", NULL), 401, "unauthenticated");
    h_expect_error_field(h_req(H, "GET", "/v1/me?x=1", H->k.manager, NULL), 400, "validation_failed", "x");
}

/* The queue lists the tickets in the order claims take them. */
static void the_queue_is_in_claim_order_and_claims_take_its_head(void **state)
{
    (void)state;
    /* line-3's queue, empty so far: two normal tickets then a major one */
    json_int_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = h_new_ticket(H, NULL, i == 2 ? "major" : "normal", NULL);
        h_action_ok(H, H->k.agent[1], ids[i], "acknowledge", NULL);
        h_action_ok(H, H->k.agent[1], ids[i], "escalate", h_reason("to line-2"));
        h_action_ok(H, H->k.agent[2], ids[i], "acknowledge", NULL);
        h_action_ok(H, H->k.agent[2], ids[i], "escalate", h_reason("to line-3"));
    }
    h_resp *r = h_req(H, "GET", "/v1/queues/line-3", H->k.agent[3], NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "tier", "line-3");
    h_assert_int(r->json, "queued", 3);
    h_assert_int(r->json, "items.0.id", ids[2]); /* major first */
    h_assert_int(r->json, "items.1.id", ids[0]); /* then the earliest ack deadline */
    h_assert_int(r->json, "items.2.id", ids[1]);
    /* masked like every ticket */
    h_assert_str(r->json, "items.0.state", "awaiting_ack");
    /* limit: the head of the queue, with the count of all */
    r = h_req(H, "GET", "/v1/queues/line-3?limit=1", H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "queued", 3);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    /* each claim takes the head of the list as it was */
    for (int i = 0; i < 3; i++) {
        r = h_req(H, "GET", "/v1/queues/line-3?limit=1", H->k.agent[3], NULL);
        json_int_t head = h_int(r->json, "items.0.id");
        h_resp *c = h_req(H, "POST", "/v1/queues/line-3/claim", H->k.agent[3], NULL);
        h_expect_status(c, 200);
        h_assert_int(c->json, "id", head);
    }
    r = h_req(H, "GET", "/v1/queues/line-3", H->k.agent[3], NULL);
    h_assert_int(r->json, "queued", 0);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    /* who may look */
    h_expect_error(h_req(H, "GET", "/v1/queues/line-3", H->k.agent[1], NULL), 403, "forbidden");
    h_expect_error(h_req(H, "GET", "/v1/queues/line-1", H->k.frontdesk, NULL), 403, "forbidden");
    h_expect_status(h_req(H, "GET", "/v1/queues/line-1", H->k.admin, NULL), 200);
    h_expect_error(h_req(H, "GET", "/v1/queues/line-4", H->k.manager, NULL), 404, "not_found");
    h_expect_error_field(h_req(H, "GET", "/v1/queues/line-1?limit=0", H->k.agent[1], NULL), 400,
                         "validation_failed", "limit");
    h_expect_error_field(h_req(H, "GET", "/v1/queues/line-1?limit=201", H->k.agent[1], NULL), 400,
                         "validation_failed", "limit");
}

static void the_page_files_are_served_with_csp_and_caching_headers(void **state)
{
    (void)state;
    static const char *const paths[] = {"/console", "/console/", "/console/app.js", "/console/app.css",
                                        "/console/icon.svg"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        h_resp *r = h_req(H, "GET", paths[i], NULL, NULL);
        h_expect_status(r, 200);
        assert_non_null(strstr(h_header(r, "Content-Security-Policy"), "default-src 'self'"));
        assert_string_equal(h_header(r, "X-Frame-Options"), "DENY");
        assert_string_equal(h_header(r, "Cache-Control"), "no-cache");
        const char *etag = h_header(r, "ETag");
        assert_non_null(etag);
        h_resp *again = h_req(H, "GET", paths[i], NULL, NULL, h_fmt(H, "If-None-Match: %s", etag));
        h_expect_status(again, 304);
    }
    h_expect_error(h_req(H, "GET", "/console/nope.js", NULL, NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", "/console/index.html", NULL, NULL), 404, "not_found");
}

/* ------------------------------------------------------------ the browser */

static void go(const char *hash)
{
    wd("POST", wd_spath("/url"), json_pack("{s:s}", "url", h_fmt(H, "%s/console/%s", H->base_url, hash)));
}

static void sign_out(void)
{
    if (wd_js_bool("return !document.getElementById('nav').hidden;"))
        wd_click("#signout");
    wd_wait_js("return !document.getElementById('login').hidden;", 10, "the sign-in form");
}

static void sign_in(const char *token, const char *who)
{
    sign_out();
    wd_type("#token", token);
    wd_click("#login-form button");
    wd_wait_js("return document.getElementById('login').hidden && "
               "document.getElementById('who').textContent.length > 0;", 10, who);
}

/* Wait until the list `listId` shows ticket id. */
static void wait_row(const char *list, json_int_t id, const char *what)
{
    wd_wait_js(h_fmt(H, "return !!document.querySelector('#%s li[data-id=\"%lld\"]');", list,
                     (long long)id), 10, what);
}

static void wait_ticket_page(json_int_t id, const char *state, const char *tier)
{
    wd_wait_js(h_fmt(H, "var h = document.getElementById('t-title');"
                        "return !document.getElementById('view-ticket').hidden && h && "
                        "h.textContent.indexOf('#%lld ') === 0 && "
                        "document.querySelector('#t-actions') !== null;", (long long)id),
               10, "the ticket page");
    /* the API agrees with what the page says */
    json_t *t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "state", state);
    h_assert_str(t, "tier", tier);
}

/* Press a button of the ticket page's actions, fill the form, confirm;
 * wait until the API shows the change: a new version at `state`. */
static void act(json_int_t id, const char *action, const char *text, const char *state)
{
    json_int_t before = h_int(h_get_ticket(H, H->k.manager, id), "version");
    wd_wait_js(h_fmt(H, "return !!document.querySelector('#t-actions button[data-action=\"%s\"]');", action),
               10, h_fmt(H, "the %s button", action));
    wd_click(h_fmt(H, "#t-actions button[data-action=\"%s\"]", action));
    if (text) {
        wd_wait_js("return !document.getElementById('action-form').hidden;", 5, "the action form");
        if (strcmp(action, "resolve") == 0) {
            wd_type("#af-resolution", text);
            wd_js("document.getElementById('af-root_cause').value = 'operations'; return null;");
        } else if (strcmp(action, "close") == 0) {
            wd_type("#af-score", "5");
            wd_type("#af-feedback", text);
        } else {
            wd_type("#af-reason", text);
        }
        wd_click("#af-submit");
    }
    double until = h_now() + 10;
    for (;;) {
        json_t *t = h_get_ticket(H, H->k.manager, id);
        if (h_int(t, "version") > before && strcmp(h_str(t, "state"), state) == 0)
            break;
        if (h_now() > until)
            fail_msg("%s did not take the ticket to %s (page: %s)", action, state,
                     wd_js_str("return Array.from(document.querySelectorAll('.error:not([hidden])'))"
                               ".map(function (e) { return e.textContent; }).join(' | ');"));
        h_sleep(0.1);
    }
}

/* Press and release one key (a character, or a WebDriver key code such as
 * U+E007 Enter) on whatever has the focus. */
static void key(const char *k)
{
    wd("POST", wd_spath("/actions"),
       json_pack("{s:[{s:s,s:s,s:[{s:s,s:s},{s:s,s:s}]}]}", "actions", "type", "key", "id", "keyboard",
                 "actions", "type", "keyDown", "value", k, "type", "keyUp", "value", k));
    wd("DELETE", wd_spath("/actions"), NULL);
}

static void screenshot_doc(const char *name)
{
    const char *path = h_fmt(H, "%s/%s", OUTDIR, name);
    wd_screenshot(path);
    const char *upd = getenv("ESC_UPDATE_DOCS");
    if (upd && strcmp(upd, "1") == 0) {
        const char *docs = h_fmt(H, "%s/docs/%s", SRCDIR, name);
        char *const cp[] = {"cp", (char *)path, (char *)docs, NULL};
        assert_int_equal(h_run(cp, NULL), 0);
    }
}

static void viewport(int width, int height, int mobile)
{
    wd_cdp("Emulation.setDeviceMetricsOverride",
           json_pack("{s:i,s:i,s:i,s:b}", "width", width, "height", height, "deviceScaleFactor", 1,
                     "mobile", mobile));
    h_sleep(0.3);
}

static void three_agents_take_one_complaint_through_all_three_tiers_and_back(void **state)
{
    (void)state;
    wd_start(OUTDIR);
    wd_time_box_start(TIME_BOX_S, "console test");
    go("");

    /* a bad token is refused with a clear message */
    wd_wait_js("return !document.getElementById('login').hidden;", 10, "the sign-in form");
    wd_type("#token", "esc_not_a_real_token");
    wd_click("#login-form button");
    wd_wait_js("var e = document.getElementById('login-error');"
               "return !e.hidden && e.textContent.indexOf('401') >= 0;", 10, "the 401 message");

    /* the front desk records the complaint */
    sign_in(H->k.frontdesk, "the front desk");
    wd_wait_js("return !document.getElementById('view-new').hidden;", 10, "the complaint form");
    assert_true(wd_js_bool("return document.getElementById('nav-new').hidden === false;"));
    wd_type("#n-subject", SUBJECT);
    wd_type("#n-description", "客户已重启光猫，指示灯仍为红色。");
    wd_js("var c = document.getElementById('n-category');"
          "if (!c.hidden) { c.selectedIndex = c.options.length > 1 ? 1 : 0; }"
          "else { document.getElementById('n-category-text').value = 'service_quality'; }"
          "document.getElementById('n-severity').value = 'major'; return null;");
    wd_type("#n-name", "王芳");
    wd_type("#n-phone", "13812345678");
    wd_click("#n-submit");
    wd_wait_js("var f = document.getElementById('flash');"
               "return !f.hidden && /#[0-9]+/.test(f.textContent);", 10, "the recorded message");
    json_int_t id = strtoll(wd_js_str("return document.getElementById('flash').textContent"
                                      ".match(/#([0-9]+)/)[1];"), NULL, 10);
    assert_true(id > 0);
    json_t *t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "subject", "宽带连续三天无法上网，客户手机138****5678");
    h_assert_str(t, "severity", "major");
    h_assert_str(t, "channel", "phone");
    h_assert_str(t, "customer.phone", MASKED);
    /* a double click does not record it twice: one ticket with that subject */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE subject LIKE '宽带连续三天%%'"), 1);

    /* line 1: the queue shows it with its deadline counting down */
    sign_in(H->k.agent[1], "line-1");
    wd_wait_js("return !document.getElementById('view-queue').hidden;", 10, "line-1's queue");
    wait_row("queue-list", id, "the complaint in line-1's queue");
    const char *due1 = wd_js_str(h_fmt(H, "return document.querySelector('#queue-list li[data-id=\"%lld\"] .due')"
                                          ".textContent;", (long long)id));
    assert_non_null(strstr(due1, "Acknowledge in 9 min"));
    wd_wait_js(h_fmt(H, "return document.querySelector('#queue-list li[data-id=\"%lld\"] .due').textContent "
                        "!== '%s';", (long long)id, due1), 3, "the deadline counting down");
    /* the masked phone, never the number */
    assert_null(strstr(wd_js_str("return document.body.textContent;"), "13812345678"));
    viewport(1280, 900, 0);
    screenshot_doc("console-queue.png");
    /* keyboard: it is major, so the head of the queue, selected; acknowledge it */
    wd_wait_js(h_fmt(H, "var li = document.querySelector('#queue-list li.sel');"
                        "return li && li.dataset.id === '%lld';", (long long)id), 5, "the row selected");
    key("a");
    wait_ticket_page(id, "acknowledged", "line-1");
    act(id, "escalate", "光猫正常，疑似局端故障", "awaiting_ack");
    t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "tier", "line-2");

    /* line 2 claims it (the button) and escalates it */
    sign_in(H->k.agent[2], "line-2");
    wait_row("queue-list", id, "the complaint in line-2's queue");
    wd_click("#claim");
    wait_ticket_page(id, "acknowledged", "line-2");
    h_assert_int(h_get_ticket(H, H->k.manager, id), "assignee.id", H->k.agent_id[2]);
    /* the history on the page: created, acknowledged, escalated, acknowledged */
    wd_wait_js("return document.querySelectorAll('#t-history li').length >= 4;", 10, "the history");
    assert_true(wd_js_bool("return Array.from(document.querySelectorAll('#t-history li .text'))"
                           ".some(function (e) { return e.textContent === '光猫正常，疑似局端故障'; });"));
    act(id, "escalate", "Needs a fix in the access network config", "awaiting_ack");

    /* line 3 acknowledges it (the row's button), comments and returns it */
    sign_in(H->k.agent[3], "line-3");
    wait_row("queue-list", id, "the complaint in line-3's queue");
    wd_click(h_fmt(H, "#queue-list li[data-id=\"%lld\"] button.ack", (long long)id));
    wait_ticket_page(id, "acknowledged", "line-3");
    wd_type("#comment", "OLT 端口配置已修正");
    wd_click("#comment-form button");
    wd_wait_js("return Array.from(document.querySelectorAll('#t-history li .text'))"
               ".some(function (e) { return e.textContent === 'OLT 端口配置已修正'; });", 10, "the comment");
    /* only what the state machine allows: no acknowledge, no close */
    assert_false(wd_js_bool("return !!document.querySelector('#t-actions button[data-action=\"acknowledge\"]');"));
    assert_false(wd_js_bool("return !!document.querySelector('#t-actions button[data-action=\"close\"]');"));
    assert_false(wd_js_bool("return !!document.querySelector('#t-actions button[data-action=\"escalate\"]');"));
    /* a plan: a solution and the time it is promised by (the form's default: 4 hours) */
    wd_click("#t-actions button[data-action=\"plan\"]");
    wd_wait_js("return !document.getElementById('action-form').hidden;", 5, "the plan form");
    wd_type("#af-solution", "修正 OLT 端口配置，今晚 22 点前完成");
    wd_click("#af-submit");
    wd_wait_js("return !!document.querySelector('#t-deadlines .due[data-kind=\"promise\"]');", 10,
               "the promised time counting down");
    t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "plan.solution", "修正 OLT 端口配置，今晚 22 点前完成");
    double promised = h_ts_epoch(h_str(t, "plan.promised_at")) - h_wall();
    assert_true(promised > 3.5 * 3600 && promised < 4.5 * 3600);
    viewport(1280, 900, 0);
    screenshot_doc("console-ticket.png");
    act(id, "return", "已修复局端配置，请二线确认", "awaiting_ack");
    t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "tier", "line-2");
    h_assert_int(t, "assignee.id", H->k.agent_id[2]); /* back to the agent who had it */

    /* line 2 finds it among its tickets, acknowledges it and returns it */
    sign_in(H->k.agent[2], "line-2 again");
    go("#/mine");
    wait_row("mine-list", id, "the complaint in line-2's tickets");
    wd_wait_js(h_fmt(H, "var li = document.querySelector('#mine-list li.sel');"
                        "return li && li.dataset.id === '%lld';", (long long)id), 5, "the row selected");
    key("\xee\x80\x87"); /* Enter (WebDriver's U+E007) opens the selected row */
    wd_wait_js("return !document.getElementById('view-ticket').hidden;", 10, "the ticket from my tickets");
    act(id, "acknowledge", NULL, "acknowledged");
    act(id, "return", "客户侧已恢复，请一线回访", "awaiting_ack");

    /* line 1 takes it back and resolves it */
    sign_in(H->k.agent[1], "line-1 again");
    go("#/mine");
    wait_row("mine-list", id, "the complaint in line-1's tickets");
    wd_click(h_fmt(H, "#mine-list li[data-id=\"%lld\"]", (long long)id));
    wait_ticket_page(id, "awaiting_ack", "line-1");
    act(id, "acknowledge", NULL, "acknowledged");
    act(id, "resolve", "局端配置修正后客户恢复上网", "resolved");
    t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "root_cause", "operations");
    h_assert_set(t, "callback_due_at");
    /* the whole way, in the history */
    static const char *const want[] = {"created", "acknowledged", "escalated", "acknowledged", "escalated",
                                       "acknowledged", "commented", "planned", "returned", "acknowledged",
                                       "returned", "acknowledged", "resolved"};
    json_t *evs = h_events(H, id);
    size_t k = 0, i;
    json_t *e;
    json_array_foreach(evs, i, e) {
        const char *type = h_str(e, "type");
        if (!strcmp(type, "notified") || !strcmp(type, "at_risk"))
            continue;
        if (k >= sizeof want / sizeof want[0] || strcmp(type, want[k]) != 0)
            fail_msg("event %zu is %s, expected %s", i, type, k < sizeof want / sizeof want[0] ? want[k] : "none");
        k++;
    }
    assert_int_equal(k, sizeof want / sizeof want[0]);
    wd_wait_js("return document.querySelectorAll('#t-history li[data-type=\"resolved\"]').length === 1;", 10,
               "the resolution in the page's history");

    /* the front desk calls the customer back and closes it from its callback list */
    sign_in(H->k.frontdesk, "the front desk again");
    go("#/mine");
    wait_row("mine-list", id, "the complaint among the callbacks due");
    assert_string_equal(wd_js_str("return document.getElementById('nav-mine').textContent;"), "Callbacks");
    wd_click(h_fmt(H, "#mine-list li[data-id=\"%lld\"]", (long long)id));
    wait_ticket_page(id, "resolved", "line-1");
    act(id, "close", "处理很快，谢谢", "closed");
    t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "satisfaction.result", "satisfied");
    h_assert_int(t, "satisfaction.score", 5);

    /* in Chinese */
    wd_click("#lang");
    wd_wait_js("return document.documentElement.lang === 'zh-CN' && "
               "document.querySelector('h1 [data-i18n=\"title\"]').textContent === '坐席工作台';", 5,
               "the Chinese labels");
    screenshot_doc("console-zh.png");

    /* a phone: 390 px wide, nothing scrolls sideways */
    viewport(390, 844, 1);
    json_t *dims = wd_js("return [window.innerWidth, document.documentElement.scrollWidth,"
                         " document.body.scrollWidth];");
    json_int_t inner = json_integer_value(json_array_get(dims, 0));
    json_int_t sw = json_integer_value(json_array_get(dims, 1));
    json_int_t bw = json_integer_value(json_array_get(dims, 2));
    assert_int_equal(inner, 390);
    if (sw > inner || bw > inner)
        fail_msg("horizontal overflow at 390 px: scrollWidth %lld/%lld > innerWidth %lld", (long long)sw,
                 (long long)bw, (long long)inner);
    screenshot_doc("console-phone.png");

    wd_check_browser_log((const char *const[]){"status of 401", "status of 403", NULL});
    wd_stop();
}

static int setup(void **state)
{
    (void)state;
    H = h_start("test_console", NULL);
    const char *bin = getenv("ESC_BIN"), *data = getenv("ESC_TEST_DATA");
    OUTDIR = dirname_of(bin ? bin : "./escalated");
    char *tests = dirname_of(data ? data : "./tests/data");
    SRCDIR = dirname_of(tests);
    free(tests);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wd_stop();
    h_finish(H);
    free(OUTDIR);
    free(SRCDIR);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(me_says_who_the_token_belongs_to),
        cmocka_unit_test(the_listed_actions_are_the_ones_that_succeed),
        cmocka_unit_test(the_queue_is_in_claim_order_and_claims_take_its_head),
        cmocka_unit_test(the_page_files_are_served_with_csp_and_caching_headers),
        cmocka_unit_test(three_agents_take_one_complaint_through_all_three_tiers_and_back),
    };
    return h_run_group_tests(tests, setup, teardown);
}
