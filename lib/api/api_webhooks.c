/* api_webhooks.c — admin routes: webhooks and the notification outbox
 * (docs/api.md, docs/webhooks.md).  Only admins (the route table): a
 * manager gets 403 from the dispatcher. */
#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "workers/workers.h"

/* problem_recurred: migration 013, a verifying problem's fix did not hold */
static const char *const EVENT_TYPES[] = {"breached", "at_risk", "major_created", "problem_recurred",
                                          NULL};

static int known_type(const char *s)
{
    for (const char *const *t = EVENT_TYPES; *t; t++)
        if (strcmp(*t, s) == 0)
            return 1;
    return 0;
}

/* ---- POST /v1/webhooks ---- */

/* event_types -> "{breached,at_risk}" in buf; absent or null = every type. */
static int event_types_param(json_t *b, char *buf, size_t len, esc_error_t *err)
{
    json_t *v = json_object_get(b, "event_types");
    size_t used = 0;
    unsigned seen = 0;
    if (!v || json_is_null(v)) {
        snprintf(buf, len, "{breached,at_risk,major_created,problem_recurred}");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "event_types",
                      "event_types must be a non-empty array of breached, at_risk, major_created, "
                      "problem_recurred");
        return -1;
    }
    used += (size_t)snprintf(buf, len, "{");
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        char field[48];
        snprintf(field, sizeof field, "event_types[%zu]", i);
        if (!json_is_string(t) || !known_type(json_string_value(t))) {
            esc_error_set(err, ESC_ERR_VALIDATION, field,
                          "%s must be one of breached, at_risk, major_created, problem_recurred",
                          field);
            return -1;
        }
        unsigned bit = 0;
        for (unsigned k = 0; EVENT_TYPES[k]; k++)
            if (strcmp(EVENT_TYPES[k], json_string_value(t)) == 0)
                bit = 1u << k;
        if (seen & bit) {
            esc_error_set(err, ESC_ERR_VALIDATION, field, "%s repeats a type", field);
            return -1;
        }
        seen |= bit;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "", json_string_value(t));
    }
    snprintf(buf + used, len - used, "}");
    return 0;
}

static void escp_api_webhook_create(struct escp_req *r)
{
    static const char *const keys[] = {"url", "event_types", "secret", NULL};
    esc_error_t *err = &r->err;
    json_t *b = NULL;
    char types[64];
    const char *url, *secret = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, false)))
        return;
    if (escp_only_keys(b, keys, "", err) != 0)
        goto out;
    json_t *u = json_object_get(b, "url");
    if (!u || json_is_null(u)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "url", "url is required");
        goto out;
    }
    if (!json_is_string(u) || strlen(json_string_value(u)) < 8 || strlen(json_string_value(u)) > 2048) {
        esc_error_set(err, ESC_ERR_VALIDATION, "url", "url must be a string of 8 to 2048 characters");
        goto out;
    }
    url = json_string_value(u);
    if (escp_webhook_url_check(url, err) != 0 || event_types_param(b, types, sizeof types, err) != 0)
        goto out;
    json_t *s = json_object_get(b, "secret");
    if (s && !json_is_null(s)) {
        const char *p = json_is_string(s) ? json_string_value(s) : NULL;
        size_t n = p ? strlen(p) : 0;
        int printable = p != NULL;
        for (size_t i = 0; i < n && printable; i++)
            printable = p[i] > 0x20 && p[i] < 0x7f;
        if (!printable || n < 16 || n > 256) {
            esc_error_set(err, ESC_ERR_VALIDATION, "secret",
                          "secret must be 16 to 256 printable ASCII characters without spaces");
            goto out;
        }
        secret = p;
    }
    json_t *w = escp_svc_webhook_create(r->svc, &r->actor, url, types, secret, err);
    if (!w)
        goto out;
    snprintf(r->location, sizeof r->location, "/v1/webhooks/%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(w, "id")));
    r->status = 201;
    r->json = w;
out:
    json_decref(b);
}

