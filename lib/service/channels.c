/* channels.c — notification channels, escalation ladders and one-click
 * acknowledgement links: the use cases of /v1/channels, /v1/ladders and
 * /ack/{token} (docs/channels.md), and the two things the alert worker asks
 * of the data key (a channel's secret, a link's signature).
 *
 * A channel's secrets (the robot URL with its key, the signing secret, the
 * mail password) are sealed with the data key, bound to the channel's id,
 * and never shown again after the create; the API shows `target`, the URL
 * with its key masked. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/datakey.h"
#include "base/log.h"
#include "core/alert.h"
#include "core/mask.h"
#include "core/validate.h"
#include "db/db.h"
#include "service/service.h"
#include "workers/workers.h"

#define ACK_LINK_KIND "acklink"

/* ---- helpers ---- */

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A string field: absent/null -> NULL; present and not a string of
 * 1..max characters -> validation error. */
static int opt_text(const json_t *o, const char *k, const char *field, size_t max, const char **out,
                    esc_error_t *err)
{
    json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    size_t n = json_is_string(v) ? esc_utf8_length(json_string_value(v)) : 0;
    if (!json_is_string(v) || n < 1 || n > max) {
        esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be a string of 1 to %zu characters", field, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int opt_int(const json_t *o, const char *k, const char *field, long lo, long hi, long *out,
                   esc_error_t *err)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be an integer from %ld to %ld", field, lo, hi);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

/* The URL for the API: scheme://host/path with its key masked -- query
 * values, and path segments long enough to be keys (Feishu's hook id,
 * Slack's token), cut to their first 4 characters. */
static char *mask_url(const char *url)
{
    size_t n = strlen(url);
    /* each separator may add "***" to the segment after it: at most 4n */
    char *out = malloc(4 * n + 1);
    if (!out)
        return NULL;
    const char *p = strstr(url, "://");
    size_t o = 0, i = p ? (size_t)(p - url) + 3 : 0;
    memcpy(out, url, i);
    o = i;
    while (i < n && url[i] != '/' && url[i] != '?') /* the host */
        out[o++] = url[i++];
    while (i < n) {
        if (url[i] == '/' || url[i] == '?' || url[i] == '&' || url[i] == '=') {
            char sep = url[i];
            out[o++] = url[i++];
            size_t start = i;
            while (i < n && url[i] != '/' && url[i] != '?' && url[i] != '&' && url[i] != '=')
                i++;
            size_t len = i - start;
            int secretish = sep == '=' || len >= 16;
            size_t keep = secretish ? (len < 4 ? len : 4) : len;
            memcpy(out + o, url + start, keep);
            o += keep;
            if (secretish && len > keep) {
                memcpy(out + o, "***", 3);
                o += 3;
            }
        } else {
            out[o++] = url[i++];
        }
    }
    out[o] = '\0';
    return out;
}

/* "{a,b}" from a JSON array of allowed names; NULL array -> dflt. */
static int name_list(const json_t *arr, const char *field, const char *const *allowed, int n_allowed,
                     int as_tier, const char *dflt, char *out, size_t cap, esc_error_t *err)
{
    if (!arr || json_is_null(arr)) {
        snprintf(out, cap, "%s", dflt);
        return 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) > 16)
        goto bad;
    size_t o = 0, i;
    json_t *v;
    out[o++] = '{';
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        int k = -1;
        for (int a = 0; s && a < n_allowed; a++)
            if (strcmp(s, allowed[a]) == 0)
                k = a;
        if (k < 0)
            goto bad;
        int w = as_tier ? snprintf(out + o, cap - o, "%s%d", i ? "," : "", esc_tier_from_name(s))
                        : snprintf(out + o, cap - o, "%s%s", i ? "," : "", s);
        if (w < 0 || (size_t)w >= cap - o - 2)
            goto bad;
        o += (size_t)w;
    }
    out[o++] = '}';
    out[o] = '\0';
    return 0;
bad:
    esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be a list of: %s%s%s", field, allowed[0],
                  n_allowed > 1 ? ", " : "", n_allowed > 1 ? allowed[1] : "");
    return -1;
}

/* ---- channels ---- */

