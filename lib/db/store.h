/* escalated — the PostgreSQL store: a pool of connections with every
 * statement prepared on each, and migrations.  (Principals: service/keys.h.)
 *
 * A store never fails to be created because the database is down: connections
 * are made (and remade) when leased, and a lease that cannot connect fails with
 * ESC_ERR_UNAVAILABLE, so the daemon answers 503 and recovers by itself.
 * All functions are thread-safe; one PGconn is only ever used by one thread.
 */
#ifndef ESCALATED_STORE_H
#define ESCALATED_STORE_H

#include <stdint.h>

#include "base/error.h"
#include "core/model.h"

struct esc_store;

/* conninfo: a libpq connection string or URL; NULL or "" = libpq defaults / PG* env.
 * size: connections in the pool (1..256). */
struct esc_store *esc_store_new(const char *conninfo, int size, esc_error_t *err);
void esc_store_free(struct esc_store *store);
/* PostgreSQL's statement_timeout, in milliseconds, for the pool's connections
 * made from now on (call it before the first lease); 0 = the server's. */
void esc_store_set_statement_timeout(struct esc_store *store, int ms);

/* Apply every embedded migration not yet applied, each in its own transaction,
 * under an advisory lock so two processes may run it at once.  Logs what it
 * applied; *applied (may be NULL) gets the count. */
int esc_store_migrate(const char *conninfo, int *applied, esc_error_t *err);

/* `escalated check`: the migrations of this build against the database's
 * escalated_migrations (store_check.c).  0 with out filled (table 0: never
 * migrated), or -1 with err when the database cannot be asked. */
struct esc_store_schema {
    int table;          /* escalated_migrations exists */
    int known, applied; /* migrations of this build; of them, applied */
    char missing[512];  /* this build's migrations not applied, comma-separated */
    char unknown[512];  /* applied ones this build does not know (a newer version's) */
};
int esc_store_check_schema(const char *conninfo, struct esc_store_schema *out, esc_error_t *err);
/* 0 when a connection as the pool makes them works: every statement of this
 * build prepares and the schema allows the model's states and kinds. */
int esc_store_check_statements(const char *conninfo, esc_error_t *err);

/* 0 when the database answers and every embedded migration is applied;
 * -1 with ESC_ERR_UNAVAILABLE otherwise (message says which). */
int esc_store_ready(struct esc_store *store, esc_error_t *err);

#endif
