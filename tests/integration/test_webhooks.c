/* test_webhooks.c — webhooks end to end: the admin routes (who may, bad
 * input, the secret shown once), and delivery by the daemon's worker to a
 * small HTTP receiver on loopback inside this test that records every
 * request and can be told to fail (500) or to hang:
 *   - the signature verifies with the secret (computed here with OpenSSL),
 *     the timestamp, delivery id, event and attempt headers are sent;
 *   - notifications come from the real daemon: a major create
 *     (major_created) and the SLA engine (an ack breach);
 *   - event_types filter; a notification nobody wants is `undeliverable`;
 *   - a failing receiver gets retries at growing intervals, then success:
 *     delivered, and a `notified` event on the ticket;
 *   - an always-failing one: `failed` after the maximum attempts, visible in
 *     GET /v1/notifications?status=failed, and retryable;
 *   - deleting a webhook cancels its pending deliveries;
 *   - restarts lose nothing: a graceful stop between attempts, and a daemon
 *     killed (SIGKILL) in the middle of an attempt (its lease runs out and
 *     the same delivery id is sent again);
 *   - two daemons on one database never send a delivery twice;
 *   - a daemon with --webhook-worker off leaves notifications waiting.
 *
 * The daemons run with small back-off settings (environment variables,
 * docs/webhooks.md): first back-off 200 ms, cap 2 s, 4 attempts, 1 s timeout.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static h_ctx *H;

#define BACKOFF_S 0.2
#define MAX_ATTEMPTS 4
#define LEASE_S (2 * 1.0 + 5) /* 2 * timeout + 5 s */

/* ------------------------------------------------------------ the receiver */

#define MAX_RECS 4096

struct rec {
    char delivery[64], event[32], attempt[16], sig[128], ctype[64], ts[32];
    char *body;
    double at;        /* h_now() when the request was complete */
    json_int_t ticket_id;
    int answered;     /* the status we answered, 0 = none (hung) */
};

static struct {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail_next;    /* answer 500 to this many next requests (-1: all) */
    int hang_next;    /* hold this many next requests without answering */
    int delay_ms;     /* before answering */
    int stop, release_gen, active;
    struct rec recs[MAX_RECS];
    int n;
} RX;

static int read_request(int fd, char **head_out, char **body_out, size_t *body_len)
{
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap + 1);
    char *end = NULL;
    while (buf && !end) {
        if (len == cap)
            goto fail;
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            goto fail;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!buf)
        return -1;
    size_t head_len = (size_t)(end - buf) + 4;
    size_t want = 0;
    for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2)
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            want = strtoul(p + 15, NULL, 10);
    if (want > 1 << 20)
        goto fail;
    char *body = malloc(want + 1);
    if (!body)
        goto fail;
    size_t have = len - head_len;
    memcpy(body, buf + head_len, have < want ? have : want);
    while (have < want) {
        ssize_t n = recv(fd, body + have, want - have, 0);
        if (n <= 0) {
            free(body);
            goto fail;
        }
        have += (size_t)n;
    }
    body[want] = '\0';
    buf[head_len] = '\0';
    *head_out = buf;
    *body_out = body;
    *body_len = want;
    return 0;
fail:
    free(buf);
    return -1;
}

static void header_value(const char *head, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(head, "\r\n"); p && p[2] && !(p[2] == '\r'); p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            snprintf(out, len, "%.*s", (int)(vl < len ? vl : len - 1), v);
            return;
        }
    }
}

static void *rx_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *head = NULL, *body = NULL;
    size_t blen = 0;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (read_request(fd, &head, &body, &blen) == 0) {
        pthread_mutex_lock(&RX.mu);
        int idx = RX.n < MAX_RECS ? RX.n++ : -1;
        int hang = 0, fail = 0, delay = RX.delay_ms;
        if (RX.hang_next > 0) {
            RX.hang_next--;
            hang = 1;
        } else if (RX.fail_next != 0) {
            if (RX.fail_next > 0)
                RX.fail_next--;
            fail = 1;
        }
        if (idx >= 0) {
            struct rec *r = &RX.recs[idx];
            header_value(head, "X-Escalated-Delivery", r->delivery, sizeof r->delivery);
            header_value(head, "X-Escalated-Event", r->event, sizeof r->event);
            header_value(head, "X-Escalated-Attempt", r->attempt, sizeof r->attempt);
            header_value(head, "X-Escalated-Signature", r->sig, sizeof r->sig);
            header_value(head, "X-Escalated-Timestamp", r->ts, sizeof r->ts);
            header_value(head, "Content-Type", r->ctype, sizeof r->ctype);
            r->body = body;
            body = NULL;
            r->at = h_now();
            json_t *j = json_loads(r->body, 0, NULL);
            json_t *t = json_object_get(j, "ticket_id");
            r->ticket_id = json_is_integer(t) ? json_integer_value(t) : -1;
            json_decref(j);
            r->answered = hang ? 0 : fail ? 500 : 200;
        }
        if (hang) {
            int gen = RX.release_gen;
            while (!RX.stop && RX.release_gen == gen)
                pthread_cond_wait(&RX.cv, &RX.mu);
        }
        pthread_mutex_unlock(&RX.mu);
        if (!hang) {
            if (delay)
                usleep((useconds_t)delay * 1000);
            const char *resp = fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 16\r\nConnection: close\r\n\r\nreceiver says no"
                                    : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            ssize_t ignored = send(fd, resp, strlen(resp), MSG_NOSIGNAL);
            (void)ignored;
        }
    }
    free(head);
    free(body);
    close(fd);
    pthread_mutex_lock(&RX.mu);
    RX.active--;
    pthread_cond_broadcast(&RX.cv);
    pthread_mutex_unlock(&RX.mu);
    return NULL;
}

