/* problems.c — the problem use cases (issue 10; docs/problems.md).  Each
 * change is one transaction, as a ticket action is:
 *   BEGIN; lock the problem; decide (core/problem.c, and who may);
 *   write the problem, its event and what it does to the linked tickets
 *   (the workaround in their histories, the fix resolving those that wait
 *   on it); read the problem back; COMMIT.
 * Then the wake-ups: the event feed (tickets' histories grew), the SLA
 * engine (a callback deadline or an action's due date). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "service/service.h"
#include "workers/workers.h"

static int forbid(esc_error_t *err, const char *what)
{
    esc_error_set(err, ESC_ERR_FORBIDDEN, NULL, "only the problem's owner or a manager may %s", what);
    return -1;
}

/* Read the problem back inside the transaction, commit, render. */
static json_t *commit_and_get(struct escp_svc *svc, struct escp_conn *c, int64_t id, esc_error_t *err)
{
    json_t *p = escp_store_problem_get(c, id, err);
    if (p && escp_commit(c, err) != 0) {
        json_decref(p);
        p = NULL;
    }
    if (p)
        escp_wake_events(svc->wake);
    return escp_render_problem(p);
}

/* Seal the findings of a text scan bound to a new problem event: *event_id
 * is drawn for them (0 and NULL when nothing was found). */
static int seal_for_event(struct escp_svc *svc, struct escp_conn *c, json_t *found, int64_t *event_id,
                          char **sealed, esc_error_t *err)
{
    *event_id = 0;
    *sealed = NULL;
    if (!found)
        return 0;
    if (escp_store_problem_event_next_id(c, event_id, err) != 0)
        return -1;
    *sealed = escp_free_text_seal(svc->keys, "problem_events", *event_id, found, err);
    return *sealed ? 0 : -1;
}

/* ---- create, reads ---- */

json_t *escp_svc_problem_create(struct escp_svc *svc, const struct esc_actor *actor,
                                const struct escp_problem_req *rq, esc_error_t *err)
{
    struct escp_free_text ft[3] = {{"title", rq->title, NULL},
                                   {"description", rq->description, NULL},
                                   {"category", rq->category, NULL}};
    json_t *found = NULL, *out = NULL;
    char *sealed = NULL, *keywords = NULL;
    struct escp_conn *c = NULL;
    if (!esc_problem_may_create(actor)) {
        esc_error_set(err, ESC_ERR_FORBIDDEN, NULL,
                      "problems are opened by managers and agents of line-2 and line-3");
        return NULL;
    }
    if (escp_free_text_mask(ft, 3, &found, err) != 0)
        return NULL;
    struct escp_problem_new pn = {.title = escp_free_text_stored(&ft[0]),
                                  .description = escp_free_text_stored(&ft[1]),
                                  .category = escp_free_text_stored(&ft[2]),
                                  .owner_id = rq->owner_id ? rq->owner_id : actor->id,
                                  .verify_window_days = rq->verify_window_days};
    int64_t id;
    if (rq->keywords && !(pn.keywords = keywords = json_dumps(rq->keywords, JSON_COMPACT))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0)
        goto out;
    if (found && (escp_store_problem_next_id(c, &pn.id, err) != 0 ||
                  !(sealed = escp_free_text_seal(svc->keys, "problems", pn.id, found, err))))
        goto out;
    pn.pii_sealed = sealed;
    if (escp_store_problem_create(c, &pn, actor->id, &id, err) != 0)
        goto out;
    out = commit_and_get(svc, c, id, err);
out:
    escp_release(svc->store, c);
    escp_free_text_clear(ft, 3);
    json_decref(found);
    free(sealed);
    free(keywords);
    return out;
}

json_t *escp_svc_problem_get(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *p = escp_store_problem_get(c, id, err);
    escp_release(svc->store, c);
    return escp_render_problem(p);
}

json_t *escp_svc_problem_list(struct escp_svc *svc, const struct escp_problem_filter *f,
                              esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_problem_list(c, f, err);
    escp_release(svc->store, c);
    if (items && escp_render_each(items, escp_render_problem, err) != 0) {
        json_decref(items);
        items = NULL;
    }
    return items;
}

