/* webhook.c — the delivery worker: drains the notification outbox to the
 * registered webhooks over HTTP (libcurl), at least once, and never the same
 * delivery from two daemons at once.  The contract is docs/webhooks.md.
 *
 *   loop:
 *     route new notifications: one delivery per active webhook wanting the
 *       type (none: the notification is `undeliverable`)
 *     claim up to BATCH due deliveries: attempts + 1 and a lease
 *       (next_attempt_at = now + lease), committed BEFORE any HTTP is sent --
 *       no transaction is ever held across the network
 *     POST them all at once (curl multi), each bounded by timeout_ms
 *     record each outcome in its own transaction, fenced by the attempt
 *       number claimed: 2xx -> delivered + a `notified` event on the ticket;
 *       else back-off (exponential, capped, jittered), or `failed` after
 *       max_attempts
 *     sleep until the next delivery is due, at most max_sleep_ms, or until
 *       this process commits a notification (escp_webhooks_poke)
 *
 * The lease (2 * timeout + 5 s) outlasts any attempt of a batch, so a live
 * daemon always records before another could claim; a daemon that dies
 * mid-attempt leaves a lease that runs out, and the delivery is attempted
 * again by whichever daemon looks next (at least once, across restarts).
 * A graceful stop finishes the attempts in flight and records them.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/netaddr.h"
#include "core/webhook_sign.h"
#include "workers/outbound.h"
#include "workers/workers.h"
#include "db/db.h"

#define BATCH 16          /* deliveries claimed and sent at once */
#define ROUTE_BATCH 500   /* notifications routed per statement */
/* The reason kept for an attempt refused by the destination rules. */
#define NOT_ALLOWED "destination address not allowed"

struct escp_webhooks {
    char *conninfo;
    struct escp_webhook_config cfg;
    double lease_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int stop, poked;
    /* escp_webhooks_configure's new settings (under mu), which the thread
     * takes between passes: cfg and lease_s are the thread's alone, so an
     * attempt never sees half of a change */
    struct escp_webhook_config next_cfg;
    int reconfigured;
};

/* ---- small helpers ---- */

double escp_out_uniform01(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)clock() * 2654435761u; /* never fails in practice; any spread will do */
    return (double)r / 4294967296.0;
}

/* Keep printable ASCII, escape the rest (valid UTF-8 for the database,
 * safe for logs and JSON). */
void escp_out_printable(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else if (ch == '\n' || ch == '\r' || ch == '\t')
            out[o++] = ' ';
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    out[o] = '\0';
}

int escp_webhook_url_check(const char *url, esc_error_t *err)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    if (!u) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            goto bad;
    /* the authority follows "//" at once: libcurl would also take "http:///x" */
    const char *rest = strstr(url, "://");
    if (!rest || rest[3] == '/' || rest[3] == '\0')
        goto bad;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0] ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) ||
        (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        goto bad;
    rc = 0;
    goto out;
bad:
    esc_error_set(err, ESC_ERR_VALIDATION, "url",
                  "url must be an absolute http:// or https:// URL with a host, without spaces");
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* The host of a parsed URL, without IPv6 brackets and zone: malloc'd, or NULL. */
static char *url_host(CURLU *u)
{
    char *h = NULL, *out = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h)
        return NULL;
    const char *p = h;
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        p++;
        n -= 2;
    }
    size_t zone = strcspn(p, "%");
    if (zone < n)
        n = zone;
    if ((out = malloc(n + 1))) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
    curl_free(h);
    return out;
}

