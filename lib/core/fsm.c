/* fsm.c — the ticket state machine of SPEC section 3, as one table.  PURE.
 *
 * Each row says, for one action: which roles may ever do it, in which states
 * and tiers it is allowed, who among those roles must the caller be for this
 * ticket, and what it does.  esc_fsm_step() reads the row; nothing else in
 * escalated decides a transition.
 */
#include <stddef.h>

#include "core/fsm.h"

#define ST(s) (1u << (s))
#define TI(t) (1u << (t))
#define ROLE(r) (1u << (r))
#define ALL_TIERS (TI(ESC_TIER_LINE1) | TI(ESC_TIER_LINE2) | TI(ESC_TIER_LINE3))
#define ALL_STATES (ST(ESC_STATE__COUNT) - 1u)
#define STAFF (ROLE(ESC_ROLE_AGENT) | ROLE(ESC_ROLE_MANAGER) | ROLE(ESC_ROLE_ADMIN))
#define EVERYONE (ROLE(ESC_ROLE_FRONTDESK) | STAFF)

enum who {
    WHO_ANY,            /* anyone the role mask admits */
    WHO_TIER_AGENT,     /* an agent of the ticket's current tier */
    WHO_ASSIGNEE,       /* the assignee, or a manager/admin */
    WHO_LINE1           /* frontdesk, manager, admin, or an agent of line-1 */
};

enum tier_change { TIER_SAME, TIER_UP, TIER_DOWN };

struct rule {
    unsigned roles;       /* roles that may ever do it */
    unsigned states;      /* states it is allowed from */
    unsigned tiers;       /* tiers it is allowed at */
    enum who who;
    enum tier_change tier;
    enum esc_state to;    /* ESC_STATE__COUNT: unchanged */
    enum esc_assign_rule assign;
    unsigned timers;
    const char *event;
    int changes_ticket;
};

static const struct rule rules[ESC_ACT__COUNT] = {
    [ESC_ACT_ACKNOWLEDGE] = {ROLE(ESC_ROLE_AGENT), ST(ESC_STATE_AWAITING_ACK), ALL_TIERS,
                             WHO_TIER_AGENT, TIER_SAME, ESC_STATE_ACKNOWLEDGED, ESC_ASSIGN_ACTOR,
                             ESC_TIMER_ACK_STOP, "acknowledged", 1},
    [ESC_ACT_ESCALATE] = {STAFF, ST(ESC_STATE_ACKNOWLEDGED), TI(ESC_TIER_LINE1) | TI(ESC_TIER_LINE2),
                          WHO_ASSIGNEE, TIER_UP, ESC_STATE_AWAITING_ACK, ESC_ASSIGN_NONE,
                          ESC_TIMER_ACK_START | ESC_TIMER_PROMISE_STOP, "escalated", 1},
    [ESC_ACT_RETURN] = {STAFF, ST(ESC_STATE_ACKNOWLEDGED), TI(ESC_TIER_LINE2) | TI(ESC_TIER_LINE3),
                        WHO_ASSIGNEE, TIER_DOWN, ESC_STATE_AWAITING_ACK, ESC_ASSIGN_LAST_AT_TIER,
                        ESC_TIMER_ACK_START | ESC_TIMER_PROMISE_STOP, "returned", 1},
    [ESC_ACT_WAIT] = {STAFF, ST(ESC_STATE_ACKNOWLEDGED), ALL_TIERS, WHO_ASSIGNEE, TIER_SAME,
                      ESC_STATE_WAITING_CUSTOMER, ESC_ASSIGN_KEEP, ESC_TIMER_RESOLVE_PAUSE,
                      "waiting", 1},
    [ESC_ACT_RESUME] = {STAFF, ST(ESC_STATE_WAITING_CUSTOMER), ALL_TIERS, WHO_ASSIGNEE, TIER_SAME,
                        ESC_STATE_ACKNOWLEDGED, ESC_ASSIGN_KEEP, ESC_TIMER_RESOLVE_RESUME,
                        "resumed", 1},
    [ESC_ACT_RESOLVE] = {STAFF, ST(ESC_STATE_ACKNOWLEDGED) | ST(ESC_STATE_WAITING_CUSTOMER),
                         ALL_TIERS, WHO_ASSIGNEE, TIER_SAME, ESC_STATE_RESOLVED, ESC_ASSIGN_KEEP,
                         ESC_TIMER_RESOLVE_STOP | ESC_TIMER_CALLBACK_START | ESC_TIMER_PROMISE_STOP,
                         "resolved", 1},
    [ESC_ACT_CLOSE] = {EVERYONE, ST(ESC_STATE_RESOLVED), ALL_TIERS, WHO_LINE1, TIER_SAME,
                       ESC_STATE_CLOSED, ESC_ASSIGN_KEEP, ESC_TIMER_CALLBACK_STOP, "closed", 1},
    [ESC_ACT_REOPEN] = {EVERYONE, ST(ESC_STATE_RESOLVED), ALL_TIERS, WHO_LINE1, TIER_SAME,
                        ESC_STATE_AWAITING_ACK, ESC_ASSIGN_RESOLVER,
                        ESC_TIMER_ACK_START | ESC_TIMER_RESOLVE_START | ESC_TIMER_CALLBACK_STOP,
                        "reopened", 1},
    [ESC_ACT_COMMENT] = {EVERYONE, ALL_STATES & ~ST(ESC_STATE_CLOSED), ALL_TIERS, WHO_ANY,
                         TIER_SAME, ESC_STATE__COUNT, ESC_ASSIGN_KEEP, 0, "commented", 0},
    /* the promise is the assignee's own word to the customer: a manager
     * cannot give it for them (the role mask admits agents only, and of
     * agents WHO_ASSIGNEE admits the assignee); its timer is set by the
     * service from the plan's promised_at */
    [ESC_ACT_PLAN] = {ROLE(ESC_ROLE_AGENT), ST(ESC_STATE_ACKNOWLEDGED) | ST(ESC_STATE_WAITING_CUSTOMER),
                      ALL_TIERS, WHO_ASSIGNEE, TIER_SAME, ESC_STATE__COUNT, ESC_ASSIGN_KEEP, 0,
                      "planned", 1},
};

