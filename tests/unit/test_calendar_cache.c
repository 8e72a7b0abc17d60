/* test_calendar_cache.c — lib/service/calendar_cache.c: the cached callback
 * deadline is the one a freshly parsed calendar gives; a changed document
 * is used by the very next call (no stale answer), also when it changes
 * back; a document that does not parse falls back to the default calendar;
 * no working day ahead is ESC_TIME_NULL; and threads alternating between
 * two documents each get the right answer every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "core/deadline.h"
#include "service/calendar_cache.h"

/* Monday 2026-11-23 09:15 UTC (17:15 in Shanghai, 04:15 in New York) */
#define MON_0915Z (esc_days_from_civil(2026, 11, 23) * 86400LL * ESC_USEC + (9 * 3600LL + 15 * 60) * ESC_USEC)

static const char *SHANGHAI =
    "{\"timezone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [\"09:00\", \"18:30\"], \"tue\": [\"09:00\", "
    "\"18:30\"], \"wed\": [\"09:00\", \"18:30\"], \"thu\": [\"09:00\", \"18:30\"], \"fri\": [\"09:00\", "
    "\"18:30\"]}, \"holidays\": [], \"extra_workdays\": []}";

/* the same, with Thursday 2026-11-26 a holiday */
static const char *SHANGHAI_HOLIDAY =
    "{\"timezone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [\"09:00\", \"18:30\"], \"tue\": [\"09:00\", "
    "\"18:30\"], \"wed\": [\"09:00\", \"18:30\"], \"thu\": [\"09:00\", \"18:30\"], \"fri\": [\"09:00\", "
    "\"18:30\"]}, \"holidays\": [\"2026-11-26\"], \"extra_workdays\": []}";

static const char *NEW_YORK =
    "{\"timezone\": \"America/New_York\", \"hours\": {\"mon\": [\"07:30\", \"16:15\"], \"sat\": "
    "[\"10:00\", \"14:00\"]}, \"holidays\": [\"2026-11-28\"], \"extra_workdays\": []}";

static json_t *doc(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in the test: %s", e.text);
    return j;
}

/* The deadline from a freshly parsed calendar: what the cache must give. */
static esc_time_t fresh(const char *text, esc_time_t at, int days)
{
    json_t *j = doc(text);
    struct esc_calendar cal;
    esc_error_t err = {0};
    assert_int_equal(esc_calendar_from_json(j, &cal, &err), 0);
    esc_time_t due = esc_deadline_callback(&cal, at, days);
    esc_calendar_free(&cal);
    json_decref(j);
    return due;
}

static esc_time_t cached(const char *text, esc_time_t at, int days)
{
    json_t *j = doc(text);
    esc_error_t err = {0};
    esc_time_t due = 0;
    assert_int_equal(escp_calendar_callback_due(j, at, days, &due, &err), 0);
    json_decref(j);
    return due;
}

static esc_time_t at_local(int y, int m, int d, int hh, int mm, int offset_h)
{
    return (esc_days_from_civil(y, m, d) * 86400LL + (hh - offset_h) * 3600LL + mm * 60LL) * ESC_USEC;
}

static int reset(void **state)
{
    (void)state;
    escp_calendar_cache_clear();
    return 0;
}

static void cached_answer_is_the_freshly_parsed_one(void **state)
{
    (void)state;
    for (int days = 1; days <= 5; days++) {
        assert_int_equal(cached(SHANGHAI, MON_0915Z, days), fresh(SHANGHAI, MON_0915Z, days));
        assert_int_equal(cached(NEW_YORK, MON_0915Z, days), fresh(NEW_YORK, MON_0915Z, days));
    }
    /* resolved Monday: the 3rd working day after is Thursday, 18:30 +08:00 */
    assert_int_equal(cached(SHANGHAI, MON_0915Z, 3), at_local(2026, 11, 26, 18, 30, 8));
}