int escp_webhook_destination_check(const char *url, bool allow_private, esc_error_t *err)
{
    int rc = -1, gai;
    char *user = NULL, *host = NULL;
    struct addrinfo *res = NULL, hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    enum esc_netaddr_class c;
    CURLU *u = curl_url();
    if (!u) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        !(host = url_host(u))) {
        esc_error_set(err, ESC_ERR_VALIDATION, "url", "url must be an absolute http:// or https:// URL");
        goto out;
    }
    /* credentials in a URL end up in logs and in GET /v1/webhooks; the
     * receiver authenticates us by the signature instead */
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK || strchr(url, '@')) {
        esc_error_set(err, ESC_ERR_VALIDATION, "url",
                      "url must not contain a user name or password (user:password@)");
        goto out;
    }
    if (esc_netaddr_host_forbidden(host, allow_private)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "url",
                      "url host is not allowed: webhooks cannot be sent to a cloud metadata service "
                      "or to localhost");
        goto out;
    }
    if (esc_netaddr_classify_text(host, &c) == 0) {
        if (!esc_netaddr_allowed(c, allow_private))
            esc_error_set(err, ESC_ERR_VALIDATION, "url",
                          "url address is %s, and webhooks may only be sent to public addresses%s",
                          esc_netaddr_class_name(c),
                          allow_private ? " or private networks" : "");
        else
            rc = 0;
        goto out;
    }
    gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0) {
        if (allow_private) {
            /* internal names may resolve only where the worker runs; the
             * worker checks each address again when it connects */
            rc = 0;
        } else if (gai == EAI_AGAIN) {
            esc_error_set(err, ESC_ERR_UNAVAILABLE, "url", "the url host cannot be resolved now; try again");
        } else {
            esc_error_set(err, ESC_ERR_VALIDATION, "url",
                          "url host does not resolve, so it cannot be checked to be public");
        }
        goto out;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        c = esc_netaddr_classify(ai->ai_addr);
        if (!esc_netaddr_allowed(c, allow_private)) {
            /* every address, not only the first: the worker may be given any of them */
            esc_error_set(err, ESC_ERR_VALIDATION, "url",
                          "url host resolves to a %s address, and webhooks may only be sent to "
                          "public addresses%s", esc_netaddr_class_name(c),
                          allow_private ? " or private networks" : "");
            goto out;
        }
    }
    rc = 0;
out:
    if (res)
        freeaddrinfo(res);
    curl_free(user);
    free(host);
    curl_url_cleanup(u);
    return rc;
}

