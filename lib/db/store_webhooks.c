/* store_webhooks.c — webhooks, the notification outbox as admins see it, and
 * the delivery worker's claim/record statements (SQL in store.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "db/store_internal.h"

static json_t *int_or_null(const char *v)
{
    return v ? json_integer((json_int_t)strtoll(v, NULL, 10)) : json_null();
}

static json_t *str_or_null(const char *v) { return v ? json_string(v) : json_null(); }

/* The columns of ESCP_WEBHOOK_COLS, from column 0. */
static json_t *webhook_from_row(const PGresult *res, int row)
{
    enum { W_ID, W_URL, W_TYPES, W_ACTIVE, W_CREATED, W_BY, W_BY_NAME, W_DELETED };
#define V(col) escp_val(res, row, col)
    json_t *types = V(W_TYPES) ? json_loads(V(W_TYPES), 0, NULL) : NULL;
    json_t *by = json_null();
    if (V(W_BY)) {
        json_decref(by);
        by = json_pack("{s:I,s:s}", "id", (json_int_t)strtoll(V(W_BY), NULL, 10), "name",
                       V(W_BY_NAME) ? V(W_BY_NAME) : "");
    }
    json_t *w = json_pack("{s:o,s:o,s:o,s:b,s:o,s:o,s:o}", "id", int_or_null(V(W_ID)),
                          "url", str_or_null(V(W_URL)), "event_types", types ? types : json_array(),
                          "active", V(W_ACTIVE) && V(W_ACTIVE)[0] == 't',
                          "created_at", escp_json_time(V(W_CREATED)), "created_by", by,
                          "deleted_at", escp_json_time(V(W_DELETED)));
    return w;
#undef V
}

json_t *escp_store_webhook_create(struct escp_conn *c, const char *url, const char *event_types,
                                  const char *secret, int64_t actor_id, esc_error_t *err)
{
    char actor[24];
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[4] = {url, event_types, secret, actor_id ? actor : NULL};
    PGresult *res = escp_exec(c, ESCP_S_WEBHOOK_CREATE, 4, v, err);
    if (!res)
        return NULL;
    json_t *w = PQntuples(res) == 1 ? webhook_from_row(res, 0) : NULL;
    if (!w)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    PQclear(res);
    return w;
}

json_t *escp_store_webhook_list(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = escp_exec(c, ESCP_S_WEBHOOK_LIST, 0, NULL, err);
    if (!res)
        return NULL;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items, webhook_from_row(res, i));
    PQclear(res);
    return json_pack("{s:o}", "items", items);
}

json_t *escp_store_webhook_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    PGresult *res = escp_exec(c, ESCP_S_WEBHOOK_GET, 1, v, err);
    if (!res)
        return NULL;
    json_t *w = PQntuples(res) == 1 ? webhook_from_row(res, 0) : NULL;
    if (!w)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such webhook");
    PQclear(res);
    return w;
}

