/* escalated — the settings table and what reads it (settings.h). */
#include "daemon/settings.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const on_off[] = {"on", "off", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

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
        .reloadable = 1,
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
        .reloadable = 1,
    },
    [ESCP_SET_WEBHOOK_BACKOFF_MS] = {
        .flag = "--webhook-backoff-ms", .env = "ESCALATED_WEBHOOK_BACKOFF_MS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "30000", .min = 10, .max = 86400000, .unit = "ms",
        .help = "back-off after a first failed delivery attempt, doubling after each further one",
        .reloadable = 1,
    },
    [ESCP_SET_WEBHOOK_BACKOFF_CAP_MS] = {
        .flag = "--webhook-backoff-cap-ms", .env = "ESCALATED_WEBHOOK_BACKOFF_CAP_MS",
        .type = ESCP_SETTING_INT, .scope = ESCP_SCOPE_SERVE, .dflt = "3600000", .min = 10,
        .max = 86400000, .unit = "ms",
        .help = "longest back-off between delivery attempts",
        .reloadable = 1,
    },
    [ESCP_SET_WEBHOOK_TIMEOUT_MS] = {
        .flag = "--webhook-timeout-ms", .env = "ESCALATED_WEBHOOK_TIMEOUT_MS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "5000", .min = 100, .max = 60000, .unit = "ms",
        .help = "time allowed for one delivery attempt, connecting included",
        .reloadable = 1,
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
        .reloadable = 1,
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
    [ESCP_SET_PUBLIC_URL] = {
        .flag = "--public-url", .env = "ESCALATED_PUBLIC_URL", .type = ESCP_SETTING_TEXT,
        .scope = ESCP_SCOPE_SERVE, .unset = "alerts carry no links",
        .help = "the address people reach this daemon at (https://helpdesk.example.com): chat and "
                "mail alerts link to the ticket in the console and carry one-click "
                "acknowledgement links under it",
        .doc = "See [channels.md](channels.md#links).",
    },
    [ESCP_SET_ALERT_CA_FILE] = {
        .flag = "--alert-ca-file", .env = "ESCALATED_ALERT_CA_FILE", .type = ESCP_SETTING_TEXT,
        .scope = ESCP_SCOPE_SERVE, .unset = "the system's certificate authorities",
        .help = "PEM file of the certificate authorities trusted for the TLS of alert channels "
                "(a company mail relay with its own CA)",
        .doc = "See [channels.md](channels.md#e-mail-over-smtp).",
    },
    [ESCP_SET_ACK_LINK_TTL] = {
        .flag = "--ack-link-ttl", .env = "ESCALATED_ACK_LINK_TTL", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "3600", .min = 5, .max = 604800, .unit = "seconds",
        .help = "how long a one-click acknowledgement link in an alert works",
        .doc = "See [channels.md](channels.md#one-click-acknowledgement).",
    },
    [ESCP_SET_LOG_FORMAT] = {
        .flag = "--log-format", .env = "ESCALATED_LOG_FORMAT", .type = ESCP_SETTING_CHOICE,
        .scope = ESCP_SCOPE_ALL, .dflt = "text", .choices = log_formats,
        .help = "text: a line of time, level and message; json: one JSON object a line, with ts, "
                "level and msg, for a log collector",
        .doc = "See [Logs](#logs).",
        .reloadable = 1,
    },
    [ESCP_SET_CONFIG] = {
        .flag = "--config", .env = "ESCALATED_CONFIG", .type = ESCP_SETTING_TEXT,
        .scope = ESCP_SCOPE_ALL, .unset = "none",
        .help = "a file of KEY=VALUE lines with these variables' names (the format of "
                "/etc/escalated/escalated.env); its values win over the environment, flags over it. "
                "serve reads it again on SIGHUP and applies the settings marked so",
        .doc = "See [Reloading](#reloading-sighup).",
    },
    /* the procedures appraise each agent against 90% (issue 10 item 7) */
    [ESCP_SET_TARGET_RESOLUTION_RATE] = {
        .flag = "--target-resolution-rate", .env = "ESCALATED_TARGET_RESOLUTION_RATE",
        .type = ESCP_SETTING_INT, .scope = ESCP_SCOPE_SERVE, .dflt = "90", .min = 1, .max = 100,
        .help = "the resolution rate in percent (resolved within the SLA) below which the monthly report "
                "marks an agent, or the month, below_target",
        .doc = "See [reports.md](reports.md#targets).",
    },
    [ESCP_SET_TARGET_SATISFACTION_RATE] = {
        .flag = "--target-satisfaction-rate", .env = "ESCALATED_TARGET_SATISFACTION_RATE",
        .type = ESCP_SETTING_INT, .scope = ESCP_SCOPE_SERVE, .dflt = "90", .min = 1, .max = 100,
        .help = "the satisfaction rate in percent below which the monthly report marks an agent, or the "
                "month, below_target",
        .doc = "See [reports.md](reports.md#targets).",
    },
    [ESCP_SET_ALERT_MAX_ATTEMPTS] = {
        .flag = "--alert-max-attempts", .env = "ESCALATED_ALERT_MAX_ATTEMPTS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "5", .min = 1, .max = 100,
        .help = "attempts to send an alert to its channel before it goes to the channel's fallback "
                "(or is marked failed)",
        .doc = "See [channels.md](channels.md).",
    },
    [ESCP_SET_ALERT_BACKOFF_MS] = {
        .flag = "--alert-backoff-ms", .env = "ESCALATED_ALERT_BACKOFF_MS", .type = ESCP_SETTING_INT,
        .scope = ESCP_SCOPE_SERVE, .dflt = "5000", .min = 10, .max = 3600000, .unit = "ms",
        .help = "back-off after a first failed alert attempt, doubling after each further one",
        .doc = "See [channels.md](channels.md).",
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

void escp_settings_free(struct escp_settings *s)
{
    free(s->config_text);
    s->config_text = NULL;
    memset(s->config_value, 0, sizeof s->config_value);
}

#define CONFIG_MAX (1 << 20) /* a few KiB in practice */

char *escp_read_small_file(const char *path, const char *flag, size_t max, mode_t *mode,
                           esc_error_t *err)
{
    char *buf = NULL;
    struct stat st;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, flag, "%s %.200s: %s", flag, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        esc_error_set(err, ESC_ERR_VALIDATION, flag, "%s %.200s: not a regular file of at most %zu KiB",
                      flag, path, max / 1024);
        goto out;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n <= 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, flag, "%s %.200s: %s", flag, path,
                          n < 0 ? strerror(errno) : "the file shrank while read");
            free(buf);
            buf = NULL;
            goto out;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (mode)
        *mode = st.st_mode;
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* One line of the file, in place: NULL key for a blank or comment line;
 * else *key and *value point into it, both NUL-terminated.  -1 when the
 * line is neither. */
static int config_line(char *line, char **key, char **value)
{
    *key = *value = NULL;
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0 || line[0] == '#')
        return 0;
    if (strncmp(line, "export ", 7) == 0) /* a file that a shell also sources */
        line += 7;
    char *eq = strchr(line, '=');
    if (!eq || eq == line)
        return -1;
    *eq = '\0';
    char *v = eq + 1;
    size_t vn = strlen(v);
    if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
        v[vn - 1] = '\0';
        v++;
    }
    *key = line;
    *value = v;
    return 0;
}

