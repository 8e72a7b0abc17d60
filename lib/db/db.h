/* db.h — the database layer as the rest of lib/ sees it: the connection pool
 * and every store function.  The connection is opaque here; only db/ sees
 * libpq (store_internal.h).  Ownership rules are stated per function. */
#ifndef ESCALATED_DB_H
#define ESCALATED_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "base/token.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "core/ticket.h"
#include "db/store.h"

/* ---- migrations embedded at build time (generated/migrations.c) ---- */
struct escp_migration {
    const char *name;
    const char *sql;
};
extern const struct escp_migration escp_migrations[]; /* ends with {0, 0} */

/* ---- the connection pool (store.c) ---- */
struct esc_store;
struct escp_conn;

/* Lease a connected connection with every statement prepared; waits for a
 * free one.  NULL with ESC_ERR_UNAVAILABLE when the database can't be reached. */
struct escp_conn *escp_lease(struct esc_store *store, esc_error_t *err);
/* The same, waiting at most wait_ms for a free one (ESC_ERR_UNAVAILABLE after). */
struct escp_conn *escp_lease_wait(struct esc_store *store, int wait_ms, esc_error_t *err);
/* Return it.  A connection left inside a transaction is rolled back;
 * a broken one is reset on its next lease. */
void escp_release(struct esc_store *store, struct escp_conn *c);
/* A connection of its own, outside the pool (the SLA engine's). */
struct escp_conn *escp_conn_open(const char *conninfo, esc_error_t *err);
void escp_conn_close(struct escp_conn *c);
int escp_conn_ok(struct escp_conn *c);
int escp_begin(struct escp_conn *c, esc_error_t *err);
int escp_commit(struct escp_conn *c, esc_error_t *err);
void escp_rollback(struct escp_conn *c);
/* Count of connections leased right now / pool size (for metrics). */
void escp_pool_usage(struct esc_store *store, int *leased, int *size);

#define ESC_TIME_NULL INT64_MIN

/* ---- principals and tokens (store_principals.c; docs/api.md "Principals") ----
 * Principals answer as JSON objects {"id", "name", "role", "tier", "created_at",
 * "expires_at", "revoked_at", "status"} (new references), never with their
 * token hash.  actor_id 0 = the command line; via "http" or "cli" is
 * recorded in the audit record each change writes in the same statement. */
/* The active principal of a token hash (not revoked, not expired by the
 * database's clock); -1 with ESC_ERR_UNAUTHENTICATED otherwise. */
int escp_store_principal_by_hash(struct escp_conn *c, const char *hash, struct esc_actor *actor,
                                 esc_error_t *err);
struct escp_principal_new {
    const char *name;
    enum esc_role role;
    enum esc_tier tier;     /* ESC_TIER_NONE unless role is agent */
    const char *expires_at; /* timestamptz text, or NULL for none */
};
/* ESC_ERR_VALIDATION (field expires_at) when expires_at is not in the future. */
json_t *escp_store_principal_create(struct escp_conn *c, const struct escp_principal_new *pn,
                                    const char *hash, int64_t actor_id, const char *via,
                                    esc_error_t *err);
struct escp_principal_filter {
    const char *role, *status; /* NULL = any */
    int64_t before_id;         /* cursor: ids below this; 0 = start */
    int limit;
};
/* Array, newest first, at most limit + 1 (the extra one tells there is a next page). */
json_t *escp_store_principal_list(struct escp_conn *c, const struct escp_principal_filter *f,
                                  esc_error_t *err);
json_t *escp_store_principal_get(struct escp_conn *c, int64_t id, esc_error_t *err);
/* Inside the caller's transaction: serialise with every other principal
 * change, then the principal under a row lock, with the count of active
 * admins besides it and the database clock (timestamptz text).  NOT_FOUND. */
json_t *escp_store_principal_for_change(struct escp_conn *c, int64_t id, int64_t *other_admins,
                                        char db_now[48], esc_error_t *err);
/* Revoke with its audit record (reason may be NULL); ESC_ERR_CONFLICT
 * when it is revoked already. */
json_t *escp_store_principal_revoke(struct escp_conn *c, int64_t id, int64_t actor_id,
                                    const char *via, const char *reason, esc_error_t *err);
/* Replace the token hash (and, when set_expiry, expires_at: NULL = none),
 * with its audit record; ESC_ERR_CONFLICT when revoked. */
json_t *escp_store_principal_rotate(struct escp_conn *c, int64_t id, const char *hash,
                                    bool set_expiry, const char *expires_at, int64_t actor_id,
                                    const char *via, esc_error_t *err);
