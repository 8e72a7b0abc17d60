/* test_retention.c — retention and anonymisation (issue 9 item 2, migration
 * 010, docs/operations.md "Retention and anonymisation"): the period is
 * never under 4 months; a dry run says what would be anonymised and changes
 * nothing; a run erases every trace of the customer's personal data of the
 * closed tickets past the period and keeps the ticket, its history, its
 * breaches and the reports; it is idempotent and safe when two run at once;
 * a ticket closed 3 months ago is untouched; the reveal answers 410. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

#define MARK "[anonymised]"

/* the old ticket's customer, and personal data in its free text */
#define NAME "王小明"
#define PHONE "+86 138-1234-5678"
#define EMAIL "wang.xm@example.com"
#define ID_NUMBER "110101199003071233"
#define CARD "6222 0212 3456 7890 128"
#define TEXT_PHONE "13987654321" /* a number in the free text only */
#define TEXT_EMAIL "lisi.ret@example.org"

/* the recent ticket's */
#define R_NAME "赵六"
#define R_PHONE "13700001111"
#define R_EMAIL "zhao.liu@example.net"

static int setup(void **state)
{
    (void)state;
    H = h_start("test_retention", NULL);
    h_probe_install(H);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

static h_resp *run(const char *query, const char *token)
{
    return h_req(H, "POST", h_fmt(H, "/v1/retention/run%s", query), token, NULL);
}

static void put_months(int months)
{
    h_resp *r = h_reqj(H, "PUT", "/v1/retention", H->k.admin, json_pack("{s:i}", "months", months));
    h_expect_status(r, 200);
    h_assert_int(r->json, "months", months);
}

/* Anonymise whatever earlier tests left due, so that counts below are this
 * test's own (each test also runs alone: ESC_TEST_FILTER). */
static void drain(void)
{
    for (int i = 0; i < 100; i++) {
        h_resp *r = run("?limit=10000", H->k.admin);
        h_expect_status(r, 200);
        if (h_get(r->json, "more") == json_false())
            return;
    }
    fail_msg("the backlog does not drain");
}

/* A ticket with a history that has personal data in it, taken through to
 * closed; customer NULL = none. */
static json_int_t closed_ticket(json_t *customer, const char *text_phone, const char *text_email)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "subject", h_unique(H, "retention"), "severity",
                             "major", "description",
                             h_fmt(H, "客户来电 %s，请回电", text_phone));
    if (customer)
        json_object_set_new(body, "customer", customer);
    json_int_t id = h_int(h_create_ticket(H, H->k.frontdesk, body), "id");
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_resp *r = h_reqj(H, "POST", h_fmt(H, "/v1/tickets/%lld/comment", (long long)id),
                       H->k.agent[1], json_pack("{s:s}", "body", h_fmt(H, "邮箱 %s", text_email)));
    h_expect_status(r, 201);
    h_action_ok(H, H->k.agent[1], id, "resolve",
                json_pack("{s:s, s:s}", "resolution", h_fmt(H, "已回电 %s", text_phone),
                          "root_cause", "operations"));
    h_action_ok(H, H->k.frontdesk, id, "close",
                json_pack("{s:{s:s, s:i, s:s}}", "satisfaction", "result", "satisfied", "score", 5,
                          "feedback", h_fmt(H, "有事打 %s", text_phone)));
    return id;
}

/* Move a ticket's close (and nothing else) into the past, as if it had
 * closed then. */
static void closed_ago(json_int_t id, const char *interval)
{
    const char *err = NULL;
    if (h_sql_exec(H, h_fmt(H, "UPDATE tickets SET closed_at = now() - interval '%s' WHERE id = %lld",
                            interval, (long long)id), &err) != 0)
        fail_msg("closed_ago: %s", err);
}

/* Everything stored about the tickets, their history, breaches and
 * notifications, as one digest. */
static const char *digest(void)
{
    return h_sql_value(H, "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ("
                          " SELECT t::text AS x FROM tickets t UNION ALL SELECT e::text FROM events e "
                          " UNION ALL SELECT b::text FROM breaches b "
                          " UNION ALL SELECT n::text FROM notifications n) s");
}

static int lists(json_t *answer, json_int_t id)
{
    size_t i;
    json_t *t;
    json_array_foreach(h_get(answer, "tickets"), i, t)
        if (h_int(t, "id") == id)
            return 1;
    return 0;
}

