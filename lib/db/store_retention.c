/* store_retention.c — the retention period and the anonymisation of closed
 * tickets past it (migration 010; docs/operations.md "Retention and
 * anonymisation"): the statements and the functions that run them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

/* The instant before which a ticket must have closed to be due: `months`
 * calendar months before now(), counted in UTC so that the answer does not
 * depend on the session's TimeZone.  Subtracting months clamps to the end
 * of a shorter month (31 July - 1 month = 30 June), so closed_at <= cutoff
 * implies closed_at + months <= now(): a ticket is never anonymised before
 * a full `months` months have passed. */
#define CUTOFF(months) \
    "((now() AT TIME ZONE 'UTC') - make_interval(months => " months ")) AT TIME ZONE 'UTC'"

/* A ticket due for anonymisation, `r` holding the cutoff.  Tickets whose
 * texts were never scanned (from before migration 008: serve scans them at
 * start) wait: their free text may still hold personal data in clear. */
#define DUE "t.state = 'closed' AND t.anonymised_at IS NULL AND t.text_scanned " \
            "AND t.closed_at <= r.cutoff"
/* MATERIALIZED: one row, computed once; inlined, the planner repeated what
 * depends on it for every row of a join (the count once per listed ticket:
 * 127 s for a dry run over 115,750 due tickets).  LIMIT 1 tells the planner
 * it is one row (it guessed 1,660, and the cost estimate then turned JIT on:
 * 2.4 s of compiling for a 0.5 s statement). */
#define PERIOD "r AS MATERIALIZED (SELECT x.months, " CUTOFF("x.months") " AS cutoff " \
               "FROM retention x LIMIT 1)"

/* One customer field anonymised: the sealed value erased, the masked form
 * the marker when there was a value (sealed, masked, or, before 006, clear;
 * null stays null: an absent field does not become one). */
#define ANON(f, had) \
    "customer_" f "_masked = CASE WHEN " had " THEN '" ESCP_RETENTION_MARK "' END, " \
    "customer_" f "_sealed = NULL, "
#define HAD(f) "(t.customer_" f "_sealed IS NOT NULL OR t.customer_" f "_masked IS NOT NULL)"
#define HAD_CLEAR(f) "(" HAD(f) " OR t.customer_" f " IS NOT NULL)"

enum {
    S_RETENTION_GET,
    S_RETENTION_PUT,
    S_RETENTION_DUE,
    S_RETENTION_ANONYMISE,
    S_RETENTION_ERASE_EVENTS,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    [S_RETENTION_GET] = {"retention_get",
        "SELECT x.months, x.updated_at, x.updated_by, " CUTOFF("x.months") " AS cutoff "
        "FROM retention x"},
    /* the CHECK of migration 010 refuses under 4 months whoever writes */
    [S_RETENTION_PUT] = {"retention_put",
        "UPDATE retention x SET months = $1::int, updated_at = now(), updated_by = $2::bigint "
        "RETURNING x.months, x.updated_at, x.updated_by, " CUTOFF("x.months") " AS cutoff"},

    /* What a run would do now: the count due, and the first $1 of them in
     * the order a run takes them (oldest closed first).  Both through the
     * partial index tickets_retention_due. */
    [S_RETENTION_DUE] = {"retention_due",
        "WITH " PERIOD ", "
        "n AS MATERIALIZED (SELECT count(*) AS due FROM tickets t, r WHERE " DUE ") "
        "SELECT r.months, r.cutoff, n.due, d.id, d.closed_at "
        "FROM r CROSS JOIN n LEFT JOIN LATERAL (SELECT t.id, t.closed_at FROM tickets t WHERE " DUE
        " ORDER BY t.closed_at, t.id LIMIT $1::int) d ON true "
        "ORDER BY d.closed_at, d.id"},

    /* One batch: up to $1 due tickets, locked SKIP LOCKED (two runs at once,
     * on two daemons, take different tickets; a ticket another run has just
     * done fails the re-check of DUE once its lock is free), anonymised, and
     * an `anonymised` event each (actor $2, NULL for the command line).  The
     * ticket's version moves, as for any change its answer shows. */
    [S_RETENTION_ANONYMISE] = {"retention_anonymise",
        "WITH " PERIOD ", "
        "c AS (SELECT t.id FROM tickets t, r WHERE " DUE " ORDER BY t.closed_at, t.id "
        " LIMIT $1::int FOR UPDATE OF t SKIP LOCKED), "
        "u AS (UPDATE tickets t SET "
        ANON("name", HAD_CLEAR("name")) ANON("phone", HAD_CLEAR("phone"))
        ANON("email", HAD_CLEAR("email")) ANON("id_number", HAD_CLEAR("id_number"))
        ANON("bank_card", HAD("bank_card"))
        " customer_name = NULL, customer_phone = NULL, customer_email = NULL, "
        " customer_id_number = NULL, customer_phone_bi = NULL, customer_id_number_bi = NULL, "
        " customer_key_version = NULL, pii_sealed = NULL, anonymised_at = now(), "
        " version = t.version + 1, updated_at = now() "
        " FROM c WHERE t.id = c.id RETURNING t.id, t.closed_at), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, data) "
        " SELECT u.id, 'anonymised', $2::bigint, jsonb_build_object('retention_months', r.months) "
        " FROM u CROSS JOIN r ORDER BY u.id) "
        "SELECT u.id, u.closed_at FROM u ORDER BY u.closed_at, u.id"},

    /* The sealed findings of the events of the tickets just anonymised
     * ($1, an array of ids), in the same transaction, after them: the
     * trigger of migration 010 allows this one change to the history, and
     * only for events of anonymised tickets. */
    [S_RETENTION_ERASE_EVENTS] = {"retention_erase_events",
        "UPDATE events SET pii_sealed = NULL "
        "WHERE ticket_id = ANY ($1::bigint[]) AND pii_sealed IS NOT NULL"},
};

