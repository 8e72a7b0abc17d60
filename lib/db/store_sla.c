/* store_sla.c — the SLA engine's statements, policies, the calendar and
 * breaches: the statements and the functions that run them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

enum {
    S_FIRE_DUE,
    S_FIRE_ACTIONS,
    S_FIRE_ACTION_ONE,
    S_NEXT_DUE,
    S_POLICIES,
    S_POLICY_PUT,
    S_CALENDAR_PUT,
    S_BREACH_LIST,
    S_TIMER_NOTIFY,
    S_FIRE_DUE_TICKET,
    S_FIRE_LADDER,
    S__COUNT
};

/* The fire statement, with more conditions on the due timers (where_more).
 * In `d`, the ids are drawn up front: no CTE is joined to another (the
 * planner estimates `due` at one row and would join them by nested loops).
 * They are drawn once per row in a subquery of its own (one with volatile
 * output is never merged into the query above, which would draw the breach
 * id twice); not in a LATERAL join, which the planner may memoize on its
 * inputs -- one id for many breaches.  `agg` gives the flags of the two
 * timers the ticket's row remembers firing.
 *
 * `skip` is "SKIP LOCKED" for the engine's passes and empty for the
 * statements of one ticket or one action, which wait.  A pass locks the
 * timer row, then finds the ticket (or action) held by an action and skips
 * it -- but keeps the timer row's lock until it commits.  The action's own
 * fire statement, had it skipped too, would pass over its due timer, and
 * the action would then delete it without the breach (test_problems saw
 * that for an action's due date).  Waiting costs the rest of that pass, a
 * few milliseconds, and cannot deadlock: a pass never waits for a row lock,
 * and the rows it writes are those it fires, never the action's. */
#define FIRE_DUE_SQL(where_more, skip) \
    "WITH due AS (SELECT tm.ticket_id, tm.kind, tm.due_at, t.tier, t.severity, t.assignee_id, " \
    "  t.resolve_due_at, tm.kind = ANY ($2::text[]) AS breach " \
    " FROM timers tm JOIN tickets t ON t.id = tm.ticket_id " \
    " WHERE tm.due_at <= now() AND tm.kind <> 'ladder' " where_more " ORDER BY tm.due_at LIMIT $1::int " \
    " FOR UPDATE OF tm, t " skip "), " \
    "d AS (SELECT x.*, CASE WHEN x.breach THEN 'breached' ELSE 'at_risk' END AS type, " \
    "  CASE WHEN x.breach THEN jsonb_build_object('kind', x.kind, 'breach_id', x.breach_id, " \
    "    'due_at', to_char(x.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) " \
    "  ELSE jsonb_build_object('kind', 'resolve', " \
    "    'warn_at', to_char(x.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "    'resolve_due_at', to_char(x.resolve_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) " \
    "  END AS data " \
    " FROM (SELECT due.*, CASE WHEN due.breach THEN nextval('breaches_id_seq') END AS breach_id, " \
    "  nextval('events_id_seq') AS event_id FROM due) x), " \
    "del AS (DELETE FROM timers x USING d WHERE x.ticket_id = d.ticket_id AND x.kind = d.kind), " \
    "br AS (INSERT INTO breaches (id, ticket_id, kind, tier, severity, assignee_id, due_at, detected_at) " \
    " SELECT breach_id, ticket_id, kind, tier, severity, assignee_id, due_at, now() FROM d " \
    " WHERE breach), " \
    "agg AS (SELECT ticket_id, array_agg(kind) FILTER (WHERE breach) AS kinds, " \
    " bool_or(kind = 'resolve') AS r, bool_or(kind = 'warn') AS w FROM d GROUP BY ticket_id), " \
    "upd AS (UPDATE tickets t SET " \
    " breaches = t.breaches || ARRAY(SELECT k FROM unnest(agg.kinds) AS k WHERE NOT k = ANY (t.breaches)), " \
    " resolve_fired = t.resolve_fired OR agg.r, warn_fired = t.warn_fired OR agg.w, " \
    " version = t.version + 1, updated_at = now() FROM agg WHERE t.id = agg.ticket_id), " \
    "ev AS (INSERT INTO events (id, ticket_id, type, data) SELECT event_id, ticket_id, type, data FROM d), " \
    "nt AS (INSERT INTO notifications (ticket_id, type, payload) " \
    " SELECT ticket_id, type, jsonb_build_object('type', type, 'ticket_id', ticket_id, " \
    "  'event_id', event_id, 'tier', 'line-' || tier, 'severity', severity) || data FROM d) " \
    "SELECT count(*) AS fired, coalesce(max(extract(epoch FROM now() - due_at)), 0) AS max_late_s " \
    "FROM due"

