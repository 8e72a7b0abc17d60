/* test_api_errors.c — every error code of SPEC section 6 over HTTP (503 is
 * in test_daemon.c), bad input of every kind, and proof that nothing is
 * half-written and the daemon survives. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

static const char *counts(void)
{
    return h_sql_value(H, "SELECT (SELECT count(*) FROM tickets) || '/' || (SELECT count(*) FROM events)"
                          " || '/' || (SELECT count(*) FROM timers)");
}

static void no_internals(const h_resp *r)
{
    const char *bad[] = {"SELECT ", "INSERT ", "UPDATE ", "syntax error", "ERROR:  ", "0x7f", "0x5",
                         "PQ", "libpq", "jansson", ".c:"};
    const char *msg = h_str(r->json, "error.message");
    for (size_t i = 0; msg && i < sizeof bad / sizeof *bad; i++) {
        if (strstr(msg, bad[i])) {
            print_error("error message leaks internals (%s): %s\n", bad[i], msg);
            fail();
        }
    }
}

static h_resp *create_raw(const char *body)
{
    h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, body);
    no_internals(r);
    return r;
}

static void malformed_json_or_utf8_is_400_invalid_json_and_stores_nothing(void **state)
{
    (void)state;
    const char *before = counts();
    const char *bodies[] = {
        "{\"subject\": \"truncated\"",
        "{\"subject\": \"x\",}",
        "{subject: \"x\"}",
        "{\"subject\": 'x'}",
        "not json at all",
        "{\"subject\": \"x\"} trailing",
        "{\"subject\": \"\\ud800\"}",
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        h_resp *r = create_raw(bodies[i]);
        bad += !h_check_error(r, 400, "invalid_json", NULL, bodies[i]);
    }
    assert_int_equal(bad, 0);
    /* invalid UTF-8 inside a string, and a lone continuation byte */
    h_resp *r = create_raw("{\"subject\": \"caf\xe9 \xff\xfe\"}");
    h_expect_error(r, 400, "invalid_json");
    r = create_raw("{\"subject\": \"\x80\"}");
    h_expect_error(r, 400, "invalid_json");
    /* an overlong encoding of '/' */
    r = create_raw("{\"subject\": \"\xc0\xaf\"}");
    h_expect_error(r, 400, "invalid_json");
    /* deep nesting does not crash anything */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    char *p = deep;
    p += sprintf(p, "{\"subject\": \"x\", \"customer\": ");
    for (size_t i = 0; i < depth; i++)
        *p++ = '[';
    for (size_t i = 0; i < depth; i++)
        *p++ = ']';
    strcpy(p, "}");
    r = create_raw(deep);
    assert_int_equal(r->status, 400);
    free(deep);
    /* on an action too */
    json_t *t = h_create_ticket(H, NULL, NULL);
    before = counts();
    r = h_req(H, "POST", h_fmt(H, "/v1/tickets/%lld/comment", (long long)h_int(t, "id")), H->k.manager,
              "{\"body\": ");
    h_expect_error(r, 400, "invalid_json");
    assert_string_equal(counts(), before);
}

static void bad_create_fields_are_400_naming_the_field_and_store_nothing(void **state)
{
    (void)state;
    const char *before = counts();
    struct {
        const char *body, *field;
    } cases[] = {
        {"[]", NULL},
        {"\"just a string\"", NULL},
        {"42", NULL},
        {"null", NULL},
        {"{}", "subject"},
        {"{\"subject\": 123}", "subject"},
        {"{\"subject\": null}", "subject"},
        {"{\"subject\": [\"x\"]}", "subject"},
        {"{\"subject\": \"x\", \"severity\": \"critical\"}", "severity"},
        {"{\"subject\": \"x\", \"severity\": 1}", "severity"},
        {"{\"subject\": \"x\", \"channel\": \"fax\"}", "channel"},
        {"{\"subject\": \"x\", \"category\": 7}", "category"},
        {"{\"subject\": \"x\", \"description\": false}", "description"},
        {"{\"subject\": \"x\", \"external_ref\": 12}", "external_ref"},
        {"{\"subject\": \"x\", \"customer\": \"Wang\"}", "customer"},
        {"{\"subject\": \"x\", \"frobnicate\": true}", "frobnicate"},
        {"{\"subject\": \"x\", \"tier\": \"line-3\"}", "tier"},
        {"{\"subject\": \"x\", \"state\": \"closed\"}", "state"},
        {"{\"subject\": \"x\", \"id\": 5}", "id"},
        {"{\"subject\": \"x\", \"customer\": {\"phone\": 13812345678}}", NULL},
        {"{\"subject\": \"x\", \"customer\": {\"shoe_size\": \"42\"}}", NULL},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        h_resp *r = create_raw(cases[i].body);
        bad += !h_check_error(r, 400, "validation_failed", cases[i].field, cases[i].body);
    }
    assert_string_equal(counts(), before);
    assert_int_equal(bad, 0);
}

