/* deadline.c — business calendar and deadline arithmetic (SPEC section 4),
 * and the RFC 3339 timestamp text of the wire format.  PURE: `now` and
 * every instant come from the caller. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/deadline.h"

#define DAY_SECS 86400
#define DEFAULT_OPEN (9 * 60)
#define DEFAULT_CLOSE (18 * 60 + 30)
/* How far esc_deadline_callback looks ahead: ten years of local days. */
#define CALLBACK_SEARCH_DAYS 3660

static const char *const day_keys[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* n ASCII digits at s -> *out; 0 or -1. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD" at s (exactly 10 characters used); a real date. */
static int parse_date_prefix(const char *s, int *y, int *m, int *d)
{
    if (digits(s, 4, y) != 0 || s[4] != '-' || digits(s + 5, 2, m) != 0 || s[7] != '-' ||
        digits(s + 8, 2, d) != 0)
        return -1;
    if (*y < 1 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
        return -1;
    return 0;
}

static int parse_date(const char *s, int64_t *days)
{
    int y, m, d;
    if (strlen(s) != 10 || parse_date_prefix(s, &y, &m, &d) != 0)
        return -1;
    *days = esc_days_from_civil(y, m, d);
    return 0;
}

/* "HH:MM", 00:00..24:00 -> minutes after midnight. */
static int parse_hhmm(const char *s, int *minutes)
{
    int h, m;
    if (strlen(s) != 5 || digits(s, 2, &h) != 0 || s[2] != ':' || digits(s + 3, 2, &m) != 0)
        return -1;
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int contains(const int64_t *v, size_t n, int64_t key)
{
    return n > 0 && bsearch(&key, v, n, sizeof *v, cmp_i64) != NULL;
}

/* ---------------------------------------------------------------- calendar */

/* Asia/Shanghai as a TZif v2 file with no transitions and the rule "CST-8":
 * China has kept UTC+8 without DST since 1991, so this stands in when the
 * system has no zoneinfo. */
static const unsigned char shanghai_fallback[] = {
    'T', 'Z', 'i', 'f', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
    0, 0, 0x70, 0x80, 0, 0, 'C', 'S', 'T', 0,
    'T', 'Z', 'i', 'f', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
    0, 0, 0x70, 0x80, 0, 0, 'C', 'S', 'T', 0,
    '\n', 'C', 'S', 'T', '-', '8', '\n',
};

int esc_calendar_default(struct esc_calendar *cal, esc_error_t *err)
{
    memset(cal, 0, sizeof *cal);
    snprintf(cal->timezone, sizeof cal->timezone, "%s", "Asia/Shanghai");
    esc_error_t lerr = {0};
    cal->tz = esc_tz_load(cal->timezone, &lerr);
    if (!cal->tz)
        cal->tz = esc_tz_parse(shanghai_fallback, sizeof shanghai_fallback, err);
    if (!cal->tz) {
        memset(cal, 0, sizeof *cal);
        return -1;
    }
    for (int d = 0; d < 7; d++) {
        cal->open_min[d] = d < 5 ? DEFAULT_OPEN : -1;
        cal->close_min[d] = d < 5 ? DEFAULT_CLOSE : -1;
    }
    return 0;
}

void esc_calendar_free(struct esc_calendar *cal)
{
    if (!cal)
        return;
    esc_tz_free(cal->tz);
    free(cal->holidays);
    free(cal->extra_workdays);
    memset(cal, 0, sizeof *cal);
}

static int parse_hours(const json_t *hours, struct esc_calendar *cal, esc_error_t *err)
{
    char field[64];
    const char *key;
    json_t *v;
    for (int d = 0; d < 7; d++)
        cal->open_min[d] = cal->close_min[d] = -1;
    if (!json_is_object(hours)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "hours", "hours must be an object of weekdays");
        return -1;
    }
    json_object_foreach((json_t *)hours, key, v) {
        int d = 0;
        while (d < 7 && strcmp(key, day_keys[d]) != 0)
            d++;
        snprintf(field, sizeof field, "hours.%s", key);
        if (d == 7) {
            esc_error_set(err, ESC_ERR_VALIDATION, field, "unknown day; use mon..sun");
            return -1;
        }
        int open, close;
        if (!json_is_array(v) || json_array_size(v) != 2 ||
            !json_is_string(json_array_get(v, 0)) || !json_is_string(json_array_get(v, 1)) ||
            parse_hhmm(json_string_value(json_array_get(v, 0)), &open) != 0 ||
            parse_hhmm(json_string_value(json_array_get(v, 1)), &close) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, field,
                          "working hours must be [\"HH:MM\", \"HH:MM\"]");
            return -1;
        }
        if (open >= close) {
            esc_error_set(err, ESC_ERR_VALIDATION, field,
                          "opening time must be before closing time");
            return -1;
        }
        cal->open_min[d] = open;
        cal->close_min[d] = close;
    }
    return 0;
}

/* A JSON array of dates -> sorted, unique malloc'd array. */
static int parse_dates(const json_t *arr, const char *name, int64_t **out, size_t *n_out,
                       esc_error_t *err)
{
    char field[64];
    int64_t *v = NULL;
    size_t n, kept = 0;
    int rc = -1;

    if (!json_is_array(arr)) {
        esc_error_set(err, ESC_ERR_VALIDATION, name, "%s must be an array of dates", name);
        goto out;
    }
    n = json_array_size(arr);
    if (n > ESC_CAL_MAX_DATES) {
        esc_error_set(err, ESC_ERR_VALIDATION, name, "at most %d dates", ESC_CAL_MAX_DATES);
        goto out;
    }
    v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_string(e) || parse_date(json_string_value(e), &v[i]) != 0) {
            snprintf(field, sizeof field, "%s[%zu]", name, i);
            esc_error_set(err, ESC_ERR_VALIDATION, field, "dates must be real dates, YYYY-MM-DD");
            goto out;
        }
    }
    qsort(v, n, sizeof *v, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || v[kept - 1] != v[i])
            v[kept++] = v[i];
    *out = v;
    *n_out = kept;
    v = NULL;
    rc = 0;
