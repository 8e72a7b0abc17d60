/* service.h — the use cases: load -> decide (pure) -> persist, inside one
 * transaction, and the post-commit wake-ups.  Handlers call these and never
 * touch a database connection. */
#ifndef ESCALATED_SERVICE_H
#define ESCALATED_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "core/problem.h"
#include "core/ticket.h"
#include "db/db.h"

/* ---- authentication (auth.c) ---- */
/* Look up a token in the database, on every call (no cache: a revoked or
 * expired token is refused by the next request on every daemon).  0 and
 * *actor filled; -1 with ESC_ERR_UNAUTHENTICATED or ESC_ERR_UNAVAILABLE. */
int escp_authenticate(struct esc_store *store, const char *token, struct esc_actor *actor,
                      esc_error_t *err);

/* ---- principals (principals.c; docs/api.md "Principals") ----
 * actor NULL = the command line (service/keys.h).  Each change and its audit
 * record commit together.  Principals answer as the store builds them
 * (db.h), never with a token hash; the create and rotate answers add
 * "token", the one time it is shown.  New references, or NULL with err. */
struct escp_svc;
json_t *escp_svc_principal_create(struct escp_svc *svc, const struct esc_actor *actor,
                                  const struct escp_principal_new *pn, esc_error_t *err);
json_t *escp_svc_principal_list(struct escp_svc *svc, const struct escp_principal_filter *f,
                                esc_error_t *err);
json_t *escp_svc_principal_get(struct escp_svc *svc, int64_t id, esc_error_t *err);
/* {"items": [...]}: the principal's audit records, oldest first. */
json_t *escp_svc_principal_audit(struct escp_svc *svc, int64_t id, esc_error_t *err);
/* Revoked at once: the next request with its token, on any daemon, gets
 * 401.  Revoking a revoked principal answers it as it is (no new record).
 * ESC_ERR_CONFLICT for the caller's own principal, or the last active
 * admin; ESC_ERR_NOT_FOUND. */
json_t *escp_svc_principal_revoke(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                  const char *reason, esc_error_t *err);
/* A new token; the old one is refused from the commit on.  set_expiry:
 * expires_at becomes `expires` (ESC_TIME_NULL = none); else it stays.  The
 * expiry must be in the future by the database's clock (ESC_ERR_VALIDATION,
 * field expires_at); ESC_ERR_CONFLICT when revoked; ESC_ERR_NOT_FOUND. */
json_t *escp_svc_principal_rotate(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                  bool set_expiry, esc_time_t expires, esc_error_t *err);

/* ---- outgoing JSON (render.c) ---- */
/* Replace the customer fields and free text of a ticket JSON with their masked forms, in place. */
void escp_ticket_mask(json_t *ticket);
/* One function per kind of object the API sends, the masking of SPEC
 * section 7 included: every ticket, event and breach in a response went
 * through one of these, once (a ticket's masking is escp_ticket_mask).  Each
 * steals `stored` (the object as the store returned it; NULL gives NULL) and
 * returns the object to send, or NULL when out of memory. */
json_t *escp_render_ticket(json_t *stored);
json_t *escp_render_event(json_t *stored);
json_t *escp_render_breach(json_t *stored);
/* Render every element of the array `items` in place with `render`.
 * -1 with ESC_ERR_INTERNAL when out of memory. */
/* A problem, one of its actions, one event of its history (docs/problems.md):
 * the free text masked (render.c). */
json_t *escp_render_problem(json_t *stored);
json_t *escp_render_problem_action(json_t *stored);
json_t *escp_render_problem_event(json_t *stored);
int escp_render_each(json_t *items, json_t *(*render)(json_t *stored), esc_error_t *err);

/* ---- the use cases (service.c): load -> decide (pure) -> persist ---- */

/* Wakes long-polling claims of this process when a ticket enters a queue,
 * and feed readers when events are committed.  Each queue and the feed has a
 * generation ("slot": a tier, or ESC_TIER_NONE for the feed) that every such
 * commit bumps. */
struct escp_wake;
struct escp_wake *escp_wake_new(void);
void escp_wake_free(struct escp_wake *w);
void escp_wake_tier(struct escp_wake *w, enum esc_tier tier);
void escp_wake_all(struct escp_wake *w); /* shutdown */
uint64_t escp_wake_gen(struct escp_wake *w, enum esc_tier tier);
/* The feed's (GET /v1/events): bumped after every commit of this process
 * that recorded events; escp_wake_all bumps it too. */