/* The audit records of a principal, oldest first: an array of {"id", "at",
 * "action", "via", "actor" ({"id", "name", "role"} or null), "detail"};
 * NULL with ESC_ERR_NOT_FOUND for an unknown principal. */
json_t *escp_store_principal_audit(struct escp_conn *c, int64_t id, esc_error_t *err);

/* ---- tickets (store_tickets.c) ---- */
/* Create in one statement (ticket + created event + timers, and a pg_notify
 * on ESCP_TIMER_CHANNEL when a timer is due within notify_within_ms). Returns
 * the new ticket as JSON (new reference), *replayed = true when the
 * idempotency key matched an earlier create with the same request hash.
 * *first_due: the earliest new timer (ESC_TIME_NULL on a replay). */
json_t *escp_store_ticket_create(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 const struct escp_customer_stored *cs, int64_t actor_id,
                                 int notify_within_ms, bool *replayed, esc_time_t *first_due,
                                 esc_error_t *err);
/* The ticket an earlier create by actor_id with nt's Idempotency-Key made,
 * *replayed = true (new reference); NULL with err untouched when there is
 * none (or no key), ESC_ERR_IDEMPOTENCY_CONFLICT when its body differed. */
json_t *escp_store_ticket_replay(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 int64_t actor_id, bool *replayed, esc_error_t *err);
/* Draw the id of a ticket about to be created (its customer's seals are
 * bound to it; cs->id of escp_store_ticket_create). */
int escp_store_ticket_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err);
/* The same for an event (nextval of events_id_seq). */
int escp_store_event_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err);
/* The ticket as JSON (unmasked; new reference), or NULL with ESC_ERR_NOT_FOUND. */
json_t *escp_store_ticket_get(struct escp_conn *c, int64_t id, esc_error_t *err);
/* SELECT ... FOR UPDATE inside the caller's transaction; fills *t with the
 * state, the database clock and the policy. -1 with ESC_ERR_NOT_FOUND. */
int escp_store_ticket_lock(struct escp_conn *c, int64_t id, struct escp_ticket *t, esc_error_t *err);
/* Write *t back (version + 1), append *ev, apply the timer ops: one statement.
 * Returns the ticket JSON (new reference). */
json_t *escp_store_ticket_apply(struct escp_conn *c, const struct escp_ticket *t,
                                const struct escp_event *ev, const struct escp_timer_ops *ops,
                                esc_error_t *err);
/* Append an event without changing the ticket; returns the event JSON. */
json_t *escp_store_event_add(struct escp_conn *c, int64_t ticket_id, const struct escp_event *ev,
                             esc_error_t *err);
/* The calendar document (new reference). */
json_t *escp_store_calendar(struct escp_conn *c, esc_error_t *err);
/* Claim the most urgent awaiting ticket of `tier` for actor: the ticket JSON,
 * or NULL with err->code == ESC_OK when the queue is empty -- or when that
 * ticket's ack timer is due and not fired yet: then *overdue_id is its id
 * (fire it with escp_store_fire_due_ticket and claim again), else 0. */
json_t *escp_store_claim(struct escp_conn *c, enum esc_tier tier, int64_t actor_id, int64_t *overdue_id,
                         esc_error_t *err);

struct escp_list_filter {
    const char *tiers;      /* postgres array literal text "{1,2}" or NULL */
    const char *states;     /* "{awaiting_ack,resolved}" or NULL */
    const char *severities;
    int64_t assignee;       /* 0 = any */
    const char *breached;   /* kind or NULL */
    const char *due_before; /* RFC 3339 or NULL */
    const char *q_pattern;  /* ILIKE pattern, escaped, or NULL */
    int64_t before_id;      /* cursor: ids below this; 0 = start */
    int limit;
    /* the customer's phone and identity number as the client wrote them
     * (NULL = no such filter), and their blind indexes (base/datakey.h),
     * which the service fills in and the store matches */
    const char *customer_phone, *customer_id_number;
    char phone_bi[65], id_number_bi[65];
};
/* JSON array of tickets (new reference), newest first, at most limit + 1 rows
 * (the extra row tells the caller there is a next page). */
json_t *escp_store_ticket_list(struct escp_conn *c, const struct escp_list_filter *f, esc_error_t *err);
/* JSON array of up to `limit` tickets awaiting acknowledgement at `tier`, in
 * the order the claim takes them; *queued = how many wait in all. */
json_t *escp_store_ticket_queue(struct escp_conn *c, enum esc_tier tier, int limit, long *queued,
                                esc_error_t *err);
