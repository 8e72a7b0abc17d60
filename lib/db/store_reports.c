/* store_reports.c — the manager reports: the SLA table and the monthly view
 * (docs/reports.md).  The aggregation is SQL over the tickets created in the
 * period (index tickets_created); rates are divided here, null when their
 * denominator is 0. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

/* The breach kinds written out below ('ack', 'resolve': the columns
 * ack_breaches and resolve_breaches) are the model's (core/model.h), which
 * the pool checks against the schema (store.c, "vocabulary"). */
enum {
    S_REPORT_PERIOD,
    S_REPORT_SLA,
    S_REPORT_SETTINGS,
    S_REPORT_MONTH,
    S_REPORT_MONTHLY,
    S_REPORT_AGENTS,
    S_REPORT_PROBLEMS,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    /* The period of a report: from/to as given or defaulted (to = now,
     * from = to - 30 days), the calendar's zone, whether from < to, and how
     * many local calendar days [from, to) touches. */
    [S_REPORT_PERIOD] = {"report_period",
        "WITH z AS (SELECT coalesce((SELECT doc->>'timezone' FROM calendar), 'UTC') AS tz), "
        "p AS (SELECT coalesce($2::timestamptz, now()) AS t), "
        "q AS (SELECT coalesce($1::timestamptz, p.t - interval '30 days') AS f, p.t, z.tz FROM p, z) "
        "SELECT f AS period_from, t AS period_to, tz, f < t AS ordered, CASE WHEN f < t THEN "
        " ((t - interval '1 microsecond') AT TIME ZONE tz)::date - (f AT TIME ZONE tz)::date + 1 "
        " ELSE 0 END AS days FROM q"},

    /* The SLA table: the tickets created in [$1, $2), grouped by $3 (tier,
     * severity, category, or day in zone $4); every group of the fixed key
     * sets (tiers, severities, the days of the period) even when empty.
     * The rows are sorted by the group (percentile_disc needs a sorted
     * group aggregate), so the key columns are cheap to compare: the tier
     * number, text in the "C" collation, the day as a date; times are float8
     * seconds (date_part: numeric is several times slower to average and
     * sort).  Categories: most tickets first, then by code point; with a
     * level ($5, issue 10) each category counts as its ancestor at that
     * level of the taxonomy (its own code when it is shallower, as written
     * when the taxonomy does not have it).  Rates are divided in C (null on
     * a zero denominator). */
    [S_REPORT_SLA] = {"report_sla",
        "WITH c AS (SELECT CASE WHEN $3::text = 'tier' THEN t.tier END AS tier, "
        "  CASE WHEN $3::text = 'severity' THEN t.severity END COLLATE \"C\" AS sev, "
        "  CASE WHEN $3::text = 'category' THEN coalesce(x.paths->t.category->>(least($5::int, "
        "   jsonb_array_length(x.paths->t.category)) - 1), t.category) END COLLATE \"C\" AS cat, "
        "  CASE WHEN $3::text = 'day' THEN (t.created_at AT TIME ZONE $4::text)::date END AS day, "
        "  date_part('epoch', t.first_acknowledged_at - t.created_at) AS tta, "
        "  date_part('epoch', t.resolved_at - t.created_at) AS ttr, "
        "  t.closed_at IS NOT NULL AS closed, 'ack' = ANY (t.breaches) AS ab, "
        "  'resolve' = ANY (t.breaches) AS rb, t.sat_result "
        " FROM tickets t LEFT JOIN taxonomy x ON $5::int IS NOT NULL "
        " WHERE t.created_at >= $1::timestamptz AND t.created_at < $2::timestamptz), "
        "g AS (SELECT coalesce('line-' || c.tier, c.sev, c.cat, to_char(c.day, 'YYYY-MM-DD')) AS key, "
        "  count(*) AS created, "
        "  count(tta) AS acknowledged, count(ttr) AS resolved, "
        "  count(*) FILTER (WHERE closed) AS closed, count(*) FILTER (WHERE ab) AS ack_breaches, "
        "  count(*) FILTER (WHERE rb) AS resolve_breaches, "
        "  count(ttr) FILTER (WHERE NOT rb) AS in_sla, "
        "  count(*) FILTER (WHERE sat_result = 'satisfied') AS satisfied, count(sat_result) AS rated, "
        "  round(avg(tta)::numeric, 3) AS mtta, round(avg(ttr)::numeric, 3) AS mttr, "
        "  round((percentile_disc(0.9) WITHIN GROUP (ORDER BY ttr))::numeric, 3) AS p90 "
        " FROM c GROUP BY c.tier, c.sev, c.cat, c.day), "
        "k AS (SELECT x.key, x.ord FROM unnest(CASE $3::text "
        "   WHEN 'tier' THEN ARRAY['line-1', 'line-2', 'line-3'] "
        "   WHEN 'severity' THEN ARRAY['normal', 'major'] ELSE ARRAY[]::text[] END) "
        "   WITH ORDINALITY AS x(key, ord) "
        " UNION ALL SELECT to_char(d, 'YYYY-MM-DD'), 0 FROM generate_series("
        "   ($1::timestamptz AT TIME ZONE $4::text)::date, "
        "   (($2::timestamptz - interval '1 microsecond') AT TIME ZONE $4::text)::date, "
        "   interval '1 day') AS d WHERE $3::text = 'day') "
        "SELECT coalesce(k.key, g.key) AS key, coalesce(g.created, 0) AS created, "
        " coalesce(g.acknowledged, 0) AS acknowledged, coalesce(g.resolved, 0) AS resolved, "
        " coalesce(g.closed, 0) AS closed, coalesce(g.ack_breaches, 0) AS ack_breaches, "
        " coalesce(g.resolve_breaches, 0) AS resolve_breaches, g.mtta, g.mttr, g.p90, "
        " coalesce(g.in_sla, 0) AS in_sla, coalesce(g.satisfied, 0) AS satisfied, "
        " coalesce(g.rated, 0) AS rated "
        "FROM k FULL JOIN g ON g.key = k.key "
        "ORDER BY CASE WHEN $3::text = 'category' THEN -g.created ELSE k.ord END, "
        " coalesce(k.key, g.key) COLLATE \"C\" NULLS LAST"},