void escp_wake_events(struct escp_wake *w);
/* The one listener (http/, which resumes the requests that wait): called
 * after each bump, on the thread that bumped, with the slot, or -1 for
 * escp_wake_all.  It runs under a lock of its own that no bump holds, so it
 * may take locks of its own, but must not bump a generation.  fn NULL
 * removes it; once that returns, the old listener is not running. */
typedef void (*escp_wake_fn)(void *cls, int slot);
void escp_wake_listen(struct escp_wake *w, escp_wake_fn fn, void *cls);

/* A long poll that found nothing: what to wait for before looking again.
 * The caller waits (http/ suspends the request, holding no thread) until
 * slot's generation moves past `gen`, or `recheck_ms` pass (commits of other
 * daemons bump nothing here), or its own deadline; then calls the use case
 * again with the same struct.  Zero it before the first look. */
struct escp_poll {
    int slot;       /* a tier, or ESC_TIER_NONE for the feed */
    uint64_t gen;   /* read before the look */
    int recheck_ms;
    int pending_ms; /* the feed's back-off while events are held back (0: none yet) */
};

struct escp_engine;
/* ---- the customer at rest (customer.c; docs/security.md) ---- */
struct escp_keyring;
/* The data key file, loaded (base/datakey.h); NULL with err when refused. */
struct escp_keyring *escp_keyring_load(const char *path, esc_error_t *err);
void escp_keyring_free(struct escp_keyring *kr);
/* The version new values are sealed with. */
unsigned escp_keyring_version(struct escp_keyring *kr);
/* Load the key file again now (SIGHUP): 0, or -1 with err when it does not
 * load (the ring in use stays). */
int escp_keyring_reload(struct escp_keyring *kr, esc_error_t *err);
/* `escalated check`: open the newest sealed customer record of the database
 * with kr.  0 with *id (0: there is none yet) and *version (its key
 * version); -1 with err: the database (ESC_ERR_UNAVAILABLE, ...) or a record
 * that does not open with this key file (ESC_ERR_VALIDATION). */
int escp_customer_try_open(const char *conninfo, struct escp_keyring *kr, int64_t *id,
                           unsigned *version, esc_error_t *err);
/* Seal, mask and index the customer fields of ticket `id` (clear[f] NULL =
 * absent) into *cs (free with escp_customer_stored_clear). */
int escp_customer_seal(struct escp_keyring *kr, int64_t id, const char *const clear[ESCP_CUST__COUNT],
                       struct escp_customer_stored *cs, esc_error_t *err);
void escp_customer_stored_clear(struct escp_customer_stored *cs);
/* Open the sealed fields of ticket `id` into clear[] (malloc'd, NULL where
 * sealed[f] is NULL).  A version the ring lacks reloads the key file once
 * (at most once a second) before giving up. */
int escp_customer_open(struct escp_keyring *kr, int64_t id, const char *const sealed[ESCP_CUST__COUNT],
                       char *clear[ESCP_CUST__COUNT], esc_error_t *err);
/* The blind index of a query value: kind "phone" or "id_number";
 * ESC_ERR_VALIDATION (field customer_phone / customer_id_number) when it
 * cannot be normalised. */
int escp_customer_index(struct escp_keyring *kr, const char *kind, const char *value,
                        char out[65], esc_error_t *err);
/* Seal, in transactions of `batch` rows, every row still in clear or sealed
 * with a version below `below` (0: only the clear ones), until none is
 * left; *total gets the count.  Safe while daemons serve (SKIP LOCKED). */
int escp_customer_reseal(struct esc_store *store, struct escp_keyring *kr, unsigned below,
                         int batch, long *total, esc_error_t *err);

/* A keyed MAC of msg (HMAC-SHA256 with the blind index key, `kind` mixed in
 * as for the blind index: base/datakey.h), 64 hex digits: the same on every
 * daemon that has the key file. */
int escp_keyring_mac(struct escp_keyring *kr, const char *kind, const char *msg, char out[65],
                     esc_error_t *err);
/* Seal / open one value with the ring (the place string `aad` as in
 * base/datakey.h); malloc'd results, NULL with err. */
char *escp_keyring_seal(struct escp_keyring *kr, const char *plain, size_t len, const char *aad,
                        esc_error_t *err);
char *escp_keyring_open(struct escp_keyring *kr, const char *sealed, const char *aad,
                        esc_error_t *err);

