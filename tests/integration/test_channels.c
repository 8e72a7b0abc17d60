/* test_channels.c — notification channels end to end (issue 11, items 1
 * and 2; docs/channels.md), checked from outside: the real daemon sends to
 * receivers inside this test, on loopback, that imitate each platform and
 * refuse what the platform would refuse:
 *
 *   WeCom group robot   POST /cgi-bin/webhook/send?key=K, {"msgtype":
 *                       "markdown","markdown":{"content"}}; answers
 *                       {"errcode":0,"errmsg":"ok"}; more than 20 a minute
 *                       per robot -> {"errcode":45009}.
 *   DingTalk robot      POST /robot/send?access_token=T&timestamp=MS&sign=S,
 *                       S = urlencode(base64(HMAC-SHA256(secret,
 *                       "MS\n"secret))), |now - MS| < 1 h, else
 *                       {"errcode":310000}; {"msgtype":"markdown",
 *                       "markdown":{"title","text"}}; more than 20 a minute
 *                       -> {"errcode":130101}, and then every request for
 *                       10 minutes -> 130101 (the robot is blocked).
 *   Feishu / Lark bot   POST /open-apis/bot/v2/hook/ID, {"timestamp",
 *                       "sign","msg_type":"text","content":{"text"}}, sign
 *                       = base64(HMAC-SHA256(key "TS\n"secret, "")), TS
 *                       within 1 h, else {"code":19021}; more than 100 a
 *                       minute -> {"code":11232}; ok {"code":0}.
 *   Slack               POST /services/..., {"text"} -> 200 "ok"; when told,
 *                       429 with Retry-After; told to fail, 503.
 *   generic webhook     POST /hook/..., X-Escalated-Signature: sha256=hex(
 *                       HMAC-SHA256(secret, "<X-Escalated-Timestamp>.<body>"))
 *                       as docs/webhooks.md; bad -> 401.
 *   SMTP                EHLO, STARTTLS (OpenSSL, a throw-away self-signed
 *                       certificate the daemon trusts by --alert-ca-file),
 *                       EHLO, AUTH PLAIN or LOGIN (refused before TLS),
 *                       MAIL FROM, RCPT TO, DATA, QUIT; the mail recorded.
 *
 * Secrets are derived from the robot's key ("sec-" KEY "-0123456789"), so
 * the receivers know them without being told.
 *
 * The daemon runs with short timeouts and back-offs (environment): webhook
 * timeout 1 s (an alert attempt 2 s, its lease 9 s), alert back-off 200 ms,
 * 3 attempts before the fallback, --public-url for the links. */
#include "harness.h"
#include "harness_receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What a receiver records is cut to its fixed-size fields on purpose (gcc
 * warns of it; clang has no such warning). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static h_ctx *H;
static char dir[64];

#define PUBLIC_URL "https://helpdesk.example.com"
#define PHONE "13912345678"
#define SUBJECT_PHONE "宽带断网，客户手机" PHONE
#define LEASE_S (2 * 2.0 + 5) /* 2 * the alert timeout + 5 s (workers/alerts.c) */

/* ------------------------------------------------------- shared helpers */

/* The robot's signing secret (a buffer per thread: the receivers call it). */
static const char *secret_of(const char *key)
{
    static __thread char buf[160];
    snprintf(buf, sizeof buf, "sec-%s-0123456789", key);
    return buf;
}

static int b64_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    out[len] = '\0';
    return len;
}

static void hmac_b64(const void *key, size_t klen, const void *msg, size_t mlen, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), key, (int)klen, msg, mlen, md, &mdlen);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

static void url_decode(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < cap; p++) {
        if (*p == '%' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            out[o++] = *p == '+' ? ' ' : *p;
        }
    }
    out[o] = '\0';
}

/* The value of query parameter `name` in `query` (raw, not decoded). */
static void query_param(const char *query, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t l = strcspn(p + n + 1, "&");
            snprintf(out, cap, "%.*s", (int)(l < cap ? l : cap - 1), p + n + 1);
            return;
        }
    }
}

/* ------------------------------------------------ the platform receivers */

enum plat { P_WECOM, P_DINGTALK, P_FEISHU, P_SLACK, P_HOOK, P__N };
static const char *const PLAT[P__N] = {"wecom", "dingtalk", "feishu", "slack", "webhook"};

#define MAX_RECS 2048

struct rec {
    int plat;
    char key[96];        /* the robot: key, access_token, hook id, path */
    char delivery[64], attempt[16];
    char *text;          /* the readable text of the message (malloc'd) */
    char why[160];       /* what was wrong with it ("" = shape and signature right) */
    double at;           /* h_now() when it arrived */
    int accepted;        /* 1 when the platform took it */
    int code;            /* the platform's error code or HTTP status answered */
};

static struct {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, active;
    struct rec recs[MAX_RECS];
    int n;
    /* what each platform allows per robot per minute */
    int limit[P__N];
    /* DingTalk's blocked robots */
    char blocked_key[8][96];
    double blocked_until[8];
    int n_blocked;
    int slack_429, slack_retry_after, slack_fail;
    int hang_next; /* hold this many next requests without answering */
    int release_gen;
} RX;

static void rx_defaults(void)
{
    pthread_mutex_lock(&RX.mu);
    RX.limit[P_WECOM] = 20;
    RX.limit[P_DINGTALK] = 20;
    RX.limit[P_FEISHU] = 100;
    RX.limit[P_SLACK] = 1000;
    RX.limit[P_HOOK] = 1000;
    RX.n_blocked = 0;
    RX.slack_429 = RX.slack_fail = RX.hang_next = 0;
    RX.slack_retry_after = 2;
    pthread_mutex_unlock(&RX.mu);
}

/* Requests to this robot in the last `seconds` (locked). */
static int recent(int plat, const char *key, double now, double seconds)
{
    int k = 0;
    for (int i = 0; i < RX.n; i++)
        if (RX.recs[i].plat == plat && strcmp(RX.recs[i].key, key) == 0 && now - RX.recs[i].at < seconds)
            k++;
    return k;
}

static const char *jstr(json_t *o, const char *path)
{
    const char *s = h_str(o, path);
    return s ? s : NULL;
}

/* Check one request as its platform would; fills r (text, why, key) and
 * the answer. */
