/* store.c — the connection pool, the table of prepared statements, error
 * mapping, migrations and readiness.  With store_*.c, the only code that
 * holds SQL text or includes libpq. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "db/store.h"
#include "db/store_internal.h"

#define TICKET_FROM "FROM tickets t LEFT JOIN principals a ON a.id = t.assignee_id "

static const struct {
    const char *name;
    const char *sql;
} stmts[ESCP_S__COUNT] = {
    [ESCP_S_PRINCIPAL_BY_HASH] = {"principal_by_hash",
        "SELECT id, name, role, tier FROM principals "
        "WHERE token_hash = $1 AND revoked_at IS NULL"},

    /* One round trip: the ticket, its `created` event and its three timers. */
    [ESCP_S_TICKET_CREATE] = {"ticket_create",
        "WITH p AS (SELECT ack_seconds, resolve_seconds, warn_ratio FROM policies WHERE severity = $1), "
        "t AS (INSERT INTO tickets (tier, state, severity, channel, category, subject, description, "
        "  customer_name, customer_phone, customer_email, customer_id_number, external_ref, "
        "  created_by, idempotency_key, request_hash, ack_due_at, resolve_started_at, "
        "  resolve_due_at, warn_due_at) "
        " SELECT 1, 'awaiting_ack', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
        "  now() + make_interval(secs => p.ack_seconds), now(), "
        "  now() + make_interval(secs => p.resolve_seconds), "
        "  now() + make_interval(secs => p.resolve_seconds * p.warn_ratio) FROM p "
        " ON CONFLICT (created_by, idempotency_key) DO NOTHING RETURNING *), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, to_tier, to_state) "
        " SELECT id, 'created', $11, 1, 'awaiting_ack' FROM t RETURNING ticket_id), "
        "tm AS (INSERT INTO timers (ticket_id, kind, due_at) "
        " SELECT t.id, k.kind, k.due FROM t, LATERAL (VALUES ('ack', t.ack_due_at), "
        " ('resolve', t.resolve_due_at), ('warn', t.warn_due_at)) AS k(kind, due)), "
        /* a major complaint alerts the managers at once: an outbox row and its event */
        "n AS (INSERT INTO notifications (ticket_id, type, payload) "
        " SELECT t.id, 'major_created', jsonb_build_object('type', 'major_created', "
        "  'ticket_id', t.id, 'severity', t.severity, 'tier', 'line-1', 'created_at', t.created_at) "
        " FROM t WHERE t.severity = 'major' RETURNING id, ticket_id), "
        "ne AS (INSERT INTO events (ticket_id, type, data) "
        " SELECT n.ticket_id, 'notified', jsonb_build_object('notification', 'major_created', "
        "  'notification_id', n.id, 'audience', 'managers') "
        " FROM n JOIN e ON e.ticket_id = n.ticket_id), " /* after `created` */
        /* a timer due within the notify window ($14 s) wakes other daemons'
         * engines at commit; evaluated through the count below */
        "nf AS (SELECT pg_notify('" ESCP_TIMER_CHANNEL "', "
        "  to_char(least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) AT TIME ZONE 'UTC', "
        "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) FROM t "
        " WHERE least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) "
        "  < now() + make_interval(secs => $14::float8)) "
        "SELECT " ESCP_TICKET_COLS ", least(t.ack_due_at, t.warn_due_at, t.resolve_due_at), "
        " (SELECT count(*) FROM nf) FROM t LEFT JOIN principals a ON a.id = t.assignee_id"},

    [ESCP_S_TICKET_BY_IDEMPOTENCY] = {"ticket_by_idempotency",
        "SELECT " ESCP_TICKET_COLS ", t.request_hash " TICKET_FROM
        "WHERE t.created_by = $1 AND t.idempotency_key = $2"},

    [ESCP_S_TICKET_GET] = {"ticket_get",
        "SELECT " ESCP_TICKET_COLS " " TICKET_FROM "WHERE t.id = $1"},

    /* The row lock, the database clock and the ticket's policy, together. */
    [ESCP_S_TICKET_LOCK] = {"ticket_lock",
        "SELECT t.id, t.tier, t.state, t.severity, t.assignee_id, t.tier1_assignee_id, "
        " t.tier2_assignee_id, t.tier3_assignee_id, t.resolver_id, t.resolved_tier, "
        " t.acknowledged_at, t.resolved_at, t.closed_at, t.ack_due_at, t.resolve_due_at, "
        " t.warn_due_at, t.callback_due_at, t.resolve_started_at, t.paused_at, "
        " t.resolve_left_us, t.warn_left_us, t.paused_total_us, t.resolve_fired, t.warn_fired, "
        " t.version, now(), p.ack_seconds, p.resolve_seconds, p.warn_ratio, "
        " p.callback_business_days "
        "FROM tickets t JOIN policies p ON p.severity = t.severity "
        "WHERE t.id = $1 FOR UPDATE OF t"},

    /* Write the decided state back, append the event, apply the timer ops. */
    [ESCP_S_TICKET_APPLY] = {"ticket_apply",
        "WITH u AS (UPDATE tickets SET tier = $2, state = $3, assignee_id = $4, "
        "  tier1_assignee_id = $5, tier2_assignee_id = $6, tier3_assignee_id = $7, "
        "  resolver_id = $8, resolved_tier = $9, "
        "  root_cause = CASE WHEN $10::bool THEN $11 ELSE root_cause END, "
        "  resolution = CASE WHEN $10::bool THEN $12 ELSE resolution END, "
        "  sat_result = CASE WHEN $13::bool THEN $14 ELSE sat_result END, "
        "  sat_score = CASE WHEN $13::bool THEN $15::smallint ELSE sat_score END, "
        "  sat_feedback = CASE WHEN $13::bool THEN $16 ELSE sat_feedback END, "
        "  acknowledged_at = $17, resolved_at = $18, closed_at = $19, ack_due_at = $20, "
        "  resolve_due_at = $21, warn_due_at = $22, callback_due_at = $23, "
        "  resolve_started_at = $24, paused_at = $25, resolve_left_us = $26, "
        "  warn_left_us = $27, paused_total_us = $28, resolve_fired = $29, warn_fired = $30, "
        "  version = version + 1, updated_at = now() "
        " WHERE id = $1 RETURNING *), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, from_tier, to_tier, from_state, "
        "  to_state, reason, data) "
        " SELECT id, $31, $32, $33, $34, $35, $36, $37, $38::jsonb FROM u), "
        "d AS (DELETE FROM timers WHERE ticket_id = $1 AND kind = ANY ($39::text[])), "
        "i AS (INSERT INTO timers (ticket_id, kind, due_at) "
        " SELECT $1, x.k, x.d FROM unnest($40::text[], $41::timestamptz[]) AS x(k, d) "
        " ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at) "
        "SELECT " ESCP_TICKET_COLS " FROM u t LEFT JOIN principals a ON a.id = t.assignee_id"},

    [ESCP_S_EVENT_ADD] = {"event_add",
        "WITH e AS (INSERT INTO events (ticket_id, type, actor_id, reason, body, data) "
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING *) "
        "SELECT e.id, e.type, e.at, e.actor_id, p.name, p.role, e.from_tier, e.to_tier, "
        " e.from_state, e.to_state, e.reason, e.body, e.data "
        "FROM e LEFT JOIN principals p ON p.id = e.actor_id"},

    [ESCP_S_CALENDAR] = {"calendar", "SELECT doc::text FROM calendar"},

    /* Most urgent first: major before normal, then the earliest ack deadline. */
    [ESCP_S_CLAIM] = {"claim",
        "WITH c AS (SELECT id FROM tickets WHERE state = 'awaiting_ack' AND tier = $1::smallint "
        "  ORDER BY (severity = 'major') DESC, ack_due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), "
        "u AS (UPDATE tickets k SET state = 'acknowledged', assignee_id = $2, "
        "  tier1_assignee_id = CASE WHEN k.tier = 1 THEN $2 ELSE k.tier1_assignee_id END, "
        "  tier2_assignee_id = CASE WHEN k.tier = 2 THEN $2 ELSE k.tier2_assignee_id END, "
        "  tier3_assignee_id = CASE WHEN k.tier = 3 THEN $2 ELSE k.tier3_assignee_id END, "
        "  acknowledged_at = now(), ack_due_at = NULL, version = k.version + 1, updated_at = now() "
        " FROM c WHERE k.id = c.id RETURNING k.*), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, from_state, to_state, data) "
        " SELECT id, 'acknowledged', $2, 'awaiting_ack', 'acknowledged', '{\"via\": \"claim\"}' FROM u), "
        "d AS (DELETE FROM timers WHERE ticket_id IN (SELECT id FROM u) AND kind = 'ack') "
        "SELECT " ESCP_TICKET_COLS " FROM u t LEFT JOIN principals a ON a.id = t.assignee_id"},

    [ESCP_S_TICKET_LIST] = {"ticket_list",
        "SELECT " ESCP_TICKET_COLS " " TICKET_FROM
        "WHERE ($1::smallint[] IS NULL OR t.tier = ANY ($1::smallint[])) "
        " AND ($2::text[] IS NULL OR t.state = ANY ($2::text[])) "
        " AND ($3::text[] IS NULL OR t.severity = ANY ($3::text[])) "
        " AND ($4::bigint IS NULL OR t.assignee_id = $4::bigint) "
        " AND ($5::text IS NULL OR $5::text = ANY (t.breaches)) "
        " AND ($6::timestamptz IS NULL OR "
        "      least(t.ack_due_at, t.resolve_due_at, t.callback_due_at) < $6::timestamptz) "
        " AND ($7::text IS NULL OR t.subject ILIKE $7::text OR t.description ILIKE $7::text) "
        " AND ($8::bigint IS NULL OR t.id < $8::bigint) "
        "ORDER BY t.id DESC LIMIT $9::int"},

    [ESCP_S_TICKET_EVENTS] = {"ticket_events",
        "SELECT e.id, e.type, e.at, e.actor_id, p.name, p.role, e.from_tier, e.to_tier, "
        " e.from_state, e.to_state, e.reason, e.body, e.data "
        "FROM events e LEFT JOIN principals p ON p.id = e.actor_id "
        "WHERE e.ticket_id = $1 ORDER BY e.id"},

    [ESCP_S_TICKET_EXISTS] = {"ticket_exists", "SELECT 1 FROM tickets WHERE id = $1"},

    [ESCP_S_CUSTOMER_REVEAL] = {"customer_reveal",
        "WITH t AS (SELECT id, customer_name, customer_phone, customer_email, customer_id_number "
        " FROM tickets WHERE id = $1), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id) "
        " SELECT id, 'customer_revealed', $2 FROM t) "
        "SELECT id, customer_name, customer_phone, customer_email, customer_id_number FROM t"},

    /* The SLA engine: fire up to $1 due timers, oldest first.  A timer row
     * exists only while its timer is live (acknowledge, resolve, close delete
     * it under the ticket's row lock), and SKIP LOCKED on both the timer and
     * the ticket means a ticket being acted on is fired, if still due, on the
     * next pass -- and that two daemons never fire one timer twice.  The
     * breach, the ticket's `breaches`, the event and the outbox row are one
     * statement, so one transaction. */
    [ESCP_S_FIRE_DUE] = {"fire_due",
        "WITH due AS (SELECT tm.ticket_id, tm.kind, tm.due_at, t.tier, t.severity, t.assignee_id, "
        "  t.resolve_due_at "
        " FROM timers tm JOIN tickets t ON t.id = tm.ticket_id "
        " WHERE tm.due_at <= now() ORDER BY tm.due_at LIMIT $1::int "
        " FOR UPDATE OF tm, t SKIP LOCKED), "
        /* ids drawn up front: no CTE is joined to another (the planner
         * estimates `due` at one row and would join them by nested loops) */
        "d AS (SELECT due.*, b.id AS breach_id, nextval('events_id_seq') AS event_id, "
        "  CASE WHEN due.kind = 'warn' THEN 'at_risk' ELSE 'breached' END AS type, "
        "  CASE WHEN due.kind = 'warn' THEN jsonb_build_object('kind', 'resolve', "
        "    'warn_at', to_char(due.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "    'resolve_due_at', to_char(due.resolve_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) "
        "  ELSE jsonb_build_object('kind', due.kind, 'breach_id', b.id, "
        "    'due_at', to_char(due.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) END AS data "
        " FROM due, LATERAL (SELECT CASE WHEN due.kind <> 'warn' THEN nextval('breaches_id_seq') END AS id) b), "
        "del AS (DELETE FROM timers x USING d WHERE x.ticket_id = d.ticket_id AND x.kind = d.kind), "
        "br AS (INSERT INTO breaches (id, ticket_id, kind, tier, severity, assignee_id, due_at, detected_at) "
        " SELECT breach_id, ticket_id, kind, tier, severity, assignee_id, due_at, now() FROM d "
        " WHERE kind <> 'warn'), "
        "agg AS (SELECT ticket_id, array_agg(kind) FILTER (WHERE kind <> 'warn') AS kinds, "
        " bool_or(kind = 'resolve') AS r, bool_or(kind = 'warn') AS w FROM d GROUP BY ticket_id), "
        "upd AS (UPDATE tickets t SET "
        " breaches = t.breaches || ARRAY(SELECT k FROM unnest(agg.kinds) AS k WHERE NOT k = ANY (t.breaches)), "
        " resolve_fired = t.resolve_fired OR agg.r, warn_fired = t.warn_fired OR agg.w, "
        " version = t.version + 1, updated_at = now() FROM agg WHERE t.id = agg.ticket_id), "
        "ev AS (INSERT INTO events (id, ticket_id, type, data) SELECT event_id, ticket_id, type, data FROM d), "
        "nt AS (INSERT INTO notifications (ticket_id, type, payload) "
        " SELECT ticket_id, type, jsonb_build_object('type', type, 'ticket_id', ticket_id, "
        "  'event_id', event_id, 'tier', 'line-' || tier, 'severity', severity) || data FROM d) "
        "SELECT count(*), coalesce(max(extract(epoch FROM now() - due_at)), 0) FROM due"},

    /* Seconds until the earliest live timer (negative: already due). */
    [ESCP_S_NEXT_DUE] = {"next_due",
        "SELECT extract(epoch FROM (SELECT min(due_at) FROM timers) - now())"},

    [ESCP_S_POLICIES] = {"policies",
        "SELECT severity, ack_seconds, resolve_seconds, warn_ratio, callback_business_days, "
        " updated_at FROM policies ORDER BY severity DESC"},

    [ESCP_S_POLICY_PUT] = {"policy_put",
        "UPDATE policies SET ack_seconds = coalesce($2::int, ack_seconds), "
        " resolve_seconds = coalesce($3::int, resolve_seconds), "
        " warn_ratio = coalesce($4::float8, warn_ratio), "
        " callback_business_days = coalesce($5::int, callback_business_days), "
        " updated_at = now() WHERE severity = $1 "
        "RETURNING severity, ack_seconds, resolve_seconds, warn_ratio, callback_business_days, updated_at"},

    [ESCP_S_CALENDAR_PUT] = {"calendar_put",
        "UPDATE calendar SET doc = $1::jsonb, updated_at = now() RETURNING doc::text"},

    [ESCP_S_BREACH_LIST] = {"breach_list",
        "SELECT b.id, b.ticket_id, b.kind, b.tier, b.severity, b.assignee_id, p.name, b.due_at, "
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
    [ESCP_S_TIMER_NOTIFY] = {"timer_notify", "SELECT pg_notify('" ESCP_TIMER_CHANNEL "', $1)"},

    /* ---- reports (store_reports.c; docs/reports.md) ---- */
    /* The period of a report: from/to as given or defaulted (to = now,
     * from = to - 30 days), the calendar's zone, whether from < to, and how
     * many local calendar days [from, to) touches. */
    [ESCP_S_REPORT_PERIOD] = {"report_period",
        "WITH z AS (SELECT coalesce((SELECT doc->>'timezone' FROM calendar), 'UTC') AS tz), "
        "p AS (SELECT coalesce($2::timestamptz, now()) AS t), "
        "q AS (SELECT coalesce($1::timestamptz, p.t - interval '30 days') AS f, p.t, z.tz FROM p, z) "
        "SELECT f, t, tz, f < t, CASE WHEN f < t THEN "
        " ((t - interval '1 microsecond') AT TIME ZONE tz)::date - (f AT TIME ZONE tz)::date + 1 "
        " ELSE 0 END FROM q"},

    /* The SLA table: the tickets created in [$1, $2), grouped by $3 (tier,
     * severity, category, or day in zone $4); every group of the fixed key
     * sets (tiers, severities, the days of the period) even when empty.
     * The rows are sorted by the group (percentile_disc needs a sorted
     * group aggregate), so the key columns are cheap to compare: the tier
     * number, text in the "C" collation, the day as a date; times are float8
     * seconds (date_part: numeric is several times slower to average and
     * sort).  Categories: most tickets first, then by code point.  Rates are
     * divided in C (null on a zero denominator). */
    [ESCP_S_REPORT_SLA] = {"report_sla",
        "WITH c AS (SELECT CASE WHEN $3::text = 'tier' THEN t.tier END AS tier, "
        "  CASE WHEN $3::text = 'severity' THEN t.severity END COLLATE \"C\" AS sev, "
        "  CASE WHEN $3::text = 'category' THEN t.category END COLLATE \"C\" AS cat, "
        "  CASE WHEN $3::text = 'day' THEN (t.created_at AT TIME ZONE $4::text)::date END AS day, "
        "  date_part('epoch', t.first_acknowledged_at - t.created_at) AS tta, "
        "  date_part('epoch', t.resolved_at - t.created_at) AS ttr, "
        "  t.closed_at IS NOT NULL AS closed, 'ack' = ANY (t.breaches) AS ab, "
        "  'resolve' = ANY (t.breaches) AS rb, t.sat_result "
        " FROM tickets t WHERE t.created_at >= $1::timestamptz AND t.created_at < $2::timestamptz), "
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
        "SELECT coalesce(k.key, g.key), coalesce(g.created, 0), coalesce(g.acknowledged, 0), "
        " coalesce(g.resolved, 0), coalesce(g.closed, 0), coalesce(g.ack_breaches, 0), "
        " coalesce(g.resolve_breaches, 0), g.mtta, g.mttr, g.p90, coalesce(g.in_sla, 0), "
        " coalesce(g.satisfied, 0), coalesce(g.rated, 0) "
        "FROM k FULL JOIN g ON g.key = k.key "
        "ORDER BY CASE WHEN $3::text = 'category' THEN -g.created ELSE k.ord END, "
        " coalesce(k.key, g.key) COLLATE \"C\" NULLS LAST"},

    /* Inside a report's transaction: a plan for the actual period (a generic
     * plan assumes a narrow one: a serial index scan and a sort on disk, twice
     * as slow over a year), no JIT (compiling costs more than it saves on
     * these one-pass aggregates), and sorts in memory. */
    [ESCP_S_REPORT_SETTINGS] = {"report_settings",
        "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
        " set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"},

    /* A month ('YYYY-MM', or NULL: the current one) of the calendar's zone. */
    [ESCP_S_REPORT_MONTH] = {"report_month",
        "WITH z AS (SELECT coalesce((SELECT doc->>'timezone' FROM calendar), 'UTC') AS tz), "
        "m AS (SELECT (coalesce($1::text, to_char(now() AT TIME ZONE z.tz, 'YYYY-MM')) || '-01')::date "
        "  AS d, z.tz FROM z) "
        "SELECT to_char(d, 'YYYY-MM'), d::timestamp AT TIME ZONE tz, "
        " (d + interval '1 month') AT TIME ZONE tz, tz FROM m"},

    /* The monthly view over the tickets created in [$1, $2): one `total` row
     * (part 0), the $3 most frequent categories (part 1), every root cause
     * (part 2).  Columns: part, key, count, ack breaches, resolve breaches,
     * resolved, resolved within SLA, satisfied, rated. */
    [ESCP_S_REPORT_MONTHLY] = {"report_monthly",
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

    /* ---- the event feed (store_events.c; docs/api.md#get-v1events) ---- */
    [ESCP_S_EVENT_CURSOR] = {"event_cursor", "SELECT xid FROM events WHERE id = $1"},

    /* The events after ($1 xid, $2 id) in feed order, at most $3, each with
     * `settled`: its transaction is older than every transaction still
     * running (pg_snapshot_xmin), so no event can ever appear before it.
     * Settled rows come first (they have the smaller xids). */
    [ESCP_S_EVENT_FEED] = {"event_feed",
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin), "
        "f AS (SELECT * FROM events e WHERE (e.xid, e.id) > ($1::xid8, $2::bigint) "
        " ORDER BY e.xid, e.id LIMIT $3::int) "
        "SELECT f.id, f.type, f.at, f.actor_id, p.name, p.role, f.from_tier, f.to_tier, "
        " f.from_state, f.to_state, f.reason, f.body, f.data, f.ticket_id, f.xid, f.xid < h.xmin "
        "FROM f CROSS JOIN h LEFT JOIN principals p ON p.id = f.actor_id "
        "ORDER BY f.xid, f.id"},

    /* @reports-stmts (add report statements above this line) */
    /* GET /metrics: every figure read from the database, in one snapshot, as
     * rows (family, label, label, value).  Open tickets are counted through
     * the (state, tier) index; the rest are counts over small or indexed
     * tables (see docs/metrics.md for the cost). */
    [ESCP_S_METRICS] = {"metrics",
        "SELECT 'open' AS f, tier::text AS a, state AS b, count(*)::text AS v FROM tickets "
        " WHERE state IN ('awaiting_ack', 'acknowledged', 'waiting_customer', 'resolved') "
        " GROUP BY tier, state "
        "UNION ALL SELECT 'timer', kind, NULL, count(*)::text FROM timers GROUP BY kind "
        "UNION ALL SELECT 'overdue', NULL, NULL, "
        " greatest(0, coalesce(extract(epoch FROM now() - min(due_at)), 0))::float8::text FROM timers "
        "UNION ALL SELECT 'breach', kind, NULL, count(*)::text FROM breaches GROUP BY kind "
        "UNION ALL SELECT 'notification', status, NULL, count(*)::text FROM notifications GROUP BY status "
        "UNION ALL SELECT 'delivery', status, NULL, count(*)::text FROM deliveries GROUP BY status"},

    /* @events-metrics-stmts */
    /* ---- webhooks (store_webhooks.c, webhook.c; see migrations/003_webhooks.sql).
     * Lock order everywhere: webhook row, then notification row, then its
     * deliveries -- so a delete, a retry and two workers never deadlock. */
#define ESCP_WEBHOOK_COLS                                                                    \
    "w.id, w.url, array_to_json(w.event_types)::text, w.active, w.created_at, w.created_by, " \
    "p.name, w.deleted_at"
#define ESCP_TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    [ESCP_S_WEBHOOK_CREATE] = {"webhook_create",
        "WITH w AS (INSERT INTO webhooks (url, event_types, secret, created_by) "
        " VALUES ($1, $2::text[], $3, $4::bigint) RETURNING *) "
        "SELECT " ESCP_WEBHOOK_COLS " FROM w LEFT JOIN principals p ON p.id = w.created_by"},

    [ESCP_S_WEBHOOK_LIST] = {"webhook_list",
        "SELECT " ESCP_WEBHOOK_COLS " FROM webhooks w LEFT JOIN principals p ON p.id = w.created_by "
        "WHERE w.active ORDER BY w.id"},

    [ESCP_S_WEBHOOK_GET] = {"webhook_get",
        "SELECT " ESCP_WEBHOOK_COLS " FROM webhooks w LEFT JOIN principals p ON p.id = w.created_by "
        "WHERE w.id = $1::bigint"},

    /* Waits for a routing pass that holds the row FOR SHARE, so that the
     * cancel that follows (a new statement) sees every delivery it made. */
    [ESCP_S_WEBHOOK_DEACTIVATE] = {"webhook_deactivate",
        "UPDATE webhooks SET active = false, deleted_at = now() WHERE id = $1::bigint AND active "
        "RETURNING id"},

    /* Cancel the pending deliveries of a deleted webhook: lock their
     * notifications first (lock order), answer the notifications touched. */
    [ESCP_S_WEBHOOK_CANCEL] = {"webhook_cancel",
        "WITH l AS (SELECT n.id FROM notifications n WHERE n.id IN "
        "  (SELECT notification_id FROM deliveries WHERE webhook_id = $1::bigint AND status = 'pending') "
        "  ORDER BY n.id FOR UPDATE OF n), "
        "c AS (UPDATE deliveries d SET status = 'cancelled', next_attempt_at = now() FROM l "
        " WHERE d.notification_id = l.id AND d.webhook_id = $1::bigint AND d.status = 'pending' "
        " RETURNING d.notification_id) "
        "SELECT DISTINCT notification_id FROM c"},

    /* A notification's status from its deliveries: pending while any is,
     * else failed if any failed, else delivered if any was, else (all
     * cancelled) undeliverable.  Run after the deliveries changed, in a later
     * statement of the transaction that locked the notification. */
    [ESCP_S_NOTIFICATION_RECOMPUTE] = {"notification_recompute",
        "UPDATE notifications n SET "
        " status = CASE WHEN s.pending > 0 THEN 'pending' WHEN s.failed > 0 THEN 'failed' "
        "  WHEN s.delivered > 0 THEN 'delivered' ELSE 'undeliverable' END, "
        " attempts = s.attempts, next_attempt_at = coalesce(s.next_at, n.next_attempt_at), "
        " delivered_at = CASE WHEN s.pending = 0 AND s.failed = 0 AND s.delivered > 0 "
        "  THEN s.delivered_at END, "
        " last_error = s.last_error "
        "FROM (SELECT notification_id AS id, count(*) FILTER (WHERE status = 'pending') AS pending, "
        "  count(*) FILTER (WHERE status = 'failed') AS failed, "
        "  count(*) FILTER (WHERE status = 'delivered') AS delivered, "
        "  sum(attempts) AS attempts, min(next_attempt_at) FILTER (WHERE status = 'pending') AS next_at, "
        "  max(delivered_at) AS delivered_at, "
        "  (array_agg(last_error ORDER BY last_attempt_at DESC NULLS LAST) "
        "    FILTER (WHERE last_error IS NOT NULL))[1] AS last_error "
        " FROM deliveries WHERE notification_id = ANY ($1::bigint[]) GROUP BY notification_id) s "
        "WHERE n.id = s.id AND n.routed_at IS NOT NULL"},

    /* Newest first, with the deliveries of each. $6 = one id (or NULL). */
    [ESCP_S_NOTIFICATION_LIST] = {"notification_list",
        "SELECT n.id, n.ticket_id, n.type, n.audience, n.status, n.created_at, n.routed_at, "
        " n.delivered_at, n.attempts, n.last_error, n.payload::text, "
        " (SELECT coalesce(json_agg(json_build_object('id', d.id, 'webhook_id', d.webhook_id, "
        "   'url', w.url, 'status', d.status, 'attempts', d.attempts, "
        "   'next_attempt_at', CASE WHEN d.status = 'pending' THEN " ESCP_TS("d.next_attempt_at") " END, "
        "   'last_attempt_at', " ESCP_TS("d.last_attempt_at") ", 'last_status', d.last_status, "
        "   'last_error', d.last_error, 'delivered_at', " ESCP_TS("d.delivered_at") ") "
        "   ORDER BY d.created_at, d.webhook_id), '[]'::json)::text "
        "  FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.notification_id = n.id) "
        "FROM notifications n "
        "WHERE ($1::text IS NULL OR n.status = $1::text) AND ($2::text IS NULL OR n.type = $2::text) "
        " AND ($3::bigint IS NULL OR n.ticket_id = $3::bigint) AND ($4::bigint IS NULL OR n.id < $4::bigint) "
        " AND ($6::bigint IS NULL OR n.id = $6::bigint) "
        "ORDER BY n.id DESC LIMIT $5::int"},

    /* Retry a failed notification (its failed deliveries start a new round
     * of attempts, same delivery ids; those of deleted webhooks are
     * cancelled) or an undeliverable one (routed again to the webhooks active
     * now).  Answers the status it had; no row when there is no such
     * notification.  A failed one needs NOTIFICATION_RECOMPUTE after. */
    [ESCP_S_NOTIFICATION_RETRY] = {"notification_retry",
        "WITH n AS (SELECT id, status FROM notifications WHERE id = $1::bigint FOR UPDATE), "
        "r AS (UPDATE deliveries d SET status = CASE WHEN w.active THEN 'pending' ELSE 'cancelled' END, "
        "  attempts = CASE WHEN w.active THEN 0 ELSE d.attempts END, next_attempt_at = now() "
        " FROM n, webhooks w WHERE d.notification_id = n.id AND w.id = d.webhook_id "
        "  AND n.status = 'failed' AND d.status = 'failed'), "
        "u AS (UPDATE notifications x SET status = 'pending', next_attempt_at = now(), delivered_at = NULL, "
        "  routed_at = CASE WHEN n.status = 'undeliverable' THEN NULL ELSE x.routed_at END "
        " FROM n WHERE x.id = n.id AND n.status IN ('failed', 'undeliverable')) "
        "SELECT status FROM n"},

    /* The worker: make the deliveries of up to $1 new notifications, one per
     * active webhook that wants the type; none wants it: undeliverable.
     * FOR SHARE on the webhooks orders this against a concurrent delete. */
    [ESCP_S_WEBHOOK_ROUTE] = {"webhook_route",
        "WITH n AS (SELECT id, type FROM notifications WHERE status = 'pending' AND routed_at IS NULL "
        "  ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED), "
        "w AS (SELECT id, event_types FROM webhooks WHERE active FOR SHARE), "
        "d AS (INSERT INTO deliveries (notification_id, webhook_id) "
        " SELECT n.id, w.id FROM n JOIN w ON n.type = ANY (w.event_types) "
        " ON CONFLICT (notification_id, webhook_id) DO NOTHING), "
        "u AS (UPDATE notifications x SET routed_at = now(), next_attempt_at = now(), "
        "  status = CASE WHEN EXISTS (SELECT 1 FROM w WHERE n.type = ANY (w.event_types)) "
        "   THEN 'pending' ELSE 'undeliverable' END "
        " FROM n WHERE x.id = n.id RETURNING x.status) "
        "SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM u"},

    /* Claim up to $1 due deliveries: attempts + 1 (the lease's fencing token)
     * and a lease of $2 seconds, committed before any HTTP is sent.  SKIP
     * LOCKED and the lease keep two daemons from sending one delivery at once;
     * a lease that runs out (a daemon died mid-attempt) makes it due again. */
    [ESCP_S_DELIVERY_CLAIM] = {"delivery_claim",
        "WITH c AS (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() "
        "  ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE SKIP LOCKED), "
        "u AS (UPDATE deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(), "
        "  next_attempt_at = now() + make_interval(secs => $2::float8) "
        " FROM c WHERE d.id = c.id RETURNING d.id, d.attempts, d.notification_id, d.webhook_id) "
        "SELECT u.id, u.attempts, n.id, n.type, n.ticket_id, n.payload::text, n.created_at, w.id, "
        " w.url, w.secret, floor(extract(epoch FROM now()))::bigint "
        "FROM u JOIN notifications n ON n.id = u.notification_id JOIN webhooks w ON w.id = u.webhook_id"},

    /* Delivered ($1 id, $2 attempts as claimed, $3 HTTP status, $4
     * notification): only if the lease is still ours; the `notified` event
     * in the same transaction.  Answers 1 row when recorded. */
    [ESCP_S_DELIVERY_DONE] = {"delivery_done",
        "WITH l AS (SELECT id, ticket_id, type, audience FROM notifications WHERE id = $4::bigint FOR UPDATE), "
        "d AS (UPDATE deliveries x SET status = 'delivered', delivered_at = now(), "
        "  next_attempt_at = now(), last_status = $3::int "
        " FROM l WHERE x.id = $1::uuid AND x.notification_id = l.id AND x.attempts = $2::int "
        "  AND x.status = 'pending' RETURNING x.id, x.webhook_id, x.attempts), "
        "e AS (INSERT INTO events (ticket_id, type, data) "
        " SELECT l.ticket_id, 'notified', jsonb_build_object('notification', l.type, "
        "  'notification_id', l.id, 'audience', l.audience, 'via', 'webhook', "
        "  'webhook_id', d.webhook_id, 'delivery_id', d.id, 'attempts', d.attempts) FROM d, l) "
        "SELECT 1 FROM d"},

    /* An attempt failed ($3 HTTP status or NULL, $4 error): back off by $6
     * seconds, or fail for good once $5 attempts were made.  Same lease check.
     * Answers the new status when recorded. */
    [ESCP_S_DELIVERY_FAIL] = {"delivery_fail",
        "WITH l AS (SELECT id FROM notifications WHERE id = $7::bigint FOR UPDATE) "
        "UPDATE deliveries x SET last_status = $3::int, last_error = $4, "
        " status = CASE WHEN x.attempts >= $5::int THEN 'failed' ELSE 'pending' END, "
        " next_attempt_at = CASE WHEN x.attempts >= $5::int THEN now() "
        "  ELSE now() + make_interval(secs => $6::float8) END "
        "FROM l WHERE x.id = $1::uuid AND x.notification_id = l.id AND x.attempts = $2::int "
        " AND x.status = 'pending' RETURNING x.status"},

    /* Is there routing to do; seconds until the next delivery is due. */
    [ESCP_S_WEBHOOK_NEXT] = {"webhook_next",
        "SELECT EXISTS (SELECT 1 FROM notifications WHERE status = 'pending' AND routed_at IS NULL), "
        " extract(epoch FROM (SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending') - now())"},
