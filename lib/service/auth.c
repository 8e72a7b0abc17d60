/* auth.c — bearer tokens, looked up in the database on every request.
 *
 * There is no cache of verified tokens: a revocation (or an expiry) must
 * hold from the moment it commits on every daemon of the database, and a
 * cache -- or a LISTEN/NOTIFY invalidation of one -- leaves a window in
 * which another daemon still lets the token through.  The lookup is one
 * indexed, prepared statement on a pooled connection; its cost is measured
 * in docs/performance.md ("Tokens"). */
#include <string.h>

#include "base/token.h"
#include "service/service.h"

int escp_authenticate(struct esc_store *store, const char *token, struct esc_actor *actor,
                      esc_error_t *err)
{
    if (!token || strlen(token) < 8 || strlen(token) > 256) {
        esc_error_set(err, ESC_ERR_UNAUTHENTICATED, NULL, "a valid bearer token is required");
        return -1;
    }
    char hash[65];
    escp_token_hash(token, hash);
    struct escp_conn *c = escp_lease(store, err);
    if (!c)
        return -1;
    int rc = escp_store_principal_by_hash(c, hash, actor, err);
    escp_release(store, c);
    return rc;
}
