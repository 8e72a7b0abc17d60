/* store_tickets.c — tickets, their history, the claim queue and lists:
 * the statements and the functions that run them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

/* What every statement that answers a ticket selects (read by ticket_cols),
 * from tickets `t` joined to principals `a` (the assignee).  The customer
 * comes in the masked forms stored beside the sealed values (migration 006),
 * so no read needs the data key. */
#define TICKET_COLS                                                                             \
    "t.id, t.tier, t.state, t.severity, t.channel, t.category, t.subject, t.description, "     \
    "t.customer_name_masked AS customer_name, t.customer_phone_masked AS customer_phone, "     \
    "t.customer_email_masked AS customer_email, "                                              \
    "t.customer_id_number_masked AS customer_id_number, "                                      \
    "t.customer_bank_card_masked AS customer_bank_card, "                                      \
    "t.external_ref, t.assignee_id, a.name AS assignee_name, t.root_cause, t.resolution, "     \
    "t.sat_result, t.sat_score, t.sat_feedback, t.created_at, t.acknowledged_at, "             \
    "t.resolved_at, t.closed_at, t.ack_due_at, t.resolve_due_at, t.callback_due_at, "          \
    "t.breaches, t.version, t.promised_at, t.promise_solution, t.promise_tier, t.promise_by, "   \
    "t.problem_id, t.waiting_on_problem"
#define TICKET_FROM "FROM tickets t LEFT JOIN principals a ON a.id = t.assignee_id "

/* The state names ('awaiting_ack', ...) and timer kinds ('ack', ...) written
 * out below are the model's (core/model.h), which the pool checks against
 * the schema's CHECK constraints (store.c, "vocabulary"). */
enum {
    S_TICKET_CREATE,
    S_TICKET_BY_IDEMPOTENCY,
    S_TICKET_GET,
    S_TICKET_LOCK,
    S_TICKET_APPLY,
    S_EVENT_ADD,
    S_CALENDAR,
    S_CLAIM,
    S_TICKET_LIST,
    S_TICKET_EVENTS,
    S_TICKET_EXISTS,
    S_CUSTOMER_REVEAL,
    S_TICKET_NEXT_ID,
    S_EVENT_NEXT_ID,
    S_TEXT_PENDING,
    S_TEXT_STORE,
    S_CUSTOMER_PENDING,
    S_CUSTOMER_STORE,
    S_TICKET_QUEUE,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    /* One round trip: the ticket, its `created` event and its three timers
     * (the kinds a create starts, each due at its column's time).  $15 is
     * the id drawn beforehand when there is customer data to seal (the
     * seals are bound to it), else NULL; $6..$9, $16..$24 the stored
     * customer (escp_customer_stored); $25 the sealed free-text findings
     * (migration 008), subject/description/category being masked already.
     *
     * Verification by recurrence (migration 013, docs/problems.md): `pm` is
     * the verifying problem whose signature the complaint matches: same
     * category (as stored), inside its window, and, when it has keywords,
     * any of them in the subject or description (as stored, masked; case
     * folded by lower()).  Several match: the one verified longest (oldest
     * verify_started_at, then id), and only that one.  It is one probe of
     * the partial index problems_verifying, and locked (FOR NO KEY UPDATE,
     * as every change of a problem: store_problems.c), so two recurring
     * complaints cannot both reopen it: the second waits, finds the
     * problem no longer verifying, and is not linked.  A match links the
     * ticket, reopens the problem (`recurrence` in its history), tells its
     * owner (a `problem_recurred` notification) and adds `problem_linked` to
     * the ticket's history; the writes join `t`, so a replayed
     * Idempotency-Key writes nothing. */
    [S_TICKET_CREATE] = {"ticket_create",
        "WITH p AS (SELECT ack_seconds, resolve_seconds, warn_ratio FROM policies WHERE severity = $1), "
        "pm AS (SELECT x.id, x.verify_until FROM problems x WHERE x.state = 'verifying' "
        "  AND x.category = $3 AND x.verify_until > now() "
        "  AND (cardinality(x.signature_keywords) = 0 OR EXISTS (SELECT 1 "
        "   FROM unnest(x.signature_keywords) AS kw(k) WHERE strpos(lower(coalesce($4, '') "
        "    || E'\\n' || coalesce($5, '')), lower(kw.k)) > 0)) "
        " ORDER BY x.verify_started_at, x.id LIMIT 1 FOR NO KEY UPDATE OF x), "
        "t AS (INSERT INTO tickets (id, tier, state, severity, channel, category, subject, "
        "  description, customer_name_sealed, customer_phone_sealed, customer_email_sealed, "
        "  customer_id_number_sealed, external_ref, "
        "  created_by, idempotency_key, request_hash, ack_due_at, resolve_started_at, "
        "  resolve_due_at, warn_due_at, customer_bank_card_sealed, customer_name_masked, "
        "  customer_phone_masked, customer_email_masked, customer_id_number_masked, "
        "  customer_bank_card_masked, customer_phone_bi, customer_id_number_bi, "
        "  customer_key_version, pii_sealed, text_scanned, problem_id) "
        " SELECT coalesce($15::bigint, nextval('tickets_id_seq')), 1, 'awaiting_ack', "
        "  $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
        "  now() + make_interval(secs => p.ack_seconds), now(), "
        "  now() + make_interval(secs => p.resolve_seconds), "
        "  now() + make_interval(secs => p.resolve_seconds * p.warn_ratio), "
        "  $16, $17, $18, $19, $20, $21, $22, $23, $24::int, $25, true, (SELECT id FROM pm) FROM p "
        " ON CONFLICT (created_by, idempotency_key) DO NOTHING RETURNING *), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, to_tier, to_state) "
        " SELECT id, 'created', $11, 1, 'awaiting_ack' FROM t RETURNING ticket_id), "
        /* the recurrence: the problem back to open, its history, its owner told */
        "pu AS (UPDATE problems x SET state = 'open', recurrences = x.recurrences + 1, "
        "  reopened_count = x.reopened_count + 1, verify_started_at = NULL, verify_until = NULL, "
        "  version = x.version + 1, updated_at = now() "
        " FROM pm, t WHERE x.id = pm.id "
        " RETURNING x.id, x.owner_id, x.recurrences, pm.verify_until, t.id AS ticket_id), "
        "pe AS (INSERT INTO problem_events (problem_id, type, from_state, to_state, data) "
        " SELECT pu.id, 'recurrence', 'verifying', 'open', jsonb_build_object('ticket_id', "
        "  pu.ticket_id, 'recurrences', pu.recurrences, 'verify_until', pu.verify_until) "
        " FROM pu RETURNING problem_id), "
        "pn AS (INSERT INTO notifications (problem_id, type, audience, payload) "
        " SELECT pu.id, 'problem_recurred', 'owner', jsonb_build_object('type', 'problem_recurred', "
        "  'problem_id', pu.id, 'ticket_id', pu.ticket_id, 'owner_id', pu.owner_id, "
        "  'category', $3::text, 'recurrences', pu.recurrences, 'at', now()) "
        " FROM pu RETURNING id, problem_id), "
        "pne AS (INSERT INTO problem_events (problem_id, type, data) "
        " SELECT pn.problem_id, 'notified', jsonb_build_object('notification', 'problem_recurred', "
        "  'notification_id', pn.id, 'audience', 'owner') "
        " FROM pn JOIN pe ON pe.problem_id = pn.problem_id), " /* after `recurrence` */
        "te AS (INSERT INTO events (ticket_id, type, data) "
        " SELECT pu.ticket_id, 'problem_linked', jsonb_build_object('problem_id', pu.id, "
        "  'waiting_on_problem', false, 'via', 'recurrence') FROM pu JOIN e ON e.ticket_id = pu.ticket_id), " /* after `created` */
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
         * engines at commit; evaluated through `notified` below */
        "nf AS (SELECT pg_notify('" ESCP_TIMER_CHANNEL "', "
        "  to_char(least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) AT TIME ZONE 'UTC', "
        "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) FROM t "
        " WHERE least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) "
        "  < now() + make_interval(secs => $14::float8)) "
        "SELECT " TICKET_COLS ", least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) AS first_due, "
        " (SELECT count(*) FROM nf) AS notified FROM t LEFT JOIN principals a ON a.id = t.assignee_id"},

