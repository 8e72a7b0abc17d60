/* store_tickets.c — tickets, their history, the claim queue and lists. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *int_or_null(const char *s)
{
    return s ? json_integer(strtoll(s, NULL, 10)) : json_null();
}

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

static json_t *tier_json(const char *s)
{
    const char *name = s ? esc_tier_name((enum esc_tier)atoi(s)) : NULL;
    return name ? json_string(name) : json_null();
}

json_t *escp_ticket_from_row(const PGresult *res, int row, int b)
{
#define V(col) escp_val(res, row, b + (col))
    json_t *t = json_object();
    json_object_set_new(t, "id", int_or_null(V(TC_ID)));
    json_object_set_new(t, "tier", tier_json(V(TC_TIER)));
    json_object_set_new(t, "state", str_or_null(V(TC_STATE)));
    json_object_set_new(t, "severity", str_or_null(V(TC_SEVERITY)));
    json_object_set_new(t, "channel", str_or_null(V(TC_CHANNEL)));
    json_object_set_new(t, "category", str_or_null(V(TC_CATEGORY)));
    json_object_set_new(t, "subject", str_or_null(V(TC_SUBJECT)));
    json_object_set_new(t, "description", str_or_null(V(TC_DESCRIPTION)));
    json_t *cust = json_object();
    json_object_set_new(cust, "name", str_or_null(V(TC_CNAME)));
    json_object_set_new(cust, "phone", str_or_null(V(TC_CPHONE)));
    json_object_set_new(cust, "email", str_or_null(V(TC_CEMAIL)));
    json_object_set_new(cust, "id_number", str_or_null(V(TC_CID)));
    json_object_set_new(t, "customer", cust);
    json_object_set_new(t, "external_ref", str_or_null(V(TC_EXTREF)));
    if (V(TC_ASSIGNEE_ID))
        json_object_set_new(t, "assignee", json_pack("{s:I,s:s}", "id",
                                                     (json_int_t)strtoll(V(TC_ASSIGNEE_ID), NULL, 10),
                                                     "name", V(TC_ASSIGNEE_NAME) ? V(TC_ASSIGNEE_NAME) : ""));
    else
        json_object_set_new(t, "assignee", json_null());
    json_object_set_new(t, "root_cause", str_or_null(V(TC_ROOT_CAUSE)));
    json_object_set_new(t, "resolution", str_or_null(V(TC_RESOLUTION)));
    if (V(TC_SAT_RESULT))
        json_object_set_new(t, "satisfaction",
                            json_pack("{s:s,s:o,s:o}", "result", V(TC_SAT_RESULT), "score",
                                      int_or_null(V(TC_SAT_SCORE)), "feedback",
                                      str_or_null(V(TC_SAT_FEEDBACK))));
    else
        json_object_set_new(t, "satisfaction", json_null());
    json_object_set_new(t, "created_at", escp_json_time(V(TC_CREATED_AT)));
    json_object_set_new(t, "acknowledged_at", escp_json_time(V(TC_ACKED_AT)));
    json_object_set_new(t, "resolved_at", escp_json_time(V(TC_RESOLVED_AT)));
    json_object_set_new(t, "closed_at", escp_json_time(V(TC_CLOSED_AT)));
    json_object_set_new(t, "ack_due_at", escp_json_time(V(TC_ACK_DUE)));
    json_object_set_new(t, "resolve_due_at", escp_json_time(V(TC_RESOLVE_DUE)));
    json_object_set_new(t, "callback_due_at", escp_json_time(V(TC_CALLBACK_DUE)));
    json_object_set_new(t, "breaches", text_array(V(TC_BREACHES)));
    json_object_set_new(t, "version", int_or_null(V(TC_VERSION)));
    return t;
#undef V
}

static json_t *one_ticket(PGresult *res, esc_error_t *err)
{
    json_t *t = NULL;
    if (!res)
        return NULL;
    if (PQntuples(res) == 1)
        t = escp_ticket_from_row(res, 0, 0);
    else
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
    PQclear(res);
    return t;
}

json_t *escp_store_ticket_create(struct escp_conn *c, const struct escp_new_ticket *nt,
                                 int64_t actor_id, int notify_within_ms, bool *replayed,
                                 esc_time_t *first_due, esc_error_t *err)
{
    char actor[24], window[24];
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    snprintf(window, sizeof window, "%.3f", notify_within_ms > 0 ? notify_within_ms / 1000.0 : 0.0);
    const char *v[14] = {nt->severity, nt->channel, nt->category, nt->subject, nt->description,
                         nt->customer_name, nt->customer_phone, nt->customer_email,
                         nt->customer_id_number, nt->external_ref, actor, nt->idempotency_key,
                         nt->idempotency_key ? nt->request_hash : NULL, window};
    *replayed = false;
    *first_due = ESC_TIME_NULL;
    PGresult *res = escp_exec(c, ESCP_S_TICKET_CREATE, 14, v, err);
    if (!res)
        return NULL;
    if (PQntuples(res) == 1) {
        const char *due = escp_val(res, 0, TC__COUNT); /* least(ack, warn, resolve) */
        if (due && esc_time_parse(due, first_due) != 0)
            *first_due = ESC_TIME_NULL;
        return one_ticket(res, err);
    }
    PQclear(res);

    /* The idempotency key was used before: same body -> the same ticket. */
    const char *k[2] = {actor, nt->idempotency_key};
    res = escp_exec(c, ESCP_S_TICKET_BY_IDEMPOTENCY, 2, k, err);
    if (!res)
        return NULL;
    json_t *t = NULL;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    } else if (strcmp(PQgetvalue(res, 0, TC__COUNT), nt->request_hash) != 0) {
        esc_error_set(err, ESC_ERR_IDEMPOTENCY_CONFLICT, "Idempotency-Key",
                      "this Idempotency-Key was used with a different request body");
    } else {
        t = escp_ticket_from_row(res, 0, 0);
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
    return one_ticket(escp_exec(c, ESCP_S_TICKET_GET, 1, v, err), err);
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
    PGresult *res = escp_exec(c, ESCP_S_TICKET_LOCK, 1, v, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
        return -1;
    }
    memset(t, 0, sizeof *t);
    int col = 0;
    t->id = int_col(res, col++, 0);
    t->tier = (enum esc_tier)int_col(res, col++, 1);
    t->state = (enum esc_state)esc_state_from_name(PQgetvalue(res, 0, col++));
    t->severity = (enum esc_severity)esc_severity_from_name(PQgetvalue(res, 0, col++));
    t->assignee_id = int_col(res, col++, 0);
    for (int i = 1; i <= 3; i++)
        t->tier_assignee[i] = int_col(res, col++, 0);
    t->resolver_id = int_col(res, col++, 0);
    t->resolved_tier = (int)int_col(res, col++, 0);
    t->acknowledged_at = time_col(res, col++);
    t->resolved_at = time_col(res, col++);
    t->closed_at = time_col(res, col++);
    t->ack_due_at = time_col(res, col++);
    t->resolve_due_at = time_col(res, col++);
    t->warn_due_at = time_col(res, col++);
    t->callback_due_at = time_col(res, col++);
    t->resolve_started_at = time_col(res, col++);
    t->paused_at = time_col(res, col++);
    t->resolve_left_us = int_col(res, col++, ESC_TIME_NULL);
    t->warn_left_us = int_col(res, col++, ESC_TIME_NULL);
    t->paused_total_us = int_col(res, col++, 0);
    t->resolve_fired = PQgetvalue(res, 0, col++)[0] == 't';
    t->warn_fired = PQgetvalue(res, 0, col++)[0] == 't';
    t->version = (int)int_col(res, col++, 0);
    t->now = time_col(res, col++);
    t->ack_seconds = int_col(res, col++, 600);
    t->resolve_seconds = int_col(res, col++, 86400);
    t->warn_ratio = strtod(PQgetvalue(res, 0, col++), NULL);
    t->callback_days = (int)int_col(res, col++, 3);
    PQclear(res);
    if ((int)t->state < 0 || t->now == ESC_TIME_NULL) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        return -1;
    }
    return 0;
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
    char stops[64] = "{", kinds[64] = "{", dues[ESCP_TIMER__COUNT * 48 + 8] = "{";
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
    json_t *out = one_ticket(escp_exec(c, ESCP_S_TICKET_APPLY, 41, x.v, err), err);
    free(data);
    return out;
}

