/* test_events_feed.c — GET /v1/events, the event feed across tickets:
 *
 *   - who may read it (401, 403) and its parameters (400 naming the field);
 *   - items are the events GET /v1/tickets/{id}/events shows, plus ticket_id,
 *     in order, every one exactly once, whatever page size walks the feed;
 *     next_after / has_more; an empty page keeps next_after = after;
 *   - ?wait: answers as soon as an event is committed (by an action of this
 *     daemon, by its SLA engine, or by someone else -- a row inserted in SQL
 *     stands for another daemon), and empty after the wait when none is;
 *   - an event whose transaction is younger than a transaction still open is
 *     held back until that one ends, and an event id that commits late is
 *     still delivered (feed order is by transaction, then id);
 *   - a long poll holds no database connection (a pool of 2 serves other
 *     requests while 6 polls wait), and SIGTERM ends waiting polls at once. */
#include "harness.h"

#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

/* ------------------------------------------------------------ helpers */

static h_resp *feed(json_int_t after, int limit, double wait)
{
    char q[128];
    int n = snprintf(q, sizeof q, "/v1/events?after=%lld", (long long)after);
    if (limit > 0)
        n += snprintf(q + n, sizeof q - (size_t)n, "&limit=%d", limit);
    if (wait >= 0)
        snprintf(q + n, sizeof q - (size_t)n, "&wait=%g", wait);
    return h_req(H, "GET", h_fmt(H, "%s", q), H->k.manager, NULL);
}

static h_resp *feed_ok(json_int_t after, int limit, double wait)
{
    h_resp *r = feed(after, limit, wait);
    h_expect_status(r, 200);
    assert_true(json_is_array(h_get(r->json, "items")));
    assert_true(json_is_integer(h_get(r->json, "next_after")));
    assert_true(json_is_boolean(h_get(r->json, "has_more")));
    return r;
}

/* The feed's end right now: walk it from `from` to its last page. */
static json_int_t tail_from(json_int_t from)
{
    for (int i = 0; i < 100000; i++) {
        h_resp *r = feed_ok(from, 1000, -1);
        from = h_int(r->json, "next_after");
        if (!json_is_true(h_get(r->json, "has_more")))
            return from;
    }
    fail_msg("the feed did not end");
    return 0;
}

static json_int_t TAIL; /* the end as the last test left it */
static json_int_t tail(void) { return TAIL = tail_from(TAIL); }

static json_t *find_type(json_t *items, const char *type, json_int_t ticket);

/* The end of the feed once the `created` event of `ticket` is in it.  The
 * feed holds back events while an older transaction is open anywhere in the
 * database (other test programs share the cluster), so a plain tail() taken
 * right after a create may end before that event: a test that then waits for
 * the ticket's next event would be handed the `created` one. */
static json_int_t tail_past_created(json_int_t ticket)
{
    json_int_t from = TAIL;
    for (int i = 0; i < 100; i++) {
        h_resp *r = feed_ok(from, 1000, 0.2);
        json_t *items = h_get(r->json, "items");
        int seen = find_type(items, "created", ticket) != NULL;
        from = h_int(r->json, "next_after");
        if (seen)
            return TAIL = tail_from(from);
    }
    fail_msg("the created event of ticket %lld never reached the feed", (long long)ticket);
    return 0;
}

/* Walk the feed from `after` with pages of `limit` until an empty page;
 * returns the items (new reference) and checks next_after/has_more. */
static json_t *walk(json_int_t after, int limit)
{
    json_t *all = json_array();
    for (int i = 0; i < 100000; i++) {
        h_resp *r = feed_ok(after, limit, -1);
        json_t *items = h_get(r->json, "items");
        size_t n = json_array_size(items);
        assert_true(n <= (size_t)limit);
        if (n == 0) {
            h_assert_int(r->json, "next_after", after); /* an empty page keeps the cursor */
            assert_false(json_is_true(h_get(r->json, "has_more")));
            return all;
        }
        h_assert_int(r->json, "next_after", h_int(json_array_get(items, n - 1), "id"));
        if (n < (size_t)limit)
            assert_false(json_is_true(h_get(r->json, "has_more")));
        json_array_extend(all, items);
        after = h_int(r->json, "next_after");
    }
    fail_msg("the walk did not end");
    return all;
}

