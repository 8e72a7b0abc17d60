/* test_reports.c — GET /v1/reports/sla and GET /v1/reports/monthly
 * (docs/reports.md), end to end:
 *
 *   - tickets created through the API and driven through the states (claimed,
 *     escalated to line-2 and line-3, waiting, resolved, reopened, closed
 *     satisfied and not), with real ack and resolve breaches from
 *     second-scale policies (PUT /v1/policies/{severity});
 *   - every metric of every group, for group_by tier, severity, category and
 *     day, checked against values computed here from what the API shows of
 *     those tickets (GET /v1/tickets/{id} and its history);
 *   - the CSV (Accept: text/csv): header row, CRLF, quoting of commas, quotes
 *     and Chinese, the formula guard, and field-by-field equality with JSON;
 *   - group_by day around the calendar zone's midnight, also after the
 *     calendar moves to another zone (one with daylight saving time);
 *   - empty groups (zeros, rates and times null);
 *   - the monthly view: top categories and root causes with counts, shares
 *     and breach rates, and the month's edges in the calendar's zone;
 *   - 401, 403, 400 (field named), content negotiation.
 *
 * TEST-ONLY: to place tickets on given days, this program sets
 * tickets.created_at in SQL (the harness's SQL helper).  The daemon never
 * changes created_at. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static h_ctx *H;
static const char *ZONE = "Asia/Shanghai"; /* the calendar's zone while a check runs */

/* Each test starts from the default policies and calendar (and ZONE says
 * so), whatever the tests before it changed. */
static int defaults(void **state)
{
    (void)state;
    h_restore_settings(H);
    ZONE = "Asia/Shanghai";
    return 0;
}

static const char *const COLUMNS[] = {
    "key", "created", "acknowledged", "resolved", "closed", "ack_breaches", "resolve_breaches",
    "ack_breach_rate", "resolve_breach_rate", "mtta_seconds", "mttr_seconds", "p90_ttr_seconds",
    "resolution_rate", "satisfaction_rate", NULL};

/* ------------------------------------------------------------ the model */

/* A ticket as the API shows it. */
struct tk {
    json_int_t id;
    char tier[8], severity[8];
    char *category;                       /* NULL = none */
    double created, first_ack, resolved, closed; /* epoch seconds, NAN = never */
    int ack_breach, resolve_breach;
    int satisfied;                        /* -1 no satisfaction, 0 unsatisfied, 1 satisfied */
    char *root_cause;
};

static void tk_free(struct tk *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].category);
        free(t[i].root_cause);
    }
}

static double ts_or_nan(json_t *o, const char *path)
{
    const char *s = h_str(o, path);
    return s ? h_ts_epoch(s) : NAN;
}

static void tk_load(struct tk *t, json_int_t id)
{
    memset(t, 0, sizeof *t);
    json_t *j = h_get_ticket(H, H->k.manager, id);
    t->id = id;
    snprintf(t->tier, sizeof t->tier, "%s", h_str(j, "tier"));
    snprintf(t->severity, sizeof t->severity, "%s", h_str(j, "severity"));
    t->category = h_str(j, "category") ? strdup(h_str(j, "category")) : NULL;
    t->root_cause = h_str(j, "root_cause") ? strdup(h_str(j, "root_cause")) : NULL;
    t->created = h_ts_epoch(h_str(j, "created_at"));
    t->resolved = ts_or_nan(j, "resolved_at");
    t->closed = ts_or_nan(j, "closed_at");
    json_t *br = h_get(j, "breaches");
    size_t i;
    json_t *b;
    json_array_foreach(br, i, b) {
        t->ack_breach |= strcmp(json_string_value(b), "ack") == 0;
        t->resolve_breach |= strcmp(json_string_value(b), "resolve") == 0;
    }
    t->satisfied = h_isnull(j, "satisfaction") ? -1 : strcmp(h_str(j, "satisfaction.result"), "satisfied") == 0;
    t->first_ack = NAN;
    json_t *ev = h_events(H, id);
    json_t *e;
    json_array_foreach(ev, i, e) {
        if (strcmp(h_str(e, "type"), "acknowledged") == 0) {
            t->first_ack = h_ts_epoch(h_str(e, "at"));
            break;
        }
    }
}


/* The group key of a ticket; NULL for "no category". */
static const char *key_of(const struct tk *t, const char *group_by, char buf[16])
{
    if (strcmp(group_by, "tier") == 0)
        return t->tier;
    if (strcmp(group_by, "severity") == 0)
        return t->severity;
    if (strcmp(group_by, "category") == 0)
        return t->category;
    h_local_day(t->created, ZONE, buf);
    return buf;
}

static int same_key(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void expect_count(json_t *g, const char *field, long want, const char *what)
{
    json_t *v = json_object_get(g, field);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        char *s = json_dumps(g, 0);
        print_error("%s: %s should be %ld in %s\n", what, field, want, s);
        free(s);
        fail();
    }
}

/* want NAN = null */
static void expect_real(json_t *g, const char *field, double want, double tol, const char *what)
{
    json_t *v = json_object_get(g, field);
    int ok = isnan(want) ? json_is_null(v) : (json_is_number(v) && fabs(json_number_value(v) - want) <= tol);
    if (!ok) {
        char *s = json_dumps(g, 0);
        print_error("%s: %s should be %.6f (±%g; nan = null) in %s\n", what, field, want, tol, s);
        free(s);
        fail();
    }
}

static double ratio(long num, long den) { return den ? (double)num / (double)den : NAN; }

