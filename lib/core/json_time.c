/* json_time.c — instants on the wire: RFC 3339 text for JSON, and the
 * microsecond text PostgreSQL is given. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/ticket.h"

json_t *escp_json_time(const char *pg_text)
{
    esc_time_t t;
    char buf[40];
    if (!pg_text || esc_time_parse(pg_text, &t) != 0)
        return json_null();
    esc_time_format(t, buf, sizeof buf);
    return json_string(buf);
}

void escp_time_pg(esc_time_t t, char *buf, size_t len)
{
    int64_t secs = t / ESC_USEC, us = t % ESC_USEC;
    if (us < 0) {
        us += ESC_USEC;
        secs -= 1;
    }
    time_t tt = (time_t)secs;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)us);
}
