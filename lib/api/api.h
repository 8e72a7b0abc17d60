/* api.h — the route tables of the api/ files, one per file (each entry:
 * method, pattern, handler, the roles allowed, the action).  The server
 * serves them in the order of escp_route_tables (app/server.c). */
#ifndef ESCALATED_API_H
#define ESCALATED_API_H

#include "http/http.h"

extern const struct escp_route escp_routes_health[];
extern const struct escp_route escp_routes_tickets[];
extern const struct escp_route escp_routes_sla[];
extern const struct escp_route escp_routes_reports[];
extern const struct escp_route escp_routes_events[];
extern const struct escp_route escp_routes_metrics[];
extern const struct escp_route escp_routes_webhooks[];
extern const struct escp_route escp_routes_dashboard[];
extern const struct escp_route escp_routes_principals[];
extern const struct escp_route escp_routes_retention[];
extern const struct escp_route escp_routes_taxonomy[];
extern const struct escp_route escp_routes_problems[];
extern const struct escp_route escp_routes_console[];
extern const struct escp_route escp_routes_channels[];

#endif
