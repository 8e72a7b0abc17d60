/* store_problems.c — problems, their corrective and preventive actions, and
 * the links from complaints to them (migration 012; docs/problems.md): the
 * statements and the functions that run them.  Every function that changes
 * something runs inside the caller's transaction (service/problems.c owns
 * it), so a change, its history and what it does to the linked tickets
 * commit together. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define WHO(id) "(SELECT json_build_object('id', w.id, 'name', w.name) FROM principals w WHERE w.id = " id ")"

/* One action as the API shows it, from problem_actions `a`. */
#define ACTION_DOC                                                                             \
    "json_build_object('id', a.id, 'problem_id', a.problem_id, 'kind', a.kind, "               \
    " 'description', a.description, 'owner', " WHO("a.owner_id") ", "                          \
    " 'due_at', " TS("a.due_at") ", 'created_at', " TS("a.created_at") ", "                    \
    " 'completed_at', " TS("a.completed_at") ", 'completed_by', " WHO("a.completed_by") ", "    \
    " 'breached', a.breached, "                                                                \
    " 'overdue', a.completed_at IS NULL AND a.due_at <= now())"

/* A problem as the API shows it, from problems `p`: its actions, and how
 * many complaints are linked to it (and how many of those wait on it). */
#define PROBLEM_DOC                                                                            \
    "json_build_object('id', p.id, 'title', p.title, 'description', p.description, "           \
    " 'category', p.category, 'owner', " WHO("p.owner_id") ", 'state', p.state, "              \
    " 'version', p.version, 'root_cause', p.root_cause, 'root_cause_kind', p.root_cause_kind, " \
    " 'containment', p.containment, 'workaround', p.workaround, "                              \
    " 'workaround_published_at', " TS("p.workaround_published_at") ", 'fix', p.fix, "          \
    " 'fixed_at', " TS("p.fixed_at") ", 'verify_started_at', " TS("p.verify_started_at") ", "  \
    " 'verify_window_days', p.verify_window_days, 'verify_until', " TS("p.verify_until") ", "  \
    " 'signature_keywords', to_json(p.signature_keywords), 'recurrences', p.recurrences, "     \
    " 'closed_effective', p.closed_effective, 'closed_at', " TS("p.closed_at") ", "            \
    " 'reopened_count', p.reopened_count, 'created_by', " WHO("p.created_by") ", "             \
    " 'created_at', " TS("p.created_at") ", 'updated_at', " TS("p.updated_at") ", "            \
    " 'root_cause_at', " TS("p.root_cause_at") ", "                                            \
    " 'linked_tickets', (SELECT count(*) FROM tickets x WHERE x.problem_id = p.id), "          \
    " 'waiting_tickets', (SELECT count(*) FROM tickets x WHERE x.problem_id = p.id "           \
    "   AND x.waiting_on_problem), "                                                           \
    " 'actions', (SELECT coalesce(json_agg(" ACTION_DOC " ORDER BY a.id), '[]'::json) "        \
    "   FROM problem_actions a WHERE a.problem_id = p.id))"

enum {
    S_PROBLEM_NEXT_ID,
    S_PEVENT_NEXT_ID,
    S_PROBLEM_CREATE,
    S_PROBLEM_GET,
    S_PROBLEM_LIST,
    S_PROBLEM_LOCK,
    S_PROBLEM_UPDATE,
    S_PEVENT_ADD,
    S_PROBLEM_EVENTS,
    S_ACTION_ADD,
    S_ACTION_LOCK,
    S_ACTION_COMPLETE,
    S_LINK_LOCK,
    S_LINK,
    S_UNLINK,
    S_WORKAROUND_SPREAD,
    S_WAITING_LOCK,
    S_WAITING_CLEAR,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    [S_PROBLEM_NEXT_ID] = {"problem_next_id", "SELECT nextval('problems_id_seq') AS id"},
    [S_PEVENT_NEXT_ID] = {"problem_event_next_id", "SELECT nextval('problem_events_id_seq') AS id"},

