/* api_health.c — liveness and readiness, for load balancers and
 * orchestrators: no token needed (docs/api.md). */
#include "http/http.h"

static void escp_api_healthz(struct escp_req *r)
{
    r->status = 200;
    r->json = json_pack("{s:s}", "status", "ok");
}

static void escp_api_readyz(struct escp_req *r)
{
    if (escp_svc_ready(r->svc, &r->err) != 0)
        return;
    r->status = 200;
    r->json = json_pack("{s:s}", "status", "ready");
}

const struct escp_route escp_routes_health[] = {
    {"GET", "/healthz", escp_api_healthz, ESCP_PUBLIC, -1},
    {"GET", "/readyz",  escp_api_readyz, ESCP_PUBLIC, -1},
    {0},
};
