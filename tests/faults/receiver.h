/* receiver.h — a webhook receiver for the fault tests: a thread on a
 * loopback port that answers every request 200 and counts them.  It only has
 * to show that the daemons' webhook workers keep delivering through a fault;
 * what a delivery contains is test_webhooks.c's business.  Requests are
 * answered one at a time, each with Connection: close. */
#ifndef ESC_FAULTS_RECEIVER_H
#define ESC_FAULTS_RECEIVER_H

typedef struct fr_receiver fr_receiver;

/* Listen on 127.0.0.1 (a free port) and start answering.  NULL on failure
 * (message on stderr). */
fr_receiver *fr_start(void);
/* "http://127.0.0.1:PORT/hook" (owned by the receiver). */
const char *fr_url(const fr_receiver *r);
/* Requests answered so far. */
long fr_count(fr_receiver *r);
/* Stop the thread and free everything (NULL is fine). */
void fr_stop(fr_receiver *r);

#endif
