/* alert.c — alert texts, platform bodies, signatures and answers (alert.h). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "core/alert.h"

const char *const escp_channel_kind_names[ESCP_CH__COUNT] = {
    [ESCP_CH_WEBHOOK] = "webhook", [ESCP_CH_WECOM] = "wecom", [ESCP_CH_DINGTALK] = "dingtalk",
    [ESCP_CH_FEISHU] = "feishu",   [ESCP_CH_SLACK] = "slack", [ESCP_CH_SMTP] = "smtp"};

int escp_channel_kind_from_name(const char *s)
{
    for (int k = 0; s && k < ESCP_CH__COUNT; k++)
        if (strcmp(s, escp_channel_kind_names[k]) == 0)
            return k;
    return -1;
}

struct escp_channel_limits escp_channel_default_limits(enum escp_channel_kind kind)
{
    switch (kind) {
    case ESCP_CH_WECOM:
        return (struct escp_channel_limits){20, 60, 60};
    case ESCP_CH_DINGTALK:
        return (struct escp_channel_limits){20, 60, 600};
    case ESCP_CH_FEISHU:
        return (struct escp_channel_limits){100, 60, 60};
    case ESCP_CH_SLACK:
        return (struct escp_channel_limits){60, 60, 60};
    case ESCP_CH_SMTP:
    case ESCP_CH_WEBHOOK:
    default:
        return (struct escp_channel_limits){60, 60, 0};
    }
}

/* The text written (escp_text_take wants somewhere to put the length). */
static char *take(struct escp_text *t)
{
    size_t len;
    return escp_text_take(t, &len);
}

/* ---- the words ---- */

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

struct words {
    const char *ack, *resolve, *callback, *promise, *action, *at_risk, *major, *test, *digest,
        *ticket, *tier, *severity, *due, *resolve_due, *open, *ack_link, *ladder, *round, *normal,
        *major_sev, *more, *line[4];
};
static const struct words ZH = {
    "投诉受理超时", "投诉解决超时", "回访超时", "承诺时间已过", "整改措施逾期", "即将超时",
    "重大投诉", "测试消息", "条提醒汇总", "工单", "线别", "严重程度", "时限", "解决时限",
    "处理", "一键受理", "第 %d/%d 级提醒", "（第 %d/%d 轮）", "一般", "重大", "……另有 %d 条",
    {"", "一线", "二线", "三线"}};
static const struct words EN = {
    "Acknowledgement overdue", "Resolution overdue", "Callback overdue", "Promised time missed",
    "Corrective action overdue", "At risk", "Major complaint", "Test message", "alerts",
    "Ticket", "Line", "Severity", "Due", "Resolve by", "Open", "Acknowledge",
    "step %d of %d", " (round %d of %d)", "normal", "major", "... and %d more",
    {"", "line 1", "line 2", "line 3"}};

static const char *tier_word(const struct words *w, const char *tier)
{
    if (strncmp(tier, "line-", 5) == 0 && tier[5] >= '1' && tier[5] <= '3' && !tier[6])
        return w->line[tier[5] - '0'];
    return tier;
}

/* What happened, in a few words. */
static const char *what(const struct words *w, const json_t *f)
{
    const char *type = str(f, "type");
    const char *kind = str(f, "kind");
    if (strcmp(type, "ladder") == 0) {
        const char *ev = str(f, "event");
        if (strcmp(ev, "ack_breach") == 0)
            return w->ack;
        if (strcmp(ev, "resolve_breach") == 0)
            return w->resolve;
        if (strcmp(ev, "at_risk") == 0)
            return w->at_risk;
        return w->major;
    }
    if (strcmp(type, "breached") == 0) {
        if (strcmp(kind, "ack") == 0)
            return w->ack;
        if (strcmp(kind, "resolve") == 0)
            return w->resolve;
        if (strcmp(kind, "callback") == 0)
            return w->callback;
        if (strcmp(kind, "promise") == 0)
            return w->promise;
        if (strcmp(kind, "action") == 0)
            return w->action;
        return w->resolve;
    }
    if (strcmp(type, "at_risk") == 0)
        return w->at_risk;
    if (strcmp(type, "major_created") == 0)
        return w->major;
    return w->test;
}

enum style { MD, SLACK, PLAIN };

static void link(struct escp_text *t, enum style s, const char *label, const char *url)
{
    if (s == MD)
        escp_text_printf(t, "[%s](%s)", label, url);
    else if (s == SLACK)
        escp_text_printf(t, "<%s|%s>", url, label);
    else
        escp_text_printf(t, "%s: %s", label, url);
}

