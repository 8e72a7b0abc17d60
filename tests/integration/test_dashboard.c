/* test_dashboard.c — the manager dashboard end to end, in a real browser.
 *
 * Debian's chromium runs headless under Debian's chromedriver, driven over the
 * W3C WebDriver HTTP API with libcurl + jansson, against the real daemon.
 * Tickets breach under a one-second policy; the test then checks what a
 * manager sees: open tickets by tier and state, the at-risk ticket (a Chinese
 * subject), breaches per day in the chart (read from the Chart.js instance),
 * the SLA table and its grouping switch, the CSV download, the live feed
 * showing a breach as it happens (and the counts following it), bad tokens,
 * the language switch, and no horizontal overflow on a 390 px wide screen.
 * Also, without the browser: GET /v1/dashboard/summary against the database
 * (roles, parameters, every number) and the page's files (headers, 304).
 * Screenshots go to the build directory (dashboard-wide.png,
 * dashboard-narrow.png, dashboard-zh.png); with ESC_UPDATE_DOCS=1 the wide
 * one also replaces docs/dashboard.png.
 *
 * chromium and chromedriver are required: when they are missing the test
 * fails (scripts/test.sh and .ci/run install them). */
#include "harness_webdriver.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIME_BOX_S 50.0

static h_ctx *H;
static double T0;

static struct {
    char *outdir;      /* the build directory */
    char *srcdir;      /* the source tree */
} W;

/* ---------------------------------------------------------------- helpers */

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

/* ------------------------------------------------------------- the world */

static const char *SUBJ_AT_RISK = "网点打印机卡纸，客户无法取号";
static const char *SUBJ_BILL = "宽带账单多扣费，客户要求退款";
static const char *CAT_BILL = "账单";
static const char *CAT_HTML = "<b>billing</b>";

static json_int_t t_risk, t_bill, t_l2, t_wait, t_resolved, t_html, t_live;
static char tz[64];

static json_int_t create(const char *subject, const char *category, const char *severity)
{
    return h_new_ticket(H, subject, severity, category);
}

/* Wait until no timer is due within the next minute: every short deadline
 * has fired, so the breach counts stop moving. */
static void settle(void)
{
    long long n = h_wait_sql_count(H, 0, 15,
                                   "SELECT count(*) FROM timers WHERE due_at < now() + interval '60 seconds'");
    if (n != 0)
        fail_msg("timers still due after 15 s: %lld", n);
}

/* The tickets every test looks at, made in the group setup. */
static void build_world(void)
{
    const char *A1 = H->k.agent[1], *M = H->k.manager;
    /* under the default policy: its ack deadline is 10 minutes away, at risk */
    t_risk = create(SUBJ_AT_RISK, "设备", NULL);
    /* a major complaint, put on hold: no running deadline */
    t_wait = create("Router smoking at the customer's home", "safety", "major");
    h_action_ok(H, A1, t_wait, "acknowledge", NULL);
    h_action_ok(H, A1, t_wait, "wait", h_reason("waiting for photos"));

    /* one-second acknowledgement, two-second resolution from here on */
    h_put_policy(H, "normal", "{\"ack_seconds\": 1, \"resolve_seconds\": 2}");

    t_bill = create(SUBJ_BILL, CAT_BILL, NULL);           /* breaches ack and resolve */
    t_html = create("Markup in the category", CAT_HTML, NULL);
    t_l2 = create("Refund stuck at the bank", "billing", NULL);
    h_action_ok(H, A1, t_l2, "acknowledge", NULL);
    h_action_ok(H, A1, t_l2, "escalate", h_reason("needs the payments team"));
    t_resolved = create("Password reset mail missing", "account", NULL);
    h_action_ok(H, A1, t_resolved, "acknowledge", NULL);
    h_action_ok(H, A1, t_resolved, "resolve", h_resolve_body("operations"));

    /* history for the chart: a callback breach 3 local days ago, and one
     * 40 days ago that is outside the 30-day window */
    const char *err = NULL;
    int rc = h_sql_exec(H, h_fmt(H,
        "INSERT INTO breaches (ticket_id, kind, tier, severity, due_at, detected_at) VALUES "
        "(%lld, 'callback', 1, 'normal', now() - interval '3 days', now() - interval '3 days'), "
        "(%lld, 'ack', 1, 'normal', now() - interval '40 days', now() - interval '40 days')",
        (long long)t_resolved, (long long)t_resolved), &err);
    if (rc != 0)
        fail_msg("insert history: %s", err);
    settle();

    h_resp *r = h_req(H, "GET", "/v1/calendar", M, NULL);
    h_expect_status(r, 200);
    snprintf(tz, sizeof tz, "%s", h_str(r->json, "timezone"));
}

/* The open-ticket count the API gives for one tier and state. */
static json_int_t api_count(const char *tier, const char *state)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?tier=%s&state=%s&limit=200", tier, state),
                      H->k.manager, NULL);
    h_expect_status(r, 200);
    return (json_int_t)json_array_size(json_object_get(r->json, "items"));
}

