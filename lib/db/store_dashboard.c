/* store_dashboard.c — the aggregates of the manager dashboard
 * (GET /v1/dashboard/summary): five prepared statements over indexed
 * columns (tickets, deadlines, breaches, and the problems of issue 10), read
 * in one transaction so they share the database clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "core/pii.h"
#include "db/store_internal.h"

enum {
    S_DASH_OPEN,
    S_DASH_AT_RISK,
    S_DASH_BREACH_DAYS,
    S_DASH_AGENTS,
    S_DASH_PROBLEMS,
    S_DASH_TOP_PROBLEMS,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    /* Open tickets by tier and state: every tier x open state ($1, in the
     * model's order: core/model.h), zero-filled; an index-only scan of
     * tickets_state_tier.  now() is the transaction's clock, shared by the
     * three statements.  Also the start of the page's event feed. */
    [S_DASH_OPEN] = {"dash_open",
        "WITH c AS (SELECT tier, state, count(*) AS n FROM tickets "
        " WHERE state = ANY ($1::text[]) GROUP BY tier, state) "
        "SELECT tr.tier, st.state, coalesce(c.n, 0) AS count, now() AS generated_at, "
        /* where the page's event feed starts: the $2-th latest event */
        " (SELECT id FROM events ORDER BY id DESC OFFSET $2::int - 1 LIMIT 1) AS feed_after "
        "FROM (VALUES (1::smallint), (2::smallint), (3::smallint)) AS tr(tier) "
        "CROSS JOIN unnest($1::text[]) WITH ORDINALITY AS st(state, ord) "
        "LEFT JOIN c ON c.tier = tr.tier AND c.state = st.state "
        "ORDER BY tr.tier, st.ord"},

    /* Tickets with a live deadline that can be breached ($3: the breach
     * kinds, i.e. ack, resolve, callback; not the warning) in (now, now + $1
     * s]: the live timers (timers_due), each ticket once at its earliest
     * deadline; the count of all of them and the first $2. */
    [S_DASH_AT_RISK] = {"dash_at_risk",
        "WITH d AS (SELECT ticket_id, min(due_at) AS due_at, "
        "  (array_agg(kind ORDER BY due_at, kind))[1] AS kind FROM timers "
        " WHERE kind = ANY ($3::text[]) AND due_at > now() "
        "  AND due_at <= now() + make_interval(secs => $1::int) GROUP BY ticket_id) "
        "SELECT (SELECT count(*) FROM d) AS total, t.id, t.subject, t.tier, t.state, t.severity, "
        " t.category, d.kind, d.due_at, t.assignee_id, a.name AS assignee_name "
        "FROM d JOIN tickets t ON t.id = d.ticket_id LEFT JOIN principals a ON a.id = t.assignee_id "
        "ORDER BY d.due_at, t.id LIMIT $2::int"},

    /* Breaches of the kinds $2 per local day (the calendar's time zone)
     * over the last $1 days, today included, oldest first: a row per day
     * and kind that had any, and a row without a kind for a day that had
     * none; by detected_at, as GET /v1/breaches filters.
     * breaches_kind_detected, index only. */
    [S_DASH_BREACH_DAYS] = {"dash_breach_days",
        "WITH r AS (SELECT z.tz, (now() AT TIME ZONE z.tz)::date - ($1::int - 1) AS first_day, "
        "  (now() AT TIME ZONE z.tz)::date AS last_day "
        " FROM (SELECT coalesce((SELECT doc->>'timezone' FROM calendar LIMIT 1), 'UTC') AS tz) z), "
        "b AS (SELECT (x.detected_at AT TIME ZONE (SELECT tz FROM r))::date AS day, x.kind, count(*) AS n "
        " FROM breaches x WHERE x.kind = ANY ($2::text[]) "
        "  AND x.detected_at >= (SELECT first_day::timestamp AT TIME ZONE tz FROM r) GROUP BY 1, 2) "
        "SELECT to_char(g.day, 'YYYY-MM-DD') AS day, b.kind, coalesce(b.n, 0) AS n, r.tz "
        "FROM r CROSS JOIN LATERAL generate_series(r.first_day::timestamp, r.last_day::timestamp, interval '1 day') AS g(day) "
        "LEFT JOIN b ON b.day = g.day::date ORDER BY g.day, b.kind"},

    /* Per principal (issue 10): the open tickets ($1, the open states) it
     * holds as assignee, how many of them wait for the customer, and how
     * many have a deadline of the kinds $2 within $3 s as in dash_at_risk;
     * most tickets first.  An index scan of tickets_state_tier per state. */
    [S_DASH_AGENTS] = {"dash_agents",
        "SELECT t.assignee_id AS agent_id, p.name AS agent_name, p.role AS agent_role, "
        " p.tier AS agent_tier, count(*) AS open, "
        " count(*) FILTER (WHERE t.state = 'waiting_customer') AS waiting_customer, "
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM timers tm WHERE tm.ticket_id = t.id "
        "  AND tm.kind = ANY ($2::text[]) AND tm.due_at > now() "
        "  AND tm.due_at <= now() + make_interval(secs => $3::int))) AS at_risk "
        "FROM tickets t JOIN principals p ON p.id = t.assignee_id "
        "WHERE t.state = ANY ($1::text[]) "
        "GROUP BY t.assignee_id, p.name, p.role, p.tier ORDER BY count(*) DESC, t.assignee_id"},

    /* Open problems (every state but closed: docs/problems.md), the ones
     * needing attention first: most overdue actions (undone, due date
     * passed), then most recurrences, then newest; the first $1, with the
     * count of all and their overdue actions in all.  Problems are few
     * (one per cause, not per complaint), so a scan of them is cheap; the
     * per-problem counts are probes of problem_actions_problem and
     * tickets_problem. */
    [S_DASH_PROBLEMS] = {"dash_problems",
        "WITH o AS (SELECT p.id, p.title, p.state, p.category, p.owner_id, p.recurrences, "
        "  (SELECT count(*) FROM problem_actions a WHERE a.problem_id = p.id "
        "   AND a.completed_at IS NULL AND a.due_at <= now()) AS overdue, "
        "  (SELECT count(*) FROM tickets t WHERE t.problem_id = p.id) AS linked "
        " FROM problems p WHERE p.state <> 'closed') "
        "SELECT (SELECT count(*) FROM o) AS total, (SELECT coalesce(sum(overdue), 0) FROM o) AS overdue_total, "
        " o.id, o.title, o.state, o.category, o.owner_id, w.name AS owner_name, o.recurrences, "
        " o.overdue, o.linked "
        "FROM o LEFT JOIN principals w ON w.id = o.owner_id "
        "ORDER BY o.overdue DESC, o.recurrences DESC, o.id DESC LIMIT $1::int"},

    /* The top $1 problems of this month (the calendar's zone): by the
     * complaints created this month and linked to them (by hand or as a
     * recurrence), then by id; through tickets_problem, which holds only
     * linked tickets.  One row without a problem when there is none, for
     * the month. */
    [S_DASH_TOP_PROBLEMS] = {"dash_top_problems",
        "WITH m AS (SELECT z.tz, date_trunc('month', now() AT TIME ZONE z.tz) AT TIME ZONE z.tz AS f "
        " FROM (SELECT coalesce((SELECT doc->>'timezone' FROM calendar LIMIT 1), 'UTC') AS tz) z), "
        "c AS (SELECT t.problem_id, count(*) AS n FROM tickets t "
        " WHERE t.problem_id IS NOT NULL AND t.created_at >= (SELECT f FROM m) GROUP BY t.problem_id "
        " ORDER BY count(*) DESC, t.problem_id LIMIT $1::int) "
        "SELECT to_char(now() AT TIME ZONE m.tz, 'YYYY-MM') AS month, x.problem_id AS id, x.n, "
        " x.title, x.state, x.category, x.recurrences "
        "FROM m LEFT JOIN (SELECT c.problem_id, c.n, p.title, p.state, p.category, p.recurrences "
        " FROM c JOIN problems p ON p.id = c.problem_id) x ON true "
        "ORDER BY x.n DESC NULLS LAST, x.problem_id"},
};

