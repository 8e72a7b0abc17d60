/* test_validation.c — the pure validation the HTTP API relies on, without a
 * server or a database: escp_only_keys, escp_parse_id, esc_utf8_length, the
 * JSON body gate of escp_body_object (invalid UTF-8, duplicate keys), the
 * wire names of the model (SPEC section 2/3), and the create and action body
 * validators of lib/api_tickets.c (escp_ticket_body_parse,
 * escp_action_body_parse).
 *
 * The SPEC names are spelled out here, not taken from esc_*_name, so that a
 * renamed or missing name shows up as a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "core/mask.h"
#include "core/model.h"
#include "core/validate.h"
#include "http/http.h" /* escp_body_object: the JSON gate of a request */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------- helpers */

/* `unit` repeated n times; malloc'd. */
static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

/* A body from JSON text (the tests' own literals must parse). */
static json_t *body(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fail_msg("test body does not parse: %s: %s", text, jerr.text);
    return j;
}

/* {"subject": "x", key: <string of n units>} */
static json_t *body_with(const char *key, const char *unit, size_t n)
{
    char *s = repeat(unit, n);
    json_t *b = json_pack("{s:s, s:s}", "subject", "x", key, s);
    free(s);
    assert_non_null(b);
    return b;
}

/* {"subject": "x", "customer": {key: <string of n units>}} */
static json_t *customer_with(const char *key, const char *unit, size_t n)
{
    char *s = repeat(unit, n);
    json_t *b = json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", key, s);
    free(s);
    assert_non_null(b);
    return b;
}

#define EXPECT_OK(rc, err)                                                                          \
    do {                                                                                            \
        if ((rc) != 0 || (err).code != ESC_OK)                                                      \
            fail_msg("expected success, got rc %d code %s field '%s': %s", (rc),                    \
                     esc_code_name((err).code), (err).field, (err).message);                        \
    } while (0)

#define EXPECT_ERR(rc, err, want_code, want_field)                                                  \
    do {                                                                                            \
        assert_int_equal((rc), -1);                                                                 \
        if ((err).code != (want_code))                                                              \
            fail_msg("expected %s, got %s (field '%s': %s)", esc_code_name(want_code),              \
                     esc_code_name((err).code), (err).field, (err).message);                        \
        assert_string_equal((err).field, (want_field));                                             \
        assert_true((err).message[0] != '\0');                                                      \
    } while (0)

/* Validate a create body; the body is released. */
static int create(json_t *b, struct escp_new_ticket *nt, esc_error_t *err)
{
    memset(nt, 0, sizeof *nt);
    esc_error_clear(err);
    int rc = escp_ticket_body_parse(b, nt, err);
    json_decref(b);
    return rc;
}

static void create_ok(json_t *b)
{
    struct escp_new_ticket nt;
    esc_error_t err;
    int rc = create(b, &nt, &err);
    EXPECT_OK(rc, err);
}

static void create_refused(json_t *b, const char *field)
{
    struct escp_new_ticket nt;
    esc_error_t err;
    int rc = create(b, &nt, &err);
    EXPECT_ERR(rc, err, ESC_ERR_VALIDATION, field);
}

/* Validate an action body given as JSON text.  The strings in *a are
 * borrowed from the body, which is left in *held for the caller to release. */
static int action(enum esc_action act, const char *text, struct escp_action_args *a, esc_error_t *err,
                  json_t **held)
{
    json_t *b = body(text);
    memset(a, 0, sizeof *a);
    a->if_match = -1;
    esc_error_clear(err);
    int rc = escp_action_body_parse(act, b, a, err);
    *held = b;
    return rc;
}

static void action_ok(enum esc_action act, const char *text)
{
    struct escp_action_args a;
    esc_error_t err;
    json_t *held;
    int rc = action(act, text, &a, &err, &held);
    json_decref(held);
    EXPECT_OK(rc, err);
}

static void action_refused(enum esc_action act, const char *text, const char *field)
{
    struct escp_action_args a;
    esc_error_t err;
    json_t *held;
    int rc = action(act, text, &a, &err, &held);
    json_decref(held);
    EXPECT_ERR(rc, err, ESC_ERR_VALIDATION, field);
}

/* An action body with key = <string of n units> inside `wrap` ("%s" = the string). */
static void action_len(enum esc_action act, const char *fmt, const char *unit, size_t n, int want_ok,
                       const char *field)
{
    char *s = repeat(unit, n);
    size_t len = strlen(fmt) + strlen(s) + 1;
    char *text = malloc(len);
    assert_non_null(text);
    snprintf(text, len, fmt, s);
    if (want_ok)
        action_ok(act, text);
    else
        action_refused(act, text, field);
    free(text);
    free(s);
}

/* ------------------------------------------------------- escp_only_keys */

static void test_only_keys_allowed(void **state)
{
    (void)state;
    static const char *const allowed[] = {"a", "b", "c", NULL};
    esc_error_t err;
    json_t *o;

    o = body("{\"a\": 1, \"c\": null}");
    esc_error_clear(&err);
    assert_int_equal(escp_only_keys(o, allowed, "", &err), 0);
    assert_int_equal(err.code, ESC_OK);
    assert_string_equal(err.field, "");
    json_decref(o);

    o = body("{}");
    esc_error_clear(&err);
    assert_int_equal(escp_only_keys(o, (const char *const[]){NULL}, "", &err), 0);
    assert_int_equal(err.code, ESC_OK);
    json_decref(o);
}