const struct escp_stmt_table escp_stmts_retention = {stmts, S__COUNT};

static json_t *period_from_row(const PGresult *res, const char *what, esc_error_t *err)
{
    struct {
        int months, updated_at, updated_by, cutoff;
    } col, *k = &col;
    if (escp_columns(res, what, err, ESCP_COL(k, months), ESCP_COL(k, updated_at),
                     ESCP_COL(k, updated_by), ESCP_COL(k, cutoff), NULL) != 0)
        return NULL;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the retention period is missing");
        return NULL;
    }
    json_t *out = json_pack("{s:I, s:i, s:o, s:o, s:o}",
                            "months", (json_int_t)strtoll(PQgetvalue(res, 0, k->months), NULL, 10),
                            "minimum_months", ESCP_RETENTION_MIN_MONTHS,
                            "cutoff", escp_json_time(escp_val(res, 0, k->cutoff)),
                            "updated_at", escp_json_time(escp_val(res, 0, k->updated_at)),
                            "updated_by", escp_json_int(escp_val(res, 0, k->updated_by)));
    if (!out)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    return out;
}

json_t *escp_store_retention_get(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[S_RETENTION_GET], 0, NULL, err);
    if (!res)
        return NULL;
    json_t *out = period_from_row(res, stmts[S_RETENTION_GET].name, err);
    PQclear(res);
    return out;
}

json_t *escp_store_retention_put(struct escp_conn *c, int months, int64_t actor_id,
                                 esc_error_t *err)
{
    char m[16], actor[24];
    snprintf(m, sizeof m, "%d", months);
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[2] = {m, actor_id ? actor : NULL};
    PGresult *res = escp_exec(c, &stmts[S_RETENTION_PUT], 2, v, err);
    if (!res)
        return NULL;
    json_t *out = period_from_row(res, stmts[S_RETENTION_PUT].name, err);
    PQclear(res);
    return out;
}

/* {"id", "closed_at"} of row i, appended to `to`. */
static int append_ticket(json_t *to, const PGresult *res, int i, int id, int closed_at,
                         esc_error_t *err)
{
    json_t *t = json_pack("{s:I, s:o}", "id", (json_int_t)strtoll(PQgetvalue(res, i, id), NULL, 10),
                          "closed_at", escp_json_time(escp_val(res, i, closed_at)));
    if (!t || json_array_append_new(to, t) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

json_t *escp_store_retention_due(struct escp_conn *c, int limit, esc_error_t *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[1] = {lim};
    struct {
        int months, cutoff, due, id, closed_at;
    } col, *k = &col;
    json_t *out = NULL, *tickets = json_array();
    PGresult *res = tickets ? escp_exec(c, &stmts[S_RETENTION_DUE], 1, v, err) : NULL;
    if (!res)
        goto out;
    if (escp_columns(res, stmts[S_RETENTION_DUE].name, err, ESCP_COL(k, months),
                     ESCP_COL(k, cutoff), ESCP_COL(k, due), ESCP_COL(k, id),
                     ESCP_COL(k, closed_at), NULL) != 0)
        goto out;
    if (PQntuples(res) < 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the retention period is missing");
        goto out;
    }
    for (int i = 0; i < PQntuples(res); i++)
        if (escp_val(res, i, k->id) && append_ticket(tickets, res, i, k->id, k->closed_at, err) != 0)
            goto out;
    out = json_pack("{s:I, s:o, s:I, s:O}",
                    "months", (json_int_t)strtoll(PQgetvalue(res, 0, k->months), NULL, 10),
                    "cutoff", escp_json_time(escp_val(res, 0, k->cutoff)),
                    "due", (json_int_t)strtoll(PQgetvalue(res, 0, k->due), NULL, 10),
                    "tickets", tickets);
    if (!out)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    PQclear(res);
    json_decref(tickets);
    return out;
}

int escp_store_retention_anonymise(struct escp_conn *c, int limit, int64_t actor_id, json_t *done,
                                   int *n, esc_error_t *err)
{
    char lim[16], actor[24];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    const char *v[2] = {lim, actor_id ? actor : NULL};
    int id, closed_at, rc = -1;
    char *ids = NULL;
    *n = 0;
    PGresult *res = escp_exec(c, &stmts[S_RETENTION_ANONYMISE], 2, v, err);
    if (!res)
        return -1;
    if (escp_columns(res, stmts[S_RETENTION_ANONYMISE].name, err, "id", &id, "closed_at",
                     &closed_at, NULL) != 0)
        goto out;
    int count = PQntuples(res);
    if (count == 0) {
        rc = 0;
        goto out;
    }
    /* "{1,2,3}": the ids as an array literal (each at most 20 digits) */
    size_t cap = (size_t)count * 22 + 3, len = 0;
    if (!(ids = malloc(cap))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    ids[len++] = '{';
    for (int i = 0; i < count; i++) {
        len += (size_t)snprintf(ids + len, cap - len, "%s%s", i ? "," : "", PQgetvalue(res, i, id));
        if (done && append_ticket(done, res, i, id, closed_at, err) != 0)
            goto out;
    }
    snprintf(ids + len, cap - len, "}");
    const char *e[1] = {ids};
    PGresult *er = escp_exec(c, &stmts[S_RETENTION_ERASE_EVENTS], 1, e, err);
    if (!er)
        goto out;
    PQclear(er);
    *n = count;
    rc = 0;
out:
    free(ids);
    PQclear(res);
    return rc;
}