    /* Inside a report's transaction: a plan for the actual period (a generic
     * plan assumes a narrow one: a serial index scan and a sort on disk, twice
     * as slow over a year), no JIT (compiling costs more than it saves on
     * these one-pass aggregates), and sorts in memory. */
    [S_REPORT_SETTINGS] = {"report_settings",
        "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
        " set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"},

    /* A month ('YYYY-MM', or NULL: the current one) of the calendar's zone. */
    [S_REPORT_MONTH] = {"report_month",
        "WITH z AS (SELECT coalesce((SELECT doc->>'timezone' FROM calendar), 'UTC') AS tz), "
        "m AS (SELECT (coalesce($1::text, to_char(now() AT TIME ZONE z.tz, 'YYYY-MM')) || '-01')::date "
        "  AS d, z.tz FROM z) "
        "SELECT to_char(d, 'YYYY-MM') AS month, d::timestamp AT TIME ZONE tz AS period_from, "
        " (d + interval '1 month') AT TIME ZONE tz AS period_to, tz FROM m"},

    /* The monthly view over the tickets created in [$1, $2): one `total` row
     * (part 0), the $3 most frequent categories (part 1), every root cause
     * (part 2).  Columns: part, key, count, ack breaches, resolve breaches,
     * resolved, resolved within SLA, satisfied, rated. */
    [S_REPORT_MONTHLY] = {"report_monthly",
        "WITH c AS (SELECT t.category, t.root_cause, 'ack' = ANY (t.breaches) AS ab, "
        "  'resolve' = ANY (t.breaches) AS rb, t.resolved_at IS NOT NULL AS resolved, t.sat_result "
        " FROM tickets t WHERE t.created_at >= $1::timestamptz AND t.created_at < $2::timestamptz), "
        "tot AS (SELECT 0 AS part, NULL::text AS key, 0::bigint AS ord, count(*) AS n, "
        "  count(*) FILTER (WHERE ab) AS ab, count(*) FILTER (WHERE rb) AS rb, "
        "  count(*) FILTER (WHERE resolved) AS resolved, "
        "  count(*) FILTER (WHERE resolved AND NOT rb) AS in_sla, "
        "  count(*) FILTER (WHERE sat_result = 'satisfied') AS sat, count(sat_result) AS rated FROM c), "
        "cat AS (SELECT 1 AS part, category AS key, 0::bigint AS ord, count(*) AS n, "
        "  count(*) FILTER (WHERE ab) AS ab, count(*) FILTER (WHERE rb) AS rb, "
        "  count(*) FILTER (WHERE resolved) AS resolved, "
        "  count(*) FILTER (WHERE resolved AND NOT rb) AS in_sla, "
        "  count(*) FILTER (WHERE sat_result = 'satisfied') AS sat, count(sat_result) AS rated "
        " FROM c GROUP BY category ORDER BY count(*) DESC, category COLLATE \"C\" NULLS LAST LIMIT $3::int), "
        "rc AS (SELECT 2 AS part, r.key, r.ord, count(c.root_cause) AS n, "
        "  count(*) FILTER (WHERE c.ab) AS ab, count(*) FILTER (WHERE c.rb) AS rb, "
        "  count(*) FILTER (WHERE c.resolved) AS resolved, "
        "  count(*) FILTER (WHERE c.resolved AND NOT c.rb) AS in_sla, "
        "  count(*) FILTER (WHERE c.sat_result = 'satisfied') AS sat, count(c.sat_result) AS rated "
        " FROM unnest(ARRAY['customer_side', 'operations', 'product_defect', 'other']) "
        "  WITH ORDINALITY AS r(key, ord) LEFT JOIN c ON c.root_cause = r.key GROUP BY r.key, r.ord) "
        "SELECT part, key, n, ab, rb, resolved, in_sla, sat, rated FROM "
        " (SELECT * FROM tot UNION ALL SELECT * FROM cat UNION ALL SELECT * FROM rc) u "
        "ORDER BY part, n DESC, ord, key COLLATE \"C\" NULLS LAST"},