static void test_only_keys_unknown(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", "phone", NULL};
    esc_error_t err;
    json_t *o;

    /* the first unknown key in the body's order is named */
    o = body("{\"name\": \"x\", \"zzz\": 1, \"aaa\": 2}");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "", &err), err, ESC_ERR_VALIDATION, "zzz");
    json_decref(o);

    /* nested objects carry their prefix */
    o = body("{\"phone\": \"1\", \"address\": \"x\"}");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "customer.", &err), err, ESC_ERR_VALIDATION,
               "customer.address");
    json_decref(o);

    /* names are matched exactly: case and prefixes of allowed names count as unknown */
    o = body("{\"Name\": \"x\"}");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "", &err), err, ESC_ERR_VALIDATION, "Name");
    json_decref(o);
    o = body("{\"nam\": \"x\"}");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "", &err), err, ESC_ERR_VALIDATION, "nam");
    json_decref(o);

    /* nothing allowed: any key is refused */
    o = body("{\"reason\": \"x\"}");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, (const char *const[]){NULL}, "", &err), err, ESC_ERR_VALIDATION,
               "reason");
    json_decref(o);

    /* a long key is cut to 48 bytes after the prefix, so the field always fits */
    char *key = repeat("k", 100);
    o = json_pack("{s:i}", key, 1);
    esc_error_clear(&err);
    char *want = repeat("k", 48);
    char want_field[64];
    snprintf(want_field, sizeof want_field, "satisfaction.%s", want);
    EXPECT_ERR(escp_only_keys(o, allowed, "satisfaction.", &err), err, ESC_ERR_VALIDATION, want_field);
    json_decref(o);
    free(want);
    free(key);

    /* an error already set is kept (the first error wins) */
    o = body("{\"other\": 1}");
    esc_error_clear(&err);
    esc_error_set(&err, ESC_ERR_NOT_FOUND, "earlier", "earlier");
    assert_int_equal(escp_only_keys(o, allowed, "", &err), -1);
    assert_int_equal(err.code, ESC_ERR_NOT_FOUND);
    assert_string_equal(err.field, "earlier");
    json_decref(o);
}

/* -------------------------------------------------------- escp_parse_id */

static void test_parse_id(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"1", 1},
        {"42", 42},
        {"007", 7},                                 /* digits only: leading zeros are digits */
        {"123456789012345678", 123456789012345678}, /* 18 digits: the longest accepted */
        {"999999999999999999", 999999999999999999},
        {"0", 0},                                   /* not an id (callers refuse <= 0) */
        {"", 0},
        {"+1", 0},
        {"-1", 0},
        {" 1", 0},
        {"1 ", 0},
        {"1a", 0},
        {"a1", 0},
        {"0x10", 0},
        {"1.0", 0},
        {"1e3", 0},
        {"1,000", 0},
        {"\xef\xbc\x91", 0},                        /* full-width digit one */
        {"1000000000000000000", 0},                 /* 19 digits */
        {"9223372036854775807", 0},                 /* INT64_MAX */
        {"9223372036854775808", 0},                 /* overflows int64 */
        {"99999999999999999999999999", 0},
    };
    int failures = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        int64_t got = escp_parse_id(cases[i].in);
        if (got != cases[i].want) {
            print_error("escp_parse_id(\"%s\") = %lld, want %lld\n", cases[i].in, (long long)got,
                        (long long)cases[i].want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    assert_int_equal(escp_parse_id(NULL), 0);
    /* an embedded NUL ends the string: what follows is not read */
    assert_int_equal(escp_parse_id("12\0x"), 12);
}

/* ------------------------------------------------------------ UTF-8 */

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(esc_utf8_length(NULL), 0);
    assert_int_equal(esc_utf8_length(""), 0);
    assert_int_equal(esc_utf8_length("abc"), 3);
    assert_int_equal(esc_utf8_length("caf\xc3\xa9"), 4);                 /* 2-byte é */
    assert_int_equal(strlen("投诉处理"), 12);
    assert_int_equal(esc_utf8_length("投诉处理"), 4);                    /* 3-byte CJK */
    assert_int_equal(strlen("\xf0\x9f\x98\x80"), 4);
    assert_int_equal(esc_utf8_length("\xf0\x9f\x98\x80"), 1);            /* 4-byte emoji */
    assert_int_equal(esc_utf8_length("a投\xf0\x9f\x98\x80" "b\xc3\xa9"), 5);
    char *s = repeat("投", 200);
    assert_int_equal(strlen(s), 600);
    assert_int_equal(esc_utf8_length(s), 200);
    free(s);
    /* malformed input still advances one byte at a time, never skipping a NUL */
    assert_int_equal(esc_utf8_length("\x80"), 1);                        /* stray continuation */
    assert_int_equal(esc_utf8_length("\xe6\x8a"), 2);                    /* truncated 3-byte */
    assert_int_equal(esc_utf8_length("\xf0\x9f\x98"), 3);                /* truncated 4-byte */
    assert_int_equal(esc_utf8_length("\xff" "a"), 2);                    /* never a lead byte */
}

/* The UTF-8 gate of the API is the JSON parser: escp_body_object (which
 * reads only body, body_len and err of the request) refuses invalid UTF-8,
 * duplicate keys and non-objects. */
static int load(const char *text, size_t len, bool allow_empty, esc_code *code, char *field)
{
    struct escp_req r;
    memset(&r, 0, sizeof r);
    r.body = (char *)text;
    r.body_len = len;
    json_t *j = escp_body_object(&r, allow_empty);
    *code = r.err.code;
    strcpy(field, r.err.field);
    int ok = j != NULL;
    json_decref(j);
    return ok;
}
#define LOAD(lit, allow, code, field) load((lit), sizeof(lit) - 1, (allow), (code), (field))

