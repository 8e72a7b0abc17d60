/* tz.c — time zones from TZif data (RFC 8536, versions 1-4) and civil-date
 * arithmetic.  PURE except esc_tz_load, which reads one file.
 *
 * A zone is its transition table (UTC instants and the offset in force from
 * each) plus, for instants past the last transition (or for all instants
 * when there are none), the POSIX TZ rule of the file's footer, e.g.
 * "EST5EDT,M3.2.0,M11.1.0".  Leap-second records are skipped: we keep POSIX
 * time, as the rest of the system does. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/deadline.h"

#define DAY_SECS 86400
#define TZ_NAME_MAX 64
#define TZ_FILE_MAX (1024 * 1024)
/* Bounds on a UT offset (RFC 9636 recommends -89999..93599). */
#define OFF_MIN (-89999)
#define OFF_MAX 93599
#define TZ_TYPES_MAX 256
#define TZ_COUNT_MAX (1u << 20)

/* One end of a POSIX DST rule: Jn, n, or Mm.w.d, and the local time of day. */
struct rule_date {
    char kind; /* 'J', 'N' or 'M' */
    int n;     /* J: 1..365, N: 0..365 */
    int m, w, d;
    int32_t secs; /* time of day, may be negative or past 24h (v3) */
};

struct tz_rule {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    int has_dst;
    struct rule_date start, end;
};

struct esc_tz {
    size_t n_trans;
    int64_t *trans;      /* ascending UTC seconds */
    uint8_t *trans_type; /* index into type_off */
    size_t n_types;
    int32_t *type_off;
    int has_rule;
    struct tz_rule rule;
};

/* ------------------------------------------------------------ civil dates */

/* After Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms". */
int64_t esc_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void esc_civil_from_days(int64_t days, int *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (year)
        *year = (int)(y + (m <= 2));
    if (month)
        *month = (int)m;
    if (day)
        *day = (int)d;
}

int esc_weekday_from_days(int64_t days)
{
    /* 1970-01-01 was a Thursday (3 when Monday is 0). */
    int64_t w = (days + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
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

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ------------------------------------------------------- POSIX TZ strings */

/* "std" or "<+0530>" */
static int parse_abbr(const char **pp)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '<') {
        p++;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
               (*p >= '0' && *p <= '9') || *p == '+' || *p == '-') {
            p++;
            n++;
        }
        if (*p != '>' || n == 0)
            return -1;
        p++;
    } else {
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
            p++;
            n++;
        }
        if (n == 0)
            return -1;
    }
    *pp = p;
    return 0;
}

static int parse_num(const char **pp, int min, int max, int *out)
{
    const char *p = *pp;
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4) {
        v = v * 10 + (*p - '0');
        p++;
        nd++;
    }
    if (nd == 0 || v < min || v > max)
        return -1;
    *pp = p;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] -> seconds (sign applied). */
