/* test_deadline.c — lib/tz.c and lib/deadline.c: civil dates, TZif parsing
 * (the system's /usr/share/zoneinfo and hand-built files), offsets on both
 * sides of DST changes and past the transition table (footer rule),
 * local -> UTC in gaps and overlaps, callback deadlines from
 * $ESC_TEST_DATA/callback_cases.tsv, calendar JSON (valid round trips and
 * the refusals of $ESC_TEST_DATA/calendar_invalid.tsv), and RFC 3339 text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/deadline.h"
#include "base/error.h"

#define H 3600
#define MAX_LINE 8192

/* ---------------------------------------------------------------- helpers */

static FILE *open_data(const char *name)
{
    const char *dir = getenv("ESC_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (set ESC_TEST_DATA)", path);
    return f;
}

/* Split a line at tabs in place; returns the number of fields. */
/* Fields past the last one on the line are set to NULL, so that callers can
 * test an optional column (callback_cases.tsv's note) and no field is ever
 * read uninitialised. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    for (int i = n; i < max; i++)
        fields[i] = NULL;
    return n;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return esc_days_from_civil(y, mo, d) * 86400 + h * H + mi * 60 + s;
}

static struct esc_tz *load(const char *name)
{
    esc_error_t err = {0};
    struct esc_tz *tz = esc_tz_load(name, &err);
    if (!tz)
        fail_msg("esc_tz_load(%s): %s", name, err.message);
    return tz;
}

static esc_time_t parse_or_fail(const char *s)
{
    esc_time_t t;
    if (esc_time_parse(s, &t) != 0)
        fail_msg("esc_time_parse(\"%s\") failed", s);
    return t;
}

/* ------------------------------------------------------- TZif builder */

struct blob {
    unsigned char b[4096];
    size_t n;
};

static void put8(struct blob *bl, unsigned v)
{
    bl->b[bl->n++] = (unsigned char)v;
}

static void put32(struct blob *bl, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        put8(bl, (v >> (8 * i)) & 0xff);
}

static void put64(struct blob *bl, int64_t v)
{
    put32(bl, (uint32_t)((uint64_t)v >> 32));
    put32(bl, (uint32_t)v);
}

struct zone_spec {
    int version; /* 1, 2 or 3 */
    size_t nt;
    const int64_t *trans;
    const unsigned char *idx;
    size_t ntypes;
    const int32_t *off;
    const unsigned char *isdst;
    const char *footer; /* v2+: the POSIX TZ string (may be "") */
};

static void put_block(struct blob *bl, const struct zone_spec *z, int timesize)
{
    memcpy(bl->b + bl->n, "TZif", 4);
    bl->n += 4;
    put8(bl, z->version == 1 ? 0 : (unsigned)('0' + z->version));
    for (int i = 0; i < 15; i++)
        put8(bl, 0);
    put32(bl, 0);                    /* isutcnt */
    put32(bl, 0);                    /* isstdcnt */
    put32(bl, 0);                    /* leapcnt */
    put32(bl, (uint32_t)z->nt);      /* timecnt */
    put32(bl, (uint32_t)z->ntypes);  /* typecnt */
    put32(bl, 4);                    /* charcnt */
    for (size_t i = 0; i < z->nt; i++) {
        if (timesize == 8)
            put64(bl, z->trans[i]);
        else
            put32(bl, (uint32_t)(int32_t)z->trans[i]);
    }
    for (size_t i = 0; i < z->nt; i++)
        put8(bl, z->idx[i]);
    for (size_t i = 0; i < z->ntypes; i++) {
        put32(bl, (uint32_t)z->off[i]);
        put8(bl, z->isdst[i]);
        put8(bl, 0);
    }
    memcpy(bl->b + bl->n, "ABC", 4);
    bl->n += 4;
}

static void build(struct blob *bl, const struct zone_spec *z)
{
    bl->n = 0;
    put_block(bl, z, 4);
    if (z->version >= 2) {
        put_block(bl, z, 8);
        put8(bl, '\n');
        size_t fl = strlen(z->footer);
        memcpy(bl->b + bl->n, z->footer, fl);
        bl->n += fl;
        put8(bl, '\n');
    }
}

static struct esc_tz *parse_blob(const struct blob *bl, esc_error_t *err)
{
    return esc_tz_parse(bl->b, bl->n, err);
}

/* ------------------------------------------------------------ civil dates */