static void test_body_gate(void **state)
{
    (void)state;
    esc_code code;
    char field[64];

    assert_true(LOAD("{\"subject\": \"投诉 \xf0\x9f\x98\x80\"}", false, &code, field));
    assert_int_equal(code, ESC_OK);
    assert_true(LOAD("{\"subject\": \"\\u6295\\ud83d\\ude00\"}", false, &code, field)); /* escapes */

    /* invalid UTF-8 inside a string: a stray continuation, a truncated
     * sequence, an overlong '/', a surrogate encoded directly */
    assert_false(LOAD("{\"subject\": \"\x80\"}", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    assert_false(LOAD("{\"subject\": \"\xe6\x8a\"}", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    assert_false(LOAD("{\"subject\": \"\xc0\xaf\"}", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    assert_false(LOAD("{\"subject\": \"\xed\xa0\x80\"}", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    /* a lone surrogate escape */
    assert_false(LOAD("{\"subject\": \"\\ud83d\"}", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    /* an embedded NUL escape (would cut the string in C) */
    assert_false(LOAD("{\"subject\": \"a\\u0000b\"}", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);

    assert_false(LOAD("{\"a\": 1, \"a\": 2}", false, &code, field)); /* duplicate key */
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    assert_false(LOAD("{\"a\": 1", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);

    assert_false(LOAD("[1, 2]", false, &code, field));
    assert_int_equal(code, ESC_ERR_VALIDATION);
    assert_false(LOAD("\"text\"", false, &code, field));
    assert_int_equal(code, ESC_ERR_VALIDATION);
    assert_false(LOAD("null", false, &code, field));
    assert_int_equal(code, ESC_ERR_VALIDATION);

    assert_false(LOAD("", false, &code, field));
    assert_int_equal(code, ESC_ERR_INVALID_JSON);
    assert_true(LOAD("", true, &code, field));
    assert_int_equal(code, ESC_OK);
}

/* ------------------------------------------------------- model names */

static const char *const spec_tiers[] = {"line-1", "line-2", "line-3"};
static const char *const spec_states[] = {"awaiting_ack", "acknowledged", "waiting_customer",
                                          "resolved", "closed"};
static const char *const spec_severities[] = {"normal", "major"};
static const char *const spec_channels[] = {"phone", "wechat", "email", "web", "letter", "walk_in", "other"};
static const char *const spec_roles[] = {"frontdesk", "agent", "manager", "admin"};
static const char *const spec_root_causes[] = {"customer_side", "operations", "product_defect", "other"};
static const char *const spec_actions[] = {"create", "acknowledge", "escalate", "return", "wait",
                                           "resume", "resolve", "close", "reopen", "comment",
                                           "plan"};

/* Names no conversion may accept: unknown, wrong case, padded, empty. */
static const char *const bad_names[] = {
    "", " ", "unknown", "LINE-1", "Line-1", "line1", "line-0", "line-4", "line_1", " line-1",
    "line-1 ", "1", "Awaiting_Ack", "awaiting-ack", "AWAITING_ACK", "Normal", "MAJOR", "critical",
    "Phone", "walk-in", "WALK_IN", "Frontdesk", "ADMIN", "agent ", "Operations", "customer-side",
    "Create", "ACKNOWLEDGE", "ack", "escalated", "claim", "other\n",
};

/* For each name: name -> value -> name, and every bad name (and NULL) is -1. */
static void check_names(const char *what, const char *const *names, size_t n, int first,
                        int (*from)(const char *), const char *(*name_of)(int))
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        int v = from(names[i]);
        const char *back = v >= 0 ? name_of(v) : NULL;
        if (v != first + (int)i || !back || strcmp(back, names[i]) != 0) {
            print_error("%s: \"%s\" -> %d -> \"%s\"\n", what, names[i], v, back ? back : "(null)");
            failures++;
        }
    }
    for (size_t i = 0; i < COUNT(bad_names); i++) {
        /* a bad name that happens to be in this list is not bad for it */
        int listed = 0;
        for (size_t k = 0; k < n; k++)
            listed |= strcmp(bad_names[i], names[k]) == 0;
        if (!listed && from(bad_names[i]) != -1) {
            print_error("%s: \"%s\" accepted as %d\n", what, bad_names[i], from(bad_names[i]));
            failures++;
        }
    }
    if (from(NULL) != -1) {
        print_error("%s: NULL accepted\n", what);
        failures++;
    }
    /* no value beyond the SPEC's has a name */
    if (name_of(first + (int)n) != NULL || name_of(first - 1) != NULL || name_of(-1) != NULL) {
        print_error("%s: a value outside the SPEC has a name\n", what);
        failures++;
    }
    assert_int_equal(failures, 0);
}

static const char *tier_name(int v) { return esc_tier_name((enum esc_tier)v); }
static const char *state_name(int v) { return esc_state_name((enum esc_state)v); }
static const char *severity_name(int v) { return esc_severity_name((enum esc_severity)v); }
static const char *role_name(int v) { return esc_role_name((enum esc_role)v); }
static const char *action_name(int v) { return esc_action_name((enum esc_action)v); }

static void test_model_names(void **state)
{
    (void)state;
    assert_int_equal(ESC_STATE__COUNT, COUNT(spec_states));
    assert_int_equal(ESC_SEV__COUNT, COUNT(spec_severities));
    assert_int_equal(ESC_ROLE__COUNT, COUNT(spec_roles));
    assert_int_equal(ESC_ACT__COUNT, COUNT(spec_actions));

    check_names("tier", spec_tiers, COUNT(spec_tiers), ESC_TIER_LINE1, esc_tier_from_name, tier_name);
    check_names("state", spec_states, COUNT(spec_states), 0, esc_state_from_name, state_name);
    check_names("severity", spec_severities, COUNT(spec_severities), 0, esc_severity_from_name,
                severity_name);
    check_names("role", spec_roles, COUNT(spec_roles), 0, esc_role_from_name, role_name);
    check_names("action", spec_actions, COUNT(spec_actions), 0, esc_action_from_name, action_name);

    /* specific values the rest of the code relies on */
    assert_int_equal(esc_tier_from_name("line-3"), ESC_TIER_LINE3);
    assert_int_equal(esc_state_from_name("waiting_customer"), ESC_STATE_WAITING_CUSTOMER);
    assert_int_equal(esc_severity_from_name("major"), ESC_SEV_MAJOR);
    assert_int_equal(esc_role_from_name("admin"), ESC_ROLE_ADMIN);
    assert_int_equal(esc_action_from_name("return"), ESC_ACT_RETURN);
    assert_null(esc_tier_name(ESC_TIER_NONE));
}

static void test_tier_parse(void **state)
{
    (void)state;
    assert_int_equal(esc_tier_parse("line-1"), 1);
    assert_int_equal(esc_tier_parse("line-2"), 2);
    assert_int_equal(esc_tier_parse("line-3"), 3);
    assert_int_equal(esc_tier_parse("1"), 1);
    assert_int_equal(esc_tier_parse("2"), 2);
    assert_int_equal(esc_tier_parse("3"), 3);
    static const char *const bad[] = {"0", "4", "12", "01", "-1", "+1", " 1", "1 ", "", "Line-2", "two"};
    for (size_t i = 0; i < COUNT(bad); i++)
        if (esc_tier_parse(bad[i]) != -1)
            fail_msg("esc_tier_parse(\"%s\") = %d", bad[i], esc_tier_parse(bad[i]));
    assert_int_equal(esc_tier_parse(NULL), -1);
}

static void check_valid_set(const char *what, const char *const *names, size_t n,
                            int (*valid)(const char *))
{
    int failures = 0;
    for (size_t i = 0; i < n; i++)
        if (valid(names[i]) != 1) {
            print_error("%s: \"%s\" refused\n", what, names[i]);
            failures++;
        }
    for (size_t i = 0; i < COUNT(bad_names); i++) {
        int listed = 0;
        for (size_t k = 0; k < n; k++)
            listed |= strcmp(bad_names[i], names[k]) == 0;
        if (!listed && valid(bad_names[i]) != 0) {
            print_error("%s: \"%s\" accepted\n", what, bad_names[i]);
            failures++;
        }
    }
    if (valid(NULL) != 0) {
        print_error("%s: NULL accepted\n", what);
        failures++;
    }
    assert_int_equal(failures, 0);
}

static void test_channel_root_cause(void **state)
{
    (void)state;
    check_valid_set("channel", spec_channels, COUNT(spec_channels), esc_channel_valid);
    check_valid_set("root_cause", spec_root_causes, COUNT(spec_root_causes), esc_root_cause_valid);
    /* the sets are distinct: a channel is not a root cause and back ("other" is both) */
    assert_int_equal(esc_channel_valid("operations"), 0);
    assert_int_equal(esc_root_cause_valid("phone"), 0);
}

/* ------------------------------------------------------ create body */

static void test_create_minimal_and_full(void **state)
{
    (void)state;
    struct escp_new_ticket nt;
    esc_error_t err;
    int rc;

    /* defaults: severity normal, channel other, description "", the rest absent */
    rc = create(body("{\"subject\": \"x\"}"), &nt, &err);
    EXPECT_OK(rc, err);

    json_t *b = body("{\"subject\": \"空调不制冷\", \"description\": \"第二次投诉\", \"severity\": \"major\","
                     " \"channel\": \"walk_in\", \"category\": \"skill\", \"external_ref\": \"FD-1\","
                     " \"customer\": {\"name\": \"张三\", \"phone\": \"+86 138-1234-5678\","
                     " \"email\": \"z@example.cn\", \"id_number\": \"11010519491231002X\"}}");
    memset(&nt, 0, sizeof nt);
    esc_error_clear(&err);
    rc = escp_ticket_body_parse(b, &nt, &err);
    EXPECT_OK(rc, err);
    assert_string_equal(nt.subject, "空调不制冷");
    assert_string_equal(nt.description, "第二次投诉");
    assert_string_equal(nt.severity, "major");
    assert_string_equal(nt.channel, "walk_in");
    assert_string_equal(nt.category, "skill");
    assert_string_equal(nt.external_ref, "FD-1");
    assert_string_equal(nt.customer_name, "张三");
    assert_string_equal(nt.customer_phone, "+86 138-1234-5678");
    assert_string_equal(nt.customer_email, "z@example.cn");
    assert_string_equal(nt.customer_id_number, "11010519491231002X");
    assert_null(nt.idempotency_key);
    json_decref(b);

    b = body("{\"subject\": \"x\"}");
    memset(&nt, 0, sizeof nt);
    esc_error_clear(&err);
    rc = escp_ticket_body_parse(b, &nt, &err);
    EXPECT_OK(rc, err);
    assert_string_equal(nt.subject, "x");
    assert_string_equal(nt.severity, "normal");
    assert_string_equal(nt.channel, "other");
    assert_string_equal(nt.description, "");
    assert_null(nt.category);
    assert_null(nt.external_ref);
    assert_null(nt.customer_name);
    assert_null(nt.customer_phone);
    assert_null(nt.customer_email);
    assert_null(nt.customer_id_number);
    json_decref(b);

    /* null counts as absent for every optional field */
    b = body("{\"subject\": \"x\", \"description\": null, \"severity\": null, \"channel\": null,"
             " \"category\": null, \"external_ref\": null, \"customer\": null}");
    memset(&nt, 0, sizeof nt);
    esc_error_clear(&err);
    rc = escp_ticket_body_parse(b, &nt, &err);
    EXPECT_OK(rc, err);
    assert_string_equal(nt.description, "");
    assert_string_equal(nt.severity, "normal");
    assert_string_equal(nt.channel, "other");
    assert_null(nt.category);
    assert_null(nt.external_ref);
    json_decref(b);

    b = body("{\"subject\": \"x\", \"customer\": {\"name\": null, \"phone\": null, \"email\": null,"
             " \"id_number\": null}}");
    memset(&nt, 0, sizeof nt);
    esc_error_clear(&err);
    rc = escp_ticket_body_parse(b, &nt, &err);
    EXPECT_OK(rc, err);
    assert_null(nt.customer_name);
    assert_null(nt.customer_phone);
    assert_null(nt.customer_email);
    assert_null(nt.customer_id_number);
    json_decref(b);

    create_ok(body("{\"subject\": \"x\", \"customer\": {}}"));
}

static void test_create_subject(void **state)
{
    (void)state;
    create_refused(body("{}"), "subject");
    create_refused(body("{\"subject\": null}"), "subject");
    create_refused(body("{\"subject\": \"\"}"), "subject");
    create_refused(body("{\"subject\": 1}"), "subject");
    create_refused(body("{\"subject\": true}"), "subject");
    create_refused(body("{\"subject\": [\"x\"]}"), "subject");
    create_refused(body("{\"subject\": {\"text\": \"x\"}}"), "subject");

    /* 1..200 characters, not bytes */
    char *s;
    static const char *const units[] = {"a", "投", "\xf0\x9f\x98\x80", "\xc3\xa9"};
    for (size_t i = 0; i < COUNT(units); i++) {
        s = repeat(units[i], 200);
        create_ok(json_pack("{s:s}", "subject", s));
        free(s);
        s = repeat(units[i], 201);
        create_refused(json_pack("{s:s}", "subject", s), "subject");
        free(s);
    }
    create_ok(json_pack("{s:s}", "subject", "投"));
}

static void test_create_lengths(void **state)
{
    (void)state;
    /* description: 0..10,000 characters */
    create_ok(body("{\"subject\": \"x\", \"description\": \"\"}"));
    create_ok(body_with("description", "a", 10000));
    create_ok(body_with("description", "投", 10000));
    create_refused(body_with("description", "a", 10001), "description");
    create_refused(body_with("description", "投", 10001), "description");
    create_refused(body("{\"subject\": \"x\", \"description\": 5}"), "description");

    /* category: 1..64 */
    create_ok(body_with("category", "c", 64));
    create_ok(body_with("category", "类", 64));
    create_refused(body_with("category", "c", 65), "category");
    create_refused(body_with("category", "类", 65), "category");
    create_refused(body("{\"subject\": \"x\", \"category\": \"\"}"), "category");
    create_refused(body("{\"subject\": \"x\", \"category\": [\"a\"]}"), "category");

    /* external_ref: 1..128 */
    create_ok(body_with("external_ref", "r", 128));
    create_refused(body_with("external_ref", "r", 129), "external_ref");
    create_refused(body("{\"subject\": \"x\", \"external_ref\": \"\"}"), "external_ref");
    create_refused(body("{\"subject\": \"x\", \"external_ref\": 12}"), "external_ref");
}

static void test_create_enums(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(spec_severities); i++) {
        json_t *b = json_pack("{s:s, s:s}", "subject", "x", "severity", spec_severities[i]);
        struct escp_new_ticket nt;
        esc_error_t err;
        memset(&nt, 0, sizeof nt);
        esc_error_clear(&err);
        int rc = escp_ticket_body_parse(b, &nt, &err);
        EXPECT_OK(rc, err);
        assert_string_equal(nt.severity, spec_severities[i]);
        json_decref(b);
    }
    for (size_t i = 0; i < COUNT(spec_channels); i++) {
        json_t *b = json_pack("{s:s, s:s}", "subject", "x", "channel", spec_channels[i]);
        struct escp_new_ticket nt;
        esc_error_t err;
        memset(&nt, 0, sizeof nt);
        esc_error_clear(&err);
        int rc = escp_ticket_body_parse(b, &nt, &err);
        EXPECT_OK(rc, err);
        assert_string_equal(nt.channel, spec_channels[i]);
        json_decref(b);
    }
    create_refused(body("{\"subject\": \"x\", \"severity\": \"MAJOR\"}"), "severity");
    create_refused(body("{\"subject\": \"x\", \"severity\": \"critical\"}"), "severity");
    create_refused(body("{\"subject\": \"x\", \"severity\": \"\"}"), "severity");
    create_refused(body("{\"subject\": \"x\", \"severity\": 1}"), "severity");
    create_refused(body("{\"subject\": \"x\", \"channel\": \"walk-in\"}"), "channel");
    create_refused(body("{\"subject\": \"x\", \"channel\": \"Phone\"}"), "channel");
    create_refused(body("{\"subject\": \"x\", \"channel\": false}"), "channel");
}

static void test_create_unknown_fields(void **state)
{
    (void)state;
    create_refused(body("{\"subject\": \"x\", \"priority\": \"high\"}"), "priority");
    /* unknown fields are reported before a missing subject */
    create_refused(body("{\"bogus\": 1}"), "bogus");
    /* server-assigned fields are not accepted from the client */
    create_refused(body("{\"subject\": \"x\", \"tier\": \"line-2\"}"), "tier");
    create_refused(body("{\"subject\": \"x\", \"state\": \"closed\"}"), "state");
    create_refused(body("{\"subject\": \"x\", \"id\": 7}"), "id");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"address\": \"x\"}}"), "customer.address");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"name\": \"a\", \"Phone\": \"123\"}}"),
                   "customer.Phone");
}

static void test_create_customer(void **state)
{
    (void)state;
    create_refused(body("{\"subject\": \"x\", \"customer\": \"张三\"}"), "customer");
    create_refused(body("{\"subject\": \"x\", \"customer\": [\"张三\"]}"), "customer");
    create_refused(body("{\"subject\": \"x\", \"customer\": 3}"), "customer");

    /* name 1..200 characters */
    create_ok(customer_with("name", "张", 200));
    create_refused(customer_with("name", "张", 201), "customer.name");
    create_refused(customer_with("name", "a", 0), "customer.name");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"name\": 1}}"), "customer.name");

    /* phone: 1..32 characters, at least 3 digits, only + - ( ) . and spaces besides */
    static const char *const good_phones[] = {"13812345678", "+86 138-1234-5678", "(010) 6552.9988",
                                              "123"};
    for (size_t i = 0; i < COUNT(good_phones); i++)
        create_ok(json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", "phone", good_phones[i]));
    static const char *const bad_phones[] = {"12", "abc", "138 1234 5678 ext 9", "138/1234", "１３８１２３４",
                                             "+-()"};
    for (size_t i = 0; i < COUNT(bad_phones); i++)
        create_refused(json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", "phone", bad_phones[i]),
                       "customer.phone");
    create_ok(customer_with("phone", "1", 32));
    create_refused(customer_with("phone", "1", 33), "customer.phone");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"phone\": 13812345678}}"), "customer.phone");

    /* email: 3..254 characters, one @ with something on both sides, no spaces or <> */
    static const char *const good_emails[] = {"a@b", "z@example.cn", "first.last+tag@sub.example.com",
                                              "用户@例子.中国"};
    for (size_t i = 0; i < COUNT(good_emails); i++)
        create_ok(json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", "email", good_emails[i]));
    static const char *const bad_emails[] = {"ab", "abc", "@b.c", "a@", "a@b@c", "a b@c.d", "a@b\tc",
                                             "<a@b.c>", "a@b.c\n"};
    for (size_t i = 0; i < COUNT(bad_emails); i++)
        create_refused(json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", "email", bad_emails[i]),
                       "customer.email");
    {
        char *local = repeat("a", 250);
        char email[260];
        snprintf(email, sizeof email, "%s@b.c", local); /* 254 characters */
        create_ok(json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", "email", email));
        snprintf(email, sizeof email, "%s@bc.d", local); /* 255 */
        create_refused(json_pack("{s:s, s:{s:s}}", "subject", "x", "customer", "email", email),
                       "customer.email");
        free(local);
    }

    /* id_number: GB 11643 (issue 8).  It used to be any 1..64 characters;
     * 64 nines is no identity number now, and 65 is still refused */
    create_refused(customer_with("id_number", "9", 64), "customer.id_number");
    create_refused(customer_with("id_number", "9", 65), "customer.id_number");
    create_ok(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"110101199003071233\"}}"));
    create_ok(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"11010519491231002x\"}}"));
    create_ok(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"110101900307123\"}}"));
    /* the wrong check character, a bad birth date, 17 and 16 characters */
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"110101199003071234\"}}"),
                   "customer.id_number");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"110101199013071233\"}}"),
                   "customer.id_number");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"11010119900307123\"}}"),
                   "customer.id_number");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"id_number\": \"1101019003071230\"}}"),
                   "customer.id_number");
    /* bank_card: 12..19 digits, spaces and dashes allowed anywhere */
    create_ok(body("{\"subject\": \"x\", \"customer\": {\"bank_card\": \"6222 0212 3456 7890 128\"}}"));
    create_ok(body("{\"subject\": \"x\", \"customer\": {\"bank_card\": \"4111-1111-1111\"}}"));
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"bank_card\": \"41111111111\"}}"),
                   "customer.bank_card");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"bank_card\": \"41111111111111111111\"}}"),
                   "customer.bank_card");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"bank_card\": \"4111 1111 abcd 1111\"}}"),
                   "customer.bank_card");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"bank_card\": 4111111111111111}}"),
                   "customer.bank_card");
    create_refused(body("{\"subject\": \"x\", \"customer\": {\"id_number\": 110105}}"),
                   "customer.id_number");
}