/* ---- personal data in free text (free_text.c; migration 008) ----
 * The texts of one row (a ticket's subject, description, category; an
 * event's reason, body, resolution, feedback) are scanned before they are
 * written: each text with a finding is replaced by its masked form, and
 * what was found goes, sealed, into the row's pii_sealed column: one JSON
 * document {"<name>": [{"at", "length", "kind", "original"}, ...]} where
 * at/length place the masked form in the MASKED text (bytes) and original
 * is the text it replaced.  Texts with no finding are stored as they are. */
struct escp_free_text {
    const char *name;  /* "subject", ... */
    const char *text;  /* borrowed; NULL = absent */
    char *masked;      /* set by escp_free_text_mask: malloc'd, NULL = no finding */
};
/* Scan and mask f[0..n); *doc (new reference) gets the findings, or NULL
 * when there are none (then every masked is NULL). */
int escp_free_text_mask(struct escp_free_text *f, size_t n, json_t **doc, esc_error_t *err);
/* The text to store: masked when there was a finding, else the text. */
const char *escp_free_text_stored(const struct escp_free_text *f);
void escp_free_text_clear(struct escp_free_text *f, size_t n);
/* Seal doc bound to "<table>.pii:<id>" (table "tickets" or "events"). */
char *escp_free_text_seal(struct escp_keyring *kr, const char *table, int64_t id, json_t *doc,
                          esc_error_t *err);
/* Open a pii_sealed value of row `id` of `table`: the document, new reference. */
json_t *escp_free_text_open(struct escp_keyring *kr, const char *table, int64_t id,
                            const char *sealed, esc_error_t *err);
/* The original of a stored (masked) text with its findings (doc[name]);
 * a copy of masked when there are none; NULL with err when they do not fit. */
char *escp_free_text_restore(const char *masked, json_t *findings, esc_error_t *err);
/* Scan, mask and seal, in transactions of `batch` rows, every ticket whose
 * texts were never scanned (from before migration 008): subject,
 * description, category, and the resolution and feedback columns (their
 * findings under "resolution" and "feedback" in the ticket's document).
 * Their events are left as they are (append-only; docs/security.md).
 * *total gets the count.  Safe while daemons serve (SKIP LOCKED). */
int escp_free_text_scan_old(struct esc_store *store, struct escp_keyring *kr, int batch,
                            long *total, esc_error_t *err);

struct escp_svc {
    struct esc_store *store;
    struct escp_keyring *keys; /* the data key; seals on create, opens on reveal */
    struct escp_wake *wake;
    struct escp_engine *engine; /* may be NULL */
    struct escp_webhooks *webhooks; /* the delivery worker; may be NULL */
    struct escp_alerts *alerts;     /* the alert worker; may be NULL */
    int notify_within_ms; /* pg_notify a new timer due sooner than this (0 = never) */
    _Atomic bool webhook_allow_private; /* webhooks may also aim at loopback and private
                                           networks (atomic: SIGHUP changes it while serving) */
    /* the monthly view's targets (issue 10: 90% in the procedures), fractions */
    double target_resolution_rate, target_satisfaction_rate;
};

/* ---- tickets (service.c) ----
 * Tickets and events come back rendered (render.c), here and from
 * escp_svc_create, _act, _claim and _events below; each returns a new
 * reference, or NULL with err set. */
/* One ticket; ESC_ERR_NOT_FOUND when there is none. */
json_t *escp_svc_ticket_get(struct escp_svc *svc, int64_t id, esc_error_t *err);
/* The tickets that match, newest first: an array of up to f->limit + 1 (the
 * extra one tells the caller there is a next page). */
json_t *escp_svc_ticket_list(struct escp_svc *svc, const struct escp_list_filter *f,
                             esc_error_t *err);
/* {"items": [...]}: the ticket's history, oldest first; ESC_ERR_NOT_FOUND. */
json_t *escp_svc_ticket_events(struct escp_svc *svc, int64_t id, esc_error_t *err);
/* The unmasked customer record of a ticket, recording the reveal (by actor)
 * in its history in the same statement; ESC_ERR_NOT_FOUND. */
json_t *escp_svc_customer_reveal(struct escp_svc *svc, int64_t id, const struct esc_actor *actor,
                                 esc_error_t *err);
/* 0 when the database answers and is migrated; -1 with ESC_ERR_UNAVAILABLE. */
int escp_svc_ready(struct escp_svc *svc, esc_error_t *err);