static void bad_action_bodies_are_400_naming_the_field_and_change_nothing(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    const char *before = counts();
    const char *r2001 = h_repeat(H, "理", 2001);
    struct {
        const char *action;
        json_t *body;
        const char *field;
    } cases[] = {
        {"escalate", json_object(), "reason"},
        {"escalate", json_pack("{s:s}", "reason", ""), "reason"},
        {"escalate", json_pack("{s:i}", "reason", 5), "reason"},
        {"escalate", json_pack("{s:s}", "reason", r2001), "reason"},
        {"escalate", json_pack("{s:s, s:s}", "reason", "ok", "tier", "line-3"), "tier"},
        {"wait", json_object(), "reason"},
        {"resolve", json_pack("{s:s}", "resolution", "done"), "root_cause"},
        {"resolve", json_pack("{s:s}", "root_cause", "operations"), "resolution"},
        {"resolve", json_pack("{s:s, s:s}", "resolution", "done", "root_cause", "aliens"), "root_cause"},
        {"resolve", json_pack("{s:s, s:s}", "resolution", "", "root_cause", "other"), "resolution"},
        {"acknowledge", json_pack("{s:i}", "x", 1), "x"},
        {"resume", json_pack("{s:s}", "reason", "no fields here"), "reason"},
        {"comment", json_pack("{s:i}", "body", 3), "body"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        h_resp *r = h_action(H, H->k.agent[1], id, cases[i].action, cases[i].body);
        no_internals(r);
        bad += !h_check_error(r, 400, "validation_failed", cases[i].field,
                              h_fmt(H, "case %zu (%s)", i, cases[i].action));
    }
    assert_int_equal(bad, 0);
    /* close's satisfaction */
    h_action_ok(H, H->k.agent[1], id, "resolve", h_resolve_body("other"));
    before = counts();
    json_t *bad_close[] = {
        json_object(),
        json_pack("{s:s}", "satisfaction", "satisfied"),
        json_pack("{s:{}}", "satisfaction"),
        json_pack("{s:{s:s}}", "satisfaction", "result", "meh"),
        json_pack("{s:{s:s, s:i}}", "satisfaction", "result", "satisfied", "score", 6),
        json_pack("{s:{s:s, s:i}}", "satisfaction", "result", "satisfied", "score", 0),
        json_pack("{s:{s:s, s:s}}", "satisfaction", "result", "satisfied", "score", "5"),
        json_pack("{s:{s:s, s:i}}", "satisfaction", "result", "satisfied", "mood", 1),
    };
    bad = 0;
    for (size_t i = 0; i < sizeof bad_close / sizeof *bad_close; i++) {
        h_resp *r = h_action(H, H->k.frontdesk, id, "close", bad_close[i]);
        bad += !h_check_error(r, 400, "validation_failed", NULL, h_fmt(H, "close case %zu", i));
    }
    assert_int_equal(bad, 0);
    assert_string_equal(counts(), before);
    json_t *g = h_get_ticket(H, NULL, id);
    h_assert_str(g, "state", "resolved");
}

static void a_body_over_1_mib_is_413_and_stores_nothing(void **state)
{
    (void)state;
    const char *before = counts();
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 64);
    char *p = big + sprintf(big, "{\"subject\": \"big\", \"description\": \"");
    memset(p, 'a', n);
    strcpy(p + n, "\"}");
    h_resp *r = h_reqv(H, "POST", "/v1/tickets", H->k.frontdesk, big, strlen(big),
                       (const char *const[]){"Content-Type: application/json", NULL});
    h_expect_error(r, 413, "payload_too_large");
    /* and without Expect: 100-continue (the body is sent at once) */
    r = h_reqv(H, "POST", "/v1/tickets", H->k.frontdesk, big, strlen(big),
               (const char *const[]){"Content-Type: application/json", "Expect:", NULL});
    if (r->status != 0) /* the server may close before reading it all */
        h_expect_error(r, 413, "payload_too_large");
    /* just under 1 MiB is read and judged on its content */
    size_t m = 1000 * 1000;
    p = big + sprintf(big, "{\"subject\": \"big\", \"description\": \"");
    memset(p, 'a', m);
    strcpy(p + m, "\"}");
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, big);
    h_expect_error_field(r, 400, "validation_failed", "description");
    free(big);
    assert_string_equal(counts(), before);
    r = h_req(H, "GET", "/healthz", NULL, NULL);
    h_expect_status(r, 200);
}

