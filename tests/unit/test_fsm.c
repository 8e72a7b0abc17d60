/* test_fsm.c — table-driven check of the state machine (lib/fsm.c) against
 * tests/data/transitions.tsv, which states the expected outcome of every cell
 * (state x tier x action x actor) as derived from SPEC section 3/4/7 and
 * docs/decisions.md.  The file's format is described at its top.
 *
 * Every cell is enumerated here; each must be matched by exactly one rule row
 * (a cell no row covers, or two rows cover, is a failure), and every rule row
 * must match at least one cell.  The test knows nothing of the rules itself:
 * the expectations live only in the .tsv.
 *
 * Reads $ESC_TEST_DATA/transitions.tsv (CTest sets ESC_TEST_DATA).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "core/fsm.h"
#include "core/model.h"

/* ---------------------------------------------------------------- domains */

/* The test's own names (not esc_*_name), so a renamed enum shows up here. */
static const char *const state_names[] = {
    [ESC_STATE_AWAITING_ACK] = "awaiting_ack",
    [ESC_STATE_ACKNOWLEDGED] = "acknowledged",
    [ESC_STATE_WAITING_CUSTOMER] = "waiting_customer",
    [ESC_STATE_RESOLVED] = "resolved",
    [ESC_STATE_CLOSED] = "closed",
};
#define N_STATES 5

static const char *const tier_names[] = {"line-1", "line-2", "line-3"};
static const enum esc_tier tier_values[] = {ESC_TIER_LINE1, ESC_TIER_LINE2, ESC_TIER_LINE3};
#define N_TIERS 3

static const struct {
    const char *name;
    enum esc_action action;
} actions[] = {
    {"acknowledge", ESC_ACT_ACKNOWLEDGE}, {"escalate", ESC_ACT_ESCALATE},
    {"return", ESC_ACT_RETURN},           {"wait", ESC_ACT_WAIT},
    {"resume", ESC_ACT_RESUME},           {"resolve", ESC_ACT_RESOLVE},
    {"close", ESC_ACT_CLOSE},             {"reopen", ESC_ACT_REOPEN},
    {"comment", ESC_ACT_COMMENT},         {"plan", ESC_ACT_PLAN},
};
#define N_ACTIONS 10

/* The ticket's assignee when the actor is not it: another agent, or nobody. */
#define OTHER_AGENT_ID 999
static const int64_t non_assignees[] = {OTHER_AGENT_ID, 0};
#define N_NON_ASSIGNEES 2

static const struct {
    const char *name;
    int64_t id;
    enum esc_role role;
    enum esc_tier tier;
    int is_assignee; /* the ticket's assignee is this actor */
} actors[] = {
    {"frontdesk", 10, ESC_ROLE_FRONTDESK, ESC_TIER_NONE, 0},
    {"l1-assignee", 11, ESC_ROLE_AGENT, ESC_TIER_LINE1, 1},
    {"l1-other", 21, ESC_ROLE_AGENT, ESC_TIER_LINE1, 0},
    {"l2-assignee", 12, ESC_ROLE_AGENT, ESC_TIER_LINE2, 1},
    {"l2-other", 22, ESC_ROLE_AGENT, ESC_TIER_LINE2, 0},
    {"l3-assignee", 13, ESC_ROLE_AGENT, ESC_TIER_LINE3, 1},
    {"l3-other", 23, ESC_ROLE_AGENT, ESC_TIER_LINE3, 0},
    {"manager", 14, ESC_ROLE_MANAGER, ESC_TIER_NONE, 0},
    {"admin", 15, ESC_ROLE_ADMIN, ESC_TIER_NONE, 0},
};
#define N_ACTORS 9
#define N_CELLS (N_STATES * N_TIERS * N_ACTIONS * N_ACTORS)

static const char *const assign_names[] = {
    [ESC_ASSIGN_KEEP] = "keep",         [ESC_ASSIGN_NONE] = "none",
    [ESC_ASSIGN_ACTOR] = "actor",       [ESC_ASSIGN_LAST_AT_TIER] = "last_at_tier",
    [ESC_ASSIGN_RESOLVER] = "resolver",
};
#define N_ASSIGN 5

