/* validate.c — the request bodies' rules (docs/api.md), PURE: field by
 * field, the first fault named in the error.  Lengths count characters
 * (UTF-8 code points), not bytes, as the documentation states them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "core/pii.h"
#include "core/validate.h"

int escp_only_keys(json_t *obj, const char *const *allowed, const char *prefix, esc_error_t *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            /* The field goes back to the client as a JSON string: a long key
             * is cut at a character boundary (never inside a UTF-8
             * sequence), and the empty key is shown as "" rather than as no
             * field at all. */
            char field[64];
            const char *shown = *key ? key : "\"\"";
            int n = (int)strlen(shown);
            if (n > 48)
                for (n = 48; n > 0 && ((unsigned char)shown[n] & 0xC0) == 0x80; n--)
                    ;
            snprintf(field, sizeof field, "%s%.*s", prefix, n, shown);
            esc_error_set(err, ESC_ERR_VALIDATION, field, "unknown field");
            return -1;
        }
    }
    return 0;
}

enum { OPTIONAL = 0, REQUIRED = 1 };

/* A string field of 1..max characters (min_chars 0 allows ""). NULL/absent -> *out = NULL. */
static int get_str(json_t *obj, const char *key, const char *field, int required, size_t min_chars,
                   size_t max_chars, const char **out, esc_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            esc_error_set(err, ESC_ERR_VALIDATION, field, "%s is required", field);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be a string", field);
        return -1;
    }
    size_t n = esc_utf8_length(json_string_value(v));
    if (n < min_chars || n > max_chars) {
        esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be %zu to %zu characters", field,
                      min_chars, max_chars);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_enum(json_t *obj, const char *key, int (*valid)(const char *), const char *dflt,
                    int required, const char **out, esc_error_t *err)
{
    if (get_str(obj, key, key, required, 1, 64, out, err) != 0)
        return -1;
    if (!*out) {
        *out = dflt;
        return 0;
    }
    if (!valid(*out)) {
        esc_error_set(err, ESC_ERR_VALIDATION, key, "%s has an unknown value", key);
        return -1;
    }
    return 0;
}

static int severity_valid(const char *s) { return esc_severity_from_name(s) >= 0; }

static int phone_valid(const char *s)
{
    int digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits++;
        else if (!strchr("+-() .", *s))
            return 0;
    }
    return digits >= 3;
}

static int email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@') && !strpbrk(s, " \t\r\n<>");
}

int64_t escp_parse_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return strtoll(s, NULL, 10);
}

int escp_ticket_body_parse(json_t *b, struct escp_new_ticket *nt, esc_error_t *err)
{
    static const char *const keys[] = {"subject", "description", "severity", "channel", "category",
                                       "customer", "external_ref", NULL};
    static const char *const ckeys[] = {"name", "phone", "email", "id_number", "bank_card",
                                        NULL};

    if (escp_only_keys(b, keys, "", err) != 0 ||
        get_str(b, "subject", "subject", REQUIRED, 1, 200, &nt->subject, err) != 0 ||
        get_str(b, "description", "description", OPTIONAL, 0, 10000, &nt->description, err) != 0 ||
        get_enum(b, "severity", severity_valid, "normal", OPTIONAL, &nt->severity, err) != 0 ||
        get_enum(b, "channel", esc_channel_valid, "other", OPTIONAL, &nt->channel, err) != 0 ||
        get_str(b, "category", "category", OPTIONAL, 1, 64, &nt->category, err) != 0 ||
        get_str(b, "external_ref", "external_ref", OPTIONAL, 1, 128, &nt->external_ref, err) != 0)
        return -1;
    if (!nt->description)
        nt->description = "";
    json_t *cust = json_object_get(b, "customer");
    if (cust && !json_is_null(cust)) {
        if (!json_is_object(cust)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer", "customer must be an object");
            return -1;
        }
        if (escp_only_keys(cust, ckeys, "customer.", err) != 0 ||
            get_str(cust, "name", "customer.name", OPTIONAL, 1, 200, &nt->customer_name, err) != 0 ||
            get_str(cust, "phone", "customer.phone", OPTIONAL, 1, 32, &nt->customer_phone, err) != 0 ||
            get_str(cust, "email", "customer.email", OPTIONAL, 3, 254, &nt->customer_email, err) != 0 ||
            get_str(cust, "id_number", "customer.id_number", OPTIONAL, 1, 64, &nt->customer_id_number, err) != 0 ||
            get_str(cust, "bank_card", "customer.bank_card", OPTIONAL, 1, 64, &nt->customer_bank_card, err) != 0)
            return -1;
        /* GB 11643: 18 characters with the check character, or a legacy
         * 15-digit number (core/pii.h) */
        if (nt->customer_id_number && !esc_id_number_valid(nt->customer_id_number)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer.id_number",
                          "customer.id_number is not a valid identity number (GB 11643: 18 "
                          "characters with a correct check character, or 15 digits)");
            return -1;
        }
        if (nt->customer_bank_card && !esc_bank_card_valid(nt->customer_bank_card)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer.bank_card",
                          "customer.bank_card must be 12 to 19 digits, optionally with spaces or dashes");
            return -1;
        }
        if (nt->customer_phone && !phone_valid(nt->customer_phone)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer.phone",
                          "customer.phone must be digits, optionally with + - ( ) . and spaces");
            return -1;
        }
        if (nt->customer_email && !email_valid(nt->customer_email)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "customer.email", "customer.email is not an email address");
            return -1;
        }
    }
    return 0;
}