static void test_civil_dates(void **state)
{
    (void)state;
    assert_int_equal(esc_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(esc_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(esc_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(esc_days_from_civil(2026, 11, 23), 20780);
    assert_int_equal(esc_days_from_civil(1600, 1, 1), -135140);
    assert_int_equal(esc_weekday_from_days(0), 3);                                 /* Thursday */
    assert_int_equal(esc_weekday_from_days(-1), 2);                                /* Wednesday */
    assert_int_equal(esc_weekday_from_days(esc_days_from_civil(2026, 11, 23)), 0); /* Monday */
    assert_int_equal(esc_weekday_from_days(esc_days_from_civil(2026, 10, 10)), 5); /* Saturday */
    assert_int_equal(esc_weekday_from_days(esc_days_from_civil(2026, 9, 27)), 6);  /* Sunday */
    assert_int_equal(esc_weekday_from_days(esc_days_from_civil(1900, 1, 1)), 0);   /* Monday */

    /* Walk 1600..2400 a day at a time: each day is the day after the last. */
    int y = 1600, m = 1, d = 1;
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int64_t days = esc_days_from_civil(1600, 1, 1); y < 2400; days++) {
        int cy, cm, cd;
        esc_civil_from_days(days, &cy, &cm, &cd);
        if (cy != y || cm != m || cd != d)
            fail_msg("day %lld: got %d-%d-%d, want %d-%d-%d", (long long)days, cy, cm, cd, y, m, d);
        if (esc_days_from_civil(y, m, d) != days)
            fail_msg("days_from_civil(%d-%d-%d) != %lld", y, m, d, (long long)days);
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int n = dim[m - 1] + (m == 2 && leap);
        if (++d > n) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    int cy, cm, cd;
    esc_civil_from_days(esc_days_from_civil(2024, 2, 28) + 1, &cy, &cm, &cd);
    assert_true(cy == 2024 && cm == 2 && cd == 29);
    esc_civil_from_days(esc_days_from_civil(1900, 2, 28) + 1, &cy, &cm, &cd);
    assert_true(cy == 1900 && cm == 3 && cd == 1);
    esc_civil_from_days(esc_days_from_civil(2000, 2, 28) + 1, &cy, &cm, &cd);
    assert_true(cy == 2000 && cm == 2 && cd == 29);
    esc_civil_from_days(esc_days_from_civil(2026, 12, 31) + 1, &cy, &cm, &cd);
    assert_true(cy == 2027 && cm == 1 && cd == 1);
}

/* ------------------------------------------------------------ zone files */

static void test_tz_load_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "Mars/Phobos", "../../etc/passwd", "/etc/passwd", "Asia/../Asia/Shanghai",
        "Asia//Shanghai", "Asia/Shanghai/", "/Asia/Shanghai", "Asia/Shanghai\n", "Asia/Shang hai",
        "America", "leapseconds", "zone.tab", "tzdata.zi", ".", "..",
        "A234567890123456789012345678901234567890123456789012345678901234", /* 65 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        esc_error_t err = {0};
        struct esc_tz *tz = esc_tz_load(bad[i], &err);
        if (tz)
            fail_msg("esc_tz_load(\"%s\") accepted", bad[i]);
        assert_int_equal(err.code, ESC_ERR_VALIDATION);
        assert_string_equal(err.field, "timezone");
    }
    esc_error_t err = {0};
    assert_null(esc_tz_load(NULL, &err));
    assert_int_equal(err.code, ESC_ERR_VALIDATION);
    assert_null(esc_tz_load("Nowhere/Else", NULL)); /* NULL err is fine */
}

static void test_tz_load_many(void **state)
{
    (void)state;
    static const char *const zones[] = {
        "UTC", "Etc/UTC", "Etc/GMT+8", "Etc/GMT-14", "Asia/Shanghai", "Asia/Kolkata",
        "Asia/Kathmandu", "America/New_York", "America/Sao_Paulo", "America/Santiago",
        "America/Nuuk", "Europe/London", "Europe/Dublin", "Africa/Casablanca",
        "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Kiritimati", "Antarctica/Troll",
    };
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        esc_tz_free(load(zones[i]));
    struct esc_tz *tz = load("Etc/GMT+8"); /* POSIX sign: 8 hours west */
    assert_int_equal(esc_tz_offset(tz, utc(2026, 6, 1, 0, 0, 0)), -8 * H);
    esc_tz_free(tz);
    tz = load("Asia/Kathmandu");
    assert_int_equal(esc_tz_offset(tz, utc(2026, 6, 1, 0, 0, 0)), 5 * H + 45 * 60);
    esc_tz_free(tz);
    tz = load("UTC");
    assert_int_equal(esc_tz_offset(tz, utc(2040, 6, 1, 0, 0, 0)), 0);
    esc_tz_free(tz);
    esc_tz_free(NULL);
}

/* An instant and the offset expected at it. */
struct off_case {
    int64_t t;
    int32_t off;
};

static void check_offsets(const char *zone, const struct off_case *c, size_t n)
{
    struct esc_tz *tz = load(zone);
    for (size_t i = 0; i < n; i++) {
        int32_t got = esc_tz_offset(tz, c[i].t);
        if (got != c[i].off)
            fail_msg("%s at %lld: offset %d, want %d", zone, (long long)c[i].t, got, c[i].off);
    }
    esc_tz_free(tz);
}

static void test_tz_offsets(void **state)
{
    (void)state;
    const struct off_case shanghai[] = {
        {utc(2026, 3, 8, 6, 59, 59), 8 * H}, {utc(2026, 3, 8, 7, 0, 0), 8 * H},
        {utc(2026, 7, 1, 0, 0, 0), 8 * H},   {utc(2026, 11, 1, 6, 0, 0), 8 * H},
        {utc(2040, 7, 1, 0, 0, 0), 8 * H},   {utc(1988, 7, 1, 0, 0, 0), 9 * H}, /* DST 1986-91 */
    };
    check_offsets("Asia/Shanghai", shanghai, sizeof shanghai / sizeof shanghai[0]);

    /* 2026: EDT from 2026-03-08 07:00Z to 2026-11-01 06:00Z. */
    const struct off_case ny[] = {
        {utc(2026, 1, 15, 12, 0, 0), -5 * H},
        {utc(2026, 3, 8, 6, 59, 59), -5 * H},
        {utc(2026, 3, 8, 7, 0, 0), -4 * H},
        {utc(2026, 7, 1, 0, 0, 0), -4 * H},
        {utc(2026, 11, 1, 5, 59, 59), -4 * H},
        {utc(2026, 11, 1, 6, 0, 0), -5 * H},
        {utc(2026, 12, 25, 0, 0, 0), -5 * H},
        /* 2040 is past the file's table (2037): the footer rule
         * EST5EDT,M3.2.0,M11.1.0 gives EDT 2040-03-11 07:00Z..2040-11-04 06:00Z */
        {utc(2040, 1, 15, 12, 0, 0), -5 * H},
        {utc(2040, 3, 11, 6, 59, 59), -5 * H},
        {utc(2040, 3, 11, 7, 0, 0), -4 * H},
        {utc(2040, 7, 1, 0, 0, 0), -4 * H},
        {utc(2040, 11, 4, 5, 59, 59), -4 * H},
        {utc(2040, 11, 4, 6, 0, 0), -5 * H},
        {utc(2099, 3, 8, 7, 0, 0), -4 * H}, /* second Sunday of March 2099 */
        {utc(2099, 3, 8, 6, 59, 59), -5 * H},
        {utc(1883, 11, 18, 16, 59, 59), -17762}, /* LMT, before the first transition */
        {utc(1943, 6, 1, 0, 0, 0), -4 * H},     /* war time */
    };
    check_offsets("America/New_York", ny, sizeof ny / sizeof ny[0]);

    /* Southern hemisphere, rule spanning the new year: AEST-10AEDT,M10.1.0,M4.1.0/3 */
    const struct off_case syd[] = {
        {utc(2026, 4, 4, 15, 59, 59), 11 * H}, {utc(2026, 4, 4, 16, 0, 0), 10 * H},
        {utc(2026, 10, 3, 15, 59, 59), 10 * H}, {utc(2026, 10, 3, 16, 0, 0), 11 * H},
        {utc(2045, 1, 1, 0, 0, 0), 11 * H},     {utc(2045, 7, 1, 0, 0, 0), 10 * H},
        {utc(2044, 12, 31, 13, 30, 0), 11 * H},
    };
    check_offsets("Australia/Sydney", syd, sizeof syd / sizeof syd[0]);

    /* v3 footer with negative transition times: <-02>2<-01>,M3.5.0/-1,M10.5.0/0 */
    const struct off_case nuuk[] = {
        {utc(2026, 3, 29, 0, 59, 59), -2 * H}, {utc(2026, 3, 29, 1, 0, 0), -1 * H},
        {utc(2026, 10, 25, 0, 59, 59), -1 * H}, {utc(2026, 10, 25, 1, 0, 0), -2 * H},
        {utc(2045, 7, 1, 0, 0, 0), -1 * H},
    };
    check_offsets("America/Nuuk", nuuk, sizeof nuuk / sizeof nuuk[0]);
}

static void test_tz_parse_built(void **state)
{
    (void)state;
    esc_error_t err = {0};
    struct blob bl;

    /* v2, no transitions, the footer alone decides: EST5EDT with US rules. */
    const int32_t off1[] = {-5 * H};
    const unsigned char dst0[] = {0, 0, 0};
    struct zone_spec z = {2, 0, NULL, NULL, 1, off1, dst0, "EST5EDT,M3.2.0,M11.1.0"};
    build(&bl, &z);
    struct esc_tz *tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 3, 8, 6, 59, 59)), -5 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 3, 8, 7, 0, 0)), -4 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 11, 1, 5, 59, 59)), -4 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 11, 1, 6, 0, 0)), -5 * H);
    assert_int_equal(esc_tz_local_to_utc(tz, 2026, 3, 8, 2, 30, 0), utc(2026, 3, 8, 7, 30, 0));
    assert_int_equal(esc_tz_local_to_utc(tz, 2026, 11, 1, 1, 30, 0), utc(2026, 11, 1, 5, 30, 0));
    esc_tz_free(tz);

    /* Default rule when the footer names DST without dates; Julian dates. */
    z.footer = "EST5EDT";
    build(&bl, &z);
    tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 7, 1, 0, 0, 0)), -4 * H);
    esc_tz_free(tz);
    z.footer = "<+0330>-3:30<+0430>,J79/24,J263/24"; /* Iran before 2022 */
    build(&bl, &z);
    tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 3, 20, 20, 29, 59)), 3 * H + 1800);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 3, 20, 20, 30, 0)), 4 * H + 1800);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 9, 20, 19, 29, 59)), 4 * H + 1800);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 9, 20, 19, 30, 0)), 3 * H + 1800);
    esc_tz_free(tz);
    z.footer = "EST5EDT,0/0,J365/25"; /* v3: DST all year */
    build(&bl, &z);
    tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 1, 1, 5, 0, 0)), -4 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 7, 1, 0, 0, 0)), -4 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 12, 31, 23, 0, 0)), -4 * H);
    esc_tz_free(tz);
    z.footer = ""; /* v2 with an empty footer: the last type stays */
    build(&bl, &z);
    tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 7, 1, 0, 0, 0)), -5 * H);
    esc_tz_free(tz);

    /* v1 with transitions: before the first, type 0; then as listed. */
    const int64_t tr[] = {utc(2000, 1, 1, 0, 0, 0), utc(2010, 1, 1, 0, 0, 0)};
    const unsigned char ix[] = {1, 2};
    const int32_t off3[] = {1000, 2 * H, 3 * H};
    struct zone_spec v1 = {1, 2, tr, ix, 3, off3, dst0, NULL};
    build(&bl, &v1);
    tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(1999, 12, 31, 23, 59, 59)), 1000);
    assert_int_equal(esc_tz_offset(tz, utc(2000, 1, 1, 0, 0, 0)), 2 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2009, 12, 31, 23, 59, 59)), 2 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2010, 1, 1, 0, 0, 0)), 3 * H);
    assert_int_equal(esc_tz_offset(tz, utc(2040, 1, 1, 0, 0, 0)), 3 * H);
    esc_tz_free(tz);
    assert_int_equal(err.code, ESC_OK);

    /* v3 with transitions and a footer: the footer takes over after the last. */
    const int64_t tr3[] = {utc(2030, 1, 1, 0, 0, 0)};
    const unsigned char ix3[] = {0};
    struct zone_spec v3 = {3, 1, tr3, ix3, 1, off1, dst0, "EST5EDT,M3.2.0,M11.1.0"};
    build(&bl, &v3);
    tz = parse_blob(&bl, &err);
    assert_non_null(tz);
    assert_int_equal(esc_tz_offset(tz, utc(2026, 7, 1, 0, 0, 0)), -5 * H); /* table */
    assert_int_equal(esc_tz_offset(tz, utc(2030, 7, 1, 0, 0, 0)), -4 * H); /* footer */
    esc_tz_free(tz);

    /* Refusals, each a validation error on "timezone". */
    struct {
        const char *what;
        struct blob bad;
    } *cases = calloc(12, sizeof *cases);
    assert_non_null(cases);
    size_t nc = 0;
    build(&cases[nc].bad, &v3);
    cases[nc].bad.b[0] = 'X';
    cases[nc++].what = "bad magic";
    build(&cases[nc].bad, &v3);
    cases[nc].bad.n -= 10;
    cases[nc++].what = "truncated";
    build(&cases[nc].bad, &v3);
    cases[nc].bad.n = 30;
    cases[nc++].what = "header only";
    build(&cases[nc].bad, &v3);
    cases[nc].bad.n -= 1; /* footer without its final newline */
    cases[nc++].what = "unterminated footer";
    struct zone_spec t = v3;
    t.footer = "EST5EDT,M13.2.0,M11.1.0";
    build(&cases[nc].bad, &t);
    cases[nc++].what = "bad month in footer";
    t.footer = "EST5EDT,M3.2.0";
    build(&cases[nc].bad, &t);
    cases[nc++].what = "footer missing the end rule";
    t.footer = "5EST";
    build(&cases[nc].bad, &t);
    cases[nc++].what = "footer without a name";
    t = v3;
    const unsigned char badix[] = {7};
    t.idx = badix;
    build(&cases[nc].bad, &t);
    cases[nc++].what = "type index out of range";
    t = v1;
    const int64_t unordered[] = {utc(2010, 1, 1, 0, 0, 0), utc(2000, 1, 1, 0, 0, 0)};
    t.trans = unordered;
    build(&cases[nc].bad, &t);
    cases[nc++].what = "transitions out of order";
    t = v1;
    t.ntypes = 0;
    t.nt = 0;
    build(&cases[nc].bad, &t);
    cases[nc++].what = "no types";
    t = v1;
    const int32_t huge[] = {1000, 2 * H, 40 * H};
    t.off = huge;
    build(&cases[nc].bad, &t);
    cases[nc++].what = "offset of 40 hours";
    for (size_t i = 0; i < nc; i++) {
        esc_error_t e = {0};
        tz = parse_blob(&cases[i].bad, &e);
        if (tz)
            fail_msg("accepted a TZif file with %s", cases[i].what);
        assert_int_equal(e.code, ESC_ERR_VALIDATION);
        assert_string_equal(e.field, "timezone");
    }
    free(cases);
    assert_null(esc_tz_parse(NULL, 0, NULL));
    assert_null(esc_tz_parse((const unsigned char *)"TZif", 4, NULL));
}