#undef ESCP_TS
#undef ESCP_WEBHOOK_COLS

    /* @webhooks-stmts */

    /* The dashboard (store_dashboard.c).  Open tickets by tier and state:
     * every tier x open state, zero-filled; an index-only scan of
     * tickets_state_tier.  now() is the transaction's clock, shared by the
     * three statements.  Also the start of the page's event feed. */
    [ESCP_S_DASH_OPEN] = {"dash_open",
        "WITH c AS (SELECT tier, state, count(*) AS n FROM tickets "
        " WHERE state = ANY ($1::text[]) GROUP BY tier, state) "
        "SELECT tr.tier, st.state, coalesce(c.n, 0), now(), "
        /* where the page's event feed starts: the $2-th latest event */
        " (SELECT id FROM events ORDER BY id DESC OFFSET $2::int - 1 LIMIT 1) "
        "FROM (VALUES (1::smallint), (2::smallint), (3::smallint)) AS tr(tier) "
        "CROSS JOIN unnest($1::text[]) WITH ORDINALITY AS st(state, ord) "
        "LEFT JOIN c ON c.tier = tr.tier AND c.state = st.state "
        "ORDER BY tr.tier, st.ord"},

    /* Tickets with a live ack/resolve/callback deadline in (now, now + $1 s]:
     * the live timers (timers_due), each ticket once at its earliest
     * deadline; the count of all of them and the first $2. */
    [ESCP_S_DASH_AT_RISK] = {"dash_at_risk",
        "WITH d AS (SELECT ticket_id, min(due_at) AS due_at, "
        "  (array_agg(kind ORDER BY due_at, kind))[1] AS kind FROM timers "
        " WHERE kind <> 'warn' AND due_at > now() "
        "  AND due_at <= now() + make_interval(secs => $1::int) GROUP BY ticket_id) "
        "SELECT (SELECT count(*) FROM d), t.id, t.subject, t.tier, t.state, t.severity, "
        " t.category, d.kind, d.due_at, t.assignee_id, a.name "
        "FROM d JOIN tickets t ON t.id = d.ticket_id LEFT JOIN principals a ON a.id = t.assignee_id "
        "ORDER BY d.due_at, t.id LIMIT $2::int"},

    /* Breaches per local day (the calendar's time zone) over the last $1
     * days, today included, zero-filled, oldest first; by detected_at, as
     * GET /v1/breaches filters.  breaches_kind_detected, index only. */
    [ESCP_S_DASH_BREACH_DAYS] = {"dash_breach_days",
        "WITH r AS (SELECT z.tz, (now() AT TIME ZONE z.tz)::date - ($1::int - 1) AS first_day, "
        "  (now() AT TIME ZONE z.tz)::date AS last_day "
        " FROM (SELECT coalesce((SELECT doc->>'timezone' FROM calendar LIMIT 1), 'UTC') AS tz) z), "
        "b AS (SELECT (x.detected_at AT TIME ZONE (SELECT tz FROM r))::date AS day, x.kind, count(*) AS n "
        " FROM breaches x WHERE x.kind = ANY ('{ack,resolve,callback}'::text[]) "
        "  AND x.detected_at >= (SELECT first_day::timestamp AT TIME ZONE tz FROM r) GROUP BY 1, 2) "
        "SELECT to_char(g.day, 'YYYY-MM-DD'), "
        " coalesce(sum(b.n) FILTER (WHERE b.kind = 'ack'), 0), "
        " coalesce(sum(b.n) FILTER (WHERE b.kind = 'resolve'), 0), "
        " coalesce(sum(b.n) FILTER (WHERE b.kind = 'callback'), 0), r.tz "
        "FROM r CROSS JOIN LATERAL generate_series(r.first_day::timestamp, r.last_day::timestamp, interval '1 day') AS g(day) "
        "LEFT JOIN b ON b.day = g.day::date GROUP BY g.day, r.tz ORDER BY g.day"},
};

