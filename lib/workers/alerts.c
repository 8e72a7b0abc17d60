/* alerts.c — the alert worker: drains the alert outbox (channel_messages,
 * migrations/014_channels.sql) to chat robots, incoming webhooks and mail,
 * at least once, within each platform's rate limit, and never the same
 * message from two daemons at once.  The contract is docs/channels.md.
 *
 *   loop:
 *     in one transaction, for up to CHANNELS channels with a message due,
 *     each locked (SKIP LOCKED: another daemon takes the others):
 *       blocked by its platform -> the due messages go to the fallback
 *         channel (a copy there; the original ends failed), or wait out
 *         the block when there is none;
 *       no room left in its rate window -> they wait until there is;
 *       as many due as there is room for, and no more than digest_after
 *         -> each claimed (attempts + 1, a lease) and sent on its own;
 *       more (a burst) -> folded into one digest message, claimed;
 *       every claimed send is written into the channel's window first;
 *     commit -- no transaction is held across the network;
 *     send them all at once (curl multi), each bounded by timeout_ms;
 *     record each outcome in its own transaction, fenced by the attempt
 *       claimed: delivered (+ a `notified` event on its ticket); a refusal
 *       by the platform for rate (WeCom 45009, DingTalk 130101, Feishu
 *       11232, HTTP 429) blocks the channel for block_seconds and sends the
 *       message to the fallback; a rejection (bad key, bad signature) goes
 *       to the fallback at once; anything else backs off and tries again,
 *       falling back after max_attempts;
 *     sleep until the next message is due, at most max_sleep_ms, or until
 *       this process commits one (escp_alerts_poke).
 *
 * A daemon that dies mid-send leaves a lease that runs out, and the message
 * is sent again by whichever daemon looks next (at least once).
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"
#include "core/alert.h"
#include "core/webhook_sign.h"
#include "db/db.h"
#include "workers/outbound.h"
#include "workers/workers.h"

#define CHANNELS 8        /* channels looked at per pass */
#define PER_CHANNEL 200   /* due messages read per channel per pass */
#define REPLY_MAX 4096    /* of a platform's answer, what is read */

struct escp_alerts {
    char *conninfo;
    struct escp_alerts_config cfg;
    char *public_url;
    char *ca_file;
    double lease_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, poked;
};

/* ---- one send ---- */

struct send {
    json_t *ch;      /* the channel (alert_channels' doc), borrowed */
    json_t *msg;     /* the message as claimed, borrowed */
    int kind;
    CURL *easy;
    struct curl_slist *headers, *rcpt;
    char *body;      /* the POST body or the mail */
    size_t body_len, body_at;
    char *url;
    struct escp_text reply;
    int retry_after_s;
    char errbuf[CURL_ERROR_SIZE];
    CURLcode result;
    int done;
    struct escp_out_guard guard;
};

