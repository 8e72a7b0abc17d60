/* test_fault_sigterm.c — SIGTERM while long polls wait (claims on an empty
 * line-3 queue, event feed reads past the last event) and a mixed load has
 * requests in flight:
 *
 *   - every long poll is answered (200/204) soon after the signal, not at
 *     the end of its wait, and no request in flight at the signal loses its
 *     connection without an HTTP answer;
 *   - the daemon exits 0 within its --shutdown-grace;
 *   - restarted, the database agrees with the ledger (ledger.h): the writes
 *     answered before the signal are all there.
 *
 * Runs on the shared test cluster: only the daemon stops. */
#include "harness.h"
#include "fault_load.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACK_SECONDS 2
#define GRACE_S 5
#define POLLS 12 /* of each kind */
#define POLL_WAIT_S 20

static h_ctx *H;

/* A long poller: polls again and again, on one kept-alive connection (its
 * own curl handle), until one of its polls was sent after the signal (the
 * feed from the `next_after` it was given).  Polls sent before the signal
 * must all be answered.  A new connection per poll would race the closing of
 * the listening socket: one still in the kernel's accept queue at that
 * moment is reset before the daemon has read anything (docs/operations.md,
 * Stopping). */
static volatile double t_term; /* fl_now() of the SIGTERM, 0 before */

struct poll {
    const char *base, *method, *token;
    int feed;
    long long after;       /* the feed's cursor */
    long sent_before, answered_before; /* polls sent before the signal, and answered (200/204) */
    long bad_status;       /* an answer that was not 200/204, and its status */
    double last_answer;    /* fl_now() of the last answer to a poll sent before the signal */
};

struct body {
    char *p;
    size_t n;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct body *b = ud;
    char *q = realloc(b->p, b->n + sz * nm + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, p, sz * nm);
    b->n += sz * nm;
    q[b->n] = 0;
    b->p = q;
    return sz * nm;
}

