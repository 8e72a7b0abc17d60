/* escalated — the settings table and what reads it (settings.h). */
#include "daemon/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const on_off[] = {"on", "off", NULL};

/* Names and defaults are part of the contract (SPEC section 8, README,
 * scripts, tests): change them only together with those. */
const struct escp_setting escp_settings_table[ESCP_SET__COUNT] = {
    [ESCP_SET_DB] = {
        .flag = "--db", .env = "ESCALATED_DB", .type = ESCP_SETTING_TEXT, .scope = ESCP_SCOPE_ALL,
        .unset = "libpq's defaults and PG* variables",
        .help = "PostgreSQL connection string (host=/run/pg dbname=escalated) or URL "
                "(postgresql://user@host/escalated)",
        .doc = "With a standby: name both servers and add target_session_attrs=read-write, as in "
               "[Failover](#failover).",
    },
    [ESCP_SET_DATA_KEY_FILE] = {
        .flag = "--data-key-file", .env = "ESCALATED_DATA_KEY_FILE", .type = ESCP_SETTING_TEXT,
        .scope = ESCP_SCOPE_SERVE, .unset = "none (serve refuses to start without one)",
        .help = "the data key file that customer data is encrypted with (mode 0600, owned by the "
                "daemon's user; `escalated data-key create` makes one)",
        .doc = "Read by `serve` and by `data-key`, which checks the settings `serve` reads. "
               "See [security.md](security.md#the-key-file).",
    },
    [ESCP_SET_LISTEN] = {
        .flag = "--listen", .env = "ESCALATED_LISTEN", .type = ESCP_SETTING_HOSTPORT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "127.0.0.1:8080",
        .help = "address and port to serve HTTP on; [::1]:8080 for IPv6, port 0 for any free port",
    },
    [ESCP_SET_POOL_SIZE] = {
        .flag = "--pool-size", .env = "ESCALATED_POOL_SIZE", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "16", .min = 1, .max = 256,
        .help = "database connections, which equals the most transactions in flight",
        .doc = "See *Sizing* below.",
    },
    [ESCP_SET_MAX_CONNECTIONS] = {
        .flag = "--max-connections", .env = "ESCALATED_MAX_CONNECTIONS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "4096", .min = 16, .max = 1000000,
        .help = "HTTP connections open at once; an idle connection costs a socket, not a thread "
                "(lowered to fit the open-files limit, whose soft limit is raised to the hard one)",
        .doc = "See [security.md](security.md#slow-and-hostile-clients).",
    },
    [ESCP_SET_MAX_CONNECTIONS_PER_IP] = {
        .flag = "--max-connections-per-ip", .env = "ESCALATED_MAX_CONNECTIONS_PER_IP",
        .type = ESCP_SETTING_INT, .scope = ESCP_SCOPE_SERVE, .dflt = "64", .min = 1, .max = 100000,
        .help = "HTTP connections open at once from one client address (behind a reverse proxy "
                "every client has the proxy's address: raise it there)",
    },
    [ESCP_SET_HTTP_THREADS] = {
        .flag = "--http-threads", .env = "ESCALATED_HTTP_THREADS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .unset = "the pool size", .min = 2,
        .max = 1024,
        .help = "threads that answer HTTP requests; each answers one request at a time",
    },
    [ESCP_SET_MAX_LONG_POLLS] = {
        .flag = "--max-long-polls", .env = "ESCALATED_MAX_LONG_POLLS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "10000", .min = 1, .max = 1000000,
        .help = "requests with ?wait=N that may wait at once (a waiting request holds a "
                "connection but no thread); more are answered at once, as with wait=0",
    },
    [ESCP_SET_IDLE_TIMEOUT] = {
        .flag = "--idle-timeout", .env = "ESCALATED_IDLE_TIMEOUT", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "10", .min = 1, .max = 3600, .unit = "seconds",
        .help = "an HTTP connection that sends nothing for this long is closed (half-sent requests "
                "and idle keep-alive connections alike)",
    },
    [ESCP_SET_AUTH_FAIL_LIMIT] = {
        .flag = "--auth-fail-limit", .env = "ESCALATED_AUTH_FAIL_LIMIT", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "20", .min = 1, .max = 100000,
        .help = "failed tokens from one client address within the window, after which its "
                "requests get 429 until the window ends",
    },
    [ESCP_SET_AUTH_FAIL_WINDOW] = {
        .flag = "--auth-fail-window", .env = "ESCALATED_AUTH_FAIL_WINDOW", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "60", .min = 1, .max = 86400, .unit = "seconds",
        .help = "the window of --auth-fail-limit",
    },
    [ESCP_SET_STATEMENT_TIMEOUT] = {
        .flag = "--statement-timeout", .env = "ESCALATED_STATEMENT_TIMEOUT", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "30000", .min = 100, .max = 3600000, .unit = "ms",
        .help = "PostgreSQL statement_timeout of the request pool's connections",
    },
    [ESCP_SET_SHUTDOWN_GRACE] = {
        .flag = "--shutdown-grace", .env = "ESCALATED_SHUTDOWN_GRACE", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "30", .min = 0, .max = 3600, .unit = "seconds",
        .help = "how long SIGTERM waits for requests in flight",
    },
    [ESCP_SET_LOG_LEVEL] = {
        .flag = "--log-level", .env = "ESCALATED_LOG_LEVEL", .type = ESCP_SETTING_CHOICE,
        .scope = ESCP_SCOPE_ALL, .dflt = "info", .choices = log_levels,
        .help = "the least severe log lines written to standard error",
    },
    [ESCP_SET_ENGINE_MAX_SLEEP] = {
        .flag = "--engine-max-sleep", .env = "ESCALATED_ENGINE_MAX_SLEEP", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "60", .min = 1, .max = 3600, .unit = "seconds",
        .help = "longest sleep of the SLA engine without a wake-up. It is also the notify window: "
                "a transaction that creates a deadline due within this many seconds sends "
                "pg_notify('escalated_timers'), so every daemon on one database must use the same value",
        .doc = "See [engine.md](engine.md).",
    },
    [ESCP_SET_ENGINE_BATCH] = {
        .flag = "--engine-batch", .env = "ESCALATED_ENGINE_BATCH", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "500", .min = 1, .max = 10000,
        .help = "timers the SLA engine fires per statement; when a statement fires a whole batch "
                "(a backlog), a second connection fires batches alongside",
        .doc = "See [engine.md](engine.md).",
    },
    [ESCP_SET_WEBHOOK_MAX_ATTEMPTS] = {
        .flag = "--webhook-max-attempts", .env = "ESCALATED_WEBHOOK_MAX_ATTEMPTS",
        .type = ESCP_SETTING_INT, .scope = ESCP_SCOPE_SERVE, .dflt = "10", .min = 1, .max = 100,
        .help = "webhook delivery attempts before a delivery is marked failed",
        .doc = "See [webhooks.md](webhooks.md#settings).",
    },
    [ESCP_SET_WEBHOOK_BACKOFF_MS] = {
        .flag = "--webhook-backoff-ms", .env = "ESCALATED_WEBHOOK_BACKOFF_MS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "30000", .min = 10, .max = 86400000, .unit = "ms",
        .help = "back-off after a first failed delivery attempt, doubling after each further one",
    },
    [ESCP_SET_WEBHOOK_BACKOFF_CAP_MS] = {
        .flag = "--webhook-backoff-cap-ms", .env = "ESCALATED_WEBHOOK_BACKOFF_CAP_MS",
        .type = ESCP_SETTING_INT, .scope = ESCP_SCOPE_SERVE, .dflt = "3600000", .min = 10,
        .max = 86400000, .unit = "ms",
        .help = "longest back-off between delivery attempts",
    },
    [ESCP_SET_WEBHOOK_TIMEOUT_MS] = {
        .flag = "--webhook-timeout-ms", .env = "ESCALATED_WEBHOOK_TIMEOUT_MS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "5000", .min = 100, .max = 60000, .unit = "ms",
        .help = "time allowed for one delivery attempt, connecting included",
    },
    [ESCP_SET_WEBHOOK_WORKER] = {
        .flag = "--webhook-worker", .env = "ESCALATED_WEBHOOK_WORKER", .type = ESCP_SETTING_CHOICE,
        .scope = ESCP_SCOPE_SERVE, .dflt = "on", .choices = on_off,
        .help = "on: this daemon delivers webhooks; off: it leaves that to the other daemons of "
                "the database",
    },
    [ESCP_SET_WEBHOOK_ALLOW_PRIVATE_NETWORK] = {
        .flag = "--webhook-allow-private-network", .env = "ESCALATED_WEBHOOK_ALLOW_PRIVATE_NETWORK",
        .type = ESCP_SETTING_CHOICE, .scope = ESCP_SCOPE_SERVE, .dflt = "off", .choices = on_off,
        .help = "on: webhooks may also be sent to loopback, private (10/8, 172.16/12, "
                "192.168/16, fc00::/7) and carrier-grade NAT addresses; off: to public addresses "
                "only. Link-local addresses and cloud metadata services are refused either way",
        .doc = "See [security.md](security.md#webhook-destinations).",
    },
    [ESCP_SET_TLS_CERT] = {
        .flag = "--tls-cert", .env = "ESCALATED_TLS_CERT", .type = ESCP_SETTING_TEXT,
        .scope = ESCP_SCOPE_SERVE, .unset = "plain HTTP",
        .help = "PEM file with the server certificate (and its chain): serve HTTPS, TLS 1.2 and "
                "1.3 only; the key file must be given too",
        .doc = "See [HTTPS](#https).",
    },
    [ESCP_SET_TLS_KEY] = {
        .flag = "--tls-key", .env = "ESCALATED_TLS_KEY", .type = ESCP_SETTING_TEXT,
        .scope = ESCP_SCOPE_SERVE, .unset = "plain HTTP",
        .help = "PEM file with the certificate's private key; refused when every user may read "
                "it; needs --tls-cert",
        .doc = "See [HTTPS](#https).",
    },
};

