/* test_sla.c — the SLA engine of SPEC section 4, end to end with second-scale
 * policies set through PUT /v1/policies/{severity}:
 *
 *   - policies and the business calendar over HTTP: roles, validation, what
 *     GET answers, and callback_due_at following a calendar (computed here
 *     independently with the C library's time zones);
 *   - one timeline of tickets side by side: an unacknowledged ticket breaches
 *     (ack, then resolve) exactly once, on time, with its record, history
 *     event and outbox row; an acknowledged one never has an ack breach; the
 *     at-risk warning without a breach; wait/resume moving the resolve
 *     deadline by the paused time; the alert on a major create; a policy
 *     change applying only to timers started after it;
 *   - a burst of 400 deadlines (200 as fast as HTTP creates them, 200 at one
 *     instant): each fires exactly once, p99 and max lateness < 1 s;
 *   - the daemon stopped across deadlines (SIGTERM immediate although the
 *     engine sleeps up to 60 s): every missed breach recorded within 1 s of
 *     start-up, once;
 *   - PostgreSQL restarted under a running daemon: the engine reconnects and
 *     records what came due meanwhile.
 *
 * Lateness is detected_at - due_at as the database recorded it.  This
 * program stops and starts PostgreSQL, so it runs on a private cluster of its
 * own (scripts/pg.sh start-test with its own state file). */
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static h_ctx *H;

static void set_policy(const char *severity, int ack, int resolve, double warn)
{
    json_t *p = h_put_policy(H, severity,
                             h_fmt(H, "{\"ack_seconds\": %d, \"resolve_seconds\": %d, \"warn_ratio\": %g}",
                                   ack, resolve, warn));
    h_assert_int(p, "ack_seconds", ack);
    h_assert_int(p, "resolve_seconds", resolve);
}

/* GET /v1/breaches?ticket=ID: the items, newest first. */
static json_t *breaches_of(json_int_t id) { return h_breaches_of(H, id); }

static json_t *breach_of_kind(json_t *items, const char *kind)
{
    json_t *found = NULL, *b;
    size_t i;
    json_array_foreach(items, i, b) {
        if (strcmp(h_str(b, "kind"), kind) == 0) {
            if (found)
                fail_msg("two %s breaches for ticket %lld", kind, (long long)h_int(b, "ticket_id"));
            found = b;
        }
    }
    return found;
}

/* Poll until the ticket has a breach of `kind` (or `until`, wall time). */
static json_t *wait_breach(json_int_t id, const char *kind, double until)
{
    h_wait_sql_count(H, 1, until - h_wall(), "SELECT count(*) FROM breaches WHERE ticket_id = %lld AND kind = '%s'",
                     (long long)id, kind);
    return breach_of_kind(breaches_of(id), kind);
}

static size_t events_of_type(json_int_t id, const char *type, json_t **last)
{
    return h_count_events(H, id, type, last);
}

static long long notifications(json_int_t id, const char *type)
{
    return h_sql_ll(H, "SELECT count(*) FROM notifications WHERE ticket_id = %lld AND type = '%s'",
                  (long long)id, type);
}

/* The breach record of SPEC section 4, field by field. */
static void check_breach(json_t *b, json_int_t ticket, const char *kind, const char *tier,
                         const char *severity, json_int_t assignee, const char *due_at)
{
    if (!b)
        fail_msg("ticket %lld has no %s breach", (long long)ticket, kind);
    assert_true(h_int(b, "id") > 0);
    h_assert_int(b, "ticket_id", ticket);
    h_assert_str(b, "kind", kind);
    h_assert_str(b, "tier", tier);
    h_assert_str(b, "severity", severity);
    if (assignee)
        h_assert_int(b, "assignee.id", assignee);
    else
        h_assert_null(b, "assignee");
    h_assert_ts(b, "due_at");
    h_assert_ts(b, "detected_at");
    h_assert_str(b, "due_at", due_at);
    double late = h_ts_diff(h_str(b, "due_at"), h_str(b, "detected_at"));
    if (!(late >= -0.001 && late < 1.0)) {
        h_daemon_log_tail(H, 40);
        fail_msg("ticket %lld: %s breach detected %.3f s after its deadline (want 0 <= late < 1)",
                 (long long)ticket, kind, late);
    }
}

/* Every breached event of a ticket: actor null, one per kind. */
static void check_breach_events(json_int_t id, const char *const *kinds, size_t n)
{
    json_t *items = h_events(H, id), *e;
    size_t i, seen = 0;
    json_array_foreach(items, i, e) {
        if (strcmp(h_str(e, "type"), "breached") != 0)
            continue;
        seen++;
        h_assert_null(e, "actor");
        const char *k = h_str(e, "kind");
        int known = 0;
        for (size_t j = 0; j < n; j++)
            known |= k && strcmp(k, kinds[j]) == 0;
        if (!known)
            fail_msg("ticket %lld: unexpected breached event of kind %s", (long long)id, k ? k : "?");
    }
    if (seen != n)
        fail_msg("ticket %lld: %zu breached events, expected %zu", (long long)id, seen, n);
}

static void check_breaches_array(json_int_t id, const char *const *kinds, size_t n)
{
    json_t *t = h_get_ticket(H, NULL, id);
    json_t *arr = json_object_get(t, "breaches");
    assert_true(json_is_array(arr));
    if (json_array_size(arr) != n)
        fail_msg("ticket %lld: breaches has %zu entries, expected %zu", (long long)id,
                 json_array_size(arr), n);
    for (size_t j = 0; j < n; j++) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(arr); i++)
            found |= strcmp(json_string_value(json_array_get(arr, i)), kinds[j]) == 0;
        if (!found)
            fail_msg("ticket %lld: breaches lacks %s", (long long)id, kinds[j]);
    }
}

static json_int_t create(const char *prefix, const char *severity)
{
    return h_new_ticket(H, h_unique(H, prefix), severity, NULL);
}