    /* The problem and its `created` event.  The owner must be an active
     * principal who can work on it (an agent, a manager or an admin): no
     * row otherwise.  $7 the id drawn first when there are findings ($6)
     * bound to it; the texts are stored masked. */
    [S_PROBLEM_CREATE] = {"problem_create",
        "WITH o AS (SELECT id FROM principals WHERE id = $4::bigint AND revoked_at IS NULL "
        "  AND (expires_at IS NULL OR expires_at > now()) AND role IN ('agent', 'manager', 'admin')), "
        "p AS (INSERT INTO problems (id, title, description, category, owner_id, created_by, "
        "  pii_sealed, signature_keywords, verify_window_days) "
        " SELECT coalesce($7::bigint, nextval('problems_id_seq')), $1, $2, $3, o.id, $5::bigint, $6, "
        "  ARRAY(SELECT jsonb_array_elements_text(coalesce($8::jsonb, '[]'))), coalesce($9::int, 30) "
        " FROM o RETURNING id), "
        "e AS (INSERT INTO problem_events (problem_id, type, actor_id, to_state) "
        " SELECT id, 'created', $5::bigint, 'open' FROM p) "
        "SELECT id FROM p"},

    /* One problem, with the ids of its complaints (oldest first). */
    [S_PROBLEM_GET] = {"problem_get",
        "SELECT " PROBLEM_DOC "::text AS doc, "
        " (SELECT coalesce(json_agg(json_build_object('id', x.id, 'state', x.state, "
        "   'waiting_on_problem', x.waiting_on_problem) ORDER BY x.id), '[]'::json) "
        "  FROM tickets x WHERE x.problem_id = p.id)::text AS tickets "
        "FROM problems p WHERE p.id = $1::bigint"},

    /* Newest first; NULL = any. */
    [S_PROBLEM_LIST] = {"problem_list",
        "SELECT p.id, " PROBLEM_DOC "::text AS doc FROM problems p "
        "WHERE ($1::text IS NULL OR p.state = $1::text) AND ($2::text IS NULL OR p.category = $2::text) "
        " AND ($3::bigint IS NULL OR p.owner_id = $3::bigint) AND ($4::bigint IS NULL OR p.id < $4::bigint) "
        "ORDER BY p.id DESC LIMIT $5::int"},

    /* The row lock every change of a problem takes first.  FOR NO KEY
     * UPDATE, not FOR UPDATE: the rows that reference the problem (the SLA
     * engine's breach, event and notification of an action; a new action)
     * take FOR KEY SHARE on it for their foreign keys, which FOR UPDATE
     * would block -- the engine would wait for a fix's whole transaction,
     * and a completion holding the problem while waiting for an action the
     * engine holds would deadlock with it. */
    [S_PROBLEM_LOCK] = {"problem_lock",
        "SELECT id, state, owner_id, version, workaround, fix, root_cause_kind, recurrences, "
        /* verification by recurrence (migration 013): is its window still open? */
        " coalesce(verify_until > now(), false) AS window_open, "
        " " TS("verify_until") " AS verify_until "
        "FROM problems WHERE id = $1::bigint FOR NO KEY UPDATE"},