static void *rx_accept(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&RX.mu);
        int stop = RX.stop;
        pthread_mutex_unlock(&RX.mu);
        if (stop)
            return NULL;
        struct pollfd p = {RX.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(RX.fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&RX.mu);
        RX.active++;
        pthread_mutex_unlock(&RX.mu);
        pthread_t t;
        if (pthread_create(&t, NULL, rx_conn, (void *)(intptr_t)c) == 0) {
            pthread_detach(t);
        } else {
            close(c);
            pthread_mutex_lock(&RX.mu);
            RX.active--;
            pthread_mutex_unlock(&RX.mu);
        }
    }
}

static void rx_start(void)
{
    memset(&RX, 0, sizeof RX);
    pthread_mutex_init(&RX.mu, NULL);
    pthread_cond_init(&RX.cv, NULL);
    RX.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(RX.fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(RX.fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(RX.fd, 128), 0);
    socklen_t al = sizeof a;
    getsockname(RX.fd, (struct sockaddr *)&a, &al);
    RX.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&RX.th, NULL, rx_accept, NULL), 0);
}

static void rx_stop(void)
{
    pthread_mutex_lock(&RX.mu);
    RX.stop = 1;
    pthread_cond_broadcast(&RX.cv);
    pthread_mutex_unlock(&RX.mu);
    pthread_join(RX.th, NULL);
    close(RX.fd);
    pthread_mutex_lock(&RX.mu);
    while (RX.active > 0)
        pthread_cond_wait(&RX.cv, &RX.mu);
    pthread_mutex_unlock(&RX.mu);
    for (int i = 0; i < RX.n; i++)
        free(RX.recs[i].body);
    pthread_mutex_destroy(&RX.mu);
    pthread_cond_destroy(&RX.cv);
}

static void rx_mode(int fail_next, int hang_next, int delay_ms)
{
    pthread_mutex_lock(&RX.mu);
    RX.fail_next = fail_next;
    RX.hang_next = hang_next;
    RX.delay_ms = delay_ms;
    pthread_mutex_unlock(&RX.mu);
}

static void rx_release(void)
{
    pthread_mutex_lock(&RX.mu);
    RX.release_gen++;
    pthread_cond_broadcast(&RX.cv);
    pthread_mutex_unlock(&RX.mu);
}

/* Copies of the records about one ticket, in arrival order; returns the count. */
static int rx_for(json_int_t ticket, struct rec *out, int max)
{
    int k = 0;
    pthread_mutex_lock(&RX.mu);
    for (int i = 0; i < RX.n; i++)
        if (RX.recs[i].ticket_id == ticket) {
            if (k < max) {
                out[k] = RX.recs[i];
                out[k].body = NULL; /* bodies stay with RX */
            }
            k++;
        }
    pthread_mutex_unlock(&RX.mu);
    return k;
}

static char *rx_body(json_int_t ticket, int nth)
{
    char *b = NULL;
    pthread_mutex_lock(&RX.mu);
    for (int i = 0, k = 0; i < RX.n && !b; i++)
        if (RX.recs[i].ticket_id == ticket && k++ == nth)
            b = strdup(RX.recs[i].body);
    pthread_mutex_unlock(&RX.mu);
    return b;
}

/* Wait until `count` requests about `ticket` arrived; returns how many did. */
static int rx_wait(json_int_t ticket, int count, double seconds)
{
    double end = h_now() + seconds;
    struct rec tmp[1];
    int n;
    while ((n = rx_for(ticket, tmp, 0)) < count && h_now() < end)
        h_sleep(0.01);
    return n;
}

/* --------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    setenv("ESCALATED_WEBHOOK_BACKOFF_MS", "200", 1);
    setenv("ESCALATED_WEBHOOK_BACKOFF_CAP_MS", "2000", 1);
    setenv("ESCALATED_WEBHOOK_MAX_ATTEMPTS", "4", 1);
    setenv("ESCALATED_WEBHOOK_TIMEOUT_MS", "1000", 1);
    /* the receiver listens on loopback; test_webhook_destinations runs with it off */
    setenv("ESCALATED_WEBHOOK_ALLOW_PRIVATE_NETWORK", "on", 1);
    H = h_start("test_webhooks", NULL);
    rx_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rx_stop();
    h_finish(H);
    return 0;
}

static const char *rx_url(const char *path)
{
    return h_fmt(H, "http://127.0.0.1:%d%s", RX.port, path);
}

/* Delete every active webhook. */
static void delete_webhooks(void)
{
    h_resp *r = h_req(H, "GET", "/v1/webhooks", H->k.admin, NULL);
    h_expect_status(r, 200);
    json_t *items = h_get(r->json, "items");
    size_t i;
    json_t *w;
    json_array_foreach(items, i, w) {
        h_resp *d = h_req(H, "DELETE", h_fmt(H, "/v1/webhooks/%lld", (long long)h_int(w, "id")),
                          H->k.admin, NULL);
        h_expect_status(d, 204);
    }
}