static void check_open_counts(json_int_t want_total)
{
    static const char *const tiers[] = {"line-1", "line-2", "line-3"};
    static const char *const states[] = {"awaiting_ack", "acknowledged", "waiting_customer", "resolved"};
    json_int_t total = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            json_int_t want = api_count(tiers[i], states[j]);
            total += want;
            const char *shown = wd_js_str(h_fmt(H,
                "var td = document.querySelector('#open-table td[data-tier=\"%s\"][data-state=\"%s\"]');"
                "return td ? td.textContent : 'missing';", tiers[i], states[j]));
            if (strcmp(shown, h_fmt(H, "%lld", (long long)want)) != 0)
                fail_msg("open %s/%s: the page shows %s, the API lists %lld", tiers[i], states[j],
                         shown, (long long)want);
        }
    assert_int_equal(total, want_total);
    assert_string_equal(wd_js_str("return document.getElementById('open-total').textContent;"),
                        h_fmt(H, "%lld", (long long)want_total));
}

/* The chart's data (the Chart.js instance on the canvas) against the
 * database, day by day in the calendar's zone.  1 when they agree. */
static int chart_matches(int verbose)
{
    json_t *c = wd_js("var c = Chart.getChart(document.getElementById('breach-chart'));"
                   "if (!c) return null;"
                   "return {days: c.data.days, sets: c.data.datasets.map(function (d) {"
                   "  return {key: d.key, data: d.data}; })};");
    if (!json_is_object(c)) {
        if (verbose)
            print_error("no Chart instance on #breach-chart\n");
        return 0;
    }
    json_t *days = json_object_get(c, "days"), *sets = json_object_get(c, "sets");
    if (json_array_size(days) != 30 || json_array_size(sets) != 3) {
        if (verbose)
            print_error("the chart has %zu days and %zu data sets\n", json_array_size(days),
                        json_array_size(sets));
        return 0;
    }
    for (size_t k = 0; k < 3; k++) {
        json_t *set = json_array_get(sets, k);
        const char *kind = json_string_value(json_object_get(set, "key"));
        for (size_t d = 0; d < 30; d++) {
            const char *day = json_string_value(json_array_get(days, d));
            const char *want = h_sql_value(H,
                "SELECT count(*) FROM breaches WHERE kind = '%s' "
                "AND (detected_at AT TIME ZONE '%s')::date = '%s'::date", kind, tz, day);
            json_int_t shown = json_integer_value(json_array_get(json_object_get(set, "data"), d));
            if (!want || strtoll(want, NULL, 10) != shown) {
                if (verbose)
                    print_error("chart %s on %s: shows %lld, the database has %s\n", kind, day,
                                (long long)shown, want ? want : "?");
                return 0;
            }
        }
    }
    /* the newest bar is today in the calendar's zone, the oldest 29 days before */
    const char *today = h_sql_value(H, "SELECT (now() AT TIME ZONE '%s')::date::text", tz);
    const char *first = h_sql_value(H, "SELECT ((now() AT TIME ZONE '%s')::date - 29)::text", tz);
    if (strcmp(json_string_value(json_array_get(days, 29)), today) != 0 ||
        strcmp(json_string_value(json_array_get(days, 0)), first) != 0) {
        if (verbose)
            print_error("chart days %s..%s, expected %s..%s\n",
                        json_string_value(json_array_get(days, 0)),
                        json_string_value(json_array_get(days, 29)), first, today);
        return 0;
    }
    return 1;
}

/* Keys of the SLA table rows on the page, "|"-joined, and the API's. */
static const char *page_report_keys(void)
{
    return wd_js_str("return Array.from(document.querySelectorAll('#report-table tbody tr'))"
                  ".map(function (r) { return r.dataset.key; }).sort().join('|');");
}

static const char *api_report_keys(const char *group_by)
{
    json_t *range = wd_js("var f = document.getElementById('report-from').value,"
                       "    t = document.getElementById('report-to').value; return [f, t];");
    const char *from = json_string_value(json_array_get(range, 0));
    const char *to = json_string_value(json_array_get(range, 1));
    /* the page asks from local midnight of `from` to local midnight after `to` */
    const char *f = h_sql_value(H, "SELECT to_char(('%s'::date::timestamp AT TIME ZONE '%s') AT TIME ZONE 'UTC', "
                                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", from, tz);
    const char *t = h_sql_value(H, "SELECT to_char((('%s'::date + 1)::timestamp AT TIME ZONE '%s') AT TIME ZONE 'UTC', "
                                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", to, tz);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/reports/sla?group_by=%s&from=%s&to=%s", group_by,
                                      h_urlenc(H, f), h_urlenc(H, t)), H->k.manager, NULL);
    h_expect_status(r, 200);
    json_t *groups = json_object_get(r->json, "groups");
    size_t n = json_array_size(groups);
    const char **keys = calloc(n + 1, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_object_get(json_array_get(groups, i), "key");
        keys[i] = json_is_string(k) ? json_string_value(k) : "";
    }
    /* sort as JavaScript's default sort does for these ASCII/UTF-8 keys */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(keys[j], keys[i]) < 0) {
                const char *x = keys[i];
                keys[i] = keys[j];
                keys[j] = x;
            }
    char *out = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        const char *s = h_fmt(H, "%s%s%s", out, i ? "|" : "", keys[i]);
        free(out);
        out = strdup(s);
    }
    free(keys);
    const char *res = h_fmt(H, "%s", out);
    free(out);
    return res;
}

