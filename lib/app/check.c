/* check.c — `escalated check` (check.h): each check reports one line; a
 * check that depends on one that failed is skipped rather than failed
 * again, so the first failure is the one to fix. */
#include <inttypes.h>
#include <stdio.h>

#include "app/check.h"
#include "db/store.h"
#include "service/service.h"

int esc_check_run(const char *db, const char *data_key_file, esc_check_report_fn report, void *arg)
{
    int failed = 0, schema_ok = 0;
    char msg[1200];
    esc_error_t err = {0};
    struct escp_keyring *kr = NULL;

    if (!data_key_file) {
        report(arg, ESC_CHECK_FAIL, "data key",
               "no data key file (--data-key-file or ESCALATED_DATA_KEY_FILE): serve refuses to "
               "start without one");
        failed++;
    } else if (!(kr = escp_keyring_load(data_key_file, &err))) {
        snprintf(msg, sizeof msg, "%s: %s", data_key_file, err.message);
        report(arg, ESC_CHECK_FAIL, "data key", msg);
        failed++;
    } else {
        snprintf(msg, sizeof msg, "%s loads; new data is sealed with key version %u",
                 data_key_file, escp_keyring_version(kr));
        report(arg, ESC_CHECK_OK, "data key", msg);
    }

    struct esc_store_schema sc;
    esc_error_clear(&err);
    if (esc_store_check_schema(db, &sc, &err) != 0) {
        snprintf(msg, sizeof msg, "%s (the log line above has the server's reason)", err.message);
        report(arg, ESC_CHECK_FAIL, "database", msg);
        report(arg, ESC_CHECK_SKIPPED, "migrations", "the database cannot be reached");
        failed++;
    } else {
        report(arg, ESC_CHECK_OK, "database", "connected");
        if (!sc.table) {
            snprintf(msg, sizeof msg, "none of this build's %d migrations is applied: run "
                     "`escalated migrate`", sc.known);
            report(arg, ESC_CHECK_FAIL, "migrations", msg);
            failed++;
        } else if (sc.unknown[0]) {
            snprintf(msg, sizeof msg, "the database has migrations this build does not know "
                     "(%s): a newer escalated migrated it; run that version", sc.unknown);
            report(arg, ESC_CHECK_FAIL, "migrations", msg);
            failed++;
        } else if (sc.missing[0]) {
            snprintf(msg, sizeof msg, "%d of this build's %d migrations applied; missing %s: run "
                     "`escalated migrate`", sc.applied, sc.known, sc.missing);
            report(arg, ESC_CHECK_FAIL, "migrations", msg);
            failed++;
        } else {
            snprintf(msg, sizeof msg, "all %d of this build's migrations applied, none unknown",
                     sc.known);
            report(arg, ESC_CHECK_OK, "migrations", msg);
            schema_ok = 1;
        }
    }

    esc_error_clear(&err);
    if (!schema_ok) {
        report(arg, ESC_CHECK_SKIPPED, "schema", "needs the migrations");
    } else if (esc_store_check_statements(db, &err) != 0) {
        snprintf(msg, sizeof msg, "%s (the log lines above say which)", err.message);
        report(arg, ESC_CHECK_FAIL, "schema", msg);
        failed++;
    } else {
        report(arg, ESC_CHECK_OK, "schema",
               "every statement prepares; states, timer and breach kinds match this build");
    }

    int64_t id = 0;
    unsigned version = 0;
    esc_error_clear(&err);
    if (!schema_ok || !kr) {
        report(arg, ESC_CHECK_SKIPPED, "sealed data", "needs the data key and the migrations");
    } else if (escp_customer_try_open(db, kr, &id, &version, &err) != 0) {
        report(arg, ESC_CHECK_FAIL, "sealed data", err.message);
        failed++;
    } else if (id == 0) {
        report(arg, ESC_CHECK_OK, "sealed data", "no sealed customer record yet to try the key on");
    } else {
        snprintf(msg, sizeof msg, "ticket %" PRId64 "'s customer record (key version %u) opens "
                 "with this key file", id, version);
        report(arg, ESC_CHECK_OK, "sealed data", msg);
    }
    escp_keyring_free(kr);
    return failed;
}
