/* escalated — the vocabulary of the ticket model (SPEC section 2) and the
 * conversions between wire names and enums.  Pure, no allocation.
 * Every *_from_name returns -1 for an unknown name (or NULL input). */
#ifndef ESCALATED_MODEL_H
#define ESCALATED_MODEL_H

#include <stdint.h>

enum esc_tier { ESC_TIER_NONE = 0, ESC_TIER_LINE1 = 1, ESC_TIER_LINE2 = 2, ESC_TIER_LINE3 = 3 };

enum esc_state {
    ESC_STATE_AWAITING_ACK,
    ESC_STATE_ACKNOWLEDGED,
    ESC_STATE_WAITING_CUSTOMER,
    ESC_STATE_RESOLVED,
    ESC_STATE_CLOSED,
    ESC_STATE__COUNT
};

enum esc_severity { ESC_SEV_NORMAL, ESC_SEV_MAJOR, ESC_SEV__COUNT };

enum esc_role { ESC_ROLE_FRONTDESK, ESC_ROLE_AGENT, ESC_ROLE_MANAGER, ESC_ROLE_ADMIN, ESC_ROLE__COUNT };

enum esc_action {
    ESC_ACT_CREATE,
    ESC_ACT_ACKNOWLEDGE,
    ESC_ACT_ESCALATE,
    ESC_ACT_RETURN,
    ESC_ACT_WAIT,
    ESC_ACT_RESUME,
    ESC_ACT_RESOLVE,
    ESC_ACT_CLOSE,
    ESC_ACT_REOPEN,
    ESC_ACT_COMMENT,
    ESC_ACT_PLAN, /* issue 10: the assignee states a solution and the time it is promised by */
    ESC_ACT__COUNT
};

/* "line-1" <-> ESC_TIER_LINE1; also accepts "1", "2", "3" in esc_tier_parse */
const char *esc_tier_name(enum esc_tier t);
int esc_tier_from_name(const char *s);
int esc_tier_parse(const char *s); /* "line-2" or "2" */
const char *esc_state_name(enum esc_state s);
int esc_state_from_name(const char *s);
const char *esc_severity_name(enum esc_severity s);
int esc_severity_from_name(const char *s);
const char *esc_role_name(enum esc_role r);
int esc_role_from_name(const char *s);
const char *esc_action_name(enum esc_action a);
int esc_action_from_name(const char *s);
/* channel and root_cause are validated as names only (stored as text) */
int esc_channel_valid(const char *s);
int esc_root_cause_valid(const char *s);

/* ---- the SLA vocabulary: the one place these names and their order live ----
 * db/ passes these lists to the SQL that needs them as parameters, and
 * checks on each new pooled connection that the database's CHECK
 * constraints allow exactly these names (db/store.c), so the schema, the
 * SQL and the metrics cannot drift apart. */

/* The open states: every state but closed (a resolved ticket stays open
 * until its callback closes it), i.e. the first ESC_OPEN_STATES of enum
 * esc_state, in that order. */
enum { ESC_OPEN_STATES = ESC_STATE_CLOSED };
/* enum esc_state's names ("awaiting_ack", ...), as tickets.state stores them. */
extern const char *const esc_state_names[ESC_STATE__COUNT];

/* The SLA timers, as timers.kind stores them: "ack", "resolve", "warn" (the
 * at-risk warning, shown as "at_risk"), "callback", "promise" (the time
 * the assignee promised a solution by, issue 10's `plan`) and "ladder" (the
 * next step of an escalation ladder, migration 014: it alerts, it records no
 * breach). */
enum escp_timer {
    ESCP_TIMER_ACK,
    ESCP_TIMER_RESOLVE,
    ESCP_TIMER_WARN,
    ESCP_TIMER_CALLBACK,
    ESCP_TIMER_PROMISE,
    ESCP_TIMER_LADDER,
    ESCP_TIMER__COUNT
};
extern const char *const esc_timer_names[ESCP_TIMER__COUNT];
int esc_timer_from_name(const char *s);

/* The breaches, as breaches.kind stores them: a ticket's timer of the same
 * name came due ("ack", "resolve", "callback", "promise"; every timer but the
 * warning), or a corrective/preventive action of a problem passed its due
 * date ("action"; no ticket timer has that name). */
enum esc_breach {
    ESC_BREACH_ACK,
    ESC_BREACH_RESOLVE,
    ESC_BREACH_CALLBACK,
    ESC_BREACH_PROMISE,
    ESC_BREACH_ACTION,
    ESC_BREACH__COUNT
};
extern const char *const esc_breach_names[ESC_BREACH__COUNT];
int esc_breach_from_name(const char *s);

/* The authenticated caller. tier is ESC_TIER_NONE unless role is agent. */
struct esc_actor {
    int64_t id;
    enum esc_role role;
    enum esc_tier tier;
    char name[128];
};

#endif
