/* fuzz_body.c — the request body rules (lib/core/validate.c) on arbitrary
 * bytes.  The first byte picks the body: 0 (or any multiple of
 * ESC_ACT__COUNT) the POST /v1/tickets body, else the action of that number;
 * the rest is read as JSON with the flags the server reads bodies with
 * (http/request.c: duplicates refused, no NUL in strings), and must be an
 * object, as the server requires before validating.
 *
 * Invariants: the parser returns 0 with no error set, or -1 with a
 * validation error naming a field and saying something, never a mixture;
 * when it accepts, every string it hands on is valid UTF-8 within the length
 * docs/api.md gives (counted in code points by this file's own counter) and
 * every enumerated value is one of the known names.  LeakSanitizer checks
 * that nothing is kept. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/model.h"
#include "core/ticket.h"
#include "core/validate.h"
#include "fuzz.h"

/* Code points of valid UTF-8 (fuzz_utf8_valid has checked it). */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s is NULL (when allowed), or valid UTF-8 of min..max code points. */
static void check_str(const char *s, int nullable, size_t min, size_t max)
{
    if (!s) {
        CHECK(nullable);
        return;
    }
    CHECK(fuzz_utf8_valid((const unsigned char *)s, strlen(s)));
    size_t n = chars(s);
    CHECK(n >= min && n <= max);
}

static void check_ticket(const struct escp_new_ticket *nt)
{
    check_str(nt->subject, 0, 1, 200);
    check_str(nt->description, 0, 0, 10000);
    CHECK(nt->severity && esc_severity_from_name(nt->severity) >= 0);
    CHECK(strcmp(esc_severity_name((enum esc_severity)esc_severity_from_name(nt->severity)),
                 nt->severity) == 0);
    CHECK(nt->channel && esc_channel_valid(nt->channel));
    check_str(nt->category, 1, 1, 64);
    check_str(nt->external_ref, 1, 1, 128);
    check_str(nt->customer_name, 1, 1, 200);
    check_str(nt->customer_phone, 1, 1, 32);
    check_str(nt->customer_email, 1, 3, 254);
    check_str(nt->customer_id_number, 1, 1, 64);
    if (nt->customer_phone) {
        int digits = 0;
        for (const char *p = nt->customer_phone; *p; p++) {
            CHECK((*p >= '0' && *p <= '9') || strchr("+-() .", *p));
            digits += *p >= '0' && *p <= '9';
        }
        CHECK(digits >= 3);
    }
    if (nt->customer_email) {
        const char *at = strchr(nt->customer_email, '@');
        CHECK(at && at != nt->customer_email && at[1] && !strchr(at + 1, '@'));
    }
}

static void check_action(enum esc_action act, const struct escp_action_args *a)
{
    switch (act) {
    case ESC_ACT_ESCALATE:
    case ESC_ACT_RETURN:
    case ESC_ACT_WAIT:
    case ESC_ACT_REOPEN:
        check_str(a->reason, 0, 1, 2000);
        break;
    case ESC_ACT_RESOLVE:
        check_str(a->resolution, 0, 1, 10000);
        CHECK(a->root_cause && esc_root_cause_valid(a->root_cause));
        check_str(a->root_cause, 0, 1, 64);
        break;
    case ESC_ACT_CLOSE:
        CHECK(a->sat_result &&
              (strcmp(a->sat_result, "satisfied") == 0 || strcmp(a->sat_result, "unsatisfied") == 0));
        check_str(a->sat_feedback, 1, 0, 2000);
        CHECK(a->sat_score >= 0 && a->sat_score <= 5); /* 0 = none given */
        break;
    case ESC_ACT_COMMENT:
        check_str(a->body, 0, 1, 10000);
        break;
    default: /* acknowledge, resume: no fields */
        CHECK(!a->reason && !a->body && !a->resolution && !a->root_cause && !a->sat_result);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum esc_action act = (enum esc_action)(data[0] % ESC_ACT__COUNT);
    json_error_t jerr;
    json_t *b = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                           &jerr);
    if (!b)
        return 0;
    if (!json_is_object(b)) {
        json_decref(b);
        return 0;
    }
    esc_error_t err = {0};
    int rc;
    if (act == ESC_ACT_CREATE) {
        struct escp_new_ticket nt;
        memset(&nt, 0, sizeof nt);
        rc = escp_ticket_body_parse(b, &nt, &err);
        if (rc == 0)
            check_ticket(&nt);
    } else {
        struct escp_action_args a;
        memset(&a, 0, sizeof a);
        a.if_match = -1;
        rc = escp_action_body_parse(act, b, &a, &err);
        if (rc == 0)
            check_action(act, &a);
    }
    CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        CHECK(err.code == ESC_OK && err.field[0] == '\0' && err.message[0] == '\0');
    } else {
        CHECK(err.code == ESC_ERR_VALIDATION);
        CHECK(err.field[0] != '\0' && err.message[0] != '\0');
        /* both go back to the client in a JSON string */
        CHECK(fuzz_utf8_valid((const unsigned char *)err.field, strlen(err.field)));
        CHECK(fuzz_utf8_valid((const unsigned char *)err.message, strlen(err.message)));
    }
    json_decref(b);
    return 0;
}
