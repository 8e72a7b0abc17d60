/* fuzz_query.c — the query value parsers (lib/http/request.c:
 * escp_parse_time, _limit, _wait, _cursor) on arbitrary text.  The first
 * byte picks the parser, the second its bound (max, max_s, the cursor's
 * prefix); the rest, up to a NUL, is the value, as libmicrohttpd hands it on.
 *
 * Invariants: a refusal is a validation error naming the parameter, and the
 * output is left alone; nothing outside the bounds is accepted; an accepted
 * value written back the way the server writes it (a time as escp_time_pg
 * passes it to PostgreSQL, a cursor as escp_page_next writes it, a limit or
 * a wait in decimal) is accepted again with the same meaning. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "fuzz.h"

#define SENTINEL (-12345)

static void refused(const esc_error_t *err, const char *name)
{
    CHECK(err->code == ESC_ERR_VALIDATION);
    CHECK(strcmp(err->field, name) == 0 && err->message[0]);
}

static void accepted(const esc_error_t *err) { CHECK(err->code == ESC_OK); }

static void fuzz_time(const char *v)
{
    esc_error_t err = {0};
    esc_time_t t = SENTINEL;
    if (escp_parse_time(v, "from", &t, &err) != 0) {
        refused(&err, "from");
        CHECK(t == SENTINEL);
        return;
    }
    accepted(&err);
    char pg[48];
    escp_time_pg(t, pg, sizeof pg);
    esc_time_t again = SENTINEL;
    CHECK(escp_parse_time(pg, "from", &again, &err) == 0);
    CHECK(again == t);
}

static void fuzz_limit(const char *v, int max)
{
    esc_error_t err = {0};
    int n = SENTINEL;
    if (escp_parse_limit(v, max, &n, &err) != 0) {
        refused(&err, "limit");
        CHECK(n == SENTINEL);
        return;
    }
    accepted(&err);
    CHECK(n >= 1 && n <= max);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", n);
    int again = SENTINEL;
    CHECK(escp_parse_limit(buf, max, &again, &err) == 0 && again == n);
}

static void fuzz_wait(const char *v, int max_s)
{
    esc_error_t err = {0};
    int ms = SENTINEL;
    if (escp_parse_wait(v, max_s, &ms, &err) != 0) {
        refused(&err, "wait");
        CHECK(ms == SENTINEL);
        return;
    }
    accepted(&err);
    CHECK(ms >= 0 && ms <= max_s * 1000);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%03d", ms / 1000, ms % 1000);
    int again = SENTINEL;
    CHECK(escp_parse_wait(buf, max_s, &again, &err) == 0 && again == ms);
}

static void fuzz_cursor(const char *v, char prefix)
{
    esc_error_t err = {0};
    int64_t id = SENTINEL;
    if (escp_parse_cursor(v, prefix, &id, &err) != 0) {
        refused(&err, "cursor");
        CHECK(id == SENTINEL);
        return;
    }
    accepted(&err);
    CHECK(id >= 1);
    /* only what escp_page_next could have written: the prefix, then hex */
    CHECK(v[0] == prefix && v[1]);
    for (const char *p = v + 1; *p; p++)
        CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'));
    char buf[32];
    snprintf(buf, sizeof buf, "%c%" PRIx64, prefix, (uint64_t)id);
    int64_t again = SENTINEL;
    CHECK(escp_parse_cursor(buf, prefix, &again, &err) == 0 && again == id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char *v = malloc(size - 1);
    if (!v)
        return 0;
    memcpy(v, data + 2, size - 2);
    v[size - 2] = '\0';
    switch (data[0] % 4) {
    case 0:
        fuzz_time(v);
        break;
    case 1:
        fuzz_limit(v, 1 + data[1] * 4); /* the routes' maxima are 100 to 1000 */
        break;
    case 2:
        fuzz_wait(v, data[1] % 121); /* 0 s (no waiting) to two minutes */
        break;
    default:
        fuzz_cursor(v, "bcn"[data[1] % 3]);
        break;
    }
    free(v);
    return 0;
}
