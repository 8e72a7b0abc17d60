/* test_netaddr.c — lib/core/netaddr.c: which addresses a webhook may be sent
 * to.  Every special range at its edges (first and last address, and the
 * neighbours just outside), the IPv6 forms that carry an IPv4 address, the
 * sockaddr entry point and the host names refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/netaddr.h"

#define PUB ESC_NETADDR_PUBLIC
#define LO ESC_NETADDR_LOOPBACK
#define PRIV ESC_NETADDR_PRIVATE
#define LL ESC_NETADDR_LINK_LOCAL
#define UNSPEC ESC_NETADDR_UNSPECIFIED
#define SHARED ESC_NETADDR_SHARED
#define MCAST ESC_NETADDR_MULTICAST
#define DOC ESC_NETADDR_DOCUMENTATION
#define RES ESC_NETADDR_RESERVED

struct addr_case {
    const char *ip;
    enum esc_netaddr_class want;
};

static const struct addr_case cases[] = {
    /* IPv4 */
    {"0.0.0.0", UNSPEC},           {"0.255.255.255", UNSPEC},     {"1.0.0.0", PUB},
    {"8.8.8.8", PUB},              {"9.255.255.255", PUB},        {"10.0.0.0", PRIV},
    {"10.255.255.255", PRIV},      {"11.0.0.0", PUB},             {"100.63.255.255", PUB},
    {"100.64.0.0", SHARED},        {"100.127.255.255", SHARED},   {"100.128.0.0", PUB},
    {"126.255.255.255", PUB},      {"127.0.0.1", LO},             {"127.255.255.254", LO},
    {"128.0.0.0", PUB},            {"169.253.255.255", PUB},      {"169.254.0.1", LL},
    {"169.254.169.254", LL},       {"169.255.0.0", PUB},          {"172.15.255.255", PUB},
    {"172.16.0.0", PRIV},          {"172.31.255.255", PRIV},      {"172.32.0.0", PUB},
    {"192.0.0.8", RES},            {"192.0.1.1", PUB},            {"192.0.2.1", DOC},
    {"192.88.99.1", RES},          {"192.168.0.1", PRIV},         {"192.168.255.255", PRIV},
    {"192.169.0.0", PUB},          {"198.17.255.255", PUB},       {"198.18.0.0", RES},
    {"198.19.255.255", RES},       {"198.20.0.0", PUB},           {"198.51.100.7", DOC},
    {"203.0.113.9", DOC},          {"223.255.255.255", PUB},      {"224.0.0.1", MCAST},
    {"239.255.255.255", MCAST},    {"240.0.0.1", RES},            {"255.255.255.255", RES},
    /* IPv6 */
    {"::", UNSPEC},                {"::1", LO},                   {"::2", UNSPEC /* ::0.0.0.2 */},
    {"::ffff:127.0.0.1", LO},      {"::ffff:7f00:1", LO},         {"::ffff:10.1.2.3", PRIV},
    {"::ffff:169.254.169.254", LL}, {"::ffff:8.8.8.8", PUB},      {"::127.0.0.1", LO},
    {"::10.0.0.1", PRIV}, {"::8.8.8.8", PUB},          {"64:ff9b::127.0.0.1", LO},    {"64:ff9b::a9fe:a9fe", LL},
    {"64:ff9b::8.8.8.8", PUB},     {"64:ff9b:1::1", PRIV},        {"2002:7f00:1::", LO},
    {"2002:c0a8:101::1", PRIV},    {"2002:808:808::1", PUB},      {"2001:db8::1", DOC},
    {"3fff::1", DOC},              {"2001::1", RES /* Teredo */}, {"2001:2::1", RES},
    {"2001:4860:4860::8888", PUB}, {"2606:4700::1111", PUB},      {"100::1", RES},
    {"fc00::1", PRIV},             {"fdff:ffff::1", PRIV},        {"fe80::1", LL},
    {"febf::1", LL},               {"fec0::1", PRIV},             {"ff02::1", MCAST},
    {"4000::1", RES},              {"1fff::1", RES},
};