    /* A transition: the new state, the fields it sets (NULL = unchanged;
     * the booleans stamp their times), version + 1, and its event ($16..$23). */
    [S_PROBLEM_UPDATE] = {"problem_update",
        "WITH u AS (UPDATE problems SET state = $2, "
        "  root_cause = coalesce($3, root_cause), root_cause_kind = coalesce($4, root_cause_kind), "
        "  containment = coalesce($5, containment), workaround = coalesce($6, workaround), "
        "  workaround_published_at = CASE WHEN $7::bool THEN now() ELSE workaround_published_at END, "
        "  fix = coalesce($8, fix), fixed_at = CASE WHEN $9::bool THEN now() ELSE fixed_at END, "
        "  verify_window_days = coalesce($11::int, verify_window_days), "
        "  verify_started_at = CASE WHEN $10::bool THEN now() WHEN $14::bool THEN NULL "
        "   ELSE verify_started_at END, "
        "  verify_until = CASE WHEN $10::bool "
        "   THEN now() + make_interval(days => coalesce($11::int, verify_window_days)) "
        "   WHEN $14::bool THEN NULL ELSE verify_until END, "
        "  closed_at = CASE WHEN $12::bool THEN now() ELSE closed_at END, "
        "  closed_effective = CASE WHEN $12::bool THEN $13::bool ELSE closed_effective END, "
        "  reopened_count = reopened_count + CASE WHEN $14::bool THEN 1 ELSE 0 END, "
        "  root_cause_at = CASE WHEN $15::bool THEN now() ELSE root_cause_at END, "
        "  version = version + 1, updated_at = now() "
        " WHERE id = $1::bigint RETURNING id) "
        "INSERT INTO problem_events (id, problem_id, type, actor_id, from_state, to_state, reason, "
        " data, pii_sealed) "
        "SELECT coalesce($22::bigint, nextval('problem_events_id_seq')), u.id, $16, $17::bigint, $18, "
        " $19, $20, $21::jsonb, $23 FROM u RETURNING id"},

    /* An event that changes no state (an action added or completed, a
     * ticket linked): the problem's version + 1 with it. */
    [S_PEVENT_ADD] = {"problem_event_add",
        "WITH u AS (UPDATE problems SET version = version + 1, updated_at = now() "
        " WHERE id = $1::bigint RETURNING id) "
        "INSERT INTO problem_events (id, problem_id, type, actor_id, data, pii_sealed) "
        "SELECT coalesce($5::bigint, nextval('problem_events_id_seq')), u.id, $2, $3::bigint, "
        " $4::jsonb, $6 FROM u RETURNING id"},

    /* The history, oldest first; no row for an unknown problem. */
    [S_PROBLEM_EVENTS] = {"problem_events",
        "SELECT (SELECT coalesce(json_agg(json_build_object('id', e.id, 'type', e.type, "
        "  'at', " TS("e.at") ", 'actor', " WHO("e.actor_id") ", 'from_state', e.from_state, "
        "  'to_state', e.to_state, 'reason', e.reason, 'data', e.data) ORDER BY e.id), '[]'::json) "
        " FROM problem_events e WHERE e.problem_id = p.id)::text AS doc "
        "FROM problems p WHERE p.id = $1::bigint"},

    /* The action and its deadline (a row of action_timers, which the SLA
     * engine fires: store_sla.c).  The owner must be an active principal;
     * no row otherwise. */
    [S_ACTION_ADD] = {"problem_action_add",
        "WITH o AS (SELECT id FROM principals WHERE id = $4::bigint AND revoked_at IS NULL "
        "  AND (expires_at IS NULL OR expires_at > now()) AND role IN ('agent', 'manager', 'admin')), "
        "a AS (INSERT INTO problem_actions (problem_id, kind, description, owner_id, due_at, "
        "  created_by, pii_sealed) "
        " SELECT $1::bigint, $2, $3, o.id, $5::timestamptz, $6::bigint, $7 FROM o RETURNING *), "
        "t AS (INSERT INTO action_timers (action_id, problem_id, due_at) "
        " SELECT id, problem_id, due_at FROM a) "
        "SELECT a.id, " ACTION_DOC "::text AS doc, "
        " extract(epoch FROM a.due_at - now()) AS due_in_s FROM a"},

    [S_ACTION_LOCK] = {"problem_action_lock",
        "SELECT id, owner_id, completed_at IS NOT NULL AS done FROM problem_actions "
        "WHERE id = $1::bigint AND problem_id = $2::bigint FOR UPDATE"},

    /* Done: who and when ($3, the instant at which its completion fired it
     * if it was due); its deadline is live no more (a breach recorded
     * stays). */
    [S_ACTION_COMPLETE] = {"problem_action_complete",
        "WITH d AS (DELETE FROM action_timers WHERE action_id = $1::bigint), "
        "a AS (UPDATE problem_actions SET completed_at = $3::timestamptz, completed_by = $2::bigint "
        " WHERE id = $1::bigint RETURNING *) "
        "SELECT " ACTION_DOC "::text AS doc FROM a"},