static const char *const KEYS_COMMON[] = {"name", "kind", "language", "event_types", "tiers",
                                          "rate_limit", "block_seconds", "digest_after",
                                          "fallback_channel_id", "url", "secret", "smtp", NULL};

/* The SMTP settings: config (what is shown) and the password (sealed). */
static int smtp_settings(json_t *smtp, json_t **config, const char **password, char *target,
                         size_t cap, esc_error_t *err)
{
    static const char *const keys[] = {"host", "port", "tls", "username", "password", "from", "to", NULL};
    const char *host, *tls = "starttls", *user, *from;
    long port = 587;
    if (!json_is_object(smtp)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "smtp", "smtp is required for an smtp channel: "
                      "{host, port, tls, username, password, from, to}");
        return -1;
    }
    if (escp_only_keys(smtp, keys, "smtp.", err) != 0 ||
        opt_text(smtp, "host", "smtp.host", 253, &host, err) != 0 ||
        opt_int(smtp, "port", "smtp.port", 1, 65535, &port, err) != 0 ||
        opt_text(smtp, "tls", "smtp.tls", 16, &tls, err) != 0 ||
        opt_text(smtp, "username", "smtp.username", 256, &user, err) != 0 ||
        opt_text(smtp, "password", "smtp.password", 256, password, err) != 0 ||
        opt_text(smtp, "from", "smtp.from", 254, &from, err) != 0)
        return -1;
    if (!tls)
        tls = "starttls";
    if (!host || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(host)) {
        esc_error_set(err, ESC_ERR_VALIDATION, "smtp.host", "smtp.host is required: a host name or address");
        return -1;
    }
    if (strcmp(tls, "starttls") != 0 && strcmp(tls, "tls") != 0 && strcmp(tls, "none") != 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "smtp.tls", "smtp.tls must be starttls, tls or none");
        return -1;
    }
    if (!from || !strchr(from, '@') || strpbrk(from, "\r\n")) {
        esc_error_set(err, ESC_ERR_VALIDATION, "smtp.from", "smtp.from is required: an e-mail address");
        return -1;
    }
    json_t *to = json_object_get(smtp, "to");
    size_t i;
    json_t *v;
    if (!json_is_array(to) || json_array_size(to) < 1 || json_array_size(to) > 50) {
        esc_error_set(err, ESC_ERR_VALIDATION, "smtp.to", "smtp.to must be a list of 1 to 50 e-mail addresses");
        return -1;
    }
    json_array_foreach(to, i, v) {
        const char *a = json_string_value(v);
        if (!a || strlen(a) < 3 || strlen(a) > 254 || !strchr(a, '@') || strpbrk(a, " \r\n<>,;")) {
            esc_error_set(err, ESC_ERR_VALIDATION, "smtp.to", "smtp.to must be a list of 1 to 50 e-mail addresses");
            return -1;
        }
    }
    *config = json_pack("{s:{s:s,s:i,s:s,s:s?,s:s,s:O}}", "smtp", "host", host, "port", (int)port, "tls",
                        tls, "username", user, "from", from, "to", to);
    snprintf(target, cap, "smtp%s://%s:%ld -> %zu recipient%s", strcmp(tls, "tls") == 0 ? "s" : "", host,
             port, json_array_size(to), json_array_size(to) == 1 ? "" : "s");
    return *config ? 0 : -1;
}

