/* escalated — the daemon's settings: one declarative table (after tmux's
 * options_table and PgBouncer's config table) of every flag with its
 * environment variable, type, default, bounds, unit and help text.
 *
 * The command line (daemon/main.c), `escalated --help`, the settings section
 * of docs/operations.md (daemon/settings_doc.c) and tests/unit/test_settings.c
 * all read this one table, and so do the man page escalated.8 and
 * packaging/escalated.env.  A value comes from its flag, else from the
 * --config file, else from its environment variable (when set and not
 * empty), else from the default.
 *
 * It lives in daemon/, not lib/: flag and variable names are the executable's
 * business, as curl's option table lives in src/ and not in lib/; the library
 * only sees the struct esc_server_config that main.c fills from these values.
 */
#ifndef ESCALATED_DAEMON_SETTINGS_H
#define ESCALATED_DAEMON_SETTINGS_H

#include <stdio.h>
#include <sys/types.h>

#include "base/error.h"

enum escp_setting_id {
    ESCP_SET_DB,
    ESCP_SET_DATA_KEY_FILE,
    ESCP_SET_LISTEN,
    ESCP_SET_POOL_SIZE,
    ESCP_SET_MAX_CONNECTIONS,
    ESCP_SET_MAX_CONNECTIONS_PER_IP,
    ESCP_SET_HTTP_THREADS,
    ESCP_SET_MAX_LONG_POLLS,
    ESCP_SET_IDLE_TIMEOUT,
    ESCP_SET_AUTH_FAIL_LIMIT,
    ESCP_SET_AUTH_FAIL_WINDOW,
    ESCP_SET_STATEMENT_TIMEOUT,
    ESCP_SET_SHUTDOWN_GRACE,
    ESCP_SET_LOG_LEVEL,
    ESCP_SET_ENGINE_MAX_SLEEP,
    ESCP_SET_ENGINE_BATCH,
    ESCP_SET_WEBHOOK_MAX_ATTEMPTS,
    ESCP_SET_WEBHOOK_BACKOFF_MS,
    ESCP_SET_WEBHOOK_BACKOFF_CAP_MS,
    ESCP_SET_WEBHOOK_TIMEOUT_MS,
    ESCP_SET_WEBHOOK_WORKER,
    ESCP_SET_WEBHOOK_ALLOW_PRIVATE_NETWORK,
    ESCP_SET_TLS_CERT,
    ESCP_SET_TLS_KEY,
    ESCP_SET_LOG_FORMAT,
    ESCP_SET_CONFIG,
    ESCP_SET_TARGET_RESOLUTION_RATE,
    ESCP_SET_TARGET_SATISFACTION_RATE,
    ESCP_SET_PUBLIC_URL,
    ESCP_SET_ALERT_CA_FILE,
    ESCP_SET_ACK_LINK_TTL,
    ESCP_SET_ALERT_MAX_ATTEMPTS,
    ESCP_SET_ALERT_BACKOFF_MS,
    ESCP_SET__COUNT
};

enum escp_setting_type {
    ESCP_SETTING_TEXT,     /* any string, passed on as it is */
    ESCP_SETTING_INT,      /* a whole number in min..max (in `unit`) */
    ESCP_SETTING_CHOICE,   /* one of `choices`, compared without case */
    ESCP_SETTING_HOSTPORT  /* HOST:PORT, [IPv6]:PORT; port 0..65535 */
};

/* Which sub-commands read a setting.  Only the settings of the sub-command
 * that runs are checked, so a bad serve-only variable in the environment does
 * not stop `escalated migrate`. */
enum escp_setting_scope {
    ESCP_SCOPE_ALL,   /* every sub-command */
    ESCP_SCOPE_SERVE  /* `serve` only */
};