    /* The SLA table by principal (issue 10 item 7, docs/reports.md "Per
     * agent"): the tickets created in [$1, $2) grouped by their assignee
     * (the agent who holds them, or who resolved them: resolve and close
     * keep the assignee), with the same figures as S_REPORT_SLA; and from
     * the history of those tickets, per principal: the tickets they
     * acknowledged (handled), escalated onward, returned to the tier
     * below, and that were reopened after they resolved them.  One row per
     * principal found in either, and one (agent_id null) for the tickets
     * nobody holds. */
    [S_REPORT_AGENTS] = {"report_agents",
        "WITH tk AS (SELECT t.id, t.assignee_id, "
        "  date_part('epoch', t.first_acknowledged_at - t.created_at) AS tta, "
        "  date_part('epoch', t.resolved_at - t.created_at) AS ttr, "
        "  t.closed_at IS NOT NULL AS closed, 'ack' = ANY (t.breaches) AS ab, "
        "  'resolve' = ANY (t.breaches) AS rb, t.sat_result "
        " FROM tickets t WHERE t.created_at >= $1::timestamptz AND t.created_at < $2::timestamptz), "
        "g AS (SELECT assignee_id AS agent_id, count(*) AS created, count(tta) AS acknowledged, "
        "  count(ttr) AS resolved, count(*) FILTER (WHERE closed) AS closed, "
        "  count(*) FILTER (WHERE ab) AS ack_breaches, count(*) FILTER (WHERE rb) AS resolve_breaches, "
        "  count(ttr) FILTER (WHERE NOT rb) AS in_sla, "
        "  count(*) FILTER (WHERE sat_result = 'satisfied') AS satisfied, count(sat_result) AS rated, "
        "  round(avg(tta)::numeric, 3) AS mtta, round(avg(ttr)::numeric, 3) AS mttr, "
        "  round((percentile_disc(0.9) WITHIN GROUP (ORDER BY ttr))::numeric, 3) AS p90 "
        " FROM tk GROUP BY assignee_id), "
        "ev AS (SELECT e.actor_id AS agent_id, "
        "  count(DISTINCT e.ticket_id) FILTER (WHERE e.type = 'acknowledged') AS handled, "
        "  count(DISTINCT e.ticket_id) FILTER (WHERE e.type = 'escalated') AS escalated, "
        "  count(DISTINCT e.ticket_id) FILTER (WHERE e.type = 'returned') AS returned "
        " FROM tk JOIN events e ON e.ticket_id = tk.id "
        " WHERE e.type IN ('acknowledged', 'escalated', 'returned') AND e.actor_id IS NOT NULL "
        " GROUP BY e.actor_id), "
        /* a reopen counts against whoever resolved the ticket last before it */
        "ro AS (SELECT r.actor_id AS agent_id, count(DISTINCT o.ticket_id) AS reopened "
        " FROM tk JOIN events o ON o.ticket_id = tk.id AND o.type = 'reopened' "
        " CROSS JOIN LATERAL (SELECT x.actor_id FROM events x WHERE x.ticket_id = o.ticket_id "
        "  AND x.type = 'resolved' AND x.id < o.id ORDER BY x.id DESC LIMIT 1) r "
        " WHERE r.actor_id IS NOT NULL GROUP BY r.actor_id), "
        "ids AS (SELECT agent_id FROM g UNION SELECT agent_id FROM ev UNION SELECT agent_id FROM ro) "
        "SELECT ids.agent_id, p.name AS agent_name, p.role AS agent_role, p.tier AS agent_tier, "
        " coalesce(g.created, 0) AS created, coalesce(g.acknowledged, 0) AS acknowledged, "
        " coalesce(g.resolved, 0) AS resolved, coalesce(g.closed, 0) AS closed, "
        " coalesce(g.ack_breaches, 0) AS ack_breaches, "
        " coalesce(g.resolve_breaches, 0) AS resolve_breaches, g.mtta, g.mttr, g.p90, "
        " coalesce(g.in_sla, 0) AS in_sla, coalesce(g.satisfied, 0) AS satisfied, "
        " coalesce(g.rated, 0) AS rated, coalesce(ev.handled, 0) AS handled, "
        " coalesce(ev.escalated, 0) AS escalated, coalesce(ev.returned, 0) AS returned, "
        " coalesce(ro.reopened, 0) AS reopened "
        "FROM ids LEFT JOIN g ON g.agent_id IS NOT DISTINCT FROM ids.agent_id "
        " LEFT JOIN ev ON ev.agent_id = ids.agent_id LEFT JOIN ro ON ro.agent_id = ids.agent_id "
        " LEFT JOIN principals p ON p.id = ids.agent_id "
        "ORDER BY ids.agent_id NULLS LAST"},