static const struct {
    const char *name;
    unsigned bit;
} timer_names[] = {
    {"ack_start", ESC_TIMER_ACK_START},
    {"ack_stop", ESC_TIMER_ACK_STOP},
    {"resolve_start", ESC_TIMER_RESOLVE_START},
    {"resolve_pause", ESC_TIMER_RESOLVE_PAUSE},
    {"resolve_resume", ESC_TIMER_RESOLVE_RESUME},
    {"resolve_stop", ESC_TIMER_RESOLVE_STOP},
    {"callback_start", ESC_TIMER_CALLBACK_START},
    {"callback_stop", ESC_TIMER_CALLBACK_STOP},
    {"promise_stop", ESC_TIMER_PROMISE_STOP},
};
#define N_TIMERS 9

/* ------------------------------------------------------------- the table */

enum col { COL_ACTION, COL_STATE, COL_TIER, COL_ACTOR, N_COLS };
enum expect { EXPECT_OK, EXPECT_FORBIDDEN, EXPECT_INVALID };

#define SAME (-1) /* "=" in to_tier / to_state */

struct rule {
    int line;
    /* match[col][i]: value i of that column is matched by this row */
    unsigned char match_action[N_ACTIONS];
    unsigned char match_state[N_STATES];
    unsigned char match_tier[N_TIERS];
    unsigned char match_actor[N_ACTORS];
    enum expect expect;
    int to_tier;  /* index into tier_values, or SAME */
    int to_state; /* enum esc_state, or SAME */
    enum esc_assign_rule assign;
    unsigned timers;
    char event[32];
    int changes;
    int used; /* cells matched */
};

struct group {
    char name[32];
    unsigned char members[N_ACTORS];
};

#define MAX_RULES 128
#define MAX_GROUPS 16

static struct rule rules[MAX_RULES];
static int n_rules;
static struct group groups[MAX_GROUPS];
static int n_groups;
static char table_path[1024];

/* Report a problem with the table file and fail. */
static void table_error(int line, const char *what, const char *token)
{
    print_error("%s:%d: %s '%s'\n", table_path, line, what, token);
    fail();
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int action_index(const char *s)
{
    for (int i = 0; i < N_ACTIONS; i++)
        if (strcmp(actions[i].name, s) == 0)
            return i;
    return -1;
}

static int actor_index(const char *s)
{
    for (int i = 0; i < N_ACTORS; i++)
        if (strcmp(actors[i].name, s) == 0)
            return i;
    return -1;
}

static const struct group *find_group(const char *s)
{
    for (int i = 0; i < n_groups; i++)
        if (strcmp(groups[i].name, s) == 0)
            return &groups[i];
    return NULL;
}

/* Fill set[0..n) from one item of a pattern (a name, or @group for actors). */
static void pattern_item(enum col col, const char *item, unsigned char *set, int line)
{
    int i = -1;
    if (col == COL_ACTOR && item[0] == '@') {
        const struct group *g = find_group(item);
        if (!g)
            table_error(line, "unknown group", item);
        for (int k = 0; k < N_ACTORS; k++)
            set[k] |= g->members[k];
        return;
    }
    switch (col) {
    case COL_ACTION:
        i = action_index(item);
        break;
    case COL_STATE:
        i = index_of(state_names, N_STATES, item);
        break;
    case COL_TIER:
        i = index_of(tier_names, N_TIERS, item);
        break;
    case COL_ACTOR:
        i = actor_index(item);
        break;
    case N_COLS:
        break;
    }
    if (i < 0)
        table_error(line, "unknown name", item);
    set[i] = 1;
}

/* Parse "*", "a,b", "!a,b" into set[0..n). */
static void parse_pattern(enum col col, const char *pat, unsigned char *set, int n, int line)
{
    memset(set, 0, (size_t)n);
    if (strcmp(pat, "*") == 0) {
        memset(set, 1, (size_t)n);
        return;
    }
    int negate = pat[0] == '!';
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pat + negate);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
        pattern_item(col, item, set, line);
    if (negate)
        for (int i = 0; i < n; i++)
            set[i] = !set[i];
}

static unsigned parse_timers(const char *s, int line)
{
    if (strcmp(s, "-") == 0)
        return 0;
    unsigned bits = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *item = strtok_r(buf, "+", &save); item; item = strtok_r(NULL, "+", &save)) {
        int found = 0;
        for (int i = 0; i < N_TIMERS; i++)
            if (strcmp(timer_names[i].name, item) == 0) {
                bits |= timer_names[i].bit;
                found = 1;
            }
        if (!found)
            table_error(line, "unknown timer", item);
    }
    return bits;
}

