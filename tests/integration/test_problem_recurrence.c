/* test_problem_recurrence.c — verification by recurrence (issue 10 item 4;
 * docs/problems.md) and GET /v1/reports/problems (docs/reports.md), against
 * the real daemon:
 *   - a complaint that matches a verifying problem's signature inside its
 *     window is linked at create, counted, reopens the problem and notifies
 *     its owner; complaints of another category, without a keyword, or
 *     before verification, are not;
 *   - after the window nothing is linked, and a manager (only) closes the
 *     problem as effective; before the window's end the close is 409;
 *   - the report's numbers equal what the test did, recomputed here. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static h_ctx *H;

/* POST /v1/problems as manager, owned by the line-2 agent; keywords a JSON
 * array text or NULL.  Returns the problem. */
static json_t *new_problem(const char *category, const char *keywords)
{
    json_t *b = json_pack("{s:s, s:I}", "title", h_unique(H, "problem"), "owner_id",
                          (json_int_t)H->k.agent_id[2]);
    if (category)
        json_object_set_new(b, "category", json_string(category));
    if (keywords)
        json_object_set_new(b, "signature_keywords", h_json(keywords));
    h_resp *r = h_reqj(H, "POST", "/v1/problems", H->k.manager, b);
    h_expect_status(r, 201);
    h_assert_str(r->json, "state", "open");
    return r->json;
}

static json_t *act(json_int_t id, const char *what, const char *body)
{
    h_resp *r = h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/%s", (long long)id, what),
                      H->k.agent[2], body ? body : "{}");
    h_expect_status(r, 200);
    return r->json;
}

/* open -> root_cause_found -> action_planned -> fixed (-> verifying when verify) */
static void drive(json_int_t id, bool verify)
{
    act(id, "root_cause", "{\"root_cause\":\"the refund job skipped weekends\","
                          "\"root_cause_kind\":\"operations\"}");
    json_t *b = json_pack("{s:s, s:s, s:I, s:s}", "kind", "corrective", "description",
                          "run the refund job every day", "owner_id",
                          (json_int_t)H->k.agent_id[2], "due_at", "2999-01-01T00:00:00Z");
    h_resp *r = h_reqj(H, "POST", h_fmt(H, "/v1/problems/%lld/actions", (long long)id),
                       H->k.agent[2], b);
    assert_true(r->status == 200 || r->status == 201);
    act(id, "fix", "{\"fix\":\"the job runs daily\"}");
    if (verify)
        h_assert_str(act(id, "verify", "{\"verify_window_days\":30}"), "state", "verifying");
}

static json_t *problem(json_int_t id)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/problems/%lld", (long long)id), H->k.manager, NULL);
    h_expect_status(r, 200);
    return r->json;
}

/* POST /v1/tickets as frontdesk; returns the ticket */
static json_t *complaint(const char *category, const char *subject, const char *description)
{
    json_t *b = json_pack("{s:s, s:s}", "subject", subject, "category", category);
    if (description)
        json_object_set_new(b, "description", json_string(description));
    return h_create_ticket(H, NULL, b);
}

