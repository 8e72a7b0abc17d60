/* test_principals.c — principals over HTTP and the command line (SPEC
 * section 7, docs/api.md "Principals"):
 *
 *   - an admin creates one of each role; each token works at once, and the
 *     role is the one asked for;
 *   - bad bodies are 400 with the field at fault, an expiry in the past too;
 *   - the list and the principal never show a token or its hash; paging;
 *   - a revocation holds from its answer on, on this daemon and on a second
 *     daemon of the same database that had just accepted the token;
 *     revoking again answers the same, with no new audit record;
 *   - rotation: the old token is refused, the new one works;
 *   - a token whose expires_at passes stops working; rotating gives a new
 *     expiry;
 *   - only admins: every other role gets 403;
 *   - an admin cannot revoke themselves, nor anyone the last active admin;
 *   - every change has its audit record, and the audit is append-only;
 *   - `escalated keys list` and `keys revoke`. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;
static pid_t B_PID;
static const char *B_URL;

static int setup(void **state)
{
    (void)state;
    H = h_start("test_principals", NULL);
    B_PID = h_extra_start(H, &B_URL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (B_PID)
        h_extra_stop(H, B_PID);
    h_finish(H);
    return 0;
}

/* POST /v1/principals as admin; asserts 201; the answer (with "token"). */
static json_t *create(const char *name, const char *role, const char *tier_json, const char *expires)
{
    json_t *b = json_pack("{s:s, s:s}", "name", name, "role", role);
    if (tier_json)
        json_object_set_new(b, "tier", h_json(tier_json));
    if (expires)
        json_object_set_new(b, "expires_at", json_string(expires));
    h_resp *r = h_reqj(H, "POST", "/v1/principals", H->k.admin, b);
    h_expect_status(r, 201);
    const char *loc = h_header(r, "Location");
    assert_non_null(loc);
    assert_string_equal(loc, h_fmt(H, "/v1/principals/%lld", (long long)h_int(r->json, "id")));
    assert_non_null(h_str(r->json, "token"));
    assert_true(strncmp(h_str(r->json, "token"), "esc_", 4) == 0);
    return r->json;
}

/* The status of GET /v1/tickets?limit=1 with a token, on daemon A or B. */
static long works(const char *token, const char *base)
{
    const char *hdr[] = {NULL};
    h_resp *r = base ? h_reqv_at(H, base, "GET", "/v1/tickets?limit=1", token, NULL, 0, hdr)
                     : h_req(H, "GET", "/v1/tickets?limit=1", token, NULL);
    return r->status;
}

/* A time the database's clock puts `seconds` from now, RFC 3339. */
static const char *db_time(double seconds)
{
    return h_sql_value(H, "SELECT to_char((now() + make_interval(secs => %g)) AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", seconds);
}

static long long audit_count(json_int_t id, const char *action)
{
    return h_sql_ll(H, "SELECT count(*) FROM principal_audit WHERE principal_id = %lld AND action = '%s'",
                    (long long)id, action);
}

static void create_each_role(void **state)
{
    (void)state;
    const char *roles[] = {"frontdesk", "agent", "manager", "admin"};
    for (size_t i = 0; i < 4; i++) {
        int agent = strcmp(roles[i], "agent") == 0;
        json_t *p = create(h_unique(H, roles[i]), roles[i], agent ? "\"line-2\"" : NULL, NULL);
        h_assert_str(p, "role", roles[i]);
        h_assert_str(p, "status", "active");
        h_assert_ts(p, "created_at");
        h_assert_null(p, "expires_at");
        h_assert_null(p, "revoked_at");
        if (agent)
            h_assert_str(p, "tier", "line-2");
        else
            h_assert_null(p, "tier");
        const char *tok = h_str(p, "token");
        assert_int_equal(works(tok, NULL), 200);
        assert_int_equal(works(tok, B_URL), 200);
        /* the role is the one asked for */
        h_resp *r = h_req(H, "GET", "/v1/principals", tok, NULL);
        h_expect_status(r, strcmp(roles[i], "admin") == 0 ? 200 : 403);
        /* created, by the admin, over HTTP */
        r = h_req(H, "GET", h_fmt(H, "/v1/principals/%lld/audit", (long long)h_int(p, "id")), H->k.admin, NULL);
        h_expect_status(r, 200);
        assert_int_equal(json_array_size(h_get(r->json, "items")), 1);
        h_assert_str(r->json, "items.0.action", "created");
        h_assert_str(r->json, "items.0.via", "http");
        h_assert_int(r->json, "items.0.actor.id", H->k.admin_id);
        h_assert_str(r->json, "items.0.detail.role", roles[i]);
    }
    /* an agent's tier as a number, and a name of 100 Chinese characters */
    json_t *p = create(h_repeat(H, "李", 100), "agent", "3", NULL);
    h_assert_str(p, "tier", "line-3");
    h_resp *r = h_req(H, "POST", "/v1/queues/line-3/claim", h_str(p, "token"), NULL);
    assert_true(r->status == 200 || r->status == 204);
}