static void every_range_at_its_edges(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum esc_netaddr_class got = PUB;
        if (esc_netaddr_classify_text(cases[i].ip, &got) != 0 || got != cases[i].want) {
            print_error("%s: %s, want %s\n", cases[i].ip, esc_netaddr_class_name(got),
                        esc_netaddr_class_name(cases[i].want));
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void text_that_is_not_an_address_is_refused(void **state)
{
    (void)state;
    enum esc_netaddr_class c;
    const char *bad[] = {"", "localhost", "127.1", "0x7f000001", "2130706433", "[::1]", "fe80::1%eth0",
                         "1.2.3.4.5", "::ffff:1.2.3", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(esc_netaddr_classify_text(bad[i], &c), -1);
    assert_int_equal(esc_netaddr_classify_text(NULL, &c), -1);
}

static void socket_addresses_are_classified_like_their_text(void **state)
{
    (void)state;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(80)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    struct sockaddr other = {.sa_family = AF_UNIX};
    inet_pton(AF_INET, "169.254.169.254", &a4.sin_addr);
    assert_int_equal(esc_netaddr_classify((struct sockaddr *)&a4), LL);
    inet_pton(AF_INET, "93.184.216.34", &a4.sin_addr);
    assert_int_equal(esc_netaddr_classify((struct sockaddr *)&a4), PUB);
    inet_pton(AF_INET6, "::ffff:192.168.1.1", &a6.sin6_addr);
    assert_int_equal(esc_netaddr_classify((struct sockaddr *)&a6), PRIV);
    inet_pton(AF_INET6, "2a00:1450:4001::200e", &a6.sin6_addr);
    assert_int_equal(esc_netaddr_classify((struct sockaddr *)&a6), PUB);
    assert_int_equal(esc_netaddr_classify(&other), RES);
    assert_int_equal(esc_netaddr_classify(NULL), RES);
}

static void metadata_and_localhost_names_are_refused_by_name(void **state)
{
    (void)state;
    const char *no[] = {"metadata.google.internal", "METADATA.Google.Internal.", "metadata",
                        "metadata.goog", "instance-data", "instance-data.ec2.internal",
                        "localhost", "localhost.", "api.localhost", "x.y.LOCALHOST", NULL};
    const char *yes[] = {"example.com", "metadata.example.com", "mylocalhost", "localhost.example.com",
                         "google.internal", "hooks.slack.com", NULL};
    for (int i = 0; no[i]; i++)
        if (!esc_netaddr_host_forbidden(no[i], false))
            fail_msg("%s should be refused", no[i]);
    for (int i = 0; yes[i]; i++)
        if (esc_netaddr_host_forbidden(yes[i], false) || esc_netaddr_host_forbidden(yes[i], true))
            fail_msg("%s should be allowed", yes[i]);
    assert_true(esc_netaddr_host_forbidden(NULL, true));
    /* a private network may use localhost, never the metadata service */
    assert_false(esc_netaddr_host_forbidden("localhost", true));
    assert_false(esc_netaddr_host_forbidden("api.localhost.", true));
    assert_true(esc_netaddr_host_forbidden("metadata.google.internal", true));
    assert_true(esc_netaddr_host_forbidden("Instance-Data.", true));
}

static void the_private_network_setting_opens_only_private_networks(void **state)
{
    (void)state;
    static const struct {
        enum esc_netaddr_class c;
        bool off, on;
    } want[] = {
        {PUB, true, true},     {LO, false, true},     {PRIV, false, true},  {SHARED, false, true},
        {LL, false, false},    {UNSPEC, false, false}, {MCAST, false, false}, {DOC, false, false},
        {RES, false, false},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (esc_netaddr_allowed(want[i].c, false) != want[i].off ||
            esc_netaddr_allowed(want[i].c, true) != want[i].on)
            fail_msg("%s: allowed off/on should be %d/%d", esc_netaddr_class_name(want[i].c),
                     want[i].off, want[i].on);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_range_at_its_edges),
        cmocka_unit_test(text_that_is_not_an_address_is_refused),
        cmocka_unit_test(socket_addresses_are_classified_like_their_text),
        cmocka_unit_test(metadata_and_localhost_names_are_refused_by_name),
        cmocka_unit_test(the_private_network_setting_opens_only_private_networks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
