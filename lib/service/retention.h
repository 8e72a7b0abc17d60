/* retention.h — the retention period and the anonymisation run for the
 * command line (`escalated retention`): each call opens a pool of one
 * connection to conninfo for its duration and runs the same use case as
 * the HTTP routes (service/retention.c), with no actor.  The answers are
 * those of docs/api.md "Retention" (new references, or NULL with err). */
#ifndef ESCALATED_RETENTION_H
#define ESCALATED_RETENTION_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"

json_t *esc_retention_get(const char *conninfo, esc_error_t *err);
/* ESC_ERR_VALIDATION (field months) under 4 or over 1200 months. */
json_t *esc_retention_set(const char *conninfo, int64_t months, esc_error_t *err);
/* dry_run: what is due, the first `limit` tickets listed, nothing changed.
 * Else anonymise every due ticket, in transactions of 500, until none is
 * left (the answer lists none: the history of each records it). */
json_t *esc_retention_run(const char *conninfo, bool dry_run, int limit, esc_error_t *err);

#endif