char *escp_webhook_secret_new(esc_error_t *err)
{
    char *tok = escp_token_new(err); /* "esc_" + 43 base64url characters */
    if (!tok)
        return NULL;
    char *s = malloc(6 + strlen(tok + 4) + 1);
    if (s) {
        memcpy(s, "whsec_", 6);
        strcpy(s + 6, tok + 4);
    } else {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
    memset(tok, 0, strlen(tok));
    free(tok);
    return s;
}

/* ---- one attempt ---- */

struct attempt {
    struct escp_delivery *d;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char errbuf[CURL_ERROR_SIZE];
    CURLcode result;
    int done;
    struct escp_out_guard guard; /* the destination rules; refused a host or address? */
};

/* The answer's body is read and dropped: a receiver's text (or whatever an
 * address that is not a receiver answers) is never stored or shown. */
static size_t on_response(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

/* outbound.h: the address checked is the address connected to. */
curl_socket_t escp_out_open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct escp_out_guard *g = arg;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    enum esc_netaddr_class c = esc_netaddr_classify(&addr->addr);
    if (!esc_netaddr_allowed(c, g->allow_private)) {
        g->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* A short reason for a failed transfer, kept in last_error.  libcurl's own
 * text can name addresses and internals; it goes to the log only. */
const char *escp_out_failure_reason(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "host not found";
    case CURLE_COULDNT_CONNECT:
        return "connection refused";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return "TLS error";
    case CURLE_GOT_NOTHING:
        return "empty reply";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return "connection broken";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "not an HTTP reply";
    default:
        return "transfer failed";
    }
}

/* The request body: the notification, as receivers see it (docs/webhooks.md). */
static char *body_of(const struct escp_delivery *d)
{
    json_t *payload = json_loads(d->payload, 0, NULL);
    /* a notification about a problem (an action's breach) has no ticket:
     * null, and data names the problem and the action */
    json_t *doc = json_pack("{s:s,s:I,s:s,s:o,s:o,s:o}", "delivery_id", d->id,
                            "notification_id", (json_int_t)d->notification_id, "type", d->type,
                            "created_at", escp_json_time(d->created_at),
                            "ticket_id", d->ticket_id ? json_integer(d->ticket_id) : json_null(),
                            "data", payload ? payload : json_object());
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static int add_header(struct attempt *a, const char *fmt, const char *value)
{
    char line[256];
    snprintf(line, sizeof line, fmt, value);
    struct curl_slist *l = curl_slist_append(a->headers, line);
    if (!l)
        return -1;
    a->headers = l;
    return 0;
}

/* The URL's host is refused by name (a metadata service, localhost)? */
int escp_out_host_refused(const char *url, bool allow_private)
{
    CURLU *u = curl_url();
    char *host = NULL;
    int refused = 1; /* a URL that does not parse is not sent either */
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        (host = url_host(u)))
        refused = esc_netaddr_host_forbidden(host, allow_private);
    free(host);
    curl_url_cleanup(u);
    return refused;
}

static int attempt_setup(struct escp_webhooks *w, struct attempt *a)
{
    const struct escp_delivery *d = a->d;
    a->guard.allow_private = w->cfg.allow_private_network;
    if (escp_out_host_refused(d->url, a->guard.allow_private)) {
        a->guard.refused = 1;
        return -1;
    }
    char sig[ESC_WEBHOOK_SIGNATURE_LEN + 1], ts[24], n[16];
    if (!(a->body = body_of(d)) || !(a->easy = curl_easy_init()))
        return -1;
    snprintf(ts, sizeof ts, "%" PRId64, d->now);
    snprintf(n, sizeof n, "%d", d->attempts);
    if (esc_webhook_sign(d->secret, d->now, a->body, strlen(a->body), sig) != 0)
        return -1;
    if (add_header(a, "%s", "Content-Type: application/json") ||
        add_header(a, "%s", "Expect:") ||
        add_header(a, "X-Escalated-Delivery: %s", d->id) ||
        add_header(a, "X-Escalated-Event: %s", d->type) ||
        add_header(a, "X-Escalated-Timestamp: %s", ts) ||
        add_header(a, "X-Escalated-Signature: %s", sig) ||
        add_header(a, "X-Escalated-Attempt: %s", n))
        return -1;
    long timeout = w->cfg.timeout_ms, connect = timeout < 2000 ? timeout : 2000;
    CURL *e = a->easy;
    curl_easy_setopt(e, CURLOPT_URL, d->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could point inside */
    curl_easy_setopt(e, CURLOPT_PROXY, "");          /* nor http_proxy from the environment */
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, escp_out_open_checked);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &a->guard);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(a->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "escalated/" ESC_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    return 0;
}

static void attempt_free(struct attempt *a)
{
    curl_easy_cleanup(a->easy);
    curl_slist_free_all(a->headers);
    free(a->body);
}

/* Record the outcome of one finished attempt. */
static void attempt_record(struct escp_webhooks *w, struct escp_conn *c, struct attempt *a)
{
    const struct escp_delivery *d = a->d;
    esc_error_t err = {0};
    long status = 0;
    bool recorded = false, final = false;
    char error[64];

    if (a->done && a->result == CURLE_OK)
        curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        if (escp_store_delivery_done(c, d, status, &recorded, &err) != 0)
            log_warn("webhooks: delivery %s (webhook %" PRId64 ") was delivered, but recording it "
                     "failed (%s); it will be sent again", d->id, d->webhook_id, err.message);
        else if (recorded)
            log_info("webhooks: delivered %s notification %" PRId64 " to webhook %" PRId64
                     " (delivery %s, attempt %d, HTTP %ld)", d->type, d->notification_id,
                     d->webhook_id, d->id, d->attempts, status);
        else
            log_warn("webhooks: delivery %s was taken over or cancelled before its success was recorded", d->id);
        return;
    }
    /* Only the status or a short reason is kept (docs/webhooks.md): never
     * the answer's body or headers, which an address that is not a receiver
     * could fill with whatever it serves. */
    if (a->guard.refused) {
        snprintf(error, sizeof error, NOT_ALLOWED);
        log_warn("webhooks: delivery %s to webhook %" PRId64 " refused: its destination is not a "
                 "public address (docs/security.md#webhook-destinations)", d->id, d->webhook_id);
    } else if (!a->done) {
        snprintf(error, sizeof error, "the attempt could not be started");
    } else if (a->result != CURLE_OK) {
        char detail[CURL_ERROR_SIZE * 4];
        const char *why = a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->result);
        escp_out_printable(why, strlen(why), detail, sizeof detail);
        snprintf(error, sizeof error, "%s", escp_out_failure_reason(a->result));
        log_info("webhooks: delivery %s: %s", d->id, detail);
    } else {
        snprintf(error, sizeof error, "HTTP %ld", status);
    }
    double delay = esc_webhook_backoff(d->attempts, w->cfg.backoff_base_ms / 1000.0,
                                       w->cfg.backoff_cap_ms / 1000.0, escp_out_uniform01());
    if (escp_store_delivery_fail(c, d, status, error, w->cfg.max_attempts, delay, &final,
                                 &recorded, &err) != 0)
        log_warn("webhooks: recording the failure of delivery %s failed (%s)", d->id, err.message);
    else if (!recorded)
        log_warn("webhooks: delivery %s was taken over or cancelled before its failure was recorded", d->id);
    else if (final)
        log_warn("webhooks: delivery %s of notification %" PRId64 " to webhook %" PRId64
                 " failed for good after %d attempts: %s", d->id, d->notification_id,
                 d->webhook_id, d->attempts, error);
    else
        log_info("webhooks: attempt %d of delivery %s to webhook %" PRId64
                 " failed (%s); next in %.1f s", d->attempts, d->id, d->webhook_id, error, delay);
}