/* Local wall time -> UTC, in ordinary times, gaps and overlaps. */
static void test_tz_local_to_utc(void **state)
{
    (void)state;
    static const struct {
        const char *zone;
        int y, mo, d, h, mi, s;
    } cases[] = {
        {"Asia/Shanghai", 2026, 11, 23, 9, 0, 0},
        {"America/New_York", 2026, 3, 8, 1, 59, 59},
        {"America/New_York", 2026, 3, 8, 2, 0, 0},  /* gap start: EST -> 07:00Z */
        {"America/New_York", 2026, 3, 8, 2, 30, 0}, /* gap: 03:30 EDT */
        {"America/New_York", 2026, 3, 8, 3, 0, 0},
        {"America/New_York", 2026, 11, 1, 0, 59, 59},
        {"America/New_York", 2026, 11, 1, 1, 0, 0},  /* overlap: the EDT one */
        {"America/New_York", 2026, 11, 1, 1, 30, 0}, /* overlap: the EDT one */
        {"America/New_York", 2026, 11, 1, 2, 0, 0},  /* after: EST */
        {"America/New_York", 2040, 3, 11, 2, 30, 0}, /* footer gap */
        {"America/New_York", 2040, 11, 4, 1, 30, 0}, /* footer overlap */
        {"America/New_York", 2026, 11, 23, 24, 0, 0}, /* hour 24 = next midnight */
        {"Australia/Sydney", 2026, 10, 4, 2, 30, 0}, /* gap: AEST */
        {"Australia/Sydney", 2026, 4, 5, 2, 30, 0},  /* overlap: AEDT */
        {"Australia/Lord_Howe", 2026, 10, 4, 2, 15, 0}, /* half-hour gap: +10:30 */
    };
    const int64_t want[] = {
        utc(2026, 11, 23, 1, 0, 0),
        utc(2026, 3, 8, 6, 59, 59),
        utc(2026, 3, 8, 7, 0, 0),
        utc(2026, 3, 8, 7, 30, 0),
        utc(2026, 3, 8, 7, 0, 0),
        utc(2026, 11, 1, 4, 59, 59),
        utc(2026, 11, 1, 5, 0, 0),
        utc(2026, 11, 1, 5, 30, 0),
        utc(2026, 11, 1, 7, 0, 0),
        utc(2040, 3, 11, 7, 30, 0),
        utc(2040, 11, 4, 5, 30, 0),
        utc(2026, 11, 24, 5, 0, 0),
        utc(2026, 10, 3, 16, 30, 0),
        utc(2026, 4, 4, 15, 30, 0),
        utc(2026, 10, 3, 15, 45, 0),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct esc_tz *tz = load(cases[i].zone);
        int64_t got = esc_tz_local_to_utc(tz, cases[i].y, cases[i].mo, cases[i].d, cases[i].h,
                                          cases[i].mi, cases[i].s);
        if (got != want[i])
            fail_msg("%s %04d-%02d-%02d %02d:%02d:%02d -> %lld, want %lld", cases[i].zone,
                     cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi, cases[i].s,
                     (long long)got, (long long)want[i]);
        esc_tz_free(tz);
    }

    /* Every wall time of a whole year in New York, a minute apart: valid
     * ones map back to themselves, the earliest one when there are two. */
    struct esc_tz *tz = load("America/New_York");
    for (int64_t t = utc(2026, 1, 1, 0, 0, 0); t < utc(2027, 1, 1, 0, 0, 0); t += 60) {
        int64_t local = t + esc_tz_offset(tz, t);
        int64_t days = local / 86400;
        int y, mo, d;
        esc_civil_from_days(days, &y, &mo, &d);
        int64_t sod = local - days * 86400;
        int64_t back = esc_tz_local_to_utc(tz, y, mo, d, (int)(sod / 3600), (int)(sod / 60 % 60), 0);
        if (back + esc_tz_offset(tz, back) != local || back > t)
            fail_msg("wall time of %lld maps to %lld", (long long)t, (long long)back);
        if (back != t && t - back != 3600)
            fail_msg("wall time of %lld maps %lld back", (long long)t, (long long)(t - back));
    }
    esc_tz_free(tz);
}