json_t *escp_svc_channel_create(struct escp_svc *svc, const struct esc_actor *actor, json_t *body,
                                esc_error_t *err)
{
    static const char *const types[] = {"breached", "at_risk", "major_created"};
    static const char *const tiers[] = {"line-1", "line-2", "line-3"};
    const char *name, *kind_s, *lang = "zh", *url = NULL, *secret = NULL, *password = NULL;
    char *secret_new = NULL, *masked = NULL, *sealed = NULL, *plain = NULL, *config_s = NULL;
    char ev[96], ti[32], target[512] = "", aad[64];
    long rate_count = 0, rate_seconds = 0, block = -1, digest = 3, fallback = 0;
    json_t *config = NULL, *out = NULL;
    struct escp_conn *c = NULL;

    if (escp_only_keys(body, KEYS_COMMON, "", err) != 0 ||
        opt_text(body, "name", "name", 100, &name, err) != 0 ||
        opt_text(body, "kind", "kind", 16, &kind_s, err) != 0 ||
        opt_text(body, "language", "language", 2, &lang, err) != 0)
        goto out;
    if (!name) {
        esc_error_set(err, ESC_ERR_VALIDATION, "name", "name is required");
        goto out;
    }
    int kind = escp_channel_kind_from_name(kind_s);
    if (kind < 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "kind",
                      "kind must be webhook, wecom, dingtalk, feishu, slack or smtp");
        goto out;
    }
    if (!lang)
        lang = "zh";
    if (strcmp(lang, "zh") != 0 && strcmp(lang, "en") != 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "language", "language must be zh or en");
        goto out;
    }
    if (name_list(json_object_get(body, "event_types"), "event_types", types, 3, 0, "{}", ev, sizeof ev,
                  err) != 0 ||
        name_list(json_object_get(body, "tiers"), "tiers", tiers, 3, 1, "{1,2,3}", ti, sizeof ti, err) != 0)
        goto out;
    struct escp_channel_limits lim = escp_channel_default_limits((enum escp_channel_kind)kind);
    json_t *rl = json_object_get(body, "rate_limit");
    rate_count = lim.count;
    rate_seconds = lim.seconds;
    if (rl && !json_is_null(rl)) {
        static const char *const rlk[] = {"count", "seconds", NULL};
        if (!json_is_object(rl)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "rate_limit", "rate_limit must be {count, seconds}");
            goto out;
        }
        if (escp_only_keys(rl, rlk, "rate_limit.", err) != 0 ||
            opt_int(rl, "count", "rate_limit.count", 1, 10000, &rate_count, err) != 0 ||
            opt_int(rl, "seconds", "rate_limit.seconds", 1, 3600, &rate_seconds, err) != 0)
            goto out;
    }
    if (opt_int(body, "block_seconds", "block_seconds", 0, 86400, &block, err) != 0 ||
        opt_int(body, "digest_after", "digest_after", 1, 100, &digest, err) != 0 ||
        opt_int(body, "fallback_channel_id", "fallback_channel_id", 1, INT64_MAX, &fallback, err) != 0 ||
        opt_text(body, "url", "url", 2048, &url, err) != 0 ||
        opt_text(body, "secret", "secret", 256, &secret, err) != 0)
        goto out;
    if (block < 0)
        block = lim.block_seconds;

    if (kind == ESCP_CH_SMTP) {
        if (url || secret) {
            esc_error_set(err, ESC_ERR_VALIDATION, url ? "url" : "secret",
                          "an smtp channel takes its server in smtp, not url or secret");
            goto out;
        }
        if (smtp_settings(json_object_get(body, "smtp"), &config, &password, target, sizeof target, err) != 0)
            goto out;
    } else {
        if (json_object_get(body, "smtp")) {
            esc_error_set(err, ESC_ERR_VALIDATION, "smtp", "smtp is only for an smtp channel");
            goto out;
        }
        if (!url) {
            esc_error_set(err, ESC_ERR_VALIDATION, "url", "url is required: the robot's or webhook's address");
            goto out;
        }
        if (escp_webhook_url_check(url, err) != 0 ||
            escp_webhook_destination_check(url, svc->webhook_allow_private, err) != 0)
            goto out;
        if (kind == ESCP_CH_WEBHOOK && !secret) /* shown once, as a webhook's */
            secret = secret_new = escp_webhook_secret_new(err);
        if (kind == ESCP_CH_WEBHOOK && !secret)
            goto out;
        if (kind == ESCP_CH_WEBHOOK && strlen(secret) < 16) {
            esc_error_set(err, ESC_ERR_VALIDATION, "secret", "secret must be at least 16 characters");
            goto out;
        }
        if ((kind == ESCP_CH_WECOM || kind == ESCP_CH_SLACK) && secret) {
            esc_error_set(err, ESC_ERR_VALIDATION, "secret", "a %s channel has no signing secret: its key "
                          "is in its url", escp_channel_kind_names[kind]);
            goto out;
        }
        if (!(masked = mask_url(url))) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
        snprintf(target, sizeof target, "%s", masked);
        config = json_object();
    }
    json_t *secrets = json_pack("{s:s?,s:s?,s:s?}", "url", url, "secret", secret, "password", password);
    plain = secrets ? json_dumps(secrets, JSON_COMPACT) : NULL;
    json_decref(secrets);
    config_s = config ? json_dumps(config, JSON_COMPACT) : NULL;
    if (!plain || !config_s) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (!(c = escp_lease(svc->store, err)) || escp_begin(c, err) != 0)
        goto out;
    struct escp_channel_new n = {.name = name, .kind = escp_channel_kind_names[kind], .language = lang,
                                 .event_types = ev, .tiers = ti, .target = target, .config = config_s,
                                 .rate_count = (int)rate_count, .rate_seconds = (int)rate_seconds,
                                 .block_seconds = (int)block, .digest_after = (int)digest,
                                 .fallback_id = fallback, .created_by = actor->id};
    if (escp_store_channel_next_id(c, &n.id, err) != 0)
        goto out;
    if (fallback) {
        json_t *fb = escp_store_channel_get(c, fallback, err);
        int ok = fb && json_is_true(json_object_get(fb, "active"));
        json_decref(fb);
        if (!ok) {
            err->code = ESC_OK;
            esc_error_set(err, ESC_ERR_VALIDATION, "fallback_channel_id",
                          "fallback_channel_id must name an active channel");
            goto out;
        }
    }
    snprintf(aad, sizeof aad, "channels.secret:%" PRId64, n.id);
    if (!(sealed = escp_keyring_seal(svc->keys, plain, strlen(plain), aad, err)))
        goto out;
    n.sealed = sealed;
    out = escp_store_channel_create(c, &n, err);
    if (out && escp_commit(c, err) != 0) {
        json_decref(out);
        out = NULL;
    }
    if (out && secret_new) /* the generated signing secret: this once */
        json_object_set_new(out, "secret", json_string(secret_new));
    if (out && c)
        escp_alerts_poke(svc->alerts);
