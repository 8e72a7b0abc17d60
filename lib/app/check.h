/* escalated — `escalated check`: the data key file and the database, checked
 * as `serve` would use them, without serving (docs/operations.md#escalated-check).
 * The settings, the TLS files and the listen address are daemon/main.c's. */
#ifndef ESCALATED_CHECK_H
#define ESCALATED_CHECK_H

enum esc_check_status {
    ESC_CHECK_OK,
    ESC_CHECK_FAIL,    /* counted: check exits 1 */
    ESC_CHECK_WARN,    /* worth a look, not counted (the listen address in use) */
    ESC_CHECK_SKIPPED  /* it needs a check that failed */
};

/* Called once per check, in order: what was checked ("database", ...), its
 * status, and a sentence for an operator. */
typedef void (*esc_check_report_fn)(void *arg, enum esc_check_status status, const char *what,
                                    const char *detail);

/* Check the data key file (it loads), the database (it answers; every
 * migration of this build is applied and none unknown to it; every statement
 * prepares and the vocabulary matches) and that the key opens the newest
 * sealed customer record.  A check that needs one that failed is reported
 * SKIPPED.  Returns the number of checks that failed. */
int esc_check_run(const char *db, const char *data_key_file, esc_check_report_fn report, void *arg);

#endif