/* ------------------------------------------------------------- calendars */

static const struct {
    const char *name;
    const char *json;
} hour_sets[] = {
    {"std", "{\"mon\":[\"09:00\",\"18:30\"],\"tue\":[\"09:00\",\"18:30\"],\"wed\":[\"09:00\",\"18:30\"],"
            "\"thu\":[\"09:00\",\"18:30\"],\"fri\":[\"09:00\",\"18:30\"]}"},
    {"late", "{\"mon\":[\"09:00\",\"24:00\"],\"tue\":[\"09:00\",\"24:00\"],\"wed\":[\"09:00\",\"24:00\"],"
             "\"thu\":[\"09:00\",\"24:00\"],\"fri\":[\"09:00\",\"24:00\"]}"},
    {"tuefri", "{\"tue\":[\"10:00\",\"17:00\"],\"wed\":[\"10:00\",\"17:00\"],"
               "\"thu\":[\"10:00\",\"17:00\"],\"fri\":[\"10:00\",\"17:00\"]}"},
    {"sat", "{\"mon\":[\"09:00\",\"18:30\"],\"tue\":[\"09:00\",\"18:30\"],\"wed\":[\"09:00\",\"18:30\"],"
            "\"thu\":[\"09:00\",\"18:30\"],\"fri\":[\"09:00\",\"18:30\"],\"sat\":[\"10:00\",\"14:00\"]}"},
    {"none", "{}"},
    {"early", "{\"mon\":[\"08:00\",\"17:00\"],\"tue\":[\"08:00\",\"17:00\"],\"wed\":[\"08:00\",\"17:00\"],"
              "\"thu\":[\"08:00\",\"17:00\"],\"fri\":[\"08:00\",\"17:00\"]}"},
};