out:
    if (c)
        escp_release(svc->store, c);
    if (plain)
        memset(plain, 0, strlen(plain));
    free(plain);
    free(sealed);
    free(masked);
    free(config_s);
    json_decref(config);
    if (secret_new)
        memset(secret_new, 0, strlen(secret_new));
    free(secret_new);
    return out;
}

json_t *escp_svc_channel_list(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *items = c ? escp_store_channel_list(c, err) : NULL;
    escp_release(svc->store, c);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

json_t *escp_svc_channel_get(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *ch = c ? escp_store_channel_get(c, id, err) : NULL;
    escp_release(svc->store, c);
    return ch;
}

json_t *escp_svc_channel_delete(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *out = NULL;
    if (!c)
        return NULL;
    if (escp_begin(c, err) == 0 && escp_store_channel_delete(c, id, err) >= 0 &&
        (out = escp_store_channel_get(c, id, err)) && escp_commit(c, err) != 0) {
        json_decref(out);
        out = NULL;
    }
    escp_release(svc->store, c);
    if (out)
        escp_alerts_poke(svc->alerts);
    return out;
}

json_t *escp_svc_channel_messages(struct escp_svc *svc, int64_t id, const char *status, int64_t before_id,
                                  int limit, esc_error_t *err)
{
    json_t *ch = escp_svc_channel_get(svc, id, err);
    if (!ch)
        return NULL;
    json_decref(ch);
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *items = c ? escp_store_channel_messages(c, id, status, before_id, limit, err) : NULL;
    escp_release(svc->store, c);
    return items;
}

json_t *escp_svc_channel_test(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                              esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *m = c ? escp_store_channel_test(c, id, actor->name, err) : NULL;
    escp_release(svc->store, c);
    if (m)
        escp_alerts_poke(svc->alerts);
    return m;
}

/* ---- ladders ---- */

static const char *const LADDER_EVENTS[] = {"ack_breach", "resolve_breach", "at_risk", "major_created"};

static int ladder_event(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, LADDER_EVENTS[i]) == 0)
            return i;
    return -1;
}