static void bad_bodies(void **state)
{
    (void)state;
    const struct h_bad cases[] = {
        {"{\"name\": \"x\", \"role\": \"admin\", \"colour\": 1}", "colour"},
        {"{\"role\": \"admin\"}", "name"},
        {"{\"name\": \"\", \"role\": \"admin\"}", "name"},
        {"{\"name\": 5, \"role\": \"admin\"}", "name"},
        {"{\"name\": \"a\\nb\", \"role\": \"admin\"}", "name"},
        {"{\"name\": \"x\"}", "role"},
        {"{\"name\": \"x\", \"role\": \"root\"}", "role"},
        {"{\"name\": \"x\", \"role\": \"agent\"}", "tier"},
        {"{\"name\": \"x\", \"role\": \"agent\", \"tier\": 4}", "tier"},
        {"{\"name\": \"x\", \"role\": \"agent\", \"tier\": \"line-0\"}", "tier"},
        {"{\"name\": \"x\", \"role\": \"manager\", \"tier\": 1}", "tier"},
        {"{\"name\": \"x\", \"role\": \"admin\", \"expires_at\": \"tomorrow\"}", "expires_at"},
        {"{\"name\": \"x\", \"role\": \"admin\", \"expires_at\": \"2001-01-01T00:00:00Z\"}", "expires_at"},
    };
    long long before = h_sql_ll(H, "SELECT count(*) FROM principals");
    assert_int_equal(h_check_bad(H, "POST", "/v1/principals", H->k.admin, 400, "validation_failed",
                                 cases, sizeof cases / sizeof *cases), 0);
    const struct h_bad long_name[] = {{h_fmt(H, "{\"name\": \"%s\", \"role\": \"admin\"}", h_repeat(H, "n", 101)), "name"}};
    assert_int_equal(h_check_bad(H, "POST", "/v1/principals", H->k.admin, 400, "validation_failed",
                                 long_name, 1), 0);
    h_resp *r = h_req(H, "POST", "/v1/principals", H->k.admin, "{broken");
    h_expect_error(r, 400, "invalid_json");
    /* nothing was made */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM principals"), before);
    r = h_req(H, "POST", "/v1/principals/999999/rotate", H->k.admin, "{\"expires_at\": 3}");
    h_expect_error_field(r, 400, "validation_failed", "expires_at");
    r = h_req(H, "POST", "/v1/principals/999999/revoke", H->k.admin, "{\"why\": \"x\"}");
    h_expect_error_field(r, 400, "validation_failed", "why");
    r = h_req(H, "POST", "/v1/principals/999999/revoke", H->k.admin, NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "GET", "/v1/principals/999999/audit", H->k.admin, NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "GET", "/v1/principals?status=gone", H->k.admin, NULL);
    h_expect_error_field(r, 400, "validation_failed", "status");
}