static void a_body_that_is_not_json_is_415(void **state)
{
    (void)state;
    const char *before = counts();
    h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"x\"}",
                      "Content-Type: text/plain");
    h_expect_error(r, 415, "unsupported_media_type");
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "subject=x",
              "Content-Type: application/x-www-form-urlencoded");
    h_expect_error(r, 415, "unsupported_media_type");
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"x\"}",
              "Content-Type: application/xml");
    h_expect_error(r, 415, "unsupported_media_type");
    json_t *t = h_create_ticket(H, NULL, NULL);
    r = h_req(H, "POST", h_fmt(H, "/v1/tickets/%lld/acknowledge", (long long)h_int(t, "id")), H->k.agent[1],
              "{}", "Content-Type: text/plain");
    h_expect_error(r, 415, "unsupported_media_type");
    before = counts();
    assert_string_equal(counts(), before);
    /* parameters on application/json are fine */
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"charset\"}",
              "Content-Type: application/json; charset=utf-8");
    h_expect_status(r, 201);
}

static void unknown_paths_tickets_and_actions_are_404(void **state)
{
    (void)state;
    const char *paths[] = {"/", "/v1", "/v1/nope", "/v1/tickets/987654321", "/v1/tickets/abc",
                           "/v1/tickets/-1", "/v1/tickets/1.5", "/v1/tickets/99999999999999999999999",
                           "/v1/tickets/987654321/events", "/v2/tickets", "/v1/queues/line-9/claim"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        const char *method = strstr(paths[i], "claim") ? "POST" : "GET";
        h_resp *r = h_req(H, method, paths[i], H->k.manager, NULL);
        no_internals(r);
        if (r->status != 404)
            print_error("path %s\n", paths[i]);
        h_expect_error(r, 404, "not_found");
    }
    json_t *t = h_create_ticket(H, NULL, NULL);
    h_resp *r = h_action(H, H->k.manager, h_int(t, "id"), "explode", NULL);
    h_expect_error(r, 404, "not_found");
    r = h_action(H, H->k.manager, 987654321, "comment", json_pack("{s:s}", "body", "x"));
    h_expect_error(r, 404, "not_found");
}

static void expect_405(const char *method, const char *path, const char *must_allow)
{
    h_resp *r = h_req(H, method, path, H->k.manager, NULL);
    if (r->status != 405)
        print_error("%s %s\n", method, path);
    h_expect_error(r, 405, "method_not_allowed");
    const char *allow = h_header(r, "Allow");
    if (!allow || !strstr(allow, must_allow)) {
        print_error("%s %s: Allow is %s, expected it to list %s\n", method, path,
                    allow ? allow : "missing", must_allow);
        fail();
    }
}

static void a_known_path_with_a_wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    expect_405("DELETE", "/v1/tickets", "POST");
    expect_405("PUT", "/v1/tickets", "GET");
    expect_405("DELETE", h_fmt(H, "/v1/tickets/%lld", (long long)id), "GET");
    expect_405("PATCH", h_fmt(H, "/v1/tickets/%lld", (long long)id), "GET");
    expect_405("POST", h_fmt(H, "/v1/tickets/%lld", (long long)id), "GET");
    expect_405("GET", h_fmt(H, "/v1/tickets/%lld/escalate", (long long)id), "POST");
    expect_405("POST", h_fmt(H, "/v1/tickets/%lld/events", (long long)id), "GET");
    expect_405("DELETE", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id), "GET");
    expect_405("GET", "/v1/queues/line-1/claim", "POST");
    expect_405("POST", "/healthz", "GET");
    expect_405("POST", "/readyz", "GET");
    /* nothing was deleted */
    h_get_ticket(H, NULL, id);
}