    /* The problems report (docs/reports.md#get-v1reportsproblems): the
     * problems created in [$1, $2), one row per category and the totals
     * (total = true, first).  The times are from the problem's creation to
     * the FIRST event of the kind in its history (a root cause found again
     * after a recurrence, or a second fix, does not move them), float8
     * seconds; medians and P90s are percentile_disc (a time that occurred).
     * The state names are the lifecycle's (core/problem.h). */
    [S_REPORT_PROBLEMS] = {"report_problems",
        "WITH pr AS (SELECT p.category COLLATE \"C\" AS cat, p.state, "
        "  p.closed_effective IS TRUE AS eff, p.recurrences, "
        "  date_part('epoch', (SELECT min(e.at) FROM problem_events e WHERE e.problem_id = p.id "
        "   AND e.type = 'root_cause_found') - p.created_at) AS ttrc, "
        "  date_part('epoch', (SELECT min(e.at) FROM problem_events e WHERE e.problem_id = p.id "
        "   AND e.type = 'fixed') - p.created_at) AS ttf, "
        "  (SELECT count(*) FROM tickets t WHERE t.problem_id = p.id) AS linked "
        " FROM problems p WHERE p.created_at >= $1::timestamptz AND p.created_at < $2::timestamptz) "
        "SELECT GROUPING(cat) = 1 AS total, cat AS category, count(*) AS created, "
        " count(*) FILTER (WHERE state <> 'closed') AS open, "
        " count(*) FILTER (WHERE state = 'closed') AS closed, "
        " count(*) FILTER (WHERE eff) AS closed_effective, "
        " count(*) FILTER (WHERE state = 'open') AS state_open, "
        " count(*) FILTER (WHERE state = 'root_cause_found') AS state_root_cause_found, "
        " count(*) FILTER (WHERE state = 'action_planned') AS state_action_planned, "
        " count(*) FILTER (WHERE state = 'fixed') AS state_fixed, "
        " count(*) FILTER (WHERE state = 'verifying') AS state_verifying, "
        " count(*) FILTER (WHERE state = 'closed') AS state_closed, "
        " count(ttrc) AS ttrc_n, round(avg(ttrc)::numeric, 3) AS ttrc_mean, "
        " round((percentile_disc(0.5) WITHIN GROUP (ORDER BY ttrc))::numeric, 3) AS ttrc_median, "
        " round((percentile_disc(0.9) WITHIN GROUP (ORDER BY ttrc))::numeric, 3) AS ttrc_p90, "
        " count(ttf) AS ttf_n, round(avg(ttf)::numeric, 3) AS ttf_mean, "
        " round((percentile_disc(0.5) WITHIN GROUP (ORDER BY ttf))::numeric, 3) AS ttf_median, "
        " round((percentile_disc(0.9) WITHIN GROUP (ORDER BY ttf))::numeric, 3) AS ttf_p90, "
        " coalesce(sum(linked), 0) AS linked, coalesce(sum(recurrences), 0) AS recurrences, "
        " count(*) FILTER (WHERE recurrences > 0) AS recurred "
        "FROM pr GROUP BY ROLLUP (cat) "
        "ORDER BY GROUPING(cat) DESC, count(*) DESC, cat NULLS LAST"},
};