int escp_settings_load_config(struct escp_settings *s, esc_error_t *err)
{
    const char *e = getenv(escp_settings_table[ESCP_SET_CONFIG].env);
    const char *path = s->flag_value[ESCP_SET_CONFIG] ? s->flag_value[ESCP_SET_CONFIG]
                       : e && *e                       ? e
                                                       : NULL;
    escp_settings_free(s);
    if (!path)
        return 0;
    char *text = escp_read_small_file(path, "--config", CONFIG_MAX, NULL, err);
    if (!text)
        return -1;
    const char *values[ESCP_SET__COUNT] = {0};
    int lines[ESCP_SET__COUNT] = {0};
    int lineno = 0;
    for (char *line = text, *next; line; line = next) {
        lineno++;
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        char *key, *value;
        if (config_line(line, &key, &value) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "--config",
                          "--config %.200s line %d: not KEY=VALUE, a comment (#) or blank", path,
                          lineno);
            free(text);
            return -1;
        }
        if (!key || strncmp(key, "ESCALATED_", 10) != 0)
            continue; /* blank, comment, or a variable of libpq's or systemd's */
        int k = 0;
        while (k < ESCP_SET__COUNT && strcmp(escp_settings_table[k].env, key) != 0)
            k++;
        if (k == ESCP_SET__COUNT || k == ESCP_SET_CONFIG) {
            esc_error_set(err, ESC_ERR_VALIDATION, "--config",
                          "--config %.200s line %d: %.64s is not a setting (escalated --help "
                          "lists them)", path, lineno, key);
            free(text);
            return -1;
        }
        values[k] = value;
        lines[k] = lineno;
    }
    s->config_text = text;
    memcpy(s->config_value, values, sizeof values);
    memcpy(s->config_line, lines, sizeof lines);
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
        } else if (s->config_value[k] && *s->config_value[k]) { /* empty: unset, as below */
            v->text = s->config_value[k];
            snprintf(v->from, sizeof v->from, "%s (--config line %d)", d->env, s->config_line[k]);
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
    fprintf(f, " apply to every sub-command;\nthe others apply to %sserve%s.\n", q, q);
}