    /* The tickets about to be linked, locked in id order (as every batch
     * that locks several tickets does, so two never deadlock). */
    [S_LINK_LOCK] = {"problem_link_lock",
        "SELECT id, problem_id, state FROM tickets WHERE id = ANY ($1::bigint[]) ORDER BY id FOR UPDATE"},

    /* Link: each ticket's problem_id (version + 1) with its event, and the
     * problem's ticket_linked event per ticket. */
    [S_LINK] = {"problem_link",
        "WITH t AS (UPDATE tickets SET problem_id = $1::bigint, waiting_on_problem = $3::bool, "
        "  version = version + 1, updated_at = now() WHERE id = ANY ($2::bigint[]) RETURNING id), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, data) "
        " SELECT id, 'problem_linked', $4::bigint, "
        "  jsonb_build_object('problem_id', $1::bigint, 'waiting_on_problem', $3::bool) FROM t), "
        "pe AS (INSERT INTO problem_events (problem_id, type, actor_id, data) "
        " SELECT $1::bigint, 'ticket_linked', $4::bigint, "
        "  jsonb_build_object('ticket_id', id, 'waiting_on_problem', $3::bool) FROM t), "
        "u AS (UPDATE problems SET version = version + 1, updated_at = now() WHERE id = $1::bigint) "
        "SELECT count(*) AS linked FROM t"},

    [S_UNLINK] = {"problem_unlink",
        "WITH t AS (UPDATE tickets SET problem_id = NULL, waiting_on_problem = false, "
        "  version = version + 1, updated_at = now() "
        "  WHERE id = $2::bigint AND problem_id = $1::bigint RETURNING id), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, data) "
        " SELECT id, 'problem_unlinked', $3::bigint, jsonb_build_object('problem_id', $1::bigint) FROM t), "
        "pe AS (INSERT INTO problem_events (problem_id, type, actor_id, data) "
        " SELECT $1::bigint, 'ticket_unlinked', $3::bigint, jsonb_build_object('ticket_id', id) FROM t), "
        "u AS (UPDATE problems SET version = version + 1, updated_at = now() "
        " WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM t)) "
        "SELECT count(*) AS unlinked FROM t"},

    /* The workaround reaches every open complaint of the problem: a
     * `workaround` event in each one's history (the ticket itself does not
     * change, as with a comment).  Locked in id order so that none closes
     * in between. */
    [S_WORKAROUND_SPREAD] = {"problem_workaround_spread",
        "WITH t AS (SELECT id FROM tickets WHERE problem_id = $1::bigint AND state <> 'closed' "
        "  ORDER BY id FOR UPDATE), "
        "e AS (INSERT INTO events (ticket_id, type, actor_id, body, data) "
        " SELECT id, 'workaround', $3::bigint, $2, jsonb_build_object('problem_id', $1::bigint) "
        " FROM t RETURNING 1) "
        "SELECT count(*) AS tickets FROM e"},

    /* The complaints waiting on the problem, locked in id order, with their
     * state: the fix resolves those it can (service/problems.c). */
    [S_WAITING_LOCK] = {"problem_waiting_lock",
        "SELECT id, state FROM tickets WHERE problem_id = $1::bigint AND waiting_on_problem "
        "ORDER BY id FOR UPDATE"},

    [S_WAITING_CLEAR] = {"problem_waiting_clear",
        "UPDATE tickets SET waiting_on_problem = false "
        "WHERE problem_id = $1::bigint AND waiting_on_problem"},
};

const struct escp_stmt_table escp_stmts_problems = {stmts, S__COUNT};

#define I64(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), buf)

/* Run a statement and read its first row's text column `col` (NULL when
 * no row, with *rows = 0). */
