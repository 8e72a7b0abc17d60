/* metrics.c — request counters, latency histograms and the Prometheus text
 * exposition format.  Pure: durations and database figures come in as
 * arguments.  One mutex per server guards the counters; it is held for a few
 * additions per request, and a scrape copies the counters under it and
 * formats them after letting go. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

static void text_putc(struct escp_text *t, char c) { escp_text_put(t, &c, 1); }
static void text_puts(struct escp_text *t, const char *s) { escp_text_put(t, s, strlen(s)); }

/* ---- exposition format ---- */

const char *escp_prom_value(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else {
        /* the shortest of %.15g .. %.17g that reads back as v */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return buf;
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(struct escp_text *t, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            text_puts(t, "\\\\");
        else if (*s == '\n')
            text_puts(t, "\\n");
        else if (quote && *s == '"')
            text_puts(t, "\\\"");
        else
            text_putc(t, *s);
    }
}

void escp_prom_family(struct escp_text *t, const char *name, const char *type, const char *help)
{
    escp_text_printf(t, "# HELP %s ", name);
    put_escaped(t, help, false);
    escp_text_printf(t, "\n# TYPE %s %s\n", name, type);
}

static void sample_head(struct escp_text *t, const char *name, const char *const *labels)
{
    text_puts(t, name);
    if (labels && labels[0]) {
        text_putc(t, '{');
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            if (i)
                text_putc(t, ',');
            text_puts(t, labels[i]);
            text_puts(t, "=\"");
            put_escaped(t, labels[i + 1], true);
            text_putc(t, '"');
        }
        text_putc(t, '}');
    }
    text_putc(t, ' ');
}

void escp_prom_sample(struct escp_text *t, const char *name, const char *const *labels, double v)
{
    char buf[40];
    sample_head(t, name, labels);
    text_puts(t, escp_prom_value(v, buf, sizeof buf));
    text_putc(t, '\n');
}

void escp_prom_sample_u64(struct escp_text *t, const char *name, const char *const *labels,
                          uint64_t v)
{
    sample_head(t, name, labels);
    escp_text_printf(t, "%llu\n", (unsigned long long)v);
}

/* ---- request counters and histograms ---- */

const double escp_metrics_buckets[ESCP_METRICS_NBUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

enum { NMETHODS = 8, METHOD_OTHER = NMETHODS - 1 };
static const char *const method_names[NMETHODS] = {"GET",   "HEAD",    "POST",  "PUT",
                                                   "DELETE", "PATCH", "OPTIONS", "other"};

static int method_index(const char *m)
{
    for (int i = 0; m && i < METHOD_OTHER; i++)
        if (strcmp(m, method_names[i]) == 0)
            return i;
    return METHOD_OTHER;
}

struct series {
    int method, status;
    uint64_t count;
};

struct hist {
    uint64_t bucket[ESCP_METRICS_NBUCKETS + 1]; /* not cumulative; the last is +Inf */
    uint64_t count, sum_ns;
};

struct route_m {
    char label[128];
    int own_method; /* -1: none */
    struct hist hist[NMETHODS];
    struct series *s; /* sorted by method, then status */
    size_t n, cap;
};

struct escp_metrics {
    pthread_mutex_t mu;
    size_t n; /* routes + 1; the last is "unmatched" */
    struct route_m *r;
    pthread_mutex_t db_mu; /* guards db */
    struct escp_db_reading db;
};

char *escp_metrics_route_label(const char *pattern, char *out, size_t len)
{
    size_t o = 0;
    const char *prev = "", *p = pattern;
    size_t prev_len = 0;
    if (!len)
        return out;
    while (*p && o + 1 < len) {
        if (*p == '/') {
            out[o++] = *p++;
            continue;
        }
        size_t seg = strcspn(p, "/");
        const char *text = p;
        size_t tlen = seg;
        if (seg == 2 && p[0] == '{' && p[1] == '}') {
            if (prev_len == 6 && memcmp(prev, "queues", 6) == 0)
                text = "{tier}";
            else if (prev_len == 8 && memcmp(prev, "policies", 8) == 0)
                text = "{severity}";
            else if (prev_len == 9 && memcmp(prev, "dashboard", 9) == 0)
                text = "{file}";
            else
                text = "{id}";
            tlen = strlen(text);
        }
        for (size_t i = 0; i < tlen && o + 1 < len; i++)
            out[o++] = text[i];
        prev = p;
        prev_len = seg;
        p += seg;
    }
    out[o] = '\0';
    return out;
}

struct escp_metrics *escp_metrics_new(const char *const *patterns, const char *const *methods,
                                      size_t nroutes)
{
    struct escp_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n = nroutes + 1;
    m->r = calloc(m->n, sizeof *m->r);
    if (!m->r) {
        free(m);
        return NULL;
    }
    for (size_t i = 0; i < nroutes; i++) {
        escp_metrics_route_label(patterns[i], m->r[i].label, sizeof m->r[i].label);
        m->r[i].own_method = methods && methods[i] ? method_index(methods[i]) : -1;
    }
    snprintf(m->r[nroutes].label, sizeof m->r[nroutes].label, "unmatched");
    m->r[nroutes].own_method = -1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->db_mu, NULL);
    return m;
}