static void a_matching_complaint_while_verifying_is_linked_counted_reopens_the_problem_and_notifies_its_owner(void **state)
{
    (void)state;
    const char *cat = h_unique(H, "billing");
    json_int_t pid = h_int(new_problem(cat, "[\"refund\", \"退款\"]"), "id");
    drive(pid, false);

    /* fixed but not yet verifying: a matching complaint is not linked */
    json_t *t = complaint(cat, "refund still missing", NULL);
    h_assert_null(t, "problem_id");
    h_assert_str(act(pid, "verify", "{\"verify_window_days\":30}"), "state", "verifying");
    json_t *p = problem(pid);
    assert_true(fabs(h_ts_diff(h_str(p, "verify_started_at"), h_str(p, "verify_until")) -
                     30 * 86400.0) < 0.01);

    /* not the signature: another category with the keyword; the category
     * without any keyword */
    h_assert_null(complaint(h_unique(H, "other"), "refund missing", NULL), "problem_id");
    h_assert_null(complaint(cat, "the invoice has a typo", "wrong name on it"), "problem_id");
    assert_int_equal(h_int(problem(pid), "recurrences"), 0);
    h_assert_str(problem(pid), "state", "verifying");

    /* the signature: same category, a keyword in the description, case folded */
    const char *ver = h_sql_value(H, "SELECT version FROM problems WHERE id = %lld", (long long)pid);
    t = complaint(cat, "money not back", "I asked for a REFUND two weeks ago");
    json_int_t tid = h_int(t, "id");
    h_assert_int(t, "problem_id", pid);
    p = problem(pid);
    h_assert_str(p, "state", "open");
    h_assert_int(p, "recurrences", 1);
    h_assert_int(p, "version", atoll(ver) + 1);
    h_assert_null(p, "verify_until");
    h_assert_int(p, "linked_tickets", 1);

    /* the problem's history: `recurrence` verifying -> open with the ticket,
     * then `notified` */
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/problems/%lld/events", (long long)pid), H->k.manager,
                      NULL);
    h_expect_status(r, 200);
    json_t *items = json_is_array(r->json) ? r->json : h_get(r->json, "items");
    size_t n = json_array_size(items);
    assert_true(n >= 2);
    json_t *rec = json_array_get(items, n - 2), *note = json_array_get(items, n - 1);
    h_assert_str(rec, "type", "recurrence");
    h_assert_str(rec, "from_state", "verifying");
    h_assert_str(rec, "to_state", "open");
    h_assert_int(rec, "data.ticket_id", tid);
    h_assert_int(rec, "data.recurrences", 1);
    h_assert_str(note, "type", "notified");
    h_assert_str(note, "data.notification", "problem_recurred");
    h_assert_str(note, "data.audience", "owner");

    /* the ticket's history: created, then problem_linked */
    json_t *last = NULL;
    assert_int_equal(h_count_events(H, tid, "problem_linked", &last), 1);
    h_assert_int(last, "problem_id", pid); /* the data, as the history shows it */
    h_assert_str(last, "via", "recurrence");

    /* the owner is notified: one outbox row for the problem, for its owner */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications WHERE problem_id = %lld "
                                 "AND type = 'problem_recurred' AND audience = 'owner' "
                                 "AND (payload->>'ticket_id')::bigint = %lld "
                                 "AND (payload->>'owner_id')::bigint = %lld",
                              (long long)pid, (long long)tid, (long long)H->k.agent_id[2]), 1);
    r = h_req(H, "GET", "/v1/notifications?type=problem_recurred", H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_true(json_array_size(h_get(r->json, "items")) >= 1);

    /* reopened, it verifies nothing: the next matching complaint is not linked */
    h_assert_null(complaint(cat, "退款 still missing", NULL), "problem_id");
    assert_int_equal(h_int(problem(pid), "recurrences"), 1);
}

static void after_the_window_nothing_is_linked_and_only_a_manager_closes_the_problem_as_effective(void **state)
{
    (void)state;
    const char *cat = h_unique(H, "delivery");
    json_int_t pid = h_int(new_problem(cat, NULL), "id"); /* no keywords: the category alone */
    drive(pid, true);

    /* inside the window: no close, by anyone */
    h_resp *r = h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/close", (long long)pid), H->k.manager, "{}");
    h_expect_error(r, 409, "invalid_transition");
    assert_non_null(strstr(h_str(r->json, "error.message"), "verified until"));
    r = h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/close", (long long)pid), H->k.agent[2], "{}");
    h_expect_error(r, 403, "forbidden"); /* the owner, an agent: a managers' route */

    /* the window ends (moved into the past) */
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE problems SET verify_until = now() - "
                                            "interval '1 second' WHERE id = %lld", (long long)pid),
                                &err), 0);
    h_assert_null(complaint(cat, "parcel late again", NULL), "problem_id");
    json_t *p = problem(pid);
    h_assert_str(p, "state", "verifying");
    h_assert_int(p, "recurrences", 0);

    r = h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/close", (long long)pid), H->k.manager, "{}");
    h_expect_status(r, 200);
    h_assert_str(r->json, "state", "closed");
    assert_true(json_is_true(h_get(r->json, "closed_effective")));
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM problems WHERE id = %lld AND "
                                 "closed_effective AND closed_at IS NOT NULL", (long long)pid), 1);
}

struct racer {
    const char *cat;
    pthread_barrier_t *go;
    long status;
    json_int_t problem_id; /* -1 when the ticket has none */
};

static void *race_create(void *arg)
{
    struct racer *r = arg;
    char body[256];
    snprintf(body, sizeof body, "{\"subject\":\"refund again\",\"category\":\"%s\"}", r->cat);
    pthread_barrier_wait(r->go);
    h_resp *resp = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, body);
    r->status = resp->status;
    json_t *pid = h_get(resp->json, "problem_id");
    r->problem_id = json_is_integer(pid) ? json_integer_value(pid) : -1;
    return NULL;
}

