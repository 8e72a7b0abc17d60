/* request.c — the request helpers the api/ handlers share: the JSON body,
 * and the query parameters several routes take (times, limit, cursor, wait).
 * Each one that can fail sets r->err (a validation error naming the
 * parameter) and returns -1 or NULL; the handler then returns at once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/deadline.h"
#include "core/validate.h"
#include "http/http.h"

json_t *escp_body_object(struct escp_req *r, bool allow_empty)
{
    if (r->body_len == 0) {
        if (allow_empty)
            return json_object();
        esc_error_set(&r->err, ESC_ERR_INVALID_JSON, NULL, "a JSON object body is required");
        return NULL;
    }
    /* jansson refuses invalid UTF-8, so this is also the API's UTF-8 gate */
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        esc_error_set(&r->err, ESC_ERR_INVALID_JSON, NULL, "the body is not valid JSON: %s at line %d",
                      jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(j)) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, NULL, "the body must be a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The instants escp_time_pg can write and esc_time_parse read back: years
 * 0001..9999 in UTC.  An offset can carry a time that is in range locally out
 * of it ("0001-01-01T00:00:00+01:00"), which PostgreSQL would refuse as year
 * 0; it is refused here as the client's mistake instead. */
#define TIME_MIN ((esc_time_t)(esc_days_from_civil(1, 1, 1) * 86400) * ESC_USEC)
#define TIME_END ((esc_time_t)(esc_days_from_civil(10000, 1, 1) * 86400) * ESC_USEC)

int escp_parse_time(const char *v, const char *name, esc_time_t *out, esc_error_t *err)
{
    esc_time_t t;
    if (esc_time_parse(v, &t) != 0 || t < TIME_MIN || t >= TIME_END) {
        esc_error_set(err, ESC_ERR_VALIDATION, name, "%s must be an RFC 3339 time", name);
        return -1;
    }
    *out = t;
    return 0;
}

int escp_parse_limit(const char *v, int max, int *limit, esc_error_t *err)
{
    int64_t n = escp_parse_id(v);
    if (n < 1 || n > max) {
        esc_error_set(err, ESC_ERR_VALIDATION, "limit", "limit must be 1 to %d", max);
        return -1;
    }
    *limit = (int)n;
    return 0;
}

int escp_parse_wait(const char *v, int max_s, int *wait_ms, esc_error_t *err)
{
    char *end;
    double secs = strtod(v, &end);
    /* the negated range test also refuses NaN */
    if (end == v || *end || !(secs >= 0 && secs <= max_s)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "wait", "wait must be 0 to %d seconds", max_s);
        return -1;
    }
    /* to the nearest millisecond: truncation made 1.013 s 1012 ms (it is
     * 1012.999... in binary; fuzz_query found it) */
    *wait_ms = (int)(secs * 1000 + 0.5);
    return 0;
}

int escp_parse_cursor(const char *v, char prefix, int64_t *before_id, esc_error_t *err)
{
    /* Only what escp_page_next writes: strtoull alone would also take a
     * sign, blanks or "0x" ("c-ffffffffffffffff" read as 1). */
    static const char hex[] = "0123456789abcdefABCDEF";
    char *end = NULL;
    unsigned long long n =
        v[0] == prefix && v[1] && strspn(v + 1, hex) == strlen(v + 1) ? strtoull(v + 1, &end, 16) : 0;
    if (!n || !end || *end || n > INT64_MAX) {
        esc_error_set(err, ESC_ERR_VALIDATION, "cursor", "cursor is not one this server gave");
        return -1;
    }
    *before_id = (int64_t)n;
    return 0;
}

int escp_time_query(struct escp_req *r, const char *name, char *buf, size_t len, const char **out)
{
    const char *v = escp_query(r, name);
    esc_time_t t;
    *out = NULL;
    if (!v)
        return 0;
    if (escp_parse_time(v, name, &t, &r->err) != 0)
        return -1;
    escp_time_pg(t, buf, len);
    *out = buf;
    return 0;
}

int escp_limit_query(struct escp_req *r, int max, int *limit)
{
    const char *v = escp_query(r, "limit");
    return v ? escp_parse_limit(v, max, limit, &r->err) : 0;
}

int escp_wait_query(struct escp_req *r, int max_s, int *wait_ms)
{
    const char *v = escp_query(r, "wait");
    *wait_ms = 0;
    return v ? escp_parse_wait(v, max_s, wait_ms, &r->err) : 0;
}

int escp_cursor_query(struct escp_req *r, char prefix, int64_t *before_id)
{
    const char *v = escp_query(r, "cursor");
    return v ? escp_parse_cursor(v, prefix, before_id, &r->err) : 0;
}

json_t *escp_page_next(json_t *items, int limit, char prefix)
{
    if (json_array_size(items) <= (size_t)limit)
        return json_null();
    json_array_remove(items, (size_t)limit);
    json_int_t last = json_integer_value(json_object_get(json_array_get(items, (size_t)limit - 1), "id"));
    char cur[32];
    snprintf(cur, sizeof cur, "%c%llx", prefix, (unsigned long long)last);
    return json_string(cur);
}

/* ---- path parameters ---- */

int64_t escp_path_id(struct escp_req *r, int i, const char *what)
{
    int64_t id = escp_parse_id(r->params[i]);
    if (id <= 0)
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "no such %s", what);
    return id > 0 ? id : 0;
}

/* ---- If-Match: "<version>" (tickets, the taxonomy, problems) ---- */

int escp_if_match(struct escp_req *r, int *out)
{
    const char *h = escp_header(r, MHD_HTTP_HEADER_IF_MATCH);
    *out = -1;
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    char buf[16];
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "If-Match", "If-Match must be \"<version>\"");
        return -1;
    }
    memcpy(buf, h, n);
    buf[n] = '\0';
    int64_t v = escp_parse_id(buf);
    if (v <= 0 || v > 2000000000) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "If-Match", "If-Match must be \"<version>\"");
        return -1;
    }
    *out = (int)v;
    return 0;
}
