/* internal.h — what lib/ files share and nobody outside lib/ may use.
 * Prefix escp_.  Ownership rules are stated per function. */
#ifndef ESCALATED_INTERNAL_H
#define ESCALATED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "escalated/deadline.h"
#include "escalated/error.h"
#include "escalated/model.h"

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

/* ---- principals and tokens (auth.c, store_keys.c) ---- */
/* "esc_" + base64url(32 random bytes); malloc'd. */
char *escp_token_new(esc_error_t *err);
/* lowercase hex SHA-256 of token into out[65] */
void escp_token_hash(const char *token, char out[65]);
/* Look up a token (cached for a few seconds). 0 and *actor filled; -1 with
 * ESC_ERR_UNAUTHENTICATED or ESC_ERR_UNAVAILABLE. */
int escp_authenticate(struct esc_store *store, const char *token, struct esc_actor *actor,
                      esc_error_t *err);
int escp_store_principal_by_hash(struct escp_conn *c, const char *hash, struct esc_actor *actor,
                                 esc_error_t *err);

/* ---- tickets (store_tickets.c) ---- */

/* What a create carries, validated by the API layer. Borrowed strings. */
struct escp_new_ticket {
    const char *severity, *channel, *category, *subject, *description;
    const char *customer_name, *customer_phone, *customer_email, *customer_id_number;
    const char *external_ref;
    const char *idempotency_key; /* NULL when none */
    char request_hash[65];
};

/* The mutable state of one ticket as the service decides on it, loaded under
 * a row lock together with the clock and the ticket's policy. */
struct escp_ticket {
    int64_t id;
    enum esc_tier tier;
    enum esc_state state;
    enum esc_severity severity;
    int64_t assignee_id;        /* 0 = none */
    int64_t tier_assignee[4];   /* [1..3]: last agent at each tier, 0 = none */
    int64_t resolver_id;
    int resolved_tier;          /* 0 = none */
    esc_time_t acknowledged_at, resolved_at, closed_at;
    esc_time_t ack_due_at, resolve_due_at, warn_due_at, callback_due_at;
    esc_time_t resolve_started_at, paused_at;
    int64_t resolve_left_us, warn_left_us; /* ESC_TIME_NULL when not paused */
    int64_t paused_total_us;
    bool resolve_fired, warn_fired;
    int version;
    /* new values of the fields an action sets; borrowed, NULL = unchanged */
    const char *root_cause, *resolution;
    const char *sat_result, *sat_feedback;
    int sat_score; /* 0 = none */
    bool set_resolution, set_satisfaction;
    /* the clock and the policy, read in the same statement as the lock */
    esc_time_t now;
    int64_t ack_seconds, resolve_seconds;
    double warn_ratio;
    int callback_days;
};

struct escp_event {
    const char *type;
    int64_t actor_id; /* 0 = the system */
    int from_tier, to_tier; /* 0 = absent */
    const char *from_state, *to_state, *reason, *body;
    json_t *data; /* borrowed; extra fields merged into the event's JSON, may be NULL */
};

/* timer kinds: ack, resolve, warn, callback */
enum escp_timer { ESCP_TIMER_ACK, ESCP_TIMER_RESOLVE, ESCP_TIMER_WARN, ESCP_TIMER_CALLBACK, ESCP_TIMER__COUNT };
struct escp_timer_ops {
    bool stop[ESCP_TIMER__COUNT];
    esc_time_t set[ESCP_TIMER__COUNT]; /* ESC_TIME_NULL = untouched */
};

/* Create in one statement (ticket + created event + timers). Returns the new
 * ticket as JSON (new reference), *replayed = true when the idempotency key
 * matched an earlier create with the same request hash. */
json_t *escp_store_ticket_create(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 int64_t actor_id, bool *replayed, esc_error_t *err);
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
 * or NULL with err->code == ESC_OK when the queue is empty. */
json_t *escp_store_claim(struct escp_conn *c, enum esc_tier tier, int64_t actor_id, esc_error_t *err);

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
};
/* JSON array of tickets (new reference), newest first, at most limit + 1 rows
 * (the extra row tells the caller there is a next page). */
json_t *escp_store_ticket_list(struct escp_conn *c, const struct escp_list_filter *f, esc_error_t *err);
/* {"items": [...]} of the ticket's events, oldest first; NULL + NOT_FOUND. */
json_t *escp_store_ticket_events(struct escp_conn *c, int64_t id, esc_error_t *err);
/* The unmasked customer record, and a customer_revealed event, in one
 * statement.  NULL + NOT_FOUND. */