static void switch_group(const char *group_by)
{
    wd_click(h_fmt(H, "#group-by option[value=\"%s\"]", group_by));
    wd_wait_js(h_fmt(H, "var t = document.getElementById('report-table');"
                     "return t.dataset.groupBy === '%s' && !t.hasAttribute('aria-busy');", group_by),
            10, h_fmt(H, "the SLA table grouped by %s", group_by));
    const char *want = api_report_keys(group_by);
    const char *shown = page_report_keys();
    if (strcmp(want, shown) != 0)
        fail_msg("SLA table by %s: page rows [%s], API groups [%s]", group_by, shown, want);
    assert_true(strlen(shown) > 0);
}

/* A problem (issue 10) owned by the line-2 agent, with an action whose due
 * date has passed undone and the given complaint linked to it; its id.  The
 * due date is moved into the past in the table only (its SLA timer stays
 * far ahead), so the dashboard counts it overdue and no breach is fired. */
static json_int_t problem_with_overdue_action(const char *title, json_int_t ticket)
{
    h_resp *r = h_reqj(H, "POST", "/v1/problems", H->k.manager,
                       json_pack("{s:s, s:s, s:I}", "title", title, "category", "atm", "owner_id",
                                 (json_int_t)H->k.agent_id[2]));
    h_expect_status(r, 201);
    json_int_t pid = h_int(r->json, "id");
    h_expect_status(h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/root_cause", (long long)pid),
                          H->k.manager, "{\"root_cause\":\"worn card reader\"}"), 200);
    r = h_reqj(H, "POST", h_fmt(H, "/v1/problems/%lld/actions", (long long)pid), H->k.manager,
               json_pack("{s:s, s:s, s:I, s:s}", "kind", "corrective", "description",
                         "replace the readers", "owner_id", (json_int_t)H->k.agent_id[2], "due_at",
                         "2999-01-01T00:00:00Z"));
    assert_true(r->status == 200 || r->status == 201);
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE problem_actions SET due_at = now() - interval "
                                            "'1 hour' WHERE problem_id = %lld", (long long)pid),
                                &err), 0);
    h_expect_status(h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/tickets", (long long)pid),
                          H->k.manager, h_fmt(H, "{\"ticket_ids\":[%lld]}", (long long)ticket)),
                    200);
    return pid;
}

/* ------------------------------------------------------------------ test */