struct esc_store {
    char *conninfo;
    int size;
    struct escp_conn *conns;
    int leased;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double last_failure; /* escp_mono_now() of the last failed connect, 0 = none: throttles reconnects */
    int statement_timeout_ms; /* of connections made from now on; 0 = the server's */
};

void esc_store_set_statement_timeout(struct esc_store *s, int ms)
{
    pthread_mutex_lock(&s->mu);
    s->statement_timeout_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&s->mu);
}

static void notice_quiet(void *arg, const PGresult *res) { (void)arg; (void)res; }

/* statement_timeout of the SLA engine's and the webhook worker's own
 * connections: their statements work in batches of at most a few thousand
 * rows and take well under a second; the bound only ends one stuck on a lock. */
#define WORKER_STATEMENT_TIMEOUT_MS 60000

/* statement_timeout_ms: 0 leaves the server's setting (migrations, keys). */
static PGconn *connect_db(const char *conninfo, int statement_timeout_ms, esc_error_t *err)
{
    /* The session speaks UTC in ISO format: timestamps parse the same everywhere.
     * The statement timeout rides in the startup packet: no extra round trip. */
    char options[160] = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601";
    if (statement_timeout_ms > 0)
        snprintf(options + strlen(options), sizeof options - strlen(options),
                 " -c statement_timeout=%d", statement_timeout_ms);
    const char *keys[] = {"dbname", "options", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo && *conninfo ? conninfo : NULL, options, "escalated", "5", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        char msg[256];
        esc_log_escape(pg ? PQerrorMessage(pg) : "out of memory", msg, sizeof msg);
        log_warn("database connection failed: %s", msg);
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg, notice_quiet, NULL);
    return pg;
}