const struct escp_stmt_table escp_stmts_reports = {stmts, S__COUNT};


static json_int_t count_col(const PGresult *res, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *real_or_null(const char *s) { return s ? json_real(strtod(s, NULL)) : json_null(); }

/* num / den, or null when den is 0 */
static json_t *rate(json_int_t num, json_int_t den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

int escp_store_report_begin(struct escp_conn *c, esc_error_t *err)
{
    if (escp_begin(c, err) != 0)
        return -1;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_SETTINGS], 0, NULL, err);
    PQclear(res);
    return res ? 0 : -1;
}

int escp_store_report_period(struct escp_conn *c, const char *from, const char *to,
                             struct escp_report_period *p, esc_error_t *err)
{
    const char *v[2] = {from, to};
    struct {
        int period_from, period_to, tz, ordered, days;
    } col, *k = &col;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_PERIOD], 2, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    } else if (escp_columns(res, stmts[S_REPORT_PERIOD].name, err, ESCP_COL(k, period_from),
                            ESCP_COL(k, period_to), ESCP_COL(k, tz), ESCP_COL(k, ordered),
                            ESCP_COL(k, days), NULL) == 0) {
        copy_text(p->from, sizeof p->from, PQgetvalue(res, 0, k->period_from));
        copy_text(p->to, sizeof p->to, PQgetvalue(res, 0, k->period_to));
        copy_text(p->tz, sizeof p->tz, PQgetvalue(res, 0, k->tz));
        p->ordered = PQgetvalue(res, 0, k->ordered)[0] == 't';
        p->days = strtoll(PQgetvalue(res, 0, k->days), NULL, 10);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int escp_store_report_month(struct escp_conn *c, const char *month, struct escp_report_period *p,
                            char month_out[8], esc_error_t *err)
{
    const char *v[1] = {month};
    struct {
        int month, period_from, period_to, tz;
    } col, *k = &col;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_MONTH], 1, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    } else if (escp_columns(res, stmts[S_REPORT_MONTH].name, err, ESCP_COL(k, month),
                            ESCP_COL(k, period_from), ESCP_COL(k, period_to), ESCP_COL(k, tz),
                            NULL) == 0) {
        snprintf(month_out, 8, "%.7s", PQgetvalue(res, 0, k->month));
        copy_text(p->from, sizeof p->from, PQgetvalue(res, 0, k->period_from));
        copy_text(p->to, sizeof p->to, PQgetvalue(res, 0, k->period_to));
        copy_text(p->tz, sizeof p->tz, PQgetvalue(res, 0, k->tz));
        p->ordered = true;
        p->days = 0;
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* The columns of an SLA table row (REPORT_SLA, REPORT_AGENTS), by name. */
struct sla_cols {
    int created, acknowledged, resolved, closed, ack_breaches, resolve_breaches, mtta, mttr, p90,
        in_sla, satisfied, rated;
};

static int sla_cols(const PGresult *res, const char *what, struct sla_cols *k, esc_error_t *err)
{
    return escp_columns(res, what, err, ESCP_COL(k, created), ESCP_COL(k, acknowledged),
                        ESCP_COL(k, resolved), ESCP_COL(k, closed), ESCP_COL(k, ack_breaches),
                        ESCP_COL(k, resolve_breaches), ESCP_COL(k, mtta), ESCP_COL(k, mttr),
                        ESCP_COL(k, p90), ESCP_COL(k, in_sla), ESCP_COL(k, satisfied),
                        ESCP_COL(k, rated), NULL);
}

/* One group of the SLA table: its key and figures (docs/reports.md). */
static json_t *sla_group(const PGresult *res, int i, const char *key, const struct sla_cols *k)
{
    json_int_t created = count_col(res, i, k->created), resolved = count_col(res, i, k->resolved);
    json_int_t ack_br = count_col(res, i, k->ack_breaches);
    json_int_t res_br = count_col(res, i, k->resolve_breaches);
    return json_pack("{s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
            "key", key, "created", created,
            "acknowledged", count_col(res, i, k->acknowledged), "resolved", resolved,
            "closed", count_col(res, i, k->closed), "ack_breaches", ack_br,
            "resolve_breaches", res_br, "ack_breach_rate", rate(ack_br, created),
            "resolve_breach_rate", rate(res_br, created),
            "mtta_seconds", real_or_null(escp_val(res, i, k->mtta)),
            "mttr_seconds", real_or_null(escp_val(res, i, k->mttr)),
            "p90_ttr_seconds", real_or_null(escp_val(res, i, k->p90)),
            "resolution_rate", rate(count_col(res, i, k->in_sla), resolved),
            "satisfaction_rate", rate(count_col(res, i, k->satisfied), count_col(res, i, k->rated)));
}

json_t *escp_store_report_sla(struct escp_conn *c, const struct escp_report_period *p,
                              const char *group_by, int level, esc_error_t *err)
{
    char lv[16];
    snprintf(lv, sizeof lv, "%d", level);
    const char *v[5] = {p->from, p->to, group_by, p->tz, level > 0 ? lv : NULL};
    struct sla_cols k;
    int key;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_SLA], 5, v, err);
    if (!res)
        return NULL;
    json_t *groups = NULL;
    if (escp_columns(res, stmts[S_REPORT_SLA].name, err, "key", &key, NULL) != 0 ||
        sla_cols(res, stmts[S_REPORT_SLA].name, &k, err) != 0)
        goto out;
    groups = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(groups, sla_group(res, i, escp_val(res, i, key), &k));
