/* ledger.h — the fault suite's load generator, client-side ledger and checker.
 *
 * A fault test starts a mixed load against one or more daemons, injects its
 * fault, stops the load, and then compares the database with what the
 * clients were told.  Three pieces:
 *
 * 1. The load (fl_load_start): `threads` client threads, each with its own
 *    libcurl handle (keep-alive), against the daemon URLs in the config
 *    (a thread starts on urls[i % n] and moves to the next URL after a
 *    transport error, so a killed daemon's clients go to the others; a
 *    restarted daemon may get a new port: fl_load_set_url).  Thread 0 of
 *    every 4 is a claimer; the others are writers:
 *      writer:  POST /v1/tickets (severity normal, Idempotency-Key
 *               "<key_prefix>-<thread>-<n>"), then most of the time
 *               acknowledge (line-1 agent), then escalate (to line-2) or
 *               resolve; about 1 in 5 tickets is left awaiting_ack so that
 *               its ack deadline falls (set a short ack_seconds);
 *      claimer: POST /v1/queues/line-2/claim?wait=1 as the line-2 agent,
 *               then resolve half of what it claims.
 *    Each action follows only on a 2xx answer for the step before.  A
 *    create without a 2xx answer (transport error or 5xx: it may or may not
 *    have committed) is remembered with its key and body for
 *    fl_load_retry_unanswered.
 *
 * 2. The ledger: every write answered 2xx is recorded (op, ticket id,
 *    idempotency key for creates, the version and state the answer gave,
 *    monotonic time).  Every answer is counted by status; a 503 without
 *    Retry-After, a transport error and 500s are counted apart, with the
 *    time of each, and the slowest answer is kept (a hang shows there).
 *    Between fl_fault_begin and fl_load_stop the longest gap between two
 *    2xx answers is the "time without service".
 *
 * 3. The checker (fl_check), on the test database after the load stopped
 *    and the SLA engine had time to fire what is due:
 *      - every answered write is in the database at >= the version answered,
 *        and the ticket's history, replayed to that version, gives the
 *        state answered (the state after the version-th event);
 *      - one ticket per idempotency key, and it is the ticket answered;
 *      - history length == version for every ticket (events that do not
 *        change the version -- commented, customer_revealed, notified, alerted -- are
 *        not counted; this needs at most one timer of a ticket firing per
 *        engine batch, so keep resolve_seconds long: only ack deadlines
 *        fall in these tests);
 *      - no breach recorded twice (ticket, kind, due_at unique; one
 *        `breached` event per breach row; the breaches of problems'
 *        actions, which have no ticket, are not looked at);
 *      - none lost: no timer row overdue by more than `settle_s`, and for
 *        every awaiting_ack period in a history (entered at `at`, due at
 *        at + ack_seconds) that lasted past its due time there is an ack
 *        breach with that due_at, and none for a period that ended before.
 *    Every violation is printed (up to a limit) and counted in `lost`
 *    (answered writes missing or wrong) or `violations` (the rest).
 *
 * One row per test goes to $ESC_FAULTS_TSV (fl_report_row); the ctest
 * `faults.report` prints the rows as a table (report.sh).
 *
 * Nothing here asserts (no cmocka): the functions are safe to call from any
 * thread and return counts; the test decides what fails. */
#ifndef ESC_FAULTS_LEDGER_H
#define ESC_FAULTS_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FL_MAX_URLS 8

struct fl_config {
    const char *urls[FL_MAX_URLS]; /* daemon base URLs, "http://127.0.0.1:PORT" */
    int n_urls;
    int threads;                   /* client threads (>= 2: one claimer per 4) */
    const char *frontdesk;         /* tokens */
    const char *agent1, *agent2;
    const char *key_prefix;        /* makes the idempotency keys unique per run */
    double request_timeout_s;      /* per request (0: 15 s) */
    int claim_wait_s;              /* the claimers' ?wait= (0: 1 s) */
    int leave_percent;             /* tickets left awaiting_ack (default 20 when 0; -1: none) */
    unsigned seed;
};