static void a_manager_sees_counts_chart_sla_table_csv_and_live_breaches_in_a_browser(void **state)
{
    (void)state;
    wd_start(W.outdir);
    wd_time_box_start(TIME_BOX_S - (h_now() - T0), "dashboard test");
    const char *url = h_fmt(H, "%s/dashboard", H->base_url);
    wd("POST", wd_spath("/url"), json_pack("{s:s}", "url", url));

    /* the token, once per session; bad ones are refused with a clear message */
    wd_wait_js("return !document.getElementById('login').hidden;", 10, "the token form");
    wd_type("#token", "esc_not_a_real_token");
    wd_click("#login-form button");
    wd_wait_js("var e = document.getElementById('login-error');"
            "return !e.hidden && e.textContent.indexOf('401') >= 0;", 10, "the 401 message");
    wd_type("#token", H->k.frontdesk);
    wd_click("#login-form button");
    wd_wait_js("var e = document.getElementById('login-error');"
            "return !e.hidden && e.textContent.indexOf('403') >= 0;", 10, "the 403 message");
    assert_true(wd_js_bool("return document.getElementById('app').hidden;"));
    wd_type("#token", H->k.manager);
    wd_click("#login-form button");
    wd_wait_js("return !document.getElementById('app').hidden && "
            "!!document.getElementById('open-total');", 10, "the dashboard");
    /* a reload keeps the session's token */
    wd("POST", wd_spath("/url"), json_pack("{s:s}", "url", url));
    wd_wait_js("return !document.getElementById('app').hidden && "
            "!!document.getElementById('open-total');", 10, "the dashboard after a reload");
    assert_true(wd_js_bool("return document.getElementById('login').hidden;"));

    /* open tickets by tier and state: A, B, F at line-1 awaiting ack, the
     * waiting one, the resolved one, the escalated one at line-2 */
    check_open_counts(6);
    assert_string_equal(wd_js_str("return document.querySelector('#open-table td[data-tier=\"line-1\"]"
                               "[data-state=\"awaiting_ack\"]').textContent;"), "3");
    assert_string_equal(wd_js_str("return document.querySelector('#open-table td[data-tier=\"line-2\"]"
                               "[data-state=\"awaiting_ack\"]').textContent;"), "1");

    /* at risk in the next hour: only the ticket under the 10-minute policy,
     * its Chinese subject shown as it is */
    assert_string_equal(wd_js_str("return document.getElementById('risk-count').textContent;"), "1");
    assert_string_equal(wd_js_str("var li = document.querySelector('#risk-list li[data-ticket]');"
                               "return li ? li.dataset.ticket : '';"),
                        h_fmt(H, "%lld", (long long)t_risk));
    assert_string_equal(wd_js_str("return document.querySelector('#risk-list li .subject').textContent;"),
                        SUBJ_AT_RISK);

    /* breaches per day: the chart agrees with the database, today has the
     * fresh breaches and 3 days ago the callback one */
    wd_wait_js("return typeof Chart === 'function' && !!Chart.getChart(document.getElementById('breach-chart'));",
            10, "the breach chart");
    if (!chart_matches(1))
        fail_msg("the breach chart does not match the database");
    json_t *today = wd_js("var c = Chart.getChart(document.getElementById('breach-chart'));"
                       "return c.data.datasets.map(function (d) { return d.data[29]; });");
    assert_true(json_integer_value(json_array_get(today, 0)) >= 3); /* ack: B, F, C at line-2 */
    assert_true(json_integer_value(json_array_get(today, 1)) >= 3); /* resolve: B, F, C */
    assert_int_equal(json_integer_value(json_array_get(wd_js(
        "var c = Chart.getChart(document.getElementById('breach-chart'));"
        "return c.data.datasets[2].data;"), 26)), 1);
    assert_int_equal(json_integer_value(json_array_get(today, 2)), 0);

    /* the SLA table and its grouping switch (rows = the API's groups) */
    wd_wait_js("var t = document.getElementById('report-table');"
            "return t.dataset.groupBy === 'tier' && !t.hasAttribute('aria-busy') && "
            "t.querySelectorAll('tbody tr').length > 0;", 15, "the SLA table");
    const char *want = api_report_keys("tier"), *shown = page_report_keys();
    if (strcmp(want, shown) != 0)
        fail_msg("SLA table by tier: page rows [%s], API groups [%s]", shown, want);
    assert_non_null(strstr(shown, "line-1"));
    switch_group("severity");
    assert_string_equal(page_report_keys(), "major|normal");
    switch_group("category");
    /* Chinese text and markup in data both arrive as text */
    assert_true(wd_js_bool(h_fmt(H, "return Array.from(document.querySelectorAll('#report-table td.key'))"
                                 ".some(function (td) { return td.textContent === '%s'; });", CAT_BILL)));
    assert_true(wd_js_bool("return Array.from(document.querySelectorAll('#report-table td.key'))"
                        ".some(function (td) { return td.textContent === '<b>billing</b>'; });"));
    assert_true(wd_js_bool("return document.querySelectorAll('#report-table b').length === 0;"));
    switch_group("day");
    /* the open tickets line-1's agent holds, as the summary says (issue 10) */
    wd_wait_js(h_fmt(H, "var r = document.querySelector('#agents-table tr[data-agent=\"%lld\"]');"
                     "return !!r && r.querySelector('td[data-col=\"open\"]').textContent === '%lld';",
                  (long long)H->k.agent_id[1],
                  h_sql_ll(H, "SELECT count(*) FROM tickets WHERE state <> 'closed' AND assignee_id = %lld",
                           (long long)H->k.agent_id[1])),
            10, "the agents table");
    /* per agent (issue 10): the agent's name, and the counts from the history */
    switch_group("assignee");
    assert_true(wd_js_bool(h_fmt(H, "var r = document.querySelector('#report-table tr[data-key=\"%lld\"]');"
                                 "return !!r && r.querySelector('td.key').textContent === '%s' && "
                                 "r.querySelector('td[data-col=\"handled\"]').textContent === '%lld';",
                              (long long)H->k.agent_id[1], H->k.agent_name[1],
                              h_sql_ll(H, "SELECT count(DISTINCT ticket_id) FROM events "
                                          "WHERE type = 'acknowledged' AND actor_id = %lld",
                                       (long long)H->k.agent_id[1]))));
    switch_group("tier");

    /* the CSV download carries the token (a fetch and a Blob): let Chromium
     * save it and read the file */
    char *dl = strdup(h_fmt(H, "%s/dashboard-downloads", W.outdir));
    char *const rm[] = {"rm", "-rf", dl, NULL};
    h_run(rm, NULL);
    mkdir(dl, 0755);
    wd_cdp("Browser.setDownloadBehavior", json_pack("{s:s,s:s}", "behavior", "allow", "downloadPath", dl));
    wd_click("#report-csv");
    char *csv = NULL;
    for (double until = h_now() + 10; !csv && h_now() < until; h_sleep(0.1)) {
        DIR *d = opendir(dl);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strstr(de->d_name, ".csv") && !strstr(de->d_name, "crdownload"))
                csv = strdup(h_fmt(H, "%s/%s", dl, de->d_name));
        if (d)
            closedir(d);
    }
    if (!csv)
        fail_msg("no CSV was downloaded into %s", dl);
    char *text = NULL;
    char *const cat[] = {"cat", csv, NULL};
    h_sleep(0.2);
    assert_int_equal(h_run(cat, &text), 0);
    assert_non_null(text);
    assert_true(strncmp(text, "key,created,", 12) == 0 || strncmp(text, "\xef\xbb\xbfkey,created,", 15) == 0);
    assert_non_null(strstr(text, "\nline-1,"));
    assert_non_null(strstr(csv, "sla-report-tier-"));
    free(text);
    free(csv);
    free(dl);

    /* the live feed: a breach that happens now shows up, and the counts and
     * the chart follow it without a reload */
    wd_wait_js("return document.getElementById('feed-status').dataset.status === 'live';", 10,
            "the live feed");
    t_live = create("Card swallowed by the ATM", "atm", NULL);
    wd_wait_js(h_fmt(H, "return !!document.querySelector('#feed li[data-type=\"breached\"][data-ticket=\"%lld\"]');",
                  (long long)t_live), 15, "the new breach in the live feed");
    assert_true(wd_js_bool(h_fmt(H, "return !!document.querySelector('#feed li[data-type=\"created\"][data-ticket=\"%lld\"]');",
                              (long long)t_live)));
    wd_wait_js("return document.getElementById('open-total').textContent === '7';", 15,
            "the open count to follow the feed");
    settle();
    double until = h_now() + 15;
    while (!chart_matches(0)) {
        if (h_now() > until) {
            chart_matches(1);
            fail_msg("the chart did not follow the new breaches");
        }
        wd_time_box("the chart to follow the feed");
        h_sleep(0.2);
    }
    check_open_counts(7);

    /* problems (issue 10): one with an overdue action and this month's
     * complaint; after a reload both problem cards show it as the summary
     * has it */
    json_int_t pid = problem_with_overdue_action("ATM card readers", t_live);
    wd("POST", wd_spath("/url"), json_pack("{s:s}", "url", url));
    wd_wait_js(h_fmt(H, "return !!document.querySelector('#problem-list li[data-problem=\"%lld\"]');",
                  (long long)pid), 10, "the problem in the open problems card");
    assert_string_equal(wd_js_str(h_fmt(H, "return document.querySelector('#problem-list "
                                        "li[data-problem=\"%lld\"]').dataset.overdue;", (long long)pid)), "1");
    assert_string_equal(wd_js_str(h_fmt(H, "return document.querySelector('#top-problem-list "
                                        "li[data-problem=\"%lld\"]').dataset.complaints;", (long long)pid)), "1");
    assert_string_equal(wd_js_str("return document.getElementById('problems-count').textContent;"),
                        h_sql_value(H, "SELECT count(*) FROM problems WHERE state <> 'closed'"));

    /* nothing but the daemon served the page */
    assert_true(wd_js_bool(h_fmt(H, "return performance.getEntriesByType('resource').every(function (e) {"
                                 "  return e.name.indexOf('%s/') === 0; });", H->base_url)));
    assert_true(wd_js_bool("return performance.getEntriesByType('resource').some(function (e) {"
                        "  return /\\/dashboard\\/chart\\.js$/.test(e.name); });"));

    /* a wide screenshot: a 1280 px viewport as tall as the page */
    wd_cdp("Emulation.setDeviceMetricsOverride",
        json_pack("{s:i,s:i,s:i,s:b}", "width", 1280, "height", 900, "deviceScaleFactor", 1, "mobile", 0));
    h_sleep(0.3);
    json_t *height = wd_js("return document.documentElement.scrollHeight;");
    wd_cdp("Emulation.setDeviceMetricsOverride",
        json_pack("{s:i,s:I,s:i,s:b}", "width", 1280, "height", json_integer_value(height),
                  "deviceScaleFactor", 1, "mobile", 0));
    h_sleep(0.3);
    const char *wide = h_fmt(H, "%s/dashboard-wide.png", W.outdir);
    wd_screenshot(wide);
    const char *upd = getenv("ESC_UPDATE_DOCS");
    if (upd && strcmp(upd, "1") == 0) {
        const char *docs = h_fmt(H, "%s/docs/dashboard.png", W.srcdir);
        char *const cp[] = {"cp", (char *)wide, (char *)docs, NULL};
        assert_int_equal(h_run(cp, NULL), 0);
        fprintf(stderr, "dashboard: updated %s\n", docs);
    }

    /* in Chinese */
    wd_click("#lang");
    wd_wait_js("return document.documentElement.lang === 'zh-CN' && "
            "document.querySelector('h1').textContent === '投诉升级 SLA 看板';", 5, "the Chinese labels");
    assert_true(wd_js_bool("return Array.from(document.querySelectorAll('#open-table thead th'))"
                        ".some(function (th) { return th.textContent === '待受理'; });"));
    wd_screenshot(h_fmt(H, "%s/dashboard-zh.png", W.outdir));

    /* a phone: 390 px wide, no sideways scrolling of the page (tables scroll
     * inside their cards) */
    wd_cdp("Emulation.setDeviceMetricsOverride",
        json_pack("{s:i,s:i,s:i,s:b}", "width", 390, "height", 844, "deviceScaleFactor", 1, "mobile", 1));
    h_sleep(0.5);
    json_t *dims = wd_js("return [window.innerWidth, document.documentElement.scrollWidth,"
                      " document.body.scrollWidth, document.documentElement.scrollHeight];");
    json_int_t inner = json_integer_value(json_array_get(dims, 0));
    json_int_t sw = json_integer_value(json_array_get(dims, 1));
    json_int_t bw = json_integer_value(json_array_get(dims, 2));
    assert_int_equal(inner, 390);
    if (sw > inner || bw > inner)
        fail_msg("horizontal overflow at 390 px: scrollWidth %lld/%lld > innerWidth %lld",
                 (long long)sw, (long long)bw, (long long)inner);
    wd_cdp("Emulation.setDeviceMetricsOverride",
        json_pack("{s:i,s:I,s:i,s:b}", "width", 390, "height",
                  json_integer_value(json_array_get(dims, 3)), "deviceScaleFactor", 1, "mobile", 1));
    h_sleep(0.3);
    wd_screenshot(h_fmt(H, "%s/dashboard-narrow.png", W.outdir));

    wd_check_browser_log((const char *const[]){"status of 401", "status of 403", NULL});
    fprintf(stderr, "dashboard: all checks passed in %.1f s\n", h_now() - T0);
}

