/* keys.h — principals for the command line (`escalated keys`): each call
 * opens a pool of one connection to conninfo for its duration and runs the
 * same use case as the HTTP routes (service/principals.c), its audit record
 * written with no actor and via "cli".  Usable before any server runs. */
#ifndef ESCALATED_KEYS_H
#define ESCALATED_KEYS_H

#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "core/model.h"

/* A new principal; returns its token (malloc'd; shown once, only its SHA-256
 * is stored).  tier is ESC_TIER_NONE unless role is agent; expires_at is
 * RFC 3339 in the future, or NULL for none.  *id_out (may be NULL). */
char *esc_keys_create(const char *conninfo, const char *name, enum esc_role role,
                      enum esc_tier tier, const char *expires_at, int64_t *id_out,
                      esc_error_t *err);
/* Every principal, oldest first: an array of principal objects (docs/api.md
 * "Principals"; new reference). */
json_t *esc_keys_list(const char *conninfo, esc_error_t *err);
/* Revoke principal id (reason may be NULL): the principal after it (new
 * reference).  A principal revoked already is answered as it is; the last
 * active admin is refused (ESC_ERR_CONFLICT), as over HTTP. */
json_t *esc_keys_revoke(const char *conninfo, int64_t id, const char *reason, esc_error_t *err);

#endif
