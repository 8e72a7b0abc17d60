/* timer_engine.c — the SLA engine: sleeps until the earliest stored deadline
 * and fires due timers in batches, never scanning all tickets.
 *
 *   loop:
 *     fire due timers, `batch` (500) at a time: one statement each deletes
 *       the timers and writes the breach or at_risk event and the outbox row
 *       (FOR UPDATE SKIP LOCKED: two daemons never fire one timer twice);
 *       repeat until a statement fires fewer than `batch`; then the same for
 *       the escalation ladders' steps (`ladder` timers: each alerts and moves
 *       to the ladder's next step, docs/channels.md)
 *     ask the database how far away the earliest live timer is (index min)
 *     wait that long, at most max_sleep_ms (default 60 s, --engine-max-sleep),
 *     in poll() on two descriptors:
 *       - the engine's own database socket, which LISTENs on the channel
 *         `escalated_timers`.  A transaction of ANY daemon that creates a
 *         timer due within its notify window (= its max sleep) calls
 *         pg_notify() on that channel inside the same transaction, so it is
 *         delivered at commit: the create statement does it in its CTE
 *         (store.c ticket_create), an action with a separate statement before
 *         COMMIT (service.c, store.c timer_notify).  Payload: the due time.
 *       - a self-pipe written by escp_engine_poke (this process committed a
 *         deadline before the planned wake-up) and by escp_engine_stop.
 *
 * So an idle engine costs nothing: no statement runs until a deadline comes,
 * a notification arrives or max_sleep_ms passes (a safety net only), and a
 * deadline committed by another daemon is fired on time even if that daemon
 * stops right after.  Deadlines are normally minutes away (ack 600 s), so
 * with the default 60 s window no create pays for pg_notify (which
 * serialises commits); only short deadlines notify (second-scale policies, a
 * resume with little time left).  Every daemon of one database must run with
 * the same max sleep: the window a sender notifies for must cover the
 * receivers' sleep.
 *
 * Details:
 *   - Notifications libpq reads while a pass runs may belong to a commit the
 *     pass did not see, so a pass that ends with notifications buffered is
 *     followed by another pass at once.
 *   - Timers due but locked by another transaction (another daemon firing
 *     them, an action on the ticket) are retried after 10 ms, not spun on.
 *   - The engine's connection is its own, with only its two statements
 *     prepared (it connects in milliseconds at start-up), and it commits
 *     asynchronously (synchronous_commit off): a pass does not wait for its
 *     WAL flush, which under I/O pressure took up to 1 s and delayed the next
 *     pass by as much.  A pass stays atomic: should PostgreSQL itself crash
 *     within the WAL writer's delay after a pass, the whole pass is lost,
 *     timers included, and fired again (once) after recovery.  Anything that
 *     acts on a breach and commits normally (a webhook delivery claim)
 *     flushes the WAL, and the breach with it, before it acts.
 *   - While the database is away the engine retries every second (a lost
 *     connection also ends the poll at once); when it is back it LISTENs
 *     again and fires everything that came due meanwhile, as at start-up.
 *   - Stop is immediate: escp_engine_stop writes the pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "workers/workers.h"
#include "db/db.h"

#define RETRY_S 1.0        /* a statement failed on a working connection */
/* The database away: connect again this often (the pool tries as often), so
 * that what came due during an outage fires within a second of its return;
 * with a retry every second the first pass could come up to 1 s plus the
 * pass after it (0.77 s in one run of tests/faults/test_fault_pg_outage). */
#define RECONNECT_S 0.2
/* Extra threads (each with its own connection, opened on first use) that
 * help drain a backlog: when a pass fires a whole batch, they fire further
 * batches at the same time (SKIP LOCKED hands each its own timers), so a
 * burst of deadlines uses more than one PostgreSQL backend.  Idle, they
 * sleep on a condition variable and hold no statement. */
#define DRAINERS 1
#define LOCKED_RETRY_S 0.01 /* due timers held by another transaction */

struct escp_engine {
    char *conninfo;
    int batch, max_sleep_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    int pipe_r, pipe_w; /* self-pipe: pokes and stop */
    int stop;
    int signalled;      /* a byte is in the pipe and not yet drained */
    int sleeping;
    struct timespec wake_at; /* planned wake-up, monotonic, while sleeping */
    struct escp_engine_stats stats;
    void (*on_fired)(void *); /* escp_engine_on_fired */
    void *on_fired_arg;
    pthread_cond_t drain_cv;  /* with mu: drain_gen changed, or stop */
    uint64_t drain_gen;
    pthread_t drainers[DRAINERS];
    int ndrainers;
};

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Milliseconds from now until `t`, rounded up (waking early only costs a pass
 * that finds nothing due, then a sleep of the rest). 0 when passed. */
static int ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double s = (double)(t->tv_sec - now.tv_sec) + (double)(t->tv_nsec - now.tv_nsec) / 1e9;
    if (s <= 0)
        return 0;
    double ms = ceil(s * 1000.0);
    return ms > 2e9 ? 2000000000 : (int)ms;
}