/* The fire statement of the actions' due dates; now_sql is its instant (the
 * engine's now(), a completion's statement_timestamp()). */
#define FIRE_ACTIONS_SQL(where_more, now_sql, skip) \
    "WITH due AS (SELECT at.action_id, at.problem_id, at.due_at, a.owner_id, a.kind AS action_kind " \
    " FROM action_timers at JOIN problem_actions a ON a.id = at.action_id " \
    " WHERE at.due_at <= " now_sql " " where_more " ORDER BY at.due_at LIMIT $1::int " \
    " FOR UPDATE OF at, a " skip "), " \
    "d AS (SELECT x.*, jsonb_build_object('kind', $2::text, 'breach_id', x.breach_id, " \
    "  'problem_id', x.problem_id, 'action_id', x.action_id, 'action_kind', x.action_kind, " \
    "  'owner_id', x.owner_id, " \
    "  'due_at', to_char(x.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) AS data " \
    " FROM (SELECT due.*, nextval('breaches_id_seq') AS breach_id, " \
    "  nextval('problem_events_id_seq') AS event_id FROM due) x), " \
    "del AS (DELETE FROM action_timers x USING d WHERE x.action_id = d.action_id), " \
    "br AS (INSERT INTO breaches (id, kind, problem_id, action_id, assignee_id, due_at, detected_at) " \
    " SELECT breach_id, $2::text, problem_id, action_id, owner_id, due_at, " now_sql " FROM d), " \
    "upd AS (UPDATE problem_actions a SET breached = true FROM d WHERE a.id = d.action_id), " \
    "ev AS (INSERT INTO problem_events (id, problem_id, type, data, at) " \
    " SELECT event_id, problem_id, 'action_breached', data, " now_sql " FROM d), " \
    "nt AS (INSERT INTO notifications (problem_id, type, payload) " \
    " SELECT problem_id, 'breached', jsonb_build_object('type', 'breached', " \
    "  'problem_event_id', event_id) || data FROM d) " \
    "SELECT count(*) AS fired, coalesce(max(extract(epoch FROM " now_sql " - due_at)), 0) AS max_late_s, " \
    " (" now_sql ")::text AS at FROM due"

