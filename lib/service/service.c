/* service.c — the use cases.  Each action is one transaction:
 *   BEGIN; lock the ticket (with the database clock and its policy);
 *   decide with the pure state machine and deadline arithmetic;
 *   write ticket + event + timers in one statement; COMMIT.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "core/fsm.h"
#include "base/log.h"
#include "service/calendar_cache.h"
#include "service/service.h"
#include "workers/workers.h"

/* ---- in-process wake-ups for long polls ---- */

struct escp_wake {
    pthread_mutex_t mu;
    uint64_t gen[4];
    /* the listener, with a lock of its own: it is called after mu is given
     * back, so that it may read generations while holding its own locks */
    pthread_mutex_t lmu;
    escp_wake_fn fn;
    void *cls;
};

struct escp_wake *escp_wake_new(void)
{
    struct escp_wake *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->lmu, NULL);
    return w;
}

void escp_wake_free(struct escp_wake *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->lmu);
    free(w);
}

void escp_wake_listen(struct escp_wake *w, escp_wake_fn fn, void *cls)
{
    pthread_mutex_lock(&w->lmu);
    w->fn = fn;
    w->cls = cls;
    pthread_mutex_unlock(&w->lmu);
}

/* Bump slot `slot` (-1: all), then tell the listener. */
static void bump(struct escp_wake *w, int slot)
{
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < 4; i++)
        if (slot < 0 || slot == i)
            w->gen[i]++;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->lmu);
    if (w->fn)
        w->fn(w->cls, slot);
    pthread_mutex_unlock(&w->lmu);
}

void escp_wake_tier(struct escp_wake *w, enum esc_tier tier)
{
    if (w && tier >= 1 && tier <= 3)
        bump(w, (int)tier);
}

void escp_wake_all(struct escp_wake *w)
{
    if (w)
        bump(w, -1);
}

uint64_t escp_wake_gen(struct escp_wake *w, enum esc_tier tier)
{
    pthread_mutex_lock(&w->mu);
    uint64_t g = w->gen[tier];
    pthread_mutex_unlock(&w->mu);
    return g;
}

/* The event feed's generation lives in slot ESC_TIER_NONE (no queue has it),
 * so escp_wake_all (shutdown) wakes feed waiters too. */
void escp_wake_events(struct escp_wake *w)
{
    if (w)
        bump(w, ESC_TIER_NONE);
}

/* ---- create ---- */

