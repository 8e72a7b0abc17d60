/* json_util.c — JSON shapes shared by the API and the store. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "escalated/mask.h"
#include "internal.h"

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

static void mask_field(json_t *obj, const char *key, char *(*mask)(const char *))
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return;
    char *m = mask(json_string_value(v));
    if (m) {
        json_object_set_new(obj, key, json_string(m));
        free(m);
    }
}

void escp_ticket_mask(json_t *ticket)
{
    json_t *cust = json_object_get(ticket, "customer");
    if (json_is_object(cust)) {
        mask_field(cust, "phone", esc_mask_phone);
        mask_field(cust, "email", esc_mask_email);
        mask_field(cust, "id_number", esc_mask_id_number);
    }
    mask_field(ticket, "subject", esc_mask_text);
    mask_field(ticket, "description", esc_mask_text);
}
