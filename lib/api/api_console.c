/* api_console.c — the agents' console: the page and its files (embedded at
 * build time from console/), and the routes it needs beyond the ticket
 * routes: who am I, a tier's queue in claim order, the actions this caller
 * may take on a ticket now, and the complaint categories.
 *
 * Like the dashboard, the page holds no data and needs no token to load: the
 * agent enters a token in it, and every call it makes carries that token, so
 * the API's own checks apply (docs/console.md). */
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/assets.h"
#include "core/fsm.h"

#define QUEUE_LIMIT_MAX 200
#define QUEUE_LIMIT_DEFAULT 50

/* ---- GET /v1/me ---- */

static void escp_api_me(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    const struct esc_actor *a = &r->actor;
    /* this server's clock, to the millisecond, for the console's countdowns
     * (a Date header has whole seconds only) */
    struct timespec ts;
    char now[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    esc_time_format((esc_time_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, now, sizeof now);
    r->json = json_pack("{s:I,s:s,s:s,s:o,s:s}", "id", (json_int_t)a->id, "name", a->name, "role",
                        esc_role_name(a->role), "tier",
                        a->tier != ESC_TIER_NONE ? json_string(esc_tier_name(a->tier)) : json_null(),
                        "server_time", now);
    r->status = 200;
}

/* ---- GET /v1/queues/{tier} ---- */

static void escp_api_queue(struct escp_req *r)
{
    enum esc_tier tier = (enum esc_tier)esc_tier_from_name(r->params[0]);
    /* the route admits agents and managers; an agent sees the queue it
     * claims from, the claim's own rule */
    if (r->actor.role == ESC_ROLE_AGENT && !esc_fsm_may_claim(&r->actor, tier)) {
        esc_error_set(&r->err, ESC_ERR_FORBIDDEN, NULL,
                      "only an agent of %s or a manager may see its queue", esc_tier_name(tier));
        return;
    }
    int limit = QUEUE_LIMIT_DEFAULT;
    if (escp_query_only(r, (const char *const[]){"limit", NULL}) != 0 ||
        escp_limit_query(r, QUEUE_LIMIT_MAX, &limit) != 0)
        return;
    r->json = escp_svc_queue(r->svc, tier, limit, &r->err);
    r->status = 200;
}

/* ---- GET /v1/tickets/{id}/actions ---- */

static void escp_api_ticket_actions(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "ticket")) <= 0)
        return;
    r->json = escp_svc_ticket_actions(r->svc, &r->actor, id, &r->err);
    if (r->json)
        snprintf(r->etag, sizeof r->etag, "\"%" JSON_INTEGER_FORMAT "\"",
                 json_integer_value(json_object_get(r->json, "version")));
    r->status = 200;
}

/* ---- GET /v1/categories ---- */

/* The complaint categories for whoever records or classifies complaints
 * (the front desk's form): the taxonomy's tree and whether it is enforced,
 * without who edited it.  The taxonomy itself (GET/PUT /v1/taxonomy) stays
 * the managers'. */
static void escp_api_categories(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    json_t *doc = escp_svc_taxonomy_get(r->svc, &r->err);
    if (!doc)
        return;
    r->json = json_pack("{s:O,s:O,s:O}", "version", json_object_get(doc, "version"), "enforced",
                        json_object_get(doc, "enforced"), "categories", json_object_get(doc, "categories"));
    snprintf(r->etag, sizeof r->etag, "\"%" JSON_INTEGER_FORMAT "\"",
             json_integer_value(json_object_get(doc, "version")));
    json_decref(doc);
    r->status = 200;
}

/* ---- the page and its files (query strings ignored, as the dashboard's) ---- */

static void escp_api_console_page(struct escp_req *r)
{
    if (escp_serve_asset(r, escp_console_assets, "index.html") != 0)
        esc_error_set(&r->err, ESC_ERR_INTERNAL, NULL, "the console was not built in");
}

static void escp_api_console_file(struct escp_req *r)
{
    if (strcmp(r->params[0], "index.html") == 0 ||
        escp_serve_asset(r, escp_console_assets, r->params[0]) != 0)
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "no such route");
}

const struct escp_route escp_routes_console[] = {
    {"GET", "/v1/me",                 escp_api_me, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/queues/{tier}",      escp_api_queue, ESCP_AGENTS | ESCP_MANAGERS, -1},
    {"GET", "/v1/tickets/{}/actions", escp_api_ticket_actions, ESCP_ANY_ROLE, -1},
    {"GET", "/v1/categories",         escp_api_categories, ESCP_ANY_ROLE, -1},
    {"GET", "/console",               escp_api_console_page, ESCP_PUBLIC, -1},
    {"GET", "/console/",              escp_api_console_page, ESCP_PUBLIC, -1},
    {"GET", "/console/{}",            escp_api_console_file, ESCP_PUBLIC, -1},
    {0},
};