static json_t *date_list(const char *csv)
{
    json_t *arr = json_array();
    if (strcmp(csv, "-") == 0)
        return arr;
    char *copy = strdup(csv), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(tok));
    free(copy);
    return arr;
}

static void test_callback_table(void **state)
{
    (void)state;
    FILE *f = open_data("callback_cases.tsv");
    char line[MAX_LINE];
    int lineno = 0, cases = 0, failures = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *col[9];
        if (split_tabs(line, col, 9) < 7)
            fail_msg("callback_cases.tsv:%d: expected 7+ columns", lineno);
        const char *hours = NULL;
        for (size_t i = 0; i < sizeof hour_sets / sizeof hour_sets[0]; i++)
            if (strcmp(col[1], hour_sets[i].name) == 0)
                hours = hour_sets[i].json;
        if (!hours)
            fail_msg("callback_cases.tsv:%d: unknown hours set %s", lineno, col[1]);
        json_t *doc = json_pack("{s:s, s:o, s:o, s:o}", "timezone", col[0], "hours",
                                json_loads(hours, 0, NULL), "holidays", date_list(col[2]),
                                "extra_workdays", date_list(col[3]));
        assert_non_null(doc);
        struct esc_calendar cal;
        esc_error_t err = {0};
        if (esc_calendar_from_json(doc, &cal, &err) != 0)
            fail_msg("callback_cases.tsv:%d: calendar refused: %s: %s", lineno, err.field,
                     err.message);
        json_decref(doc);
        esc_time_t resolved = parse_or_fail(col[4]);
        esc_time_t got = esc_deadline_callback(&cal, resolved, atoi(col[5]));
        char buf[40] = "none";
        if (got != -1)
            esc_time_format(got, buf, sizeof buf);
        if (strcmp(buf, col[6]) != 0) {
            print_error("callback_cases.tsv:%d (%s): got %s, want %s\n", lineno,
                        col[7] ? col[7] : "", buf, col[6]);
            failures++;
        }
        esc_calendar_free(&cal);
        cases++;
    }
    fclose(f);
    print_message("%d callback cases\n", cases);
    assert_true(cases >= 30);
    assert_int_equal(failures, 0);
}