out:
    free(v);
    return rc;
}

int esc_calendar_from_json(const json_t *j, struct esc_calendar *cal, esc_error_t *err)
{
    static const char *const keys[] = {"timezone", "hours", "holidays", "extra_workdays"};
    const char *key;
    json_t *v;
    int rc = -1;

    memset(cal, 0, sizeof *cal);
    if (!json_is_object(j)) {
        esc_error_set(err, ESC_ERR_VALIDATION, NULL, "the calendar must be a JSON object");
        goto out;
    }
    json_object_foreach((json_t *)j, key, v) {
        size_t k = 0;
        while (k < 4 && strcmp(key, keys[k]) != 0)
            k++;
        if (k == 4) {
            esc_error_set(err, ESC_ERR_VALIDATION, key, "unknown field");
            goto out;
        }
    }
    for (size_t k = 0; k < 4; k++) {
        if (!json_object_get(j, keys[k])) {
            esc_error_set(err, ESC_ERR_VALIDATION, keys[k], "required field is missing");
            goto out;
        }
    }

    const json_t *tzj = json_object_get(j, "timezone");
    if (!json_is_string(tzj) || json_string_length(tzj) >= sizeof cal->timezone ||
        strlen(json_string_value(tzj)) != json_string_length(tzj)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "timezone",
                      "timezone must be an IANA time zone name");
        goto out;
    }
    cal->tz = esc_tz_load(json_string_value(tzj), err);
    if (!cal->tz)
        goto out;
    snprintf(cal->timezone, sizeof cal->timezone, "%s", json_string_value(tzj));

    if (parse_hours(json_object_get(j, "hours"), cal, err) != 0 ||
        parse_dates(json_object_get(j, "holidays"), "holidays", &cal->holidays,
                    &cal->n_holidays, err) != 0 ||
        parse_dates(json_object_get(j, "extra_workdays"), "extra_workdays",
                    &cal->extra_workdays, &cal->n_extra_workdays, err) != 0)
        goto out;

    /* Report an extra workday that is also a holiday by its input index. */
    const json_t *extra = json_object_get(j, "extra_workdays");
    for (size_t i = 0; i < json_array_size(extra); i++) {
        int64_t day;
        if (parse_date(json_string_value(json_array_get(extra, i)), &day) == 0 &&
            contains(cal->holidays, cal->n_holidays, day)) {
            char field[64];
            snprintf(field, sizeof field, "extra_workdays[%zu]", i);
            esc_error_set(err, ESC_ERR_VALIDATION, field,
                          "a date cannot be both a holiday and an extra workday");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        esc_calendar_free(cal);
    return rc;
}

static json_t *dates_to_json(const int64_t *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        int y, m, d;
        char buf[32];
        esc_civil_from_days(v[i], &y, &m, &d);
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
        if (json_array_append_new(arr, json_string(buf)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *hhmm_json(int minutes)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
    return json_string(buf);
}

json_t *esc_calendar_to_json(const struct esc_calendar *cal)
{
    json_t *doc = NULL, *hours = NULL, *ret = NULL;
    if (!cal)
        goto out;
    hours = json_object();
    if (!hours)
        goto out;
    for (int d = 0; d < 7; d++) {
        if (cal->open_min[d] < 0 || cal->close_min[d] < 0)
            continue;
        if (json_object_set_new(hours, day_keys[d],
                                json_pack("[oo]", hhmm_json(cal->open_min[d]),
                                          hhmm_json(cal->close_min[d]))) != 0)
            goto out;
    }
    doc = json_pack("{s:s, s:O, s:o, s:o}", "timezone", cal->timezone, "hours", hours,
                    "holidays", dates_to_json(cal->holidays, cal->n_holidays),
                    "extra_workdays", dates_to_json(cal->extra_workdays, cal->n_extra_workdays));
    ret = doc;
out:
    json_decref(hours);
    return ret;
}

int esc_calendar_is_workday(const struct esc_calendar *cal, int64_t days, int *open_min,
                            int *close_min)
{
    int open = -1, close = -1, worked = 0;
    if (!cal)
        goto out;
    if (contains(cal->extra_workdays, cal->n_extra_workdays, days)) {
        worked = 1;
        if (cal->open_min[0] >= 0 && cal->close_min[0] > cal->open_min[0]) {
            open = cal->open_min[0];
            close = cal->close_min[0];
        } else {
            open = DEFAULT_OPEN;
            close = DEFAULT_CLOSE;
        }
    } else if (!contains(cal->holidays, cal->n_holidays, days)) {
        int wd = esc_weekday_from_days(days);
        if (cal->open_min[wd] >= 0 && cal->close_min[wd] > cal->open_min[wd]) {
            worked = 1;
            open = cal->open_min[wd];
            close = cal->close_min[wd];
        }
    }
out:
    if (open_min)
        *open_min = open;
    if (close_min)
        *close_min = close;
    return worked;
}

/* ---------------------------------------------------------------- deadlines */

esc_time_t esc_deadline_callback(const struct esc_calendar *cal, esc_time_t resolved_at,
                                 int business_days)
{
    if (!cal)
        return -1;
    if (business_days < 1)
        business_days = 1;
    int64_t secs = floor_div(resolved_at, ESC_USEC);
    int64_t day = floor_div(secs + esc_tz_offset(cal->tz, secs), DAY_SECS);
    int found = 0;
    for (int64_t d = day + 1; d <= day + CALLBACK_SEARCH_DAYS; d++) {
        int close;
        if (!esc_calendar_is_workday(cal, d, NULL, &close) || ++found < business_days)
            continue;
        int y, m, dd;
        esc_civil_from_days(d, &y, &m, &dd);
        /* 24:00 is hour 24 of the day, i.e. midnight starting the next one. */
        int64_t at = esc_tz_local_to_utc(cal->tz, y, m, dd, close / 60, close % 60, 0), us;
        return __builtin_mul_overflow(at, ESC_USEC, &us) ? -1 : us;
    }
    return -1;
}

esc_time_t esc_deadline_after(esc_time_t start, int64_t seconds)
{
    int64_t us, r;
    if (__builtin_mul_overflow(seconds, ESC_USEC, &us) || __builtin_add_overflow(start, us, &r))
        return (seconds < 0) ? INT64_MIN : INT64_MAX;
    return r;
}

esc_time_t esc_deadline_warn(esc_time_t start, int64_t seconds, double warn_ratio)
{
    if (!(warn_ratio > 0)) /* also NaN */
        return start;
    if (warn_ratio >= 1)
        return esc_deadline_after(start, seconds);
    double v = warn_ratio * (double)seconds * (double)ESC_USEC;
    /* ratio * window as the decimal the user wrote, e.g. 0.7 * 100 s is
     * 70 s even though 0.7 is a shade under 0.7 in binary. */
    double r = nearbyint(v);
    double off = fabs(v - r) <= 1e-9 * fabs(v) ? r : floor(v);
    if (!(off > -9.0e18 && off < 9.0e18))
        return esc_deadline_after(start, seconds);
    int64_t res;
    if (__builtin_add_overflow(start, (int64_t)off, &res))
        return off < 0 ? INT64_MIN : INT64_MAX;
    return res;
}

/* ---------------------------------------------------------------- RFC 3339 */

void esc_time_format(esc_time_t t, char *buf, size_t len)
{
    int64_t ms = floor_div(t, 1000);
    int64_t secs = floor_div(ms, 1000);
    int64_t days = floor_div(secs, DAY_SECS);
    int64_t sod = secs - days * DAY_SECS;
    int y, m, d;
    if (!buf || len == 0)
        return;
    esc_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), (int)(ms - secs * 1000));
}

int esc_time_parse(const char *s, esc_time_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, os = 0;
    int64_t frac_us = 0;
    if (!s || !out)
        return -1;
    if (strnlen(s, 20) < 19 || parse_date_prefix(s, &y, &mo, &d) != 0)
        return -1;
    char sep = s[10];
    if (sep != 'T' && sep != 't' && sep != ' ')
        return -1;
    if (digits(s + 11, 2, &h) != 0 || s[13] != ':' || digits(s + 14, 2, &mi) != 0 ||
        s[16] != ':' || digits(s + 17, 2, &sec) != 0 || h > 23 || mi > 59 || sec > 59)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (p[n] >= '0' && p[n] <= '9') {
            if (n < 6)
                frac_us = frac_us * 10 + (p[n] - '0');
            n++;
        }
        if (n < 1 || n > 9)
            return -1;
        for (int k = n; k < 6; k++)
            frac_us *= 10;
        p += n;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (digits(p, 2, &oh) != 0 || oh > 23)
            return -1;
        p += 2;
        if (*p == ':') {
            if (digits(p + 1, 2, &om) != 0 || om > 59)
                return -1;
            p += 3;
            /* PostgreSQL writes seconds of historical offsets: +08:05:43 */
            if (sep == ' ' && *p == ':') {
                if (digits(p + 1, 2, &os) != 0 || os > 59)
                    return -1;
                p += 3;
            }
        } else if (sep != ' ') {
            return -1; /* RFC 3339 wants ±HH:MM */
        }
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t secs = esc_days_from_civil(y, mo, d) * DAY_SECS + (int64_t)h * 3600 + mi * 60 + sec;
    secs -= (int64_t)sign * (oh * 3600 + om * 60 + os);
    *out = secs * ESC_USEC + frac_us;
    return 0;
}
