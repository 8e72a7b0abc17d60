/* test_longpoll.c — long polls hold no thread (docs/security.md, "Long
 * polls"): 300 claims and 100 event-feed reads waiting at once leave the
 * daemon's thread count as it was and its other requests as fast; tickets
 * created meanwhile wake the claimers at once, each ticket claimed exactly
 * once; and SIGTERM with 300 long polls waiting answers every one of them
 * and exits 0.
 *
 * All the connections come from one address, so the daemon runs with
 * --max-connections-per-ip 1000. */
#include "harness.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIMERS 300
#define READERS 100
#define NEW_TICKETS 40

static h_ctx *H;

static int setup(void **state)
{
    (void)state;
    long want = 2 * (CLAIMERS + READERS) + 256;
    if (h_nofile_at_least(want) < want) {
        print_error("RLIMIT_NOFILE cannot be raised to %ld\n", want);
        return -1;
    }
    H = h_start("test_longpoll", NULL);
    h_daemon_args(H, (const char *const[]){"--max-connections-per-ip", "1000", NULL});
    h_daemon_restart(H);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

/* Threads: of /proc/PID/status. */
static int daemon_threads(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)h_daemon_pid(H));
    FILE *f = fopen(path, "r");
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

static void drain_line1(void)
{
    for (;;) {
        h_resp *r = h_req(H, "POST", "/v1/queues/line-1/claim", H->k.agent[1], NULL);
        if (r->status == 204)
            return;
        h_expect_status(r, 200);
    }
}

/* The id after the last event: a read after it waits.  The feed holds back
 * events while an older transaction is open anywhere in the cluster (other
 * test programs share it), so the end is taken once the newest event of this
 * database has been read: else a reader would be handed that event at once
 * (seen under ctest -j2). */
static json_int_t last_event(void)
{
    long long newest = h_sql_ll(H, "SELECT coalesce(max(id), 0) FROM events");
    json_int_t after = 0, seen = 0;
    for (int round = 0; round < 400; round++) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/events?after=%lld&limit=1000", (long long)after),
                          H->k.manager, NULL);
        h_expect_status(r, 200);
        json_t *items = h_get(r->json, "items"), *e;
        size_t i;
        json_array_foreach(items, i, e) {
            if (h_int(e, "id") > seen)
                seen = h_int(e, "id");
        }
        if (json_array_size(items))
            after = h_int(r->json, "next_after");
        if (!json_is_true(h_get(r->json, "has_more"))) {
            if (seen >= newest)
                return after;
            h_sleep(0.05);
        }
    }
    fail_msg("event %lld never reached the feed", newest);
    return 0;
}

struct poll {
    bool claim;       /* a claim, else a feed read */
    const char *path; /* built before the threads start (h_fmt is not for threads) */
    const char *token;
    long status;
    json_int_t ticket; /* a claim's ticket */
    size_t events;     /* a feed read's items */
    double done;       /* h_now() when the answer came */
};

static void *run_poll(void *arg)
{
    struct poll *p = arg;
    h_resp *r = h_req(H, p->claim ? "POST" : "GET", p->path, p->token, NULL);
    p->status = r->status;
    p->done = h_now();
    if (r->status == 200 && p->claim)
        p->ticket = h_int(r->json, "id");
    if (r->status == 200 && !p->claim)
        p->events = json_array_size(h_get(r->json, "items"));
    return NULL;
}

static struct poll polls[CLAIMERS + READERS];
static pthread_t threads[CLAIMERS + READERS];

static void start_polls(int claimers, int readers, int wait_s)
{
    static char claim_path[64], feed_path[96]; /* the threads' until they are joined */
    snprintf(claim_path, sizeof claim_path, "/v1/queues/line-1/claim?wait=%d", wait_s);
    json_int_t after = last_event();
    snprintf(feed_path, sizeof feed_path, "/v1/events?after=%lld&wait=%d", (long long)after, wait_s);
    for (int i = 0; i < claimers + readers; i++) {
        polls[i] = (struct poll){.claim = i < claimers,
                                 .path = i < claimers ? claim_path : feed_path,
                                 .token = i < claimers ? H->k.agent[1] : H->k.manager};
        pthread_create(&threads[i], NULL, run_poll, &polls[i]);
    }
}