static void test_calendar_default(void **state)
{
    (void)state;
    struct esc_calendar cal;
    esc_error_t err = {0};
    assert_int_equal(esc_calendar_default(&cal, &err), 0);
    json_t *got = esc_calendar_to_json(&cal);
    json_t *want = json_loads(
        "{\"timezone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [\"09:00\", \"18:30\"], "
        "\"tue\": [\"09:00\", \"18:30\"], \"wed\": [\"09:00\", \"18:30\"], \"thu\": [\"09:00\", "
        "\"18:30\"], \"fri\": [\"09:00\", \"18:30\"]}, \"holidays\": [], \"extra_workdays\": []}",
        0, NULL);
    assert_non_null(want);
    assert_true(json_equal(got, want));
    /* Resolved Mon 2026-11-23 10:00 Beijing time, 3 working days: Thu 18:30. */
    assert_int_equal(esc_deadline_callback(&cal, parse_or_fail("2026-11-23T02:00:00Z"), 3),
                     parse_or_fail("2026-11-26T10:30:00Z"));
    esc_calendar_free(&cal);
    assert_null(cal.tz);
    esc_calendar_free(&cal); /* twice is fine */
    esc_calendar_free(NULL);

    /* Without zoneinfo the default still works (China is UTC+8 all year). */
    const char *old = getenv("TZDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZDIR", "/nonexistent-zoneinfo", 1);
    esc_error_t e2 = {0};
    assert_null(esc_tz_load("Asia/Shanghai", &e2));
    assert_int_equal(esc_calendar_default(&cal, &err), 0);
    assert_string_equal(cal.timezone, "Asia/Shanghai");
    assert_int_equal(esc_tz_offset(cal.tz, utc(2026, 7, 1, 0, 0, 0)), 8 * H);
    assert_int_equal(esc_deadline_callback(&cal, parse_or_fail("2026-11-23T02:00:00Z"), 3),
                     parse_or_fail("2026-11-26T10:30:00Z"));
    esc_calendar_free(&cal);
    if (saved) {
        setenv("TZDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TZDIR");
    }
    json_decref(got);
    json_decref(want);
}

static void test_calendar_round_trip(void **state)
{
    (void)state;
    /* Days out of order, dates unsorted with a duplicate, 24:00 close. */
    const char *in =
        "{\"extra_workdays\": [\"2026-10-10\", \"2026-09-27\"],"
        " \"holidays\": [\"2026-10-07\", \"2026-10-01\", \"2026-10-02\", \"2026-10-01\", \"2024-02-29\"],"
        " \"hours\": {\"sat\": [\"10:00\", \"24:00\"], \"mon\": [\"00:00\", \"18:30\"], \"wed\": [\"08:05\", \"17:55\"]},"
        " \"timezone\": \"America/New_York\"}";
    const char *canon =
        "{\"timezone\": \"America/New_York\","
        " \"hours\": {\"mon\": [\"00:00\", \"18:30\"], \"wed\": [\"08:05\", \"17:55\"], \"sat\": [\"10:00\", \"24:00\"]},"
        " \"holidays\": [\"2024-02-29\", \"2026-10-01\", \"2026-10-02\", \"2026-10-07\"],"
        " \"extra_workdays\": [\"2026-09-27\", \"2026-10-10\"]}";
    json_t *j = json_loads(in, 0, NULL), *want = json_loads(canon, 0, NULL);
    assert_non_null(j);
    assert_non_null(want);
    struct esc_calendar cal;
    esc_error_t err = {0};
    assert_int_equal(esc_calendar_from_json(j, &cal, &err), 0);
    assert_int_equal(err.code, ESC_OK);
    assert_string_equal(cal.timezone, "America/New_York");
    assert_int_equal(cal.open_min[0], 0);
    assert_int_equal(cal.close_min[0], 18 * 60 + 30);
    assert_int_equal(cal.open_min[1], -1);
    assert_int_equal(cal.close_min[5], 24 * 60);
    assert_int_equal(cal.n_holidays, 4);
    assert_int_equal(cal.n_extra_workdays, 2);
    json_t *out = esc_calendar_to_json(&cal);
    assert_true(json_equal(out, want));
    /* key order is canonical too */
    char *s = json_dumps(out, JSON_PRESERVE_ORDER | JSON_COMPACT);
    assert_non_null(s);
    assert_string_equal(s, "{\"timezone\":\"America/New_York\",\"hours\":{\"mon\":[\"00:00\",\"18:30\"],"
                           "\"wed\":[\"08:05\",\"17:55\"],\"sat\":[\"10:00\",\"24:00\"]},"
                           "\"holidays\":[\"2024-02-29\",\"2026-10-01\",\"2026-10-02\",\"2026-10-07\"],"
                           "\"extra_workdays\":[\"2026-09-27\",\"2026-10-10\"]}");
    free(s);

    /* and back again */
    struct esc_calendar cal2;
    assert_int_equal(esc_calendar_from_json(out, &cal2, &err), 0);
    json_t *out2 = esc_calendar_to_json(&cal2);
    assert_true(json_equal(out2, want));

    /* is_workday */
    int open, close;
    assert_true(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 11, 23), &open, &close));
    assert_int_equal(open, 0);
    assert_int_equal(close, 1110);
    assert_false(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 11, 24), &open, &close));
    assert_int_equal(open, -1);
    assert_int_equal(close, -1);
    assert_true(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 11, 28), &open, &close));
    assert_int_equal(open, 600);
    assert_int_equal(close, 1440);
    /* a holiday on a Wednesday */
    assert_false(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 10, 7), NULL, NULL));
    assert_true(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 9, 30), NULL, NULL));
    /* a make-up Sunday and a make-up Saturday: Monday's hours, not Saturday's */
    assert_true(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 9, 27), &open, &close));
    assert_int_equal(open, 0);
    assert_int_equal(close, 1110);
    assert_true(esc_calendar_is_workday(&cal, esc_days_from_civil(2026, 10, 10), &open, &close));
    assert_int_equal(open, 0);
    assert_int_equal(close, 1110);
    assert_false(esc_calendar_is_workday(NULL, 0, &open, &close));

    esc_calendar_free(&cal);
    esc_calendar_free(&cal2);
    json_decref(j);
    json_decref(want);
    json_decref(out);
    json_decref(out2);

    /* The empty calendar is valid; it has no working day at all. */
    j = json_loads("{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}",
                   0, NULL);
    assert_int_equal(esc_calendar_from_json(j, &cal, &err), 0);
    assert_int_equal(esc_deadline_callback(&cal, 0, 1), -1);
    esc_calendar_free(&cal);
    json_decref(j);
}

