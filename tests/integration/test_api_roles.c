/* test_api_roles.c — who may call a route is decided before what they sent:
 * for every route of api_tickets.c, api_sla.c, api_events.c,
 * api_principals.c, api_taxonomy.c, api_problems.c, api_console.c and
 * api_channels.c that needs a
 * token, a request that is malformed (bad query and, where there is one, a
 * bad body) gets 401 without a token and 403 from each role that may not use
 * the route, never 400.  The same request from a role that may use the route
 * gets 400, which shows the request really is malformed.
 *
 * The cases are checked against the route tables themselves, so a route
 * added to those files without a case here fails the test. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static h_ctx *H;
static json_int_t ticket_id;

static int setup(void **state)
{
    (void)state;
    /* this test sends a wrong token to every route on purpose: more than the
     * failed-token limit per address (test_hostile checks that limit) */
    setenv("ESCALATED_AUTH_FAIL_LIMIT", "1000", 1);
    H = h_start("test_api_roles", NULL);
    ticket_id = h_int(h_create_ticket(H, NULL, NULL), "id");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

struct role_case {
    const char *method;
    const char *pattern;  /* as in the route table */
    const char *path;     /* "%lld" is the ticket's id; the bad query follows */
    const char *body;     /* malformed JSON, or NULL for a route without a body */
    const char *allowed;  /* a caller who may use the route: gets 400 */
    const char *wrong[5]; /* callers who may not: get 403 (NULL-ended; may be none) */
};