/* ------------------------------------------------------------ setup */

static int setup(void **state)
{
    (void)state;
    /* small batches: the bursts below are backlogs of several batches, so
     * the engine's drainer fires them on a second connection alongside the
     * engine thread, and the exactly-once checks cover that too */
    setenv("ESCALATED_ENGINE_BATCH", "40", 1);
    H = h_start_private("test_sla");
    return H ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_finish_private(H);
    return 0;
}

/* Each test starts from the default policies and calendar, whatever the
 * tests before it changed. */
static int defaults(void **state)
{
    (void)state;
    h_restore_settings(H);
    return 0;
}

/* ------------------------------------------------------------ policies */

static json_t *policy_in(json_t *list, const char *severity)
{
    json_t *items = json_object_get(list, "items"), *p;
    size_t i;
    json_array_foreach(items, i, p) {
        if (strcmp(h_str(p, "severity"), severity) == 0)
            return p;
    }
    fail_msg("GET /v1/policies has no %s policy", severity);
    return NULL;
}

static json_t *get_policies(void)
{
    h_resp *r = h_req(H, "GET", "/v1/policies", H->k.manager, NULL);
    h_expect_status(r, 200);
    return r->json;
}

static void policies_default_per_spec_refuse_bad_input_and_keep_what_a_partial_put_leaves(void **state)
{
    (void)state;
    /* the defaults of SPEC section 4 */
    json_t *list = get_policies();
    assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
    json_t *n = policy_in(list, "normal"), *m = policy_in(list, "major");
    h_assert_int(n, "ack_seconds", 600);
    h_assert_int(n, "resolve_seconds", 86400);
    h_assert_int(m, "resolve_seconds", 172800);
    h_assert_int(n, "callback_business_days", 3);
    assert_true(fabs(json_number_value(h_get(n, "warn_ratio")) - 0.8) < 1e-9);

    /* roles: agents and front desk may neither read nor change them */
    const char *nobody[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[2], H->k.agent[3]};
    for (size_t i = 0; i < 4; i++) {
        h_expect_error(h_req(H, "GET", "/v1/policies", nobody[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "PUT", "/v1/policies/normal", nobody[i], "{\"ack_seconds\": 5}"), 403,
                       "forbidden");
    }
    h_expect_error(h_req(H, "PUT", "/v1/policies/normal", NULL, "{\"ack_seconds\": 5}"), 401,
                   "unauthenticated");
    h_expect_error(h_req(H, "PUT", "/v1/policies/critical", H->k.manager, "{\"ack_seconds\": 5}"), 404,
                   "not_found");

    /* bad types, ranges and unknown fields name the field */
    static const struct h_bad bad[] = {
        {"{\"ack_seconds\": \"10\"}", "ack_seconds"},
        {"{\"ack_seconds\": 0}", "ack_seconds"},
        {"{\"ack_seconds\": -5}", "ack_seconds"},
        {"{\"ack_seconds\": 1.5}", "ack_seconds"},
        {"{\"ack_seconds\": null}", "ack_seconds"},
        {"{\"resolve_seconds\": true}", "resolve_seconds"},
        {"{\"resolve_seconds\": 0}", "resolve_seconds"},
        {"{\"warn_ratio\": 0}", "warn_ratio"},
        {"{\"warn_ratio\": 1}", "warn_ratio"},
        {"{\"warn_ratio\": 1.5}", "warn_ratio"},
        {"{\"warn_ratio\": \"0.5\"}", "warn_ratio"},
        {"{\"callback_business_days\": 0}", "callback_business_days"},
        {"{\"callback_business_days\": 366}", "callback_business_days"},
        {"{\"callback_business_days\": 2.0}", "callback_business_days"},
        {"{\"ack_seconds\": 5, \"ack_second\": 5}", "ack_second"},
        {"{\"severity\": \"major\", \"ack_seconds\": 5}", "severity"},
    };
    assert_int_equal(h_check_bad(H, "PUT", "/v1/policies/normal", H->k.manager, 400, "validation_failed", bad,
                                 sizeof bad / sizeof *bad),
                     0);
    h_expect_error(h_req(H, "PUT", "/v1/policies/normal", H->k.admin, "{}"), 400, "validation_failed");
    h_expect_error(h_req(H, "PUT", "/v1/policies/normal", H->k.manager, "[]"), 400, "validation_failed");
    h_expect_error(h_req(H, "PUT", "/v1/policies/normal", H->k.manager, "{\"ack_seconds\": "), 400,
                   "invalid_json");
    /* nothing of that was stored */
    json_t *after = policy_in(get_policies(), "normal");
    h_assert_int(after, "ack_seconds", 600);
    h_assert_int(after, "resolve_seconds", 86400);
    h_assert_int(after, "callback_business_days", 3);

    /* GET returns what PUT stored; a partial PUT keeps the rest; the other
     * severity is untouched; an admin may change them too */
    json_t *p = h_put_policy(H, "normal",
                             "{\"ack_seconds\": 3600, \"resolve_seconds\": 7200, \"warn_ratio\": 0.75, "
                             "\"callback_business_days\": 4}");
    h_assert_str(p, "severity", "normal");
    h_assert_int(p, "ack_seconds", 3600);
    h_assert_ts(p, "updated_at");
    h_resp *r = h_req(H, "PUT", "/v1/policies/normal", H->k.admin, "{\"resolve_seconds\": 9000}");
    h_expect_status(r, 200);
    list = get_policies();
    n = policy_in(list, "normal");
    h_assert_int(n, "ack_seconds", 3600);
    h_assert_int(n, "resolve_seconds", 9000);
    h_assert_int(n, "callback_business_days", 4);
    assert_true(fabs(json_number_value(h_get(n, "warn_ratio")) - 0.75) < 1e-9);
    m = policy_in(list, "major");
    h_assert_int(m, "ack_seconds", 600);
    h_assert_int(m, "resolve_seconds", 172800);
}

/* ------------------------------------------------------------ calendar */

static json_t *get_calendar(void)
{
    h_resp *r = h_req(H, "GET", "/v1/calendar", H->k.manager, NULL);
    h_expect_status(r, 200);
    return r->json;
}

/* Independent of the daemon: the C library's zone rules (TZ), day by day. */
struct cal_rule {
    const char *tz;
    int open[7][2]; /* [wday 0 = Sunday] = {start_min, end_min}; end 0 = not worked */
    char holidays[4][11], extra[4][11];
};

static void local_date(time_t t, char out[11], int *wday)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
    *wday = tm.tm_wday;
}

