/* receiver.c — see receiver.h. */
#include "receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct fr_receiver {
    int fd;
    char url[64];
    pthread_t thread;
    atomic_int stop;
    atomic_long count;
};

/* Read one request (headers, then Content-Length bytes of body) and answer
 * 200.  A client that stalls is dropped after the socket's 2 s timeout. */
static void serve_one(struct fr_receiver *r, int c)
{
    struct timeval tv = {.tv_sec = 2};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[16384];
    size_t got = 0;
    char *end = NULL;
    while (!end && got < sizeof buf - 1) {
        ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            return;
        got += (size_t)n;
        buf[got] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return;
    size_t body_have = got - (size_t)(end + 4 - buf), body_len = 0;
    for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            body_len = strtoul(line + 17, NULL, 10);
    while (body_have < body_len) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0)
            return;
        body_have += (size_t)n;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (send(c, ok, sizeof ok - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof ok - 1))
        atomic_fetch_add(&r->count, 1);
}

static void *run(void *arg)
{
    struct fr_receiver *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(r, c);
        close(c);
    }
    return NULL;
}

fr_receiver *fr_start(void)
{
    struct fr_receiver *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(r->fd, 128) != 0 ||
        getsockname(r->fd, (struct sockaddr *)&a, &len) != 0) {
        fprintf(stderr, "receiver: cannot listen on loopback: %s\n", strerror(errno));
        if (r->fd >= 0)
            close(r->fd);
        free(r);
        return NULL;
    }
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d/hook", ntohs(a.sin_port));
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        fprintf(stderr, "receiver: cannot start its thread\n");
        close(r->fd);
        free(r);
        return NULL;
    }
    return r;
}

const char *fr_url(const fr_receiver *r) { return r->url; }

long fr_count(fr_receiver *r) { return atomic_load(&r->count); }

void fr_stop(fr_receiver *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    close(r->fd);
    free(r);
}
