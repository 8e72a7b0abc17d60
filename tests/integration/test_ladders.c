/* test_ladders.c — escalation ladders and one-click acknowledgement links
 * (docs/channels.md), against the real daemon and a receiver on loopback
 * standing for the chat robot.
 *
 * A hand-off left unacknowledged climbs its tier's ladder: each step is a
 * deadline of the SLA engine -- fired once, on time (the delay counted from
 * the previous step's deadline), recorded in the ticket's history, kept
 * across a SIGKILL -- and the climb stops the moment the ticket is
 * acknowledged, or after its last round.  Each step's message carries, for
 * each agent it names, a signed link that acknowledges the ticket for that
 * agent; a GET of it changes nothing (chat apps fetch links to preview
 * them), a used, expired, tampered or overtaken link says so and changes
 * nothing. */
#include "harness_receiver.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* where people reach the daemon, behind its proxy: what links start with */
#define PUBLIC_URL "https://helpdesk.example.com"

static h_ctx *H;
static h_rx *RX;
static json_int_t CHANNEL;

/* The alert bodies the receiver got for a ticket, in order. */
static int alerts_for(json_int_t ticket, json_t **out, int max)
{
    int n = 0;
    for (int i = 0; i < h_rx_count(RX) && n < max; i++) {
        json_t *b = json_loads(h_rx_get(RX, i)->body, 0, NULL);
        json_t *f = json_object_get(b, "facts");
        if (json_integer_value(json_object_get(f, "ticket_id")) == ticket &&
            strcmp(json_string_value(json_object_get(f, "type")), "ladder") == 0)
            out[n++] = b;
        else
            json_decref(b);
    }
    return n;
}

static void free_all(json_t **a, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(a[i]);
}

static int wait_alerts(json_int_t ticket, int count, double seconds)
{
    double until = h_now() + seconds;
    json_t *a[64];
    int n;
    for (;;) {
        n = alerts_for(ticket, a, 64);
        free_all(a, n);
        if (n >= count || h_now() > until)
            return n;
        h_sleep(0.05);
    }
}

static void put_ladder(const char *tier, const char *event, const char *json)
{
    h_resp *r = h_req(H, "PUT", h_fmt(H, "/v1/ladders/%s/%s", tier, event), H->k.manager, json);
    h_expect_status(r, 200);
}

static int setup(void **state)
{
    (void)state;
    H = h_start("test_ladders", NULL);
    RX = h_rx_start(NULL, NULL);
    h_daemon_args(H, (const char *const[]){"--webhook-allow-private-network", "on", "--public-url",
                                           PUBLIC_URL, "--ack-link-ttl", "5", NULL});
    h_daemon_restart(H);
    h_put_policy(H, "normal", "{\"ack_seconds\": 1, \"resolve_seconds\": 3600}");
    h_resp *r = h_req(H, "POST", "/v1/channels", H->k.admin,
                      h_fmt(H, "{\"name\": \"值班群\", \"kind\": \"webhook\", \"language\": \"zh\", "
                               "\"url\": \"%s/hook\", \"rate_limit\": {\"count\": 100, \"seconds\": 1}, "
                               "\"digest_after\": 50}", h_rx_base(RX)));
    h_expect_status(r, 201);
    CHANNEL = h_int(r->json, "id");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    h_rx_stop(RX);
    return 0;
}

/* Steps at 0, +1.5 s, +1.5 s after the ack breach; acknowledged after the
 * second: the third never comes, and the ladder's timer is gone. */