/* b["plan"] = {"solution", "promised_at"} into a (absent: no plan, unless
 * required).  Whether promised_at is in the future and within
 * ESCP_PLAN_HORIZON_DAYS is the service's to check, by the database's clock. */
static int get_plan(json_t *b, int required, struct escp_action_args *a, esc_error_t *err)
{
    json_t *p = json_object_get(b, "plan");
    const char *at;
    a->plan_solution = NULL;
    a->plan_promised_at = ESC_TIME_NULL;
    if (!p || json_is_null(p)) {
        if (required)
            esc_error_set(err, ESC_ERR_VALIDATION, "plan", "plan is required");
        return required ? -1 : 0;
    }
    if (!json_is_object(p)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "plan",
                      "plan must be an object with solution and promised_at");
        return -1;
    }
    if (escp_only_keys(p, (const char *const[]){"solution", "promised_at", NULL}, "plan.", err) != 0 ||
        get_str(p, "solution", "plan.solution", REQUIRED, 1, 2000, &a->plan_solution, err) != 0 ||
        get_str(p, "promised_at", "plan.promised_at", REQUIRED, 1, 64, &at, err) != 0)
        return -1;
    if (esc_time_parse(at, &a->plan_promised_at) != 0) {
        a->plan_solution = NULL;
        esc_error_set(err, ESC_ERR_VALIDATION, "plan.promised_at",
                      "plan.promised_at must be an RFC 3339 time with a zone");
        return -1;
    }
    return 0;
}

int escp_action_body_parse(enum esc_action action, json_t *b, struct escp_action_args *a,
                           esc_error_t *err)
{
    a->plan_solution = NULL;
    a->plan_promised_at = ESC_TIME_NULL;
    switch (action) {
    case ESC_ACT_ACKNOWLEDGE:
        if (escp_only_keys(b, (const char *const[]){"plan", NULL}, "", err) == 0)
            get_plan(b, OPTIONAL, a, err);
        break;
    case ESC_ACT_PLAN:
        if (escp_only_keys(b, (const char *const[]){"plan", NULL}, "", err) == 0)
            get_plan(b, REQUIRED, a, err);
        break;
    case ESC_ACT_ESCALATE:
        if (escp_only_keys(b, (const char *const[]){"reason", "plan", NULL}, "", err) == 0 &&
            get_str(b, "reason", "reason", REQUIRED, 1, 2000, &a->reason, err) == 0)
            get_plan(b, OPTIONAL, a, err);
        break;
    case ESC_ACT_RESUME:
        escp_only_keys(b, (const char *const[]){NULL}, "", err);
        break;
    case ESC_ACT_RETURN:
    case ESC_ACT_WAIT:
    case ESC_ACT_REOPEN:
        if (escp_only_keys(b, (const char *const[]){"reason", NULL}, "", err) == 0)
            get_str(b, "reason", "reason", REQUIRED, 1, 2000, &a->reason, err);
        break;
    case ESC_ACT_RESOLVE:
        if (escp_only_keys(b, (const char *const[]){"resolution", "root_cause", NULL}, "", err) == 0 &&
            get_str(b, "resolution", "resolution", REQUIRED, 1, 10000, &a->resolution, err) == 0)
            get_enum(b, "root_cause", esc_root_cause_valid, NULL, REQUIRED, &a->root_cause, err);
        break;
    case ESC_ACT_CLOSE: {
        json_t *s = json_object_get(b, "satisfaction");
        if (escp_only_keys(b, (const char *const[]){"satisfaction", NULL}, "", err) != 0)
            break;
        if (!json_is_object(s)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "satisfaction",
                          "satisfaction must be an object with result, score and feedback");
            break;
        }
        if (escp_only_keys(s, (const char *const[]){"result", "score", "feedback", NULL},
                      "satisfaction.", err) != 0 ||
            get_str(s, "result", "satisfaction.result", REQUIRED, 1, 32, &a->sat_result, err) != 0 ||
            get_str(s, "feedback", "satisfaction.feedback", OPTIONAL, 0, 2000, &a->sat_feedback, err) != 0)
            break;
        if (strcmp(a->sat_result, "satisfied") != 0 && strcmp(a->sat_result, "unsatisfied") != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "satisfaction.result",
                          "satisfaction.result must be satisfied or unsatisfied");
            break;
        }
        json_t *score = json_object_get(s, "score");
        if (score && !json_is_null(score)) {
            if (!json_is_integer(score) || json_integer_value(score) < 1 || json_integer_value(score) > 5) {
                esc_error_set(err, ESC_ERR_VALIDATION, "satisfaction.score",
                              "satisfaction.score must be an integer from 1 to 5");
                break;
            }
            a->sat_score = (int)json_integer_value(score);
        }
        break;
    }
    case ESC_ACT_COMMENT:
        if (escp_only_keys(b, (const char *const[]){"body", NULL}, "", err) == 0)
            get_str(b, "body", "body", REQUIRED, 1, 10000, &a->body, err);
        break;
    default:
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such action");
    }
    return err->code == ESC_OK ? 0 : -1;
}

/* For the bodies of other pure modules (core/problem.c): get_str's rules. */
int escp_body_str(json_t *obj, const char *key, bool required, size_t min_chars, size_t max_chars,
                  const char **out, esc_error_t *err)
{
    return get_str(obj, key, key, required ? REQUIRED : OPTIONAL, min_chars, max_chars, out, err);
}
