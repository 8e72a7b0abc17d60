/* store_principals.c — principals and their tokens: the lookup every
 * authenticated request makes, and the admin side (create, list, revoke,
 * rotate) with the audit record each change writes in its own statement
 * (migrations/007_principals.sql).  Token hashes are written here and never
 * selected. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

/* A principal as the API shows it, from principals `p`: never token_hash.
 * status is the database's verdict at now(), the clock of record. */
#define PRINCIPAL_COLS                                                                            \
    "p.id, p.name, p.role, p.tier, p.created_at, p.expires_at, p.revoked_at, "                    \
    "CASE WHEN p.revoked_at IS NOT NULL THEN 'revoked' "                                          \
    " WHEN p.expires_at IS NOT NULL AND p.expires_at <= now() THEN 'expired' ELSE 'active' END "  \
    " AS status"
#define ACTIVE(p) "(" p ".revoked_at IS NULL AND (" p ".expires_at IS NULL OR " p ".expires_at > now()))"
#define TIER_NAME(p) "CASE WHEN " p ".tier IS NULL THEN NULL ELSE 'line-' || " p ".tier END"

enum {
    S_PRINCIPAL_BY_HASH,
    S_PRINCIPAL_CREATE,
    S_PRINCIPAL_LIST,
    S_PRINCIPAL_GET,
    S_PRINCIPAL_SERIALIZE,
    S_PRINCIPAL_FOR_CHANGE,
    S_PRINCIPAL_REVOKE,
    S_PRINCIPAL_ROTATE,
    S_PRINCIPAL_AUDIT,
    S__COUNT
};