/* NOTIFICATION_RECOMPUTE for the ids in `ids` (a PostgreSQL array literal). */
static int recompute(struct escp_conn *c, const char *ids, esc_error_t *err)
{
    const char *v[1] = {ids};
    PGresult *res = escp_exec(c, ESCP_S_NOTIFICATION_RECOMPUTE, 1, v, err);
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
    int rc = -1;
    if (escp_begin(c, err) != 0)
        return -1;
    if (!(res = escp_exec(c, ESCP_S_WEBHOOK_DEACTIVATE, 1, v, err)))
        goto out;
    if (PQntuples(res) == 0) { /* none, or deleted before */
        PQclear(res);
        if (!(res = escp_exec(c, ESCP_S_WEBHOOK_GET, 1, v, err)))
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
    if (!(res = escp_exec(c, ESCP_S_WEBHOOK_CANCEL, 1, v, err)))
        goto out;
    size_t cap = 3 + (size_t)PQntuples(res) * 21, used = 0;
    if (!(ids = malloc(cap))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    ids[used++] = '{';
    for (int i = 0; i < PQntuples(res); i++)
        used += (size_t)snprintf(ids + used, cap - used, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
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

static json_t *notification_from_row(const PGresult *res, int row)
{
    enum { N_ID, N_TICKET, N_TYPE, N_AUDIENCE, N_STATUS, N_CREATED, N_ROUTED, N_DELIVERED,
           N_ATTEMPTS, N_ERROR, N_PAYLOAD, N_DELIVERIES };
#define V(col) escp_val(res, row, col)
    json_t *payload = V(N_PAYLOAD) ? json_loads(V(N_PAYLOAD), 0, NULL) : NULL;
    json_t *deliveries = V(N_DELIVERIES) ? json_loads(V(N_DELIVERIES), 0, NULL) : NULL;
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "id", int_or_null(V(N_ID)), "ticket_id", int_or_null(V(N_TICKET)),
                     "type", str_or_null(V(N_TYPE)), "audience", str_or_null(V(N_AUDIENCE)),
                     "status", str_or_null(V(N_STATUS)),
                     "created_at", escp_json_time(V(N_CREATED)),
                     "routed_at", escp_json_time(V(N_ROUTED)),
                     "delivered_at", escp_json_time(V(N_DELIVERED)),
                     "attempts", int_or_null(V(N_ATTEMPTS)),
                     "last_error", str_or_null(V(N_ERROR)),
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
    PGresult *res = escp_exec(c, ESCP_S_NOTIFICATION_LIST, 6, v, err);
    if (!res)
        return NULL;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items, notification_from_row(res, i));
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
    int ok = 0;
    if (escp_begin(c, err) != 0)
        return NULL;
    if (!(res = escp_exec(c, ESCP_S_NOTIFICATION_RETRY, 1, v, err)))
        goto out;
    if (PQntuples(res) == 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such notification");
        goto out;
    }
    const char *was = PQgetvalue(res, 0, 0);
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
    PGresult *res = escp_exec(c, ESCP_S_WEBHOOK_ROUTE, 1, v, err);
    if (!res)
        return -1;
    *routed = atoi(PQgetvalue(res, 0, 0));
    int undeliverable = *routed - atoi(PQgetvalue(res, 0, 1));
    if (undeliverable > 0)
        log_info("webhooks: %d notification%s undeliverable (no active webhook wants the type)",
                 undeliverable, undeliverable == 1 ? "" : "s");
    PQclear(res);
    return 0;
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
    *out = NULL;
    *n = 0;
    PGresult *res = escp_exec(c, ESCP_S_DELIVERY_CLAIM, 2, v, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return 0;
    }
    struct escp_delivery *d = calloc((size_t)rows, sizeof *d);
    if (!d) {
        /* the claims stand: their leases run out and they are attempted again */
        PQclear(res);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    int oom = 0;
    for (int i = 0; i < rows; i++) {
        snprintf(d[i].id, sizeof d[i].id, "%s", PQgetvalue(res, i, 0));
        d[i].attempts = atoi(PQgetvalue(res, i, 1));
        d[i].notification_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        d[i].type = dup_or_empty(escp_val(res, i, 3));
        d[i].ticket_id = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        d[i].payload = dup_or_empty(escp_val(res, i, 5));
        d[i].created_at = dup_or_empty(escp_val(res, i, 6));
        d[i].webhook_id = strtoll(PQgetvalue(res, i, 7), NULL, 10);
        d[i].url = dup_or_empty(escp_val(res, i, 8));
        d[i].secret = dup_or_empty(escp_val(res, i, 9));
        d[i].now = strtoll(PQgetvalue(res, i, 10), NULL, 10);
        oom |= !d[i].type || !d[i].payload || !d[i].created_at || !d[i].url || !d[i].secret;
    }
    PQclear(res);
    if (oom) {
        escp_deliveries_free(d, rows);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    *out = d;
    *n = rows;
    return 0;
}

/* BEGIN; the outcome statement; NOTIFICATION_RECOMPUTE; COMMIT. */
static int record(struct escp_conn *c, enum escp_stmt s, int nparams, const char *const *v,
                  const struct escp_delivery *d, char *status_out, size_t status_len,
                  bool *recorded, esc_error_t *err)
{
    char ids[32];
    snprintf(ids, sizeof ids, "{%" PRId64 "}", d->notification_id);
    *recorded = false;
    if (escp_begin(c, err) != 0)
        return -1;
    PGresult *res = escp_exec(c, s, nparams, v, err);
    if (!res)
        goto fail;
    *recorded = PQntuples(res) == 1;
    if (status_out && *recorded)
        snprintf(status_out, status_len, "%s", PQgetvalue(res, 0, 0));
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
    return record(c, ESCP_S_DELIVERY_DONE, 4, v, d, NULL, 0, recorded, err);
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
    int rc = record(c, ESCP_S_DELIVERY_FAIL, 7, v, d, status, sizeof status, recorded, err);
    *final = rc == 0 && *recorded && strcmp(status, "failed") == 0;
    return rc;
}

int escp_store_webhook_next(struct escp_conn *c, bool *unrouted, double *seconds, bool *none,
                            esc_error_t *err)
{
    PGresult *res = escp_exec(c, ESCP_S_WEBHOOK_NEXT, 0, NULL, err);
    if (!res)
        return -1;
    *unrouted = PQgetvalue(res, 0, 0)[0] == 't';
    *none = PQgetisnull(res, 0, 1);
    *seconds = *none ? 0 : strtod(PQgetvalue(res, 0, 1), NULL);
    PQclear(res);
    return 0;
}