/* Compute one group from the tickets and compare it with the report's. */
static void check_group(json_t *g, const struct tk *ts, size_t n, const char *group_by, const char *key)
{
    long created = 0, acked = 0, resolved = 0, closed = 0, ab = 0, rb = 0, in_sla = 0, sat = 0, rated = 0;
    double tta = 0, ttr_sum = 0, ttr[256];
    char what[160], buf[16];
    snprintf(what, sizeof what, "group_by=%s key=%s", group_by, key ? key : "(null)");
    for (size_t i = 0; i < n; i++) {
        const struct tk *t = &ts[i];
        if (!same_key(key_of(t, group_by, buf), key))
            continue;
        created++;
        if (!isnan(t->first_ack)) {
            acked++;
            tta += t->first_ack - t->created;
        }
        if (!isnan(t->resolved)) {
            ttr[resolved] = t->resolved - t->created;
            ttr_sum += ttr[resolved];
            resolved++;
            in_sla += !t->resolve_breach;
        }
        closed += !isnan(t->closed);
        ab += t->ack_breach;
        rb += t->resolve_breach;
        if (t->satisfied >= 0) {
            rated++;
            sat += t->satisfied;
        }
    }
    double p90 = NAN;
    if (resolved) {
        qsort(ttr, (size_t)resolved, sizeof ttr[0], cmp_double);
        p90 = ttr[(size_t)ceil(0.9 * (double)resolved) - 1]; /* nearest rank */
    }
    expect_count(g, "created", created, what);
    expect_count(g, "acknowledged", acked, what);
    expect_count(g, "resolved", resolved, what);
    expect_count(g, "closed", closed, what);
    expect_count(g, "ack_breaches", ab, what);
    expect_count(g, "resolve_breaches", rb, what);
    expect_real(g, "ack_breach_rate", ratio(ab, created), 1e-12, what);
    expect_real(g, "resolve_breach_rate", ratio(rb, created), 1e-12, what);
    /* times: the API shows milliseconds, the database keeps microseconds */
    expect_real(g, "mtta_seconds", acked ? tta / (double)acked : NAN, 0.003, what);
    expect_real(g, "mttr_seconds", resolved ? ttr_sum / (double)resolved : NAN, 0.003, what);
    expect_real(g, "p90_ttr_seconds", p90, 0.003, what);
    expect_real(g, "resolution_rate", ratio(in_sla, resolved), 1e-12, what);
    expect_real(g, "satisfaction_rate", ratio(sat, rated), 1e-12, what);
}

/* ------------------------------------------------------------ CSV */

/* RFC 4180 with CRLF after every record: an array of records (arrays of
 * strings).  Fails the test on anything malformed. */