json_t *escp_svc_create(struct escp_svc *svc, const struct esc_actor *actor,
                        const struct escp_new_ticket *nt, bool *replayed, esc_error_t *err)
{
    const char *const clear[ESCP_CUST__COUNT] = {nt->customer_name, nt->customer_phone,
                                                 nt->customer_email, nt->customer_id_number,
                                                 nt->customer_bank_card};
    struct escp_customer_stored cs = {0};
    struct escp_free_text ft[3] = {{"subject", nt->subject, NULL},
                                   {"description", nt->description, NULL},
                                   {"category", nt->category, NULL}};
    struct escp_new_ticket stored = *nt;
    json_t *t = NULL, *found = NULL;
    char *pii_sealed = NULL;
    int64_t id = 0;
    esc_time_t first_due = ESC_TIME_NULL;
    struct escp_conn *c = NULL;
    bool any = false;
    for (int f = 0; f < ESCP_CUST__COUNT; f++)
        any = any || clear[f];
    /* personal data in the free text is stored masked (migration 008); the
     * request hash of an Idempotency-Key stays that of the body as sent */
    if (escp_free_text_mask(ft, 3, &found, err) != 0)
        return NULL;
    stored.subject = escp_free_text_stored(&ft[0]);
    stored.description = escp_free_text_stored(&ft[1]);
    stored.category = escp_free_text_stored(&ft[2]);
    if (!(c = escp_lease(svc->store, err)))
        goto out;
    /* an enforced taxonomy (issue 10) admits only its codes, as the
     * database has them now: a PUT on any daemon counts from its commit */
    bool refused = false;
    if (nt->category && escp_store_taxonomy_refuses(c, nt->category, &refused, err) != 0)
        goto out;
    /* a retry of a create that succeeded before the taxonomy changed
     * answers the ticket it made, as any retry does */
    if (refused && !(t = escp_store_ticket_replay(c, nt, actor->id, replayed, err)) &&
        err->code == ESC_OK)
        esc_error_set(err, ESC_ERR_VALIDATION, "category",
                      "category must be a code of the taxonomy (GET /v1/taxonomy)");
    if (refused)
        goto out;
    /* the seals are bound to the ticket's id, so it is drawn first: one
     * more round trip, only for a ticket with something to seal */
    if ((any || found) && escp_store_ticket_next_id(c, &id, err) != 0)
        goto out;
    cs.id = id;
    if ((any && escp_customer_seal(svc->keys, id, clear, &cs, err) != 0) ||
        (found && !(pii_sealed = escp_free_text_seal(svc->keys, "tickets", id, found, err))))
        goto out;
    stored.pii_sealed = pii_sealed;
    t = escp_store_ticket_create(c, &stored, (any || found) ? &cs : NULL, actor->id,
                                 svc->notify_within_ms, replayed, &first_due, err);
out:
    escp_release(svc->store, c);
    escp_customer_stored_clear(&cs);
    escp_free_text_clear(ft, 3);
    json_decref(found);
    free(pii_sealed);
    if (t && !*replayed) {
        escp_wake_tier(svc->wake, ESC_TIER_LINE1);
        escp_wake_events(svc->wake);
        /* the earliest of the new timers: ack, or the at-risk warning when
         * resolve_seconds * warn_ratio is shorter than ack_seconds */
        esc_time_t now;
        if (esc_time_parse(json_string_value(json_object_get(t, "created_at")), &now) == 0)
            escp_engine_poke(svc->engine, now, first_due);
        /* a major complaint committed a notification: deliver it now; so
         * did a recurrence (a new ticket has a problem only when the create
         * linked it as one: migration 013) */
        const char *sev = json_string_value(json_object_get(t, "severity"));
        if ((sev && strcmp(sev, "major") == 0) ||
            json_integer_value(json_object_get(t, "problem_id")) > 0) {
            escp_webhooks_poke(svc->webhooks);
            escp_alerts_poke(svc->alerts); /* and its alerts to the channels that want it */
        }
    }
    return escp_render_ticket(t);
}

/* ---- actions ---- */

/* The calendar is read in this transaction, so a change by any daemon
 * counts at once; its parsed form and zone are cached (calendar_cache.c). */
static int callback_due(struct escp_conn *c, esc_time_t now, int days, esc_time_t *out,
                        esc_error_t *err)
{
    json_t *doc = escp_store_calendar(c, err);
    if (!doc)
        return -1;
    int rc = escp_calendar_callback_due(doc, now, days, out, err);
    json_decref(doc);
    return rc;
}