json_t *escp_svc_ladder_list(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *items = c ? escp_store_ladder_list(c, err) : NULL;
    escp_release(svc->store, c);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

static int in_ids(const json_t *ids, json_int_t v)
{
    size_t i;
    json_t *x;
    json_array_foreach(ids, i, x) if (json_integer_value(x) == v) return 1;
    return 0;
}

json_t *escp_svc_ladder_put(struct escp_svc *svc, const struct esc_actor *actor, const char *tier_s,
                            const char *event, json_t *body, esc_error_t *err)
{
    static const char *const keys[] = {"steps", "repeat", NULL};
    static const char *const step_keys[] = {"channel_id", "recipients", "delay_seconds", NULL};
    int tier = esc_tier_from_name(tier_s);
    long repeat = 1;
    json_t *steps = NULL, *channels = NULL, *people = NULL, *out = NULL;
    char *steps_s = NULL, chans[2048] = "{", peeps[4096] = "{";
    size_t co = 1, po = 1, i, j;
    json_t *st, *r;
    if (ladder_event(event) < 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ladder event: ack_breach, resolve_breach, "
                      "at_risk or major_created");
        return NULL;
    }
    if (escp_only_keys(body, keys, "", err) != 0 ||
        opt_int(body, "repeat", "repeat", 1, 10, &repeat, err) != 0)
        return NULL;
    json_t *in = json_object_get(body, "steps");
    if (!json_is_array(in) || json_array_size(in) < 1 || json_array_size(in) > 20) {
        esc_error_set(err, ESC_ERR_VALIDATION, "steps", "steps must be a list of 1 to 20 steps");
        return NULL;
    }
    steps = json_array();
    json_array_foreach(in, i, st) {
        char field[48];
        long ch = 0, delay = 0;
        snprintf(field, sizeof field, "steps.%zu.", i);
        if (!json_is_object(st)) {
            esc_error_set(err, ESC_ERR_VALIDATION, "steps", "each step must be an object "
                          "{channel_id, recipients, delay_seconds}");
            goto out;
        }
        if (escp_only_keys(st, step_keys, field, err) != 0)
            goto out;
        snprintf(field, sizeof field, "steps.%zu.channel_id", i);
        if (opt_int(st, "channel_id", field, 1, INT64_MAX, &ch, err) != 0)
            goto out;
        if (!ch) {
            esc_error_set(err, ESC_ERR_VALIDATION, field, "%s is required", field);
            goto out;
        }
        snprintf(field, sizeof field, "steps.%zu.delay_seconds", i);
        if (opt_int(st, "delay_seconds", field, 0, 86400, &delay, err) != 0)
            goto out;
        json_t *rec = json_object_get(st, "recipients");
        snprintf(field, sizeof field, "steps.%zu.recipients", i);
        if (rec && !json_is_null(rec) && (!json_is_array(rec) || json_array_size(rec) > 20)) {
            esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be a list of up to 20 principal ids", field);
            goto out;
        }
        json_t *ids = json_array();
        json_array_foreach(rec, j, r) {
            if (!json_is_integer(r) || json_integer_value(r) < 1) {
                json_decref(ids);
                esc_error_set(err, ESC_ERR_VALIDATION, field, "%s must be a list of up to 20 principal ids",
                              field);
                goto out;
            }
            json_array_append(ids, r);
            po += (size_t)snprintf(peeps + po, sizeof peeps - po, "%s%lld", po > 1 ? "," : "",
                                   (long long)json_integer_value(r));
        }
        co += (size_t)snprintf(chans + co, sizeof chans - co, "%s%ld", co > 1 ? "," : "", ch);
        json_array_append_new(steps, json_pack("{s:I,s:o,s:I}", "channel_id", (json_int_t)ch, "recipients",
                                               ids, "delay_seconds", (json_int_t)delay));
    }
    snprintf(chans + co, sizeof chans - co, "}");
    snprintf(peeps + po, sizeof peeps - po, "}");
    steps_s = json_dumps(steps, JSON_COMPACT);
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        goto out;
    if (escp_begin(c, err) == 0 && escp_store_ladder_refs(c, chans, peeps, &channels, &people, err) == 0) {
        /* every channel active, every recipient an active principal */
        json_array_foreach(steps, i, st) {
            char field[48];
            if (!in_ids(channels, json_integer_value(json_object_get(st, "channel_id")))) {
                snprintf(field, sizeof field, "steps.%zu.channel_id", i);
                esc_error_set(err, ESC_ERR_VALIDATION, field, "%s names no active channel", field);
                break;
            }
            json_array_foreach(json_object_get(st, "recipients"), j, r) {
                if (!in_ids(people, json_integer_value(r))) {
                    snprintf(field, sizeof field, "steps.%zu.recipients", i);
                    esc_error_set(err, ESC_ERR_VALIDATION, field,
                                  "%s names %lld, who is not an active principal", field,
                                  (long long)json_integer_value(r));
                    break;
                }
            }
            if (err->code != ESC_OK)
                break;
        }
        if (err->code == ESC_OK &&
            (out = escp_store_ladder_put(c, tier, event, steps_s, (int)repeat, actor->id, err)) &&
            escp_commit(c, err) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    escp_release(svc->store, c);
out:
    json_decref(steps);
    json_decref(channels);
    json_decref(people);
    free(steps_s);
    return out;
}

int escp_svc_ladder_delete(struct escp_svc *svc, const char *tier_s, const char *event, esc_error_t *err)
{
    int tier = esc_tier_from_name(tier_s);
    if (ladder_event(event) < 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "no such ladder event");
        return -1;
    }
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return -1;
    int n = -1;
    if (escp_begin(c, err) == 0 && (n = escp_store_ladder_delete(c, tier, event, err)) >= 0 &&
        escp_commit(c, err) != 0)
        n = -1;
    escp_release(svc->store, c);
    if (n == 0)
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "there is no %s ladder for %s", event, tier_s);
    return n > 0 ? 0 : -1;
}

