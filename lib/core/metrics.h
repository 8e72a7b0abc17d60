/* metrics.h — GET /metrics: the in-process request counters and latency
 * histograms, the figures read from the database at scrape time, and the
 * Prometheus text exposition format (version 0.0.4) they are written in.
 *
 * The counting (escp_metrics_*) and the formatting (escp_prom_*, escp_text_*)
 * are pure: no clock, no database, no I/O; the caller passes durations and
 * figures in, so tests/unit/test_metrics.c covers them.  docs/metrics.md
 * lists every metric. */
#ifndef ESCALATED_METRICS_H
#define ESCALATED_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/text.h"
#include "core/model.h"

/* ---- the exposition format ---- */
/* "# HELP name help" (help escaped) and "# TYPE name type". */
void escp_prom_family(struct escp_text *t, const char *name, const char *type, const char *help);
/* One sample line.  labels: name/value pairs ending in NULL (or NULL for
 * none); values are escaped (\\, \", \n).  The _u64 form prints integers
 * exactly; the double form prints the shortest text that reads back as the
 * same double, and NaN, +Inf, -Inf as the format spells them. */
void escp_prom_sample(struct escp_text *t, const char *name, const char *const *labels, double v);
void escp_prom_sample_u64(struct escp_text *t, const char *name, const char *const *labels,
                          uint64_t v);
/* The text of a value as escp_prom_sample writes it; buf >= 32. */
const char *escp_prom_value(double v, char *buf, size_t len);

/* ---- HTTP request counters and latency histograms ---- */
struct escp_metrics;

/* The histogram's upper bounds in seconds (the +Inf bucket is implied). */
#define ESCP_METRICS_NBUCKETS 14
extern const double escp_metrics_buckets[ESCP_METRICS_NBUCKETS];

/* The route label of a route-table pattern: each "{}" segment is named after
 * the segment before it ("/v1/queues/{}/claim" -> "/v1/queues/{tier}/claim",
 * "/v1/policies/{}" -> "/v1/policies/{severity}", "/dashboard/{}" ->
 * "/dashboard/{file}", otherwise "{id}").
 * Returns out (truncated to len). */
char *escp_metrics_route_label(const char *pattern, char *out, size_t len);

/* patterns: the route table's patterns, and each route's method (may be
 * NULL: then no series is shown before its first request).  Copies both.
 * NULL when out of memory. */
struct escp_metrics *escp_metrics_new(const char *const *patterns, const char *const *methods,
                                      size_t nroutes);
void escp_metrics_free(struct escp_metrics *m);
/* Count one answered request.  route: an index into the patterns given to
 * _new, or -1 for a path no route matches (label "unmatched").  method: any
 * text (methods other than GET HEAD POST PUT DELETE PATCH OPTIONS count as
 * "other").  seconds: from its headers arriving to its response being queued.
 * Thread-safe; NULL m is a no-op. */
void escp_metrics_observe(struct escp_metrics *m, int route, const char *method, int status,
                          double seconds);
/* Append escalated_http_requests_total and
 * escalated_http_request_duration_seconds. */
void escp_metrics_render(struct escp_metrics *m, struct escp_text *t);

/* ---- figures read from the database at scrape time ---- */
/* The open states, timer kinds and breach kinds are the model's lists
 * (core/model.h), indexed by its enums; the timer "warn" is labelled
 * "at_risk". */
enum { ESCP_OPEN_STATES = ESC_OPEN_STATES };
enum { ESCP_TIMER_KINDS = ESCP_TIMER__COUNT };
enum { ESCP_BREACH_KINDS = ESC_BREACH__COUNT };
enum { ESCP_NOTIFY_STATUSES = 4 }; /* pending, delivered, failed, undeliverable */
enum { ESCP_DELIVERY_STATUSES = 4 }; /* pending, delivered, failed, cancelled */
extern const char *const escp_metrics_notify_statuses[ESCP_NOTIFY_STATUSES];
extern const char *const escp_metrics_delivery_statuses[ESCP_DELIVERY_STATUSES];

struct escp_db_metrics {
    uint64_t open[3][ESCP_OPEN_STATES];   /* [tier - 1][state]: tickets not closed */
    uint64_t timers[ESCP_TIMER_KINDS];    /* live timers */
    double timer_overdue_s;               /* now - earliest due_at, 0 when none is due */
    uint64_t breaches[ESCP_BREACH_KINDS]; /* rows in breaches */
    uint64_t notifications[ESCP_NOTIFY_STATUSES]; /* rows in the outbox */
    uint64_t deliveries[ESCP_DELIVERY_STATUSES];  /* webhook deliveries */
};
/* Append the families of *d. */
void escp_metrics_render_db(const struct escp_db_metrics *d, struct escp_text *t);

/* The last reading, kept per server.  A reading that took `cost` seconds is
 * reused while it is younger than ESCP_DB_REUSE_FACTOR * cost (at most
 * ESCP_DB_REUSE_MAX_S): however often and by however many scrapers a daemon
 * is asked, the figures take at most about a tenth of one database
 * connection's time, and on a small database they are always fresh. */
#define ESCP_DB_REUSE_FACTOR 10
#define ESCP_DB_REUSE_MAX_S 300.0
bool escp_metrics_db_reusable(double now, double read_at, double cost);
struct escp_db_reading {
    bool have;
    struct escp_db_metrics d;
    double read_at, cost; /* monotonic seconds; seconds the statement took */
};
/* Lock the server's last reading (one scrape reads the database at a time)
 * and unlock it. */
struct escp_db_reading *escp_metrics_db_lock(struct escp_metrics *m);
void escp_metrics_db_unlock(struct escp_metrics *m);

#endif