/* ------------------------------------------------------ action bodies */

static void test_action_empty_bodies(void **state)
{
    (void)state;
    action_ok(ESC_ACT_ACKNOWLEDGE, "{}");
    action_ok(ESC_ACT_RESUME, "{}");
    action_refused(ESC_ACT_ACKNOWLEDGE, "{\"reason\": \"x\"}", "reason");
    action_refused(ESC_ACT_RESUME, "{\"note\": null}", "note");
}

static void test_action_reason(void **state)
{
    (void)state;
    static const enum esc_action acts[] = {ESC_ACT_ESCALATE, ESC_ACT_RETURN, ESC_ACT_WAIT, ESC_ACT_REOPEN};
    for (size_t i = 0; i < COUNT(acts); i++) {
        struct escp_action_args a;
        esc_error_t err;
        json_t *held;
        int rc = action(acts[i], "{\"reason\": \"需要二线\"}", &a, &err, &held);
        EXPECT_OK(rc, err);
        assert_string_equal(a.reason, "需要二线");
        assert_null(a.body);
        assert_null(a.resolution);
        assert_int_equal(a.if_match, -1);
        json_decref(held);

        action_refused(acts[i], "{}", "reason");
        action_refused(acts[i], "{\"reason\": null}", "reason");
        action_refused(acts[i], "{\"reason\": \"\"}", "reason");
        action_refused(acts[i], "{\"reason\": 1}", "reason");
        action_refused(acts[i], "{\"reason\": \"x\", \"body\": \"y\"}", "body");
        action_len(acts[i], "{\"reason\": \"%s\"}", "理", 2000, 1, NULL);
        action_len(acts[i], "{\"reason\": \"%s\"}", "理", 2001, 0, "reason");
    }
}

