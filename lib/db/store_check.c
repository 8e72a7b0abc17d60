/* store_check.c — what `escalated check` asks the database (app/check.c):
 * which migrations are applied, whether this build's statements prepare, and
 * one sealed customer record to try the data key on.  Its statements are not
 * in the pool's STMT_TABLES: they run on a connection of their own, before
 * the schema may even exist (the pool's statements would not prepare then). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store.h"
#include "db/store_internal.h"

enum { S_CHECK_TABLE, S_CHECK_APPLIED, S_CHECK_SAMPLE, S__COUNT };
static const struct escp_stmt stmts[S__COUNT] = {
    /* the table `migrate` creates: absent, nothing was ever migrated */
    [S_CHECK_TABLE] = {"check_migrations_table",
        "SELECT to_regclass('escalated_migrations') IS NOT NULL AS present"},
    /* prepared only once the table is known to exist */
    [S_CHECK_APPLIED] = {"check_migrations_applied",
        "SELECT name FROM escalated_migrations ORDER BY name"},
    /* the newest ticket with a sealed customer (migration 006's columns;
     * prepared only once every migration is applied) */
    [S_CHECK_SAMPLE] = {"check_customer_sample",
        "SELECT id, customer_name_sealed, customer_phone_sealed, customer_email_sealed, "
        " customer_id_number_sealed, customer_bank_card_sealed, customer_key_version "
        "FROM tickets WHERE customer_key_version IS NOT NULL ORDER BY id DESC LIMIT 1"},
};

/* Append name to a comma-separated list in buf (truncated with "..."). */
static void add_name(char *buf, size_t len, const char *name)
{
    size_t o = strlen(buf);
    if (o + strlen(name) + 6 >= len) {
        if (o + 4 < len && (o < 3 || strcmp(buf + o - 3, "...") != 0))
            snprintf(buf + o, len - o, "%s...", o ? ", " : "");
        return;
    }
    snprintf(buf + o, len - o, "%s%s", o ? ", " : "", name);
}

int esc_store_check_schema(const char *conninfo, struct esc_store_schema *out, esc_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    for (const struct escp_migration *m = escp_migrations; m->name; m++)
        out->known++;
    const struct escp_stmt *first[] = {&stmts[S_CHECK_TABLE]};
    struct escp_conn *c = escp_conn_open_stmts(conninfo, first, 1, err);
    if (!c)
        return -1;
    int present, name;
    if (!(res = escp_exec(c, &stmts[S_CHECK_TABLE], 0, NULL, err)) ||
        escp_columns(res, stmts[S_CHECK_TABLE].name, err, "present", &present, NULL) != 0)
        goto out;
    out->table = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, present), "t") == 0;
    PQclear(res);
    res = NULL;
    if (!out->table) {
        for (const struct escp_migration *m = escp_migrations; m->name; m++)
            add_name(out->missing, sizeof out->missing, m->name);
        rc = 0;
        goto out;
    }
    if (escp_conn_prepare(c, &stmts[S_CHECK_APPLIED], err) != 0 ||
        !(res = escp_exec(c, &stmts[S_CHECK_APPLIED], 0, NULL, err)) ||
        escp_columns(res, stmts[S_CHECK_APPLIED].name, err, "name", &name, NULL) != 0)
        goto out;
    for (const struct escp_migration *m = escp_migrations; m->name; m++) {
        int found = 0;
        for (int i = 0; i < PQntuples(res) && !found; i++)
            found = strcmp(PQgetvalue(res, i, name), m->name) == 0;
        if (found)
            out->applied++;
        else
            add_name(out->missing, sizeof out->missing, m->name);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        int known = 0;
        for (const struct escp_migration *m = escp_migrations; m->name && !known; m++)
            known = strcmp(PQgetvalue(res, i, name), m->name) == 0;
        if (!known)
            add_name(out->unknown, sizeof out->unknown, PQgetvalue(res, i, name));
    }
    rc = 0;
out:
    PQclear(res);
    escp_conn_close(c);
    return rc;
}

int esc_store_check_statements(const char *conninfo, esc_error_t *err)
{
    /* a connection as the pool makes them: every statement of every store
     * file prepared, and the vocabulary compared */
    struct escp_conn *c = escp_conn_open(conninfo, err);
    escp_conn_close(c);
    return c ? 0 : -1;
}

int escp_store_customer_sample(const char *conninfo, struct escp_customer_row *row, int *found,
                               esc_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    memset(row, 0, sizeof *row);
    *found = 0;
    const struct escp_stmt *which[] = {&stmts[S_CHECK_SAMPLE]};
    struct escp_conn *c = escp_conn_open_stmts(conninfo, which, 1, err);
    if (!c)
        return -1;
    struct {
        int id, customer_name_sealed, customer_phone_sealed, customer_email_sealed,
            customer_id_number_sealed, customer_bank_card_sealed, customer_key_version;
    } col, *k = &col;
    if (!(res = escp_exec(c, &stmts[S_CHECK_SAMPLE], 0, NULL, err)) ||
        escp_columns(res, stmts[S_CHECK_SAMPLE].name, err, ESCP_COL(k, id),
                     ESCP_COL(k, customer_name_sealed), ESCP_COL(k, customer_phone_sealed),
                     ESCP_COL(k, customer_email_sealed), ESCP_COL(k, customer_id_number_sealed),
                     ESCP_COL(k, customer_bank_card_sealed), ESCP_COL(k, customer_key_version),
                     NULL) != 0)
        goto out;
    if (PQntuples(res) == 1) {
        const int sealed[ESCP_CUST__COUNT] = {
            [ESCP_CUST_NAME] = k->customer_name_sealed,
            [ESCP_CUST_PHONE] = k->customer_phone_sealed,
            [ESCP_CUST_EMAIL] = k->customer_email_sealed,
            [ESCP_CUST_ID_NUMBER] = k->customer_id_number_sealed,
            [ESCP_CUST_BANK_CARD] = k->customer_bank_card_sealed};
        row->id = strtoll(PQgetvalue(res, 0, k->id), NULL, 10);
        row->version = (unsigned)strtoul(PQgetvalue(res, 0, k->customer_key_version), NULL, 10);
        for (int f = 0; f < ESCP_CUST__COUNT; f++) {
            const char *v = escp_val(res, 0, sealed[f]);
            if (v && !(row->sealed[f] = strdup(v))) {
                esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
                goto out;
            }
        }
        *found = 1;
    }
    rc = 0;
out:
    if (rc != 0)
        for (int f = 0; f < ESCP_CUST__COUNT; f++) {
            free(row->sealed[f]);
            row->sealed[f] = NULL;
        }
    PQclear(res);
    escp_conn_close(c);
    return rc;
}