out:
    PQclear(res);
    return groups;
}

json_t *escp_store_report_agents(struct escp_conn *c, const struct escp_report_period *p,
                                 esc_error_t *err)
{
    const char *v[2] = {p->from, p->to};
    struct sla_cols k;
    struct {
        int agent_id, agent_name, agent_role, agent_tier, handled, escalated, returned, reopened;
    } col, *a = &col;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_AGENTS], 2, v, err);
    if (!res)
        return NULL;
    json_t *groups = NULL;
    if (sla_cols(res, stmts[S_REPORT_AGENTS].name, &k, err) != 0 ||
        escp_columns(res, stmts[S_REPORT_AGENTS].name, err, ESCP_COL(a, agent_id),
                     ESCP_COL(a, agent_name), ESCP_COL(a, agent_role), ESCP_COL(a, agent_tier),
                     ESCP_COL(a, handled), ESCP_COL(a, escalated), ESCP_COL(a, returned),
                     ESCP_COL(a, reopened), NULL) != 0)
        goto out;
    groups = json_array();
    for (int i = 0; groups && i < PQntuples(res); i++) {
        const char *id = escp_val(res, i, a->agent_id), *tier = escp_val(res, i, a->agent_tier);
        json_t *g = sla_group(res, i, id, &k), *agent = json_null();
        if (id)
            agent = json_pack("{s:o, s:s?, s:s?, s:s?}", "id", escp_json_int(id),
                              "name", escp_val(res, i, a->agent_name),
                              "role", escp_val(res, i, a->agent_role),
                              "tier", tier ? esc_tier_name((enum esc_tier)atoi(tier)) : NULL);
        if (!g || !agent || json_object_set_new(g, "agent", agent) != 0 ||
            json_object_set_new(g, "handled", json_integer(count_col(res, i, a->handled))) != 0 ||
            json_object_set_new(g, "escalated", json_integer(count_col(res, i, a->escalated))) != 0 ||
            json_object_set_new(g, "returned", json_integer(count_col(res, i, a->returned))) != 0 ||
            json_object_set_new(g, "reopened", json_integer(count_col(res, i, a->reopened))) != 0 ||
            json_array_append_new(groups, g) != 0) {
            json_decref(groups);
            groups = NULL;
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        }
    }
