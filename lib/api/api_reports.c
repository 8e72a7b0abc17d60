/* api_reports.c — the manager reports (docs/reports.md):
 *   GET /v1/reports/sla       the SLA table by tier, severity, category or day,
 *                             as JSON or (Accept: text/csv) as CSV
 *   GET /v1/reports/monthly   a month's most frequent categories and root causes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

#define DAY_GROUPS_MAX 1000     /* group_by=day covers at most this many days */
#define MONTHLY_LIMIT_DEFAULT 10
#define MONTHLY_LIMIT_MAX 100

/* The SLA table's columns, in CSV order (after "key"). */
static const char *const sla_columns[] = {
    "created", "acknowledged", "resolved", "closed", "ack_breaches", "resolve_breaches",
    "ack_breach_rate", "resolve_breach_rate", "mtta_seconds", "mttr_seconds", "p90_ttr_seconds",
    "resolution_rate", "satisfaction_rate", NULL};

/* ---- content negotiation ---- */

struct pref {
    double q;
    int specificity; /* 2 exact type, 1 type/x-wildcard, 0 star-slash-star */
    int order;
};

static void consider(struct pref *best, double q, int specificity, int order)
{
    if (specificity > best->specificity ||
        (specificity == best->specificity && order < best->order)) {
        best->q = q;
        best->specificity = specificity;
        best->order = order;
    }
}

/* Does the Accept header prefer text/csv to application/json?  The most
 * specific range that matches each type gives its q; the higher q wins, then
 * the more specific match, then the one listed first.  No header, or one that
 * names neither: JSON. */
static bool wants_csv(const char *accept)
{
    struct pref csv = {0, -1, 1 << 30}, json = {0, -1, 1 << 30};
    const char *p = accept;
    for (int order = 0; p && *p; order++) {
        size_t n = strcspn(p, ",");
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item - 1 ? n : sizeof item - 1), p);
        p = p[n] ? p + n + 1 : p + n;
        char *s = item;
        s += strspn(s, " \t");
        size_t tl = strcspn(s, "; \t");
        double q = 1.0;
        const char *qp = strstr(s + tl, "q=");
        if (qp)
            q = strtod(qp + 2, NULL);
        if (!(q >= 0 && q <= 1))
            q = 0;
        if (tl == 8 && strncasecmp(s, "text/csv", tl) == 0)
            consider(&csv, q, 2, order);
        else if (tl == 6 && strncasecmp(s, "text/*", tl) == 0)
            consider(&csv, q, 1, order);
        else if (tl == 16 && strncasecmp(s, "application/json", tl) == 0)
            consider(&json, q, 2, order);
        else if (tl == 13 && strncasecmp(s, "application/*", tl) == 0)
            consider(&json, q, 1, order);
        else if (tl == 3 && strncmp(s, "*/*", tl) == 0) {
            consider(&csv, q, 0, order);
            consider(&json, q, 0, order);
        }
    }
    if (csv.specificity < 0 || csv.q <= 0)
        return false;
    if (json.specificity < 0 || csv.q != json.q)
        return csv.q > json.q || json.specificity < 0;
    if (csv.specificity != json.specificity)
        return csv.specificity > json.specificity;
    return csv.order < json.order;
}

/* ---- CSV (RFC 4180) ---- */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A text field: quoted when it holds a comma, quote, CR or LF or starts or
 * ends with a space (quotes doubled); a leading = + - @ TAB or CR, which
 * spreadsheets would run as a formula, gets a ' in front (OWASP). */
static void put_text(struct buf *b, const char *s)
{
    bool formula = s[0] && strchr("=+-@\t\r", s[0]);
    size_t n = strlen(s);
    bool quote = formula || strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        put(b, s, n);
        return;
    }
    put(b, "\"", 1);
    if (formula)
        put(b, "'", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"')
            put(b, "\"\"", 2);
        else
            put(b, q, 1);
    }
    put(b, "\"", 1);
}

/* A JSON value as a field: null -> empty, numbers exactly as the JSON body
 * prints them, strings as text. */
static void put_value(struct buf *b, json_t *v)
{
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        put_text(b, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!s) {
        b->oom = true;
        return;
    }
    puts_(b, s);
    free(s);
}

/* The groups as CSV: a header row, one row per group, CRLF after each. */
static char *sla_csv(json_t *groups, size_t *len)
{
    struct buf b = {0};
    puts_(&b, "key");
    for (const char *const *c = sla_columns; *c; c++) {
        puts_(&b, ",");
        puts_(&b, *c);
    }
    puts_(&b, "\r\n");
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        put_value(&b, json_object_get(g, "key"));
        for (const char *const *c = sla_columns; *c; c++) {
            puts_(&b, ",");
            put_value(&b, json_object_get(g, *c));
        }
        puts_(&b, "\r\n");
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    /* the renderer appends "\n" to every body: give it the last CRLF's \r */
    b.p[--b.len] = '\0';
    *len = b.len;
    return b.p;
}