static void test_calendar_invalid_table(void **state)
{
    (void)state;
    FILE *f = open_data("calendar_invalid.tsv");
    char line[MAX_LINE];
    int lineno = 0, cases = 0, failures = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *col[2];
        if (split_tabs(line, col, 2) != 2)
            fail_msg("calendar_invalid.tsv:%d: expected 2 columns", lineno);
        json_error_t jerr;
        json_t *j = json_loads(col[1], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!j)
            fail_msg("calendar_invalid.tsv:%d: bad JSON: %s", lineno, jerr.text);
        struct esc_calendar cal;
        esc_error_t err = {0};
        int rc = esc_calendar_from_json(j, &cal, &err);
        if (rc != -1 || err.code != ESC_ERR_VALIDATION || strcmp(err.field, col[0]) != 0) {
            print_error("calendar_invalid.tsv:%d: rc %d, code %d, field \"%s\" (%s); want field \"%s\"\n",
                        lineno, rc, err.code, err.field, err.message, col[0]);
            failures++;
        }
        /* a refused calendar holds nothing */
        assert_null(cal.tz);
        assert_null(cal.holidays);
        assert_null(cal.extra_workdays);
        esc_calendar_free(&cal);
        json_decref(j);
        cases++;
    }
    fclose(f);
    print_message("%d invalid calendars\n", cases);
    assert_true(cases >= 40);
    assert_int_equal(failures, 0);
}

static void test_calendar_limits(void **state)
{
    (void)state;
    struct esc_calendar cal;
    for (int n = ESC_CAL_MAX_DATES; n <= ESC_CAL_MAX_DATES + 1; n++) {
        json_t *dates = json_array();
        for (int i = 0; i < n; i++) {
            int y, m, d;
            char buf[16];
            esc_civil_from_days(esc_days_from_civil(2026, 1, 1) + i, &y, &m, &d);
            snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
            json_array_append_new(dates, json_string(buf));
        }
        json_t *j = json_pack("{s:s, s:{}, s:O, s:o}", "timezone", "Asia/Shanghai", "hours",
                              "holidays", dates, "extra_workdays", dates);
        /* the same dates as holidays and extra days: refused either way */
        esc_error_t err = {0};
        assert_int_equal(esc_calendar_from_json(j, &cal, &err), -1);
        assert_string_equal(err.field, n > ESC_CAL_MAX_DATES ? "holidays" : "extra_workdays[0]");
        json_object_set_new(j, "extra_workdays", json_array());
        esc_error_clear(&err);
        int rc = esc_calendar_from_json(j, &cal, &err);
        if (n <= ESC_CAL_MAX_DATES) {
            assert_int_equal(rc, 0);
            assert_int_equal(cal.n_holidays, (size_t)n);
            esc_calendar_free(&cal);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(err.field, "holidays");
        }
        json_decref(j);
    }
    /* A thousand holidays in a row leave no working day within the search. */
    json_t *j = json_loads("{\"timezone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [\"09:00\", \"18:30\"]},"
                           " \"holidays\": [], \"extra_workdays\": []}", 0, NULL);
    esc_error_t err = {0};
    assert_int_equal(esc_calendar_from_json(j, &cal, &err), 0);
    /* only Mondays: about 52 a year, so the 600th is past ten years */
    assert_int_equal(esc_deadline_callback(&cal, parse_or_fail("2026-11-23T02:00:00Z"), 500),
                     parse_or_fail("2036-06-23T10:30:00Z"));
    assert_int_equal(esc_deadline_callback(&cal, parse_or_fail("2026-11-23T02:00:00Z"), 600), -1);
    assert_int_equal(esc_deadline_callback(NULL, 0, 1), -1);
    esc_calendar_free(&cal);
    json_decref(j);
}

/* ------------------------------------------------------------- deadlines */

static void test_deadline_after_warn(void **state)
{
    (void)state;
    esc_time_t start = parse_or_fail("2026-11-23T09:15:00.123456Z");
    assert_int_equal(esc_deadline_after(start, 600), start + 600 * ESC_USEC);
    assert_int_equal(esc_deadline_after(start, 0), start);
    assert_int_equal(esc_deadline_after(start, 86400), parse_or_fail("2026-11-24T09:15:00.123456Z"));
    assert_int_equal(esc_deadline_after(start, INT64_MAX / 2), INT64_MAX); /* saturates */
    assert_int_equal(esc_deadline_warn(start, 86400, 0.8), start + 69120 * ESC_USEC);
    assert_int_equal(esc_deadline_warn(start, 172800, 0.8), start + 138240 * ESC_USEC);
    assert_int_equal(esc_deadline_warn(start, 100, 0.7), start + 70 * ESC_USEC);
    assert_int_equal(esc_deadline_warn(start, 10, 0.333), start + 3330000);
    assert_int_equal(esc_deadline_warn(start, 1, 1.0 / 3.0), start + 333333); /* rounded down */
    assert_int_equal(esc_deadline_warn(start, 3, 0.1), start + 300000);
    assert_int_equal(esc_deadline_warn(start, 86400, 1.0), start + 86400 * ESC_USEC);
    assert_int_equal(esc_deadline_warn(start, 86400, 0.0), start);
}

/* ------------------------------------------------------------- RFC 3339 */