struct escp_setting {
    const char *flag;              /* "--pool-size"; "--pool-size=16" works too */
    const char *env;               /* "ESCALATED_POOL_SIZE" */
    enum escp_setting_type type;
    enum escp_setting_scope scope;
    const char *dflt;              /* as it would be typed; NULL: none */
    const char *unset;             /* what applies when there is no value (dflt NULL) */
    long min, max;                 /* ESCP_SETTING_INT: inclusive bounds */
    const char *unit;              /* ESCP_SETTING_INT: "seconds", "ms"; NULL for counts */
    const char *const *choices;    /* ESCP_SETTING_CHOICE: NULL-terminated */
    const char *help;              /* plain text, for --help and the docs */
    const char *doc;               /* Markdown added in the docs only, or NULL */
    int reloadable;                /* `serve` applies a new value on SIGHUP (--config) */
};

/* The table, indexed by enum escp_setting_id. */
extern const struct escp_setting escp_settings_table[ESCP_SET__COUNT];

struct escp_setting_value {
    const char *text; /* in force: the flag's, else the variable's, else the default;
                         NULL when none.  Borrowed from argv, environ or the table. */
    char from[96];    /* where text came from, for messages: "--pool-size",
                         "ESCALATED_POOL_SIZE (--pool-size)" or "default" */
    long num;         /* INT: the number; CHOICE: index in choices; HOSTPORT: the port */
    char host[256];   /* HOSTPORT: the host, without IPv6 brackets */
};

struct escp_settings {
    const char *flag_value[ESCP_SET__COUNT]; /* from argv (borrowed); NULL: not given */
    const char *config_value[ESCP_SET__COUNT]; /* from the --config file (in config_text) */
    int config_line[ESCP_SET__COUNT];          /* its line there, for messages */
    char *config_text;                         /* the file, owned: escp_settings_free */
    struct escp_setting_value v[ESCP_SET__COUNT];
};

/* Take the settings' flags (`--flag VALUE` or `--flag=VALUE`, anywhere) out
 * of argv[0..argc) into s->flag_value; every other argument is copied, in
 * order, to rest[] (room for argc entries), their number to *nrest.  A flag
 * given twice keeps its last value.  0, or -1 when a flag lacks its value. */
int escp_settings_take_flags(struct escp_settings *s, int argc, char **argv, const char **rest,
                             int *nrest, esc_error_t *err);

/* Read the --config file (the flag's, else ESCALATED_CONFIG's; none: 0 and
 * nothing read) into s->config_value, replacing what an earlier call read.
 * Its lines are KEY=VALUE with the settings' variable names, as in a systemd
 * EnvironmentFile: blank lines and lines starting with # are skipped, a value
 * may be in "double" or 'single' quotes, and names that do not start with
 * ESCALATED_ (PGPASSFILE, ...) are left to the environment.  An unknown
 * ESCALATED_ name, a line without =, or a file that cannot be read: -1 with
 * err naming the file and line. */
int escp_settings_load_config(struct escp_settings *s, esc_error_t *err);
/* Free what escp_settings_load_config read (s->v[].text may point into it). */
void escp_settings_free(struct escp_settings *s);

/* Fill s->v[] from the flags taken, the --config file, the environment and the defaults, and
 * check the settings read in `scope` (ESCP_SCOPE_SERVE: all of them).  0, or
 * -1 with an error that names the setting (err->field is its flag). */
int escp_settings_resolve(struct escp_settings *s, enum escp_setting_scope scope, esc_error_t *err);

/* The settings part of `escalated --help`: per setting a line with flag,
 * variable and default (scripts read the third column), then the help text
 * with its bounds. */
void escp_settings_print_help(FILE *f);

/* The settings section of docs/operations.md, in Markdown. */
void escp_settings_print_markdown(FILE *f);
/* The OPTIONS section of escalated.8, in roff (man(7) macros). */
void escp_settings_print_man(FILE *f);
/* packaging/escalated.env: every setting's variable, commented out, with its
 * default and help, as KEY=VALUE lines for systemd's EnvironmentFile= and
 * for --config. */
void escp_settings_print_env(FILE *f);

/* The whole of a regular file of at most max bytes, NUL-terminated
 * (malloc'd), and its mode (when mode is not NULL); NULL with err (field and
 * message naming `flag` and the file) otherwise. */
char *escp_read_small_file(const char *path, const char *flag, size_t max, mode_t *mode,
                           esc_error_t *err);

#endif