out:
    PQclear(res);
    return groups;
}

/* The columns of the monthly view (REPORT_MONTHLY), found by name. */
struct monthly_cols {
    int part, key, n, ab, rb, resolved, in_sla, sat, rated;
};

/* One row of the monthly view.  key_name NULL: the totals row; else a
 * category or root-cause row whose share is count / share_of. */
static json_t *monthly_row(const PGresult *res, int i, const struct monthly_cols *k,
                           const char *key_name, json_int_t share_of)
{
    json_int_t n = count_col(res, i, k->n), ab = count_col(res, i, k->ab), rb = count_col(res, i, k->rb);
    json_int_t resolved = count_col(res, i, k->resolved);
    if (key_name)
        return json_pack("{s:s?, s:I, s:o, s:I, s:I, s:o, s:o}",
                         key_name, escp_val(res, i, k->key), "count", n, "share", rate(n, share_of),
                         "ack_breaches", ab, "resolve_breaches", rb,
                         "ack_breach_rate", rate(ab, n), "resolve_breach_rate", rate(rb, n));
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
                     "created", n, "resolved", resolved, "ack_breaches", ab, "resolve_breaches", rb,
                     "ack_breach_rate", rate(ab, n), "resolve_breach_rate", rate(rb, n),
                     "resolution_rate", rate(count_col(res, i, k->in_sla), resolved),
                     "satisfaction_rate", rate(count_col(res, i, k->sat), count_col(res, i, k->rated)));
}

json_t *escp_store_report_monthly(struct escp_conn *c, const struct escp_report_period *p, int limit,
                                  esc_error_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[3] = {p->from, p->to, lim};
    struct monthly_cols col, *k = &col;
    json_t *out = NULL;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_MONTHLY], 3, v, err);
    if (!res)
        return NULL;
    if (escp_columns(res, stmts[S_REPORT_MONTHLY].name, err, ESCP_COL(k, part), ESCP_COL(k, key),
                     ESCP_COL(k, n), ESCP_COL(k, ab), ESCP_COL(k, rb), ESCP_COL(k, resolved),
                     ESCP_COL(k, in_sla), ESCP_COL(k, sat), ESCP_COL(k, rated), NULL) != 0)
        goto out;
    /* the totals row comes first (ORDER BY part): the shares' denominators */
    if (PQntuples(res) < 1 || atoi(PQgetvalue(res, 0, k->part)) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        goto out;
    }
    json_int_t created = count_col(res, 0, k->n), resolved = count_col(res, 0, k->resolved);
    json_t *cats = json_array(), *causes = json_array();
    for (int i = 1; i < PQntuples(res); i++) {
        if (atoi(PQgetvalue(res, i, k->part)) == 1) /* categories: shares of the month's tickets */
            json_array_append_new(cats, monthly_row(res, i, k, "category", created));
        else /* root causes: shares of its resolved tickets */
            json_array_append_new(causes, monthly_row(res, i, k, "root_cause", resolved));
    }
    out = json_pack("{s:o, s:o, s:o}", "totals", monthly_row(res, 0, k, NULL, 0),
                    "categories", cats, "root_causes", causes);
out:
    PQclear(res);
    return out;
}

/* The columns of the problems report (REPORT_PROBLEMS), found by name. */
struct problems_cols {
    int total, category, created, open, closed, closed_effective, state_open,
        state_root_cause_found, state_action_planned, state_fixed, state_verifying, state_closed,
        ttrc_n, ttrc_mean, ttrc_median, ttrc_p90, ttf_n, ttf_mean, ttf_median, ttf_p90, linked,
        recurrences, recurred;
};