static int prepare_all(PGconn *pg, esc_error_t *err)
{
    for (int i = 0; i < ESCP_S__COUNT; i++) {
        PGresult *res = PQprepare(pg, stmts[i].name, stmts[i].sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            escp_map_error(pg, res, stmts[i].name, err);
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    return 0;
}

struct esc_store *esc_store_new(const char *conninfo, int size, esc_error_t *err)
{
    if (size < 1 || size > 256) {
        esc_error_set(err, ESC_ERR_VALIDATION, "pool_size", "the pool size must be 1..256");
        return NULL;
    }
    struct esc_store *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->conninfo = strdup(conninfo ? conninfo : "");
    s->conns = calloc((size_t)size, sizeof *s->conns);
    if (!s->conninfo || !s->conns)
        goto oom;
    s->size = size;
    for (int i = 0; i < size; i++)
        s->conns[i].index = i;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
oom:
    if (s) {
        free(s->conninfo);
        free(s->conns);
        free(s);
    }
    esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    return NULL;
}

void esc_store_free(struct esc_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->size; i++)
        PQfinish(s->conns[i].pg);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->conns);
    free(s->conninfo);
    free(s);
}

struct escp_conn *escp_conn_open(const char *conninfo, esc_error_t *err)
{
    struct escp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->index = -1;
    c->pg = connect_db(conninfo, WORKER_STATEMENT_TIMEOUT_MS, err);
    if (!c->pg || prepare_all(c->pg, err) != 0) {
        escp_conn_close(c);
        return NULL;
    }
    return c;
}