    [S_TICKET_BY_IDEMPOTENCY] = {"ticket_by_idempotency",
        "SELECT " TICKET_COLS ", t.request_hash " TICKET_FROM
        "WHERE t.created_by = $1 AND t.idempotency_key = $2"},

    [S_TICKET_GET] = {"ticket_get",
        "SELECT " TICKET_COLS " " TICKET_FROM "WHERE t.id = $1"},

    /* The row lock, the database clock and the ticket's policy, together. */
    [S_TICKET_LOCK] = {"ticket_lock",
        "SELECT t.id, t.tier, t.state, t.severity, t.assignee_id, t.tier1_assignee_id, "
        " t.tier2_assignee_id, t.tier3_assignee_id, t.resolver_id, t.resolved_tier, "
        " t.acknowledged_at, t.resolved_at, t.closed_at, t.ack_due_at, t.resolve_due_at, "
        " t.warn_due_at, t.callback_due_at, t.resolve_started_at, t.paused_at, "
        " t.resolve_left_us, t.warn_left_us, t.paused_total_us, t.resolve_fired, t.warn_fired, "
        " t.version, now() AS db_now, p.ack_seconds, p.resolve_seconds, p.warn_ratio, "
        " p.callback_business_days, "
        /* a timer of the ticket already due: the service fires it first */
        " EXISTS (SELECT 1 FROM timers tm WHERE tm.ticket_id = t.id AND tm.due_at <= now() "
        "  AND tm.kind <> 'ladder') AS timer_due "
        "FROM tickets t JOIN policies p ON p.severity = t.severity "
        "WHERE t.id = $1 FOR UPDATE OF t"},

    /* Write the decided state back, append the event, apply the timer ops
     * ($39 the kinds stopped, $40/$41 the kinds set and their due times;
     * $42 the event's id when drawn first for its sealed findings $43;
     * $44 whether the promise changes, to $45..$48, issue 10). */
    [S_TICKET_APPLY] = {"ticket_apply",
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
        "  promised_at = CASE WHEN $44::bool THEN $45::timestamptz ELSE promised_at END, "
        "  promise_solution = CASE WHEN $44::bool THEN $46 ELSE promise_solution END, "
        "  promise_by = CASE WHEN $44::bool THEN $47::bigint ELSE promise_by END, "
        "  promise_tier = CASE WHEN $44::bool THEN $48::smallint ELSE promise_tier END, "
        "  version = version + 1, updated_at = now() "
        " WHERE id = $1 RETURNING *), "
        "e AS (INSERT INTO events (id, ticket_id, type, actor_id, from_tier, to_tier, from_state, "
        "  to_state, reason, data, pii_sealed) "
        " SELECT coalesce($42::bigint, nextval('events_id_seq')), id, $31, $32, $33, $34, $35, "
        "  $36, $37, $38::jsonb, $43 FROM u), "
        "d AS (DELETE FROM timers WHERE ticket_id = $1 AND kind = ANY ($39::text[])), "
        "i AS (INSERT INTO timers (ticket_id, kind, due_at) "
        " SELECT $1, x.k, x.d FROM unnest($40::text[], $41::timestamptz[]) AS x(k, d) "
        " ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at) "
        "SELECT " TICKET_COLS " FROM u t LEFT JOIN principals a ON a.id = t.assignee_id"},

    [S_EVENT_ADD] = {"event_add",
        "WITH e AS (INSERT INTO events (id, ticket_id, type, actor_id, reason, body, data, pii_sealed) "
        " VALUES (coalesce($7::bigint, nextval('events_id_seq')), $1, $2, $3, $4, $5, $6::jsonb, "
        "  $8) RETURNING *) "
        "SELECT e.id, e.type, e.at, e.actor_id, p.name AS actor_name, p.role AS actor_role, "
        " e.from_tier, e.to_tier, e.from_state, e.to_state, e.reason, e.body, e.data "
        "FROM e LEFT JOIN principals p ON p.id = e.actor_id"},

    [S_CALENDAR] = {"calendar", "SELECT doc::text AS doc FROM calendar"},

    /* Most urgent first: major before normal, then the earliest ack
     * deadline.  'awaiting_ack' is written out because the queue's partial
     * index (tickets_queue) is on that predicate, which a parameter could not
     * match in a generic plan; the ack timer stops as the ticket is taken.
     * A ticket whose ack timer is due and not yet fired is not taken: the
     * statement answers one row with no ticket and its id as overdue_id, and
     * the service fires the timer (fire_due_ticket) before trying again --
     * deleting it here would lose that breach. */
    [S_CLAIM] = {"claim",
        "WITH c AS (SELECT id, EXISTS (SELECT 1 FROM timers tm WHERE tm.ticket_id = tickets.id "
        "  AND tm.kind = 'ack' AND tm.due_at <= now()) AS overdue "
        " FROM tickets WHERE state = 'awaiting_ack' AND tier = $1::smallint "
        "  ORDER BY (severity = 'major') DESC, ack_due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), "
        "u AS (UPDATE tickets k SET state = 'acknowledged', assignee_id = $2, "
        "  tier1_assignee_id = CASE WHEN k.tier = 1 THEN $2 ELSE k.tier1_assignee_id END, "
        "  tier2_assignee_id = CASE WHEN k.tier = 2 THEN $2 ELSE k.tier2_assignee_id END, "
        "  tier3_assignee_id = CASE WHEN k.tier = 3 THEN $2 ELSE k.tier3_assignee_id END, "
        "  acknowledged_at = now(), ack_due_at = NULL, version = k.version + 1, updated_at = now() "
        " FROM c WHERE k.id = c.id AND NOT c.overdue RETURNING k.*), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, from_state, to_state, data) "
        " SELECT id, 'acknowledged', $2, 'awaiting_ack', 'acknowledged', '{\"via\": \"claim\"}' FROM u), "
        "d AS (DELETE FROM timers WHERE ticket_id IN (SELECT id FROM u) AND kind = 'ack') "
        "SELECT " TICKET_COLS ", (SELECT c.id FROM c WHERE c.overdue) AS overdue_id "
        "FROM (VALUES (1)) AS one (x) LEFT JOIN u t ON true LEFT JOIN principals a ON a.id = t.assignee_id"},