static int in_list(char list[4][11], const char *d)
{
    for (int i = 0; i < 4; i++)
        if (list[i][0] && strcmp(list[i], d) == 0)
            return 1;
    return 0;
}

/* The local noon of the k-th calendar day after the local day of t. */
static time_t day_after(time_t t, int k)
{
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday += k;
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* End of business on the n-th working day after the local day of `resolved`.
 * Call with TZ set to rule->tz. */
static time_t expected_callback(const struct cal_rule *c, time_t resolved, int n)
{
    for (int k = 1, worked = 0; k < 400; k++) {
        time_t noon = day_after(resolved, k);
        char d[11];
        int wd;
        local_date(noon, d, &wd);
        int end;
        if (in_list((char(*)[11])c->extra, d))
            end = c->open[1][1]; /* make-up day: Monday's hours */
        else if (in_list((char(*)[11])c->holidays, d) || !c->open[wd][1])
            continue;
        else
            end = c->open[wd][1];
        if (++worked < n)
            continue;
        struct tm tm;
        localtime_r(&noon, &tm);
        tm.tm_hour = end / 60;
        tm.tm_min = end % 60;
        tm.tm_sec = 0;
        tm.tm_isdst = -1;
        return mktime(&tm);
    }
    return (time_t)-1;
}

static void calendar_is_validated_and_callback_due_follows_its_zone_holidays_and_makeup_days(void **state)
{
    (void)state;
    /* the default of SPEC section 4 */
    json_t *c = get_calendar();
    h_assert_str(c, "timezone", "Asia/Shanghai");
    h_assert_str(c, "hours.mon.0", "09:00");
    h_assert_str(c, "hours.fri.1", "18:30");
    assert_false(h_has(c, "hours.sat"));

    const char *nobody[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[3]};
    const char *ok_doc = "{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}";
    for (size_t i = 0; i < 3; i++) {
        h_expect_error(h_req(H, "GET", "/v1/calendar", nobody[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "PUT", "/v1/calendar", nobody[i], ok_doc), 403, "forbidden");
    }
    static const struct h_bad bad[] = {
        {"{\"timezone\": \"Mars/Olympus_Mons\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}", "timezone"},
        {"{\"timezone\": \"+08:00\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}", "timezone"},
        {"{\"timezone\": \"../../etc/passwd\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}", "timezone"},
        {"{\"timezone\": 8, \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}", "timezone"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"tue\": [\"18:30\", \"09:00\"]}, \"holidays\": [], \"extra_workdays\": []}", "hours.tue"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"tue\": [\"09:00\", \"25:00\"]}, \"holidays\": [], \"extra_workdays\": []}", "hours.tue"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"tue\": \"09:00-18:30\"}, \"holidays\": [], \"extra_workdays\": []}", "hours.tue"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"monday\": [\"09:00\", \"18:30\"]}, \"holidays\": [], \"extra_workdays\": []}", "hours.monday"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [\"2026-02-30\"], \"extra_workdays\": []}", "holidays[0]"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [\"2026-10-01\", \"2026/10/02\"], \"extra_workdays\": []}", "holidays[1]"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": \"2026-10-01\", \"extra_workdays\": []}", "holidays"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": [\"2026-13-01\"]}", "extra_workdays[0]"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [\"2026-10-10\"], \"extra_workdays\": [\"2026-10-10\"]}", "extra_workdays[0]"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": [], \"weekends\": []}", "weekends"},
        {"{\"timezone\": \"UTC\", \"holidays\": [], \"extra_workdays\": []}", "hours"},
    };
    assert_int_equal(h_check_bad(H, "PUT", "/v1/calendar", H->k.manager, 400, "validation_failed", bad,
                                 sizeof bad / sizeof *bad),
                     0);
    h_expect_error(h_req(H, "PUT", "/v1/calendar", H->k.manager, "{\"timezone\": "), 400, "invalid_json");
    h_assert_str(get_calendar(), "timezone", "Asia/Shanghai"); /* nothing stored */

    /* A calendar in a zone with daylight saving time, Monday hours unlike the
     * other days, tomorrow (local) a holiday and the next Saturday a make-up
     * day.  business_days is chosen so that the callback lands on that
     * Saturday, at the end of Monday's hours. */
    struct cal_rule rule = {.tz = "America/New_York"};
    for (int wd = 2; wd <= 5; wd++)
        rule.open[wd][0] = 8 * 60, rule.open[wd][1] = 17 * 60;
    rule.open[1][0] = 7 * 60 + 30, rule.open[1][1] = 16 * 60 + 15;
    char *saved = h_tz_push(rule.tz);
    time_t now = time(NULL);
    int wd;
    local_date(day_after(now, 1), rule.holidays[0], &wd);
    int sat = 1;
    for (char d[11]; local_date(day_after(now, sat), d, &wd), wd != 6;)
        sat++;
    local_date(day_after(now, sat), rule.extra[0], &wd);
    h_tz_pop(saved);
    json_t *doc = json_pack("{s:s,s:{s:[s,s],s:[s,s],s:[s,s],s:[s,s],s:[s,s]},s:[s],s:[s]}",
                            "timezone", rule.tz, "hours", "mon", "07:30", "16:15", "tue", "08:00",
                            "17:00", "wed", "08:00", "17:00", "thu", "08:00", "17:00", "fri", "08:00",
                            "17:00", "holidays", rule.holidays[0], "extra_workdays", rule.extra[0]);
    h_resp *r = h_reqj(H, "PUT", "/v1/calendar", H->k.admin, json_incref(doc));
    h_expect_status(r, 200);
    json_t *got = get_calendar();
    if (!json_equal(got, doc)) {
        char *a = json_dumps(got, JSON_SORT_KEYS), *b = json_dumps(doc, JSON_SORT_KEYS);
        print_error("GET /v1/calendar answered %s\nafter PUT of %s\n", a, b);
        free(a);
        free(b);
        json_decref(doc);
        fail();
    }
    json_decref(doc);

    /* resolve a ticket now; the days from tomorrow to that Saturday that are
     * worked (the holiday is not) are the business_days */
    int n_days = 0;
    saved = h_tz_push(rule.tz);
    for (int k = 1; k <= sat; k++) {
        char d[11];
        local_date(day_after(now, k), d, &wd);
        if (in_list(rule.extra, d) || (!in_list(rule.holidays, d) && rule.open[wd][1]))
            n_days++;
    }
    h_tz_pop(saved);
    h_put_policy(H, "major", h_fmt(H, "{\"callback_business_days\": %d}", n_days));
    json_int_t id = create("callback", "major");
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    json_t *t = h_action_ok(H, H->k.agent[1], id, "resolve", h_resolve_body("operations"));
    double resolved = h_ts_epoch(h_str(t, "resolved_at"));
    saved = h_tz_push(rule.tz);
    time_t want = expected_callback(&rule, (time_t)floor(resolved), n_days);
    h_tz_pop(saved);
    double got_cb = h_ts_epoch(h_str(t, "callback_due_at"));
    if (got_cb != (double)want) {
        print_error("callback_due_at %s, expected %lld (resolved_at %s, %d business days, "
                    "holiday %s, make-up day %s)\n",
                    h_str(t, "callback_due_at"), (long long)want, h_str(t, "resolved_at"), n_days,
                    rule.holidays[0], rule.extra[0]);
        fail();
    }
    /* the calendar and policy changes did not touch that ticket's history */
    h_assert_str(h_get_ticket(H, NULL, id), "callback_due_at", h_str(t, "callback_due_at"));
}

/* ------------------------------------------------------------ one timeline */

static void unacknowledged_tickets_breach_once_on_time_and_paused_warned_or_resolved_ones_as_the_spec_says(void **state)
{
    (void)state;
    /* X: created under a long policy; the change below must not touch it */
    set_policy("normal", 3600, 7200, 0.8);
    json_t *x = h_create_ticket_subject(H, h_unique(H, "before-change"), NULL);
    json_int_t X = h_int(x, "id");
    const char *x_ack_due = h_str(x, "ack_due_at");

    /* ack 2 s, resolve 6 s, warned at 3 s; majors stay long */
    set_policy("normal", 2, 6, 0.5);
    set_policy("major", 3600, 7200, 0.8);

    json_t *a = h_create_ticket_subject(H, h_unique(H, "unacked"), NULL);
    json_int_t A = h_int(a, "id");
    json_int_t B = create("acked", NULL);
    json_int_t C = create("paused", NULL);
    json_int_t E = create("resolved-early", NULL);
    json_t *d = h_create_ticket_subject(H, h_unique(H, "major"), "major");
    json_int_t D = h_int(d, "id");
    double a_created = h_ts_epoch(h_str(a, "created_at"));
    assert_true(fabs(h_ts_diff(h_str(a, "created_at"), h_str(a, "ack_due_at")) - 2.0) < 0.002);
    assert_true(fabs(h_ts_diff(h_str(a, "created_at"), h_str(a, "resolve_due_at")) - 6.0) < 0.002);
    /* the policy change did not move X's deadline */
    h_assert_str(h_get_ticket(H, NULL, X), "ack_due_at", x_ack_due);

    h_action_ok(H, H->k.agent[1], B, "acknowledge", NULL);
    h_action_ok(H, H->k.agent[1], E, "acknowledge", NULL);
    json_t *c0 = h_action_ok(H, H->k.agent[1], C, "acknowledge", NULL);
    const char *c_due0 = h_str(c0, "resolve_due_at");
    h_action_ok(H, H->k.agent[1], E, "resolve", h_resolve_body("operations"));
    json_t *cw = h_action_ok(H, H->k.agent[1], C, "wait", h_reason("asked the customer"));
    double waited = h_wall();
    h_assert_null(cw, "resolve_due_at"); /* paused */
    if (waited > a_created + 2.8) /* E must be resolved and C paused before their warnings */
        fail_msg("setting up took %.3f s, past the warnings at 3 s", waited - a_created);

    /* g: the alert to managers the moment a major complaint is recorded */
    assert_int_equal(notifications(D, "major_created"), 1);
    json_t *ne = NULL;
    assert_int_equal(events_of_type(D, "notified", &ne), 1);
    h_assert_null(ne, "actor");
    h_assert_str(ne, "notification", "major_created");
    h_assert_str(ne, "audience", "managers");
    assert_true(h_int(ne, "id") > h_int(json_array_get(h_events(H, D), 0), "id")); /* after created */
    h_assert_str(json_array_get(h_events(H, D), 0), "type", "created");
    assert_string_equal(h_sql_value(H, "SELECT payload->>'severity' FROM notifications WHERE ticket_id = %lld",
                                    (long long)D),
                        "major");
    assert_int_equal(notifications(A, "major_created"), 0);

    /* c: resume 0.8 s after the wait: the resolve deadline moves by the pause */
    h_sleep_until_wall(waited + 0.8);
    json_t *cr = h_action_ok(H, H->k.agent[1], C, "resume", NULL);
    json_t *we = NULL, *re = NULL;
    events_of_type(C, "waiting", &we);
    events_of_type(C, "resumed", &re);
    double paused = h_ts_diff(h_str(we, "at"), h_str(re, "at"));
    double moved = h_ts_diff(c_due0, h_str(cr, "resolve_due_at"));
    if (fabs(moved - paused) > 0.002 || paused < 0.5)
        fail_msg("resolve deadline moved by %.3f s after a pause of %.3f s", moved, paused);
    const char *c_due1 = h_str(cr, "resolve_due_at");

    /* a: A's ack breach, on time, exactly as recorded */
    json_t *ab = wait_breach(A, "ack", a_created + 4.0);
    check_breach(ab, A, "ack", "line-1", "normal", 0, h_str(a, "ack_due_at"));

    /* everything has come due a second after C's moved deadline */
    h_sleep_until_wall(h_ts_epoch(c_due1) + 1.2);

    /* A: ack and resolve breaches, once each, and the at-risk warning */
    json_t *al = breaches_of(A);
    assert_int_equal(json_array_size(al), 2);
    check_breach(breach_of_kind(al, "ack"), A, "ack", "line-1", "normal", 0, h_str(a, "ack_due_at"));
    check_breach(breach_of_kind(al, "resolve"), A, "resolve", "line-1", "normal", 0,
                 h_str(a, "resolve_due_at"));
    const char *ak[] = {"ack", "resolve"};
    check_breaches_array(A, ak, 2);
    check_breach_events(A, ak, 2);
    assert_int_equal(events_of_type(A, "at_risk", NULL), 1);
    assert_int_equal(notifications(A, "breached"), 2);
    assert_int_equal(notifications(A, "at_risk"), 1);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications WHERE ticket_id = %lld AND type = 'breached' "
                            "AND payload->>'kind' = 'ack' AND payload->>'tier' = 'line-1'",
                            (long long)A),
                     1);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM timers WHERE ticket_id = %lld", (long long)A), 0);
    h_assert_str(h_get_ticket(H, NULL, A), "state", "awaiting_ack"); /* stays in its state */

    /* b: B was acknowledged in time: no ack breach, though its deadline
     * passed long ago; the resolve breach only, with its assignee */
    json_t *bl = breaches_of(B);
    assert_null(breach_of_kind(bl, "ack"));
    assert_int_equal(json_array_size(bl), 1);
    json_t *bt = h_get_ticket(H, NULL, B);
    check_breach(breach_of_kind(bl, "resolve"), B, "resolve", "line-1", "normal", H->k.agent_id[1],
                 h_str(bt, "resolve_due_at"));
    h_assert_str(breach_of_kind(bl, "resolve"), "assignee.name", H->k.agent_name[1]);
    const char *rk[] = {"resolve"};
    check_breaches_array(B, rk, 1);
    check_breach_events(B, rk, 1);

    /* C: breached at the moved deadline, not the original; warned at the
     * moved warning time (3 s of resolve window + the pause) */
    json_t *cl = breaches_of(C);
    assert_int_equal(json_array_size(cl), 1);
    check_breach(breach_of_kind(cl, "resolve"), C, "resolve", "line-1", "normal", H->k.agent_id[1], c_due1);
    json_t *ce = NULL;
    assert_int_equal(events_of_type(C, "at_risk", &ce), 1);
    h_assert_null(ce, "actor");
    h_assert_str(ce, "resolve_due_at", c_due1);
    double warn_before = h_ts_diff(h_str(ce, "warn_at"), c_due1);
    assert_true(fabs(warn_before - 3.0) < 0.002);
    double warn_late = h_ts_diff(h_str(ce, "warn_at"), h_str(ce, "at"));
    assert_true(warn_late >= -0.001 && warn_late < 1.0);
    assert_int_equal(notifications(C, "at_risk"), 1);

    /* E: resolved before its warning: no warning, no breach, no notification */
    assert_int_equal(json_array_size(breaches_of(E)), 0);
    assert_int_equal(events_of_type(E, "at_risk", NULL), 0);
    assert_int_equal(events_of_type(E, "breached", NULL), 0);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications WHERE ticket_id = %lld", (long long)E), 0);
    check_breaches_array(E, NULL, 0);

    /* D (major, long policy) and X (created before the change): nothing */
    assert_int_equal(json_array_size(breaches_of(D)), 0);
    assert_int_equal(json_array_size(breaches_of(X)), 0);
    h_assert_str(h_get_ticket(H, NULL, X), "ack_due_at", x_ack_due);

    /* an at-risk warning gives a notification with the ticket's tier */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications WHERE ticket_id = %lld AND type = 'at_risk' "
                            "AND payload->>'kind' = 'resolve'",
                            (long long)B),
                     1);

    /* the list filters agree */
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/breaches?kind=ack&ticket=%lld", (long long)A), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "items")), 1);
    h_expect_error(h_req(H, "GET", "/v1/breaches", H->k.agent[1], NULL), 403, "forbidden");
}

/* ------------------------------------------------------------ burst */

#define BURST 200
#define BURST_THREADS 8

struct burst_arg {
    const char *prefix;
    int from, to;
    json_int_t *ids;
    double *due;
    int fails;
};

static void *burst_worker(void *p)
{
    struct burst_arg *b = p;
    for (int i = b->from; i < b->to; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"subject\": \"%s%d\"}", b->prefix, i);
        h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, body);
        if (r->status != 201 || !json_is_object(r->json)) {
            b->fails++;
            continue;
        }
        b->ids[i] = h_int(r->json, "id");
        b->due[i] = h_ts_epoch(h_str(r->json, "ack_due_at"));
        h_free(H, r);
    }
    return NULL;
}

