/* problem.c — the problem lifecycle's one table (problem.h). */
#include <string.h>

#include "core/mask.h"
#include "core/problem.h"
#include "core/validate.h"

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

/* ---- the request bodies ---- */

/* obj[key] as an integer min..max into *out; absent or null leaves it. */
static int get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
                   bool required, esc_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) {
            esc_error_set(err, ESC_ERR_VALIDATION, key, "%s is required", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        esc_error_set(err, ESC_ERR_VALIDATION, key, "%s must be an integer from %lld to %lld", key,
                      (long long)min, (long long)max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int root_cause_kind_valid(const char *s) { return esc_root_cause_valid(s); }

int escp_problem_body_parse(json_t *b, struct escp_problem_req *rq, esc_error_t *err)
{
    static const char *const keys[] = {"title", "description", "category", "owner_id",
                                       "signature_keywords", "verify_window_days", NULL};
    int64_t owner = 0, days = 0;
    memset(rq, 0, sizeof *rq);
    if (escp_only_keys(b, keys, "", err) != 0 ||
        escp_body_str(b, "title", true, 1, 200, &rq->title, err) != 0 ||
        escp_body_str(b, "description", false, 0, 10000, &rq->description, err) != 0 ||
        escp_body_str(b, "category", false, 1, 64, &rq->category, err) != 0 ||
        get_int(b, "owner_id", 1, INT64_MAX, &owner, false, err) != 0 ||
        get_int(b, "verify_window_days", 1, 3650, &days, false, err) != 0)
        return -1;
    rq->owner_id = owner;
    rq->verify_window_days = (int)days;
    json_t *kw = json_object_get(b, "signature_keywords");
    if (kw && !json_is_null(kw)) {
        size_t i;
        json_t *k;
        if (!json_is_array(kw) || json_array_size(kw) > 20) {
            esc_error_set(err, ESC_ERR_VALIDATION, "signature_keywords",
                          "signature_keywords must be an array of at most 20 strings");
            return -1;
        }
        json_array_foreach(kw, i, k) {
            size_t n = json_is_string(k) ? esc_utf8_length(json_string_value(k)) : 0;
            if (n < 1 || n > 64) {
                esc_error_set(err, ESC_ERR_VALIDATION, "signature_keywords",
                              "each keyword must be a string of 1 to 64 characters");
                return -1;
            }
        }
        rq->keywords = kw;
    }
    return 0;
}

int escp_problem_act_body_parse(enum esc_problem_act act, json_t *b, struct escp_problem_args *a,
                                esc_error_t *err)
{
    static const char *const k_root[] = {"root_cause", "root_cause_kind", "containment", "workaround", NULL};
    static const char *const k_work[] = {"workaround", NULL};
    static const char *const k_fix[] = {"fix", NULL};
    static const char *const k_verify[] = {"verify_window_days", NULL};
    static const char *const k_reason[] = {"reason", NULL};
    int if_match = a->if_match;
    int64_t days = 0;
    memset(a, 0, sizeof *a);
    a->if_match = if_match;
    switch (act) {
    case ESC_PACT_ROOT_CAUSE:
        if (escp_only_keys(b, k_root, "", err) != 0 ||
            escp_body_str(b, "root_cause", true, 1, 10000, &a->root_cause, err) != 0 ||
            escp_body_str(b, "root_cause_kind", false, 1, 64, &a->root_cause_kind, err) != 0 ||
            escp_body_str(b, "containment", false, 1, 10000, &a->containment, err) != 0 ||
            escp_body_str(b, "workaround", false, 1, 10000, &a->workaround, err) != 0)
            return -1;
        if (a->root_cause_kind && !root_cause_kind_valid(a->root_cause_kind)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "root_cause_kind", "root_cause_kind has an unknown value");
            return -1;
        }
        return 0;
    case ESC_PACT_WORKAROUND:
        return escp_only_keys(b, k_work, "", err) != 0 ||
                       escp_body_str(b, "workaround", true, 1, 10000, &a->workaround, err) != 0
                   ? -1 : 0;
    case ESC_PACT_FIX:
        return escp_only_keys(b, k_fix, "", err) != 0 ||
                       escp_body_str(b, "fix", true, 1, 10000, &a->fix, err) != 0
                   ? -1 : 0;
    case ESC_PACT_VERIFY:
        if (escp_only_keys(b, k_verify, "", err) != 0 ||
            get_int(b, "verify_window_days", 1, 3650, &days, false, err) != 0)
            return -1;
        a->verify_window_days = (int)days;
        return 0;
    case ESC_PACT_CLOSE:
    case ESC_PACT_REOPEN:
        return escp_only_keys(b, k_reason, "", err) != 0 ||
                       escp_body_str(b, "reason", act == ESC_PACT_REOPEN, 1, 2000, &a->reason, err) != 0
                   ? -1 : 0;
    default:
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such problem action");
        return -1;
    }
}

int escp_problem_action_body_parse(json_t *b, struct escp_action_req *rq, esc_error_t *err)
{
    static const char *const keys[] = {"kind", "description", "owner_id", "due_at", NULL};
    const char *due = NULL;
    memset(rq, 0, sizeof *rq);
    if (escp_only_keys(b, keys, "", err) != 0 ||
        escp_body_str(b, "kind", true, 1, 64, &rq->kind, err) != 0)
        return -1;
    if (strcmp(rq->kind, "corrective") != 0 && strcmp(rq->kind, "preventive") != 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "kind", "kind must be corrective or preventive");
        return -1;
    }
    if (escp_body_str(b, "description", true, 1, 2000, &rq->description, err) != 0 ||
        get_int(b, "owner_id", 1, INT64_MAX, &rq->owner_id, true, err) != 0 ||
        escp_body_str(b, "due_at", true, 1, 64, &due, err) != 0)
        return -1;
    /* years 0001..9999, as every instant the API takes */
    if (esc_time_parse(due, &rq->due_at) != 0 || rq->due_at < -62135596800000000LL ||
        rq->due_at > 253402300799999999LL) {
        esc_error_set(err, ESC_ERR_VALIDATION, "due_at", "due_at must be an RFC 3339 instant");
        return -1;
    }
    return 0;
}

int escp_link_body_parse(json_t *b, int64_t *ids, size_t *n, bool *waiting, esc_error_t *err)
{
    static const char *const keys[] = {"ticket_ids", "waiting_on_problem", NULL};
    json_t *arr = json_object_get(b, "ticket_ids"), *w = json_object_get(b, "waiting_on_problem");
    size_t i;
    json_t *v;
    *n = 0;
    *waiting = false;
    if (escp_only_keys(b, keys, "", err) != 0)
        return -1;
    if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > ESCP_LINK_MAX) {
        esc_error_set(err, ESC_ERR_VALIDATION, "ticket_ids",
                      "ticket_ids must be an array of 1 to %d ticket ids", ESCP_LINK_MAX);
        return -1;
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            esc_error_set(err, ESC_ERR_VALIDATION, "ticket_ids", "ticket_ids must hold ticket ids");
            return -1;
        }
        for (size_t j = 0; j < *n; j++)
            if (ids[j] == json_integer_value(v)) {
                esc_error_set(err, ESC_ERR_VALIDATION, "ticket_ids", "ticket %lld is listed twice",
                              (long long)ids[j]);
                return -1;
            }
        ids[(*n)++] = json_integer_value(v);
    }
    if (w && !json_is_null(w)) {
        if (!json_is_boolean(w)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "waiting_on_problem",
                          "waiting_on_problem must be true or false");
            return -1;
        }
        *waiting = json_is_true(w);
    }
    return 0;
}
