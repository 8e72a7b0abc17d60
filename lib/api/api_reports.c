/* api_reports.c — the manager reports (docs/reports.md):
 *   GET /v1/reports/sla       the SLA table by tier, severity, category (at a
 *                             level of the taxonomy), day or assignee, as JSON
 *                             or (Accept: text/csv) as CSV
 *   GET /v1/reports/monthly   a month's most frequent categories and root causes
 *   GET /v1/reports/problems  problems: states, time to root cause and to fix,
 *                             linked complaints, recurrences (JSON or CSV)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "core/taxonomy.h"
#include "http/http.h"

#define MONTHLY_LIMIT_DEFAULT 10
#define MONTHLY_LIMIT_MAX 100

/* The SLA table's columns, in CSV order (after "key"). */
static const char *const sla_columns[] = {
    "created", "acknowledged", "resolved", "closed", "ack_breaches", "resolve_breaches",
    "ack_breach_rate", "resolve_breach_rate", "mtta_seconds", "mttr_seconds", "p90_ttr_seconds",
    "resolution_rate", "satisfaction_rate", NULL};
/* ... and after those, by assignee (issue 10 item 7) */
static const char *const agent_columns[] = {"agent_name", "handled", "escalated", "returned",
                                            "reopened", NULL};

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

static void puts_(struct escp_text *t, const char *s) { escp_text_put(t, s, strlen(s)); }

/* A text field: quoted when it holds a comma, quote, CR or LF or starts or
 * ends with a space (quotes doubled); a leading = + - @ TAB or CR, which
 * spreadsheets would run as a formula, gets a ' in front (OWASP). */
static void put_text(struct escp_text *t, const char *s)
{
    bool formula = s[0] && strchr("=+-@\t\r", s[0]);
    size_t n = strlen(s);
    bool quote = formula || strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        escp_text_put(t, s, n);
        return;
    }
    escp_text_put(t, "\"", 1);
    if (formula)
        escp_text_put(t, "'", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"')
            escp_text_put(t, "\"\"", 2);
        else
            escp_text_put(t, q, 1);
    }
    escp_text_put(t, "\"", 1);
}

/* A JSON value as a field: null -> empty, numbers exactly as the JSON body
 * prints them, strings as text. */
static void put_value(struct escp_text *t, json_t *v)
{
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        put_text(t, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!s) {
        t->failed = true;
        return;
    }
    puts_(t, s);
    free(s);
}

/* The groups as CSV: a header row, one row per group, CRLF after each.
 * NULL when out of memory. */
static char *sla_csv(json_t *groups, bool by_agent, size_t *len)
{
    struct escp_text t = {0};
    puts_(&t, "key");
    for (const char *const *c = sla_columns; *c; c++) {
        puts_(&t, ",");
        puts_(&t, *c);
    }
    for (const char *const *c = agent_columns; by_agent && *c; c++) {
        puts_(&t, ",");
        puts_(&t, *c);
    }
    puts_(&t, "\r\n");
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        put_value(&t, json_object_get(g, "key"));
        for (const char *const *c = sla_columns; *c; c++) {
            puts_(&t, ",");
            put_value(&t, json_object_get(g, *c));
        }
        for (const char *const *c = agent_columns; by_agent && *c; c++) {
            puts_(&t, ",");
            put_value(&t, strcmp(*c, "agent_name") == 0
                              ? json_object_get(json_object_get(g, "agent"), "name")
                              : json_object_get(g, *c));
        }
        puts_(&t, "\r\n");
    }
    char *csv = escp_text_take(&t, len);
    /* the renderer appends "\n" to every body: give it the last CRLF's \r */
    if (csv)
        csv[--*len] = '\0';
    return csv;
}

/* ---- GET /v1/reports/sla ---- */

static void escp_api_report_sla(struct escp_req *r)
{
    static const char *const allowed[] = {"from", "to", "group_by", "level", NULL};
    static const char *const group_bys[] = {"tier", "severity", "category", "day", "assignee",
                                            NULL};
    esc_error_t *err = &r->err;
    char fbuf[48], tbuf[48];
    const char *from, *to, *group_by = escp_query(r, "group_by");
    if (escp_query_only(r, allowed) != 0)
        return;
    if (!group_by)
        group_by = "tier";
    const char *const *g = group_bys;
    while (*g && strcmp(*g, group_by) != 0)
        g++;
    if (!*g) {
        esc_error_set(err, ESC_ERR_VALIDATION, "group_by",
                      "group_by must be tier, severity, category, day or assignee");
        return;
    }
    /* a level of the taxonomy (issue 10): root categories are level 1 */
    const char *lv = escp_query(r, "level");
    int level = 0;
    if (lv) {
        int64_t n = escp_parse_id(lv);
        if (strcmp(*g, "category") != 0 || n < 1 || n > ESC_TAXONOMY_MAX_DEPTH) {
            esc_error_set(err, ESC_ERR_VALIDATION, "level",
                          "level must be 1 to %d, with group_by=category", ESC_TAXONOMY_MAX_DEPTH);
            return;
        }
        level = (int)n;
    }
    if (escp_time_query(r, "from", fbuf, sizeof fbuf, &from) != 0 ||
        escp_time_query(r, "to", tbuf, sizeof tbuf, &to) != 0)
        return;
    json_t *doc = escp_svc_report_sla(r->svc, from, to, *g, level, err);
    if (!doc)
        return;
    r->status = 200;
    if (!wants_csv(escp_header(r, MHD_HTTP_HEADER_ACCEPT))) {
        r->json = doc;
        return;
    }
    r->raw = sla_csv(json_object_get(doc, "groups"), strcmp(*g, "assignee") == 0, &r->raw_len);
    json_decref(doc);
    if (!r->raw)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    r->ctype = "text/csv; charset=utf-8";
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
    const char *month = escp_query(r, "month");
    int limit = MONTHLY_LIMIT_DEFAULT;
    if (escp_query_only(r, allowed) != 0)
        return;
    if (month && !month_valid(month)) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "month", "month must be YYYY-MM");
        return;
    }
    if (escp_limit_query(r, MONTHLY_LIMIT_MAX, &limit) != 0)
        return;
    r->json = escp_svc_report_monthly(r->svc, month, limit, &r->err);
    r->status = 200;
}

