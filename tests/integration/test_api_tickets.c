/* test_api_tickets.c — create, get, idempotency, masking, customer reveal,
 * comments: POST /v1/tickets, GET /v1/tickets/{id}, GET .../customer. */
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static h_ctx *H;

static long count_tickets(void) { return (long)h_sql_ll(H, "SELECT count(*) FROM tickets"); }

static void a_minimal_create_is_201_with_the_defaults_and_default_deadlines(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"Broadband down\"}");
    h_expect_status(r, 201);
    json_t *t = r->json;
    assert_true(json_is_object(t));
    json_int_t id = h_int(t, "id");
    assert_true(id > 0);
    const char *loc = h_header(r, "Location");
    assert_non_null(loc);
    assert_string_equal(loc, h_fmt(H, "/v1/tickets/%lld", (long long)id));
    const char *etag = h_header(r, "ETag");
    assert_non_null(etag);
    assert_string_equal(etag, h_fmt(H, "\"%lld\"", (long long)h_int(t, "version")));
    const char *ct = h_header(r, "Content-Type");
    assert_non_null(ct);
    assert_true(strncmp(ct, "application/json", 16) == 0);

    h_assert_str(t, "tier", "line-1");
    h_assert_str(t, "state", "awaiting_ack");
    h_assert_str(t, "severity", "normal");
    h_assert_str(t, "channel", "other");
    h_assert_null(t, "category");
    h_assert_str(t, "subject", "Broadband down");
    h_assert_str(t, "description", "");
    assert_true(json_is_object(h_get(t, "customer")));
    h_assert_null(t, "customer.name");
    h_assert_null(t, "customer.phone");
    h_assert_null(t, "customer.email");
    h_assert_null(t, "customer.id_number");
    h_assert_null(t, "external_ref");
    h_assert_null(t, "assignee");
    h_assert_null(t, "root_cause");
    h_assert_null(t, "resolution");
    h_assert_null(t, "satisfaction");
    h_assert_ts(t, "created_at");
    h_assert_null(t, "acknowledged_at");
    h_assert_null(t, "resolved_at");
    h_assert_null(t, "closed_at");
    h_assert_ts(t, "ack_due_at");
    h_assert_ts(t, "resolve_due_at");
    h_assert_null(t, "callback_due_at");
    assert_true(json_is_array(h_get(t, "breaches")));
    assert_int_equal(json_array_size(h_get(t, "breaches")), 0);
    assert_true(h_int(t, "version") >= 1);

    /* default policy: ack 600 s, normal resolve 86,400 s */
    double ack = h_ts_diff(h_str(t, "created_at"), h_str(t, "ack_due_at"));
    double res = h_ts_diff(h_str(t, "created_at"), h_str(t, "resolve_due_at"));
    assert_true(fabs(ack - 600) < 1.0);
    assert_true(fabs(res - 86400) < 1.0);
}

static void a_full_major_create_keeps_every_field_and_masks_the_customer_everywhere(void **state)
{
    (void)state;
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s}",
                          "subject", "Water heater caught fire", "severity", "major", "channel",
                          "wechat", "category", "property_damage", "description",
                          "The unit overheated; several customers affected.", "customer", "name",
                          "王小明", "phone", "13812345678", "email", "wang@example.com",
                          "id_number", "110101199003071233", "external_ref",
                          h_unique(H, "FD"));
    json_t *t = h_create_ticket(H, H->k.manager, b);
    h_assert_str(t, "severity", "major");
    h_assert_str(t, "channel", "wechat");
    h_assert_str(t, "category", "property_damage");
    h_assert_str(t, "description", "The unit overheated; several customers affected.");
    assert_non_null(h_str(t, "external_ref"));
    double res = h_ts_diff(h_str(t, "created_at"), h_str(t, "resolve_due_at"));
    assert_true(fabs(res - 172800) < 1.0);

    /* masking (SPEC 7) */
    h_assert_str(t, "customer.phone", "138****5678");
    h_assert_str(t, "customer.email", "w***@example.com");
    const char *idn = h_str(t, "customer.id_number");
    assert_non_null(idn);
    assert_int_equal(strlen(idn), 18);
    assert_memory_equal(idn, "110", 3);
    assert_string_equal(idn + 14, "1233");
    for (int i = 3; i < 14; i++)
        assert_int_equal(idn[i], '*');

    /* the GET and the list mask too */
    json_t *g = h_get_ticket(H, H->k.agent[1], h_int(t, "id"));
    h_assert_str(g, "customer.phone", "138****5678");
    h_assert_str(g, "customer.email", "w***@example.com");
    h_resp *l = h_req(H, "GET", "/v1/tickets?severity=major", H->k.frontdesk, NULL);
    h_expect_status(l, 200);
    int seen = 0;
    json_t *it;
    size_t i;
    json_array_foreach(h_get(l->json, "items"), i, it) {
        if (h_int(it, "id") == h_int(t, "id")) {
            seen = 1;
            h_assert_str(it, "customer.phone", "138****5678");
            assert_null(strstr(l->body, "13812345678"));
            assert_null(strstr(l->body, "110101199003071233"));
            assert_null(strstr(l->body, "wang@example.com"));
        }
    }
    assert_true(seen);
}

