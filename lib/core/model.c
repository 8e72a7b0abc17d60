/* model.c — wire names of the ticket model's enums. */
#include <string.h>

#include "core/model.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int lookup(const char *const *names, int n, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static const char *const tiers[] = {NULL, "line-1", "line-2", "line-3"};
const char *const esc_state_names[ESC_STATE__COUNT] = {
    [ESC_STATE_AWAITING_ACK] = "awaiting_ack", [ESC_STATE_ACKNOWLEDGED] = "acknowledged",
    [ESC_STATE_WAITING_CUSTOMER] = "waiting_customer", [ESC_STATE_RESOLVED] = "resolved",
    [ESC_STATE_CLOSED] = "closed"};
/* "Open" is every state before closed: closed must stay the last one. */
_Static_assert(ESC_STATE_CLOSED + 1 == ESC_STATE__COUNT, "closed is the last state");
const char *const esc_timer_names[ESCP_TIMER__COUNT] = {
    [ESCP_TIMER_ACK] = "ack", [ESCP_TIMER_RESOLVE] = "resolve", [ESCP_TIMER_WARN] = "warn",
    [ESCP_TIMER_CALLBACK] = "callback", [ESCP_TIMER_PROMISE] = "promise",
    [ESCP_TIMER_LADDER] = "ladder"};
const char *const esc_breach_names[ESC_BREACH__COUNT] = {
    [ESC_BREACH_ACK] = "ack", [ESC_BREACH_RESOLVE] = "resolve", [ESC_BREACH_CALLBACK] = "callback",
    [ESC_BREACH_PROMISE] = "promise", [ESC_BREACH_ACTION] = "action"};
static const char *const severities[] = {"normal", "major"};
static const char *const roles[] = {"frontdesk", "agent", "manager", "admin"};
static const char *const actions[] = {"create", "acknowledge", "escalate", "return", "wait",
                                      "resume", "resolve", "close", "reopen", "comment", "plan"};
static const char *const channels[] = {"phone", "wechat", "email", "web", "letter", "walk_in", "other"};
static const char *const root_causes[] = {"customer_side", "operations", "product_defect", "other"};

const char *esc_tier_name(enum esc_tier t) { return (t >= 1 && t <= 3) ? tiers[t] : NULL; }
int esc_tier_from_name(const char *s) { return lookup(tiers, N(tiers), s); }
int esc_tier_parse(const char *s)
{
    if (s && s[0] >= '1' && s[0] <= '3' && s[1] == '\0')
        return s[0] - '0';
    return esc_tier_from_name(s);
}
const char *esc_state_name(enum esc_state s) { return (unsigned)s < ESC_STATE__COUNT ? esc_state_names[s] : NULL; }
int esc_state_from_name(const char *s) { return lookup(esc_state_names, ESC_STATE__COUNT, s); }
int esc_timer_from_name(const char *s) { return lookup(esc_timer_names, ESCP_TIMER__COUNT, s); }
int esc_breach_from_name(const char *s) { return lookup(esc_breach_names, ESC_BREACH__COUNT, s); }
const char *esc_severity_name(enum esc_severity s) { return (unsigned)s < ESC_SEV__COUNT ? severities[s] : NULL; }
int esc_severity_from_name(const char *s) { return lookup(severities, N(severities), s); }
const char *esc_role_name(enum esc_role r) { return (unsigned)r < ESC_ROLE__COUNT ? roles[r] : NULL; }
int esc_role_from_name(const char *s) { return lookup(roles, N(roles), s); }
const char *esc_action_name(enum esc_action a) { return (unsigned)a < ESC_ACT__COUNT ? actions[a] : NULL; }
int esc_action_from_name(const char *s) { return lookup(actions, N(actions), s); }
int esc_channel_valid(const char *s) { return lookup(channels, N(channels), s) >= 0; }
int esc_root_cause_valid(const char *s) { return lookup(root_causes, N(root_causes), s) >= 0; }
