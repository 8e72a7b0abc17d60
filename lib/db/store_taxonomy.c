/* store_taxonomy.c — the complaint taxonomy (issue 10, migration 011): the
 * document, its versions, and the check of a new ticket's category.  The
 * check runs in the database against the codes the last committed PUT
 * wrote, so a PUT on any daemon binds every daemon from its commit on, with
 * no cache to invalidate. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store_internal.h"

enum { S_TAXONOMY_GET, S_TAXONOMY_PUT, S_TAXONOMY_REFUSES, S__COUNT };

/* What both answer: the document as the API shows it, built here so that a
 * GET and a PUT cannot differ. */
#define TAXONOMY_DOC                                                                         \
    "json_build_object('version', x.version, 'enforced', x.enforced, "                       \
    " 'updated_at', to_char(x.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    " 'updated_by', CASE WHEN p.id IS NULL THEN NULL "                                       \
    "  ELSE json_build_object('id', p.id, 'name', p.name) END, "                             \
    " 'categories', x.doc)::text AS doc"

static const struct escp_stmt stmts[S__COUNT] = {
    [S_TAXONOMY_GET] = {"taxonomy_get",
        "SELECT " TAXONOMY_DOC " FROM taxonomy x LEFT JOIN principals p ON p.id = x.updated_by"},

    /* The tree ($1), its codes ($2, a JSON array) and paths ($3), whether it
     * binds ($4), by $5; only at version $6 when given (If-Match).  The new
     * version goes to the history in the same statement. */
    [S_TAXONOMY_PUT] = {"taxonomy_put",
        "WITH x AS (UPDATE taxonomy SET doc = $1::jsonb, "
        "  codes = ARRAY(SELECT jsonb_array_elements_text($2::jsonb)), paths = $3::jsonb, "
        "  enforced = $4::bool, version = version + 1, updated_by = $5::bigint, updated_at = now() "
        " WHERE $6::int IS NULL OR version = $6::int RETURNING *), "
        "h AS (INSERT INTO taxonomy_history (version, doc, enforced, updated_by, updated_at) "
        " SELECT version, doc, enforced, updated_by, updated_at FROM x) "
        "SELECT " TAXONOMY_DOC " FROM x LEFT JOIN principals p ON p.id = x.updated_by"},

    /* Does the taxonomy refuse this category?  Only once it is enforced. */
    [S_TAXONOMY_REFUSES] = {"taxonomy_refuses",
        "SELECT coalesce((SELECT enforced AND NOT ($1::text = ANY (codes)) FROM taxonomy), false) "
        " AS refused"},
};

const struct escp_stmt_table escp_stmts_taxonomy = {stmts, S__COUNT};

/* The one `doc` column of a statement that answers the document. */
static json_t *doc_of(PGresult *res, const char *what, esc_error_t *err)
{
    int col;
    json_t *out = NULL;
    if (escp_columns(res, what, err, "doc", &col, NULL) == 0 && PQntuples(res) == 1 &&
        !(out = json_loads(PQgetvalue(res, 0, col), 0, NULL)))
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    return out;
}

json_t *escp_store_taxonomy(struct escp_conn *c, esc_error_t *err)
{
    PGresult *res = escp_exec(c, &stmts[S_TAXONOMY_GET], 0, NULL, err);
    if (!res)
        return NULL;
    json_t *out = doc_of(res, stmts[S_TAXONOMY_GET].name, err);
    if (!out && err->code == ESC_OK)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the taxonomy is missing");
    PQclear(res);
    return out;
}

json_t *escp_store_taxonomy_put(struct escp_conn *c, const json_t *categories, const json_t *codes,
                                const json_t *paths, bool enforced, int64_t actor_id, int if_match,
                                esc_error_t *err)
{
    char actor[24], version[16];
    snprintf(actor, sizeof actor, "%" PRId64, actor_id);
    snprintf(version, sizeof version, "%d", if_match);
    char *doc = json_dumps(categories, JSON_COMPACT), *cs = json_dumps(codes, JSON_COMPACT),
         *ps = json_dumps(paths, JSON_COMPACT);
    const char *v[6] = {doc, cs, ps, enforced ? "true" : "false", actor_id ? actor : NULL,
                        if_match >= 0 ? version : NULL};
    PGresult *res = NULL;
    json_t *out = NULL;
    if (!doc || !cs || !ps)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    else
        res = escp_exec(c, &stmts[S_TAXONOMY_PUT], 6, v, err);
    free(doc);
    free(cs);
    free(ps);
    if (!res)
        return NULL;
    out = doc_of(res, stmts[S_TAXONOMY_PUT].name, err);
    if (!out && err->code == ESC_OK) /* no row: another version */
        esc_error_set(err, ESC_ERR_VERSION_MISMATCH, "If-Match",
                      "the taxonomy has changed since version %d", if_match);
    PQclear(res);
    return out;
}

int escp_store_taxonomy_refuses(struct escp_conn *c, const char *category, bool *refused,
                                esc_error_t *err)
{
    const char *v[1] = {category};
    int col, rc = -1;
    PGresult *res = escp_exec(c, &stmts[S_TAXONOMY_REFUSES], 1, v, err);
    if (!res)
        return -1;
    if (escp_columns(res, stmts[S_TAXONOMY_REFUSES].name, err, "refused", &col, NULL) == 0 &&
        PQntuples(res) == 1) {
        *refused = PQgetvalue(res, 0, col)[0] == 't';
        rc = 0;
    }
    PQclear(res);
    return rc;
}
