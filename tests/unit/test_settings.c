/* The daemon's settings table (daemon/settings.c): the names and defaults that
 * README, scripts and tests rely on, precedence (flag, variable, default),
 * bounds and malformed values, and the --help and Markdown renderings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/settings.h"

/* Every setting's flag, variable and default as they were before the table,
 * and as docs/operations.md and the README give them. */
static const struct {
    enum escp_setting_id id;
    const char *flag, *env, *dflt;
} pinned[] = {
    {ESCP_SET_DB, "--db", "ESCALATED_DB", NULL},
    {ESCP_SET_DATA_KEY_FILE, "--data-key-file", "ESCALATED_DATA_KEY_FILE", NULL},
    {ESCP_SET_LISTEN, "--listen", "ESCALATED_LISTEN", "127.0.0.1:8080"},
    {ESCP_SET_POOL_SIZE, "--pool-size", "ESCALATED_POOL_SIZE", "16"},
    {ESCP_SET_MAX_CONNECTIONS, "--max-connections", "ESCALATED_MAX_CONNECTIONS", "4096"},
    {ESCP_SET_SHUTDOWN_GRACE, "--shutdown-grace", "ESCALATED_SHUTDOWN_GRACE", "30"},
    {ESCP_SET_LOG_LEVEL, "--log-level", "ESCALATED_LOG_LEVEL", "info"},
    {ESCP_SET_ENGINE_MAX_SLEEP, "--engine-max-sleep", "ESCALATED_ENGINE_MAX_SLEEP", "60"},
    {ESCP_SET_ENGINE_BATCH, "--engine-batch", "ESCALATED_ENGINE_BATCH", "500"},
    {ESCP_SET_WEBHOOK_MAX_ATTEMPTS, "--webhook-max-attempts", "ESCALATED_WEBHOOK_MAX_ATTEMPTS", "10"},
    {ESCP_SET_WEBHOOK_BACKOFF_MS, "--webhook-backoff-ms", "ESCALATED_WEBHOOK_BACKOFF_MS", "30000"},
    {ESCP_SET_WEBHOOK_BACKOFF_CAP_MS, "--webhook-backoff-cap-ms", "ESCALATED_WEBHOOK_BACKOFF_CAP_MS",
     "3600000"},
    {ESCP_SET_WEBHOOK_TIMEOUT_MS, "--webhook-timeout-ms", "ESCALATED_WEBHOOK_TIMEOUT_MS", "5000"},
    {ESCP_SET_WEBHOOK_WORKER, "--webhook-worker", "ESCALATED_WEBHOOK_WORKER", "on"},
    {ESCP_SET_WEBHOOK_ALLOW_PRIVATE_NETWORK, "--webhook-allow-private-network",
     "ESCALATED_WEBHOOK_ALLOW_PRIVATE_NETWORK", "off"},
    {ESCP_SET_TLS_CERT, "--tls-cert", "ESCALATED_TLS_CERT", NULL},
    {ESCP_SET_TLS_KEY, "--tls-key", "ESCALATED_TLS_KEY", NULL},
    {ESCP_SET_PUBLIC_URL, "--public-url", "ESCALATED_PUBLIC_URL", NULL},
    {ESCP_SET_ALERT_CA_FILE, "--alert-ca-file", "ESCALATED_ALERT_CA_FILE", NULL},
    {ESCP_SET_ACK_LINK_TTL, "--ack-link-ttl", "ESCALATED_ACK_LINK_TTL", "3600"},
    {ESCP_SET_ALERT_MAX_ATTEMPTS, "--alert-max-attempts", "ESCALATED_ALERT_MAX_ATTEMPTS", "5"},
    {ESCP_SET_ALERT_BACKOFF_MS, "--alert-backoff-ms", "ESCALATED_ALERT_BACKOFF_MS", "5000"},
    {ESCP_SET_MAX_CONNECTIONS_PER_IP, "--max-connections-per-ip", "ESCALATED_MAX_CONNECTIONS_PER_IP", "64"},
    {ESCP_SET_HTTP_THREADS, "--http-threads", "ESCALATED_HTTP_THREADS", NULL},
    {ESCP_SET_MAX_LONG_POLLS, "--max-long-polls", "ESCALATED_MAX_LONG_POLLS", "10000"},
    {ESCP_SET_IDLE_TIMEOUT, "--idle-timeout", "ESCALATED_IDLE_TIMEOUT", "10"},
    {ESCP_SET_AUTH_FAIL_LIMIT, "--auth-fail-limit", "ESCALATED_AUTH_FAIL_LIMIT", "20"},
    {ESCP_SET_AUTH_FAIL_WINDOW, "--auth-fail-window", "ESCALATED_AUTH_FAIL_WINDOW", "60"},
    {ESCP_SET_STATEMENT_TIMEOUT, "--statement-timeout", "ESCALATED_STATEMENT_TIMEOUT", "30000"},
    {ESCP_SET_LOG_FORMAT, "--log-format", "ESCALATED_LOG_FORMAT", "text"},
    {ESCP_SET_CONFIG, "--config", "ESCALATED_CONFIG", NULL},
    {ESCP_SET_TARGET_RESOLUTION_RATE, "--target-resolution-rate", "ESCALATED_TARGET_RESOLUTION_RATE",
     "90"},
    {ESCP_SET_TARGET_SATISFACTION_RATE, "--target-satisfaction-rate",
     "ESCALATED_TARGET_SATISFACTION_RATE", "90"},
};