static json_t *csv_parse(const char *s, size_t len)
{
    json_t *rows = json_array(), *row = json_array();
    char *field = malloc(len + 1);
    size_t fl = 0, i = 0;
    assert_true(len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n');
    while (i < len) {
        if (s[i] == '"') {
            assert_int_equal(fl, 0); /* a quote only opens a field */
            for (i++;; i++) {
                assert_true(i < len);
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        field[fl++] = '"';
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                field[fl++] = s[i];
            }
        }
        if (s[i] == ',') {
            json_array_append_new(row, json_stringn(field, fl));
            fl = 0;
            i++;
        } else if (s[i] == '\r') {
            assert_true(i + 1 < len && s[i + 1] == '\n');
            json_array_append_new(row, json_stringn(field, fl));
            json_array_append_new(rows, row);
            row = json_array();
            fl = 0;
            i += 2;
        } else {
            assert_true(s[i] != '\n' && s[i] != '"'); /* bare LF or stray quote */
            field[fl++] = s[i++];
        }
    }
    assert_int_equal(json_array_size(row), 0); /* no unterminated record */
    json_decref(row);
    free(field);
    return rows;
}

/* The CSV table must say exactly what the JSON groups say. */
static void check_csv_equals_json(const h_resp *csv, json_t *groups)
{
    h_expect_status(csv, 200);
    const char *ct = h_header(csv, "Content-Type");
    assert_non_null(ct);
    assert_string_equal(ct, "text/csv; charset=utf-8");
    json_t *rows = csv_parse(csv->body, csv->body_len);
    assert_int_equal(json_array_size(rows), json_array_size(groups) + 1);
    json_t *head = json_array_get(rows, 0);
    size_t ncol = 0;
    while (COLUMNS[ncol])
        ncol++;
    assert_int_equal(json_array_size(head), ncol);
    for (size_t c = 0; c < ncol; c++)
        assert_string_equal(json_string_value(json_array_get(head, c)), COLUMNS[c]);
    for (size_t r = 0; r < json_array_size(groups); r++) {
        json_t *row = json_array_get(rows, r + 1), *g = json_array_get(groups, r);
        assert_int_equal(json_array_size(row), ncol);
        for (size_t c = 0; c < ncol; c++) {
            const char *cell = json_string_value(json_array_get(row, c));
            json_t *v = json_object_get(g, COLUMNS[c]);
            int ok;
            if (json_is_null(v))
                ok = cell[0] == '\0';
            else if (json_is_string(v)) {
                const char *want = json_string_value(v);
                /* the formula guard: a leading = + - @ gets a ' in front */
                ok = strchr("=+-@", want[0]) && want[0] ? cell[0] == '\'' && strcmp(cell + 1, want) == 0
                                                        : strcmp(cell, want) == 0;
            } else if (json_is_integer(v)) {
                char *end;
                ok = strtoll(cell, &end, 10) == json_integer_value(v) && *end == '\0' && cell[0];
            } else {
                char *end;
                double d = strtod(cell, &end);
                ok = *end == '\0' && cell[0] && d == json_number_value(v);
            }
            if (!ok) {
                char *s = json_dumps(g, 0);
                print_error("CSV row %zu column %s is \"%s\"; JSON says %s\n", r + 1, COLUMNS[c], cell, s);
                free(s);
                fail();
            }
        }
    }
    json_decref(rows);
}

/* ------------------------------------------------------------ requests */

static h_resp *report(const char *query, const char *accept)
{
    const char *path = h_fmt(H, "/v1/reports/sla%s%s", query ? "?" : "", query ? query : "");
    if (accept)
        return h_req(H, "GET", path, H->k.manager, NULL, h_fmt(H, "Accept: %s", accept));
    return h_req(H, "GET", path, H->k.manager, NULL);
}

static const char *db_now(void)
{
    const char *v = h_sql_value(H, "SELECT to_char(now() AT TIME ZONE 'UTC', "
                                   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    assert_non_null(v);
    return h_fmt(H, "%s", v);
}


static void set_zone(const char *zone)
{
    h_resp *r = h_req(H, "GET", "/v1/calendar", H->k.manager, NULL);
    h_expect_status(r, 200);
    json_t *doc = json_deep_copy(r->json);
    json_object_set_new(doc, "timezone", json_string(zone));
    r = h_reqj(H, "PUT", "/v1/calendar", H->k.manager, doc);
    h_expect_status(r, 200);
    ZONE = zone;
}

static json_int_t create(const char *subject, const char *severity, const char *category)
{
    return h_new_ticket(H, subject, severity, category);
}

/* Wait until the ticket has every breach kind in `kinds` ("ack", "ack,resolve"). */
static void await_breaches(json_int_t id, const char *kinds) { h_wait_breaches(H, id, kinds, 15); }

/* Check one grouping: the groups (order and keys) and every metric, then the CSV. */
static void check_report(const char *from, const char *to, const char *group_by, const struct tk *ts,
                         size_t n, const char *const *want_keys, size_t nkeys)
{
    const char *q = h_fmt(H, "from=%s&to=%s&group_by=%s", from, to, group_by);
    h_resp *r = report(q, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "group_by", group_by);
    assert_true(fabs(h_ts_epoch(h_str(r->json, "from")) - h_ts_epoch(from)) < 0.001);
    assert_true(fabs(h_ts_epoch(h_str(r->json, "to")) - h_ts_epoch(to)) < 0.001);
    h_assert_str(r->json, "timezone", ZONE);
    json_t *groups = h_get(r->json, "groups");
    if (json_array_size(groups) != nkeys) {
        char *s = json_dumps(groups, 0);
        print_error("group_by=%s: %zu groups expected, got %s\n", group_by, nkeys, s);
        free(s);
        fail();
    }
    for (size_t i = 0; i < nkeys; i++) {
        json_t *g = json_array_get(groups, i);
        json_t *k = json_object_get(g, "key");
        if (!(want_keys[i] ? json_is_string(k) && strcmp(json_string_value(k), want_keys[i]) == 0
                           : json_is_null(k))) {
            char *s = json_dumps(groups, 0);
            print_error("group_by=%s: group %zu should be %s: %s\n", group_by, i,
                        want_keys[i] ? want_keys[i] : "null", s);
            free(s);
            fail();
        }
        check_group(g, ts, n, group_by, want_keys[i]);
    }
    check_csv_equals_json(report(q, "text/csv"), groups);
}

/* The distinct categories of the tickets, most tickets first, then by code
 * point, "no category" last among equals. */
static size_t category_keys(const struct tk *ts, size_t n, const char **keys)
{
    size_t nk = 0;
    long counts[64];
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nk && !same_key(keys[k], ts[i].category))
            k++;
        if (k == nk) {
            keys[nk] = ts[i].category;
            counts[nk++] = 0;
        }
        counts[k]++;
    }
    for (size_t i = 1; i < nk; i++)
        for (size_t j = i; j > 0; j--) {
            const char *a = keys[j - 1], *b = keys[j];
            int before = counts[j] > counts[j - 1] ||
                         (counts[j] == counts[j - 1] && b && (!a || strcmp(b, a) < 0));
            if (!before)
                break;
            keys[j - 1] = b, keys[j] = a;
            long c = counts[j - 1];
            counts[j - 1] = counts[j], counts[j] = c;
        }
    return nk;
}

/* ------------------------------------------------------------ tests */

