/* test_metrics.c — lib/metrics.c: the Prometheus text exposition format
 * (values, escaping, HELP/TYPE), route labels, the request counters and
 * latency histograms (bucket edges, cumulative output, _sum/_count), the
 * database families, and counting from many threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

static char *take(struct escp_text *t)
{
    size_t len = 0;
    char *s = escp_text_take(t, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

/* Fails unless `text` holds `line` as a whole line. */
static void expect_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    print_error("missing line: %s\n---- in ----\n%s----\n", line, text);
    fail();
}

static int count_lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, len) == 0)
            n++;
    return n;
}

static void test_values(void **state)
{
    (void)state;
    char b[40];
    assert_string_equal(escp_prom_value(0, b, sizeof b), "0");
    assert_string_equal(escp_prom_value(1, b, sizeof b), "1");
    assert_string_equal(escp_prom_value(-2.5, b, sizeof b), "-2.5");
    assert_string_equal(escp_prom_value(0.1, b, sizeof b), "0.1");
    assert_string_equal(escp_prom_value(0.0025, b, sizeof b), "0.0025");
    assert_string_equal(escp_prom_value(123456789012.0, b, sizeof b), "123456789012");
    assert_string_equal(escp_prom_value(1e21, b, sizeof b), "1e+21");
    assert_string_equal(escp_prom_value(NAN, b, sizeof b), "NaN");
    assert_string_equal(escp_prom_value(INFINITY, b, sizeof b), "+Inf");
    assert_string_equal(escp_prom_value(-INFINITY, b, sizeof b), "-Inf");
    /* values that need 16 or 17 digits still read back exactly */
    double hard[] = {1.0 / 3, 0.1 + 0.2, 1234.5678901234567, 5e-324, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++)
        assert_true(strtod(escp_prom_value(hard[i], b, sizeof b), NULL) == hard[i]);
    assert_string_equal(escp_prom_value(0.1 + 0.2, b, sizeof b), "0.30000000000000004");
}

static void test_format(void **state)
{
    (void)state;
    struct escp_text t = {0};
    escp_prom_family(&t, "x_total", "counter", "Back\\slash and\nnewline; \"quotes\" stay.");
    escp_prom_sample_u64(&t, "x_total", NULL, 18446744073709551615ULL);
    escp_prom_sample(&t, "x_total", (const char *const[]){"a", "1", "b", "q\"b\\s\nn", NULL}, 0.5);
    escp_prom_sample(&t, "x_total", (const char *const[]){NULL}, 2);
    char *s = take(&t);
    assert_string_equal(s, "# HELP x_total Back\\\\slash and\\nnewline; \"quotes\" stay.\n"
                           "# TYPE x_total counter\n"
                           "x_total 18446744073709551615\n"
                           "x_total{a=\"1\",b=\"q\\\"b\\\\s\\nn\"} 0.5\n"
                           "x_total 2\n");
    free(s);
    assert_null(t.p);

    /* an empty text is "" */
    s = take(&t);
    assert_string_equal(s, "");
    free(s);

    /* long lines go through the slow path of printf */
    char big[1000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    escp_text_printf(&t, "%s|%d", big, 7);
    s = take(&t);
    assert_int_equal(strlen(s), 999 + 2);
    assert_string_equal(s + 999, "|7");
    free(s);
}

static void test_route_labels(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"/healthz", "/healthz"},
        {"/v1/tickets", "/v1/tickets"},
        {"/v1/tickets/{}", "/v1/tickets/{id}"},
        {"/v1/tickets/{}/events", "/v1/tickets/{id}/events"},
        {"/v1/queues/{}/claim", "/v1/queues/{tier}/claim"},
        {"/v1/policies/{}", "/v1/policies/{severity}"},
        {"/v1/webhooks/{}", "/v1/webhooks/{id}"},
        {"/dashboard/{}", "/dashboard/{file}"},
        {"/v1/tickets/{}x", "/v1/tickets/{}x"}, /* not a parameter segment */
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(escp_metrics_route_label(cases[i][0], out, sizeof out), cases[i][1]);
    char tiny[8];
    assert_string_equal(escp_metrics_route_label("/v1/tickets/{}", tiny, sizeof tiny), "/v1/tic");
}