/* ---- GET /v1/reports/problems ---- */

/* The problems report's CSV columns after scope and category: the header
 * and where each value is in a row of the JSON ("object.key" one level
 * down), so the two forms cannot disagree. */
static const char *const problems_columns[][2] = {
    {"created", "created"}, {"open", "open"}, {"closed", "closed"},
    {"closed_effective", "closed_effective"},
    {"state_open", "by_state.open"}, {"state_root_cause_found", "by_state.root_cause_found"},
    {"state_action_planned", "by_state.action_planned"}, {"state_fixed", "by_state.fixed"},
    {"state_verifying", "by_state.verifying"}, {"state_closed", "by_state.closed"},
    {"root_cause_count", "time_to_root_cause.count"},
    {"root_cause_mean_seconds", "time_to_root_cause.mean_seconds"},
    {"root_cause_median_seconds", "time_to_root_cause.median_seconds"},
    {"root_cause_p90_seconds", "time_to_root_cause.p90_seconds"},
    {"fix_count", "time_to_fix.count"}, {"fix_mean_seconds", "time_to_fix.mean_seconds"},
    {"fix_median_seconds", "time_to_fix.median_seconds"},
    {"fix_p90_seconds", "time_to_fix.p90_seconds"},
    {"linked_complaints", "linked_complaints"}, {"recurrences", "recurrences"},
    {"problems_recurred", "problems_recurred"},
    {NULL, NULL}};

static json_t *dotted(json_t *row, const char *path)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return json_object_get(row, path);
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
    return json_object_get(json_object_get(row, head), dot + 1);
}

static void problems_csv_row(struct escp_text *t, const char *scope, json_t *row)
{
    puts_(t, scope);
    puts_(t, ",");
    put_value(t, json_object_get(row, "category"));
    for (int c = 0; problems_columns[c][0]; c++) {
        puts_(t, ",");
        put_value(t, dotted(row, problems_columns[c][1]));
    }
    puts_(t, "\r\n");
}

/* The totals (scope "total", no category), then one row per category
 * (scope "category"; an empty category is a problem without one). */
static char *problems_csv(json_t *doc, size_t *len)
{
    struct escp_text t = {0};
    puts_(&t, "scope,category");
    for (int c = 0; problems_columns[c][0]; c++) {
        puts_(&t, ",");
        puts_(&t, problems_columns[c][0]);
    }
    puts_(&t, "\r\n");
    problems_csv_row(&t, "total", json_object_get(doc, "totals"));
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "categories"), i, g)
        problems_csv_row(&t, "category", g);
    char *csv = escp_text_take(&t, len);
    if (csv) /* the renderer appends "\n" to every body */
        csv[--*len] = '\0';
    return csv;
}

static void escp_api_report_problems(struct escp_req *r)
{
    static const char *const allowed[] = {"from", "to", NULL};
    esc_error_t *err = &r->err;
    char fbuf[48], tbuf[48];
    const char *from, *to;
    if (escp_query_only(r, allowed) != 0 || escp_time_query(r, "from", fbuf, sizeof fbuf, &from) != 0 ||
        escp_time_query(r, "to", tbuf, sizeof tbuf, &to) != 0)
        return;
    json_t *doc = escp_svc_report_problems(r->svc, from, to, err);
    if (!doc)
        return;
    r->status = 200;
    if (!wants_csv(escp_header(r, MHD_HTTP_HEADER_ACCEPT))) {
        r->json = doc;
        return;
    }
    r->raw = problems_csv(doc, &r->raw_len);
    json_decref(doc);
    if (!r->raw)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    r->ctype = "text/csv; charset=utf-8";
}

const struct escp_route escp_routes_reports[] = {
    {"GET", "/v1/reports/sla",     escp_api_report_sla, ESCP_MANAGERS, -1},
    {"GET", "/v1/reports/monthly", escp_api_report_monthly, ESCP_MANAGERS, -1},
    {"GET", "/v1/reports/problems", escp_api_report_problems, ESCP_MANAGERS, -1},
    {0},
};
