/* store_alerts.c — channels, escalation ladders, the alert outbox and the
 * one-click acknowledgement links (migrations/014_channels.sql;
 * docs/channels.md).  Each statement answers its rows as one JSON document
 * per row (`doc`), so the readers stay short.
 *
 * Lock order: channel row, then its messages -- the worker's pass, a delete
 * and a test message never deadlock. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A channel as the API shows it (never `sealed`), from channels `c`. */
#define CHANNEL_DOC                                                                                  \
    "json_build_object('id', c.id, 'name', c.name, 'kind', c.kind, 'language', c.language, "          \
    " 'event_types', to_json(c.event_types), "                                                      \
    " 'tiers', (SELECT coalesce(json_agg('line-' || x ORDER BY x), '[]') FROM unnest(c.tiers) x), "  \
    " 'target', c.target, 'config', c.config, "                                                      \
    " 'rate_limit', json_build_object('count', c.rate_count, 'seconds', c.rate_seconds), "           \
    " 'block_seconds', c.block_seconds, 'digest_after', c.digest_after, "                            \
    " 'fallback_channel_id', c.fallback_id, 'active', c.active, "                                    \
    " 'blocked_until', " TS("c.blocked_until") ", "                                                   \
    " 'pending', (SELECT count(*) FROM channel_messages m WHERE m.channel_id = c.id "                 \
    "   AND m.status = 'pending'), "                                                                 \
    " 'created_at', " TS("c.created_at") ", 'created_by', c.created_by, "                             \
    " 'deleted_at', " TS("c.deleted_at") ")::text AS doc"

#define MESSAGE_DOC                                                                                   \
    "json_build_object('id', m.id, 'channel_id', m.channel_id, 'ticket_id', m.ticket_id, "            \
    " 'source', m.source, 'notification_id', m.notification_id, 'recipients', to_json(m.recipients), " \
    " 'facts', m.facts, 'status', m.status, 'attempts', m.attempts, "                                 \
    " 'next_attempt_at', CASE WHEN m.status = 'pending' THEN " TS("m.next_attempt_at") " END, "        \
    " 'folded_into', m.folded_into, 'fallback_of', m.fallback_of, 'hops', m.hops, "                  \
    " 'created_at', " TS("m.created_at") ", 'last_attempt_at', " TS("m.last_attempt_at") ", "          \
    " 'delivered_at', " TS("m.delivered_at") ", 'last_error', m.last_error)::text AS doc"

enum {
    S_CHANNEL_NEXT_ID,
    S_CHANNEL_CREATE,
    S_CHANNEL_LIST,
    S_CHANNEL_GET,
    S_CHANNEL_DELETE,
    S_CHANNEL_MESSAGES,
    S_CHANNEL_TEST,
    S_LADDER_LIST,
    S_LADDER_PUT,
    S_LADDER_DELETE,
    S_LADDER_CHANNELS_OK,
    S_ALERT_CHANNELS,
    S_ALERT_PENDING,
    S_ALERT_CLAIM,
    S_ALERT_FOLD,
    S_ALERT_RESERVE,
    S_ALERT_DEFER,
    S_ALERT_FALLBACK,
    S_ALERT_DONE,
    S_ALERT_FAIL,
    S_ALERT_BLOCK,
    S_ALERT_NEXT,
    S_ALERT_PEOPLE,
    S_ACK_LINK_USE,
    S_ACK_LINK_TICKET,
    S_ALERT_HOLD,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    [S_CHANNEL_NEXT_ID] = {"channel_next_id", "SELECT nextval('channels_id_seq') AS id"},

    /* $1 id (drawn first: the sealed secret is bound to it) ... */
    [S_CHANNEL_CREATE] = {"channel_create",
        "WITH c AS (INSERT INTO channels (id, name, kind, language, event_types, tiers, target, sealed, "
        "  config, rate_count, rate_seconds, block_seconds, digest_after, fallback_id, created_by) "
        " VALUES ($1::bigint, $2, $3, $4, $5::text[], $6::smallint[], $7, $8, $9::jsonb, $10::int, "
        "  $11::int, $12::int, $13::int, $14::bigint, $15::bigint) RETURNING *) "
        "SELECT " CHANNEL_DOC " FROM c"},

