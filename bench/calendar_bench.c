/* calendar_bench.c — what computing a callback deadline costs a resolve,
 * and the deadlines themselves for comparing with PostgreSQL.
 *
 *   calendar_bench time DOC.json...   microseconds per call of each way:
 *       load     json_loads of the document text (the store does this on
 *                every resolve whichever way the calendar is used)
 *       parse    esc_calendar_from_json (with esc_tz_load) + the deadline +
 *                free: what every resolve did before the cache
 *       cached   escp_calendar_callback_due on a document it has seen (the
 *                comparison with the key + the deadline, under the lock)
 *       compute  esc_deadline_callback alone on a parsed calendar
 *   calendar_bench due DOC.json DAYS  reads resolution instants (microseconds
 *       since the epoch, one a line) and prints each callback deadline the
 *       same way, or "null".
 *
 * Built and run by bench/calendar.sh (docs/decisions.md, "Time zones from
 * one source"). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/deadline.h"
#include "service/calendar_cache.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

/* 2026-11-23T09:15:00Z and every 97 minutes after: resolutions at all hours. */
#define T0 1795425300000000LL
#define STEP (97LL * 60 * 1000000)

static volatile int64_t sink; /* keeps the compiler from dropping the work */

enum way { LOAD, PARSE, CACHED, COMPUTE };

/* Microseconds one call of `way` takes, over n calls. */
static double one_round(enum way way, const char *text, const json_t *doc,
                        const struct esc_calendar *cal, int n)
{
    esc_error_t err = {0};
    double t = now_s();
    for (int i = 0; i < n; i++) {
        esc_time_t at = T0 + (int64_t)i * STEP, due = 0;
        switch (way) {
        case LOAD: {
            json_t *j = json_loads(text, 0, NULL);
            sink += (int64_t)json_object_size(j);
            json_decref(j);
            break;
        }
        case PARSE: {
            struct esc_calendar c;
            if (esc_calendar_from_json(doc, &c, &err) != 0)
                exit(1);
            due = esc_deadline_callback(&c, at, 3);
            esc_calendar_free(&c);
            break;
        }
        case CACHED:
            if (escp_calendar_callback_due(doc, at, 3, &due, &err) != 0)
                exit(1);
            break;
        case COMPUTE:
            due = esc_deadline_callback(cal, at, 3);
            break;
        }
        sink += due;
    }
    return (now_s() - t) / n * 1e6;
}

static int bench(int argc, char **argv)
{
    /* the ways interleaved round by round (a shared machine's load hits
     * them alike), the median of 7 rounds each */
    static const int calls[4] = {20000, 5000, 200000, 200000};
    printf("%-30s %9s %9s %9s %9s\n", "calendar (µs per call)", "load", "parse", "cached", "compute");
    for (int a = 0; a < argc; a++) {
        char *text = slurp(argv[a]);
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
        struct esc_calendar cal;
        esc_error_t err = {0};
        if (!doc || esc_calendar_from_json(doc, &cal, &err) != 0) {
            fprintf(stderr, "calendar_bench: cannot read %s\n", argv[a]);
            return 1;
        }
        escp_calendar_cache_clear();
        double r[4][7];
        for (int round = 0; round < 7; round++)
            for (int w = LOAD; w <= COMPUTE; w++)
                r[w][round] = one_round((enum way)w, text, doc, &cal, calls[w]);
        const char *name = strrchr(argv[a], '/');
        printf("%-30s", name ? name + 1 : argv[a]);
        for (int w = LOAD; w <= COMPUTE; w++) {
            qsort(r[w], 7, sizeof r[w][0], cmp_double);
            printf(" %9.2f", r[w][3]);
        }
        printf("\n");
        esc_calendar_free(&cal);
        json_decref(doc);
        free(text);
    }
    return 0;
}

static int due(const char *path, int days)
{
    char *text = slurp(path);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    if (!doc) {
        fprintf(stderr, "calendar_bench: cannot read %s\n", path);
        return 1;
    }
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        esc_time_t at = strtoll(line, NULL, 10), d = 0;
        esc_error_t err = {0};
        if (escp_calendar_callback_due(doc, at, days, &d, &err) != 0)
            return 1;
        if (d == ESC_TIME_NULL)
            printf("null\n");
        else
            printf("%lld\n", (long long)d);
    }
    json_decref(doc);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "time") == 0)
        return bench(argc - 2, argv + 2);
    if (argc == 4 && strcmp(argv[1], "due") == 0)
        return due(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: calendar_bench time DOC.json...\n"
                    "       calendar_bench due DOC.json DAYS < instants\n");
    return 2;
}