static void judge(struct rec *r, const char *head, const char *target, const char *body, char *answer,
                  size_t cap, int *http_status, char *extra_headers, size_t xcap)
{
    char path[512], query[1024] = "";
    const char *q = strchr(target, '?');
    snprintf(path, sizeof path, "%.*s", (int)(q ? q - target : (long)strlen(target)), target);
    if (q)
        snprintf(query, sizeof query, "%s", q + 1);
    json_t *j = json_loads(body, 0, NULL);
    const double now = h_now(), wall = h_wall();
    const char *text = NULL;
    *http_status = 200;
    extra_headers[0] = '\0';
    r->why[0] = '\0';
    r->accepted = 0;
    if (strcmp(path, "/cgi-bin/webhook/send") == 0) {
        r->plat = P_WECOM;
        query_param(query, "key", r->key, sizeof r->key);
        text = jstr(j, "markdown.content");
        if (!r->key[0])
            snprintf(r->why, sizeof r->why, "no key");
        else if (!j || !h_str(j, "msgtype") || strcmp(h_str(j, "msgtype"), "markdown") != 0 || !text)
            snprintf(r->why, sizeof r->why, "not a markdown message: %.100s", body);
        if (r->why[0]) {
            r->code = 40008;
        } else if (recent(P_WECOM, r->key, now, 60) >= RX.limit[P_WECOM]) {
            r->code = 45009;
        } else {
            r->code = 0;
        }
        snprintf(answer, cap, "{\"errcode\":%d,\"errmsg\":\"%s\"}", r->code,
                 r->code == 0 ? "ok" : r->code == 45009 ? "api freq out of limit" : "invalid message type");
    } else if (strcmp(path, "/robot/send") == 0) {
        r->plat = P_DINGTALK;
        char ts[32], sign_raw[256], sign[256], want[64];
        query_param(query, "access_token", r->key, sizeof r->key);
        query_param(query, "timestamp", ts, sizeof ts);
        query_param(query, "sign", sign_raw, sizeof sign_raw);
        url_decode(sign_raw, sign, sizeof sign);
        const char *secret = secret_of(r->key);
        char *msg = NULL;
        if (asprintf(&msg, "%s\n%s", ts, secret) < 0)
            msg = NULL;
        hmac_b64(secret, strlen(secret), msg, msg ? strlen(msg) : 0, want);
        free(msg);
        text = jstr(j, "markdown.text");
        double ms = atof(ts);
        int blocked = 0;
        for (int i = 0; i < RX.n_blocked; i++)
            if (strcmp(RX.blocked_key[i], r->key) == 0 && now < RX.blocked_until[i])
                blocked = 1;
        if (!ts[0] || !sign[0] || strcmp(sign, want) != 0)
            snprintf(r->why, sizeof r->why, "bad sign %s (want %s, timestamp %s)", sign, want, ts);
        else if (ms / 1000.0 < wall - 3600 || ms / 1000.0 > wall + 3600)
            snprintf(r->why, sizeof r->why, "timestamp %s not within an hour", ts);
        else if (!j || !h_str(j, "msgtype") || strcmp(h_str(j, "msgtype"), "markdown") != 0 || !text ||
                 !h_str(j, "markdown.title"))
            snprintf(r->why, sizeof r->why, "not a markdown message: %.100s", body);
        if (r->why[0]) {
            r->code = 310000;
        } else if (blocked) {
            r->code = 130101;
        } else if (recent(P_DINGTALK, r->key, now, 60) >= RX.limit[P_DINGTALK]) {
            r->code = 130101; /* and the robot is blocked for 10 minutes */
            if (RX.n_blocked < 8) {
                snprintf(RX.blocked_key[RX.n_blocked], sizeof RX.blocked_key[0], "%s", r->key);
                RX.blocked_until[RX.n_blocked++] = now + 600;
            }
        } else {
            r->code = 0;
        }
        snprintf(answer, cap, "{\"errcode\":%d,\"errmsg\":\"%s\"}", r->code,
                 r->code == 0 ? "ok" : r->code == 130101 ? "send too fast, exceed 20 times per minute"
                                                         : "sign not match");
    } else if (strncmp(path, "/open-apis/bot/v2/hook/", 23) == 0) {
        r->plat = P_FEISHU;
        snprintf(r->key, sizeof r->key, "%s", path + 23);
        const char *ts = jstr(j, "timestamp"), *sign = jstr(j, "sign");
        const char *secret = secret_of(r->key);
        char want[64] = "", *key = NULL;
        if (ts && asprintf(&key, "%s\n%s", ts, secret) > 0)
            hmac_b64(key, strlen(key), "", 0, want);
        free(key);
        text = jstr(j, "content.text");
        if (!ts || !sign || strcmp(sign, want) != 0)
            snprintf(r->why, sizeof r->why, "bad sign %s (want %s)", sign ? sign : "(none)", want);
        else if (atof(ts) < wall - 3600 || atof(ts) > wall + 3600)
            snprintf(r->why, sizeof r->why, "timestamp %s not within an hour", ts);
        else if (!h_str(j, "msg_type") || strcmp(h_str(j, "msg_type"), "text") != 0 || !text)
            snprintf(r->why, sizeof r->why, "not a text message: %.100s", body);
        if (r->why[0])
            r->code = strstr(r->why, "sign") || strstr(r->why, "timestamp") ? 19021 : 9499;
        else if (recent(P_FEISHU, r->key, now, 60) >= RX.limit[P_FEISHU])
            r->code = 11232;
        else
            r->code = 0;
        snprintf(answer, cap, "{\"code\":%d,\"msg\":\"%s\",\"data\":{}}", r->code,
                 r->code == 0 ? "success" : r->code == 11232 ? "frequency limited" : "sign match fail");
    } else if (strncmp(path, "/services/", 10) == 0) {
        r->plat = P_SLACK;
        snprintf(r->key, sizeof r->key, "%s", path + 10);
        text = jstr(j, "text");
        if (!text) {
            snprintf(r->why, sizeof r->why, "no text: %.100s", body);
            *http_status = 400;
            snprintf(answer, cap, "invalid_payload");
        } else if (RX.slack_429 > 0) {
            RX.slack_429--;
            *http_status = 429;
            snprintf(extra_headers, xcap, "Retry-After: %d\r\n", RX.slack_retry_after);
            snprintf(answer, cap, "rate_limited");
        } else if (RX.slack_fail != 0) {
            if (RX.slack_fail > 0)
                RX.slack_fail--;
            *http_status = 503;
            snprintf(answer, cap, "service unavailable");
        } else {
            snprintf(answer, cap, "ok");
        }
        r->code = *http_status;
    } else if (strncmp(path, "/hook/", 6) == 0) {
        r->plat = P_HOOK;
        snprintf(r->key, sizeof r->key, "%s", path + 6);
        char sig[160], ts[32], want[80] = "sha256=";
        h_rx_head_value(head, "X-Escalated-Signature", sig, sizeof sig);
        h_rx_head_value(head, "X-Escalated-Timestamp", ts, sizeof ts);
        h_rx_head_value(head, "X-Escalated-Delivery", r->delivery, sizeof r->delivery);
        h_rx_head_value(head, "X-Escalated-Attempt", r->attempt, sizeof r->attempt);
        char *msg = NULL;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        const char *secret = secret_of(r->key);
        if (asprintf(&msg, "%s.%s", ts, body) > 0)
            HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, strlen(msg), mac, &len);
        free(msg);
        for (unsigned i = 0; i < len; i++)
            snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
        text = jstr(j, "text");
        if (strcmp(sig, want) != 0)
            snprintf(r->why, sizeof r->why, "bad signature %s (want %s)", sig, want);
        else if (!text || !h_str(j, "title") || !json_is_object(h_get(j, "facts")))
            snprintf(r->why, sizeof r->why, "no title, text or facts: %.100s", body);
        *http_status = r->why[0] ? 401 : 200;
        r->code = *http_status;
        snprintf(answer, cap, r->why[0] ? "bad signature" : "ok");
    } else {
        r->plat = -1;
        snprintf(r->why, sizeof r->why, "unknown path %s", path);
        *http_status = 404;
        r->code = 404;
        snprintf(answer, cap, "not found");
    }
    r->accepted = !r->why[0] && (r->code == 0 || r->code == 200);
    r->text = strdup(text ? text : body);
    json_decref(j);
}

/* One connection, on its own thread (h_rx_conns_accept). */
static void rx_serve(int fd)
{
    struct h_rx_req q = {0};
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (h_rx_read(fd, &q) == 0) {
        const char *head = q.head, *body = q.body;
        char method[8] = "", target[1024] = "", answer[512], extra[128];
        sscanf(head, "%7s %1023s", method, target);
        int status = 200, hang = 0;
        pthread_mutex_lock(&RX.mu);
        struct rec tmp = {0};
        judge(&tmp, head, target, body, answer, sizeof answer, &status, extra, sizeof extra);
        tmp.at = h_now();
        if (strcmp(method, "POST") != 0)
            snprintf(tmp.why, sizeof tmp.why, "method %s", method);
        if (RX.hang_next > 0) {
            RX.hang_next--;
            hang = 1;
            tmp.accepted = 0;
            tmp.code = 0;
        }
        if (RX.n < MAX_RECS)
            RX.recs[RX.n++] = tmp;
        else
            free(tmp.text);
        pthread_cond_broadcast(&RX.cv);
        if (hang) {
            int gen = RX.release_gen;
            while (!RX.stop && RX.release_gen == gen)
                pthread_cond_wait(&RX.cv, &RX.mu);
        }
        pthread_mutex_unlock(&RX.mu);
        if (!hang) {
            char resp[1024];
            snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, status == 200 ? "OK" : "Refused",
                     answer[0] == '{' ? "application/json" : "text/plain", extra, strlen(answer), answer);
            ssize_t ignored = send(fd, resp, strlen(resp), MSG_NOSIGNAL);
            (void)ignored;
        }
    }
    h_rx_req_free(&q);
}

/* the accept thread's view of RX (h_rx_conns_accept) */
static struct h_rx_conns RX_CONNS;

static void rx_release(void)
{
    pthread_mutex_lock(&RX.mu);
    RX.release_gen++;
    pthread_cond_broadcast(&RX.cv);
    pthread_mutex_unlock(&RX.mu);
}

/* Copies of the requests to one robot, in arrival order (texts borrowed:
 * they stay with RX until the end); returns how many there are. */
static int rx_of(int plat, const char *key, struct rec *out, int max)
{
    int k = 0;
    pthread_mutex_lock(&RX.mu);
    for (int i = 0; i < RX.n; i++)
        if (RX.recs[i].plat == plat && strcmp(RX.recs[i].key, key) == 0) {
            if (k < max)
                out[k] = RX.recs[i];
            k++;
        }
    pthread_mutex_unlock(&RX.mu);
    return k;
}