static void subject_is_1_to_200_characters_not_bytes(void **state)
{
    (void)state;
    const char *zh = "客户投诉：宽带无法连接，已经三天了！";
    json_t *t = h_create_ticket_subject(H, zh, NULL);
    h_assert_str(t, "subject", zh);
    json_t *g = h_get_ticket(H, NULL, h_int(t, "id"));
    h_assert_str(g, "subject", zh);

    /* 200 characters (600 bytes) is fine, 201 is not */
    const char *s200 = h_repeat(H, "投", 200);
    t = h_create_ticket_subject(H, s200, NULL);
    h_assert_str(t, "subject", s200);
    assert_int_equal(h_utf8_len(h_str(t, "subject")), 200);
    long before = count_tickets();
    const char *s201 = h_repeat(H, "诉", 201);
    h_resp *r = h_reqj(H, "POST", "/v1/tickets", H->k.frontdesk, json_pack("{s:s}", "subject", s201));
    h_expect_error_field(r, 400, "validation_failed", "subject");
    /* 200 ASCII and a 4-byte emoji at the edge */
    const char *emoji = h_fmt(H, "%s😀", h_repeat(H, "a", 199));
    t = h_create_ticket_subject(H, emoji, NULL);
    h_assert_str(t, "subject", emoji);
    before++;
    /* empty and missing subject */
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": \"\"}");
    h_expect_error_field(r, 400, "validation_failed", "subject");
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"severity\": \"major\"}");
    h_expect_error_field(r, 400, "validation_failed", "subject");
    assert_int_equal(count_tickets(), before);
}

static void description_up_to_10000_and_category_up_to_64_characters(void **state)
{
    (void)state;
    const char *d10000 = h_repeat(H, "描", 10000);
    const char *d10001 = h_repeat(H, "描", 10001);
    const char *c64 = h_repeat(H, "c", 64);
    const char *c65 = h_repeat(H, "c", 65);
    json_t *t = h_create_ticket(H, NULL, json_pack("{s:s, s:s, s:s}", "subject", "long", "description",
                                                   d10000, "category", c64));
    assert_int_equal(h_utf8_len(h_str(t, "description")), 10000);
    h_assert_str(t, "category", c64);
    long before = count_tickets();
    h_resp *r = h_reqj(H, "POST", "/v1/tickets", H->k.frontdesk,
                       json_pack("{s:s, s:s}", "subject", "x", "description", d10001));
    h_expect_error_field(r, 400, "validation_failed", "description");
    r = h_reqj(H, "POST", "/v1/tickets", H->k.frontdesk,
               json_pack("{s:s, s:s}", "subject", "x", "category", c65));
    h_expect_error_field(r, 400, "validation_failed", "category");
    assert_int_equal(count_tickets(), before);
}

static void every_channel_of_the_spec_is_accepted(void **state)
{
    (void)state;
    const char *ch[] = {"phone", "wechat", "email", "web", "letter", "walk_in", "other"};
    for (size_t i = 0; i < sizeof ch / sizeof *ch; i++) {
        json_t *t = h_create_ticket(H, NULL, json_pack("{s:s, s:s}", "subject", "ch", "channel", ch[i]));
        h_assert_str(t, "channel", ch[i]);
    }
}

static void only_frontdesk_manager_and_admin_may_create(void **state)
{
    (void)state;
    /* frontdesk and manager create; admin may do what a manager may */
    h_create_ticket(H, H->k.frontdesk, NULL);
    h_create_ticket(H, H->k.manager, NULL);
    h_create_ticket(H, H->k.admin, NULL);
    long before = count_tickets();
    for (int t = 1; t <= 3; t++) {
        h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.agent[t], "{\"subject\": \"agent\"}");
        h_expect_error(r, 403, "forbidden");
    }
    h_resp *r = h_req(H, "POST", "/v1/tickets", NULL, "{\"subject\": \"nobody\"}");
    h_expect_error(r, 401, "unauthenticated");
    assert_int_equal(count_tickets(), before);
}