    [S_CHANNEL_LIST] = {"channel_list",
        "SELECT " CHANNEL_DOC " FROM channels c WHERE c.active ORDER BY c.id"},

    [S_CHANNEL_GET] = {"channel_get",
        "SELECT " CHANNEL_DOC " FROM channels c WHERE c.id = $1::bigint"},

    /* Deactivate; its pending messages go to its fallback channel when it
     * has an active one (an alert is not lost because a channel was
     * removed), else they are cancelled.  Ladders naming it keep their
     * steps: a step on a deleted channel sends nothing (docs/channels.md). */
    [S_CHANNEL_DELETE] = {"channel_delete",
        "WITH c AS (UPDATE channels SET active = false, deleted_at = now() "
        "  WHERE id = $1::bigint AND active RETURNING id, fallback_id), "
        "p AS (SELECT m.* FROM channel_messages m, c WHERE m.channel_id = c.id AND m.status = 'pending' "
        "  FOR UPDATE OF m), "
        "f AS (INSERT INTO channel_messages (channel_id, ticket_id, source, notification_id, recipients, "
        "  facts, fallback_of, hops) "
        " SELECT c.fallback_id, p.ticket_id, 'fallback', p.notification_id, p.recipients, p.facts, p.id, "
        "  p.hops + 1 FROM p, c JOIN channels fb ON fb.id = c.fallback_id AND fb.active WHERE p.hops < 3), "
        "u AS (UPDATE channel_messages m SET status = 'cancelled', next_attempt_at = now(), "
        "  last_error = 'the channel was deleted' FROM p WHERE m.id = p.id) "
        "SELECT count(*) AS deleted FROM c"},

    /* Newest first; $2 status or NULL; $3 before id or NULL; $4 limit. */
    [S_CHANNEL_MESSAGES] = {"channel_messages",
        "SELECT " MESSAGE_DOC " FROM channel_messages m WHERE m.channel_id = $1::bigint "
        " AND ($2::text IS NULL OR m.status = $2::text) AND ($3::bigint IS NULL OR m.id < $3::bigint) "
        "ORDER BY m.id DESC LIMIT $4::int"},

    [S_CHANNEL_TEST] = {"channel_test",
        "WITH c AS (SELECT id FROM channels WHERE id = $1::bigint AND active FOR SHARE), "
        "m AS (INSERT INTO channel_messages (channel_id, source, facts) "
        " SELECT c.id, 'test', jsonb_build_object('type', 'test', 'by', $2::text) FROM c RETURNING *) "
        "SELECT " MESSAGE_DOC " FROM m"},

    [S_LADDER_LIST] = {"ladder_list",
        "SELECT json_build_object('id', l.id, 'tier', 'line-' || l.tier, 'event', l.event, "
        " 'steps', l.steps, 'repeat', l.repeat, 'updated_at', " TS("l.updated_at") ", "
        " 'updated_by', l.updated_by)::text AS doc FROM ladders l ORDER BY l.tier, l.event"},

    [S_LADDER_PUT] = {"ladder_put",
        "INSERT INTO ladders (tier, event, steps, repeat, updated_by) "
        "VALUES ($1::smallint, $2, $3::jsonb, $4::int, $5::bigint) "
        "ON CONFLICT (tier, event) DO UPDATE SET steps = EXCLUDED.steps, repeat = EXCLUDED.repeat, "
        " updated_at = now(), updated_by = EXCLUDED.updated_by "
        "RETURNING json_build_object('id', id, 'tier', 'line-' || tier, 'event', event, 'steps', steps, "
        " 'repeat', repeat, 'updated_at', " TS("updated_at") ", 'updated_by', updated_by)::text AS doc"},

    /* Runs that climb it stop at their next step (their steps are a copy,
     * and ladder_id no longer names a ladder: kept as history). */
    [S_LADDER_DELETE] = {"ladder_delete",
        "WITH d AS (DELETE FROM ladders WHERE tier = $1::smallint AND event = $2 RETURNING id), "
        "r AS (UPDATE ladder_runs SET ended_at = now(), end_reason = 'replaced' "
        "  WHERE ladder_id IN (SELECT id FROM d) AND ended_at IS NULL RETURNING ticket_id), "
        "t AS (DELETE FROM timers WHERE kind = 'ladder' AND ticket_id IN (SELECT ticket_id FROM r)) "
        "SELECT count(*) AS deleted FROM d"},

