/* test_taxonomy.c — the complaint taxonomy (issue 10 item 5, docs/api.md
 * "Taxonomy"): the default tree of the procedures, not enforced until a PUT;
 * a PUT is checked, versioned and recorded; once enforced a new ticket's
 * category must be one of its codes, on every daemon from the PUT's commit
 * on; the SLA report groups categories by any level of the tree. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

#define N(code, zh, en) "{\"code\": \"" code "\", \"name\": {\"zh\": \"" zh "\", \"en\": \"" en "\"}}"

/* A tree with two levels: staff (skill, attitude), billing (billing.refund). */
static const char *const TREE =
    "[{\"code\": \"staff\", \"name\": {\"zh\": \"员工\", \"en\": \"Staff\"}, \"children\": ["
    N("staff.skill", "业务技能", "Skill") ", " N("staff.attitude", "服务态度", "Attitude") "]}, "
    "{\"code\": \"billing\", \"name\": {\"zh\": \"计费\", \"en\": \"Billing\"}, \"children\": ["
    N("billing.refund", "退款", "Refund") "]}]";

static h_resp *put_tree(const char *base, const char *token, const char *categories,
                        const char *enforced)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"categories\": %s%s%s}", categories,
             enforced ? ", \"enforced\": " : "", enforced ? enforced : "");
    return h_reqj_at(H, base ? base : H->base_url, "PUT", "/v1/taxonomy", token, h_json(body));
}

static h_resp *create_at(const char *base, const char *category)
{
    json_t *b = json_pack("{s:s}", "subject", h_unique(H, "taxonomy"));
    if (category)
        json_object_set_new(b, "category", json_string(category));
    return h_reqj_at(H, base ? base : H->base_url, "POST", "/v1/tickets", H->k.frontdesk, b);
}

static void the_default_tree_is_offered_not_enforced(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/taxonomy", H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "version", 1);
    assert_true(json_is_false(h_get(r->json, "enforced")));
    assert_true(h_isnull(r->json, "updated_by"));
    assert_string_equal(h_header(r, "ETag"), "\"1\"");
    json_t *cats = h_get(r->json, "categories");
    assert_int_equal(json_array_size(cats), 6);
    h_assert_str(cats, "0.code", "staff");
    h_assert_str(cats, "0.name.zh", "员工");
    const char *children[] = {"staff.skill", "staff.attitude", "staff.ethics"};
    for (int i = 0; i < 3; i++)
        h_assert_str(cats, h_fmt(H, "0.children.%d.code", i), children[i]);
    const char *roots[] = {"service_quality", "property_damage", "personal_injury",
                           "product_defect", "other"};
    for (int i = 0; i < 5; i++)
        h_assert_str(cats, h_fmt(H, "%d.code", i + 1), roots[i]);
    /* not enforced: any category, as before the taxonomy */
    h_expect_status(create_at(NULL, "宽带 billing"), 201);
    /* managers and admins only */
    h_expect_error(h_req(H, "GET", "/v1/taxonomy", H->k.frontdesk, NULL), 403, "forbidden");
    h_expect_error(h_req(H, "GET", "/v1/taxonomy", H->k.agent[1], NULL), 403, "forbidden");
    h_expect_status(h_req(H, "GET", "/v1/taxonomy", H->k.admin, NULL), 200);
}