/* BURST creates over HTTP from BURST_THREADS threads; returns the span of
 * their ack deadlines. */
static double create_burst(const char *prefix)
{
    json_int_t ids[BURST];
    double due[BURST];
    struct burst_arg args[BURST_THREADS];
    pthread_t th[BURST_THREADS];
    double t0 = h_now();
    for (int k = 0; k < BURST_THREADS; k++) {
        args[k] = (struct burst_arg){prefix, k * BURST / BURST_THREADS, (k + 1) * BURST / BURST_THREADS,
                                     ids, due, 0};
        pthread_create(&th[k], NULL, burst_worker, &args[k]);
    }
    int fails = 0;
    for (int k = 0; k < BURST_THREADS; k++) {
        pthread_join(th[k], NULL);
        fails += args[k].fails;
    }
    assert_int_equal(fails, 0);
    double lo = 1e300, hi = 0;
    for (int i = 0; i < BURST; i++) {
        lo = due[i] < lo ? due[i] : lo;
        hi = due[i] > hi ? due[i] : hi;
    }
    fprintf(stderr, "test_sla: burst %s: %d creates in %.2f s; ack deadlines span %.3f s\n", prefix, BURST,
            h_now() - t0, hi - lo);
    return hi;
}

/* Each ticket of the group: one ack breach, event and notification; the
 * lateness of the group. */