    /* Which of the channel ids $1 are active, and which of the principal
     * ids $2 are active agents (their tiers). */
    [S_LADDER_CHANNELS_OK] = {"ladder_refs",
        "SELECT (SELECT coalesce(json_agg(id), '[]') FROM channels WHERE id = ANY ($1::bigint[]) "
        "  AND active)::text AS channels, "
        " (SELECT coalesce(json_agg(id), '[]') FROM principals WHERE id = ANY ($2::bigint[]) "
        "  AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))::text AS people"},

    /* ---- the worker ---- */

    /* Up to $1 channels with a message due, each locked for this pass (SKIP
     * LOCKED: another daemon's worker takes the others), with what the
     * limiter needs: sends still inside the window, seconds until the
     * oldest leaves it, seconds until a block ends. */
    [S_ALERT_CHANNELS] = {"alert_channels",
        "SELECT json_build_object('id', c.id, 'name', c.name, 'kind', c.kind, 'language', c.language, "
        " 'sealed', c.sealed, 'config', c.config, 'rate_count', c.rate_count, "
        " 'rate_seconds', c.rate_seconds, 'block_seconds', c.block_seconds, "
        " 'digest_after', c.digest_after, 'fallback_id', c.fallback_id, "
        " 'recent', (SELECT count(*) FROM unnest(c.sent_at) s "
        "   WHERE s > now() - make_interval(secs => c.rate_seconds)), "
        " 'window_free_s', coalesce(extract(epoch FROM (SELECT min(s) FROM unnest(c.sent_at) s "
        "   WHERE s > now() - make_interval(secs => c.rate_seconds)) "
        "   + make_interval(secs => c.rate_seconds) - now()), 0), "
        " 'blocked_s', greatest(coalesce(extract(epoch FROM c.blocked_until - now()), 0), 0))::text AS doc "
        "FROM channels c WHERE c.active AND EXISTS (SELECT 1 FROM channel_messages m "
        " WHERE m.channel_id = c.id AND m.status = 'pending' AND m.next_attempt_at <= now()) "
        "ORDER BY c.id LIMIT $1::int FOR UPDATE OF c SKIP LOCKED"},

    /* The channel's due messages, oldest first (at most $2). */
    [S_ALERT_PENDING] = {"alert_pending",
        "SELECT " MESSAGE_DOC " FROM channel_messages m WHERE m.channel_id = $1::bigint "
        " AND m.status = 'pending' AND m.next_attempt_at <= now() ORDER BY m.id LIMIT $2::int "
        "FOR UPDATE OF m SKIP LOCKED"},

    /* Claim messages $1: attempts + 1 (the lease's fencing token), leased
     * for $2 seconds; committed before anything is sent. */
    [S_ALERT_CLAIM] = {"alert_claim",
        "UPDATE channel_messages m SET attempts = m.attempts + 1, last_attempt_at = now(), "
        " next_attempt_at = now() + make_interval(secs => $2::float8) "
        "WHERE m.id = ANY ($1::bigint[]) AND m.status = 'pending' RETURNING " MESSAGE_DOC},

    /* Fold messages $1 of channel $2 into one digest (its facts: the first
     * ten items and the count), claimed as it is made. */
    [S_ALERT_FOLD] = {"alert_fold",
        "WITH f AS (SELECT id, facts, ticket_id FROM channel_messages WHERE id = ANY ($1::bigint[]) "
        "  AND status = 'pending'), "
        "d AS (INSERT INTO channel_messages (channel_id, source, facts, attempts, last_attempt_at, "
        "  next_attempt_at) "
        " SELECT $2::bigint, 'digest', jsonb_build_object('type', 'digest', 'folded', count(*), "
        "  'items', (SELECT jsonb_agg(facts ORDER BY id) FROM (SELECT id, facts FROM f ORDER BY id "
        "   LIMIT 10) x)), 1, now(), now() + make_interval(secs => $3::float8) FROM f "
        " HAVING count(*) > 0 RETURNING *), "
        "u AS (UPDATE channel_messages m SET status = 'folded', folded_into = d.id, next_attempt_at = now() "
        " FROM d, f WHERE m.id = f.id) "
        "SELECT " MESSAGE_DOC " FROM d m"},

