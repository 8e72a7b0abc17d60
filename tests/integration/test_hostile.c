/* test_hostile.c — slow and hostile clients cannot lock the daemon out
 * (docs/security.md, "Slow and hostile clients"): 1,100 connections that
 * each sent half a request do not delay a normal one and are closed after
 * the idle timeout; one address cannot hold more than its share; a body too
 * large, or one sent with a token that fails, is refused before it is read;
 * failed tokens from one address end in 429; paths are matched on their raw
 * bytes; only so many long polls wait at once.
 *
 * The daemon runs with its defaults (10 s idle timeout, 64 connections per
 * address, 20 failed tokens a minute; the long-poll cap test restarts it
 * with 16).  The many connections come from many loopback addresses
 * (127.0.1.x), as from many clients. */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOW_CONNS 1100
#define PER_ADDRESS 50      /* below the daemon's 64 per address */
#define IDLE_TIMEOUT_S 10.0 /* the daemon's default */
#define PER_IP_LIMIT 64
#define AUTH_FAIL_LIMIT 20

static h_ctx *H;

static int setup(void **state)
{
    (void)state;
    /* 1,100 client sockets here, as many in the daemon (a child: it inherits
     * the limit, and raises it itself too) */
    long lim = h_nofile_at_least(SLOW_CONNS + 2 * PER_IP_LIMIT + 256);
    if (lim < SLOW_CONNS + 2 * PER_IP_LIMIT + 256) {
        print_error("RLIMIT_NOFILE cannot be raised above 1,100 (it is %ld)\n", lim);
        return -1;
    }
    H = h_start("test_hostile", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

static const char HALF_REQUEST[] = "GET /v1/tickets HTTP/1.1\r\nHost: x\r\n";

/* Open n connections from `src` addresses (PER_ADDRESS each, from 127.0.1.first)
 * that each send half a request; fails the test if one cannot. */
static void open_half_requests(int *fds, int n, int first)
{
    char src[32];
    for (int i = 0; i < n; i++) {
        snprintf(src, sizeof src, "127.0.1.%d", first + i / PER_ADDRESS);
        fds[i] = h_raw_connect(H, src);
        if (fds[i] < 0 || h_raw_send(fds[i], HALF_REQUEST, sizeof HALF_REQUEST - 1) != 0)
            fail_msg("connection %d from %s: %s", i, src, strerror(errno));
    }
}

/* Wait until the daemon has closed every fd (reads end of file or a reset),
 * up to `seconds`; closes them on our side too.  Returns how many it closed. */
static int wait_closed(int *fds, int n, double seconds)
{
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    int closed = 0;
    double end = h_now() + seconds;
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    while (closed < n && h_now() < end) {
        int rc = poll(p, (nfds_t)n, 200);
        if (rc < 0 && errno != EINTR)
            break;
        for (int i = 0; rc > 0 && i < n; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            char b[256];
            ssize_t got = recv(p[i].fd, b, sizeof b, MSG_DONTWAIT);
            if (got > 0)
                continue; /* an answer to half a request would be a bug; it still must close */
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            close(p[i].fd);
            fds[i] = p[i].fd = -1;
            closed++;
        }
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    free(p);
    return closed;
}

/* Connections the daemon has already closed (without blocking). */
static int count_closed_now(const int *fds, int n)
{
    int closed = 0;
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        char b;
        if (poll(&p, 1, 0) == 1 && recv(fds[i], &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
            closed++;
    }
    return closed;
}

static void slow_clients_do_not_lock_out(void **state)
{
    (void)state;
    static int fds[SLOW_CONNS];
    double t0 = h_now();
    open_half_requests(fds, SLOW_CONNS, 1);
    double opened = h_now() - t0;
    h_sleep(0.5);
    int early = count_closed_now(fds, SLOW_CONNS);
    if (early) {
        h_daemon_log_tail(H, 20);
        fail_msg("%d of %d half-sent connections were closed within 0.5 s", early, SLOW_CONNS);
    }
    /* a normal client is served at once, several times, reading and writing */
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        h_resp *r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL);
        h_expect_status(r, 200);
        worst = r->seconds > worst ? r->seconds : worst;
        json_t *t = h_create_ticket(H, NULL, NULL);
        assert_non_null(t);
    }
    h_resp *r = h_req(H, "GET", "/healthz", NULL, NULL);
    h_expect_status(r, 200);
    worst = r->seconds > worst ? r->seconds : worst;
    print_message("%d half-sent connections held (opened in %.3f s); the slowest normal request "
                  "took %.3f s\n", SLOW_CONNS, opened, worst);
    assert_true(worst < 1.0);

    /* the daemon closes them once they have idled for its timeout */
    t0 = h_now();
    int closed = wait_closed(fds, SLOW_CONNS, IDLE_TIMEOUT_S + 10);
    double took = h_now() - t0 + 0.5 + opened;
    print_message("the daemon closed %d of them %.1f s after they were opened\n", closed, took);
    assert_int_equal(closed, SLOW_CONNS);
    assert_true(took >= IDLE_TIMEOUT_S - 1);
}

/* One address holds at most 64 connections; others are not affected. */
static void per_address_limit(void **state)
{
    (void)state;
    int fds[PER_IP_LIMIT + 1];
    for (int i = 0; i < PER_IP_LIMIT; i++) {
        fds[i] = h_raw_connect(H, "127.0.2.1");
        assert_true(fds[i] >= 0);
        assert_int_equal(h_raw_send(fds[i], HALF_REQUEST, sizeof HALF_REQUEST - 1), 0);
    }
    h_sleep(0.3);
    assert_int_equal(count_closed_now(fds, PER_IP_LIMIT), 0);
    /* the 65th is accepted by the kernel and closed by the daemon at once */
    fds[PER_IP_LIMIT] = h_raw_connect(H, "127.0.2.1");
    assert_true(fds[PER_IP_LIMIT] >= 0);
    h_raw_send(fds[PER_IP_LIMIT], HALF_REQUEST, sizeof HALF_REQUEST - 1);
    char buf[256];
    int closed = 0;
    h_raw_read(fds[PER_IP_LIMIT], buf, sizeof buf, 2.0, &closed);
    assert_int_equal(closed, 1);
    assert_string_equal(buf, "");
    /* another address is served */
    int other = h_raw_connect(H, "127.0.2.2");
    assert_true(other >= 0);
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(h_raw_send(other, get, sizeof get - 1), 0);
    h_raw_read(other, buf, sizeof buf, 2.0, &closed);
    assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    close(other);
    for (int i = 0; i <= PER_IP_LIMIT; i++)
        close(fds[i]);
}

/* Send the head of a request (no body) from a fresh connection and read the
 * answer for up to 2 s; the answer is harness-owned text. */
static const char *head_only(const char *method, const char *path, const char *token,
                             const char *extra, int *closed)
{
    int fd = h_raw_connect(H, NULL);
    assert_true(fd >= 0);
    const char *head = h_fmt(H, "%s %s HTTP/1.1\r\nHost: x\r\n%s%s%s%s\r\n", method, path,
                             token ? "Authorization: Bearer " : "", token ? token : "",
                             token ? "\r\n" : "", extra);
    assert_int_equal(h_raw_send(fd, head, strlen(head)), 0);
    char *buf = calloc(1, 8192);
    double t0 = h_now();
    h_raw_read(fd, buf, 8192, 2.0, closed);
    double took = h_now() - t0;
    close(fd);
    const char *out = h_fmt(H, "%s", buf);
    free(buf);
    if (took >= 2.0 && *closed)
        print_error("%s %s: closed only after %.1f s\n", method, path, took);
    return out;
}

#define JSON_BODY(n) "Content-Type: application/json\r\nContent-Length: " #n "\r\n"

/* Failing requests with a body are answered from their headers: the body
 * is never sent here, and the answer comes anyway, and the connection ends. */
static void refused_before_the_body(void **state)
{
    (void)state;
    int closed;
    const char *a;
    /* a Content-Length over 1 MiB */
    a = head_only("POST", "/v1/tickets", H->k.frontdesk, JSON_BODY(10000000), &closed);
    assert_true(strncmp(a, "HTTP/1.1 413", 12) == 0);
    assert_non_null(strstr(a, "payload_too_large"));
    assert_int_equal(closed, 1);
    /* a forbidden role, with a large (allowed) body announced */
    a = head_only("POST", "/v1/webhooks", H->k.agent[1], JSON_BODY(900000), &closed);
    assert_true(strncmp(a, "HTTP/1.1 403", 12) == 0);
    assert_non_null(strstr(a, "forbidden"));
    assert_int_equal(closed, 1);
    /* no token, an unknown token */
    a = head_only("POST", "/v1/tickets", NULL, JSON_BODY(900000), &closed);
    assert_true(strncmp(a, "HTTP/1.1 401", 12) == 0);
    a = head_only("POST", "/v1/tickets", "not-a-token-at-all", JSON_BODY(900000), &closed);
    assert_true(strncmp(a, "HTTP/1.1 401", 12) == 0);
    /* no such route, a wrong method */
    a = head_only("POST", "/v1/nothing", H->k.frontdesk, JSON_BODY(900000), &closed);
    assert_true(strncmp(a, "HTTP/1.1 404", 12) == 0);
    a = head_only("PUT", "/v1/tickets", H->k.frontdesk, JSON_BODY(900000), &closed);
    assert_true(strncmp(a, "HTTP/1.1 405", 12) == 0);
    /* not JSON */
    a = head_only("POST", "/v1/tickets", H->k.frontdesk,
                  "Content-Type: text/plain\r\nContent-Length: 900000\r\n", &closed);
    assert_true(strncmp(a, "HTTP/1.1 415", 12) == 0);
    /* a request that passes waits for its body (none comes: no answer) */
    a = head_only("POST", "/v1/tickets", H->k.frontdesk, JSON_BODY(20), &closed);
    assert_string_equal(a, "");
    assert_int_equal(closed, 0);
    /* and the daemon is fine */
    h_expect_status(h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL), 200);
}

/* A chunked body passing 1 MiB ends the connection; nothing is created. */
static void chunked_body_over_the_limit(void **state)
{
    (void)state;
    long long before = h_sql_ll(H, "SELECT count(*) FROM tickets");
    int fd = h_raw_connect(H, NULL);
    assert_true(fd >= 0);
    const char *head = h_fmt(H, "POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                             H->k.frontdesk);
    assert_int_equal(h_raw_send(fd, head, strlen(head)), 0);
    static char chunk[65536 + 16];
    int n = snprintf(chunk, sizeof chunk, "%x\r\n", 65536);
    memset(chunk + n, 'a', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    int sent = 0, refused = 0;
    for (; sent < 64 && !refused; sent++) /* up to 4 MiB */
        refused = h_raw_send(fd, chunk, (size_t)n + 65536 + 2) != 0;
    char buf[512];
    int closed = 0;
    h_raw_read(fd, buf, sizeof buf, 5.0, &closed);
    close(fd);
    print_message("chunked: %d chunks of 64 KiB sent before the daemon closed (%s)\n", sent,
                  refused ? "send failed" : "read end of file");
    assert_true(closed || refused);
    assert_true(strncmp(buf, "HTTP/1.1 2", 10) != 0);
    /* the daemon stopped reading at the limit, not at the end of what was sent */
    FILE *f = fopen(H->log_path, "r");
    assert_non_null(f);
    static char log[1 << 20];
    size_t n_log = fread(log, 1, sizeof log - 1, f);
    fclose(f);
    log[n_log] = '\0';
    assert_non_null(strstr(log, "chunked body over 1 MiB; closing the connection"));
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets"), before);
}

/* A raw request with Connection: close from `src`; the answer's status. */
static int status_from(const char *src, const char *path, const char *token, char *answer, size_t cap)
{
    int fd = h_raw_connect(H, src);
    assert_true(fd >= 0);
    const char *req = h_fmt(H, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                               "Connection: close\r\n\r\n", path, token);
    assert_int_equal(h_raw_send(fd, req, strlen(req)), 0);
    int closed;
    h_raw_read(fd, answer, cap, 5.0, &closed);
    close(fd);
    return strncmp(answer, "HTTP/1.1 ", 9) == 0 ? atoi(answer + 9) : -1;
}

static void failed_tokens_rate_limited(void **state)
{
    (void)state;
    const char *src = "127.0.3.1";
    char answer[2048];
    for (int i = 0; i < AUTH_FAIL_LIMIT; i++) {
        const char *bad = h_fmt(H, "guessed-token-%04d-xxxxxxxxxxxxxxxx", i);
        int st = status_from(src, "/v1/tickets?limit=1", bad, answer, sizeof answer);
        if (st != 401)
            fail_msg("bad token %d: HTTP %d, want 401: %.200s", i, st, answer);
    }
    /* now even a good token from that address is refused, unread */
    int st = status_from(src, "/v1/tickets?limit=1", H->k.manager, answer, sizeof answer);
    if (st != 429)
        fail_msg("after %d bad tokens: HTTP %d, want 429: %.300s", AUTH_FAIL_LIMIT, st, answer);
    assert_non_null(strstr(answer, "rate_limited"));
    const char *ra = strcasestr(answer, "\r\nRetry-After: ");
    assert_non_null(ra);
    int secs = atoi(ra + 15);
    assert_true(secs >= 1 && secs <= 60);
    /* public routes still answer it; other addresses are not affected */
    int fd = h_raw_connect(H, src);
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int closed;
    assert_int_equal(h_raw_send(fd, get, sizeof get - 1), 0);
    h_raw_read(fd, answer, sizeof answer, 2.0, &closed);
    close(fd);
    assert_true(strncmp(answer, "HTTP/1.1 200", 12) == 0);
    assert_int_equal(status_from("127.0.3.2", "/v1/tickets?limit=1", H->k.manager, answer, sizeof answer), 200);
    h_expect_status(h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL), 200);
}

static void raw_paths(void **state)
{
    (void)state;
    json_int_t id = h_int(h_create_ticket_subject(H, "宽带断网 raw path", NULL), "id");
    h_expect_status(h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), H->k.manager, NULL), 200);
    const char *bad[] = {
        "/v1/tickets/%lld%%00",          /* the NUL that once answered ticket 1 */
        "/v1/tickets/%lld%%2F",          /* a slash inside the segment */
        "/v1/tickets/%%3%lld",           /* the id with its first digit escaped (%31 is "1") */
        "/v1/tickets/%lld%%20",
        "/v1/tickets/%lldx",
        "/v1/tickets/-%lld",
        "/v1/tickets/%lld/events%%00",
        "/v1/ticket%%73/%lld",           /* "tickets" spelled with an escape */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *path = h_fmt(H, bad[i], (long long)id);
        h_resp *r = h_req(H, "GET", path, H->k.manager, NULL);
        if (!h_check_error(r, 404, "not_found", NULL, path))
            fail();
    }
    h_expect_error(h_req(H, "POST", "/v1/queues/line%2D1/claim", H->k.agent[1], NULL), 404, "not_found");
    /* query parameters are still decoded */
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?q=%s", h_urlenc(H, "宽带断网 raw")), H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_int_equal(h_int(r->json, "items.0.id"), id);
}