const struct escp_stmt_table escp_stmts_dashboard = {stmts, S__COUNT};

static json_int_t int_at(const PGresult *res, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* "2" -> "line-2" (the tiers here are NOT NULL) */
static const char *tier_name(const char *v) { return esc_tier_name((enum esc_tier)atoi(v)); }

/* {"open": [...], "open_total", "generated_at", "feed_after"} into out */
static int load_open(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                     esc_error_t *err)
{
    char recent[16], states[ESCP_NAMES_LEN];
    snprintf(recent, sizeof recent, "%d", q->recent_events);
    const char *v[2] = {escp_pg_names(states, sizeof states, esc_state_names, ESC_OPEN_STATES, err),
                        recent};
    struct {
        int tier, state, count, generated_at, feed_after;
    } col, *k = &col;
    int rc = -1;
    if (!v[0])
        return -1;
    PGresult *res = escp_exec(c, &stmts[S_DASH_OPEN], 2, v, err);
    if (!res || escp_columns(res, stmts[S_DASH_OPEN].name, err, ESCP_COL(k, tier),
                             ESCP_COL(k, state), ESCP_COL(k, count), ESCP_COL(k, generated_at),
                             ESCP_COL(k, feed_after), NULL) != 0)
        goto out;
    json_t *open = json_array();
    json_int_t total = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        json_int_t n = int_at(res, i, k->count);
        total += n;
        json_array_append_new(open, json_pack("{s:s?, s:s, s:I}",
                                              "tier", tier_name(PQgetvalue(res, i, k->tier)),
                                              "state", PQgetvalue(res, i, k->state), "count", n));
    }
    json_object_set_new(out, "generated_at",
                        PQntuples(res) ? escp_json_time(PQgetvalue(res, 0, k->generated_at))
                                       : json_null());
    /* 0 (the feed's start) when there are fewer events than that */
    json_object_set_new(out, "feed_after",
                        json_integer(PQntuples(res) && escp_val(res, 0, k->feed_after)
                                         ? int_at(res, 0, k->feed_after) : 0));
    json_object_set_new(out, "open", open);
    json_object_set_new(out, "open_total", json_integer(total));
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static int load_at_risk(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                        esc_error_t *err)
{
    char horizon[16], limit[16], kinds[ESCP_NAMES_LEN];
    snprintf(horizon, sizeof horizon, "%d", q->horizon_seconds);
    snprintf(limit, sizeof limit, "%d", q->at_risk_limit);
    const char *v[3] = {horizon, limit,
                        escp_pg_names(kinds, sizeof kinds, esc_breach_names, ESC_BREACH__COUNT, err)};
    struct {
        int total, id, subject, tier, state, severity, category, kind, due_at, assignee_id,
            assignee_name;
    } col, *k = &col;
    int rc = -1;
    if (!v[2])
        return -1;
    PGresult *res = escp_exec(c, &stmts[S_DASH_AT_RISK], 3, v, err);
    if (!res || escp_columns(res, stmts[S_DASH_AT_RISK].name, err, ESCP_COL(k, total),
                             ESCP_COL(k, id), ESCP_COL(k, subject), ESCP_COL(k, tier),
                             ESCP_COL(k, state), ESCP_COL(k, severity), ESCP_COL(k, category),
                             ESCP_COL(k, kind), ESCP_COL(k, due_at), ESCP_COL(k, assignee_id),
                             ESCP_COL(k, assignee_name), NULL) != 0)
        goto out;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
#define V(field) PQgetvalue(res, i, k->field)
        /* the subject is free text: masked as in every ordinary response */
        char *subject = esc_pii_mask_text(V(subject), NULL);
        json_t *assignee = NULL; /* null when nobody holds it */
        if (escp_val(res, i, k->assignee_id))
            assignee = json_pack("{s:I, s:s?}", "id", int_at(res, i, k->assignee_id),
                                 "name", escp_val(res, i, k->assignee_name));
        json_array_append_new(items,
            json_pack("{s:I, s:s, s:s?, s:s, s:s, s:s?, s:s, s:o, s:o?}",
                      "id", int_at(res, i, k->id), "subject", subject ? subject : V(subject),
                      "tier", tier_name(V(tier)), "state", V(state), "severity", V(severity),
                      "category", escp_val(res, i, k->category), "deadline", V(kind),
                      "due_at", escp_json_time(V(due_at)), "assignee", assignee));
        free(subject);
#undef V
    }
    json_object_set_new(out, "at_risk_next_hour",
                        json_pack("{s:i, s:I, s:o}", "horizon_seconds", q->horizon_seconds, "count",
                                  PQntuples(res) ? int_at(res, 0, k->total) : (json_int_t)0,
                                  "items", items));
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* "breaches_per_day": [{"day", and a count per breach kind}...] and "timezone" into out */
static int load_breach_days(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                            esc_error_t *err)
{
    char days[16], kinds[ESCP_NAMES_LEN];
    snprintf(days, sizeof days, "%d", q->days);
    const char *v[2] = {days,
                        escp_pg_names(kinds, sizeof kinds, esc_breach_names, ESC_BREACH__COUNT, err)};
    int day_col, kind_col, n_col, tz_col, rc = -1;
    if (!v[1])
        return -1;
    PGresult *res = escp_exec(c, &stmts[S_DASH_BREACH_DAYS], 2, v, err);
    if (!res || escp_columns(res, stmts[S_DASH_BREACH_DAYS].name, err, "day", &day_col,
                             "kind", &kind_col, "n", &n_col, "tz", &tz_col, NULL) != 0)
        goto out;
    json_t *list = json_array(), *day = NULL;
    const char *prev = NULL;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *d = PQgetvalue(res, i, day_col);
        if (!prev || strcmp(prev, d) != 0) {
            /* a new day (rows come by day): every kind, zero unless a row says */
            day = json_pack("{s:s}", "day", d);
            for (int b = 0; b < ESC_BREACH__COUNT; b++)
                json_object_set_new(day, esc_breach_names[b], json_integer(0));
            json_array_append_new(list, day);
            prev = d;
        }
        const char *kind = escp_val(res, i, kind_col);
        if (kind && esc_breach_from_name(kind) >= 0)
            json_object_set_new(day, kind, json_integer(int_at(res, i, n_col)));
    }
    json_object_set_new(out, "timezone",
                        PQntuples(res) ? json_string(PQgetvalue(res, 0, tz_col)) : json_null());
    json_object_set_new(out, "breaches_per_day", list);
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* "agents": [{"agent": {"id", "name", "role", "tier"}, "open", "waiting_customer",
 * "at_risk"}] into out */
static int load_agents(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                       esc_error_t *err)
{
    char states[ESCP_NAMES_LEN], kinds[ESCP_NAMES_LEN], horizon[16];
    snprintf(horizon, sizeof horizon, "%d", q->horizon_seconds);
    const char *v[3] = {escp_pg_names(states, sizeof states, esc_state_names, ESC_OPEN_STATES, err),
                        escp_pg_names(kinds, sizeof kinds, esc_breach_names, ESC_BREACH__COUNT, err),
                        horizon};
    struct {
        int agent_id, agent_name, agent_role, agent_tier, open, waiting_customer, at_risk;
    } col, *k = &col;
    int rc = -1;
    if (!v[0] || !v[1])
        return -1;
    PGresult *res = escp_exec(c, &stmts[S_DASH_AGENTS], 3, v, err);
    if (!res || escp_columns(res, stmts[S_DASH_AGENTS].name, err, ESCP_COL(k, agent_id),
                             ESCP_COL(k, agent_name), ESCP_COL(k, agent_role),
                             ESCP_COL(k, agent_tier), ESCP_COL(k, open),
                             ESCP_COL(k, waiting_customer), ESCP_COL(k, at_risk), NULL) != 0)
        goto out;
    json_t *list = json_array();
    for (int i = 0; list && i < PQntuples(res); i++) {
        const char *tier = escp_val(res, i, k->agent_tier);
        json_array_append_new(list, json_pack("{s:{s:I, s:s, s:s, s:s?}, s:I, s:I, s:I}",
            "agent", "id", int_at(res, i, k->agent_id), "name", PQgetvalue(res, i, k->agent_name),
            "role", PQgetvalue(res, i, k->agent_role), "tier", tier ? tier_name(tier) : NULL,
            "open", int_at(res, i, k->open), "waiting_customer", int_at(res, i, k->waiting_customer),
            "at_risk", int_at(res, i, k->at_risk)));
    }
    if (!list || json_object_set_new(out, "agents", list) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* "problems": {"open_total", "overdue_actions", "items"} into out */
static int load_problems(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                         esc_error_t *err)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", q->at_risk_limit);
    const char *v[1] = {limit};
    struct {
        int total, overdue_total, id, title, state, category, owner_id, owner_name, recurrences,
            overdue, linked;
    } col, *k = &col;
    int rc = -1;
    PGresult *res = escp_exec(c, &stmts[S_DASH_PROBLEMS], 1, v, err);
    if (!res || escp_columns(res, stmts[S_DASH_PROBLEMS].name, err, ESCP_COL(k, total),
                             ESCP_COL(k, overdue_total), ESCP_COL(k, id), ESCP_COL(k, title),
                             ESCP_COL(k, state), ESCP_COL(k, category), ESCP_COL(k, owner_id),
                             ESCP_COL(k, owner_name), ESCP_COL(k, recurrences),
                             ESCP_COL(k, overdue), ESCP_COL(k, linked), NULL) != 0)
        goto out;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        /* the title is free text: masked as in every ordinary response */
        char *title = esc_pii_mask_text(PQgetvalue(res, i, k->title), NULL);
        json_array_append_new(items,
            json_pack("{s:I, s:o, s:s, s:s?, s:{s:I, s:s?}, s:I, s:I, s:I}",
                      "id", int_at(res, i, k->id),
                      "title", title ? json_string(title) : json_null(),
                      "state", PQgetvalue(res, i, k->state),
                      "category", escp_val(res, i, k->category),
                      "owner", "id", int_at(res, i, k->owner_id),
                      "name", escp_val(res, i, k->owner_name),
                      "overdue_actions", int_at(res, i, k->overdue),
                      "recurrences", int_at(res, i, k->recurrences),
                      "linked_tickets", int_at(res, i, k->linked)));
        free(title);
    }
    bool any = PQntuples(res) > 0;
    json_object_set_new(out, "problems",
                        json_pack("{s:I, s:I, s:o}", "open_total",
                                  any ? int_at(res, 0, k->total) : (json_int_t)0, "overdue_actions",
                                  any ? int_at(res, 0, k->overdue_total) : (json_int_t)0,
                                  "items", items));
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* "top_problems_month": {"month", "items"} into out */
static int load_top_problems(struct escp_conn *c, const struct escp_dash_query *q, json_t *out,
                             esc_error_t *err)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", q->at_risk_limit);
    const char *v[1] = {limit};
    struct {
        int month, id, n, title, state, category, recurrences;
    } col, *k = &col;
    int rc = -1;
    PGresult *res = escp_exec(c, &stmts[S_DASH_TOP_PROBLEMS], 1, v, err);
    if (!res || escp_columns(res, stmts[S_DASH_TOP_PROBLEMS].name, err, ESCP_COL(k, month),
                             ESCP_COL(k, id), ESCP_COL(k, n), ESCP_COL(k, title),
                             ESCP_COL(k, state), ESCP_COL(k, category),
                             ESCP_COL(k, recurrences), NULL) != 0)
        goto out;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        if (!escp_val(res, i, k->id)) /* the month's row when no problem has complaints */
            continue;
        char *title = esc_pii_mask_text(PQgetvalue(res, i, k->title), NULL);
        json_array_append_new(items,
            json_pack("{s:I, s:o, s:s, s:s?, s:I, s:I}", "id", int_at(res, i, k->id),
                      "title", title ? json_string(title) : json_null(),
                      "state", PQgetvalue(res, i, k->state),
                      "category", escp_val(res, i, k->category),
                      "complaints", int_at(res, i, k->n),
                      "recurrences", int_at(res, i, k->recurrences)));
        free(title);
    }
    json_object_set_new(out, "top_problems_month",
                        json_pack("{s:s?, s:o}", "month",
                                  PQntuples(res) ? PQgetvalue(res, 0, k->month) : NULL,
                                  "items", items));
    rc = 0;
out:
    PQclear(res);
    return rc;
}

json_t *escp_store_dashboard_summary(struct escp_conn *c, const struct escp_dash_query *q,
                                     esc_error_t *err)
{
    json_t *out = json_object();
    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (escp_begin(c, err) != 0)
        goto fail;
    if (load_open(c, q, out, err) != 0 || load_at_risk(c, q, out, err) != 0 ||
        load_breach_days(c, q, out, err) != 0 || load_agents(c, q, out, err) != 0 ||
        load_problems(c, q, out, err) != 0 || load_top_problems(c, q, out, err) != 0) {
        escp_rollback(c);
        goto fail;
    }
    if (escp_commit(c, err) != 0)
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}