int escp_settings_take_flags(struct escp_settings *s, int argc, char **argv, const char **rest,
                             int *nrest, esc_error_t *err)
{
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        int found = 0;
        for (int k = 0; k < ESCP_SET__COUNT && !found; k++) {
            const char *flag = escp_settings_table[k].flag;
            size_t n = strlen(flag);
            if (strncmp(argv[i], flag, n) != 0)
                continue;
            if (argv[i][n] == '=') {
                s->flag_value[k] = argv[i] + n + 1;
                found = 1;
            } else if (argv[i][n] == '\0') {
                if (i + 1 >= argc) {
                    esc_error_set(err, ESC_ERR_VALIDATION, flag, "%s needs a value", flag);
                    return -1;
                }
                s->flag_value[k] = argv[++i];
                found = 1;
            }
        }
        if (!found)
            rest[(*nrest)++] = argv[i];
    }
    return 0;
}

/* "1..256", "1..3600 seconds", "error, warn, info or debug", "HOST:PORT" or "" */
static void values_text(const struct escp_setting *d, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    switch (d->type) {
    case ESCP_SETTING_INT:
        snprintf(buf, size, "%ld..%ld%s%s", d->min, d->max, d->unit ? " " : "", d->unit ? d->unit : "");
        break;
    case ESCP_SETTING_CHOICE:
        for (int i = 0; d->choices[i] && len < size; i++) {
            const char *sep = i == 0 ? "" : d->choices[i + 1] ? ", " : " or ";
            int n = snprintf(buf + len, size - len, "%s%s", sep, d->choices[i]);
            if (n < 0)
                break;
            len += (size_t)n;
        }
        break;
    case ESCP_SETTING_HOSTPORT:
        snprintf(buf, size, "HOST:PORT");
        break;
    case ESCP_SETTING_TEXT:
        break;
    }
}

