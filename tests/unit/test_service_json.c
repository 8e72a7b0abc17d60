/* test_service_json.c — lib/service/webhooks.c's builders of outgoing JSON:
 * a notification's payload is masked as a ticket is (customer fields and
 * free text, top level and in a nested "ticket"), the store's object is only
 * borrowed, and a webhook never shows its secret except when asked to once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/service.h"

static const char *str_at(json_t *o, const char *path)
{
    /* "a.b.c": nested objects */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_string_value(v);
}

static json_t *stored_notification(void)
{
    json_t *n = json_loads(
        "{\"id\": 7, \"ticket_id\": 3, \"type\": \"breached\", \"audience\": \"managers\","
        " \"status\": \"pending\", \"created_at\": \"2026-01-05T01:02:03.000Z\","
        " \"routed_at\": null, \"delivered_at\": null, \"attempts\": 0, \"last_error\": null,"
        " \"payload\": {\"type\": \"breached\", \"ticket_id\": 3, \"tier\": \"line-1\","
        "   \"subject\": \"card 4111111111111111 lost\","
        "   \"customer\": {\"name\": \"Wang\", \"phone\": \"13812345678\","
        "     \"email\": \"wang@example.com\", \"id_number\": \"11010519491231002X\"},"
        "   \"ticket\": {\"description\": \"call 13812345678\","
        "     \"customer\": {\"phone\": \"13912345678\"}}},"
        " \"deliveries\": [{\"id\": \"d1\", \"status\": \"pending\"}],"
        " \"not_for_clients\": true}",
        0, NULL);
    assert_non_null(n);
    return n;
}

static void test_notification_payload_masked(void **state)
{
    (void)state;
    json_t *n = stored_notification();
    json_t *o = escp_notification_json(n);
    assert_non_null(o);
    assert_string_equal(str_at(o, "payload.customer.phone"), "138****5678");
    assert_string_equal(str_at(o, "payload.customer.email"), "w***@example.com");
    assert_string_equal(str_at(o, "payload.customer.id_number"), "110***********002X");
    assert_string_equal(str_at(o, "payload.ticket.customer.phone"), "139****5678");

    /* exactly what the ticket's own masking makes of the same object */
    json_t *want = json_deep_copy(json_object_get(n, "payload"));
    escp_ticket_mask(want);
    escp_ticket_mask(json_object_get(want, "ticket"));
    assert_true(json_equal(json_object_get(o, "payload"), want));
    assert_string_equal(str_at(o, "payload.subject"), "card 4111********1111 lost");
    json_decref(want);

    /* the store's object is borrowed: left as it was */
    assert_string_equal(str_at(n, "payload.customer.phone"), "13812345678");
    json_decref(o);
    json_decref(n);
}

static void test_notification_fields(void **state)
{
    (void)state;
    json_t *n = stored_notification();
    json_t *o = escp_notification_json(n);
    assert_non_null(o);
    static const char *const keys[] = {"id", "ticket_id", "type", "audience", "status",
                                       "created_at", "routed_at", "delivered_at", "attempts",
                                       "last_error", "deliveries", NULL};
    for (const char *const *k = keys; *k; k++)
        assert_true(json_equal(json_object_get(o, *k), json_object_get(n, *k)));
    assert_true(json_is_null(json_object_get(o, "routed_at")));
    assert_null(json_object_get(o, "not_for_clients"));
    assert_int_equal(json_object_size(o), 12);
    json_decref(o);
    json_decref(n);
}

static void test_webhook_secret(void **state)
{
    (void)state;
    json_t *w = json_loads(
        "{\"id\": 4, \"url\": \"https://example.com/hook\", \"event_types\": [\"breached\"],"
        " \"active\": true, \"created_at\": \"2026-01-05T01:02:03.000Z\","
        " \"created_by\": {\"id\": 1, \"name\": \"root\"}, \"deleted_at\": null,"
        " \"secret\": \"whsec_from_the_store\"}",
        0, NULL);
    assert_non_null(w);

    json_t *o = escp_webhook_json(w, NULL);
    assert_non_null(o);
    assert_null(json_object_get(o, "secret"));
    assert_int_equal(json_object_size(o), 7);
    assert_string_equal(str_at(o, "url"), "https://example.com/hook");
    assert_string_equal(str_at(o, "created_by.name"), "root");
    assert_true(json_is_null(json_object_get(o, "deleted_at")));
    assert_true(json_is_true(json_object_get(o, "active")));
    json_decref(o);

    o = escp_webhook_json(w, "shown-once-0123456789");
    assert_non_null(o);
    assert_string_equal(str_at(o, "secret"), "shown-once-0123456789");
    assert_int_equal(json_object_size(o), 8);
    json_decref(o);
    json_decref(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notification_payload_masked),
        cmocka_unit_test(test_notification_fields),
        cmocka_unit_test(test_webhook_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