/* ---- deadline policies, the business calendar, breaches (sla.c) ---- */
/* {"items": [...]}: the policy of each severity. */
json_t *escp_svc_policies(struct escp_svc *svc, esc_error_t *err);
/* A change to one severity's policy; 0 (a ratio < 0) leaves a field as it is. */
struct escp_policy_change {
    const char *severity;
    int64_t ack_seconds, resolve_seconds, callback_business_days;
    double warn_ratio;
};
/* The severity's policy after the change. */
json_t *escp_svc_policy_put(struct escp_svc *svc, const struct escp_policy_change *pc,
                            esc_error_t *err);
/* The calendar document; _put stores cal (validated) and returns it as stored. */
json_t *escp_svc_calendar_get(struct escp_svc *svc, esc_error_t *err);
json_t *escp_svc_calendar_put(struct escp_svc *svc, const struct esc_calendar *cal,
                              esc_error_t *err);
/* The breaches that match, rendered, newest first: up to f->limit + 1. */
json_t *escp_svc_breaches(struct escp_svc *svc, const struct escp_breach_filter *f,
                          esc_error_t *err);



json_t *escp_svc_create(struct escp_svc *svc, const struct esc_actor *actor,
                        const struct escp_new_ticket *nt, bool *replayed, esc_error_t *err);
/* The ticket after the action, or for `comment` the new event (new reference). */
json_t *escp_svc_act(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                     enum esc_action action, const struct escp_action_args *args,
                     esc_error_t *err);
/* One look at the queue: claim its oldest ticket.  NULL with err->code ==
 * ESC_OK when it is empty; *poll then says what to wait for. */
/* Resolve ticket `id` inside the caller's transaction on c, as the resolve
 * action does (its event, its timers: the callback deadline starts), for a
 * problem's fix (problems.c): resolution and root_cause as stored.  extra
 * (borrowed, may be NULL) is merged into the event's data.  *first_due is
 * lowered to the earliest deadline it set; *db_now is the database clock
 * the ticket was locked at.  409 invalid_transition when the
 * ticket's state does not allow a resolve. */
int escp_svc_resolve_in(struct escp_svc *svc, struct escp_conn *c, const struct esc_actor *actor,
                        int64_t id, const char *resolution, const char *root_cause,
                        json_t *extra, esc_time_t *db_now, esc_time_t *first_due,
                        esc_error_t *err);
json_t *escp_svc_claim(struct escp_svc *svc, const struct esc_actor *actor, enum esc_tier tier,
                       struct escp_poll *poll, esc_error_t *err);
/* One look at the event feed (service_events.c): up to `limit` events after
 * event `after` (0 = the start), holding a database connection for that
 * look only.  An empty array when none are there yet, *poll then saying what
 * to wait for (new reference). */
json_t *escp_svc_events(struct escp_svc *svc, int64_t after, int limit, struct escp_poll *poll,
                        struct escp_feed_page *page, esc_error_t *err);

/* ---- the complaint taxonomy (taxonomy.c; docs/api.md "Taxonomy") ---- */
/* The document {"version", "enforced", "updated_at", "updated_by",
 * "categories"} (new reference). */
json_t *escp_svc_taxonomy_get(struct escp_svc *svc, esc_error_t *err);
/* Replace the tree with `categories` (checked: core/taxonomy.h), enforced
 * or not, as actor; if_match >= 0 only at that version
 * (ESC_ERR_VERSION_MISMATCH).  The document as stored. */
json_t *escp_svc_taxonomy_put(struct escp_svc *svc, const struct esc_actor *actor,
                              json_t *categories, bool enforced, int if_match, esc_error_t *err);

/* ---- reports, dashboard, metrics, webhooks (reports.c, dashboard.c,
 * metrics.c, webhooks.c): the use cases of the routes that only read, or
 * manage the delivery of notifications ---- */

/* group_by=day covers at most this many local days. */
#define ESCP_REPORT_DAY_GROUPS_MAX 1000
/* The SLA report {"from", "to", "group_by", "timezone", "groups"} (new
 * reference), read in one read-only transaction.  from/to: timestamptz text
 * or NULL for the defaults; group_by: tier, severity, category, day or
 * assignee (the caller checked); level > 0 (category only): by the
 * taxonomy's ancestors at that level, and "level" in the report.  ESC_ERR_VALIDATION when the period is not ordered or a
 * day grouping covers more than ESCP_REPORT_DAY_GROUPS_MAX days. */
json_t *escp_svc_report_sla(struct escp_svc *svc, const char *from, const char *to,
                            const char *group_by, int level, esc_error_t *err);