/* Does this text speak of ticket `id` ("#id" not followed by a digit)? */
static int mentions(const char *text, json_int_t id)
{
    char tag[32];
    int n = snprintf(tag, sizeof tag, "#%lld", (long long)id);
    for (const char *p = strstr(text, tag); p; p = strstr(p + 1, tag))
        if (p[n] < '0' || p[n] > '9')
            return 1;
    return 0;
}

/* Requests to the robot that mention ticket `id`. */
static int rx_about(int plat, const char *key, json_int_t id, struct rec *out, int max)
{
    struct rec all[256];
    int n = rx_of(plat, key, all, 256), k = 0;
    for (int i = 0; i < n && i < 256; i++)
        if (mentions(all[i].text, id)) {
            if (k < max)
                out[k] = all[i];
            k++;
        }
    return k;
}

/* Wait until `count` requests to the robot mention ticket `id`. */
static int rx_wait_about(int plat, const char *key, json_int_t id, int count, double seconds)
{
    double end = h_now() + seconds;
    int n;
    while ((n = rx_about(plat, key, id, NULL, 0)) < count && h_now() < end)
        h_sleep(0.02);
    return n;
}

static int rx_wait_count(int plat, const char *key, int count, double seconds)
{
    double end = h_now() + seconds;
    int n;
    while ((n = rx_of(plat, key, NULL, 0)) < count && h_now() < end)
        h_sleep(0.02);
    return n;
}

/* ------------------------------------------------------ the SMTP server */

#define MAX_MAILS 64

struct mail {
    char from[256], rcpt[4][256], user[128], pass[128];
    int n_rcpt, tls_at_auth, tls_at_data;
    char *data;
    double at;
};

static struct {
    int fd, port;
    pthread_t th;
    SSL_CTX *ctx;
    pthread_mutex_t mu;
    int stop;
    struct mail mails[MAX_MAILS];
    int n;
    char error[256]; /* a protocol mistake the client made */
} SM;

struct sconn {
    int fd;
    SSL *ssl;
    char buf[65536];
    size_t len;
};

static int s_fill(struct sconn *c)
{
    if (c->len >= sizeof c->buf - 1)
        return -1;
    int n = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(sizeof c->buf - 1 - c->len))
                   : (int)recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return 0;
}

/* One line without its CRLF, into out[cap]; -1 when the peer is gone. */
static int s_line(struct sconn *c, char *out, size_t cap)
{
    char *eol;
    while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
        if (s_fill(c) != 0)
            return -1;
    size_t n = (size_t)(eol - c->buf);
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), c->buf);
    memmove(c->buf, eol + 2, c->len - n - 2);
    c->len -= n + 2;
    c->buf[c->len] = '\0';
    return 0;
}

static void s_say(struct sconn *c, const char *s)
{
    if (c->ssl)
        SSL_write(c->ssl, s, (int)strlen(s));
    else {
        ssize_t ignored = send(c->fd, s, strlen(s), MSG_NOSIGNAL);
        (void)ignored;
    }
}