/* Each test starts from an environment without any of our variables. */
static int clear_env(void **state)
{
    (void)state;
    for (int k = 0; k < ESCP_SET__COUNT; k++)
        unsetenv(escp_settings_table[k].env);
    return 0;
}

/* Resolve `value` given as the flag of setting `id`, for `serve`. */
static int resolve_flag(enum escp_setting_id id, const char *value, struct escp_settings *s,
                        esc_error_t *err)
{
    memset(s, 0, sizeof *s);
    esc_error_clear(err);
    s->flag_value[id] = value;
    return escp_settings_resolve(s, ESCP_SCOPE_SERVE, err);
}

static void names_and_defaults_are_pinned(void **state)
{
    (void)state;
    assert_int_equal(sizeof pinned / sizeof pinned[0], ESCP_SET__COUNT);
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        const struct escp_setting *d = &escp_settings_table[pinned[i].id];
        assert_string_equal(d->flag, pinned[i].flag);
        assert_string_equal(d->env, pinned[i].env);
        if (pinned[i].dflt)
            assert_string_equal(d->dflt, pinned[i].dflt);
        else
            assert_null(d->dflt);
    }
    /* --db, the log's and --config serve every sub-command, the others `serve` */
    for (int k = 0; k < ESCP_SET__COUNT; k++)
        assert_int_equal(escp_settings_table[k].scope,
                         k == ESCP_SET_DB || k == ESCP_SET_LOG_LEVEL || k == ESCP_SET_LOG_FORMAT ||
                                 k == ESCP_SET_CONFIG
                             ? ESCP_SCOPE_ALL
                             : ESCP_SCOPE_SERVE);
}

static void rows_are_complete(void **state)
{
    (void)state;
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        /* the variable is the flag in capitals: --pool-size, ESCALATED_POOL_SIZE */
        char env[64] = "ESCALATED_";
        assert_true(strncmp(d->flag, "--", 2) == 0);
        for (const char *p = d->flag + 2; *p; p++)
            env[strlen(env)] = *p == '-' ? '_' : (char)(*p - ('a' <= *p && *p <= 'z' ? 'a' - 'A' : 0));
        assert_string_equal(d->env, env);
        assert_non_null(d->help);
        assert_true(strlen(d->help) > 10);
        assert_true(d->dflt || d->unset);
        if (d->type == ESCP_SETTING_INT) {
            assert_true(d->min <= d->max);
            assert_true(!d->unit || strcmp(d->unit, "seconds") == 0 || strcmp(d->unit, "ms") == 0);
        }
        if (d->type == ESCP_SETTING_CHOICE) {
            assert_non_null(d->choices);
            assert_non_null(d->choices[0]);
            assert_non_null(d->choices[1]);
        }
    }
    /* and every default passes its own row's check */
    struct escp_settings s = {0};
    esc_error_t err = {0};
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 16);
    assert_int_equal(s.v[ESCP_SET_ENGINE_BATCH].num, 500);
    assert_int_equal(s.v[ESCP_SET_WEBHOOK_BACKOFF_CAP_MS].num, 3600000);
    assert_string_equal(s.v[ESCP_SET_LISTEN].host, "127.0.0.1");
    assert_int_equal(s.v[ESCP_SET_LISTEN].num, 8080);
    assert_string_equal(s.v[ESCP_SET_LOG_LEVEL].text, "info");
    assert_null(s.v[ESCP_SET_DB].text);
}