    [S_TICKET_LIST] = {"ticket_list",
        "SELECT " TICKET_COLS " " TICKET_FROM
        "WHERE ($1::smallint[] IS NULL OR t.tier = ANY ($1::smallint[])) "
        " AND ($2::text[] IS NULL OR t.state = ANY ($2::text[])) "
        " AND ($3::text[] IS NULL OR t.severity = ANY ($3::text[])) "
        " AND ($4::bigint IS NULL OR t.assignee_id = $4::bigint) "
        " AND ($5::text IS NULL OR $5::text = ANY (t.breaches)) "
        " AND ($6::timestamptz IS NULL OR "
        "      least(t.ack_due_at, t.resolve_due_at, t.callback_due_at) < $6::timestamptz) "
        " AND ($7::text IS NULL OR t.subject ILIKE $7::text OR t.description ILIKE $7::text) "
        " AND ($8::bigint IS NULL OR t.id < $8::bigint) "
        " AND ($10::text IS NULL OR t.customer_phone_bi = $10::text) "
        " AND ($11::text IS NULL OR t.customer_id_number_bi = $11::text) "
        "ORDER BY t.id DESC LIMIT $9::int"},

    /* A tier's queue in the order the claim takes it (S_CLAIM): major
     * first, then the earliest acknowledgement deadline, then the lowest id;
     * the claim queue's partial index serves it.  `queued` is how many wait
     * in all, whatever the limit. */
    [S_TICKET_QUEUE] = {"ticket_queue",
        "SELECT " TICKET_COLS ", count(*) OVER () AS queued " TICKET_FROM
        "WHERE t.state = 'awaiting_ack' AND t.tier = $1::smallint "
        "ORDER BY (t.severity = 'major') DESC, t.ack_due_at, t.id LIMIT $2::int"},

    [S_TICKET_EVENTS] = {"ticket_events",
        "SELECT e.id, e.type, e.at, e.actor_id, p.name AS actor_name, p.role AS actor_role, "
        " e.from_tier, e.to_tier, e.from_state, e.to_state, e.reason, e.body, e.data "
        "FROM events e LEFT JOIN principals p ON p.id = e.actor_id "
        "WHERE e.ticket_id = $1 ORDER BY e.id"},

    [S_TICKET_EXISTS] = {"ticket_exists", "SELECT 1 FROM tickets WHERE id = $1"},

    /* The sealed values (the service opens them) and the record of the
     * reveal, together.  An anonymised ticket (migration 010) has nothing
     * to reveal: no event, and anonymised_at tells the caller why. */
    [S_CUSTOMER_REVEAL] = {"customer_reveal",
        "WITH t AS (SELECT id, customer_name_sealed, customer_phone_sealed, customer_email_sealed, "
        "  customer_id_number_sealed, customer_bank_card_sealed, subject, description, category, "
        "  resolution, sat_feedback, pii_sealed, anonymised_at FROM tickets WHERE id = $1), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id) "
        " SELECT id, 'customer_revealed', $2 FROM t WHERE anonymised_at IS NULL) "
        "SELECT anonymised_at, id, customer_name_sealed, customer_phone_sealed, customer_email_sealed, "
        " customer_id_number_sealed, customer_bank_card_sealed, subject, description, category, "
        " resolution, sat_feedback AS feedback, pii_sealed, "
        /* the events whose texts had findings, with their stored (masked) texts */
        " (SELECT json_agg(json_build_object('id', x.id, 'pii_sealed', x.pii_sealed, "
        "   'reason', x.reason, 'body', x.body, 'resolution', x.data->>'resolution', "
        "   'feedback', x.data->'satisfaction'->>'feedback', "
        "   'solution', x.data->'plan'->>'solution') ORDER BY x.id) "
        "  FROM events x WHERE x.ticket_id = $1 AND x.pii_sealed IS NOT NULL)::text AS event_pii "
        "FROM t"},

    /* The id of a ticket about to be created, drawn first so that its
     * customer fields can be sealed bound to it. */
    [S_TICKET_NEXT_ID] = {"ticket_next_id", "SELECT nextval('tickets_id_seq') AS id"},
    /* The same for an event whose free-text findings are sealed bound to it. */
    [S_EVENT_NEXT_ID] = {"event_next_id", "SELECT nextval('events_id_seq') AS id"},

    /* A batch of rows whose customer needs sealing: still in clear (from
     * before migration 006, or written by a daemon of the release before),
     * or sealed with a data key version below $1 (a rotation).  Either
     * branch is one of the partial indexes of migration 006. */
    [S_CUSTOMER_PENDING] = {"customer_pending",
        "SELECT id, customer_name, customer_phone, customer_email, customer_id_number, "
        " customer_name_sealed, customer_phone_sealed, customer_email_sealed, "
        " customer_id_number_sealed, customer_bank_card_sealed, customer_key_version "
        "FROM tickets WHERE id IN ("
        " (SELECT id FROM tickets WHERE customer_name IS NOT NULL OR customer_phone IS NOT NULL "
        "   OR customer_email IS NOT NULL OR customer_id_number IS NOT NULL ORDER BY id LIMIT $2) "
        " UNION ALL "
        " (SELECT id FROM tickets WHERE customer_key_version IS NOT NULL "
        "   AND customer_key_version < $1::int ORDER BY customer_key_version, id LIMIT $2)) "
        "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"},

    /* A batch of tickets whose texts were never scanned (from before
     * migration 008, or from a daemon of the release before): the partial
     * index tickets_text_unscanned. */
    [S_TEXT_PENDING] = {"text_pending",
        "SELECT id, subject, description, category, resolution, sat_feedback FROM tickets "
        "WHERE NOT text_scanned ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"},
    /* One row's texts, masked, and their findings sealed. */
    [S_TEXT_STORE] = {"text_store",
        "UPDATE tickets SET subject = $2, description = $3, category = $4, resolution = $5, "
        " sat_feedback = $6, pii_sealed = $7, text_scanned = true WHERE id = $1"},

    /* One row's customer, sealed anew; the clear columns emptied. */
    [S_CUSTOMER_STORE] = {"customer_store",
        "UPDATE tickets SET customer_name = NULL, customer_phone = NULL, customer_email = NULL, "
        " customer_id_number = NULL, customer_name_sealed = $2, customer_phone_sealed = $3, "
        " customer_email_sealed = $4, customer_id_number_sealed = $5, "
        " customer_bank_card_sealed = $6, customer_name_masked = $7, customer_phone_masked = $8, "
        " customer_email_masked = $9, customer_id_number_masked = $10, "
        " customer_bank_card_masked = $11, customer_phone_bi = $12, customer_id_number_bi = $13, "
        " customer_key_version = $14::int WHERE id = $1"},
};

const struct escp_stmt_table escp_stmts_tickets = {stmts, S__COUNT};

/* "{ack,resolve}" -> ["ack", "resolve"] (kinds are plain words, never quoted) */
static json_t *text_array(const char *s)
{
    json_t *arr = json_array();
    if (!s || *s != '{')
        return arr;
    const char *p = s + 1;
    while (*p && *p != '}') {
        const char *end = p + strcspn(p, ",}");
        json_array_append_new(arr, json_stringn(p, (size_t)(end - p)));
        p = *end == ',' ? end + 1 : end;
    }
    return arr;
}

/* "2" -> "line-2"; NULL for NULL or a number that is no tier */
static const char *tier_name(const char *text)
{
    return text ? esc_tier_name((enum esc_tier)atoi(text)) : NULL;
}

/* ---- the ticket row ---- */