static void sm_session(int fd)
{
    struct sconn c = {.fd = fd};
    struct mail m = {0};
    char line[4096];
    int authed = 0;
    s_say(&c, "220 mail.test ESMTP imitation\r\n");
    while (s_line(&c, line, sizeof line) == 0) {
        if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "HELO", 4) == 0) {
            s_say(&c, c.ssl ? "250-mail.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                            : "250-mail.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
        } else if (strcasecmp(line, "STARTTLS") == 0 && !c.ssl) {
            s_say(&c, "220 2.0.0 go ahead\r\n");
            if (c.len) { /* nothing may follow STARTTLS before the handshake */
                snprintf(SM.error, sizeof SM.error, "data pipelined after STARTTLS");
                break;
            }
            c.ssl = SSL_new(SM.ctx);
            SSL_set_fd(c.ssl, fd);
            if (SSL_accept(c.ssl) != 1) {
                snprintf(SM.error, sizeof SM.error, "TLS handshake failed");
                break;
            }
        } else if (strncasecmp(line, "AUTH", 4) == 0) {
            if (!c.ssl) {
                s_say(&c, "530 5.7.0 must issue a STARTTLS command first\r\n");
                continue;
            }
            unsigned char dec[1024];
            char resp[1024];
            if (strncasecmp(line + 5, "PLAIN", 5) == 0) {
                const char *ir = line[10] == ' ' ? line + 11 : NULL;
                if (!ir) {
                    s_say(&c, "334 \r\n");
                    if (s_line(&c, resp, sizeof resp) != 0)
                        break;
                    ir = resp;
                }
                int n = b64_decode(ir, strlen(ir), dec);
                /* authzid NUL authcid NUL password */
                const char *u = n > 0 ? memchr(dec, 0, (size_t)n) : NULL;
                if (u) {
                    u++;
                    snprintf(m.user, sizeof m.user, "%s", u);
                    snprintf(m.pass, sizeof m.pass, "%s", u + strlen(u) + 1);
                }
            } else if (strncasecmp(line + 5, "LOGIN", 5) == 0) {
                s_say(&c, "334 VXNlcm5hbWU6\r\n");
                if (s_line(&c, resp, sizeof resp) != 0)
                    break;
                if (b64_decode(resp, strlen(resp), dec) >= 0)
                    snprintf(m.user, sizeof m.user, "%s", (char *)dec);
                s_say(&c, "334 UGFzc3dvcmQ6\r\n");
                if (s_line(&c, resp, sizeof resp) != 0)
                    break;
                if (b64_decode(resp, strlen(resp), dec) >= 0)
                    snprintf(m.pass, sizeof m.pass, "%s", (char *)dec);
            }
            m.tls_at_auth = c.ssl != NULL;
            authed = 1;
            s_say(&c, "235 2.7.0 authentication successful\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            snprintf(m.from, sizeof m.from, "%s", line + 10);
            s_say(&c, authed ? "250 2.1.0 ok\r\n" : "530 5.7.0 authentication required\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            if (m.n_rcpt < 4)
                snprintf(m.rcpt[m.n_rcpt++], sizeof m.rcpt[0], "%s", line + 8);
            s_say(&c, "250 2.1.5 ok\r\n");
        } else if (strcasecmp(line, "DATA") == 0) {
            s_say(&c, "354 end with <CRLF>.<CRLF>\r\n");
            struct { char *p; size_t len, cap; } d = {0};
            while (s_line(&c, line, sizeof line) == 0 && strcmp(line, ".") != 0) {
                const char *l = line[0] == '.' ? line + 1 : line; /* dot-unstuffing */
                size_t n = strlen(l);
                if (d.len + n + 3 > d.cap) {
                    d.cap = (d.len + n + 3) * 2;
                    d.p = realloc(d.p, d.cap);
                }
                memcpy(d.p + d.len, l, n);
                memcpy(d.p + d.len + n, "\r\n", 3);
                d.len += n + 2;
            }
            m.data = d.p ? d.p : strdup("");
            m.tls_at_data = c.ssl != NULL;
            m.at = h_now();
            pthread_mutex_lock(&SM.mu);
            if (SM.n < MAX_MAILS)
                SM.mails[SM.n++] = m;
            else
                free(m.data);
            pthread_mutex_unlock(&SM.mu);
            memset(&m, 0, sizeof m);
            s_say(&c, "250 2.0.0 queued\r\n");
        } else if (strcasecmp(line, "QUIT") == 0) {
            s_say(&c, "221 2.0.0 bye\r\n");
            break;
        } else if (strcasecmp(line, "RSET") == 0 || strcasecmp(line, "NOOP") == 0) {
            s_say(&c, "250 ok\r\n");
        } else {
            s_say(&c, "502 5.5.2 command not recognised\r\n");
        }
    }
    if (c.ssl) {
        SSL_shutdown(c.ssl);
        SSL_free(c.ssl);
    }
    free(m.data);
}

static void *sm_accept(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&SM.mu);
        int stop = SM.stop;
        pthread_mutex_unlock(&SM.mu);
        if (stop)
            return NULL;
        struct pollfd p = {SM.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(SM.fd, NULL, NULL);
        if (c < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sm_session(c); /* one at a time: the alerts here are few */
        close(c);
    }
}

/* The decoded Subject (RFC 2047 B words joined) and body (base64) of a mail. */
static void mail_decode(const char *data, char *subject, size_t scap, char *body, size_t bcap)
{
    subject[0] = body[0] = '\0';
    const char *end = strstr(data, "\r\n\r\n");
    const char *s = strstr(data, "Subject:");
    size_t so = 0;
    if (s && end && s < end) {
        const char *stop = s;
        do { /* the header and its folded continuation lines */
            stop = strstr(stop, "\r\n");
            stop = stop ? stop + 2 : end;
        } while (stop < end && (*stop == ' ' || *stop == '\t'));
        for (const char *w = strstr(s, "=?UTF-8?B?"); w && w < stop; w = strstr(w, "=?UTF-8?B?")) {
            w += 10;
            const char *q = strstr(w, "?=");
            if (!q)
                break;
            unsigned char dec[512];
            int n = b64_decode(w, (size_t)(q - w), dec);
            if (n > 0 && so + (size_t)n < scap) {
                memcpy(subject + so, dec, (size_t)n);
                so += (size_t)n;
            }
            w = q + 2;
        }
    }
    subject[so] = '\0';
    if (!end)
        return;
    char *b64 = malloc(strlen(end) + 1);
    size_t o = 0;
    for (const char *p = end + 4; *p; p++)
        if (*p != '\r' && *p != '\n')
            b64[o++] = *p;
    b64[o] = '\0';
    unsigned char *dec = malloc(o + 4);
    int n = b64_decode(b64, o, dec);
    snprintf(body, bcap, "%s", n >= 0 ? (char *)dec : "(not base64)");
    free(dec);
    free(b64);
}

/* ------------------------------------------------------- setup, helpers */

static void make_cert(void)
{
    char crt[128], key[128];
    snprintf(crt, sizeof crt, "%s/smtp.crt", dir);
    snprintf(key, sizeof key, "%s/smtp.key", dir);
    h_make_cert(crt, key);
    SM.ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(SM.ctx);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(SM.ctx, crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(SM.ctx, key, SSL_FILETYPE_PEM), 1);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/esc_channels_XXXXXX");
    assert_non_null(mkdtemp(dir));
    pthread_mutex_init(&RX.mu, NULL);
    pthread_cond_init(&RX.cv, NULL);
    pthread_mutex_init(&SM.mu, NULL);
    RX.fd = h_rx_listen_loopback(&RX.port);
    SM.fd = h_rx_listen_loopback(&SM.port);
    assert_true(RX.fd >= 0 && SM.fd >= 0);
    rx_defaults();
    char ca[128];
    snprintf(ca, sizeof ca, "%s/smtp.crt", dir);
    setenv("ESCALATED_WEBHOOK_ALLOW_PRIVATE_NETWORK", "on", 1); /* the receivers are on loopback */
    setenv("ESCALATED_WEBHOOK_TIMEOUT_MS", "1000", 1);           /* an alert attempt: 2 s */
    setenv("ESCALATED_ALERT_MAX_ATTEMPTS", "3", 1);
    setenv("ESCALATED_ALERT_BACKOFF_MS", "200", 1);
    setenv("ESCALATED_PUBLIC_URL", PUBLIC_URL, 1);
    setenv("ESCALATED_ALERT_CA_FILE", ca, 1);
    make_cert();
    H = h_start("test_channels", NULL);
    RX_CONNS = (struct h_rx_conns){RX.fd, &RX.mu, &RX.cv, &RX.stop, &RX.active, rx_serve};
    assert_int_equal(pthread_create(&RX.th, NULL, h_rx_conns_accept, &RX_CONNS), 0);
    assert_int_equal(pthread_create(&SM.th, NULL, sm_accept, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&RX.mu);
    RX.stop = 1;
    pthread_cond_broadcast(&RX.cv);
    pthread_mutex_unlock(&RX.mu);
    pthread_mutex_lock(&SM.mu);
    SM.stop = 1;
    pthread_mutex_unlock(&SM.mu);
    pthread_join(RX.th, NULL);
    pthread_join(SM.th, NULL);
    h_finish(H);
    pthread_mutex_lock(&RX.mu);
    while (RX.active > 0)
        pthread_cond_wait(&RX.cv, &RX.mu);
    pthread_mutex_unlock(&RX.mu);
    close(RX.fd);
    close(SM.fd);
    for (int i = 0; i < RX.n; i++)
        free(RX.recs[i].text);
    for (int i = 0; i < SM.n; i++)
        free(SM.mails[i].data);
    SSL_CTX_free(SM.ctx);
    char *const rm[] = {"rm", "-rf", dir, NULL};
    h_run(rm, NULL);
    return 0;
}

/* Per test: no active channel, no ladder, the receivers as the platforms
 * are, the default policies. */
static int fresh(void **state)
{
    (void)state;
    h_resp *r = h_req(H, "GET", "/v1/channels", H->k.admin, NULL);
    h_expect_status(r, 200);
    size_t i;
    json_t *c;
    json_array_foreach(h_get(r->json, "items"), i, c) {
        h_resp *d = h_req(H, "DELETE", h_fmt(H, "/v1/channels/%lld", (long long)h_int(c, "id")), H->k.admin, NULL);
        h_expect_status(d, 200);
    }
    rx_defaults();
    h_restore_settings(H);
    return 0;
}

static const char *url_of(int plat, const char *key)
{
    switch (plat) {
    case P_WECOM:
        return h_fmt(H, "http://127.0.0.1:%d/cgi-bin/webhook/send?key=%s", RX.port, key);
    case P_DINGTALK:
        return h_fmt(H, "http://127.0.0.1:%d/robot/send?access_token=%s", RX.port, key);
    case P_FEISHU:
        return h_fmt(H, "http://127.0.0.1:%d/open-apis/bot/v2/hook/%s", RX.port, key);
    case P_SLACK:
        return h_fmt(H, "http://127.0.0.1:%d/services/%s", RX.port, key);
    default:
        return h_fmt(H, "http://127.0.0.1:%d/hook/%s", RX.port, key);
    }
}

/* POST /v1/channels for a chat platform; `extra` JSON merged in (may be
 * NULL).  Asserts 201; returns the channel. */
static json_t *channel(int plat, const char *key, const char *lang, const char *events, const char *extra)
{
    json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "name", h_unique(H, PLAT[plat]), "kind", PLAT[plat], "language",
                          lang, "url", url_of(plat, key));
    json_object_set_new(b, "event_types", h_json(events));
    if (plat == P_DINGTALK || plat == P_FEISHU || plat == P_HOOK)
        json_object_set_new(b, "secret", json_string(secret_of(key)));
    if (extra) {
        json_t *x = h_json(extra);
        json_object_update(b, x);
        json_decref(x);
    }
    h_resp *r = h_reqj(H, "POST", "/v1/channels", H->k.admin, b);
    h_expect_status(r, 201);
    return r->json;
}

static json_int_t major(const char *subject)
{
    return h_new_ticket(H, subject ? subject : h_unique(H, "major"), "major", NULL);
}

/* GET /v1/channels/{id}/messages (all, newest first). */
static json_t *messages(json_int_t ch)
{
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/channels/%lld/messages?limit=200", (long long)ch), H->k.admin, NULL);
    h_expect_status(r, 200);
    return h_get(r->json, "items");
}

static int count_status(json_int_t ch, const char *status)
{
    json_t *items = messages(ch), *m;
    size_t i;
    int k = 0;
    json_array_foreach(items, i, m) k += strcmp(h_str(m, "status"), status) == 0;
    return k;
}

/* Wait until channel `ch` has `n` messages with `status`. */
static void wait_status(json_int_t ch, const char *status, int n, double seconds)
{
    double end = h_now() + seconds;
    int k;
    while ((k = count_status(ch, status)) < n && h_now() < end)
        h_sleep(0.05);
    if (k < n) {
        char *s = json_dumps(messages(ch), JSON_COMPACT);
        h_daemon_log_tail(H, 30);
        fail_msg("channel %lld has %d messages %s, not %d, after %.0f s: %.3000s", (long long)ch, k, status, n,
                 seconds, s);
    }
}

/* The `notified` events via a channel on a ticket. */
static int channel_events(json_int_t ticket, json_int_t channel_id)
{
    json_t *items = h_events(H, ticket), *e;
    size_t i;
    int k = 0;
    json_array_foreach(items, i, e) {
        if (strcmp(h_str(e, "type"), "notified") != 0 || !h_str(e, "via") || strcmp(h_str(e, "via"), "channel") != 0)
            continue;
        if (channel_id <= 0 || h_int(e, "channel_id") == channel_id)
            k++;
    }
    return k;
}

static void expect_right(const struct rec *r, const char *label)
{
    if (r->why[0])
        fail_msg("%s: the platform would refuse this: %s", label, r->why);
    if (!r->accepted)
        fail_msg("%s: refused with %d", label, r->code);
}

static void expect_in(const char *text, const char *want, const char *label)
{
    if (!strstr(text, want))
        fail_msg("%s: \"%s\" is not in the message:\n%s", label, want, text);
}

static void expect_not_in(const char *text, const char *bad, const char *label)
{
    if (strstr(text, bad))
        fail_msg("%s: \"%s\" must not be in the message:\n%s", label, bad, text);
}

/* ----------------------------------------------------------------- tests */

static void channels_are_for_admins_only_and_ladders_for_managers(void **state)
{
    (void)state;
    json_t *wc = channel(P_WECOM, "roles", "zh", "[]", NULL);
    json_int_t id = h_int(wc, "id");
    const char *others[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[3], H->k.manager};
    const char *body = h_fmt(H, "{\"name\":\"x\",\"kind\":\"slack\",\"url\":\"%s\"}", url_of(P_SLACK, "x"));
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        h_expect_status(h_req(H, "GET", "/v1/channels", others[i], NULL), 403);
        h_expect_status(h_req(H, "POST", "/v1/channels", others[i], body), 403);
        h_expect_status(h_req(H, "GET", h_fmt(H, "/v1/channels/%lld", (long long)id), others[i], NULL), 403);
        h_expect_status(h_req(H, "GET", h_fmt(H, "/v1/channels/%lld/messages", (long long)id), others[i], NULL),
                        403);
        h_expect_status(h_req(H, "POST", h_fmt(H, "/v1/channels/%lld/test", (long long)id), others[i], NULL),
                        403);
        h_expect_status(h_req(H, "DELETE", h_fmt(H, "/v1/channels/%lld", (long long)id), others[i], NULL), 403);
    }
    h_expect_status(h_req(H, "GET", "/v1/channels", NULL, NULL), 401);
    h_expect_status(h_req(H, "GET", "/v1/channels", H->k.admin, NULL), 200);

    const char *ladder = h_fmt(H, "{\"steps\":[{\"channel_id\":%lld,\"recipients\":[%lld],\"delay_seconds\":60}]}",
                               (long long)id, (long long)H->k.agent_id[1]);
    const char *not_managers[] = {H->k.frontdesk, H->k.agent[1], H->k.agent[2]};
    for (size_t i = 0; i < sizeof not_managers / sizeof *not_managers; i++) {
        h_expect_status(h_req(H, "GET", "/v1/ladders", not_managers[i], NULL), 403);
        h_expect_status(h_req(H, "PUT", "/v1/ladders/line-1/at_risk", not_managers[i], ladder), 403);
        h_expect_status(h_req(H, "DELETE", "/v1/ladders/line-1/at_risk", not_managers[i], NULL), 403);
    }
    h_expect_status(h_req(H, "GET", "/v1/ladders", H->k.manager, NULL), 200);
    h_expect_status(h_req(H, "PUT", "/v1/ladders/line-1/at_risk", H->k.manager, ladder), 200);
    h_resp *d = h_req(H, "DELETE", "/v1/ladders/line-1/at_risk", H->k.manager, NULL);
    if (d->status != 200 && d->status != 204)
        h_expect_status(d, 200);
}