static void assert_nowhere(const char *needle)
{
    const char *hits = h_probe_clear(H, needle);
    assert_non_null(hits);
    if (*hits)
        fail_msg("'%s' is still stored in: %s", needle, hits);
}

static void the_period_is_the_admins_and_never_under_four_months(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/retention", H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "months", 12);
    h_assert_int(r->json, "minimum_months", 4);
    h_assert_ts(r->json, "cutoff");
    /* the cutoff is 12 calendar months back */
    double back = h_wall() - h_ts_epoch(h_str(r->json, "cutoff"));
    assert_true(back > 365 * 86400.0 - 2 && back < 366 * 86400.0 + 2);

    /* admins only */
    const char *others[] = {H->k.manager, H->k.frontdesk, H->k.agent[3]};
    for (size_t i = 0; i < 3; i++) {
        h_expect_error(h_req(H, "GET", "/v1/retention", others[i], NULL), 403, "forbidden");
        h_expect_error(h_reqj(H, "PUT", "/v1/retention", others[i], json_pack("{s:i}", "months", 24)),
                       403, "forbidden");
        h_expect_error(run("?dry_run=true", others[i]), 403, "forbidden");
    }
    h_expect_error(h_req(H, "GET", "/v1/retention", NULL, NULL), 401, "unauthenticated");

    static const struct h_bad bad[] = {
        {"{\"months\": 3}", "months"},   {"{\"months\": 0}", "months"},
        {"{\"months\": -12}", "months"}, {"{\"months\": 1201}", "months"},
        {"{\"months\": \"12\"}", "months"}, {"{\"months\": 4.5}", "months"},
        {"{}", "months"},                {"{\"months\": 12, \"days\": 1}", "days"},
    };
    assert_int_equal(h_check_bad(H, "PUT", "/v1/retention", H->k.admin, 400, "validation_failed",
                                 bad, sizeof bad / sizeof bad[0]), 0);
    static const struct h_bad bad_run[] = {
        {"dry_run=yes", "dry_run"}, {"limit=0", "limit"}, {"limit=10001", "limit"},
        {"what=1", "what"},
    };
    for (size_t i = 0; i < sizeof bad_run / sizeof bad_run[0]; i++) {
        h_resp *b = run(h_fmt(H, "?%s", bad_run[i].text), H->k.admin);
        h_expect_error_field(b, 400, "validation_failed", bad_run[i].field);
    }
    /* the database refuses it too, whoever writes */
    const char *err = NULL;
    assert_int_not_equal(h_sql_exec(H, "UPDATE retention SET months = 3", &err), 0);
    /* the command line: the same bounds */
    char *argv[] = {H->bin, "retention", "set", "3", "--db", H->conninfo, NULL};
    char *out = NULL;
    assert_int_equal(h_run(argv, &out), 2);
    free(out);

    put_months(4);
    r = h_req(H, "GET", "/v1/retention", H->k.admin, NULL);
    h_assert_int(r->json, "months", 4);
    h_assert_int(r->json, "updated_by", H->k.admin_id);
    char *set[] = {H->bin, "retention", "set", "12", "--db", H->conninfo, NULL};
    assert_int_equal(h_run(set, &out), 0);
    assert_non_null(strstr(out, "12 months"));
    free(out);
    r = h_req(H, "GET", "/v1/retention", H->k.admin, NULL);
    h_assert_int(r->json, "months", 12);
    h_assert_null(r->json, "updated_by");
}