void escp_settings_print_help(FILE *f)
{
    fprintf(f, "settings (flag, environment variable, default):\n");
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        char values[160], line[1024];
        values_text(d, values, sizeof values);
        fprintf(f, "  %-25s %-33s %s\n", d->flag, d->env, d->dflt ? d->dflt : "-");
        snprintf(line, sizeof line, "%s%s%s%s%s%s", d->help,
                 values[0] && d->type != ESCP_SETTING_HOSTPORT ? "; " : "",
                 d->type != ESCP_SETTING_HOSTPORT ? values : "", d->unset ? "; unset: " : "",
                 d->unset ? d->unset : "", d->reloadable ? "; reloaded on SIGHUP" : "");
        print_wrapped(f, 6, 79, line);
    }
    fprintf(f, "A flag wins over the --config file, the file over the variable, the variable\n"
               "over the default.\n");
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
        fprintf(f, ".%s%s%s |\n", d->reloadable ? " Reloaded on `SIGHUP`." : "", d->doc ? " " : "",
                d->doc ? d->doc : "");
    }
    fprintf(f, "\nA flag wins over the `--config` file, the file over the environment variable,\n"
               "and the variable over the default; an empty value counts as unset. A malformed\n"
               "value, or a number out of its range, stops `escalated` with exit status 2 and a\n"
               "message naming the setting.\n");
    print_scopes(f, "`");
}

/* Text for roff: backslashes as \e, a leading . or ' made literal; with
 * `minus`, hyphens as \- (flags, which are typed as they are shown). */
static void print_roff(FILE *f, const char *text, int minus)
{
    if (text[0] == '.' || text[0] == '\'')
        fputs("\\&", f);
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", f);
        else if (*p == '-' && minus)
            fputs("\\-", f);
        else
            fputc(*p, f);
    }
}

void escp_settings_print_man(FILE *f)
{
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        char values[160];
        values_text(d, values, sizeof values);
        fprintf(f, ".TP\n\\fB");
        print_roff(f, d->flag, 1);
        fprintf(f, "\\fR \\fI%s\\fR\n", d->type == ESCP_SETTING_INT      ? "N"
                                            : d->type == ESCP_SETTING_CHOICE   ? "WORD"
                                            : d->type == ESCP_SETTING_HOSTPORT ? "HOST:PORT"
                                                                               : "VALUE");
        fprintf(f, "(\\fB%s\\fR) ", d->env);
        print_roff(f, d->help, 0);
        fprintf(f, ".\n");
        if (values[0] && d->type != ESCP_SETTING_HOSTPORT) {
            fprintf(f, "Values: ");
            print_roff(f, values, 0);
            fprintf(f, ".\n");
        }
        fprintf(f, "Default: ");
        print_roff(f, d->dflt ? d->dflt : d->unset, 0);
        fprintf(f, ".%s\n", d->reloadable ? " Reloaded on SIGHUP." : "");
    }
    fprintf(f, ".PP\nA flag wins over the \\fB\\-\\-config\\fR file, the file over the environment "
               "variable, and the variable over the default; an empty value counts as unset.\n");
    fprintf(f, ".PP\n");
    print_scopes(f, "");
}

/* "# " and text in lines of at most 79 columns. */
static void print_env_comment(FILE *f, const char *text)
{
    const char *p = text;
    while (*p) {
        int n = (int)strlen(p);
        if (n > 77) {
            n = 77;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = (int)strcspn(p, " ");
        }
        fprintf(f, "# %.*s\n", n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

void escp_settings_print_env(FILE *f)
{
    fprintf(f, "# escalated's settings, one KEY=VALUE a line: read by systemd\n"
               "# (EnvironmentFile= of escalated.service) at start, and by the daemon itself\n"
               "# (--config) at start and on SIGHUP (systemctl reload escalated), when it\n"
               "# applies the settings marked \"reloaded on SIGHUP\" and logs the others as\n"
               "# needing a restart.  Generated from the settings table (daemon/settings.c);\n"
               "# `man 8 escalated` says more.  Every line below is commented out: it shows\n"
               "# the default.  serve needs at least ESCALATED_DB and ESCALATED_DATA_KEY_FILE.\n"
               "# Other variables (PGPASSFILE, PGSSLMODE, ...) may be set here too: systemd\n"
               "# passes them to libpq, and --config leaves them alone.\n");
    for (int k = 0; k < ESCP_SET__COUNT; k++) {
        const struct escp_setting *d = &escp_settings_table[k];
        char values[160], line[1024];
        if (k == ESCP_SET_CONFIG) /* the file does not name itself */
            continue;
        values_text(d, values, sizeof values);
        snprintf(line, sizeof line, "%s (%s)%s%s%s%s%s", d->help, d->flag,
                 values[0] && d->type != ESCP_SETTING_HOSTPORT ? "; " : "",
                 d->type != ESCP_SETTING_HOSTPORT ? values : "", d->dflt ? "" : "; unset: ",
                 d->dflt ? "" : d->unset, d->reloadable ? "; reloaded on SIGHUP" : "");
        fprintf(f, "\n");
        print_env_comment(f, line);
        fprintf(f, "#%s=%s\n", d->env, d->dflt ? d->dflt : "");
    }
}
