/* dashboard.h — the manager dashboard: the page's static files,
 * embedded at build time from dashboard/ (generated/dashboard_assets.c). */
#ifndef ESCALATED_DASHBOARD_H
#define ESCALATED_DASHBOARD_H

#include <stddef.h>



/* One embedded static file of the page. */
struct escp_asset {
    const char *name;  /* file name under dashboard/, e.g. "app.js" */
    const char *etag;  /* "\"<first 16 hex digits of its SHA-256>\"" */
    const unsigned char *data;
    size_t len;
};
extern const struct escp_asset escp_dashboard_assets[]; /* ends with {0} */

#endif
