/* store_webhooks.c — webhooks, the notification outbox as admins see it, and
 * the delivery worker's claim/record statements (migrations/003_webhooks.sql).
 * Lock order everywhere: webhook row, then notification row, then its
 * deliveries -- so a delete, a retry and two workers never deadlock. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "db/store_internal.h"

/* What every statement that answers a webhook selects (webhook_from_row),
 * from webhooks `w` joined to principals `p` (its creator); never the secret. */
#define WEBHOOK_COLS                                                                          \
    "w.id, w.url, array_to_json(w.event_types)::text AS event_types, w.active, w.created_at, " \
    "w.created_by, p.name AS created_by_name, w.deleted_at"
/* An instant as the API writes it (RFC 3339, milliseconds, UTC). */
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

enum {
    S_WEBHOOK_CREATE,
    S_WEBHOOK_LIST,
    S_WEBHOOK_GET,
    S_WEBHOOK_DEACTIVATE,
    S_WEBHOOK_CANCEL,
    S_NOTIFICATION_RECOMPUTE,
    S_NOTIFICATION_LIST,
    S_NOTIFICATION_RETRY,
    S_WEBHOOK_ROUTE,
    S_DELIVERY_CLAIM,
    S_DELIVERY_DONE,
    S_DELIVERY_FAIL,
    S_WEBHOOK_NEXT,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    [S_WEBHOOK_CREATE] = {"webhook_create",
        "WITH w AS (INSERT INTO webhooks (url, event_types, secret, created_by) "
        " VALUES ($1, $2::text[], $3, $4::bigint) RETURNING *) "
        "SELECT " WEBHOOK_COLS " FROM w LEFT JOIN principals p ON p.id = w.created_by"},

    [S_WEBHOOK_LIST] = {"webhook_list",
        "SELECT " WEBHOOK_COLS " FROM webhooks w LEFT JOIN principals p ON p.id = w.created_by "
        "WHERE w.active ORDER BY w.id"},

    [S_WEBHOOK_GET] = {"webhook_get",
        "SELECT " WEBHOOK_COLS " FROM webhooks w LEFT JOIN principals p ON p.id = w.created_by "
        "WHERE w.id = $1::bigint"},

    /* Waits for a routing pass that holds the row FOR SHARE, so that the
     * cancel that follows (a new statement) sees every delivery it made. */
    [S_WEBHOOK_DEACTIVATE] = {"webhook_deactivate",
        "UPDATE webhooks SET active = false, deleted_at = now() WHERE id = $1::bigint AND active "
        "RETURNING id"},