/* {"items": [...]} of the ticket's events, oldest first; NULL + NOT_FOUND. */
json_t *escp_store_ticket_events(struct escp_conn *c, int64_t id, esc_error_t *err);
/* The customer record as sealed ({"ticket_id", "name", "phone", "email",
 * "id_number", "bank_card"}, each a sealed value or null; the service opens
 * them), and a customer_revealed event, in one statement.  NULL + NOT_FOUND.
 * Also the stored (masked) "subject", "description", "category" with
 * "pii_sealed" (the ticket's sealed findings or null) and "event_pii": an
 * array of {"id", "pii_sealed", "reason", "body", "resolution", "feedback"}
 * of the events whose texts had findings (migration 008). */
json_t *escp_store_customer_reveal(struct escp_conn *c, int64_t id, int64_t actor_id, esc_error_t *err);

/* ---- sealing rows at rest (store_tickets.c) ---- */
/* A row whose customer needs sealing: its clear columns (name, phone,
 * email, id_number; bank_card never had one) and its sealed ones. */
struct escp_customer_row {
    int64_t id;
    char *clear[ESCP_CUST__COUNT], *sealed[ESCP_CUST__COUNT];
    unsigned version; /* 0 when nothing is sealed */
};
void escp_customer_rows_free(struct escp_customer_row *rows, int n);
/* `escalated check` (store_check.c): the newest ticket whose customer is
 * sealed, on a connection of its own (*found 0: none); the caller frees
 * row->sealed[]. */
int escp_store_customer_sample(const char *conninfo, struct escp_customer_row *row, int *found,
                               esc_error_t *err);
/* Up to `batch` rows still in clear or sealed with a version below
 * below_version, locked (FOR UPDATE SKIP LOCKED: run inside a transaction;
 * rows other transactions hold are skipped).  *rows: malloc'd array of *n. */
int escp_store_customer_pending(struct escp_conn *c, unsigned below_version, int batch,
                                struct escp_customer_row **rows, int *n, esc_error_t *err);
/* Write one row's customer as sealed in cs (cs->id), emptying its clear columns. */
int escp_store_customer_store(struct escp_conn *c, const struct escp_customer_stored *cs,
                              esc_error_t *err);
/* Tickets whose texts were never scanned (migration 008): the subject,
 * description, category, resolution and sat_feedback of each, NULL where
 * the column is. */
enum { ESCP_TEXT__COUNT = 5 };
struct escp_text_row {
    int64_t id;
    char *text[ESCP_TEXT__COUNT];
};
void escp_text_rows_free(struct escp_text_row *rows, int n);
/* Up to `batch` of them, locked (FOR UPDATE SKIP LOCKED, inside a
 * transaction).  *rows: malloc'd array of *n. */
int escp_store_text_pending(struct escp_conn *c, int batch, struct escp_text_row **rows, int *n,
                            esc_error_t *err);
/* Write one row's texts as masked, its findings (or NULL) and mark it scanned. */
int escp_store_text_store(struct escp_conn *c, int64_t id, const char *const text[ESCP_TEXT__COUNT],
                          const char *pii_sealed, esc_error_t *err);

/* ---- problems (store_problems.c; docs/problems.md) ----
 * Problems answer as JSON objects (new references) built by the statement:
 * {"id", "title", "description", "category", "owner" {id, name}, "state",
 * "version", "root_cause", "root_cause_kind", "containment", "workaround",
 * "workaround_published_at", "fix", "fixed_at", "verify_started_at",
 * "verify_window_days", "verify_until", "signature_keywords", "recurrences",
 * "closed_effective", "closed_at", "reopened_count", "created_by",
 * "created_at", "updated_at", "root_cause_at", "linked_tickets",
 * "waiting_tickets", "actions": [...]}; the texts as stored (masked).
 * Everything that changes runs inside the caller's transaction. */
struct escp_problem_new {
    const char *title, *description, *category; /* stored forms (masked) */
    int64_t owner_id;
    const char *keywords;   /* a JSON array of strings (text), or NULL for none */
    int verify_window_days; /* 0 = the default (30) */
    int64_t id;             /* drawn first when pii_sealed is bound to it, else 0 */
    const char *pii_sealed;
};
/* ESC_ERR_VALIDATION (owner_id) when the owner is not an active agent,
 * manager or admin. */
int escp_store_problem_create(struct escp_conn *c, const struct escp_problem_new *pn, int64_t actor_id,
                              int64_t *id, esc_error_t *err);
int escp_store_problem_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err);
int escp_store_problem_event_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err);
/* With "tickets": [{"id", "state", "waiting_on_problem"}] too.  NOT_FOUND. */
json_t *escp_store_problem_get(struct escp_conn *c, int64_t id, esc_error_t *err);
struct escp_problem_filter {
    const char *state, *category; /* NULL = any */
    int64_t owner_id, before_id;  /* 0 = any / start */
    int limit;
};
/* Array, newest first, at most limit + 1. */
json_t *escp_store_problem_list(struct escp_conn *c, const struct escp_problem_filter *f,
                                esc_error_t *err);