/* The column numbers of TICKET_COLS in a result, found by name. */
struct ticket_cols {
    int id, tier, state, severity, channel, category, subject, description, customer_name,
        customer_phone, customer_email, customer_id_number, customer_bank_card, external_ref,
        assignee_id,
        assignee_name, root_cause, resolution, sat_result, sat_score, sat_feedback, created_at,
        acknowledged_at, resolved_at, closed_at, ack_due_at, resolve_due_at, callback_due_at,
        breaches, version, promised_at, promise_solution, promise_tier, promise_by;
    int problem_id, waiting_on_problem; /* migration 012 */
};

static int ticket_cols(const PGresult *res, const char *what, struct ticket_cols *k,
                       esc_error_t *err)
{
    return escp_columns(res, what, err, ESCP_COL(k, id), ESCP_COL(k, tier), ESCP_COL(k, state),
                        ESCP_COL(k, severity), ESCP_COL(k, channel), ESCP_COL(k, category),
                        ESCP_COL(k, subject), ESCP_COL(k, description), ESCP_COL(k, customer_name),
                        ESCP_COL(k, customer_phone), ESCP_COL(k, customer_email),
                        ESCP_COL(k, customer_id_number), ESCP_COL(k, customer_bank_card),
                        ESCP_COL(k, external_ref),
                        ESCP_COL(k, assignee_id), ESCP_COL(k, assignee_name), ESCP_COL(k, root_cause),
                        ESCP_COL(k, resolution), ESCP_COL(k, sat_result), ESCP_COL(k, sat_score),
                        ESCP_COL(k, sat_feedback), ESCP_COL(k, created_at),
                        ESCP_COL(k, acknowledged_at), ESCP_COL(k, resolved_at),
                        ESCP_COL(k, closed_at), ESCP_COL(k, ack_due_at), ESCP_COL(k, resolve_due_at),
                        ESCP_COL(k, callback_due_at), ESCP_COL(k, breaches), ESCP_COL(k, version),
                        ESCP_COL(k, promised_at), ESCP_COL(k, promise_solution),
                        ESCP_COL(k, promise_tier), ESCP_COL(k, promise_by),
                        ESCP_COL(k, problem_id), ESCP_COL(k, waiting_on_problem), NULL);
}

/* Row -> ticket JSON (the customer as stored masked, the free text as
 * written; new reference, NULL when out of memory). */
static json_t *ticket_from_row(const PGresult *res, int row, const struct ticket_cols *k)
{
#define V(field) escp_val(res, row, k->field)
    json_t *assignee = NULL, *satisfaction = NULL, *plan = NULL; /* null unless set */
    if (V(assignee_id))
        assignee = json_pack("{s:I, s:s}", "id", (json_int_t)strtoll(V(assignee_id), NULL, 10),
                             "name", V(assignee_name) ? V(assignee_name) : "");
    if (V(sat_result))
        satisfaction = json_pack("{s:s, s:o, s:s?}", "result", V(sat_result),
                                 "score", escp_json_int(V(sat_score)), "feedback", V(sat_feedback));
    /* the promise in force (issue 10): the solution stated, the time it is
     * promised by, the tier and the agent who promised it */
    if (V(promised_at))
        plan = json_pack("{s:s?, s:o, s:s?, s:o}", "solution", V(promise_solution),
                         "promised_at", escp_json_time(V(promised_at)),
                         "tier", tier_name(V(promise_tier)), "by", escp_json_int(V(promise_by)));
    json_t *t = json_pack("{s:o, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?,"
                     " s:{s:s?, s:s?, s:s?, s:s?, s:s?}, s:s?, s:o?, s:s?, s:s?, s:o?,"
                     " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "id", escp_json_int(V(id)), "tier", tier_name(V(tier)), "state", V(state),
                     "severity", V(severity), "channel", V(channel), "category", V(category),
                     "subject", V(subject), "description", V(description),
                     "customer", "name", V(customer_name), "phone", V(customer_phone),
                     "email", V(customer_email), "id_number", V(customer_id_number),
                     "bank_card", V(customer_bank_card),
                     "external_ref", V(external_ref), "assignee", assignee,
                     "root_cause", V(root_cause), "resolution", V(resolution),
                     "satisfaction", satisfaction,
                     "created_at", escp_json_time(V(created_at)),
                     "acknowledged_at", escp_json_time(V(acknowledged_at)),
                     "resolved_at", escp_json_time(V(resolved_at)),
                     "closed_at", escp_json_time(V(closed_at)),
                     "ack_due_at", escp_json_time(V(ack_due_at)),
                     "resolve_due_at", escp_json_time(V(resolve_due_at)),
                     "callback_due_at", escp_json_time(V(callback_due_at)),
                     "breaches", text_array(V(breaches)), "version", escp_json_int(V(version)));
    if (t) {
        json_object_set_new(t, "plan", plan ? plan : json_null());
        /* the problem the complaint belongs to (migration 012), null when none */
        json_object_set_new(t, "problem_id", escp_json_int(V(problem_id)));
        json_object_set_new(t, "waiting_on_problem",
                            json_boolean(V(waiting_on_problem) && *V(waiting_on_problem) == 't'));
    } else {
        json_decref(plan);
    }
    return t;
#undef V
}

/* The first row of res as a ticket: ESC_ERR_NOT_FOUND when there is none. */
static json_t *first_ticket(const PGresult *res, const char *what, esc_error_t *err)
{
    struct ticket_cols k;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
        return NULL;
    }
    if (ticket_cols(res, what, &k, err) != 0)
        return NULL;
    json_t *t = ticket_from_row(res, 0, &k);
    if (!t)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    return t;
}

/* Run a statement that answers one ticket (or none: NOT_FOUND). */
static json_t *one_ticket(struct escp_conn *c, int s, int nparams, const char *const *v,
                          esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[s], nparams, v, err);
    if (!res)
        return NULL;
    json_t *t = first_ticket(res, stmts[s].name, err);
    PQclear(res);
    return t;
}

static int next_id(struct escp_conn *c, int which, int64_t *id, esc_error_t *err)
{
    int col, rc = -1;
    PGresult *res = escp_exec(c, &stmts[which], 0, NULL, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1 &&
        escp_columns(res, stmts[which].name, err, "id", &col, NULL) == 0) {
        *id = strtoll(PQgetvalue(res, 0, col), NULL, 10);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int escp_store_ticket_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err)
{
    return next_id(c, S_TICKET_NEXT_ID, id, err);
}

int escp_store_event_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err)
{
    return next_id(c, S_EVENT_NEXT_ID, id, err);
}