/* One ticket's lines. */
static void ticket_lines(struct escp_text *t, enum style s, const struct words *w, const json_t *f,
                         int zh)
{
    const char *bullet = s == PLAIN ? "" : "- ";
    json_int_t id = json_integer_value(json_object_get(f, "ticket_id"));
    const char *sev = str(f, "severity");
    if (id > 0)
        escp_text_printf(t, "%s%s #%lld%s%s\n", bullet, w->ticket, (long long)id, zh ? "：" : ": ",
                         str(f, "subject"));
    if (*str(f, "tier"))
        escp_text_printf(t, "%s%s%s%s · %s%s%s\n", bullet, w->tier, zh ? "：" : ": ",
                         tier_word(w, str(f, "tier")), w->severity, zh ? "：" : ": ",
                         strcmp(sev, "major") == 0 ? w->major_sev : w->normal);
    const char *due = *str(f, "due_at") ? str(f, "due_at") : str(f, "ack_due_at");
    if (*due)
        escp_text_printf(t, "%s%s%s%s (UTC)\n", bullet, w->due, zh ? "：" : ": ", due);
    if (*str(f, "resolve_due_at") && strcmp(str(f, "type"), "at_risk") == 0)
        escp_text_printf(t, "%s%s%s%s (UTC)\n", bullet, w->resolve_due, zh ? "：" : ": ",
                         str(f, "resolve_due_at"));
}

static char *render(const struct escp_alert *a, enum style s, const char *title)
{
    const int zh = a->lang && strcmp(a->lang, "en") != 0;
    const struct words *w = zh ? &ZH : &EN;
    const json_t *f = a->facts;
    struct escp_text t = {0};
    if (s == MD)
        escp_text_printf(&t, "### %s\n", title);
    else if (s == SLACK)
        escp_text_printf(&t, "*%s*\n", title);
    else
        escp_text_printf(&t, "%s\n\n", title);
    if (strcmp(str(f, "type"), "digest") == 0) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(f, "items"), i, item) {
            escp_text_printf(&t, "%s%s — ", s == PLAIN ? "" : "- ", what(w, item));
            json_int_t id = json_integer_value(json_object_get(item, "ticket_id"));
            escp_text_printf(&t, "#%lld %s\n", (long long)id, str(item, "subject"));
        }
        json_int_t folded = json_integer_value(json_object_get(f, "folded"));
        json_int_t shown = (json_int_t)json_array_size(json_object_get(f, "items"));
        if (folded > shown) {
            escp_text_printf(&t, w->more, (int)(folded - shown));
            escp_text_put(&t, "\n", 1);
        }
    } else {
        ticket_lines(&t, s, w, f, zh);
    }
    if (a->ticket_url) {
        escp_text_put(&t, "\n", 1);
        link(&t, s, w->open, a->ticket_url);
        escp_text_put(&t, "\n", 1);
    }
    for (size_t i = 0; i < a->n_acks; i++) {
        escp_text_put(&t, "\n", 1);
        char label[256];
        snprintf(label, sizeof label, zh ? "%s（%s）" : "%s (%s)", w->ack_link, a->acks[i].name);
        link(&t, s, label, a->acks[i].url);
    }
    if (a->n_acks)
        escp_text_put(&t, "\n", 1);
    return take(&t);
}

int escp_alert_text(const struct escp_alert *a, char **title, char **markdown, char **slack,
                    char **plain)
{
    const int zh = a->lang && strcmp(a->lang, "en") != 0;
    const struct words *w = zh ? &ZH : &EN;
    const json_t *f = a->facts;
    struct escp_text t = {0};
    if (strcmp(str(f, "type"), "digest") == 0) {
        json_int_t n = json_integer_value(json_object_get(f, "folded"));
        escp_text_printf(&t, zh ? "【escalated】%lld %s" : "[escalated] %lld %s", (long long)n, w->digest);
    } else {
        escp_text_printf(&t, zh ? "【%s】" : "[%s] ", what(w, f));
        json_int_t id = json_integer_value(json_object_get(f, "ticket_id"));
        if (id > 0)
            escp_text_printf(&t, "#%lld %s", (long long)id, str(f, "subject"));
        if (strcmp(str(f, "type"), "ladder") == 0) {
            escp_text_put(&t, " · ", strlen(" · "));
            escp_text_printf(&t, w->ladder, (int)json_integer_value(json_object_get(f, "step")),
                             (int)json_integer_value(json_object_get(f, "steps")));
            if (json_integer_value(json_object_get(f, "repeat")) > 1)
                escp_text_printf(&t, w->round, (int)json_integer_value(json_object_get(f, "round")),
                                 (int)json_integer_value(json_object_get(f, "repeat")));
        }
    }
    char *ti = take(&t);
    if (!ti)
        return -1;
    int rc = 0;
    if (markdown && !(*markdown = render(a, MD, ti)))
        rc = -1;
    if (slack && !(*slack = render(a, SLACK, ti)))
        rc = -1;
    if (plain && !(*plain = render(a, PLAIN, ti)))
        rc = -1;
    if (title)
        *title = ti;
    else
        free(ti);
    return rc;
}

