/* fuzz_calendar.c — esc_calendar_from_json (lib/core/deadline.c) on
 * arbitrary bytes read as JSON, then the calendar in use.  Invariants: a
 * refusal is ESC_ERR_VALIDATION (or the input was not a JSON value); an
 * accepted calendar's canonical form is accepted again and is a fixed
 * point; callback deadlines are after the resolution, or -1 when no day is
 * worked. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/deadline.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        return 0;
    struct esc_calendar cal, again;
    esc_error_t err = {0};
    memset(&cal, 0, sizeof cal);
    memset(&again, 0, sizeof again);
    if (esc_calendar_from_json(j, &cal, &err) != 0) {
        CHECK(err.code == ESC_ERR_VALIDATION || err.code == ESC_ERR_INTERNAL);
        esc_calendar_free(&cal); /* harmless after a failure */
        json_decref(j);
        return 0;
    }
    json_t *canon = esc_calendar_to_json(&cal);
    CHECK(canon);
    CHECK(esc_calendar_from_json(canon, &again, &err) == 0);
    json_t *canon2 = esc_calendar_to_json(&again);
    CHECK(canon2 && json_equal(canon, canon2));

    /* Resolution times spread over 2000..2100 by the input's bytes. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;
    for (int i = 0; i < 8; i++) {
        h = h * 6364136223846793005ULL + 1442695040888963407ULL;
        esc_time_t at = (esc_time_t)(946684800LL + (int64_t)(h >> 33) % (100LL * 365 * 86400)) * ESC_USEC;
        esc_time_t due = esc_deadline_callback(&cal, at, 1 + (int)(h % 10));
        CHECK(due == -1 || due > at);
        int open, close;
        if (esc_calendar_is_workday(&cal, at / ESC_USEC / 86400, &open, &close))
            CHECK(open >= 0 && open < close && close <= 24 * 60);
    }
    json_decref(canon);
    json_decref(canon2);
    json_decref(j);
    esc_calendar_free(&cal);
    esc_calendar_free(&again);
    return 0;
}