void escp_metrics_free(struct escp_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->r[i].s);
    free(m->r);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->db_mu);
    free(m);
}

/* The series (method, status) of a route, inserted in order if new; NULL
 * when out of memory.  Called with m->mu held. */
static struct series *series_of(struct route_m *r, int method, int status)
{
    size_t i = 0;
    while (i < r->n && (r->s[i].method < method ||
                        (r->s[i].method == method && r->s[i].status < status)))
        i++;
    if (i < r->n && r->s[i].method == method && r->s[i].status == status)
        return &r->s[i];
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        struct series *s = realloc(r->s, cap * sizeof *s);
        if (!s)
            return NULL;
        r->s = s;
        r->cap = cap;
    }
    memmove(&r->s[i + 1], &r->s[i], (r->n - i) * sizeof *r->s);
    r->n++;
    r->s[i] = (struct series){method, status, 0};
    return &r->s[i];
}

void escp_metrics_observe(struct escp_metrics *m, int route, const char *method, int status,
                          double seconds)
{
    if (!m)
        return;
    size_t ri = route >= 0 && (size_t)route < m->n - 1 ? (size_t)route : m->n - 1;
    int mi = method_index(method);
    if (!(seconds >= 0)) /* negative or NaN */
        seconds = 0;
    size_t b = 0;
    while (b < ESCP_METRICS_NBUCKETS && seconds > escp_metrics_buckets[b])
        b++;
    uint64_t ns = seconds < 1e9 ? (uint64_t)llround(seconds * 1e9) : UINT64_C(1000000000000000000);

    pthread_mutex_lock(&m->mu);
    struct route_m *r = &m->r[ri];
    struct series *s = series_of(r, mi, status);
    if (s) { /* out of memory: the request is not counted anywhere, to stay consistent */
        s->count++;
        struct hist *h = &r->hist[mi];
        h->bucket[b]++;
        h->count++;
        h->sum_ns += ns;
    }
    pthread_mutex_unlock(&m->mu);
}

/* A copy of the counters, made under the lock. */
static struct route_m *snapshot(struct escp_metrics *m)
{
    struct route_m *copy = calloc(m->n, sizeof *copy);
    if (!copy)
        return NULL;
    int ok = 1;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        copy[i] = m->r[i];
        copy[i].s = NULL;
        copy[i].cap = 0;
        if (m->r[i].n) {
            copy[i].s = malloc(m->r[i].n * sizeof *copy[i].s);
            if (!copy[i].s) {
                copy[i].n = 0;
                ok = 0;
                continue;
            }
            memcpy(copy[i].s, m->r[i].s, m->r[i].n * sizeof *copy[i].s);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (!ok) {
        for (size_t i = 0; i < m->n; i++)
            free(copy[i].s);
        free(copy);
        return NULL;
    }
    return copy;
}

void escp_metrics_render(struct escp_metrics *m, struct escp_text *t)
{
    struct route_m *snap = snapshot(m);
    if (!snap) {
        t->failed = true;
        return;
    }
    char status[16];
    escp_prom_family(t, "escalated_http_requests_total", "counter",
                     "HTTP requests answered, by route pattern, method and status code.");
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < snap[i].n; j++) {
            snprintf(status, sizeof status, "%d", snap[i].s[j].status);
            const char *const labels[] = {"route", snap[i].label, "method",
                                          method_names[snap[i].s[j].method], "status", status,
                                          NULL};
            escp_prom_sample_u64(t, "escalated_http_requests_total", labels, snap[i].s[j].count);
        }