static void timers_text(unsigned bits, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!bits) {
        snprintf(buf, size, "-");
        return;
    }
    for (int i = 0; i < N_TIMERS; i++)
        if (bits & timer_names[i].bit) {
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, "%s%s", len ? "+" : "", timer_names[i].name);
        }
    if (bits & ~(unsigned)((ESC_TIMER_CALLBACK_STOP << 1) - 1)) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "+0x%x?", bits);
    }
}

/* Split a line on runs of TABs; drop a trailing "#note" field. */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *f = strtok_r(line, "\t\r\n", &save); f; f = strtok_r(NULL, "\t\r\n", &save)) {
        if (f[0] == '#')
            break;
        if (n < max)
            fields[n] = f;
        n++;
    }
    return n;
}

static void parse_rule(char **f, int nf, int line)
{
    if (n_rules >= MAX_RULES)
        table_error(line, "too many rules at", f[0]);
    struct rule *r = &rules[n_rules++];
    memset(r, 0, sizeof *r);
    r->line = line;
    parse_pattern(COL_ACTION, f[0], r->match_action, N_ACTIONS, line);
    parse_pattern(COL_STATE, f[1], r->match_state, N_STATES, line);
    parse_pattern(COL_TIER, f[2], r->match_tier, N_TIERS, line);
    parse_pattern(COL_ACTOR, f[3], r->match_actor, N_ACTORS, line);

    if (strcmp(f[4], "forbidden") == 0 || strcmp(f[4], "invalid") == 0) {
        r->expect = f[4][0] == 'f' ? EXPECT_FORBIDDEN : EXPECT_INVALID;
        if (nf != 5)
            table_error(line, "a refusal row has 5 fields, not", f[5]);
        return;
    }
    if (strcmp(f[4], "ok") != 0)
        table_error(line, "expect must be ok|forbidden|invalid, not", f[4]);
    if (nf != 11)
        table_error(line, "an ok row has 11 fields; row starts", f[0]);
    r->expect = EXPECT_OK;
    r->to_tier = strcmp(f[5], "=") == 0 ? SAME : index_of(tier_names, N_TIERS, f[5]);
    if (r->to_tier == -1 && strcmp(f[5], "=") != 0)
        table_error(line, "unknown tier", f[5]);
    r->to_state = strcmp(f[6], "=") == 0 ? SAME : index_of(state_names, N_STATES, f[6]);
    if (r->to_state == -1 && strcmp(f[6], "=") != 0)
        table_error(line, "unknown state", f[6]);
    int a = index_of(assign_names, N_ASSIGN, f[7]);
    if (a < 0)
        table_error(line, "unknown assign rule", f[7]);
    r->assign = (enum esc_assign_rule)a;
    r->timers = parse_timers(f[8], line);
    snprintf(r->event, sizeof r->event, "%s", f[9]);
    if (strcmp(f[10], "0") != 0 && strcmp(f[10], "1") != 0)
        table_error(line, "changes must be 0 or 1, not", f[10]);
    r->changes = f[10][0] == '1';
}

static void parse_group(char **f, int nf, int line)
{
    if (nf != 3 || f[1][0] != '@')
        table_error(line, "bad group row", f[1] ? f[1] : "");
    if (n_groups >= MAX_GROUPS)
        table_error(line, "too many groups at", f[1]);
    struct group *g = &groups[n_groups];
    snprintf(g->name, sizeof g->name, "%s", f[1]);
    parse_pattern(COL_ACTOR, f[2], g->members, N_ACTORS, line);
    n_groups++;
}

static int table_loaded;

/* Load the table once; after a parse error every test that needs it fails again. */
static void load_table(void)
{
    if (table_loaded)
        return;
    n_rules = 0;
    n_groups = 0;
    const char *dir = getenv("ESC_TEST_DATA");
    if (!dir || !*dir)
        dir = "tests/data";
    snprintf(table_path, sizeof table_path, "%s/transitions.tsv", dir);
    FILE *fp = fopen(table_path, "r");
    if (!fp) {
        print_error("cannot open %s (set ESC_TEST_DATA)\n", table_path);
        fail();
    }
    char buf[1024];
    int line = 0;
    while (fgets(buf, sizeof buf, fp)) {
        line++;
        char *f[16] = {0};
        int nf = split_fields(buf, f, 16);
        if (nf == 0)
            continue; /* blank or comment */
        if (strcmp(f[0], "group") == 0)
            parse_group(f, nf, line);
        else if (nf < 5)
            table_error(line, "too few fields in row starting", f[0]);
        else
            parse_rule(f, nf, line);
    }
    fclose(fp);
    assert_true(n_rules > 0);
    table_loaded = 1;
}

