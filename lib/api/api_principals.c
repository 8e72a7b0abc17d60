/* api_principals.c — admin routes: principals and their tokens (SPEC
 * section 7, docs/api.md "Principals").  Only admins (the route table): any
 * other role gets 403 from the dispatcher.  A token is in the answer of the
 * create and of a rotation, never elsewhere. */
#include <stdio.h>
#include <string.h>

#include "http/http.h"

#define NAME_MAX_CHARS 100
#define REASON_MAX_CHARS 500

/* Characters of a UTF-8 string (jansson checked it is valid); -1 when it
 * holds a control character (names go into tables and logs). */
static long text_chars(const char *s)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        n += (*p & 0xc0) != 0x80;
    }
    return n;
}

/* expires_at of a body: absent (*present = false), null (*t = ESC_TIME_NULL)
 * or an RFC 3339 time.  Whether it is in the future is the database's
 * clock's to say (the use case). */
static int expires_param(json_t *b, bool *present, esc_time_t *t, esc_error_t *err)
{
    json_t *v = json_object_get(b, "expires_at");
    *present = v != NULL;
    *t = ESC_TIME_NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || esc_time_parse(json_string_value(v), t) != 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "expires_at", "expires_at must be an RFC 3339 time or null");
        return -1;
    }
    return 0;
}

/* The tier of an agent: 1..3, "1".."3" or "line-1".."line-3". */
static int tier_param(json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 1 && json_integer_value(v) <= 3 ? (int)json_integer_value(v) : -1;
    return json_is_string(v) ? esc_tier_parse(json_string_value(v)) : -1;
}

/* ---- POST /v1/principals ---- */

static void escp_api_principal_create(struct escp_req *r)
{
    static const char *const keys[] = {"name", "role", "tier", "expires_at", NULL};
    esc_error_t *err = &r->err;
    json_t *b = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, false)))
        return;
    if (escp_only_keys(b, keys, "", err) != 0)
        goto out;
    json_t *name = json_object_get(b, "name"), *role = json_object_get(b, "role");
    json_t *tier = json_object_get(b, "tier");
    long chars = json_is_string(name) ? text_chars(json_string_value(name)) : -1;
    if (chars < 1 || chars > NAME_MAX_CHARS) {
        esc_error_set(err, ESC_ERR_VALIDATION, "name",
                      "name is required: 1 to %d characters, no control characters", NAME_MAX_CHARS);
        goto out;
    }
    int rl = json_is_string(role) ? esc_role_from_name(json_string_value(role)) : -1;
    if (rl < 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "role",
                      "role is required: frontdesk, agent, manager or admin");
        goto out;
    }
    int t = 0;
    if (rl == ESC_ROLE_AGENT && (t = tier_param(tier)) < 1) {
        esc_error_set(err, ESC_ERR_VALIDATION, "tier", "an agent needs a tier: line-1, line-2 or line-3");
        goto out;
    }
    if (rl != ESC_ROLE_AGENT && tier && !json_is_null(tier)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "tier", "only an agent has a tier");
        goto out;
    }
    bool present;
    esc_time_t expires;
    char pg[48];
    if (expires_param(b, &present, &expires, err) != 0)
        goto out;
    struct escp_principal_new pn = {json_string_value(name), (enum esc_role)rl, (enum esc_tier)t, NULL};
    if (expires != ESC_TIME_NULL) {
        escp_time_pg(expires, pg, sizeof pg);
        pn.expires_at = pg;
    }
    json_t *p = escp_svc_principal_create(r->svc, &r->actor, &pn, err);
    if (!p)
        goto out;
    snprintf(r->location, sizeof r->location, "/v1/principals/%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(p, "id")));
    r->status = 201;
    r->json = p;
out:
    json_decref(b);
}

/* ---- GET /v1/principals, GET /v1/principals/{id}, GET .../audit ---- */