    /* The limiter: $2 sends now, the ones that left the window dropped. */
    [S_ALERT_RESERVE] = {"alert_reserve",
        "UPDATE channels SET sent_at = ARRAY(SELECT s FROM unnest(sent_at) s "
        "  WHERE s > now() - make_interval(secs => rate_seconds) ORDER BY s) "
        " || array_fill(now(), ARRAY[$2::int]) WHERE id = $1::bigint"},

    /* Hold the channel's due messages until $2 seconds from now.  Also
     * those held by an earlier pass until about then (up to a second
     * later): each pass computes the instant from its own now() and a
     * rounded $2, and a message that came later must not fall due a
     * millisecond before those held already -- it would jump the queue and
     * go out alone, ahead of the digest of the older ones. */
    [S_ALERT_DEFER] = {"alert_defer",
        "UPDATE channel_messages SET next_attempt_at = now() + make_interval(secs => $2::float8) "
        "WHERE channel_id = $1::bigint AND status = 'pending' AND next_attempt_at <= now() "
        " + make_interval(secs => $2::float8) + interval '1 second'"},

    /* Messages $1 go to channel $2's fallback: a copy there (when it has an
     * active one and the message has hopped fewer than 3 times), and the
     * original ends `failed` with reason $3.  Answers the copies made. */
    [S_ALERT_FALLBACK] = {"alert_fallback",
        "WITH src AS (SELECT fallback_id FROM channels WHERE id = $2::bigint), "
        "p AS (SELECT m.* FROM channel_messages m WHERE m.id = ANY ($1::bigint[]) AND m.status = 'pending'), "
        "f AS (INSERT INTO channel_messages (channel_id, ticket_id, source, notification_id, recipients, "
        "  facts, fallback_of, hops) "
        " SELECT src.fallback_id, p.ticket_id, 'fallback', p.notification_id, p.recipients, p.facts, "
        "  p.id, p.hops + 1 FROM p, src JOIN channels fb ON fb.id = src.fallback_id AND fb.active "
        " WHERE p.hops < 3 RETURNING id), "
        "u AS (UPDATE channel_messages m SET status = 'failed', next_attempt_at = now(), last_error = $3 "
        " FROM p WHERE m.id = p.id) "
        "SELECT count(*) AS copies FROM f"},

    /* Delivered ($1 id, $2 attempts as claimed): only if the lease is still
     * ours.  A `notified` event on the ticket of the message, and on those
     * of the messages a digest folded. */
    [S_ALERT_DONE] = {"alert_done",
        "WITH d AS (UPDATE channel_messages SET status = 'delivered', delivered_at = now(), "
        "  next_attempt_at = now(), last_error = NULL "
        " WHERE id = $1::bigint AND attempts = $2::int AND status = 'pending' "
        " RETURNING id, channel_id, ticket_id, attempts), "
        "t AS (SELECT ticket_id, id FROM d WHERE ticket_id IS NOT NULL "
        " UNION SELECT m.ticket_id, m.id FROM channel_messages m, d WHERE m.folded_into = d.id "
        "  AND m.ticket_id IS NOT NULL), "
        "e AS (INSERT INTO events (ticket_id, type, data) "
        " SELECT t.ticket_id, 'notified', jsonb_build_object('via', 'channel', 'channel_id', d.channel_id, "
        "  'channel', c.name, 'kind', c.kind, 'message_id', t.id, 'delivered_as', d.id, "
        "  'attempts', d.attempts) FROM t, d JOIN channels c ON c.id = d.channel_id) "
        "SELECT 1 AS done FROM d"},