/* ---- what the worker asks of the data key ---- */

char *escp_svc_channel_secret(void *arg, const char *sealed, int64_t channel_id)
{
    struct escp_svc *svc = arg;
    char aad[64];
    esc_error_t err = {0};
    snprintf(aad, sizeof aad, "channels.secret:%" PRId64, channel_id);
    char *plain = escp_keyring_open(svc->keys, sealed, aad, &err);
    if (!plain)
        log_error("channels: the secret of channel %" PRId64 " does not open (%s)", channel_id, err.message);
    return plain;
}

/* The signed part of a link: "t<ticket>.p<principal>.d<ack due ms>.e<expiry s>.n<nonce>". */
static int link_mac(struct escp_svc *svc, const char *payload, char mac[65], esc_error_t *err)
{
    return escp_keyring_mac(svc->keys, ACK_LINK_KIND, payload, mac, err);
}

char *escp_svc_ack_link(void *arg, int64_t ticket_id, int64_t principal_id, int64_t ack_due_ms,
                        int64_t expires_s, const char *nonce)
{
    struct escp_svc *svc = arg;
    char payload[160], mac[65];
    esc_error_t err = {0};
    snprintf(payload, sizeof payload, "t%" PRId64 ".p%" PRId64 ".d%" PRId64 ".e%" PRId64 ".n%s", ticket_id,
             principal_id, ack_due_ms, expires_s, nonce);
    if (link_mac(svc, payload, mac, &err) != 0)
        return NULL;
    char *token = malloc(strlen(payload) + 3 + 64 + 1);
    if (token)
        sprintf(token, "%s.m%s", payload, mac);
    return token;
}

struct link {
    int64_t ticket, principal, due_ms, expires_s;
    char nonce[40];
};

/* Parse and check a token's signature: 0, or -1 (not one of ours). */
static int link_parse(struct escp_svc *svc, const char *token, struct link *l)
{
    char payload[160], mac[65];
    const char *m = strstr(token, ".m");
    long long t, p, d, e;
    int used = 0;
    if (!m || (size_t)(m - token) >= sizeof payload || strlen(m + 2) != 64)
        return -1;
    memcpy(payload, token, (size_t)(m - token));
    payload[m - token] = '\0';
    if (sscanf(payload, "t%lld.p%lld.d%lld.e%lld.n%39[0-9a-f]%n", &t, &p, &d, &e, l->nonce, &used) != 5 ||
        (size_t)used != strlen(payload) || t < 1 || p < 1)
        return -1;
    esc_error_t err = {0};
    if (link_mac(svc, payload, mac, &err) != 0)
        return -1;
    unsigned char diff = 0; /* constant time: the MAC is the secret here */
    for (int i = 0; i < 64; i++)
        diff |= (unsigned char)(mac[i] ^ m[2 + i]);
    if (diff)
        return -1;
    l->ticket = t;
    l->principal = p;
    l->due_ms = d;
    l->expires_s = e;
    return 0;
}