/* ---- GET /v1/webhooks, GET/DELETE /v1/webhooks/{id} ---- */

static void escp_api_webhook_list(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    r->json = escp_svc_webhook_list(r->svc, &r->err);
    r->status = 200;
}

static void escp_api_webhook_get(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "webhook")) <= 0)
        return;
    r->json = escp_svc_webhook_get(r->svc, id, &r->err);
    r->status = 200;
}

static void escp_api_webhook_delete(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "webhook")) <= 0)
        return;
    if (r->body_len > 0) {
        json_t *b = escp_body_object(r, true);
        if (b && json_object_size(b) > 0)
            escp_only_keys(b, (const char *const[]){NULL}, "", &r->err);
        json_decref(b);
        if (r->err.code != ESC_OK)
            return;
    }
    if (escp_svc_webhook_delete(r->svc, &r->actor, id, &r->err) == 0)
        r->status = 204;
}

/* ---- GET /v1/notifications, GET /v1/notifications/{id}, POST .../retry ---- */

static void escp_api_notification_list(struct escp_req *r)
{
    static const char *const allowed[] = {"status", "type", "ticket", "limit", "cursor", NULL};
    static const char *const statuses[] = {"pending", "delivered", "failed", "undeliverable", NULL};
    struct escp_notification_filter f = {.limit = 50};
    esc_error_t *err = &r->err;
    const char *v;
    if (escp_query_only(r, allowed) != 0)
        return;
    if ((v = escp_query(r, "status"))) {
        for (const char *const *s = statuses; *s && !f.status; s++)
            if (strcmp(*s, v) == 0)
                f.status = *s;
        if (!f.status) {
            esc_error_set(err, ESC_ERR_VALIDATION, "status",
                          "status must be pending, delivered, failed or undeliverable");
            return;
        }
    }
    if ((v = escp_query(r, "type"))) {
        if (!known_type(v)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "type",
                          "type must be breached, at_risk, major_created or problem_recurred");
            return;
        }
        f.type = v;
    }
    if ((v = escp_query(r, "ticket")) && (f.ticket = escp_parse_id(v)) <= 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "ticket", "ticket must be a ticket id");
        return;
    }
    if (escp_limit_query(r, 200, &f.limit) != 0)
        return;
    if (escp_cursor_query(r, 'n', &f.before_id) != 0)
        return;
    json_t *items = escp_svc_notification_list(r->svc, &f, err);
    if (!items)
        return;
    json_t *next = escp_page_next(items, f.limit, 'n');
    r->status = 200;
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}

static void escp_api_notification_get(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "notification")) <= 0)
        return;
    r->json = escp_svc_notification_get(r->svc, id, &r->err);
    r->status = 200;
}

static void escp_api_notification_retry(struct escp_req *r)
{
    int64_t id;
    json_t *b = NULL;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, true)))
        return;
    int bad = escp_only_keys(b, (const char *const[]){NULL}, "", &r->err);
    json_decref(b);
    if (bad || (id = escp_path_id(r, 0, "notification")) <= 0)
        return;
    r->json = escp_svc_notification_retry(r->svc, &r->actor, id, &r->err);
    r->status = 200;
}

const struct escp_route escp_routes_webhooks[] = {
    {"POST", "/v1/webhooks",               escp_api_webhook_create, ESCP_ADMINS, -1},
    {"GET", "/v1/webhooks",                escp_api_webhook_list, ESCP_ADMINS, -1},
    {"GET", "/v1/webhooks/{}",             escp_api_webhook_get, ESCP_ADMINS, -1},
    {"DELETE", "/v1/webhooks/{}",          escp_api_webhook_delete, ESCP_ADMINS, -1},
    {"GET", "/v1/notifications",           escp_api_notification_list, ESCP_ADMINS, -1},
    {"GET", "/v1/notifications/{}",        escp_api_notification_get, ESCP_ADMINS, -1},
    {"POST", "/v1/notifications/{}/retry", escp_api_notification_retry, ESCP_ADMINS, -1},
    {0},
};