static int is_manager(const struct esc_actor *a)
{
    return a->role == ESC_ROLE_MANAGER || a->role == ESC_ROLE_ADMIN;
}

/* Can this actor ever do what `who` asks, whatever the ticket? (step 1) */
static int who_possible(enum who who, const struct esc_actor *a)
{
    if (who == WHO_LINE1 && a->role == ESC_ROLE_AGENT)
        return a->tier == ESC_TIER_LINE1;
    return 1;
}

/* Is this actor the right person for this ticket? (step 3) */
static int who_matches(enum who who, const struct esc_fsm_ticket *t, const struct esc_actor *a)
{
    switch (who) {
    case WHO_ANY:
    case WHO_LINE1:
        return 1;
    case WHO_TIER_AGENT:
        return a->role == ESC_ROLE_AGENT && a->tier == t->tier;
    case WHO_ASSIGNEE:
        return is_manager(a) || (t->assignee_id != 0 && t->assignee_id == a->id);
    }
    return 0;
}

int esc_fsm_step(const struct esc_fsm_ticket *t, enum esc_action action,
                 const struct esc_actor *actor, struct esc_fsm_result *out, esc_error_t *err)
{
    if ((unsigned)action >= ESC_ACT__COUNT || action == ESC_ACT_CREATE || !rules[action].event) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such action");
        return -1;
    }
    const struct rule *r = &rules[action];
    const char *name = esc_action_name(action);

    if (!esc_fsm_role_may(action, actor)) {
        esc_error_set(err, ESC_ERR_FORBIDDEN, NULL, "the %s role may not %s tickets",
                      esc_role_name(actor->role), name);
        return -1;
    }
    if (!(r->states & ST(t->state)) || !(r->tiers & TI(t->tier))) {
        esc_error_set(err, ESC_ERR_INVALID_TRANSITION, NULL,
                      "cannot %s a ticket that is %s at %s", name, esc_state_name(t->state),
                      esc_tier_name(t->tier));
        return -1;
    }
    if (!who_matches(r->who, t, actor)) {
        if (r->who == WHO_TIER_AGENT)
            esc_error_set(err, ESC_ERR_FORBIDDEN, NULL,
                          "only an agent of %s may %s this ticket", esc_tier_name(t->tier), name);
        else if (!(r->roles & ROLE(ESC_ROLE_MANAGER))) /* plan: the assignee's own word */
            esc_error_set(err, ESC_ERR_FORBIDDEN, NULL, "only the assignee may %s this ticket", name);
        else
            esc_error_set(err, ESC_ERR_FORBIDDEN, NULL,
                          "only the assignee or a manager may %s this ticket", name);
        return -1;
    }

    out->tier = t->tier;
    if (r->tier == TIER_UP)
        out->tier = (enum esc_tier)(t->tier + 1);
    else if (r->tier == TIER_DOWN)
        out->tier = (enum esc_tier)(t->tier - 1);
    out->state = r->to == ESC_STATE__COUNT ? t->state : r->to;
    out->assign = r->assign;
    out->timers = r->timers;
    out->event = r->event;
    out->changes_ticket = r->changes_ticket;
    return 0;
}

int esc_fsm_role_may(enum esc_action action, const struct esc_actor *actor)
{
    if (action == ESC_ACT_CREATE)
        return esc_fsm_may_create(actor);
    if ((unsigned)action >= ESC_ACT__COUNT || !rules[action].event)
        return 0;
    return (rules[action].roles & ROLE(actor->role)) && who_possible(rules[action].who, actor);
}

int esc_fsm_may_create(const struct esc_actor *a)
{
    return a->role == ESC_ROLE_FRONTDESK || is_manager(a);
}

int esc_fsm_may_claim(const struct esc_actor *a, enum esc_tier tier)
{
    return a->role == ESC_ROLE_AGENT && a->tier == tier;
}