static void matching_complaints_at_once_reopen_the_problem_once(void **state)
{
    (void)state;
    enum { N = 8 };
    const char *cat = h_unique(H, "race");
    json_int_t pid = h_int(new_problem(cat, NULL), "id");
    drive(pid, true);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    struct racer r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.cat = cat, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, race_create, &r[i]), 0);
    }
    int linked = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].status, 201);
        linked += r[i].problem_id == pid;
    }
    pthread_barrier_destroy(&go);
    /* the first locks the problem and reopens it; the others find it open */
    assert_int_equal(linked, 1);
    json_t *p = problem(pid);
    h_assert_str(p, "state", "open");
    h_assert_int(p, "recurrences", 1);
    h_assert_int(p, "linked_tickets", 1);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM notifications WHERE problem_id = %lld "
                                 "AND type = 'problem_recurred'", (long long)pid), 1);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM problem_events WHERE problem_id = %lld "
                                 "AND type = 'recurrence'", (long long)pid), 1);
}

/* percentile_disc(p): the first value whose position reaches the fraction */
static double disc(double *v, size_t n, double p)
{
    size_t k = (size_t)ceil(p * (double)n);
    return v[k ? k - 1 : 0];
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* seconds from the problem's creation to the first event of `type`, from
 * its history as the API shows it; -1 when it has none */
static double first_event_after_creation(json_int_t pid, const char *type)
{
    json_t *p = problem(pid);
    const char *created = h_str(p, "created_at");
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/problems/%lld/events", (long long)pid), H->k.manager,
                      NULL);
    json_t *items = json_is_array(r->json) ? r->json : h_get(r->json, "items");
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e)
        if (strcmp(h_str(e, "type"), type) == 0)
            return h_ts_diff(created, h_str(e, "at"));
    return -1;
}

struct stats {
    size_t n;
    double v[8];
};

static void expect_stats(json_t *o, const char *path, struct stats *s)
{
    json_t *st = h_get(o, path);
    h_assert_int(st, "count", (json_int_t)s->n);
    if (!s->n) {
        h_assert_null(st, "mean_seconds");
        h_assert_null(st, "median_seconds");
        h_assert_null(st, "p90_seconds");
        return;
    }
    qsort(s->v, s->n, sizeof s->v[0], cmp_d);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    /* the API's times have milliseconds, the database's microseconds */
    assert_true(fabs(json_real_value(h_get(st, "mean_seconds")) - sum / (double)s->n) < 0.003);
    assert_true(fabs(json_real_value(h_get(st, "median_seconds")) - disc(s->v, s->n, 0.5)) < 0.003);
    assert_true(fabs(json_real_value(h_get(st, "p90_seconds")) - disc(s->v, s->n, 0.9)) < 0.003);
}