static void escp_api_principal_list(struct escp_req *r)
{
    static const char *const allowed[] = {"role", "status", "limit", "cursor", NULL};
    static const char *const statuses[] = {"active", "revoked", "expired", NULL};
    struct escp_principal_filter f = {.limit = 50};
    const char *v;
    if (escp_query_only(r, allowed) != 0)
        return;
    if ((v = escp_query(r, "role"))) {
        int rl = esc_role_from_name(v);
        if (rl < 0) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "role",
                          "role must be frontdesk, agent, manager or admin");
            return;
        }
        f.role = esc_role_name((enum esc_role)rl);
    }
    if ((v = escp_query(r, "status"))) {
        for (const char *const *s = statuses; *s && !f.status; s++)
            if (strcmp(*s, v) == 0)
                f.status = *s;
        if (!f.status) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "status", "status must be active, revoked or expired");
            return;
        }
    }
    if (escp_limit_query(r, 200, &f.limit) != 0 || escp_cursor_query(r, 'p', &f.before_id) != 0)
        return;
    json_t *items = escp_svc_principal_list(r->svc, &f, &r->err);
    if (!items)
        return;
    json_t *next = escp_page_next(items, f.limit, 'p');
    r->status = 200;
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}

static void escp_api_principal_get(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "principal")) <= 0)
        return;
    r->json = escp_svc_principal_get(r->svc, id, &r->err);
    r->status = 200;
}

static void escp_api_principal_audit(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "principal")) <= 0)
        return;
    r->json = escp_svc_principal_audit(r->svc, id, &r->err);
    r->status = 200;
}

/* ---- POST /v1/principals/{id}/revoke, POST .../rotate ---- */

static void escp_api_principal_revoke(struct escp_req *r)
{
    static const char *const keys[] = {"reason", NULL};
    esc_error_t *err = &r->err;
    json_t *b = NULL;
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, true)))
        return;
    if (escp_only_keys(b, keys, "", err) != 0)
        goto out;
    json_t *reason = json_object_get(b, "reason");
    long chars = json_is_string(reason) ? text_chars(json_string_value(reason)) : -1;
    if (reason && !json_is_null(reason) && (chars < 1 || chars > REASON_MAX_CHARS)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "reason",
                      "reason must be 1 to %d characters, no control characters", REASON_MAX_CHARS);
        goto out;
    }
    if ((id = escp_path_id(r, 0, "principal")) <= 0)
        goto out;
    r->json = escp_svc_principal_revoke(r->svc, &r->actor, id,
                                        json_is_string(reason) ? json_string_value(reason) : NULL, err);
    r->status = 200;
out:
    json_decref(b);
}

static void escp_api_principal_rotate(struct escp_req *r)
{
    static const char *const keys[] = {"expires_at", NULL};
    esc_error_t *err = &r->err;
    json_t *b = NULL;
    bool present;
    esc_time_t expires;
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, true)))
        return;
    if (escp_only_keys(b, keys, "", err) == 0 && expires_param(b, &present, &expires, err) == 0 &&
        (id = escp_path_id(r, 0, "principal")) > 0) {
        r->json = escp_svc_principal_rotate(r->svc, &r->actor, id, present, expires, err);
        r->status = 200;
    }
    json_decref(b);
}

const struct escp_route escp_routes_principals[] = {
    {"POST", "/v1/principals",             escp_api_principal_create, ESCP_ADMINS, -1},
    {"GET", "/v1/principals",              escp_api_principal_list, ESCP_ADMINS, -1},
    {"GET", "/v1/principals/{}",           escp_api_principal_get, ESCP_ADMINS, -1},
    {"GET", "/v1/principals/{}/audit",     escp_api_principal_audit, ESCP_ADMINS, -1},
    {"POST", "/v1/principals/{}/revoke",   escp_api_principal_revoke, ESCP_ADMINS, -1},
    {"POST", "/v1/principals/{}/rotate",   escp_api_principal_rotate, ESCP_ADMINS, -1},
    {0},
};