static void a_retry_with_the_same_idempotency_key_replays_the_ticket_and_another_body_is_409(void **state)
{
    (void)state;
    const char *key = h_fmt(H, "Idempotency-Key: %s", h_unique(H, "idem"));
    const char *body = "{\"subject\": \"重复提交的投诉\", \"severity\": \"major\"}";
    h_resp *a = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, body, key);
    h_expect_status(a, 201);
    long after_first = count_tickets();
    json_int_t id = h_int(a->json, "id");

    h_resp *b = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, body, key);
    h_expect_status(b, 201);
    assert_int_equal(h_int(b->json, "id"), id);
    const char *rep = h_header(b, "Idempotent-Replayed");
    assert_non_null(rep);
    assert_string_equal(rep, "true");
    assert_int_equal(count_tickets(), after_first);
    /* the same body in another key order / spacing is still the same body? not
     * pinned; a different body is a conflict */
    h_resp *c = h_req(H, "POST", "/v1/tickets", H->k.frontdesk,
                      "{\"subject\": \"另一个投诉\", \"severity\": \"major\"}", key);
    h_expect_error(c, 409, "idempotency_conflict");
    assert_int_equal(count_tickets(), after_first);

    /* the replay returns the ticket as it is now */
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_resp *d = h_req(H, "POST", "/v1/tickets", H->k.frontdesk, body, key);
    h_expect_status(d, 201);
    assert_int_equal(h_int(d->json, "id"), id);
    h_assert_str(d->json, "state", "acknowledged");

    /* keys are scoped to the principal */
    h_resp *e = h_req(H, "POST", "/v1/tickets", H->k.manager, "{\"subject\": \"manager's own\"}", key);
    h_expect_status(e, 201);
    assert_true(h_int(e->json, "id") != id);
    assert_int_equal(count_tickets(), after_first + 1);
}

static void a_second_ticket_with_the_same_external_ref_is_409_conflict(void **state)
{
    (void)state;
    const char *ref = h_unique(H, "CRM");
    json_t *t = h_create_ticket(H, NULL, json_pack("{s:s, s:s}", "subject", "one", "external_ref", ref));
    h_assert_str(t, "external_ref", ref);
    long before = count_tickets();
    h_resp *r = h_reqj(H, "POST", "/v1/tickets", H->k.frontdesk,
                       json_pack("{s:s, s:s}", "subject", "two", "external_ref", ref));
    h_expect_error_field(r, 409, "conflict", "external_ref");
    assert_int_equal(count_tickets(), before);
}

static void anyone_authenticated_may_get_a_ticket_with_its_etag(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    const char *who[] = {H->k.frontdesk, H->k.manager, H->k.admin, H->k.agent[1], H->k.agent[2],
                         H->k.agent[3]};
    for (size_t i = 0; i < 6; i++) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), who[i], NULL);
        h_expect_status(r, 200);
        h_assert_int(r->json, "id", id);
        h_assert_str(r->json, "subject", h_str(t, "subject"));
        assert_non_null(h_header(r, "ETag"));
        assert_string_equal(h_header(r, "ETag"),
                            h_fmt(H, "\"%lld\"", (long long)h_int(r->json, "version")));
    }
    h_resp *r = h_req(H, "GET", "/v1/tickets/987654321", H->k.manager, NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "GET", "/v1/tickets/abc", H->k.manager, NULL);
    h_expect_error(r, 404, "not_found");
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
}

static void a_create_records_a_created_event_by_its_creator(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_t *ev = h_events(H, h_int(t, "id"));
    assert_true(json_array_size(ev) >= 1);
    json_t *e = json_array_get(ev, 0);
    h_assert_str(e, "type", "created");
    assert_true(h_int(e, "id") > 0);
    h_assert_ts(e, "at");
    h_assert_int(e, "actor.id", H->k.frontdesk_id);
    h_assert_str(e, "actor.name", H->k.frontdesk_name);
    h_assert_str(e, "actor.role", "frontdesk");
    h_assert_str(e, "to_tier", "line-1");
    h_assert_str(e, "to_state", "awaiting_ack");
    /* anyone authenticated may read the history */
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/events", (long long)h_int(t, "id")),
                      H->k.agent[3], NULL);
    h_expect_status(r, 200);
    r = h_req(H, "GET", "/v1/tickets/987654321/events", H->k.manager, NULL);
    h_expect_error(r, 404, "not_found");
}