static void bad_channel_input_is_400_naming_the_field(void **state)
{
    (void)state;
    json_t *ok = channel(P_WECOM, "valid", "zh", "[]", NULL);
    const char *wc = url_of(P_WECOM, "k"), *dt = url_of(P_DINGTALK, "k");
    const struct h_bad cases[] = {
        {h_fmt(H, "{\"kind\":\"wecom\",\"url\":\"%s\"}", wc), "name"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"telegram\",\"url\":\"%s\"}", wc), "kind"},
        {h_fmt(H, "{\"name\":\"a\",\"url\":\"%s\"}", wc), "kind"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"language\":\"fr\"}", wc), "language"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"event_types\":[\"closed\"]}", wc),
         "event_types"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"tiers\":[\"line-4\"]}", wc), "tiers"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"rate_limit\":{\"count\":0,\"seconds\":5}}",
               wc), "rate_limit.count"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"rate_limit\":{\"count\":3,\"seconds\":0}}",
               wc), "rate_limit.seconds"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"rate_limit\":7}", wc), "rate_limit"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"digest_after\":0}", wc), "digest_after"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"secret\":\"abcdefghijklmnopq\"}", wc),
         "secret"},
        {"{\"name\":\"a\",\"kind\":\"dingtalk\"}", "url"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"dingtalk\",\"url\":\"ftp://%s\"}", dt + 7), "url"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"webhook\",\"url\":\"%s\",\"secret\":\"short\"}", url_of(P_HOOK, "k")),
         "secret"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"fallback_channel_id\":987654}", wc),
         "fallback_channel_id"},
        {h_fmt(H, "{\"name\":\"a\",\"kind\":\"wecom\",\"url\":\"%s\",\"colour\":\"red\"}", wc), "colour"},
        {"{\"name\":\"a\",\"kind\":\"smtp\"}", "smtp"},
        {"{\"name\":\"a\",\"kind\":\"smtp\",\"smtp\":{\"host\":\"127.0.0.1\",\"from\":\"a@b.c\",\"to\":[]}}",
         "smtp.to"},
        {"{\"name\":\"a\",\"kind\":\"smtp\",\"smtp\":{\"host\":\"127.0.0.1\",\"from\":\"a@b.c\",\"to\":[\"x\"]}}",
         "smtp.to"},
        {"{\"name\":\"a\",\"kind\":\"smtp\",\"smtp\":{\"host\":\"127.0.0.1\",\"from\":\"nobody\",\"to\":[\"a@b.c\"]}}",
         "smtp.from"},
        {"{\"name\":\"a\",\"kind\":\"smtp\",\"smtp\":{\"host\":\"127.0.0.1\",\"tls\":\"ssl3\",\"from\":\"a@b.c\","
         "\"to\":[\"a@b.c\"]}}", "smtp.tls"},
        {"{\"name\":\"a\",\"kind\":\"smtp\",\"smtp\":{\"from\":\"a@b.c\",\"to\":[\"a@b.c\"]}}", "smtp.host"},
        {"{\"name\":\"a\",\"kind\":\"smtp\",\"url\":\"http://127.0.0.1/\",\"smtp\":{\"host\":\"h\",\"from\":\"a@b.c\","
         "\"to\":[\"a@b.c\"]}}", "url"},
        {h_fmt(H, "{\"name\":\"%s\",\"kind\":\"wecom\",\"url\":\"%s\"}", h_str(ok, "name"), wc), NULL},
    };
    size_t n = sizeof cases / sizeof *cases;
    /* the last: a name already in use is a conflict, not a validation error */
    assert_int_equal(h_check_bad(H, "POST", "/v1/channels", H->k.admin, 400, "validation_failed", cases, n - 1), 0);
    h_resp *dup = h_req(H, "POST", "/v1/channels", H->k.admin, cases[n - 1].text);
    if (dup->status != 409 && dup->status != 400)
        h_expect_status(dup, 409);
    assert_int_equal(h_sql_ll(H, "SELECT count(*) FROM channels WHERE active"), 1);
}