/* A whole number as a person types it: digits, perhaps a minus; no blanks,
 * no "0x", nothing after it. */
static int parse_long(const char *t, long *out)
{
    const char *digits = t[0] == '-' ? t + 1 : t;
    if (!isdigit((unsigned char)digits[0]))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_hostport(const char *t, struct escp_setting_value *v)
{
    const char *colon = strrchr(t, ':');
    if (!colon || colon == t || (size_t)(colon - t) >= sizeof v->host)
        return -1;
    size_t n = (size_t)(colon - t);
    const char *host = t;
    if (n >= 2 && t[0] == '[' && t[n - 1] == ']') { /* [::1]:8080 */
        host++;
        n -= 2;
    }
    if (n == 0)
        return -1;
    memcpy(v->host, host, n);
    v->host[n] = '\0';
    long port;
    if (parse_long(colon + 1, &port) != 0 || port < 0 || port > 65535)
        return -1;
    v->num = port;
    return 0;
}

/* Check one value against its row; the message names where the value came
 * from (the flag, or the variable and its flag) and what it should be. */
static int check_value(const struct escp_setting *d, struct escp_setting_value *v, esc_error_t *err)
{
    char values[160];
    values_text(d, values, sizeof values);
    switch (d->type) {
    case ESCP_SETTING_TEXT:
        return 0;
    case ESCP_SETTING_INT:
        if (parse_long(v->text, &v->num) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, d->flag, "%s: '%.64s' is not a whole number (%s)",
                          v->from, v->text, values);
            return -1;
        }
        if (v->num < d->min || v->num > d->max) {
            esc_error_set(err, ESC_ERR_VALIDATION, d->flag, "%s: %ld is out of range (%s)", v->from,
                          v->num, values);
            return -1;
        }
        return 0;
    case ESCP_SETTING_CHOICE:
        for (int i = 0; d->choices[i]; i++)
            if (strcasecmp(v->text, d->choices[i]) == 0) {
                v->num = i;
                return 0;
            }
        esc_error_set(err, ESC_ERR_VALIDATION, d->flag, "%s: '%.64s' is not %s%s", v->from, v->text,
                      d->choices[1] && d->choices[2] ? "one of " : "", values);
        return -1;
    case ESCP_SETTING_HOSTPORT:
        if (parse_hostport(v->text, v) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, d->flag,
                          "%s: '%.64s' is not HOST:PORT (a port 0..65535)", v->from, v->text);
            return -1;
        }
        return 0;
    }
    return 0;
}

