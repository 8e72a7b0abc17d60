/* route.c — the route matcher (route.h), moved out of http.c so that a fuzz
 * harness can drive it with arbitrary bytes. */
#include <stdbool.h>
#include <string.h>

#include "core/model.h"
#include "http/route.h"

/* "line-1" .. "line-3" */
static bool tier_segment(const char *s, size_t len)
{
    char name[8];
    if (len >= sizeof name)
        return false;
    memcpy(name, s, len);
    name[len] = '\0';
    return esc_tier_from_name(name) >= 1;
}

/* A parameter segment is matched on its raw bytes, so only characters that
 * need no escaping may form one: "1%00", "a%2Fb" or "%31" name nothing. */
static bool plain_segment(const char *s, size_t len)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    for (size_t i = 0; i < len; i++)
        if (!s[i] || !strchr(ok, s[i]))
            return false;
    return true;
}

int escp_route_match(const char *pattern, const char *path, const char **params, char *store, size_t cap)
{
    int np = 0;
    size_t used = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || np >= 2 || used + slen + 1 > cap || !plain_segment(s, slen))
                return 0;
            if (plen == 6 && memcmp(p, "{tier}", 6) == 0 && !tier_segment(s, slen))
                return 0; /* a queue that does not exist is no route: 404 before any token check */
            memcpy(store + used, s, slen);
            store[used + slen] = '\0';
            params[np++] = store + used;
            used += slen + 1;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen, s += slen;
    }
    return *p == '\0' && *s == '\0';
}