/* ---- GET /v1/reports/sla ---- */

static void escp_api_report_sla(struct escp_req *r)
{
    static const char *const allowed[] = {"from", "to", "group_by", NULL};
    static const char *const group_bys[] = {"tier", "severity", "category", "day", NULL};
    esc_error_t *err = &r->err;
    char fbuf[48], tbuf[48];
    const char *from, *to, *group_by = escp_query(r, "group_by");
    if (escp_require_manager(r) != 0 || escp_query_only(r, allowed) != 0)
        return;
    if (!group_by)
        group_by = "tier";
    const char *const *g = group_bys;
    while (*g && strcmp(*g, group_by) != 0)
        g++;
    if (!*g) {
        esc_error_set(err, ESC_ERR_VALIDATION, "group_by", "group_by must be tier, severity, category or day");
        return;
    }
    if (escp_time_query(r, "from", fbuf, sizeof fbuf, &from) != 0 ||
        escp_time_query(r, "to", tbuf, sizeof tbuf, &to) != 0)
        return;

    struct escp_report_period p;
    json_t *groups = NULL;
    struct escp_conn *c = escp_lease(r->svc->store, err);
    if (!c)
        return;
    if (escp_store_report_begin(c, err) != 0 || escp_store_report_period(c, from, to, &p, err) != 0)
        goto out;
    if (!p.ordered) {
        esc_error_set(err, ESC_ERR_VALIDATION, to || !from ? "to" : "from", "from must be before to");
        goto out;
    }
    if (strcmp(*g, "day") == 0 && p.days > DAY_GROUPS_MAX) {
        esc_error_set(err, ESC_ERR_VALIDATION, "to", "group_by=day covers at most %d days", DAY_GROUPS_MAX);
        goto out;
    }
    groups = escp_store_report_sla(c, &p, *g, err);
out:
    escp_release(r->svc->store, c); /* ends the read-only transaction */
    if (!groups)
        return;
    r->status = 200;
    if (wants_csv(escp_header(r, MHD_HTTP_HEADER_ACCEPT))) {
        r->raw = sla_csv(groups, &r->raw_len);
        json_decref(groups);
        if (!r->raw)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        r->ctype = "text/csv; charset=utf-8";
        return;
    }
    r->json = json_pack("{s:o,s:o,s:s,s:s,s:o}", "from", escp_json_time(p.from), "to",
                        escp_json_time(p.to), "group_by", *g, "timezone", p.tz, "groups", groups);
}

/* ---- GET /v1/reports/monthly ---- */

static bool month_valid(const char *s)
{
    if (strlen(s) != 7 || s[4] != '-' || strspn(s, "0123456789") != 4 || strspn(s + 5, "0123456789") != 2)
        return false;
    int year = atoi(s), mon = atoi(s + 5);
    return year >= 1970 && year <= 9999 && mon >= 1 && mon <= 12;
}

static void escp_api_report_monthly(struct escp_req *r)
{
    static const char *const allowed[] = {"month", "limit", NULL};
    esc_error_t *err = &r->err;
    const char *month = escp_query(r, "month");
    int limit = MONTHLY_LIMIT_DEFAULT;
    if (escp_require_manager(r) != 0 || escp_query_only(r, allowed) != 0)
        return;
    if (month && !month_valid(month)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "month", "month must be YYYY-MM");
        return;
    }
    if (escp_limit_query(r, MONTHLY_LIMIT_MAX, &limit) != 0)
        return;
    struct escp_report_period p;
    char mon[8];
    json_t *doc = NULL;
    struct escp_conn *c = escp_lease(r->svc->store, err);
    if (!c)
        return;
    if (escp_store_report_begin(c, err) == 0 && escp_store_report_month(c, month, &p, mon, err) == 0)
        doc = escp_store_report_monthly(c, &p, limit, err);
    escp_release(r->svc->store, c); /* ends the read-only transaction */
    if (!doc)
        return;
    json_t *head = json_pack("{s:s,s:s,s:o,s:o}", "month", mon, "timezone", p.tz, "from",
                             escp_json_time(p.from), "to", escp_json_time(p.to));
    json_object_update(head, doc);
    json_decref(doc);
    r->status = 200;
    r->json = head;
}

const struct escp_route escp_routes_reports[] = {
    {"GET", "/v1/reports/sla",     escp_api_report_sla, ESCP_MANAGERS, -1},
    {"GET", "/v1/reports/monthly", escp_api_report_monthly, ESCP_MANAGERS, -1},
    {0},
};
