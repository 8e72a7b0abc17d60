/* validate.h — PURE validation of parsed request bodies: no request, no
 * database, no clock.  The api/ handlers call these after the HTTP layer has
 * parsed the body into a json_t; tests/unit/test_validation.c runs them
 * without a server.
 *
 * Each fallible function returns 0, or -1 with a validation error in *err
 * naming the field at fault (err non-NULL, and clear on entry: the first
 * error wins).  Strings put in the output structs are borrowed from the
 * json_t they came from and live as long as it does. */
#ifndef ESCALATED_CORE_VALIDATE_H
#define ESCALATED_CORE_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "core/model.h"
#include "core/ticket.h"

/* 0 when every key of obj is one of `allowed` (NULL-terminated); else a
 * validation error whose field is prefix + the first unknown key. */
int escp_only_keys(json_t *obj, const char *const *allowed, const char *prefix, esc_error_t *err);

/* A positive decimal id of at most 18 digits and nothing else, or 0. */
int64_t escp_parse_id(const char *s);

/* The POST /v1/tickets body into *nt: severity and channel defaulted,
 * description "" when absent.  The Idempotency-Key is the handler's. */
int escp_ticket_body_parse(json_t *b, struct escp_new_ticket *nt, esc_error_t *err);

/* An action's body into *a.  ESC_ERR_NOT_FOUND for an action that has no
 * route (create, or out of range). */
int escp_action_body_parse(enum esc_action action, json_t *b, struct escp_action_args *a,
                           esc_error_t *err);

/* obj[key] as a string of min_chars..max_chars characters (UTF-8 code
 * points) into *out (borrowed), NULL when absent or null and not required;
 * the field of an error is key. */
int escp_body_str(json_t *obj, const char *key, bool required, size_t min_chars, size_t max_chars,
                  const char **out, esc_error_t *err);

#endif