static const struct escp_stmt stmts[S__COUNT] = {
    /* Every authenticated request: revoked and expired tokens are refused
     * here, against the database's clock, with no cache in front (a cache
     * would let a revoked token through on another daemon; docs/security.md). */
    [S_PRINCIPAL_BY_HASH] = {"principal_by_hash",
        "SELECT id, name, role, tier FROM principals p WHERE token_hash = $1 AND " ACTIVE("p")},

    /* $1 name, $2 role, $3 tier, $4 token hash, $5 expires_at (NULL = never;
     * no row when it is not in the future), $6 actor (NULL = the command
     * line), $7 via. */
    [S_PRINCIPAL_CREATE] = {"principal_create",
        "WITH p AS (INSERT INTO principals (name, role, tier, token_hash, expires_at) "
        " SELECT $1, $2, $3::smallint, $4, $5::timestamptz "
        " WHERE $5::timestamptz IS NULL OR $5::timestamptz > now() RETURNING *), "
        "a AS (INSERT INTO principal_audit (actor_id, principal_id, action, via, detail) "
        " SELECT $6::bigint, p.id, 'created', $7, jsonb_build_object('name', p.name, 'role', p.role, "
        "  'tier', " TIER_NAME("p") ", 'expires_at', p.expires_at) FROM p) "
        "SELECT " PRINCIPAL_COLS " FROM p"},

    /* Newest first: $1 role, $2 status (NULL = any), $3 ids below, $4 limit. */
    [S_PRINCIPAL_LIST] = {"principal_list",
        "SELECT " PRINCIPAL_COLS " FROM principals p "
        "WHERE ($1::text IS NULL OR p.role = $1::text) AND ($3::bigint IS NULL OR p.id < $3::bigint) "
        " AND ($2::text IS NULL OR $2::text = CASE WHEN p.revoked_at IS NOT NULL THEN 'revoked' "
        "  WHEN p.expires_at IS NOT NULL AND p.expires_at <= now() THEN 'expired' ELSE 'active' END) "
        "ORDER BY p.id DESC LIMIT $4::int"},

    [S_PRINCIPAL_GET] = {"principal_get",
        "SELECT " PRINCIPAL_COLS " FROM principals p WHERE p.id = $1::bigint"},

    /* Changes that can leave no active admin (a revocation) take this lock
     * first, in a statement of their own, so that the next statement's
     * snapshot sees every change committed before: two admins revoking each
     * other at once cannot both pass the "another admin remains" check. */
    [S_PRINCIPAL_SERIALIZE] = {"principal_serialize",
        "SELECT pg_advisory_xact_lock(7302355519420615682)"},

    /* The principal under a row lock, the active admins besides it, and the
     * database clock. */
    [S_PRINCIPAL_FOR_CHANGE] = {"principal_for_change",
        "SELECT " PRINCIPAL_COLS ", "
        " (SELECT count(*) FROM principals o WHERE o.role = 'admin' AND o.id <> p.id AND " ACTIVE("o") ") "
        "  AS other_admins, now() AS db_now "
        "FROM principals p WHERE p.id = $1::bigint FOR UPDATE"},

    /* $1 id, $2 actor, $3 via, $4 reason (NULL = none). */
    [S_PRINCIPAL_REVOKE] = {"principal_revoke",
        "WITH p AS (UPDATE principals SET revoked_at = now() WHERE id = $1::bigint AND revoked_at IS NULL "
        " RETURNING *), "
        "a AS (INSERT INTO principal_audit (actor_id, principal_id, action, via, detail) "
        " SELECT $2::bigint, p.id, 'revoked', $3, jsonb_strip_nulls(jsonb_build_object('reason', $4::text, "
        "  'was', CASE WHEN p.expires_at IS NOT NULL AND p.expires_at <= now() THEN 'expired' "
        "  ELSE 'active' END)) FROM p) "
        "SELECT " PRINCIPAL_COLS " FROM p"},

    /* $1 id, $2 the new token's hash, $3 whether to set expires_at, $4 the
     * new expires_at, $5 actor, $6 via.  The old hash is overwritten: the old
     * token is unknown from this commit on. */
    [S_PRINCIPAL_ROTATE] = {"principal_rotate",
        "WITH p AS (UPDATE principals SET token_hash = $2, "
        "  expires_at = CASE WHEN $3::boolean THEN $4::timestamptz ELSE expires_at END "
        " WHERE id = $1::bigint AND revoked_at IS NULL RETURNING *), "
        "a AS (INSERT INTO principal_audit (actor_id, principal_id, action, via, detail) "
        " SELECT $5::bigint, p.id, 'rotated', $6, jsonb_build_object('expires_at', p.expires_at) FROM p) "
        "SELECT " PRINCIPAL_COLS " FROM p"},

    /* Oldest first; one row with a NULL audit id for a principal without
     * records, none for an unknown one. */
    [S_PRINCIPAL_AUDIT] = {"principal_audit",
        "SELECT a.id, a.at, a.action, a.via, a.detail::text AS detail, a.actor_id, "
        " ap.name AS actor_name, ap.role AS actor_role "
        "FROM principals p LEFT JOIN principal_audit a ON a.principal_id = p.id "
        "LEFT JOIN principals ap ON ap.id = a.actor_id WHERE p.id = $1::bigint ORDER BY a.id"},
};
#undef PRINCIPAL_COLS
#undef ACTIVE
#undef TIER_NAME

const struct escp_stmt_table escp_stmts_principals = {stmts, S__COUNT};

/* ---- reading principals ---- */

struct principal_cols {
    int id, name, role, tier, created_at, expires_at, revoked_at, status;
};

static int principal_cols(const PGresult *res, const char *what, struct principal_cols *k,
                          esc_error_t *err)
{
    return escp_columns(res, what, err, ESCP_COL(k, id), ESCP_COL(k, name), ESCP_COL(k, role),
                        ESCP_COL(k, tier), ESCP_COL(k, created_at), ESCP_COL(k, expires_at),
                        ESCP_COL(k, revoked_at), ESCP_COL(k, status), NULL);
}

static json_t *principal_from_row(const PGresult *res, int row, const struct principal_cols *k)
{
#define V(field) escp_val(res, row, k->field)
    int tier = V(tier) ? atoi(V(tier)) : 0;
    return json_pack("{s:o, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?}", "id", escp_json_int(V(id)),
                     "name", V(name), "role", V(role),
                     "tier", tier >= 1 && tier <= 3 ? esc_tier_name((enum esc_tier)tier) : NULL,
                     "created_at", escp_json_time(V(created_at)),
                     "expires_at", escp_json_time(V(expires_at)),
                     "revoked_at", escp_json_time(V(revoked_at)), "status", V(status));
#undef V
}