static const char *js(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_int_t ji(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static size_t on_reply(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct send *s = arg;
    size_t n = size * nmemb;
    if (s->reply.len < REPLY_MAX)
        escp_text_put(&s->reply, ptr, n < REPLY_MAX - s->reply.len ? n : REPLY_MAX - s->reply.len);
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct send *s = arg;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
        s->retry_after_s = atoi(ptr + 12);
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct send *s = arg;
    size_t n = size * nitems, left = s->body_len - s->body_at;
    if (n > left)
        n = left;
    memcpy(buf, s->body + s->body_at, n);
    s->body_at += n;
    return n;
}

/* The one-click links of the message's people: only for a hand-off still
 * waiting for its acknowledgement, only for agents of its tier, and only
 * when the daemon knows its public address. */
static int ack_links(struct escp_alerts *a, struct escp_conn *c, const json_t *msg,
                     struct escp_alert_link *links, char **urls, size_t *n)
{
    *n = 0;
    json_t *rec = json_object_get(msg, "recipients");
    int64_t ticket = ji(msg, "ticket_id");
    if (!a->public_url || !a->cfg.ack_link || json_array_size(rec) == 0 || ticket <= 0)
        return 0;
    char ids[1024] = "{";
    size_t o = 1, i;
    json_t *v;
    json_array_foreach(rec, i, v) o += (size_t)snprintf(ids + o, sizeof ids - o, "%s%lld", o > 1 ? "," : "",
                                                        (long long)json_integer_value(v));
    snprintf(ids + o, sizeof ids - o, "}");
    json_t *people = NULL, *tk = NULL;
    esc_error_t err = {0};
    if (escp_store_alert_people(c, ids, ticket, &people, &tk, &err) != 0)
        return -1;
    if (json_is_object(tk) && strcmp(js(tk, "state"), "awaiting_ack") == 0 &&
        json_is_integer(json_object_get(tk, "ack_due_ms"))) {
        json_t *p;
        int64_t expires = (int64_t)time(NULL) + a->cfg.ack_link_ttl_s;
        json_array_foreach(people, i, p) {
            if (*n >= 20 || ji(p, "tier") != ji(tk, "tier"))
                continue;
            unsigned char r[8];
            char nonce[17];
            if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
                continue;
            for (int k = 0; k < 8; k++)
                snprintf(nonce + 2 * k, 3, "%02x", r[k]);
            char *tok = a->cfg.ack_link(a->cfg.keys, ticket, ji(p, "id"), ji(tk, "ack_due_ms"), expires, nonce);
            if (!tok)
                continue;
            size_t len = strlen(a->public_url) + 5 + strlen(tok) + 1;
            urls[*n] = malloc(len);
            if (urls[*n]) {
                snprintf(urls[*n], len, "%s/ack/%s", a->public_url, tok);
                links[*n].url = urls[*n];
                links[*n].name = strdup(js(p, "name"));
                if (links[*n].name)
                    (*n)++;
                else
                    free(urls[*n]);
            }
            free(tok);
        }
    }
    json_decref(people);
    json_decref(tk);
    return 0;
}

/* The address inside "Name <a@b>", or the whole. */
static char *bare_address(const char *s)
{
    const char *lt = strchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char *out = malloc(strlen(s) + 3);
    if (!out)
        return NULL;
    if (lt && gt)
        snprintf(out, strlen(s) + 3, "<%.*s>", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, strlen(s) + 3, "<%s>", s);
    return out;
}

static int add_header(struct send *s, const char *fmt, const char *value)
{
    char line[512];
    snprintf(line, sizeof line, fmt, value);
    struct curl_slist *l = curl_slist_append(s->headers, line);
    if (!l)
        return -1;
    s->headers = l;
    return 0;
}

/* Build the request of one claimed message. */
static int send_setup(struct escp_alerts *a, struct escp_conn *c, struct send *s)
{
    int rc = -1;
    char *plain = a->cfg.open_secret ? a->cfg.open_secret(a->cfg.keys, js(s->ch, "sealed"), ji(s->ch, "id"))
                                     : NULL;
    json_t *secrets = plain ? json_loads(plain, 0, NULL) : NULL;
    struct escp_alert_link links[20];
    char *urls[20], ticket_url[512];
    size_t n_links = 0;
    if (plain)
        memset(plain, 0, strlen(plain));
    free(plain);
    if (!secrets)
        goto out;
    s->kind = escp_channel_kind_from_name(js(s->ch, "kind"));
    int64_t ticket = ji(s->msg, "ticket_id");
    if (ticket <= 0) /* a digest: its first item's ticket is not "the" ticket */
        ticket = 0;
    if (a->public_url && ticket)
        snprintf(ticket_url, sizeof ticket_url, "%s/console/#/ticket/%" PRId64, a->public_url, ticket);
    if (ack_links(a, c, s->msg, links, urls, &n_links) != 0)
        goto out;
    struct escp_alert al = {json_object_get(s->msg, "facts"), js(s->ch, "language"),
                            a->public_url && ticket ? ticket_url : NULL, links, n_links};
    const int64_t now = (int64_t)time(NULL);
    const char *secret = json_string_value(json_object_get(secrets, "secret"));
    if (!(s->easy = curl_easy_init()))
        goto out;
    CURL *e = s->easy;
    long timeout = a->cfg.timeout_ms, connect = timeout < 3000 ? timeout : 3000;
    s->guard.allow_private = a->cfg.allow_private_network;
    if (s->kind == ESCP_CH_SMTP) {
        json_t *smtp = json_object_get(json_object_get(s->ch, "config"), "smtp");
        const char *tls = js(smtp, "tls");
        char url[512], mid[96], date[64];
        snprintf(url, sizeof url, "%s://%s:%lld", strcmp(tls, "tls") == 0 ? "smtps" : "smtp", js(smtp, "host"),
                 (long long)ji(smtp, "port"));
        snprintf(mid, sizeof mid, "alert-%lld-%lld@escalated", (long long)ji(s->msg, "id"),
                 (long long)ji(s->msg, "attempts"));
        struct tm tm;
        time_t t = (time_t)now;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
        if (!(s->url = strdup(url)) ||
            !(s->body = escp_alert_mail(&al, js(smtp, "from"), json_object_get(smtp, "to"), date, mid)))
            goto out;
        s->body_len = strlen(s->body);
        char *from = bare_address(js(smtp, "from"));
        if (!from)
            goto out;
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
        free(from);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(smtp, "to"), i, v) {
            char rcpt[300];
            snprintf(rcpt, sizeof rcpt, "<%s>", json_string_value(v));
            struct curl_slist *l = curl_slist_append(s->rcpt, rcpt);
            if (!l)
                goto out;
            s->rcpt = l;
        }
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpt);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        if (strcmp(tls, "starttls") == 0)
            curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        if (*js(smtp, "username"))
            curl_easy_setopt(e, CURLOPT_USERNAME, js(smtp, "username"));
        const char *pw = json_string_value(json_object_get(secrets, "password"));
        if (pw)
            curl_easy_setopt(e, CURLOPT_PASSWORD, pw); /* libcurl copies it */
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, s);
        curl_easy_setopt(e, CURLOPT_INFILESIZE, (long)s->body_len);
    } else {
        const char *url = json_string_value(json_object_get(secrets, "url"));
        if (!url || escp_out_host_refused(url, s->guard.allow_private)) {
            s->guard.refused = 1;
            goto out;
        }
        if (!(s->body = escp_alert_body((enum escp_channel_kind)s->kind, &al, secret, now)))
            goto out;
        s->body_len = strlen(s->body);
        if (s->kind == ESCP_CH_DINGTALK && secret) { /* "加签": timestamp and sign in the URL */
            char sig[128];
            size_t len = strlen(url) + 200;
            if (escp_dingtalk_sign(secret, now * 1000, sig, sizeof sig) != 0 || !(s->url = malloc(len)))
                goto out;
            snprintf(s->url, len, "%s%stimestamp=%lld&sign=%s", url, strchr(url, '?') ? "&" : "?",
                     (long long)now * 1000, sig);
        } else if (!(s->url = strdup(url))) {
            goto out;
        }
        if (add_header(s, "%s", "Content-Type: application/json; charset=utf-8") || add_header(s, "%s", "Expect:"))
            goto out;
        if (s->kind == ESCP_CH_WEBHOOK) {
            char sig[ESC_WEBHOOK_SIGNATURE_LEN + 1], ts[24], id[24], att[16];
            snprintf(ts, sizeof ts, "%" PRId64, now);
            snprintf(id, sizeof id, "alert-%lld", (long long)ji(s->msg, "id"));
            snprintf(att, sizeof att, "%lld", (long long)ji(s->msg, "attempts"));
            if (!secret || esc_webhook_sign(secret, now, s->body, s->body_len, sig) != 0 ||
                add_header(s, "X-Escalated-Delivery: %s", id) || add_header(s, "X-Escalated-Event: %s", "alert") ||
                add_header(s, "X-Escalated-Timestamp: %s", ts) || add_header(s, "X-Escalated-Signature: %s", sig) ||
                add_header(s, "X-Escalated-Attempt: %s", att))
                goto out;
        }
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)s->body_len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "escalated/" ESC_VERSION);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_reply);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    }
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, escp_out_open_checked);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &s->guard);
    if (a->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    rc = 0;
out:
    for (size_t i = 0; i < n_links; i++) {
        free((char *)links[i].name);
        free(urls[i]);
    }
    json_decref(secrets);
    return rc;
}

