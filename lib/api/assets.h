/* assets.h — the static files of the daemon's pages (the manager dashboard
 * from dashboard/, the agent console from console/), embedded at build time
 * (cmake/embed_dashboard.cmake writes generated/<page>_assets.c), and how
 * they are served. */
#ifndef ESCALATED_ASSETS_H
#define ESCALATED_ASSETS_H

#include <stddef.h>

struct escp_req;

/* One embedded static file of a page. */
struct escp_asset {
    const char *name;  /* file name under the page's folder, e.g. "app.js" */
    const char *etag;  /* "\"<first 16 hex digits of its SHA-256>\"" */
    const unsigned char *data;
    size_t len;
};
extern const struct escp_asset escp_dashboard_assets[]; /* ends with {0} */
extern const struct escp_asset escp_console_assets[];   /* ends with {0} */

/* The headers of every page file: nothing but the daemon itself may serve
 * script, style or data to the pages, they may not be framed, and they send
 * no referrer. */
extern const char *const escp_page_headers[];

/* Answer with the file `name` of `table` (revalidated on every load, 304
 * when the client has it): 0, or -1 without touching r when there is none. */
int escp_serve_asset(struct escp_req *r, const struct escp_asset *table, const char *name);
/* Whether the client already has the version `etag` (If-None-Match). */
int escp_asset_not_modified(struct escp_req *r, const char *etag);

#endif
