/* dashboard.h — the manager dashboard: the aggregates behind
 * GET /v1/dashboard/summary (store_dashboard.c) and the page's static files,
 * embedded at build time from dashboard/ (generated/dashboard_assets.c). */
#ifndef ESCALATED_DASHBOARD_H
#define ESCALATED_DASHBOARD_H

#include <stddef.h>

#include "internal.h"

/* The open states the summary counts, in display order ("open" = not closed;
 * a resolved ticket is still open until its callback closes it). */
#define ESCP_DASH_OPEN_STATES "{awaiting_ack,acknowledged,waiting_customer,resolved}"

struct escp_dash_query {
    int at_risk_limit;   /* how many at-risk tickets to list (the count is of all) */
    int horizon_seconds; /* "at risk": a live deadline within this many seconds */
    int days;            /* breaches per day over this many local days, today included */
    int recent_events;   /* feed_after: the id of the recent_events-th latest event */
};

/* The summary object (new reference), every part read in one transaction so
 * they share the database clock:
 *   {"generated_at", "timezone",
 *    "open": [{"tier", "state", "count"}...],       every tier x open state
 *    "open_total",
 *    "at_risk_next_hour": {"horizon_seconds", "count", "items": [...]},
 *    "breaches_per_day": [{"day", "ack", "resolve", "callback"}...],   oldest first
 *    "feed_after"}       an event id: GET /v1/events?after= it gives the latest events
 * NULL with err set on failure. */
json_t *escp_store_dashboard_summary(struct escp_conn *c, const struct escp_dash_query *q,
                                     esc_error_t *err);

/* One embedded static file of the page. */
struct escp_asset {
    const char *name;  /* file name under dashboard/, e.g. "app.js" */
    const char *etag;  /* "\"<first 16 hex digits of its SHA-256>\"" */
    const unsigned char *data;
    size_t len;
};
extern const struct escp_asset escp_dashboard_assets[]; /* ends with {0} */

#endif