static char *first_text(struct escp_conn *c, int s, int n, const char *const *v, const char *col,
                        int *rows, esc_error_t *err)
{
    int k;
    char *out = NULL;
    *rows = 0;
    PGresult *res = escp_exec(c, &stmts[s], n, v, err);
    if (!res || escp_columns(res, stmts[s].name, err, col, &k, NULL) != 0)
        goto out;
    *rows = PQntuples(res);
    if (*rows > 0 && !(out = strdup(PQgetvalue(res, 0, k))))
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    PQclear(res);
    return out;
}

static json_t *parse_doc(char *text, esc_error_t *err)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (text && !j)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "a problem could not be read");
    free(text);
    return j;
}

static int next_id(struct escp_conn *c, int s, int64_t *id, esc_error_t *err)
{
    int rows;
    char *t = first_text(c, s, 0, NULL, "id", &rows, err);
    if (!t)
        return -1;
    *id = strtoll(t, NULL, 10);
    free(t);
    return 0;
}

int escp_store_problem_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err)
{
    return next_id(c, S_PROBLEM_NEXT_ID, id, err);
}

int escp_store_problem_event_next_id(struct escp_conn *c, int64_t *id, esc_error_t *err)
{
    return next_id(c, S_PEVENT_NEXT_ID, id, err);
}

int escp_store_problem_create(struct escp_conn *c, const struct escp_problem_new *pn, int64_t actor_id,
                              int64_t *id, esc_error_t *err)
{
    char owner[24], actor[24], idb[24], window[16];
    if (pn->verify_window_days > 0)
        snprintf(window, sizeof window, "%d", pn->verify_window_days);
    const char *v[9] = {pn->title, pn->description ? pn->description : "", pn->category,
                        I64(owner, pn->owner_id), I64(actor, actor_id), pn->pii_sealed,
                        pn->id ? I64(idb, pn->id) : NULL, pn->keywords,
                        pn->verify_window_days > 0 ? window : NULL};
    int rows;
    char *t = first_text(c, S_PROBLEM_CREATE, 9, v, "id", &rows, err);
    if (!t) {
        if (rows == 0 && err && err->code == ESC_OK)
            esc_error_set(err, ESC_ERR_VALIDATION, "owner_id",
                          "owner_id must be an active agent, manager or admin");
        return -1;
    }
    *id = strtoll(t, NULL, 10);
    free(t);
    return 0;
}

json_t *escp_store_problem_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    const char *v[1] = {I64(idb, id)};
    int doc, tickets;
    json_t *out = NULL;
    PGresult *res = escp_exec(c, &stmts[S_PROBLEM_GET], 1, v, err);
    if (!res || escp_columns(res, stmts[S_PROBLEM_GET].name, err, "doc", &doc, "tickets", &tickets,
                             NULL) != 0)
        goto out;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such problem");
        goto out;
    }
    out = json_loads(PQgetvalue(res, 0, doc), 0, NULL);
    json_t *tl = json_loads(PQgetvalue(res, 0, tickets), 0, NULL);
    if (!out || !tl || json_object_set_new(out, "tickets", tl) != 0) {
        json_decref(out);
        out = NULL;
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "a problem could not be read");
    }
out:
    PQclear(res);
    return out;
}

