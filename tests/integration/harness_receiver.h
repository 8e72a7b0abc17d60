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

#endif