/* Send the claimed deliveries at once and record each outcome. */
static void send_batch(struct escp_webhooks *w, struct escp_conn *c, struct escp_delivery *d, int n)
{
    struct attempt *a = calloc((size_t)n, sizeof *a);
    CURLM *multi = curl_multi_init();
    if (!a || !multi) {
        log_error("webhooks: out of memory; %d deliveries wait for their leases to run out", n);
        free(a);
        curl_multi_cleanup(multi);
        return;
    }
    for (int i = 0; i < n; i++) {
        a[i].d = &d[i];
        if (attempt_setup(w, &a[i]) != 0 || curl_multi_add_handle(multi, a[i].easy) != CURLM_OK) {
            if (!a[i].guard.refused)
                log_error("webhooks: cannot prepare delivery %s", d[i].id);
            curl_easy_cleanup(a[i].easy);
            a[i].easy = NULL;
        }
    }
    int running = 1;
    const double t0 = escp_mono_now();
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct attempt *at = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&at);
            if (at) {
                at->done = 1;
                at->result = m->data.result;
            }
        }
        if (running && curl_multi_poll(multi, NULL, 0, 200, NULL) != CURLM_OK)
            break;
    }
    log_debug("webhooks: %d attempt%s took %.3f s", n, n == 1 ? "" : "s", escp_mono_now() - t0);
    for (int i = 0; i < n; i++) {
        if (a[i].easy)
            curl_multi_remove_handle(multi, a[i].easy);
        attempt_record(w, c, &a[i]);
        attempt_free(&a[i]);
    }
    curl_multi_cleanup(multi);
    free(a);
}

/* ---- the thread ---- */

/* Sleep up to `seconds` unless poked or stopped. Called with w->mu held. */
static void nap(struct escp_webhooks *w, double seconds)
{
    struct timespec until = escp_mono_after(seconds);
    while (!w->stop && !w->poked)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
            break;
    w->poked = 0;
}