static int parse_hms(const char **pp, int max_hours, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (parse_num(&p, 0, max_hours, &h) != 0)
        return -1;
    if (*p == ':') {
        p++;
        if (parse_num(&p, 0, 59, &m) != 0)
            return -1;
        if (*p == ':') {
            p++;
            if (parse_num(&p, 0, 59, &s) != 0)
                return -1;
        }
    }
    *pp = p;
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int parse_rule_date(const char **pp, struct rule_date *rd)
{
    const char *p = *pp;
    memset(rd, 0, sizeof *rd);
    if (*p == 'J') {
        p++;
        rd->kind = 'J';
        if (parse_num(&p, 1, 365, &rd->n) != 0)
            return -1;
    } else if (*p == 'M') {
        p++;
        rd->kind = 'M';
        if (parse_num(&p, 1, 12, &rd->m) != 0 || *p++ != '.' ||
            parse_num(&p, 1, 5, &rd->w) != 0 || *p++ != '.' || parse_num(&p, 0, 6, &rd->d) != 0)
            return -1;
    } else {
        rd->kind = 'N';
        if (parse_num(&p, 0, 365, &rd->n) != 0)
            return -1;
    }
    rd->secs = 2 * 3600;
    if (*p == '/') {
        p++;
        if (parse_hms(&p, 167, &rd->secs) != 0)
            return -1;
    }
    *pp = p;
    return 0;
}

static int parse_posix_tz(const char *s, struct tz_rule *r)
{
    const char *p = s;
    int32_t off;
    memset(r, 0, sizeof *r);
    if (parse_abbr(&p) != 0 || parse_hms(&p, 24, &off) != 0)
        return -1;
    r->std_off = -off; /* POSIX counts hours west of Greenwich */
    if (*p == '\0')
        return 0;
    if (parse_abbr(&p) != 0)
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if (parse_hms(&p, 24, &off) != 0)
            return -1;
        r->dst_off = -off;
    }
    if (*p == '\0') {
        /* No rule given: the US rules, as glibc assumes. */
        r->start = (struct rule_date){'M', 0, 3, 2, 0, 7200};
        r->end = (struct rule_date){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p++ != ',' || parse_rule_date(&p, &r->start) != 0 || *p++ != ',' ||
        parse_rule_date(&p, &r->end) != 0 || *p != '\0')
        return -1;
    return 0;
}

/* The local date (days since the epoch) a rule date names in `year`. */
static int64_t rule_day(const struct rule_date *rd, int year)
{
    int64_t jan1 = esc_days_from_civil(year, 1, 1);
    if (rd->kind == 'J')
        return jan1 + rd->n - 1 + (is_leap(year) && rd->n >= 60 ? 1 : 0);
    if (rd->kind == 'N')
        return jan1 + rd->n;
    int64_t first = esc_days_from_civil(year, rd->m, 1);
    int wd_first = (esc_weekday_from_days(first) + 1) % 7; /* Sunday = 0, as POSIX */
    int64_t day = first + (rd->d - wd_first + 7) % 7 + (int64_t)(rd->w - 1) * 7;
    int64_t last = first + days_in_month(year, rd->m) - 1;
    while (day > last)
        day -= 7;
    return day;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    /* Keep the arithmetic below far from overflow (~8.9 million years). */
    const int64_t lim = INT64_C(1) << 48;
    t = t > lim ? lim : t < -lim ? -lim : t;
    int year;
    esc_civil_from_days(floor_div(t + r->std_off, DAY_SECS), &year, NULL, NULL);
    /* The start is given in standard time, the end in daylight time. */
    int64_t s = rule_day(&r->start, year) * DAY_SECS + r->start.secs - r->std_off;
    int64_t e = rule_day(&r->end, year) * DAY_SECS + r->end.secs - r->dst_off;
    int dst;
    if (s < e)
        dst = s <= t && t < e;
    else if (s > e)
        dst = !(e <= t && t < s); /* southern hemisphere: DST spans the new year */
    else
        dst = 0;
    return dst ? r->dst_off : r->std_off;
}

/* ------------------------------------------------------------------ TZif */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_header(const unsigned char *p, size_t len, struct tzif_header *h, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    *version = p[4] == 0 ? 1 : (p[4] >= '2' && p[4] <= '9') ? p[4] - '0' : -1;
    if (*version < 0)
        return -1;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > TZ_TYPES_MAX || h->timecnt > TZ_COUNT_MAX ||
        h->leapcnt > TZ_COUNT_MAX || h->charcnt > TZ_COUNT_MAX ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
        return -1;
    return 0;
}

static size_t block_size(const struct tzif_header *h, size_t timesize)
{
    return (size_t)h->timecnt * timesize + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
}

static void set_tz_error(esc_error_t *err, const char *what)
{
    esc_error_set(err, ESC_ERR_VALIDATION, "timezone", "%s", what);
}

struct esc_tz *esc_tz_parse(const unsigned char *data, size_t len, esc_error_t *err)
{
    struct esc_tz *tz = NULL, *ret = NULL;
    struct tzif_header h;
    int version;
    size_t timesize = 4;
    const unsigned char *p = data, *end = data ? data + len : NULL;
    char footer[256];

    if (!data || read_header(p, len, &h, &version) != 0) {
        set_tz_error(err, "not a TZif time zone file");
        goto out;
    }
    if (block_size(&h, 4) > len - 44) {
        set_tz_error(err, "truncated TZif time zone file");
        goto out;
    }
    if (version >= 2) {
        /* Skip the 32-bit block; the 64-bit one that follows supersedes it. */
        p += 44 + block_size(&h, 4);
        if (read_header(p, (size_t)(end - p), &h, &version) != 0) {
            set_tz_error(err, "not a TZif time zone file");
            goto out;
        }
        timesize = 8;
        if (block_size(&h, 8) > (size_t)(end - p) - 44) {
            set_tz_error(err, "truncated TZif time zone file");
            goto out;
        }
    }
    p += 44;

    tz = calloc(1, sizeof *tz);
    if (!tz) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    tz->n_trans = h.timecnt;
    tz->n_types = h.typecnt;
    tz->trans = malloc((h.timecnt ? h.timecnt : 1) * sizeof *tz->trans);
    tz->trans_type = malloc(h.timecnt ? h.timecnt : 1);
    tz->type_off = malloc(h.typecnt * sizeof *tz->type_off);
    if (!tz->trans || !tz->trans_type || !tz->type_off) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }

    for (uint32_t i = 0; i < h.timecnt; i++, p += timesize) {
        tz->trans[i] = timesize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            set_tz_error(err, "TZif transitions out of order");
            goto out;
        }
    }
    for (uint32_t i = 0; i < h.timecnt; i++, p++) {
        if (*p >= h.typecnt) {
            set_tz_error(err, "TZif transition names no type");
            goto out;
        }
        tz->trans_type[i] = *p;
    }
    for (uint32_t i = 0; i < h.typecnt; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        if (off < OFF_MIN || off > OFF_MAX || p[4] > 1 || (h.charcnt && p[5] >= h.charcnt)) {
            set_tz_error(err, "bad TZif local time type");
            goto out;
        }
        tz->type_off[i] = off;
    }
    p += h.charcnt + (size_t)h.leapcnt * (timesize + 4) + h.isstdcnt + h.isutcnt;

    if (version >= 2) {
        /* Footer: "\n" POSIX-TZ-string "\n"; an empty string means no rule. */
        const unsigned char *nl;
        size_t flen;
        if (p >= end || *p != '\n' ||
            !(nl = memchr(p + 1, '\n', (size_t)(end - p - 1))) ||
            (flen = (size_t)(nl - p - 1)) >= sizeof footer) {
            set_tz_error(err, "bad TZif footer");
            goto out;
        }
        memcpy(footer, p + 1, flen);
        footer[flen] = '\0';
        if (flen > 0) {
            if (memchr(footer, '\0', flen) || parse_posix_tz(footer, &tz->rule) != 0 ||
                tz->rule.std_off < OFF_MIN || tz->rule.std_off > OFF_MAX ||
                tz->rule.dst_off < OFF_MIN || tz->rule.dst_off > OFF_MAX) {
                set_tz_error(err, "bad TZ rule in TZif footer");
                goto out;
            }
            tz->has_rule = 1;
        }
    }
    ret = tz;
    tz = NULL;