static void reports_are_for_managers_and_admins_and_bad_parameters_are_400_naming_the_field(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/reports/sla", NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
    r = h_req(H, "GET", "/v1/reports/monthly", NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
    const char *others[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[2], H->k.agent[3]};
    for (size_t i = 0; i < 4; i++) {
        r = h_req(H, "GET", "/v1/reports/sla?group_by=tier", others[i], NULL);
        h_expect_error(r, 403, "forbidden");
        r = h_req(H, "GET", "/v1/reports/sla?group_by=nonsense", others[i], NULL); /* 403 before 400 */
        h_expect_error(r, 403, "forbidden");
        r = h_req(H, "GET", "/v1/reports/monthly", others[i], NULL);
        h_expect_error(r, 403, "forbidden");
    }
    r = h_req(H, "GET", "/v1/reports/sla", H->k.admin, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "GET", "/v1/reports/monthly", H->k.admin, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "POST", "/v1/reports/sla", H->k.manager, "{}");
    h_expect_error(r, 405, "method_not_allowed");

    static const struct { const char *query, *field; } bad[] = {
        {"group_by=week", "group_by"},
        {"group_by=", "group_by"},
        {"group_by=TIER", "group_by"},
        {"from=yesterday", "from"},
        {"from=2026-13-01T00:00:00Z", "from"},
        {"from=2026-11-01", "from"},
        {"to=soon", "to"},
        {"from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to"},
        {"from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"},
        {"from=2999-01-01T00:00:00Z", "from"}, /* to defaults to now */
        {"from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&group_by=day", "to"}, /* > 1000 days */
        {"format=csv", "format"},
        {"group_by=tier&limit=5", "limit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = report(bad[i].query, NULL);
        if (!h_check_error(r, 400, "validation_failed", bad[i].field, bad[i].query))
            fail();
        /* an error is JSON even when CSV was asked for */
        r = report(bad[i].query, "text/csv");
        if (!h_check_error(r, 400, "validation_failed", bad[i].field, bad[i].query))
            fail();
    }
    static const struct h_bad bad_month[] = {
        {"month=2026-5", "month"}, {"month=2026-13", "month"}, {"month=26-05", "month"},
        {"month=2026-05-01", "month"}, {"month=", "month"}, {"limit=0", "limit"},
        {"limit=101", "limit"}, {"limit=x", "limit"}, {"group_by=tier", "group_by"},
    };
    assert_int_equal(h_check_bad(H, "GET", "/v1/reports/monthly", H->k.manager, 400, "validation_failed",
                                 bad_month, sizeof bad_month / sizeof bad_month[0]),
                     0);
    /* 1000 days by day is fine; any span by tier is */
    r = report("from=2020-01-01T00:00:00Z&to=2022-09-26T00:00:00Z&group_by=day", NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "groups")), 1000);
    r = report("from=2020-01-01T00:00:00Z&to=2022-09-27T00:00:00Z&group_by=day", NULL);
    if (!h_check_error(r, 400, "validation_failed", "to", "1001 days"))
        fail();
    r = report("from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&group_by=tier", NULL);
    h_expect_status(r, 200);
}

/* Defaults: to = now, from = to - 30 days, group_by = tier. */
static void the_sla_report_defaults_to_the_last_30_days_by_tier(void **state)
{
    (void)state;
    const char *before = db_now();
    h_resp *r = report(NULL, NULL);
    const char *after = db_now();
    h_expect_status(r, 200);
    h_assert_str(r->json, "group_by", "tier");
    double to = h_ts_epoch(h_str(r->json, "to")), from = h_ts_epoch(h_str(r->json, "from"));
    assert_true(to >= h_ts_epoch(before) - 0.001 && to <= h_ts_epoch(after) + 0.001);
    assert_true(fabs((to - from) - 30 * 86400.0) < 0.002);
    assert_int_equal(json_array_size(h_get(r->json, "groups")), 3);
    /* from alone: to is now */
    r = report("from=2026-01-01T00:00:00%2B08:00", NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "from", "2025-12-31T16:00:00.000Z");
}

/* A period with no tickets: the fixed groups are there, all zero, every rate
 * and time null; categories: no groups; CSV: the header alone. */
static void a_period_without_tickets_has_zero_counts_and_null_rates(void **state)
{
    (void)state;
    const char *period = "from=2001-01-01T00:00:00Z&to=2001-01-03T00:00:00Z";
    static const struct { const char *group_by; size_t n; const char *first; } cases[] = {
        {"tier", 3, "line-1"}, {"severity", 2, "normal"}, {"day", 3, "2001-01-01"}, {"category", 0, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *q = h_fmt(H, "%s&group_by=%s", period, cases[c].group_by);
        h_resp *r = report(q, NULL);
        h_expect_status(r, 200);
        json_t *groups = h_get(r->json, "groups");
        assert_int_equal(json_array_size(groups), cases[c].n);
        if (cases[c].first)
            h_assert_str(json_array_get(groups, 0), "key", cases[c].first);
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g) {
            for (const char *const *col = COLUMNS + 1; *col; col++) {
                json_t *v = json_object_get(g, *col);
                assert_non_null(v);
                if (json_is_integer(v))
                    assert_int_equal(json_integer_value(v), 0);
                else
                    assert_true(json_is_null(v));
            }
        }
        check_csv_equals_json(report(q, "text/csv"), groups);
    }
    /* day keys: the calendar's days (Asia/Shanghai, +08:00) the period touches */
    h_resp *r = report("from=2001-01-01T00:00:00Z&to=2001-01-03T00:00:00Z&group_by=day", NULL);
    h_assert_str(json_array_get(h_get(r->json, "groups"), 0), "key", "2001-01-01");
    h_assert_str(json_array_get(h_get(r->json, "groups"), 2), "key", "2001-01-03");
    r = report("from=2001-01-01T00:00:00%2B08:00&to=2001-01-03T00:00:00%2B08:00&group_by=day", NULL);
    assert_int_equal(json_array_size(h_get(r->json, "groups")), 2);
    h_assert_str(json_array_get(h_get(r->json, "groups"), 1), "key", "2001-01-02");
}