/* {"items": [{"id", "type", "at", "actor", "from_state", "to_state", "reason", "data"}]}, oldest first. */
json_t *escp_store_problem_events(struct escp_conn *c, int64_t id, esc_error_t *err);

/* A problem under its row lock (escp_store_problem_lock; owned strings,
 * escp_problem_clear frees them). */
struct escp_problem {
    int64_t id, owner_id;
    enum esc_problem_state state;
    int version, recurrences;
    char *workaround, *fix, *root_cause_kind; /* NULL when unset */
    /* verifying: its window runs until verify_until (UTC, "" when unset),
     * which has not passed yet when window_open (migration 013) */
    bool window_open;
    char verify_until[32];
};
int escp_store_problem_lock(struct escp_conn *c, int64_t id, struct escp_problem *p, esc_error_t *err);
void escp_problem_clear(struct escp_problem *p);
/* One transition: the new state, the fields it sets (NULL/false = unchanged)
 * and its event, with version + 1. */
struct escp_problem_change {
    int64_t id;
    enum esc_problem_state state;
    const char *root_cause, *root_cause_kind, *containment, *workaround, *fix;
    bool workaround_published, root_cause_found, fixed, verifying, closed, closed_effective, reopened;
    int verify_window_days; /* 0 = keep */
    const char *event_type, *from_state, *to_state, *reason;
    int64_t actor_id, event_id; /* event_id 0 = the sequence's */
    const json_t *data;         /* borrowed, may be NULL */
    const char *pii_sealed;     /* the event's sealed findings, or NULL */
};
int escp_store_problem_update(struct escp_conn *c, const struct escp_problem_change *ch,
                              esc_error_t *err);
/* An event that changes no state; the problem's version + 1. */
int escp_store_problem_event_add(struct escp_conn *c, int64_t problem_id, const char *type,
                                 int64_t actor_id, const json_t *data, int64_t event_id,
                                 const char *pii_sealed, esc_error_t *err);
struct escp_action_new {
    int64_t problem_id, owner_id;
    const char *kind, *description, *due_at; /* description stored form; due_at timestamptz text */
    const char *pii_sealed;
};
/* The action and its SLA deadline (action_timers); *due_in_s: seconds from
 * the database's now to its due date.  VALIDATION (owner_id). */
json_t *escp_store_action_add(struct escp_conn *c, const struct escp_action_new *an, int64_t actor_id,
                              double *due_in_s, esc_error_t *err);
/* NOT_FOUND when the problem has no such action. */
int escp_store_action_lock(struct escp_conn *c, int64_t problem_id, int64_t action_id,
                           int64_t *owner_id, bool *done, esc_error_t *err);
/* Completed by actor at `at` (escp_store_fire_due_action's instant); its
 * deadline deleted.  The action JSON. */
json_t *escp_store_action_complete(struct escp_conn *c, int64_t action_id, int64_t actor_id, const char *at,
                                   esc_error_t *err);
/* Lock the tickets (id order); problem_of[i]: ids[i]'s problem, 0 for none,
 * -1 when there is no such ticket. */
int escp_store_link_lock(struct escp_conn *c, const int64_t *ids, size_t n, int64_t *problem_of,
                         esc_error_t *err);
int escp_store_link(struct escp_conn *c, int64_t problem_id, const int64_t *ids, size_t n,
                    bool waiting, int64_t actor_id, esc_error_t *err);
/* NOT_FOUND when the ticket is not linked to this problem. */
int escp_store_unlink(struct escp_conn *c, int64_t problem_id, int64_t ticket_id, int64_t actor_id,
                      esc_error_t *err);
/* A `workaround` event on every linked ticket that is not closed; *tickets: how many. */
int escp_store_workaround_spread(struct escp_conn *c, int64_t problem_id, const char *workaround,
                                 int64_t actor_id, int64_t *tickets, esc_error_t *err);
/* The tickets waiting on the problem, locked, with their states (malloc'd arrays of *n). */
int escp_store_waiting_lock(struct escp_conn *c, int64_t problem_id, int64_t **ids,
                            enum esc_state **states, size_t *n, esc_error_t *err);
int escp_store_waiting_clear(struct escp_conn *c, int64_t problem_id, esc_error_t *err);

/* ---- the SLA engine's statements (store_sla.c) ---- */
/* Fire up to `batch` due timers; *fired gets the count, *max_late_s the
 * largest lateness (detected_at - due_at) among them. */
