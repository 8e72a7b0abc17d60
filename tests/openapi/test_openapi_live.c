/* test_openapi_live.c — a real daemon (the harness: fresh database, the
 * `escalated` binary) checked by third-party tools:
 *
 *   tour_validates   tour.js (node, ajv) drives a tour of every route and
 *                    validates each answer against docs/openapi.yaml;
 *   metrics_promtool the daemon's /metrics, after that work, through
 *                    `promtool check metrics`: any problem it reports fails,
 *                    warnings included (it prints nothing for a clean page).
 *
 * Environment (tests/openapi/CMakeLists.txt): ESC_NODE, NODE_PATH,
 * ESC_OPENAPI_YAML, ESC_OPENAPI_TOUR, ESC_PROMTOOL, and the harness's own. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static h_ctx *H;

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set (tests/openapi/CMakeLists.txt sets it)", name);
    return v;
}

static int setup(void **state)
{
    (void)state;
    /* the tour registers webhooks on loopback (nothing listens there): the
     * first attempt fails at once and the next is a minute away, so the
     * notification stays pending while the tour looks at it */
    setenv("ESCALATED_WEBHOOK_ALLOW_PRIVATE_NETWORK", "on", 1);
    setenv("ESCALATED_WEBHOOK_BACKOFF_MS", "60000", 1);
    setenv("ESCALATED_WEBHOOK_MAX_ATTEMPTS", "2", 1);
    setenv("ESCALATED_WEBHOOK_TIMEOUT_MS", "1000", 1);
    /* alerts carry one-click acknowledgement links only with a public URL:
     * the tour takes one from a ladder's message (the host is never dialled,
     * the tour calls the link's path on the daemon) */
    setenv("ESCALATED_PUBLIC_URL", "https://helpdesk.example.com", 1);
    H = h_start("test_openapi_live", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

static void tour_validates(void **state)
{
    (void)state;
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)H->k.admin_id);
    setenv("ESC_URL", H->base_url, 1);
    setenv("ESC_TOKEN_FRONTDESK", H->k.frontdesk, 1);
    setenv("ESC_TOKEN_AGENT1", H->k.agent[1], 1);
    setenv("ESC_TOKEN_AGENT2", H->k.agent[2], 1);
    setenv("ESC_TOKEN_AGENT3", H->k.agent[3], 1);
    setenv("ESC_TOKEN_MANAGER", H->k.manager, 1);
    setenv("ESC_TOKEN_ADMIN", H->k.admin, 1);
    setenv("ESC_ADMIN_ID", id, 1);
    /* a problem whose verification window has passed (moved into the past
     * here: the tour cannot wait 1 day), so the tour can close one as
     * effective (docs/recurrence.md) */
    const char *closable = h_sql_value(H, "INSERT INTO problems (title, owner_id, state, "
                                          "verify_started_at, verify_until, created_by) VALUES "
                                          "('已验证 30 天无复发', %lld, 'verifying', now() - interval "
                                          "'31 days', now() - interval '1 day', %lld) RETURNING id",
                                          (long long)H->k.manager_id, (long long)H->k.manager_id);
    assert_non_null(closable);
    setenv("ESC_CLOSABLE_PROBLEM", closable, 1);
    char *argv[] = {(char *)need_env("ESC_NODE"), (char *)need_env("ESC_OPENAPI_TOUR"), NULL};
    need_env("ESC_OPENAPI_YAML");
    need_env("NODE_PATH");
    char *out = NULL;
    int rc = h_run(argv, &out);
    printf("%s", out ? out : "");
    free(out);
    if (rc != 0)
        h_daemon_log_tail(H, 40);
    assert_int_equal(rc, 0);
}

/* promtool check metrics on `text`; its exit status, its output in *out. */
static int promtool(const char *text, char **out)
{
    char path[] = "/tmp/openapi_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    const char *cmd = h_fmt(H, "\"$ESC_PROMTOOL\" check metrics < '%s' 2>&1", path);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    need_env("ESC_PROMTOOL");
    int rc = h_run(argv, out);
    unlink(path);
    return rc;
}

static void metrics_promtool(void **state)
{
    (void)state;
    /* promtool itself finds a problem when there is one (exit 3 and a line
     * per problem): a counter without _total and without HELP */
    char *out = NULL;
    int rc = promtool("# TYPE escalated_things counter\nescalated_things 1\n", &out);
    assert_true(rc != 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "_total"));
    free(out);

    /* the daemon did work in the tour (and more here, so that the page has
     * every family with values, not only after the tour) */
    json_int_t id = h_new_ticket(H, NULL, "major", "billing");
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_resp *r = h_req(H, "GET", "/metrics", NULL, NULL);
    h_expect_status(r, 200);
    assert_non_null(strstr(r->body, "escalated_tickets_open"));
    out = NULL;
    rc = promtool(r->body, &out);
    if (rc != 0 || (out && *out))
        fprintf(stderr, "promtool check metrics (exit %d):\n%s\n", rc, out ? out : "");
    assert_int_equal(rc, 0);
    assert_true(!out || !*out);
    printf("promtool check metrics: clean, %zu bytes of metrics\n", r->body_len);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tour_validates),
        cmocka_unit_test(metrics_promtool),
    };
    return h_run_group_tests(tests, setup, teardown);
}