/* ---- signatures ---- */

static int hmac_b64(const void *key, size_t klen, const void *msg, size_t mlen, char *out, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, md, &mdlen) || cap < 4 * ((mdlen + 2) / 3) + 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    return 0;
}

int escp_dingtalk_sign(const char *secret, int64_t ts_ms, char *out, size_t cap)
{
    char msg[512], b64[64];
    int n = snprintf(msg, sizeof msg, "%lld\n%s", (long long)ts_ms, secret);
    if (n < 0 || (size_t)n >= sizeof msg || hmac_b64(secret, strlen(secret), msg, (size_t)n, b64, sizeof b64))
        return -1;
    /* percent-encode what base64 has that a query may not: + / = */
    size_t o = 0;
    for (const char *p = b64; *p; p++) {
        if (o + 4 > cap)
            return -1;
        if (*p == '+' || *p == '/' || *p == '=')
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", (unsigned char)*p);
        else
            out[o++] = *p;
    }
    out[o] = '\0';
    return 0;
}

int escp_feishu_sign(const char *secret, int64_t ts_s, char *out, size_t cap)
{
    char key[512];
    int n = snprintf(key, sizeof key, "%lld\n%s", (long long)ts_s, secret);
    if (n < 0 || (size_t)n >= sizeof key)
        return -1;
    return hmac_b64(key, (size_t)n, "", 0, out, cap);
}

/* ---- bodies ---- */

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *escp_alert_body(enum escp_channel_kind kind, const struct escp_alert *a, const char *secret,
                      int64_t now_s)
{
    char *title = NULL, *md = NULL, *sl = NULL, *plain = NULL, *out = NULL;
    if (escp_alert_text(a, &title, &md, &sl, &plain) != 0)
        goto out;
    switch (kind) {
    case ESCP_CH_WECOM:
        out = dump(json_pack("{s:s,s:{s:s}}", "msgtype", "markdown", "markdown", "content", md));
        break;
    case ESCP_CH_DINGTALK:
        out = dump(json_pack("{s:s,s:{s:s,s:s}}", "msgtype", "markdown", "markdown", "title", title,
                             "text", md));
        break;
    case ESCP_CH_FEISHU: {
        json_t *o = json_pack("{s:s,s:{s:s}}", "msg_type", "text", "content", "text", plain);
        if (o && secret && *secret) {
            char sig[64], ts[24];
            snprintf(ts, sizeof ts, "%lld", (long long)now_s);
            if (escp_feishu_sign(secret, now_s, sig, sizeof sig) != 0) {
                json_decref(o);
                goto out;
            }
            json_object_set_new(o, "timestamp", json_string(ts));
            json_object_set_new(o, "sign", json_string(sig));
        }
        out = dump(o);
        break;
    }
    case ESCP_CH_SLACK:
        out = dump(json_pack("{s:s}", "text", sl));
        break;
    case ESCP_CH_WEBHOOK: {
        json_t *acks = json_array();
        for (size_t i = 0; acks && i < a->n_acks; i++)
            json_array_append_new(acks, json_pack("{s:s,s:s}", "name", a->acks[i].name, "url", a->acks[i].url));
        out = dump(json_pack("{s:s,s:O,s:s,s:s,s:s?,s:o}", "type", "alert", "facts", a->facts, "title",
                             title, "text", plain, "ticket_url", a->ticket_url, "ack_links", acks));
        break;
    }
    default:
        break;
    }
out:
    free(title);
    free(md);
    free(sl);
    free(plain);
    return out;
}

static void b64_lines(struct escp_text *t, const char *s, size_t n)
{
    /* 57 bytes in, 76 characters out: the line length RFC 2045 asks for */
    char line[80];
    for (size_t i = 0; i < n; i += 57) {
        size_t k = n - i < 57 ? n - i : 57;
        EVP_EncodeBlock((unsigned char *)line, (const unsigned char *)s + i, (int)k);
        escp_text_printf(t, "%s\r\n", line);
    }
}