/* The first item of that type (and ticket, unless 0), or NULL. */
static json_t *find_type(json_t *items, const char *type, json_int_t ticket)
{
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e)
        if (strcmp(h_str(e, "type"), type) == 0 && (!ticket || h_int(e, "ticket_id") == ticket))
            return e;
    return NULL;
}
#define has_type(items, type, ticket) (find_type((items), (type), (ticket)) != NULL)

static void *after_delay_create(void *arg)
{
    h_sleep(*(double *)arg);
    h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"feed: arrives late\"}");
    return NULL;
}

/* ------------------------------------------------------------ tests */

static void feed_is_for_managers_and_admins_and_bad_parameters_are_400_naming_the_field(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/events", NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
    r = h_req(H, "GET", "/v1/events", "esc_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxxxxx", NULL);
    h_expect_error(r, 401, "unauthenticated");
    const char *others[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[2], H->k.agent[3]};
    for (size_t i = 0; i < 4; i++) {
        r = h_req(H, "GET", "/v1/events?wait=5", others[i], NULL);
        h_expect_error(r, 403, "forbidden");
        assert_true(r->seconds < 1.0); /* refused before any waiting */
    }
    r = h_req(H, "GET", "/v1/events", H->k.admin, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "POST", "/v1/events", H->k.manager, "{}");
    h_expect_error(r, 405, "method_not_allowed");

    static const struct h_bad bad[] = {
        {"after=abc", "after"}, {"after=-1", "after"}, {"after=1.5", "after"},
        {"after=", "after"}, {"after=999999999999", "after"}, /* no such event */
        {"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"},
        {"wait=31", "wait"}, {"wait=-1", "wait"}, {"wait=abc", "wait"}, {"wait=nan", "wait"},
        {"cursor=5", "cursor"}, {"after=0&since=1", "since"},
    };
    assert_int_equal(h_check_bad(H, "GET", "/v1/events", H->k.manager, 400, "validation_failed", bad,
                                 sizeof bad / sizeof bad[0]),
                     0);
    /* the biggest page and the longest wait are fine */
    r = h_req(H, "GET", "/v1/events?limit=1000&wait=0", H->k.manager, NULL);
    h_expect_status(r, 200);
}

static void feed_items_are_the_ticket_histories_in_order_each_once_at_any_page_size(void **state)
{
    (void)state;
    json_int_t start = tail();
    json_int_t a = h_int(h_create_ticket_subject(H, "feed: 宽带断网", "major"), "id");
    json_int_t b = h_int(h_create_ticket_subject(H, "feed: second", "normal"), "id");
    h_action_ok(H, H->k.agent[1], a, "acknowledge", NULL);
    h_action_ok(H, H->k.agent[1], a, "escalate", h_reason("line-2 please"));
    h_resp *r = h_action(H, H->k.frontdesk, b, "comment", json_pack("{s:s}", "body", "客户来电催促"));
    h_expect_status(r, 201);
    h_action_ok(H, H->k.agent[1], b, "acknowledge", NULL);
    h_action_ok(H, H->k.agent[1], b, "resolve", h_resolve_body("customer_side"));
    h_action_ok(H, H->k.frontdesk, b, "close", h_close_body("satisfied", 5));
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)a), H->k.manager, NULL);
    h_expect_status(r, 200);

    /* what the two histories say happened after `start`, in id order
     * (the actions ran one after another, so ids follow commits) */
    json_t *want = json_array();
    json_int_t ids[2] = {a, b};
    for (int t = 0; t < 2; t++) {
        json_t *ev = h_events(H, ids[t]);
        size_t i;
        json_t *e;
        json_array_foreach(ev, i, e) {
            json_t *c = json_deep_copy(e);
            json_object_set_new(c, "ticket_id", json_integer(ids[t]));
            json_array_append_new(want, c);
        }
    }
    /* sort by id (insertion sort: a handful of items) */
    for (size_t i = 1; i < json_array_size(want); i++)
        for (size_t j = i; j > 0 && h_int(json_array_get(want, j - 1), "id") >
                                        h_int(json_array_get(want, j), "id"); j--) {
            json_t *x = json_incref(json_array_get(want, j));
            json_array_set(want, j, json_array_get(want, j - 1));
            json_array_set_new(want, j - 1, x);
        }
    assert_true(json_array_size(want) >= 9);

    int limits[] = {1000, 1, 2, 3};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        json_t *got = walk(start, limits[l]);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_INDENT(1)), *w = json_dumps(want, JSON_INDENT(1));
            print_error("limit=%d: the feed\n%s\nis not the histories\n%s\n", limits[l], g, w);
            free(g);
            free(w);
            fail();
        }
        json_decref(got);
    }
    /* the shape, spelled out on a few items */
    json_t *first = json_array_get(want, 0);
    h_assert_str(first, "type", "created");
    h_assert_int(first, "ticket_id", a);
    h_assert_int(first, "actor.id", H->k.frontdesk_id);
    h_assert_ts(first, "at");
    assert_true(has_type(want, "escalated", a));
    assert_true(has_type(want, "customer_revealed", a));
    assert_true(has_type(want, "notified", a)); /* the major alert */
    assert_true(has_type(want, "commented", b));
    assert_true(has_type(want, "closed", b));

    /* has_more: a page of 2 out of >= 9 */
    r = feed_ok(start, 2, -1);
    assert_true(json_is_true(h_get(r->json, "has_more")));
    h_assert_int(r->json, "next_after", h_int(json_array_get(want, 1), "id"));
    /* after the last one: empty, cursor kept */
    json_int_t last = h_int(json_array_get(want, json_array_size(want) - 1), "id");
    r = feed_ok(last, 10, 0);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    h_assert_int(r->json, "next_after", last);
    json_decref(want);
    TAIL = last;
}