int escp_store_fire_due(struct escp_conn *c, int batch, int *fired, double *max_late_s, esc_error_t *err);
/* The same for the due timers of one ticket (an action or a claim about to
 * stop or replace them fires them first); *fired gets the count. */
int escp_store_fire_due_ticket(struct escp_conn *c, int64_t ticket_id, int *fired, esc_error_t *err);
/* The same for one undone action, under its row lock (its completion fires
 * it first when it is due); at (at_len bytes) gets the statement's instant,
 * the completion's time for escp_store_action_complete. */
int escp_store_fire_due_action(struct escp_conn *c, int64_t action_id, char *at, size_t at_len, esc_error_t *err);
/* Seconds until the earliest live timer; *none = true when there is none. */
int escp_store_next_due(struct escp_conn *c, double *seconds, bool *none, esc_error_t *err);
/* Cross-daemon wake-up: the channel every engine LISTENs on.  A transaction
 * that creates a timer due within the daemon's notify window sends a
 * notification on it (payload: the due time), delivered at commit. */
#define ESCP_TIMER_CHANNEL "escalated_timers"
int escp_store_listen(struct escp_conn *c, esc_error_t *err);
/* The engine's own connection: only its statements prepared, LISTENing. */
struct escp_conn *escp_store_engine_open(const char *conninfo, esc_error_t *err);
/* The same without LISTEN: the connection of a drainer thread, which fires
 * batches of a backlog next to the engine thread (timer_engine.c). */
struct escp_conn *escp_store_drainer_open(const char *conninfo, esc_error_t *err);
/* pg_notify(ESCP_TIMER_CHANNEL, due) inside the caller's transaction. */
int escp_store_notify_timer(struct escp_conn *c, esc_time_t due, esc_error_t *err);
/* The connection's socket (for poll), or -1. */
int escp_conn_socket(struct escp_conn *c);
/* Read what the server sent without blocking and drain the notifications
 * received so far into *count.  -1 when the connection is broken. */
int escp_conn_notifications(struct escp_conn *c, int *count);
json_t *escp_store_policies(struct escp_conn *c, esc_error_t *err);
json_t *escp_store_policy_put(struct escp_conn *c, const char *severity, int64_t ack_s, int64_t resolve_s,
                              double warn_ratio, int64_t days, esc_error_t *err);
json_t *escp_store_calendar_put(struct escp_conn *c, const json_t *doc, esc_error_t *err);
/* ---- the complaint taxonomy (store_taxonomy.c; migration 011) ---- */
/* {"version", "enforced", "updated_at", "updated_by", "categories"} (new
 * reference). */
json_t *escp_store_taxonomy(struct escp_conn *c, esc_error_t *err);
/* Replace the tree (checked by core/taxonomy.h, which built codes and
 * paths) and record the version; if_match >= 0: only at that version, else
 * ESC_ERR_VERSION_MISMATCH.  The document as stored (new reference). */
json_t *escp_store_taxonomy_put(struct escp_conn *c, const json_t *categories, const json_t *codes,
                                const json_t *paths, bool enforced, int64_t actor_id, int if_match,
                                esc_error_t *err);
/* *refused: the taxonomy is enforced and category is none of its codes. */
int escp_store_taxonomy_refuses(struct escp_conn *c, const char *category, bool *refused,
                                esc_error_t *err);

struct escp_breach_filter {
    const char *kind, *tier, *severity, *ticket, *from, *to; /* text params or NULL */
    int64_t before_id;
    int limit;
};
json_t *escp_store_breach_list(struct escp_conn *c, const struct escp_breach_filter *f, esc_error_t *err);

/* ---- webhooks (store_webhooks.c, webhook.c; docs/webhooks.md) ---- */
/* The admin side.  Webhooks answer as JSON without their secret (new
 * references); NULL with ESC_ERR_NOT_FOUND when there is no such one.
 * event_types is a PostgreSQL array literal of known types ("{breached}"). */
json_t *escp_store_webhook_create(struct escp_conn *c, const char *url, const char *event_types,
                                  const char *secret, int64_t actor_id, esc_error_t *err);
json_t *escp_store_webhook_list(struct escp_conn *c, esc_error_t *err); /* {"items"}: active ones */
json_t *escp_store_webhook_get(struct escp_conn *c, int64_t id, esc_error_t *err);
/* Deactivate and cancel its pending deliveries, in one transaction.  A
 * webhook deleted before is fine (0); -1 with ESC_ERR_NOT_FOUND if none. */