/* Delete every active webhook, then register one; returns its id. */
static json_int_t fresh_webhook(const char *secret, const char *types_json)
{
    delete_webhooks();
    json_t *b = json_pack("{s:s}", "url", rx_url("/hook"));
    if (secret)
        json_object_set_new(b, "secret", json_string(secret));
    if (types_json)
        json_object_set_new(b, "event_types", h_json(types_json));
    h_resp *r = h_reqj(H, "POST", "/v1/webhooks", H->k.admin, b);
    h_expect_status(r, 201);
    return h_int(r->json, "id");
}

static json_int_t major_ticket(void) { return h_new_ticket(H, h_unique(H, "major"), "major", NULL); }

/* The notification of `type` about `ticket` (admin view), or NULL. */
static json_t *notification_of(json_int_t ticket, const char *type)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/notifications?ticket=%lld&type=%s", (long long)ticket, type),
                      H->k.admin, NULL);
    h_expect_status(r, 200);
    return json_array_size(h_get(r->json, "items")) ? h_get(r->json, "items.0") : NULL;
}

/* Wait until that notification has `status`; returns it (or fails). */
static json_t *wait_notification(json_int_t ticket, const char *type, const char *status, double seconds)
{
    double end = h_now() + seconds;
    json_t *n = NULL;
    do {
        n = notification_of(ticket, type);
        if (n && h_str(n, "status") && strcmp(h_str(n, "status"), status) == 0)
            return n;
        h_sleep(0.05);
    } while (h_now() < end);
    char *text = n ? json_dumps(n, JSON_COMPACT) : NULL;
    fail_msg("notification %s of ticket %lld is not %s after %.0f s: %s", type, (long long)ticket,
             status, seconds, text ? text : "(none)");
    free(text);
    return NULL;
}

/* The `notified` events the worker recorded on a ticket (delivery ids). */
static int webhook_events(json_int_t ticket, const char **delivery_ids, int max)
{
    json_t *items = h_events(H, ticket);
    size_t i;
    json_t *e;
    int k = 0;
    json_array_foreach(items, i, e) {
        if (strcmp(h_str(e, "type"), "notified") != 0 || !h_str(e, "via") ||
            strcmp(h_str(e, "via"), "webhook") != 0)
            continue;
        if (k < max)
            delivery_ids[k] = h_str(e, "delivery_id");
        k++;
    }
    return k;
}

static void expect_signature(const struct rec *r, const char *body, const char *secret)
{
    char *msg = NULL;
    assert_true(asprintf(&msg, "%s.%s", r->ts, body) > 0);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
                         strlen(msg), mac, &len));
    char want[80] = "sha256=";
    for (unsigned i = 0; i < len; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
    free(msg);
    if (strcmp(want, r->sig) != 0)
        fail_msg("signature %s, expected %s (HMAC-SHA256 of \"<timestamp>.<body>\")", r->sig, want);
}

/* Per-test setups, so that no test relies on what the tests before it did
 * or left behind. */

/* No active webhook (the routes' tests count what they register). */
static int no_webhooks(void **state)
{
    (void)state;
    delete_webhooks();
    return 0;
}

/* The default policies (a test that shortens one and fails leaves it). */
static int defaults(void **state)
{
    (void)state;
    h_restore_settings(H);
    return 0;
}

/* At least five notifications to page through (each major create queues one). */
static int some_notifications(void **state)
{
    (void)state;
    while (h_sql_ll(H, "SELECT count(*) FROM notifications") < 5)
        h_new_ticket(H, h_unique(H, "paging"), "major", NULL);
    return 0;
}

/* ----------------------------------------------------------------- tests */