json_t *escp_store_problem_list(struct escp_conn *c, const struct escp_problem_filter *f,
                                esc_error_t *err)
{
    char owner[24], before[24], limit[16];
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    const char *v[5] = {f->state, f->category, f->owner_id ? I64(owner, f->owner_id) : NULL,
                        f->before_id ? I64(before, f->before_id) : NULL, limit};
    int doc;
    json_t *items = NULL;
    PGresult *res = escp_exec(c, &stmts[S_PROBLEM_LIST], 5, v, err);
    if (!res || escp_columns(res, stmts[S_PROBLEM_LIST].name, err, "doc", &doc, NULL) != 0)
        goto out;
    items = json_array();
    for (int i = 0; items && i < PQntuples(res); i++) {
        json_t *p = json_loads(PQgetvalue(res, i, doc), 0, NULL);
        if (!p || json_array_append_new(items, p) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (!items)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the problems could not be read");
out:
    PQclear(res);
    return items;
}

static char *dup_val(const PGresult *res, int col)
{
    const char *s = escp_val(res, 0, col);
    return s ? strdup(s) : NULL;
}

int escp_store_problem_lock(struct escp_conn *c, int64_t id, struct escp_problem *p, esc_error_t *err)
{
    char idb[24];
    const char *v[1] = {I64(idb, id)};
    struct {
        int id, state, owner_id, version, workaround, fix, root_cause_kind, recurrences;
        int window_open, verify_until;
    } col, *k = &col;
    int rc = -1;
    memset(p, 0, sizeof *p);
    PGresult *res = escp_exec(c, &stmts[S_PROBLEM_LOCK], 1, v, err);
    if (!res || escp_columns(res, stmts[S_PROBLEM_LOCK].name, err, ESCP_COL(k, id),
                             ESCP_COL(k, state), ESCP_COL(k, owner_id), ESCP_COL(k, version),
                             ESCP_COL(k, workaround), ESCP_COL(k, fix),
                             ESCP_COL(k, root_cause_kind), ESCP_COL(k, recurrences),
                             ESCP_COL(k, window_open), ESCP_COL(k, verify_until), NULL) != 0)
        goto out;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such problem");
        goto out;
    }
    p->id = id;
    p->state = esc_problem_state_from_name(PQgetvalue(res, 0, k->state));
    p->owner_id = strtoll(PQgetvalue(res, 0, k->owner_id), NULL, 10);
    p->version = atoi(PQgetvalue(res, 0, k->version));
    p->recurrences = atoi(PQgetvalue(res, 0, k->recurrences));
    p->window_open = PQgetvalue(res, 0, k->window_open)[0] == 't';
    snprintf(p->verify_until, sizeof p->verify_until, "%s", PQgetvalue(res, 0, k->verify_until));
    p->workaround = dup_val(res, k->workaround);
    p->fix = dup_val(res, k->fix);
    p->root_cause_kind = dup_val(res, k->root_cause_kind);
    if ((int)p->state < 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "a problem is in an unknown state");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

void escp_problem_clear(struct escp_problem *p)
{
    free(p->workaround);
    free(p->fix);
    free(p->root_cause_kind);
    p->workaround = p->fix = p->root_cause_kind = NULL;
}

int escp_store_problem_update(struct escp_conn *c, const struct escp_problem_change *ch,
                              esc_error_t *err)
{
    char idb[24], window[16], actor[24], evid[24];
    char *data = ch->data ? json_dumps(ch->data, JSON_COMPACT) : NULL;
    if (ch->verify_window_days > 0)
        snprintf(window, sizeof window, "%d", ch->verify_window_days);
#define B(x) ((x) ? "true" : "false")
    const char *v[23] = {I64(idb, ch->id), esc_problem_state_names[ch->state], ch->root_cause,
                         ch->root_cause_kind, ch->containment, ch->workaround,
                         B(ch->workaround_published), ch->fix, B(ch->fixed), B(ch->verifying),
                         ch->verify_window_days > 0 ? window : NULL, B(ch->closed),
                         B(ch->closed_effective), B(ch->reopened), B(ch->root_cause_found),
                         ch->event_type, I64(actor, ch->actor_id), ch->from_state, ch->to_state,
                         ch->reason, data, ch->event_id ? I64(evid, ch->event_id) : NULL,
                         ch->pii_sealed};
#undef B
    int rows;
    char *t = (ch->data && !data) ? NULL : first_text(c, S_PROBLEM_UPDATE, 23, v, "id", &rows, err);
    free(data);
    if (!t) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the problem could not be changed");
        return -1;
    }
    free(t);
    return 0;
}

int escp_store_problem_event_add(struct escp_conn *c, int64_t problem_id, const char *type,
                                 int64_t actor_id, const json_t *data, int64_t event_id,
                                 const char *pii_sealed, esc_error_t *err)
{
    char idb[24], actor[24], evid[24];
    char *d = data ? json_dumps(data, JSON_COMPACT) : NULL;
    const char *v[6] = {I64(idb, problem_id), type, actor_id ? I64(actor, actor_id) : NULL, d,
                        event_id ? I64(evid, event_id) : NULL, pii_sealed};
    int rows;
    char *t = (data && !d) ? NULL : first_text(c, S_PEVENT_ADD, 6, v, "id", &rows, err);
    free(d);
    if (!t) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the problem's history could not be written");
        return -1;
    }
    free(t);
    return 0;
}