static void check_burst(const char *prefix, double until)
{
    const char *cnt = "SELECT count(*) FROM breaches b JOIN tickets t ON t.id = b.ticket_id "
                      "WHERE t.subject LIKE '%s%%'";
    h_wait_sql_count(H, BURST, until - h_wall(), cnt, prefix);
    h_sleep(0.3); /* a second firing would show up by now */
    assert_int_equal(h_sql_ll(H, cnt, prefix), BURST);
    assert_int_equal(h_sql_ll(H, "SELECT count(DISTINCT b.ticket_id) FROM breaches b JOIN tickets t ON "
                            "t.id = b.ticket_id WHERE t.subject LIKE '%s%%' AND b.kind = 'ack'",
                            prefix),
                     BURST);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM events e JOIN tickets t ON t.id = e.ticket_id "
                            "WHERE t.subject LIKE '%s%%' AND e.type = 'breached' AND e.actor_id IS NULL",
                            prefix),
                     BURST);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications n JOIN tickets t ON t.id = n.ticket_id "
                            "WHERE t.subject LIKE '%s%%' AND n.type = 'breached'",
                            prefix),
                     BURST);
    /* the due_at recorded is the ticket's ack deadline */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM breaches b JOIN tickets t ON t.id = b.ticket_id "
                            "WHERE t.subject LIKE '%s%%' AND b.due_at <> t.ack_due_at",
                            prefix),
                     0);
    const char *lat = "SELECT %s(extract(epoch FROM b.detected_at - b.due_at)) FROM breaches b "
                      "JOIN tickets t ON t.id = b.ticket_id WHERE t.subject LIKE '%s%%'";
    double mn = h_sql_d(H, lat, "min", prefix), mx = h_sql_d(H, lat, "max", prefix);
    double p99 = h_sql_d(H, "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM "
                       "b.detected_at - b.due_at)) FROM breaches b JOIN tickets t ON t.id = b.ticket_id "
                       "WHERE t.subject LIKE '%s%%'",
                       prefix);
    fprintf(stderr, "test_sla: burst %s lateness min %.3f s, p99 %.3f s, max %.3f s\n", prefix, mn, p99, mx);
    if (!(p99 < 1.0 && mx < 1.0))
        h_daemon_log_tail(H, 40);
    assert_true(mn >= 0);
    assert_true(p99 < 1.0);
    assert_true(mx < 1.0);
}

