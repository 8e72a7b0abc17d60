/* timer_engine.c — the SLA engine: sleeps until the earliest stored deadline
 * and fires due timers in batches, never scanning all tickets.
 *
 *   loop:
 *     fire due timers, `batch` at a time, until a pass fires fewer than batch
 *     ask the database how far away the earliest live timer is (index min)
 *     sleep that long, but at most max_sleep_ms (deadlines that other daemons
 *     or policy changes create), and wake at once when this process commits
 *     an earlier deadline (escp_engine_poke)
 *
 * The engine has its own connection; while the database is away it retries
 * every second and, when it is back, fires everything that came due.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escalated/log.h"
#include "internal.h"

struct escp_engine {
    char *conninfo;
    int batch, max_sleep_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int stop;
    int poked;    /* a poke arrived: do not sleep (or stop sleeping) */
    int sleeping;
    struct timespec wake_at; /* planned wake-up, monotonic, while sleeping */
    struct escp_engine_stats stats;
};

static struct timespec mono_after(double seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (seconds < 0)
        seconds = 0;
    long long ns = (long long)(seconds * 1e9) + t.tv_nsec;
    t.tv_sec += (time_t)(ns / 1000000000LL);
    t.tv_nsec = (long)(ns % 1000000000LL);
    return t;
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Sleep until `until` unless poked or stopped. Called with e->mu held. */
static void sleep_until(struct escp_engine *e, struct timespec until)
{
    e->wake_at = until;
    e->sleeping = 1;
    while (!e->stop && !e->poked)
        if (pthread_cond_timedwait(&e->cv, &e->mu, &until) != 0)
            break;
    e->sleeping = 0;
    e->poked = 0; /* the pass that follows sees every deadline committed so far */
}

static void *run(void *arg)
{
    struct escp_engine *e = arg;
    struct escp_conn *c = NULL;
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        pthread_mutex_unlock(&e->mu);
        esc_error_t err = {0};
        double wait_s = e->max_sleep_ms / 1000.0;
        if (!escp_conn_ok(c)) {
            escp_conn_close(c);
            c = escp_conn_open(e->conninfo, &err);
            if (!c) {
                pthread_mutex_lock(&e->mu);
                sleep_until(e, mono_after(1.0));
                continue;
            }
            log_info("sla engine connected");
        }
        int fired;
        double late;
        do {
            if (escp_store_fire_due(c, e->batch, &fired, &late, &err) != 0)
                break;
            pthread_mutex_lock(&e->mu);
            e->stats.fired += (uint64_t)fired;
            e->stats.passes++;
            if (fired) {
                e->stats.last_late_s = late;
                if (late > e->stats.max_late_s)
                    e->stats.max_late_s = late;
            }
            pthread_mutex_unlock(&e->mu);
            if (fired)
                log_debug("sla engine fired %d timers, latest %.3f s after its deadline", fired, late);
        } while (fired == e->batch && !e->stop);

        double next;
        bool none = true;
        if (err.code == ESC_OK && escp_store_next_due(c, &next, &none, &err) == 0 && !none &&
            next < wait_s)
            wait_s = next;
        if (err.code != ESC_OK) {
            log_warn("sla engine: %s; retrying", err.message);
            wait_s = 1.0;
        }
        pthread_mutex_lock(&e->mu);
        if (wait_s > 0)
            sleep_until(e, mono_after(wait_s));
    }
    pthread_mutex_unlock(&e->mu);
    escp_conn_close(c);
    return NULL;
}

struct escp_engine *escp_engine_start(const char *conninfo, int batch, int max_sleep_ms, esc_error_t *err)
{
    struct escp_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(e);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    e->batch = batch > 0 ? batch : 500;
    e->max_sleep_ms = max_sleep_ms > 0 ? max_sleep_ms : 1000;
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&e->thread, NULL, run, e) != 0) {
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        free(e->conninfo);
        free(e);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "cannot start the sla engine thread");
        return NULL;
    }
    return e;
}

void escp_engine_stop(struct escp_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->conninfo);
    free(e);
}

void escp_engine_poke(struct escp_engine *e, esc_time_t now, esc_time_t due)
{
    if (!e || now == ESC_TIME_NULL || due == ESC_TIME_NULL)
        return;
    double in = (double)(due - now) / 1e6;
    if (in > e->max_sleep_ms / 1000.0)
        return; /* the engine looks at least this often anyway */
    struct timespec at = mono_after(in);
    pthread_mutex_lock(&e->mu);
    /* awake (mid-pass): make it look again before sleeping; asleep: wake it
     * if the deadline comes before the planned wake-up */
    if (!e->sleeping || ts_before(&at, &e->wake_at)) {
        e->poked = 1;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
}

void escp_engine_stats(struct escp_engine *e, struct escp_engine_stats *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}