int escp_store_webhook_delete(struct escp_conn *c, int64_t id, esc_error_t *err);
struct escp_notification_filter {
    const char *status, *type; /* NULL = any */
    int64_t ticket, before_id; /* 0 = any */
    int limit;
};
/* Array of notifications with their deliveries, newest first, at most limit + 1. */
json_t *escp_store_notification_list(struct escp_conn *c, const struct escp_notification_filter *f,
                                     esc_error_t *err);
json_t *escp_store_notification_get(struct escp_conn *c, int64_t id, esc_error_t *err);
/* Retry a failed or undeliverable notification; the notification after it.
 * ESC_ERR_CONFLICT in another status, ESC_ERR_NOT_FOUND. */
json_t *escp_store_notification_retry(struct escp_conn *c, int64_t id, esc_error_t *err);

/* The delivery worker's statements. */
struct escp_delivery {
    char id[40];          /* the delivery id (a UUID) */
    int attempts;         /* as claimed: the fencing token of the lease */
    int64_t notification_id, ticket_id, webhook_id;
    int64_t now;          /* the database clock at the claim, Unix seconds */
    char *type, *payload, *created_at, *url, *secret; /* owned */
};
/* Route up to `batch` new notifications to the webhooks that want them. */
int escp_store_webhook_route(struct escp_conn *c, int batch, int *routed, esc_error_t *err);
/* Claim up to `batch` due deliveries under a lease of lease_s seconds
 * (committed on return).  *out is an array of *n (free with escp_deliveries_free). */
int escp_store_delivery_claim(struct escp_conn *c, int batch, double lease_s,
                              struct escp_delivery **out, int *n, esc_error_t *err);
void escp_deliveries_free(struct escp_delivery *d, int n);
/* Record an outcome in one transaction with the notification's status (and,
 * when delivered, the `notified` event).  *recorded = false when the lease
 * was no longer ours (another daemon took the delivery over). */
int escp_store_delivery_done(struct escp_conn *c, const struct escp_delivery *d, long http_status,
                             bool *recorded, esc_error_t *err);
int escp_store_delivery_fail(struct escp_conn *c, const struct escp_delivery *d, long http_status,
                             const char *error, int max_attempts, double delay_s, bool *final,
                             bool *recorded, esc_error_t *err);
/* *unrouted: notifications wait for routing; *seconds until the earliest
 * pending delivery is due (*none when there is none). */
int escp_store_webhook_next(struct escp_conn *c, bool *unrouted, double *seconds, bool *none,
                            esc_error_t *err);


/* ---- reports (store_reports.c; docs/reports.md) ---- */
struct escp_report_period {
    char from[48], to[48]; /* timestamptz text as PostgreSQL prints it */
    char tz[128];          /* the business calendar's zone */
    bool ordered;          /* from < to */
    int64_t days;          /* local calendar days that [from, to) touches */
};
/* Open the read-only transaction a report runs in, with the settings that
 * make it fast (no JIT, sorts in memory); escp_release rolls it back. */
int escp_store_report_begin(struct escp_conn *c, esc_error_t *err);
/* from/to: timestamptz text or NULL for the defaults (to = now, from = to - 30 days). */
int escp_store_report_period(struct escp_conn *c, const char *from, const char *to,
                             struct escp_report_period *p, esc_error_t *err);
/* month "YYYY-MM" or NULL (the current one, in the calendar's zone). */
int escp_store_report_month(struct escp_conn *c, const char *month, struct escp_report_period *p,
                            char month_out[8], esc_error_t *err);
/* The groups array of the SLA report (new reference); level > 0 with
 * group_by category: by the taxonomy's ancestors at that level. */
json_t *escp_store_report_sla(struct escp_conn *c, const struct escp_report_period *p,
                              const char *group_by, int level, esc_error_t *err);
/* The groups of the SLA report by principal (group_by=assignee): each as
 * escp_store_report_sla's, with "agent" ({"id", "name", "role", "tier"},
 * null for the unassigned) and "handled", "escalated", "returned",
 * "reopened" (new reference). */
json_t *escp_store_report_agents(struct escp_conn *c, const struct escp_report_period *p,
                                 esc_error_t *err);
/* {"totals", "categories" (at most limit), "root_causes"} (new reference). */
json_t *escp_store_report_monthly(struct escp_conn *c, const struct escp_report_period *p, int limit,
                                  esc_error_t *err);
/* {"totals", "categories"} of the problems created in the period (new reference). */
json_t *escp_store_report_problems(struct escp_conn *c, const struct escp_report_period *p,
                                   esc_error_t *err);