static void a_waiting_feed_answers_as_soon_as_an_event_commits(void **state)
{
    (void)state;
    json_int_t end = tail();
    double delay = 0.5;
    pthread_t th;
    pthread_create(&th, NULL, after_delay_create, &delay);
    h_resp *r = feed_ok(end, 0, 10);
    pthread_join(th, NULL);
    json_t *items = h_get(r->json, "items");
    assert_true(json_array_size(items) >= 1);
    h_assert_str(json_array_get(items, 0), "type", "created");
    if (r->seconds < 0.4 || r->seconds > 2.0) {
        print_error("wait=10 answered after %.3f s; the event came at 0.5 s\n", r->seconds);
        fail();
    }
}

static void a_waiting_feed_without_events_answers_an_empty_page_after_the_wait(void **state)
{
    (void)state;
    json_int_t end = tail();
    h_resp *r = feed_ok(end, 0, 1);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    h_assert_int(r->json, "next_after", end);
    if (r->seconds < 0.9 || r->seconds > 3.0) {
        print_error("wait=1 with no event took %.3f s\n", r->seconds);
        fail();
    }
    r = feed_ok(end, 0, 0);
    assert_true(r->seconds < 0.9);
    r = feed_ok(end, 0, 0.3);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    assert_true(r->seconds >= 0.25 && r->seconds < 2.0);
}

/* The SLA engine's breach reaches a waiting feed within a second or so. */
static void a_waiting_feed_gets_the_sla_engines_breach(void **state)
{
    (void)state;
    h_put_policy(H, "normal", "{\"ack_seconds\": 2}");
    json_t *t = h_create_ticket_subject(H, "feed: nobody acknowledges", "normal");
    json_int_t id = h_int(t, "id");
    h_put_policy(H, "normal", "{\"ack_seconds\": 600}");
    double due = h_ts_epoch(h_str(t, "ack_due_at"));
    json_int_t end = tail_past_created(id);
    h_resp *r = feed_ok(end, 0, 10);
    json_t *items = h_get(r->json, "items");
    if (!has_type(items, "breached", id)) {
        char *s = json_dumps(r->json, 0);
        print_error("expected the ack breach of ticket %lld, got %s\n", (long long)id, s);
        free(s);
        fail();
    }
    json_t *e = find_type(items, "breached", id);
    h_assert_str(e, "kind", "ack");
    h_assert_null(e, "actor");
    /* recorded on time and delivered soon after */
    double late = h_ts_epoch(h_str(e, "at")) - due;
    if (late < 0 || late > 2.0 || r->seconds > 4.0) {
        print_error("breach %.3f s after due; the poll took %.3f s\n", late, r->seconds);
        fail();
    }
    TAIL = h_int(r->json, "next_after");
}

