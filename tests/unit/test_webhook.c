/* test_webhook.c — lib/webhook_sign.c: the signature receivers check (known
 * HMAC-SHA256 vectors, computed independently with `openssl dgst -hmac`) and
 * the retry back-off (exponential, capped, jitter between 50% and 100%).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/webhook_sign.h"

static void test_sign_known_vector(void **state)
{
    (void)state;
    char sig[ESC_WEBHOOK_SIGNATURE_LEN + 1];
    /* printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test_secret_0123456789 */
    const char *body = "{\"a\":1}";
    assert_int_equal(esc_webhook_sign("whsec_test_secret_0123456789", 1700000000, body, strlen(body), sig), 0);
    assert_string_equal(sig, "sha256=10fb0e5eb2c2204d471e7d252958fb5af663638b8d24fc8dc03090a74bcc366c");
    assert_int_equal(strlen(sig), ESC_WEBHOOK_SIGNATURE_LEN);
}

static void test_sign_depends_on_every_input(void **state)
{
    (void)state;
    char a[ESC_WEBHOOK_SIGNATURE_LEN + 1], b[ESC_WEBHOOK_SIGNATURE_LEN + 1];
    const char *body = "{\"type\":\"breached\"}";
    assert_int_equal(esc_webhook_sign("secret-one-0123456", 1, body, strlen(body), a), 0);
    assert_int_equal(esc_webhook_sign("secret-two-0123456", 1, body, strlen(body), b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(esc_webhook_sign("secret-one-0123456", 2, body, strlen(body), b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(esc_webhook_sign("secret-one-0123456", 1, body, strlen(body) - 1, b), 0);
    assert_string_not_equal(a, b);
    /* an empty body signs "<timestamp>." */
    /* printf '42.' | openssl dgst -sha256 -hmac key-key-key-key-key */
    assert_int_equal(esc_webhook_sign("key-key-key-key-key", 42, NULL, 0, b), 0);
    assert_string_equal(b, "sha256=3e36d293d625f4c417afec3d7c9a580c49b00b5555926ff0fb0cc8c0fe0c6664");
    assert_int_equal(esc_webhook_sign(NULL, 1, body, strlen(body), b), -1);
    assert_string_equal(b, "");
}

static void test_backoff(void **state)
{
    (void)state;
    /* u = 0.999999...: the full step; u = 0: half of it */
    const double base = 30, cap = 3600;
    const double full[] = {30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600};
    for (int n = 1; n <= 10; n++) {
        assert_true(esc_webhook_backoff(n, base, cap, 0.0) == full[n - 1] / 2);
        double hi = esc_webhook_backoff(n, base, cap, 0.9999999);
        assert_true(hi <= full[n - 1] && hi > full[n - 1] * 0.999);
        double mid = esc_webhook_backoff(n, base, cap, 0.5);
        assert_true(mid == full[n - 1] * 0.75);
    }
    /* out-of-range inputs are clamped; huge attempt counts do not overflow */
    assert_true(esc_webhook_backoff(0, base, cap, 0.0) == 15);
    assert_true(esc_webhook_backoff(1000000, base, cap, 0.0) == 1800);
    assert_true(esc_webhook_backoff(3, base, cap, -5) == 60);
    assert_true(esc_webhook_backoff(3, base, cap, 7) < 120);
    assert_true(esc_webhook_backoff(3, 0.2, 0.1, 0.0) == 0.1); /* cap below base: base */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_vector),
        cmocka_unit_test(test_sign_depends_on_every_input),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