static void test_action_resolve(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(spec_root_causes); i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"resolution\": \"已更换\", \"root_cause\": \"%s\"}",
                 spec_root_causes[i]);
        struct escp_action_args a;
        esc_error_t err;
        json_t *held;
        int rc = action(ESC_ACT_RESOLVE, text, &a, &err, &held);
        EXPECT_OK(rc, err);
        assert_string_equal(a.resolution, "已更换");
        assert_string_equal(a.root_cause, spec_root_causes[i]);
        json_decref(held);
    }
    action_refused(ESC_ACT_RESOLVE, "{\"root_cause\": \"other\"}", "resolution");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"\", \"root_cause\": \"other\"}", "resolution");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"done\"}", "root_cause");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"done\", \"root_cause\": null}", "root_cause");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"done\", \"root_cause\": \"Operations\"}",
                   "root_cause");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"done\", \"root_cause\": \"phone\"}", "root_cause");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"done\", \"root_cause\": 2}", "root_cause");
    action_refused(ESC_ACT_RESOLVE, "{\"resolution\": \"d\", \"root_cause\": \"other\", \"reason\": \"r\"}",
                   "reason");
    action_len(ESC_ACT_RESOLVE, "{\"resolution\": \"%s\", \"root_cause\": \"other\"}", "解", 10000, 1, NULL);
    action_len(ESC_ACT_RESOLVE, "{\"resolution\": \"%s\", \"root_cause\": \"other\"}", "解", 10001, 0,
               "resolution");
}