/* --------------------------------------------------------------- helpers */

static struct esc_actor make_actor(int ai)
{
    struct esc_actor a;
    memset(&a, 0, sizeof a);
    a.id = actors[ai].id;
    a.role = actors[ai].role;
    a.tier = actors[ai].tier;
    snprintf(a.name, sizeof a.name, "%s", actors[ai].name);
    return a;
}

static const char *expect_name(enum expect e)
{
    return e == EXPECT_OK ? "ok" : e == EXPECT_FORBIDDEN ? "forbidden" : "invalid";
}

static int failures;

#define CELL_FMT "%s %s@%s by %s (assignee %lld)"
#define CELL_ARGS                                                                          \
    actions[ac].name, state_names[st], tier_names[ti], actors[ai].name,                    \
        (long long)ticket.assignee_id

/* Run one cell for one assignee variant; report each mismatch. */
static void check_cell(int ac, int st, int ti, int ai, int64_t assignee, const struct rule *r)
{
    struct esc_fsm_ticket ticket = {tier_values[ti], (enum esc_state)st, assignee};
    struct esc_actor actor = make_actor(ai);
    struct esc_fsm_result out;
    memset(&out, 0, sizeof out);
    esc_error_t err;
    esc_error_clear(&err);

    int rc = esc_fsm_step(&ticket, actions[ac].action, &actor, &out, &err);

    if (r->expect != EXPECT_OK) {
        esc_code want = r->expect == EXPECT_FORBIDDEN ? ESC_ERR_FORBIDDEN
                                                      : ESC_ERR_INVALID_TRANSITION;
        if (rc != -1 || err.code != want) {
            print_error("MISMATCH " CELL_FMT ": want %s (rule line %d), got rc=%d code=%s (%s)\n",
                        CELL_ARGS, expect_name(r->expect), r->line, rc,
                        esc_code_name(err.code), err.message);
            failures++;
        } else if (err.message[0] == '\0') {
            print_error("MISMATCH " CELL_FMT ": refused without an error message\n", CELL_ARGS);
            failures++;
        }
        return;
    }

    if (rc != 0 || err.code != ESC_OK) {
        print_error("MISMATCH " CELL_FMT ": want ok (rule line %d), got rc=%d code=%s (%s)\n",
                    CELL_ARGS, r->line, rc, esc_code_name(err.code), err.message);
        failures++;
        return;
    }
    enum esc_tier want_tier = r->to_tier == SAME ? ticket.tier : tier_values[r->to_tier];
    enum esc_state want_state = r->to_state == SAME ? ticket.state : (enum esc_state)r->to_state;
    char want_t[160], got_t[160];
    timers_text(r->timers, want_t, sizeof want_t);
    timers_text(out.timers, got_t, sizeof got_t);
    int bad = 0;
    if (out.tier != want_tier) {
        print_error("MISMATCH " CELL_FMT ": tier want %d got %d\n", CELL_ARGS, (int)want_tier,
                    (int)out.tier);
        bad = 1;
    }
    if (out.state != want_state) {
        print_error("MISMATCH " CELL_FMT ": state want %s got %d\n", CELL_ARGS,
                    state_names[want_state], (int)out.state);
        bad = 1;
    }
    if (out.assign != r->assign) {
        print_error("MISMATCH " CELL_FMT ": assign want %s got %d\n", CELL_ARGS,
                    assign_names[r->assign], (int)out.assign);
        bad = 1;
    }
    if (out.timers != r->timers) {
        print_error("MISMATCH " CELL_FMT ": timers want %s got %s\n", CELL_ARGS, want_t, got_t);
        bad = 1;
    }
    if (!out.event || strcmp(out.event, r->event) != 0) {
        print_error("MISMATCH " CELL_FMT ": event want %s got %s\n", CELL_ARGS, r->event,
                    out.event ? out.event : "(null)");
        bad = 1;
    }
    if (!!out.changes_ticket != r->changes) {
        print_error("MISMATCH " CELL_FMT ": changes_ticket want %d got %d\n", CELL_ARGS,
                    r->changes, out.changes_ticket);
        bad = 1;
    }
    if (bad) {
        print_error("         (rule line %d)\n", r->line);
        failures++;
    }
}

