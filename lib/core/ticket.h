/* ticket.h — the domain's shared shapes: what a create and an action carry,
 * the state of one ticket as the service decides on it, an event, the timer
 * kinds and the operations on them.  Pure data; no I/O. */
#ifndef ESCALATED_CORE_TICKET_H
#define ESCALATED_CORE_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "core/deadline.h"
#include "core/model.h"

#define ESC_TIME_NULL INT64_MIN


/* What a create carries, validated by the API layer. Borrowed strings. */
struct escp_new_ticket {
    const char *severity, *channel, *category, *subject, *description;
    const char *customer_name, *customer_phone, *customer_email, *customer_id_number;
    const char *customer_bank_card;
    const char *external_ref;
    const char *idempotency_key; /* NULL when none */
    char request_hash[65];
    const char *pii_sealed; /* the sealed free-text findings (migration 008), or NULL */
};

/* The customer fields as they are stored (migration 006): each sealed with
 * the data key and masked, the phone and identity number also blind-indexed.
 * Indexed by enum escp_customer_field; NULL = the field is absent.  Owned
 * (malloc'd) by whoever fills it; escp_customer_stored_clear frees. */
enum escp_customer_field {
    ESCP_CUST_NAME, ESCP_CUST_PHONE, ESCP_CUST_EMAIL, ESCP_CUST_ID_NUMBER, ESCP_CUST_BANK_CARD,
    ESCP_CUST__COUNT
};
struct escp_customer_stored {
    int64_t id; /* the ticket the seals are bound to */
    char *sealed[ESCP_CUST__COUNT], *masked[ESCP_CUST__COUNT];
    char *phone_bi, *id_number_bi;
    unsigned key_version; /* 0 when nothing is sealed */
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
    /* the promise in force (issue 10), written back when set_promise:
     * promised_at ESC_TIME_NULL = none; promise_solution borrowed (stored
     * masked) */
    bool set_promise;
    esc_time_t promised_at;
    const char *promise_solution;
    int64_t promise_by;
    int promise_tier;
    /* the clock and the policy, read in the same statement as the lock */
    esc_time_t now;
    int64_t ack_seconds, resolve_seconds;
    double warn_ratio;
    int callback_days;
    bool timer_due; /* a timer of the ticket is due and not fired yet */
};

struct escp_event {
    const char *type;
    int64_t actor_id; /* 0 = the system */
    int from_tier, to_tier; /* 0 = absent */
    const char *from_state, *to_state, *reason, *body;
    json_t *data; /* borrowed; extra fields merged into the event's JSON, may be NULL */
    int64_t id;   /* drawn beforehand (its findings are sealed bound to it), 0 = the sequence's */
    const char *pii_sealed; /* the sealed free-text findings (migration 008), or NULL */
};

/* by timer kind: enum escp_timer (core/model.h) */
struct escp_timer_ops {
    bool stop[ESCP_TIMER__COUNT];
    esc_time_t set[ESCP_TIMER__COUNT]; /* ESC_TIME_NULL = untouched */
};


struct escp_action_args {
    const char *reason;     /* escalate, return, wait, reopen */
    const char *body;       /* comment */
    const char *resolution, *root_cause; /* resolve */
    const char *sat_result, *sat_feedback; /* close */
    int sat_score;          /* 0 = none */
    int if_match;           /* -1 = no If-Match */
    /* the plan (acknowledge, escalate: optional; plan: required):
     * plan_solution NULL = no plan */
    const char *plan_solution;
    esc_time_t plan_promised_at;
    const char *via;        /* acknowledge: how, when not the API ("link": a one-click link) */
};

/* How far ahead a plan may promise: beyond that it is no promise a
 * customer can hold anyone to (docs/api.md, "The plan"). */
#define ESCP_PLAN_HORIZON_DAYS 90

/* ---- the wire format of instants (json_time.c) ---- */
/* Timestamp text from PostgreSQL -> JSON string in RFC 3339 (ms, Z), or json null. */
json_t *escp_json_time(const char *pg_text);
/* "2026-11-23T11:35:00.123456Z" (microseconds) for passing to PostgreSQL. buf >= 40. */
void escp_time_pg(esc_time_t t, char *buf, size_t len);

#endif
