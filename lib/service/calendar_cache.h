/* calendar_cache.h — the callback deadline from the stored business calendar,
 * with the parsed calendar and its time zone kept between resolves.
 *
 * Parsing the calendar document and loading its TZif file costs tens of
 * microseconds a resolve; the document changes a few times a year.  So the
 * last calendar parsed is kept, keyed by the document itself: every resolve
 * still reads the document in its own transaction and compares it with the
 * cached one, so a PUT /v1/calendar by any daemon is used by the next
 * resolve, never a stale one (docs/decisions.md, "Time zones from one
 * source", has the figures).
 */
#ifndef ESCALATED_CALENDAR_CACHE_H
#define ESCALATED_CALENDAR_CACHE_H

#include <jansson.h>

#include "base/error.h"
#include "core/deadline.h"
#include "core/ticket.h"

/* The callback deadline for a ticket resolved at `resolved_at`, on the
 * calendar `doc` (borrowed: the document as stored, in the SPEC's form):
 * the end of business of the `business_days`-th working day after the
 * local day of the resolution.  *out is ESC_TIME_NULL when the calendar has
 * no working day ahead.  A document that does not parse (it was validated
 * when stored, so only a newer daemon's document could) is replaced by the
 * default calendar, with one error in the log.  Thread-safe.  0, or -1 with
 * err set (out of memory, or no zone data at all). */
int escp_calendar_callback_due(const json_t *doc, esc_time_t resolved_at, int business_days,
                               esc_time_t *out, esc_error_t *err);

/* Forget the cached calendar (tests, benchmarks). */
void escp_calendar_cache_clear(void);

#endif