    escp_prom_family(t, "escalated_http_request_duration_seconds", "histogram",
                     "Time from a request's headers arriving to its response being queued, by "
                     "route pattern and method. Long polls (claim ?wait=) include the wait.");
    for (size_t i = 0; i < m->n; i++)
        for (int mi = 0; mi < NMETHODS; mi++) {
            const struct hist *h = &snap[i].hist[mi];
            if (!h->count && mi != snap[i].own_method)
                continue;
            char le[40];
            const char *labels[] = {"route", snap[i].label, "method", method_names[mi], "le", le,
                                    NULL};
            uint64_t cum = 0;
            for (size_t b = 0; b <= ESCP_METRICS_NBUCKETS; b++) {
                cum += h->bucket[b];
                if (b < ESCP_METRICS_NBUCKETS)
                    escp_prom_value(escp_metrics_buckets[b], le, sizeof le);
                else
                    snprintf(le, sizeof le, "+Inf");
                escp_prom_sample_u64(t, "escalated_http_request_duration_seconds_bucket", labels,
                                     cum);
            }
            labels[4] = NULL; /* _sum and _count have no le */
            escp_prom_sample(t, "escalated_http_request_duration_seconds_sum", labels,
                             (double)h->sum_ns / 1e9);
            escp_prom_sample_u64(t, "escalated_http_request_duration_seconds_count", labels,
                                 h->count);
        }
    for (size_t i = 0; i < m->n; i++)
        free(snap[i].s);
    free(snap);
}

/* ---- database figures ---- */

bool escp_metrics_db_reusable(double now, double read_at, double cost)
{
    double age = now - read_at, keep = cost * ESCP_DB_REUSE_FACTOR;
    if (keep > ESCP_DB_REUSE_MAX_S)
        keep = ESCP_DB_REUSE_MAX_S;
    return age >= 0 && age < keep;
}

struct escp_db_reading *escp_metrics_db_lock(struct escp_metrics *m)
{
    pthread_mutex_lock(&m->db_mu);
    return &m->db;
}

void escp_metrics_db_unlock(struct escp_metrics *m) { pthread_mutex_unlock(&m->db_mu); }

const char *const escp_metrics_notify_statuses[ESCP_NOTIFY_STATUSES] = {
    "pending", "delivered", "failed", "undeliverable"};
const char *const escp_metrics_delivery_statuses[ESCP_DELIVERY_STATUSES] = {
    "pending", "delivered", "failed", "cancelled"};

void escp_metrics_render_db(const struct escp_db_metrics *d, struct escp_text *t)
{
    escp_prom_family(t, "escalated_tickets_open", "gauge",
                     "Tickets not closed, by current tier and state.");
    for (int tier = 0; tier < 3; tier++) {
        const char *tiers[] = {"line-1", "line-2", "line-3"};
        for (int s = 0; s < ESCP_OPEN_STATES; s++) {
            const char *const labels[] = {"tier", tiers[tier], "state", esc_state_names[s], NULL};
            escp_prom_sample_u64(t, "escalated_tickets_open", labels, d->open[tier][s]);
        }
    }
    escp_prom_family(t, "escalated_timers_pending", "gauge",
                     "Live SLA timers (deadlines not yet reached or not yet fired), by kind.");
    for (int k = 0; k < ESCP_TIMER_KINDS; k++) {
        /* the warning's timer is "warn" in the database, "at_risk" on its events */
        const char *kind = k == ESCP_TIMER_WARN ? "at_risk" : esc_timer_names[k];
        const char *const labels[] = {"kind", kind, NULL};
        escp_prom_sample_u64(t, "escalated_timers_pending", labels, d->timers[k]);
    }
    escp_prom_family(t, "escalated_timers_overdue_seconds", "gauge",
                     "How long ago the earliest live timer came due without being fired "
                     "(0 when none is due): the SLA engine's backlog.");
    escp_prom_sample(t, "escalated_timers_overdue_seconds", NULL, d->timer_overdue_s);
    escp_prom_family(t, "escalated_breaches_total", "counter",
                     "SLA breaches recorded in the database (all daemons), by kind.");
    for (int k = 0; k < ESCP_BREACH_KINDS; k++) {
        const char *const labels[] = {"kind", esc_breach_names[k], NULL};
        escp_prom_sample_u64(t, "escalated_breaches_total", labels, d->breaches[k]);
    }
    escp_prom_family(t, "escalated_notifications", "gauge",
                     "Notifications in the outbox (breaches, at-risk warnings, major "
                     "complaints), by status.");
    for (int k = 0; k < ESCP_NOTIFY_STATUSES; k++) {
        const char *const labels[] = {"status", escp_metrics_notify_statuses[k], NULL};
        escp_prom_sample_u64(t, "escalated_notifications", labels, d->notifications[k]);
    }
    escp_prom_family(t, "escalated_webhook_deliveries", "gauge",
                     "Webhook deliveries (one per notification and endpoint), by status.");
    for (int k = 0; k < ESCP_DELIVERY_STATUSES; k++) {
        const char *const labels[] = {"status", escp_metrics_delivery_statuses[k], NULL};
        escp_prom_sample_u64(t, "escalated_webhook_deliveries", labels, d->deliveries[k]);
    }
}
