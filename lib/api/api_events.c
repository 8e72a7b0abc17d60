/* api_events.c — GET /v1/events: the event feed across tickets, with long
 * polling (docs/api.md#get-v1events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

#define FEED_LIMIT_DEFAULT 100
#define FEED_LIMIT_MAX 1000
#define FEED_WAIT_MAX_S 30

/* A non-negative decimal integer of at most 18 digits, or -1. */
static int64_t parse_count(const char *s)
{
    if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return -1;
    return strtoll(s, NULL, 10);
}

static void escp_api_events(struct escp_req *r)
{
    static const char *const allowed[] = {"after", "limit", "wait", NULL};
    esc_error_t *err = &r->err;
    int64_t after = 0;
    int limit = FEED_LIMIT_DEFAULT;
    int wait_ms;
    const char *v;
    if (escp_query_only(r, allowed) != 0)
        return;
    if ((v = escp_query(r, "after")) && (after = parse_count(v)) < 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "after", "after must be an event id (or 0)");
        return;
    }
    if (escp_limit_query(r, FEED_LIMIT_MAX, &limit) != 0 ||
        escp_wait_query(r, FEED_WAIT_MAX_S, &wait_ms) != 0)
        return;
    struct escp_feed_page page;
    json_t *items = escp_svc_events(r->svc, after, limit, &r->poll, &page, err);
    if (!items)
        return;
    if (json_array_size(items) == 0 && escp_long_poll(r, wait_ms)) {
        json_decref(items);
        return;
    }
    r->status = 200;
    r->json = json_pack("{s:o,s:I,s:b}", "items", items, "next_after", (json_int_t)page.next.id,
                        "has_more", page.has_more);
}

const struct escp_route escp_routes_events[] = {
    {"GET", "/v1/events", escp_api_events, ESCP_MANAGERS, -1},
    {0},
};
