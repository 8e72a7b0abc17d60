/* escalated — the pure parts of alerts to chat and mail (docs/channels.md):
 * the kinds of channel and the limits of their platforms, the readable text
 * of an alert in Chinese or English, the request body each platform
 * expects, the signatures DingTalk and Feishu check, and how to read a
 * platform's answer.  PURE: no clock (times are arguments), no I/O.
 *
 * Facts (a JSON object, masked before it gets here) say what happened:
 *   type       "breached" | "at_risk" | "major_created" | "ladder" | "test" | "digest"
 *   kind       for breached: "ack" | "resolve" | "callback" | "promise" | "action"
 *   event      for ladder: "ack_breach" | "resolve_breach" | "at_risk" | "major_created"
 *   round, step, steps, repeat   for ladder
 *   ticket_id, tier ("line-2"), severity, subject, due_at / resolve_due_at
 *   items      for digest: the facts folded into it (the first ones)
 *   folded     for digest: how many were folded
 */
#ifndef ESCALATED_ALERT_H
#define ESCALATED_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum escp_channel_kind {
    ESCP_CH_WEBHOOK,  /* generic, signed as the webhooks are (core/webhook_sign.h) */
    ESCP_CH_WECOM,    /* WeCom (企业微信) group robot */
    ESCP_CH_DINGTALK, /* DingTalk (钉钉) custom robot, "加签" signature */
    ESCP_CH_FEISHU,   /* Feishu / Lark custom bot, signature check on */
    ESCP_CH_SLACK,    /* Slack-compatible incoming webhook */
    ESCP_CH_SMTP,     /* e-mail over SMTP (STARTTLS) */
    ESCP_CH__COUNT
};
extern const char *const escp_channel_kind_names[ESCP_CH__COUNT];
int escp_channel_kind_from_name(const char *s); /* -1 when unknown */

/* What each platform allows: `count` messages per `seconds`, and how long it
 * refuses a robot that sent more (0 = it does not).  WeCom and DingTalk: 20
 * a minute per robot, DingTalk then blocks the robot for 10 minutes; Feishu:
 * 100 a minute (and 5 a second); Slack: about one a second.  Mail has no
 * platform limit; 60 a minute keeps a relay's own limits happy. */
struct escp_channel_limits {
    int count, seconds, block_seconds;
};
struct escp_channel_limits escp_channel_default_limits(enum escp_channel_kind kind);

/* A one-click acknowledgement link for one person. */
struct escp_alert_link {
    const char *name;
    const char *url;
};

struct escp_alert {
    const json_t *facts;
    const char *lang;        /* "zh" or "en" */
    const char *ticket_url;  /* the ticket in the console, or NULL */
    const struct escp_alert_link *acks;
    size_t n_acks;
};

/* The title (one line) and the text, as Markdown (WeCom, DingTalk), Slack's
 * mrkdwn and plain text (Feishu's text message, mail); each malloc'd, NULL
 * when not wanted.  -1 on out of memory. */
int escp_alert_text(const struct escp_alert *a, char **title, char **markdown, char **slack,
                    char **plain);

/* The JSON body to POST to a chat platform (not smtp), malloc'd.  Feishu's
 * carries its signature when secret is set (now_s: the Unix time); the
 * generic webhook's body carries the facts and the texts. */
char *escp_alert_body(enum escp_channel_kind kind, const struct escp_alert *a, const char *secret,
                      int64_t now_s);

/* DingTalk's "加签": base64(HMAC-SHA256(secret, "<ts_ms>\n<secret>")),
 * percent-encoded for the URL's `sign` parameter.  Feishu's: base64 of
 * HMAC-SHA256 keyed with "<ts_s>\n<secret>" over nothing.  out[cap]; 0 or -1. */
int escp_dingtalk_sign(const char *secret, int64_t ts_ms, char *out, size_t cap);
int escp_feishu_sign(const char *secret, int64_t ts_s, char *out, size_t cap);

/* A mail (RFC 5322, UTF-8, base64 body) with the alert's title and plain
 * text; date_rfc5322 like "Sun, 06 Dec 2026 04:20:00 +0000"; message_id
 * without the angle brackets.  malloc'd. */
char *escp_alert_mail(const struct escp_alert *a, const char *from, const json_t *to,
                      const char *date_rfc5322, const char *message_id);

enum escp_alert_outcome {
    ESCP_ALERT_OK,       /* delivered */
    ESCP_ALERT_RETRY,    /* try again later (network, 5xx) */
    ESCP_ALERT_BLOCKED,  /* the platform refuses for a while (rate): *block_s */
    ESCP_ALERT_REJECTED  /* it will not take this (bad key, bad signature): fall back */
};
/* Read a platform's answer (HTTP status, 0 when none came; the body).
 * why[cap] gets a short printable reason; *block_s the seconds to hold the
 * channel for BLOCKED (retry_after_s from a Retry-After header, else the
 * channel's block_seconds, else 60). */
enum escp_alert_outcome escp_alert_reply(enum escp_channel_kind kind, long status, const char *body,
                                         size_t len, int retry_after_s, int block_seconds,
                                         int *block_s, char *why, size_t cap);

#endif