static void only_managers_see_the_unmasked_customer_and_each_reveal_is_recorded(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL,
                                json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "subject", "reveal me",
                                          "customer", "name", "李雷", "phone", "13912345678",
                                          "email", "lilei@example.cn", "id_number",
                                          "11010519491231002X"));
    json_int_t id = h_int(t, "id");
    json_int_t v = h_int(t, "version");
    h_assert_str(t, "customer.phone", "139****5678");
    /* first character and the domain; how many stars is not pinned */
    const char *em = h_str(t, "customer.email");
    assert_non_null(em);
    assert_int_equal(em[0], 'l');
    assert_non_null(strstr(em, "@example.cn"));
    assert_null(strstr(em, "ilei"));
    for (const char *p = em + 1; *p != '@'; p++)
        assert_int_equal(*p, '*');

    const char *path = h_fmt(H, "/v1/tickets/%lld/customer", (long long)id);
    h_resp *r = h_req(H, "GET", path, H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "ticket_id", id);
    h_assert_str(r->json, "name", "李雷");
    h_assert_str(r->json, "phone", "13912345678");
    h_assert_str(r->json, "email", "lilei@example.cn");
    h_assert_str(r->json, "id_number", "11010519491231002X");
    r = h_req(H, "GET", path, H->k.admin, NULL);
    h_expect_status(r, 200);

    const char *deny[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[2], H->k.agent[3]};
    for (size_t i = 0; i < 4; i++) {
        r = h_req(H, "GET", path, deny[i], NULL);
        h_expect_error(r, 403, "forbidden");
        assert_null(strstr(r->body, "13912345678"));
    }
    r = h_req(H, "GET", path, NULL, NULL);
    h_expect_error(r, 401, "unauthenticated");
    r = h_req(H, "GET", "/v1/tickets/987654321/customer", H->k.manager, NULL);
    h_expect_error(r, 404, "not_found");

    /* the reveal is in the history, by the revealer; version unchanged */
    json_t *ev = h_events(H, id);
    int reveals = 0;
    json_t *e;
    size_t i;
    json_array_foreach(ev, i, e) {
        if (h_str(e, "type") && strcmp(h_str(e, "type"), "customer_revealed") == 0) {
            if (reveals == 0) {
                h_assert_int(e, "actor.id", H->k.manager_id);
                h_assert_str(e, "actor.role", "manager");
            } else {
                h_assert_int(e, "actor.id", H->k.admin_id);
            }
            reveals++;
        }
    }
    assert_int_equal(reveals, 2);
    json_t *g = h_get_ticket(H, NULL, id);
    h_assert_int(g, "version", v);
    h_assert_str(g, "customer.phone", "139****5678");
}

static void card_numbers_in_free_text_are_masked_when_they_pass_luhn(void **state)
{
    (void)state;
    /* 4111111111111111 passes the Luhn check; 4111111111111112 does not */
    json_t *t = h_create_ticket(H, NULL,
                                json_pack("{s:s, s:s}", "subject", "charged twice on 4111111111111111",
                                          "description", "card 6222020200112233445 no; luhn-bad 4111111111111112"));
    const char *s = h_str(t, "subject");
    assert_non_null(s);
    assert_null(strstr(s, "4111111111111111"));
    assert_non_null(strstr(s, "4111********1111")); /* first 4 and last 4, as the bank_card field */
    const char *d = h_str(t, "description");
    assert_non_null(strstr(d, "4111111111111112")); /* not a card number: kept */
}

static void anyone_authenticated_may_comment_and_an_empty_comment_is_400(void **state)
{
    (void)state;
    json_t *t = h_create_ticket(H, NULL, NULL);
    json_int_t id = h_int(t, "id");
    const char *who[] = {H->k.frontdesk, H->k.agent[3], H->k.manager};
    for (size_t i = 0; i < 3; i++) {
        h_resp *r = h_action(H, who[i], id, "comment", json_pack("{s:s}", "body", "客户来电催促"));
        h_expect_status(r, 201);
        h_assert_str(r->json, "type", "commented");
        h_assert_str(r->json, "body", "客户来电催促");
        assert_true(h_int(r->json, "id") > 0);
    }
    assert_int_equal(h_count_events(H, id, "commented", NULL), 3);
    h_resp *r = h_action(H, H->k.frontdesk, id, "comment", json_pack("{s:s}", "body", ""));
    h_expect_error_field(r, 400, "validation_failed", "body");
    r = h_action(H, H->k.frontdesk, id, "comment", json_object());
    h_expect_error_field(r, 400, "validation_failed", "body");
    r = h_action(H, H->k.frontdesk, 987654321, "comment", json_pack("{s:s}", "body", "x"));
    h_expect_error(r, 404, "not_found");
}

