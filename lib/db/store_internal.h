/* store_internal.h — shared by the store*.c files only: how a file declares
 * its statements, how they are run, and how their results are read by column
 * name.  The only header with libpq. */
#ifndef ESCALATED_STORE_INTERNAL_H
#define ESCALATED_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "db/db.h"

/* ---- statements ----
 * Each store_*.c keeps the statements it runs in a static table beside the
 * functions that run them, indexed by a file-local enum, and exports the
 * table for the pool:
 *
 *     enum { S_TICKET_GET, ..., S__COUNT };
 *     static const struct escp_stmt stmts[S__COUNT] = {
 *         [S_TICKET_GET] = {"ticket_get", "SELECT ... WHERE t.id = $1"},
 *         ...};
 *     const struct escp_stmt_table escp_stmts_tickets = {stmts, S__COUNT};
 *
 *     res = escp_exec(c, &stmts[S_TICKET_GET], 1, v, err);
 *
 * store.c lists every table (STMT_TABLES: one line per file); the pool
 * prepares all of them on each connection it makes or remakes, since a
 * prepared statement lives only as long as its session. */
struct escp_stmt {
    const char *name; /* unique across the store; esc_store_new checks */
    const char *sql;
};
struct escp_stmt_table {
    const struct escp_stmt *stmts;
    int n;
};

struct escp_conn {
    PGconn *pg;
    int index;
    int in_use;
};

/* A connection of its own, outside the pool, with only these statements
 * prepared (connects faster than escp_conn_open; the SLA engine's). */
struct escp_conn *escp_conn_open_stmts(const char *conninfo, const struct escp_stmt *const *which,
                                       int n, esc_error_t *err);

/* Prepare one more statement on c (store_check.c: one that can only prepare
 * once an earlier one has shown the schema has its table). */
int escp_conn_prepare(struct escp_conn *c, const struct escp_stmt *s, esc_error_t *err);

/* Run a prepared statement. The result (TUPLES_OK or COMMAND_OK), or NULL
 * with err mapped from the SQLSTATE (the server's text is logged, not shown). */
PGresult *escp_exec(struct escp_conn *c, const struct escp_stmt *s, int nparams,
                    const char *const *values, esc_error_t *err);
/* Map a failed result (or a dead connection) to our error codes. */
void escp_map_error(PGconn *pg, const PGresult *res, const char *what, esc_error_t *err);

/* ---- reading results by column name ----
 * The column numbers a reader needs, looked up by name once per result:
 *
 *     int fired, late;
 *     if (escp_columns(res, "fire_due", err, "fired", &fired, "max_late_s", &late, NULL))
 *         goto out;
 *     ... PQgetvalue(res, row, fired) ...
 *
 * Pairs of (const char *name, int *column), ending in NULL.  -1 with
 * ESC_ERR_INTERNAL when a name is not among the result's columns: the
 * statement (`what`, for the log) and its reader disagree. */
int escp_columns(const PGresult *res, const char *what, esc_error_t *err, ...)
    __attribute__((sentinel));
/* A (name, column) pair for escp_columns from a struct of column numbers
 * whose fields are named as the columns: ESCP_COL(k, subject) is
 * "subject", &k->subject. */
#define ESCP_COL(k, field) #field, &(k)->field

/* Value of a column or NULL when SQL NULL. */
const char *escp_val(const PGresult *res, int row, int col);
/* A column's integer text as a JSON integer; json null for NULL. */
json_t *escp_json_int(const char *text);

/* The columns of an event row as GET /v1/tickets/{id}/events shows it
 * (store_tickets.c): id, type, at, actor_id, actor_name, actor_role,
 * from_tier, to_tier, from_state, to_state, reason, body, data. */
struct escp_event_cols {
    int id, type, at, actor_id, actor_name, actor_role, from_tier, to_tier, from_state, to_state,
        reason, body, data;
};
int escp_event_cols(const PGresult *res, const char *what, struct escp_event_cols *k,
                    esc_error_t *err);
/* Row -> event JSON (new reference; NULL when out of memory). */
json_t *escp_event_from_row(const PGresult *res, int row, const struct escp_event_cols *k);

/* "{a,b,c}": the first n names of a model list (core/model.h) as a
 * PostgreSQL array literal, for a $n::text[] parameter (the names are plain
 * lower-case words: none needs quoting).  buf, or NULL with ESC_ERR_INTERNAL
 * when it is too small (ESCP_NAMES_LEN holds any list of the model). */
#define ESCP_NAMES_LEN 256
const char *escp_pg_names(char *buf, size_t len, const char *const *names, int n, esc_error_t *err);

#endif
