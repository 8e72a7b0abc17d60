/* escalated — the pure parts of the webhook contract (docs/webhooks.md):
 * the signature a receiver checks and the retry back-off.  PURE: no clock,
 * no randomness of its own, no I/O.
 *
 *  signature: "sha256=" followed by the lowercase hex HMAC-SHA256, keyed with
 *             the endpoint's secret, of "<timestamp>.<body>" where timestamp
 *             is the decimal Unix time sent in X-Escalated-Timestamp and body
 *             the exact bytes of the request body.
 *  back-off:  after the n-th failed attempt (n >= 1) the next one waits
 *             min(base * 2^(n-1), cap) * (0.5 + 0.5 * u) seconds, u in [0, 1)
 *             being the caller's random number ("equal jitter"): never less
 *             than half the exponential step, never more than the cap.
 */
#ifndef ESCALATED_WEBHOOK_H
#define ESCALATED_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define ESC_WEBHOOK_SIGNATURE_LEN 71 /* "sha256=" + 64 hex digits */

/* Write the NUL-terminated signature into out[ESC_WEBHOOK_SIGNATURE_LEN + 1].
 * Returns 0, or -1 (out = "") if the HMAC cannot be computed. */
int esc_webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t body_len,
                     char out[ESC_WEBHOOK_SIGNATURE_LEN + 1]);

/* Seconds to wait after failed attempt number `attempt` (1 = the first),
 * with base_s > 0, cap_s >= base_s and u in [0, 1) (clamped). */
double esc_webhook_backoff(int attempt, double base_s, double cap_s, double u);

#endif
