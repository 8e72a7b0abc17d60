/* escalated — the one error struct, after jansson's json_error_t.
 *
 * Fallible functions return 0 / -1 (or a pointer / NULL) and take
 * `esc_error_t *err` last.  esc_error_set() is NULL-safe and keeps the first
 * error set: later calls do nothing while err->code != ESC_OK.  `message` is
 * always safe to show to a client (no SQL text, no addresses).
 */
#ifndef ESCALATED_ERROR_H
#define ESCALATED_ERROR_H

#include <stddef.h>

typedef enum esc_code {
    ESC_OK = 0,
    ESC_ERR_INVALID_JSON,          /* 400 invalid_json */
    ESC_ERR_VALIDATION,            /* 400 validation_failed */
    ESC_ERR_UNAUTHENTICATED,       /* 401 unauthenticated */
    ESC_ERR_FORBIDDEN,             /* 403 forbidden */
    ESC_ERR_NOT_FOUND,             /* 404 not_found */
    ESC_ERR_METHOD_NOT_ALLOWED,    /* 405 method_not_allowed */
    ESC_ERR_INVALID_TRANSITION,    /* 409 invalid_transition */
    ESC_ERR_IDEMPOTENCY_CONFLICT,  /* 409 idempotency_conflict */
    ESC_ERR_CONFLICT,              /* 409 conflict (unique value taken, e.g. external_ref) */
    ESC_ERR_VERSION_MISMATCH,      /* 412 version_mismatch */
    ESC_ERR_PAYLOAD_TOO_LARGE,     /* 413 payload_too_large */
    ESC_ERR_UNSUPPORTED_MEDIA,     /* 415 unsupported_media_type */
    ESC_ERR_RATE_LIMITED,          /* 429 rate_limited (too many failed tokens from one address) */
    ESC_ERR_UNAVAILABLE,           /* 503 unavailable */
    ESC_ERR_INTERNAL,              /* 500 internal */
    ESC_ERR_GONE                   /* 410 gone (the customer's data was anonymised) */
} esc_code;

typedef struct esc_error {
    esc_code code;
    char field[64];     /* "" when no single field is at fault */
    char message[256];
} esc_error_t;

/* Set *err unless it is NULL or already holds an error. `field` may be NULL. */
void esc_error_set(esc_error_t *err, esc_code code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void esc_error_clear(esc_error_t *err);

/* "validation_failed", "not_found", ... */
const char *esc_code_name(esc_code code);
/* The one map from error code to HTTP status. */
int esc_code_http_status(esc_code code);

#endif