static void a_run_erases_the_customer_of_old_closed_tickets_and_keeps_everything_else(void **state)
{
    (void)state;
    put_months(12);
    drain();
    json_int_t old = closed_ticket(json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", NAME, "phone",
                                             PHONE, "email", EMAIL, "id_number", ID_NUMBER,
                                             "bank_card", CARD),
                                   TEXT_PHONE, TEXT_EMAIL);
    json_int_t recent = closed_ticket(json_pack("{s:s, s:s, s:s}", "name", R_NAME, "phone", R_PHONE,
                                                "email", R_EMAIL),
                                      "13600002222", "qq.wu@example.com");
    json_int_t open = h_new_ticket(H, NULL, NULL, NULL);
    closed_ago(old, "13 months");
    closed_ago(recent, "3 months");
    const char *err = NULL;
    /* an open ticket is never due, however old */
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE tickets SET created_at = now() - interval "
                                            "'5 years' WHERE id = %lld", (long long)open), &err), 0);

    /* what the old ticket holds now, to look for afterwards */
    json_t *before = json_deep_copy(h_get_ticket(H, H->k.manager, old));
    json_t *history = json_deep_copy(h_events(H, old));
    json_t *breaches = json_deep_copy(h_breaches_of(H, old));
    const char *sla_q = "/v1/reports/sla?group_by=tier&from=2000-01-01T00:00:00Z&to=2099-01-01T00:00:00Z";
    char *sla = strdup(h_req(H, "GET", sla_q, H->k.manager, NULL)->body);
    char *sla_csv = strdup(h_req(H, "GET", sla_q, H->k.manager, NULL, "Accept: text/csv")->body);
    char *monthly = strdup(h_req(H, "GET", "/v1/reports/monthly", H->k.manager, NULL)->body);
    const char *traces[16];
    size_t nt = 0;
    static const char *const cols[] = {"customer_name_sealed", "customer_phone_sealed",
                                       "customer_email_sealed", "customer_id_number_sealed",
                                       "customer_bank_card_sealed", "customer_phone_bi",
                                       "customer_id_number_bi", "pii_sealed", NULL};
    for (const char *const *c = cols; *c; c++) {
        const char *v = h_sql_value(H, "SELECT %s FROM tickets WHERE id = %lld", *c, (long long)old);
        assert_non_null(v);
        traces[nt++] = strdup(v);
    }
    static const char *const masked[] = {"customer.name", "customer.phone", "customer.email",
                                         "customer.id_number", "customer.bank_card", NULL};
    for (const char *const *m = masked; *m; m++) {
        assert_non_null(h_str(before, *m));
        traces[nt++] = strdup(h_str(before, *m));
    }
    long long event_pii = h_sql_ll(H, "SELECT count(*) FROM events WHERE ticket_id = %lld AND "
                                      "pii_sealed IS NOT NULL", (long long)old);
    assert_true(event_pii >= 3); /* comment, resolve, close */
    const char *event_pii_value = strdup(h_sql_value(H, "SELECT min(pii_sealed) FROM events "
                                                        "WHERE ticket_id = %lld", (long long)old));
    const char *state0 = strdup(digest());

    /* a dry run lists it, and changes nothing */
    h_resp *r = run("?dry_run=true", H->k.admin);
    h_expect_status(r, 200);
    assert_true(h_get(r->json, "dry_run") == json_true());
    h_assert_int(r->json, "months", 12);
    h_assert_int(r->json, "due", 1);
    h_assert_int(r->json, "anonymised", 0);
    h_assert_int(r->json, "tickets.0.id", old);
    h_assert_ts(r->json, "tickets.0.closed_at");
    assert_false(lists(r->json, recent));
    assert_false(lists(r->json, open));
    char *argv[] = {H->bin, "retention", "run", "--dry-run", "--db", H->conninfo, NULL};
    char *out = NULL;
    assert_int_equal(h_run(argv, &out), 0);
    assert_non_null(strstr(out, "dry run: 1 tickets"));
    assert_non_null(strstr(out, h_fmt(H, "\n%-10lld ", (long long)old)));
    free(out);
    assert_string_equal(digest(), state0);
    h_resp *rv = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)old), H->k.manager, NULL);
    h_expect_status(rv, 200);
    h_assert_str(rv->json, "phone", PHONE);
    size_t events_before = json_array_size(h_events(H, old)); /* with that reveal */

    /* the run */
    r = run("", H->k.admin);
    h_expect_status(r, 200);
    assert_true(h_get(r->json, "dry_run") == json_false());
    h_assert_int(r->json, "due", 1);
    h_assert_int(r->json, "anonymised", 1);
    h_assert_int(r->json, "tickets.0.id", old);
    assert_true(h_get(r->json, "more") == json_false());

    /* every trace gone: sealed values, blind indexes, findings, masked forms */
    for (size_t i = 0; i < nt; i++)
        assert_nowhere(traces[i]);
    assert_nowhere(event_pii_value);
    static const char *const clear[] = {NAME, PHONE, "13812345678", EMAIL, "wang.xm", ID_NUMBER,
                                        CARD, "6222021234567890128", TEXT_PHONE, TEXT_EMAIL,
                                        "lisi.ret", NULL};
    for (const char *const *c = clear; *c; c++)
        assert_nowhere(*c);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id = %lld AND anonymised_at "
                                 "IS NOT NULL AND customer_key_version IS NULL AND pii_sealed IS NULL "
                                 "AND customer_name_masked = '" MARK "' AND customer_phone_masked = '"
                                 MARK "' AND customer_email_masked = '" MARK "' AND "
                                 "customer_id_number_masked = '" MARK "' AND "
                                 "customer_bank_card_masked = '" MARK "'", (long long)old), 1);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM events WHERE ticket_id = %lld AND "
                                 "pii_sealed IS NOT NULL", (long long)old), 0);

    /* the ticket: the same but for its customer and version */
    json_t *after = h_get_ticket(H, H->k.manager, old);
    h_assert_str(after, "customer.phone", MARK);
    h_assert_str(after, "customer.name", MARK);
    h_assert_int(after, "version", h_int(before, "version") + 1);
    json_t *a = json_deep_copy(after), *b = json_deep_copy(before);
    json_object_del(a, "customer");
    json_object_del(b, "customer");
    json_object_del(a, "version");
    json_object_del(b, "version");
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);

    /* the history: every event as it was, then one `anonymised` */
    json_t *hist = h_events(H, old);
    assert_int_equal(json_array_size(hist), events_before + 1);
    for (size_t i = 0; i < json_array_size(history); i++)
        assert_true(json_equal(json_array_get(hist, i), json_array_get(history, i)));
    json_t *last = json_array_get(hist, events_before);
    h_assert_str(last, "type", "anonymised");
    h_assert_int(last, "retention_months", 12);
    h_assert_int(last, "actor.id", H->k.admin_id);

    /* breaches and reports unchanged */
    assert_true(json_equal(h_breaches_of(H, old), breaches));
    assert_string_equal(h_req(H, "GET", sla_q, H->k.manager, NULL)->body, sla);
    assert_string_equal(h_req(H, "GET", sla_q, H->k.manager, NULL, "Accept: text/csv")->body, sla_csv);
    assert_string_equal(h_req(H, "GET", "/v1/reports/monthly", H->k.manager, NULL)->body, monthly);

    /* nothing to reveal, and no reveal recorded */
    rv = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)old), H->k.manager, NULL);
    h_expect_error(rv, 410, "gone");
    assert_int_equal(json_array_size(h_events(H, old)), events_before + 1);

    /* the recent ticket is untouched */
    rv = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)recent), H->k.manager, NULL);
    h_expect_status(rv, 200);
    h_assert_str(rv->json, "phone", R_PHONE);
    h_assert_str(rv->json, "name", R_NAME);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id IN (%lld, %lld) AND "
                                 "anonymised_at IS NULL", (long long)recent, (long long)open), 2);
    assert_true(h_sql_ll(H, "SELECT count(*) FROM events WHERE ticket_id = %lld AND pii_sealed "
                            "IS NOT NULL", (long long)recent) >= 3);

    /* idempotent: a second run (HTTP, command line) finds nothing */
    const char *state1 = strdup(digest());
    r = run("", H->k.admin);
    h_expect_status(r, 200);
    h_assert_int(r->json, "due", 0);
    h_assert_int(r->json, "anonymised", 0);
    char *again[] = {H->bin, "retention", "run", "--db", H->conninfo, NULL};
    assert_int_equal(h_run(again, &out), 0);
    assert_non_null(strstr(out, "anonymised 0 tickets"));
    free(out);
    assert_string_equal(digest(), state1);

    /* the history stays append-only: the one exception is pii_sealed to
     * NULL on events of anonymised tickets */
    assert_int_not_equal(h_sql_exec(H, h_fmt(H, "UPDATE events SET body = 'x' WHERE ticket_id = %lld",
                                             (long long)old), &err), 0);
    assert_int_not_equal(h_sql_exec(H, h_fmt(H, "UPDATE events SET pii_sealed = NULL, body = 'x' "
                                                "WHERE ticket_id = %lld AND pii_sealed IS NOT NULL",
                                             (long long)recent), &err), 0);
    assert_int_not_equal(h_sql_exec(H, h_fmt(H, "UPDATE events SET pii_sealed = NULL "
                                                "WHERE ticket_id = %lld AND pii_sealed IS NOT NULL",
                                             (long long)recent), &err), 0);
    assert_int_not_equal(h_sql_exec(H, h_fmt(H, "DELETE FROM events WHERE ticket_id = %lld",
                                             (long long)old), &err), 0);
    assert_int_equal(json_array_size(h_events(H, old)), events_before + 1);

    json_decref(before);
    json_decref(history);
    json_decref(breaches);
    free(sla);
    free(sla_csv);
    free(monthly);
    for (size_t i = 0; i < nt; i++)
        free((char *)traces[i]);
    free((char *)event_pii_value);
    free((char *)state0);
    free((char *)state1);
}