struct escp_conn *escp_conn_open_stmts(const char *conninfo, const enum escp_stmt *which, int n,
                                       esc_error_t *err)
{
    struct escp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->index = -1;
    c->pg = connect_db(conninfo, WORKER_STATEMENT_TIMEOUT_MS, err);
    for (int i = 0; c->pg && i < n; i++) {
        PGresult *res = PQprepare(c->pg, stmts[which[i]].name, stmts[which[i]].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            escp_map_error(c->pg, res, stmts[which[i]].name, err);
        PQclear(res);
        if (!ok) {
            escp_conn_close(c);
            return NULL;
        }
    }
    if (!c->pg) {
        escp_conn_close(c);
        return NULL;
    }
    return c;
}

void escp_conn_close(struct escp_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

int escp_conn_ok(struct escp_conn *c) { return c && c->pg && PQstatus(c->pg) == CONNECTION_OK; }

struct escp_conn *escp_lease(struct esc_store *s, esc_error_t *err)
{
    return escp_lease_wait(s, 10000, err);
}

struct escp_conn *escp_lease_wait(struct esc_store *s, int wait_ms, esc_error_t *err)
{
    struct escp_conn *c = NULL;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long long ns = deadline.tv_nsec + (long long)(wait_ms > 0 ? wait_ms : 0) * 1000000LL;
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);

    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* prefer a slot that is already connected */
        for (int i = 0; i < s->size && !c; i++)
            if (!s->conns[i].in_use && s->conns[i].pg && PQstatus(s->conns[i].pg) == CONNECTION_OK)
                c = &s->conns[i];
        for (int i = 0; i < s->size && !c; i++)
            if (!s->conns[i].in_use)
                c = &s->conns[i];
        if (c)
            break;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0) {
            pthread_mutex_unlock(&s->mu);
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the server is busy; try again");
            return NULL;
        }
    }
    c->in_use = 1;
    s->leased++;
    int needs_connect = !c->pg || PQstatus(c->pg) != CONNECTION_OK;
    int throttled = needs_connect && s->last_failure > 0 && escp_mono_now() - s->last_failure < 0.2;
    int statement_timeout_ms = s->statement_timeout_ms;
    pthread_mutex_unlock(&s->mu);

    if (throttled) {
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        escp_release(s, c);
        return NULL;
    }
    if (needs_connect) {
        PQfinish(c->pg);
        c->pg = connect_db(s->conninfo, statement_timeout_ms, err);
        if (c->pg && prepare_all(c->pg, err) != 0) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        if (!c->pg) {
            pthread_mutex_lock(&s->mu);
            s->last_failure = escp_mono_now();
            pthread_mutex_unlock(&s->mu);
            escp_release(s, c);
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        s->last_failure = 0;
        pthread_mutex_unlock(&s->mu);
    }
    return c;
}