/* What a link can do now: the state of its ticket and person, and the
 * verdict: "ok" (it may acknowledge), "used", "expired", "moved_on" (the
 * hand-off it was for was acknowledged or left), "not_allowed" (the
 * person's token is no longer active).  NULL: not a link of ours. */
json_t *escp_svc_ack_link_state(struct escp_svc *svc, const char *token, esc_error_t *err)
{
    struct link l;
    if (link_parse(svc, token, &l) != 0) {
        esc_error_set(err, ESC_ERR_NOT_FOUND, NULL, "this link is not valid");
        return NULL;
    }
    struct escp_conn *c = escp_lease(svc->store, err);
    json_t *st = c ? escp_store_ack_link_state(c, l.ticket, l.principal, l.nonce, err) : NULL;
    escp_release(svc->store, c);
    if (!st)
        return NULL;
    json_t *tk = json_object_get(st, "ticket"), *pr = json_object_get(st, "principal");
    const char *verdict = "ok";
    if (!json_is_null(json_object_get(st, "used")))
        verdict = "used";
    else if (json_integer_value(json_object_get(st, "now_ms")) >= l.expires_s * 1000)
        verdict = "expired";
    else if (!json_is_object(pr) || !json_is_true(json_object_get(pr, "active")))
        verdict = "not_allowed";
    else if (!json_is_object(tk) || strcmp(sget(tk, "state"), "awaiting_ack") != 0 ||
             json_integer_value(json_object_get(tk, "ack_due_ms")) != l.due_ms)
        verdict = "moved_on";
    json_object_set_new(st, "verdict", json_string(verdict));
    json_object_set_new(st, "expires_at_s", json_integer(l.expires_s));
    return st;
}

json_t *escp_svc_ack_link_use(struct escp_svc *svc, const char *token, esc_error_t *err)
{
    struct link l;
    json_t *st = escp_svc_ack_link_state(svc, token, err);
    if (!st)
        return NULL;
    link_parse(svc, token, &l); /* checked above */
    const char *verdict = sget(st, "verdict");
    if (strcmp(verdict, "ok") != 0)
        return st;
    json_t *pr = json_object_get(st, "principal");
    struct esc_actor actor = {.id = l.principal, .role = ESC_ROLE_AGENT,
                              .tier = (enum esc_tier)json_integer_value(json_object_get(pr, "tier"))};
    snprintf(actor.name, sizeof actor.name, "%s", sget(pr, "name") ? sget(pr, "name") : "");
    struct escp_action_args args = {.if_match = -1, .via = "link"};
    esc_error_t aerr = {0};
    json_t *t = escp_svc_act(svc, &actor, l.ticket, ESC_ACT_ACKNOWLEDGE, &args, &aerr);
    const char *outcome = t ? "acknowledged" : "refused";
    if (!t && aerr.code == ESC_ERR_UNAVAILABLE) { /* nothing happened; the link stays usable */
        *err = aerr;
        json_decref(st);
        return NULL;
    }
    struct escp_conn *c = escp_lease(svc->store, err);
    int recorded = c ? escp_store_ack_link_use(c, l.nonce, l.ticket, l.principal, outcome, err) : -1;
    escp_release(svc->store, c);
    if (recorded < 0)
        log_warn("ack link: ticket %" PRId64 " %s by link, but recording the link's use failed (%s)", l.ticket,
                 outcome, err->message);
    err->code = ESC_OK;
    json_object_set_new(st, "verdict", json_string(t ? "acknowledged" : "moved_on"));
    if (t)
        json_object_set_new(st, "ticket_after", t);
    else
        json_object_set_new(st, "refusal", json_string(aerr.message));
    return st;
}