/* Callers: frontdesk, agent1..agent3, manager, admin. */
static const struct role_case cases[] = {
    {"POST", "/v1/tickets", "/v1/tickets?bogus=1", "{broken", "frontdesk", {"agent1", "agent3"}},
    {"GET", "/v1/tickets", "/v1/tickets?limit=0", NULL, "agent2", {NULL}},
    {"GET", "/v1/tickets/{}", "/v1/tickets/%lld?bogus=1", NULL, "frontdesk", {NULL}},
    {"GET", "/v1/tickets/{}/events", "/v1/tickets/%lld/events?bogus=1", NULL, "agent3", {NULL}},
    {"GET", "/v1/tickets/{}/customer", "/v1/tickets/%lld/customer?bogus=1", NULL, "admin",
     {"frontdesk", "agent1"}},
    {"POST", "/v1/tickets/{}/acknowledge", "/v1/tickets/%lld/acknowledge?bogus=1", "{broken", "agent1",
     {"frontdesk", "manager", "admin"}},
    {"POST", "/v1/tickets/{}/escalate", "/v1/tickets/%lld/escalate?bogus=1", "{\"reason\": 5", "manager",
     {"frontdesk"}},
    {"POST", "/v1/tickets/{}/return", "/v1/tickets/%lld/return?bogus=1", "[", "agent2", {"frontdesk"}},
    {"POST", "/v1/tickets/{}/wait", "/v1/tickets/%lld/wait?bogus=1", "{broken", "agent1", {"frontdesk"}},
    {"POST", "/v1/tickets/{}/resume", "/v1/tickets/%lld/resume?bogus=1", "{broken", "admin", {"frontdesk"}},
    {"POST", "/v1/tickets/{}/resolve", "/v1/tickets/%lld/resolve?bogus=1", "{broken", "manager",
     {"frontdesk"}},
    /* close and reopen: frontdesk, managers and agents of line-1, not other agents */
    {"POST", "/v1/tickets/{}/close", "/v1/tickets/%lld/close?bogus=1", "{broken", "agent1",
     {"agent2", "agent3"}},
    {"POST", "/v1/tickets/{}/reopen", "/v1/tickets/%lld/reopen?bogus=1", "{broken", "frontdesk",
     {"agent2", "agent3"}},
    {"POST", "/v1/tickets/{}/comment", "/v1/tickets/%lld/comment?bogus=1", "{broken", "agent3", {NULL}},
    /* plan: the assignee's own promise: agents only */
    {"POST", "/v1/tickets/{}/plan", "/v1/tickets/%lld/plan?bogus=1", "{broken", "agent2",
     {"frontdesk", "manager", "admin"}},
    /* a queue is its agents': no other role, and no agent of another tier */
    {"POST", "/v1/queues/{tier}/claim", "/v1/queues/line-2/claim?wait=31", "{broken", "agent2",
     {"frontdesk", "manager", "agent1", "agent3"}},
    {"GET", "/v1/breaches", "/v1/breaches?kind=nope&limit=0", NULL, "manager", {"frontdesk", "agent1"}},
    {"GET", "/v1/policies", "/v1/policies?bogus=1", NULL, "admin", {"frontdesk", "agent2"}},
    {"PUT", "/v1/policies/{}", "/v1/policies/normal?bogus=1", "{broken", "manager",
     {"frontdesk", "agent3"}},
    {"GET", "/v1/calendar", "/v1/calendar?bogus=1", NULL, "manager", {"frontdesk", "agent1"}},
    {"PUT", "/v1/calendar", "/v1/calendar?bogus=1", "{\"timezone\": ", "admin", {"frontdesk", "agent1"}},
    {"GET", "/v1/events", "/v1/events?after=x&limit=0&wait=99", NULL, "manager",
     {"frontdesk", "agent1", "agent2", "agent3"}},
    /* principals: admins only */
    {"POST", "/v1/principals", "/v1/principals?bogus=1", "{broken", "admin", {"frontdesk", "manager", "agent1"}},
    {"GET", "/v1/principals", "/v1/principals?limit=0", NULL, "admin", {"manager", "agent2"}},
    {"GET", "/v1/principals/{}", "/v1/principals/%lld?bogus=1", NULL, "admin", {"manager", "frontdesk"}},
    {"GET", "/v1/principals/{}/audit", "/v1/principals/%lld/audit?bogus=1", NULL, "admin", {"manager"}},
    {"POST", "/v1/principals/{}/revoke", "/v1/principals/%lld/revoke?bogus=1", "{broken", "admin",
     {"manager", "agent3"}},
    {"POST", "/v1/principals/{}/rotate", "/v1/principals/%lld/rotate?bogus=1", "{broken", "admin",
     {"manager", "frontdesk"}},
    /* the console's routes (api_console.c) */
    {"GET", "/v1/me", "/v1/me?bogus=1", NULL, "frontdesk", {NULL}},
    {"GET", "/v1/queues/{tier}", "/v1/queues/line-1?bogus=1", NULL, "agent1", {"frontdesk", "agent2"}},
    {"GET", "/v1/tickets/{}/actions", "/v1/tickets/%lld/actions?bogus=1", NULL, "agent3", {NULL}},
    {"GET", "/v1/categories", "/v1/categories?bogus=1", NULL, "frontdesk", {NULL}},
    /* channels (admins) and ladders (managers): api_channels.c */
    {"POST", "/v1/channels", "/v1/channels?bogus=1", "{broken", "admin", {"manager", "agent1"}},
    {"GET", "/v1/channels", "/v1/channels?bogus=1", NULL, "admin", {"manager", "frontdesk"}},
    {"GET", "/v1/channels/{}", "/v1/channels/1?bogus=1", NULL, "admin", {"manager"}},
    {"DELETE", "/v1/channels/{}", "/v1/channels/1?bogus=1", NULL, "admin", {"manager"}},
    {"GET", "/v1/channels/{}/messages", "/v1/channels/1/messages?limit=0", NULL, "admin", {"manager"}},
    {"POST", "/v1/channels/{}/test", "/v1/channels/1/test?bogus=1", "{broken", "admin", {"manager"}},
    {"GET", "/v1/ladders", "/v1/ladders?bogus=1", NULL, "manager", {"agent1", "frontdesk"}},
    {"PUT", "/v1/ladders/{tier}/{}", "/v1/ladders/line-1/ack_breach?bogus=1", "{broken", "manager",
     {"agent1", "frontdesk"}},
    {"DELETE", "/v1/ladders/{tier}/{}", "/v1/ladders/line-1/ack_breach?bogus=1", NULL, "admin", {"agent3"}},
    /* the taxonomy: managers and admins */
    {"GET", "/v1/taxonomy", "/v1/taxonomy?bogus=1", NULL, "manager", {"frontdesk", "agent1"}},
    {"PUT", "/v1/taxonomy", "/v1/taxonomy?bogus=1", "{broken", "admin", {"frontdesk", "agent3"}},
    /* problems (api_problems.c): opened by managers and agents of line-2 and
     * line-3 (a line-1 agent is refused before the request is looked at),
     * read by everyone, changed by managers and agents (which problem is
     * theirs is decided after the request is read) */
    {"POST", "/v1/problems", "/v1/problems?bogus=1", "{broken", "agent2", {"frontdesk", "agent1"}},
    {"GET", "/v1/problems", "/v1/problems?limit=0", NULL, "frontdesk", {NULL}},
    {"GET", "/v1/problems/{}", "/v1/problems/%lld?bogus=1", NULL, "agent1", {NULL}},
    {"GET", "/v1/problems/{}/events", "/v1/problems/%lld/events?bogus=1", NULL, "frontdesk", {NULL}},
    {"POST", "/v1/problems/{}/root_cause", "/v1/problems/%lld/root_cause?bogus=1", "{broken", "manager",
     {"frontdesk"}},
    {"POST", "/v1/problems/{}/workaround", "/v1/problems/%lld/workaround?bogus=1", "{broken", "agent3",
     {"frontdesk"}},
    {"POST", "/v1/problems/{}/fix", "/v1/problems/%lld/fix?bogus=1", "{broken", "agent2", {"frontdesk"}},
    {"POST", "/v1/problems/{}/verify", "/v1/problems/%lld/verify?bogus=1", "{broken", "admin",
     {"frontdesk"}},
    {"POST", "/v1/problems/{}/close", "/v1/problems/%lld/close?bogus=1", "{broken", "manager",
     {"frontdesk"}},
    {"POST", "/v1/problems/{}/reopen", "/v1/problems/%lld/reopen?bogus=1", "{broken", "agent1",
     {"frontdesk"}},
    {"POST", "/v1/problems/{}/actions", "/v1/problems/%lld/actions?bogus=1", "{broken", "agent3",
     {"frontdesk"}},
    {"POST", "/v1/problems/{}/actions/{}/complete", "/v1/problems/%lld/actions/1/complete?bogus=1",
     "{broken", "agent1", {"frontdesk"}},
    {"POST", "/v1/problems/{}/tickets", "/v1/problems/%lld/tickets?bogus=1", "{broken", "agent2",
     {"frontdesk"}},
    {"DELETE", "/v1/problems/{}/tickets/{}", "/v1/problems/%lld/tickets/1?bogus=1", NULL, "manager",
     {"frontdesk"}},
};
#define NCASES (sizeof cases / sizeof *cases)