static void flag_wins_over_variable_wins_over_default(void **state)
{
    (void)state;
    struct escp_settings s = {0};
    esc_error_t err = {0};
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 16);

    setenv("ESCALATED_POOL_SIZE", "20", 1);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 20);
    assert_string_equal(s.v[ESCP_SET_POOL_SIZE].from, "ESCALATED_POOL_SIZE (--pool-size)");

    s.flag_value[ESCP_SET_POOL_SIZE] = "30";
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 30);
    assert_string_equal(s.v[ESCP_SET_POOL_SIZE].from, "--pool-size");

    /* an empty variable counts as unset */
    s.flag_value[ESCP_SET_POOL_SIZE] = NULL;
    setenv("ESCALATED_POOL_SIZE", "", 1);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 16);

    setenv("ESCALATED_DB", "dbname=x", 1);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_ALL, &err), 0);
    assert_string_equal(s.v[ESCP_SET_DB].text, "dbname=x");
}

static void flags_are_taken_out_of_argv(void **state)
{
    (void)state;
    struct escp_settings s = {0};
    esc_error_t err = {0};
    char *argv[] = {"create", "--db", "dbname=a b", "--name", "n", "--pool-size=5", "--pool-sizes", "7",
                    "--db=dbname=c"};
    const char *rest[9];
    int n = -1;
    assert_int_equal(escp_settings_take_flags(&s, 9, argv, rest, &n, &err), 0);
    /* not a setting's flag: --name, and --pool-sizes (a prefix is not enough) */
    assert_int_equal(n, 5);
    assert_string_equal(rest[0], "create");
    assert_string_equal(rest[1], "--name");
    assert_string_equal(rest[2], "n");
    assert_string_equal(rest[3], "--pool-sizes");
    assert_string_equal(rest[4], "7");
    assert_string_equal(s.flag_value[ESCP_SET_POOL_SIZE], "5");
    assert_string_equal(s.flag_value[ESCP_SET_DB], "dbname=c"); /* the last one wins */

    char *lacking[] = {"--listen", "127.0.0.1:1", "--log-level"};
    memset(&s, 0, sizeof s);
    assert_int_equal(escp_settings_take_flags(&s, 3, lacking, rest, &n, &err), -1);
    assert_int_equal(err.code, ESC_ERR_VALIDATION);
    assert_string_equal(err.field, "--log-level");
    assert_non_null(strstr(err.message, "--log-level"));
}