static int stopping(struct escp_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int s = e->stop;
    pthread_mutex_unlock(&e->mu);
    return s;
}

/* Empty the pipe; called with e->mu held, so a poke either wrote before
 * (and is consumed here) or sees signalled == 0 and writes again. */
static void drain_pipe(struct escp_engine *e)
{
    char buf[64];
    while (read(e->pipe_r, buf, sizeof buf) > 0) {
    }
    e->signalled = 0;
}

static void signal_locked(struct escp_engine *e)
{
    if (e->signalled)
        return;
    e->signalled = 1;
    ssize_t n;
    do
        n = write(e->pipe_w, "x", 1);
    while (n < 0 && errno == EINTR);
}

/* Wait up to `seconds` for a poke, a stop, or (when c is connected) a
 * notification or a broken connection.  Returns the number of notifications
 * that ended the wait (0 otherwise). */
static int wait_for(struct escp_engine *e, struct escp_conn *c, double seconds)
{
    struct timespec until = escp_mono_after(seconds);
    int notified = 0;
    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        return 0;
    }
    e->wake_at = until;
    e->sleeping = 1;
    pthread_mutex_unlock(&e->mu);
    for (;;) {
        int sock = escp_conn_ok(c) ? escp_conn_socket(c) : -1;
        struct pollfd fds[2] = {{.fd = e->pipe_r, .events = POLLIN},
                                {.fd = sock, .events = POLLIN}};
        int timeout = ms_until(&until);
        int n = poll(fds, sock >= 0 ? 2 : 1, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the planned wake-up (or a poll error: look again) */
        if (fds[0].revents)
            break; /* a poke or stop: drained below */
        if (sock >= 0 && fds[1].revents) {
            int got = 0;
            if (escp_conn_notifications(c, &got) != 0)
                break; /* the connection broke: the caller reconnects */
            if (got > 0) {
                notified = got;
                break;
            }
            /* something else the server said (a notice): keep waiting */
        }
    }
    pthread_mutex_lock(&e->mu);
    e->sleeping = 0;
    drain_pipe(e); /* the pass that follows sees every deadline committed so far */
    if (notified)
        e->stats.wakeups_notified++;
    pthread_mutex_unlock(&e->mu);
    return notified;
}

/* Account for one fire statement; calls the on_fired hook when it fired any. */
static void record_fired(struct escp_engine *e, int fired, double late, double ms)
{
    pthread_mutex_lock(&e->mu);
    e->stats.fired += (uint64_t)fired;
    e->stats.passes++;
    void (*on_fired)(void *) = e->on_fired;
    void *on_fired_arg = e->on_fired_arg;
    if (fired) {
        e->stats.last_late_s = late;
        if (late > e->stats.max_late_s)
            e->stats.max_late_s = late;
    }
    pthread_mutex_unlock(&e->mu);
    if (fired) {
        log_debug("sla engine fired %d timers in %.1f ms, latest %.3f s after its deadline", fired, ms,
                  late);
        if (on_fired) /* the pass committed breach/at_risk events */
            on_fired(on_fired_arg);
    }
}

/* Ask the drainers to fire batches alongside the engine thread. */
static void start_draining(struct escp_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->drain_gen++;
    pthread_cond_broadcast(&e->drain_cv);
    pthread_mutex_unlock(&e->mu);
}

/* A drainer: on each request, fire whole batches until one comes back short. */
static void *drain(void *arg)
{
    struct escp_engine *e = arg;
    struct escp_conn *c = NULL;
    uint64_t seen = 0;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->stop && e->drain_gen == seen)
            pthread_cond_wait(&e->drain_cv, &e->mu);
        if (e->stop)
            break;
        seen = e->drain_gen;
        pthread_mutex_unlock(&e->mu);
        esc_error_t err = {0};
        if (!escp_conn_ok(c)) {
            escp_conn_close(c);
            c = escp_store_drainer_open(e->conninfo, &err);
            if (c)
                log_info("sla engine: a backlog; the drainer connected to fire it alongside");
        }
        int fired = c ? e->batch : 0;
        while (c && fired >= e->batch && !stopping(e)) {
            double late, f0 = escp_mono_now();
            if (escp_store_fire_due(c, e->batch, &fired, &late, &err) != 0)
                break; /* the engine thread notices the database too */
            record_fired(e, fired, late, (escp_mono_now() - f0) * 1e3);
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    escp_conn_close(c);
    return NULL;
}