/* Apply the timer operations of a transition to the ticket's clock fields. */
static int run_timers(struct escp_conn *c, struct escp_ticket *t, unsigned ops,
                      struct escp_timer_ops *out, esc_error_t *err)
{
    const esc_time_t now = t->now;
    for (int k = 0; k < ESCP_TIMER__COUNT; k++) {
        out->stop[k] = false;
        out->set[k] = ESC_TIME_NULL;
    }
    if (ops & ESC_TIMER_ACK_STOP) {
        t->ack_due_at = ESC_TIME_NULL;
        out->stop[ESCP_TIMER_ACK] = true;
    }
    if (ops & ESC_TIMER_ACK_START) {
        t->ack_due_at = esc_deadline_after(now, t->ack_seconds);
        out->set[ESCP_TIMER_ACK] = t->ack_due_at;
    }
    if (ops & ESC_TIMER_RESOLVE_START) {
        t->resolve_started_at = now;
        t->resolve_due_at = esc_deadline_after(now, t->resolve_seconds);
        t->warn_due_at = esc_deadline_warn(now, t->resolve_seconds, t->warn_ratio);
        t->resolve_fired = t->warn_fired = false;
        t->paused_at = ESC_TIME_NULL;
        t->resolve_left_us = t->warn_left_us = ESC_TIME_NULL;
        out->set[ESCP_TIMER_RESOLVE] = t->resolve_due_at;
        out->set[ESCP_TIMER_WARN] = t->warn_due_at;
    }
    if (ops & ESC_TIMER_RESOLVE_PAUSE) {
        t->resolve_left_us = t->resolve_due_at != ESC_TIME_NULL ? t->resolve_due_at - now : ESC_TIME_NULL;
        t->warn_left_us = t->warn_due_at != ESC_TIME_NULL ? t->warn_due_at - now : ESC_TIME_NULL;
        t->resolve_due_at = t->warn_due_at = ESC_TIME_NULL;
        t->paused_at = now;
        out->stop[ESCP_TIMER_RESOLVE] = out->stop[ESCP_TIMER_WARN] = true;
    }
    if (ops & ESC_TIMER_RESOLVE_RESUME) {
        if (t->resolve_left_us != ESC_TIME_NULL)
            t->resolve_due_at = now + t->resolve_left_us;
        if (t->warn_left_us != ESC_TIME_NULL)
            t->warn_due_at = now + t->warn_left_us;
        if (t->paused_at != ESC_TIME_NULL)
            t->paused_total_us += now - t->paused_at;
        t->paused_at = ESC_TIME_NULL;
        t->resolve_left_us = t->warn_left_us = ESC_TIME_NULL;
        if (!t->resolve_fired && t->resolve_due_at != ESC_TIME_NULL)
            out->set[ESCP_TIMER_RESOLVE] = t->resolve_due_at;
        if (!t->warn_fired && t->warn_due_at != ESC_TIME_NULL)
            out->set[ESCP_TIMER_WARN] = t->warn_due_at;
    }
    if (ops & ESC_TIMER_RESOLVE_STOP) {
        if (t->paused_at != ESC_TIME_NULL)
            t->paused_total_us += now - t->paused_at;
        t->paused_at = ESC_TIME_NULL;
        t->resolve_left_us = t->warn_left_us = ESC_TIME_NULL;
        t->resolve_due_at = t->warn_due_at = ESC_TIME_NULL;
        out->stop[ESCP_TIMER_RESOLVE] = out->stop[ESCP_TIMER_WARN] = true;
    }
    if (ops & ESC_TIMER_CALLBACK_STOP) {
        t->callback_due_at = ESC_TIME_NULL;
        out->stop[ESCP_TIMER_CALLBACK] = true;
    }
    if (ops & ESC_TIMER_PROMISE_STOP)
        out->stop[ESCP_TIMER_PROMISE] = true;
    if (ops & ESC_TIMER_CALLBACK_START) {
        if (callback_due(c, now, t->callback_days, &t->callback_due_at, err) != 0)
            return -1;
        out->set[ESCP_TIMER_CALLBACK] = t->callback_due_at;
    }
    return 0;
}