static void four_months_are_calendar_months_from_the_close(void **state)
{
    (void)state;
    put_months(12);
    drain();
    json_int_t in = closed_ticket(json_pack("{s:s}", "phone", "13700003333"), "13600004444",
                                  "a.b@example.com");
    json_int_t out_ = closed_ticket(json_pack("{s:s}", "phone", "13700005555"), "13600006666",
                                    "c.d@example.com");
    json_int_t none = closed_ticket(NULL, "13600007777", "e.f@example.com");
    closed_ago(in, "4 months 1 day");
    closed_ago(out_, "4 months -1 day");
    closed_ago(none, "5 months");
    /* under 12 months: nothing due */
    h_resp *r = run("?dry_run=true", H->k.admin);
    h_expect_status(r, 200);
    h_assert_int(r->json, "due", 0);
    put_months(4);
    r = run("?dry_run=true&limit=1", H->k.admin);
    h_expect_status(r, 200);
    h_assert_int(r->json, "due", 2);
    assert_int_equal(json_array_size(h_get(r->json, "tickets")), 1);
    h_assert_int(r->json, "tickets.0.id", none); /* the oldest close first */
    assert_true(h_get(r->json, "more") == json_true());
    /* a run of one, then the rest */
    r = run("?limit=1", H->k.admin);
    h_expect_status(r, 200);
    h_assert_int(r->json, "anonymised", 1);
    h_assert_int(r->json, "tickets.0.id", none);
    assert_true(h_get(r->json, "more") == json_true());
    r = run("", H->k.admin);
    h_expect_status(r, 200);
    h_assert_int(r->json, "anonymised", 1);
    h_assert_int(r->json, "tickets.0.id", in);
    /* a ticket with no customer keeps none: absent fields stay absent */
    json_t *t = h_get_ticket(H, H->k.manager, none);
    h_assert_null(t, "customer.phone");
    t = h_get_ticket(H, H->k.manager, in);
    h_assert_str(t, "customer.phone", MARK);
    h_assert_null(t, "customer.email");
    t = h_get_ticket(H, H->k.manager, out_);
    h_assert_str(t, "customer.phone", "137****5555");
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id = %lld AND "
                                 "anonymised_at IS NULL AND customer_phone_sealed IS NOT NULL",
                              (long long)out_), 1);
    put_months(12);
}

