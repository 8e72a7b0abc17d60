/* api_channels.c — notification channels (admins), escalation ladders
 * (managers), and the one-click acknowledgement links people open from a
 * chat message or a mail (public: the signed link is the credential).
 * docs/channels.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/assets.h"
#include "base/text.h"

#define MESSAGES_MAX 200

/* ---- /v1/channels ---- */

static void escp_api_channel_create(struct escp_req *r)
{
    json_t *b;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, false)))
        return;
    r->json = escp_svc_channel_create(r->svc, &r->actor, b, &r->err);
    json_decref(b);
    r->status = 201;
    if (r->json)
        snprintf(r->location, sizeof r->location, "/v1/channels/%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(r->json, "id")));
}

static void escp_api_channel_list(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    r->json = escp_svc_channel_list(r->svc, &r->err);
    r->status = 200;
}

static void escp_api_channel_get(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "channel")) <= 0)
        return;
    r->json = escp_svc_channel_get(r->svc, id, &r->err);
    r->status = 200;
}

static void escp_api_channel_delete(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "channel")) <= 0)
        return;
    r->json = escp_svc_channel_delete(r->svc, id, &r->err);
    r->status = 200;
}

static void escp_api_channel_messages(struct escp_req *r)
{
    static const char *const statuses[] = {"pending", "delivered", "failed", "folded", "cancelled", NULL};
    int64_t id, before = 0;
    int limit = 50;
    if (escp_query_only(r, (const char *const[]){"status", "limit", "cursor", NULL}) != 0 ||
        (id = escp_path_id(r, 0, "channel")) <= 0 || escp_limit_query(r, MESSAGES_MAX, &limit) != 0 ||
        escp_cursor_query(r, 'm', &before) != 0)
        return;
    const char *status = escp_query(r, "status");
    if (status) {
        int ok = 0;
        for (const char *const *s = statuses; *s; s++)
            ok |= strcmp(*s, status) == 0;
        if (!ok) {
            esc_error_set(&r->err, ESC_ERR_VALIDATION, "status",
                          "status must be pending, delivered, failed, folded or cancelled");
            return;
        }
    }
    json_t *items = escp_svc_channel_messages(r->svc, id, status, before, limit + 1, &r->err);
    if (!items)
        return;
    json_t *next = escp_page_next(items, limit, 'm');
    r->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
    r->status = 200;
}

static void escp_api_channel_test(struct escp_req *r)
{
    int64_t id;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || (id = escp_path_id(r, 0, "channel")) <= 0)
        return;
    if (r->body_len) {
        json_t *b = escp_body_object(r, true);
        if (!b)
            return;
        int rc = escp_only_keys(b, (const char *const[]){NULL}, "", &r->err);
        json_decref(b);
        if (rc != 0)
            return;
    }
    r->json = escp_svc_channel_test(r->svc, &r->actor, id, &r->err);
    r->status = 202;
}

/* ---- /v1/ladders ---- */

static void escp_api_ladder_list(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    r->json = escp_svc_ladder_list(r->svc, &r->err);
    r->status = 200;
}

static void escp_api_ladder_put(struct escp_req *r)
{
    json_t *b;
    if (escp_query_only(r, (const char *const[]){NULL}) != 0 || !(b = escp_body_object(r, false)))
        return;
    r->json = escp_svc_ladder_put(r->svc, &r->actor, r->params[0], r->params[1], b, &r->err);
    json_decref(b);
    r->status = 200;
}

static void escp_api_ladder_delete(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    if (escp_svc_ladder_delete(r->svc, r->params[0], r->params[1], &r->err) == 0)
        r->status = 204;
}

/* ---- /ack/{token}: the page a one-click link opens ---- */

/* Its own policy: an inline style, and a form that posts back here. */
static const char *const ack_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Frame-Options", "DENY",
    "Referrer-Policy", "no-referrer",
    NULL};

static void html_text(struct escp_text *t, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': escp_text_put(t, "&lt;", 4); break;
        case '>': escp_text_put(t, "&gt;", 4); break;
        case '&': escp_text_put(t, "&amp;", 5); break;
        case '"': escp_text_put(t, "&quot;", 6); break;
        case '\'': escp_text_put(t, "&#39;", 5); break;
        default: escp_text_put(t, s, 1);
        }
    }
}

static int wants_json(struct escp_req *r)
{
    const char *accept = escp_header(r, "Accept");
    return accept && strstr(accept, "application/json") && !strstr(accept, "text/html");
}

/* The verdict in words (Chinese, then English), and the HTTP status. */
static const char *verdict_words(const char *v, int *status)
{
    *status = 200;
    if (strcmp(v, "ok") == 0)
        return "确认由您受理此工单？ / Acknowledge this ticket as yours?";
    if (strcmp(v, "acknowledged") == 0)
        return "已受理，计时已停止。 / Acknowledged: the clock has stopped.";
    *status = 409;
    if (strcmp(v, "used") == 0)
        return "此链接已使用过，未做任何更改。 / This link was used already; nothing was changed.";
    if (strcmp(v, "moved_on") == 0)
        return "此工单已被受理或已转交，未做任何更改。 / This ticket was already acknowledged or moved on; "
               "nothing was changed.";
    if (strcmp(v, "not_allowed") == 0) {
        *status = 403;
        return "此链接所属的账号已停用，未做任何更改。 / The account this link is for is no longer active; "
               "nothing was changed.";
    }
    *status = 410;
    return "此链接已过期，未做任何更改。 / This link has expired; nothing was changed.";
}

