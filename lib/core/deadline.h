/* escalated — deadline and business-calendar arithmetic (SPEC section 4).
 *
 * PURE once loaded: nothing here reads the clock or the database.  Times are
 * esc_time_t, microseconds since the Unix epoch, UTC.  Time zones come from
 * TZif data (RFC 8536, versions 1-3, including the POSIX TZ footer rule used
 * past the last transition); esc_tz_load() is the only function that touches
 * the file system (it reads /usr/share/zoneinfo/<name>, or $TZDIR/<name>).
 *
 * Ownership: esc_tz_load/esc_tz_parse return a new zone, freed with
 * esc_tz_free (NULL-safe).  A calendar owns its zone and its date arrays;
 * esc_calendar_free releases them (NULL-safe, leaves the struct zeroed).
 * esc_calendar_default and esc_calendar_from_json overwrite *cal without
 * freeing what it held; on failure they leave it zeroed (freeing it again is
 * harmless).
 */
#ifndef ESCALATED_DEADLINE_H
#define ESCALATED_DEADLINE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"

typedef int64_t esc_time_t; /* microseconds since 1970-01-01T00:00:00Z */
#define ESC_USEC 1000000LL

struct esc_tz;

/* name must be an IANA name: [A-Za-z0-9_+-] segments joined by '/', no "..",
 * at most 64 bytes; otherwise ESC_ERR_VALIDATION on field "timezone". */
struct esc_tz *esc_tz_load(const char *name, esc_error_t *err);
struct esc_tz *esc_tz_parse(const unsigned char *data, size_t len, esc_error_t *err);
void esc_tz_free(struct esc_tz *tz);

/* Seconds east of UTC in force at instant `utc_seconds`. */
int32_t esc_tz_offset(const struct esc_tz *tz, int64_t utc_seconds);

/* Local wall-clock time -> UTC seconds.  In a gap (spring forward) the wall
 * time is read with the offset in force before the gap (so 02:30 on the
 * New York spring-forward day is 03:30 EDT); in an overlap (fall back) the
 * earlier instant is returned. */
int64_t esc_tz_local_to_utc(const struct esc_tz *tz, int year, int month, int day,
                            int hour, int minute, int second);

/* Civil-date helpers (proleptic Gregorian). days = days since 1970-01-01. */
int64_t esc_days_from_civil(int year, int month, int day);
void esc_civil_from_days(int64_t days, int *year, int *month, int *day);
int esc_weekday_from_days(int64_t days); /* 0 = Monday ... 6 = Sunday */

enum { ESC_CAL_MAX_DATES = 1000 };

struct esc_calendar {
    char timezone[65];
    struct esc_tz *tz;
    int open_min[7];   /* minutes after local midnight; -1 = day not worked (0 = Monday) */
    int close_min[7];
    int64_t *holidays;     /* days since epoch, sorted, unique */
    size_t n_holidays;
    int64_t *extra_workdays;
    size_t n_extra_workdays;
};

/* The default calendar: Asia/Shanghai, Mon-Fri 09:00-18:30, no dates. */
int esc_calendar_default(struct esc_calendar *cal, esc_error_t *err);

/* Parse and validate the SPEC's JSON form:
 *   {"timezone": "Asia/Shanghai", "hours": {"mon": ["09:00","18:30"], ...},
 *    "holidays": ["2026-10-01", ...], "extra_workdays": ["2026-10-11", ...]}
 * All four keys required; unknown keys refused; day keys mon..sun; times
 * "HH:MM" 00:00..24:00 with open < close; dates "YYYY-MM-DD", real dates,
 * at most ESC_CAL_MAX_DATES each; an extra workday must not also be a
 * holiday.  Errors are ESC_ERR_VALIDATION with `field` naming the key
 * (e.g. "hours.tue", "holidays[3]", "timezone"). */
int esc_calendar_from_json(const json_t *j, struct esc_calendar *cal, esc_error_t *err);
/* New reference; the same form, canonical (days in mon..sun order, dates sorted). */
json_t *esc_calendar_to_json(const struct esc_calendar *cal);
void esc_calendar_free(struct esc_calendar *cal);

/* Is local date `days` a working day?  Extra workdays always are (with
 * Monday's hours, or 09:00-18:30 when Monday is not worked); holidays never
 * are; otherwise the weekday's hours decide. Fills open/close minutes when
 * non-NULL. */
int esc_calendar_is_workday(const struct esc_calendar *cal, int64_t days,
                            int *open_min, int *close_min);

/* The callback deadline: the end of business hours, in the calendar's zone,
 * of the `business_days`-th working day after the local calendar day on
 * which `resolved_at` falls.  business_days >= 1 (0 is taken as 1).
 * Searches at most ~10 years ahead; returns -1 if no working day exists. */
esc_time_t esc_deadline_callback(const struct esc_calendar *cal, esc_time_t resolved_at,
                                 int business_days);

/* start + seconds; and the at-risk point start + ratio * seconds (rounded
 * down to the microsecond). */
esc_time_t esc_deadline_after(esc_time_t start, int64_t seconds);
esc_time_t esc_deadline_warn(esc_time_t start, int64_t seconds, double warn_ratio);

/* RFC 3339 helpers.  esc_time_format writes "2026-11-23T09:15:00.123Z"
 * (millisecond precision, always UTC) into buf (>= 32 bytes).
 * esc_time_parse accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" (also 't',
 * 'z' and a space for 'T') and PostgreSQL's ISO output
 * "YYYY-MM-DD HH:MM:SS[.frac]+00[:MM]"; returns 0 or -1. */
void esc_time_format(esc_time_t t, char *buf, size_t len);
int esc_time_parse(const char *s, esc_time_t *out);

#endif
