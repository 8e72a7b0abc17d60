/* store_internal.h — shared by the store*.c files only: the one table of SQL
 * statements and the libpq-level helpers.  The only header with libpq. */
#ifndef ESCALATED_STORE_INTERNAL_H
#define ESCALATED_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "db/db.h"

/* The columns every statement that answers a ticket puts first, in this
 * order (enum escp_tcol), from tickets `t` joined to principals `a` (assignee). */
#define ESCP_TICKET_COLS                                                                      \
    "t.id, t.tier, t.state, t.severity, t.channel, t.category, t.subject, t.description, "   \
    "t.customer_name, t.customer_phone, t.customer_email, t.customer_id_number, "            \
    "t.external_ref, t.assignee_id, a.name, t.root_cause, t.resolution, t.sat_result, "      \
    "t.sat_score, t.sat_feedback, t.created_at, t.acknowledged_at, t.resolved_at, "          \
    "t.closed_at, t.ack_due_at, t.resolve_due_at, t.callback_due_at, t.breaches, t.version"

enum escp_tcol {
    TC_ID, TC_TIER, TC_STATE, TC_SEVERITY, TC_CHANNEL, TC_CATEGORY, TC_SUBJECT, TC_DESCRIPTION,
    TC_CNAME, TC_CPHONE, TC_CEMAIL, TC_CID, TC_EXTREF, TC_ASSIGNEE_ID, TC_ASSIGNEE_NAME,
    TC_ROOT_CAUSE, TC_RESOLUTION, TC_SAT_RESULT, TC_SAT_SCORE, TC_SAT_FEEDBACK, TC_CREATED_AT,
    TC_ACKED_AT, TC_RESOLVED_AT, TC_CLOSED_AT, TC_ACK_DUE, TC_RESOLVE_DUE, TC_CALLBACK_DUE,
    TC_BREACHES, TC_VERSION, TC__COUNT
};

enum escp_stmt {
    ESCP_S_PRINCIPAL_BY_HASH,
    ESCP_S_TICKET_CREATE,
    ESCP_S_TICKET_BY_IDEMPOTENCY,
    ESCP_S_TICKET_GET,
    ESCP_S_TICKET_LOCK,
    ESCP_S_TICKET_APPLY,
    ESCP_S_EVENT_ADD,
    ESCP_S_CALENDAR,
    ESCP_S_CLAIM,
    ESCP_S_TICKET_LIST,
    ESCP_S_TICKET_EVENTS,
    ESCP_S_TICKET_EXISTS,
    ESCP_S_CUSTOMER_REVEAL,
    ESCP_S_FIRE_DUE,
    ESCP_S_NEXT_DUE,
    ESCP_S_POLICIES,
    ESCP_S_POLICY_PUT,
    ESCP_S_CALENDAR_PUT,
    ESCP_S_BREACH_LIST,
    ESCP_S_TIMER_NOTIFY,
    ESCP_S_REPORT_PERIOD,    /* reports and the event feed (store_reports.c, store_events.c) */
    ESCP_S_REPORT_SLA,
    ESCP_S_REPORT_SETTINGS,
    ESCP_S_REPORT_MONTH,
    ESCP_S_REPORT_MONTHLY,
    ESCP_S_EVENT_CURSOR,
    ESCP_S_EVENT_FEED,
    /* @reports-stmts (add report statement ids above this line) */
    ESCP_S_METRICS,
    /* @events-metrics-stmts */
    ESCP_S_WEBHOOK_CREATE,
    ESCP_S_WEBHOOK_LIST,
    ESCP_S_WEBHOOK_GET,
    ESCP_S_WEBHOOK_DEACTIVATE,
    ESCP_S_WEBHOOK_CANCEL,
    ESCP_S_NOTIFICATION_RECOMPUTE,
    ESCP_S_NOTIFICATION_LIST,
    ESCP_S_NOTIFICATION_RETRY,
    ESCP_S_WEBHOOK_ROUTE,
    ESCP_S_DELIVERY_CLAIM,
    ESCP_S_DELIVERY_DONE,
    ESCP_S_DELIVERY_FAIL,
    ESCP_S_WEBHOOK_NEXT,
    /* @webhooks-stmts */
    ESCP_S_DASH_OPEN,        /* the dashboard (store_dashboard.c) */
    ESCP_S_DASH_AT_RISK,
    ESCP_S_DASH_BREACH_DAYS,
    ESCP_S__COUNT
};

struct escp_conn {
    PGconn *pg;
    int index;
    int in_use;
};

/* A connection of its own, outside the pool, with only these statements
 * prepared (connects faster than escp_conn_open; the SLA engine's). */
struct escp_conn *escp_conn_open_stmts(const char *conninfo, const enum escp_stmt *which, int n,
                                       esc_error_t *err);

/* Run a prepared statement. The result (TUPLES_OK or COMMAND_OK), or NULL
 * with err mapped from the SQLSTATE (the server's text is logged, not shown). */
PGresult *escp_exec(struct escp_conn *c, enum escp_stmt s, int nparams,
                    const char *const *values, esc_error_t *err);
/* Map a failed result (or a dead connection) to our error codes. */
void escp_map_error(PGconn *pg, const PGresult *res, const char *what, esc_error_t *err);

/* Row -> ticket JSON (unmasked); columns per enum escp_tcol from column `base`. */
json_t *escp_ticket_from_row(const PGresult *res, int row, int base);

/* Row -> event JSON as GET /v1/tickets/{id}/events shows it (store_tickets.c).
 * Columns 0..12: id, type, at, actor_id, actor name, actor role, from_tier,
 * to_tier, from_state, to_state, reason, body, data. */
json_t *escp_event_from_row(const PGresult *res, int row);

/* Value of a column or NULL when SQL NULL. */
const char *escp_val(const PGresult *res, int row, int col);

#endif