/* The main scenario: tickets through every state, with real breaches. */
static void every_metric_of_every_grouping_matches_the_tickets_and_the_csv_matches_the_json(void **state)
{
    (void)state;
    /* deadlines of seconds; quick actions stay well inside them */
    h_put_policy(H, "normal", "{\"ack_seconds\": 2, \"resolve_seconds\": 4, \"warn_ratio\": 0.5}");
    h_put_policy(H, "major", "{\"ack_seconds\": 2, \"resolve_seconds\": 10, \"warn_ratio\": 0.5}");
    const char *from = db_now();
    const char *l1 = H->k.agent[1], *l2 = H->k.agent[2], *l3 = H->k.agent[3];

    /* T1: nobody ever acknowledges it: ack and resolve breaches */
    json_int_t t1 = create("没人理", "normal", "网络,宽带");
    /* T2: acknowledged, resolved, closed satisfied, all in time */
    json_int_t t2 = create("quick", "normal", "billing");
    h_action_ok(H, l1, t2, "acknowledge", NULL);
    h_action_ok(H, l1, t2, "resolve", h_resolve_body("customer_side"));
    h_action_ok(H, H->k.frontdesk, t2, "close", h_close_body("satisfied", 5));
    /* T3: major, to line-2, where nobody acknowledges in time (ack breach at
     * line-2); then resolved in time and closed unsatisfied */
    json_int_t t3 = create("major one", "major", "billing");
    h_action_ok(H, l1, t3, "acknowledge", NULL);
    h_action_ok(H, l1, t3, "escalate", h_reason("line-2 please"));
    /* T4: up to line-3, resolved there after its resolve deadline */
    json_int_t t4 = create("slow", "normal", "say \"hi\"");
    h_action_ok(H, l1, t4, "acknowledge", NULL);
    h_action_ok(H, l1, t4, "escalate", h_reason("line-2 please"));
    h_action_ok(H, l2, t4, "acknowledge", NULL);
    h_action_ok(H, l2, t4, "escalate", h_reason("line-3 please"));
    h_action_ok(H, l3, t4, "acknowledge", NULL);
    /* T5: major, no category, waiting for the customer (resolve clock paused) */
    json_int_t t5 = create("waiting", "major", NULL);
    h_action_ok(H, l1, t5, "acknowledge", NULL);
    h_action_ok(H, l1, t5, "wait", h_reason("客户出差"));
    /* T6: resolved, reopened, acknowledged and resolved again, in time */
    json_int_t t6 = create("reopened", "normal", "billing");
    h_action_ok(H, l1, t6, "acknowledge", NULL);
    h_action_ok(H, l1, t6, "resolve", h_resolve_body("other"));
    h_action_ok(H, H->k.frontdesk, t6, "reopen", h_reason("still broken"));
    h_action_ok(H, l1, t6, "acknowledge", NULL);
    h_action_ok(H, l1, t6, "resolve", h_resolve_body("customer_side"));
    /* T7: a category a spreadsheet would run; acknowledged late */
    json_int_t t7 = create("formula", "normal", "=HYPERLINK(\"x\")");

    await_breaches(t3, "ack");
    h_action_ok(H, l2, t3, "acknowledge", NULL);
    h_action_ok(H, l2, t3, "resolve", h_resolve_body("product_defect"));
    h_action_ok(H, H->k.frontdesk, t3, "close", h_close_body("unsatisfied", 2));
    await_breaches(t7, "ack");
    h_action_ok(H, l1, t7, "acknowledge", NULL);
    await_breaches(t4, "resolve");
    h_action_ok(H, l3, t4, "resolve", h_resolve_body("operations"));
    await_breaches(t1, "ack,resolve");
    await_breaches(t7, "resolve");
    h_restore_settings(H); /* what remains running is days away */
    const char *to = db_now();

    json_int_t ids[] = {t1, t2, t3, t4, t5, t6, t7};
    enum { N = sizeof ids / sizeof ids[0] };
    struct tk ts[N];
    for (size_t i = 0; i < N; i++)
        tk_load(&ts[i], ids[i]);
    /* the scenario did what it meant to */
    assert_string_equal(ts[2].tier, "line-2");
    assert_string_equal(ts[3].tier, "line-3");
    assert_true(ts[0].ack_breach && ts[0].resolve_breach && isnan(ts[0].first_ack));
    assert_true(!ts[1].ack_breach && !ts[1].resolve_breach && ts[1].satisfied == 1);
    assert_true(ts[2].ack_breach && !ts[2].resolve_breach && ts[2].satisfied == 0);
    assert_true(ts[3].resolve_breach && !isnan(ts[3].resolved));
    assert_true(!ts[4].resolve_breach && isnan(ts[4].resolved));
    assert_true(!ts[5].ack_breach && !ts[5].resolve_breach && !isnan(ts[5].resolved));
    assert_true(ts[6].ack_breach && ts[6].resolve_breach);

    const char *tiers[] = {"line-1", "line-2", "line-3"};
    check_report(from, to, "tier", ts, N, tiers, 3);
    const char *sev[] = {"normal", "major"};
    check_report(from, to, "severity", ts, N, sev, 2);
    const char *cats[N];
    size_t nc = category_keys(ts, N, cats);
    assert_int_equal(nc, 5);
    assert_string_equal(cats[0], "billing");
    check_report(from, to, "category", ts, N, cats, nc);
    /* the days of the period in the calendar's zone (one, or two around midnight) */
    char d1[16], d2[16];
    h_local_day(h_ts_epoch(from), ZONE, d1);
    h_local_day(h_ts_epoch(to) - 1e-6, ZONE, d2);
    const char *days[] = {d1, d2};
    check_report(from, to, "day", ts, N, days, strcmp(d1, d2) ? 2 : 1);

    /* the CSV's quoting, byte for byte */
    h_resp *r = report(h_fmt(H, "from=%s&to=%s&group_by=category", from, to), "text/csv");
    assert_non_null(strstr(r->body, "\r\n\"网络,宽带\",1,0,0,0,1,1,"));
    assert_non_null(strstr(r->body, "\r\n\"say \"\"hi\"\"\",1,1,1,0,0,1,"));
    assert_non_null(strstr(r->body, "\r\n\"'=HYPERLINK(\"\"x\"\")\",1,1,0,0,1,1,"));
    assert_non_null(strstr(r->body, "\r\n,1,1,0,0,0,0,0.0,0.0,")); /* no category: an empty key */
    assert_true(strncmp(r->body, "key,created,acknowledged,resolved,closed,ack_breaches,", 54) == 0);
    tk_free(ts, N);
}