static json_t *event_from_row(const PGresult *res, int row)
{
    enum { E_ID, E_TYPE, E_AT, E_ACTOR, E_ANAME, E_AROLE, E_FT, E_TT, E_FS, E_TS, E_REASON, E_BODY, E_DATA };
#define V(col) escp_val(res, row, col)
    json_t *e = json_object();
    json_object_set_new(e, "id", int_or_null(V(E_ID)));
    json_object_set_new(e, "type", str_or_null(V(E_TYPE)));
    json_object_set_new(e, "at", escp_json_time(V(E_AT)));
    if (V(E_ACTOR))
        json_object_set_new(e, "actor", json_pack("{s:I,s:s,s:s}", "id",
                                                  (json_int_t)strtoll(V(E_ACTOR), NULL, 10), "name",
                                                  V(E_ANAME) ? V(E_ANAME) : "", "role",
                                                  V(E_AROLE) ? V(E_AROLE) : ""));
    else
        json_object_set_new(e, "actor", json_null());
    if (V(E_FT))
        json_object_set_new(e, "from_tier", tier_json(V(E_FT)));
    if (V(E_TT))
        json_object_set_new(e, "to_tier", tier_json(V(E_TT)));
    if (V(E_FS))
        json_object_set_new(e, "from_state", json_string(V(E_FS)));
    if (V(E_TS))
        json_object_set_new(e, "to_state", json_string(V(E_TS)));
    if (V(E_REASON))
        json_object_set_new(e, "reason", json_string(V(E_REASON)));
    if (V(E_BODY))
        json_object_set_new(e, "body", json_string(V(E_BODY)));
    if (V(E_DATA)) {
        json_t *d = json_loads(V(E_DATA), 0, NULL);
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

json_t *escp_event_from_row(const PGresult *res, int row) { return event_from_row(res, row); }

json_t *escp_store_event_add(struct escp_conn *c, int64_t ticket_id, const struct escp_event *ev,
                             esc_error_t *err)
{
    char idb[24], actor[24];
    snprintf(idb, sizeof idb, "%" PRId64, ticket_id);
    snprintf(actor, sizeof actor, "%" PRId64, ev->actor_id);
    char *data = ev->data ? json_dumps(ev->data, JSON_COMPACT) : NULL;
    const char *v[6] = {idb, ev->type, ev->actor_id ? actor : NULL, ev->reason, ev->body, data};
    PGresult *res = escp_exec(c, ESCP_S_EVENT_ADD, 6, v, err);
    free(data);
    if (!res)
        return NULL;
    json_t *e = PQntuples(res) == 1 ? event_from_row(res, 0) : NULL;
    if (!e)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
    PQclear(res);
    return e;
}

json_t *escp_store_calendar(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = escp_exec(c, ESCP_S_CALENDAR, 0, NULL, err);
    if (!res)
        return NULL;
    json_t *doc = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (!doc)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the business calendar is missing");
    PQclear(res);
    return doc;
}

json_t *escp_store_claim(struct escp_conn *c, enum esc_tier tier, int64_t actor_id, esc_error_t *err)
{
    char tb[8], actor[24];
    snprintf(tb, sizeof tb, "%d", (int)tier);
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[2] = {tb, actor};
    PGresult *res = escp_exec(c, ESCP_S_CLAIM, 2, v, err);
    if (!res)
        return NULL;
    json_t *t = PQntuples(res) == 1 ? escp_ticket_from_row(res, 0, 0) : NULL;
    PQclear(res);
    return t;
}

json_t *escp_store_ticket_list(struct escp_conn *c, const struct escp_list_filter *f, esc_error_t *err)
{
    char assignee[24], before[24], limit[16];
    snprintf(assignee, sizeof assignee, "%" PRId64, f->assignee);
    snprintf(before, sizeof before, "%" PRId64, f->before_id);
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    const char *v[9] = {f->tiers, f->states, f->severities, f->assignee ? assignee : NULL,
                        f->breached, f->due_before, f->q_pattern,
                        f->before_id ? before : NULL, limit};
    PGresult *res = escp_exec(c, ESCP_S_TICKET_LIST, 9, v, err);
    if (!res)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, escp_ticket_from_row(res, i, 0));
    PQclear(res);
    return arr;
}

json_t *escp_store_ticket_events(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    const char *v[1] = {idb};
    PGresult *res = escp_exec(c, ESCP_S_TICKET_EVENTS, 1, v, err);
    if (!res)
        return NULL;
    if (PQntuples(res) == 0) { /* every ticket has its `created` event */
        PQclear(res);
        res = escp_exec(c, ESCP_S_TICKET_EXISTS, 1, v, err);
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
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items, event_from_row(res, i));
    PQclear(res);
    return json_pack("{s:o}", "items", items);
}

json_t *escp_store_customer_reveal(struct escp_conn *c, int64_t id, int64_t actor_id, esc_error_t *err)
{
    char idb[24], actor[24];
    snprintf(idb, sizeof idb, "%" PRId64, id);
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[2] = {idb, actor};
    PGresult *res = escp_exec(c, ESCP_S_CUSTOMER_REVEAL, 2, v, err);
    if (!res)
        return NULL;
    json_t *out = NULL;
    if (PQntuples(res) == 1)
        out = json_pack("{s:I,s:o,s:o,s:o,s:o}", "ticket_id", (json_int_t)id,
                        "name", str_or_null(escp_val(res, 0, 1)),
                        "phone", str_or_null(escp_val(res, 0, 2)),
                        "email", str_or_null(escp_val(res, 0, 3)),
                        "id_number", str_or_null(escp_val(res, 0, 4)));
    else
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ticket");
    PQclear(res);
    return out;
}

int escp_store_principal_by_hash(struct escp_conn *c, const char *hash, struct esc_actor *actor,
                                 esc_error_t *err)
{
    const char *v[1] = {hash};
    PGresult *res = escp_exec(c, ESCP_S_PRINCIPAL_BY_HASH, 1, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        memset(actor, 0, sizeof *actor);
        actor->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(actor->name, sizeof actor->name, "%s", PQgetvalue(res, 0, 1));
        actor->role = (enum esc_role)esc_role_from_name(PQgetvalue(res, 0, 2));
        actor->tier = (enum esc_tier)(PQgetisnull(res, 0, 3) ? 0 : atoi(PQgetvalue(res, 0, 3)));
        rc = (int)actor->role >= 0 ? 0 : -1;
    }
    if (rc != 0)
        esc_error_set(err, ESC_ERR_UNAUTHENTICATED, NULL, "unknown or revoked token");
    PQclear(res);
    return rc;
}