out:
    esc_tz_free(tz);
    return ret;
}

void esc_tz_free(struct esc_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->trans_type);
    free(tz->type_off);
    free(tz);
}

static int valid_zone_name(const char *name)
{
    size_t n = strlen(name), seg = 0;
    if (n == 0 || n > TZ_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '/') {
            if (seg == 0)
                return 0; /* leading '/' or "//" */
            seg = 0;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '+' || c == '-') {
            seg++;
        } else {
            return 0; /* also refuses '.', so no ".." */
        }
    }
    return seg > 0;
}

struct esc_tz *esc_tz_load(const char *name, esc_error_t *err)
{
    struct esc_tz *tz = NULL;
    unsigned char *buf = NULL;
    int fd = -1;
    char path[4096];
    struct stat st;

    if (!name || !valid_zone_name(name)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "timezone", "not an IANA time zone name");
        goto out;
    }
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        esc_error_set(err, ESC_ERR_VALIDATION, "timezone", "unknown time zone");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 44 ||
        st.st_size > TZ_FILE_MAX) {
        esc_error_set(err, ESC_ERR_VALIDATION, "timezone", "unknown time zone");
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    if (!buf) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    size_t got = 0, want = (size_t)st.st_size;
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    esc_error_t perr = {0};
    tz = esc_tz_parse(buf, got, &perr);
    if (!tz) {
        if (perr.code == ESC_ERR_INTERNAL)
            esc_error_set(err, perr.code, NULL, "%s", perr.message);
        else
            esc_error_set(err, ESC_ERR_VALIDATION, "timezone", "unknown time zone");
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return tz;
}

/* ------------------------------------------------------------ conversion */

int32_t esc_tz_offset(const struct esc_tz *tz, int64_t utc_seconds)
{
    if (!tz)
        return 0;
    size_t n = tz->n_trans;
    if (n == 0)
        return tz->has_rule ? rule_offset(&tz->rule, utc_seconds) : tz->type_off[0];
    if (utc_seconds < tz->trans[0])
        return tz->type_off[0];
    if (utc_seconds >= tz->trans[n - 1] && tz->has_rule)
        return rule_offset(&tz->rule, utc_seconds);
    /* The last transition at or before the instant. */
    size_t lo = 0, hi = n; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= utc_seconds)
            lo = mid;
        else
            hi = mid;
    }
    return tz->type_off[tz->trans_type[lo]];
}