static void burst_of_400_deadlines_each_fires_once_within_a_second(void **state)
{
    (void)state;
    /* as fast as HTTP creates go: deadlines spread over the creation time */
    set_policy("normal", 2, 7200, 0.8);
    double hi1 = create_burst("burst-http-");
    /* the hardest case, 200 deadlines at one instant: created with a long
     * deadline, then moved to the next whole second + 1 by another writer in
     * one transaction that announces it like a daemon does */
    set_policy("normal", 3600, 7200, 0.8);
    create_burst("burst-instant-");
    const char *err = NULL;
    int rc = h_sql_exec(H,
                        "BEGIN; "
                        "UPDATE tickets SET ack_due_at = date_trunc('second', now()) + interval '2 s' "
                        " WHERE subject LIKE 'burst-instant-%'; "
                        "UPDATE timers tm SET due_at = t.ack_due_at FROM tickets t "
                        " WHERE t.id = tm.ticket_id AND tm.kind = 'ack' AND t.subject LIKE 'burst-instant-%'; "
                        "SELECT pg_notify('escalated_timers', 'burst'); "
                        "COMMIT",
                        &err);
    if (rc != 0)
        fail_msg("moving the deadlines: %s", err ? err : "?");
    assert_int_equal(h_sql_ll(H, "SELECT count(DISTINCT tm.due_at) FROM timers tm JOIN tickets t ON t.id = tm.ticket_id "
                            "WHERE tm.kind = 'ack' AND t.subject LIKE 'burst-%s'",
                            "instant-%"),
                     1);
    double hi2 = h_sql_d(H, "SELECT extract(epoch FROM max(ack_due_at)) FROM tickets WHERE subject LIKE 'burst-%s'",
                       "instant-%");
    check_burst("burst-http-", hi1 + 3.0);
    h_sleep_until_wall(hi2);
    check_burst("burst-instant-", hi2 + 3.0);
}

/* ------------------------------------------------------------ restarts */

#define DOWN_N 24