json_t *escp_svc_problem_events(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_problem_events(c, id, err);
    escp_release(svc->store, c);
    if (doc && escp_render_each(json_object_get(doc, "items"), escp_render_problem_event, err) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* ---- transitions ---- */

/* The fix resolves every linked ticket that waits on the problem and is in
 * a state a resolve is allowed from (acknowledged, waiting_customer), each
 * through the resolve action's own path (its event; the callback deadline
 * starts).  The others (awaiting_ack: nobody holds them; resolved, closed)
 * are listed in `left`.  Every ticket loses its waiting flag: the fix it
 * waited for is there. */
static int resolve_waiting(struct escp_svc *svc, struct escp_conn *c, const struct esc_actor *actor,
                           const struct escp_problem *p, const char *fix, json_t *resolved,
                           json_t *left, esc_time_t *db_now, esc_time_t *first_due,
                           esc_error_t *err)
{
    int64_t *ids = NULL;
    enum esc_state *states = NULL;
    size_t n = 0;
    int rc = -1;
    json_t *extra = json_pack("{s:I}", "problem_id", (json_int_t)p->id);
    /* the tickets' root_cause names a class; the problem's found cause says
     * which (root_cause_kind), "other" when it was not given */
    const char *kind = p->root_cause_kind ? p->root_cause_kind : "other";
    if (!extra || escp_store_waiting_lock(c, p->id, &ids, &states, &n, err) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (states[i] == ESC_STATE_ACKNOWLEDGED || states[i] == ESC_STATE_WAITING_CUSTOMER) {
            if (escp_svc_resolve_in(svc, c, actor, ids[i], fix, kind, extra, db_now, first_due,
                                    err) != 0)
                goto out;
            json_array_append_new(resolved, json_integer(ids[i]));
        } else {
            json_array_append_new(left, json_integer(ids[i]));
        }
    }
    if (escp_store_waiting_clear(c, p->id, err) != 0)
        goto out;
    rc = 0;
out:
    json_decref(extra);
    free(ids);
    free(states);
    return rc;
}

static const char *const event_of[ESC_PACT__COUNT] = {
    [ESC_PACT_ROOT_CAUSE] = "root_cause_found", [ESC_PACT_WORKAROUND] = "workaround_published",
    [ESC_PACT_PLAN] = "action_planned",         [ESC_PACT_FIX] = "fixed",
    [ESC_PACT_VERIFY] = "verifying",            [ESC_PACT_CLOSE] = "closed",
    [ESC_PACT_REOPEN] = "reopened"};

json_t *escp_svc_problem_act(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                             enum esc_problem_act act, const struct escp_problem_args *a,
                             esc_error_t *err)
{
    struct escp_free_text ft[5] = {{"root_cause", a->root_cause, NULL},
                                   {"containment", a->containment, NULL},
                                   {"workaround", a->workaround, NULL},
                                   {"fix", a->fix, NULL},
                                   {"reason", a->reason, NULL}};
    struct escp_problem p = {0};
    json_t *found = NULL, *out = NULL, *data = json_object(), *resolved = json_array(),
           *left = json_array();
    char *sealed = NULL;
    struct escp_conn *c = NULL;
    esc_time_t first_due = ESC_TIME_NULL, db_now = 0;
    enum esc_problem_state to;
    if (!data || !resolved || !left) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (escp_free_text_mask(ft, 5, &found, err) != 0)
        goto out;
    const char *root_cause = escp_free_text_stored(&ft[0]), *containment = escp_free_text_stored(&ft[1]),
               *workaround = escp_free_text_stored(&ft[2]), *fix = escp_free_text_stored(&ft[3]),
               *reason = escp_free_text_stored(&ft[4]);
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0 ||
        escp_store_problem_lock(c, id, &p, err) != 0)
        goto out;
    if (a->if_match >= 0 && a->if_match != p.version) {
        esc_error_set(err, ESC_ERR_VERSION_MISMATCH, "If-Match",
                      "the problem has changed: it is at version %d", p.version);
        goto out;
    }
    /* the state before the person, as for tickets (docs/decisions.md) */
    if (esc_problem_step(p.state, act, &to, err) != 0)
        goto out;
    if (!esc_problem_actor_may(actor, p.owner_id)) {
        forbid(err, "change it");
        goto out;
    }
    int64_t event_id;
    if (seal_for_event(svc, c, found, &event_id, &sealed, err) != 0)
        goto out;
    struct escp_problem_change ch = {.id = id, .state = to, .event_type = event_of[act],
                                     .actor_id = actor->id, .event_id = event_id,
                                     .pii_sealed = sealed, .reason = reason, .data = data};
    if (to != p.state) {
        ch.from_state = esc_problem_state_names[p.state];
        ch.to_state = esc_problem_state_names[to];
    }
    int64_t spread = -1;
    switch (act) {
    case ESC_PACT_ROOT_CAUSE:
        ch.root_cause = root_cause;
        ch.root_cause_kind = a->root_cause_kind;
        ch.containment = containment;
        ch.root_cause_found = true;
        json_object_set_new(data, "root_cause", json_string(root_cause));
        if (a->root_cause_kind)
            json_object_set_new(data, "root_cause_kind", json_string(a->root_cause_kind));
        if (containment)
            json_object_set_new(data, "containment", json_string(containment));
        break;
    case ESC_PACT_FIX:
        ch.fix = fix;
        ch.fixed = true;
        json_object_set_new(data, "fix", json_string(fix));
        if (resolve_waiting(svc, c, actor, &p, fix, resolved, left, &db_now, &first_due, err) != 0)
            goto out;
        json_object_set(data, "resolved_tickets", resolved);
        json_object_set(data, "left_waiting", left);
        break;
    case ESC_PACT_VERIFY:
        ch.verifying = true;
        ch.verify_window_days = a->verify_window_days;
        break;
    case ESC_PACT_CLOSE:
        /* Closing says the fix held (docs/problems.md): a manager's call
         * (the route allows managers only), and only once the whole window
         * passed.  A recurrence inside it reopens the problem (the create
         * does: migration 013), so a problem still verifying at its end had
         * none; there is no early close, which would call a fix effective
         * before it was watched. */
        if (p.window_open) {
            esc_error_set(err, ESC_ERR_INVALID_TRANSITION, NULL,
                          "the fix is being verified until %s: the problem can be closed as "
                          "effective once that window has passed without a recurrence",
                          p.verify_until);
            goto out;
        }
        ch.closed = true;
        ch.closed_effective = true;
        json_object_set_new(data, "effective", json_boolean(ch.closed_effective));
        break;
    case ESC_PACT_REOPEN:
        ch.reopened = true;
        break;
    default:
        break;
    }
    /* a workaround given with the root cause, or on its own, is published:
     * every open linked complaint gets it in its history, in this
     * transaction (one statement, however many tickets) */
    if (workaround && (act == ESC_PACT_ROOT_CAUSE || act == ESC_PACT_WORKAROUND)) {
        ch.workaround = workaround;
        ch.workaround_published = true;
        if (escp_store_workaround_spread(c, id, workaround, actor->id, &spread, err) != 0)
            goto out;
        json_object_set_new(data, "workaround", json_string(workaround));
        json_object_set_new(data, "workaround_tickets", json_integer(spread));
    }
    if (escp_store_problem_update(c, &ch, err) != 0)
        goto out;
    /* a callback deadline inside the notify window wakes other daemons' engines */
    if (first_due != ESC_TIME_NULL && svc->notify_within_ms > 0 &&
        first_due - db_now < (esc_time_t)svc->notify_within_ms * 1000 &&
        escp_store_notify_timer(c, first_due, err) != 0)
        goto out;
    out = commit_and_get(svc, c, id, err);
    if (out && first_due != ESC_TIME_NULL)
        escp_engine_poke(svc->engine, db_now, first_due);
out:
    escp_release(svc->store, c);
    escp_problem_clear(&p);
    escp_free_text_clear(ft, 5);
    json_decref(found);
    json_decref(data);
    json_decref(resolved);
    json_decref(left);
    free(sealed);
    return out;
}

/* ---- actions ---- */

json_t *escp_svc_problem_action_add(struct escp_svc *svc, const struct esc_actor *actor,
                                    int64_t problem_id, const struct escp_action_req *rq,
                                    esc_error_t *err)
{
    struct escp_free_text ft[1] = {{"description", rq->description, NULL}};
    struct escp_problem p = {0};
    json_t *found = NULL, *out = NULL, *action = NULL, *data = NULL;
    char *sealed = NULL;
    struct escp_conn *c = NULL;
    if (escp_free_text_mask(ft, 1, &found, err) != 0)
        return NULL;
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0 ||
        escp_store_problem_lock(c, problem_id, &p, err) != 0)
        goto out;
    if (p.state == ESC_PSTATE_CLOSED) {
        esc_error_set(err, ESC_ERR_INVALID_TRANSITION, NULL, "a closed problem takes no actions");
        goto out;
    }
    if (!esc_problem_actor_may(actor, p.owner_id)) {
        forbid(err, "add actions");
        goto out;
    }
    int64_t event_id;
    /* the description's findings are sealed bound to the action_added event */
    if (seal_for_event(svc, c, found, &event_id, &sealed, err) != 0)
        goto out;
    char due_at[48];
    escp_time_pg(rq->due_at, due_at, sizeof due_at);
    struct escp_action_new an = {.problem_id = problem_id, .owner_id = rq->owner_id, .kind = rq->kind,
                                 .description = escp_free_text_stored(&ft[0]), .due_at = due_at};
    double due_in_s = 0;
    if (!(action = escp_store_action_add(c, &an, actor->id, &due_in_s, err)))
        goto out;
    if (!(data = json_pack("{s:O}", "action", action)) ||
        escp_store_problem_event_add(c, problem_id, "action_added", actor->id, data, event_id, sealed,
                                     err) != 0)
        goto out;
    /* the first action plans a problem whose cause is found */
    enum esc_problem_state to;
    if (p.state == ESC_PSTATE_ROOT_CAUSE_FOUND) {
        esc_problem_step(p.state, ESC_PACT_PLAN, &to, err);
        struct escp_problem_change ch = {.id = problem_id, .state = to, .event_type = "action_planned",
                                         .actor_id = actor->id,
                                         .from_state = esc_problem_state_names[p.state],
                                         .to_state = esc_problem_state_names[to]};
        if (escp_store_problem_update(c, &ch, err) != 0)
            goto out;
    }
    /* the due date is a deadline of the SLA engine: a near one wakes the
     * other daemons' engines at commit, and this one's after it */
    esc_time_t due;
    if (esc_time_parse(json_string_value(json_object_get(action, "due_at")), &due) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the action's due date could not be read");
        goto out;
    }
    if (svc->notify_within_ms > 0 && due_in_s * 1000 < svc->notify_within_ms &&
        escp_store_notify_timer(c, due, err) != 0)
        goto out;
    out = commit_and_get(svc, c, problem_id, err);
    /* the engine compares due - now with its planned sleep: the database's
     * distance to the due date, whatever this host's clock says */
    if (out)
        escp_engine_poke(svc->engine, due - (esc_time_t)(due_in_s * 1e6), due);
out:
    escp_release(svc->store, c);
    escp_problem_clear(&p);
    escp_free_text_clear(ft, 1);
    json_decref(found);
    json_decref(action);
    json_decref(data);
    free(sealed);
    return out;
}