static const char *token_of(const char *who)
{
    if (strcmp(who, "frontdesk") == 0)
        return H->k.frontdesk;
    if (strcmp(who, "manager") == 0)
        return H->k.manager;
    if (strcmp(who, "admin") == 0)
        return H->k.admin;
    if (strncmp(who, "agent", 5) == 0 && who[5] >= '1' && who[5] <= '3' && !who[6])
        return H->k.agent[who[5] - '0'];
    fail_msg("no caller named %s", who);
    return NULL;
}

static h_resp *send_case(const struct role_case *c, const char *token)
{
    const char *path = strstr(c->path, "%lld") ? h_fmt(H, c->path, (long long)ticket_id) : c->path;
    return h_req(H, c->method, path, token, c->body);
}

static const char *events_now(void)
{
    return h_sql_value(H, "SELECT count(*) || '/' || (SELECT count(*) FROM tickets) FROM events");
}

/* Every route of the five files that needs a token has a case, and every
 * case is a route. */
static void every_route_has_a_case(void **state)
{
    (void)state;
    const struct escp_route *const tables[] = {escp_routes_tickets, escp_routes_sla,
                                               escp_routes_events, escp_routes_principals,
                                               escp_routes_taxonomy, escp_routes_problems,
                                               escp_routes_console, escp_routes_channels, NULL};
    int missing = 0;
    size_t routes = 0;
    for (const struct escp_route *const *t = tables; *t; t++) {
        for (const struct escp_route *rt = *t; rt->method; rt++) {
            if (rt->roles == ESCP_PUBLIC)
                continue;
            routes++;
            size_t i = 0;
            while (i < NCASES &&
                   !(strcmp(cases[i].method, rt->method) == 0 && strcmp(cases[i].pattern, rt->pattern) == 0))
                i++;
            if (i == NCASES) {
                print_error("no case for %s %s\n", rt->method, rt->pattern);
                missing++;
            }
        }
    }
    assert_int_equal(missing, 0);
    assert_int_equal(routes, NCASES);
}

static void unauthenticated_first(void **state)
{
    (void)state;
    const char *before = events_now();
    int bad = 0;
    for (size_t i = 0; i < NCASES; i++) {
        h_resp *r = send_case(&cases[i], NULL);
        bad += !h_check_error(r, 401, "unauthenticated", NULL, cases[i].path);
        r = send_case(&cases[i], "esc_not_a_token_of_anyone_at_all");
        bad += !h_check_error(r, 401, "unauthenticated", NULL, cases[i].path);
    }
    assert_int_equal(bad, 0);
    assert_string_equal(events_now(), before);
}

static void forbidden_first(void **state)
{
    (void)state;
    const char *before = events_now();
    int bad = 0, checked = 0;
    for (size_t i = 0; i < NCASES; i++) {
        for (const char *const *who = cases[i].wrong; *who; who++) {
            h_resp *r = send_case(&cases[i], token_of(*who));
            if (!h_check_error(r, 403, "forbidden", NULL, cases[i].path)) {
                print_error("  (as %s)\n", *who);
                bad++;
            }
            checked++;
        }
    }
    assert_int_equal(bad, 0);
    assert_true(checked >= 30);
    assert_string_equal(events_now(), before);
}

/* The requests above are malformed: a caller who may use the route gets 400. */
static void allowed_callers_get_400(void **state)
{
    (void)state;
    const char *before = events_now();
    int bad = 0;
    for (size_t i = 0; i < NCASES; i++) {
        h_resp *r = send_case(&cases[i], token_of(cases[i].allowed));
        if (r->status != 400 || !h_str(r->json, "error.code")) {
            print_error("%s %s as %s -> %ld %s\n", cases[i].method, cases[i].path, cases[i].allowed,
                        r->status, r->body);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_string_equal(events_now(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_has_a_case),
        cmocka_unit_test(unauthenticated_first),
        cmocka_unit_test(forbidden_first),
        cmocka_unit_test(allowed_callers_get_400),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