static void numbers_are_checked(void **state)
{
    (void)state;
    struct escp_settings s;
    esc_error_t err;
    const char *malformed[] = {"", "abc", " 5", "5 ", "5x", "0x10", "1e3", "-", "+", "--5",
                               "99999999999999999999"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        assert_int_equal(resolve_flag(ESCP_SET_POOL_SIZE, malformed[i], &s, &err), -1);
        assert_int_equal(err.code, ESC_ERR_VALIDATION);
        assert_string_equal(err.field, "--pool-size");
        assert_non_null(strstr(err.message, "--pool-size"));
        assert_non_null(strstr(err.message, "not a whole number"));
    }
    const char *out_of_range[] = {"0", "257", "-1"};
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        assert_int_equal(resolve_flag(ESCP_SET_POOL_SIZE, out_of_range[i], &s, &err), -1);
        assert_non_null(strstr(err.message, "out of range (1..256)"));
    }
    assert_int_equal(resolve_flag(ESCP_SET_POOL_SIZE, "1", &s, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 1);
    assert_int_equal(resolve_flag(ESCP_SET_POOL_SIZE, "256", &s, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 256);
    assert_int_equal(resolve_flag(ESCP_SET_SHUTDOWN_GRACE, "0", &s, &err), 0);
    assert_int_equal(resolve_flag(ESCP_SET_ENGINE_MAX_SLEEP, "3601", &s, &err), -1);
    assert_non_null(strstr(err.message, "(1..3600 seconds)"));
    assert_int_equal(resolve_flag(ESCP_SET_WEBHOOK_TIMEOUT_MS, "99", &s, &err), -1);
    assert_non_null(strstr(err.message, "(100..60000 ms)"));
    assert_int_equal(resolve_flag(ESCP_SET_WEBHOOK_BACKOFF_CAP_MS, "86400000", &s, &err), 0);
    assert_int_equal(s.v[ESCP_SET_WEBHOOK_BACKOFF_CAP_MS].num, 86400000);
}

static void a_bad_variable_is_named(void **state)
{
    (void)state;
    struct escp_settings s = {0};
    esc_error_t err = {0};
    setenv("ESCALATED_ENGINE_BATCH", "lots", 1);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), -1);
    assert_string_equal(err.field, "--engine-batch");
    assert_non_null(strstr(err.message, "ESCALATED_ENGINE_BATCH (--engine-batch): 'lots'"));
    /* `migrate` and `keys` read only --db and --log-level */
    esc_error_clear(&err);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_ALL, &err), 0);
    setenv("ESCALATED_LOG_LEVEL", "loud", 1);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_ALL, &err), -1);
    assert_string_equal(err.field, "--log-level");
    assert_non_null(strstr(err.message, "ESCALATED_LOG_LEVEL (--log-level): 'loud' is not one of "
                                        "error, warn, info or debug"));
}

static void choices_are_checked(void **state)
{
    (void)state;
    struct escp_settings s;
    esc_error_t err;
    assert_int_equal(resolve_flag(ESCP_SET_LOG_LEVEL, "debug", &s, &err), 0);
    assert_int_equal(s.v[ESCP_SET_LOG_LEVEL].num, 3);
    assert_int_equal(resolve_flag(ESCP_SET_LOG_LEVEL, "WARN", &s, &err), 0); /* as the logger reads it */
    assert_int_equal(s.v[ESCP_SET_LOG_LEVEL].num, 1);
    assert_int_equal(resolve_flag(ESCP_SET_LOG_LEVEL, "warning", &s, &err), -1);
    assert_int_equal(resolve_flag(ESCP_SET_WEBHOOK_WORKER, "off", &s, &err), 0);
    assert_int_equal(s.v[ESCP_SET_WEBHOOK_WORKER].num, 1);
    assert_int_equal(resolve_flag(ESCP_SET_WEBHOOK_WORKER, "", &s, &err), -1);
    assert_int_equal(resolve_flag(ESCP_SET_WEBHOOK_WORKER, "no", &s, &err), -1);
    assert_string_equal(err.message, "--webhook-worker: 'no' is not on or off");
}

static void listen_is_host_and_port(void **state)
{
    (void)state;
    struct escp_settings s;
    esc_error_t err;
    const struct {
        const char *in, *host;
        long port;
    } good[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080},
        {"[::1]:9000", "::1", 9000},
        {"localhost:0", "localhost", 0},
        {"0.0.0.0:65535", "0.0.0.0", 65535},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(resolve_flag(ESCP_SET_LISTEN, good[i].in, &s, &err), 0);
        assert_string_equal(s.v[ESCP_SET_LISTEN].host, good[i].host);
        assert_int_equal(s.v[ESCP_SET_LISTEN].num, good[i].port);
    }
    const char *bad[] = {"8080", ":8080", "host:", "host:65536", "host:-1", "host:http", "[]:80", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(resolve_flag(ESCP_SET_LISTEN, bad[i], &s, &err), -1);
        assert_string_equal(err.field, "--listen");
        assert_non_null(strstr(err.message, "is not HOST:PORT"));
    }
    char longhost[400];
    memset(longhost, 'h', sizeof longhost);
    strcpy(longhost + 300, ":80");
    assert_int_equal(resolve_flag(ESCP_SET_LISTEN, longhost, &s, &err), -1);
}

