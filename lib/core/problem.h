/* problem.h — the problem lifecycle (issue 10; docs/problems.md), PURE: one
 * table of transitions, no I/O, no clock, no allocation.
 *
 *   open -> root_cause_found -> action_planned -> fixed -> verifying -> closed
 *                                  (fixed, verifying: reopen -> open)
 *
 * Adding the first corrective or preventive action to a problem whose root
 * cause is found plans it (root_cause_found -> action_planned); the other
 * transitions are actions of their own. */
#ifndef ESCALATED_CORE_PROBLEM_H
#define ESCALATED_CORE_PROBLEM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "core/model.h"

enum esc_problem_state {
    ESC_PSTATE_OPEN,
    ESC_PSTATE_ROOT_CAUSE_FOUND,
    ESC_PSTATE_ACTION_PLANNED,
    ESC_PSTATE_FIXED,
    ESC_PSTATE_VERIFYING,
    ESC_PSTATE_CLOSED,
    ESC_PSTATE__COUNT
};
/* as problems.state stores them */
extern const char *const esc_problem_state_names[ESC_PSTATE__COUNT];
int esc_problem_state_from_name(const char *s);

/* What may be done to a problem; each has a route (api_problems.c). */
enum esc_problem_act {
    ESC_PACT_ROOT_CAUSE,  /* open -> root_cause_found: root cause, containment, workaround */
    ESC_PACT_WORKAROUND,  /* publish (or replace) the workaround: state unchanged */
    ESC_PACT_PLAN,        /* the first action added: root_cause_found -> action_planned */
    ESC_PACT_FIX,         /* action_planned -> fixed: the fix; resolves waiting tickets */
    ESC_PACT_VERIFY,      /* fixed -> verifying: the recurrence window starts */
    ESC_PACT_CLOSE,       /* verifying -> closed */
    ESC_PACT_REOPEN,      /* fixed, verifying -> open: the fix did not hold */
    ESC_PACT__COUNT
};
const char *esc_problem_act_name(enum esc_problem_act a); /* "root_cause", ... */

/* Who may do it, as far as the problem tells: its owner or a manager (an
 * admin counts as a manager, as on the tickets' routes). */
bool esc_problem_actor_may(const struct esc_actor *actor, int64_t owner_id);
/* May this actor open a problem?  Managers, admins, and agents of line 2 and
 * line 3 (the ones who find causes); not frontdesk, not line-1 agents. */
bool esc_problem_may_create(const struct esc_actor *actor);

/* The state `act` leads to from `from`, or -1 with ESC_ERR_INVALID_TRANSITION.
 * ESC_PACT_WORKAROUND leaves the state as it is (any state but open and
 * closed: a workaround follows a found cause). */
int esc_problem_step(enum esc_problem_state from, enum esc_problem_act act,
                     enum esc_problem_state *to, esc_error_t *err);

#endif