json_t *escp_store_ticket_create(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 const struct escp_customer_stored *cs, int64_t actor_id,
                                 int notify_within_ms, bool *replayed, esc_time_t *first_due,
                                 esc_error_t *err)
{
    char actor[24], window[24], idb[24], version[16];
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    snprintf(window, sizeof window, "%.3f", notify_within_ms > 0 ? notify_within_ms / 1000.0 : 0.0);
    static const struct escp_customer_stored none = {0};
    if (!cs)
        cs = &none;
    snprintf(idb, sizeof idb, "%" PRId64, cs->id);
    snprintf(version, sizeof version, "%u", cs->key_version);
    const char *v[25] = {nt->severity, nt->channel, nt->category, nt->subject, nt->description,
                         cs->sealed[ESCP_CUST_NAME], cs->sealed[ESCP_CUST_PHONE],
                         cs->sealed[ESCP_CUST_EMAIL], cs->sealed[ESCP_CUST_ID_NUMBER],
                         nt->external_ref, actor, nt->idempotency_key,
                         nt->idempotency_key ? nt->request_hash : NULL, window,
                         cs->id ? idb : NULL, cs->sealed[ESCP_CUST_BANK_CARD],
                         cs->masked[ESCP_CUST_NAME], cs->masked[ESCP_CUST_PHONE],
                         cs->masked[ESCP_CUST_EMAIL], cs->masked[ESCP_CUST_ID_NUMBER],
                         cs->masked[ESCP_CUST_BANK_CARD], cs->phone_bi, cs->id_number_bi,
                         cs->key_version ? version : NULL, nt->pii_sealed};
    json_t *t = NULL;
    int due_col;
    *replayed = false;
    *first_due = ESC_TIME_NULL;
    PGresult *res = escp_exec(c, &stmts[S_TICKET_CREATE], 25, v, err);
    if (!res)
        return NULL;
    if (PQntuples(res) == 1) {
        if (escp_columns(res, stmts[S_TICKET_CREATE].name, err, "first_due", &due_col, NULL) != 0)
            goto out;
        const char *due = escp_val(res, 0, due_col); /* least(ack, warn, resolve) */
        if (due && esc_time_parse(due, first_due) != 0)
            *first_due = ESC_TIME_NULL;
        t = first_ticket(res, stmts[S_TICKET_CREATE].name, err);
        goto out;
    }
    PQclear(res);
    /* The idempotency key was used before: same body -> the same ticket. */
    t = escp_store_ticket_replay(c, nt, actor_id, replayed, err);
    if (!t && err->code == ESC_OK)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    return t;
out:
    PQclear(res);
    return t;
}

json_t *escp_store_ticket_replay(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 int64_t actor_id, bool *replayed, esc_error_t *err)
{
    char actor[24];
    int hash_col;
    json_t *t = NULL;
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    *replayed = false;
    if (!nt->idempotency_key)
        return NULL;
    const char *k[2] = {actor, nt->idempotency_key};
    PGresult *res = escp_exec(c, &stmts[S_TICKET_BY_IDEMPOTENCY], 2, k, err);
    if (!res)
        return NULL;
    if (PQntuples(res) != 1) {
        /* none: err untouched */
    } else if (escp_columns(res, stmts[S_TICKET_BY_IDEMPOTENCY].name, err, "request_hash",
                            &hash_col, NULL) != 0) {
        /* err set */
    } else if (strcmp(PQgetvalue(res, 0, hash_col), nt->request_hash) != 0) {
        esc_error_set(err, ESC_ERR_IDEMPOTENCY_CONFLICT, "Idempotency-Key",
                      "this Idempotency-Key was used with a different request body");
    } else if ((t = first_ticket(res, stmts[S_TICKET_BY_IDEMPOTENCY].name, err)) != NULL) {
        *replayed = true;
    }
    PQclear(res);
    return t;
}

json_t *escp_store_ticket_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    return one_ticket(c, S_TICKET_GET, 1, v, err);
}

static esc_time_t time_col(const PGresult *res, int col)
{
    esc_time_t t = ESC_TIME_NULL;
    const char *s = escp_val(res, 0, col);
    if (s && esc_time_parse(s, &t) != 0)
        t = ESC_TIME_NULL;
    return t;
}

static int64_t int_col(const PGresult *res, int col, int64_t dflt)
{
    const char *s = escp_val(res, 0, col);
    return s ? strtoll(s, NULL, 10) : dflt;
}

