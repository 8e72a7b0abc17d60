/* ratelimit.c — failed bearer tokens per client address (ratelimit.h). */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/ratelimit.h"

/* A key may live in any of PROBE consecutive slots from its hash. */
#define PROBE 4

struct slot {
    unsigned char key[9]; /* family tag, then 4 (IPv4) or 8 (IPv6 /64) bytes */
    int failures;         /* 0 = free */
    double opened;        /* when the window opened */
};

struct escp_ratelimit {
    int limit;
    double window;
    size_t nslots;
    uint64_t seed; /* so that an attacker cannot aim at the slots of a given address */
    pthread_mutex_t mu;
    struct slot *slots;
};

struct escp_ratelimit *escp_ratelimit_new(int limit, double window_s, size_t slots)
{
    struct escp_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->limit = limit > 0 ? limit : 0;
    rl->window = window_s > 0 ? window_s : 60;
    rl->nslots = (slots < PROBE ? PROBE : slots + PROBE - 1) / PROBE * PROBE;
    rl->slots = calloc(rl->nslots, sizeof *rl->slots);
    if (!rl->slots) {
        free(rl);
        return NULL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rl->seed = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)rl;
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void escp_ratelimit_free(struct escp_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->slots);
    free(rl);
}

/* The key of an address; 0 for a family that is not counted. */
static int key_of(const struct sockaddr *sa, unsigned char key[9])
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, 9);
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, v4mapped, sizeof v4mapped) == 0) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 8);
        }
        return 1;
    }
    return 0;
}

static size_t first_slot(const struct escp_ratelimit *rl, const unsigned char key[9])
{
    uint64_t h = 14695981039346656037ull ^ rl->seed; /* FNV-1a, seeded */
    for (int i = 0; i < 9; i++) {
        h ^= key[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    return (size_t)(h % (rl->nslots / PROBE)) * PROBE;
}

static int live(const struct escp_ratelimit *rl, const struct slot *s, double now)
{
    return s->failures > 0 && now - s->opened < rl->window;
}

/* The slot holding key with a live window, or NULL.  Caller holds mu. */
static struct slot *find(struct escp_ratelimit *rl, const unsigned char key[9], double now)
{
    size_t b = first_slot(rl, key);
    for (size_t i = b; i < b + PROBE; i++)
        if (live(rl, &rl->slots[i], now) && memcmp(rl->slots[i].key, key, 9) == 0)
            return &rl->slots[i];
    return NULL;
}

double escp_ratelimit_blocked(struct escp_ratelimit *rl, const struct sockaddr *sa, double now)
{
    unsigned char key[9];
    if (!rl || rl->limit == 0 || !key_of(sa, key))
        return 0;
    double left = 0;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = find(rl, key, now);
    if (s && s->failures >= rl->limit)
        left = s->opened + rl->window - now;
    pthread_mutex_unlock(&rl->mu);
    return left > 0 ? left : 0;
}

int escp_ratelimit_fail(struct escp_ratelimit *rl, const struct sockaddr *sa, double now)
{
    unsigned char key[9];
    int reached = 0;
    if (!rl || rl->limit == 0 || !key_of(sa, key))
        return 0;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = find(rl, key, now);
    if (!s) { /* a free or expired slot, else the oldest window gives way */
        size_t b = first_slot(rl, key);
        s = &rl->slots[b];
        for (size_t i = b; i < b + PROBE; i++) {
            if (!live(rl, &rl->slots[i], now)) {
                s = &rl->slots[i];
                break;
            }
            if (rl->slots[i].opened < s->opened)
                s = &rl->slots[i];
        }
        memcpy(s->key, key, 9);
        s->failures = 0;
        s->opened = now;
    }
    if (s->failures < rl->limit) { /* past the limit there is nothing more to count */
        s->failures++;
        reached = s->failures == rl->limit;
    }
    pthread_mutex_unlock(&rl->mu);
    return reached;
}
