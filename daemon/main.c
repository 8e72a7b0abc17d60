/* escalated — the executable: argv, environment, signals, start and stop.
 * Everything else lives in lib/. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "core/model.h"
#include "app/server.h"
#include "db/store.h"

/* The one table of settings: --help is printed from it; docs/operations.md lists the same settings. */
struct setting {
    const char *flag, *env, *dflt, *help;
    const char *value;
};

enum { SET_DB, SET_LISTEN, SET_POOL, SET_MAXCONN, SET_GRACE, SET_LOG, SET_ENGINE_SLEEP, SET_ENGINE_BATCH,
       SET_WH_ATTEMPTS, SET_WH_BACKOFF, SET_WH_BACKOFF_CAP, SET_WH_TIMEOUT, SET_WH_WORKER,
       SET__COUNT };

static struct setting settings[SET__COUNT] = {
    [SET_DB] = {"--db", "ESCALATED_DB", NULL,
                "PostgreSQL connection string or URL (default: libpq defaults and PG* variables)"},
    [SET_LISTEN] = {"--listen", "ESCALATED_LISTEN", "127.0.0.1:8080", "HOST:PORT to serve HTTP on"},
    [SET_POOL] = {"--pool-size", "ESCALATED_POOL_SIZE", "16",
                  "database connections (transactions in flight), 1..256"},
    [SET_MAXCONN] = {"--max-connections", "ESCALATED_MAX_CONNECTIONS", "4096",
                     "HTTP connections served at once (kept within RLIMIT_NOFILE)"},
    [SET_GRACE] = {"--shutdown-grace", "ESCALATED_SHUTDOWN_GRACE", "30",
                   "seconds SIGTERM waits for requests in flight"},
    [SET_LOG] = {"--log-level", "ESCALATED_LOG_LEVEL", "info", "error, warn, info or debug"},
    [SET_ENGINE_SLEEP] = {"--engine-max-sleep", "ESCALATED_ENGINE_MAX_SLEEP", "60",
                          "longest SLA engine sleep, seconds (1..3600); deadlines sooner than this "
                          "are announced to other daemons by NOTIFY: use one value per database"},
    [SET_ENGINE_BATCH] = {"--engine-batch", "ESCALATED_ENGINE_BATCH", "500",
                          "timers the SLA engine fires per statement (1..10000); a backlog "
                          "(a whole batch due) is fired on two connections at once"},
    [SET_WH_ATTEMPTS] = {"--webhook-max-attempts", "ESCALATED_WEBHOOK_MAX_ATTEMPTS", "10",
                         "attempts per webhook delivery before it is marked failed (1..100)"},
    [SET_WH_BACKOFF] = {"--webhook-backoff-ms", "ESCALATED_WEBHOOK_BACKOFF_MS", "30000",
                        "back-off after a first failed delivery attempt, doubling after each "
                        "further one, milliseconds (10..86400000)"},
    [SET_WH_BACKOFF_CAP] = {"--webhook-backoff-cap-ms", "ESCALATED_WEBHOOK_BACKOFF_CAP_MS", "3600000",
                            "longest back-off between delivery attempts, milliseconds (10..86400000)"},
    [SET_WH_WORKER] = {"--webhook-worker", "ESCALATED_WEBHOOK_WORKER", "on",
                       "on: this daemon delivers webhooks; off: it leaves that to the other "
                       "daemons of the database"},
    [SET_WH_TIMEOUT] = {"--webhook-timeout-ms", "ESCALATED_WEBHOOK_TIMEOUT_MS", "5000",
                        "time allowed for one delivery attempt, milliseconds (100..60000)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "escalated " ESC_VERSION " — three-tier complaint escalation daemon\n\n"
            "usage:\n"
            "  escalated serve   [--db CONNINFO] [--listen HOST:PORT] [options]\n"
            "  escalated migrate [--db CONNINFO]\n"
            "  escalated keys create --name NAME --role ROLE [--tier N] [--db CONNINFO]\n"
            "  escalated --help | --version\n\n"
            "roles: frontdesk, agent (needs --tier 1..3 or line-1..line-3), manager, admin\n\n"
            "settings (flag, environment variable, default):\n");
    for (int i = 0; i < SET__COUNT; i++)
        fprintf(f, "  %-20s %-28s %s\n      %s\n", settings[i].flag, settings[i].env,
                settings[i].dflt ? settings[i].dflt : "-", settings[i].help);
}

static const char *setting(int i)
{
    if (settings[i].value)
        return settings[i].value;
    const char *e = getenv(settings[i].env);
    return e && *e ? e : settings[i].dflt;
}