static const struct escp_stmt stmts[S__COUNT] = {
    /* The SLA engine: fire up to $1 due timers, oldest first.  A timer row
     * exists only while its timer is live (acknowledge, resolve, close delete
     * it under the ticket's row lock, after firing it if it is due: see
     * fire_due_ticket), and SKIP LOCKED on both the timer and the ticket
     * means a ticket being acted on is fired, if still due, on the next pass
     * -- and that two daemons never fire one timer twice.  The
     * breach, the ticket's `breaches`, the event and the outbox row are one
     * statement, so one transaction.  A timer whose kind is one of the breach
     * kinds ($2, core/model.h) records a breach; the other, the warning,
     * records at_risk about the resolve deadline. */
    [S_FIRE_DUE] = {"fire_due",
        FIRE_DUE_SQL("", "SKIP LOCKED")},

    /* The same for one ticket ($3): run by an action or a claim, under the
     * ticket's row lock or just before taking it, when one of the ticket's
     * timers is already due.  The action would delete or replace that timer,
     * so without this a deadline that passed moments before an acknowledge
     * (say, while the engine was reconnecting after a database outage) would
     * never be recorded as a breach. */
    [S_FIRE_DUE_TICKET] = {"fire_due_ticket", FIRE_DUE_SQL("AND tm.ticket_id = $3::bigint", "")},

    /* The same for the due dates of problems' corrective and preventive
     * actions (migration 012), in the same pass: up to $1 due rows of
     * action_timers, oldest first.  A row exists only while its action is
     * undone (completing it fires it first when it is due, then deletes the
     * row, under the action's row lock: S_FIRE_ACTION_ONE), and SKIP LOCKED
     * on the timer and the action keeps two daemons, and a completion in
     * flight, from firing it twice; the unique index breaches_action refuses
     * a second breach of one action all the same.  The breach ($2: the kind
     * "action", core/model.h), the action's breached flag, the problem's
     * event and the outbox row (with the problem instead of a ticket) are
     * one statement.  Ids drawn in a subquery of their own, as above. */
    [S_FIRE_ACTIONS] = {"fire_actions", FIRE_ACTIONS_SQL("", "now()", "SKIP LOCKED")},

    /* The same for one action ($3), run by its completion under the action's
     * row lock: fired when it is due at this statement's start -- after the
     * lock was granted, so after any pass of an engine that fired it first
     * had committed -- and `at`, that instant, is the completion's time.
     * So an action completed late always has its breach, and a breach is
     * never detected after the completion of its action. */
    [S_FIRE_ACTION_ONE] = {"fire_action_one",
        FIRE_ACTIONS_SQL("AND at.action_id = $3::bigint", "statement_timestamp()", "")},

    /* Seconds until the earliest live timer of a ticket or an action
     * (negative: already due). */
    [S_NEXT_DUE] = {"next_due",
        "SELECT extract(epoch FROM least((SELECT min(due_at) FROM timers), "
        " (SELECT min(due_at) FROM action_timers)) - now()) AS seconds"},

    [S_POLICIES] = {"policies",
        "SELECT severity, ack_seconds, resolve_seconds, warn_ratio, callback_business_days, "
        " updated_at FROM policies ORDER BY severity DESC"},

    [S_POLICY_PUT] = {"policy_put",
        "UPDATE policies SET ack_seconds = coalesce($2::int, ack_seconds), "
        " resolve_seconds = coalesce($3::int, resolve_seconds), "
        " warn_ratio = coalesce($4::float8, warn_ratio), "
        " callback_business_days = coalesce($5::int, callback_business_days), "
        " updated_at = now() WHERE severity = $1 "
        "RETURNING severity, ack_seconds, resolve_seconds, warn_ratio, callback_business_days, updated_at"},

    [S_CALENDAR_PUT] = {"calendar_put",
        "UPDATE calendar SET doc = $1::jsonb, updated_at = now() RETURNING doc::text AS doc"},

    [S_BREACH_LIST] = {"breach_list",
        "SELECT b.id, b.ticket_id, b.problem_id, b.action_id, b.kind, b.tier, b.severity, b.assignee_id, "
        " p.name AS assignee_name, b.due_at, "
        " b.detected_at FROM breaches b LEFT JOIN principals p ON p.id = b.assignee_id "
        "WHERE ($1::text IS NULL OR b.kind = $1::text) "
        " AND ($2::smallint IS NULL OR b.tier = $2::smallint) "
        " AND ($3::text IS NULL OR b.severity = $3::text) "
        " AND ($4::bigint IS NULL OR b.ticket_id = $4::bigint) "
        " AND ($5::timestamptz IS NULL OR b.detected_at >= $5::timestamptz) "
        " AND ($6::timestamptz IS NULL OR b.detected_at < $6::timestamptz) "
        " AND ($7::bigint IS NULL OR b.id < $7::bigint) "
        "ORDER BY b.id DESC LIMIT $8::int"},

    /* Wake other daemons' engines at commit: a timer due soon ($1, text). */
    [S_TIMER_NOTIFY] = {"timer_notify", "SELECT pg_notify('" ESCP_TIMER_CHANNEL "', $1)"},

    /* The SLA engine: fire up to $1 due ladder steps (migration 014), oldest
     * first, under the same locks as fire_due.  For each: while the ticket
     * is still what the ladder chases (awaiting acknowledgement, or not yet
     * resolved), the step's message goes to the outbox for its channel and
     * its people and an `alerted` event to the history; then the timer moves
     * to the next step (delay after this step's deadline, not after now: the
     * ladder keeps its schedule however late a pass runs), or, after the
     * last step of the last round, the run ends and the timer goes. */
    [S_FIRE_LADDER] = {"fire_ladder",
        "WITH due AS (SELECT tm.ticket_id, tm.due_at, r.event, r.stop_on, r.steps, r.repeat, r.round, "
        "  r.step, t.tier, t.state, t.severity, t.subject, t.ack_due_at, t.resolve_due_at "
        " FROM timers tm JOIN tickets t ON t.id = tm.ticket_id "
        " LEFT JOIN ladder_runs r ON r.ticket_id = tm.ticket_id AND r.ended_at IS NULL "
        " WHERE tm.kind = 'ladder' AND tm.due_at <= now() ORDER BY tm.due_at LIMIT $1::int "
        " FOR UPDATE OF tm, t SKIP LOCKED), "
        "s AS (SELECT due.*, due.steps -> (due.step - 1) AS cur, jsonb_array_length(due.steps) AS n, "
        "  coalesce((due.stop_on = 'acknowledged' AND due.state = 'awaiting_ack') OR "
        "   (due.stop_on = 'resolved' AND due.state NOT IN ('resolved', 'closed')), false) AS live "
        " FROM due), "
        "nx AS (SELECT s.*, CASE WHEN NOT live THEN NULL WHEN step < n THEN step + 1 "
        "   WHEN round < repeat THEN 1 END AS next_step, "
        "  CASE WHEN step < n THEN round ELSE round + 1 END AS next_round FROM s), "
        "x AS (SELECT nx.*, CASE WHEN next_step IS NOT NULL THEN due_at + make_interval(secs => "
        "   (steps -> (next_step - 1) ->> 'delay_seconds')::float8) END AS next_due "
        " FROM (SELECT nx.*, nextval('events_id_seq') AS event_id FROM nx) nx), "
        "msg AS (INSERT INTO channel_messages (channel_id, ticket_id, source, recipients, facts) "
        " SELECT c.id, x.ticket_id, 'ladder', ARRAY(SELECT jsonb_array_elements_text("
        "   coalesce(x.cur -> 'recipients', '[]')))::bigint[], "
        "  jsonb_build_object('type', 'ladder', 'event', x.event, 'ticket_id', x.ticket_id, "
        "   'tier', 'line-' || x.tier, 'severity', x.severity, 'subject', x.subject, 'state', x.state, "
        "   'round', x.round, 'step', x.step, 'steps', x.n, 'repeat', x.repeat, "
        "   'ack_due_at', to_char(x.ack_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "   'resolve_due_at', to_char(x.resolve_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) "
        " FROM x JOIN channels c ON c.id = (x.cur ->> 'channel_id')::bigint AND c.active WHERE x.live), "
        "ev AS (INSERT INTO events (id, ticket_id, type, data) "
        " SELECT event_id, ticket_id, 'alerted', jsonb_build_object('ladder', event, 'round', round, "
        "  'step', step, 'steps', n, 'channel_id', cur -> 'channel_id', 'recipients', "
        "  coalesce(cur -> 'recipients', '[]'), 'due_at', "
        "  to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM x WHERE live), "
        "run AS (UPDATE ladder_runs r SET step = coalesce(x.next_step, r.step), "
        "  round = CASE WHEN x.next_step IS NOT NULL THEN x.next_round ELSE r.round END, "
        "  ended_at = CASE WHEN x.next_step IS NULL THEN now() END, "
        "  end_reason = CASE WHEN x.next_step IS NULL THEN CASE WHEN x.live THEN 'exhausted' "
        "   WHEN x.state IN ('resolved', 'closed') THEN x.state ELSE 'acknowledged' END END "
        " FROM x WHERE r.ticket_id = x.ticket_id AND r.ended_at IS NULL), "
        "mv AS (UPDATE timers tm SET due_at = x.next_due FROM x "
        " WHERE tm.ticket_id = x.ticket_id AND tm.kind = 'ladder' AND x.next_due IS NOT NULL), "
        "del AS (DELETE FROM timers tm USING x "
        " WHERE tm.ticket_id = x.ticket_id AND tm.kind = 'ladder' AND x.next_due IS NULL) "
        "SELECT count(*) AS fired, coalesce(max(extract(epoch FROM now() - due_at)), 0) AS max_late_s "
        "FROM due"},
};

