/* http.h — the request/response structs shared by http.c and api_*.c. */
#ifndef ESCALATED_HTTP_H
#define ESCALATED_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>

#include "internal.h"

struct esc_server;

struct escp_req {
    struct esc_server *srv;
    struct escp_svc *svc;
    struct MHD_Connection *conn;
    const char *method;
    char *path;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    const char *params[2];   /* path parameters ({id}, {tier}) */
    int action;              /* enum esc_action for action routes */
    struct esc_actor actor;
    volatile int *stopping;
    /* the response */
    int status;
    json_t *json;            /* owned */
    char *raw;               /* owned, with raw_len and ctype */
    size_t raw_len;
    const char *ctype;
    double started;          /* monotonic seconds when the headers arrived (metrics) */
    char etag[24], location[64];
    bool replayed;
    char allow[64];
    const char *const *headers; /* more response headers: {name, value, ..., NULL}, static */
    const char *cache_control;  /* NULL = "no-store" */
    esc_error_t err;
};

/* Query parameter or header (NULL when absent); borrowed from libmicrohttpd. */
const char *escp_query(struct escp_req *r, const char *name);
const char *escp_header(struct escp_req *r, const char *name);
/* 0 when every query parameter is one of `allowed` (NULL-terminated); else a
 * validation error naming the first unknown one. */
int escp_query_only(struct escp_req *r, const char *const *allowed);

/* Handlers (api_tickets.c).  Each sets r->status and r->json, or r->err. */
void escp_api_ticket_create(struct escp_req *r);
void escp_api_ticket_get(struct escp_req *r);
void escp_api_ticket_list(struct escp_req *r);
void escp_api_ticket_events(struct escp_req *r);
void escp_api_ticket_customer(struct escp_req *r);
void escp_api_ticket_action(struct escp_req *r);
void escp_api_claim(struct escp_req *r);
void escp_api_healthz(struct escp_req *r);
/* api_sla.c */
void escp_api_breaches(struct escp_req *r);
void escp_api_policies_get(struct escp_req *r);
void escp_api_policy_put(struct escp_req *r);
void escp_api_calendar_get(struct escp_req *r);
void escp_api_calendar_put(struct escp_req *r);
/* api_reports.c, api_events.c */
void escp_api_report_sla(struct escp_req *r);
void escp_api_report_monthly(struct escp_req *r);
void escp_api_events(struct escp_req *r);
/* @reports-handlers */
/* api_metrics.c */
void escp_api_metrics(struct escp_req *r);
/* @events-metrics-handlers */
/* api_webhooks.c (admin only) */
void escp_api_webhook_create(struct escp_req *r);
void escp_api_webhook_list(struct escp_req *r);
void escp_api_webhook_get(struct escp_req *r);
void escp_api_webhook_delete(struct escp_req *r);
void escp_api_notification_list(struct escp_req *r);
void escp_api_notification_get(struct escp_req *r);
void escp_api_notification_retry(struct escp_req *r);
/* @webhooks-handlers */
/* api_dashboard.c */
void escp_api_dashboard_summary(struct escp_req *r);
void escp_api_dashboard_page(struct escp_req *r);
void escp_api_dashboard_chartjs(struct escp_req *r);
void escp_api_dashboard_file(struct escp_req *r);
/* @dashboard-handlers */
/* shared validation helpers (api_tickets.c) */
json_t *escp_body_object(struct escp_req *r, bool allow_empty);
int escp_only_keys(json_t *obj, const char *const *allowed, const char *prefix, esc_error_t *err);
int64_t escp_parse_id(const char *s);
/* Pure validation of a parsed request body (no request, no database).
 * escp_ticket_body_parse: the POST /v1/tickets body into *nt (strings
 * borrowed from b; severity/channel defaulted, description "" when absent;
 * the Idempotency-Key is the handler's).  escp_action_body_parse: an action's
 * body into *a (ESC_ERR_NOT_FOUND for an action without a route).  Both: 0,
 * or -1 with a validation error naming the field; err non-NULL and clear. */
int escp_ticket_body_parse(json_t *b, struct escp_new_ticket *nt, esc_error_t *err);
int escp_action_body_parse(enum esc_action action, json_t *b, struct escp_action_args *a,
                           esc_error_t *err);
int escp_require_manager(struct escp_req *r);
/* An optional RFC 3339 query parameter as PostgreSQL text in buf; *out is
 * buf, or NULL when absent.  -1 with a validation error naming it. */
int escp_time_query(struct escp_req *r, const char *name, char *buf, size_t len, const char **out);
/* Paging by id, newest first.  The opaque cursor is `prefix` followed by the
 * last id seen, in hex.  escp_cursor_query: 0 with *before_id set (left
 * alone when there is no cursor), -1 with a validation error.
 * escp_page_next: items holds up to limit + 1 rows; drops the extra one and
 * returns the next cursor (a new string), or json null on the last page. */
/* An optional `limit` query parameter, 1..max; left alone when absent.
 * -1 with a validation error. */
int escp_limit_query(struct escp_req *r, int max, int *limit);
int escp_cursor_query(struct escp_req *r, char prefix, int64_t *before_id);
json_t *escp_page_next(json_t *items, int limit, char prefix);
void escp_api_readyz(struct escp_req *r);

struct esc_store *escp_server_store(struct esc_server *s);

#endif