static void *long_poll(void *arg)
{
    struct poll *p = arg;
    CURL *c = curl_easy_init();
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", p->token);
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    for (;;) {
        char url[256];
        if (p->feed)
            snprintf(url, sizeof url, "%s/v1/events?after=%lld&wait=%d", p->base, p->after, POLL_WAIT_S);
        else
            snprintf(url, sizeof url, "%s/v1/queues/line-3/claim?wait=%d", p->base, POLL_WAIT_S);
        struct body b = {NULL, 0};
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (!p->feed) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        double sent = fl_now();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        double got = fl_now();
        int before = t_term == 0 || sent < t_term;
        if (before) {
            p->sent_before++;
            if (status == 200 || status == 204) {
                p->answered_before++;
                p->last_answer = got;
            } else {
                p->bad_status = status;
                fprintf(stderr, "sigterm: a long poll %s sent %.3f s before the signal got %ld after %.3f s\n",
                        url, t_term ? t_term - sent : 0.0, status, got - sent);
            }
        }
        if (p->feed && status == 200 && b.p) {
            json_t *j = json_loads(b.p, 0, NULL);
            if (h_int(j, "next_after") > 0)
                p->after = h_int(j, "next_after");
            json_decref(j);
        }
        free(b.p);
        if (!before || (status != 200 && status != 204))
            break;
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return NULL;
}

static void sigterm_answers_long_polls_and_requests_in_flight_and_exits_0(void **state)
{
    (void)state;
    h_daemon_args(H, (const char *const[]){"--shutdown-grace", h_fmt(H, "%d", GRACE_S), NULL});
    h_daemon_restart(H);
    h_put_policy(H, "normal", h_fmt(H, "{\"ack_seconds\": %d, \"resolve_seconds\": 36000}", ACK_SECONDS));
    /* line-3's queue is empty (the load never escalates past line-2) */
    for (;;) {
        h_resp *r = h_req(H, "POST", "/v1/queues/line-3/claim", H->k.agent[3], NULL);
        if (r->status == 204)
            break;
        h_expect_status(r, 200);
    }
    struct fl_config cfg = fl_config_for(H, "term");
    fl_load *l = fl_load_start(&cfg);
    assert_non_null(l);
    h_sleep(2);

    struct poll polls[2 * POLLS];
    pthread_t th[2 * POLLS];
    long long last_event = h_sql_ll(H, "SELECT max(id) FROM events");
    for (int i = 0; i < 2 * POLLS; i++) {
        polls[i] = (struct poll){.base = H->base_url,
                                 .method = i < POLLS ? "POST" : "GET",
                                 .feed = i >= POLLS,
                                 .after = last_event,
                                 .token = i < POLLS ? H->k.agent[3] : H->k.manager};
        pthread_create(&th[i], NULL, long_poll, &polls[i]);
    }
    h_sleep(1.0); /* the claims wait, suspended; the feed reads follow the load */

    t_term = fl_now();
    fl_fault_begin(l);
    int st = h_daemon_stop(H); /* SIGTERM, then waits for the exit */
    double took = fl_now() - t_term;
    for (int i = 0; i < 2 * POLLS; i++)
        pthread_join(th[i], NULL);
    fl_fault_end(l);
    fl_load_stop(l);

    /* the requests of the load in flight at the signal, and after it */
    const struct fl_req *rq;
    size_t n = fl_requests(l, &rq);
    long in_flight = 0, in_flight_cut = 0, after = 0, after_answered = 0;
    for (size_t i = 0; i < n; i++) {
        if (rq[i].t_sent <= t_term && rq[i].t_answered >= t_term) {
            in_flight++;
            if (rq[i].status == 0)
                in_flight_cut++;
        } else if (rq[i].t_sent > t_term) {
            after++;
            after_answered += rq[i].status != 0;
        }
    }
    long polls_sent = 0, polls_answered = 0;
    double poll_last = 0;
    for (int i = 0; i < 2 * POLLS; i++) {
        polls_sent += polls[i].sent_before;
        polls_answered += polls[i].answered_before;
        if (polls[i].last_answer - t_term > poll_last)
            poll_last = polls[i].last_answer - t_term;
    }
    fprintf(stderr,
            "sigterm: exit %d after %.3f s; %ld/%ld long polls sent before it answered, the last %.3f s after the signal; "
            "%ld load requests in flight at the signal (%ld cut); %ld sent after it (%ld answered)\n",
            st, took, polls_answered, polls_sent, poll_last, in_flight, in_flight_cut, after, after_answered);

    /* start again: nothing answered before the signal is missing */
    h_daemon_start(H);
    long left = fl_load_retry_unanswered(l, H->base_url, 20);
    h_sleep(ACK_SECONDS + 1.0);
    struct fl_check_result res;
    int rc = fl_check(l, H->conninfo, ACK_SECONDS, 1.0, &res, stderr);
    struct fl_stats s = fl_load_stats(l);
    char errs[200];
    fl_errors_text(&s, errs, sizeof errs);
    fl_report_row("SIGTERM, 24 long polls + load", s.answered_2xx + polls_answered, errs, took,
                  res.lost + res.key_violations + res.breach_lost + in_flight_cut + (polls_sent - polls_answered));

    assert_int_equal(st, 0);
    assert_true(took < GRACE_S + 1.0);
    assert_true(polls_sent >= 2 * POLLS);
    assert_int_equal(polls_answered, polls_sent);
    assert_true(poll_last < 2.0); /* answered at the signal, not at the end of the wait */
    assert_true(in_flight > 0);
    assert_int_equal(in_flight_cut, 0);
    assert_int_equal(left, 0);
    assert_int_equal(rc, 0);
    assert_int_equal(s.s5xx_other, 0);
    fl_load_free(l);
    h_restore_settings(H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_answers_long_polls_and_requests_in_flight_and_exits_0),
    };
    return h_run_tests_with_daemon(&H, "test_fault_sigterm", 0, tests);
}
