/* problem.c — the problem lifecycle's one table (problem.h). */
#include <string.h>

#include "core/problem.h"

const char *const esc_problem_state_names[ESC_PSTATE__COUNT] = {
    "open", "root_cause_found", "action_planned", "fixed", "verifying", "closed"};

int esc_problem_state_from_name(const char *s)
{
    for (int i = 0; s && i < ESC_PSTATE__COUNT; i++)
        if (strcmp(s, esc_problem_state_names[i]) == 0)
            return i;
    return -1;
}

#define S(x) (1u << ESC_PSTATE_##x)
static const struct {
    const char *name;
    unsigned from; /* bit set of states */
    int to;        /* -1: unchanged */
} table[ESC_PACT__COUNT] = {
    [ESC_PACT_ROOT_CAUSE] = {"root_cause", S(OPEN), ESC_PSTATE_ROOT_CAUSE_FOUND},
    [ESC_PACT_WORKAROUND] = {"workaround",
                             S(ROOT_CAUSE_FOUND) | S(ACTION_PLANNED) | S(FIXED) | S(VERIFYING), -1},
    [ESC_PACT_PLAN] = {"plan", S(ROOT_CAUSE_FOUND), ESC_PSTATE_ACTION_PLANNED},
    [ESC_PACT_FIX] = {"fix", S(ACTION_PLANNED), ESC_PSTATE_FIXED},
    [ESC_PACT_VERIFY] = {"verify", S(FIXED), ESC_PSTATE_VERIFYING},
    [ESC_PACT_CLOSE] = {"close", S(VERIFYING), ESC_PSTATE_CLOSED},
    [ESC_PACT_REOPEN] = {"reopen", S(FIXED) | S(VERIFYING), ESC_PSTATE_OPEN},
};
#undef S

const char *esc_problem_act_name(enum esc_problem_act a)
{
    return (unsigned)a < ESC_PACT__COUNT ? table[a].name : NULL;
}

bool esc_problem_actor_may(const struct esc_actor *actor, int64_t owner_id)
{
    return actor->role == ESC_ROLE_MANAGER || actor->role == ESC_ROLE_ADMIN ||
           (owner_id != 0 && actor->id == owner_id);
}

bool esc_problem_may_create(const struct esc_actor *actor)
{
    return actor->role == ESC_ROLE_MANAGER || actor->role == ESC_ROLE_ADMIN ||
           (actor->role == ESC_ROLE_AGENT &&
            (actor->tier == ESC_TIER_LINE2 || actor->tier == ESC_TIER_LINE3));
}

int esc_problem_step(enum esc_problem_state from, enum esc_problem_act act,
                     enum esc_problem_state *to, esc_error_t *err)
{
    if ((unsigned)act >= ESC_PACT__COUNT || (unsigned)from >= ESC_PSTATE__COUNT ||
        !(table[act].from & (1u << from))) {
        esc_error_set(err, ESC_ERR_INVALID_TRANSITION, NULL, "a problem that is %s cannot %s",
                      (unsigned)from < ESC_PSTATE__COUNT ? esc_problem_state_names[from] : "?",
                      esc_problem_act_name(act) ? esc_problem_act_name(act) : "?");
        return -1;
    }
    *to = table[act].to < 0 ? from : (enum esc_problem_state)table[act].to;
    return 0;
}