static void list_has_no_secrets(void **state)
{
    (void)state;
    json_t *p = create(h_unique(H, "listed"), "manager", NULL, NULL);
    const char *tok = h_str(p, "token");
    const char *hash = h_sql_value(H, "SELECT token_hash FROM principals WHERE id = %lld",
                                   (long long)h_int(p, "id"));
    assert_non_null(hash);
    long long total = h_sql_ll(H, "SELECT count(*) FROM principals");
    const char *cursor = NULL;
    long long seen = 0;
    json_int_t last = 0;
    do {
        h_resp *r = h_req(H, "GET", cursor ? h_fmt(H, "/v1/principals?limit=3&cursor=%s", cursor)
                                           : "/v1/principals?limit=3", H->k.admin, NULL);
        h_expect_status(r, 200);
        assert_null(strstr(r->body, "token"));
        assert_null(strstr(r->body, hash));
        assert_null(strstr(r->body, tok));
        json_t *items = h_get(r->json, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_int_t id = h_int(json_array_get(items, i), "id");
            assert_true(last == 0 || id < last); /* newest first, no repeats */
            last = id;
            seen++;
        }
        cursor = h_str(r->json, "next_cursor");
    } while (cursor);
    assert_int_equal(seen, total);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/principals/%lld", (long long)h_int(p, "id")), H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_null(strstr(r->body, "token"));
    assert_null(strstr(r->body, hash));
    h_assert_str(r->json, "name", h_str(p, "name"));
    r = h_req(H, "GET", "/v1/principals?role=admin&status=active", H->k.admin, NULL);
    h_expect_status(r, 200);
    json_t *items = h_get(r->json, "items");
    assert_true(json_array_size(items) >= 1);
    for (size_t i = 0; i < json_array_size(items); i++) {
        h_assert_str(json_array_get(items, i), "role", "admin");
        h_assert_str(json_array_get(items, i), "status", "active");
    }
}

static void revoke_holds_at_once_on_both_daemons(void **state)
{
    (void)state;
    json_t *p = create(h_unique(H, "leaver"), "agent", "\"line-1\"", NULL);
    const char *tok = h_str(p, "token");
    json_int_t id = h_int(p, "id");
    /* both daemons have just accepted it (a cache would now hold it) */
    assert_int_equal(works(tok, NULL), 200);
    assert_int_equal(works(tok, B_URL), 200);
    h_resp *r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/revoke", (long long)id), H->k.admin,
                      "{\"reason\": \"left the company\"}");
    h_expect_status(r, 200);
    h_assert_str(r->json, "status", "revoked");
    h_assert_ts(r->json, "revoked_at");
    const char *revoked_at = h_str(r->json, "revoked_at");
    assert_int_equal(works(tok, NULL), 401);
    assert_int_equal(works(tok, B_URL), 401);
    /* again: answered as it is, nothing recorded */
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/revoke", (long long)id), H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "revoked_at", revoked_at);
    assert_int_equal(audit_count(id, "revoked"), 1);
    r = h_req(H, "GET", h_fmt(H, "/v1/principals/%lld/audit", (long long)id), H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "items.1.action", "revoked");
    h_assert_str(r->json, "items.1.detail.reason", "left the company");
    h_assert_int(r->json, "items.1.actor.id", H->k.admin_id);
    /* revoked is final: no rotation */
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)id), H->k.admin, NULL);
    h_expect_error(r, 409, "conflict");
}

static void rotate_replaces_the_token(void **state)
{
    (void)state;
    json_t *p = create(h_unique(H, "rotor"), "frontdesk", NULL, NULL);
    const char *old = h_str(p, "token");
    json_int_t id = h_int(p, "id");
    assert_int_equal(works(old, B_URL), 200);
    h_resp *r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)id), H->k.admin, NULL);
    h_expect_status(r, 200);
    const char *fresh = h_str(r->json, "token");
    assert_non_null(fresh);
    assert_string_not_equal(fresh, old);
    h_assert_int(r->json, "id", id);
    h_assert_str(r->json, "status", "active");
    assert_int_equal(works(old, NULL), 401);
    assert_int_equal(works(old, B_URL), 401);
    assert_int_equal(works(fresh, NULL), 200);
    assert_int_equal(works(fresh, B_URL), 200);
    assert_int_equal(audit_count(id, "rotated"), 1);
    /* the same principal: what it makes is still its own */
    json_t *t = h_create_ticket(H, fresh, NULL);
    (void)t;
    r = h_req(H, "GET", h_fmt(H, "/v1/principals/%lld", (long long)id), H->k.admin, NULL);
    h_assert_str(r->json, "status", "active");
}

