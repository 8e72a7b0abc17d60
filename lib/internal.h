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

/* ---- the monotonic clock (clock.c): timeouts, waits, durations ---- */
#include <pthread.h>
#include <time.h>
double escp_mono_now(void);                      /* seconds, arbitrary origin */
struct timespec escp_mono_after(double seconds); /* now + seconds, for timedwait */
void escp_cond_init_mono(pthread_cond_t *cv);    /* a condvar that waits on it */

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

/* Create in one statement (ticket + created event + timers, and a pg_notify
 * on ESCP_TIMER_CHANNEL when a timer is due within notify_within_ms). Returns
 * the new ticket as JSON (new reference), *replayed = true when the
 * idempotency key matched an earlier create with the same request hash.
 * *first_due: the earliest new timer (ESC_TIME_NULL on a replay). */
json_t *escp_store_ticket_create(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 int64_t actor_id, int notify_within_ms, bool *replayed,
                                 esc_time_t *first_due, esc_error_t *err);
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
struct escp_breach_filter {
    const char *kind, *tier, *severity, *ticket, *from, *to; /* text params or NULL */
    int64_t before_id;
    int limit;
};
json_t *escp_store_breach_list(struct escp_conn *c, const struct escp_breach_filter *f, esc_error_t *err);

/* ---- the SLA engine (timer_engine.c) ---- */
struct escp_engine;
/* The longest the engine sleeps without looking, and the notify window: a
 * deadline sooner than this is announced to other daemons (pg_notify). */
#define ESCP_ENGINE_MAX_SLEEP_MS 60000
/* Start the engine thread on its own connection.  max_sleep_ms (0 = default)
 * bounds how long it sleeps without looking; other daemons' deadlines wake it
 * through LISTEN/NOTIFY, this process's through escp_engine_poke. */
struct escp_engine *escp_engine_start(const char *conninfo, int batch, int max_sleep_ms, esc_error_t *err);
void escp_engine_stop(struct escp_engine *e);
/* A commit of this process set a deadline `due` (database time) when the
 * database clock read `now`: wake the engine if that is before its planned wake-up. */
void escp_engine_poke(struct escp_engine *e, esc_time_t now, esc_time_t due);
struct escp_engine_stats {
    uint64_t fired, passes;
    uint64_t wakeups_notified, wakeups_poked; /* by another daemon's NOTIFY, by this process */
    double last_late_s, max_late_s;
};
void escp_engine_stats(struct escp_engine *e, struct escp_engine_stats *out);
/* Call fn(arg) on the engine thread after every pass that fired timers
 * (committed breached/at_risk events); the server wakes the event feed. */
void escp_engine_on_fired(struct escp_engine *e, void (*fn)(void *), void *arg);

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

/* The delivery worker thread (webhook.c).  0 in a field = its default. */
struct escp_webhook_config {
    int max_attempts;    /* 10 */
    int backoff_base_ms; /* 30,000 */
    int backoff_cap_ms;  /* 3,600,000 */
    int timeout_ms;      /* 5,000 per attempt (connect at most 2,000 of it) */
    int max_sleep_ms;    /* 1,000: the longest it sleeps without looking */
};
struct escp_webhooks;
struct escp_webhooks *escp_webhooks_start(const char *conninfo, const struct escp_webhook_config *cfg,
                                          esc_error_t *err);
/* Stops claiming, finishes the attempts in flight (at most timeout_ms), joins. NULL-safe. */
void escp_webhooks_stop(struct escp_webhooks *w);
/* This process committed a notification: look now rather than at the next poll. NULL-safe. */
void escp_webhooks_poke(struct escp_webhooks *w);
/* 0 when url is an absolute http or https URL with a host (libcurl's parser). */
int escp_webhook_url_check(const char *url, esc_error_t *err);
/* "whsec_" + 43 base64url characters (256 random bits); malloc'd. */
char *escp_webhook_secret_new(esc_error_t *err);

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
/* The groups array of the SLA report (new reference). */
json_t *escp_store_report_sla(struct escp_conn *c, const struct escp_report_period *p,
                              const char *group_by, esc_error_t *err);
/* {"totals", "categories" (at most limit), "root_causes"} (new reference). */
json_t *escp_store_report_monthly(struct escp_conn *c, const struct escp_report_period *p, int limit,
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

/* ---- JSON helpers (json_util.c) ---- */
/* Replace the customer fields and free text of a ticket JSON with their masked forms, in place. */
void escp_ticket_mask(json_t *ticket);
/* Timestamp text from PostgreSQL -> JSON string in RFC 3339 (ms, Z), or json null. */
json_t *escp_json_time(const char *pg_text);
/* "2026-11-23T11:35:00.123456Z" (microseconds) for passing to PostgreSQL. buf >= 40. */
void escp_time_pg(esc_time_t t, char *buf, size_t len);

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
/* The same for the event feed (GET /v1/events): bumped after every commit of
 * this process that recorded events; escp_wake_all wakes these waiters too. */
void escp_wake_events(struct escp_wake *w);
uint64_t escp_wake_events_gen(struct escp_wake *w);
void escp_wake_events_wait(struct escp_wake *w, uint64_t gen, int ms);

struct escp_engine;
struct escp_svc {
    struct esc_store *store;
    struct escp_wake *wake;
    struct escp_engine *engine; /* may be NULL */
    struct escp_webhooks *webhooks; /* the delivery worker; may be NULL */
    int notify_within_ms; /* pg_notify a new timer due sooner than this (0 = never) */
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
/* The event feed (service_events.c): up to `limit` events after event
 * `after` (0 = the start); waits up to wait_ms for one without holding a
 * database connection.  An empty array when none came (new reference). */
json_t *escp_svc_events(struct escp_svc *svc, int64_t after, int limit, int wait_ms,
                        volatile int *stopping, struct escp_feed_page *page, esc_error_t *err);

#endif
