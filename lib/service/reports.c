/* reports.c — the manager reports (docs/reports.md).  Each runs in one
 * read-only transaction (escp_store_report_begin), so the period, the
 * calendar's zone and every figure come from one snapshot and one clock;
 * releasing the connection rolls it back. */
#include <string.h>

#include "service/service.h"

json_t *escp_svc_report_sla(struct escp_svc *svc, const char *from, const char *to,
                            const char *group_by, int level, esc_error_t *err)
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
    groups = strcmp(group_by, "assignee") == 0 ? escp_store_report_agents(c, &p, err)
                                               : escp_store_report_sla(c, &p, group_by, level, err);
    if (!groups)
        goto out;
    doc = json_pack("{s:o,s:o,s:s,s:s,s:o}", "from", escp_json_time(p.from), "to",
                    escp_json_time(p.to), "group_by", group_by, "timezone", p.tz, "groups", groups);
    if (doc && level > 0 && json_object_set_new(doc, "level", json_integer(level)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    if (!doc)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    escp_release(svc->store, c); /* ends the read-only transaction */
    return doc;
}

/* {"resolution_rate": bool, "satisfaction_rate": bool} of the rates of
 * `figures` under svc's targets; null for a rate that is null (nothing to
 * judge). */
static json_t *below_target(struct escp_svc *svc, json_t *figures)
{
    json_t *out = json_object();
    const char *names[2] = {"resolution_rate", "satisfaction_rate"};
    const double targets[2] = {svc->target_resolution_rate, svc->target_satisfaction_rate};
    for (int i = 0; out && i < 2; i++) {
        json_t *r = json_object_get(figures, names[i]);
        if (json_object_set_new(out, names[i],
                                json_is_number(r) ? json_boolean(json_number_value(r) < targets[i])
                                                  : json_null()) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* The monthly view's "agents" (issue 10 item 7): one row per principal
 * who holds or handled tickets of the month, with the two appraised rates
 * marked against the targets.  The groups of escp_store_report_agents,
 * without the unassigned one. */
static json_t *monthly_agents(struct escp_svc *svc, json_t *groups)
{
    static const char *const keep[] = {"agent", "created", "resolved", "resolution_rate",
                                       "satisfaction_rate", "handled", "escalated", "returned",
                                       "reopened", NULL};
    json_t *out = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        if (!out)
            break;
        if (json_is_null(json_object_get(g, "agent")))
            continue;
        json_t *row = json_object();
        for (const char *const *k = keep; row && *k; k++)
            if (json_object_set(row, *k, json_object_get(g, *k)) != 0) {
                json_decref(row);
                row = NULL;
            }
        if (!row || json_object_set_new(row, "below_target", below_target(svc, g)) != 0 ||
            json_array_append_new(out, row) != 0) {
            json_decref(row);
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

json_t *escp_svc_report_monthly(struct escp_svc *svc, const char *month, int limit, esc_error_t *err)
{
    struct escp_report_period p;
    char mon[8];
    json_t *body = NULL, *doc = NULL, *agents = NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    if (escp_store_report_begin(c, err) != 0 || escp_store_report_month(c, month, &p, mon, err) != 0 ||
        !(body = escp_store_report_monthly(c, &p, limit, err)) ||
        !(agents = escp_store_report_agents(c, &p, err)))
        goto out;
    doc = json_pack("{s:s,s:s,s:o,s:o,s:{s:f,s:f},s:o}", "month", mon, "timezone", p.tz, "from",
                    escp_json_time(p.from), "to", escp_json_time(p.to), "targets",
                    "resolution_rate", svc->target_resolution_rate, "satisfaction_rate",
                    svc->target_satisfaction_rate, "agents", monthly_agents(svc, agents));
    json_t *totals = json_object_get(body, "totals");
    if (!doc || json_object_update(doc, body) != 0 ||
        json_object_set_new(totals, "below_target", below_target(svc, totals)) != 0) {
        json_decref(doc);
        doc = NULL;
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
out:
    json_decref(body);
    json_decref(agents);
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