/* Accept: which one wins. */
static void the_accept_header_chooses_csv_or_json(void **state)
{
    (void)state;
    static const struct { const char *accept; int csv; } cases[] = {
        {"text/csv", 1},
        {"text/csv; charset=utf-8", 1},
        {"TEXT/CSV", 1},
        {"application/json", 0},
        {"*/*", 0},
        {"text/*", 1},
        {"text/csv;q=0.5, application/json", 0},
        {"application/json;q=0.2, text/csv", 1},
        {"text/csv, application/json", 1},
        {"application/json, text/csv", 0},
        {"text/csv, */*;q=0.1", 1},
        {"text/csv;q=0", 0},
        {"text/html", 0},
    };
    const char *q = "from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        h_resp *r = report(q, cases[i].accept);
        h_expect_status(r, 200);
        const char *ct = h_header(r, "Content-Type");
        int is_csv = ct && strncmp(ct, "text/csv", 8) == 0;
        if (is_csv != cases[i].csv) {
            print_error("Accept: %s gave %s\n", cases[i].accept, ct ? ct : "(none)");
            fail();
        }
    }
    h_resp *r = report(q, NULL);
    assert_non_null(r->json);
    assert_string_equal(h_header(r, "Content-Type"), "application/json; charset=utf-8");
}

/* group_by day around the calendar zone's midnight, in two zones. */
static void day_groups_split_at_the_calendar_zones_midnight_also_after_a_zone_change(void **state)
{
    (void)state;
    /* TEST-ONLY: created_at set in SQL to put tickets on both sides of midnight */
    static const char *const at[] = {
        "2026-03-09 15:59:59.999+00", /* Shanghai 03-09 23:59:59.999; New York 03-09 11:59 EDT */
        "2026-03-09 16:00:00+00",     /* Shanghai 03-10 00:00;        New York 03-09 12:00 */
        "2026-03-10 08:00:00+00",     /* Shanghai 03-10 16:00;        New York 03-10 04:00 */
        "2026-03-11 15:59:59+00",     /* Shanghai 03-11 23:59:59;     New York 03-11 11:59 */
        "2026-03-08 06:59:59+00",     /* Shanghai 03-08 14:59:59;     New York 03-08 01:59 EST */
    };
    enum { N = sizeof at / sizeof at[0] };
    json_int_t ids[N];
    for (size_t i = 0; i < N; i++) {
        ids[i] = create(h_fmt(H, "midnight %zu", i), i % 2 ? "major" : "normal", "midnight");
        if (i == 1 || i == 2) {
            h_action_ok(H, H->k.agent[1], ids[i], "acknowledge", NULL);
            h_action_ok(H, H->k.agent[1], ids[i], "resolve", h_resolve_body("operations"));
        }
        const char *err = NULL;
        if (h_sql_exec(H, h_fmt(H, "UPDATE tickets SET created_at = '%s' WHERE id = %lld", at[i],
                               (long long)ids[i]), &err) != 0)
            fail_msg("UPDATE: %s", err ? err : "?");
    }
    struct tk ts[N];
    for (size_t i = 0; i < N; i++)
        tk_load(&ts[i], ids[i]);

    /* Asia/Shanghai: 03-08 .. 03-11 local */
    const char *sh_days[] = {"2026-03-08", "2026-03-09", "2026-03-10", "2026-03-11"};
    check_report("2026-03-07T16:00:00.000Z", "2026-03-11T16:00:00.000Z", "day", ts, N, sh_days, 4);
    h_resp *r = report("from=2026-03-07T16:00:00Z&to=2026-03-11T16:00:00Z&group_by=day", NULL);
    json_t *g = h_get(r->json, "groups");
    h_assert_int(json_array_get(g, 0), "created", 1);
    h_assert_int(json_array_get(g, 1), "created", 1);
    h_assert_int(json_array_get(g, 2), "created", 2);
    h_assert_int(json_array_get(g, 3), "created", 1);
    /* a period that starts at local noon still keys by the local day */
    const char *half[] = {"2026-03-09", "2026-03-10"};
    check_report("2026-03-09T04:00:00.000Z", "2026-03-10T16:00:00.000Z", "day", ts, N, half, 2);
    /* an empty day inside the period */
    const char *gap[] = {"2026-03-12", "2026-03-13"};
    check_report("2026-03-11T16:00:00.000Z", "2026-03-13T16:00:00.000Z", "day", ts, N, gap, 2);

    /* America/New_York (daylight saving time starts 2026-03-08 02:00) */
    set_zone("America/New_York");
    const char *ny_days[] = {"2026-03-08", "2026-03-09", "2026-03-10", "2026-03-11"};
    check_report("2026-03-08T05:00:00.000Z", "2026-03-12T04:00:00.000Z", "day", ts, N, ny_days, 4);
    r = report("from=2026-03-08T05:00:00Z&to=2026-03-12T04:00:00Z&group_by=day", NULL);
    g = h_get(r->json, "groups");
    h_assert_str(r->json, "timezone", "America/New_York");
    h_assert_int(json_array_get(g, 0), "created", 1);
    h_assert_int(json_array_get(g, 1), "created", 2);
    h_assert_int(json_array_get(g, 2), "created", 1);
    h_assert_int(json_array_get(g, 3), "created", 1);
    set_zone("Asia/Shanghai");
    tk_free(ts, N);
}