static void a_ladder_climbs_on_time_and_stops_when_the_ticket_is_acknowledged(void **state)
{
    (void)state;
    put_ladder("line-1", "ack_breach",
               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld, \"recipients\": [%lld], \"delay_seconds\": 0},"
                        " {\"channel_id\": %lld, \"recipients\": [%lld], \"delay_seconds\": 2},"
                        " {\"channel_id\": %lld, \"recipients\": [%lld], \"delay_seconds\": 2}]}",
                     (long long)CHANNEL, (long long)H->k.agent_id[1], (long long)CHANNEL,
                     (long long)H->k.agent_id[1], (long long)CHANNEL, (long long)H->k.manager_id));
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    h_wait_breaches(H, id, "ack", 5);
    assert_int_equal(wait_alerts(id, 2, 8), 2);
    /* each step in the history, fired at its deadline: 0 and 2 s after the breach */
    json_t *b = json_array_get(h_breaches_of(H, id), 0);
    double breach_due = h_ts_epoch(h_str(b, "due_at"));
    json_t *ev;
    size_t steps = h_count_events(H, id, "alerted", &ev);
    assert_true(steps >= 2);
    json_t *evs = h_events(H, id);
    size_t i;
    int k = 0;
    json_array_foreach(evs, i, ev) {
        if (strcmp(h_str(ev, "type"), "alerted") != 0)
            continue;
        double due = h_ts_epoch(h_str(ev, "due_at")), at = h_ts_epoch(h_str(ev, "at"));
        double want = breach_due + (k == 0 ? 0 : 2.0 * k);
        if (fabs(due - want) > 0.2 || at - due > 1.0 || at < due)
            fail_msg("step %d: due %.3f (want %.3f after the breach's %.3f), fired at %.3f", k + 1, due, want,
                     breach_due, at);
        h_assert_int(ev, "step", k + 1);
        h_assert_int(ev, "steps", 3);
        k++;
    }
    /* the agent acknowledges before the third step */
    h_action_ok(H, H->k.agent[1], id, "acknowledge", NULL);
    h_sleep(3.0);
    assert_int_equal(wait_alerts(id, 3, 0), 2);
    assert_int_equal(h_count_events(H, id, "alerted", NULL), 2);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM timers WHERE ticket_id = %lld AND kind = 'ladder'",
                              (long long)id), 0);
    assert_string_equal(h_sql_value(H, "SELECT end_reason FROM ladder_runs WHERE ticket_id = %lld",
                                    (long long)id), "acknowledged");
    /* the message is the facts the channel shows, masked, with the console link */
    json_t *a[4];
    int n = alerts_for(id, a, 4);
    assert_int_equal(n, 2);
    assert_non_null(strstr(h_str(a[0], "title"), "投诉受理超时"));
    assert_non_null(strstr(h_str(a[0], "ticket_url"), h_fmt(H, "/console/#/ticket/%lld", (long long)id)));
    free_all(a, n);
}

/* Two steps a second apart, twice: exactly four steps, then the run ends. */
static void a_ladder_repeats_its_rounds_then_ends(void **state)
{
    (void)state;
    put_ladder("line-1", "ack_breach",
               h_fmt(H, "{\"repeat\": 2, \"steps\": [{\"channel_id\": %lld, \"delay_seconds\": 0},"
                        " {\"channel_id\": %lld, \"delay_seconds\": 1}]}", (long long)CHANNEL, (long long)CHANNEL));
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    h_wait_breaches(H, id, "ack", 5);
    assert_int_equal(wait_alerts(id, 4, 10), 4);
    h_sleep(2.5);
    assert_int_equal(wait_alerts(id, 5, 0), 4);
    assert_int_equal(h_count_events(H, id, "alerted", NULL), 4);
    assert_string_equal(h_sql_value(H, "SELECT end_reason FROM ladder_runs WHERE ticket_id = %lld",
                                    (long long)id), "exhausted");
    json_t *a[8];
    int n = alerts_for(id, a, 8);
    h_assert_int(json_object_get(a[3], "facts"), "round", 2);
    h_assert_int(json_object_get(a[3], "facts"), "step", 2);
    assert_non_null(strstr(h_str(a[3], "title"), "第 2/2 级提醒（第 2/2 轮）"));
    free_all(a, n);
}

/* Killed between two steps: the next step fires once, on time, after the restart. */
static void a_step_survives_a_sigkill_and_fires_once(void **state)
{
    (void)state;
    put_ladder("line-1", "ack_breach",
               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld, \"delay_seconds\": 0},"
                        " {\"channel_id\": %lld, \"delay_seconds\": 3}]}", (long long)CHANNEL, (long long)CHANNEL));
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    h_wait_breaches(H, id, "ack", 5);
    assert_int_equal(wait_alerts(id, 1, 5), 1);
    h_daemon_kill(H);
    h_daemon_start(H);
    assert_int_equal(wait_alerts(id, 2, 8), 2);
    h_sleep(1.0);
    assert_int_equal(h_count_events(H, id, "alerted", NULL), 2);
    assert_int_equal(wait_alerts(id, 3, 0), 2);
}