static void webhook_and_notification_routes_are_for_admins_only(void **state)
{
    (void)state;
    const char *body = "{\"url\":\"http://127.0.0.1:9/x\"}";
    const char *who[] = {H->k.manager, H->k.frontdesk, H->k.agent[1], H->k.agent[3]};
    for (size_t i = 0; i < 4; i++) {
        h_expect_error(h_req(H, "POST", "/v1/webhooks", who[i], body), 403, "forbidden");
        h_expect_error(h_req(H, "GET", "/v1/webhooks", who[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "GET", "/v1/webhooks/1", who[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "DELETE", "/v1/webhooks/1", who[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "GET", "/v1/notifications", who[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "GET", "/v1/notifications/1", who[i], NULL), 403, "forbidden");
        h_expect_error(h_req(H, "POST", "/v1/notifications/1/retry", who[i], NULL), 403, "forbidden");
    }
    h_expect_error(h_req(H, "POST", "/v1/webhooks", NULL, body), 401, "unauthenticated");
    h_expect_error(h_req(H, "GET", "/v1/webhooks", NULL, NULL), 401, "unauthenticated");
    h_expect_error(h_req(H, "GET", "/v1/notifications", "esc_not_a_token", NULL), 401, "unauthenticated");
    h_expect_error(h_req(H, "PUT", "/v1/webhooks", H->k.admin, body), 405, "method_not_allowed");
    /* nothing was registered by the refused requests */
    h_resp *r = h_req(H, "GET", "/v1/webhooks", H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
}

static void bad_webhook_input_is_400_naming_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *code, *field;
    } cases[] = {
        {"{}", "validation_failed", "url"},
        {"{\"url\":null}", "validation_failed", "url"},
        {"{\"url\":42}", "validation_failed", "url"},
        {"{\"url\":\"ftp://example.com/x\"}", "validation_failed", "url"},
        {"{\"url\":\"file:///etc/passwd\"}", "validation_failed", "url"},
        {"{\"url\":\"example.com/hook\"}", "validation_failed", "url"},
        {"{\"url\":\"http://exa mple.com/\"}", "validation_failed", "url"},
        {"{\"url\":\"http:///nohost\"}", "validation_failed", "url"},
        {"{\"url\":\"https://example.com/x\",\"event_types\":[]}", "validation_failed", "event_types"},
        {"{\"url\":\"https://example.com/x\",\"event_types\":\"breached\"}", "validation_failed", "event_types"},
        {"{\"url\":\"https://example.com/x\",\"event_types\":[\"breached\",\"nope\"]}", "validation_failed", "event_types[1]"},
        {"{\"url\":\"https://example.com/x\",\"event_types\":[\"at_risk\",\"at_risk\"]}", "validation_failed", "event_types[1]"},
        {"{\"url\":\"https://example.com/x\",\"event_types\":[7]}", "validation_failed", "event_types[0]"},
        {"{\"url\":\"https://example.com/x\",\"secret\":\"short\"}", "validation_failed", "secret"},
        {"{\"url\":\"https://example.com/x\",\"secret\":\"has a space in it, sixteen+\"}", "validation_failed", "secret"},
        {"{\"url\":\"https://example.com/x\",\"secret\":12345678901234567}", "validation_failed", "secret"},
        {"{\"url\":\"https://example.com/x\",\"colour\":\"red\"}", "validation_failed", "colour"},
        {"[1,2]", "validation_failed", NULL},
        {"{\"url\":", "invalid_json", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        h_resp *r = h_req(H, "POST", "/v1/webhooks", H->k.admin, cases[i].body);
        if (!h_check_error(r, 400, cases[i].code, cases[i].field, cases[i].body))
            fail_msg("case %zu: %s", i, cases[i].body);
    }
    char longurl[2100] = "https://example.com/";
    memset(longurl + 20, 'a', 2040);
    longurl[2060] = '\0';
    h_expect_error_field(h_reqj(H, "POST", "/v1/webhooks", H->k.admin, json_pack("{s:s}", "url", longurl)),
                         400, "validation_failed", "url");
    h_expect_error(h_req(H, "POST", "/v1/webhooks", H->k.admin, NULL), 400, "invalid_json");
    h_expect_error(h_req(H, "POST", "/v1/webhooks", H->k.admin, "url=x", "Content-Type: text/plain"),
                   415, "unsupported_media_type");
    h_expect_error(h_req(H, "GET", "/v1/webhooks/abc", H->k.admin, NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", "/v1/webhooks/999999", H->k.admin, NULL), 404, "not_found");
    h_expect_error(h_req(H, "DELETE", "/v1/webhooks/999999", H->k.admin, NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", "/v1/notifications/999999", H->k.admin, NULL), 404, "not_found");
    h_expect_error(h_req(H, "POST", "/v1/notifications/999999/retry", H->k.admin, NULL), 404, "not_found");
    h_expect_error_field(h_req(H, "POST", "/v1/notifications/1/retry", H->k.admin, "{\"now\":true}"),
                         400, "validation_failed", "now");
    h_expect_error_field(h_req(H, "GET", "/v1/webhooks?x=1", H->k.admin, NULL), 400, "validation_failed", "x");
    h_expect_error_field(h_req(H, "GET", "/v1/notifications?status=lost", H->k.admin, NULL), 400,
                         "validation_failed", "status");
    h_expect_error_field(h_req(H, "GET", "/v1/notifications?type=closed", H->k.admin, NULL), 400,
                         "validation_failed", "type");
    h_expect_error_field(h_req(H, "GET", "/v1/notifications?ticket=x", H->k.admin, NULL), 400,
                         "validation_failed", "ticket");
    h_expect_error_field(h_req(H, "GET", "/v1/notifications?limit=201", H->k.admin, NULL), 400,
                         "validation_failed", "limit");
    h_expect_error_field(h_req(H, "GET", "/v1/notifications?cursor=zz", H->k.admin, NULL), 400,
                         "validation_failed", "cursor");
    h_expect_error_field(h_req(H, "GET", "/v1/notifications?colour=red", H->k.admin, NULL), 400,
                         "validation_failed", "colour");
    h_resp *r = h_req(H, "GET", "/v1/webhooks", H->k.admin, NULL);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 0);
}

static void a_webhook_secret_is_shown_once_and_delete_deactivates_it(void **state)
{
    (void)state;
    /* a secret of our own: answered once */
    h_resp *r = h_req(H, "POST", "/v1/webhooks", H->k.admin,
                      "{\"url\":\"https://hooks.example.com/escalated?x=1\",\"event_types\":[\"breached\",\"at_risk\"],"
                      "\"secret\":\"my-own-secret-0123456789\"}");
    h_expect_status(r, 201);
    json_int_t a = h_int(r->json, "id");
    h_assert_str(r->json, "url", "https://hooks.example.com/escalated?x=1");
    h_assert_str(r->json, "secret", "my-own-secret-0123456789");
    h_assert_str(r->json, "event_types.0", "breached");
    h_assert_str(r->json, "event_types.1", "at_risk");
    assert_int_equal(json_array_size(h_get(r->json, "event_types")), 2);
    assert_true(json_is_true(h_get(r->json, "active")));
    h_assert_ts(r->json, "created_at");
    h_assert_int(r->json, "created_by.id", H->k.admin_id);
    h_assert_null(r->json, "deleted_at");
    assert_string_equal(h_header(r, "Location"), h_fmt(H, "/v1/webhooks/%lld", (long long)a));

    /* no secret given: one is made, shown once; no event_types: all of them */
    r = h_req(H, "POST", "/v1/webhooks", H->k.admin, "{\"url\":\"http://127.0.0.1:9/b\"}");
    h_expect_status(r, 201);
    json_int_t b = h_int(r->json, "id");
    const char *made = h_str(r->json, "secret");
    assert_non_null(made);
    assert_int_equal(strncmp(made, "whsec_", 6), 0);
    assert_int_equal(strlen(made), 6 + 43);
    /* breached, at_risk, major_created, problem_recurred (migration 013) */
    assert_int_equal(json_array_size(h_get(r->json, "event_types")), 4);

    /* never again: not in the list, not in the single view, not in the database's answer */
    r = h_req(H, "GET", "/v1/webhooks", H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 2);
    assert_null(strstr(r->body, "secret"));
    assert_null(strstr(r->body, made));
    h_assert_int(r->json, "items.0.id", a);
    h_assert_int(r->json, "items.1.id", b);
    r = h_req(H, "GET", h_fmt(H, "/v1/webhooks/%lld", (long long)a), H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_false(h_has(r->json, "secret"));
    h_assert_str(r->json, "url", "https://hooks.example.com/escalated?x=1");

    /* delete: 204, gone from the list, still readable as inactive; again: 204 */
    h_expect_status(h_req(H, "DELETE", h_fmt(H, "/v1/webhooks/%lld", (long long)a), H->k.admin, NULL), 204);
    r = h_req(H, "GET", "/v1/webhooks", H->k.admin, NULL);
    assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
    h_assert_int(r->json, "items.0.id", b);
    r = h_req(H, "GET", h_fmt(H, "/v1/webhooks/%lld", (long long)a), H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_true(json_is_false(h_get(r->json, "active")));
    h_assert_ts(r->json, "deleted_at");
    h_expect_status(h_req(H, "DELETE", h_fmt(H, "/v1/webhooks/%lld", (long long)a), H->k.admin, NULL), 204);
    h_expect_status(h_req(H, "DELETE", h_fmt(H, "/v1/webhooks/%lld", (long long)b), H->k.admin, NULL), 204);
}

/* A major complaint: delivered at once, signed, with every header. */
static void a_major_create_is_delivered_at_once_signed_with_every_header(void **state)
{
    (void)state;
    const char *secret = "test-secret-for-signing-42";
    json_int_t hook = fresh_webhook(secret, "[\"major_created\"]");
    rx_mode(0, 0, 0);
    double t0 = h_now();
    time_t wall = time(NULL);
    json_int_t t = major_ticket();
    if (rx_wait(t, 1, 5) < 1)
        fail_msg("no webhook request for ticket %lld within 5 s", (long long)t);
    struct rec rec[4];
    assert_int_equal(rx_for(t, rec, 4), 1);
    char *body = rx_body(t, 0);
    assert_non_null(body);
    print_message("delivered %.3f s after the create\n", rec[0].at - t0);
    assert_true(rec[0].at - t0 < 2.0); /* the create pokes the worker */

    assert_string_equal(rec[0].ctype, "application/json");
    assert_string_equal(rec[0].event, "major_created");
    assert_string_equal(rec[0].attempt, "1");
    assert_int_equal(strlen(rec[0].delivery), 36); /* a UUID */
    long long ts = strtoll(rec[0].ts, NULL, 10);
    assert_true(ts > wall - 60 && ts < wall + 60);
    expect_signature(&rec[0], body, secret);

    json_t *j = h_json(body);
    h_assert_str(j, "delivery_id", rec[0].delivery);
    h_assert_str(j, "type", "major_created");
    h_assert_int(j, "ticket_id", t);
    h_assert_ts(j, "created_at");
    h_assert_str(j, "data.severity", "major");
    h_assert_int(j, "data.ticket_id", t);
    json_int_t nid = h_int(j, "notification_id");
    assert_true(nid > 0);
    json_decref(j);
    free(body);

    /* delivered: the notification, its delivery, and the ticket's history */
    json_t *n = wait_notification(t, "major_created", "delivered", 5);
    h_assert_int(n, "id", nid);
    h_assert_int(n, "attempts", 1);
    h_assert_ts(n, "delivered_at");
    assert_int_equal(json_array_size(h_get(n, "deliveries")), 1);
    h_assert_str(n, "deliveries.0.id", rec[0].delivery);
    h_assert_int(n, "deliveries.0.webhook_id", hook);
    h_assert_str(n, "deliveries.0.status", "delivered");
    h_assert_int(n, "deliveries.0.last_status", 200);
    h_assert_ts(n, "deliveries.0.delivered_at");
    h_assert_null(n, "deliveries.0.next_attempt_at");
    const char *ids[4];
    assert_int_equal(webhook_events(t, ids, 4), 1);
    assert_string_equal(ids[0], rec[0].delivery);
    json_t *ev = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(h_events(H, t), i, e)
        if (h_str(e, "via") && strcmp(h_str(e, "via"), "webhook") == 0)
            ev = e;
    h_assert_null(ev, "actor");
    h_assert_str(ev, "notification", "major_created");
    h_assert_int(ev, "notification_id", nid);
    h_assert_int(ev, "webhook_id", hook);
    h_assert_int(ev, "attempts", 1);

    /* the single view matches; a delivered notification cannot be retried */
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/notifications/%lld", (long long)nid), H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "status", "delivered");
    h_expect_error(h_req(H, "POST", h_fmt(H, "/v1/notifications/%lld/retry", (long long)nid), H->k.admin, NULL),
                   409, "conflict");
    /* the receiver got exactly one request */
    h_sleep(0.5);
    assert_int_equal(rx_for(t, rec, 4), 1);
}

/* The SLA engine's breach reaches a webhook that wants breaches only; the
 * major_created notification of the same ticket, wanted by nobody, is
 * undeliverable -- and delivered after a webhook for it exists and it is retried. */
static void event_types_filter_deliveries_and_a_notification_nobody_wants_waits_undeliverable(void **state)
{
    (void)state;
    const char *secret = "breach-secret-0123456789";
    fresh_webhook(secret, "[\"breached\"]");
    rx_mode(0, 0, 0);
    h_put_policy(H, "major", "{\"ack_seconds\":1}");
    json_int_t t = major_ticket();
    h_put_policy(H, "major", "{\"ack_seconds\":600}");
    if (rx_wait(t, 1, 8) < 1)
        fail_msg("the ack breach of ticket %lld was not delivered within 8 s", (long long)t);
    struct rec rec[4];
    assert_int_equal(rx_for(t, rec, 4), 1);
    assert_string_equal(rec[0].event, "breached");
    char *body = rx_body(t, 0);
    expect_signature(&rec[0], body, secret);
    json_t *j = h_json(body);
    h_assert_str(j, "type", "breached");
    h_assert_str(j, "data.kind", "ack");
    h_assert_str(j, "data.tier", "line-1");
    assert_true(h_int(j, "data.breach_id") > 0);
    json_decref(j);
    free(body);
    wait_notification(t, "breached", "delivered", 5);

    json_t *n = wait_notification(t, "major_created", "undeliverable", 5);
    assert_int_equal(json_array_size(h_get(n, "deliveries")), 0);
    json_int_t nid = h_int(n, "id");
    h_resp *r = h_req(H, "GET", "/v1/notifications?status=undeliverable&type=major_created", H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "items.0.id", nid);

    fresh_webhook(secret, "[\"major_created\",\"breached\"]");
    r = h_req(H, "POST", h_fmt(H, "/v1/notifications/%lld/retry", (long long)nid), H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "status", "pending");
    wait_notification(t, "major_created", "delivered", 5);
    assert_int_equal(rx_wait(t, 2, 1), 2);
    assert_int_equal(rx_for(t, rec, 4), 2);
    assert_string_equal(rec[1].event, "major_created");
    const char *ids[4];
    assert_int_equal(webhook_events(t, ids, 4), 2);
}

/* Three failures, then success: retried at growing intervals, one delivery id. */
static void a_failing_receiver_gets_retries_at_growing_intervals_under_one_delivery_id(void **state)
{
    (void)state;
    fresh_webhook("retry-secret-0123456789", "[\"major_created\"]");
    rx_mode(3, 0, 0);
    json_int_t t = major_ticket();
    if (rx_wait(t, 4, 10) < 4)
        fail_msg("expected 4 attempts within 10 s, got %d", rx_for(t, NULL, 0));
    json_t *n = wait_notification(t, "major_created", "delivered", 5);
    struct rec rec[8];
    h_sleep(0.3);
    assert_int_equal(rx_for(t, rec, 8), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(rec[i].delivery, rec[0].delivery);
        char want[8];
        snprintf(want, sizeof want, "%d", i + 1);
        assert_string_equal(rec[i].attempt, want);
        assert_int_equal(rec[i].answered, i < 3 ? 500 : 200);
    }
    /* back-off after attempt k: 200 ms * 2^(k-1), times 0.5..1 */
    double gap[3];
    for (int k = 0; k < 3; k++) {
        gap[k] = rec[k + 1].at - rec[k].at;
        double step = BACKOFF_S * (1 << k);
        print_message("gap after attempt %d: %.3f s (allowed %.2f..%.2f + slack)\n", k + 1, gap[k],
                      step / 2, step);
        assert_true(gap[k] >= step / 2 - 0.02);
        assert_true(gap[k] <= step + 1.0);
    }
    assert_true(gap[2] > gap[0]);
    h_assert_int(n, "attempts", 4);
    h_assert_str(n, "deliveries.0.status", "delivered");
    h_assert_int(n, "deliveries.0.attempts", 4);
    h_assert_int(n, "deliveries.0.last_status", 200);
    /* the last failure stays visible */
    assert_non_null(h_str(n, "deliveries.0.last_error"));
    assert_non_null(strstr(h_str(n, "deliveries.0.last_error"), "HTTP 500"));
    /* the status only: the receiver's text is never kept */
    assert_null(strstr(h_str(n, "deliveries.0.last_error"), "receiver says no"));
    const char *ids[4];
    assert_int_equal(webhook_events(t, ids, 4), 1);
    assert_string_equal(ids[0], rec[0].delivery);
}

/* Never succeeds: failed after the maximum attempts, listed, retryable. */
static void after_the_last_attempt_a_delivery_is_failed_listed_and_retryable(void **state)
{
    (void)state;
    fresh_webhook("fail-secret-0123456789", "[\"major_created\"]");
    rx_mode(-1, 0, 0);
    json_int_t t = major_ticket();
    json_t *n = wait_notification(t, "major_created", "failed", 15);
    json_int_t nid = h_int(n, "id");
    h_sleep(1.0); /* no attempt after the last */
    struct rec rec[8];
    assert_int_equal(rx_for(t, rec, 8), MAX_ATTEMPTS);
    h_assert_int(n, "attempts", MAX_ATTEMPTS);
    h_assert_str(n, "deliveries.0.status", "failed");
    h_assert_int(n, "deliveries.0.attempts", MAX_ATTEMPTS);
    h_assert_int(n, "deliveries.0.last_status", 500);
    assert_non_null(strstr(h_str(n, "last_error"), "HTTP 500"));
    h_assert_null(n, "delivered_at");
    const char *ids[4];
    assert_int_equal(webhook_events(t, ids, 4), 0);

    /* visible to admins in the failed list */
    h_resp *r = h_req(H, "GET", "/v1/notifications?status=failed", H->k.admin, NULL);
    h_expect_status(r, 200);
    int found = 0;
    size_t i;
    json_t *it;
    json_array_foreach(h_get(r->json, "items"), i, it) {
        assert_string_equal(h_str(it, "status"), "failed");
        found |= h_int(it, "id") == nid;
    }
    assert_true(found);

    /* the receiver is fixed; a retry delivers the same delivery id */
    rx_mode(0, 0, 0);
    r = h_req(H, "POST", h_fmt(H, "/v1/notifications/%lld/retry", (long long)nid), H->k.admin, "{}");
    h_expect_status(r, 200);
    h_assert_str(r->json, "status", "pending");
    h_assert_str(r->json, "deliveries.0.status", "pending");
    n = wait_notification(t, "major_created", "delivered", 5);
    assert_int_equal(rx_for(t, rec, 8), MAX_ATTEMPTS + 1);
    assert_string_equal(rec[MAX_ATTEMPTS].delivery, rec[0].delivery);
    assert_string_equal(rec[MAX_ATTEMPTS].attempt, "1"); /* a new round */
    assert_int_equal(webhook_events(t, ids, 4), 1);
}

/* Deleting a webhook cancels what it still had to deliver. */
static void deleting_a_webhook_cancels_its_pending_deliveries(void **state)
{
    (void)state;
    json_int_t hook = fresh_webhook("cancel-secret-0123456789", "[\"major_created\"]");
    rx_mode(-1, 0, 0);
    json_int_t t = major_ticket();
    if (rx_wait(t, 1, 5) < 1)
        fail_msg("no first attempt within 5 s");
    h_expect_status(h_req(H, "DELETE", h_fmt(H, "/v1/webhooks/%lld", (long long)hook), H->k.admin, NULL), 204);
    json_t *n = wait_notification(t, "major_created", "undeliverable", 3);
    h_assert_str(n, "deliveries.0.status", "cancelled");
    int seen = rx_for(t, NULL, 0);
    h_sleep(1.5);
    assert_int_equal(rx_for(t, NULL, 0), seen);
}

/* A graceful restart between attempts, then a daemon killed mid-attempt:
 * the delivery arrives anyway, with the same delivery id. */
static void deliveries_survive_a_graceful_restart_and_a_kill_mid_attempt(void **state)
{
    (void)state;
    fresh_webhook("restart-secret-0123456789", "[\"major_created\"]");
    rx_mode(-1, 0, 0);
    json_int_t t = major_ticket();
    if (rx_wait(t, 1, 5) < 1)
        fail_msg("no first attempt within 5 s");
    h_daemon_stop_ok(H);
    rx_mode(0, 0, 0);
    int before = rx_for(t, NULL, 0);
    assert_true(before < MAX_ATTEMPTS);
    h_sleep(1.0);
    assert_int_equal(rx_for(t, NULL, 0), before); /* nobody sends while no daemon runs */
    h_daemon_start(H);
    wait_notification(t, "major_created", "delivered", 10);
    struct rec rec[8];
    int n = rx_for(t, rec, 8);
    assert_int_equal(n, before + 1);
    assert_string_equal(rec[n - 1].delivery, rec[0].delivery);
    assert_int_equal(rec[n - 1].answered, 200);

    /* killed while the receiver holds the request: the lease runs out and
     * the restarted daemon sends it again (at least once) */
    rx_mode(0, 1, 0);
    json_int_t t2 = major_ticket();
    if (rx_wait(t2, 1, 5) < 1)
        fail_msg("no attempt within 5 s");
    kill(h_daemon_pid(H), SIGKILL);
    double killed = h_now();
    assert_int_equal(h_daemon_stop(H), -1); /* reaps it: it died of the signal */
    rx_release();
    h_daemon_start(H);
    if (rx_wait(t2, 2, LEASE_S + 8) < 2)
        fail_msg("the delivery was not sent again within %.0f s of the kill", LEASE_S + 8);
    wait_notification(t2, "major_created", "delivered", 5);
    n = rx_for(t2, rec, 8);
    assert_int_equal(n, 2);
    assert_string_equal(rec[1].delivery, rec[0].delivery);
    assert_string_equal(rec[1].attempt, "2");
    print_message("sent again %.1f s after the kill (lease %.0f s)\n", rec[1].at - killed, LEASE_S);
    assert_true(rec[1].at - rec[0].at >= LEASE_S - 1.5); /* not before the lease ran out */
    const char *ids[4];
    assert_int_equal(webhook_events(t2, ids, 4), 1);
}

/* --webhook-worker off: the daemon serves but delivers nothing; what it
 * raised waits, unrouted, until a daemon with a worker runs. */
static void with_the_worker_off_notifications_wait_for_a_daemon_that_has_one(void **state)
{
    (void)state;
    fresh_webhook("worker-off-secret-0123456789", "[\"major_created\"]");
    rx_mode(0, 0, 0);
    h_daemon_stop_ok(H);
    h_daemon_args(H, (const char *const[]){"--webhook-worker", "off", NULL});
    h_daemon_start(H);
    json_int_t t = major_ticket();
    h_sleep(1.5);
    assert_int_equal(rx_for(t, NULL, 0), 0);
    json_t *n = notification_of(t, "major_created");
    assert_non_null(n);
    h_assert_str(n, "status", "pending");
    h_assert_null(n, "routed_at");
    h_daemon_stop_ok(H);
    h_daemon_args(H, NULL);
    h_daemon_start(H);
    wait_notification(t, "major_created", "delivered", 5);
    assert_int_equal(rx_for(t, NULL, 0), 1);
}

/* Two daemons on one database: every delivery id arrives exactly once. */
static void two_daemons_never_send_a_delivery_twice(void **state)
{
    (void)state;
    enum { N = 40 };
    fresh_webhook("two-daemons-secret-0123456789", "[\"major_created\"]");
    rx_mode(0, 0, 20);
    const char *base2 = NULL;
    pid_t extra = h_extra_start(H, &base2);
    json_int_t tickets[N];
    for (int i = 0; i < N; i++) { /* alternate: each create pokes its own daemon's worker */
        h_resp *r = h_reqj_at(H, i % 2 ? base2 : H->base_url, "POST", "/v1/tickets", H->k.frontdesk,
                              json_pack("{s:s,s:s}", "subject", h_unique(H, "two"), "severity", "major"));
        h_expect_status(r, 201);
        tickets[i] = h_int(r->json, "id");
    }
    for (int i = 0; i < N; i++)
        wait_notification(tickets[i], "major_created", "delivered", 15);
    h_sleep(1.0);
    /* every delivery id exactly once */
    char ids[N][64];
    int total = 0;
    for (int i = 0; i < N; i++) {
        struct rec rec[4];
        int n = rx_for(tickets[i], rec, 4);
        if (n != 1)
            fail_msg("ticket %lld: %d requests (expected exactly 1)", (long long)tickets[i], n);
        snprintf(ids[total++], sizeof ids[0], "%s", rec[0].delivery);
    }
    for (int i = 0; i < total; i++)
        for (int k = i + 1; k < total; k++)
            assert_string_not_equal(ids[i], ids[k]);
    const char *sent = h_sql_value(H, "SELECT count(*) FROM deliveries d JOIN notifications n "
                                      "ON n.id = d.notification_id WHERE n.ticket_id BETWEEN %lld AND %lld "
                                      "AND n.type = 'major_created' AND d.status = 'delivered' AND d.attempts = 1",
                                   (long long)tickets[0], (long long)tickets[N - 1]);
    assert_non_null(sent);
    assert_int_equal(atoi(sent), N);
    assert_int_equal(h_extra_stop(H, extra), 0);
}

/* GET /v1/notifications pages newest first with an opaque cursor. */
static void notifications_page_newest_first_with_an_opaque_cursor(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/notifications?limit=200", H->k.admin, NULL);
    h_expect_status(r, 200);
    size_t all = json_array_size(h_get(r->json, "items"));
    assert_true(all >= 5);
    json_int_t prev = INT64_MAX;
    size_t seen = 0;
    const char *cursor = NULL;
    do {
        r = h_req(H, "GET", cursor ? h_fmt(H, "/v1/notifications?limit=2&cursor=%s", h_urlenc(H, cursor))
                                   : "/v1/notifications?limit=2", H->k.admin, NULL);
        h_expect_status(r, 200);
        size_t i;
        json_t *it;
        assert_true(json_array_size(h_get(r->json, "items")) <= 2);
        json_array_foreach(h_get(r->json, "items"), i, it) {
            assert_true(h_int(it, "id") < prev);
            prev = h_int(it, "id");
            seen++;
        }
        cursor = h_str(r->json, "next_cursor");
    } while (cursor && seen < 1000);
    assert_int_equal(seen, all);
    h_assert_null(r->json, "next_cursor");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(webhook_and_notification_routes_are_for_admins_only, no_webhooks),
        cmocka_unit_test_setup(bad_webhook_input_is_400_naming_the_field, no_webhooks),
        cmocka_unit_test_setup(a_webhook_secret_is_shown_once_and_delete_deactivates_it, no_webhooks),
        cmocka_unit_test(a_major_create_is_delivered_at_once_signed_with_every_header),
        cmocka_unit_test_setup(event_types_filter_deliveries_and_a_notification_nobody_wants_waits_undeliverable, defaults),
        cmocka_unit_test(a_failing_receiver_gets_retries_at_growing_intervals_under_one_delivery_id),
        cmocka_unit_test(after_the_last_attempt_a_delivery_is_failed_listed_and_retryable),
        cmocka_unit_test(deleting_a_webhook_cancels_its_pending_deliveries),
        cmocka_unit_test(deliveries_survive_a_graceful_restart_and_a_kill_mid_attempt),
        cmocka_unit_test(with_the_worker_off_notifications_wait_for_a_daemon_that_has_one),
        cmocka_unit_test(two_daemons_never_send_a_delivery_twice),
        cmocka_unit_test_setup(notifications_page_newest_first_with_an_opaque_cursor, some_notifications),
    };
    return h_run_group_tests(tests, setup, teardown);
}
