/* clock.h — the monotonic clock: every timeout, wait and duration in
 * escalated is measured with it (deadlines use the database's clock). */
#ifndef ESCALATED_BASE_CLOCK_H
#define ESCALATED_BASE_CLOCK_H

#include <pthread.h>
#include <time.h>

double escp_mono_now(void);                      /* seconds, arbitrary origin */
struct timespec escp_mono_after(double seconds); /* now + seconds, for timedwait */
void escp_cond_init_mono(pthread_cond_t *cv);    /* a condvar that waits on it */

#endif
