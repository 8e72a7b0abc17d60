/* service_events.c — the event feed's long poll (GET /v1/events).
 *
 * A waiting request holds no database connection: each look leases one for a
 * single statement and gives it back.  Between looks it sleeps on the wake
 * generation that this process bumps after every commit that recorded events
 * (service.c, the customer reveal, the SLA engine), and looks at least once a
 * second anyway for events other daemons (and other threads) commit.  When
 * committed events are held back because an older transaction is still open
 * (see store_events.c), it looks again after 10, 20, 40, ... ms (at most 1 s).
 */
#include <time.h>

#include "base/clock.h"
#include "service/service.h"

#define RECHECK_MS 1000 /* other daemons' events */
#define PENDING_FIRST_MS 10

json_t *escp_svc_events(struct escp_svc *svc, int64_t after, int limit, int wait_ms,
                        volatile int *stopping, struct escp_feed_page *page, esc_error_t *err)
{
    struct escp_feed_cursor cur = {.id = after, .xid = "0"};
    int pending_ms = PENDING_FIRST_MS;
    bool resolved = after == 0;
    const double start = escp_mono_now();
    for (;;) {
        uint64_t gen = escp_wake_events_gen(svc->wake);
        struct escp_conn *c = escp_lease(svc->store, err);
        if (!c)
            return NULL;
        json_t *items = NULL;
        if (resolved || escp_store_event_cursor(c, &cur, err) == 0) {
            resolved = true;
            items = escp_store_event_feed(c, &cur, limit, page, err);
        }
        escp_release(svc->store, c);
        if (items && json_array_size(items) > 0 &&
            escp_render_each(items, escp_render_event, err) != 0) {
            json_decref(items);
            return NULL;
        }
        if (!items || json_array_size(items) > 0)
            return items;
        long left = wait_ms - (long)((escp_mono_now() - start) * 1000.0);
        if (left <= 0 || (stopping && *stopping))
            return items;
        json_decref(items);
        int nap = RECHECK_MS;
        if (page->pending) {
            nap = pending_ms;
            pending_ms = pending_ms * 2 < RECHECK_MS ? pending_ms * 2 : RECHECK_MS;
        }
        escp_wake_events_wait(svc->wake, gen, left < nap ? (int)left : nap);
    }
}
