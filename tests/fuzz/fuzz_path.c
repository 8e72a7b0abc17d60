/* fuzz_path.c — the route matcher (lib/http/route.c, escp_route_match) on
 * arbitrary raw paths against every route the server serves (the api/
 * tables, in the order app/server.c lists them).  The input up to a NUL or
 * '?' is the path, as http.c's uri_logged keeps it.
 *
 * Invariants for each route that matches: the path is the pattern with each
 * parameter put in; a parameter is a non-empty run of unreserved characters,
 * so no '%', NUL or non-ASCII byte ever reaches a handler; a {tier} is
 * line-1..line-3; and an id segment the handlers accept (escp_parse_id > 0)
 * is 1..18 decimal digits with that value. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/model.h"
#include "http/http.h"
#include "http/route.h"
#include "fuzz.h"

#define CAP 256 /* http.c's PARAMS_CAP */

static const struct escp_route *const tables[] = {
    escp_routes_health, escp_routes_tickets, escp_routes_sla,      escp_routes_reports,
    escp_routes_events, escp_routes_metrics, escp_routes_webhooks, escp_routes_dashboard,
};

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* The routes whose "{}" is an id (the handlers call escp_parse_id on it). */
static int id_route(const char *pattern)
{
    return strncmp(pattern, "/v1/tickets/{}", 14) == 0 || strncmp(pattern, "/v1/webhooks/{}", 15) == 0 ||
           strncmp(pattern, "/v1/notifications/{}", 20) == 0;
}

static void check_match(const char *pattern, const char *path, const char *const *params)
{
    char rebuilt[4096];
    size_t n = 0;
    int np = 0;
    for (const char *p = pattern; *p;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            CHECK(close && np < 2);
            const char *v = params[np++];
            CHECK(v && *v);
            for (const char *c = v; *c; c++)
                CHECK(unreserved((unsigned char)*c));
            if (close - p == 5 && memcmp(p, "{tier}", 6) == 0)
                CHECK(esc_tier_from_name(v) >= 1 && esc_tier_from_name(v) <= 3 && strlen(v) == 6 &&
                      strncmp(v, "line-", 5) == 0);
            if (np == 1 && id_route(pattern)) {
                int64_t id = escp_parse_id(v);
                if (id > 0) {
                    size_t len = strlen(v);
                    CHECK(len >= 1 && len <= 18 && strspn(v, "0123456789") == len);
                    CHECK(strtoll(v, NULL, 10) == id);
                }
            }
            size_t vl = strlen(v);
            CHECK(n + vl < sizeof rebuilt);
            memcpy(rebuilt + n, v, vl);
            n += vl;
            p = close + 1;
        } else {
            CHECK(n + 1 < sizeof rebuilt);
            rebuilt[n++] = *p++;
        }
    }
    rebuilt[n] = '\0';
    CHECK(strcmp(rebuilt, path) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
        return 0;
    char *path = malloc(size + 1);
    if (!path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    path[strcspn(path, "?")] = '\0';
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct escp_route *rt = tables[t]; rt->method; rt++) {
            const char *params[2] = {0};
            char store[CAP];
            if (escp_route_match(rt->pattern, path, params, store, sizeof store))
                check_match(rt->pattern, path, params);
        }
    free(path);
    return 0;
}