/* The link of the agent named: a GET shows it and changes nothing; a POST
 * acknowledges for that agent; again: used. */
static void a_link_acknowledges_once_for_the_person_it_was_sent_to(void **state)
{
    (void)state;
    put_ladder("line-1", "ack_breach",
               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld, \"recipients\": [%lld, %lld], \"delay_seconds\": 0}]}",
                     (long long)CHANNEL, (long long)H->k.agent_id[1], (long long)H->k.agent_id[2]));
    json_int_t id = h_new_ticket(H, NULL, NULL, NULL);
    assert_int_equal(wait_alerts(id, 1, 6), 1);
    json_t *a[1];
    alerts_for(id, a, 1);
    /* only the agent of the ticket's tier gets a link */
    json_t *links = json_object_get(a[0], "ack_links");
    assert_int_equal(json_array_size(links), 1);
    assert_string_equal(h_str(json_array_get(links, 0), "name"), H->k.agent_name[1]);
    const char *url = h_str(json_array_get(links, 0), "url");
    const char *path = strstr(url, "/ack/");
    assert_non_null(path);
    assert_int_equal(strncmp(url, PUBLIC_URL "/ack/t", strlen(PUBLIC_URL "/ack/t")), 0);
    path = h_fmt(H, "%s", path);
    free_all(a, 1);

    for (int i = 0; i < 2; i++) { /* previews */
        h_resp *r = h_req(H, "GET", path, NULL, NULL);
        h_expect_status(r, 200);
        assert_non_null(strstr(r->body, "data-verdict=\"ok\""));
        assert_non_null(strstr(r->body, "<form method=\"post\">"));
        assert_non_null(strstr(h_header(r, "Content-Security-Policy"), "form-action 'self'"));
    }
    h_assert_str(h_get_ticket(H, H->k.manager, id), "state", "awaiting_ack");

    h_resp *r = h_req(H, "POST", path, NULL, NULL);
    h_expect_status(r, 200);
    assert_non_null(strstr(r->body, "data-verdict=\"acknowledged\""));
    json_t *t = h_get_ticket(H, H->k.manager, id);
    h_assert_str(t, "state", "acknowledged");
    h_assert_int(t, "assignee.id", H->k.agent_id[1]);
    json_t *ev = NULL;
    assert_int_equal(h_count_events(H, id, "acknowledged", &ev), 1);
    h_assert_str(ev, "via", "link");
    h_assert_int(ev, "actor.id", H->k.agent_id[1]);
    /* used: says so, changes nothing */
    json_int_t version = h_int(t, "version");
    r = h_req(H, "POST", path, NULL, NULL, "Accept: application/json");
    h_expect_status(r, 409);
    h_assert_str(r->json, "verdict", "used");
    h_assert_int(h_get_ticket(H, H->k.manager, id), "version", version);
}

static void overtaken_tampered_and_expired_links_change_nothing(void **state)
{
    (void)state;
    put_ladder("line-1", "ack_breach",
               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld, \"recipients\": [%lld], \"delay_seconds\": 0}]}",
                     (long long)CHANNEL, (long long)H->k.agent_id[1]));
    json_int_t ids[2];
    const char *paths[2];
    for (int i = 0; i < 2; i++) {
        ids[i] = h_new_ticket(H, NULL, NULL, NULL);
        assert_int_equal(wait_alerts(ids[i], 1, 6), 1);
        json_t *a[1];
        alerts_for(ids[i], a, 1);
        paths[i] = h_fmt(H, "%s", strstr(h_str(json_array_get(json_object_get(a[0], "ack_links"), 0), "url"), "/ack/"));
        free_all(a, 1);
    }
    /* overtaken: the agent acknowledged in the console meanwhile */
    h_action_ok(H, H->k.agent[1], ids[0], "acknowledge", NULL);
    json_int_t version = h_int(h_get_ticket(H, H->k.manager, ids[0]), "version");
    h_resp *r = h_req(H, "POST", paths[0], NULL, NULL, "Accept: application/json");
    h_expect_status(r, 409);
    h_assert_str(r->json, "verdict", "moved_on");
    h_assert_int(h_get_ticket(H, H->k.manager, ids[0]), "version", version);
    /* tampered: another ticket's number under the same signature */
    char *bad = strdup(paths[1]);
    char *t = strstr(bad, "/ack/t") + 6;
    *t = *t == '9' ? '8' : '9';
    r = h_req(H, "POST", bad, NULL, NULL);
    h_expect_status(r, 404);
    assert_non_null(strstr(r->body, "data-verdict=\"invalid\""));
    free(bad);
    h_expect_status(h_req(H, "GET", "/ack/nonsense", NULL, NULL), 404);
    /* expired: the daemon runs with --ack-link-ttl 5 */
    h_sleep(6.0);
    r = h_req(H, "POST", paths[1], NULL, NULL);
    h_expect_status(r, 410);
    assert_non_null(strstr(r->body, "data-verdict=\"expired\""));
    h_assert_str(h_get_ticket(H, H->k.manager, ids[1]), "state", "awaiting_ack");
}