/* The one rule that covers a cell; NULL (and a report) when 0 or >1 do. */
static const struct rule *rule_for(int ac, int st, int ti, int ai)
{
    const struct rule *found = NULL;
    int count = 0;
    for (int i = 0; i < n_rules; i++) {
        struct rule *r = &rules[i];
        if (r->match_action[ac] && r->match_state[st] && r->match_tier[ti] && r->match_actor[ai]) {
            if (count > 0)
                print_error("COVERAGE %s %s@%s by %s: matched by lines %d and %d\n",
                            actions[ac].name, state_names[st], tier_names[ti], actors[ai].name,
                            found->line, r->line);
            found = r;
            count++;
            r->used++;
        }
    }
    if (count == 0)
        print_error("COVERAGE %s %s@%s by %s: no rule in the table\n", actions[ac].name,
                    state_names[st], tier_names[ti], actors[ai].name);
    return count == 1 ? found : NULL;
}

/* ----------------------------------------------------------------- tests */

/* Every cell is covered by exactly one row, every row covers some cell. */
static void test_table_covers_every_cell_once(void **state)
{
    (void)state;
    load_table();
    for (int i = 0; i < n_rules; i++)
        rules[i].used = 0;
    int cells = 0, bad = 0;
    for (int ac = 0; ac < N_ACTIONS; ac++)
        for (int st = 0; st < N_STATES; st++)
            for (int ti = 0; ti < N_TIERS; ti++)
                for (int ai = 0; ai < N_ACTORS; ai++) {
                    cells++;
                    if (!rule_for(ac, st, ti, ai))
                        bad++;
                }
    for (int i = 0; i < n_rules; i++)
        if (rules[i].used == 0) {
            print_error("COVERAGE %s:%d: rule matches no cell\n", table_path, rules[i].line);
            bad++;
        }
    print_message("transitions.tsv: %d rules, %d cells\n", n_rules, cells);
    assert_int_equal(cells, N_CELLS);
    assert_int_equal(bad, 0);
}

/* esc_fsm_step agrees with the table in every cell (for actors that are not the
 * assignee: both with another agent assigned and with nobody assigned). */
static void test_every_cell_matches_table(void **state)
{
    (void)state;
    load_table();
    failures = 0;
    int checks = 0, cells = 0;
    for (int ac = 0; ac < N_ACTIONS; ac++)
        for (int st = 0; st < N_STATES; st++)
            for (int ti = 0; ti < N_TIERS; ti++)
                for (int ai = 0; ai < N_ACTORS; ai++) {
                    const struct rule *r = rule_for(ac, st, ti, ai);
                    if (!r) {
                        failures++;
                        continue;
                    }
                    cells++;
                    if (actors[ai].is_assignee) {
                        check_cell(ac, st, ti, ai, actors[ai].id, r);
                        checks++;
                    } else {
                        for (int k = 0; k < N_NON_ASSIGNEES; k++) {
                            check_cell(ac, st, ti, ai, non_assignees[k], r);
                            checks++;
                        }
                    }
                }
    print_message("esc_fsm_step: %d cells, %d checks, %d mismatches\n", cells, checks, failures);
    assert_int_equal(failures, 0);
}

/* esc_fsm_role_may (step 1 alone) is false exactly when the table forbids the
 * actor the action in every state and tier (step 1 comes before step 2, and
 * every action is invalid in some state, so "never" shows as all-forbidden). */
static void test_role_may_matches_table(void **state)
{
    (void)state;
    load_table();
    int bad = 0;
    for (int ac = 0; ac < N_ACTIONS; ac++)
        for (int ai = 0; ai < N_ACTORS; ai++) {
            int all_forbidden = 1;
            for (int st = 0; st < N_STATES; st++)
                for (int ti = 0; ti < N_TIERS; ti++) {
                    const struct rule *r = rule_for(ac, st, ti, ai);
                    if (!r || r->expect != EXPECT_FORBIDDEN)
                        all_forbidden = 0;
                }
            struct esc_actor a = make_actor(ai);
            int may = esc_fsm_role_may(actions[ac].action, &a);
            if (!!may != !all_forbidden) {
                print_error("MISMATCH esc_fsm_role_may(%s, %s) = %d, table says %d\n",
                            actions[ac].name, actors[ai].name, may, !all_forbidden);
                bad++;
            }
        }
    assert_int_equal(bad, 0);
}