static void *run(void *arg)
{
    struct escp_engine *e = arg;
    struct escp_conn *c = NULL;
    while (!stopping(e)) {
        esc_error_t err = {0};
        double wait_s = e->max_sleep_ms / 1000.0;
        if (!escp_conn_ok(c)) {
            escp_conn_close(c);
            c = escp_store_engine_open(e->conninfo, &err);
            if (!c) {
                wait_for(e, NULL, RECONNECT_S);
                continue;
            }
            log_info("sla engine connected; listening on %s", ESCP_TIMER_CHANNEL);
        }
        int ignored = 0;
        escp_conn_notifications(c, &ignored); /* what came before this pass is covered by it */

        int fired = 0, last_fired = 0, batches = 0;
        double late;
        do {
            double f0 = escp_mono_now();
            if (escp_store_fire_due(c, e->batch, &fired, &late, &err) != 0)
                break;
            last_fired = fired;
            record_fired(e, fired, late, (escp_mono_now() - f0) * 1e3);
            if (fired >= e->batch && ++batches == 1 && e->ndrainers > 0)
                start_draining(e); /* a backlog: fire it on more backends */
        } while (fired >= e->batch && !stopping(e));
        /* the escalation ladders' steps (migration 014): their own statement,
         * since a step alerts and moves on where a deadline records a breach */
        if (err.code == ESC_OK) {
            int stepped = 0;
            do {
                double f0 = escp_mono_now();
                if (escp_store_fire_ladders(c, e->batch, &stepped, &late, &err) != 0)
                    break;
                last_fired += stepped;
                record_fired(e, stepped, late, (escp_mono_now() - f0) * 1e3);
            } while (stepped == e->batch && !stopping(e));
        }

        double next = 0;
        bool none = true;
        if (err.code == ESC_OK && escp_store_next_due(c, &next, &none, &err) == 0 && !none) {
            if (next > 0)
                wait_s = next < wait_s ? next : wait_s;
            else /* due now: fired meanwhile came due -> at once; all locked -> soon */
                wait_s = last_fired > 0 ? 0 : LOCKED_RETRY_S;
        }
        if (err.code != ESC_OK) {
            log_warn("sla engine: %s; retrying", err.message);
            wait_s = escp_conn_ok(c) ? RETRY_S : RECONNECT_S;
        } else {
            int buffered = 0;
            if (escp_conn_notifications(c, &buffered) != 0)
                wait_s = RECONNECT_S; /* the connection broke just now: reconnect */
            else if (buffered > 0)
                wait_s = 0; /* a commit this pass may not have seen */
        }
        if (wait_s > 0) {
            int n = wait_for(e, err.code == ESC_OK ? c : NULL, wait_s);
            log_debug("sla engine: awake after planning %.3f s (%d notifications)", wait_s, n);
        }
    }
    escp_conn_close(c);
    return NULL;
}

/* Stop the threads that run (the engine thread only when `engine`), join
 * them, and free e. */
static void join_and_free(struct escp_engine *e, bool engine)
{
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    if (engine)
        signal_locked(e);
    pthread_cond_broadcast(&e->drain_cv);
    pthread_mutex_unlock(&e->mu);
    if (engine)
        pthread_join(e->thread, NULL);
    for (int i = 0; i < e->ndrainers; i++)
        pthread_join(e->drainers[i], NULL);
    pthread_cond_destroy(&e->drain_cv);
    pthread_mutex_destroy(&e->mu);
    close(e->pipe_r);
    close(e->pipe_w);
    free(e->conninfo);
    free(e);
}

struct escp_engine *escp_engine_start(const char *conninfo, int batch, int max_sleep_ms, esc_error_t *err)
{
    struct escp_engine *e = calloc(1, sizeof *e);
    int p[2] = {-1, -1};
    if (!e || !(e->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(e);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (pipe(p) != 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(p[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
        if (p[0] >= 0)
            close(p[0]), close(p[1]);
        free(e->conninfo);
        free(e);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "cannot create the sla engine's wake-up pipe");
        return NULL;
    }
    e->pipe_r = p[0];
    e->pipe_w = p[1];
    e->batch = batch > 0 ? batch : 500;
    e->max_sleep_ms = max_sleep_ms > 0 ? max_sleep_ms : ESCP_ENGINE_MAX_SLEEP_MS;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->drain_cv, NULL);
    for (int i = 0; i < DRAINERS; i++)
        if (pthread_create(&e->drainers[e->ndrainers], NULL, drain, e) == 0)
            e->ndrainers++; /* fewer drainers only means a slower burst */
    if (pthread_create(&e->thread, NULL, run, e) != 0) {
        join_and_free(e, false);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "cannot start the sla engine thread");
        return NULL;
    }
    return e;
}

void escp_engine_stop(struct escp_engine *e)
{
    if (!e)
        return;
    join_and_free(e, true);
}

void escp_engine_poke(struct escp_engine *e, esc_time_t now, esc_time_t due)
{
    if (!e || now == ESC_TIME_NULL || due == ESC_TIME_NULL)
        return;
    double in = (double)(due - now) / 1e6;
    if (in > e->max_sleep_ms / 1000.0)
        return; /* the engine looks at least this often anyway */
    struct timespec at = escp_mono_after(in);
    pthread_mutex_lock(&e->mu);
    /* awake (mid-pass): make it look again before sleeping; asleep: wake it
     * if the deadline comes before the planned wake-up */
    if (!e->sleeping || ts_before(&at, &e->wake_at)) {
        e->stats.wakeups_poked++;
        signal_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
}

void escp_engine_stats(struct escp_engine *e, struct escp_engine_stats *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}

void escp_engine_on_fired(struct escp_engine *e, void (*fn)(void *), void *arg)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->on_fired = fn;
    e->on_fired_arg = arg;
    pthread_mutex_unlock(&e->mu);
}