static void missing_malformed_or_revoked_tokens_are_401_before_anything_else(void **state)
{
    (void)state;
    const char *before = counts();
    const char *hdrs[] = {NULL, "Authorization: Bearer", "Authorization: Bearer ",
                          "Authorization: Bearer esc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "Authorization: Basic dXNlcjpwYXNz", "Authorization: bearer-ish"};
    for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++) {
        h_resp *r = hdrs[i] ? h_req(H, "GET", "/v1/tickets", NULL, NULL, hdrs[i])
                            : h_req(H, "GET", "/v1/tickets", NULL, NULL);
        h_expect_error(r, 401, "unauthenticated");
        r = hdrs[i] ? h_req(H, "POST", "/v1/tickets", NULL, "{\"subject\": \"x\"}", hdrs[i])
                    : h_req(H, "POST", "/v1/tickets", NULL, "{\"subject\": \"x\"}");
        h_expect_error(r, 401, "unauthenticated");
    }
    /* a real token with something appended */
    h_resp *r = h_req(H, "GET", "/v1/tickets", h_fmt(H, "%sX", H->k.manager), NULL);
    h_expect_error(r, 401, "unauthenticated");
    /* 401 before 400 */
    r = h_req(H, "POST", "/v1/tickets", NULL, "{broken");
    h_expect_error(r, 401, "unauthenticated");
    /* a revoked token stops working (at once since tokens are not cached: test_principals) */
    const char *tok = h_key(H, "frontdesk", 0, "soon revoked");
    r = h_req(H, "GET", "/v1/tickets?limit=1", tok, NULL);
    h_expect_status(r, 200);
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE principals SET revoked_at = now() WHERE id = %lld",
                                         (long long)h_principal_by_token(H, tok)->id), NULL), 0);
    h_sleep(5.5);
    r = h_req(H, "GET", "/v1/tickets?limit=1", tok, NULL);
    h_expect_error(r, 401, "unauthenticated");
    assert_string_equal(counts(), before);
}

static void a_role_that_may_not_act_gets_403_before_its_body_is_judged(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    const char *before = counts();
    h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.agent[1], "{\"subject\": \"x\"}");
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id), H->k.frontdesk, NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_action(H, H->k.frontdesk, id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_action(H, H->k.agent[2], id, "acknowledge", NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "POST", "/v1/queues/line-2/claim", H->k.agent[1], NULL);
    h_expect_error(r, 403, "forbidden");
    /* 403 (role) before 400 (body) */
    r = h_req(H, "POST", "/v1/tickets", H->k.agent[1], "{\"subject\": 5}");
    h_expect_error(r, 403, "forbidden");
    assert_string_equal(counts(), before);
}

static void wrong_state_reused_idempotency_key_and_stale_if_match_are_409_and_412(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    json_int_t v = h_int(t, "version");
    h_resp *r = h_action(H, H->k.manager, id, "resolve",
                         json_pack("{s:s, s:s}", "resolution", "x", "root_cause", "other"));
    h_expect_error(r, 409, "invalid_transition");
    const char *key = h_fmt(H, "Idempotency-Key: %s", h_unique(H, "k"));
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"A\"}", key);
    h_expect_status(r, 201);
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"B\"}", key);
    h_expect_error(r, 409, "idempotency_conflict");
    r = h_action_if(H, H->k.agent[1], id, "acknowledge", NULL, h_fmt(H, "\"%lld\"", (long long)v + 1));
    h_expect_error(r, 412, "version_mismatch");
    h_assert_int(h_get_ticket(H, NULL, id), "version", v);
}