json_t *escp_store_customer_reveal(struct escp_conn *c, int64_t id, int64_t actor_id, esc_error_t *err);

/* ---- the SLA engine's statements (store_sla.c) ---- */
/* Fire up to `batch` due timers; *fired gets the count, *max_late_s the
 * largest lateness (detected_at - due_at) among them. */
int escp_store_fire_due(struct escp_conn *c, int batch, int *fired, double *max_late_s, esc_error_t *err);
/* Seconds until the earliest live timer; *none = true when there is none. */
int escp_store_next_due(struct escp_conn *c, double *seconds, bool *none, esc_error_t *err);
json_t *escp_store_policies(struct escp_conn *c, esc_error_t *err);
json_t *escp_store_policy_put(struct escp_conn *c, const char *severity, int64_t ack_s, int64_t resolve_s,
                              double warn_ratio, int64_t days, esc_error_t *err);
json_t *escp_store_calendar_put(struct escp_conn *c, const json_t *doc, esc_error_t *err);
struct escp_breach_filter {
    const char *kind, *tier, *severity, *ticket, *from, *to; /* text params or NULL */
    int64_t before_id;
    int limit;
};
json_t *escp_store_breach_list(struct escp_conn *c, const struct escp_breach_filter *f, esc_error_t *err);

/* ---- the SLA engine (timer_engine.c) ---- */
struct escp_engine;
/* Start the engine thread on its own connection.  max_sleep_ms bounds how long
 * it sleeps without looking (deadlines other daemons create). */
struct escp_engine *escp_engine_start(const char *conninfo, int batch, int max_sleep_ms, esc_error_t *err);
void escp_engine_stop(struct escp_engine *e);
/* A commit of this process set a deadline `due` (database time) when the
 * database clock read `now`: wake the engine if that is before its planned wake-up. */
void escp_engine_poke(struct escp_engine *e, esc_time_t now, esc_time_t due);
struct escp_engine_stats {
    uint64_t fired, passes;
    double last_late_s, max_late_s;
};
void escp_engine_stats(struct escp_engine *e, struct escp_engine_stats *out);

/* ---- JSON helpers (json_util.c) ---- */
/* Replace the customer fields and free text of a ticket JSON with their masked forms, in place. */
void escp_ticket_mask(json_t *ticket);
/* Timestamp text from PostgreSQL -> JSON string in RFC 3339 (ms, Z), or json null. */
json_t *escp_json_time(const char *pg_text);
/* "2026-11-23T11:35:00.123456Z" (microseconds) for passing to PostgreSQL. buf >= 40. */
void escp_time_pg(esc_time_t t, char *buf, size_t len);

#endif

/* ---- the use cases (service.c): load -> decide (pure) -> persist ---- */

/* Wakes long-polling claims of this process when a ticket enters a queue. */
struct escp_wake;
struct escp_wake *escp_wake_new(void);
void escp_wake_free(struct escp_wake *w);
void escp_wake_tier(struct escp_wake *w, enum esc_tier tier);
void escp_wake_all(struct escp_wake *w); /* shutdown */
uint64_t escp_wake_gen(struct escp_wake *w, enum esc_tier tier);
/* Wait until the tier's generation differs from `gen` or `ms` pass. */
void escp_wake_wait(struct escp_wake *w, enum esc_tier tier, uint64_t gen, int ms);

struct escp_engine;
struct escp_svc {
    struct esc_store *store;
    struct escp_wake *wake;
    struct escp_engine *engine; /* may be NULL */
};

struct escp_action_args {
    const char *reason;     /* escalate, return, wait, reopen */
    const char *body;       /* comment */
    const char *resolution, *root_cause; /* resolve */
    const char *sat_result, *sat_feedback; /* close */
    int sat_score;          /* 0 = none */
    int if_match;           /* -1 = no If-Match */
};

json_t *escp_svc_create(struct escp_svc *svc, const struct esc_actor *actor,
                        const struct escp_new_ticket *nt, bool *replayed, esc_error_t *err);
/* The ticket after the action, or for `comment` the new event (new reference). */
json_t *escp_svc_act(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                     enum esc_action action, const struct escp_action_args *args,
                     esc_error_t *err);
/* Claim; waits up to wait_ms for a ticket. NULL with err->code == ESC_OK: queue empty. */
json_t *escp_svc_claim(struct escp_svc *svc, const struct esc_actor *actor, enum esc_tier tier,
                       int wait_ms, volatile int *stopping, esc_error_t *err);