static void a_changed_document_is_used_by_the_next_call(void **state)
{
    (void)state;
    assert_int_equal(cached(SHANGHAI, MON_0915Z, 3), at_local(2026, 11, 26, 18, 30, 8));
    /* Thursday becomes a holiday: Friday */
    assert_int_equal(cached(SHANGHAI_HOLIDAY, MON_0915Z, 3), at_local(2026, 11, 27, 18, 30, 8));
    /* and back */
    assert_int_equal(cached(SHANGHAI, MON_0915Z, 3), at_local(2026, 11, 26, 18, 30, 8));
    /* another zone altogether: Monday 04:15 in New York, worked Mondays and
     * Saturdays, Saturday 28th a holiday: Mon 30th, Sat 5th Dec, Mon 7th */
    assert_int_equal(cached(NEW_YORK, MON_0915Z, 1), at_local(2026, 11, 30, 16, 15, -5));
    assert_int_equal(cached(NEW_YORK, MON_0915Z, 2), at_local(2026, 12, 5, 14, 0, -5));
    assert_int_equal(cached(NEW_YORK, MON_0915Z, 3), at_local(2026, 12, 7, 16, 15, -5));
}

static void an_invalid_document_falls_back_to_the_default_calendar(void **state)
{
    (void)state;
    /* (the error it logs is expected) */
    const char *bad = "{\"timezone\": \"Mars/Olympus_Mons\", \"hours\": {}, \"holidays\": [], "
                      "\"extra_workdays\": []}";
    assert_int_equal(cached(bad, MON_0915Z, 3), fresh(SHANGHAI, MON_0915Z, 3));
    assert_int_equal(cached(bad, MON_0915Z, 1), fresh(SHANGHAI, MON_0915Z, 1));
    /* and a valid one after it is used */
    assert_int_equal(cached(NEW_YORK, MON_0915Z, 1), at_local(2026, 11, 30, 16, 15, -5));
}

static void no_working_day_ahead_is_no_deadline(void **state)
{
    (void)state;
    /* (the warning it logs is expected) */
    const char *never = "{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [], \"extra_workdays\": []}";
    assert_true(cached(never, MON_0915Z, 3) == ESC_TIME_NULL);
}

/* ---- threads ---- */

#define THREADS 4
#define ROUNDS 3000

static json_t *parsed[3];
static esc_time_t want[3][16];

struct worker {
    int id, wrong, failed;
};

static void *work(void *p)
{
    struct worker *w = p;
    for (int i = 0; i < ROUNDS; i++) {
        int d = (i + w->id) % 3, k = (i * 7 + w->id) % 16;
        esc_time_t due = 0;
        esc_error_t err = {0};
        if (escp_calendar_callback_due(parsed[d], MON_0915Z + k * 5 * 3600LL * ESC_USEC, 3, &due, &err) != 0)
            w->failed++;
        else if (due != want[d][k])
            w->wrong++;
    }
    return NULL;
}

static void threads_alternating_documents_each_get_the_right_answer(void **state)
{
    (void)state;
    const char *texts[3] = {SHANGHAI, SHANGHAI_HOLIDAY, NEW_YORK};
    for (int d = 0; d < 3; d++) {
        parsed[d] = doc(texts[d]);
        for (int k = 0; k < 16; k++)
            want[d][k] = fresh(texts[d], MON_0915Z + k * 5 * 3600LL * ESC_USEC, 3);
    }
    /* the two Shanghai documents differ on some of those instants */
    int differ = 0;
    for (int k = 0; k < 16; k++)
        differ += want[0][k] != want[1][k];
    assert_true(differ > 0);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    int wrong = 0, failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += w[i].wrong;
        failed += w[i].failed;
    }
    for (int d = 0; d < 3; d++)
        json_decref(parsed[d]);
    assert_int_equal(failed, 0);
    assert_int_equal(wrong, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(cached_answer_is_the_freshly_parsed_one, reset),
        cmocka_unit_test_setup(a_changed_document_is_used_by_the_next_call, reset),
        cmocka_unit_test_setup(an_invalid_document_falls_back_to_the_default_calendar, reset),
        cmocka_unit_test_setup(no_working_day_ahead_is_no_deadline, reset),
        cmocka_unit_test_setup(threads_alternating_documents_each_get_the_right_answer, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    escp_calendar_cache_clear();
    return rc;
}