/* e: deadlines pass while no daemon runs; start-up records each at once. */
static void deadlines_missed_while_no_daemon_ran_are_recorded_within_a_second_of_start(void **state)
{
    (void)state;
    set_policy("normal", 5, 6, 0.9); /* ack 5 s, warned at 5.4 s, resolve 6 s */
    json_int_t ids[DOWN_N];
    const char *ack_due[DOWN_N], *res_due[DOWN_N];
    double first_due = 0;
    for (int i = 0; i < DOWN_N; i++) {
        json_t *t = h_create_ticket_subject(H, h_unique(H, "down"), NULL);
        ids[i] = h_int(t, "id");
        if (!first_due)
            first_due = h_ts_epoch(h_str(t, "ack_due_at"));
        ack_due[i] = h_str(t, "ack_due_at");
        if (i % 3 == 2) { /* a third acknowledged: only the resolve clock runs */
            t = h_action_ok(H, H->k.agent[1], ids[i], "acknowledge", NULL);
            ack_due[i] = NULL;
        }
        res_due[i] = h_str(t, "resolve_due_at");
    }
    /* SIGTERM is immediate although the engine sleeps until the first
     * deadline, seconds away (the margin leaves room for a slow machine) */
    double t0 = h_now();
    h_daemon_stop_ok(H);
    double stop_took = h_now() - t0;
    fprintf(stderr, "test_sla: daemon stopped in %.3f s\n", stop_took);
    assert_true(stop_took < 2.0); /* not the engine's sleep (5 s here, up to 60 s) */
    if (h_wall() >= first_due)
        fail_msg("setting up took too long: the daemon stopped %.3f s after the first deadline",
                 h_wall() - first_due);

    h_sleep_until_wall(h_ts_epoch(res_due[DOWN_N - 1]) + 1.0);
    const char *count = "SELECT count(*) FROM breaches WHERE ticket_id BETWEEN %lld AND %lld";
    assert_int_equal(h_sql_ll(H, count, (long long)ids[0], (long long)ids[DOWN_N - 1]), 0);
    double started = h_wall();
    h_daemon_start(H);
    long long want = DOWN_N + (DOWN_N - DOWN_N / 3); /* resolve for all, ack for the unacked */
    h_wait_sql_count(H, want, started + 3.0 - h_wall(), count, (long long)ids[0], (long long)ids[DOWN_N - 1]);
    h_sleep(0.5);
    assert_int_equal(h_sql_ll(H, count, (long long)ids[0], (long long)ids[DOWN_N - 1]), want);
    double last = h_sql_d(H, "SELECT extract(epoch FROM max(detected_at)) FROM breaches "
                        "WHERE ticket_id BETWEEN %lld AND %lld",
                        (long long)ids[0], (long long)ids[DOWN_N - 1]);
    fprintf(stderr, "test_sla: missed breaches recorded %.3f s after start-up began\n", last - started);
    assert_true(last - started < 1.0);
    for (int i = 0; i < DOWN_N; i++) {
        json_t *l = breaches_of(ids[i]);
        assert_int_equal(json_array_size(l), ack_due[i] ? 2 : 1);
        json_t *rb = breach_of_kind(l, "resolve");
        assert_non_null(rb);
        h_assert_str(rb, "due_at", res_due[i]);
        if (ack_due[i])
            h_assert_str(breach_of_kind(l, "ack"), "due_at", ack_due[i]);
        assert_int_equal(events_of_type(ids[i], "at_risk", NULL), 1);
        assert_int_equal(events_of_type(ids[i], "breached", NULL), ack_due[i] ? 2 : 1);
    }
}

/* PostgreSQL goes away under a running daemon and comes back: the engine
 * reconnects by itself (retrying every second) and records what came due. */
static void the_engine_reconnects_after_postgresql_restarts_and_records_what_came_due(void **state)
{
    (void)state;
    set_policy("normal", 2, 7200, 0.8);
    json_t *t = h_create_ticket_subject(H, h_unique(H, "pg-restart"), NULL);
    json_int_t id = h_int(t, "id");
    assert_int_equal(h_pg_ctl(H, "stop"), 0);
    h_sleep_until_wall(h_ts_epoch(h_str(t, "ack_due_at")) + 0.5);
    assert_int_equal(h_pg_ctl(H, "start"), 0);
    assert_int_equal(h_sql_wait(H, 30), 0);
    double back = h_wall();
    /* by SQL: the daemon's HTTP side may answer 503 for a moment still */
    const char *q = "SELECT count(*) FROM breaches WHERE ticket_id = %lld AND kind = 'ack'";
    if (h_wait_sql_count(H, 1, 5.0, q, (long long)id) == 0) {
        h_daemon_log_tail(H, 30);
        fail_msg("no ack breach within 5 s of PostgreSQL coming back");
    }
    double after = h_sql_d(H, "SELECT extract(epoch FROM detected_at) FROM breaches WHERE ticket_id = %lld",
                         (long long)id) - back;
    fprintf(stderr, "test_sla: breach recorded %.3f s after PostgreSQL was back\n", after);
    assert_true(after < 2.0); /* the engine retries every second */
    h_resp *r = NULL;
    for (double end = h_now() + 10; h_now() < end; h_sleep(0.1)) {
        r = h_req(H, "GET", h_fmt(H, "/v1/breaches?ticket=%lld", (long long)id), H->k.manager, NULL);
        if (r->status != 503)
            break;
    }
    h_expect_status(r, 200);
    json_t *items = json_object_get(r->json, "items");
    assert_int_equal(json_array_size(items), 1);
    h_assert_str(json_array_get(items, 0), "due_at", h_str(t, "ack_due_at"));
    assert_int_equal(events_of_type(id, "breached", NULL), 1);
}

/* A deadline that has passed but that the engine has not fired yet (it
 * fires within milliseconds, but not while it reconnects after a database
 * outage: tests/faults/test_fault_pg_outage caught an acknowledge in that
 * window) is recorded before an acknowledge or a claim stops its timer.
 * Here the timer is moved into the past behind the engine's back (no
 * notification: the engine sleeps toward the old, 10-minute deadline), so
 * the action always comes first. */