static void test_requests(void **state)
{
    (void)state;
    const char *patterns[] = {"/v1/tickets/{}", "/v1/tickets"};
    const char *methods[] = {"GET", "POST"};
    struct escp_metrics *m = escp_metrics_new(patterns, methods, 2);
    assert_non_null(m);
    escp_metrics_observe(m, 0, "GET", 200, 0.0005);
    escp_metrics_observe(m, 0, "GET", 200, 0.001); /* on a bound: counted in le="0.001" */
    escp_metrics_observe(m, 0, "GET", 404, 0.003);
    escp_metrics_observe(m, 0, "HEAD", 200, 0.2);
    escp_metrics_observe(m, -1, "BREW", 404, 0.0);
    escp_metrics_observe(m, 7, "GET", 404, 45.0); /* out of range: unmatched */
    escp_metrics_observe(m, 0, "GET", 201, -1);   /* a negative duration counts as 0 */
    escp_metrics_observe(NULL, 0, "GET", 200, 1); /* no-op */

    struct escp_text t = {0};
    escp_metrics_render(m, &t);
    char *s = take(&t);

    /* every counter series, in order: route, method (table order), status */
    const char *want_counters =
        "# HELP escalated_http_requests_total HTTP requests answered, by route pattern, method and status code.\n"
        "# TYPE escalated_http_requests_total counter\n"
        "escalated_http_requests_total{route=\"/v1/tickets/{id}\",method=\"GET\",status=\"200\"} 2\n"
        "escalated_http_requests_total{route=\"/v1/tickets/{id}\",method=\"GET\",status=\"201\"} 1\n"
        "escalated_http_requests_total{route=\"/v1/tickets/{id}\",method=\"GET\",status=\"404\"} 1\n"
        "escalated_http_requests_total{route=\"/v1/tickets/{id}\",method=\"HEAD\",status=\"200\"} 1\n"
        "escalated_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"
        "escalated_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1\n"
        "# HELP escalated_http_request_duration_seconds ";
    assert_memory_equal(s, want_counters, strlen(want_counters));

    /* GET /v1/tickets/{id}: 0.0005, 0.001, 0.003 and 0 (the negative one) */
    const char *R = "escalated_http_request_duration_seconds_bucket{route=\"/v1/tickets/{id}\",method=\"GET\",le=";
    static const struct { const char *le; int n; } get_buckets[] = {
        {"0.001", 3}, {"0.0025", 3}, {"0.005", 4}, {"0.01", 4}, {"0.025", 4}, {"0.05", 4},
        {"0.1", 4}, {"0.25", 4}, {"0.5", 4}, {"1", 4}, {"2.5", 4}, {"5", 4}, {"10", 4},
        {"30", 4}, {"+Inf", 4}};
    for (size_t i = 0; i < sizeof get_buckets / sizeof get_buckets[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "%s\"%s\"} %d", R, get_buckets[i].le, get_buckets[i].n);
        expect_line(s, line);
    }
    expect_line(s, "escalated_http_request_duration_seconds_sum{route=\"/v1/tickets/{id}\",method=\"GET\"} 0.0045");
    expect_line(s, "escalated_http_request_duration_seconds_count{route=\"/v1/tickets/{id}\",method=\"GET\"} 4");
    /* HEAD has its own series; 0.2 s lands in le="0.25" */
    expect_line(s, "escalated_http_request_duration_seconds_bucket{route=\"/v1/tickets/{id}\",method=\"HEAD\",le=\"0.1\"} 0");
    expect_line(s, "escalated_http_request_duration_seconds_bucket{route=\"/v1/tickets/{id}\",method=\"HEAD\",le=\"0.25\"} 1");
    expect_line(s, "escalated_http_request_duration_seconds_sum{route=\"/v1/tickets/{id}\",method=\"HEAD\"} 0.2");
    /* a route with no requests yet shows its own method with zeros */
    expect_line(s, "escalated_http_request_duration_seconds_bucket{route=\"/v1/tickets\",method=\"POST\",le=\"+Inf\"} 0");
    expect_line(s, "escalated_http_request_duration_seconds_count{route=\"/v1/tickets\",method=\"POST\"} 0");
    expect_line(s, "escalated_http_request_duration_seconds_sum{route=\"/v1/tickets\",method=\"POST\"} 0");
    /* 45 s is past the last bound: only +Inf has it */
    expect_line(s, "escalated_http_request_duration_seconds_bucket{route=\"unmatched\",method=\"GET\",le=\"30\"} 0");
    expect_line(s, "escalated_http_request_duration_seconds_bucket{route=\"unmatched\",method=\"GET\",le=\"+Inf\"} 1");
    expect_line(s, "escalated_http_request_duration_seconds_sum{route=\"unmatched\",method=\"GET\"} 45");
    /* series: (tickets/{id}, GET), (tickets/{id}, HEAD), (tickets, POST), (unmatched, GET),
     * (unmatched, other) -- and nothing for methods never seen */
    assert_int_equal(count_lines_starting(s, "escalated_http_request_duration_seconds_count"), 5);
    assert_int_equal(count_lines_starting(s, "escalated_http_request_duration_seconds_bucket"),
                     5 * (ESCP_METRICS_NBUCKETS + 1));
    assert_null(strstr(s, "method=\"POST\",le=\"+Inf\"} 1"));
    assert_null(strstr(s, "route=\"/v1/tickets\",method=\"GET\""));
    free(s);
    escp_metrics_free(m);
    escp_metrics_free(NULL);
}

struct hammer {
    struct escp_metrics *m;
    int n, id;
};

static void *hammer(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < h->n; i++)
        escp_metrics_observe(h->m, i % 2, i % 3 ? "GET" : "POST", 200 + (i + h->id) % 5, 0.002);
    return NULL;
}