/* Long polls: at most --max-long-polls (16 here; the default is a much
 * higher safety bound, as a waiting poll holds no thread) wait at once; the
 * rest are answered at once, as with wait=0; other requests are served.
 * The polls start 30 ms apart, so that which of them wait is known. */
struct poll_arg {
    const char *token;
    long status;
    double seconds;
};

static void *long_poll(void *arg)
{
    struct poll_arg *p = arg;
    h_resp *r = h_req(H, "POST", "/v1/queues/line-3/claim?wait=2", p->token, NULL);
    p->status = r->status;
    p->seconds = r->seconds;
    return NULL;
}

static void long_polls_capped(void **state)
{
    (void)state;
    enum { N = 22, CAP = 16 };
    h_daemon_args(H, (const char *const[]){"--max-long-polls", "16", NULL});
    h_daemon_restart(H);
    while (h_req(H, "POST", "/v1/queues/line-3/claim", H->k.agent[3], NULL)->status == 200)
        ; /* an empty queue */
    struct poll_arg p[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        p[i] = (struct poll_arg){h_key(H, "agent", 3, h_fmt(H, "poller %d", i)), 0, 0};
    for (int i = 0; i < N; i++) {
        pthread_create(&th[i], NULL, long_poll, &p[i]);
        h_sleep(0.03);
    }
    h_resp *r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_true(r->seconds < 1.0);
    int waited = 0, at_once = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].status, 204);
        waited += p[i].seconds >= 1.5;
        at_once += p[i].seconds < 1.0;
    }
    print_message("%d long polls: %d waited, %d answered at once\n", N, waited, at_once);
    assert_int_equal(waited, CAP);
    assert_int_equal(at_once, N - CAP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_clients_do_not_lock_out),
        cmocka_unit_test(per_address_limit),
        cmocka_unit_test(refused_before_the_body),
        cmocka_unit_test(chunked_body_over_the_limit),
        cmocka_unit_test(failed_tokens_rate_limited),
        cmocka_unit_test(raw_paths),
        cmocka_unit_test(long_polls_capped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