json_t *escp_svc_act(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                     enum esc_action action, const struct escp_action_args *args,
                     esc_error_t *err)
{
    json_t *out = NULL, *data = NULL, *found = NULL;
    json_t *(*render)(json_t *) = escp_render_ticket;
    struct escp_ticket t;
    struct esc_fsm_result r;
    struct escp_conn *c = NULL;
    char *pii_sealed = NULL;
    /* personal data in the texts is stored masked, in the event and (the
     * resolution, the feedback) in the ticket alike; what was found is
     * sealed with the event (migration 008) */
    struct escp_free_text texts[5] = {{"reason", args->reason, NULL}, {"body", args->body, NULL},
                                   {"resolution", args->resolution, NULL},
                                   {"feedback", args->sat_feedback, NULL},
                                   {"solution", args->plan_solution, NULL}};
    struct escp_action_args masked = *args;
    if (escp_free_text_mask(texts, 5, &found, err) != 0)
        return NULL;
    masked.reason = escp_free_text_stored(&texts[0]);
    masked.body = escp_free_text_stored(&texts[1]);
    masked.resolution = escp_free_text_stored(&texts[2]);
    masked.sat_feedback = escp_free_text_stored(&texts[3]);
    masked.plan_solution = escp_free_text_stored(&texts[4]);
    args = &masked;
    if (!(c = escp_lease(svc->store, err)))
        goto out;
    if (escp_begin(c, err) != 0)
        goto out;
    if (escp_store_ticket_lock(c, id, &t, err) != 0)
        goto out;
    /* A deadline of this ticket has passed and the engine has not fired it
     * yet (it does within milliseconds, but not while it reconnects after a
     * database outage): fire it now, under this lock, and read the ticket
     * again.  The action would stop or replace the timer, and the breach
     * would be lost (tests/faults/test_fault_pg_outage found it). */
    if (t.timer_due) {
        int fired = 0;
        if (escp_store_fire_due_ticket(c, id, &fired, err) != 0 || escp_store_ticket_lock(c, id, &t, err) != 0)
            goto out;
    }
    if (args->if_match >= 0 && args->if_match != t.version) {
        esc_error_set(err, ESC_ERR_VERSION_MISMATCH, "If-Match",
                      "the ticket has changed: it is at version %d", t.version);
        goto out;
    }
    struct esc_fsm_ticket ft = {t.tier, t.state, t.assignee_id};
    if (esc_fsm_step(&ft, action, actor, &r, err) != 0)
        goto out;
    /* a promise is in the future, by the database's clock, and near enough
     * to hold anyone to */
    if (args->plan_solution && args->plan_promised_at <= t.now) {
        esc_error_set(err, ESC_ERR_VALIDATION, "plan.promised_at",
                      "plan.promised_at must be in the future");
        goto out;
    }
    if (args->plan_solution &&
        args->plan_promised_at - t.now > (esc_time_t)ESCP_PLAN_HORIZON_DAYS * 86400 * 1000000) {
        esc_error_set(err, ESC_ERR_VALIDATION, "plan.promised_at",
                      "plan.promised_at must be within %d days", ESCP_PLAN_HORIZON_DAYS);
        goto out;
    }

    struct escp_event ev = {.type = r.event, .actor_id = actor->id};
    /* bound to the event's id, drawn first only when there is something */
    if (found && (escp_store_event_next_id(c, &ev.id, err) != 0 ||
                  !(pii_sealed = escp_free_text_seal(svc->keys, "events", ev.id, found, err))))
        goto out;
    ev.pii_sealed = pii_sealed;
    if (!r.changes_ticket) { /* comment */
        render = escp_render_event;
        ev.body = args->body;
        out = escp_store_event_add(c, t.id, &ev, err);
        if (out && escp_commit(c, err) != 0) {
            json_decref(out);
            out = NULL;
        }
        goto out;
    }

    const enum esc_tier from_tier = t.tier;
    const enum esc_state from_state = t.state;
    t.tier = r.tier;
    t.state = r.state;
    switch (r.assign) {
    case ESC_ASSIGN_KEEP: break;
    case ESC_ASSIGN_NONE: t.assignee_id = 0; break;
    case ESC_ASSIGN_ACTOR: t.assignee_id = actor->id; break;
    case ESC_ASSIGN_LAST_AT_TIER: t.assignee_id = t.tier_assignee[t.tier]; break;
    case ESC_ASSIGN_RESOLVER: t.assignee_id = t.resolver_id; break;
    }
    struct escp_timer_ops ops;
    if (run_timers(c, &t, r.timers, &ops, err) != 0)
        goto out;

    ev.reason = args->reason;
    if (from_tier != t.tier) {
        ev.from_tier = from_tier;
        ev.to_tier = t.tier;
    }
    if (from_state != t.state) {
        ev.from_state = esc_state_name(from_state);
        ev.to_state = esc_state_name(t.state);
    }
    switch (action) {
    case ESC_ACT_ACKNOWLEDGE:
        t.acknowledged_at = t.now;
        t.tier_assignee[t.tier] = actor->id;
        if (args->via)
            data = json_pack("{s:s}", "via", args->via);
        break;
    case ESC_ACT_RESOLVE:
        t.resolved_at = t.now;
        t.resolver_id = actor->id;
        t.resolved_tier = t.tier;
        t.set_resolution = true;
        t.resolution = args->resolution;
        t.root_cause = args->root_cause;
        data = json_pack("{s:s,s:s}", "resolution", args->resolution, "root_cause", args->root_cause);
        break;
    case ESC_ACT_CLOSE:
        t.closed_at = t.now;
        t.set_satisfaction = true;
        t.sat_result = args->sat_result;
        t.sat_score = args->sat_score;
        t.sat_feedback = args->sat_feedback;
        /* "o?" and "s?": null for no score, no feedback */
        data = json_pack("{s:{s:s,s:o?,s:s?}}", "satisfaction", "result", args->sat_result, "score",
                         args->sat_score ? json_integer(args->sat_score) : NULL, "feedback",
                         args->sat_feedback);
        break;
    case ESC_ACT_REOPEN:
        /* the resolution belongs to the history now; the ticket is open again */
        t.resolved_at = ESC_TIME_NULL;
        t.set_resolution = true;
        t.resolution = t.root_cause = NULL;
        break;
    default:
        break;
    }
    /* the promise (issue 10): a tier that hands the ticket on, or a
     * reopen, leaves no promise in force (the tier that takes it has
     * promised nothing yet); a resolve keeps it on the ticket, kept, its
     * timer stopped (the fsm's PROMISE_STOP); a plan replaces it */
    if (from_tier != t.tier || action == ESC_ACT_REOPEN) {
        t.set_promise = true;
        t.promised_at = ESC_TIME_NULL;
        t.promise_solution = NULL;
        t.promise_by = 0;
        t.promise_tier = 0;
        ops.stop[ESCP_TIMER_PROMISE] = true;
    }
    if (args->plan_solution) {
        char at[40];
        esc_time_format(args->plan_promised_at, at, sizeof at);
        t.set_promise = true;
        t.promised_at = args->plan_promised_at;
        t.promise_solution = args->plan_solution;
        t.promise_by = actor->id;
        t.promise_tier = (int)t.tier;
        ops.set[ESCP_TIMER_PROMISE] = t.promised_at;
        if (!data)
            data = json_object();
        if (!data || json_object_set_new(data, "plan", json_pack("{s:s,s:s}", "solution",
                                                                 args->plan_solution,
                                                                 "promised_at", at)) != 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
    }
    ev.data = data;
    out = escp_store_ticket_apply(c, &t, &ev, &ops, err);
    /* a new deadline inside the notify window: other daemons' engines may be
     * asleep past it (this process's is poked below) */
    esc_time_t first = ESC_TIME_NULL;
    for (int k = 0; k < ESCP_TIMER__COUNT; k++)
        if (ops.set[k] != ESC_TIME_NULL && (first == ESC_TIME_NULL || ops.set[k] < first))
            first = ops.set[k];
    if (out && first != ESC_TIME_NULL && svc->notify_within_ms > 0 &&
        first - t.now < (esc_time_t)svc->notify_within_ms * 1000 &&
        escp_store_notify_timer(c, first, err) != 0) {
        json_decref(out);
        out = NULL;
    }
    if (out && escp_commit(c, err) != 0) {
        json_decref(out);
        out = NULL;
    }
    if (out && t.state == ESC_STATE_AWAITING_ACK)
        escp_wake_tier(svc->wake, t.tier);
    for (int k = 0; out && k < ESCP_TIMER__COUNT; k++)
        if (ops.set[k] != ESC_TIME_NULL)
            escp_engine_poke(svc->engine, t.now, ops.set[k]);
out:
    if (out) /* committed, with its event */
        escp_wake_events(svc->wake);
    json_decref(data);
    escp_release(svc->store, c); /* rolls back whatever did not commit */
    escp_free_text_clear(texts, 5);
    json_decref(found);
    free(pii_sealed);
    return render(out);
}

/* ---- claim ---- */

json_t *escp_svc_claim(struct escp_svc *svc, const struct esc_actor *actor, enum esc_tier tier,
                       struct escp_poll *poll, esc_error_t *err)
{
    /* the generation is read before the look, so that a ticket committed
     * during it moves it, and the caller does not wait past that ticket */
    *poll = (struct escp_poll){.slot = (int)tier, .gen = escp_wake_gen(svc->wake, tier),
                               .recheck_ms = 500}; /* other daemons' tickets */
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    /* The most urgent ticket may have an ack deadline that passed and that
     * the engine has not fired yet: the claim leaves it, this fires it (the
     * breach first, then the claim, as with an acknowledge) and tries again.
     * Each round fires a timer or finds it fired, so the loop ends; the
     * bound is only against a bug. */
    json_t *t = NULL;
    for (int round = 0; round < 10000; round++) {
        int64_t overdue = 0;
        int fired = 0;
        t = escp_store_claim(c, tier, actor->id, &overdue, err);
        if (t || !overdue || escp_store_fire_due_ticket(c, overdue, &fired, err) != 0)
            break;
    }
    escp_release(svc->store, c);
    if (t)
        escp_wake_events(svc->wake);
    return t ? escp_render_ticket(t) : NULL;
}

/* ---- reads, and the customer reveal ---- */

json_t *escp_svc_ticket_get(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *t = escp_store_ticket_get(c, id, err);
    escp_release(svc->store, c);
    return escp_render_ticket(t);
}

json_t *escp_svc_ticket_list(struct escp_svc *svc, const struct escp_list_filter *filter,
                             esc_error_t *err)
{
    /* exact match of the normalised value, through its blind index */
    struct escp_list_filter fi = *filter, *f = &fi;
    fi.phone_bi[0] = fi.id_number_bi[0] = '\0';
    if ((f->customer_phone &&
         escp_customer_index(svc->keys, "phone", f->customer_phone, fi.phone_bi, err) != 0) ||
        (f->customer_id_number &&
         escp_customer_index(svc->keys, "id_number", f->customer_id_number, fi.id_number_bi,
                             err) != 0))
        return NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_ticket_list(c, f, err);
    escp_release(svc->store, c);
    if (items && escp_render_each(items, escp_render_ticket, err) != 0) {
        json_decref(items);
        items = NULL;
    }
    return items;
}

json_t *escp_svc_ticket_events(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_ticket_events(c, id, err);
    escp_release(svc->store, c);
    if (doc && escp_render_each(json_object_get(doc, "items"), escp_render_event, err) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* The originals of the texts named in `names` of one row: each stored text
 * with the findings of doc put back (as stored when it had none), into
 * `into` under the same name.  A text absent from the row is left out. */
static int restore_texts(json_t *row, json_t *doc, const char *const *names, json_t *into,
                         esc_error_t *err)
{
    for (const char *const *n = names; *n; n++) {
        const char *stored = json_string_value(json_object_get(row, *n));
        json_t *fd = doc ? json_object_get(doc, *n) : NULL;
        if (!stored)
            continue;
        char *orig = fd ? escp_free_text_restore(stored, fd, err) : strdup(stored);
        if (!orig) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            return -1;
        }
        json_object_set_new(into, *n, json_string(orig));
        free(orig);
    }
    return 0;
}

/* The reveal's free text (docs/api.md): "free_text" {subject, description,
 * category} as written, and "free_text_events" [{"event_id", and reason,
 * body, resolution or feedback as written}] for the events whose texts had
 * personal data.  Replaces the store's internal keys in cust. */
static int reveal_free_text(struct escp_svc *svc, int64_t id, json_t *cust, esc_error_t *err)
{
    static const char *const ticket_texts[] = {"subject", "description", "category", NULL};
    static const char *const event_texts[] = {"reason", "body", "resolution", "feedback",
                                              "solution", NULL};
    static const char *const late_texts[] = {"resolution", "feedback", NULL};
    int rc = -1;
    json_t *doc = NULL, *ft = json_object(), *evs = json_array();
    const char *sealed = json_string_value(json_object_get(cust, "pii_sealed"));
    if (!ft || !evs)
        goto out;
    if (sealed && !(doc = escp_free_text_open(svc->keys, "tickets", id, sealed, err))) {
        log_error("ticket %" PRId64 ": the free-text findings do not open", id);
        goto out;
    }
    if (restore_texts(cust, doc, ticket_texts, ft, err) != 0)
        goto out;
    if (!json_object_get(ft, "category"))
        json_object_set_new(ft, "category", json_null());
    /* a ticket scanned after it was written (from before migration 008)
     * has its resolution's and feedback's findings here too; a newer one
     * has them with its resolved and closed events */
    for (const char *const *n = late_texts; *n; n++) {
        const char *one[2] = {*n, NULL};
        if (doc && json_object_get(doc, *n) && restore_texts(cust, doc, one, ft, err) != 0)
            goto out;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(cust, "event_pii"), i, ev) {
        json_int_t eid = json_integer_value(json_object_get(ev, "id"));
        json_t *edoc = escp_free_text_open(svc->keys, "events", eid,
                                           json_string_value(json_object_get(ev, "pii_sealed")), err);
        if (!edoc) {
            log_error("ticket %" PRId64 ": the free-text findings of event %" JSON_INTEGER_FORMAT
                      " do not open", id, eid);
            goto out;
        }
        json_t *one = json_pack("{s:I}", "event_id", eid);
        int r = one ? restore_texts(ev, edoc, event_texts, one, err) : -1;
        json_decref(edoc);
        if (r != 0 || json_array_append_new(evs, one) != 0)
            goto out;
    }
    json_object_set_new(cust, "free_text", ft);
    json_object_set_new(cust, "free_text_events", evs);
    ft = evs = NULL;
    rc = 0;
out:
    if (rc != 0)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the free text could not be revealed");
    json_decref(doc);
    json_decref(ft);
    json_decref(evs);
    for (const char *const *n = event_texts; *n; n++)
        json_object_del(cust, *n);
    for (const char *const *n = ticket_texts; *n; n++)
        json_object_del(cust, *n);
    json_object_del(cust, "pii_sealed");
    json_object_del(cust, "event_pii");
    return rc;
}

json_t *escp_svc_customer_reveal(struct escp_svc *svc, int64_t id, const struct esc_actor *actor,
                                 esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *cust = escp_store_customer_reveal(c, id, actor->id, err);
    escp_release(svc->store, c);
    if (!cust)
        return NULL;
    /* committed a customer_revealed event: wake the event feed */
    escp_wake_events(svc->wake);
    static const char *const keys[ESCP_CUST__COUNT] = {"name", "phone", "email", "id_number",
                                                        "bank_card"};
    const char *sealed[ESCP_CUST__COUNT];
    char *clear[ESCP_CUST__COUNT];
    for (int f = 0; f < ESCP_CUST__COUNT; f++)
        sealed[f] = json_string_value(json_object_get(cust, keys[f]));
    if (escp_customer_open(svc->keys, id, sealed, clear, err) != 0) {
        json_decref(cust);
        return NULL;
    }
    for (int f = 0; f < ESCP_CUST__COUNT; f++) {
        json_object_set_new(cust, keys[f], clear[f] ? json_string(clear[f]) : json_null());
        free(clear[f]);
    }
    if (reveal_free_text(svc, id, cust, err) != 0) {
        json_decref(cust);
        return NULL;
    }
    return cust;
}

int escp_svc_ready(struct escp_svc *svc, esc_error_t *err) { return esc_store_ready(svc->store, err); }

/* ---- resolve inside another use case's transaction (problems.c) ---- */

int escp_svc_resolve_in(struct escp_svc *svc, struct escp_conn *c, const struct esc_actor *actor,
                        int64_t id, const char *resolution, const char *root_cause,
                        json_t *extra, esc_time_t *db_now, esc_time_t *first_due, esc_error_t *err)
{
    (void)svc;
    struct escp_ticket t;
    struct esc_fsm_result r;
    json_t *data = NULL, *out = NULL;
    int rc = -1;
    if (escp_store_ticket_lock(c, id, &t, err) != 0)
        return -1;
    /* the problem's owner or a manager decided it (its own checks), for
     * every ticket that waits on it: the state machine is asked as a
     * manager would be, so its state and timer rules apply unchanged while
     * the "assignee or manager" rule, which is about one ticket, does not */
    struct esc_actor as_manager = *actor;
    as_manager.role = ESC_ROLE_MANAGER;
    as_manager.tier = ESC_TIER_NONE;
    struct esc_fsm_ticket ft = {t.tier, t.state, t.assignee_id};
    if (esc_fsm_step(&ft, ESC_ACT_RESOLVE, &as_manager, &r, err) != 0)
        return -1;
    const enum esc_state from_state = t.state;
    t.state = r.state;
    struct escp_timer_ops ops;
    if (run_timers(c, &t, r.timers, &ops, err) != 0)
        return -1;
    *db_now = t.now;
    t.resolved_at = t.now;
    /* the agent who holds the ticket stays its resolver (a reopen goes back
     * to them); the problem's actor when nobody holds it */
    t.resolver_id = t.assignee_id ? t.assignee_id : actor->id;
    t.resolved_tier = t.tier;
    t.set_resolution = true;
    t.resolution = resolution;
    t.root_cause = root_cause;
    data = json_pack("{s:s,s:s}", "resolution", resolution, "root_cause", root_cause);
    if (!data || (extra && json_object_update(data, extra) != 0)) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    struct escp_event ev = {.type = r.event, .actor_id = actor->id,
                            .from_state = esc_state_name(from_state),
                            .to_state = esc_state_name(t.state), .data = data};
    if (!(out = escp_store_ticket_apply(c, &t, &ev, &ops, err)))
        goto out;
    for (int k = 0; k < ESCP_TIMER__COUNT; k++)
        if (ops.set[k] != ESC_TIME_NULL && (*first_due == ESC_TIME_NULL || ops.set[k] < *first_due))
            *first_due = ops.set[k];
    rc = 0;
out:
    json_decref(out);
    json_decref(data);
    return rc;
}