/* The monthly report {"month", "timezone", "from", "to", "targets",
 * "agents", "totals", "categories", "root_causes"} (new reference), the
 * rates of the totals and of each agent marked "below_target" against
 * svc's targets; month "YYYY-MM" (checked by
 * the caller) or NULL for the current one. */
json_t *escp_svc_report_monthly(struct escp_svc *svc, const char *month, int limit, esc_error_t *err);
/* The problems report {"from", "to", "timezone", "totals", "categories"}
 * over the problems created in [from, to) (docs/reports.md); from/to as for
 * the SLA report.  New reference, NULL with err set. */
json_t *escp_svc_report_problems(struct escp_svc *svc, const char *from, const char *to,
                                 esc_error_t *err);
/* The dashboard summary (db.h, escp_store_dashboard_summary; new reference). */
json_t *escp_svc_dashboard_summary(struct escp_svc *svc, const struct escp_dash_query *q,
                                   esc_error_t *err);

/* GET /metrics.  Pool usage now (before the scrape leases anything). */
void escp_svc_pool_usage(struct escp_svc *svc, int *leased, int *size);
/* The SLA engine's counters (workers.h); false when the server runs none. */
struct escp_engine_stats;
bool escp_svc_engine_stats(struct escp_svc *svc, struct escp_engine_stats *out);
/* The database figures: the last reading kept in m when it is recent for
 * what it cost (escp_metrics_db_reusable), else a new one on a pooled
 * connection waited for at most 1 s.  false when none could be had. */
struct escp_db_figures {
    struct escp_db_metrics d;
    double cost; /* seconds the reading took */
    double age;  /* seconds since it was taken */
};
bool escp_svc_db_metrics(struct escp_svc *svc, struct escp_metrics *m, struct escp_db_figures *out);

/* Outgoing JSON.  A webhook as the store read it (borrowed) -> its answer
 * (new reference): never the secret, except secret_once (non-NULL only in
 * the create answer, the one time it is shown).  A notification likewise,
 * its payload masked as a ticket is (escp_ticket_mask).  NULL when out of
 * memory. */
json_t *escp_webhook_json(const json_t *w, const char *secret_once);
json_t *escp_notification_json(const json_t *n);

/* Webhooks, admin side.  event_types: a PostgreSQL array literal of known
 * types; secret NULL = make one.  The create answer shows the secret; the
 * delivery worker is poked after it and after a retry.  NULL/-1 with
 * ESC_ERR_NOT_FOUND for an unknown id; the retry ESC_ERR_CONFLICT when the
 * notification is neither failed nor undeliverable. */
json_t *escp_svc_webhook_create(struct escp_svc *svc, const struct esc_actor *actor, const char *url,
                                const char *event_types, const char *secret, esc_error_t *err);
json_t *escp_svc_webhook_list(struct escp_svc *svc, esc_error_t *err); /* {"items"} */
json_t *escp_svc_webhook_get(struct escp_svc *svc, int64_t id, esc_error_t *err);
int escp_svc_webhook_delete(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                            esc_error_t *err);
/* Array of notifications, newest first, at most f->limit + 1 (the extra one
 * tells the caller there is a next page). */
json_t *escp_svc_notification_list(struct escp_svc *svc, const struct escp_notification_filter *f,
                                   esc_error_t *err);
json_t *escp_svc_notification_get(struct escp_svc *svc, int64_t id, esc_error_t *err);
json_t *escp_svc_notification_retry(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                    esc_error_t *err);

/* ---- retention (retention.c; docs/operations.md "Retention and
 * anonymisation") ---- */
/* The period (db.h, escp_store_retention_get). */
json_t *escp_svc_retention_get(struct escp_svc *svc, esc_error_t *err);
/* Set it (actor_id 0 = the command line); ESC_ERR_VALIDATION (field months)
 * outside ESCP_RETENTION_MIN_MONTHS..ESCP_RETENTION_MAX_MONTHS. */
json_t *escp_svc_retention_put(struct escp_svc *svc, int64_t actor_id, int64_t months,
                               esc_error_t *err);
/* {"dry_run", "months", "cutoff", "due" (tickets due when the call began),
 * "tickets" (when `list`: [{"id", "closed_at"}] that would be / were
 * anonymised, at most `limit`), "anonymised" (0 in a dry run), "more"
 * (tickets are due beyond those)}.  A dry run changes nothing; a run
 * anonymises up to `limit` tickets in transactions of 500 (SKIP LOCKED:
 * safe beside runs of other daemons) and can be repeated: a ticket is
 * anonymised once. */
