/* test_webhook_destinations.c — webhooks cannot be aimed inside
 * (docs/security.md#webhook-destinations), with the real daemon:
 *   - with --webhook-allow-private-network off (the default), a URL whose
 *     host is, or resolves to, a loopback, private, link-local, shared,
 *     multicast or reserved address, in any spelling (IPv4-mapped, NAT64,
 *     6to4, a bare number), a metadata host name, localhost, or a URL with
 *     user:password@ is refused at registration: 400 validation_failed on
 *     field url, and nothing is stored;
 *   - with it on, loopback and private networks are accepted, link-local
 *     (the metadata address) and metadata names still are not;
 *   - at connect time: a webhook registered while the setting was on, sent by
 *     a daemon with it off (as when a public name comes to resolve inside),
 *     is never connected to; the attempt fails with the reason
 *     "destination address not allowed", and nothing else is kept.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static h_ctx *H;

static void daemon_with_private(const char *on_off)
{
    const char *args[] = {"--webhook-allow-private-network", on_off, NULL};
    h_daemon_args(H, args);
    h_daemon_restart(H);
}

static int setup(void **state)
{
    (void)state;
    setenv("ESCALATED_WEBHOOK_ALLOW_PRIVATE_NETWORK", "off", 1);
    H = h_start("test_webhook_destinations", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

static long long active_webhooks(void) { return h_sql_ll(H, "SELECT count(*) FROM webhooks WHERE active"); }

static void delete_webhooks(void)
{
    h_resp *r = h_req(H, "GET", "/v1/webhooks", H->k.admin, NULL);
    h_expect_status(r, 200);
    size_t i;
    json_t *w;
    json_array_foreach(h_get(r->json, "items"), i, w)
        h_expect_status(h_req(H, "DELETE", h_fmt(H, "/v1/webhooks/%lld", (long long)h_int(w, "id")),
                              H->k.admin, NULL), 204);
}

static h_resp *register_url(const char *url)
{
    return h_reqj(H, "POST", "/v1/webhooks", H->k.admin, json_pack("{s:s}", "url", url));
}

static void inside_destinations_are_refused_at_registration(void **state)
{
    (void)state;
    static const char *const inside[] = {
        "http://127.0.0.1:9/x",
        "http://127.1.2.3/",
        "http://2130706433/",          /* 127.0.0.1 as one number */
        "http://0x7f.1/",              /* and in hex */
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a00:1]/",      /* 10.0.0.1 */
        "http://[64:ff9b::7f00:1]/",   /* NAT64 of 127.0.0.1 */
        "http://[2002:c0a8:101::1]/",  /* 6to4 of 192.168.1.1 */
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0:8080/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://198.18.0.1/",
        "http://255.255.255.255/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://localhost:8080/",
        "http://api.localhost/",
        "http://user:secret@127.0.0.1/",
        "https://user@hooks.example.com/x",
        "https://user:pw@93.184.216.34/x",
    };
    delete_webhooks();
    int failures = 0;
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        h_resp *r = register_url(inside[i]);
        if (!h_check_error(r, 400, "validation_failed", "url", inside[i]))
            failures++;
        else if (!h_str(r->json, "error.message") || strlen(h_str(r->json, "error.message")) < 20)
            failures++; /* a message that says why */
    }
    assert_int_equal(failures, 0);
    assert_int_equal(active_webhooks(), 0);
    /* a public address is fine (no DNS needed for a literal) */
    h_resp *ok = register_url("https://93.184.216.34/hook");
    h_expect_status(ok, 201);
    delete_webhooks();
}

static void with_the_setting_on_private_networks_are_allowed_but_metadata_never(void **state)
{
    (void)state;
    daemon_with_private("on");
    delete_webhooks();
    static const char *const allowed[] = {"http://127.0.0.1:9/x", "http://10.1.2.3/",
                                          "http://[fd00::1]/", "http://100.64.0.1/",
                                          "http://localhost:8080/"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        h_resp *r = register_url(allowed[i]);
        if (r->status != 201)
            fail_msg("%s: HTTP %ld, want 201", allowed[i], r->status);
    }
    static const char *const refused[] = {"http://169.254.169.254/latest/meta-data/",
                                          "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/",
                                          "http://metadata.google.internal/", "http://0.0.0.0/",
                                          "http://user:pw@10.0.0.1/"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        h_expect_error_field(register_url(refused[i]), 400, "validation_failed", "url");
    delete_webhooks();
    daemon_with_private("off");
}

/* A listening socket on loopback that nobody should connect to. */
static int trap_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void an_inside_destination_is_refused_at_connect_time(void **state)
{
    (void)state;
    int port = 0, fd = trap_listen(&port);
    daemon_with_private("on");
    delete_webhooks();
    h_expect_status(register_url(h_fmt(H, "http://127.0.0.1:%d/hook", port)), 201);
    daemon_with_private("off");

    json_int_t t = h_new_ticket(H, h_unique(H, "inside"), "major", NULL);
    json_t *n = NULL;
    double end = h_now() + 15;
    while (h_now() < end) {
        h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/notifications?ticket=%lld&type=major_created",
                                          (long long)t), H->k.admin, NULL);
        h_expect_status(r, 200);
        n = h_get(r->json, "items.0");
        if (n && h_int(n, "deliveries.0.attempts") >= 1 && h_str(n, "deliveries.0.last_error"))
            break;
        n = NULL;
        h_sleep(0.05);
    }
    if (!n)
        fail_msg("no attempt of the delivery to 127.0.0.1:%d was recorded in 15 s", port);
    h_assert_str(n, "deliveries.0.last_error", "destination address not allowed");
    h_assert_str(n, "deliveries.0.status", "pending");
    /* the trap was never connected to */
    int c = accept(fd, NULL, NULL);
    int e = errno;
    assert_int_equal(c, -1);
    assert_true(e == EAGAIN || e == EWOULDBLOCK);
    close(fd);
    delete_webhooks();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inside_destinations_are_refused_at_registration),
        cmocka_unit_test(with_the_setting_on_private_networks_are_allowed_but_metadata_never),
        cmocka_unit_test(an_inside_destination_is_refused_at_connect_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