static void send_free(struct send *s)
{
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    curl_slist_free_all(s->rcpt);
    free(s->body);
    free(s->url);
    escp_text_free(&s->reply);
}

/* What became of one send. */
static void send_record(struct escp_alerts *a, struct escp_conn *c, struct send *s)
{
    esc_error_t err = {0};
    const int64_t id = ji(s->msg, "id"), channel = ji(s->ch, "id");
    const int attempts = (int)ji(s->msg, "attempts");
    long status = 0;
    char why[128];
    int block_s = 0;
    enum escp_alert_outcome o;
    if (s->guard.refused) {
        snprintf(why, sizeof why, "destination address not allowed");
        o = ESCP_ALERT_REJECTED;
    } else if (!s->done) {
        snprintf(why, sizeof why, "the attempt could not be started");
        o = ESCP_ALERT_RETRY;
    } else if (s->result != CURLE_OK) {
        char detail[CURL_ERROR_SIZE * 4];
        const char *text = s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->result);
        escp_out_printable(text, strlen(text), detail, sizeof detail);
        log_info("alerts: message %" PRId64 " to channel %" PRId64 ": %s", id, channel, detail);
        snprintf(why, sizeof why, "%s", escp_out_failure_reason(s->result));
        o = s->kind == ESCP_CH_SMTP && (s->result == CURLE_LOGIN_DENIED || s->result == CURLE_SEND_FAIL_REWIND)
                ? ESCP_ALERT_REJECTED : ESCP_ALERT_RETRY;
        if (s->kind == ESCP_CH_SMTP && s->result == CURLE_SEND_ERROR)
            o = ESCP_ALERT_RETRY;
    } else if (s->kind == ESCP_CH_SMTP) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        snprintf(why, sizeof why, "SMTP %ld", status);
        o = ESCP_ALERT_OK;
    } else {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        o = escp_alert_reply((enum escp_channel_kind)s->kind, status, s->reply.p, s->reply.len, s->retry_after_s,
                             (int)ji(s->ch, "block_seconds"), &block_s, why, sizeof why);
    }
    if (o == ESCP_ALERT_OK) {
        int r = escp_store_alert_done(c, id, attempts, &err);
        if (r < 0)
            log_warn("alerts: message %" PRId64 " was sent, but recording it failed (%s); it will be sent again",
                     id, err.message);
        else if (r == 0)
            log_warn("alerts: message %" PRId64 " was taken over before its delivery was recorded", id);
        else
            log_info("alerts: sent message %" PRId64 " to %s channel %" PRId64 " (attempt %d, %s)", id,
                     js(s->ch, "kind"), channel, attempts, why);
        return;
    }
    if (o == ESCP_ALERT_BLOCKED) {
        char ids[32], reason[192];
        snprintf(ids, sizeof ids, "{%" PRId64 "}", id);
        snprintf(reason, sizeof reason, "%s: the platform refuses this robot for %d s", why, block_s);
        log_warn("alerts: channel %" PRId64 " (%s) is blocked by its platform for %d s (%s)", channel,
                 js(s->ch, "kind"), block_s, why);
        if (escp_begin(c, &err) == 0 && escp_store_alert_block(c, channel, block_s, &err) == 0 &&
            (ji(s->ch, "fallback_id") > 0 ? escp_store_alert_fallback(c, ids, channel, reason, &err) >= 0
                                           : escp_store_alert_defer(c, channel, block_s, &err) == 0 &&
                                                 escp_store_alert_hold(c, id, attempts, block_s, reason, &err) == 0))
            escp_commit(c, &err);
        if (err.code != ESC_OK) {
            log_warn("alerts: recording the block of channel %" PRId64 " failed (%s)", channel, err.message);
            escp_rollback(c);
        }
        return;
    }
    int final = 0, max = o == ESCP_ALERT_REJECTED ? attempts : a->cfg.max_attempts;
    double delay = esc_webhook_backoff(attempts, a->cfg.backoff_base_ms / 1000.0, a->cfg.backoff_cap_ms / 1000.0,
                                       escp_out_uniform01());
    int r = escp_store_alert_fail(c, id, attempts, why, max, delay, &final, &err);
    if (r < 0)
        log_warn("alerts: recording the failure of message %" PRId64 " failed (%s)", id, err.message);
    else if (final)
        log_warn("alerts: message %" PRId64 " to channel %" PRId64 " failed after %d attempts (%s)%s", id, channel,
                 attempts, why, ji(s->ch, "fallback_id") > 0 ? "; sent to the fallback channel" : "");
    else if (r > 0)
        log_info("alerts: attempt %d of message %" PRId64 " failed (%s); next in %.1f s", attempts, id, why, delay);
}