static void a_channel_secret_is_shown_once_and_the_database_holds_secrets_only_sealed(void **state)
{
    (void)state;
    /* a generic webhook channel without a secret: one is made, shown once */
    json_t *b = json_pack("{s:s,s:s,s:s}", "name", "generated", "kind", "webhook", "url", url_of(P_HOOK, "gen"));
    h_resp *r = h_reqj(H, "POST", "/v1/channels", H->k.admin, b);
    h_expect_status(r, 201);
    const char *secret = h_str(r->json, "secret");
    assert_non_null(secret);
    assert_true(strlen(secret) >= 16);
    char *shown = strdup(secret);
    json_int_t hook = h_int(r->json, "id");
    /* a robot whose key is in its URL and a signing secret it was given */
    const char *token = "dt0123456789abcdefTOKEN";
    json_t *ding = channel(P_DINGTALK, token, "zh", "[]", NULL);
    assert_false(h_has(ding, "secret"));
    char *ding_text = json_dumps(ding, 0);
    expect_not_in(ding_text, token, "the created channel shown");
    free(ding_text);
    json_t *smtp = h_json(h_fmt(H, "{\"name\":\"mail\",\"kind\":\"smtp\",\"smtp\":{\"host\":\"127.0.0.1\",\"port\":%d,"
                                   "\"username\":\"relay\",\"password\":\"pw-Zq8-never-shown\",\"from\":\"a@b.c\","
                                   "\"to\":[\"oncall@example.com\"]}}", SM.port));
    r = h_reqj(H, "POST", "/v1/channels", H->k.admin, smtp);
    h_expect_status(r, 201);
    assert_false(h_has(r->json, "secret"));
    expect_not_in(r->body, "pw-Zq8-never-shown", "the created smtp channel");

    /* never again: not by id, not in the list */
    r = h_req(H, "GET", h_fmt(H, "/v1/channels/%lld", (long long)hook), H->k.admin, NULL);
    h_expect_status(r, 200);
    assert_false(h_has(r->json, "secret"));
    expect_not_in(r->body, shown, "GET the channel");
    r = h_req(H, "GET", "/v1/channels", H->k.admin, NULL);
    h_expect_status(r, 200);
    expect_not_in(r->body, shown, "the list");
    expect_not_in(r->body, token, "the list");
    expect_not_in(r->body, secret_of(token), "the list");
    expect_not_in(r->body, "pw-Zq8-never-shown", "the list");
    expect_in(r->body, "dt01", "the list (the key's first characters, to recognise it)");

    /* and the database has none of them in clear, in any column */
    h_probe_install(H);
    const char *needles[] = {shown, token, secret_of(token), "pw-Zq8-never-shown"};
    for (size_t i = 0; i < 4; i++) {
        const char *hits = h_probe_clear(H, needles[i]);
        assert_non_null(hits);
        if (*hits)
            fail_msg("'%s' is stored in clear in: %s", needles[i], hits);
    }
    assert_true(h_sql_ll(H, "SELECT count(*) FROM channels WHERE sealed LIKE 'esc1%%'") >= 3);
    free(shown);
}

/* One channel per platform, each subscribed to major complaints: one major
 * complaint reaches all of them, shaped and signed as each platform wants,
 * in the channel's language, with the subject masked and the console link;
 * each delivery is a `notified` event on the ticket. */
static void every_platform_gets_one_shaped_signed_message_in_its_language_masked_with_the_link(void **state)
{
    (void)state;
    struct {
        int plat;
        const char *key, *lang;
        json_int_t id;
    } ch[] = {{P_WECOM, "wc-all", "zh", 0},     {P_DINGTALK, "dt-all", "en", 0}, {P_FEISHU, "fs-all", "zh", 0},
              {P_SLACK, "T0/B0/sl-all", "en", 0}, {P_HOOK, "hk-all", "zh", 0}};
    const size_t n = sizeof ch / sizeof *ch;
    for (size_t i = 0; i < n; i++)
        ch[i].id = h_int(channel(ch[i].plat, ch[i].key, ch[i].lang, "[\"major_created\"]", NULL), "id");
    json_t *sb = h_json(h_fmt(H, "{\"name\":\"mail-all\",\"kind\":\"smtp\",\"language\":\"zh\","
                                 "\"event_types\":[\"major_created\"],\"smtp\":{\"host\":\"127.0.0.1\",\"port\":%d,"
                                 "\"tls\":\"starttls\",\"username\":\"relay-user\",\"password\":\"relay-pass-9\","
                                 "\"from\":\"Escalated <alerts@example.com>\",\"to\":[\"oncall@example.com\","
                                 "\"lead@example.com\"]}}", SM.port));
    h_resp *r = h_reqj(H, "POST", "/v1/channels", H->k.admin, sb);
    h_expect_status(r, 201);
    json_int_t mail_ch = h_int(r->json, "id");
    int mails_before = SM.n;

    json_int_t t = major(SUBJECT_PHONE);
    const char *link = h_fmt(H, PUBLIC_URL "/console/#/ticket/%lld", (long long)t);
    for (size_t i = 0; i < n; i++) {
        if (rx_wait_about(ch[i].plat, ch[i].key, t, 1, 10) < 1) {
            h_daemon_log_tail(H, 30);
            fail_msg("%s got nothing about ticket %lld in 10 s", PLAT[ch[i].plat], (long long)t);
        }
        struct rec got[4];
        assert_int_equal(rx_about(ch[i].plat, ch[i].key, t, got, 4), 1);
        const char *label = PLAT[ch[i].plat];
        expect_right(&got[0], label);
        expect_not_in(got[0].text, PHONE, label);
        expect_in(got[0].text, "139****5678", label);
        expect_in(got[0].text, link, label);
        expect_in(got[0].text, strcmp(ch[i].lang, "zh") == 0 ? "重大投诉" : "Major complaint", label);
        expect_not_in(got[0].text, strcmp(ch[i].lang, "zh") == 0 ? "Major complaint" : "重大投诉", label);
        wait_status(ch[i].id, "delivered", 1, 5);
    }

    /* the mail: over STARTTLS, authenticated, to each recipient */
    double end = h_now() + 10;
    while (SM.n == mails_before && h_now() < end)
        h_sleep(0.02);
    if (SM.n == mails_before) {
        h_daemon_log_tail(H, 30);
        fail_msg("no mail in 10 s%s%s", SM.error[0] ? ": " : "", SM.error);
    }
    pthread_mutex_lock(&SM.mu);
    struct mail m = SM.mails[SM.n - 1];
    char *data = strdup(m.data);
    pthread_mutex_unlock(&SM.mu);
    assert_true(m.tls_at_auth && m.tls_at_data);
    assert_string_equal(m.user, "relay-user");
    assert_string_equal(m.pass, "relay-pass-9");
    assert_string_equal(m.from, "<alerts@example.com>");
    assert_int_equal(m.n_rcpt, 2);
    assert_string_equal(m.rcpt[0], "<oncall@example.com>");
    assert_string_equal(m.rcpt[1], "<lead@example.com>");
    char subject[1024], body[8192];
    mail_decode(data, subject, sizeof subject, body, sizeof body);
    expect_in(subject, "重大投诉", "the mail's Subject");
    expect_in(subject, h_fmt(H, "#%lld", (long long)t), "the mail's Subject");
    expect_not_in(subject, PHONE, "the mail's Subject");
    expect_in(body, link, "the mail's body");
    expect_in(body, "139****5678", "the mail's body");
    expect_not_in(body, PHONE, "the mail's body");
    expect_not_in(data, PHONE, "the mail as sent");
    free(data);
    wait_status(mail_ch, "delivered", 1, 5);

    /* each delivery is on the ticket's history */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(channel_events(t, ch[i].id), 1);
    assert_int_equal(channel_events(t, mail_ch), 1);
}

/* A breach from the SLA engine reaches a channel subscribed to breaches. */
static void an_sla_breach_reaches_a_channel_that_wants_breaches(void **state)
{
    (void)state;
    json_int_t ch = h_int(channel(P_FEISHU, "fs-breach", "en", "[\"breached\"]", NULL), "id");
    h_put_policy(H, "normal", "{\"ack_seconds\": 1, \"resolve_seconds\": 3600, \"warn_ratio\": 0.99}");
    json_int_t t = h_new_ticket(H, h_unique(H, "slow"), "normal", NULL);
    h_wait_breaches(H, t, "ack", 10);
    if (rx_wait_about(P_FEISHU, "fs-breach", t, 1, 10) < 1)
        fail_msg("the breach of ticket %lld did not reach Feishu in 10 s", (long long)t);
    struct rec got[2];
    rx_about(P_FEISHU, "fs-breach", t, got, 2);
    expect_right(&got[0], "feishu");
    expect_in(got[0].text, "Acknowledgement overdue", "feishu");
    wait_status(ch, "delivered", 1, 5);
    assert_int_equal(channel_events(t, ch), 1);
}

/* Room for 3 in 5 s: three messages go out one by one; the seven that come
 * while the window is full wait and go out as ONE digest when there is room
 * again; the robot never sees more than 3 in 5 s; every ticket is covered. */
