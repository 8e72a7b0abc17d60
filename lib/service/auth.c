/* auth.c — bearer tokens: a short-lived cache of verified tokens so that
 * most requests cost no extra round trip. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/token.h"
#include "service/service.h"

#define CACHE_SLOTS 1024
#define CACHE_TTL_SECONDS 5

struct slot {
    char hash[65];
    struct esc_actor actor;
    time_t expires;
};

static struct slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(const char *hash)
{
    return (unsigned)strtoul((char[9]){hash[0], hash[1], hash[2], hash[3], hash[4], hash[5],
                                       hash[6], hash[7], 0},
                             NULL, 16) % CACHE_SLOTS;
}

int escp_authenticate(struct esc_store *store, const char *token, struct esc_actor *actor,
                      esc_error_t *err)
{
    if (!token || strlen(token) < 8 || strlen(token) > 256) {
        esc_error_set(err, ESC_ERR_UNAUTHENTICATED, NULL, "a valid bearer token is required");
        return -1;
    }
    char hash[65];
    escp_token_hash(token, hash);
    unsigned s = slot_of(hash);
    time_t now = time(NULL);

    pthread_mutex_lock(&cache_mu);
    if (cache[s].expires > now && memcmp(cache[s].hash, hash, 64) == 0) {
        *actor = cache[s].actor;
        pthread_mutex_unlock(&cache_mu);
        return 0;
    }
    pthread_mutex_unlock(&cache_mu);

    struct escp_conn *c = escp_lease(store, err);
    if (!c)
        return -1;
    int rc = escp_store_principal_by_hash(c, hash, actor, err);
    escp_release(store, c);
    if (rc != 0)
        return -1;

    pthread_mutex_lock(&cache_mu);
    memcpy(cache[s].hash, hash, sizeof hash);
    cache[s].actor = *actor;
    cache[s].expires = now + CACHE_TTL_SECONDS;
    pthread_mutex_unlock(&cache_mu);
    return 0;
}