struct racer {
    const char *body, *hdr;
    long status;
    json_int_t id;
    const char *code;
};

static void *race_create(void *arg)
{
    struct racer *r = arg;
    h_resp *resp = r->hdr ? h_req(H, "POST", "/v1/tickets", H->k.frontdesk, r->body, r->hdr)
                          : h_req(H, "POST", "/v1/tickets", H->k.frontdesk, r->body);
    r->status = resp->status;
    r->id = h_int(resp->json, "id");
    r->code = h_str(resp->json, "error.code");
    return NULL;
}

#define N_RACERS 8

static void run_racers(struct racer *rs) { h_race(N_RACERS, race_create, rs, sizeof rs[0]); }

/* Retries racing each other: one ticket, every answer 201 with it. */
static void concurrent_retries_with_one_idempotency_key_create_one_ticket(void **state)
{
    (void)state;
    long before = count_tickets();
    const char *key = h_fmt(H, "Idempotency-Key: %s", h_unique(H, "race"));
    struct racer rs[N_RACERS];
    for (int i = 0; i < N_RACERS; i++)
        rs[i] = (struct racer){"{\"subject\": \"并发重试\"}", key, 0, 0, NULL};
    run_racers(rs);
    for (int i = 0; i < N_RACERS; i++) {
        if (rs[i].status != 201) {
            print_error("racer %d: %ld %s\n", i, rs[i].status, rs[i].code ? rs[i].code : "");
            fail();
        }
        assert_int_equal(rs[i].id, rs[0].id);
    }
    assert_int_equal(count_tickets(), before + 1);
}

/* The same external_ref at once: one 201, the rest 409 conflict (not 500). */
static void concurrent_creates_with_one_external_ref_create_one_ticket(void **state)
{
    (void)state;
    long before = count_tickets();
    const char *body = h_fmt(H, "{\"subject\": \"x\", \"external_ref\": \"%s\"}", h_unique(H, "ext"));
    struct racer rs[N_RACERS];
    for (int i = 0; i < N_RACERS; i++)
        rs[i] = (struct racer){body, NULL, 0, 0, NULL};
    run_racers(rs);
    int ok = 0;
    for (int i = 0; i < N_RACERS; i++) {
        if (rs[i].status == 201)
            ok++;
        else if (rs[i].status != 409 || !rs[i].code || strcmp(rs[i].code, "conflict") != 0) {
            print_error("racer %d: %ld %s\n", i, rs[i].status, rs[i].code ? rs[i].code : "");
            fail();
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(count_tickets(), before + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_minimal_create_is_201_with_the_defaults_and_default_deadlines),
        cmocka_unit_test(a_full_major_create_keeps_every_field_and_masks_the_customer_everywhere),
        cmocka_unit_test(subject_is_1_to_200_characters_not_bytes),
        cmocka_unit_test(description_up_to_10000_and_category_up_to_64_characters),
        cmocka_unit_test(every_channel_of_the_spec_is_accepted),
        cmocka_unit_test(only_frontdesk_manager_and_admin_may_create),
        cmocka_unit_test(a_retry_with_the_same_idempotency_key_replays_the_ticket_and_another_body_is_409),
        cmocka_unit_test(a_second_ticket_with_the_same_external_ref_is_409_conflict),
        cmocka_unit_test(concurrent_retries_with_one_idempotency_key_create_one_ticket),
        cmocka_unit_test(concurrent_creates_with_one_external_ref_create_one_ticket),
        cmocka_unit_test(anyone_authenticated_may_get_a_ticket_with_its_etag),
        cmocka_unit_test(a_create_records_a_created_event_by_its_creator),
        cmocka_unit_test(only_managers_see_the_unmasked_customer_and_each_reveal_is_recorded),
        cmocka_unit_test(card_numbers_in_free_text_are_masked_when_they_pass_luhn),
        cmocka_unit_test(anyone_authenticated_may_comment_and_an_empty_comment_is_400),
    };
    return h_run_tests_with_daemon(&H, "test_api_tickets", 0, tests);
}
