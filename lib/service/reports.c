/* reports.c — the manager reports (docs/reports.md).  Each runs in one
 * read-only transaction (escp_store_report_begin), so the period, the
 * calendar's zone and every figure come from one snapshot and one clock;
 * releasing the connection rolls it back. */
#include <string.h>

#include "service/service.h"

json_t *escp_svc_report_sla(struct escp_svc *svc, const char *from, const char *to,
                            const char *group_by, esc_error_t *err)
{
    struct escp_report_period p;
    json_t *groups = NULL, *doc = NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    if (escp_store_report_begin(c, err) != 0 || escp_store_report_period(c, from, to, &p, err) != 0)
        goto out;
    /* the defaults and the calendar's zone are the database's, so the order
     * of the period can only be judged here */
    if (!p.ordered) {
        esc_error_set(err, ESC_ERR_VALIDATION, to || !from ? "to" : "from", "from must be before to");
        goto out;
    }
    if (strcmp(group_by, "day") == 0 && p.days > ESCP_REPORT_DAY_GROUPS_MAX) {
        esc_error_set(err, ESC_ERR_VALIDATION, "to", "group_by=day covers at most %d days",
                      ESCP_REPORT_DAY_GROUPS_MAX);
        goto out;
    }
    if (!(groups = escp_store_report_sla(c, &p, group_by, err)))
        goto out;
    doc = json_pack("{s:o,s:o,s:s,s:s,s:o}", "from", escp_json_time(p.from), "to",
                    escp_json_time(p.to), "group_by", group_by, "timezone", p.tz, "groups", groups);
    if (!doc)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    escp_release(svc->store, c); /* ends the read-only transaction */
    return doc;
}

json_t *escp_svc_report_monthly(struct escp_svc *svc, const char *month, int limit, esc_error_t *err)
{
    struct escp_report_period p;
    char mon[8];
    json_t *body = NULL, *doc = NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    if (escp_store_report_begin(c, err) != 0 || escp_store_report_month(c, month, &p, mon, err) != 0 ||
        !(body = escp_store_report_monthly(c, &p, limit, err)))
        goto out;
    doc = json_pack("{s:s,s:s,s:o,s:o}", "month", mon, "timezone", p.tz, "from",
                    escp_json_time(p.from), "to", escp_json_time(p.to));
    if (!doc || json_object_update(doc, body) != 0) {
        json_decref(doc);
        doc = NULL;
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
out:
    json_decref(body);
    escp_release(svc->store, c); /* ends the read-only transaction */
    return doc;
}

json_t *escp_svc_report_problems(struct escp_svc *svc, const char *from, const char *to,
                                 esc_error_t *err)
{
    struct escp_report_period p;
    json_t *body = NULL, *doc = NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    if (escp_store_report_begin(c, err) != 0 || escp_store_report_period(c, from, to, &p, err) != 0)
        goto out;
    if (!p.ordered) { /* as the SLA report: the defaults are the database's */
        esc_error_set(err, ESC_ERR_VALIDATION, to || !from ? "to" : "from", "from must be before to");
        goto out;
    }
    if (!(body = escp_store_report_problems(c, &p, err)))
        goto out;
    doc = json_pack("{s:o,s:o,s:s}", "from", escp_json_time(p.from), "to", escp_json_time(p.to),
                    "timezone", p.tz);
    if (!doc || json_object_update(doc, body) != 0) {
        json_decref(doc);
        doc = NULL;
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
out:
    json_decref(body);
    escp_release(svc->store, c); /* ends the read-only transaction */
    return doc;
}