static int stopping(struct escp_webhooks *w)
{
    pthread_mutex_lock(&w->mu);
    int s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* One pass: route, claim, send, record.  Returns how long to sleep. */
static double pass(struct escp_webhooks *w, struct escp_conn *c, esc_error_t *err)
{
    double wait_s = w->cfg.max_sleep_ms / 1000.0, next = 0;
    bool unrouted = false, none = true;
    int routed = 0, claimed = 0;
    if (escp_store_webhook_next(c, &unrouted, &next, &none, err) != 0)
        return 1.0;
    if (unrouted) {
        do {
            if (escp_store_webhook_route(c, ROUTE_BATCH, &routed, err) != 0)
                return 1.0;
        } while (routed == ROUTE_BATCH && !stopping(w));
    }
    if (unrouted || (!none && next <= 0)) {
        struct escp_delivery *d = NULL;
        if (escp_store_delivery_claim(c, BATCH, w->lease_s, &d, &claimed, err) != 0)
            return 1.0;
        if (claimed)
            send_batch(w, c, d, claimed);
        escp_deliveries_free(d, claimed);
        if (claimed == BATCH)
            return 0; /* more may be due */
        if (escp_store_webhook_next(c, &unrouted, &next, &none, err) != 0)
            return 1.0;
        if (unrouted)
            return 0;
    }
    if (!none && next < wait_s)
        wait_s = next;
    return wait_s;
}

/* cfg, its zeros as the defaults, into w->cfg (and the lease it implies). */
static void set_config(struct escp_webhooks *w, const struct escp_webhook_config *cfg)
{
    w->cfg = *cfg;
    if (w->cfg.max_attempts <= 0)
        w->cfg.max_attempts = 10;
    if (w->cfg.backoff_base_ms <= 0)
        w->cfg.backoff_base_ms = 30000;
    if (w->cfg.backoff_cap_ms <= 0)
        w->cfg.backoff_cap_ms = 3600000;
    if (w->cfg.backoff_cap_ms < w->cfg.backoff_base_ms)
        w->cfg.backoff_cap_ms = w->cfg.backoff_base_ms;
    if (w->cfg.timeout_ms <= 0)
        w->cfg.timeout_ms = 5000;
    if (w->cfg.max_sleep_ms <= 0)
        w->cfg.max_sleep_ms = 1000;
    /* a lease outlives an attempt, so no other daemon takes a delivery in flight */
    w->lease_s = 2.0 * w->cfg.timeout_ms / 1000.0 + 5.0;
}

static void *run(void *arg)
{
    struct escp_webhooks *w = arg;
    struct escp_conn *c = NULL;
    while (!stopping(w)) {
        esc_error_t err = {0};
        double wait_s;
        if (!escp_conn_ok(c)) {
            escp_conn_close(c);
            c = escp_conn_open(w->conninfo, &err);
            if (c)
                log_info("webhook worker connected");
        }
        if (c) {
            wait_s = pass(w, c, &err);
            if (err.code != ESC_OK)
                log_warn("webhook worker: %s; retrying", err.message);
        } else {
            wait_s = 1.0;
        }
        pthread_mutex_lock(&w->mu);
        if (wait_s > 0)
            nap(w, wait_s);
        else
            w->poked = 0;
        if (w->reconfigured) {
            set_config(w, &w->next_cfg);
            w->reconfigured = 0;
            log_info("webhook worker: max attempts %d, back-off %d ms (cap %d ms), timeout %d ms, "
                     "private networks %s", w->cfg.max_attempts, w->cfg.backoff_base_ms,
                     w->cfg.backoff_cap_ms, w->cfg.timeout_ms,
                     w->cfg.allow_private_network ? "allowed" : "refused");
        }
        pthread_mutex_unlock(&w->mu);
    }
    escp_conn_close(c);
    return NULL;
}

struct escp_webhooks *escp_webhooks_start(const char *conninfo, const struct escp_webhook_config *cfg,
                                          esc_error_t *err)
{
    struct escp_webhooks *w = calloc(1, sizeof *w);
    if (!w || !(w->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(w);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    set_config(w, cfg);
    pthread_mutex_init(&w->mu, NULL);
    escp_cond_init_mono(&w->cv);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->conninfo);
        free(w);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "cannot start the webhook worker thread");
        return NULL;
    }
    return w;
}

void escp_webhooks_stop(struct escp_webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->conninfo);
    free(w);
}

void escp_webhooks_configure(struct escp_webhooks *w, const struct escp_webhook_config *cfg)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->next_cfg = *cfg;
    w->reconfigured = 1;
    w->poked = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void escp_webhooks_poke(struct escp_webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->poked = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int escp_webhooks_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}
