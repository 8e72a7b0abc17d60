/* base/log.c: the text and JSON line formats.  Every JSON line must parse,
 * whatever bytes a message holds (a database error can quote a client's
 * value), and keep the message's text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/log.h"

/* 2026-11-23T16:20:30.212Z */
#define SEC 1795450830LL
#define NSEC 212345678L

static json_t *json_line(const char *msg, enum esc_log_level level)
{
    char line[8192];
    esc_log_format_line(line, sizeof line, ESC_LOG_JSON, SEC, NSEC, level, msg);
    assert_null(strchr(line, '\n'));
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!j)
        fail_msg("not JSON: %s (%s)", line, e.text);
    return j;
}

static void text_line(void **state)
{
    (void)state;
    char line[256];
    esc_log_format_line(line, sizeof line, ESC_LOG_TEXT, SEC, NSEC, ESC_LOG_INFO, "started");
    assert_string_equal(line, "2026-11-23T16:20:30.212Z info  started");
}

static void json_fields(void **state)
{
    (void)state;
    json_t *j = json_line("applied migration 001_core.sql", ESC_LOG_WARN);
    assert_string_equal(json_string_value(json_object_get(j, "ts")), "2026-11-23T16:20:30.212Z");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "applied migration 001_core.sql");
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

static void json_escapes_and_keeps_utf8(void **state)
{
    (void)state;
    const char *msg = "quote \" backslash \\ tab \t newline \n del \x7f bell \x07 \xe5\xbc\xa0\xe4\xb8\x89";
    json_t *j = json_line(msg, ESC_LOG_ERROR);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), msg);
    json_decref(j);
}

static void json_replaces_bytes_that_are_not_utf8(void **state)
{
    (void)state;
    /* a lone continuation byte, a truncated sequence, an overlong '/', a surrogate */
    json_t *j = json_line("a\x80 b\xe5\xbc c\xc0\xaf d\xed\xa0\x80 e", ESC_LOG_INFO);
    const char *m = json_string_value(json_object_get(j, "msg"));
    assert_non_null(m);
    assert_non_null(strstr(m, "a\xef\xbf\xbd b"));
    assert_non_null(strstr(m, " e"));
    json_decref(j);
}

static void json_truncated_still_parses(void **state)
{
    (void)state;
    char msg[1024], line[200];
    memset(msg, '"', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    esc_log_format_line(line, sizeof line, ESC_LOG_JSON, SEC, NSEC, ESC_LOG_INFO, msg);
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    json_decref(j);
}

static void names(void **state)
{
    (void)state;
    assert_int_equal(esc_log_format_from_name("json"), ESC_LOG_JSON);
    assert_int_equal(esc_log_format_from_name("TEXT"), ESC_LOG_TEXT);
    assert_int_equal(esc_log_format_from_name("xml"), -1);
    assert_int_equal(esc_log_format_from_name(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_line),
        cmocka_unit_test(json_fields),
        cmocka_unit_test(json_escapes_and_keeps_utf8),
        cmocka_unit_test(json_replaces_bytes_that_are_not_utf8),
        cmocka_unit_test(json_truncated_still_parses),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