static void a_burst_beyond_the_rate_limit_is_folded_into_one_digest_and_the_window_is_kept(void **state)
{
    (void)state;
    const char *key = "wc-burst";
    json_int_t ch = h_int(channel(P_WECOM, key, "en", "[\"major_created\"]",
                                  "{\"rate_limit\":{\"count\":3,\"seconds\":5}}"), "id");
    json_int_t t[10];
    for (int i = 0; i < 3; i++) {
        t[i] = major(NULL);
        if (rx_wait_about(P_WECOM, key, t[i], 1, 5) < 1)
            fail_msg("message %d (ticket %lld) not sent on its own within 5 s", i, (long long)t[i]);
    }
    for (int i = 3; i < 10; i++)
        t[i] = major(NULL);
    if (rx_wait_count(P_WECOM, key, 4, 12) < 4) {
        h_daemon_log_tail(H, 30);
        fail_msg("no digest within 12 s");
    }
    h_sleep(1.0); /* nothing more may come */
    struct rec got[32];
    int n = rx_of(P_WECOM, key, got, 32);
    if (n != 4) {
        for (int i = 0; i < n && i < 32; i++)
            print_message("message %d at +%.3f s:\n%s\n", i, got[i].at - got[0].at, got[i].text);
        print_message("%s\n", json_dumps(messages(ch), JSON_INDENT(1)));
        h_daemon_log_tail(H, 40);
        fail_msg("%d messages, not 3 and a digest", n);
    }
    for (int i = 0; i < n; i++)
        expect_right(&got[i], "wecom");
    for (int i = 0; i < 3; i++)
        assert_true(mentions(got[i].text, t[i]));
    expect_in(got[3].text, "7 alerts", "the digest");
    for (int i = 3; i < 10; i++)
        if (!mentions(got[3].text, t[i]))
            fail_msg("the digest does not mention ticket %lld:\n%s", (long long)t[i], got[3].text);
    /* the window, as the robot saw it (0.1 s for the clocks' jitter) */
    for (int i = 0; i < n; i++) {
        int in = 0;
        for (int j = i; j < n; j++)
            in += got[j].at - got[i].at < 5.0 - 0.1;
        if (in > 3)
            fail_msg("%d messages within 5 s from message %d", in, i);
    }
    assert_true(got[3].at - got[0].at >= 4.9);
    print_message("individual at +0, +%.2f, +%.2f s; the digest at +%.2f s\n", got[1].at - got[0].at,
                  got[2].at - got[0].at, got[3].at - got[0].at);

    /* as the API shows it: 3 delivered on their own, 7 folded into the
     * digest, which was delivered; each ticket has its `notified` event */
    wait_status(ch, "delivered", 4, 5);
    json_t *items = messages(ch), *m;
    size_t i;
    json_int_t digest = 0;
    int folded = 0, delivered = 0;
    json_array_foreach(items, i, m) if (strcmp(h_str(m, "source"), "digest") == 0) digest = h_int(m, "id");
    assert_true(digest > 0);
    json_array_foreach(items, i, m) {
        if (strcmp(h_str(m, "status"), "folded") == 0) {
            folded++;
            assert_int_equal(h_int(m, "folded_into"), digest);
        }
        delivered += strcmp(h_str(m, "status"), "delivered") == 0;
    }
    assert_int_equal(folded, 7);
    assert_int_equal(delivered, 4);
    assert_int_equal(json_array_size(items), 11);
    for (int k = 0; k < 10; k++)
        assert_int_equal(channel_events(t[k], ch), 1);
}

/* DingTalk refuses a robot that sent too much (130101) and blocks it: the
 * channel is held, and that message and the next ones arrive through the
 * fallback channel; DingTalk is not asked again; none is lost. */
static void a_dingtalk_robot_blocked_with_130101_sends_through_the_fallback_and_loses_nothing(void **state)
{
    (void)state;
    const char *key = "dt-blocked", *fb_key = "T1/B1/sl-fallback";
    /* the robot's minute is nearly used up by others: 2 more, then 130101 */
    pthread_mutex_lock(&RX.mu);
    RX.limit[P_DINGTALK] = 2;
    pthread_mutex_unlock(&RX.mu);
    json_int_t fb = h_int(channel(P_SLACK, fb_key, "en", "[]", NULL), "id");
    json_int_t ch = h_int(channel(P_DINGTALK, key, "zh", "[\"major_created\"]",
                                  h_fmt(H, "{\"fallback_channel_id\":%lld}", (long long)fb)), "id");
    json_int_t t[5];
    for (int i = 0; i < 2; i++) {
        t[i] = major(NULL);
        if (rx_wait_about(P_DINGTALK, key, t[i], 1, 5) < 1)
            fail_msg("ticket %lld did not reach DingTalk", (long long)t[i]);
    }
    t[2] = major(NULL);
    if (rx_wait_about(P_SLACK, fb_key, t[2], 1, 8) < 1) {
        h_daemon_log_tail(H, 30);
        fail_msg("the refused message did not arrive through the fallback in 8 s");
    }
    h_resp *r = h_req(H, "GET", h_fmt(H, "/v1/channels/%lld", (long long)ch), H->k.admin, NULL);
    h_expect_status(r, 200);
    h_assert_ts(r->json, "blocked_until");
    double held = h_ts_epoch(h_str(r->json, "blocked_until")) - h_wall();
    assert_true(held > 500 && held <= 601); /* DingTalk's 10 minutes */
    for (int i = 3; i < 5; i++)
        t[i] = major(NULL);
    for (int i = 3; i < 5; i++)
        if (rx_wait_about(P_SLACK, fb_key, t[i], 1, 8) < 1)
            fail_msg("ticket %lld (while blocked) did not arrive through the fallback", (long long)t[i]);
    h_sleep(0.5);
    struct rec got[16];
    int n = rx_of(P_DINGTALK, key, got, 16);
    assert_int_equal(n, 3); /* not asked again while it blocks */
    expect_right(&got[0], "dingtalk");
    expect_right(&got[1], "dingtalk");
    assert_int_equal(got[2].code, 130101);
    assert_string_equal(got[2].why, ""); /* refused for the rate, not for its signature */
    n = rx_of(P_SLACK, fb_key, got, 16);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        expect_right(&got[i], "slack (fallback)");
        expect_in(got[i].text, "Major complaint", "the fallback speaks its own channel's language");
    }
    wait_status(fb, "delivered", 3, 5);
    assert_int_equal(count_status(ch, "delivered"), 2);
    assert_int_equal(count_status(ch, "failed"), 3);
    json_t *items = messages(fb), *m;
    size_t i;
    json_array_foreach(items, i, m) {
        assert_string_equal(h_str(m, "source"), "fallback");
        assert_true(h_int(m, "fallback_of") > 0);
    }
    for (int k = 0; k < 5; k++)
        assert_int_equal(channel_events(t[k], 0), 1); /* each exactly once, by one channel or the other */
}

/* A receiver that keeps failing (503): the attempts back off, and after the
 * last one the message goes to the fallback channel. */
static void a_failing_receiver_gets_retries_then_the_fallback_after_the_last_attempt(void **state)
{
    (void)state;
    const char *key = "T2/B2/sl-down", *fb_key = "wc-fallback";
    pthread_mutex_lock(&RX.mu);
    RX.slack_fail = -1;
    pthread_mutex_unlock(&RX.mu);
    json_int_t fb = h_int(channel(P_WECOM, fb_key, "zh", "[]", NULL), "id");
    json_int_t ch = h_int(channel(P_SLACK, key, "en", "[\"major_created\"]",
                                  h_fmt(H, "{\"fallback_channel_id\":%lld}", (long long)fb)), "id");
    json_int_t t = major(NULL);
    if (rx_wait_about(P_WECOM, fb_key, t, 1, 15) < 1) {
        h_daemon_log_tail(H, 30);
        fail_msg("no fallback within 15 s");
    }
    struct rec got[8];
    int n = rx_about(P_SLACK, key, t, got, 8);
    assert_int_equal(n, 3); /* --alert-max-attempts 3 */
    for (int i = 0; i < n; i++)
        assert_int_equal(got[i].code, 503);
    double gap1 = got[1].at - got[0].at, gap2 = got[2].at - got[1].at;
    print_message("attempts %.2f s and %.2f s apart\n", gap1, gap2);
    /* backed off: 200 ms then 400 ms, each with up to half taken off at random */
    assert_true(gap1 >= 0.1 && gap2 >= 0.2);
    rx_about(P_WECOM, fb_key, t, got, 8);
    expect_right(&got[0], "wecom (fallback)");
    expect_in(got[0].text, "重大投诉", "the fallback");
    wait_status(fb, "delivered", 1, 5);
    json_t *m = h_get(messages(ch), "0");
    h_assert_str(m, "status", "failed");
    h_assert_int(m, "attempts", 3);
    assert_non_null(h_str(m, "last_error"));
    json_t *f = h_get(messages(fb), "0");
    h_assert_int(f, "fallback_of", h_int(m, "id"));
    assert_int_equal(channel_events(t, fb), 1);
    assert_int_equal(channel_events(t, ch), 0);
}

/* An incoming webhook that answers 429 with Retry-After: the channel is
 * held that long, then the message goes out. */
