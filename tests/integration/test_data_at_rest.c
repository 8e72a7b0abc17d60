/* test_data_at_rest.c — customer data encrypted at rest (migration 006,
 * docs/security.md): no customer value in clear in any table, the recorded
 * reveal, the bank_card field, the managers' blind-index search, rows from
 * before 006 sealed at start-up, key rotation, and no start without a key. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static h_ctx *H;

#define NAME "王小明"
#define PHONE "+86 138-1234-5678"
#define PHONE_DIGITS "13812345678"
#define EMAIL "wang.xm@example.com"
#define ID_NUMBER "110101199003071233"
#define CARD "6222 0212 3456 7890 128"
#define CARD_DIGITS "6222021234567890128"


static void assert_nowhere_in_clear(const char *needle)
{
    const char *hits = h_probe_clear(H, needle);
    assert_non_null(hits);
    if (*hits)
        fail_msg("'%s' is stored in clear in: %s", needle, hits);
}

static json_t *customer_body(const char *subject, const char *severity, const char *phone,
                             const char *id_number)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "subject", subject, "severity",
                     severity, "customer", "name", NAME, "phone", phone, "email", EMAIL,
                     "id_number", id_number, "bank_card", CARD);
}

static void assert_reveal(json_int_t id, const char *phone, const char *id_number)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id),
                      H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_int(r->json, "ticket_id", id);
    h_assert_str(r->json, "name", NAME);
    h_assert_str(r->json, "phone", phone);
    h_assert_str(r->json, "email", EMAIL);
    h_assert_str(r->json, "id_number", id_number);
    h_assert_str(r->json, "bank_card", CARD);
}

/* The ids a list answers, in order, as "12,11" */
static const char *ids_of(const char *query, const char *token)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets?%s", query), token, NULL);
    h_expect_status(r, 200);
    char *buf = calloc(1, 4096);
    size_t i, o = 0;
    json_t *it;
    json_array_foreach(h_get(r->json, "items"), i, it)
        o += (size_t)snprintf(buf + o, 4096 - o, "%s%lld", i ? "," : "", (long long)h_int(it, "id"));
    const char *out = h_fmt(H, "%s", buf);
    free(buf);
    return out;
}

static void no_customer_value_is_stored_in_clear_anywhere(void **state)
{
    (void)state;
    /* a major complaint: a notification and its event too */
    json_t *t = h_create_ticket(H, H->k.manager, customer_body("sealed", "major", PHONE, ID_NUMBER));
    json_int_t id = h_int(t, "id");
    /* ordinary reads show the masked forms */
    h_assert_str(t, "customer.name", "王**");
    h_assert_str(t, "customer.phone", "861******5678");
    h_assert_str(t, "customer.email", "w***@example.com");
    h_assert_str(t, "customer.id_number", "110***********1233");
    h_assert_str(t, "customer.bank_card", "6222***********0128");
    json_t *g = h_get_ticket(H, H->k.agent[1], id);
    h_assert_str(g, "customer.bank_card", "6222***********0128");
    h_assert_str(g, "customer.name", "王**");
    /* some history: acknowledge, comment, a reveal */
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_action_ok(H, H->k.agent[1], id, "comment", json_pack("{s:s}", "body", "called back"));
    assert_reveal(id, PHONE, ID_NUMBER);
    json_t *ev = h_events(H, id);
    json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    h_assert_str(last, "type", "customer_revealed");

    /* the probe finds what is stored in clear: the subject, say */
    assert_non_null(strstr(h_probe_clear(H, "sealed"), "tickets.subject"));
    const char *needles[] = {NAME, PHONE, PHONE_DIGITS, "1234-5678", EMAIL, "wang.xm",
                             ID_NUMBER, CARD, CARD_DIGITS, "3456 7890", NULL};
    for (const char *const *n = needles; *n; n++)
        assert_nowhere_in_clear(*n);
    /* and what is there is sealed, versioned and indexed */
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE id = %lld AND "
                                 "customer_phone_sealed LIKE 'esc1:v1:%%' AND "
                                 "customer_bank_card_sealed LIKE 'esc1:v1:%%' AND "
                                 "customer_key_version = 1 AND length(customer_phone_bi) = 64 AND "
                                 "length(customer_id_number_bi) = 64",
                             (long long)id),
                     1);
}