void escp_release(struct esc_store *s, struct escp_conn *c)
{
    if (!c)
        return;
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        escp_rollback(c);
    pthread_mutex_lock(&s->mu);
    c->in_use = 0;
    s->leased--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void escp_pool_usage(struct esc_store *s, int *leased, int *size)
{
    pthread_mutex_lock(&s->mu);
    *leased = s->leased;
    *size = s->size;
    pthread_mutex_unlock(&s->mu);
}

static int simple(struct escp_conn *c, const char *sql, esc_error_t *err)
{
    PGresult *res = PQexec(c->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        escp_map_error(c->pg, res, sql, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int escp_begin(struct escp_conn *c, esc_error_t *err) { return simple(c, "BEGIN", err); }
int escp_commit(struct escp_conn *c, esc_error_t *err) { return simple(c, "COMMIT", err); }
void escp_rollback(struct escp_conn *c)
{
    PGresult *res = PQexec(c->pg, "ROLLBACK");
    PQclear(res);
}

void escp_map_error(PGconn *pg, const PGresult *res, const char *what, esc_error_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char msg[512];
    esc_log_escape(res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                        : PQerrorMessage(pg),
                   msg, sizeof msg);

    if (PQstatus(pg) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0) {
        log_warn("database unavailable during %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        return;
    }
    if (strcmp(state, "23505") == 0) {
        if (constraint && strstr(constraint, "external_ref")) {
            esc_error_set(err, ESC_ERR_CONFLICT, "external_ref",
                          "a ticket with this external_ref already exists");
            return;
        }
        log_warn("unique violation in %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_CONFLICT, NULL, "the request conflicts with existing data");
        return;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        log_warn("transaction conflict in %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "a concurrent change interfered; try again");
        return;
    }
    if (strncmp(state, "22", 2) == 0) {
        log_warn("data exception in %s: %s", what, msg);
        esc_error_set(err, ESC_ERR_VALIDATION, NULL, "a value is out of range");
        return;
    }
    log_error("database error in %s: %s", what, msg);
    esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
}

PGresult *escp_exec(struct escp_conn *c, enum escp_stmt s, int nparams,
                    const char *const *values, esc_error_t *err)
{
    PGresult *res = PQexecPrepared(c->pg, stmts[s].name, nparams, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    escp_map_error(c->pg, res, stmts[s].name, err);
    PQclear(res);
    return NULL;
}

const char *escp_val(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* ---- migrations ---- */

static PGresult *exec_params(PGconn *pg, const char *sql, int n, const char *const *v)
{
    return PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
}

static int ok_result(PGconn *pg, PGresult *res, const char *what, esc_error_t *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    escp_map_error(pg, res, what, err);
    return -1;
}

int esc_store_migrate(const char *conninfo, int *applied, esc_error_t *err)
{
    int rc = -1, count = 0;
    PGresult *res = NULL;
    PGconn *pg = connect_db(conninfo, 0, err);
    if (!pg)
        return -1;

    /* One migrator at a time, across processes: a session-level advisory lock. */
    res = PQexec(pg, "SELECT pg_advisory_lock(7302355519420615681)");
    if (ok_result(pg, res, "migration lock", err))
        goto out;
    PQclear(res);
    res = PQexec(pg, "CREATE TABLE IF NOT EXISTS escalated_migrations ("
                     " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    if (ok_result(pg, res, "migration table", err))
        goto out;

    for (const struct escp_migration *m = escp_migrations; m->name; m++) {
        PQclear(res);
        const char *v[1] = {m->name};
        res = exec_params(pg, "SELECT 1 FROM escalated_migrations WHERE name = $1", 1, v);
        if (ok_result(pg, res, "migration check", err))
            goto out;
        if (PQntuples(res) > 0)
            continue;
        PQclear(res);
        res = PQexec(pg, "BEGIN");
        if (ok_result(pg, res, "migration begin", err))
            goto out;
        PQclear(res);
        res = PQexec(pg, m->sql);
        if (ok_result(pg, res, m->name, err)) {
            char msg[256];
            esc_log_escape(PQresultErrorMessage(res), msg, sizeof msg);
            log_error("migration %s failed: %s", m->name, msg);
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
        PQclear(res);
        res = exec_params(pg, "INSERT INTO escalated_migrations (name) VALUES ($1)", 1, v);
        if (ok_result(pg, res, "migration record", err)) {
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
        PQclear(res);
        res = PQexec(pg, "COMMIT");
        if (ok_result(pg, res, "migration commit", err))
            goto out;
        log_info("applied migration %s", m->name);
        count++;
    }
    rc = 0;
out:
    PQclear(res);
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(7302355519420615681)"));
    PQfinish(pg);
    if (applied)
        *applied = count;
    return rc;
}

int esc_store_ready(struct esc_store *s, esc_error_t *err)
{
    int rc = -1;
    struct escp_conn *c = escp_lease(s, err);
    if (!c)
        return -1;
    PGresult *res = PQexec(c->pg, "SELECT name FROM escalated_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        escp_map_error(c->pg, res, "readiness", err);
        if (err && err->code != ESC_ERR_UNAVAILABLE) {
            esc_error_clear(err);
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the schema is not migrated");
        }
        goto out;
    }
    for (const struct escp_migration *m = escp_migrations; m->name; m++) {
        int found = 0;
        for (int i = 0; i < PQntuples(res) && !found; i++)
            found = strcmp(PQgetvalue(res, i, 0), m->name) == 0;
        if (!found) {
            esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "migration %s is not applied", m->name);
            goto out;
        }
    }
    rc = 0;
out:
    PQclear(res);
    escp_release(s, c);
    return rc;
}

char *esc_store_key_create(const char *conninfo, const char *name, enum esc_role role,
                           enum esc_tier tier, int64_t *id_out, esc_error_t *err)
{
    char *token = NULL;
    PGresult *res = NULL;
    PGconn *pg = connect_db(conninfo, 0, err);
    if (!pg)
        return NULL;
    token = escp_token_new(err);
    if (!token)
        goto out;
    char hash[65], tierbuf[4];
    escp_token_hash(token, hash);
    snprintf(tierbuf, sizeof tierbuf, "%d", (int)tier);
    const char *v[4] = {name, esc_role_name(role), role == ESC_ROLE_AGENT ? tierbuf : NULL, hash};
    res = exec_params(pg, "INSERT INTO principals (name, role, tier, token_hash) "
                          "VALUES ($1, $2, $3::smallint, $4) RETURNING id", 4, v);
    if (ok_result(pg, res, "key create", err)) {
        free(token);
        token = NULL;
        goto out;
    }
    if (id_out)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
out:
    PQclear(res);
    PQfinish(pg);
    return token;
}