int escp_store_ticket_lock(struct escp_conn *c, int64_t id, struct escp_ticket *t, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    struct {
        int id, tier, state, severity, assignee_id, tier1_assignee_id, tier2_assignee_id,
            tier3_assignee_id, resolver_id, resolved_tier, acknowledged_at, resolved_at, closed_at,
            ack_due_at, resolve_due_at, warn_due_at, callback_due_at, resolve_started_at, paused_at,
            resolve_left_us, warn_left_us, paused_total_us, resolve_fired, warn_fired, version,
            db_now, ack_seconds, resolve_seconds, warn_ratio, callback_business_days, timer_due;
    } col, *k = &col;
    int rc = -1;
    PGresult *res = escp_exec(c, &stmts[S_TICKET_LOCK], 1, v, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
        goto out;
    }
    if (escp_columns(res, stmts[S_TICKET_LOCK].name, err, ESCP_COL(k, id), ESCP_COL(k, tier),
                     ESCP_COL(k, state), ESCP_COL(k, severity), ESCP_COL(k, assignee_id),
                     ESCP_COL(k, tier1_assignee_id), ESCP_COL(k, tier2_assignee_id),
                     ESCP_COL(k, tier3_assignee_id), ESCP_COL(k, resolver_id),
                     ESCP_COL(k, resolved_tier), ESCP_COL(k, acknowledged_at),
                     ESCP_COL(k, resolved_at), ESCP_COL(k, closed_at), ESCP_COL(k, ack_due_at),
                     ESCP_COL(k, resolve_due_at), ESCP_COL(k, warn_due_at),
                     ESCP_COL(k, callback_due_at), ESCP_COL(k, resolve_started_at),
                     ESCP_COL(k, paused_at), ESCP_COL(k, resolve_left_us), ESCP_COL(k, warn_left_us),
                     ESCP_COL(k, paused_total_us), ESCP_COL(k, resolve_fired),
                     ESCP_COL(k, warn_fired), ESCP_COL(k, version), ESCP_COL(k, db_now),
                     ESCP_COL(k, ack_seconds), ESCP_COL(k, resolve_seconds), ESCP_COL(k, warn_ratio),
                     ESCP_COL(k, callback_business_days), ESCP_COL(k, timer_due), NULL) != 0)
        goto out;
    memset(t, 0, sizeof *t);
    t->id = int_col(res, k->id, 0);
    t->tier = (enum esc_tier)int_col(res, k->tier, 1);
    t->state = (enum esc_state)esc_state_from_name(PQgetvalue(res, 0, k->state));
    t->severity = (enum esc_severity)esc_severity_from_name(PQgetvalue(res, 0, k->severity));
    t->assignee_id = int_col(res, k->assignee_id, 0);
    t->tier_assignee[1] = int_col(res, k->tier1_assignee_id, 0);
    t->tier_assignee[2] = int_col(res, k->tier2_assignee_id, 0);
    t->tier_assignee[3] = int_col(res, k->tier3_assignee_id, 0);
    t->resolver_id = int_col(res, k->resolver_id, 0);
    t->resolved_tier = (int)int_col(res, k->resolved_tier, 0);
    t->acknowledged_at = time_col(res, k->acknowledged_at);
    t->resolved_at = time_col(res, k->resolved_at);
    t->closed_at = time_col(res, k->closed_at);
    t->ack_due_at = time_col(res, k->ack_due_at);
    t->resolve_due_at = time_col(res, k->resolve_due_at);
    t->warn_due_at = time_col(res, k->warn_due_at);
    t->callback_due_at = time_col(res, k->callback_due_at);
    t->resolve_started_at = time_col(res, k->resolve_started_at);
    t->paused_at = time_col(res, k->paused_at);
    t->resolve_left_us = int_col(res, k->resolve_left_us, ESC_TIME_NULL);
    t->warn_left_us = int_col(res, k->warn_left_us, ESC_TIME_NULL);
    t->paused_total_us = int_col(res, k->paused_total_us, 0);
    t->resolve_fired = PQgetvalue(res, 0, k->resolve_fired)[0] == 't';
    t->warn_fired = PQgetvalue(res, 0, k->warn_fired)[0] == 't';
    t->version = (int)int_col(res, k->version, 0);
    t->now = time_col(res, k->db_now);
    t->ack_seconds = int_col(res, k->ack_seconds, 600);
    t->resolve_seconds = int_col(res, k->resolve_seconds, 86400);
    t->warn_ratio = strtod(PQgetvalue(res, 0, k->warn_ratio), NULL);
    t->callback_days = (int)int_col(res, k->callback_business_days, 3);
    t->timer_due = PQgetvalue(res, 0, k->timer_due)[0] == 't';
    if ((int)t->state < 0 || t->now == ESC_TIME_NULL) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* Text forms of the values passed to the apply statement. */
struct vals {
    char buf[48][48];
    const char *v[48];
};

static const char *put_int(struct vals *x, int i, int64_t n, int64_t null_value)
{
    if (n == null_value)
        return x->v[i] = NULL;
    snprintf(x->buf[i], sizeof x->buf[i], "%" PRId64, n);
    return x->v[i] = x->buf[i];
}

static const char *put_time(struct vals *x, int i, esc_time_t t)
{
    if (t == ESC_TIME_NULL)
        return x->v[i] = NULL;
    escp_time_pg(t, x->buf[i], sizeof x->buf[i]);
    return x->v[i] = x->buf[i];
}

json_t *escp_store_ticket_apply(struct escp_conn *c, const struct escp_ticket *t,
                                const struct escp_event *ev, const struct escp_timer_ops *ops,
                                esc_error_t *err)
{
    struct vals x;
    memset(x.v, 0, sizeof x.v);
    char *data = ev->data ? json_dumps(ev->data, JSON_COMPACT) : NULL;
    /* the kinds by name (core/model.h): those stopped, those set and when */
    char stops[ESCP_NAMES_LEN] = "{", kinds[ESCP_NAMES_LEN] = "{";
    char dues[ESCP_TIMER__COUNT * 48 + 8] = "{";
    for (int k = 0; k < ESCP_TIMER__COUNT; k++) {
        if (ops->set[k] != ESC_TIME_NULL) {
            char tb[48];
            escp_time_pg(ops->set[k], tb, sizeof tb);
            if (kinds[1])
                strcat(kinds, ","), strcat(dues, ",");
            strcat(kinds, esc_timer_names[k]);
            strcat(dues, tb);
        } else if (ops->stop[k]) {
            if (stops[1])
                strcat(stops, ",");
            strcat(stops, esc_timer_names[k]);
        }
    }
    strcat(stops, "}"), strcat(kinds, "}"), strcat(dues, "}");

    put_int(&x, 0, t->id, 0);
    put_int(&x, 1, t->tier, 0);
    x.v[2] = esc_state_name(t->state);
    put_int(&x, 3, t->assignee_id, 0);
    for (int i = 1; i <= 3; i++)
        put_int(&x, 3 + i, t->tier_assignee[i], 0);
    put_int(&x, 7, t->resolver_id, 0);
    put_int(&x, 8, t->resolved_tier, 0);
    x.v[9] = t->set_resolution ? "true" : "false";
    x.v[10] = t->root_cause;
    x.v[11] = t->resolution;
    x.v[12] = t->set_satisfaction ? "true" : "false";
    x.v[13] = t->sat_result;
    put_int(&x, 14, t->sat_score, 0);
    x.v[15] = t->sat_feedback;
    put_time(&x, 16, t->acknowledged_at);
    put_time(&x, 17, t->resolved_at);
    put_time(&x, 18, t->closed_at);
    put_time(&x, 19, t->ack_due_at);
    put_time(&x, 20, t->resolve_due_at);
    put_time(&x, 21, t->warn_due_at);
    put_time(&x, 22, t->callback_due_at);
    put_time(&x, 23, t->resolve_started_at);
    put_time(&x, 24, t->paused_at);
    put_int(&x, 25, t->resolve_left_us, ESC_TIME_NULL);
    put_int(&x, 26, t->warn_left_us, ESC_TIME_NULL);
    put_int(&x, 27, t->paused_total_us, ESC_TIME_NULL);
    x.v[28] = t->resolve_fired ? "true" : "false";
    x.v[29] = t->warn_fired ? "true" : "false";
    x.v[30] = ev->type;
    put_int(&x, 31, ev->actor_id, 0);
    put_int(&x, 32, ev->from_tier, 0);
    put_int(&x, 33, ev->to_tier, 0);
    x.v[34] = ev->from_state;
    x.v[35] = ev->to_state;
    x.v[36] = ev->reason;
    x.v[37] = data;
    x.v[38] = stops;
    x.v[39] = kinds;
    x.v[40] = dues;
    put_int(&x, 41, ev->id, 0);
    x.v[42] = ev->pii_sealed;
    x.v[43] = t->set_promise ? "true" : "false";
    put_time(&x, 44, t->promised_at);
    x.v[45] = t->promise_solution;
    put_int(&x, 46, t->promise_by, 0);
    put_int(&x, 47, t->promise_tier, 0);
    json_t *out = one_ticket(c, S_TICKET_APPLY, 48, x.v, err);
    free(data);
    return out;
}

/* ---- the event row (also the feed's, store_events.c) ---- */

int escp_event_cols(const PGresult *res, const char *what, struct escp_event_cols *k,
                    esc_error_t *err)
{
    return escp_columns(res, what, err, ESCP_COL(k, id), ESCP_COL(k, type), ESCP_COL(k, at),
                        ESCP_COL(k, actor_id), ESCP_COL(k, actor_name), ESCP_COL(k, actor_role),
                        ESCP_COL(k, from_tier), ESCP_COL(k, to_tier), ESCP_COL(k, from_state),
                        ESCP_COL(k, to_state), ESCP_COL(k, reason), ESCP_COL(k, body),
                        ESCP_COL(k, data), NULL);
}

json_t *escp_event_from_row(const PGresult *res, int row, const struct escp_event_cols *k)
{
#define V(field) escp_val(res, row, k->field)
    json_t *actor = NULL; /* null for the system */
    if (V(actor_id))
        actor = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)strtoll(V(actor_id), NULL, 10),
                          "name", V(actor_name) ? V(actor_name) : "",
                          "role", V(actor_role) ? V(actor_role) : "");
    /* the tiers, states, reason and body only where the event has them */
    json_t *e = json_pack("{s:o, s:s?, s:o, s:o?, s:s*, s:s*, s:s*, s:s*, s:s*, s:s*}",
                          "id", escp_json_int(V(id)), "type", V(type), "at", escp_json_time(V(at)),
                          "actor", actor, "from_tier", tier_name(V(from_tier)),
                          "to_tier", tier_name(V(to_tier)), "from_state", V(from_state),
                          "to_state", V(to_state), "reason", V(reason), "body", V(body));
    if (e && V(data)) {
        /* the event's extra fields, never over the ones above */
        json_t *d = json_loads(V(data), 0, NULL);
        if (json_is_object(d)) {
            const char *key;
            json_t *val;
            json_object_foreach(d, key, val) {
                if (!json_object_get(e, key))
                    json_object_set(e, key, val);
            }
        }
        json_decref(d);
    }
    return e;
#undef V
}