static void send_all(struct escp_alerts *a, struct escp_conn *c, struct send *s, int n)
{
    CURLM *multi = curl_multi_init();
    if (!multi)
        return;
    for (int i = 0; i < n; i++) {
        if (send_setup(a, c, &s[i]) != 0 || curl_multi_add_handle(multi, s[i].easy) != CURLM_OK) {
            curl_easy_cleanup(s[i].easy);
            s[i].easy = NULL;
        }
    }
    int running = 0;
    do {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running && curl_multi_poll(multi, NULL, 0, 200, NULL) != CURLM_OK)
            break;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                struct send *x = NULL;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                if (x) {
                    x->done = 1;
                    x->result = m->data.result;
                }
            }
    } while (running);
    for (int i = 0; i < n; i++) {
        if (s[i].easy)
            curl_multi_remove_handle(multi, s[i].easy);
        send_record(a, c, &s[i]);
        send_free(&s[i]);
    }
    curl_multi_cleanup(multi);
}

/* ---- one pass ---- */

static void ids_of(json_t *msgs, char *out, size_t cap)
{
    size_t o = 0, i;
    json_t *m;
    out[o++] = '{';
    json_array_foreach(msgs, i, m) {
        int w = snprintf(out + o, cap - o, "%s%lld", i ? "," : "", (long long)ji(m, "id"));
        if (w < 0 || (size_t)w >= cap - o - 2)
            break;
        o += (size_t)w;
    }
    out[o++] = '}';
    out[o] = '\0';
}