/* What print writes, as a string the caller frees.  The stream keeps the
 * address of *out until fclose, so *out belongs to the caller. */
static void render(void (*print)(FILE *), char **out)
{
    size_t len = 0;
    FILE *f = open_memstream(out, &len);
    assert_non_null(f);
    print(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(*out);
}

static void help_lists_every_setting(void **state)
{
    (void)state;
    char *help = NULL;
    render(escp_settings_print_help, &help);
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        /* "  FLAG ENV DEFAULT" starts a line: bench/timers.sh reads the
         * default of --engine-max-sleep as the third word */
        char flag[64], env[64], dflt[64];
        const char *line = strstr(help, pinned[i].flag);
        assert_non_null(line);
        assert_int_equal(sscanf(line, "%63s %63s %63s", flag, env, dflt), 3);
        assert_string_equal(flag, pinned[i].flag);
        assert_string_equal(env, pinned[i].env);
        assert_string_equal(dflt, pinned[i].dflt ? pinned[i].dflt : "-");
    }
    assert_non_null(strstr(help, "1..256\n"));
    assert_non_null(strstr(help, "; 1..3600 seconds\n"));
    assert_non_null(strstr(help, "--db, --log-level, --log-format and --config apply to every "
                                 "sub-command"));
    for (const char *p = help; *p;) {
        size_t n = strcspn(p, "\n");
        assert_true(n <= 79);
        p += n + (p[n] == '\n');
    }
    free(help);
}

/* A --config file in a temporary directory, with `text`; its path in path. */
static void write_config(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/esc_settings_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* flag > --config file > environment > default, and the file's syntax:
 * comments, blank lines, quotes, export, names that are not ours */
static void config_file_sits_between_flag_and_variable(void **state)
{
    (void)state;
    char path[64];
    struct escp_settings s = {0};
    esc_error_t err = {0};
    write_config(path, "# comment\n\n  ESCALATED_POOL_SIZE=20\nexport ESCALATED_LOG_LEVEL=\"debug\"\n"
                       "ESCALATED_IDLE_TIMEOUT='7'\r\nPGPASSFILE=/etc/escalated/pgpass\n"
                       "ESCALATED_SHUTDOWN_GRACE=\n");
    setenv("ESCALATED_POOL_SIZE", "30", 1);
    setenv("ESCALATED_AUTH_FAIL_LIMIT", "5", 1);
    setenv("ESCALATED_SHUTDOWN_GRACE", "9", 1);
    s.flag_value[ESCP_SET_CONFIG] = path;
    s.flag_value[ESCP_SET_IDLE_TIMEOUT] = "8";
    assert_int_equal(escp_settings_load_config(&s, &err), 0);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 20);         /* the file over the variable */
    assert_string_equal(s.v[ESCP_SET_LOG_LEVEL].text, "debug"); /* quotes and export */
    assert_int_equal(s.v[ESCP_SET_IDLE_TIMEOUT].num, 8);       /* the flag over the file */
    assert_int_equal(s.v[ESCP_SET_AUTH_FAIL_LIMIT].num, 5);    /* the variable, not in the file */
    assert_int_equal(s.v[ESCP_SET_SHUTDOWN_GRACE].num, 9);     /* empty in the file: unset */
    assert_int_equal(s.v[ESCP_SET_LISTEN].num, 8080);          /* the default */
    assert_non_null(strstr(s.v[ESCP_SET_POOL_SIZE].from, "--config line 3"));

    /* read again (SIGHUP): the new file's values, and none of the old */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("ESCALATED_LOG_LEVEL=warn\n", f);
    fclose(f);
    assert_int_equal(escp_settings_load_config(&s, &err), 0);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), 0);
    assert_string_equal(s.v[ESCP_SET_LOG_LEVEL].text, "warn");
    assert_int_equal(s.v[ESCP_SET_POOL_SIZE].num, 30);
    escp_settings_free(&s);
    unlink(path);
}

