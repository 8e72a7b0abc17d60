/* dashboard.c — the manager dashboard's aggregates (GET /v1/dashboard/summary),
 * every part read in one transaction so that they share the database clock. */
#include "service/service.h"

json_t *escp_svc_dashboard_summary(struct escp_svc *svc, const struct escp_dash_query *q,
                                   esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_dashboard_summary(c, q, err);
    escp_release(svc->store, c);
    return doc;
}
