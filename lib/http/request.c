/* request.c — the request helpers the api/ handlers share: the JSON body,
 * and the query parameters several routes take (times, limit, cursor, wait).
 * Each one that can fail sets r->err (a validation error naming the
 * parameter) and returns -1 or NULL; the handler then returns at once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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

int escp_time_query(struct escp_req *r, const char *name, char *buf, size_t len, const char **out)
{
    const char *v = escp_query(r, name);
    esc_time_t t;
    *out = NULL;
    if (!v)
        return 0;
    if (esc_time_parse(v, &t) != 0) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, name, "%s must be an RFC 3339 time", name);
        return -1;
    }
    escp_time_pg(t, buf, len);
    *out = buf;
    return 0;
}

int escp_limit_query(struct escp_req *r, int max, int *limit)
{
    const char *v = escp_query(r, "limit");
    if (!v)
        return 0;
    int64_t n = escp_parse_id(v);
    if (n < 1 || n > max) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "limit", "limit must be 1 to %d", max);
        return -1;
    }
    *limit = (int)n;
    return 0;
}

int escp_wait_query(struct escp_req *r, int max_s, int *wait_ms)
{
    const char *v = escp_query(r, "wait");
    *wait_ms = 0;
    if (!v)
        return 0;
    char *end;
    double secs = strtod(v, &end);
    /* the negated range test also refuses NaN */
    if (end == v || *end || !(secs >= 0 && secs <= max_s)) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "wait", "wait must be 0 to %d seconds", max_s);
        return -1;
    }
    *wait_ms = (int)(secs * 1000);
    return 0;
}

int escp_cursor_query(struct escp_req *r, char prefix, int64_t *before_id)
{
    const char *v = escp_query(r, "cursor");
    if (!v)
        return 0;
    char *end = NULL;
    unsigned long long n = v[0] == prefix && v[1] ? strtoull(v + 1, &end, 16) : 0;
    if (!n || !end || *end || n > INT64_MAX) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "cursor", "cursor is not one this server gave");
        return -1;
    }
    *before_id = (int64_t)n;
    return 0;
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