    /* An attempt failed ($3 reason): back off by $5 seconds, or, after $4
     * attempts, fail -- to the fallback when the channel has one. */
    [S_ALERT_FAIL] = {"alert_fail",
        "WITH m AS (UPDATE channel_messages SET last_error = $3, "
        "  status = CASE WHEN attempts >= $4::int THEN 'failed' ELSE 'pending' END, "
        "  next_attempt_at = CASE WHEN attempts >= $4::int THEN now() "
        "   ELSE now() + make_interval(secs => $5::float8) END "
        " WHERE id = $1::bigint AND attempts = $2::int AND status = 'pending' RETURNING *), "
        "f AS (INSERT INTO channel_messages (channel_id, ticket_id, source, notification_id, recipients, "
        "  facts, fallback_of, hops) "
        " SELECT c.fallback_id, m.ticket_id, 'fallback', m.notification_id, m.recipients, m.facts, m.id, "
        "  m.hops + 1 FROM m JOIN channels c ON c.id = m.channel_id "
        "  JOIN channels fb ON fb.id = c.fallback_id AND fb.active "
        " WHERE m.status = 'failed' AND m.hops < 3 RETURNING id) "
        "SELECT m.status, (SELECT count(*) FROM f) AS copies FROM m"},

    [S_ALERT_BLOCK] = {"alert_block",
        "UPDATE channels SET blocked_until = now() + make_interval(secs => $2::float8) "
        "WHERE id = $1::bigint"},

    /* Seconds until the next message is due (NULL: none). */
    [S_ALERT_NEXT] = {"alert_next",
        "SELECT extract(epoch FROM (SELECT min(m.next_attempt_at) FROM channel_messages m "
        " JOIN channels c ON c.id = m.channel_id AND c.active WHERE m.status = 'pending') - now()) "
        " AS seconds"},

    /* The principals $1 who are still active agents, and the ticket's state
     * and acknowledgement deadline ($2, or NULL): for the one-click links. */
    [S_ALERT_PEOPLE] = {"alert_people",
        "SELECT (SELECT coalesce(json_agg(json_build_object('id', p.id, 'name', p.name, 'tier', p.tier) "
        "  ORDER BY p.id), '[]') FROM principals p WHERE p.id = ANY ($1::bigint[]) "
        "  AND p.role = 'agent' AND p.revoked_at IS NULL AND (p.expires_at IS NULL OR p.expires_at > now()))::text "
        "  AS people, "
        " (SELECT json_build_object('state', t.state, 'tier', t.tier, "
        "   'ack_due_ms', floor(extract(epoch FROM t.ack_due_at) * 1000)::bigint) "
        "  FROM tickets t WHERE t.id = $2::bigint)::text AS ticket"},

    /* A link used: its nonce recorded once ($1..$4); no row when used before. */
    [S_ACK_LINK_USE] = {"ack_link_use",
        "INSERT INTO ack_links_used (nonce, ticket_id, principal_id, outcome) "
        "VALUES ($1, $2::bigint, $3::bigint, $4) ON CONFLICT (nonce) DO NOTHING RETURNING nonce"},

    /* What a link page shows: the ticket (masked subject), whether the link
     * was used, and the principal it is for. */
    [S_ACK_LINK_TICKET] = {"ack_link_ticket",
        "SELECT json_build_object('ticket', (SELECT json_build_object('id', t.id, 'subject', t.subject, "
        "   'tier', 'line-' || t.tier, 'state', t.state, 'severity', t.severity, "
        "   'ack_due_ms', floor(extract(epoch FROM t.ack_due_at) * 1000)::bigint) "
        "  FROM tickets t WHERE t.id = $1::bigint), "
        " 'principal', (SELECT json_build_object('id', p.id, 'name', p.name, 'role', p.role, "
        "   'tier', p.tier, 'active', p.revoked_at IS NULL AND (p.expires_at IS NULL OR p.expires_at > now())) "
        "  FROM principals p WHERE p.id = $2::bigint), "
        " 'used', (SELECT json_build_object('at', " TS("u.used_at") ", 'outcome', u.outcome) "
        "  FROM ack_links_used u WHERE u.nonce = $3), "
        " 'now_ms', floor(extract(epoch FROM now()) * 1000)::bigint)::text AS doc"},

    /* The message $1 (attempt $2 as claimed) that its platform refused for
     * the rate waits out the block ($3 seconds) like the channel's other
     * messages: its lease would otherwise hold it longer, or shorter. */
    [S_ALERT_HOLD] = {"alert_hold",
        "UPDATE channel_messages SET next_attempt_at = now() + make_interval(secs => $3::float8), "
        " last_error = $4 WHERE id = $1::bigint AND attempts = $2::int AND status = 'pending'"},
};
#undef TS

const struct escp_stmt_table escp_stmts_alerts = {stmts, S__COUNT};