const struct escp_stmt_table escp_stmts_sla = {stmts, S__COUNT};

/* One of the two firing statements: *fired and *max_late_s of its row. */
static int fire(struct escp_conn *c, int s, int n, const char *const *v, int *fired, double *max_late_s,
                char *at, size_t at_len, esc_error_t *err)
{
    int rc = -1, fired_col, late_col, at_col;
    PGresult *res = escp_exec(c, &stmts[s], n, v, err);
    if (!res || escp_columns(res, stmts[s].name, err, "fired", &fired_col,
                             "max_late_s", &late_col, NULL) != 0 ||
        (at && escp_columns(res, stmts[s].name, err, "at", &at_col, NULL) != 0))
        goto out;
    *fired = atoi(PQgetvalue(res, 0, fired_col));
    *max_late_s = strtod(PQgetvalue(res, 0, late_col), NULL);
    if (at && (size_t)snprintf(at, at_len, "%s", PQgetvalue(res, 0, at_col)) >= at_len) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "%s: its instant is too long", stmts[s].name);
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

int escp_store_fire_due(struct escp_conn *c, int batch, int *fired, double *max_late_s, esc_error_t *err)
{
    char b[16], kinds[ESCP_NAMES_LEN];
    snprintf(b, sizeof b, "%d", batch);
    const char *v[2] = {b, escp_pg_names(kinds, sizeof kinds, esc_breach_names, ESC_BREACH__COUNT, err)};
    const char *va[2] = {b, esc_breach_names[ESC_BREACH_ACTION]};
    int ft = 0, fa = 0;
    double lt = 0, la = 0;
    if (!v[1])
        return -1;
    /* the tickets' timers, then the actions' due dates: each statement its
     * own transaction, both in every pass of the engine */
    if (fire(c, S_FIRE_DUE, 2, v, &ft, &lt, NULL, 0, err) != 0 ||
        fire(c, S_FIRE_ACTIONS, 2, va, &fa, &la, NULL, 0, err) != 0)
        return -1;
    /* a full batch of either is a backlog: the caller goes on while
     * *fired >= batch */
    *fired = ft + fa;
    *max_late_s = lt > la ? lt : la;
    return 0;
}