static void a_put_is_checked(void **state)
{
    (void)state;
    static const struct h_bad bad[] = {
        {"{}", "categories"},
        {"{\"categories\": []}", "categories"},
        {"{\"categories\": {}}", "categories"},
        {"{\"categories\": [" N("a", "甲", "A") ", " N("a", "乙", "B") "]}", "categories.1.code"},
        {"{\"categories\": [" N("A", "甲", "A") "]}", "categories.0.code"},
        {"{\"categories\": [{\"code\": \"a\", \"name\": {\"zh\": \"甲\"}}]}", "categories.0.name.en"},
        {"{\"categories\": [{\"code\": \"a\", \"name\": {\"zh\": \"甲\", \"en\": \"A\"}, \"x\": 1}]}",
         "categories.0.x"},
        {"{\"categories\": [" N("a", "甲", "A") "], \"enforced\": \"yes\"}", "enforced"},
        {"{\"categories\": [" N("a", "甲", "A") "], \"version\": 2}", "version"},
    };
    assert_int_equal(h_check_bad(H, "PUT", "/v1/taxonomy", H->k.manager, 400, "validation_failed",
                                 bad, sizeof bad / sizeof *bad), 0);
    /* nothing of them stuck */
    h_resp *r = h_req(H, "GET", "/v1/taxonomy", H->k.manager, NULL);
    h_assert_int(r->json, "version", 1);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM taxonomy_history"), 1);
    h_expect_error(put_tree(NULL, H->k.frontdesk, TREE, NULL), 403, "forbidden");
}

static void a_put_enforces_on_every_daemon_from_its_commit(void **state)
{
    (void)state;
    const char *other = NULL;
    pid_t pid = h_extra_start(H, &other);
    /* a create that succeeded before the PUT, retried after it */
    const char *retry = "{\"subject\": \"retried across a PUT\", \"category\": \"宽带 billing\"}";
    h_resp *first = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, retry, "Idempotency-Key: tx-retry-1");
    h_expect_status(first, 201);
    /* PUT on this daemon ... */
    h_resp *r = put_tree(NULL, H->k.manager, TREE, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "version", 2);
    assert_true(json_is_true(h_get(r->json, "enforced")));
    h_assert_int(r->json, "updated_by.id", H->k.manager_id);
    h_assert_str(r->json, "categories.1.children.0.code", "billing.refund");
    assert_string_equal(h_header(r, "ETag"), "\"2\"");
    /* ... binds the other at once: no wait, no cache to expire */
    h_resp *c = create_at(other, "staff.ethics"); /* of the default tree, not of this one */
    h_expect_error_field(c, 400, "validation_failed", "category");
    h_expect_error_field(create_at(NULL, "宽带 billing"), 400, "validation_failed", "category");
    /* ... answers the ticket it made, as any retry does; a new key is refused */
    h_resp *again = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, retry, "Idempotency-Key: tx-retry-1");
    h_expect_status(again, 201);
    assert_string_equal(h_header(again, "Idempotent-Replayed"), "true");
    h_assert_int(again->json, "id", h_int(first->json, "id"));
    h_expect_error_field(h_req(H, "POST", "/v1/tickets", H->k.frontdesk, retry,
                               "Idempotency-Key: tx-retry-2"),
                         400, "validation_failed", "category");
    h_expect_error_field(h_req(H, "POST", "/v1/tickets", H->k.frontdesk,
                               "{\"subject\": \"other body\", \"category\": \"宽带 billing\"}",
                               "Idempotency-Key: tx-retry-1"),
                         409, "idempotency_conflict", "Idempotency-Key");
    /* any level's code is a category; no category is fine */
    h_expect_status(create_at(other, "billing.refund"), 201);
    h_expect_status(create_at(other, "staff"), 201);
    h_expect_status(create_at(NULL, NULL), 201);
    /* the other daemon answers the same document */
    r = h_reqj_at(H, other, "GET", "/v1/taxonomy", H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "version", 2);
    /* If-Match: only at the version named */
    r = h_req(H, "PUT", "/v1/taxonomy", H->k.manager, h_fmt(H, "{\"categories\": %s}", TREE),
              "If-Match: \"1\"");
    h_expect_error_field(r, 412, "version_mismatch", "If-Match");
    /* turned off on the other daemon: free categories again, here too */
    const char *off = h_fmt(H, "{\"categories\": %s, \"enforced\": false}", TREE);
    r = h_reqv_at(H, other, "PUT", "/v1/taxonomy", H->k.admin, off, strlen(off),
                  (const char *const[]){"If-Match: \"2\"", NULL});
    h_expect_status(r, 200);
    h_assert_int(r->json, "version", 3);
    h_expect_status(create_at(NULL, "宽带 billing"), 201);
    /* every version is in the history, with who and when */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM taxonomy_history"), 3);
    assert_int_equal(h_sql_ll(H, "SELECT updated_by FROM taxonomy_history WHERE version = 3"),
                     H->k.admin_id);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM taxonomy_history WHERE version = 2 "
                                 "AND enforced AND doc->1->>'code' = 'billing'"), 1);
    const char *err = NULL;
    assert_int_not_equal(h_sql_exec(H, "UPDATE taxonomy_history SET enforced = false", &err), 0);
    assert_int_equal(h_extra_stop(H, pid), 0);
}