/* Run a statement that answers principals: the array of them. */
static json_t *principals(struct escp_conn *c, int s, int nparams, const char *const *v,
                          esc_error_t *err)
{
    struct principal_cols k;
    PGresult *res = escp_exec(c, &stmts[s], nparams, v, err);
    if (!res)
        return NULL;
    json_t *items = NULL;
    if (principal_cols(res, stmts[s].name, &k, err) == 0) {
        items = json_array();
        for (int i = 0; items && i < PQntuples(res); i++)
            if (json_array_append_new(items, principal_from_row(res, i, &k)) != 0) {
                json_decref(items);
                items = NULL;
            }
        if (!items)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
    PQclear(res);
    return items;
}

/* The one principal of items (stolen), or NULL with `none` (may be ESC_OK:
 * then no error is set, for the caller to decide). */
static json_t *only(json_t *items, esc_code none, const char *msg, esc_error_t *err)
{
    if (!items)
        return NULL;
    json_t *p = json_array_size(items) == 1 ? json_incref(json_array_get(items, 0)) : NULL;
    json_decref(items);
    if (!p && none != ESC_OK)
        esc_error_set(err, none, NULL, "%s", msg);
    return p;
}

static const char *id_text(char buf[24], int64_t id)
{
    snprintf(buf, 24, "%" PRId64, id);
    return buf;
}

int escp_store_principal_by_hash(struct escp_conn *c, const char *hash, struct esc_actor *actor,
                                 esc_error_t *err)
{
    const char *v[1] = {hash};
    struct {
        int id, name, role, tier;
    } col, *k = &col;
    PGresult *res = escp_exec(c, &stmts[S_PRINCIPAL_BY_HASH], 1, v, err);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        if (escp_columns(res, stmts[S_PRINCIPAL_BY_HASH].name, err, ESCP_COL(k, id),
                         ESCP_COL(k, name), ESCP_COL(k, role), ESCP_COL(k, tier), NULL) != 0)
            goto out;
        memset(actor, 0, sizeof *actor);
        actor->id = strtoll(PQgetvalue(res, 0, k->id), NULL, 10);
        snprintf(actor->name, sizeof actor->name, "%s", PQgetvalue(res, 0, k->name));
        actor->role = (enum esc_role)esc_role_from_name(PQgetvalue(res, 0, k->role));
        actor->tier = (enum esc_tier)(PQgetisnull(res, 0, k->tier) ? 0 : atoi(PQgetvalue(res, 0, k->tier)));
        rc = (int)actor->role >= 0 ? 0 : -1;
    }
    if (rc != 0)
        esc_error_set(err, ESC_ERR_UNAUTHENTICATED, NULL, "unknown, revoked or expired token");
out:
    PQclear(res);
    return rc;
}

json_t *escp_store_principal_create(struct escp_conn *c, const struct escp_principal_new *pn,
                                    const char *hash, int64_t actor_id, const char *via,
                                    esc_error_t *err)
{
    char tier[4], actor[24];
    snprintf(tier, sizeof tier, "%d", (int)pn->tier);
    const char *v[7] = {pn->name, esc_role_name(pn->role), pn->role == ESC_ROLE_AGENT ? tier : NULL,
                        hash, pn->expires_at, actor_id ? id_text(actor, actor_id) : NULL, via};
    json_t *p = only(principals(c, S_PRINCIPAL_CREATE, 7, v, err), ESC_OK, NULL, err);
    if (!p && err && err->code == ESC_OK)
        esc_error_set(err, ESC_ERR_VALIDATION, "expires_at", "expires_at must be in the future");
    return p;
}

json_t *escp_store_principal_list(struct escp_conn *c, const struct escp_principal_filter *f,
                                  esc_error_t *err)
{
    char before[24], limit[16];
    snprintf(limit, sizeof limit, "%d", f->limit + 1);
    const char *v[4] = {f->role, f->status, f->before_id ? id_text(before, f->before_id) : NULL, limit};
    return principals(c, S_PRINCIPAL_LIST, 4, v, err);
}

json_t *escp_store_principal_get(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    const char *v[1] = {id_text(idb, id)};
    return only(principals(c, S_PRINCIPAL_GET, 1, v, err), ESC_ERR_NOT_FOUND, "no such principal", err);
}