static void a_sealed_value_moved_to_another_ticket_does_not_open(void **state)
{
    (void)state;
    json_int_t a = h_int(h_create_ticket(H, NULL, customer_body("a", "normal", PHONE, ID_NUMBER)), "id");
    json_int_t b = h_int(h_create_ticket(H, NULL, json_pack("{s:s, s:{s:s}}", "subject", "b",
                                                            "customer", "phone", "13900000000")),
                         "id");
    const char *err = NULL;
    char *own = strdup(h_sql_value(H, "SELECT customer_phone_sealed FROM tickets WHERE id = %lld",
                                   (long long)b));
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE tickets SET customer_phone_sealed = "
                                            "(SELECT customer_phone_sealed FROM tickets WHERE id = %lld) "
                                            "WHERE id = %lld", (long long)a, (long long)b), &err), 0);
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)b), H->k.manager, NULL);
    h_expect_status(r, 500);
    assert_null(strstr(r->body, PHONE_DIGITS));
    /* put it back: a value that does not open also stops a rotation, which
     * the operator must look into (docs/security.md) */
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE tickets SET customer_phone_sealed = '%s' "
                                            "WHERE id = %lld", own, (long long)b), &err), 0);
    free(own);
    r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)b), H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "phone", "13900000000");
}

static void bank_card_and_identity_number_are_validated(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk,
                      "{\"subject\": \"x\", \"customer\": {\"id_number\": \"110101199003071234\"}}");
    h_expect_error_field(r, 400, "validation_failed", "customer.id_number");
    r = h_req(H, "POST", "/v1/tickets", H->k.frontdesk,
              "{\"subject\": \"x\", \"customer\": {\"bank_card\": \"1234 5678\"}}");
    h_expect_error_field(r, 400, "validation_failed", "customer.bank_card");
    /* a legacy 15-digit number is accepted */
    json_t *t = h_create_ticket(H, NULL, json_pack("{s:s, s:{s:s}}", "subject", "x", "customer",
                                                   "id_number", "110101900307123"));
    h_assert_str(t, "customer.id_number", "110********7123");
}

static void managers_find_earlier_complaints_of_one_customer_by_the_blind_index(void **state)
{
    (void)state;
    /* one phone written three ways, one identity number with a lower-case x */
    json_int_t t1 = h_int(h_create_ticket(H, NULL, customer_body("first", "normal", "13887654321",
                                                                 "11010519491231002X")), "id");
    json_int_t t2 = h_int(h_create_ticket(H, NULL, customer_body("second", "major",
                                                                 "+86 138-8765-4321",
                                                                 "11010519491231002x")), "id");
    json_int_t t3 = h_int(h_create_ticket(H, NULL, customer_body("third", "normal",
                                                                 "0086 13887654321",
                                                                 "110101199003071233")), "id");
    h_create_ticket(H, NULL, customer_body("other", "normal", "13900001111", "110101900307123"));

    const char *q = h_fmt(H, "customer_phone=%s", h_urlenc(H, "+86 138 8765 4321"));
    assert_string_equal(ids_of(q, H->k.manager),
                        h_fmt(H, "%lld,%lld,%lld", (long long)t3, (long long)t2, (long long)t1));
    assert_string_equal(ids_of(h_fmt(H, "%s&severity=major", q), H->k.admin),
                        h_fmt(H, "%lld", (long long)t2));
    assert_string_equal(ids_of(h_fmt(H, "%s&limit=1", q), H->k.manager),
                        h_fmt(H, "%lld", (long long)t3));
    assert_string_equal(ids_of("customer_id_number=11010519491231002X", H->k.manager),
                        h_fmt(H, "%lld,%lld", (long long)t2, (long long)t1));
    assert_string_equal(ids_of(h_fmt(H, "%s&customer_id_number=110101199003071233", q),
                               H->k.manager),
                        h_fmt(H, "%lld", (long long)t3));
    assert_string_equal(ids_of("customer_phone=13700000000", H->k.manager), "");

    /* managers and admins only, before the value is judged */
    h_resp *r = h_req(H, "GET", "/v1/tickets?customer_phone=13887654321", H->k.frontdesk, NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "GET", "/v1/tickets?customer_id_number=!!", H->k.agent[1], NULL);
    h_expect_error(r, 403, "forbidden");
    r = h_req(H, "GET", "/v1/tickets?customer_phone=call-me", H->k.manager, NULL);
    h_expect_error_field(r, 400, "validation_failed", "customer_phone");
    r = h_req(H, "GET", "/v1/tickets?customer_id_number=%2A%2A", H->k.manager, NULL);
    h_expect_error_field(r, 400, "validation_failed", "customer_id_number");
}