static void test_time_format(void **state)
{
    (void)state;
    static const struct {
        esc_time_t t;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.000Z"},
        {999, "1970-01-01T00:00:00.000Z"},
        {1000, "1970-01-01T00:00:00.001Z"},
        {-1, "1969-12-31T23:59:59.999Z"}, /* toward negative infinity */
        {-1000, "1969-12-31T23:59:59.999Z"},
        {-1001, "1969-12-31T23:59:59.998Z"},
        {1795425300123999LL, "2026-11-23T09:15:00.123Z"},
        {951782400000000LL, "2000-02-29T00:00:00.000Z"},
        {253402300799999999LL, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        esc_time_format(cases[i].t, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
    char small[11];
    esc_time_format(0, small, sizeof small); /* truncated, terminated */
    assert_string_equal(small, "1970-01-01");
}

static void test_time_parse(void **state)
{
    (void)state;
    const esc_time_t base = 1795425300LL * ESC_USEC; /* 2026-11-23T09:15:00Z */
    static const struct {
        const char *s;
        int64_t delta_us; /* from base */
    } ok[] = {
        {"2026-11-23T09:15:00Z", 0},
        {"2026-11-23t09:15:00z", 0},
        {"2026-11-23 09:15:00Z", 0},
        {"2026-11-23T09:15:00.123Z", 123000},
        {"2026-11-23T09:15:00.1Z", 100000},
        {"2026-11-23T09:15:00.123456Z", 123456},
        {"2026-11-23T09:15:00.123456789Z", 123456}, /* ns truncated */
        {"2026-11-23T09:15:00.999999999Z", 999999},
        {"2026-11-23T17:15:00+08:00", 0},
        {"2026-11-23T04:15:00-05:00", 0},
        {"2026-11-23T14:45:00+05:30", 0},
        {"2026-11-23T09:15:00+00:00", 0},
        {"2026-11-23T09:15:00-00:00", 0},
        {"2026-11-23 09:15:00+00", 0},             /* PostgreSQL */
        {"2026-11-23 09:15:00.123456+00", 123456}, /* PostgreSQL */
        {"2026-11-23 17:15:00.5+08", 500000},
        {"2026-11-23 14:45:00+05:30", 0},
        {"2026-11-23 04:15:00-05", 0},
        {"2026-11-23 17:20:43+08:05:43", 0}, /* PostgreSQL, historical LMT */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        esc_time_t t = 0;
        if (esc_time_parse(ok[i].s, &t) != 0)
            fail_msg("refused \"%s\"", ok[i].s);
        if (t != base + ok[i].delta_us)
            fail_msg("\"%s\" -> %lld, want %lld", ok[i].s, (long long)t,
                     (long long)(base + ok[i].delta_us));
    }
    esc_time_t t;
    assert_int_equal(esc_time_parse("2026-11-24T00:00:00+14:45", &t), 0);
    assert_int_equal(t, utc(2026, 11, 23, 9, 15, 0) * ESC_USEC);
    assert_int_equal(esc_time_parse("1969-12-31T23:59:59.999999Z", &t), 0);
    assert_int_equal(t, -1);
    assert_int_equal(esc_time_parse("2024-02-29T00:00:00Z", &t), 0);
    assert_int_equal(esc_time_parse("2000-02-29T00:00:00Z", &t), 0);
    assert_int_equal(esc_time_parse("0001-01-01T00:00:00Z", &t), 0);
    assert_int_equal(esc_time_parse("9999-12-31T23:59:59.999999Z", &t), 0);
    assert_int_equal(t, 253402300799999999LL);

    /* round trips at ms precision */
    for (esc_time_t v = -5000000000123LL; v < 4000000000000000LL; v += 123456789012345LL) {
        char buf[32];
        esc_time_format(v, buf, sizeof buf);
        assert_int_equal(esc_time_parse(buf, &t), 0);
        assert_int_equal(t, v - ((v % 1000) + 1000) % 1000);
    }

    static const char *const bad[] = {
        "",
        "2026-11-23",
        "2026-11-23T09:15",
        "2026-11-23T09:15:00",           /* no offset */
        "2026-11-23T09:15:00ZZ",
        "2026-11-23T09:15:00Z ",
        " 2026-11-23T09:15:00Z",
        "2026-11-23T09:15:00.Z",          /* empty fraction */
        "2026-11-23T09:15:00.1234567890Z", /* 10 digits */
        "2026-11-23T09:15:00,123Z",
        "2026-11-23T09:15:00+08",         /* RFC 3339 wants ±HH:MM */
        "2026-11-23T09:15:00+0800",
        "2026-11-23T09:15:00+8:00",
        "2026-11-23T09:15:00+08:0",
        "2026-11-23T09:15:00+24:00",
        "2026-11-23T09:15:00+08:60",
        "2026-11-23T09:15:00+08:00:00",   /* seconds only in PostgreSQL's form */
        "2026-11-23 09:15:00+08:00:",
        "2026-11-23 09:15:00+",
        "2026-11-23X09:15:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T09:60:00Z",
        "2026-11-23T09:15:60Z",
        "2026-11-31T09:15:00Z",
        "2026-02-29T09:15:00Z",
        "2100-02-29T09:15:00Z",
        "2026-13-01T09:15:00Z",
        "2026-00-01T09:15:00Z",
        "2026-11-00T09:15:00Z",
        "0000-01-01T00:00:00Z",
        "26-11-23T09:15:00Z",
        "2026/11/23T09:15:00Z",
        "2026-11-23T9:15:00Z",
        "+2026-11-23T09:15:00Z",
        "2026-11-23T09:15:00.12a3Z",
        "2026-11-23T09:15:00Z\n",
        "infinity",
        "-infinity",
        "2026-11-23 09:15:00+00 BC",
        "2026-1１-23T09:15:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = 42;
        if (esc_time_parse(bad[i], &t) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(esc_time_parse(NULL, &t), -1);
    assert_int_equal(esc_time_parse("2026-11-23T09:15:00Z", NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_dates),
        cmocka_unit_test(test_tz_load_refuses),
        cmocka_unit_test(test_tz_load_many),
        cmocka_unit_test(test_tz_offsets),
        cmocka_unit_test(test_tz_parse_built),
        cmocka_unit_test(test_tz_local_to_utc),
        cmocka_unit_test(test_callback_table),
        cmocka_unit_test(test_calendar_default),
        cmocka_unit_test(test_calendar_round_trip),
        cmocka_unit_test(test_calendar_invalid_table),
        cmocka_unit_test(test_calendar_limits),
        cmocka_unit_test(test_deadline_after_warn),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
