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

int escp_store_event_cursor(struct escp_conn *c, struct escp_feed_cursor *cur, esc_error_t *err)
{
    char idb[24];
    snprintf(idb, sizeof idb, "%" PRId64, cur->id);
    const char *v[1] = {idb};
    PGresult *res = escp_exec(c, ESCP_S_EVENT_CURSOR, 1, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        snprintf(cur->xid, sizeof cur->xid, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    } else {
        esc_error_set(err, ESC_ERR_VALIDATION, "after", "after must be the id of an event (or 0)");
    }
    PQclear(res);
    return rc;
}

json_t *escp_store_event_feed(struct escp_conn *c, const struct escp_feed_cursor *after, int limit,
                              struct escp_feed_page *page, esc_error_t *err)
{
    enum { F_TICKET = 13, F_XID, F_SETTLED };
    char idb[24], lim[16];
    snprintf(idb, sizeof idb, "%" PRId64, after->id);
    snprintf(lim, sizeof lim, "%d", limit + 1); /* one more: is there a next page? */
    const char *v[3] = {after->xid, idb, lim};
    PGresult *res = escp_exec(c, ESCP_S_EVENT_FEED, 3, v, err);
    if (!res)
        return NULL;
    json_t *items = json_array();
    page->next = *after;
    page->has_more = page->pending = false;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetvalue(res, i, F_SETTLED)[0] != 't') {
            page->pending = true; /* visible, but an older transaction may still commit */
            break;
        }
        if (i == limit) {
            page->has_more = true;
            break;
        }
        json_t *e = escp_event_from_row(res, i);
        json_object_set_new(e, "ticket_id", json_integer(strtoll(PQgetvalue(res, i, F_TICKET), NULL, 10)));
        json_array_append_new(items, e);
        page->next.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        snprintf(page->next.xid, sizeof page->next.xid, "%s", PQgetvalue(res, i, F_XID));
    }
    PQclear(res);
    return items;
}
