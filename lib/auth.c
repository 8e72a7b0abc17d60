/* auth.c — bearer tokens: creation, hashing, and a short-lived cache of
 * verified tokens so that most requests cost no extra round trip. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

#define CACHE_SLOTS 1024
#define CACHE_TTL_SECONDS 5

struct slot {
    char hash[65];
    struct esc_actor actor;
    time_t expires;
};

static struct slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

char *escp_token_new(esc_error_t *err)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0};
    size_t got = 0;
    while (got < 32) {
        ssize_t n = getrandom(raw + got, 32 - got, 0);
        if (n <= 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "no randomness available");
            return NULL;
        }
        got += (size_t)n;
    }
    char *tok = malloc(4 + 44 + 1);
    if (!tok) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    memcpy(tok, "esc_", 4);
    size_t o = 4;
    for (size_t i = 0; i < 32; i += 3) { /* 11 groups; the last has 2 bytes (raw[32] = 0) */
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        tok[o++] = b64[(v >> 18) & 63];
        tok[o++] = b64[(v >> 12) & 63];
        tok[o++] = b64[(v >> 6) & 63];
        if (i + 2 < 32)
            tok[o++] = b64[v & 63];
    }
    tok[o] = '\0';
    return tok;
}

void escp_token_hash(const char *token, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len && i < 32; i++) {
        out[2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    out[64] = '\0';
}

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
