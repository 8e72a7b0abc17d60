/* route.h — the route matcher, PURE: a pattern against the raw bytes of a
 * request path, no request and no server, so that the dispatcher (http.c)
 * and tests/fuzz/fuzz_path.c run the same code. */
#ifndef ESCALATED_HTTP_ROUTE_H
#define ESCALATED_HTTP_ROUTE_H

#include <stddef.h>

/* 1 when the raw path (NUL-terminated, query string removed) matches
 * pattern, else 0.  Pattern segments in braces are parameters: "{}" matches
 * one non-empty segment of unreserved characters only (RFC 3986: letters,
 * digits, "-._~"), so "1%00", "a%2Fb" or "%31" name nothing; "{tier}" only
 * "line-1".."line-3".  Up to 2 parameters are copied, NUL-terminated, into
 * store (cap bytes) and params points at them; a match that needs more room
 * fails.  params and store may be written even when the result is 0. */
int escp_route_match(const char *pattern, const char *path, const char **params, char *store,
                     size_t cap);

#endif