static void nul_bytes_bad_utf8_and_huge_headers_never_get_a_5xx(void **state)
{
    (void)state;
    const char *before = counts();
    /* NUL inside a JSON string: PostgreSQL text cannot hold it */
    h_resp *r = create_raw("{\"subject\": \"a\\u0000b\"}");
    assert_int_equal(r->status, 400);
    json_t *t = h_create_ticket(H, NULL, NULL);
    r = h_action(H, H->k.manager, h_int(t, "id"), "comment", json_pack("{s:s%}", "body", "a\0b", (size_t)3));
    assert_int_equal(r->status, 400);
    before = counts();
    /* NUL and invalid UTF-8 in query parameters: never a 5xx */
    const char *qs[] = {"q=%00", "q=a%00b", "q=%FF%FE", "q=%C0%AF", "state=%00", "cursor=%00",
                        "assignee=%FF", "due_before=2026-13-45T99:99:99Z", "limit=99999999999999999999"};
    int bad = 0;
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        r = h_req(H, "GET", h_fmt(H, "/v1/tickets?%s", qs[i]), H->k.manager, NULL);
        no_internals(r);
        if (r->status >= 500 || r->status == 0 || (r->status != 200 && !h_str(r->json, "error.code"))) {
            print_error("GET /v1/tickets?%s -> %ld %s\n", qs[i], r->status, r->body);
            bad++;
        }
        if (r->status == 400)
            bad += !h_check_error(r, 400, "validation_failed", NULL, qs[i]);
    }
    /* a 100 KB Authorization header, and a 100 KB Idempotency-Key */
    size_t n = 100 * 1024;
    char *hdr = malloc(n + 64);
    int k = sprintf(hdr, "Authorization: Bearer ");
    memset(hdr + k, 'A', n);
    hdr[k + n] = 0;
    r = h_reqv(H, "GET", "/v1/tickets", NULL, NULL, 0, (const char *const[]){hdr, NULL});
    if (r->status == 0 || r->status >= 500) {
        print_error("a 100 KB Authorization header -> %ld\n", r->status);
        bad++;
    }
    k = sprintf(hdr, "Idempotency-Key: ");
    memset(hdr + k, 'k', n);
    hdr[k + n] = 0;
    r = h_reqv(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"long key\"}", 22,
               (const char *const[]){hdr, "Content-Type: application/json", NULL});
    if (r->status == 0 || r->status >= 500) {
        print_error("a 100 KB Idempotency-Key -> %ld\n", r->status);
        bad++;
    }
    free(hdr);
    /* a 300-byte Idempotency-Key is judged, not crashed on */
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"key\"}",
              h_fmt(H, "Idempotency-Key: %0300d", 7));
    if (r->status == 0 || r->status >= 500) {
        print_error("a 300-byte Idempotency-Key -> %ld\n", r->status);
        bad++;
    }
    assert_int_equal(bad, 0);
    (void)before;
    r = h_req(H, "GET", "/healthz", NULL, NULL);
    h_expect_status(r, 200);
}

/* Runs last on purpose: after all the bad input above (and it holds when
 * run alone too). */
static void after_all_bad_input_the_daemon_serves_and_every_ticket_has_its_created_event(void **state)
{
    (void)state;
    assert_int_equal(kill(h_daemon_pid(H), 0), 0);
    h_resp *r = h_req(H, "GET", "/healthz", NULL, NULL);
    h_expect_status(r, 200);
    r = h_req(H, "GET", "/v1/tickets?limit=1", H->k.manager, NULL);
    h_expect_status(r, 200);
    /* the history of every ticket starts with `created`: nothing half-written */
    const char *orphans = h_sql_value(H, "SELECT count(*) FROM tickets t WHERE NOT EXISTS "
                                         "(SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.type = 'created')");
    assert_non_null(orphans);
    assert_string_equal(orphans, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_json_or_utf8_is_400_invalid_json_and_stores_nothing),
        cmocka_unit_test(bad_create_fields_are_400_naming_the_field_and_store_nothing),
        cmocka_unit_test(bad_action_bodies_are_400_naming_the_field_and_change_nothing),
        cmocka_unit_test(a_body_over_1_mib_is_413_and_stores_nothing),
        cmocka_unit_test(a_body_that_is_not_json_is_415),
        cmocka_unit_test(unknown_paths_tickets_and_actions_are_404),
        cmocka_unit_test(a_known_path_with_a_wrong_method_is_405_with_allow),
        cmocka_unit_test(missing_malformed_or_revoked_tokens_are_401_before_anything_else),
        cmocka_unit_test(a_role_that_may_not_act_gets_403_before_its_body_is_judged),
        cmocka_unit_test(wrong_state_reused_idempotency_key_and_stale_if_match_are_409_and_412),
        cmocka_unit_test(nul_bytes_bad_utf8_and_huge_headers_never_get_a_5xx),
        cmocka_unit_test(after_all_bad_input_the_daemon_serves_and_every_ticket_has_its_created_event),
    };
    return h_run_tests_with_daemon(&H, "test_api_errors", 0, tests);
}