/* ---- the event feed (store_events.c, service_events.c) ---- */
struct escp_feed_cursor {
    int64_t id;   /* the last event seen; 0 = the start */
    char xid[24]; /* its transaction (xid8 text); "0" with id 0 */
};
struct escp_feed_page {
    struct escp_feed_cursor next; /* after the last item (= the request's when none) */
    bool has_more;                /* more settled events follow at once */
    bool pending;                 /* committed events are held back by an older open transaction */
};
/* Fill cur->xid from cur->id: -1 with ESC_ERR_VALIDATION (field "after") when no such event. */
int escp_store_event_cursor(struct escp_conn *c, struct escp_feed_cursor *cur, esc_error_t *err);
/* Up to `limit` settled events after `after` in feed order (array, new reference). */
json_t *escp_store_event_feed(struct escp_conn *c, const struct escp_feed_cursor *after, int limit,
                              struct escp_feed_page *page, esc_error_t *err);

/* ---- the dashboard summary (store_dashboard.c) ---- */
struct escp_dash_query {
    int at_risk_limit;   /* how many at-risk tickets to list (the count is of all) */
    int horizon_seconds; /* "at risk": a live deadline within this many seconds */
    int days;            /* breaches per day over this many local days, today included */
    int recent_events;   /* feed_after: the id of the recent_events-th latest event */
};

/* The summary object (new reference), every part read in one transaction so
 * they share the database clock:
 *   {"generated_at", "timezone",
 *    "open": [{"tier", "state", "count"}...],       every tier x open state (core/model.h)
 *    "open_total",
 *    "at_risk_next_hour": {"horizon_seconds", "count", "items": [...]},
 *    "breaches_per_day": [{"day", "ack", "resolve", "callback"}...],   oldest first;
 *                        a count per breach kind (core/model.h)
 *    "agents": [{"agent", "open", "waiting_customer", "at_risk"}...], the open
 *                        tickets each principal holds, most first (issue 10)
 *    "feed_after",       an event id: GET /v1/events?after= it gives the latest events
 *    "problems": {"open_total", "overdue_actions", "items": [...]},   open problems,
 *                        most overdue actions first (migration 012/013)
 *    "top_problems_month": {"month", "items": [...]}}   by complaints linked this month
 * NULL with err set on failure. */
json_t *escp_store_dashboard_summary(struct escp_conn *c, const struct escp_dash_query *q,
                                     esc_error_t *err);

/* ---- /metrics figures (store_metrics.c) ---- */
/* Fill *out with one statement on the caller's connection. */
int escp_store_metrics(struct escp_conn *c, struct escp_db_metrics *out, esc_error_t *err);

/* ---- retention (store_retention.c; migration 010; docs/operations.md
 * "Retention and anonymisation") ----
 * The period is one row in the database, the same for every daemon.  Its
 * JSON: {"months", "minimum_months", "cutoff" (tickets closed at or before
 * it are due), "updated_at", "updated_by" (principal id or null)}. */
#define ESCP_RETENTION_MIN_MONTHS 4    /* the procedures' minimum; the schema's CHECK too */
#define ESCP_RETENTION_MAX_MONTHS 1200
/* What an anonymised customer field shows instead of its masked form. */
#define ESCP_RETENTION_MARK "[anonymised]"
json_t *escp_store_retention_get(struct escp_conn *c, esc_error_t *err);
/* actor_id 0 = the command line.  ESC_ERR_VALIDATION when months is out of
 * bounds (the schema refuses it). */
json_t *escp_store_retention_put(struct escp_conn *c, int months, int64_t actor_id,
                                 esc_error_t *err);
/* What a run would do now, changing nothing: {"months", "cutoff", "due" (how
 * many tickets are due), "tickets": the first `limit` of them, oldest closed
 * first, as [{"id", "closed_at"}]} (new reference). */
json_t *escp_store_retention_due(struct escp_conn *c, int limit, esc_error_t *err);
/* One batch, inside the caller's transaction: anonymise up to `limit` due
 * tickets that no other transaction holds (SKIP LOCKED), each with its
 * `anonymised` event (actor_id 0 = none), and erase the sealed findings of
 * their events.  {"id", "closed_at"} of each is appended to `done` (when
 * not NULL); *n
 * gets the count (0: none was left to take). */
int escp_store_retention_anonymise(struct escp_conn *c, int limit, int64_t actor_id, json_t *done,
                                   int *n, esc_error_t *err);
/* ---- channels, ladders, the alert outbox (store_alerts.c; docs/channels.md) ----
 * Rows come back as JSON objects (new references): channels as the API shows
 * them (never their sealed secret), messages with their facts. */
