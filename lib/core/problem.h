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

#include <jansson.h>

#include "base/error.h"
#include "core/deadline.h"
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

/* ---- the request bodies (docs/problems.md), PURE: strings borrowed from b ---- */

/* POST /v1/problems: title (1..200), description (0..10000), category
 * (1..64), owner_id (default: the caller, owner_id 0 here), signature_keywords
 * (up to 20 strings of 1..64), verify_window_days (1..3650). */
struct escp_problem_req {
    const char *title, *description, *category;
    int64_t owner_id;       /* 0 = the caller */
    const json_t *keywords; /* a JSON array of strings, or NULL */
    int verify_window_days; /* 0 = the default (30) */
};
int escp_problem_body_parse(json_t *b, struct escp_problem_req *rq, esc_error_t *err);

/* The bodies of the transitions: root_cause {root_cause, root_cause_kind,
 * containment, workaround}, workaround {workaround}, fix {fix}, verify
 * {verify_window_days}, close {reason}, reopen {reason}. */
struct escp_problem_args {
    const char *root_cause, *root_cause_kind, *containment, *workaround, *fix, *reason;
    int verify_window_days; /* verify: 0 = the problem's */
    int if_match;           /* -1 = none (the handler's, from If-Match) */
};
int escp_problem_act_body_parse(enum esc_problem_act act, json_t *b, struct escp_problem_args *a,
                                esc_error_t *err);

/* POST /v1/problems/{id}/actions: kind (corrective, preventive),
 * description (1..2000), owner_id, due_at (RFC 3339). */
struct escp_action_req {
    const char *kind, *description;
    int64_t owner_id;
    esc_time_t due_at;
};
int escp_problem_action_body_parse(json_t *b, struct escp_action_req *rq, esc_error_t *err);

/* POST /v1/problems/{id}/tickets: ticket_ids (1..ESCP_LINK_MAX distinct
 * ids), waiting_on_problem (default false).  ids: room for ESCP_LINK_MAX. */
#define ESCP_LINK_MAX 1000
int escp_link_body_parse(json_t *b, int64_t *ids, size_t *n, bool *waiting, esc_error_t *err);

#endif