/* Decide for each locked channel; fill `out` (an array of [channel, message]
 * pairs to send).  Inside the pass's transaction. */
static int plan_channel(struct escp_alerts *a, struct escp_conn *c, json_t *ch, json_t *out, esc_error_t *err)
{
    const int64_t id = ji(ch, "id");
    json_t *msgs = escp_store_alert_pending(c, id, PER_CHANNEL, err);
    if (!msgs)
        return -1;
    int rc = 0;
    size_t n = json_array_size(msgs);
    char *ids = malloc(n * 21 + 3);
    if (!ids) {
        json_decref(msgs);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    ids_of(msgs, ids, n * 21 + 3);
    const double blocked = json_number_value(json_object_get(ch, "blocked_s"));
    const long quota = (long)(ji(ch, "rate_count") - ji(ch, "recent"));
    if (n == 0) {
        rc = 0;
    } else if (blocked > 0) {
        if (ji(ch, "fallback_id") > 0)
            rc = escp_store_alert_fallback(c, ids, id, "the channel is blocked by its platform", err) < 0 ? -1 : 0;
        else
            rc = escp_store_alert_defer(c, id, blocked, err);
    } else if (quota <= 0) {
        double free_s = json_number_value(json_object_get(ch, "window_free_s"));
        rc = escp_store_alert_defer(c, id, free_s > 0 ? free_s + 0.01 : 0.05, err);
    } else {
        json_t *claimed;
        long digest_after = (long)ji(ch, "digest_after");
        if ((long)n <= quota && (long)n <= digest_after) {
            claimed = escp_store_alert_claim(c, ids, a->lease_s, err);
        } else {
            json_t *d = escp_store_alert_fold(c, ids, id, a->lease_s, err);
            claimed = d ? json_pack("[o]", d) : NULL;
            if (d)
                log_info("alerts: %zu messages for channel %" PRId64 " folded into digest %" JSON_INTEGER_FORMAT,
                         n, id, ji(d, "id"));
        }
        if (!claimed || escp_store_alert_reserve(c, id, (int)json_array_size(claimed), err) != 0) {
            json_decref(claimed);
            rc = -1;
        } else {
            size_t i;
            json_t *m;
            json_array_foreach(claimed, i, m) json_array_append_new(out, json_pack("[O,O]", ch, m));
            json_decref(claimed);
        }
    }
    free(ids);
    json_decref(msgs);
    return rc;
}

static double pass(struct escp_alerts *a, struct escp_conn *c, esc_error_t *err)
{
    double wait_s = a->cfg.max_sleep_ms / 1000.0, next = 0;
    bool none = true;
    json_t *todo = json_array(), *chans = NULL;
    if (escp_begin(c, err) != 0 || !(chans = escp_store_alert_channels(c, CHANNELS, err)))
        goto fail;
    size_t i;
    json_t *ch;
    json_array_foreach(chans, i, ch) if (plan_channel(a, c, ch, todo, err) != 0) goto fail;
    if (escp_commit(c, err) != 0)
        goto fail;
    size_t n = json_array_size(todo);
    if (n) {
        struct send *s = calloc(n, sizeof *s);
        if (s) {
            json_t *pair;
            json_array_foreach(todo, i, pair) {
                s[i].ch = json_array_get(pair, 0);
                s[i].msg = json_array_get(pair, 1);
            }
            send_all(a, c, s, (int)n);
            free(s);
        }
    }
    json_decref(todo);
    if (json_array_size(chans) == CHANNELS) {
        json_decref(chans);
        return 0; /* more channels may have work */
    }
    json_decref(chans);
    if (escp_store_alert_next(c, &next, &none, err) != 0)
        return 1.0;
    if (!none && next < wait_s)
        wait_s = next > 0 ? next : 0.01;
    return wait_s;
fail:
    escp_rollback(c);
    json_decref(todo);
    json_decref(chans);
    return 1.0;
}

/* ---- the thread ---- */

static int stopping(struct escp_alerts *a)
{
    pthread_mutex_lock(&a->mu);
    int s = a->stop;
    pthread_mutex_unlock(&a->mu);
    return s;
}

static void *run(void *arg)
{
    struct escp_alerts *a = arg;
    struct escp_conn *c = NULL;
    while (!stopping(a)) {
        esc_error_t err = {0};
        double wait_s = 1.0;
        if (!escp_conn_ok(c)) {
            escp_conn_close(c);
            c = escp_conn_open(a->conninfo, &err);
            if (c)
                log_info("alert worker connected");
        }
        if (c) {
            wait_s = pass(a, c, &err);
            if (err.code != ESC_OK)
                log_warn("alert worker: %s; retrying", err.message);
        }
        pthread_mutex_lock(&a->mu);
        if (wait_s > 0) {
            struct timespec until = escp_mono_after(wait_s);
            while (!a->stop && !a->poked)
                if (pthread_cond_timedwait(&a->cv, &a->mu, &until) != 0)
                    break;
        }
        a->poked = 0;
        pthread_mutex_unlock(&a->mu);
    }
    escp_conn_close(c);
    return NULL;
}

struct escp_alerts *escp_alerts_start(const char *conninfo, const struct escp_alerts_config *cfg,
                                      esc_error_t *err)
{
    struct escp_alerts *a = calloc(1, sizeof *a);
    if (!a || !(a->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(a);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    if (cfg->public_url && *cfg->public_url) {
        a->public_url = strdup(cfg->public_url);
        size_t n = a->public_url ? strlen(a->public_url) : 0;
        while (n > 0 && a->public_url[n - 1] == '/')
            a->public_url[--n] = '\0';
    }
    if (cfg->ca_file && *cfg->ca_file)
        a->ca_file = strdup(cfg->ca_file);
    a->cfg.public_url = a->cfg.ca_file = NULL;
    if (a->cfg.max_attempts <= 0)
        a->cfg.max_attempts = 5;
    if (a->cfg.backoff_base_ms <= 0)
        a->cfg.backoff_base_ms = 5000;
    if (a->cfg.backoff_cap_ms < a->cfg.backoff_base_ms)
        a->cfg.backoff_cap_ms = a->cfg.backoff_base_ms < 300000 ? 300000 : a->cfg.backoff_base_ms;
    if (a->cfg.timeout_ms <= 0)
        a->cfg.timeout_ms = 10000;
    if (a->cfg.max_sleep_ms <= 0)
        a->cfg.max_sleep_ms = 1000;
    if (a->cfg.ack_link_ttl_s <= 0)
        a->cfg.ack_link_ttl_s = 3600;
    a->lease_s = 2.0 * a->cfg.timeout_ms / 1000.0 + 5.0;
    pthread_mutex_init(&a->mu, NULL);
    escp_cond_init_mono(&a->cv);
    if (pthread_create(&a->thread, NULL, run, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        free(a->public_url);
        free(a->ca_file);
        free(a->conninfo);
        free(a);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "cannot start the alert worker thread");
        return NULL;
    }
    return a;
}

void escp_alerts_stop(struct escp_alerts *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->public_url);
    free(a->ca_file);
    free(a->conninfo);
    free(a);
}

void escp_alerts_poke(struct escp_alerts *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->poked = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}
