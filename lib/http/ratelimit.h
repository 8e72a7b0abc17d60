/* ratelimit.h — failed bearer tokens counted per client address.
 *
 * A fixed table of slots (no allocation after escp_ratelimit_new), hashed by
 * address: an IPv4 address is one key (an IPv4-mapped IPv6 address counts as
 * its IPv4 address), an IPv6 address counts by its /64 network, since one host
 * usually holds a whole /64 and could otherwise rotate through it.  Each key
 * has a fixed window that opens with its first failure: once `limit` failures
 * fall within `window_s` seconds, the address is refused until the window
 * ends.  When the slots a key may use are all taken by live windows, the
 * oldest window is dropped: the table stays bounded whatever the number of
 * attacking addresses, at the price of forgetting some of them.
 *
 * Thread-safe.  `now` is a monotonic time in seconds passed by the caller, so
 * tests can drive the clock.
 */
#ifndef ESCALATED_RATELIMIT_H
#define ESCALATED_RATELIMIT_H

#include <stddef.h>
#include <sys/socket.h>

struct escp_ratelimit;

/* limit: failures allowed per window (0 = never refuse); window_s > 0;
 * slots: table size (rounded up to a multiple of the probe length).  NULL
 * when out of memory. */
struct escp_ratelimit *escp_ratelimit_new(int limit, double window_s, size_t slots);
void escp_ratelimit_free(struct escp_ratelimit *rl); /* NULL-safe */

/* Seconds until `sa` may present a token again (> 0) when it has used up its
 * failures, else 0.  An address family other than IPv4/IPv6 is never refused. */
double escp_ratelimit_blocked(struct escp_ratelimit *rl, const struct sockaddr *sa, double now);
/* Count one failed token from `sa`; 1 when that failure used up the
 * address's allowance (for the log), else 0. */
int escp_ratelimit_fail(struct escp_ratelimit *rl, const struct sockaddr *sa, double now);

#endif