/* GET /v1/dashboard/summary against the database, and the page's files. */
static void the_dashboard_summary_equals_the_database(void **state)
{
    (void)state;
    const char *M = H->k.manager;
    h_expect_error(h_req(H, "GET", "/v1/dashboard/summary", NULL, NULL), 401, "unauthenticated");
    h_expect_error(h_req(H, "GET", "/v1/dashboard/summary", H->k.frontdesk, NULL), 403, "forbidden");
    h_expect_error(h_req(H, "GET", "/v1/dashboard/summary", H->k.agent[1], NULL), 403, "forbidden");
    h_expect_status(h_req(H, "GET", "/v1/dashboard/summary", H->k.admin, NULL), 200);
    h_expect_error_field(h_req(H, "GET", "/v1/dashboard/summary?limit=0", M, NULL), 400,
                         "validation_failed", "limit");
    h_expect_error_field(h_req(H, "GET", "/v1/dashboard/summary?limit=101", M, NULL), 400,
                         "validation_failed", "limit");
    h_expect_error_field(h_req(H, "GET", "/v1/dashboard/summary?days=7", M, NULL), 400,
                         "validation_failed", "days");

    h_resp *r = h_req(H, "GET", "/v1/dashboard/summary", M, NULL);
    h_expect_status(r, 200);
    json_t *s = r->json;
    h_assert_ts(s, "generated_at");
    h_assert_str(s, "timezone", tz);

    /* every tier x open state, in order, equal to the tickets table */
    static const char *const states[] = {"awaiting_ack", "acknowledged", "waiting_customer", "resolved"};
    json_t *open = json_object_get(s, "open");
    assert_int_equal(json_array_size(open), 12);
    json_int_t total = 0;
    for (int t = 1; t <= 3; t++)
        for (int k = 0; k < 4; k++) {
            json_t *o = json_array_get(open, (size_t)((t - 1) * 4 + k));
            h_assert_str(o, "tier", h_fmt(H, "line-%d", t));
            h_assert_str(o, "state", states[k]);
            const char *want = h_sql_value(H, "SELECT count(*) FROM tickets WHERE tier = %d AND state = '%s'",
                                           t, states[k]);
            h_assert_int(o, "count", strtoll(want, NULL, 10));
            total += h_int(o, "count");
        }
    h_assert_int(s, "open_total", total);
    h_assert_int(s, "open_total",
                 strtoll(h_sql_value(H, "SELECT count(*) FROM tickets WHERE state <> 'closed'"), NULL, 10));

    /* at risk: the live deadlines of the next hour, each ticket once */
    json_t *risk = json_object_get(s, "at_risk_next_hour");
    h_assert_int(risk, "horizon_seconds", 3600);
    h_assert_int(risk, "count", strtoll(h_sql_value(H,
        "SELECT count(DISTINCT ticket_id) FROM timers WHERE kind <> 'warn' AND due_at > now() "
        "AND due_at <= now() + interval '1 hour'"), NULL, 10));
    /* the world has one: the ticket nobody has acknowledged yet */
    h_assert_int(risk, "count", 1);
    h_assert_int(risk, "items.0.id", t_risk);
    h_assert_str(risk, "items.0.subject", SUBJ_AT_RISK);
    h_assert_str(risk, "items.0.deadline", "ack");
    h_assert_str(risk, "items.0.tier", "line-1");
    h_assert_str(risk, "items.0.state", "awaiting_ack");
    h_assert_str(risk, "items.0.category", "设备");
    h_assert_null(risk, "items.0.assignee");
    double left = h_ts_diff(h_str(s, "generated_at"), h_str(risk, "items.0.due_at"));
    assert_true(left > 0 && left <= 600);

    /* 30 local days, oldest first, ending today, equal to the breaches table */
    json_t *days = json_object_get(s, "breaches_per_day");
    assert_int_equal(json_array_size(days), 30);
    for (size_t i = 0; i < 30; i++) {
        json_t *d = json_array_get(days, i);
        h_assert_str(d, "day", h_sql_value(H, "SELECT ((now() AT TIME ZONE '%s')::date - %d)::text",
                                           tz, 29 - (int)i));
        static const char *const kinds[] = {"ack", "resolve", "callback"};
        for (int k = 0; k < 3; k++)
            h_assert_int(d, kinds[k], strtoll(h_sql_value(H,
                "SELECT count(*) FROM breaches WHERE kind = '%s' AND "
                "(detected_at AT TIME ZONE '%s')::date = '%s'::date", kinds[k], tz,
                h_str(d, "day")), NULL, 10));
    }

    /* agents (issue 10): the open tickets each principal holds, equal to the
     * tickets table, and how many of them have a deadline in the hour */
    json_t *agents = json_object_get(s, "agents");
    assert_int_equal((long long)json_array_size(agents),
                     h_sql_ll(H, "SELECT count(DISTINCT assignee_id) FROM tickets WHERE state <> 'closed'"));
    assert_true(json_array_size(agents) > 0);
    json_int_t held = 0;
    size_t ai;
    json_t *ag;
    json_array_foreach(agents, ai, ag) {
        long long id = h_int(ag, "agent.id");
        h_assert_int(ag, "open", h_sql_ll(H, "SELECT count(*) FROM tickets WHERE state <> 'closed' "
                                             "AND assignee_id = %lld", id));
        h_assert_int(ag, "waiting_customer",
                     h_sql_ll(H, "SELECT count(*) FROM tickets WHERE state = 'waiting_customer' "
                                 "AND assignee_id = %lld", id));
        h_assert_int(ag, "at_risk", h_sql_ll(H, "SELECT count(DISTINCT t.id) FROM tickets t JOIN timers "
                                                "tm ON tm.ticket_id = t.id WHERE t.state <> 'closed' "
                                                "AND t.assignee_id = %lld AND tm.kind <> 'warn' "
                                                "AND tm.due_at > now() AND tm.due_at <= now() + "
                                                "interval '1 hour'", id));
        h_assert_str(ag, "agent.name", h_sql_value(H, "SELECT name FROM principals WHERE id = %lld", id));
        if (ai > 0)
            assert_true(h_int(ag, "open") <= h_int(json_array_get(agents, ai - 1), "open"));
        held += h_int(ag, "open");
    }
    assert_int_equal(held, h_sql_ll(H, "SELECT count(*) FROM tickets WHERE state <> 'closed' "
                                       "AND assignee_id IS NOT NULL"));

    /* feed_after is a cursor the event feed takes */
    json_t *fa = json_object_get(s, "feed_after");
    assert_true(json_is_integer(fa) && json_integer_value(fa) >= 0);
    h_expect_status(h_req(H, "GET", h_fmt(H, "/v1/events?after=%lld&limit=5",
                                           (long long)json_integer_value(fa)), M, NULL), 200);

    /* open problems, most overdue actions first, and the month's top
     * problems by complaints linked this month: equal to the tables */
    json_int_t p2 = problem_with_overdue_action("second problem", t_bill);
    r = h_req(H, "GET", "/v1/dashboard/summary", M, NULL);
    h_expect_status(r, 200);
    s = r->json;
    json_t *pb = json_object_get(s, "problems");
    h_assert_int(pb, "open_total", h_sql_ll(H, "SELECT count(*) FROM problems WHERE state <> 'closed'"));
    h_assert_int(pb, "overdue_actions", h_sql_ll(H, "SELECT count(*) FROM problem_actions a JOIN problems p "
                                                    "ON p.id = a.problem_id WHERE p.state <> 'closed' AND "
                                                    "a.completed_at IS NULL AND a.due_at <= now()"));
    size_t i;
    json_t *it;
    int seen = 0;
    json_array_foreach(h_get(pb, "items"), i, it) {
        json_int_t id = h_int(it, "id");
        seen = seen || id == p2;
        h_assert_int(it, "overdue_actions", h_sql_ll(H, "SELECT count(*) FROM problem_actions WHERE "
                                                        "problem_id = %lld AND completed_at IS NULL AND "
                                                        "due_at <= now()", (long long)id));
        h_assert_int(it, "recurrences", h_sql_ll(H, "SELECT recurrences FROM problems WHERE id = %lld",
                                                 (long long)id));
        h_assert_int(it, "linked_tickets", h_sql_ll(H, "SELECT count(*) FROM tickets WHERE problem_id = %lld",
                                                    (long long)id));
        h_assert_int(it, "owner.id", H->k.agent_id[2]);
    }
    json_t *top = json_object_get(s, "top_problems_month");
    h_assert_str(top, "month", h_sql_value(H, "SELECT to_char(now() AT TIME ZONE '%s', 'YYYY-MM')", tz));
    json_array_foreach(h_get(top, "items"), i, it)
        h_assert_int(it, "complaints", h_sql_ll(H, "SELECT count(*) FROM tickets WHERE problem_id = %lld "
                                                   "AND created_at >= date_trunc('month', now() AT TIME ZONE "
                                                   "'%s') AT TIME ZONE '%s'", (long long)h_int(it, "id"), tz, tz));
    assert_true(seen);
    assert_true(json_array_size(h_get(top, "items")) >= 1);

    /* limit lists fewer, the count stays */
    r = h_req(H, "GET", "/v1/dashboard/summary?limit=1", M, NULL);
    h_expect_status(r, 200);
    assert_true(json_array_size(h_get(r->json, "at_risk_next_hour.items")) <= 1);
    h_assert_int(r->json, "at_risk_next_hour.count", h_int(risk, "count"));
}

