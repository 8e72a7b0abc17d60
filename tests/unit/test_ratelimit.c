/* test_ratelimit.c — lib/http/ratelimit.c: failed tokens counted per client
 * address in a fixed window, IPv6 by /64, IPv4-mapped IPv6 as IPv4, and a
 * table that stays bounded (the oldest window gives way).  The clock is the
 * test's: every case runs in microseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "http/ratelimit.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    else
        fail_msg("bad address %s", text);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void limit_within_window(void **state)
{
    (void)state;
    struct escp_ratelimit *rl = escp_ratelimit_new(3, 60, 64);
    assert_non_null(rl);
    struct sockaddr_storage a = addr("192.0.2.7"), b = addr("192.0.2.8");
    assert_true(escp_ratelimit_blocked(rl, SA(a), 100) == 0);
    assert_int_equal(escp_ratelimit_fail(rl, SA(a), 100), 0);
    assert_int_equal(escp_ratelimit_fail(rl, SA(a), 110), 0);
    assert_true(escp_ratelimit_blocked(rl, SA(a), 110) == 0); /* 2 of 3 */
    assert_int_equal(escp_ratelimit_fail(rl, SA(a), 120), 1); /* the third uses it up */
    assert_int_equal(escp_ratelimit_fail(rl, SA(a), 121), 0); /* reported once */
    /* refused until the window that opened at 100 ends at 160 */
    assert_float_equal(escp_ratelimit_blocked(rl, SA(a), 130), 30, 1e-9);
    assert_float_equal(escp_ratelimit_blocked(rl, SA(a), 159.5), 0.5, 1e-9);
    assert_true(escp_ratelimit_blocked(rl, SA(a), 160) == 0);
    /* another address is not affected */
    assert_true(escp_ratelimit_blocked(rl, SA(b), 130) == 0);
    /* a new window starts from nothing */
    escp_ratelimit_fail(rl, SA(a), 161);
    assert_true(escp_ratelimit_blocked(rl, SA(a), 161) == 0);
    escp_ratelimit_free(rl);
}

static void failures_spread_out_never_block(void **state)
{
    (void)state;
    struct escp_ratelimit *rl = escp_ratelimit_new(3, 10, 64);
    struct sockaddr_storage a = addr("198.51.100.1");
    for (int i = 0; i < 100; i++) {
        escp_ratelimit_fail(rl, SA(a), i * 5.0); /* 2 per window at most */
        if (i % 2 == 1)
            assert_true(escp_ratelimit_blocked(rl, SA(a), i * 5.0) == 0);
    }
    escp_ratelimit_free(rl);
}

static void ipv6_by_64_and_mapped_v4(void **state)
{
    (void)state;
    struct escp_ratelimit *rl = escp_ratelimit_new(2, 60, 64);
    struct sockaddr_storage x1 = addr("2001:db8:1:2::1"), x2 = addr("2001:db8:1:2:ffff::9"),
                            other = addr("2001:db8:1:3::1");
    escp_ratelimit_fail(rl, SA(x1), 0);
    escp_ratelimit_fail(rl, SA(x2), 1); /* same /64: the same counter */
    assert_true(escp_ratelimit_blocked(rl, SA(x1), 2) > 0);
    assert_true(escp_ratelimit_blocked(rl, SA(x2), 2) > 0);
    assert_true(escp_ratelimit_blocked(rl, SA(other), 2) == 0);

    struct sockaddr_storage v4 = addr("203.0.113.5"), mapped = addr("::ffff:203.0.113.5");
    escp_ratelimit_fail(rl, SA(v4), 0);
    escp_ratelimit_fail(rl, SA(mapped), 1);
    assert_true(escp_ratelimit_blocked(rl, SA(v4), 2) > 0);
    assert_true(escp_ratelimit_blocked(rl, SA(mapped), 2) > 0);
    escp_ratelimit_free(rl);
}

static void bounded_table_forgets_the_oldest(void **state)
{
    (void)state;
    /* 4 slots: one probe group, so every address competes for the same 4 */
    struct escp_ratelimit *rl = escp_ratelimit_new(1, 60, 4);
    char text[32];
    struct sockaddr_storage first = addr("10.0.0.1");
    escp_ratelimit_fail(rl, SA(first), 0);
    assert_true(escp_ratelimit_blocked(rl, SA(first), 1) > 0);
    for (int i = 2; i <= 5; i++) { /* four more, later: the first is the oldest */
        snprintf(text, sizeof text, "10.0.0.%d", i);
        struct sockaddr_storage a = addr(text);
        escp_ratelimit_fail(rl, SA(a), i);
    }
    assert_true(escp_ratelimit_blocked(rl, SA(first), 6) == 0);
    for (int i = 2; i <= 5; i++) {
        snprintf(text, sizeof text, "10.0.0.%d", i);
        struct sockaddr_storage a = addr(text);
        assert_true(escp_ratelimit_blocked(rl, SA(a), 6) > 0);
    }
    /* an expired window is reused before a live one is dropped */
    struct sockaddr_storage late = addr("10.0.0.9");
    escp_ratelimit_fail(rl, SA(late), 62.5); /* 10.0.0.2 (opened at 2) has expired */
    assert_true(escp_ratelimit_blocked(rl, SA(late), 63) > 0);
    for (int i = 3; i <= 5; i++) {
        snprintf(text, sizeof text, "10.0.0.%d", i);
        struct sockaddr_storage a = addr(text);
        assert_true(escp_ratelimit_blocked(rl, SA(a), 62.5) > 0);
    }
    escp_ratelimit_free(rl);
}

static void disabled_and_null(void **state)
{
    (void)state;
    struct escp_ratelimit *rl = escp_ratelimit_new(0, 60, 16);
    struct sockaddr_storage a = addr("192.0.2.1");
    for (int i = 0; i < 50; i++)
        assert_int_equal(escp_ratelimit_fail(rl, SA(a), 0), 0);
    assert_true(escp_ratelimit_blocked(rl, SA(a), 0) == 0);
    escp_ratelimit_free(rl);
    struct sockaddr unix_family = {.sa_family = AF_UNIX};
    rl = escp_ratelimit_new(1, 60, 16);
    escp_ratelimit_fail(rl, &unix_family, 0);
    assert_true(escp_ratelimit_blocked(rl, &unix_family, 0) == 0);
    assert_true(escp_ratelimit_blocked(rl, NULL, 0) == 0);
    escp_ratelimit_free(rl);
    escp_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limit_within_window),
        cmocka_unit_test(failures_spread_out_never_block),
        cmocka_unit_test(ipv6_by_64_and_mapped_v4),
        cmocka_unit_test(bounded_table_forgets_the_oldest),
        cmocka_unit_test(disabled_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