/* ---- reading ---- */

/* Every row's `doc` column, parsed: an array (new reference), or NULL. */
static json_t *docs(PGresult *res, const char *what, esc_error_t *err)
{
    int col;
    if (escp_columns(res, what, err, "doc", &col, NULL) != 0)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; arr && i < PQntuples(res); i++) {
        json_t *d = json_loads(PQgetvalue(res, i, col), 0, NULL);
        if (!d || json_array_append_new(arr, d) != 0) {
            json_decref(arr);
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "%s: unreadable row", what);
            return NULL;
        }
    }
    return arr;
}

/* Run statement s and parse its docs; NULL with err. */
static json_t *run_docs(struct escp_conn *c, int s, int n, const char *const *v, esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[s], n, v, err);
    if (!res)
        return NULL;
    json_t *arr = docs(res, stmts[s].name, err);
    PQclear(res);
    return arr;
}

/* The first doc, or NULL with NOT_FOUND (`what` names the thing). */
static json_t *one_doc(struct escp_conn *c, int s, int n, const char *const *v, const char *what,
                       esc_error_t *err)
{
    json_t *arr = run_docs(c, s, n, v, err);
    if (!arr)
        return NULL;
    json_t *d = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    if (!d)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such %s", what);
    return d;
}

/* The integer in column `col` of row 0; -1 when the statement failed. */
static long long run_count(struct escp_conn *c, int s, int n, const char *const *v, const char *col,
                           esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[s], n, v, err);
    int k;
    long long out = -1;
    if (res && escp_columns(res, stmts[s].name, err, col, &k, NULL) == 0)
        out = PQntuples(res) > 0 && !PQgetisnull(res, 0, k) ? strtoll(PQgetvalue(res, 0, k), NULL, 10) : 0;
    PQclear(res);
    return out;
}

#define I64(buf, x) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(x)), (buf))

/* ---- channels ---- */

int escp_store_channel_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err)
{
    long long v = run_count(c, S_CHANNEL_NEXT_ID, 0, NULL, "id", err);
    if (v <= 0)
        return -1;
    *id = v;
    return 0;
}

json_t *escp_store_channel_create(struct escp_conn *c, const struct escp_channel_new *n, esc_error_t *err)
{
    char id[24], rc[24], rs[24], bs[24], da[24], fb[24], by[24];
    const char *v[15] = {I64(id, n->id), n->name, n->kind, n->language, n->event_types, n->tiers,
                         n->target, n->sealed, n->config, I64(rc, n->rate_count), I64(rs, n->rate_seconds),
                         I64(bs, n->block_seconds), I64(da, n->digest_after),
                         n->fallback_id ? I64(fb, n->fallback_id) : NULL,
                         n->created_by ? I64(by, n->created_by) : NULL};
    return one_doc(c, S_CHANNEL_CREATE, 15, v, "channel", err);
}

json_t *escp_store_channel_list(struct escp_conn *c, esc_error_t *err)
{
    return run_docs(c, S_CHANNEL_LIST, 0, NULL, err);
}

json_t *escp_store_channel_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char b[24];
    const char *v[1] = {I64(b, id)};
    return one_doc(c, S_CHANNEL_GET, 1, v, "channel", err);
}

int escp_store_channel_delete(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char b[24];
    const char *v[1] = {I64(b, id)};
    long long n = run_count(c, S_CHANNEL_DELETE, 1, v, "deleted", err);
    return n < 0 ? -1 : (int)n;
}

json_t *escp_store_channel_messages(struct escp_conn *c, int64_t id, const char *status,
                                    int64_t before_id, int limit, esc_error_t *err)
{
    char b[24], bb[24], l[24];
    const char *v[4] = {I64(b, id), status, before_id ? I64(bb, before_id) : NULL, I64(l, limit)};
    return run_docs(c, S_CHANNEL_MESSAGES, 4, v, err);
}

json_t *escp_store_channel_test(struct escp_conn *c, int64_t id, const char *by, esc_error_t *err)
{
    char b[24];
    const char *v[2] = {I64(b, id), by};
    return one_doc(c, S_CHANNEL_TEST, 2, v, "active channel", err);
}

/* ---- ladders ---- */

