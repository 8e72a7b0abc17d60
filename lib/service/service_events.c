/* service_events.c — the event feed's long poll (GET /v1/events).
 *
 * A waiting request holds no database connection and no thread: each look
 * leases a connection for its statements and gives it back, and between
 * looks the caller waits (http/ suspends the request) on the wake generation
 * that this process bumps after every commit that recorded events
 * (service.c, the customer reveal, the SLA engine), and looks at least once
 * a second anyway for events other daemons (and other threads) commit.
 * When committed events are held back because an older transaction is still
 * open (see store_events.c), it looks again after 10, 20, 40, ... ms (at
 * most 1 s).
 */
#include "service/service.h"

#define RECHECK_MS 1000 /* other daemons' events */
#define PENDING_FIRST_MS 10

json_t *escp_svc_events(struct escp_svc *svc, int64_t after, int limit, struct escp_poll *poll,
                        struct escp_feed_page *page, esc_error_t *err)
{
    struct escp_feed_cursor cur = {.id = after, .xid = "0"};
    /* read before the look: events committed during it move it */
    poll->slot = ESC_TIER_NONE;
    poll->gen = escp_wake_gen(svc->wake, ESC_TIER_NONE);
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = NULL;
    if (after == 0 || escp_store_event_cursor(c, &cur, err) == 0)
        items = escp_store_event_feed(c, &cur, limit, page, err);
    escp_release(svc->store, c);
    if (items && json_array_size(items) > 0 && escp_render_each(items, escp_render_event, err) != 0) {
        json_decref(items);
        return NULL;
    }
    poll->recheck_ms = RECHECK_MS;
    if (items && json_array_size(items) == 0 && page->pending) {
        poll->pending_ms = poll->pending_ms ? poll->pending_ms * 2 : PENDING_FIRST_MS;
        if (poll->pending_ms > RECHECK_MS)
            poll->pending_ms = RECHECK_MS;
        poll->recheck_ms = poll->pending_ms;
    }
    return items;
}