/* The monthly view of May 2026 (Asia/Shanghai). */
static void the_monthly_report_ranks_categories_and_root_causes_of_the_local_month(void **state)
{
    (void)state;
    static const struct { const char *category; const char *root_cause; int late, close; } plan[] = {
        {"billing", "customer_side", 0, 1}, {"billing", "operations", 1, 1}, {"billing", "operations", 0, 0},
        {"billing", "product_defect", 1, 0}, {"attitude", "customer_side", 0, 1},
        {"attitude", "other", 1, 2}, {"attitude", "customer_side", 0, 0}, {"网络,宽带", "operations", 1, 0},
        {"网络,宽带", "product_defect", 0, 0}, {"skill", "operations", 0, 1}, {NULL, "customer_side", 1, 0},
        {NULL, NULL, 0, 0}, /* still open: waiting for the customer */
        /* the month's edges */
        {"edge", "operations", 0, 0}, {"edge", "operations", 0, 0}, {"outside", "operations", 0, 0},
        {"outside", "operations", 0, 0},
    };
    static const char *const at[] = {
        "2026-05-15 04:00+00", "2026-05-15 04:01+00", "2026-05-16 04:00+00", "2026-05-17 04:00+00",
        "2026-05-18 04:00+00", "2026-05-19 04:00+00", "2026-05-20 04:00+00", "2026-05-21 04:00+00",
        "2026-05-22 04:00+00", "2026-05-23 04:00+00", "2026-05-24 04:00+00", "2026-05-25 04:00+00",
        "2026-04-30 16:00:00+00",     /* 05-01 00:00 local: May */
        "2026-05-31 15:59:59.999+00", /* 05-31 23:59:59.999 local: May */
        "2026-04-30 15:59:59.999+00", /* 04-30 23:59:59.999 local: April */
        "2026-05-31 16:00:00+00",     /* 06-01 00:00 local: June */
    };
    enum { N = sizeof plan / sizeof plan[0] };
    /* late ones wait out 2 s acknowledge and 3 s resolve deadlines */
    h_put_policy(H, "normal", "{\"ack_seconds\": 2, \"resolve_seconds\": 3, \"warn_ratio\": 0.9}");
    json_int_t ids[N];
    for (size_t i = 0; i < N; i++) {
        ids[i] = create(h_fmt(H, "monthly %zu", i), "normal", plan[i].category);
        if (!plan[i].late) {
            h_action_ok(H, H->k.agent[1], ids[i], "acknowledge", NULL);
            if (plan[i].root_cause)
                h_action_ok(H, H->k.agent[1], ids[i], "resolve", h_resolve_body(plan[i].root_cause));
            else /* the resolve clock pauses */
                h_action_ok(H, H->k.agent[1], ids[i], "wait", h_reason("客户出国"));
        }
    }
    for (size_t i = 0; i < N; i++)
        if (plan[i].late)
            await_breaches(ids[i], "ack,resolve");
    h_restore_settings(H);
    for (size_t i = 0; i < N; i++) {
        if (plan[i].late) {
            h_action_ok(H, H->k.agent[1], ids[i], "acknowledge", NULL);
            h_action_ok(H, H->k.agent[1], ids[i], "resolve", h_resolve_body(plan[i].root_cause));
        }
        if (plan[i].close)
            h_action_ok(H, H->k.frontdesk, ids[i], "close",
                        h_close_body(plan[i].close == 1 ? "satisfied" : "unsatisfied", 3));
        /* TEST-ONLY: move the ticket into (or just outside) May */
        const char *err = NULL;
        if (h_sql_exec(H, h_fmt(H, "UPDATE tickets SET created_at = '%s' WHERE id = %lld", at[i],
                               (long long)ids[i]), &err) != 0)
            fail_msg("UPDATE: %s", err ? err : "?");
    }
    struct tk ts[N];
    size_t n = 0; /* the May ones */
    for (size_t i = 0; i < N; i++) {
        tk_load(&ts[n], ids[i]);
        char day[16];
        h_local_day(ts[n].created, "Asia/Shanghai", day);
        if (strncmp(day, "2026-05", 7) == 0)
            n++;
        else
            tk_free(&ts[n], 1);
    }
    assert_int_equal(n, N - 2);

    h_resp *r = h_req(H, "GET", "/v1/reports/monthly?month=2026-05", H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "month", "2026-05");
    h_assert_str(r->json, "timezone", "Asia/Shanghai");
    h_assert_str(r->json, "from", "2026-04-30T16:00:00.000Z");
    h_assert_str(r->json, "to", "2026-05-31T16:00:00.000Z");

    /* totals */
    long resolved = 0, ab = 0, rb = 0, in_sla = 0, sat = 0, rated = 0;
    for (size_t i = 0; i < n; i++) {
        resolved += !isnan(ts[i].resolved);
        in_sla += !isnan(ts[i].resolved) && !ts[i].resolve_breach;
        ab += ts[i].ack_breach;
        rb += ts[i].resolve_breach;
        rated += ts[i].satisfied >= 0;
        sat += ts[i].satisfied == 1;
    }
    json_t *tot = h_get(r->json, "totals");
    expect_count(tot, "created", (long)n, "totals");
    expect_count(tot, "resolved", resolved, "totals");
    expect_count(tot, "ack_breaches", ab, "totals");
    expect_count(tot, "resolve_breaches", rb, "totals");
    expect_real(tot, "ack_breach_rate", ratio(ab, (long)n), 1e-12, "totals");
    expect_real(tot, "resolve_breach_rate", ratio(rb, (long)n), 1e-12, "totals");
    expect_real(tot, "resolution_rate", ratio(in_sla, resolved), 1e-12, "totals");
    expect_real(tot, "satisfaction_rate", ratio(sat, rated), 1e-12, "totals");
    assert_true(ab == 5 && rb == 5);

    /* categories: most frequent first */
    const char *cats[N];
    size_t nc = category_keys(ts, n, cats);
    json_t *jc = h_get(r->json, "categories");
    assert_int_equal(json_array_size(jc), nc < 10 ? nc : 10);
    for (size_t k = 0; k < json_array_size(jc); k++) {
        json_t *c = json_array_get(jc, k);
        long cnt = 0, cab = 0, crb = 0;
        for (size_t i = 0; i < n; i++)
            if (same_key(ts[i].category, cats[k])) {
                cnt++;
                cab += ts[i].ack_breach;
                crb += ts[i].resolve_breach;
            }
        if (cats[k])
            h_assert_str(c, "category", cats[k]);
        else
            h_assert_null(c, "category");
        expect_count(c, "count", cnt, "category");
        expect_real(c, "share", ratio(cnt, (long)n), 1e-12, "category");
        expect_count(c, "ack_breaches", cab, "category");
        expect_count(c, "resolve_breaches", crb, "category");
        expect_real(c, "ack_breach_rate", ratio(cab, cnt), 1e-12, "category");
        expect_real(c, "resolve_breach_rate", ratio(crb, cnt), 1e-12, "category");
    }
    h_assert_str(json_array_get(jc, 0), "category", "billing");
    h_assert_int(json_array_get(jc, 0), "count", 4);
    h_assert_str(json_array_get(jc, 1), "category", "attitude");

    /* root causes: all four, most frequent first, shares of the resolved */
    json_t *jr = h_get(r->json, "root_causes");
    assert_int_equal(json_array_size(jr), 4);
    long prev = -1;
    for (size_t k = 0; k < 4; k++) {
        json_t *c = json_array_get(jr, k);
        const char *rc = h_str(c, "root_cause");
        assert_non_null(rc);
        long cnt = 0, cab = 0, crb = 0;
        for (size_t i = 0; i < n; i++)
            if (ts[i].root_cause && strcmp(ts[i].root_cause, rc) == 0) {
                cnt++;
                cab += ts[i].ack_breach;
                crb += ts[i].resolve_breach;
            }
        expect_count(c, "count", cnt, rc);
        expect_real(c, "share", ratio(cnt, resolved), 1e-12, rc);
        expect_count(c, "ack_breaches", cab, rc);
        expect_count(c, "resolve_breaches", crb, rc);
        expect_real(c, "ack_breach_rate", ratio(cab, cnt), 1e-12, rc);
        expect_real(c, "resolve_breach_rate", ratio(crb, cnt), 1e-12, rc);
        if (prev >= 0)
            assert_true(cnt <= prev);
        prev = cnt;
    }
    h_assert_str(json_array_get(jr, 0), "root_cause", "operations"); /* 6, with both edges */
    h_assert_int(json_array_get(jr, 0), "count", 6);
    h_assert_str(json_array_get(jr, 3), "root_cause", "other");

    /* limit */
    r = h_req(H, "GET", "/v1/reports/monthly?month=2026-05&limit=2", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "categories")), 2);
    /* a month without tickets: zeros and nulls, root causes still listed */
    r = h_req(H, "GET", "/v1/reports/monthly?month=2001-02", H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "from", "2001-01-31T16:00:00.000Z");
    h_assert_str(r->json, "to", "2001-02-28T16:00:00.000Z");
    h_assert_int(r->json, "totals.created", 0);
    h_assert_null(r->json, "totals.ack_breach_rate");
    h_assert_null(r->json, "totals.resolution_rate");
    assert_int_equal(json_array_size(h_get(r->json, "categories")), 0);
    assert_int_equal(json_array_size(h_get(r->json, "root_causes")), 4);
    h_assert_null(json_array_get(h_get(r->json, "root_causes"), 0), "share");
    /* no month: the current one in the calendar's zone */
    const char *cur = h_sql_value(H, "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')");
    r = h_req(H, "GET", "/v1/reports/monthly", H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "month", cur);
    tk_free(ts, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(reports_are_for_managers_and_admins_and_bad_parameters_are_400_naming_the_field, defaults),
        cmocka_unit_test_setup(the_sla_report_defaults_to_the_last_30_days_by_tier, defaults),
        cmocka_unit_test_setup(a_period_without_tickets_has_zero_counts_and_null_rates, defaults),
        cmocka_unit_test_setup(the_accept_header_chooses_csv_or_json, defaults),
        cmocka_unit_test_setup(every_metric_of_every_grouping_matches_the_tickets_and_the_csv_matches_the_json, defaults),
        cmocka_unit_test_setup(day_groups_split_at_the_calendar_zones_midnight_also_after_a_zone_change, defaults),
        cmocka_unit_test_setup(the_monthly_report_ranks_categories_and_root_causes_of_the_local_month, defaults),
    };
    return h_run_tests_with_daemon(&H, "test_reports", 0, tests);
}