struct sql_later {
    double delay;
    const char *sql;
};

static void *sql_after(void *arg)
{
    struct sql_later *s = arg;
    h_sleep(s->delay);
    h_sql_exec(H, s->sql, NULL);
    return NULL;
}

/* An event committed by someone else (another daemon; here plain SQL) wakes
 * nobody in this process: the poll finds it by looking again within ~1 s. */
static void a_waiting_feed_gets_an_event_committed_by_another_process(void **state)
{
    (void)state;
    json_int_t id = h_int(h_create_ticket_subject(H, "feed: foreign", NULL), "id");
    json_int_t end = tail_past_created(id);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (ticket_id, type, body) VALUES (%lld, 'commented', 'from elsewhere')",
             (long long)id);
    struct sql_later s = {0.3, sql};
    pthread_t th;
    pthread_create(&th, NULL, sql_after, &s);
    h_resp *r = feed_ok(end, 0, 10);
    pthread_join(th, NULL);
    json_t *items = h_get(r->json, "items");
    assert_int_equal(json_array_size(items), 1);
    h_assert_str(json_array_get(items, 0), "body", "from elsewhere");
    h_assert_int(json_array_get(items, 0), "ticket_id", id);
    if (r->seconds < 0.25 || r->seconds > 2.5) {
        print_error("a foreign event at 0.3 s was delivered after %.3f s\n", r->seconds);
        fail();
    }
    TAIL = h_int(r->json, "next_after");
}

static PGconn *pg_open(void)
{
    PGconn *c = PQconnectdb(H->conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static void pg_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

struct poll_arg {
    json_int_t after;
    double wait;
    h_resp *r;
};

static void *poll_thread(void *arg)
{
    struct poll_arg *p = arg;
    char path[96];
    snprintf(path, sizeof path, "/v1/events?after=%lld&wait=%g", (long long)p->after, p->wait);
    p->r = h_req(H, "GET", path, H->k.manager, NULL);
    return NULL;
}

/* An id that commits late.  Transaction T takes its id (xid) first and its
 * event id last: the daemon's create in between gets a smaller event id but a
 * younger transaction.  While T is open the create's events are held back
 * (returning them and moving next_after past T's future event would lose it);
 * when T commits, the feed gives T's event, then the create's -- each once. */
static void feed_holds_back_events_younger_than_an_open_transaction_and_loses_none(void **state)
{
    (void)state;
    json_int_t ticket = h_int(h_create_ticket_subject(H, "feed: for T", NULL), "id");
    json_int_t end = tail_past_created(ticket); /* another program's open transaction may hold it back */
    PGconn *t = pg_open();
    pg_ok(t, "BEGIN");
    pg_ok(t, "SELECT pg_current_xact_id()"); /* T has its xid now */

    json_int_t created = h_int(h_create_ticket_subject(H, "feed: behind T", NULL), "id");
    /* committed and visible, but younger than T: not served yet */
    const char *visible = h_sql_value(H, "SELECT count(*) FROM events WHERE ticket_id = %lld",
                                      (long long)created);
    assert_non_null(visible);
    assert_true(atoi(visible) >= 1);
    h_resp *r = feed_ok(end, 0, 0);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
    h_assert_int(r->json, "next_after", end);
    r = feed_ok(end, 0, 0.5); /* waiting does not give it either */
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);

    /* a poll waits while T is open ... */
    struct poll_arg p = {end, 10, NULL};
    pthread_t th;
    pthread_create(&th, NULL, poll_thread, &p);
    h_sleep(0.5);
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (ticket_id, type, body) VALUES (%lld, 'commented', 'late id')",
             (long long)ticket);
    pg_ok(t, sql);
    pg_ok(t, "COMMIT");
    PQfinish(t);
    double committed = h_now();
    pthread_join(th, NULL);
    /* ... and answers soon after T commits */
    h_expect_status(p.r, 200);
    double took_after_commit = h_now() - committed;
    assert_true(took_after_commit < 1.5);

    json_t *items = walk(end, 1);
    assert_true(json_array_size(items) >= 2);
    json_t *first = json_array_get(items, 0);
    h_assert_str(first, "body", "late id");
    h_assert_int(first, "ticket_id", ticket);
    json_int_t late_id = h_int(first, "id");
    json_t *second = json_array_get(items, 1);
    h_assert_str(second, "type", "created");
    h_assert_int(second, "ticket_id", created);
    /* T's event has the larger id, yet it comes first; nothing is repeated */
    assert_true(late_id > h_int(second, "id"));
    for (size_t i = 0; i < json_array_size(items); i++)
        for (size_t j = i + 1; j < json_array_size(items); j++)
            assert_true(h_int(json_array_get(items, i), "id") != h_int(json_array_get(items, j), "id"));
    /* the poll's own answer started with the same event */
    json_t *polled = h_get(p.r->json, "items");
    assert_true(json_array_size(polled) >= 1);
    h_assert_int(json_array_get(polled, 0), "id", late_id);
    json_decref(items);
}