static void a_429_with_retry_after_holds_the_channel_then_the_message_is_sent(void **state)
{
    (void)state;
    const char *key = "T3/B3/sl-429";
    pthread_mutex_lock(&RX.mu);
    RX.slack_429 = 1;
    RX.slack_retry_after = 2;
    pthread_mutex_unlock(&RX.mu);
    json_int_t ch = h_int(channel(P_SLACK, key, "en", "[\"major_created\"]", NULL), "id");
    json_int_t t = major(NULL);
    if (rx_wait_about(P_SLACK, key, t, 2, 8) < 2) {
        h_daemon_log_tail(H, 30);
        fail_msg("not sent again after the 429");
    }
    struct rec got[4];
    assert_int_equal(rx_about(P_SLACK, key, t, got, 4), 2);
    assert_int_equal(got[0].code, 429);
    expect_right(&got[1], "slack");
    print_message("sent again %.2f s after the 429 (Retry-After: 2)\n", got[1].at - got[0].at);
    /* held as long as the platform asked: not sooner, and not until the
     * attempt's lease (9 s) runs out */
    assert_true(got[1].at - got[0].at >= 1.9);
    assert_true(got[1].at - got[0].at < 4.0);
    wait_status(ch, "delivered", 1, 5);
    json_t *m = h_get(messages(ch), "0");
    h_assert_int(m, "attempts", 2);
}

/* A receiver where nothing listens at all: the same, refused connections
 * instead of answers. */
static void a_receiver_that_is_down_gets_retries_then_the_fallback(void **state)
{
    (void)state;
    const char *fb_key = "fs-fallback";
    json_int_t fb = h_int(channel(P_FEISHU, fb_key, "zh", "[]", NULL), "id");
    json_t *b = json_pack("{s:s,s:s,s:s,s:I}", "name", "nobody-home", "kind", "slack", "url",
                          h_fmt(H, "http://127.0.0.1:%d/services/T9/B9/down", h_free_port()),
                          "fallback_channel_id", (json_int_t)fb);
    json_object_set_new(b, "event_types", h_json("[\"major_created\"]"));
    h_resp *r = h_reqj(H, "POST", "/v1/channels", H->k.admin, b);
    h_expect_status(r, 201);
    json_int_t ch = h_int(r->json, "id");
    json_int_t t = major(NULL);
    if (rx_wait_about(P_FEISHU, fb_key, t, 1, 15) < 1) {
        h_daemon_log_tail(H, 30);
        fail_msg("no fallback within 15 s");
    }
    struct rec got[2];
    rx_about(P_FEISHU, fb_key, t, got, 2);
    expect_right(&got[0], "feishu (fallback)");
    json_t *m = h_get(messages(ch), "0");
    h_assert_str(m, "status", "failed");
    h_assert_int(m, "attempts", 3);
    assert_non_null(h_str(m, "last_error"));
    wait_status(fb, "delivered", 1, 5);
    assert_int_equal(channel_events(t, 0), 1);
}

/* POST /v1/channels/{id}/test: a test message, in the channel's language,
 * listed with source `test`. */
static void a_test_message_reaches_the_channel_and_is_listed(void **state)
{
    (void)state;
    const char *key = "wc-test";
    json_int_t ch = h_int(channel(P_WECOM, key, "zh", "[]", NULL), "id");
    h_resp *r = h_req(H, "POST", h_fmt(H, "/v1/channels/%lld/test", (long long)ch), H->k.admin, NULL);
    h_expect_status(r, 202);
    if (rx_wait_count(P_WECOM, key, 1, 5) < 1)
        fail_msg("no test message within 5 s");
    struct rec got[2];
    assert_int_equal(rx_of(P_WECOM, key, got, 2), 1);
    expect_right(&got[0], "wecom");
    expect_in(got[0].text, "测试消息", "the test message");
    wait_status(ch, "delivered", 1, 5);
    h_assert_str(h_get(messages(ch), "0"), "source", "test");
}

/* Two daemons on one database share the outbox: each message is sent by
 * one of them, once. */
static void two_daemons_never_send_a_message_twice(void **state)
{
    (void)state;
    enum { N = 30 };
    const char *key = "hk-two";
    json_int_t ch = h_int(channel(P_HOOK, key, "en", "[\"major_created\"]",
                                  "{\"rate_limit\":{\"count\":1000,\"seconds\":60},\"digest_after\":100}"),
                          "id");
    const char *base2 = NULL;
    pid_t extra = h_extra_start(H, &base2);
    json_int_t t[N];
    for (int i = 0; i < N; i++) { /* alternate: each create pokes its own daemon's worker */
        h_resp *r = h_reqj_at(H, i % 2 ? base2 : H->base_url, "POST", "/v1/tickets", H->k.frontdesk,
                              json_pack("{s:s,s:s}", "subject", h_unique(H, "two"), "severity", "major"));
        h_expect_status(r, 201);
        t[i] = h_int(r->json, "id");
    }
    wait_status(ch, "delivered", N, 15);
    h_sleep(1.0);
    for (int i = 0; i < N; i++) {
        struct rec got[4];
        int n = rx_about(P_HOOK, key, t[i], got, 4);
        if (n != 1)
            fail_msg("ticket %lld: %d requests (expected exactly 1)", (long long)t[i], n);
        expect_right(&got[0], "webhook");
        assert_string_equal(got[0].attempt, "1");
    }
    assert_int_equal(rx_of(P_HOOK, key, NULL, 0), N);
    assert_int_equal(h_extra_stop(H, extra), 0);
}

/* A daemon killed while the platform holds its request: the lease runs out
 * and the restarted daemon sends the message again (at least once). */
static void a_daemon_killed_mid_send_sends_the_message_again_after_restart(void **state)
{
    (void)state;
    const char *key = "hk-kill";
    json_int_t ch = h_int(channel(P_HOOK, key, "en", "[\"major_created\"]", NULL), "id");
    pthread_mutex_lock(&RX.mu);
    RX.hang_next = 1;
    pthread_mutex_unlock(&RX.mu);
    json_int_t t = major(NULL);
    if (rx_wait_about(P_HOOK, key, t, 1, 5) < 1)
        fail_msg("no attempt within 5 s");
    kill(h_daemon_pid(H), SIGKILL);
    assert_int_equal(h_daemon_stop(H), -1); /* reaps it */
    rx_release();
    h_daemon_start(H);
    if (rx_wait_about(P_HOOK, key, t, 2, LEASE_S + 8) < 2) {
        h_daemon_log_tail(H, 30);
        fail_msg("not sent again within %.0f s of the kill", LEASE_S + 8);
    }
    struct rec got[4];
    assert_int_equal(rx_about(P_HOOK, key, t, got, 4), 2);
    expect_right(&got[1], "webhook");
    assert_string_equal(got[1].delivery, got[0].delivery);
    assert_string_equal(got[1].attempt, "2");
    print_message("sent again %.1f s after the first attempt (lease %.0f s)\n", got[1].at - got[0].at, LEASE_S);
    assert_true(got[1].at - got[0].at >= LEASE_S - 1.5);
    wait_status(ch, "delivered", 1, 5);
    assert_int_equal(channel_events(t, ch), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(channels_are_for_admins_only_and_ladders_for_managers, fresh),
        cmocka_unit_test_setup(bad_channel_input_is_400_naming_the_field, fresh),
        cmocka_unit_test_setup(a_channel_secret_is_shown_once_and_the_database_holds_secrets_only_sealed, fresh),
        cmocka_unit_test_setup(every_platform_gets_one_shaped_signed_message_in_its_language_masked_with_the_link,
                               fresh),
        cmocka_unit_test_setup(an_sla_breach_reaches_a_channel_that_wants_breaches, fresh),
        cmocka_unit_test_setup(a_burst_beyond_the_rate_limit_is_folded_into_one_digest_and_the_window_is_kept, fresh),
        cmocka_unit_test_setup(a_dingtalk_robot_blocked_with_130101_sends_through_the_fallback_and_loses_nothing,
                               fresh),
        cmocka_unit_test_setup(a_failing_receiver_gets_retries_then_the_fallback_after_the_last_attempt, fresh),
        cmocka_unit_test_setup(a_receiver_that_is_down_gets_retries_then_the_fallback, fresh),
        cmocka_unit_test_setup(a_429_with_retry_after_holds_the_channel_then_the_message_is_sent, fresh),
        cmocka_unit_test_setup(a_test_message_reaches_the_channel_and_is_listed, fresh),
        cmocka_unit_test_setup(two_daemons_never_send_a_message_twice, fresh),
        cmocka_unit_test_setup(a_daemon_killed_mid_send_sends_the_message_again_after_restart, fresh),
    };
    return h_run_group_tests(tests, setup, teardown);
}