static void ladders_are_checked_and_for_managers(void **state)
{
    (void)state;
    const char *ok = h_fmt(H, "{\"steps\": [{\"channel_id\": %lld}]}", (long long)CHANNEL);
    h_expect_error(h_req(H, "PUT", "/v1/ladders/line-1/ack_breach", H->k.agent[1], ok), 403, "forbidden");
    h_expect_error(h_req(H, "PUT", "/v1/ladders/line-1/coffee_break", H->k.manager, ok), 404, "not_found");
    h_expect_error(h_req(H, "PUT", "/v1/ladders/line-9/ack_breach", H->k.manager, ok), 404, "not_found");
    h_expect_error_field(h_req(H, "PUT", "/v1/ladders/line-1/ack_breach", H->k.manager,
                               "{\"steps\": [{\"channel_id\": 999999}]}"),
                         400, "validation_failed", "steps.0.channel_id");
    h_expect_error_field(h_req(H, "PUT", "/v1/ladders/line-1/ack_breach", H->k.manager,
                               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld, \"recipients\": [999999]}]}",
                                     (long long)CHANNEL)),
                         400, "validation_failed", "steps.0.recipients");
    h_expect_error_field(h_req(H, "PUT", "/v1/ladders/line-1/ack_breach", H->k.manager,
                               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld, \"delay_seconds\": -1}]}",
                                     (long long)CHANNEL)),
                         400, "validation_failed", "steps.0.delay_seconds");
    h_expect_error_field(h_req(H, "PUT", "/v1/ladders/line-1/ack_breach", H->k.manager, "{\"steps\": []}"),
                         400, "validation_failed", "steps");
    h_expect_error_field(h_req(H, "PUT", "/v1/ladders/line-1/ack_breach", H->k.manager,
                               h_fmt(H, "{\"steps\": [{\"channel_id\": %lld}], \"repeat\": 11}", (long long)CHANNEL)),
                         400, "validation_failed", "repeat");
    put_ladder("line-2", "major_created", ok);
    h_resp *r = h_req(H, "GET", "/v1/ladders", H->k.manager, NULL);
    h_expect_status(r, 200);
    assert_true(json_array_size(h_get(r->json, "items")) >= 1);
    h_expect_status(h_req(H, "DELETE", "/v1/ladders/line-2/major_created", H->k.admin, NULL), 204);
    h_expect_error(h_req(H, "DELETE", "/v1/ladders/line-2/major_created", H->k.admin, NULL), 404, "not_found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ladders_are_checked_and_for_managers),
        cmocka_unit_test(a_ladder_climbs_on_time_and_stops_when_the_ticket_is_acknowledged),
        cmocka_unit_test(a_ladder_repeats_its_rounds_then_ends),
        cmocka_unit_test(a_link_acknowledges_once_for_the_person_it_was_sent_to),
        cmocka_unit_test(overtaken_tampered_and_expired_links_change_nothing),
        cmocka_unit_test(a_step_survives_a_sigkill_and_fires_once),
    };
    return h_run_group_tests(tests, setup, teardown);
}