static void test_action_close(void **state)
{
    (void)state;
    struct escp_action_args a;
    esc_error_t err;
    json_t *held;
    int rc;

    for (int score = 1; score <= 5; score++) {
        char text[128];
        snprintf(text, sizeof text, "{\"satisfaction\": {\"result\": \"satisfied\", \"score\": %d}}", score);
        rc = action(ESC_ACT_CLOSE, text, &a, &err, &held);
        EXPECT_OK(rc, err);
        assert_int_equal(a.sat_score, score);
        assert_string_equal(a.sat_result, "satisfied");
        assert_null(a.sat_feedback);
        json_decref(held);
    }
    rc = action(ESC_ACT_CLOSE,
                "{\"satisfaction\": {\"result\": \"unsatisfied\", \"score\": null, \"feedback\": \"太慢\"}}",
                &a, &err, &held);
    EXPECT_OK(rc, err);
    assert_string_equal(a.sat_result, "unsatisfied");
    assert_int_equal(a.sat_score, 0);
    assert_string_equal(a.sat_feedback, "太慢");
    json_decref(held);
    rc = action(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\", \"feedback\": null}}", &a,
                &err, &held);
    EXPECT_OK(rc, err);
    assert_int_equal(a.sat_score, 0);
    assert_null(a.sat_feedback);
    json_decref(held);
    action_ok(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\", \"feedback\": \"\"}}");

    static const char *const bad_scores[] = {"0", "6", "-1", "100", "3.0", "4.5", "\"5\"", "true", "[3]"};
    for (size_t i = 0; i < COUNT(bad_scores); i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"satisfaction\": {\"result\": \"satisfied\", \"score\": %s}}",
                 bad_scores[i]);
        action_refused(ESC_ACT_CLOSE, text, "satisfaction.score");
    }

    action_refused(ESC_ACT_CLOSE, "{}", "satisfaction");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": null}", "satisfaction");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": \"satisfied\"}", "satisfaction");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": [1]}", "satisfaction");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\"}, \"note\": 1}", "note");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {}}", "satisfaction.result");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": null}}", "satisfaction.result");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"SATISFIED\"}}", "satisfaction.result");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"ok\"}}", "satisfaction.result");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": 1}}", "satisfaction.result");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\", \"rating\": 5}}",
                   "satisfaction.rating");
    action_refused(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\", \"feedback\": 3}}",
                   "satisfaction.feedback");
    action_len(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\", \"feedback\": \"%s\"}}", "好",
               2000, 1, NULL);
    action_len(ESC_ACT_CLOSE, "{\"satisfaction\": {\"result\": \"satisfied\", \"feedback\": \"%s\"}}", "好",
               2001, 0, "satisfaction.feedback");
}

