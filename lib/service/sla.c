/* sla.c — the SLA settings managers keep (deadline policies, the business
 * calendar) and the breaches the SLA engine has recorded.  Each is one
 * statement on a leased connection. */
#include "service/service.h"

json_t *escp_svc_policies(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_policies(c, err);
    escp_release(svc->store, c);
    return doc;
}

json_t *escp_svc_policy_put(struct escp_svc *svc, const struct escp_policy_change *pc,
                            esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_policy_put(c, pc->severity, pc->ack_seconds, pc->resolve_seconds,
                                        pc->warn_ratio, pc->callback_business_days, err);
    escp_release(svc->store, c);
    return doc;
}

json_t *escp_svc_calendar_get(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_calendar(c, err);
    escp_release(svc->store, c);
    return doc;
}

json_t *escp_svc_calendar_put(struct escp_svc *svc, const struct esc_calendar *cal,
                              esc_error_t *err)
{
    /* stored in its canonical form, so what GET answers does not depend on
     * how the client spelled it */
    json_t *canon = esc_calendar_to_json(cal), *doc = NULL;
    struct escp_conn *c = NULL;
    if (!canon) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (!(c = escp_lease(svc->store, err)))
        goto out;
    doc = escp_store_calendar_put(c, canon, err);
out:
    if (c)
        escp_release(svc->store, c);
    json_decref(canon);
    return doc;
}

json_t *escp_svc_breaches(struct escp_svc *svc, const struct escp_breach_filter *f,
                          esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_breach_list(c, f, err);
    escp_release(svc->store, c);
    if (items && escp_render_each(items, escp_render_breach, err) != 0) {
        json_decref(items);
        items = NULL;
    }
    return items;
}
