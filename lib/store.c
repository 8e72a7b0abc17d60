/* store.c — the connection pool, the table of prepared statements, error
 * mapping, migrations and readiness.  With store_*.c, the only code that
 * holds SQL text or includes libpq. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escalated/log.h"
#include "escalated/store.h"
#include "store_internal.h"

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
        " FROM n JOIN e ON e.ticket_id = n.ticket_id) " /* after `created` */
        "SELECT " ESCP_TICKET_COLS " FROM t LEFT JOIN principals a ON a.id = t.assignee_id"},

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
        "del AS (DELETE FROM timers x USING due WHERE x.ticket_id = due.ticket_id AND x.kind = due.kind), "
        "br AS (INSERT INTO breaches (ticket_id, kind, tier, severity, assignee_id, due_at, detected_at) "
        " SELECT ticket_id, kind, tier, severity, assignee_id, due_at, now() FROM due "
        " WHERE kind <> 'warn' RETURNING id, ticket_id, kind), "
        "agg AS (SELECT ticket_id, array_agg(kind) FILTER (WHERE kind <> 'warn') AS kinds, "
        " bool_or(kind = 'resolve') AS r, bool_or(kind = 'warn') AS w FROM due GROUP BY ticket_id), "
        "upd AS (UPDATE tickets t SET "
        " breaches = t.breaches || ARRAY(SELECT k FROM unnest(agg.kinds) AS k WHERE NOT k = ANY (t.breaches)), "
        " resolve_fired = t.resolve_fired OR agg.r, warn_fired = t.warn_fired OR agg.w, "
        " version = t.version + 1, updated_at = now() FROM agg WHERE t.id = agg.ticket_id), "
        "ev AS (INSERT INTO events (ticket_id, type, data) "
        " SELECT d.ticket_id, CASE WHEN d.kind = 'warn' THEN 'at_risk' ELSE 'breached' END, "
        "  CASE WHEN d.kind = 'warn' THEN jsonb_build_object('kind', 'resolve', "
        "    'warn_at', to_char(d.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "    'resolve_due_at', to_char(d.resolve_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) "
        "  ELSE jsonb_build_object('kind', d.kind, 'breach_id', br.id, "
        "    'due_at', to_char(d.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) END "
        " FROM due d LEFT JOIN br ON br.ticket_id = d.ticket_id AND br.kind = d.kind "
        " RETURNING id, ticket_id, type, data), "
        "nt AS (INSERT INTO notifications (ticket_id, type, payload) "
        " SELECT ev.ticket_id, ev.type, jsonb_build_object('type', ev.type, 'ticket_id', ev.ticket_id, "
        "  'event_id', ev.id, 'tier', 'line-' || d.tier, 'severity', d.severity) || ev.data "
        " FROM ev JOIN due d ON d.ticket_id = ev.ticket_id "
        "  AND d.kind = CASE WHEN ev.type = 'at_risk' THEN 'warn' ELSE ev.data->>'kind' END) "
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

    /* @reports-stmts (add report statements above this line) */
    /* @events-metrics-stmts */
    /* @webhooks-stmts */
};

struct esc_store {
    char *conninfo;
    int size;
    struct escp_conn *conns;
    int leased;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct timespec last_failure; /* throttles reconnects while the database is down */
};

static void notice_quiet(void *arg, const PGresult *res) { (void)arg; (void)res; }

static PGconn *connect_db(const char *conninfo, esc_error_t *err)
{
    /* The session speaks UTC in ISO format: timestamps parse the same everywhere. */
    const char *keys[] = {"dbname", "options", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo && *conninfo ? conninfo : NULL,
                          "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601",
                          "escalated", "5", NULL};
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

static double elapsed_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

struct escp_conn *escp_conn_open(const char *conninfo, esc_error_t *err)
{
    struct escp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->index = -1;
    c->pg = connect_db(conninfo, err);
    if (!c->pg || prepare_all(c->pg, err) != 0) {
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
    struct escp_conn *c = NULL;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;

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
    int throttled = needs_connect && s->last_failure.tv_sec && elapsed_since(&s->last_failure) < 0.2;
    pthread_mutex_unlock(&s->mu);

    if (throttled) {
        esc_error_set(err, ESC_ERR_UNAVAILABLE, NULL, "the database cannot be reached");
        escp_release(s, c);
        return NULL;
    }
    if (needs_connect) {
        PQfinish(c->pg);
        c->pg = connect_db(s->conninfo, err);
        if (c->pg && prepare_all(c->pg, err) != 0) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        if (!c->pg) {
            pthread_mutex_lock(&s->mu);
            clock_gettime(CLOCK_MONOTONIC, &s->last_failure);
            pthread_mutex_unlock(&s->mu);
            escp_release(s, c);
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        s->last_failure.tv_sec = 0;
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
    PGconn *pg = connect_db(conninfo, err);
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
    PGconn *pg = connect_db(conninfo, err);
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
