/* store_events.c — the event feed across tickets (GET /v1/events).
 *
 * Feed order is (xid, id): the inserting transaction, then the event id.  An
 * event is served only once it is "settled": its transaction is older than
 * every transaction still running (pg_snapshot_xmin of the statement's
 * snapshot).  Every event that becomes visible later belongs to a transaction
 * at or above that horizon, so it sorts after everything served so far and a
 * consumer that walks the feed never skips one -- which ordering by id alone
 * cannot promise, since ids are taken before commit and commit out of order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

enum { S_EVENT_CURSOR, S_EVENT_FEED, S__COUNT };

static const struct escp_stmt stmts[S__COUNT] = {
    [S_EVENT_CURSOR] = {"event_cursor", "SELECT xid FROM events WHERE id = $1"},

    /* The events after ($1 xid, $2 id) in feed order, at most $3, each with
     * `settled`: its transaction is older than every transaction still
     * running (pg_snapshot_xmin), so no event can ever appear before it.
     * Settled rows come first (they have the smaller xids). */
    [S_EVENT_FEED] = {"event_feed",
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin), "
        "f AS (SELECT * FROM events e WHERE (e.xid, e.id) > ($1::xid8, $2::bigint) "
        " ORDER BY e.xid, e.id LIMIT $3::int) "
        "SELECT f.id, f.type, f.at, f.actor_id, p.name AS actor_name, p.role AS actor_role, "
        " f.from_tier, f.to_tier, f.from_state, f.to_state, f.reason, f.body, f.data, f.ticket_id, "
        " f.xid, f.xid < h.xmin AS settled "
        "FROM f CROSS JOIN h LEFT JOIN principals p ON p.id = f.actor_id "
        "ORDER BY f.xid, f.id"},
};

const struct escp_stmt_table escp_stmts_events = {stmts, S__COUNT};

int escp_store_event_cursor(struct escp_conn *c, struct escp_feed_cursor *cur, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, cur->id);
    const char *v[1] = {idb};
    int xid;
    PGresult *res = escp_exec(c, &stmts[S_EVENT_CURSOR], 1, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) != 1)
        esc_error_set(err, ESC_ERR_VALIDATION, "after", "after must be the id of an event (or 0)");
    else if (escp_columns(res, stmts[S_EVENT_CURSOR].name, err, "xid", &xid, NULL) == 0) {
        snprintf(cur->xid, sizeof cur->xid, "%s", PQgetvalue(res, 0, xid));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

json_t *escp_store_event_feed(struct escp_conn *c, const struct escp_feed_cursor *after, int limit,
                              struct escp_feed_page *page, esc_error_t *err)
{
    char idb[24], lim[16];
    snprintf(idb, sizeof idb, "%" PRId64, after->id);
    snprintf(lim, sizeof lim, "%d", limit + 1); /* one more: is there a next page? */
    const char *v[3] = {after->xid, idb, lim};
    struct escp_event_cols ev;
    int ticket_col, xid_col, settled_col;
    PGresult *res = escp_exec(c, &stmts[S_EVENT_FEED], 3, v, err);
    if (!res)
        return NULL;
    json_t *items = NULL;
    if (escp_event_cols(res, stmts[S_EVENT_FEED].name, &ev, err) != 0 ||
        escp_columns(res, stmts[S_EVENT_FEED].name, err, "ticket_id", &ticket_col, "xid", &xid_col,
                     "settled", &settled_col, NULL) != 0)
        goto out;
    items = json_array();
    page->next = *after;
    page->has_more = page->pending = false;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetvalue(res, i, settled_col)[0] != 't') {
            page->pending = true; /* visible, but an older transaction may still commit */
            break;
        }
        if (i == limit) {
            page->has_more = true;
            break;
        }
        json_t *e = escp_event_from_row(res, i, &ev);
        json_object_set_new(e, "ticket_id", escp_json_int(PQgetvalue(res, i, ticket_col)));
        json_array_append_new(items, e);
        page->next.id = strtoll(PQgetvalue(res, i, ev.id), NULL, 10);
        snprintf(page->next.xid, sizeof page->next.xid, "%s", PQgetvalue(res, i, xid_col));
    }
out:
    PQclear(res);
    return items;
}
