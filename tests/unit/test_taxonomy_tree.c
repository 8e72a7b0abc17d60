/* test_taxonomy_tree.c — core/taxonomy.c: the checks of a PUT /v1/taxonomy tree
 * (each fault named by its field) and the flat forms built from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/taxonomy.h"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return j;
}

/* The tree `text` is refused, naming `field`. */
static void refused(const char *text, const char *field)
{
    json_t *cats = parse(text), *codes = (json_t *)1, *paths = (json_t *)1;
    esc_error_t err;
    esc_error_clear(&err);
    int rc = esc_taxonomy_check(cats, &codes, &paths, &err);
    json_decref(cats);
    if (rc != -1 || err.code != ESC_ERR_VALIDATION || strcmp(err.field, field) != 0)
        fail_msg("%s: rc %d, code %d, field '%s' (want '%s'): %s", text, rc, err.code, err.field,
                 field, err.message);
    assert_null(codes);
    assert_null(paths);
}

#define NODE(code) "{\"code\": \"" code "\", \"name\": {\"zh\": \"中\", \"en\": \"E\"}}"

static void test_flat_forms(void **state)
{
    (void)state;
    json_t *cats = parse("[{\"code\": \"staff\", \"name\": {\"zh\": \"员工\", \"en\": \"Staff\"}, "
                         " \"children\": [" NODE("staff.skill") ", {\"code\": \"staff.x\", "
                         "  \"name\": {\"zh\": \"x\", \"en\": \"x\"}, \"children\": [" NODE("deep")
                         "]}]}, " NODE("other") "]");
    json_t *codes, *paths;
    esc_error_t err;
    esc_error_clear(&err);
    assert_int_equal(esc_taxonomy_check(cats, &codes, &paths, &err), 0);
    json_t *want_codes = parse("[\"staff\", \"staff.skill\", \"staff.x\", \"deep\", \"other\"]");
    json_t *want_paths = parse("{\"staff\": [\"staff\"], \"staff.skill\": [\"staff\", \"staff.skill\"], "
                               "\"staff.x\": [\"staff\", \"staff.x\"], "
                               "\"deep\": [\"staff\", \"staff.x\", \"deep\"], \"other\": [\"other\"]}");
    assert_true(json_equal(codes, want_codes));
    assert_true(json_equal(paths, want_paths));
    json_decref(want_codes);
    json_decref(want_paths);
    json_decref(codes);
    json_decref(paths);
    json_decref(cats);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("{}", "categories");
    refused("[]", "categories");
    refused("[1]", "categories.0");
    refused("[" NODE("a") ", " NODE("a") "]", "categories.1.code");
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"children\": [" NODE("a") "]}]",
            "categories.0.children.0.code");
    refused("[" NODE("Staff") "]", "categories.0.code");
    refused("[" NODE("a b") "]", "categories.0.code");
    refused("[" NODE("") "]", "categories.0.code");
    refused("[{\"name\": {\"zh\": \"z\", \"en\": \"e\"}}]", "categories.0.code");
    refused("[{\"code\": 5, \"name\": {\"zh\": \"z\", \"en\": \"e\"}}]", "categories.0.code");
    refused("[{\"code\": \"a\"}]", "categories.0.name");
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"z\"}}]", "categories.0.name.en");
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"\", \"en\": \"e\"}}]", "categories.0.name.zh");
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"z\", \"en\": \"e\", \"fr\": \"f\"}}]",
            "categories.0.name.fr");
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"color\": 1}]",
            "categories.0.color");
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"children\": {}}]",
            "categories.0.children");
    /* five levels: the fifth is refused */
    refused("[{\"code\": \"a\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"children\": ["
            "{\"code\": \"b\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"children\": ["
            "{\"code\": \"c\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"children\": ["
            "{\"code\": \"d\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}, \"children\": ["
            NODE("e") "]}]}]}]}]",
            "categories.0.children.0.children.0.children.0.children");
    /* a code of 65 characters; 64 is fine */
    char long_code[66], text[256];
    memset(long_code, 'a', 65);
    long_code[65] = '\0';
    snprintf(text, sizeof text, "[{\"code\": \"%s\", \"name\": {\"zh\": \"z\", \"en\": \"e\"}}]", long_code);
    refused(text, "categories.0.code");
    long_code[64] = '\0';
    assert_true(esc_taxonomy_code_valid(long_code));
    assert_true(esc_taxonomy_code_valid("staff.skill-2_b"));
}

static void test_size_limit(void **state)
{
    (void)state;
    /* ESC_TAXONOMY_MAX_NODES roots pass, one more is refused at its index */
    json_t *cats = json_array();
    for (int i = 0; i <= ESC_TAXONOMY_MAX_NODES; i++) {
        char code[16];
        snprintf(code, sizeof code, "c%d", i);
        json_array_append_new(cats, json_pack("{s:s, s:{s:s, s:s}}", "code", code, "name", "zh",
                                              "中", "en", "e"));
    }
    json_t *codes, *paths;
    esc_error_t err;
    esc_error_clear(&err);
    assert_int_equal(esc_taxonomy_check(cats, &codes, &paths, &err), -1);
    char want[32];
    snprintf(want, sizeof want, "categories.%d", ESC_TAXONOMY_MAX_NODES);
    assert_string_equal(err.field, want);
    json_array_remove(cats, ESC_TAXONOMY_MAX_NODES);
    esc_error_clear(&err);
    assert_int_equal(esc_taxonomy_check(cats, &codes, &paths, &err), 0);
    assert_int_equal(json_array_size(codes), ESC_TAXONOMY_MAX_NODES);
    json_decref(codes);
    json_decref(paths);
    json_decref(cats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_forms),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