int escp_settings_resolve(struct escp_settings *s, enum escp_setting_scope scope, esc_error_t *err)
{
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        struct escp_setting_value *v = &s->v[k];
        const char *e = getenv(d->env);
        memset(v, 0, sizeof *v);
        if (s->flag_value[k]) {
            v->text = s->flag_value[k];
            snprintf(v->from, sizeof v->from, "%s", d->flag);
        } else if (e && *e) { /* an empty variable counts as unset */
            v->text = e;
            snprintf(v->from, sizeof v->from, "%s (%s)", d->env, d->flag);
        } else {
            v->text = d->dflt;
            snprintf(v->from, sizeof v->from, "%s (default)", d->flag);
        }
        if (!v->text || (d->scope == ESCP_SCOPE_SERVE && scope != ESCP_SCOPE_SERVE))
            continue;
        if (check_value(d, v, err) != 0)
            return -1;
    }
    return 0;
}

/* Print text in lines of at most `width` columns, each indented by `indent`. */
static void print_wrapped(FILE *f, int indent, int width, const char *text)
{
    const char *p = text;
    while (*p) {
        int room = width - indent, n = (int)strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0) /* one word longer than the line */
                n = (int)strcspn(p, " ");
        }
        fprintf(f, "%*s%.*s\n", indent, "", n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

/* "`--db` and `--log-level` apply to every sub-command; the others to `serve`."
 * with or without the Markdown quotes. */
static void print_scopes(FILE *f, const char *q)
{
    int all = 0, seen = 0;
    for (int k = 0; k < ESCP_SET__COUNT; k++)
        all += escp_settings_table[k].scope == ESCP_SCOPE_ALL;
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        if (escp_settings_table[k].scope != ESCP_SCOPE_ALL)
            continue;
        seen++;
        fprintf(f, "%s%s%s%s", seen == 1 ? "" : seen == all ? " and " : ", ", q,
                escp_settings_table[k].flag, q);
    }
    fprintf(f, " apply to every sub-command; the others apply to %sserve%s.\n", q, q);
}

void escp_settings_print_help(FILE *f)
{
    fprintf(f, "settings (flag, environment variable, default):\n");
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        char values[160], line[1024];
        values_text(d, values, sizeof values);
        fprintf(f, "  %-25s %-33s %s\n", d->flag, d->env, d->dflt ? d->dflt : "-");
        snprintf(line, sizeof line, "%s%s%s%s%s", d->help,
                 values[0] && d->type != ESCP_SETTING_HOSTPORT ? "; " : "",
                 d->type != ESCP_SETTING_HOSTPORT ? values : "", d->unset ? "; unset: " : "",
                 d->unset ? d->unset : "");
        print_wrapped(f, 6, 79, line);
    }
    fprintf(f, "A flag wins over its variable, the variable over the default.\n");
    print_scopes(f, "");
}

/* Plain text into a Markdown table cell: only what Markdown would eat. */
static void print_md_plain(FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (strchr("\\`*|<", *p))
            fputc('\\', f);
        fputc(*p, f);
    }
}

void escp_settings_print_markdown(FILE *f)
{
    fprintf(f, "| flag | environment | default | values | meaning |\n"
               "|---|---|---|---|---|\n");
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        fprintf(f, "| `%s` | `%s` | ", d->flag, d->env);
        if (d->dflt)
            fprintf(f, "`%s`", d->dflt);
        else
            print_md_plain(f, d->unset);
        fprintf(f, " | ");
        switch (d->type) {
        case ESCP_SETTING_TEXT:
            fprintf(f, "text");
            break;
        case ESCP_SETTING_INT:
            fprintf(f, "%ld..%ld%s%s", d->min, d->max, d->unit ? " " : "", d->unit ? d->unit : "");
            break;
        case ESCP_SETTING_CHOICE:
            for (int i = 0; d->choices[i]; i++)
                fprintf(f, "%s`%s`", i ? ", " : "", d->choices[i]);
            break;
        case ESCP_SETTING_HOSTPORT:
            fprintf(f, "`HOST:PORT`");
            break;
        }
        fprintf(f, " | ");
        print_md_plain(f, d->help);
        fprintf(f, ".%s%s |\n", d->doc ? " " : "", d->doc ? d->doc : "");
    }
    fprintf(f, "\nA flag wins over its environment variable, and the variable over the default;\n"
               "an empty variable counts as unset. A malformed value, or a number out of its\n"
               "range, stops `escalated` with exit status 2 and a message naming the setting.\n");
    print_scopes(f, "`");
}