static void expiry(void **state)
{
    (void)state;
    json_t *p = create(h_unique(H, "temp"), "manager", NULL, db_time(1.5));
    const char *tok = h_str(p, "token");
    json_int_t id = h_int(p, "id");
    h_assert_ts(p, "expires_at");
    assert_int_equal(works(tok, NULL), 200);
    h_sleep(2.0);
    assert_int_equal(works(tok, NULL), 401);
    assert_int_equal(works(tok, B_URL), 401);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/principals/%lld", (long long)id), H->k.admin, NULL);
    h_assert_str(r->json, "status", "expired");
    r = h_req(H, "GET", "/v1/principals?status=expired", H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_true(json_array_size(h_get(r->json, "items")) >= 1);
    /* rotating keeps the expiry unless told: an expired one needs a new one */
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)id), H->k.admin, NULL);
    h_expect_error_field(r, 400, "validation_failed", "expires_at");
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)id), H->k.admin,
              "{\"expires_at\": \"2001-01-01T00:00:00Z\"}");
    h_expect_error_field(r, 400, "validation_failed", "expires_at");
    r = h_reqj(H, "POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)id), H->k.admin,
               json_pack("{s:s}", "expires_at", db_time(3600)));
    h_expect_status(r, 200);
    h_assert_str(r->json, "status", "active");
    assert_int_equal(works(h_str(r->json, "token"), NULL), 200);
    assert_int_equal(works(tok, NULL), 401);
    /* null clears it */
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)id), H->k.admin,
              "{\"expires_at\": null}");
    h_expect_status(r, 200);
    h_assert_null(r->json, "expires_at");
}

static void only_admins(void **state)
{
    (void)state;
    const char *who[] = {H->k.frontdesk, H->k.manager, H->k.agent[1], H->k.agent[3]};
    const char *routes[][3] = {
        {"POST", "/v1/principals", "{\"name\": \"x\", \"role\": \"admin\"}"},
        {"GET", "/v1/principals", NULL},
        {"GET", h_fmt(H, "/v1/principals/%lld", (long long)H->k.admin_id), NULL},
        {"GET", h_fmt(H, "/v1/principals/%lld/audit", (long long)H->k.admin_id), NULL},
        {"POST", h_fmt(H, "/v1/principals/%lld/revoke", (long long)H->k.admin_id), NULL},
        {"POST", h_fmt(H, "/v1/principals/%lld/rotate", (long long)H->k.admin_id), NULL},
    };
    long long before = h_sql_ll(H, "SELECT count(*) FROM principal_audit");
    int bad = 0;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < sizeof routes / sizeof *routes; j++) {
            h_resp *r = h_req(H, routes[j][0], routes[j][1], who[i], routes[j][2]);
            bad += !h_check_error(r, 403, "forbidden", NULL, routes[j][1]);
        }
    assert_int_equal(bad, 0);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM principal_audit"), before);
    assert_int_equal(works(H->k.admin, NULL), 200);
}

static void no_self_revoke_nor_last_admin(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/revoke", (long long)H->k.admin_id),
                      H->k.admin, NULL);
    h_expect_error(r, 409, "conflict");
    assert_int_equal(works(H->k.admin, NULL), 200);
    /* a second admin may revoke the first while the second remains */
    json_t *a2 = create(h_unique(H, "admin2"), "admin", NULL, NULL);
    json_t *a3 = create(h_unique(H, "admin3"), "admin", NULL, NULL);
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/revoke", (long long)h_int(a3, "id")),
              h_str(a2, "token"), NULL);
    h_expect_status(r, 200);
    /* every active admin but the harness's revoked (by SQL, test-only),
     * then the last one cannot be revoked, not even from the command line */
    r = h_req(H, "POST", h_fmt(H, "/v1/principals/%lld/revoke", (long long)h_int(a2, "id")),
              H->k.admin, NULL);
    h_expect_status(r, 200);
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE principals SET revoked_at = now() WHERE role = 'admin' "
                                            "AND revoked_at IS NULL AND id <> %lld",
                                         (long long)H->k.admin_id), &err), 0);
    char *argv[] = {H->bin, "keys", "revoke", (char *)h_fmt(H, "%lld", (long long)H->k.admin_id),
                    "--db", H->conninfo, NULL};
    char *out = NULL;
    assert_int_not_equal(h_run(argv, &out), 0);
    free(out);
    assert_int_equal(works(H->k.admin, NULL), 200);
}