json_t *escp_store_ladder_list(struct escp_conn *c, esc_error_t *err)
{
    return run_docs(c, S_LADDER_LIST, 0, NULL, err);
}

json_t *escp_store_ladder_put(struct escp_conn *c, int tier, const char *event, const char *steps,
                              int repeat, int64_t actor_id, esc_error_t *err)
{
    char t[24], r[24], a[24];
    const char *v[5] = {I64(t, tier), event, steps, I64(r, repeat), actor_id ? I64(a, actor_id) : NULL};
    return one_doc(c, S_LADDER_PUT, 5, v, "ladder", err);
}

int escp_store_ladder_delete(struct escp_conn *c, int tier, const char *event, esc_error_t *err)
{
    char t[24];
    const char *v[2] = {I64(t, tier), event};
    long long n = run_count(c, S_LADDER_DELETE, 2, v, "deleted", err);
    return n < 0 ? -1 : (int)n;
}

int escp_store_ladder_refs(struct escp_conn *c, const char *channel_ids, const char *principal_ids,
                           json_t **channels, json_t **people, esc_error_t *err)
{
    const char *v[2] = {channel_ids, principal_ids};
    PGresult *res = escp_exec(c, &stmts[S_LADDER_CHANNELS_OK], 2, v, err);
    int ch, pe, rc = -1;
    if (res && escp_columns(res, stmts[S_LADDER_CHANNELS_OK].name, err, "channels", &ch, "people", &pe,
                            NULL) == 0) {
        *channels = json_loads(PQgetvalue(res, 0, ch), 0, NULL);
        *people = json_loads(PQgetvalue(res, 0, pe), 0, NULL);
        rc = *channels && *people ? 0 : -1;
        if (rc)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "ladder_refs: unreadable row");
    }
    PQclear(res);
    return rc;
}

/* ---- the worker ---- */

json_t *escp_store_alert_channels(struct escp_conn *c, int limit, esc_error_t *err)
{
    char l[24];
    const char *v[1] = {I64(l, limit)};
    return run_docs(c, S_ALERT_CHANNELS, 1, v, err);
}

json_t *escp_store_alert_pending(struct escp_conn *c, int64_t channel_id, int limit, esc_error_t *err)
{
    char b[24], l[24];
    const char *v[2] = {I64(b, channel_id), I64(l, limit)};
    return run_docs(c, S_ALERT_PENDING, 2, v, err);
}

json_t *escp_store_alert_claim(struct escp_conn *c, const char *ids, double lease_s, esc_error_t *err)
{
    char l[32];
    snprintf(l, sizeof l, "%.3f", lease_s);
    const char *v[2] = {ids, l};
    return run_docs(c, S_ALERT_CLAIM, 2, v, err);
}

json_t *escp_store_alert_fold(struct escp_conn *c, const char *ids, int64_t channel_id, double lease_s,
                              esc_error_t *err)
{
    char b[24], l[32];
    snprintf(l, sizeof l, "%.3f", lease_s);
    const char *v[3] = {ids, I64(b, channel_id), l};
    return one_doc(c, S_ALERT_FOLD, 3, v, "digest", err);
}

int escp_store_alert_reserve(struct escp_conn *c, int64_t channel_id, int sends, esc_error_t *err)
{
    char b[24], n[24];
    const char *v[2] = {I64(b, channel_id), I64(n, sends)};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_RESERVE], 2, v, err);
    PQclear(res);
    return res ? 0 : -1;
}

int escp_store_alert_defer(struct escp_conn *c, int64_t channel_id, double seconds, esc_error_t *err)
{
    char b[24], s[32];
    snprintf(s, sizeof s, "%.3f", seconds);
    const char *v[2] = {I64(b, channel_id), s};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_DEFER], 2, v, err);
    PQclear(res);
    return res ? 0 : -1;
}

int escp_store_alert_fallback(struct escp_conn *c, const char *ids, int64_t channel_id, const char *why,
                              esc_error_t *err)
{
    char b[24];
    const char *v[3] = {ids, I64(b, channel_id), why};
    long long n = run_count(c, S_ALERT_FALLBACK, 3, v, "copies", err);
    return n < 0 ? -1 : (int)n;
}