static void test_action_comment(void **state)
{
    (void)state;
    struct escp_action_args a;
    esc_error_t err;
    json_t *held;
    int rc = action(ESC_ACT_COMMENT, "{\"body\": \"已电话联系\"}", &a, &err, &held);
    EXPECT_OK(rc, err);
    assert_string_equal(a.body, "已电话联系");
    json_decref(held);
    action_refused(ESC_ACT_COMMENT, "{}", "body");
    action_refused(ESC_ACT_COMMENT, "{\"body\": null}", "body");
    action_refused(ESC_ACT_COMMENT, "{\"body\": \"\"}", "body");
    action_refused(ESC_ACT_COMMENT, "{\"body\": {}}", "body");
    action_refused(ESC_ACT_COMMENT, "{\"body\": \"x\", \"reason\": \"y\"}", "reason");
    action_len(ESC_ACT_COMMENT, "{\"body\": \"%s\"}", "\xf0\x9f\x98\x80", 10000, 1, NULL);
    action_len(ESC_ACT_COMMENT, "{\"body\": \"%s\"}", "\xf0\x9f\x98\x80", 10001, 0, "body");
}

/* The plan of issue 10: optional on acknowledge and escalate, required on
 * plan; {solution 1..2000 characters, promised_at RFC 3339}; nothing else. */
static void test_action_plan(void **state)
{
    (void)state;
    struct escp_action_args a;
    esc_error_t err;
    json_t *held;
    int rc = action(ESC_ACT_PLAN,
                    "{\"plan\": {\"solution\": \"换货\", \"promised_at\": \"2026-12-01T10:00:00+08:00\"}}",
                    &a, &err, &held);
    EXPECT_OK(rc, err);
    assert_string_equal(a.plan_solution, "换货");
    char at[40];
    esc_time_format(a.plan_promised_at, at, sizeof at);
    assert_string_equal(at, "2026-12-01T02:00:00.000Z");
    json_decref(held);

    /* without a plan: acknowledge and escalate carry none, plan is refused */
    rc = action(ESC_ACT_ACKNOWLEDGE, "{}", &a, &err, &held);
    EXPECT_OK(rc, err);
    assert_null(a.plan_solution);
    json_decref(held);
    action_ok(ESC_ACT_ESCALATE, "{\"reason\": \"r\", \"plan\": null}");
    action_refused(ESC_ACT_PLAN, "{}", "plan");
    action_refused(ESC_ACT_PLAN, "{\"plan\": null}", "plan");
    action_ok(ESC_ACT_ACKNOWLEDGE,
              "{\"plan\": {\"solution\": \"s\", \"promised_at\": \"2026-12-01T10:00:00Z\"}}");
    action_ok(ESC_ACT_ESCALATE, "{\"reason\": \"r\", \"plan\": {\"solution\": \"s\", "
                                "\"promised_at\": \"2026-12-01T10:00:00Z\"}}");
    /* the reason is still required on escalate, and other actions take no plan */
    action_refused(ESC_ACT_ESCALATE, "{\"plan\": {\"solution\": \"s\", "
                                     "\"promised_at\": \"2026-12-01T10:00:00Z\"}}", "reason");
    action_refused(ESC_ACT_WAIT, "{\"reason\": \"r\", \"plan\": {}}", "plan");
    action_refused(ESC_ACT_RESOLVE, "{\"plan\": {}}", "plan");
    /* the plan's own fields */
    action_refused(ESC_ACT_PLAN, "{\"plan\": \"tomorrow\"}", "plan");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"promised_at\": \"2026-12-01T10:00:00Z\"}}",
                   "plan.solution");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"\", "
                                 "\"promised_at\": \"2026-12-01T10:00:00Z\"}}", "plan.solution");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"s\"}}", "plan.promised_at");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"s\", \"promised_at\": 1764583200}}",
                   "plan.promised_at");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"s\", \"promised_at\": \"tomorrow\"}}",
                   "plan.promised_at");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"s\", "
                                 "\"promised_at\": \"2026-12-01T10:00:00\"}}", "plan.promised_at");
    action_refused(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"s\", "
                                 "\"promised_at\": \"2026-12-01T10:00:00Z\", \"by\": 1}}", "plan.by");
    action_len(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"%s\", \"promised_at\": \"2026-12-01T10:00:00Z\"}}",
               "解", 2000, 1, NULL);
    action_len(ESC_ACT_PLAN, "{\"plan\": {\"solution\": \"%s\", \"promised_at\": \"2026-12-01T10:00:00Z\"}}",
               "解", 2001, 0, "plan.solution");
}