static void audit_is_append_only(void **state)
{
    (void)state;
    const char *err = NULL;
    assert_true(h_sql_ll(H, "SELECT count(*) FROM principal_audit") > 0);
    assert_int_equal(h_sql_exec(H, "UPDATE principal_audit SET action = 'created'", &err), -1);
    assert_non_null(strstr(err, "append-only"));
    assert_int_equal(h_sql_exec(H, "DELETE FROM principal_audit", &err), -1);
    assert_int_equal(h_sql_exec(H, "TRUNCATE principal_audit CASCADE", &err), -1);
    /* a revoked principal stays revoked */
    assert_int_equal(h_sql_exec(H, "UPDATE principals SET revoked_at = NULL WHERE revoked_at IS NOT NULL", &err), -1);
    /* the harness's principals (made by the command line) have theirs */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM principals p WHERE NOT EXISTS "
                                 "(SELECT 1 FROM principal_audit a WHERE a.principal_id = p.id "
                                 " AND a.action = 'created')"), 0);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM principal_audit WHERE principal_id = %lld "
                                 "AND via = 'cli' AND actor_id IS NULL", (long long)H->k.manager_id), 1);
}

static void cli_list_and_revoke(void **state)
{
    (void)state;
    const char *name = h_unique(H, "cli-victim");
    const char *tok = h_key(H, "agent", 2, name);
    const h_principal *pr = h_principal_by_token(H, tok);
    assert_non_null(pr);
    assert_int_equal(works(tok, B_URL), 200);

    char *list[] = {H->bin, "keys", "list", "--db", H->conninfo, NULL};
    char *out = NULL;
    assert_int_equal(h_run(list, &out), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "ID"));
    assert_non_null(strstr(out, "REVOKED"));
    assert_non_null(strstr(out, name));
    assert_null(strstr(out, tok));
    free(out);

    char *revoke[] = {H->bin, "keys", "revoke", (char *)h_fmt(H, "%lld", (long long)pr->id),
                      "--reason", "laptop stolen", "--db", H->conninfo, NULL};
    out = NULL;
    assert_int_equal(h_run(revoke, &out), 0);
    free(out);
    assert_int_equal(works(tok, NULL), 401);
    assert_int_equal(works(tok, B_URL), 401);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/principals/%lld/audit", (long long)pr->id), H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "items.1.action", "revoked");
    h_assert_str(r->json, "items.1.via", "cli");
    h_assert_null(r->json, "items.1.actor");
    h_assert_str(r->json, "items.1.detail.reason", "laptop stolen");

    /* keys create --expires-at: in the past refused, in the future shown */
    char *past[] = {H->bin, "keys", "create", "--name", "late", "--role", "manager", "--expires-at",
                    "2001-01-01T00:00:00Z", "--db", H->conninfo, NULL};
    out = NULL;
    assert_int_not_equal(h_run(past, &out), 0);
    free(out);
    char *future[] = {H->bin, "keys", "create", "--name", "cli-expiring", "--role", "manager",
                      "--expires-at", (char *)db_time(3600), "--db", H->conninfo, NULL};
    out = NULL;
    assert_int_equal(h_run(future, &out), 0);
    assert_non_null(out);
    out[strcspn(out, "\n")] = 0;
    assert_int_equal(works(out, NULL), 200);
    free(out);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM principals WHERE name = 'cli-expiring' "
                                 "AND expires_at > now()"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_each_role),
        cmocka_unit_test(bad_bodies),
        cmocka_unit_test(list_has_no_secrets),
        cmocka_unit_test(revoke_holds_at_once_on_both_daemons),
        cmocka_unit_test(rotate_replaces_the_token),
        cmocka_unit_test(expiry),
        cmocka_unit_test(only_admins),
        cmocka_unit_test(audit_is_append_only),
        cmocka_unit_test(cli_list_and_revoke),
        cmocka_unit_test(no_self_revoke_nor_last_admin),
    };
    return h_run_group_tests(tests, setup, teardown);
}
