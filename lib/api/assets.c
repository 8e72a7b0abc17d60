/* assets.c — serving the embedded files of the dashboard and the console
 * (assets.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/assets.h"
#include "http/http.h"

const char *const escp_page_headers[] = {
    "Content-Security-Policy",
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Frame-Options", "DENY",
    "Referrer-Policy", "no-referrer",
    NULL};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    if (strcmp(dot, ".webmanifest") == 0)
        return "application/manifest+json";
    return "application/octet-stream";
}

int escp_asset_not_modified(struct escp_req *r, const char *etag)
{
    const char *inm = escp_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    return inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

int escp_serve_asset(struct escp_req *r, const struct escp_asset *table, const char *name)
{
    const struct escp_asset *a = table;
    while (a->name && strcmp(a->name, name) != 0)
        a++;
    if (!a->name)
        return -1;
    snprintf(r->etag, sizeof r->etag, "%s", a->etag);
    r->headers = escp_page_headers;
    /* revalidated on every load, so a new daemon's page is used at once */
    r->cache_control = "no-cache";
    if (escp_asset_not_modified(r, r->etag)) {
        r->status = 304;
        return 0;
    }
    r->raw = malloc(a->len ? a->len : 1);
    if (!r->raw) {
        esc_error_set(&r->err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return 0;
    }
    memcpy(r->raw, a->data, a->len);
    r->raw_len = a->len;
    r->ctype = content_type(a->name);
    r->status = 200;
    return 0;
}
