/* api_taxonomy.c — GET/PUT /v1/taxonomy (issue 10 item 5; docs/api.md
 * "Taxonomy"): the tree of complaint categories that, once enforced, a new
 * ticket's category must be a code of. */
#include <stdio.h>

#include "http/http.h"

/* The document answers with its version as the ETag (for If-Match). */
static void reply_taxonomy(struct escp_req *r, json_t *doc)
{
    if (!doc)
        return;
    snprintf(r->etag, sizeof r->etag, "\"%" JSON_INTEGER_FORMAT "\"",
             json_integer_value(json_object_get(doc, "version")));
    r->status = 200;
    r->json = doc;
}

static void escp_api_taxonomy_get(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    reply_taxonomy(r, escp_svc_taxonomy_get(r->svc, &r->err));
}

/* {"categories": [...], "enforced": true|false (default true)} */
static void escp_api_taxonomy_put(struct escp_req *r)
{
    int if_match;
    json_t *b = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || escp_if_match(r, &if_match) != 0 ||
        !(b = escp_body_object(r, false)))
        return;
    json_t *enforced = json_object_get(b, "enforced");
    if (escp_only_keys(b, (const char *const[]){"categories", "enforced", NULL}, "", &r->err) != 0)
        goto out;
    if (!json_object_get(b, "categories")) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "categories", "categories is required");
        goto out;
    }
    if (enforced && !json_is_boolean(enforced)) {
        esc_error_set(&r->err, ESC_ERR_VALIDATION, "enforced", "enforced must be true or false");
        goto out;
    }
    reply_taxonomy(r, escp_svc_taxonomy_put(r->svc, &r->actor, json_object_get(b, "categories"),
                                            !enforced || json_is_true(enforced), if_match, &r->err));
out:
    json_decref(b);
}

const struct escp_route escp_routes_taxonomy[] = {
    {"GET", "/v1/taxonomy", escp_api_taxonomy_get, ESCP_MANAGERS, -1},
    {"PUT", "/v1/taxonomy", escp_api_taxonomy_put, ESCP_MANAGERS, -1},
    {0},
};