int escp_store_fire_ladders(struct escp_conn *c, int batch, int *fired, double *max_late_s,
                            esc_error_t *err)
{
    char b[16];
    snprintf(b, sizeof b, "%d", batch);
    const char *v[1] = {b};
    return fire(c, S_FIRE_LADDER, 1, v, fired, max_late_s, NULL, 0, err);
}

int escp_store_fire_due_ticket(struct escp_conn *c, int64_t ticket_id, int *fired, esc_error_t *err)
{
    char id[24], kinds[ESCP_NAMES_LEN];
    snprintf(id, sizeof id, "%" PRId64, ticket_id);
    /* a ticket has a handful of timers at most (one per kind) */
    const char *v[3] = {"16", escp_pg_names(kinds, sizeof kinds, esc_breach_names, ESC_BREACH__COUNT, err), id};
    double late;
    return v[1] ? fire(c, S_FIRE_DUE_TICKET, 3, v, fired, &late, NULL, 0, err) : -1;
}

int escp_store_fire_due_action(struct escp_conn *c, int64_t action_id, char *at, size_t at_len, esc_error_t *err)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, action_id);
    const char *v[3] = {"1", esc_breach_names[ESC_BREACH_ACTION], id};
    int fired;
    double late;
    return fire(c, S_FIRE_ACTION_ONE, 3, v, &fired, &late, at, at_len, err);
}