#define N_RACE 40
struct racer {
    int status;
    long long anonymised;
};

static void *race_run(void *arg)
{
    struct racer *x = arg;
    h_resp *r = h_req(H, "POST", "/v1/retention/run?limit=10000", H->k.admin, NULL);
    x->status = (int)r->status;
    x->anonymised = r->json ? h_int(r->json, "anonymised") : -1;
    return NULL;
}

static void two_runs_at_once_anonymise_each_ticket_once(void **state)
{
    (void)state;
    put_months(12);
    drain();
    json_int_t first = 0, last = 0;
    for (int i = 0; i < N_RACE; i++) {
        json_int_t id = closed_ticket(json_pack("{s:s}", "phone", h_fmt(H, "1370000%04d", i)),
                                      "13600008888", "g.h@example.com");
        closed_ago(id, "2 years");
        if (!first)
            first = id;
        last = id;
    }
    struct racer x[4] = {{0}};
    h_race(4, race_run, x, sizeof x[0]);
    long long total = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(x[i].status, 200);
        total += x[i].anonymised;
    }
    assert_int_equal(total, N_RACE);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM events WHERE type = 'anonymised' AND "
                                 "ticket_id BETWEEN %lld AND %lld", (long long)first, (long long)last),
                     N_RACE);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id BETWEEN %lld AND %lld AND "
                                 "(anonymised_at IS NULL OR customer_phone_sealed IS NOT NULL)",
                              (long long)first, (long long)last),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_period_is_the_admins_and_never_under_four_months),
        cmocka_unit_test(a_run_erases_the_customer_of_old_closed_tickets_and_keeps_everything_else),
        cmocka_unit_test(four_months_are_calendar_months_from_the_close),
        cmocka_unit_test(two_runs_at_once_anonymise_each_ticket_once),
    };
    return h_run_group_tests(tests, setup, teardown);
}