static void test_action_without_route(void **state)
{
    (void)state;
    struct escp_action_args a;
    esc_error_t err;
    json_t *held;
    int rc = action(ESC_ACT_CREATE, "{}", &a, &err, &held);
    json_decref(held);
    EXPECT_ERR(rc, err, ESC_ERR_NOT_FOUND, "");
    rc = action(ESC_ACT__COUNT, "{}", &a, &err, &held);
    json_decref(held);
    EXPECT_ERR(rc, err, ESC_ERR_NOT_FOUND, "");
}

/* ------------------------------------------------- found by tests/fuzz */

/* fuzz_body (corpus/body/regress_empty_unknown_key): the empty key was
 * refused with an empty field, which the error response leaves out. */
static void test_regress_empty_unknown_key(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", NULL};
    esc_error_t err;
    json_t *o = body("{\"\": 1}");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "", &err), err, ESC_ERR_VALIDATION, "\"\"");
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "customer.", &err), err, ESC_ERR_VALIDATION, "customer.\"\"");
    json_decref(o);
}

/* corpus/body/regress_long_multibyte_key: a long key was cut after 48
 * bytes, inside a character, and the field was no longer UTF-8. */
static void test_regress_long_multibyte_key(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", NULL};
    esc_error_t err;
    char *key = repeat("\xe4\xb8\x80", 20); /* 60 bytes; 48 is in the middle of the 17th */
    json_t *o = json_pack("{s:i}", key, 1);
    char *want = repeat("\xe4\xb8\x80", 16);
    esc_error_clear(&err);
    EXPECT_ERR(escp_only_keys(o, allowed, "", &err), err, ESC_ERR_VALIDATION, want);
    json_decref(o);
    free(want);
    free(key);
}

/* fuzz_query (corpus/query/regress_cursor_with_sign): strtoull took a sign,
 * blanks and "0x", so "c-ffffffffffffffff" was the cursor of id 1. */
static void test_regress_cursor_syntax(void **state)
{
    (void)state;
    static const char *const bad[] = {"c+f", "c-ffffffffffffffff", "c 1f", "c0x1f", "c\t1", "c1f ", "c",
                                      "b1f", "c0", "c8000000000000000"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        esc_error_t err;
        int64_t id = 77;
        esc_error_clear(&err);
        EXPECT_ERR(escp_parse_cursor(bad[i], 'c', &id, &err), err, ESC_ERR_VALIDATION, "cursor");
        assert_int_equal(id, 77);
    }
    esc_error_t err;
    int64_t id = 0;
    esc_error_clear(&err);
    assert_int_equal(escp_parse_cursor("c1F", 'c', &id, &err), 0);
    assert_int_equal(id, 31);
    assert_int_equal(escp_parse_cursor("c7fffffffffffffff", 'c', &id, &err), 0);
    assert_int_equal(id, INT64_MAX);
}

/* fuzz_query (corpus/query/regress_wait_millisecond_truncated): the wait
 * was truncated to milliseconds, and 1.013 is 1012.999... in binary, so
 * wait=1.013 waited 1012 ms.  It is rounded to the nearest now. */
static void test_regress_wait_milliseconds(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ms;
    } cases[] = {{"1.013", 1013}, {"0.001", 1}, {"0.0004", 0}, {"0.0006", 1}, {"1.0131", 1013},
                 {"29.999", 29999}, {"30", 30000}, {"0", 0}};
    for (size_t i = 0; i < COUNT(cases); i++) {
        esc_error_t err;
        int ms = -1;
        esc_error_clear(&err);
        assert_int_equal(escp_parse_wait(cases[i].in, 30, &ms, &err), 0);
        if (ms != cases[i].ms)
            print_error("escp_parse_wait(\"%s\") = %d ms, want %d\n", cases[i].in, ms, cases[i].ms);
        assert_int_equal(ms, cases[i].ms);
    }
}

/* corpus/query/regress_time_*: an offset could move an instant out of the
 * years 0001..9999, which escp_time_pg then wrote as year 0 or 10000 for
 * PostgreSQL. */
static void test_regress_time_years(void **state)
{
    (void)state;
    static const char *const bad[] = {"0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01",
                                      "9999-12-31 23:30:00-01"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        esc_error_t err;
        esc_time_t t = 5;
        esc_error_clear(&err);
        EXPECT_ERR(escp_parse_time(bad[i], "from", &t, &err), err, ESC_ERR_VALIDATION, "from");
        assert_int_equal(t, 5);
    }
    esc_error_t err;
    esc_time_t t;
    char pg[48];
    esc_error_clear(&err);
    assert_int_equal(escp_parse_time("0001-01-01T00:00:00-01:00", "from", &t, &err), 0);
    escp_time_pg(t, pg, sizeof pg);
    assert_string_equal(pg, "0001-01-01T01:00:00.000000Z");
    assert_int_equal(escp_parse_time("9999-12-31T23:59:59.999999Z", "from", &t, &err), 0);
    escp_time_pg(t, pg, sizeof pg);
    assert_string_equal(pg, "9999-12-31T23:59:59.999999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_keys_allowed),
        cmocka_unit_test(test_only_keys_unknown),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_utf8_length),
        cmocka_unit_test(test_body_gate),
        cmocka_unit_test(test_model_names),
        cmocka_unit_test(test_tier_parse),
        cmocka_unit_test(test_channel_root_cause),
        cmocka_unit_test(test_create_minimal_and_full),
        cmocka_unit_test(test_create_subject),
        cmocka_unit_test(test_create_lengths),
        cmocka_unit_test(test_create_enums),
        cmocka_unit_test(test_create_unknown_fields),
        cmocka_unit_test(test_create_customer),
        cmocka_unit_test(test_action_empty_bodies),
        cmocka_unit_test(test_action_reason),
        cmocka_unit_test(test_action_resolve),
        cmocka_unit_test(test_action_close),
        cmocka_unit_test(test_action_comment),
        cmocka_unit_test(test_action_plan),
        cmocka_unit_test(test_action_without_route),
        cmocka_unit_test(test_regress_empty_unknown_key),
        cmocka_unit_test(test_regress_long_multibyte_key),
        cmocka_unit_test(test_regress_cursor_syntax),
        cmocka_unit_test(test_regress_wait_milliseconds),
        cmocka_unit_test(test_regress_time_years),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
