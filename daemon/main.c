/* escalated — the executable: argv, environment, signals, start and stop.
 * Everything else lives in lib/. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "base/datakey.h"
#include "base/log.h"
#include "core/model.h"
#include "app/check.h"
#include "app/server.h"
#include "db/store.h"
#include "service/keys.h"
#include "service/retention.h"
#include "daemon/settings.h"

/* Every setting's value, read from the table in settings.c by main(). */
static struct escp_settings settings;

static void usage(FILE *f)
{
    fprintf(f,
            "escalated " ESC_VERSION " — three-tier complaint escalation daemon\n\n"
            "usage:\n"
            "  escalated serve   [--db CONNINFO] [--listen HOST:PORT] [options]\n"
            "  escalated migrate [--db CONNINFO]\n"
            "  escalated check   [--db CONNINFO] [--data-key-file FILE] [options]\n"
            "  escalated keys create --name NAME --role ROLE [--tier N] [--expires-at TIME]\n"
            "  escalated keys list | keys revoke ID [--reason TEXT]   [--db CONNINFO]\n"
            "  escalated data-key create --data-key-file FILE\n"
            "  escalated data-key rotate --data-key-file FILE [--db CONNINFO]\n"
            "  escalated retention show | set MONTHS | run [--dry-run] [--limit N]  [--db CONNINFO]\n"
            "  escalated --help | --version\n\n"
            "roles: frontdesk, agent (needs --tier 1..3 or line-1..line-3), manager, admin\n\n");
    escp_settings_print_help(f);
}

static const char *setting(enum escp_setting_id id) { return settings.v[id].text; }
static int int_setting(enum escp_setting_id id) { return (int)settings.v[id].num; }

#define PEM_MAX (1 << 20) /* a certificate chain is a few KiB */

/* The whole of a PEM file, NUL-terminated (malloc'd), or NULL after a
 * message on stderr.  A private key (is_key) must not be readable or
 * writable by every user: a key others can read is no longer private, and
 * refusing it is what PostgreSQL and OpenSSH do for theirs. */
static char *read_pem(const char *path, const char *flag, int is_key)
{
    esc_error_t err = {0};
    mode_t mode = 0;
    char *buf = escp_read_small_file(path, flag, PEM_MAX, &mode, &err);
    if (!buf) {
        fprintf(stderr, "escalated: %s\n", err.message);
        return NULL;
    }
    if (!*buf) {
        fprintf(stderr, "escalated: %s %s: the file is empty\n", flag, path);
    } else if (is_key && (mode & (S_IROTH | S_IWOTH))) {
        fprintf(stderr, "escalated: %s %s: every user may read or write this private key; "
                        "chmod 600 (or 640, group ssl-cert) and start again\n", flag, path);
    } else {
        return buf;
    }
    memset(buf, 0, strlen(buf)); /* it may be a key's bytes */
    free(buf);
    return NULL;
}

/* Do cert (PEM, the server certificate first) and key (PEM) make a pair?
 * Checked here, before libmicrohttpd sees them, so that the message says
 * which file is wrong and why (GnuTLS's own would come later, in the log). */
static int tls_pair_ok(const char *cert_pem, const char *cert_path, const char *key_pem,
                       const char *key_path)
{
    int ok = 0;
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    if (!x)
        fprintf(stderr, "escalated: --tls-cert %s: not a PEM certificate\n", cert_path);
    else if (!k)
        fprintf(stderr, "escalated: --tls-key %s: not a PEM private key without a passphrase\n",
                key_path);
    else if (X509_check_private_key(x, k) != 1)
        fprintf(stderr, "escalated: --tls-key %s is not the key of the certificate in --tls-cert %s\n",
                key_path, cert_path);
    else
        ok = 1;
    ERR_clear_error();
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(kb);
    BIO_free(cb);
    return ok;
}

static void free_secret(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    free(s);
}


/* The logger as the settings say (the table allows only the names that
 * esc_log_level_from_name and esc_log_format_from_name know). */