/* Long polls hold no database connection: with a pool of 2, six waiting
 * polls leave other requests unaffected. */
static void waiting_feeds_hold_no_database_connection(void **state)
{
    (void)state;
    h_daemon_stop_ok(H);
    h_daemon_args(H, (const char *const[]){"--pool-size", "2", NULL});
    h_daemon_start(H);
    json_int_t end = tail();
    enum { N = 6 };
    struct poll_arg p[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct poll_arg){end, 3, NULL};
        pthread_create(&th[i], NULL, poll_thread, &p[i]);
    }
    h_sleep(0.5);
    for (int i = 0; i < 5; i++) {
        h_resp *r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.agent[1], NULL);
        h_expect_status(r, 200);
        if (r->seconds > 1.5) { /* a pool held by the polls would keep it ~2.5 s */
            print_error("GET /v1/tickets took %.3f s while polls waited\n", r->seconds);
            fail();
        }
    }
    /* a new ticket wakes every poll */
    json_int_t id = h_int(h_create_ticket_subject(H, "feed: wakes all", NULL), "id");
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        h_expect_status(p[i].r, 200);
        assert_true(has_type(h_get(p[i].r->json, "items"), "created", id));
        assert_true(p[i].r->seconds < 2.5);
    }
    h_daemon_stop_ok(H);
    h_daemon_args(H, NULL);
    h_daemon_start(H);
}

/* SIGTERM does not wait for a 30-second poll. */
static void sigterm_ends_waiting_feeds_at_once(void **state)
{
    (void)state;
    json_int_t end = tail();
    struct poll_arg p = {end, 30, NULL};
    pthread_t th;
    pthread_create(&th, NULL, poll_thread, &p);
    h_sleep(0.5);
    double t0 = h_now();
    h_daemon_stop_ok(H);
    double stop_s = h_now() - t0;
    pthread_join(th, NULL);
    if (stop_s > 3.0 || p.r->seconds > 4.0) {
        print_error("stop took %.3f s; the poll %.3f s\n", stop_s, p.r->seconds);
        fail();
    }
    if (p.r->status != 0) { /* answered (rather than cut off): an empty page */
        h_expect_status(p.r, 200);
        assert_int_equal(json_array_size(h_get(p.r->json, "items")), 0);
    }
    h_daemon_start(H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(feed_is_for_managers_and_admins_and_bad_parameters_are_400_naming_the_field),
        cmocka_unit_test(feed_items_are_the_ticket_histories_in_order_each_once_at_any_page_size),
        cmocka_unit_test(a_waiting_feed_answers_as_soon_as_an_event_commits),
        cmocka_unit_test(a_waiting_feed_without_events_answers_an_empty_page_after_the_wait),
        cmocka_unit_test(a_waiting_feed_gets_the_sla_engines_breach),
        cmocka_unit_test(a_waiting_feed_gets_an_event_committed_by_another_process),
        cmocka_unit_test(feed_holds_back_events_younger_than_an_open_transaction_and_loses_none),
        cmocka_unit_test(waiting_feeds_hold_no_database_connection),
        cmocka_unit_test(sigterm_ends_waiting_feeds_at_once),
    };
    return h_run_tests_with_daemon(&H, "test_events_feed", 0, tests);
}