static void the_problems_report_equals_what_the_test_did(void **state)
{
    (void)state;
    const char *from = h_sql_value(H, "SELECT to_char(now() AT TIME ZONE 'UTC', "
                                      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    const char *a = h_unique(H, "a-cat"), *b = h_unique(H, "b-cat");
    /* a1: recurred once (and reopened), 2 linked by hand + 1 by recurrence;
     * a2: closed as effective; a3: root cause found only; b1: open, 1 linked;
     * n1: no category */
    json_int_t a1 = h_int(new_problem(a, "[\"late\"]"), "id"), a2 = h_int(new_problem(a, NULL), "id");
    json_int_t a3 = h_int(new_problem(a, NULL), "id"), b1 = h_int(new_problem(b, NULL), "id");
    json_int_t n1 = h_int(new_problem(NULL, NULL), "id");
    json_int_t t1 = h_new_ticket(H, NULL, NULL, NULL), t2 = h_new_ticket(H, NULL, NULL, NULL);
    json_int_t t3 = h_new_ticket(H, NULL, NULL, NULL);
    h_expect_status(h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/tickets", (long long)a1),
                          H->k.manager, h_fmt(H, "{\"ticket_ids\":[%lld,%lld]}", (long long)t1,
                                              (long long)t2)), 200);
    h_expect_status(h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/tickets", (long long)b1),
                          H->k.manager, h_fmt(H, "{\"ticket_ids\":[%lld]}", (long long)t3)), 200);
    drive(a1, true);
    h_assert_int(complaint(a, "late again", NULL), "problem_id", a1);
    drive(a2, true);
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE problems SET verify_until = now() - "
                                            "interval '1 second' WHERE id = %lld", (long long)a2),
                                &err), 0);
    h_expect_status(h_req(H, "POST", h_fmt(H, "/v1/problems/%lld/close", (long long)a2),
                          H->k.manager, "{}"), 200);
    act(a3, "root_cause", "{\"root_cause\":\"unclear wording\"}");
    const char *to = h_sql_value(H, "SELECT to_char((now() + interval '1 minute') AT TIME ZONE "
                                    "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");

    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/reports/problems?from=%s&to=%s", h_urlenc(H, from),
                                      h_urlenc(H, to)), H->k.manager, NULL);
    h_expect_status(r, 200);
    json_t *tot = h_get(r->json, "totals");
    h_assert_int(tot, "created", 5);
    h_assert_int(tot, "open", 4);      /* a1 (reopened), a3, b1, n1 */
    h_assert_int(tot, "closed", 1);    /* a2 */
    h_assert_int(tot, "closed_effective", 1);
    h_assert_int(tot, "by_state.open", 3);
    h_assert_int(tot, "by_state.root_cause_found", 1);
    h_assert_int(tot, "by_state.action_planned", 0);
    h_assert_int(tot, "by_state.fixed", 0);
    h_assert_int(tot, "by_state.verifying", 0);
    h_assert_int(tot, "by_state.closed", 1);
    h_assert_int(tot, "linked_complaints", 4);
    h_assert_int(tot, "recurrences", 1);
    h_assert_int(tot, "problems_recurred", 1);

    /* the times, from the histories the API shows */
    struct stats rc_all = {0}, fix_all = {0}, rc_a = {0}, fix_a = {0};
    json_int_t ids[] = {a1, a2, a3, b1, n1};
    for (size_t i = 0; i < 5; i++) {
        double rc = first_event_after_creation(ids[i], "root_cause_found");
        double fx = first_event_after_creation(ids[i], "fixed");
        if (rc >= 0) {
            rc_all.v[rc_all.n++] = rc;
            if (i < 3)
                rc_a.v[rc_a.n++] = rc;
        }
        if (fx >= 0) {
            fix_all.v[fix_all.n++] = fx;
            if (i < 3)
                fix_a.v[fix_a.n++] = fx;
        }
    }
    assert_int_equal(rc_all.n, 3);
    assert_int_equal(fix_all.n, 2);
    expect_stats(tot, "time_to_root_cause", &rc_all);
    expect_stats(tot, "time_to_fix", &fix_all);

    /* per category: most problems first, no category last */
    json_t *cats = h_get(r->json, "categories");
    assert_int_equal(json_array_size(cats), 3);
    json_t *ca = json_array_get(cats, 0), *cb = json_array_get(cats, 1), *cn = json_array_get(cats, 2);
    h_assert_str(ca, "category", a);
    h_assert_int(ca, "created", 3);
    h_assert_int(ca, "closed_effective", 1);
    h_assert_int(ca, "linked_complaints", 3);
    h_assert_int(ca, "recurrences", 1);
    expect_stats(ca, "time_to_root_cause", &rc_a);
    expect_stats(ca, "time_to_fix", &fix_a);
    h_assert_str(cb, "category", b);
    h_assert_int(cb, "created", 1);
    h_assert_int(cb, "open", 1);
    h_assert_int(cb, "linked_complaints", 1);
    struct stats none = {0};
    expect_stats(cb, "time_to_root_cause", &none);
    h_assert_null(cn, "category");
    h_assert_int(cn, "created", 1);

    /* CSV: the same numbers, the totals first */
    r = h_req(H, "GET", h_fmt(H, "/v1/reports/problems?from=%s&to=%s", h_urlenc(H, from),
                              h_urlenc(H, to)), H->k.admin, NULL, "Accept: text/csv");
    h_expect_status(r, 200);
    assert_non_null(strstr(h_header(r, "Content-Type"), "text/csv"));
    assert_true(strncmp(r->body, "scope,category,created,open,closed,closed_effective,", 52) == 0);
    assert_non_null(strstr(r->body, "\r\ntotal,,5,4,1,1,3,1,0,0,0,1,3,"));
    assert_non_null(strstr(r->body, h_fmt(H, "\r\ncategory,%s,3,", a)));

    /* managers and admins only; the period as the SLA report's */
    h_expect_error(h_req(H, "GET", "/v1/reports/problems", H->k.frontdesk, NULL), 403, "forbidden");
    h_expect_error(h_req(H, "GET", "/v1/reports/problems", H->k.agent[3], NULL), 403, "forbidden");
    h_expect_error_field(h_req(H, "GET", h_fmt(H, "/v1/reports/problems?from=%s&to=%s",
                                               h_urlenc(H, to), h_urlenc(H, from)), H->k.manager,
                               NULL), 400, "validation_failed", "to");
    h_expect_error_field(h_req(H, "GET", "/v1/reports/problems?group_by=tier", H->k.manager, NULL),
                         400, "validation_failed", "group_by");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_matching_complaint_while_verifying_is_linked_counted_reopens_the_problem_and_notifies_its_owner),
        cmocka_unit_test(after_the_window_nothing_is_linked_and_only_a_manager_closes_the_problem_as_effective),
        cmocka_unit_test(matching_complaints_at_once_reopen_the_problem_once),
        cmocka_unit_test(the_problems_report_equals_what_the_test_did),
    };
    return h_run_tests_with_daemon(&H, "test_problem_recurrence", 0, tests);
}