json_t *escp_store_principal_for_change(struct escp_conn *c, int64_t id, int64_t *other_admins,
                                        char db_now[48], esc_error_t *err)
{
    char idb[24];
    const char *v[1] = {id_text(idb, id)};
    struct principal_cols k;
    int others, now_col;
    json_t *p = NULL;
    PGresult *res = escp_exec(c, &stmts[S_PRINCIPAL_SERIALIZE], 0, NULL, err);
    if (!res)
        return NULL;
    PQclear(res);
    if (!(res = escp_exec(c, &stmts[S_PRINCIPAL_FOR_CHANGE], 1, v, err)))
        return NULL;
    const char *what = stmts[S_PRINCIPAL_FOR_CHANGE].name;
    if (principal_cols(res, what, &k, err) != 0 ||
        escp_columns(res, what, err, "other_admins", &others, "db_now", &now_col, NULL) != 0)
        goto out;
    if (PQntuples(res) != 1) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such principal");
        goto out;
    }
    *other_admins = strtoll(PQgetvalue(res, 0, others), NULL, 10);
    snprintf(db_now, 48, "%s", PQgetvalue(res, 0, now_col));
    if (!(p = principal_from_row(res, 0, &k)))
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    PQclear(res);
    return p;
}

json_t *escp_store_principal_revoke(struct escp_conn *c, int64_t id, int64_t actor_id,
                                    const char *via, const char *reason, esc_error_t *err)
{
    char idb[24], actor[24];
    const char *v[4] = {id_text(idb, id), actor_id ? id_text(actor, actor_id) : NULL, via, reason};
    return only(principals(c, S_PRINCIPAL_REVOKE, 4, v, err), ESC_ERR_CONFLICT,
                "the principal is revoked already", err);
}

json_t *escp_store_principal_rotate(struct escp_conn *c, int64_t id, const char *hash,
                                    bool set_expiry, const char *expires_at, int64_t actor_id,
                                    const char *via, esc_error_t *err)
{
    char idb[24], actor[24];
    const char *v[6] = {id_text(idb, id), hash, set_expiry ? "true" : "false", expires_at,
                        actor_id ? id_text(actor, actor_id) : NULL, via};
    return only(principals(c, S_PRINCIPAL_ROTATE, 6, v, err), ESC_ERR_CONFLICT,
                "a revoked principal cannot be rotated", err);
}

json_t *escp_store_principal_audit(struct escp_conn *c, int64_t id, esc_error_t *err)
{
    char idb[24];
    const char *v[1] = {id_text(idb, id)};
    struct {
        int id, at, action, via, detail, actor_id, actor_name, actor_role;
    } col, *k = &col;
    json_t *items = NULL;
    PGresult *res = escp_exec(c, &stmts[S_PRINCIPAL_AUDIT], 1, v, err);
    if (!res)
        return NULL;
    if (escp_columns(res, stmts[S_PRINCIPAL_AUDIT].name, err, ESCP_COL(k, id), ESCP_COL(k, at),
                     ESCP_COL(k, action), ESCP_COL(k, via), ESCP_COL(k, detail), ESCP_COL(k, actor_id),
                     ESCP_COL(k, actor_name), ESCP_COL(k, actor_role), NULL) != 0)
        goto out;
    if (PQntuples(res) == 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such principal");
        goto out;
    }
    if (!(items = json_array()))
        goto oom;
    for (int i = 0; i < PQntuples(res); i++) {
#define V(field) escp_val(res, i, k->field)
        if (!V(id))
            continue; /* a principal without records */
        json_t *detail = V(detail) ? json_loads(V(detail), 0, NULL) : NULL;
        json_t *actor = V(actor_id) ? json_pack("{s:o, s:s?, s:s?}", "id", escp_json_int(V(actor_id)),
                                                "name", V(actor_name), "role", V(actor_role))
                                    : NULL;
        json_t *a = json_pack("{s:o, s:o, s:s?, s:s?, s:o?, s:o}", "id", escp_json_int(V(id)),
                              "at", escp_json_time(V(at)), "action", V(action), "via", V(via),
                              "actor", actor, "detail", detail ? detail : json_object());
#undef V
        if (!a || json_array_append_new(items, a) != 0)
            goto oom;
    }
    goto out;
oom:
    json_decref(items);
    items = NULL;
    esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    PQclear(res);
    return items;
}