json_t *escp_store_problem_events(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    const char *v[1] = {I64(idb, id)};
    int rows;
    char *t = first_text(c, S_PROBLEM_EVENTS, 1, v, "doc", &rows, err);
    if (!t && rows == 0 && err && err->code == ESC_OK)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such problem");
    json_t *items = parse_doc(t, err);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

json_t *escp_store_action_add(struct escp_conn *c, const struct escp_action_new *an, int64_t actor_id,
                              double *due_in_s, esc_error_t *err)
{
    char pid[24], owner[24], actor[24];
    const char *v[7] = {I64(pid, an->problem_id), an->kind, an->description, I64(owner, an->owner_id),
                        an->due_at, I64(actor, actor_id), an->pii_sealed};
    int doc, due;
    json_t *out = NULL;
    PGresult *res = escp_exec(c, &stmts[S_ACTION_ADD], 7, v, err);
    if (!res || escp_columns(res, stmts[S_ACTION_ADD].name, err, "doc", &doc, "due_in_s", &due,
                             NULL) != 0)
        goto out;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_VALIDATION, "owner_id",
                      "owner_id must be an active agent, manager or admin");
        goto out;
    }
    *due_in_s = strtod(PQgetvalue(res, 0, due), NULL);
    if (!(out = json_loads(PQgetvalue(res, 0, doc), 0, NULL)))
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the action could not be read");
out:
    PQclear(res);
    return out;
}

int escp_store_action_lock(struct escp_conn *c, int64_t problem_id, int64_t action_id,
                           int64_t *owner_id, bool *done, esc_error_t *err)
{
    char pid[24], aid[24];
    const char *v[2] = {I64(aid, action_id), I64(pid, problem_id)};
    int o, d, rc = -1;
    PGresult *res = escp_exec(c, &stmts[S_ACTION_LOCK], 2, v, err);
    if (!res || escp_columns(res, stmts[S_ACTION_LOCK].name, err, "owner_id", &o, "done", &d,
                             NULL) != 0)
        goto out;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such action of this problem");
        goto out;
    }
    *owner_id = strtoll(PQgetvalue(res, 0, o), NULL, 10);
    *done = PQgetvalue(res, 0, d)[0] == 't';
    rc = 0;
out:
    PQclear(res);
    return rc;
}

json_t *escp_store_action_complete(struct escp_conn *c, int64_t action_id, int64_t actor_id, const char *at,
                                   esc_error_t *err)
{
    char aid[24], actor[24];
    const char *v[3] = {I64(aid, action_id), I64(actor, actor_id), at};
    int rows;
    return parse_doc(first_text(c, S_ACTION_COMPLETE, 3, v, "doc", &rows, err), err);
}

/* "{1,2,3}" of n ids. */
static char *id_array(const int64_t *ids, size_t n)
{
    size_t len = 3 + n * 21;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, len - (size_t)(p - s), "%s%" PRId64, i ? "," : "", ids[i]);
    snprintf(p, len - (size_t)(p - s), "}");
    return s;
}

