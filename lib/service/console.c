/* console.c — what the agent console (console/, served at /console) asks
 * beyond the ticket routes: a tier's queue in claim order, and which actions
 * the state machine allows this caller on a ticket, so the page offers
 * exactly the buttons that would succeed. */
#include <string.h>

#include "core/fsm.h"
#include "db/db.h"
#include "service/service.h"

json_t *escp_svc_queue(struct escp_svc *svc, enum esc_tier tier, int limit, esc_error_t *err)
{
    long queued = 0;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_ticket_queue(c, tier, limit, &queued, err);
    escp_release(svc->store, c);
    if (items && escp_render_each(items, escp_render_ticket, err) != 0) {
        json_decref(items);
        items = NULL;
    }
    if (!items)
        return NULL;
    return json_pack("{s:s,s:I,s:o}", "tier", esc_tier_name(tier), "queued", (json_int_t)queued,
                     "items", items);
}

json_t *escp_svc_ticket_actions(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                esc_error_t *err)
{
    /* the stored row: its tier, state and assignee are all the state machine
     * asks, so nothing of it is rendered (masked) only to be dropped */
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *t = c ? escp_store_ticket_get(c, id, err) : NULL;
    escp_release(svc->store, c);
    if (!t)
        return NULL;
    json_t *assignee = json_object_get(t, "assignee");
    int tier = esc_tier_from_name(json_string_value(json_object_get(t, "tier")));
    int state = esc_state_from_name(json_string_value(json_object_get(t, "state")));
    if (tier < 0 || state < 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "ticket %lld has an unknown tier or state",
                      (long long)id);
        json_decref(t);
        return NULL;
    }
    struct esc_fsm_ticket ft = {(enum esc_tier)tier, (enum esc_state)state,
                                (int64_t)json_integer_value(json_object_get(assignee, "id"))};
    json_t *actions = json_array();
    for (int a = 0; a < ESC_ACT__COUNT; a++) {
        struct esc_fsm_result res;
        esc_error_t no = {0};
        if (a != ESC_ACT_CREATE && esc_fsm_step(&ft, (enum esc_action)a, actor, &res, &no) == 0)
            json_array_append_new(actions, json_string(esc_action_name((enum esc_action)a)));
    }
    json_t *out = json_pack("{s:I,s:O,s:o}", "ticket_id", (json_int_t)id, "version",
                            json_object_get(t, "version"), "actions", actions);
    json_decref(t);
    return out;
}