int escp_store_next_due(struct escp_conn *c, double *seconds, bool *none, esc_error_t *err)
{
    int rc = -1, col;
    PGresult *res = escp_exec(c, &stmts[S_NEXT_DUE], 0, NULL, err);
    if (!res || escp_columns(res, stmts[S_NEXT_DUE].name, err, "seconds", &col, NULL) != 0)
        goto out;
    *none = PQgetisnull(res, 0, col);
    *seconds = *none ? 0 : strtod(PQgetvalue(res, 0, col), NULL);
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ---- the cross-daemon wake-up (LISTEN/NOTIFY) ---- */

int escp_store_listen(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = PQexec(c->pg, "LISTEN " ESCP_TIMER_CHANNEL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        escp_map_error(c->pg, res, "listen", err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* The engine's session commits asynchronously: a pass does not wait for its
 * WAL flush (under I/O pressure a flush took up to a second and held up the
 * next pass).  See timer_engine.c for why that is safe. */
static struct escp_conn *engine_open(const char *conninfo, bool listen, esc_error_t *err)
{
    static const struct escp_stmt *const mine[] = {&stmts[S_FIRE_DUE], &stmts[S_FIRE_ACTIONS],
                                                   &stmts[S_NEXT_DUE], &stmts[S_FIRE_LADDER]};
    struct escp_conn *c = escp_conn_open_stmts(conninfo, mine, 4, err);
    if (!c)
        return NULL;
    PGresult *res = PQexec(c->pg, "SET synchronous_commit TO off");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        escp_map_error(c->pg, res, "engine session", err);
        PQclear(res);
        escp_conn_close(c);
        return NULL;
    }
    PQclear(res);
    if (listen && escp_store_listen(c, err) != 0) {
        escp_conn_close(c);
        return NULL;
    }
    return c;
}

struct escp_conn *escp_store_engine_open(const char *conninfo, esc_error_t *err)
{
    return engine_open(conninfo, true, err);
}

struct escp_conn *escp_store_drainer_open(const char *conninfo, esc_error_t *err)
{
    return engine_open(conninfo, false, err);
}

int escp_store_notify_timer(struct escp_conn *c, esc_time_t due, esc_error_t *err)
{
    char b[48];
    escp_time_pg(due, b, sizeof b);
    const char *v[1] = {b};
    PGresult *res = escp_exec(c, &stmts[S_TIMER_NOTIFY], 1, v, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int escp_conn_socket(struct escp_conn *c) { return c && c->pg ? PQsocket(c->pg) : -1; }

int escp_conn_notifications(struct escp_conn *c, int *count)
{
    *count = 0;
    if (!c || !c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return -1;
    if (!PQconsumeInput(c->pg))
        return -1;
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL) {
        (*count)++;
        PQfreemem(n);
    }
    return PQstatus(c->pg) == CONNECTION_OK ? 0 : -1;
}

/* The columns of a policy row (POLICIES, POLICY_PUT), found by name. */
struct policy_cols {
    int severity, ack_seconds, resolve_seconds, warn_ratio, callback_business_days, updated_at;
};

static int policy_cols(const PGresult *res, const char *what, struct policy_cols *k,
                       esc_error_t *err)
{
    return escp_columns(res, what, err, ESCP_COL(k, severity), ESCP_COL(k, ack_seconds),
                        ESCP_COL(k, resolve_seconds), ESCP_COL(k, warn_ratio),
                        ESCP_COL(k, callback_business_days), ESCP_COL(k, updated_at), NULL);
}

static json_t *policy_row(const PGresult *res, int i, const struct policy_cols *k)
{
#define V(field) PQgetvalue(res, i, k->field)
    return json_pack("{s:s, s:I, s:I, s:f, s:I, s:o}", "severity", V(severity),
                     "ack_seconds", (json_int_t)strtoll(V(ack_seconds), NULL, 10),
                     "resolve_seconds", (json_int_t)strtoll(V(resolve_seconds), NULL, 10),
                     "warn_ratio", strtod(V(warn_ratio), NULL),
                     "callback_business_days", (json_int_t)strtoll(V(callback_business_days), NULL, 10),
                     "updated_at", escp_json_time(V(updated_at)));
#undef V
}

json_t *escp_store_policies(struct escp_conn *c, esc_error_t *err)
{
    struct policy_cols k;
    PGresult *res = escp_exec(c, &stmts[S_POLICIES], 0, NULL, err);
    if (!res)
        return NULL;
    json_t *items = NULL;
    if (policy_cols(res, stmts[S_POLICIES].name, &k, err) == 0) {
        items = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(items, policy_row(res, i, &k));
    }
    PQclear(res);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

json_t *escp_store_policy_put(struct escp_conn *c, const char *severity, int64_t ack_s, int64_t resolve_s,
                              double warn_ratio, int64_t days, esc_error_t *err)
{
    char a[24], r[24], w[32], d[24];
    snprintf(a, sizeof a, "%" PRId64, ack_s);
    snprintf(r, sizeof r, "%" PRId64, resolve_s);
    snprintf(w, sizeof w, "%.17g", warn_ratio);
    snprintf(d, sizeof d, "%" PRId64, days);
    /* 0 (or a negative ratio) = keep the current value */
    const char *v[5] = {severity, ack_s ? a : NULL, resolve_s ? r : NULL,
                        warn_ratio > 0 ? w : NULL, days ? d : NULL};
    struct policy_cols k;
    PGresult *res = escp_exec(c, &stmts[S_POLICY_PUT], 5, v, err);
    if (!res)
        return NULL;
    json_t *out = NULL;
    if (PQntuples(res) != 1)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such severity");
    else if (policy_cols(res, stmts[S_POLICY_PUT].name, &k, err) == 0)
        out = policy_row(res, 0, &k);
    PQclear(res);
    return out;
}

json_t *escp_store_calendar_put(struct escp_conn *c, const json_t *doc, esc_error_t *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *v[1] = {text};
    int doc_col;
    PGresult *res = text ? escp_exec(c, &stmts[S_CALENDAR_PUT], 1, v, err) : NULL;
    free(text);
    if (!res)
        return NULL;
    json_t *out = NULL;
    if (escp_columns(res, stmts[S_CALENDAR_PUT].name, err, "doc", &doc_col, NULL) != 0)
        goto out;
    if (PQntuples(res) == 1)
        out = json_loads(PQgetvalue(res, 0, doc_col), 0, NULL);
    if (!out)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the business calendar is missing");
out:
    PQclear(res);
    return out;
}

json_t *escp_store_breach_list(struct escp_conn *c, const struct escp_breach_filter *f, esc_error_t *err)
{
    char before[24], limit[16];
    snprintf(before, sizeof before, "%" PRId64, f->before_id);
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    const char *v[8] = {f->kind, f->tier, f->severity, f->ticket, f->from, f->to,
                        f->before_id ? before : NULL, limit};
    struct {
        int id, ticket_id, problem_id, action_id, kind, tier, severity, assignee_id, assignee_name,
            due_at, detected_at;
    } col, *k = &col;
    PGresult *res = escp_exec(c, &stmts[S_BREACH_LIST], 8, v, err);
    if (!res)
        return NULL;
    json_t *items = NULL;
    if (escp_columns(res, stmts[S_BREACH_LIST].name, err, ESCP_COL(k, id), ESCP_COL(k, ticket_id),
                     ESCP_COL(k, problem_id), ESCP_COL(k, action_id), ESCP_COL(k, kind), ESCP_COL(k, tier), ESCP_COL(k, severity),
                     ESCP_COL(k, assignee_id), ESCP_COL(k, assignee_name), ESCP_COL(k, due_at),
                     ESCP_COL(k, detected_at), NULL) != 0)
        goto out;
    items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
#define V(field) PQgetvalue(res, i, k->field)
        /* an action's breach (migration 012) has no ticket, tier or severity: null */
        const char *tier = escp_val(res, i, k->tier) ? esc_tier_name((enum esc_tier)atoi(V(tier))) : NULL;
        json_t *assignee = NULL; /* null when none */
        if (escp_val(res, i, k->assignee_id))
            assignee = json_pack("{s:I, s:s}", "id", (json_int_t)strtoll(V(assignee_id), NULL, 10),
                                 "name", V(assignee_name)); /* "" when NULL */
        json_array_append_new(items, json_pack("{s:I, s:o, s:o, s:o, s:s, s:s?, s:s?, s:o?, s:o, s:o}",
            "id", (json_int_t)strtoll(V(id), NULL, 10),
            "ticket_id", escp_json_int(escp_val(res, i, k->ticket_id)),
            "problem_id", escp_json_int(escp_val(res, i, k->problem_id)),
            "action_id", escp_json_int(escp_val(res, i, k->action_id)),
            "kind", V(kind), "tier", tier, "severity", escp_val(res, i, k->severity),
            "assignee", assignee, "due_at", escp_json_time(V(due_at)),
            "detected_at", escp_json_time(V(detected_at))));
#undef V
    }
out:
    PQclear(res);
    return items;
}