int escp_store_link_lock(struct escp_conn *c, const int64_t *ids, size_t n, int64_t *problem_of,
                         esc_error_t *err)
{
    char *arr = id_array(ids, n);
    const char *v[1] = {arr};
    int id, pid, rc = -1;
    PGresult *res = arr ? escp_exec(c, &stmts[S_LINK_LOCK], 1, v, err) : NULL;
    free(arr);
    if (!res || escp_columns(res, stmts[S_LINK_LOCK].name, err, "id", &id, "problem_id", &pid,
                             NULL) != 0)
        goto out;
    /* -1: no such ticket */
    for (size_t i = 0; i < n; i++)
        problem_of[i] = -1;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t tid = strtoll(PQgetvalue(res, r, id), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == tid)
                problem_of[i] = escp_val(res, r, pid) ? strtoll(PQgetvalue(res, r, pid), NULL, 10) : 0;
    }
    rc = 0;
out:
    if (!res && !arr)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    PQclear(res);
    return rc;
}

int escp_store_link(struct escp_conn *c, int64_t problem_id, const int64_t *ids, size_t n,
                    bool waiting, int64_t actor_id, esc_error_t *err)
{
    char pid[24], actor[24];
    char *arr = id_array(ids, n);
    const char *v[4] = {I64(pid, problem_id), arr, waiting ? "true" : "false", I64(actor, actor_id)};
    int rows;
    char *t = arr ? first_text(c, S_LINK, 4, v, "linked", &rows, err) : NULL;
    free(arr);
    if (!t) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the tickets could not be linked");
        return -1;
    }
    free(t);
    return 0;
}

int escp_store_unlink(struct escp_conn *c, int64_t problem_id, int64_t ticket_id, int64_t actor_id,
                      esc_error_t *err)
{
    char pid[24], tid[24], actor[24];
    const char *v[3] = {I64(pid, problem_id), I64(tid, ticket_id), I64(actor, actor_id)};
    int rows;
    char *t = first_text(c, S_UNLINK, 3, v, "unlinked", &rows, err);
    if (!t)
        return -1;
    int n = atoi(t);
    free(t);
    if (n != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "the ticket is not linked to this problem");
        return -1;
    }
    return 0;
}

int escp_store_workaround_spread(struct escp_conn *c, int64_t problem_id, const char *workaround,
                                 int64_t actor_id, int64_t *tickets, esc_error_t *err)
{
    char pid[24], actor[24];
    const char *v[3] = {I64(pid, problem_id), workaround, I64(actor, actor_id)};
    int rows;
    char *t = first_text(c, S_WORKAROUND_SPREAD, 3, v, "tickets", &rows, err);
    if (!t)
        return -1;
    *tickets = strtoll(t, NULL, 10);
    free(t);
    return 0;
}

int escp_store_waiting_lock(struct escp_conn *c, int64_t problem_id, int64_t **ids,
                            enum esc_state **states, size_t *n, esc_error_t *err)
{
    char pid[24];
    const char *v[1] = {I64(pid, problem_id)};
    int id, st, rc = -1;
    *ids = NULL;
    *states = NULL;
    *n = 0;
    PGresult *res = escp_exec(c, &stmts[S_WAITING_LOCK], 1, v, err);
    if (!res || escp_columns(res, stmts[S_WAITING_LOCK].name, err, "id", &id, "state", &st, NULL) != 0)
        goto out;
    size_t rows = (size_t)PQntuples(res);
    if (rows) {
        *ids = calloc(rows, sizeof **ids);
        *states = calloc(rows, sizeof **states);
        if (!*ids || !*states) {
            free(*ids);
            free(*states);
            *ids = NULL;
            *states = NULL;
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
    }
    for (size_t r = 0; r < rows; r++) {
        (*ids)[r] = strtoll(PQgetvalue(res, (int)r, id), NULL, 10);
        (*states)[r] = (enum esc_state)esc_state_from_name(PQgetvalue(res, (int)r, st));
    }
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

int escp_store_waiting_clear(struct escp_conn *c, int64_t problem_id, esc_error_t *err)
{
    char pid[24];
    const char *v[1] = {I64(pid, problem_id)};
    PGresult *res = escp_exec(c, &stmts[S_WAITING_CLEAR], 1, v, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}