    /* Cancel the pending deliveries of a deleted webhook: lock their
     * notifications first (lock order), answer the notifications touched. */
    [S_WEBHOOK_CANCEL] = {"webhook_cancel",
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
    [S_NOTIFICATION_RECOMPUTE] = {"notification_recompute",
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
    [S_NOTIFICATION_LIST] = {"notification_list",
        "SELECT n.id, n.ticket_id, n.type, n.audience, n.status, n.created_at, n.routed_at, "
        " n.delivered_at, n.attempts, n.last_error, n.payload::text AS payload, "
        " (SELECT coalesce(json_agg(json_build_object('id', d.id, 'webhook_id', d.webhook_id, "
        "   'url', w.url, 'status', d.status, 'attempts', d.attempts, "
        "   'next_attempt_at', CASE WHEN d.status = 'pending' THEN " TS("d.next_attempt_at") " END, "
        "   'last_attempt_at', " TS("d.last_attempt_at") ", 'last_status', d.last_status, "
        "   'last_error', d.last_error, 'delivered_at', " TS("d.delivered_at") ") "
        "   ORDER BY d.created_at, d.webhook_id), '[]'::json)::text "
        "  FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.notification_id = n.id) "
        "  AS deliveries "
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
    [S_NOTIFICATION_RETRY] = {"notification_retry",
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
    [S_WEBHOOK_ROUTE] = {"webhook_route",
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
        "SELECT count(*) AS routed, count(*) FILTER (WHERE status = 'pending') AS pending FROM u"},

    /* Claim up to $1 due deliveries: attempts + 1 (the lease's fencing token)
     * and a lease of $2 seconds, committed before any HTTP is sent.  SKIP
     * LOCKED and the lease keep two daemons from sending one delivery at once;
     * a lease that runs out (a daemon died mid-attempt) makes it due again. */
    [S_DELIVERY_CLAIM] = {"delivery_claim",
        "WITH c AS (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() "
        "  ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE SKIP LOCKED), "
        "u AS (UPDATE deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(), "
        "  next_attempt_at = now() + make_interval(secs => $2::float8) "
        " FROM c WHERE d.id = c.id RETURNING d.id, d.attempts, d.notification_id, d.webhook_id) "
        "SELECT u.id, u.attempts, n.id AS notification_id, n.type, n.ticket_id, "
        " n.payload::text AS payload, n.created_at, w.id AS webhook_id, w.url, w.secret, "
        " floor(extract(epoch FROM now()))::bigint AS now_s "
        "FROM u JOIN notifications n ON n.id = u.notification_id JOIN webhooks w ON w.id = u.webhook_id"},

    /* Delivered ($1 id, $2 attempts as claimed, $3 HTTP status, $4
     * notification): only if the lease is still ours; the `notified` event
     * in the same transaction.  Answers 1 row when recorded. */
    [S_DELIVERY_DONE] = {"delivery_done",
        "WITH l AS (SELECT id, ticket_id, problem_id, type, audience FROM notifications "
        " WHERE id = $4::bigint FOR UPDATE), "
        "d AS (UPDATE deliveries x SET status = 'delivered', delivered_at = now(), "
        "  next_attempt_at = now(), last_status = $3::int "
        " FROM l WHERE x.id = $1::uuid AND x.notification_id = l.id AND x.attempts = $2::int "
        "  AND x.status = 'pending' RETURNING x.id, x.webhook_id, x.attempts), "
        "e AS (INSERT INTO events (ticket_id, type, data) "
        " SELECT l.ticket_id, 'notified', jsonb_build_object('notification', l.type, "
        "  'notification_id', l.id, 'audience', l.audience, 'via', 'webhook', "
        "  'webhook_id', d.webhook_id, 'delivery_id', d.id, 'attempts', d.attempts) FROM d, l "
        " WHERE l.ticket_id IS NOT NULL), "
        /* a problem's notification (migration 012): the problem's history */
        "pe AS (INSERT INTO problem_events (problem_id, type, data) "
        " SELECT l.problem_id, 'notified', jsonb_build_object('notification', l.type, "
        "  'notification_id', l.id, 'audience', l.audience, 'via', 'webhook', "
        "  'webhook_id', d.webhook_id, 'delivery_id', d.id, 'attempts', d.attempts) FROM d, l "
        " WHERE l.problem_id IS NOT NULL) "
        "SELECT 1 FROM d"},

    /* An attempt failed ($3 HTTP status or NULL, $4 error): back off by $6
     * seconds, or fail for good once $5 attempts were made.  Same lease check.
     * Answers the new status when recorded. */
    [S_DELIVERY_FAIL] = {"delivery_fail",
        "WITH l AS (SELECT id FROM notifications WHERE id = $7::bigint FOR UPDATE) "
        "UPDATE deliveries x SET last_status = $3::int, last_error = $4, "
        " status = CASE WHEN x.attempts >= $5::int THEN 'failed' ELSE 'pending' END, "
        " next_attempt_at = CASE WHEN x.attempts >= $5::int THEN now() "
        "  ELSE now() + make_interval(secs => $6::float8) END "
        "FROM l WHERE x.id = $1::uuid AND x.notification_id = l.id AND x.attempts = $2::int "
        " AND x.status = 'pending' RETURNING x.status"},

    /* Is there routing to do; seconds until the next delivery is due. */
    [S_WEBHOOK_NEXT] = {"webhook_next",
        "SELECT EXISTS (SELECT 1 FROM notifications WHERE status = 'pending' AND routed_at IS NULL) "
        " AS unrouted, extract(epoch FROM (SELECT min(next_attempt_at) FROM deliveries "
        " WHERE status = 'pending') - now()) AS seconds"},
#undef ESCP_TS
#undef WEBHOOK_COLS
};
#undef TS

const struct escp_stmt_table escp_stmts_webhooks = {stmts, S__COUNT};

/* ---- webhooks ---- */

/* The columns of WEBHOOK_COLS in a result, found by name. */
struct webhook_cols {
    int id, url, event_types, active, created_at, created_by, created_by_name, deleted_at;
};

static int webhook_cols(const PGresult *res, const char *what, struct webhook_cols *k,
                        esc_error_t *err)
{
    return escp_columns(res, what, err, ESCP_COL(k, id), ESCP_COL(k, url), ESCP_COL(k, event_types),
                        ESCP_COL(k, active), ESCP_COL(k, created_at), ESCP_COL(k, created_by),
                        ESCP_COL(k, created_by_name), ESCP_COL(k, deleted_at), NULL);
}

static json_t *webhook_from_row(const PGresult *res, int row, const struct webhook_cols *k)
{
#define V(field) escp_val(res, row, k->field)
    json_t *types = V(event_types) ? json_loads(V(event_types), 0, NULL) : NULL;
    json_t *by = NULL; /* null when its creator is unknown */
    if (V(created_by))
        by = json_pack("{s:I, s:s}", "id", (json_int_t)strtoll(V(created_by), NULL, 10),
                       "name", V(created_by_name) ? V(created_by_name) : "");
    return json_pack("{s:o, s:s?, s:o, s:b, s:o, s:o?, s:o}", "id", escp_json_int(V(id)),
                     "url", V(url), "event_types", types ? types : json_array(),
                     "active", V(active) && V(active)[0] == 't',
                     "created_at", escp_json_time(V(created_at)), "created_by", by,
                     "deleted_at", escp_json_time(V(deleted_at)));
#undef V
}

/* Run a statement that answers webhooks: the array of them. */
static json_t *webhooks(struct escp_conn *c, int s, int nparams, const char *const *v,
                        esc_error_t *err)
{
    struct webhook_cols k;
    PGresult *res = escp_exec(c, &stmts[s], nparams, v, err);
    if (!res)
        return NULL;
    json_t *items = NULL;
    if (webhook_cols(res, stmts[s].name, &k, err) == 0) {
        items = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(items, webhook_from_row(res, i, &k));
    }
    PQclear(res);
    return items;
}

/* The one webhook of items (stolen), or NULL with `none` as the error. */
static json_t *only(json_t *items, esc_code none, const char *msg, esc_error_t *err)
{
    if (!items)
        return NULL;
    json_t *w = json_array_size(items) == 1 ? json_incref(json_array_get(items, 0)) : NULL;
    json_decref(items);
    if (!w)
        esc_error_set(err, none, NULL, "%s", msg);
    return w;
}

json_t *escp_store_webhook_create(struct escp_conn *c, const char *url, const char *event_types,
                                  const char *secret, int64_t actor_id, esc_error_t *err)
{
    char actor[24];
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[4] = {url, event_types, secret, actor_id ? actor : NULL};
    return only(webhooks(c, S_WEBHOOK_CREATE, 4, v, err), ESC_ERR_INTERNAL, "internal error", err);
}

json_t *escp_store_webhook_list(struct escp_conn *c, esc_error_t *err)
{
    json_t *items = webhooks(c, S_WEBHOOK_LIST, 0, NULL, err);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

json_t *escp_store_webhook_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    return only(webhooks(c, S_WEBHOOK_GET, 1, v, err), ESC_ERR_NOT_FOUND, "no such webhook", err);
}

/* NOTIFICATION_RECOMPUTE for the ids in `ids` (a PostgreSQL array literal). */
static int recompute(struct escp_conn *c, const char *ids, esc_error_t *err)
{
    const char *v[1] = {ids};
    PGresult *res = escp_exec(c, &stmts[S_NOTIFICATION_RECOMPUTE], 1, v, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int escp_store_webhook_delete(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    PGresult *res = NULL;
    char *ids = NULL;
    int rc = -1, nid;
    if (escp_begin(c, err) != 0)
        return -1;
    if (!(res = escp_exec(c, &stmts[S_WEBHOOK_DEACTIVATE], 1, v, err)))
        goto out;
    if (PQntuples(res) == 0) { /* none, or deleted before */
        PQclear(res);
        if (!(res = escp_exec(c, &stmts[S_WEBHOOK_GET], 1, v, err)))
            goto out;
        if (PQntuples(res) == 0)
            esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such webhook");
        else
            rc = 0;
        goto out;
    }
    PQclear(res);
    /* a new statement: it sees the deliveries a routing pass made while
     * the deactivation waited for that pass's lock */
    if (!(res = escp_exec(c, &stmts[S_WEBHOOK_CANCEL], 1, v, err)) ||
        escp_columns(res, stmts[S_WEBHOOK_CANCEL].name, err, "notification_id", &nid, NULL) != 0)
        goto out;
    size_t cap = 3 + (size_t)PQntuples(res) * 21, used = 0;
    if (!(ids = malloc(cap))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    ids[used++] = '{';
    for (int i = 0; i < PQntuples(res); i++)
        used += (size_t)snprintf(ids + used, cap - used, "%s%s", i ? "," : "", PQgetvalue(res, i, nid));
    snprintf(ids + used, cap - used, "}");
    PQclear(res);
    res = NULL;
    if (recompute(c, ids, err) != 0 || escp_commit(c, err) != 0)
        goto out;
    rc = 0;
out:
    PQclear(res);
    free(ids);
    if (rc != 0 || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        escp_rollback(c);
    return rc;
}

/* ---- notifications ---- */

struct notification_cols {
    int id, ticket_id, type, audience, status, created_at, routed_at, delivered_at, attempts,
        last_error, payload, deliveries;
};

static json_t *notification_from_row(const PGresult *res, int row, const struct notification_cols *k)
{
#define V(field) escp_val(res, row, k->field)
    json_t *payload = V(payload) ? json_loads(V(payload), 0, NULL) : NULL;
    json_t *deliveries = V(deliveries) ? json_loads(V(deliveries), 0, NULL) : NULL;
    return json_pack("{s:o, s:o, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:o, s:s?, s:o, s:o}",
                     "id", escp_json_int(V(id)), "ticket_id", escp_json_int(V(ticket_id)),
                     "type", V(type), "audience", V(audience), "status", V(status),
                     "created_at", escp_json_time(V(created_at)),
                     "routed_at", escp_json_time(V(routed_at)),
                     "delivered_at", escp_json_time(V(delivered_at)),
                     "attempts", escp_json_int(V(attempts)), "last_error", V(last_error),
                     "payload", payload ? payload : json_object(),
                     "deliveries", deliveries ? deliveries : json_array());
#undef V
}

static json_t *notification_query(struct escp_conn *c, const struct escp_notification_filter *f,
                                   int64_t one, esc_error_t *err)
{
    char ticket[24], before[24], limit[16], idb[24];
    snprintf(ticket, sizeof ticket, "%" PRId64, f->ticket);
    snprintf(before, sizeof before, "%" PRId64, f->before_id);
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    snprintf(idb, sizeof idb, "%" PRId64, one);
    const char *v[6] = {f->status, f->type, f->ticket ? ticket : NULL, f->before_id ? before : NULL,
                        limit, one ? idb : NULL};
    struct notification_cols col, *k = &col;
    PGresult *res = escp_exec(c, &stmts[S_NOTIFICATION_LIST], 6, v, err);
    if (!res)
        return NULL;
    json_t *items = NULL;
    if (escp_columns(res, stmts[S_NOTIFICATION_LIST].name, err, ESCP_COL(k, id),
                     ESCP_COL(k, ticket_id), ESCP_COL(k, type), ESCP_COL(k, audience),
                     ESCP_COL(k, status), ESCP_COL(k, created_at), ESCP_COL(k, routed_at),
                     ESCP_COL(k, delivered_at), ESCP_COL(k, attempts), ESCP_COL(k, last_error),
                     ESCP_COL(k, payload), ESCP_COL(k, deliveries), NULL) == 0) {
        items = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(items, notification_from_row(res, i, k));
    }
    PQclear(res);
    return items;
}

json_t *escp_store_notification_list(struct escp_conn *c, const struct escp_notification_filter *f,
                                     esc_error_t *err)
{
    return notification_query(c, f, 0, err);
}

json_t *escp_store_notification_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    struct escp_notification_filter f = {.limit = 1};
    json_t *items = notification_query(c, &f, id, err);
    if (!items)
        return NULL;
    json_t *n = json_incref(json_array_get(items, 0));
    json_decref(items);
    if (!n)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such notification");
    return n;
}

json_t *escp_store_notification_retry(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24], ids[32];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    snprintf(ids, sizeof ids, "{%" PRId64 "}", id);
    const char *v[1] = {idb};
    PGresult *res = NULL;
    int ok = 0, status;
    if (escp_begin(c, err) != 0)
        return NULL;
    if (!(res = escp_exec(c, &stmts[S_NOTIFICATION_RETRY], 1, v, err)) ||
        escp_columns(res, stmts[S_NOTIFICATION_RETRY].name, err, "status", &status, NULL) != 0)
        goto out;
    if (PQntuples(res) == 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such notification");
        goto out;
    }
    const char *was = PQgetvalue(res, 0, status);
    if (strcmp(was, "failed") != 0 && strcmp(was, "undeliverable") != 0) {
        esc_error_set(err, ESC_ERR_CONFLICT, "status",
                      "only a failed or undeliverable notification can be retried; this one is %s",
                      strcmp(was, "pending") == 0 ? "pending" : "delivered");
        goto out;
    }
    if (strcmp(was, "failed") == 0 && recompute(c, ids, err) != 0)
        goto out;
    if (escp_commit(c, err) != 0)
        goto out;
    ok = 1;
out:
    PQclear(res);
    if (!ok) {
        escp_rollback(c);
        return NULL;
    }
    return escp_store_notification_get(c, id, err);
}

/* ---- the delivery worker ---- */

int escp_store_webhook_route(struct escp_conn *c, int batch, int *routed, esc_error_t *err)
{
    char b[16];
    snprintf(b, sizeof b, "%d", batch);
    const char *v[1] = {b};
    int rc = -1, routed_col, pending_col;
    PGresult *res = escp_exec(c, &stmts[S_WEBHOOK_ROUTE], 1, v, err);
    if (!res || escp_columns(res, stmts[S_WEBHOOK_ROUTE].name, err, "routed", &routed_col,
                             "pending", &pending_col, NULL) != 0)
        goto out;
    *routed = atoi(PQgetvalue(res, 0, routed_col));
    int undeliverable = *routed - atoi(PQgetvalue(res, 0, pending_col));
    if (undeliverable > 0)
        log_info("webhooks: %d notification%s undeliverable (no active webhook wants the type)",
                 undeliverable, undeliverable == 1 ? "" : "s");
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

void escp_deliveries_free(struct escp_delivery *d, int n)
{
    if (!d)
        return;
    for (int i = 0; i < n; i++) {
        free(d[i].type);
        free(d[i].payload);
        free(d[i].created_at);
        free(d[i].url);
        free(d[i].secret);
    }
    free(d);
}

int escp_store_delivery_claim(struct escp_conn *c, int batch, double lease_s,
                              struct escp_delivery **out, int *n, esc_error_t *err)
{
    char b[16], l[32];
    snprintf(b, sizeof b, "%d", batch);
    snprintf(l, sizeof l, "%.3f", lease_s);
    const char *v[2] = {b, l};
    struct {
        int id, attempts, notification_id, type, ticket_id, payload, created_at, webhook_id, url,
            secret, now_s;
    } col, *k = &col;
    struct escp_delivery *d = NULL;
    int rows = 0, rc = -1;
    *out = NULL;
    *n = 0;
    PGresult *res = escp_exec(c, &stmts[S_DELIVERY_CLAIM], 2, v, err);
    if (!res)
        return -1;
    /* the claims stand even when they cannot be read here: their leases run
     * out and they are attempted again */
    if (escp_columns(res, stmts[S_DELIVERY_CLAIM].name, err, ESCP_COL(k, id),
                     ESCP_COL(k, attempts), ESCP_COL(k, notification_id), ESCP_COL(k, type),
                     ESCP_COL(k, ticket_id), ESCP_COL(k, payload), ESCP_COL(k, created_at),
                     ESCP_COL(k, webhook_id), ESCP_COL(k, url), ESCP_COL(k, secret),
                     ESCP_COL(k, now_s), NULL) != 0)
        goto out;
    if ((rows = PQntuples(res)) == 0) {
        rc = 0;
        goto out;
    }
    if (!(d = calloc((size_t)rows, sizeof *d))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    int oom = 0;
    for (int i = 0; i < rows; i++) {
        snprintf(d[i].id, sizeof d[i].id, "%s", PQgetvalue(res, i, k->id));
        d[i].attempts = atoi(PQgetvalue(res, i, k->attempts));
        d[i].notification_id = strtoll(PQgetvalue(res, i, k->notification_id), NULL, 10);
        d[i].type = dup_or_empty(escp_val(res, i, k->type));
        d[i].ticket_id = strtoll(PQgetvalue(res, i, k->ticket_id), NULL, 10);
        d[i].payload = dup_or_empty(escp_val(res, i, k->payload));
        d[i].created_at = dup_or_empty(escp_val(res, i, k->created_at));
        d[i].webhook_id = strtoll(PQgetvalue(res, i, k->webhook_id), NULL, 10);
        d[i].url = dup_or_empty(escp_val(res, i, k->url));
        d[i].secret = dup_or_empty(escp_val(res, i, k->secret));
        d[i].now = strtoll(PQgetvalue(res, i, k->now_s), NULL, 10);
        oom |= !d[i].type || !d[i].payload || !d[i].created_at || !d[i].url || !d[i].secret;
    }
    if (oom) {
        escp_deliveries_free(d, rows);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    *out = d;
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* BEGIN; the outcome statement s; NOTIFICATION_RECOMPUTE; COMMIT.  When
 * status_out, the status it answers is copied there. */
static int record(struct escp_conn *c, int s, int nparams, const char *const *v,
                  const struct escp_delivery *d, char *status_out, size_t status_len,
                  bool *recorded, esc_error_t *err)
{
    char ids[32];
    int status;
    snprintf(ids, sizeof ids, "{%" PRId64 "}", d->notification_id);
    *recorded = false;
    if (escp_begin(c, err) != 0)
        return -1;
    PGresult *res = escp_exec(c, &stmts[s], nparams, v, err);
    if (!res)
        goto fail;
    if (status_out && escp_columns(res, stmts[s].name, err, "status", &status, NULL) != 0) {
        PQclear(res);
        goto fail;
    }
    *recorded = PQntuples(res) == 1;
    if (status_out && *recorded)
        snprintf(status_out, status_len, "%s", PQgetvalue(res, 0, status));
    PQclear(res);
    if (*recorded && recompute(c, ids, err) != 0)
        goto fail;
    if (escp_commit(c, err) != 0)
        goto fail;
    return 0;
fail:
    *recorded = false;
    escp_rollback(c);
    return -1;
}

int escp_store_delivery_done(struct escp_conn *c, const struct escp_delivery *d, long http_status,
                             bool *recorded, esc_error_t *err)
{
    char att[16], st[16], nid[24];
    snprintf(att, sizeof att, "%d", d->attempts);
    snprintf(st, sizeof st, "%ld", http_status);
    snprintf(nid, sizeof nid, "%" PRId64, d->notification_id);
    const char *v[4] = {d->id, att, st, nid};
    return record(c, S_DELIVERY_DONE, 4, v, d, NULL, 0, recorded, err);
}

int escp_store_delivery_fail(struct escp_conn *c, const struct escp_delivery *d, long http_status,
                             const char *error, int max_attempts, double delay_s, bool *final,
                             bool *recorded, esc_error_t *err)
{
    char att[16], st[16], max[16], delay[32], nid[24], status[16] = "";
    snprintf(att, sizeof att, "%d", d->attempts);
    snprintf(st, sizeof st, "%ld", http_status);
    snprintf(max, sizeof max, "%d", max_attempts);
    snprintf(delay, sizeof delay, "%.3f", delay_s);
    snprintf(nid, sizeof nid, "%" PRId64, d->notification_id);
    const char *v[7] = {d->id, att, http_status > 0 ? st : NULL, error, max, delay, nid};
    int rc = record(c, S_DELIVERY_FAIL, 7, v, d, status, sizeof status, recorded, err);
    *final = rc == 0 && *recorded && strcmp(status, "failed") == 0;
    return rc;
}

int escp_store_webhook_next(struct escp_conn *c, bool *unrouted, double *seconds, bool *none,
                            esc_error_t *err)
{
    int rc = -1, unrouted_col, seconds_col;
    PGresult *res = escp_exec(c, &stmts[S_WEBHOOK_NEXT], 0, NULL, err);
    if (!res || escp_columns(res, stmts[S_WEBHOOK_NEXT].name, err, "unrouted", &unrouted_col,
                             "seconds", &seconds_col, NULL) != 0)
        goto out;
    *unrouted = PQgetvalue(res, 0, unrouted_col)[0] == 't';
    *none = PQgetisnull(res, 0, seconds_col);
    *seconds = *none ? 0 : strtod(PQgetvalue(res, 0, seconds_col), NULL);
    rc = 0;
out:
    PQclear(res);
    return rc;
}