static void a_row_from_before_006_is_sealed_when_the_daemon_starts(void **state)
{
    (void)state;
    json_int_t id = h_int(h_create_ticket(H, NULL, json_pack("{s:s}", "subject", "old row")), "id");
    h_daemon_stop_ok(H);
    /* what a row written before migration 006 holds: clear columns only */
    const char *err = NULL;
    assert_int_equal(h_sql_exec(H, h_fmt(H, "UPDATE tickets SET customer_name = '李雷', "
                                            "customer_phone = '139-1234-5678', customer_email = "
                                            "'lilei@example.cn', customer_id_number = "
                                            "'11010519491231002X' WHERE id = %lld", (long long)id),
                                &err),
                     0);
    h_daemon_start(H);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE customer_name IS NOT NULL OR "
                                 "customer_phone IS NOT NULL OR customer_email IS NOT NULL OR "
                                 "customer_id_number IS NOT NULL"),
                     0);
    assert_int_equal(h_sql_ll(H, "SELECT customer_key_version FROM tickets WHERE id = %lld",
                              (long long)id),
                     1);
    assert_nowhere_in_clear("李雷");
    assert_nowhere_in_clear("lilei");
    json_t *g = h_get_ticket(H, H->k.frontdesk, id);
    h_assert_str(g, "customer.phone", "139****5678");
    h_assert_str(g, "customer.name", "李*");
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld/customer", (long long)id), H->k.manager, NULL);
    h_expect_status(r, 200);
    h_assert_str(r->json, "phone", "139-1234-5678");
    h_assert_str(r->json, "email", "lilei@example.cn");
    assert_string_equal(ids_of("customer_phone=13912345678", H->k.manager),
                        h_fmt(H, "%lld", (long long)id));
}

static void rotation_reseals_every_row_with_the_new_version_while_the_daemon_serves(void **state)
{
    (void)state;
    json_int_t id = h_int(h_create_ticket(H, NULL, customer_body("before rotation", "normal",
                                                                 "13655554444", ID_NUMBER)), "id");
    long long sealed = h_sql_ll(H, "SELECT count(*) FROM tickets WHERE customer_key_version IS NOT NULL");
    assert_true(sealed >= 5);
    char *argv[] = {H->bin, "data-key", "rotate", "--db", H->conninfo, "--data-key-file",
                    H->data_key_file, NULL};
    char *out = NULL;
    assert_int_equal(h_run(argv, &out), 0);
    free(out);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE customer_key_version = 2"), sealed);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE customer_key_version <> 2"), 0);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM tickets WHERE customer_phone_sealed NOT LIKE "
                                 "'esc1:v2:%%'"),
                     0);
    /* the running daemon loaded version 1 only: it reloads the file to open */
    assert_reveal(id, "13655554444", ID_NUMBER);
    assert_string_equal(ids_of("customer_phone=13655554444", H->k.manager),
                        h_fmt(H, "%lld", (long long)id));
    /* and seals new values with version 2 */
    json_int_t n = h_int(h_create_ticket(H, NULL, customer_body("after", "normal", "13655554444",
                                                                ID_NUMBER)), "id");
    assert_int_equal(h_sql_ll(H, "SELECT customer_key_version FROM tickets WHERE id = %lld",
                              (long long)n),
                     2);
    assert_string_equal(ids_of("customer_phone=13655554444", H->k.manager),
                        h_fmt(H, "%lld,%lld", (long long)n, (long long)id));
    assert_reveal(n, "13655554444", ID_NUMBER);
}

static void the_daemon_refuses_to_start_without_a_usable_key(void **state)
{
    (void)state;
    /* no key at all */
    char *no_key[] = {"/usr/bin/env", "-u", "ESCALATED_DATA_KEY_FILE", H->bin, "serve", "--db",
                      H->conninfo, "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(h_run(no_key, NULL), 2);
    /* a file that is missing, and one that others may read */
    const char *missing = h_fmt(H, "%s.missing", H->data_key_file);
    char *gone[] = {H->bin, "serve", "--db", H->conninfo, "--listen", "127.0.0.1:0",
                    "--data-key-file", (char *)missing, NULL};
    assert_int_equal(h_run(gone, NULL), 2);
    const char *loose = h_fmt(H, "%s.loose", H->data_key_file);
    unlink(loose);
    char *mk[] = {H->bin, "data-key", "create", "--data-key-file", (char *)loose, NULL};
    assert_int_equal(h_run(mk, NULL), 0);
    struct stat st;
    assert_int_equal(stat(loose, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    chmod(loose, 0644);
    char *open_to_all[] = {H->bin, "serve", "--db", H->conninfo, "--listen", "127.0.0.1:0",
                           "--data-key-file", (char *)loose, NULL};
    assert_int_equal(h_run(open_to_all, NULL), 2);
    unlink(loose);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_customer_value_is_stored_in_clear_anywhere),
        cmocka_unit_test(a_sealed_value_moved_to_another_ticket_does_not_open),
        cmocka_unit_test(bank_card_and_identity_number_are_validated),
        cmocka_unit_test(managers_find_earlier_complaints_of_one_customer_by_the_blind_index),
        cmocka_unit_test(a_row_from_before_006_is_sealed_when_the_daemon_starts),
        cmocka_unit_test(rotation_reseals_every_row_with_the_new_version_while_the_daemon_serves),
        cmocka_unit_test(the_daemon_refuses_to_start_without_a_usable_key),
    };
    return h_run_tests_with_daemon(&H, "test_data_at_rest", H_WITH_PROBE, tests);
}
