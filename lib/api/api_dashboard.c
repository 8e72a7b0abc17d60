/* api_dashboard.c — the manager dashboard: its aggregates
 * (GET /v1/dashboard/summary), the page and its static files (embedded at
 * build time from dashboard/), and Chart.js from Debian's libjs-chart.js.
 *
 * The page holds no data and needs no token to load: the manager enters a
 * token in it, and every API call the page makes carries it as a Bearer
 * token, so the API's own checks apply. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/assets.h"
#include "base/log.h"
#include "http/http.h"

/* Where Debian's libjs-chart.js installs the minified UMD build (it defines
 * the global `Chart`).  Override at build time with -DESC_CHARTJS_PATH=... */
#ifndef ESC_CHARTJS_PATH
#define ESC_CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"
#endif
#define CHARTJS_MAX (8 * 1024 * 1024)

#define SUMMARY_DAYS 30
#define SUMMARY_HORIZON 3600
#define SUMMARY_RECENT_EVENTS 50

/* ---- GET /v1/dashboard/summary ---- */

static void escp_api_dashboard_summary(struct escp_req *r)
{
    static const char *const allowed[] = {"limit", NULL};
    struct escp_dash_query q = {.at_risk_limit = 10, .horizon_seconds = SUMMARY_HORIZON,
                                .days = SUMMARY_DAYS, .recent_events = SUMMARY_RECENT_EVENTS};
    if (escp_query_only(r, allowed) != 0 || escp_limit_query(r, 100, &q.at_risk_limit) != 0)
        return;
    r->json = escp_svc_dashboard_summary(r->svc, &q, &r->err);
    r->status = 200;
}

/* ---- the page and its files ---- */

/* The page and its files ignore query strings (?lang= is read by the page,
 * and a cache-busting ?v= must not break a file). */
static void escp_api_dashboard_page(struct escp_req *r)
{
    if (escp_serve_asset(r, escp_dashboard_assets, "index.html") != 0)
        esc_error_set(&r->err, ESC_ERR_INTERNAL, NULL, "the dashboard was not built in");
}

static void escp_api_dashboard_file(struct escp_req *r)
{
    if (strcmp(r->params[0], "index.html") == 0 || escp_serve_asset(r, escp_dashboard_assets, r->params[0]) != 0)
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL, "no such route");
}

/* ---- GET /dashboard/chart.js: the package's file, read at request time ---- */

static char *read_file(const char *path, size_t *len, int *errnum)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *errnum = errno;
        return NULL;
    }
    size_t cap = 256 * 1024, n = 0;
    buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                *errnum = EIO;
                free(buf);
                buf = NULL;
            }
            break;
        }
        if (cap >= CHARTJS_MAX) {
            *errnum = EFBIG;
            free(buf);
            buf = NULL;
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            *errnum = ENOMEM;
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf)
        *len = n;
    return buf;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void escp_api_dashboard_chartjs(struct escp_req *r)
{
    static atomic_int warned;
    size_t len = 0;
    int errnum = 0;
    char *js = read_file(ESC_CHARTJS_PATH, &len, &errnum);
    if (!js) {
        if (!atomic_exchange(&warned, 1))
            log_warn("dashboard: cannot read Chart.js at %s (%s): install Debian's libjs-chart.js; "
                     "the dashboard shows no charts until then", ESC_CHARTJS_PATH, strerror(errnum));
        esc_error_set(&r->err, ESC_ERR_NOT_FOUND, NULL,
                      "Chart.js is not installed on the server (Debian package libjs-chart.js)");
        return;
    }
    atomic_store(&warned, 0);
    char etag[24];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)fnv1a((unsigned char *)js, len));
    snprintf(r->etag, sizeof r->etag, "%s", etag);
    r->headers = escp_page_headers;
    /* a packaged file changes only when the package is upgraded */
    r->cache_control = "public, max-age=86400";
    if (escp_asset_not_modified(r, r->etag)) {
        free(js);
        r->status = 304;
        return;
    }
    r->raw = js;
    r->raw_len = len;
    r->ctype = "text/javascript; charset=utf-8";
    r->status = 200;
}

const struct escp_route escp_routes_dashboard[] = {
    {"GET", "/v1/dashboard/summary", escp_api_dashboard_summary, ESCP_MANAGERS, -1},
    {"GET", "/dashboard",            escp_api_dashboard_page, ESCP_PUBLIC, -1},
    {"GET", "/dashboard/",           escp_api_dashboard_page, ESCP_PUBLIC, -1},
    {"GET", "/dashboard/chart.js",   escp_api_dashboard_chartjs, ESCP_PUBLIC, -1},
    {"GET", "/dashboard/{}",         escp_api_dashboard_file, ESCP_PUBLIC, -1},
    {0},
};