/* Local wall-clock seconds (as if UTC) -> UTC seconds.  Every instant that
 * shows this wall time has one of the zone's offsets o with offset(L - o)
 * == o; take the earliest.  When none does, L is in a gap: the offset
 * before the gap, ob, and after it, oa, then map onto each other
 * (offset(L - ob) == oa, offset(L - oa) == ob, ob < oa); read L with ob. */
static int64_t local_secs_to_utc(const struct esc_tz *tz, int64_t local)
{
    int32_t cand[TZ_TYPES_MAX + 2];
    size_t nc = 0;
    if (!tz)
        return local;
    for (size_t i = 0; i <= tz->n_types + 1; i++) {
        int32_t o;
        if (i < tz->n_types)
            o = tz->type_off[i];
        else if (tz->has_rule)
            o = i == tz->n_types ? tz->rule.std_off : tz->rule.dst_off;
        else
            break;
        size_t k = 0;
        while (k < nc && cand[k] != o)
            k++;
        if (k == nc)
            cand[nc++] = o;
    }
    int found = 0;
    int64_t best = 0;
    for (size_t i = 0; i < nc; i++) {
        int64_t t = local - cand[i];
        if (esc_tz_offset(tz, t) == cand[i] && (!found || t < best)) {
            best = t;
            found = 1;
        }
    }
    if (found)
        return best;
    for (size_t i = 0; i < nc; i++) {
        int32_t p = esc_tz_offset(tz, local - cand[i]);
        if (p != cand[i] && esc_tz_offset(tz, local - p) == cand[i])
            return local - (p < cand[i] ? p : cand[i]);
    }
    /* Not reached for sane data. */
    return local - esc_tz_offset(tz, local - esc_tz_offset(tz, local));
}

int64_t esc_tz_local_to_utc(const struct esc_tz *tz, int year, int month, int day, int hour,
                            int minute, int second)
{
    int64_t local = esc_days_from_civil(year, month, day) * DAY_SECS + (int64_t)hour * 3600 +
                    (int64_t)minute * 60 + second;
    return local_secs_to_utc(tz, local);
}