struct escp_channel_new {
    int64_t id;                 /* escp_store_channel_next_id: the sealed secret is bound to it */
    const char *name, *kind, *language;
    const char *event_types;    /* "{breached,at_risk}" */
    const char *tiers;          /* "{1,2,3}" */
    const char *target;         /* what the API shows of the destination */
    const char *sealed;         /* esc1 sealed {"url", "secret", "password"} */
    const char *config;         /* JSON text: what is not secret */
    int rate_count, rate_seconds, block_seconds, digest_after;
    int64_t fallback_id;        /* 0 = none */
    int64_t created_by;
};
int escp_store_channel_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err);
json_t *escp_store_channel_create(struct escp_conn *c, const struct escp_channel_new *n, esc_error_t *err);
json_t *escp_store_channel_list(struct escp_conn *c, esc_error_t *err); /* array, active ones */
json_t *escp_store_channel_get(struct escp_conn *c, int64_t id, esc_error_t *err); /* NOT_FOUND */
/* 1 deactivated (its pending messages to its fallback, or cancelled), 0 was already. */
int escp_store_channel_delete(struct escp_conn *c, int64_t id, esc_error_t *err);
/* Newest first; status NULL = any; before_id 0 = start. */
json_t *escp_store_channel_messages(struct escp_conn *c, int64_t id, const char *status,
                                    int64_t before_id, int limit, esc_error_t *err);
/* A test message on an active channel; NOT_FOUND when there is none. */
json_t *escp_store_channel_test(struct escp_conn *c, int64_t id, const char *by, esc_error_t *err);
json_t *escp_store_ladder_list(struct escp_conn *c, esc_error_t *err);
json_t *escp_store_ladder_put(struct escp_conn *c, int tier, const char *event, const char *steps,
                              int repeat, int64_t actor_id, esc_error_t *err);
int escp_store_ladder_delete(struct escp_conn *c, int tier, const char *event, esc_error_t *err);
/* Of the ids given (array literals), the active channels and principals. */
int escp_store_ladder_refs(struct escp_conn *c, const char *channel_ids, const char *principal_ids,
                           json_t **channels, json_t **people, esc_error_t *err);
/* The worker (workers/alerts.c), inside its transaction. */
json_t *escp_store_alert_channels(struct escp_conn *c, int limit, esc_error_t *err);
json_t *escp_store_alert_pending(struct escp_conn *c, int64_t channel_id, int limit, esc_error_t *err);
json_t *escp_store_alert_claim(struct escp_conn *c, const char *ids, double lease_s, esc_error_t *err);
json_t *escp_store_alert_fold(struct escp_conn *c, const char *ids, int64_t channel_id, double lease_s,
                              esc_error_t *err);
int escp_store_alert_reserve(struct escp_conn *c, int64_t channel_id, int sends, esc_error_t *err);
int escp_store_alert_defer(struct escp_conn *c, int64_t channel_id, double seconds, esc_error_t *err);
int escp_store_alert_fallback(struct escp_conn *c, const char *ids, int64_t channel_id, const char *why,
                              esc_error_t *err);
/* Outcomes, each in its own transaction, fenced by the attempt claimed:
 * 1 recorded, 0 the lease was lost, -1 error. */
int escp_store_alert_done(struct escp_conn *c, int64_t id, int attempts, esc_error_t *err);
int escp_store_alert_fail(struct escp_conn *c, int64_t id, int attempts, const char *why,
                          int max_attempts, double backoff_s, int *final, esc_error_t *err);
int escp_store_alert_block(struct escp_conn *c, int64_t channel_id, double seconds, esc_error_t *err);
/* The refused message $id waits `seconds` (the block), fenced by attempts. */
int escp_store_alert_hold(struct escp_conn *c, int64_t id, int attempts, double seconds, const char *why,
                          esc_error_t *err);
int escp_store_alert_next(struct escp_conn *c, double *seconds, bool *none, esc_error_t *err);
/* The active agents among principal_ids, and the ticket's state, tier and
 * acknowledgement deadline (json null when no ticket). */
int escp_store_alert_people(struct escp_conn *c, const char *principal_ids, int64_t ticket_id,
                            json_t **people, json_t **ticket, esc_error_t *err);
/* Record a used link: 1, or 0 when it was used before. */
int escp_store_ack_link_use(struct escp_conn *c, const char *nonce, int64_t ticket_id, int64_t principal_id,
                            const char *outcome, esc_error_t *err);
/* {"ticket", "principal", "used", "now_ms"} for a link's page. */
json_t *escp_store_ack_link_state(struct escp_conn *c, int64_t ticket_id, int64_t principal_id,
                                  const char *nonce, esc_error_t *err);
/* The SLA engine: fire up to `batch` due ladder steps (store_sla.c). */
int escp_store_fire_ladders(struct escp_conn *c, int batch, int *fired, double *max_late_s,
                            esc_error_t *err);

#endif