static void apply_log_settings(const struct escp_settings *s)
{
    esc_log_set_level((enum esc_log_level)esc_log_level_from_name(s->v[ESCP_SET_LOG_LEVEL].text));
    esc_log_set_format(
        (enum esc_log_format)esc_log_format_from_name(s->v[ESCP_SET_LOG_FORMAT].text));
}

static void server_reload_settings(const struct escp_settings *s, struct esc_server_reload *r)
{
    r->webhook_max_attempts = (int)s->v[ESCP_SET_WEBHOOK_MAX_ATTEMPTS].num;
    r->webhook_backoff_ms = (int)s->v[ESCP_SET_WEBHOOK_BACKOFF_MS].num;
    r->webhook_backoff_cap_ms = (int)s->v[ESCP_SET_WEBHOOK_BACKOFF_CAP_MS].num;
    r->webhook_timeout_ms = (int)s->v[ESCP_SET_WEBHOOK_TIMEOUT_MS].num;
    r->webhook_allow_private_network =
        strcasecmp(s->v[ESCP_SET_WEBHOOK_ALLOW_PRIVATE_NETWORK].text, "on") == 0;
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* SIGHUP: read the --config file again (the flags stay; the environment is
 * the one the process started with) and apply the reloadable settings; a
 * changed setting that is not reloadable is logged as needing a restart,
 * without its value (--db may hold a password).  A file with an error
 * changes nothing.  The data key file is loaded again either way. */
static void reload(struct esc_server *srv)
{
    esc_error_t err = {0};
    struct escp_settings *next = calloc(1, sizeof *next);
    if (!next) {
        log_error("reload: out of memory; nothing changed");
        return;
    }
    memcpy(next->flag_value, settings.flag_value, sizeof next->flag_value);
    if (escp_settings_load_config(next, &err) != 0 ||
        escp_settings_resolve(next, ESCP_SCOPE_SERVE, &err) != 0) {
        log_error("reload: %s; nothing changed", err.message);
        goto out;
    }
    int restart = 0;
    for (int k = 0; k < ESCP_SET__COUNT; k++)
        if (!escp_settings_table[k].reloadable &&
            !same_text(settings.v[k].text, next->v[k].text)) {
            log_warn("reload: %s changed (%s): it takes a restart; the value in use stays",
                     escp_settings_table[k].flag, next->v[k].from);
            restart++;
        }
    apply_log_settings(next);
    struct esc_server_reload r;
    server_reload_settings(next, &r);
    esc_error_clear(&err);
    if (esc_server_reload(srv, &r, &err) != 0)
        log_error("reload: %s", err.message);
    log_info("reloaded: log level %s, log format %s, webhook settings applied%s",
             next->v[ESCP_SET_LOG_LEVEL].text, next->v[ESCP_SET_LOG_FORMAT].text,
             restart ? "; some changes need a restart (above)" : "");
out:
    escp_settings_free(next);
    free(next);
}

/* CLOCK_MONOTONIC in microseconds, for sd_notify's RELOADING=1 (systemd's
 * Type=notify-reload wants it; older systemd ignores it). */
static unsigned long long monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

static int cmd_serve(int n, const char **extra)
{
    if (n > 0) {
        fprintf(stderr, "escalated serve: unknown argument '%s'\n", extra[0]);
        return 2;
    }
    /* main() has checked every value against its bounds in the table */
    struct esc_server_config cfg = {0};
    const char *host = settings.v[ESCP_SET_LISTEN].host;
    cfg.db = setting(ESCP_SET_DB);
    cfg.data_key_file = setting(ESCP_SET_DATA_KEY_FILE);
    if (!cfg.data_key_file) {
        fprintf(stderr, "escalated serve: no data key file. Customer data is stored encrypted "
                        "with it: give --data-key-file FILE or ESCALATED_DATA_KEY_FILE (create one "
                        "with `escalated data-key create --data-key-file FILE`)\n");
        return 2;
    }
    if (access(cfg.data_key_file, R_OK) != 0) {
        fprintf(stderr, "escalated serve: cannot read the data key file %s: %s\n",
                cfg.data_key_file, strerror(errno));
        return 2;
    }
    cfg.listen_host = host;
    cfg.listen_port = int_setting(ESCP_SET_LISTEN);
    cfg.pool_size = int_setting(ESCP_SET_POOL_SIZE);
    cfg.max_connections = int_setting(ESCP_SET_MAX_CONNECTIONS);
    cfg.per_ip_connections = int_setting(ESCP_SET_MAX_CONNECTIONS_PER_IP);
    cfg.http_threads = setting(ESCP_SET_HTTP_THREADS) ? int_setting(ESCP_SET_HTTP_THREADS) : 0;
    cfg.max_long_polls = int_setting(ESCP_SET_MAX_LONG_POLLS);
    cfg.idle_timeout_s = int_setting(ESCP_SET_IDLE_TIMEOUT);
    cfg.auth_fail_limit = int_setting(ESCP_SET_AUTH_FAIL_LIMIT);
    cfg.auth_fail_window_s = int_setting(ESCP_SET_AUTH_FAIL_WINDOW);
    cfg.statement_timeout_ms = int_setting(ESCP_SET_STATEMENT_TIMEOUT);
    cfg.shutdown_grace_s = int_setting(ESCP_SET_SHUTDOWN_GRACE);
    cfg.engine_max_sleep_ms = int_setting(ESCP_SET_ENGINE_MAX_SLEEP) * 1000;
    cfg.engine_batch = int_setting(ESCP_SET_ENGINE_BATCH);
    cfg.webhook_max_attempts = int_setting(ESCP_SET_WEBHOOK_MAX_ATTEMPTS);
    cfg.webhook_backoff_ms = int_setting(ESCP_SET_WEBHOOK_BACKOFF_MS);
    cfg.webhook_backoff_cap_ms = int_setting(ESCP_SET_WEBHOOK_BACKOFF_CAP_MS);
    cfg.webhook_timeout_ms = int_setting(ESCP_SET_WEBHOOK_TIMEOUT_MS);
    cfg.no_webhooks = strcasecmp(setting(ESCP_SET_WEBHOOK_WORKER), "off") == 0;
    cfg.webhook_allow_private_network =
        strcasecmp(setting(ESCP_SET_WEBHOOK_ALLOW_PRIVATE_NETWORK), "on") == 0;
    cfg.target_resolution_pct = int_setting(ESCP_SET_TARGET_RESOLUTION_RATE);
    cfg.target_satisfaction_pct = int_setting(ESCP_SET_TARGET_SATISFACTION_RATE);
    cfg.public_url = setting(ESCP_SET_PUBLIC_URL);
    cfg.alert_ca_file = setting(ESCP_SET_ALERT_CA_FILE);
    cfg.ack_link_ttl_s = int_setting(ESCP_SET_ACK_LINK_TTL);
    cfg.alert_max_attempts = int_setting(ESCP_SET_ALERT_MAX_ATTEMPTS);
    cfg.alert_backoff_ms = int_setting(ESCP_SET_ALERT_BACKOFF_MS);

    const char *cert_path = setting(ESCP_SET_TLS_CERT), *key_path = setting(ESCP_SET_TLS_KEY);
    char *cert = NULL, *key = NULL;
    if (!cert_path != !key_path) {
        fprintf(stderr, "escalated: --tls-cert and --tls-key go together: give both for HTTPS, "
                        "or neither for plain HTTP\n");
        return 2;
    }
    if (cert_path && (!(cert = read_pem(cert_path, "--tls-cert", 0)) ||
                      !(key = read_pem(key_path, "--tls-key", 1)) ||
                      !tls_pair_ok(cert, cert_path, key, key_path))) {
        free(cert);
        free_secret(key);
        return 2;
    }
    cfg.tls_cert_pem = cert;
    cfg.tls_key_pem = key;
    int rc = 0;

    /* SIGTERM and SIGINT are blocked before any thread starts (threads
     * inherit the mask) and taken by sigwait below, on this thread: with a
     * handler and pause(), the signal could be handled by another thread, or
     * arrive between the check and pause(), and leave this one paused. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGHUP); /* reload: taken here too, so no thread dies of it */
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (esc_server_global_init() != 0) {
        log_error("cannot start: libcurl failed to initialise");
        rc = 1;
        goto out;
    }
    esc_error_t err = {0};
    struct esc_server *srv = esc_server_start(&cfg, &err);
    if (!srv) {
        log_error("cannot start: %s", err.message);
        /* a refused key file, certificate or TLS key is a setting to fix */
        rc = strcmp(err.field, "data_key_file") == 0 || strncmp(err.field, "tls", 3) == 0 ? 2 : 1;
        goto out;
    }
    log_info("escalated %s listening on %s://%s:%d (pool %d)", ESC_VERSION, cert ? "https" : "http",
             host, esc_server_port(srv), cfg.pool_size);
    /* systemd (Type=notify): started once listening; a no-op without NOTIFY_SOCKET */
    sd_notifyf(0, "READY=1\nSTATUS=serving on %s:%d\nMAINPID=%lu", host, esc_server_port(srv),
               (unsigned long)getpid());
    int sig = 0;
    for (;;) {
        while (sigwait(&stop_set, &sig) != 0)
            ;
        if (sig != SIGHUP)
            break;
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", monotonic_usec());
        log_info("SIGHUP: reloading the settings");
        reload(srv);
        sd_notify(0, "READY=1");
    }
    sd_notify(0, "STOPPING=1");
    log_info("signal %d: finishing requests in flight", sig);
    esc_server_stop(srv);
    log_info("stopped");
out:
    free(cert);
    free_secret(key);
    return rc;
}

static int cmd_migrate(int n, const char **extra)
{
    if (n > 0) {
        fprintf(stderr, "escalated migrate: unknown argument '%s'\n", extra[0]);
        return 2;
    }
    esc_error_t err = {0};
    int applied = 0;
    if (esc_store_migrate(setting(ESCP_SET_DB), &applied, &err) != 0) {
        fprintf(stderr, "escalated migrate: %s\n", err.message);
        return 1;
    }
    log_info("schema is current (%d migration%s applied now)", applied, applied == 1 ? "" : "s");
    return 0;
}

#define KEYS_USAGE                                                                          \
    "usage: escalated keys create --name NAME --role ROLE [--tier N] [--expires-at TIME]\n"  \
    "       escalated keys list\n"                                                           \
    "       escalated keys revoke ID [--reason TEXT]\n"

static int keys_create(int n, const char **extra)
{
    const char *name = NULL, *role = NULL, *tier = NULL, *expires = NULL;
    for (int i = 1; i < n; i++) {
        const char **dst = strcmp(extra[i], "--name") == 0         ? &name
                           : strcmp(extra[i], "--role") == 0       ? &role
                           : strcmp(extra[i], "--tier") == 0       ? &tier
                           : strcmp(extra[i], "--expires-at") == 0 ? &expires
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
    char *token = esc_keys_create(setting(ESCP_SET_DB), name, (enum esc_role)r, (enum esc_tier)t,
                                  expires, NULL, &err);
    if (!token) {
        fprintf(stderr, "escalated keys create: %s\n", err.message);
        return err.code == ESC_ERR_VALIDATION ? 2 : 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

/* `escalated data-key create|rotate` (docs/security.md) */
static int cmd_data_key(int n, const char **extra)
{
    const char *path = setting(ESCP_SET_DATA_KEY_FILE);
    if (n != 1 || (strcmp(extra[0], "create") != 0 && strcmp(extra[0], "rotate") != 0)) {
        fprintf(stderr, "usage: escalated data-key create|rotate --data-key-file FILE\n");
        return 2;
    }
    if (!path) {
        fprintf(stderr, "escalated data-key %s: --data-key-file FILE (or "
                        "ESCALATED_DATA_KEY_FILE) is required\n", extra[0]);
        return 2;
    }
    esc_error_t err = {0};
    if (strcmp(extra[0], "create") == 0) {
        if (esc_datakey_generate_file(path, &err) != 0) {
            fprintf(stderr, "escalated data-key create: %s\n", err.message);
            return 1;
        }
        log_info("data key file %s created (mode 0600): keep a copy apart from the database "
                 "backups", path);
        return 0;
    }
    unsigned version = 0;
    long rows = 0;
    if (esc_data_key_rotate(setting(ESCP_SET_DB), path, 0, &version, &rows, &err) != 0) {
        fprintf(stderr, "escalated data-key rotate: %s\n", err.message);
        return 1;
    }
    log_info("data key version %u added; %ld rows sealed with it", version, rows);
    return 0;
}

/* A time of a principal as the table shows it: the date and the minute. */
static const char *when(json_t *p, const char *key, char buf[24])
{
    const char *v = json_string_value(json_object_get(p, key));
    if (!v)
        return "-";
    snprintf(buf, 24, "%.10s %.5s", v, strlen(v) > 11 ? v + 11 : "");
    return buf;
}

static int keys_list(int n, const char **extra)
{
    if (n > 1) {
        fprintf(stderr, "escalated keys list: unknown argument '%s'\n", extra[1]);
        return 2;
    }
    esc_error_t err = {0};
    json_t *all = esc_keys_list(setting(ESCP_SET_DB), &err);
    if (!all) {
        fprintf(stderr, "escalated keys list: %s\n", err.message);
        return 1;
    }
    size_t i;
    json_t *p;
    char c[24], e[24], r[24];
    printf("%-6s %-24s %-9s %-6s %-16s %-16s %-16s\n", "ID", "NAME", "ROLE", "TIER", "CREATED",
           "EXPIRES", "REVOKED");
    json_array_foreach(all, i, p) {
        const char *tier = json_string_value(json_object_get(p, "tier"));
        printf("%-6" JSON_INTEGER_FORMAT " %-24s %-9s %-6s %-16s %-16s %-16s\n",
               json_integer_value(json_object_get(p, "id")),
               json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "role")), tier ? tier : "-",
               when(p, "created_at", c), when(p, "expires_at", e), when(p, "revoked_at", r));
    }
    json_decref(all);
    return 0;
}

static int keys_revoke(int n, const char **extra)
{
    const char *reason = NULL;
    char *end = NULL;
    long long id = n >= 2 ? strtoll(extra[1], &end, 10) : 0;
    if (n >= 4 && strcmp(extra[2], "--reason") == 0)
        reason = extra[3];
    if (id <= 0 || !end || *end || (n != 2 && !(n == 4 && reason))) {
        fprintf(stderr, KEYS_USAGE);
        return 2;
    }
    esc_error_t err = {0};
    json_t *p = esc_keys_revoke(setting(ESCP_SET_DB), (int64_t)id, reason, &err);
    if (!p) {
        fprintf(stderr, "escalated keys revoke: %s\n", err.message);
        return 1;
    }
    char at[24];
    printf("principal %lld (%s) revoked at %s\n", id, json_string_value(json_object_get(p, "name")),
           when(p, "revoked_at", at));
    json_decref(p);
    return 0;
}

static int cmd_keys(int n, const char **extra)
{
    if (n >= 1 && strcmp(extra[0], "create") == 0)
        return keys_create(n, extra);
    if (n >= 1 && strcmp(extra[0], "list") == 0)
        return keys_list(n, extra);
    if (n >= 1 && strcmp(extra[0], "revoke") == 0)
        return keys_revoke(n, extra);
    fprintf(stderr, KEYS_USAGE);
    return 2;
}

#define RETENTION_USAGE                                                        \
    "usage: escalated retention show\n"                                         \
    "       escalated retention set MONTHS        (4 to 1200)\n"                \
    "       escalated retention run [--dry-run] [--limit N]\n"

/* `escalated retention` (docs/operations.md "Retention and anonymisation"):
 * the period every daemon of the database uses, and the anonymisation run. */
static int cmd_retention(int n, const char **extra)
{
    esc_error_t err = {0};
    json_t *out = NULL;
    char *end = NULL;
    const char *what = n >= 1 ? extra[0] : "";
    if (strcmp(what, "show") == 0 && n == 1) {
        out = esc_retention_get(setting(ESCP_SET_DB), &err);
    } else if (strcmp(what, "set") == 0 && n == 2) {
        long long months = strtoll(extra[1], &end, 10);
        if (!*extra[1] || *end) {
            fprintf(stderr, RETENTION_USAGE);
            return 2;
        }
        out = esc_retention_set(setting(ESCP_SET_DB), months, &err);
    } else if (strcmp(what, "run") == 0) {
        int dry_run = 0;
        long long limit = 1000;
        for (int i = 1; i < n; i++) {
            if (strcmp(extra[i], "--dry-run") == 0) {
                dry_run = 1;
            } else if (strcmp(extra[i], "--limit") == 0 && i + 1 < n) {
                limit = strtoll(extra[++i], &end, 10);
                if (*end || limit < 1 || limit > 1000000) {
                    fprintf(stderr, "escalated retention run: --limit must be 1 to 1000000\n");
                    return 2;
                }
            } else {
                fprintf(stderr, RETENTION_USAGE);
                return 2;
            }
        }
        out = esc_retention_run(setting(ESCP_SET_DB), dry_run, (int)limit, &err);
    } else {
        fprintf(stderr, RETENTION_USAGE);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "escalated retention %s: %s\n", what, err.message);
        return err.code == ESC_ERR_VALIDATION ? 2 : 1;
    }
    json_int_t months = json_integer_value(json_object_get(out, "months"));
    const char *cutoff = json_string_value(json_object_get(out, "cutoff"));
    if (strcmp(what, "run") != 0) {
        printf("personal data of closed tickets is kept %" JSON_INTEGER_FORMAT
               " months: tickets closed at or before %s are due\n", months, cutoff);
    } else if (json_is_true(json_object_get(out, "dry_run"))) {
        size_t i;
        json_t *t;
        printf("dry run: %" JSON_INTEGER_FORMAT " tickets closed at or before %s (%"
               JSON_INTEGER_FORMAT " months) would be anonymised; nothing was changed\n",
               json_integer_value(json_object_get(out, "due")), cutoff, months);
        printf("%-10s %s\n", "TICKET", "CLOSED_AT");
        json_array_foreach(json_object_get(out, "tickets"), i, t)
            printf("%-10" JSON_INTEGER_FORMAT " %s\n", json_integer_value(json_object_get(t, "id")),
                   json_string_value(json_object_get(t, "closed_at")));
        if (json_is_true(json_object_get(out, "more")))
            printf("(more: raise --limit to list them)\n");
    } else {
        printf("anonymised %" JSON_INTEGER_FORMAT " tickets closed at or before %s (%"
               JSON_INTEGER_FORMAT " months)\n",
               json_integer_value(json_object_get(out, "anonymised")), cutoff, months);
        if (json_is_true(json_object_get(out, "more")))
            printf("some due tickets were held by another run: run again\n");
    }
    json_decref(out);
    return 0;
}

static const char *const check_words[] = {
    [ESC_CHECK_OK] = "ok", [ESC_CHECK_FAIL] = "FAIL", [ESC_CHECK_WARN] = "warn",
    [ESC_CHECK_SKIPPED] = "skip"};

static void check_line(void *arg, enum esc_check_status status, const char *what, const char *detail)
{
    int *failed = arg;
    *failed += status == ESC_CHECK_FAIL;
    printf("%-5s %-13s %s\n", check_words[status], what, detail);
    fflush(stdout); /* in order with the log lines on stderr */
}

/* Can this process bind the listen address now?  In use is only a warning:
 * check runs beside a daemon that serves there. */
static void check_listen(int *failed)
{
    const struct escp_setting_value *v = &settings.v[ESCP_SET_LISTEN];
    char port[16], msg[512];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    snprintf(port, sizeof port, "%ld", v->num);
    int gai = getaddrinfo(v->host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(msg, sizeof msg, "%s: %s", v->text, gai_strerror(gai));
        check_line(failed, ESC_CHECK_FAIL, "listen", msg);
        return;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1;
    int rc = fd < 0 ? -1 : setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0)
        rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
    int e = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (rc == 0) {
        snprintf(msg, sizeof msg, "%s can be bound", v->text);
        check_line(failed, ESC_CHECK_OK, "listen", msg);
    } else if (e == EADDRINUSE) {
        snprintf(msg, sizeof msg, "%s is in use (by a daemon that serves already?)", v->text);
        check_line(failed, ESC_CHECK_WARN, "listen", msg);
    } else {
        snprintf(msg, sizeof msg, "%s cannot be bound: %s", v->text, strerror(e));
        check_line(failed, ESC_CHECK_FAIL, "listen", msg);
    }
}

/* `escalated check`: what serve would need, without serving.  Exit 0 when
 * every check passes, 1 when one fails. */
static int cmd_check(int n, const char **extra)
{
    if (n > 0) {
        fprintf(stderr, "escalated check: unknown argument '%s'\n", extra[0]);
        return 2;
    }
    int failed = 0;
    char msg[512];
    const char *config = setting(ESCP_SET_CONFIG);
    snprintf(msg, sizeof msg, "every value within its bounds%s%s", config ? "; read " : "",
             config ? config : "");
    check_line(&failed, ESC_CHECK_OK, "settings", msg);
    const char *cert_path = setting(ESCP_SET_TLS_CERT), *key_path = setting(ESCP_SET_TLS_KEY);
    if (!cert_path && !key_path) {
        check_line(&failed, ESC_CHECK_OK, "tls", "plain HTTP (no --tls-cert, --tls-key)");
    } else {
        /* read_pem and tls_pair_ok say what is wrong on stderr */
        char *cert = cert_path ? read_pem(cert_path, "--tls-cert", 0) : NULL;
        char *key = key_path ? read_pem(key_path, "--tls-key", 1) : NULL;
        if (cert && key && tls_pair_ok(cert, cert_path, key, key_path))
            check_line(&failed, ESC_CHECK_OK, "tls", "the certificate and its key make a pair");
        else
            check_line(&failed, ESC_CHECK_FAIL, "tls",
                       !cert_path || !key_path ? "--tls-cert and --tls-key go together"
                                               : "see the message above");
        free(cert);
        free_secret(key);
    }
    check_listen(&failed);
    esc_check_run(setting(ESCP_SET_DB), setting(ESCP_SET_DATA_KEY_FILE), check_line, &failed);
    if (failed)
        printf("escalated check: %d check%s failed\n", failed, failed == 1 ? "" : "s");
    else
        printf("escalated check: all passed\n");
    return failed ? 1 : 0;
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
    esc_error_t err = {0};
    if (!extra)
        return 1;
    /* Only the settings that this sub-command reads are checked (settings.h). */
    /* `data-key` reads --data-key-file, a setting of `serve`'s */
    /* `check` checks what serve reads */
    int check = strcmp(argv[1], "check") == 0;
    enum escp_setting_scope scope = strcmp(argv[1], "serve") == 0 ||
                                            strcmp(argv[1], "data-key") == 0 || check
                                        ? ESCP_SCOPE_SERVE
                                        : ESCP_SCOPE_ALL;
    if (escp_settings_take_flags(&settings, argc - 2, argv + 2, extra, &n, &err) != 0 ||
        escp_settings_load_config(&settings, &err) != 0 ||
        escp_settings_resolve(&settings, scope, &err) != 0) {
        if (check) { /* a report like the others, and check's exit status */
            printf("%-5s %-13s %s\nescalated check: 1 check failed\n", "FAIL", "settings",
                   err.message);
            rc = 1;
        } else {
            fprintf(stderr, "escalated: %s\n", err.message);
        }
        goto out;
    }
    apply_log_settings(&settings);
    if (strcmp(argv[1], "serve") == 0)
        rc = cmd_serve(n, extra);
    else if (strcmp(argv[1], "migrate") == 0)
        rc = cmd_migrate(n, extra);
    else if (strcmp(argv[1], "keys") == 0)
        rc = cmd_keys(n, extra);
    else if (strcmp(argv[1], "data-key") == 0)
        rc = cmd_data_key(n, extra);
    else if (strcmp(argv[1], "retention") == 0)
        rc = cmd_retention(n, extra);
    else if (check)
        rc = cmd_check(n, extra);
    else {
        fprintf(stderr, "escalated: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
    }
out:
    escp_settings_free(&settings);
    free(extra);
    return rc;
}
