/* harness_receiver.c — a recording HTTP server on loopback (harness_receiver.h). */
#include "harness_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RX_MAX 4096

struct h_rx {
    int fd, port, stop;
    char base[48];
    pthread_t th;
    pthread_mutex_t mu;
    struct h_rx_req reqs[RX_MAX];
    int n;
    h_rx_reply_fn reply;
    void *arg;
};

static int read_all(int fd, struct h_rx_req *q)
{
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap + 1), *end = NULL;
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
    size_t head_len = (size_t)(end - buf) + 4, want = 0;
    for (char *p = buf; p && p < end; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL)
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            want = strtoul(p + 15, NULL, 10);
    if (want > (1u << 20))
        goto fail;
    q->body = malloc(want + 1);
    if (!q->body)
        goto fail;
    size_t have = len - head_len < want ? len - head_len : want;
    memcpy(q->body, buf + head_len, have);
    while (have < want) {
        ssize_t n = recv(fd, q->body + have, want - have, 0);
        if (n <= 0)
            goto fail;
        have += (size_t)n;
    }
    q->body[want] = '\0';
    q->body_len = want;
    buf[head_len - 2] = '\0';
    q->head = buf;
    size_t ml = strcspn(buf, " "), tl = strcspn(buf + ml + 1, " ");
    q->method = strndup(buf, ml);
    q->target = strndup(buf + ml + 1, tl);
    return q->method && q->target ? 0 : -1;
fail:
    free(buf);
    free(q->body);
    q->body = NULL;
    return -1;
}

void h_rx_header(const struct h_rx_req *req, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(req->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)(vl < cap ? vl : cap - 1), v);
            return;
        }
    }
}

static void serve(h_rx *rx, int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct h_rx_req q = {0};
    if (read_all(fd, &q) != 0) {
        free(q.head);
        free(q.method);
        free(q.target);
        free(q.body);
        return;
    }
    q.at = h_now();
    int status = 200;
    char body[4096] = "ok", headers[1024] = "";
    pthread_mutex_lock(&rx->mu);
    int idx = rx->n;
    pthread_mutex_unlock(&rx->mu);
    if (rx->reply)
        rx->reply(rx->arg, &q, idx, &status, body, sizeof body, headers, sizeof headers);
    q.status = status;
    char resp[6144];
    int len = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                                          "Connection: close\r\n\r\n%s",
                       status, body[0] == '{' ? "application/json" : "text/plain", strlen(body), headers, body);
    if (len > 0) {
        ssize_t ignored = send(fd, resp, (size_t)len, MSG_NOSIGNAL);
        (void)ignored;
    }
    pthread_mutex_lock(&rx->mu);
    if (rx->n < RX_MAX)
        rx->reqs[rx->n++] = q;
    else
        free(q.body), free(q.head), free(q.method), free(q.target);
    pthread_mutex_unlock(&rx->mu);
}

static void *loop(void *arg)
{
    h_rx *rx = arg;
    for (;;) {
        pthread_mutex_lock(&rx->mu);
        int stop = rx->stop;
        pthread_mutex_unlock(&rx->mu);
        if (stop)
            return NULL;
        struct pollfd p = {rx->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(rx->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve(rx, c);
        close(c);
    }
}

h_rx *h_rx_start(h_rx_reply_fn reply, void *arg)
{
    h_rx *rx = calloc(1, sizeof *rx);
    assert_non_null(rx);
    pthread_mutex_init(&rx->mu, NULL);
    rx->reply = reply;
    rx->arg = arg;
    rx->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(rx->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(rx->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(rx->fd, 64), 0);
    assert_int_equal(getsockname(rx->fd, (struct sockaddr *)&a, &al), 0);
    rx->port = ntohs(a.sin_port);
    snprintf(rx->base, sizeof rx->base, "http://127.0.0.1:%d", rx->port);
    assert_int_equal(pthread_create(&rx->th, NULL, loop, rx), 0);
    return rx;
}

void h_rx_stop(h_rx *rx)
{
    if (!rx)
        return;
    pthread_mutex_lock(&rx->mu);
    rx->stop = 1;
    pthread_mutex_unlock(&rx->mu);
    pthread_join(rx->th, NULL);
    close(rx->fd);
    for (int i = 0; i < rx->n; i++) {
        free(rx->reqs[i].body);
        free(rx->reqs[i].head);
        free(rx->reqs[i].method);
        free(rx->reqs[i].target);
    }
    pthread_mutex_destroy(&rx->mu);
    free(rx);
}

const char *h_rx_base(h_rx *rx) { return rx->base; }

int h_rx_count(h_rx *rx)
{
    pthread_mutex_lock(&rx->mu);
    int n = rx->n;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

const struct h_rx_req *h_rx_get(h_rx *rx, int i)
{
    pthread_mutex_lock(&rx->mu);
    const struct h_rx_req *q = i >= 0 && i < rx->n ? &rx->reqs[i] : NULL;
    pthread_mutex_unlock(&rx->mu);
    return q;
}

int h_rx_wait(h_rx *rx, int count, double seconds)
{
    double until = h_now() + seconds;
    int n;
    while ((n = h_rx_count(rx)) < count && h_now() < until)
        h_sleep(0.02);
    return n;
}
