/* fuzz_tzif.c — esc_tz_parse (lib/core/tz.c) on arbitrary bytes, then the
 * zone in use: offsets and local -> UTC across the years the daemon can
 * meet.  Invariants: a zone is refused or usable; offsets stay within
 * RFC 8536's bounds (more than -25 hours, less than 26), which the parser
 * enforces, and local -> UTC lands within that distance of the naive
 * reading. */
#include <stddef.h>
#include <stdint.h>

#include "core/deadline.h"
#include "fuzz.h"

#define OFF_OK(off) ((off) >= -89999 && (off) <= 93599)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    esc_error_t err = {0};
    struct esc_tz *tz = esc_tz_parse(data, size, &err);
    if (!tz) {
        CHECK(err.code != ESC_OK);
        return 0;
    }
    /* 1900 to 2200, in steps that land on every month and hour of day. */
    const int64_t lo = -2208988800LL, hi = 7258118400LL, step = 86400LL * 37 + 3607;
    for (int64_t t = lo; t < hi; t += step) {
        int32_t off = esc_tz_offset(tz, t);
        CHECK(OFF_OK(off));
    }
    static const int64_t edges[] = {INT64_MIN, INT64_MIN / 2, -1, 0, 1, INT64_MAX / 2, INT64_MAX};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        int32_t off = esc_tz_offset(tz, edges[i]);
        CHECK(OFF_OK(off));
    }
    for (int y = 1950; y <= 2150; y += 7) {
        for (int m = 1; m <= 12; m += 2) {
            int d = 1 + (y + m) % 28, h = m % 24;
            int64_t naive = esc_days_from_civil(y, m, d) * 86400 + h * 3600 + 30 * 60;
            int64_t u = esc_tz_local_to_utc(tz, y, m, d, h, 30, 0);
            CHECK(u - naive >= -93599 && u - naive <= 89999);
        }
    }
    esc_tz_free(tz);
    return 0;
}