char *escp_alert_mail(const struct escp_alert *a, const char *from, const json_t *to,
                      const char *date_rfc5322, const char *message_id)
{
    char *title = NULL, *plain = NULL;
    if (escp_alert_text(a, &title, NULL, NULL, &plain) != 0) {
        free(title);
        free(plain);
        return NULL;
    }
    struct escp_text t = {0};
    escp_text_printf(&t, "From: %s\r\nTo: ", from);
    size_t i;
    json_t *v;
    json_array_foreach(to, i, v) escp_text_printf(&t, "%s%s", i ? ", " : "", json_string_value(v));
    /* the subject as an RFC 2047 encoded word per chunk of whole characters */
    escp_text_printf(&t, "\r\nSubject:");
    size_t n = strlen(title), at = 0;
    while (at < n) {
        size_t k = n - at < 45 ? n - at : 45;
        while (at + k < n && ((unsigned char)title[at + k] & 0xC0) == 0x80)
            k--; /* do not cut a UTF-8 sequence */
        char enc[80];
        EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)title + at, (int)k);
        escp_text_printf(&t, "%s=?UTF-8?B?%s?=", at ? "\r\n " : " ", enc);
        at += k;
    }
    escp_text_printf(&t, "\r\nDate: %s\r\nMessage-ID: <%s>\r\nAuto-Submitted: auto-generated\r\n"
                         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\n",
                     date_rfc5322, message_id);
    b64_lines(&t, plain, strlen(plain));
    free(title);
    free(plain);
    return take(&t);
}

/* ---- answers ---- */

static json_int_t code_of(const char *body, size_t len, const char *const *keys, int *found)
{
    json_t *o = json_loadb(body ? body : "", len, 0, NULL);
    json_int_t code = 0;
    *found = 0;
    for (const char *const *k = keys; o && *k; k++) {
        json_t *v = json_object_get(o, *k);
        if (json_is_integer(v)) {
            code = json_integer_value(v);
            *found = 1;
            break;
        }
    }
    json_decref(o);
    return code;
}

enum escp_alert_outcome escp_alert_reply(enum escp_channel_kind kind, long status, const char *body,
                                         size_t len, int retry_after_s, int block_seconds,
                                         int *block_s, char *why, size_t cap)
{
    static const char *const wecom_keys[] = {"errcode", NULL};
    static const char *const feishu_keys[] = {"code", "StatusCode", NULL};
    *block_s = retry_after_s > 0 ? retry_after_s : (block_seconds > 0 ? block_seconds : 60);
    if (status == 0) {
        snprintf(why, cap, "no answer");
        return ESCP_ALERT_RETRY;
    }
    if (status == 429) {
        snprintf(why, cap, "HTTP 429: rate limited");
        return ESCP_ALERT_BLOCKED;
    }
    if (status >= 500) {
        snprintf(why, cap, "HTTP %ld", status);
        return ESCP_ALERT_RETRY;
    }
    if (status < 200 || status >= 300) {
        snprintf(why, cap, "HTTP %ld", status);
        return ESCP_ALERT_REJECTED;
    }
    int found;
    json_int_t code;
    switch (kind) {
    case ESCP_CH_WECOM:
    case ESCP_CH_DINGTALK:
        code = code_of(body, len, wecom_keys, &found);
        if (!found) {
            snprintf(why, cap, "HTTP %ld without an errcode", status);
            return ESCP_ALERT_RETRY;
        }
        if (code == 0)
            break;
        snprintf(why, cap, "errcode %lld", (long long)code);
        /* WeCom 45009 and DingTalk 130101: sent too fast (DingTalk then
         * blocks the robot for 10 minutes) */
        if ((kind == ESCP_CH_WECOM && code == 45009) || (kind == ESCP_CH_DINGTALK && code == 130101))
            return ESCP_ALERT_BLOCKED;
        if (code == -1) /* "system busy" on both */
            return ESCP_ALERT_RETRY;
        return ESCP_ALERT_REJECTED;
    case ESCP_CH_FEISHU:
        code = code_of(body, len, feishu_keys, &found);
        if (!found) {
            snprintf(why, cap, "HTTP %ld without a code", status);
            return ESCP_ALERT_RETRY;
        }
        if (code == 0)
            break;
        snprintf(why, cap, "code %lld", (long long)code);
        if (code == 9499 || code == 11232) /* too many requests / frequency limited */
            return ESCP_ALERT_BLOCKED;
        return ESCP_ALERT_REJECTED;
    default:
        break;
    }
    snprintf(why, cap, "HTTP %ld", status);
    return ESCP_ALERT_OK;
}