static void ack_answer(struct escp_req *r, json_t *st, int post)
{
    const char *verdict = json_string_value(json_object_get(st, "verdict"));
    int status;
    const char *words = verdict_words(verdict ? verdict : "expired", &status);
    if (wants_json(r)) {
        json_t *tk = json_object_get(st, "ticket");
        r->json = json_pack("{s:s,s:O?,s:s}", "verdict", verdict, "ticket_id", json_object_get(tk, "id"),
                            "message", words);
        r->status = status;
        return;
    }
    json_t *tk = json_object_get(st, "ticket"), *pr = json_object_get(st, "principal");
    struct escp_text t = {0};
    escp_text_printf(&t, "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                         "<meta name=\"referrer\" content=\"no-referrer\"><title>escalated</title>"
                         "<style>body{font-family:system-ui,\"Noto Sans CJK SC\",\"WenQuanYi Micro Hei\",sans-serif;"
                         "max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1d2430}"
                         "button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:0;background:#2f5fd0;"
                         "color:#fff}.v{padding:.6rem .8rem;border-radius:6px;background:#eef2fb}</style></head><body>");
    if (json_is_object(tk)) {
        escp_text_printf(&t, "<h1>#%" JSON_INTEGER_FORMAT " ", json_integer_value(json_object_get(tk, "id")));
        html_text(&t, json_string_value(json_object_get(tk, "subject")));
        escp_text_printf(&t, "</h1><p>");
        html_text(&t, json_string_value(json_object_get(tk, "tier")));
        escp_text_printf(&t, " · ");
        html_text(&t, json_string_value(json_object_get(tk, "state")));
        escp_text_printf(&t, "</p>");
    }
    if (json_is_object(pr)) {
        escp_text_printf(&t, "<p>");
        html_text(&t, json_string_value(json_object_get(pr, "name")));
        escp_text_printf(&t, "</p>");
    }
    escp_text_printf(&t, "<p class=\"v\" id=\"verdict\" data-verdict=\"");
    html_text(&t, verdict);
    escp_text_printf(&t, "\">");
    html_text(&t, words);
    escp_text_printf(&t, "</p>");
    if (!post && verdict && strcmp(verdict, "ok") == 0) /* a GET never changes anything: link previews */
        escp_text_printf(&t, "<form method=\"post\"><button type=\"submit\" id=\"ack\">确认受理 / "
                             "Acknowledge</button></form>");
    escp_text_printf(&t, "</body></html>\n");
    size_t len;
    r->raw = escp_text_take(&t, &len);
    if (!r->raw) {
        esc_error_set(&r->err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return;
    }
    r->raw_len = len;
    r->ctype = "text/html; charset=utf-8";
    r->headers = ack_headers;
    r->status = status;
}

static void not_a_link(struct escp_req *r)
{
    if (wants_json(r)) {
        r->err.code = ESC_OK;
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "this link is not valid");
    } else {
        struct escp_text t = {0};
        escp_text_printf(&t, "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                             "<title>escalated</title></head><body><p id=\"verdict\" data-verdict=\"invalid\">"
                             "此链接无效。 / This link is not valid.</p></body></html>\n");
        size_t len;
        r->err.code = ESC_OK;
        r->raw = escp_text_take(&t, &len);
        r->raw_len = len;
        r->ctype = "text/html; charset=utf-8";
        r->headers = ack_headers;
        r->status = 404;
    }
}

static void escp_api_ack_page(struct escp_req *r)
{
    json_t *st = escp_svc_ack_link_state(r->svc, r->params[0], &r->err);
    if (!st) {
        if (r->err.code == ESC_ERR_NOT_FOUND)
            not_a_link(r);
        return;
    }
    ack_answer(r, st, 0);
    json_decref(st);
}

static void escp_api_ack_use(struct escp_req *r)
{
    json_t *st = escp_svc_ack_link_use(r->svc, r->params[0], &r->err);
    if (!st) {
        if (r->err.code == ESC_ERR_NOT_FOUND)
            not_a_link(r);
        return;
    }
    ack_answer(r, st, 1);
    json_decref(st);
}

const struct escp_route escp_routes_channels[] = {
    {"POST", "/v1/channels",             escp_api_channel_create, ESCP_ADMINS, -1},
    {"GET", "/v1/channels",              escp_api_channel_list, ESCP_ADMINS, -1},
    {"GET", "/v1/channels/{}",           escp_api_channel_get, ESCP_ADMINS, -1},
    {"DELETE", "/v1/channels/{}",        escp_api_channel_delete, ESCP_ADMINS, -1},
    {"GET", "/v1/channels/{}/messages",  escp_api_channel_messages, ESCP_ADMINS, -1},
    {"POST", "/v1/channels/{}/test",     escp_api_channel_test, ESCP_ADMINS, -1},
    {"GET", "/v1/ladders",               escp_api_ladder_list, ESCP_MANAGERS, -1},
    {"PUT", "/v1/ladders/{tier}/{}",     escp_api_ladder_put, ESCP_MANAGERS, -1},
    {"DELETE", "/v1/ladders/{tier}/{}",  escp_api_ladder_delete, ESCP_MANAGERS, -1},
    {"GET", "/ack/{}",                   escp_api_ack_page, ESCP_PUBLIC, -1},
    {"POST", "/ack/{}",                  escp_api_ack_use, ESCP_PUBLIC, -1},
    {0},
};