/* Every row of res as an event, appended to items. */
static int events_into(const PGresult *res, const char *what, json_t *items, esc_error_t *err)
{
    struct escp_event_cols k;
    if (escp_event_cols(res, what, &k, err) != 0)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items, escp_event_from_row(res, i, &k));
    return 0;
}

json_t *escp_store_event_add(struct escp_conn *c, int64_t ticket_id, const struct escp_event *ev,
                             esc_error_t *err)
{
    char idb[24], actor[24], evid[24];
    snprintf(idb, sizeof idb, "%" PRId64, ticket_id);
    snprintf(actor, sizeof actor, "%" PRId64, ev->actor_id);
    snprintf(evid, sizeof evid, "%" PRId64, ev->id);
    char *data = ev->data ? json_dumps(ev->data, JSON_COMPACT) : NULL;
    const char *v[8] = {idb, ev->type, ev->actor_id ? actor : NULL, ev->reason, ev->body, data,
                        ev->id ? evid : NULL, ev->pii_sealed};
    PGresult *res = escp_exec(c, &stmts[S_EVENT_ADD], 8, v, err);
    free(data);
    if (!res)
        return NULL;
    struct escp_event_cols k;
    json_t *e = NULL;
    if (PQntuples(res) == 1 && escp_event_cols(res, stmts[S_EVENT_ADD].name, &k, err) == 0)
        e = escp_event_from_row(res, 0, &k);
    if (!e)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    PQclear(res);
    return e;
}

json_t *escp_store_calendar(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[S_CALENDAR], 0, NULL, err);
    int doc_col;
    if (!res)
        return NULL;
    json_t *doc = NULL;
    if (escp_columns(res, stmts[S_CALENDAR].name, err, "doc", &doc_col, NULL) != 0)
        goto out;
    if (PQntuples(res) == 1)
        doc = json_loads(PQgetvalue(res, 0, doc_col), 0, NULL);
    if (!doc)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the business calendar is missing");
out:
    PQclear(res);
    return doc;
}

json_t *escp_store_claim(struct escp_conn *c, enum esc_tier tier, int64_t actor_id, int64_t *overdue_id,
                         esc_error_t *err)
{
    char tb[8], actor[24];
    snprintf(tb, sizeof tb, "%d", (int)tier);
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[2] = {tb, actor};
    *overdue_id = 0;
    PGresult *res = escp_exec(c, &stmts[S_CLAIM], 2, v, err);
    if (!res)
        return NULL;
    json_t *t = NULL;
    int id_col, overdue_col;
    if (escp_columns(res, stmts[S_CLAIM].name, err, "id", &id_col, "overdue_id", &overdue_col, NULL) != 0 ||
        PQntuples(res) != 1) {
        if (err->code == ESC_OK)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    } else if (!PQgetisnull(res, 0, id_col)) {
        t = first_ticket(res, stmts[S_CLAIM].name, err);
    } else if (!PQgetisnull(res, 0, overdue_col)) {
        *overdue_id = strtoll(PQgetvalue(res, 0, overdue_col), NULL, 10);
    }
    /* otherwise an empty queue, which is no error: NULL with err untouched */
    PQclear(res);
    return t;
}

json_t *escp_store_ticket_list(struct escp_conn *c, const struct escp_list_filter *f, esc_error_t *err)
{
    char assignee[24], before[24], limit[16];
    snprintf(assignee, sizeof assignee, "%" PRId64, f->assignee);
    snprintf(before, sizeof before, "%" PRId64, f->before_id);
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    const char *v[11] = {f->tiers, f->states, f->severities, f->assignee ? assignee : NULL,
                         f->breached, f->due_before, f->q_pattern,
                         f->before_id ? before : NULL, limit,
                         f->phone_bi[0] ? f->phone_bi : NULL,
                         f->id_number_bi[0] ? f->id_number_bi : NULL};
    struct ticket_cols k;
    PGresult *res = escp_exec(c, &stmts[S_TICKET_LIST], 11, v, err);
    if (!res)
        return NULL;
    json_t *arr = NULL;
    if (ticket_cols(res, stmts[S_TICKET_LIST].name, &k, err) == 0) {
        arr = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(arr, ticket_from_row(res, i, &k));
    }
    PQclear(res);
    return arr;
}

json_t *escp_store_ticket_queue(struct escp_conn *c, enum esc_tier tier, int limit, long *queued,
                                esc_error_t *err)
{
    char tb[8], lim[16];
    snprintf(tb, sizeof tb, "%d", (int)tier);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[2] = {tb, lim};
    struct ticket_cols k;
    int q;
    PGresult *res = escp_exec(c, &stmts[S_TICKET_QUEUE], 2, v, err);
    if (!res)
        return NULL;
    json_t *arr = NULL;
    *queued = 0;
    if (ticket_cols(res, stmts[S_TICKET_QUEUE].name, &k, err) == 0 &&
        escp_columns(res, stmts[S_TICKET_QUEUE].name, err, "queued", &q, NULL) == 0) {
        arr = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(arr, ticket_from_row(res, i, &k));
        if (PQntuples(res) > 0)
            *queued = strtol(PQgetvalue(res, 0, q), NULL, 10);
    }
    PQclear(res);
    return arr;
}

