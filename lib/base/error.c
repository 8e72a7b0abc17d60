/* error.c — the error struct and the one map from codes to HTTP statuses. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

void esc_error_set(esc_error_t *err, esc_code code, const char *field, const char *fmt, ...)
{
    if (!err || err->code != ESC_OK)
        return; /* error already set */
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void esc_error_clear(esc_error_t *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

static const struct {
    const char *name;
    int status;
} codes[] = {
    [ESC_OK] = {"ok", 200},
    [ESC_ERR_INVALID_JSON] = {"invalid_json", 400},
    [ESC_ERR_VALIDATION] = {"validation_failed", 400},
    [ESC_ERR_UNAUTHENTICATED] = {"unauthenticated", 401},
    [ESC_ERR_FORBIDDEN] = {"forbidden", 403},
    [ESC_ERR_NOT_FOUND] = {"not_found", 404},
    [ESC_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405},
    [ESC_ERR_INVALID_TRANSITION] = {"invalid_transition", 409},
    [ESC_ERR_IDEMPOTENCY_CONFLICT] = {"idempotency_conflict", 409},
    [ESC_ERR_CONFLICT] = {"conflict", 409},
    [ESC_ERR_VERSION_MISMATCH] = {"version_mismatch", 412},
    [ESC_ERR_PAYLOAD_TOO_LARGE] = {"payload_too_large", 413},
    [ESC_ERR_UNSUPPORTED_MEDIA] = {"unsupported_media_type", 415},
    [ESC_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [ESC_ERR_UNAVAILABLE] = {"unavailable", 503},
    [ESC_ERR_INTERNAL] = {"internal", 500},
    [ESC_ERR_GONE] = {"gone", 410},
};

const char *esc_code_name(esc_code code)
{
    if ((unsigned)code >= sizeof codes / sizeof codes[0])
        return "internal";
    return codes[code].name;
}

int esc_code_http_status(esc_code code)
{
    if ((unsigned)code >= sizeof codes / sizeof codes[0])
        return 500;
    return codes[code].status;
}