static int int_setting(int i, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(setting(i), &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "escalated: %s must be %d..%d\n", settings[i].flag, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Consume the settings flags; the rest stay in extra[] for the sub-command. */
static int parse_flags(int argc, char **argv, const char **extra, int *nextra)
{
    *nextra = 0;
    for (int i = 0; i < argc; i++) {
        int found = 0;
        for (int s = 0; s < SET__COUNT && !found; s++) {
            size_t n = strlen(settings[s].flag);
            if (strncmp(argv[i], settings[s].flag, n) != 0)
                continue;
            if (argv[i][n] == '=') {
                settings[s].value = argv[i] + n + 1;
                found = 1;
            } else if (argv[i][n] == '\0') {
                if (i + 1 >= argc) {
                    fprintf(stderr, "escalated: %s needs a value\n", settings[s].flag);
                    return -1;
                }
                settings[s].value = argv[++i];
                found = 1;
            }
        }
        if (!found)
            extra[(*nextra)++] = argv[i];
    }
    int lvl = esc_log_level_from_name(setting(SET_LOG));
    if (lvl < 0) {
        fprintf(stderr, "escalated: unknown log level\n");
        return -1;
    }
    esc_log_set_level((enum esc_log_level)lvl);
    return 0;
}

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int cmd_serve(int n, const char **extra)
{
    if (n > 0) {
        fprintf(stderr, "escalated serve: unknown argument '%s'\n", extra[0]);
        return 2;
    }
    struct esc_server_config cfg = {0};
    char host[256];
    const char *listen = setting(SET_LISTEN);
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        fprintf(stderr, "escalated: --listen must be HOST:PORT\n");
        return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8080 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        fprintf(stderr, "escalated: bad port in --listen\n");
        return 2;
    }
    cfg.db = setting(SET_DB);
    cfg.listen_host = host;
    cfg.listen_port = (int)port;
    if (int_setting(SET_POOL, 1, 256, &cfg.pool_size) || int_setting(SET_MAXCONN, 1, 100000, &cfg.max_connections) ||
        int_setting(SET_GRACE, 0, 3600, &cfg.shutdown_grace_s) ||
        int_setting(SET_ENGINE_SLEEP, 1, 3600, &cfg.engine_max_sleep_ms) ||
        int_setting(SET_ENGINE_BATCH, 1, 10000, &cfg.engine_batch) ||
        int_setting(SET_WH_ATTEMPTS, 1, 100, &cfg.webhook_max_attempts) ||
        int_setting(SET_WH_BACKOFF, 10, 86400000, &cfg.webhook_backoff_ms) ||
        int_setting(SET_WH_BACKOFF_CAP, 10, 86400000, &cfg.webhook_backoff_cap_ms) ||
        int_setting(SET_WH_TIMEOUT, 100, 60000, &cfg.webhook_timeout_ms))
        return 2;
    if (strcmp(setting(SET_WH_WORKER), "on") != 0 && strcmp(setting(SET_WH_WORKER), "off") != 0) {
        fprintf(stderr, "escalated: --webhook-worker must be on or off\n");
        return 2;
    }
    cfg.no_webhooks = strcmp(setting(SET_WH_WORKER), "off") == 0;
    cfg.engine_max_sleep_ms *= 1000;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (esc_server_global_init() != 0) {
        log_error("cannot start: libcurl failed to initialise");
        return 1;
    }
    esc_error_t err = {0};
    struct esc_server *srv = esc_server_start(&cfg, &err);
    if (!srv) {
        log_error("cannot start: %s", err.message);
        return 1;
    }
    log_info("escalated %s listening on %s:%d (pool %d)", ESC_VERSION, host, esc_server_port(srv),
             cfg.pool_size);
    while (!stop_signal)
        pause();
    log_info("signal %d: finishing requests in flight", (int)stop_signal);
    esc_server_stop(srv);
    log_info("stopped");
    return 0;
}

static int cmd_migrate(int n, const char **extra)
{
    if (n > 0) {
        fprintf(stderr, "escalated migrate: unknown argument '%s'\n", extra[0]);
        return 2;
    }
    esc_error_t err = {0};
    int applied = 0;
    if (esc_store_migrate(setting(SET_DB), &applied, &err) != 0) {
        fprintf(stderr, "escalated migrate: %s\n", err.message);
        return 1;
    }
    log_info("schema is current (%d migration%s applied now)", applied, applied == 1 ? "" : "s");
    return 0;
}

static int cmd_keys(int n, const char **extra)
{
    const char *name = NULL, *role = NULL, *tier = NULL;
    if (n < 1 || strcmp(extra[0], "create") != 0) {
        fprintf(stderr, "usage: escalated keys create --name NAME --role ROLE [--tier N]\n");
        return 2;
    }
    for (int i = 1; i < n; i++) {
        const char **dst = strcmp(extra[i], "--name") == 0   ? &name
                           : strcmp(extra[i], "--role") == 0 ? &role
                           : strcmp(extra[i], "--tier") == 0 ? &tier
                                                             : NULL;
        if (!dst || i + 1 >= n) {
            fprintf(stderr, "escalated keys create: unknown or incomplete argument '%s'\n", extra[i]);
            return 2;
        }
        *dst = extra[++i];
    }
    int r = esc_role_from_name(role);
    int t = tier ? esc_tier_parse(tier) : 0;
    if (!name || !*name || strlen(name) > 128) {
        fprintf(stderr, "escalated keys create: --name (1..128 characters) is required\n");
        return 2;
    }
    if (r < 0) {
        fprintf(stderr, "escalated keys create: --role must be frontdesk, agent, manager or admin\n");
        return 2;
    }
    if ((r == ESC_ROLE_AGENT) != (t > 0) || t < 0) {
        fprintf(stderr, "escalated keys create: an agent needs --tier 1..3; other roles take none\n");
        return 2;
    }
    esc_error_t err = {0};
    char *token = esc_store_key_create(setting(SET_DB), name, (enum esc_role)r, (enum esc_tier)t, NULL, &err);
    if (!token) {
        fprintf(stderr, "escalated keys create: %s\n", err.message);
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("escalated %s\n", ESC_VERSION);
        return 0;
    }
    const char **extra = calloc((size_t)argc, sizeof *extra);
    int n = 0, rc = 2;
    if (!extra)
        return 1;
    if (parse_flags(argc - 2, argv + 2, extra, &n) != 0)
        goto out;
    if (strcmp(argv[1], "serve") == 0)
        rc = cmd_serve(n, extra);
    else if (strcmp(argv[1], "migrate") == 0)
        rc = cmd_migrate(n, extra);
    else if (strcmp(argv[1], "keys") == 0)
        rc = cmd_keys(n, extra);
    else {
        fprintf(stderr, "escalated: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
    }
out:
    free(extra);
    return rc;
}