json_t *escp_svc_problem_action_complete(struct escp_svc *svc, const struct esc_actor *actor,
                                         int64_t problem_id, int64_t action_id, esc_error_t *err)
{
    struct escp_problem p = {0};
    json_t *action = NULL, *data = NULL;
    struct escp_conn *c = NULL;
    int64_t owner = 0;
    bool done = false;
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0 ||
        escp_store_problem_lock(c, problem_id, &p, err) != 0 ||
        escp_store_action_lock(c, problem_id, action_id, &owner, &done, err) != 0)
        goto out;
    if (done) {
        esc_error_set(err, ESC_ERR_INVALID_TRANSITION, NULL, "the action is completed already");
        goto out;
    }
    /* the action's owner or a manager */
    if (!(actor->role == ESC_ROLE_MANAGER || actor->role == ESC_ROLE_ADMIN || actor->id == owner)) {
        esc_error_set(err, ESC_ERR_FORBIDDEN, NULL, "only the action's owner or a manager may complete it");
        goto out;
    }
    /* Due already and not fired yet (the engine skips the action while this
     * holds its lock, or has not come round to it): its breach first, then
     * the completion, at one instant taken after the lock was granted. */
    char at[64];
    if (escp_store_fire_due_action(c, action_id, at, sizeof at, err) != 0 ||
        !(action = escp_store_action_complete(c, action_id, actor->id, at, err)))
        goto out;
    if (!(data = json_pack("{s:I,s:O?,s:O?}", "action_id", (json_int_t)action_id, "completed_at",
                           json_object_get(action, "completed_at"), "completed_by",
                           json_object_get(action, "completed_by"))) ||
        escp_store_problem_event_add(c, problem_id, "action_completed", actor->id, data, 0, NULL,
                                     err) != 0 ||
        escp_commit(c, err) != 0) {
        json_decref(action);
        action = NULL;
        goto out;
    }
    escp_wake_events(svc->wake);
