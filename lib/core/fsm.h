/* escalated — the ticket state machine (SPEC section 3), PURE: no I/O, no
 * clock, no allocation.  One table in lib/fsm.c; docs/design.md shows it.
 *
 * Order of checks in esc_fsm_step:
 *   1. the actor's role can never perform the action        -> ESC_ERR_FORBIDDEN
 *   2. the action is not allowed in the ticket's state/tier  -> ESC_ERR_INVALID_TRANSITION
 *   3. the actor is not the right person for this ticket
 *      (wrong tier for acknowledge, not the assignee, ...)   -> ESC_ERR_FORBIDDEN
 */
#ifndef ESCALATED_FSM_H
#define ESCALATED_FSM_H

#include "base/error.h"
#include "core/model.h"

struct esc_fsm_ticket {
    enum esc_tier tier;
    enum esc_state state;
    int64_t assignee_id; /* 0 when nobody */
};

enum esc_assign_rule {
    ESC_ASSIGN_KEEP,          /* assignee unchanged */
    ESC_ASSIGN_NONE,          /* assignee becomes null */
    ESC_ASSIGN_ACTOR,         /* assignee becomes the caller */
    ESC_ASSIGN_LAST_AT_TIER,  /* the last assignee at the new tier (return) */
    ESC_ASSIGN_RESOLVER       /* whoever resolved it (reopen) */
};

/* Timer operations a transition implies (bit set). */
enum esc_timer_op {
    ESC_TIMER_ACK_START      = 1u << 0,
    ESC_TIMER_ACK_STOP       = 1u << 1,
    ESC_TIMER_RESOLVE_START  = 1u << 2, /* fresh window from now (create, reopen) */
    ESC_TIMER_RESOLVE_PAUSE  = 1u << 3,
    ESC_TIMER_RESOLVE_RESUME = 1u << 4,
    ESC_TIMER_RESOLVE_STOP   = 1u << 5,
    ESC_TIMER_CALLBACK_START = 1u << 6,
    ESC_TIMER_CALLBACK_STOP  = 1u << 7,
    /* the promise (issue 10) ends: the ticket was resolved, or changed
     * tier (the new tier has promised nothing yet) */
    ESC_TIMER_PROMISE_STOP   = 1u << 8
};

struct esc_fsm_result {
    enum esc_tier tier;        /* tier after the action */
    enum esc_state state;      /* state after the action */
    enum esc_assign_rule assign;
    unsigned timers;           /* ESC_TIMER_* bits */
    const char *event;         /* event type recorded: "acknowledged", ... */
    int changes_ticket;        /* 0 for comment: no state change, no version bump */
};

/* Decide what `action` by `actor` does to `t`.  Returns 0 and fills *out, or
 * -1 with err set (ESC_ERR_FORBIDDEN or ESC_ERR_INVALID_TRANSITION). */
int esc_fsm_step(const struct esc_fsm_ticket *t, enum esc_action action,
                 const struct esc_actor *actor, struct esc_fsm_result *out,
                 esc_error_t *err);

/* Step 1 alone: may this actor's role ever perform `action`? (no ticket needed) */
int esc_fsm_role_may(enum esc_action action, const struct esc_actor *actor);

/* May this role create tickets? (frontdesk, manager, admin) */
int esc_fsm_may_create(const struct esc_actor *actor);
/* May this actor claim from the queue of `tier`? (an agent of that tier) */
int esc_fsm_may_claim(const struct esc_actor *actor, enum esc_tier tier);

#endif