int escp_store_alert_done(struct escp_conn *c, int64_t id, int attempts, esc_error_t *err)
{
    char b[24], a[24];
    const char *v[2] = {I64(b, id), I64(a, attempts)};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_DONE], 2, v, err);
    int rc = res ? PQntuples(res) : -1;
    PQclear(res);
    return rc;
}

int escp_store_alert_fail(struct escp_conn *c, int64_t id, int attempts, const char *why,
                          int max_attempts, double backoff_s, int *final, esc_error_t *err)
{
    char b[24], a[24], m[24], s[32];
    snprintf(s, sizeof s, "%.3f", backoff_s);
    const char *v[5] = {I64(b, id), I64(a, attempts), why, I64(m, max_attempts), s};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_FAIL], 5, v, err);
    int rc = -1, st, cp;
    *final = 0;
    if (res && escp_columns(res, stmts[S_ALERT_FAIL].name, err, "status", &st, "copies", &cp, NULL) == 0) {
        rc = PQntuples(res);
        if (rc > 0)
            *final = strcmp(PQgetvalue(res, 0, st), "failed") == 0;
    }
    PQclear(res);
    return rc;
}

int escp_store_alert_block(struct escp_conn *c, int64_t channel_id, double seconds, esc_error_t *err)
{
    char b[24], s[32];
    snprintf(s, sizeof s, "%.3f", seconds);
    const char *v[2] = {I64(b, channel_id), s};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_BLOCK], 2, v, err);
    PQclear(res);
    return res ? 0 : -1;
}

int escp_store_alert_next(struct escp_conn *c, double *seconds, bool *none, esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[S_ALERT_NEXT], 0, NULL, err);
    int col, rc = -1;
    if (res && escp_columns(res, stmts[S_ALERT_NEXT].name, err, "seconds", &col, NULL) == 0) {
        *none = PQgetisnull(res, 0, col);
        *seconds = *none ? 0 : strtod(PQgetvalue(res, 0, col), NULL);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int escp_store_alert_people(struct escp_conn *c, const char *principal_ids, int64_t ticket_id,
                            json_t **people, json_t **ticket, esc_error_t *err)
{
    char b[24];
    const char *v[2] = {principal_ids, ticket_id ? I64(b, ticket_id) : NULL};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_PEOPLE], 2, v, err);
    int pe, tk, rc = -1;
    if (res && escp_columns(res, stmts[S_ALERT_PEOPLE].name, err, "people", &pe, "ticket", &tk, NULL) == 0) {
        *people = json_loads(PQgetvalue(res, 0, pe), 0, NULL);
        *ticket = PQgetisnull(res, 0, tk) ? json_null() : json_loads(PQgetvalue(res, 0, tk), 0, NULL);
        rc = *people && *ticket ? 0 : -1;
        if (rc) {
            json_decref(*people);
            json_decref(*ticket);
            *people = *ticket = NULL;
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "alert_people: unreadable row");
        }
    }
    PQclear(res);
    return rc;
}

/* ---- one-click links ---- */

int escp_store_ack_link_use(struct escp_conn *c, const char *nonce, int64_t ticket_id, int64_t principal_id,
                            const char *outcome, esc_error_t *err)
{
    char t[24], p[24];
    const char *v[4] = {nonce, I64(t, ticket_id), I64(p, principal_id), outcome};
    PGresult *res = escp_exec(c, &stmts[S_ACK_LINK_USE], 4, v, err);
    int rc = res ? PQntuples(res) : -1;
    PQclear(res);
    return rc;
}

json_t *escp_store_ack_link_state(struct escp_conn *c, int64_t ticket_id, int64_t principal_id,
                                  const char *nonce, esc_error_t *err)
{
    char t[24], p[24];
    const char *v[3] = {I64(t, ticket_id), I64(p, principal_id), nonce};
    return one_doc(c, S_ACK_LINK_TICKET, 3, v, "link", err);
}

int escp_store_alert_hold(struct escp_conn *c, int64_t id, int attempts, double seconds, const char *why,
                          esc_error_t *err)
{
    char b[24], a[24], s[32];
    snprintf(s, sizeof s, "%.3f", seconds);
    const char *v[4] = {I64(b, id), I64(a, attempts), s, why};
    PGresult *res = escp_exec(c, &stmts[S_ALERT_HOLD], 4, v, err);
    PQclear(res);
    return res ? 0 : -1;
}