static void join_polls(int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

/* A timed normal request: answered within 1 s. */
static h_resp *timed(const char *what, h_resp *r, long status)
{
    print_message("  %-28s %ld in %.3f s\n", what, r->status, r->seconds);
    h_expect_status(r, status);
    assert_true(r->seconds < 1.0);
    return r;
}

static void held_long_polls_cost_no_thread(void **state)
{
    (void)state;
    drain_line1();
    json_int_t known = h_int(h_create_ticket_subject(H, "known", "normal"), "id");
    drain_line1(); /* claimed: the queue is empty again */
    int idle_threads = daemon_threads();

    start_polls(CLAIMERS, READERS, 20);
    h_sleep(2.0); /* all connected and waiting */
    int held_threads = daemon_threads();
    print_message("daemon threads: %d idle, %d with %d claims and %d feed reads waiting\n",
                  idle_threads, held_threads, CLAIMERS, READERS);
    for (int i = 0; i < CLAIMERS + READERS; i++)
        if (polls[i].status != 0)
            fail_msg("long poll %d was answered (%ld) before anything came", i, polls[i].status);
    assert_true(held_threads >= 1 && held_threads <= idle_threads + 2);

    /* other requests are served while they wait */
    timed("GET /healthz", h_req(H, "GET", "/healthz", NULL, NULL), 200);
    timed("GET /v1/tickets?limit=1", h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL), 200);
    timed("GET /v1/tickets/{id}",
          h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)known), H->k.manager, NULL), 200);

    /* tickets created now wake the claimers: each is claimed once, at once */
    json_int_t ids[NEW_TICKETS];
    double created[NEW_TICKETS];
    for (int i = 0; i < NEW_TICKETS; i++) {
        double t0 = h_now();
        h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk,
                          h_fmt(H, "{\"subject\": \"wakes a claimer %d\"}", i));
        if (i == 0)
            timed("POST /v1/tickets", r, 201);
        h_expect_status(r, 201);
        ids[i] = h_int(r->json, "id");
        created[i] = t0;
        h_sleep(0.05);
    }
    h_sleep(1.5);
    int claimed = 0;
    double worst = 0;
    for (int t = 0; t < NEW_TICKETS; t++) {
        int by = -1;
        for (int i = 0; i < CLAIMERS; i++) {
            if (polls[i].status == 200 && polls[i].ticket == ids[t]) {
                if (by >= 0)
                    fail_msg("ticket %lld claimed by poll %d and poll %d", (long long)ids[t], by, i);
                by = i;
            }
        }
        if (by < 0)
            fail_msg("ticket %lld was claimed by no waiting claim", (long long)ids[t]);
        double after = polls[by].done - created[t];
        if (after > worst)
            worst = after;
        if (after >= 1.0)
            fail_msg("ticket %lld reached its claimer %.3f s after its creation", (long long)ids[t], after);
        claimed++;
    }
    for (int i = 0; i < CLAIMERS; i++)
        if (polls[i].status != 0 && polls[i].status != 200)
            fail_msg("claim %d got %ld", i, polls[i].status);
    print_message("%d tickets created, each claimed once, the slowest %.3f s after its creation\n",
                  claimed, worst);
    /* the feed readers had the new events */
    for (int i = CLAIMERS; i < CLAIMERS + READERS; i++)
        if (polls[i].status != 200 || polls[i].events == 0)
            fail_msg("feed read %d got %ld with %zu events", i, polls[i].status, polls[i].events);
    /* the claimers that got nothing are answered 204 at the end of their wait */
    join_polls(CLAIMERS + READERS);
    int empty = 0;
    for (int i = 0; i < CLAIMERS; i++)
        empty += polls[i].status == 204;
    assert_int_equal(empty, CLAIMERS - NEW_TICKETS);
}

static void sigterm_answers_every_long_poll(void **state)
{
    (void)state;
    drain_line1();
    start_polls(CLAIMERS, 0, 20);
    h_sleep(2.0);
    for (int i = 0; i < CLAIMERS; i++)
        if (polls[i].status != 0)
            fail_msg("claim %d was answered (%ld) before the stop", i, polls[i].status);
    double t0 = h_now();
    int st = h_daemon_stop(H); /* SIGTERM */
    double took = h_now() - t0;
    join_polls(CLAIMERS);
    if (st != 0) {
        h_daemon_log_tail(H, 30);
        fail_msg("exit status %d after SIGTERM", st);
    }
    int answered = 0;
    for (int i = 0; i < CLAIMERS; i++)
        answered += polls[i].status == 204;
    print_message("SIGTERM with %d claims waiting: %d answered 204, exit 0 after %.3f s\n", CLAIMERS,
                  answered, took);
    assert_int_equal(answered, CLAIMERS);
    assert_true(took < 10.0);
    h_daemon_start(H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(held_long_polls_cost_no_thread),
        cmocka_unit_test(sigterm_answers_every_long_poll),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