out:
    escp_release(svc->store, c);
    escp_problem_clear(&p);
    json_decref(data);
    return escp_render_problem_action(action);
}

/* ---- links ---- */

/* Who may link or unlink: managers, the problem's owner, agents of line-2
 * and line-3 (those who may open a problem). */
static bool may_link(const struct esc_actor *actor, const struct escp_problem *p)
{
    return esc_problem_may_create(actor) || actor->id == p->owner_id;
}

json_t *escp_svc_problem_link(struct escp_svc *svc, const struct esc_actor *actor, int64_t problem_id,
                              const int64_t *ticket_ids, size_t n, bool waiting, esc_error_t *err)
{
    struct escp_problem p = {0};
    json_t *out = NULL;
    struct escp_conn *c = NULL;
    int64_t *of = calloc(n ? n : 1, sizeof *of);
    if (!of) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0 ||
        escp_store_problem_lock(c, problem_id, &p, err) != 0)
        goto out;
    if (p.state == ESC_PSTATE_CLOSED) {
        esc_error_set(err, ESC_ERR_INVALID_TRANSITION, NULL, "a closed problem takes no tickets");
        goto out;
    }
    if (!may_link(actor, &p)) {
        esc_error_set(err, ESC_ERR_FORBIDDEN, NULL,
                      "tickets are linked by managers, the owner and agents of line-2 and line-3");
        goto out;
    }
    if (escp_store_link_lock(c, ticket_ids, n, of, err) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (of[i] < 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "ticket_ids", "no ticket %" PRId64, ticket_ids[i]);
            goto out;
        }
        if (of[i] != 0 && of[i] != problem_id) {
            /* a ticket belongs to at most one problem: unlink it there first */
            esc_error_set(err, ESC_ERR_CONFLICT, "ticket_ids",
                          "ticket %" PRId64 " belongs to problem %" PRId64, ticket_ids[i], of[i]);
            goto out;
        }
    }
    if (escp_store_link(c, problem_id, ticket_ids, n, waiting, actor->id, err) != 0)
        goto out;
    out = commit_and_get(svc, c, problem_id, err);
out:
    escp_release(svc->store, c);
    escp_problem_clear(&p);
    free(of);
    return out;
}

json_t *escp_svc_problem_unlink(struct escp_svc *svc, const struct esc_actor *actor,
                                int64_t problem_id, int64_t ticket_id, esc_error_t *err)
{
    struct escp_problem p = {0};
    json_t *out = NULL;
    struct escp_conn *c = NULL;
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0 ||
        escp_store_problem_lock(c, problem_id, &p, err) != 0)
        goto out;
    if (!may_link(actor, &p)) {
        esc_error_set(err, ESC_ERR_FORBIDDEN, NULL,
                      "tickets are unlinked by managers, the owner and agents of line-2 and line-3");
        goto out;
    }
    if (escp_store_unlink(c, problem_id, ticket_id, actor->id, err) != 0)
        goto out;
    out = commit_and_get(svc, c, problem_id, err);
out:
    escp_release(svc->store, c);
    escp_problem_clear(&p);
    return out;
}
