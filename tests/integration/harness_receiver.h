/* harness_receiver.h — a small HTTP server on loopback for the tests of
 * what the daemon sends out (alerts, webhooks): it records every request
 * and answers through a callback, so a test can imitate a platform (its
 * answers, its rate limits, its signature checks).
 *
 * One thread accepts and serves the connections one at a time (enough for
 * the daemon's few requests a second); requests are kept until h_rx_stop.
 * h_rx_start/h_rx_stop assert: call them from the test thread. */
#ifndef ESC_TEST_HARNESS_RECEIVER_H
#define ESC_TEST_HARNESS_RECEIVER_H

#include <pthread.h>
#include <stddef.h>

#include "harness.h"

struct h_rx_req {
    char *method;   /* "POST" */
    char *target;   /* "/robot/send?access_token=..." */
    char *head;     /* the request line and headers, CRLF-separated */
    char *body;     /* NUL-terminated */
    size_t body_len;
    double at;      /* h_now() when it was read */
    int status;     /* what was answered */
};

/* The answer to a request: *status (default 200), body[cap] (default "ok"),
 * headers[hcap] (extra header lines, each ending in CRLF; default none).
 * Called on the receiver's thread; `n` is the request's index. */
typedef void (*h_rx_reply_fn)(void *arg, const struct h_rx_req *req, int n, int *status, char *body,
                              size_t cap, char *headers, size_t hcap);

typedef struct h_rx h_rx;
h_rx *h_rx_start(h_rx_reply_fn reply, void *arg);
void h_rx_stop(h_rx *rx);
const char *h_rx_base(h_rx *rx);      /* "http://127.0.0.1:PORT" */
int h_rx_count(h_rx *rx);
/* Request i (0-based), as recorded; NULL when there is none yet. */
const struct h_rx_req *h_rx_get(h_rx *rx, int i);
/* Wait until at least `count` requests came, at most `seconds`; the count. */
int h_rx_wait(h_rx *rx, int count, double seconds);
/* A header's value of a recorded request (copied into out[cap]); "" if absent. */
void h_rx_header(const struct h_rx_req *req, const char *name, char *out, size_t cap);


/* The pieces, for a test whose receiver must do what this one does not
 * (answer several connections at once, hold a request until released):
 * a listening socket on 127.0.0.1 (-1 on failure; *port set), one request
 * read from a connection into a zeroed *q (0 or -1; h_rx_req_free it either
 * way), and a header's value from a request head. */
int h_rx_listen_loopback(int *port);
int h_rx_read(int fd, struct h_rx_req *q);
void h_rx_req_free(struct h_rx_req *q);
void h_rx_head_value(const char *head, const char *name, char *out, size_t cap);

/* A receiver that serves every connection on its own thread (one that holds
 * a request must still answer the others): h_rx_conns_accept is the accept
 * thread, pthread_create(&th, NULL, h_rx_conns_accept, &conns).  It polls
 * *stop (under *mu) every 50 ms; for each connection, under *mu, counts
 * *active up, calls serve(fd) on a new thread, closes fd, counts *active down
 * and broadcasts *cv, so that the test's stop can wait for *active to be 0. */
struct h_rx_conns {
    int fd;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    const int *stop;
    int *active;
    void (*serve)(int fd);
};
void *h_rx_conns_accept(void *conns);

#endif