static uint64_t sum_of(const char *text, const char *prefix)
{
    uint64_t total = 0;
    size_t len = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, len) == 0)
            total += strtoull(strchr(p, '}') + 2, NULL, 10); /* "} value" */
    return total;
}

static void test_threads(void **state)
{
    (void)state;
    const char *patterns[] = {"/a", "/b"};
    struct escp_metrics *m = escp_metrics_new(patterns, NULL, 2);
    assert_non_null(m);
    enum { T = 4, N = 20000 };
    pthread_t th[T];
    struct hammer args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (struct hammer){m, N, i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    /* scrapes while counting go on must not disturb it */
    for (int i = 0; i < 20; i++) {
        struct escp_text t = {0};
        escp_metrics_render(m, &t);
        escp_text_free(&t);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    struct escp_text t = {0};
    escp_metrics_render(m, &t);
    char *s = take(&t);
    assert_int_equal(sum_of(s, "escalated_http_requests_total{"), (uint64_t)T * N);
    assert_int_equal(sum_of(s, "escalated_http_request_duration_seconds_count{"), (uint64_t)T * N);
    /* 5 statuses x 2 methods x 2 routes */
    assert_int_equal(count_lines_starting(s, "escalated_http_requests_total{"), 20);
    free(s);
    escp_metrics_free(m);
}

static void test_db_families(void **state)
{
    (void)state;
    struct escp_db_metrics d = {0};
    d.open[0][0] = 5;  /* line-1 awaiting_ack */
    d.open[2][3] = 2;  /* line-3 resolved */
    d.timers[2] = 7;   /* at_risk */
    d.timer_overdue_s = 0.25;
    d.breaches[1] = 3; /* resolve */
    d.notifications[2] = 1;
    d.deliveries[3] = 4;
    struct escp_text t = {0};
    escp_metrics_render_db(&d, &t);
    char *s = take(&t);
    expect_line(s, "# TYPE escalated_tickets_open gauge");
    expect_line(s, "escalated_tickets_open{tier=\"line-1\",state=\"awaiting_ack\"} 5");
    expect_line(s, "escalated_tickets_open{tier=\"line-3\",state=\"resolved\"} 2");
    expect_line(s, "escalated_tickets_open{tier=\"line-2\",state=\"waiting_customer\"} 0");
    assert_int_equal(count_lines_starting(s, "escalated_tickets_open{"), 12); /* zeros shown */
    assert_null(strstr(s, "state=\"closed\""));
    expect_line(s, "escalated_timers_pending{kind=\"at_risk\"} 7");
    expect_line(s, "escalated_timers_pending{kind=\"callback\"} 0");
    expect_line(s, "escalated_timers_overdue_seconds 0.25");
    expect_line(s, "# TYPE escalated_breaches_total counter");
    expect_line(s, "escalated_breaches_total{kind=\"resolve\"} 3");
    expect_line(s, "escalated_breaches_total{kind=\"ack\"} 0");
    expect_line(s, "escalated_notifications{status=\"failed\"} 1");
    expect_line(s, "escalated_notifications{status=\"undeliverable\"} 0");
    expect_line(s, "escalated_webhook_deliveries{status=\"cancelled\"} 4");
    /* every family has exactly one HELP and one TYPE */
    assert_int_equal(count_lines_starting(s, "# HELP "), 6);
    assert_int_equal(count_lines_starting(s, "# TYPE "), 6);
    free(s);
}

static void test_db_reuse(void **state)
{
    (void)state;
    /* a reading that took 0.1 s is reused for 1 s */
    assert_true(escp_metrics_db_reusable(100.0, 100.0, 0.1));
    assert_true(escp_metrics_db_reusable(100.99, 100.0, 0.1));
    assert_false(escp_metrics_db_reusable(101.0, 100.0, 0.1));
    /* a 2 ms reading: 20 ms */
    assert_true(escp_metrics_db_reusable(50.019, 50.0, 0.002));
    assert_false(escp_metrics_db_reusable(50.021, 50.0, 0.002));
    /* never longer than ESCP_DB_REUSE_MAX_S */
    assert_true(escp_metrics_db_reusable(10.0 + ESCP_DB_REUSE_MAX_S - 1, 10.0, 60));
    assert_false(escp_metrics_db_reusable(10.0 + ESCP_DB_REUSE_MAX_S, 10.0, 60));
    /* a clock that went backwards is not trusted */
    assert_false(escp_metrics_db_reusable(9.0, 10.0, 1));

    /* the reading lives with the counters, zeroed at first */
    const char *patterns[] = {"/a"};
    struct escp_metrics *m = escp_metrics_new(patterns, NULL, 1);
    struct escp_db_reading *rd = escp_metrics_db_lock(m);
    assert_false(rd->have);
    rd->have = true;
    rd->d.breaches[0] = 9;
    escp_metrics_db_unlock(m);
    rd = escp_metrics_db_lock(m);
    assert_true(rd->have);
    assert_int_equal(rd->d.breaches[0], 9);
    escp_metrics_db_unlock(m);
    escp_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_route_labels),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_db_families),
        cmocka_unit_test(test_db_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