static void the_page_files_are_served_with_csp_and_caching_headers_and_304(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/dashboard", NULL, NULL);
    h_expect_status(r, 200);
    assert_string_equal(h_header(r, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(h_header(r, "Content-Security-Policy"));
    assert_non_null(strstr(h_header(r, "Content-Security-Policy"), "default-src 'self'"));
    assert_string_equal(h_header(r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(h_header(r, "X-Frame-Options"), "DENY");
    assert_string_equal(h_header(r, "Cache-Control"), "no-cache");
    assert_non_null(strstr(r->body, "<meta name=\"viewport\""));
    /* no inline script or style for the CSP to refuse */
    assert_null(strstr(r->body, "<script>"));
    assert_null(strstr(r->body, "<style"));
    assert_null(strstr(r->body, " style="));
    assert_null(strstr(r->body, " onclick="));
    const char *etag = h_header(r, "ETag");
    assert_non_null(etag);
    char *et = strdup(etag);
    r = h_req(H, "GET", "/dashboard", NULL, NULL, h_fmt(H, "If-None-Match: %s", et));
    h_expect_status(r, 304);
    free(et);
    h_expect_status(h_req(H, "GET", "/dashboard/?lang=zh", NULL, NULL), 200);

    r = h_req(H, "GET", "/dashboard/app.js", NULL, NULL);
    h_expect_status(r, 200);
    assert_string_equal(h_header(r, "Content-Type"), "text/javascript; charset=utf-8");
    assert_null(strstr(r->body, "innerHTML")); /* data goes in as text only */
    r = h_req(H, "GET", "/dashboard/app.css", NULL, NULL);
    h_expect_status(r, 200);
    assert_string_equal(h_header(r, "Content-Type"), "text/css; charset=utf-8");

    /* Chart.js from Debian's package */
    r = h_req(H, "GET", "/dashboard/chart.js", NULL, NULL);
    h_expect_status(r, 200);
    assert_string_equal(h_header(r, "Content-Type"), "text/javascript; charset=utf-8");
    assert_string_equal(h_header(r, "Cache-Control"), "public, max-age=86400");
    assert_non_null(strstr(r->body, "Chart.js v"));
    assert_true(r->body_len > 100000);

    h_expect_error(h_req(H, "GET", "/dashboard/nope.js", NULL, NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", "/dashboard/index.html", NULL, NULL), 404, "not_found");
    h_expect_error(h_req(H, "POST", "/dashboard", NULL, "{}"), 405, "method_not_allowed");
    /* the API keeps no-store, and gets nosniff too */
    r = h_req(H, "GET", "/v1/dashboard/summary", H->k.manager, NULL);
    assert_string_equal(h_header(r, "Cache-Control"), "no-store");
    assert_string_equal(h_header(r, "X-Content-Type-Options"), "nosniff");
    assert_null(h_header(r, "Content-Security-Policy"));
}

static int setup(void **state)
{
    (void)state;
    T0 = h_now();
    H = h_start("test_dashboard", NULL);
    build_world();
    const char *bin = getenv("ESC_BIN"), *data = getenv("ESC_TEST_DATA");
    W.outdir = dirname_of(bin ? bin : "./escalated");
    char *tests = dirname_of(data ? data : "./tests/data");
    W.srcdir = dirname_of(tests);
    free(tests);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wd_stop();
    h_finish(H);
    free(W.outdir);
    free(W.srcdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_page_files_are_served_with_csp_and_caching_headers_and_304),
        cmocka_unit_test(a_manager_sees_counts_chart_sla_table_csv_and_live_breaches_in_a_browser),
        cmocka_unit_test(the_dashboard_summary_equals_the_database),
    };
    return h_run_group_tests(tests, setup, teardown);
}