static void config_file_errors_name_the_line(void **state)
{
    (void)state;
    const struct {
        const char *text, *message;
    } cases[] = {
        {"ESCALATED_POOL_SIZE=4\nESCALATED_POOL_SIZ=4\n", "line 2: ESCALATED_POOL_SIZ is not a setting"},
        {"# fine\nnot a setting line\n", "line 2: not KEY=VALUE"},
        {"ESCALATED_CONFIG=/etc/other\n", "line 1: ESCALATED_CONFIG is not a setting"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[64];
        struct escp_settings s = {0};
        esc_error_t err = {0};
        write_config(path, cases[i].text);
        s.flag_value[ESCP_SET_CONFIG] = path;
        assert_int_equal(escp_settings_load_config(&s, &err), -1);
        if (!strstr(err.message, cases[i].message))
            fail_msg("'%s' lacks '%s'", err.message, cases[i].message);
        assert_null(s.config_text);
        unlink(path);
    }
    /* a value out of range in the file is named with its line */
    char path[64];
    struct escp_settings s = {0};
    esc_error_t err = {0};
    write_config(path, "\nESCALATED_POOL_SIZE=0\n");
    s.flag_value[ESCP_SET_CONFIG] = path;
    assert_int_equal(escp_settings_load_config(&s, &err), 0);
    assert_int_equal(escp_settings_resolve(&s, ESCP_SCOPE_SERVE, &err), -1);
    assert_non_null(strstr(err.message, "ESCALATED_POOL_SIZE (--config line 2)"));
    escp_settings_free(&s);
    unlink(path);
    /* a file that is not there */
    memset(&s, 0, sizeof s);
    esc_error_clear(&err);
    s.flag_value[ESCP_SET_CONFIG] = "/nonexistent/escalated.env";
    assert_int_equal(escp_settings_load_config(&s, &err), -1);
    if (!strstr(err.message, "/nonexistent/escalated.env: No such file"))
        fail_msg("%s", err.message);
}

static void env_example_has_every_variable(void **state)
{
    (void)state;
    char *env = NULL;
    render(escp_settings_print_env, &env);
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        char line[128];
        const struct escp_setting *d = &escp_settings_table[k];
        snprintf(line, sizeof line, "\n#%s=%s\n", d->env, d->dflt ? d->dflt : "");
        if (k == ESCP_SET_CONFIG)
            assert_null(strstr(env, line)); /* the file does not name itself */
        else if (!strstr(env, line))
            fail_msg("the example lacks %s", line + 1);
    }
    free(env);
}

static void markdown_has_a_row_per_setting(void **state)
{
    (void)state;
    char *md = NULL;
    render(escp_settings_print_markdown, &md);
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        char row[160];
        if (pinned[i].dflt)
            snprintf(row, sizeof row, "| `%s` | `%s` | `%s` | ", pinned[i].flag, pinned[i].env,
                     pinned[i].dflt);
        else
            snprintf(row, sizeof row, "| `%s` | `%s` | %s | ", pinned[i].flag, pinned[i].env,
                     pinned[i].id == ESCP_SET_DB ? "libpq's defaults and PG\\* variables"
                                                 : escp_settings_table[pinned[i].id].unset);
        assert_non_null(strstr(md, row));
    }
    assert_non_null(strstr(md, "| 1..3600 seconds |"));
    assert_non_null(strstr(md, "| `error`, `warn`, `info`, `debug` |"));
    free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(names_and_defaults_are_pinned, clear_env),
        cmocka_unit_test_setup(rows_are_complete, clear_env),
        cmocka_unit_test_setup(flag_wins_over_variable_wins_over_default, clear_env),
        cmocka_unit_test_setup(flags_are_taken_out_of_argv, clear_env),
        cmocka_unit_test_setup(numbers_are_checked, clear_env),
        cmocka_unit_test_setup(a_bad_variable_is_named, clear_env),
        cmocka_unit_test_setup(choices_are_checked, clear_env),
        cmocka_unit_test_setup(listen_is_host_and_port, clear_env),
        cmocka_unit_test_setup(help_lists_every_setting, clear_env),
        cmocka_unit_test_setup(markdown_has_a_row_per_setting, clear_env),
        cmocka_unit_test_setup(config_file_sits_between_flag_and_variable, clear_env),
        cmocka_unit_test_setup(config_file_errors_name_the_line, clear_env),
        cmocka_unit_test_setup(env_example_has_every_variable, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