/* {"count", "mean_seconds", "median_seconds", "p90_seconds"}: null times
 * when no problem got there */
static json_t *duration_stats(const PGresult *res, int i, int n, int mean, int median, int p90)
{
    return json_pack("{s:I, s:o, s:o, s:o}", "count", count_col(res, i, n),
                     "mean_seconds", real_or_null(escp_val(res, i, mean)),
                     "median_seconds", real_or_null(escp_val(res, i, median)),
                     "p90_seconds", real_or_null(escp_val(res, i, p90)));
}

static json_t *problems_row(const PGresult *res, int i, const struct problems_cols *k)
{
    json_t *by_state = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
                                 "open", count_col(res, i, k->state_open),
                                 "root_cause_found", count_col(res, i, k->state_root_cause_found),
                                 "action_planned", count_col(res, i, k->state_action_planned),
                                 "fixed", count_col(res, i, k->state_fixed),
                                 "verifying", count_col(res, i, k->state_verifying),
                                 "closed", count_col(res, i, k->state_closed));
    json_t *row = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:I}",
        "created", count_col(res, i, k->created), "open", count_col(res, i, k->open),
        "closed", count_col(res, i, k->closed),
        "closed_effective", count_col(res, i, k->closed_effective), "by_state", by_state,
        "time_to_root_cause", duration_stats(res, i, k->ttrc_n, k->ttrc_mean, k->ttrc_median,
                                             k->ttrc_p90),
        "time_to_fix", duration_stats(res, i, k->ttf_n, k->ttf_mean, k->ttf_median, k->ttf_p90),
        "linked_complaints", count_col(res, i, k->linked),
        "recurrences", count_col(res, i, k->recurrences),
        "problems_recurred", count_col(res, i, k->recurred));
    return row;
}

json_t *escp_store_report_problems(struct escp_conn *c, const struct escp_report_period *p,
                                   esc_error_t *err)
{
    const char *v[2] = {p->from, p->to};
    struct problems_cols col, *k = &col;
    json_t *out = NULL;
    PGresult *res = escp_exec(c, &stmts[S_REPORT_PROBLEMS], 2, v, err);
    if (!res)
        return NULL;
    if (escp_columns(res, stmts[S_REPORT_PROBLEMS].name, err, ESCP_COL(k, total),
                     ESCP_COL(k, category), ESCP_COL(k, created), ESCP_COL(k, open),
                     ESCP_COL(k, closed), ESCP_COL(k, closed_effective), ESCP_COL(k, state_open),
                     ESCP_COL(k, state_root_cause_found), ESCP_COL(k, state_action_planned),
                     ESCP_COL(k, state_fixed), ESCP_COL(k, state_verifying),
                     ESCP_COL(k, state_closed), ESCP_COL(k, ttrc_n), ESCP_COL(k, ttrc_mean),
                     ESCP_COL(k, ttrc_median), ESCP_COL(k, ttrc_p90), ESCP_COL(k, ttf_n),
                     ESCP_COL(k, ttf_mean), ESCP_COL(k, ttf_median), ESCP_COL(k, ttf_p90),
                     ESCP_COL(k, linked), ESCP_COL(k, recurrences), ESCP_COL(k, recurred),
                     NULL) != 0)
        goto out;
    /* the totals row comes first (ORDER BY GROUPING DESC), even with no
     * problem at all (ROLLUP's empty grouping set) */
    if (PQntuples(res) < 1 || PQgetvalue(res, 0, k->total)[0] != 't') {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        goto out;
    }
    json_t *cats = json_array(), *totals = problems_row(res, 0, k);
    for (int i = 1; i < PQntuples(res); i++) {
        json_t *row = problems_row(res, i, k);
        if (row) /* a problem may have no category: null */
            json_object_set_new(row, "category", escp_val(res, i, k->category)
                                                     ? json_string(escp_val(res, i, k->category))
                                                     : json_null());
        json_array_append_new(cats, row);
    }
    out = json_pack("{s:o, s:o}", "totals", totals, "categories", cats);
    if (!out)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    PQclear(res);
    return out;
}