/* What the clients saw. */
struct fl_stats {
    long requests;          /* every request sent */
    long answered_2xx;      /* answered 2xx (writes and claims, 204 included) */
    long writes;            /* ledger entries (writes answered 2xx) */
    long s503_retry;        /* 503 with Retry-After */
    long s503_bare;         /* 503 without Retry-After */
    long s5xx_other;        /* 500, 502, ... */
    long s4xx;              /* 4xx (409 of racing actions etc.) */
    long transport;         /* no HTTP answer (connection refused/reset, timeout) */
    long unanswered_creates;/* creates without a 2xx answer (retry candidates) */
    double max_latency_s;   /* the slowest answer (or transport error) */
    double longest_gap_s;   /* longest gap between 2xx answers after fl_fault_begin */
    /* between fl_fault_begin and fl_fault_end (requests sent in the window) */
    long fault_requests, fault_503_retry, fault_503_bare, fault_5xx_other, fault_transport;
    double fault_max_latency_s;
};

struct fl_check_result {
    long tickets_checked;   /* tickets in the ledger */
    long entries_checked;   /* ledger entries */
    long lost;              /* answered writes missing, at a lower version, or in another state */
    long key_violations;    /* keys with != 1 ticket or another ticket than answered */
    long history_violations;/* tickets whose history length != version */
    long breach_doubled;    /* breach rows beyond the first per (ticket, kind, due_at), and breached events != breach rows */
    long breach_lost;       /* overdue timers, and ack periods past due without their breach */
    long breach_spurious;   /* ack breaches for a period that ended before its due time */
    long breaches;          /* breach rows in the database */
};

typedef struct fl_load fl_load;

/* Start the load (threads start at once).  NULL on failure (message on stderr). */
fl_load *fl_load_start(const struct fl_config *cfg);
/* Replace URL i (a daemon restarted on another port). */
void fl_load_set_url(fl_load *l, int i, const char *url);
/* Mark the fault's window: statistics of the window, and the gap measure. */
void fl_fault_begin(fl_load *l);
void fl_fault_end(fl_load *l);
/* Stop and join the threads (a long poll in flight ends within claim_wait_s). */
void fl_load_stop(fl_load *l);
/* Counters so far (safe while running). */
struct fl_stats fl_load_stats(fl_load *l);
/* After fl_load_stop: send every create that got no 2xx answer again, same
 * key and body (to urls[0] unless base is given), until each is answered
 * 2xx or `seconds` pass.  Answers are added to the ledger (a retry answers
 * the ticket the first attempt made, if it committed).  Returns how many
 * are still without an answer. */
long fl_load_retry_unanswered(fl_load *l, const char *base, double seconds);
/* Compare the database (conninfo) with the ledger; ack_seconds of the
 * normal policy as the load ran; settle_s: how overdue a timer may still be
 * (the engine's lateness).  Prints each violation (at most 20 per kind) to
 * `out`.  Returns 0 when everything holds, else -1. */
int fl_check(fl_load *l, const char *conninfo, int ack_seconds, double settle_s,
             struct fl_check_result *res, FILE *out);
/* Free everything (after fl_load_stop). */
void fl_load_free(fl_load *l);

/* The ledger entries, for tests that need more (after fl_load_stop). */
enum fl_op { FL_CREATE, FL_ACK, FL_ESCALATE, FL_CLAIM, FL_RESOLVE };
struct fl_entry {
    enum fl_op op;
    int64_t ticket;
    int version;
    char state[16];
    char key[64];      /* creates only */
    double t_sent, t_answered; /* fl_now() */
};
size_t fl_ledger(fl_load *l, const struct fl_entry **entries);
/* Every request the load sent (answered or not), in the order answered:
 * for what the counters do not say (which requests were in flight at an
 * instant, the errors' times).  After fl_load_stop. */
struct fl_req {
    double t_sent, t_answered; /* fl_now() */
    int status;                /* 0: no HTTP answer */
    enum fl_op op;             /* FL_CLAIM for every claim, 204 included */
    int retry_after;           /* the answer had Retry-After */
};
size_t fl_requests(fl_load *l, const struct fl_req **reqs);

/* Monotonic seconds (the clock of the stats). */
double fl_now(void);

/* One row of the fault table, appended to $ESC_FAULTS_TSV (no-op when
 * unset): fault, requests answered, errors (text), time without service,
 * lost.  Also printed to stderr. */
void fl_report_row(const char *fault, long answered, const char *errors, double no_service_s,
                   long lost);
/* The errors column from stats: "503+RA 812, transport 40, ...". */
void fl_errors_text(const struct fl_stats *s, char *buf, size_t n);

#endif