json_t *escp_svc_retention_run(struct escp_svc *svc, int64_t actor_id, bool dry_run, int limit,
                               bool list, esc_error_t *err);
/* ---- the agent console (console.c) ---- */
/* {"tier", "queued", "items"}: up to `limit` tickets awaiting acknowledgement
 * at `tier`, in the order the claim takes them; queued = all that wait. */
json_t *escp_svc_queue(struct escp_svc *svc, enum esc_tier tier, int limit, esc_error_t *err);
/* {"ticket_id", "version", "actions": [...]}: the actions the state machine
 * allows `actor` on ticket `id` now (core/fsm.c); ESC_ERR_NOT_FOUND. */
json_t *escp_svc_ticket_actions(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                esc_error_t *err);

/* ---- channels, ladders, one-click links (channels.c; docs/channels.md) ---- */
json_t *escp_svc_channel_create(struct escp_svc *svc, const struct esc_actor *actor, json_t *body,
                                esc_error_t *err);
json_t *escp_svc_channel_list(struct escp_svc *svc, esc_error_t *err);
json_t *escp_svc_channel_get(struct escp_svc *svc, int64_t id, esc_error_t *err);
json_t *escp_svc_channel_delete(struct escp_svc *svc, int64_t id, esc_error_t *err);
json_t *escp_svc_channel_messages(struct escp_svc *svc, int64_t id, const char *status, int64_t before_id,
                                  int limit, esc_error_t *err);
json_t *escp_svc_channel_test(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                              esc_error_t *err);
json_t *escp_svc_ladder_list(struct escp_svc *svc, esc_error_t *err);
json_t *escp_svc_ladder_put(struct escp_svc *svc, const struct esc_actor *actor, const char *tier,
                            const char *event, json_t *body, esc_error_t *err);
int escp_svc_ladder_delete(struct escp_svc *svc, const char *tier, const char *event, esc_error_t *err);
/* The alert worker's callbacks (arg: the struct escp_svc). */
char *escp_svc_channel_secret(void *arg, const char *sealed, int64_t channel_id);
char *escp_svc_ack_link(void *arg, int64_t ticket_id, int64_t principal_id, int64_t ack_due_ms,
                        int64_t expires_s, const char *nonce);
/* A link's state ({"ticket", "principal", "used", "verdict", ...}; NOT_FOUND
 * when it is not one of ours), and its use: the same, the verdict
 * "acknowledged" when it acknowledged the ticket. */
json_t *escp_svc_ack_link_state(struct escp_svc *svc, const char *token, esc_error_t *err);
json_t *escp_svc_ack_link_use(struct escp_svc *svc, const char *token, esc_error_t *err);

/* ---- problems (problems.c; docs/problems.md) ----
 * Each change is one transaction: the problem's row lock, the decision
 * (core/problem.c), the row, its history and what it does to the linked
 * tickets, committed together.  Each answers the problem as GET shows it
 * (rendered), except action_complete (the action).  The texts go through
 * the free-text scanner: stored masked, the findings sealed beside them. */
json_t *escp_svc_problem_create(struct escp_svc *svc, const struct esc_actor *actor,
                                const struct escp_problem_req *rq, esc_error_t *err);
json_t *escp_svc_problem_get(struct escp_svc *svc, int64_t id, esc_error_t *err);
json_t *escp_svc_problem_list(struct escp_svc *svc, const struct escp_problem_filter *f,
                              esc_error_t *err);
json_t *escp_svc_problem_events(struct escp_svc *svc, int64_t id, esc_error_t *err);
json_t *escp_svc_problem_act(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                             enum esc_problem_act act, const struct escp_problem_args *a,
                             esc_error_t *err);
json_t *escp_svc_problem_action_add(struct escp_svc *svc, const struct esc_actor *actor,
                                    int64_t problem_id, const struct escp_action_req *rq,
                                    esc_error_t *err);
json_t *escp_svc_problem_action_complete(struct escp_svc *svc, const struct esc_actor *actor,
                                         int64_t problem_id, int64_t action_id, esc_error_t *err);
json_t *escp_svc_problem_link(struct escp_svc *svc, const struct esc_actor *actor, int64_t problem_id,
                              const int64_t *ticket_ids, size_t n, bool waiting, esc_error_t *err);
json_t *escp_svc_problem_unlink(struct escp_svc *svc, const struct esc_actor *actor,
                                int64_t problem_id, int64_t ticket_id, esc_error_t *err);

#endif