/* create: frontdesk, manager (and admin, who may do all a manager may); no agent. */
static void test_may_create(void **state)
{
    (void)state;
    static const struct {
        enum esc_role role;
        enum esc_tier tier;
        int want;
    } cases[] = {
        {ESC_ROLE_FRONTDESK, ESC_TIER_NONE, 1}, {ESC_ROLE_MANAGER, ESC_TIER_NONE, 1},
        {ESC_ROLE_ADMIN, ESC_TIER_NONE, 1},     {ESC_ROLE_AGENT, ESC_TIER_LINE1, 0},
        {ESC_ROLE_AGENT, ESC_TIER_LINE2, 0},    {ESC_ROLE_AGENT, ESC_TIER_LINE3, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct esc_actor a = {.id = 1, .role = cases[i].role, .tier = cases[i].tier};
        assert_int_equal(!!esc_fsm_may_create(&a), cases[i].want);
        assert_int_equal(!!esc_fsm_role_may(ESC_ACT_CREATE, &a), cases[i].want);
    }
}

/* claim: an agent of that tier only; never frontdesk, manager, admin. */
static void test_may_claim(void **state)
{
    (void)state;
    static const enum esc_tier queues[] = {ESC_TIER_LINE1, ESC_TIER_LINE2, ESC_TIER_LINE3};
    for (int ai = 0; ai < N_ACTORS; ai++) {
        struct esc_actor a = make_actor(ai);
        for (int q = 0; q < 3; q++) {
            int want = actors[ai].role == ESC_ROLE_AGENT && actors[ai].tier == queues[q];
            if (!!esc_fsm_may_claim(&a, queues[q]) != want)
                print_error("MISMATCH may_claim(%s, %s) want %d\n", actors[ai].name,
                            tier_names[q], want);
            assert_int_equal(!!esc_fsm_may_claim(&a, queues[q]), want);
        }
        assert_false(esc_fsm_may_claim(&a, ESC_TIER_NONE));
    }
}

/* create is not a step on an existing ticket; esc_fsm_step refuses it with a message. */
static void test_step_refuses_create(void **state)
{
    (void)state;
    struct esc_fsm_ticket t = {ESC_TIER_LINE1, ESC_STATE_AWAITING_ACK, 0};
    struct esc_actor a = make_actor(actor_index("manager"));
    struct esc_fsm_result out;
    esc_error_t err;
    esc_error_clear(&err);
    assert_int_equal(esc_fsm_step(&t, ESC_ACT_CREATE, &a, &out, &err), -1);
    assert_int_not_equal(err.code, ESC_OK);
    assert_true(err.message[0] != '\0');
}

/* A NULL err is allowed (esc_error_set is NULL-safe): refusals still return -1. */
static void test_step_null_err(void **state)
{
    (void)state;
    struct esc_fsm_ticket t = {ESC_TIER_LINE1, ESC_STATE_CLOSED, 0};
    struct esc_actor a = make_actor(actor_index("frontdesk"));
    struct esc_fsm_result out;
    assert_int_equal(esc_fsm_step(&t, ESC_ACT_COMMENT, &a, &out, NULL), -1);
    assert_int_equal(esc_fsm_step(&t, ESC_ACT_ACKNOWLEDGE, &a, &out, NULL), -1);
}

/* "nobody assigned" (assignee_id 0) never makes a caller the assignee, even a
 * caller whose id were 0: an agent who is not the assignee may not escalate. */
static void test_no_assignee_matches_nobody(void **state)
{
    (void)state;
    struct esc_fsm_ticket t = {ESC_TIER_LINE1, ESC_STATE_ACKNOWLEDGED, 0};
    struct esc_actor a = make_actor(actor_index("l1-other"));
    a.id = 0;
    struct esc_fsm_result out;
    esc_error_t err;
    esc_error_clear(&err);
    assert_int_equal(esc_fsm_step(&t, ESC_ACT_ESCALATE, &a, &out, &err), -1);
    assert_int_equal(err.code, ESC_ERR_FORBIDDEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_covers_every_cell_once),
        cmocka_unit_test(test_every_cell_matches_table),
        cmocka_unit_test(test_role_may_matches_table),
        cmocka_unit_test(test_may_create),
        cmocka_unit_test(test_may_claim),
        cmocka_unit_test(test_step_refuses_create),
        cmocka_unit_test(test_step_null_err),
        cmocka_unit_test(test_no_assignee_matches_nobody),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