/* The group of `key` in a report's groups, or NULL. */
static json_t *group(json_t *report, const char *key)
{
    size_t i;
    json_t *g;
    json_array_foreach(h_get(report, "groups"), i, g) {
        const char *k = h_str(g, "key");
        if (k && strcmp(k, key) == 0)
            return g;
    }
    return NULL;
}

static void reports_group_by_any_level(void **state)
{
    (void)state;
    h_expect_status(put_tree(NULL, H->k.manager, TREE, "false"), 200);
    const char *from = h_sql_value(H, "SELECT to_char(now() AT TIME ZONE 'UTC', "
                                      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    const char *cats[] = {"staff.skill", "staff.skill", "staff.attitude", "staff", "billing.refund",
                          "not-in-the-tree"};
    for (size_t i = 0; i < sizeof cats / sizeof *cats; i++)
        h_expect_status(create_at(NULL, cats[i]), 201);
    /* each count as computed here from what was created */
    struct {
        int level;
        const char *key;
        int created;
    } want[] = {
        {1, "staff", 4},          {1, "billing", 1},        {1, "not-in-the-tree", 1},
        {2, "staff.skill", 2},    {2, "staff.attitude", 1}, {2, "staff", 1},
        {2, "billing.refund", 1}, {2, "not-in-the-tree", 1}, {0, "staff.skill", 2},
        {0, "staff", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *q = want[i].level
                            ? h_fmt(H, "/v1/reports/sla?group_by=category&level=%d&from=%s",
                                    want[i].level, h_urlenc(H, from))
                            : h_fmt(H, "/v1/reports/sla?group_by=category&from=%s", h_urlenc(H, from));
        h_resp *r = h_req(H, "GET", q, H->k.manager, NULL);
        h_expect_status(r, 200);
        json_t *g = group(r->json, want[i].key);
        if (!g)
            fail_msg("level %d: no group %s in %s", want[i].level, want[i].key, r->body);
        h_assert_int(g, "created", want[i].created);
        if (want[i].level)
            h_assert_int(r->json, "level", want[i].level);
        else
            assert_false(h_has(r->json, "level"));
        /* the groups add up to what was created */
        json_int_t sum = 0;
        size_t j;
        json_t *x;
        json_array_foreach(h_get(r->json, "groups"), j, x) sum += h_int(x, "created");
        assert_int_equal(sum, 6);
    }
    h_expect_error_field(h_req(H, "GET", "/v1/reports/sla?group_by=tier&level=1", H->k.manager, NULL),
                         400, "validation_failed", "level");
    h_expect_error_field(h_req(H, "GET", "/v1/reports/sla?group_by=category&level=5", H->k.manager,
                               NULL),
                         400, "validation_failed", "level");
    h_expect_error_field(h_req(H, "GET", "/v1/reports/sla?group_by=category&level=0", H->k.manager,
                               NULL),
                         400, "validation_failed", "level");
}

static int setup(void **state)
{
    (void)state;
    H = h_start("test_taxonomy", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_default_tree_is_offered_not_enforced),
        cmocka_unit_test(a_put_is_checked),
        cmocka_unit_test(a_put_enforces_on_every_daemon_from_its_commit),
        cmocka_unit_test(reports_group_by_any_level),
    };
    return h_run_group_tests(tests, setup, teardown);
}