json_t *escp_store_ticket_events(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    PGresult *res = escp_exec(c, &stmts[S_TICKET_EVENTS], 1, v, err);
    if (!res)
        return NULL;
    if (PQntuples(res) == 0) { /* every ticket has its `created` event */
        PQclear(res);
        res = escp_exec(c, &stmts[S_TICKET_EXISTS], 1, v, err);
        if (!res)
            return NULL;
        int exists = PQntuples(res) > 0;
        PQclear(res);
        if (!exists) {
            esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
            return NULL;
        }
        return json_pack("{s:[]}", "items");
    }
    json_t *items = json_array();
    if (events_into(res, stmts[S_TICKET_EVENTS].name, items, err) != 0) {
        json_decref(items);
        items = NULL;
    }
    PQclear(res);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

json_t *escp_store_customer_reveal(struct escp_conn *c, int64_t id, int64_t actor_id, esc_error_t *err)
{
    char idb[24], actor[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[2] = {idb, actor};
    struct {
        int customer_name_sealed, customer_phone_sealed, customer_email_sealed,
            customer_id_number_sealed, customer_bank_card_sealed, subject, description, category,
            resolution, feedback, pii_sealed, event_pii, anonymised_at;
    } col, *k = &col;
    PGresult *res = escp_exec(c, &stmts[S_CUSTOMER_REVEAL], 2, v, err);
    if (!res)
        return NULL;
    json_t *out = NULL;
    if (PQntuples(res) != 1)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
    else if (escp_columns(res, stmts[S_CUSTOMER_REVEAL].name, err, ESCP_COL(k, anonymised_at),
                          NULL) == 0 && escp_val(res, 0, k->anonymised_at))
        esc_error_set(err, ESC_ERR_GONE, NULL,
                      "the customer's personal data of this ticket was anonymised at %s "
                      "(retention); the ticket and its history remain",
                      escp_val(res, 0, k->anonymised_at));
    else if (escp_columns(res, stmts[S_CUSTOMER_REVEAL].name, err,
                          ESCP_COL(k, customer_name_sealed), ESCP_COL(k, customer_phone_sealed),
                          ESCP_COL(k, customer_email_sealed), ESCP_COL(k, customer_id_number_sealed),
                          ESCP_COL(k, customer_bank_card_sealed), ESCP_COL(k, subject),
                          ESCP_COL(k, description), ESCP_COL(k, category), ESCP_COL(k, resolution),
                          ESCP_COL(k, feedback), ESCP_COL(k, pii_sealed),
                          ESCP_COL(k, event_pii), NULL) == 0) {
        const char *ep = escp_val(res, 0, k->event_pii);
        json_t *events = ep ? json_loads(ep, 0, NULL) : json_array();
        out = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, "
                        "s:o?}",
                        "ticket_id", (json_int_t)id,
                        "name", escp_val(res, 0, k->customer_name_sealed),
                        "phone", escp_val(res, 0, k->customer_phone_sealed),
                        "email", escp_val(res, 0, k->customer_email_sealed),
                        "id_number", escp_val(res, 0, k->customer_id_number_sealed),
                        "bank_card", escp_val(res, 0, k->customer_bank_card_sealed),
                        "subject", escp_val(res, 0, k->subject),
                        "description", escp_val(res, 0, k->description),
                        "category", escp_val(res, 0, k->category),
                        "resolution", escp_val(res, 0, k->resolution),
                        "feedback", escp_val(res, 0, k->feedback),
                        "pii_sealed", escp_val(res, 0, k->pii_sealed), "event_pii", events);
        if (!out)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
    PQclear(res);
    return out;
}

static char *dup_val(const PGresult *res, int row, int col)
{
    const char *v = escp_val(res, row, col);
    return v ? strdup(v) : NULL;
}

void escp_customer_rows_free(struct escp_customer_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
        for (int f = 0; f < ESCP_CUST__COUNT; f++) {
            free(rows[i].clear[f]);
            free(rows[i].sealed[f]);
        }
    }
    free(rows);
}

int escp_store_customer_pending(struct escp_conn *c, unsigned below_version, int batch,
                                struct escp_customer_row **rows, int *n, esc_error_t *err)
{
    char version[16], limit[16];
    snprintf(version, sizeof version, "%u", below_version);
    snprintf(limit, sizeof limit, "%d", batch);
    const char *v[2] = {version, limit};
    struct {
        int id, customer_name, customer_phone, customer_email, customer_id_number,
            customer_name_sealed, customer_phone_sealed, customer_email_sealed,
            customer_id_number_sealed, customer_bank_card_sealed, customer_key_version;
    } col, *k = &col;
    int rc = -1;
    *rows = NULL;
    *n = 0;
    PGresult *res = escp_exec(c, &stmts[S_CUSTOMER_PENDING], 2, v, err);
    if (!res)
        return -1;
    if (escp_columns(res, stmts[S_CUSTOMER_PENDING].name, err, ESCP_COL(k, id),
                     ESCP_COL(k, customer_name), ESCP_COL(k, customer_phone),
                     ESCP_COL(k, customer_email), ESCP_COL(k, customer_id_number),
                     ESCP_COL(k, customer_name_sealed), ESCP_COL(k, customer_phone_sealed),
                     ESCP_COL(k, customer_email_sealed), ESCP_COL(k, customer_id_number_sealed),
                     ESCP_COL(k, customer_bank_card_sealed), ESCP_COL(k, customer_key_version),
                     NULL) != 0)
        goto out;
    int count = PQntuples(res);
    struct escp_customer_row *r = calloc(count ? (size_t)count : 1, sizeof *r);
    if (!r) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < count; i++) {
        const int clear[] = {k->customer_name, k->customer_phone, k->customer_email,
                             k->customer_id_number, -1};
        const int sealed[] = {k->customer_name_sealed, k->customer_phone_sealed,
                              k->customer_email_sealed, k->customer_id_number_sealed,
                              k->customer_bank_card_sealed};
        r[i].id = strtoll(PQgetvalue(res, i, k->id), NULL, 10);
        const char *kv = escp_val(res, i, k->customer_key_version);
        r[i].version = kv ? (unsigned)strtoul(kv, NULL, 10) : 0;
        for (int f = 0; f < ESCP_CUST__COUNT; f++) {
            r[i].clear[f] = clear[f] >= 0 ? dup_val(res, i, clear[f]) : NULL;
            r[i].sealed[f] = dup_val(res, i, sealed[f]);
        }
    }
    *rows = r;
    *n = count;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

int escp_store_customer_store(struct escp_conn *c, const struct escp_customer_stored *cs,
                              esc_error_t *err)
{
    char idb[24], version[16];
    snprintf(idb, sizeof idb, "%" PRId64, cs->id);
    snprintf(version, sizeof version, "%u", cs->key_version);
    const char *v[14] = {idb, cs->sealed[ESCP_CUST_NAME], cs->sealed[ESCP_CUST_PHONE],
                         cs->sealed[ESCP_CUST_EMAIL], cs->sealed[ESCP_CUST_ID_NUMBER],
                         cs->sealed[ESCP_CUST_BANK_CARD], cs->masked[ESCP_CUST_NAME],
                         cs->masked[ESCP_CUST_PHONE], cs->masked[ESCP_CUST_EMAIL],
                         cs->masked[ESCP_CUST_ID_NUMBER], cs->masked[ESCP_CUST_BANK_CARD],
                         cs->phone_bi, cs->id_number_bi, cs->key_version ? version : NULL};
    PGresult *res = escp_exec(c, &stmts[S_CUSTOMER_STORE], 14, v, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* ---- texts from before migration 008 ---- */

void escp_text_rows_free(struct escp_text_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++)
        for (int f = 0; f < ESCP_TEXT__COUNT; f++)
            free(rows[i].text[f]);
    free(rows);
}

int escp_store_text_pending(struct escp_conn *c, int batch, struct escp_text_row **rows, int *n,
                            esc_error_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", batch);
    const char *v[1] = {lim};
    struct {
        int id, subject, description, category, resolution, sat_feedback;
    } col, *k = &col;
    int rc = -1;
    *rows = NULL;
    *n = 0;
    PGresult *res = escp_exec(c, &stmts[S_TEXT_PENDING], 1, v, err);
    if (!res)
        return -1;
    if (escp_columns(res, stmts[S_TEXT_PENDING].name, err, ESCP_COL(k, id), ESCP_COL(k, subject),
                     ESCP_COL(k, description), ESCP_COL(k, category), ESCP_COL(k, resolution),
                     ESCP_COL(k, sat_feedback), NULL) != 0)
        goto out;
    int count = PQntuples(res);
    struct escp_text_row *r = calloc(count ? (size_t)count : 1, sizeof *r);
    if (!r) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    const int cols[ESCP_TEXT__COUNT] = {k->subject, k->description, k->category, k->resolution,
                                        k->sat_feedback};
    for (int i = 0; i < count; i++) {
        r[i].id = strtoll(PQgetvalue(res, i, k->id), NULL, 10);
        for (int f = 0; f < ESCP_TEXT__COUNT; f++) {
            const char *val = escp_val(res, i, cols[f]);
            if (val && !(r[i].text[f] = strdup(val))) {
                escp_text_rows_free(r, count);
                esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
                goto out;
            }
        }
    }
    *rows = r;
    *n = count;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

int escp_store_text_store(struct escp_conn *c, int64_t id, const char *const text[ESCP_TEXT__COUNT],
                          const char *pii_sealed, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[7] = {idb, text[0], text[1], text[2], text[3], text[4], pii_sealed};
    PGresult *res = escp_exec(c, &stmts[S_TEXT_STORE], 7, v, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}