static void an_ack_deadline_passed_but_not_yet_fired_is_recorded_before_an_acknowledge_or_a_claim(void **state)
{
    (void)state;
    json_int_t acked = create("due, not fired, acknowledged", "normal");
    json_int_t claimed = create("due, not fired, claimed", "major");
    const char *err = NULL;
    for (int i = 0; i < 2; i++) {
        json_int_t id = i ? claimed : acked;
        assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE timers SET due_at = now() - interval '2 s' "
                                                "WHERE ticket_id = %lld AND kind = 'ack'", (long long)id), &err), 0);
    }
    const char *due_acked = h_sql_value(H, "SELECT to_char(due_at AT TIME ZONE 'UTC', "
                                           "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM timers "
                                           "WHERE ticket_id = %lld AND kind = 'ack'", (long long)acked);
    assert_non_null(due_acked);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM breaches WHERE ticket_id IN (%lld, %lld)",
                              (long long)acked, (long long)claimed), 0);

    json_t *t = h_action_ok(H, H->k.agent[1], acked, "acknowledge", NULL);
    h_assert_str(t, "state", "acknowledged");
    h_assert_int(t, "version", 3); /* created, breached, acknowledged */
    /* claim until it is ours (the tests before left tickets in the queue) */
    h_resp *r = NULL;
    for (int n = 0; n < 5000; n++) {
        r = h_req(H, "POST", "/v1/queues/line-1/claim", H->k.agent[1], NULL);
        h_expect_status(r, 200);
        if (h_int(r->json, "id") == claimed)
            break;
    }
    h_assert_int(r->json, "id", claimed);
    h_assert_int(r->json, "version", 3);

    for (int i = 0; i < 2; i++) {
        json_int_t id = i ? claimed : acked;
        json_t *items = breaches_of(id);
        assert_int_equal(json_array_size(items), 1);
        json_t *b = json_array_get(items, 0);
        h_assert_str(b, "kind", "ack");
        h_assert_str(b, "tier", "line-1");
        h_assert_null(b, "assignee"); /* nobody had it when it was due */
        if (!i)
            h_assert_str(b, "due_at", due_acked);
        /* history: the breach before the acknowledgement */
        json_t *ev = h_events(H, id);
        assert_int_equal(json_array_size(ev), i ? 4 : 3); /* the major one also has `notified` */
        h_assert_str(json_array_get(ev, json_array_size(ev) - 2), "type", "breached");
        h_assert_str(json_array_get(ev, json_array_size(ev) - 1), "type", "acknowledged");
        check_breaches_array(id, (const char *const[]){"ack"}, 1);
    }
}

/* A pass of an engine that locked a ticket's timer row, then found the
 * ticket held by an acknowledge and skipped it, keeps the timer row locked
 * until it commits.  Here a connection of the test plays that pass.  The
 * acknowledge, after the deadline, must wait for it and record the breach
 * before it acknowledges: when its fire statement skipped locked rows too,
 * it passed over the due timer, deleted it once the pass was gone, and the
 * breach was lost (test_problems found it for an action's due date). */
struct acker {
    json_int_t id;
    long status;
};

static void *ack_once(void *arg)
{
    struct acker *a = arg;
    a->status = h_action(H, H->k.agent[1], a->id, "acknowledge", NULL)->status;
    return NULL;
}

static void an_acknowledge_waits_for_a_pass_that_holds_the_timer(void **state)
{
    (void)state;
    set_policy("normal", 2, 3600, 0.9);
    json_int_t id = create("ack while a pass holds its timer", "normal");
    double due = h_sql_d(H, "SELECT extract(epoch FROM due_at) FROM timers WHERE ticket_id = %lld "
                            "AND kind = 'ack'", (long long)id);
    struct pg_conn *pass = h_hold_rows(H, 1, "SELECT 1 FROM timers WHERE ticket_id = %lld AND kind = 'ack' "
                                             "FOR UPDATE", (long long)id);
    /* past the deadline, while the "pass" still holds the timer row: the
     * daemon's engine skips it meanwhile */
    h_sleep_until_wall(due + 0.3);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM breaches WHERE ticket_id = %lld", (long long)id), 0);
    struct acker a = {id, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ack_once, &a), 0);
    h_sleep(0.5);
    h_hold_end(pass);
    pthread_join(th, NULL);
    assert_int_equal(a.status, 200);
    /* the breach, then the acknowledgement */
    json_t *items = breaches_of(id);
    assert_int_equal(json_array_size(items), 1);
    h_assert_str(json_array_get(items, 0), "kind", "ack");
    json_t *ev = h_events(H, id);
    assert_int_equal(json_array_size(ev), 3); /* created, breached, acknowledged */
    h_assert_str(json_array_get(ev, 1), "type", "breached");
    h_assert_str(json_array_get(ev, 2), "type", "acknowledged");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(policies_default_per_spec_refuse_bad_input_and_keep_what_a_partial_put_leaves, defaults),
        cmocka_unit_test_setup(calendar_is_validated_and_callback_due_follows_its_zone_holidays_and_makeup_days, defaults),
        cmocka_unit_test_setup(unacknowledged_tickets_breach_once_on_time_and_paused_warned_or_resolved_ones_as_the_spec_says, defaults),
        cmocka_unit_test_setup(burst_of_400_deadlines_each_fires_once_within_a_second, defaults),
        cmocka_unit_test_setup(deadlines_missed_while_no_daemon_ran_are_recorded_within_a_second_of_start, defaults),
        cmocka_unit_test_setup(the_engine_reconnects_after_postgresql_restarts_and_records_what_came_due, defaults),
        cmocka_unit_test_setup(an_ack_deadline_passed_but_not_yet_fired_is_recorded_before_an_acknowledge_or_a_claim, defaults),
        cmocka_unit_test_setup(an_acknowledge_waits_for_a_pass_that_holds_the_timer, defaults),
    };
    return h_run_group_tests(tests, setup, teardown);
}
