/* workers.h — the background threads: the SLA timer engine
 * (timer_engine.c; docs/engine.md) and the webhook delivery worker
 * (webhook.c; docs/webhooks.md).  Each runs on connections of its own. */
#ifndef ESCALATED_WORKERS_H
#define ESCALATED_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "core/ticket.h"

/* ---- the SLA engine (timer_engine.c) ---- */
struct escp_engine;
/* The longest the engine sleeps without looking, and the notify window: a
 * deadline sooner than this is announced to other daemons (pg_notify). */
#define ESCP_ENGINE_MAX_SLEEP_MS 60000
/* Start the engine thread on its own connection.  max_sleep_ms (0 = default)
 * bounds how long it sleeps without looking; other daemons' deadlines wake it
 * through LISTEN/NOTIFY, this process's through escp_engine_poke. */
struct escp_engine *escp_engine_start(const char *conninfo, int batch, int max_sleep_ms, esc_error_t *err);
void escp_engine_stop(struct escp_engine *e);
/* A commit of this process set a deadline `due` (database time) when the
 * database clock read `now`: wake the engine if that is before its planned wake-up. */
void escp_engine_poke(struct escp_engine *e, esc_time_t now, esc_time_t due);
struct escp_engine_stats {
    uint64_t fired, passes;
    uint64_t wakeups_notified, wakeups_poked; /* by another daemon's NOTIFY, by this process */
    double last_late_s, max_late_s;
};
void escp_engine_stats(struct escp_engine *e, struct escp_engine_stats *out);
/* Call fn(arg) on the engine thread after every pass that fired timers
 * (committed breached/at_risk events); the server wakes the event feed. */
void escp_engine_on_fired(struct escp_engine *e, void (*fn)(void *), void *arg);

/* The delivery worker thread (webhook.c).  0 in a field = its default. */
struct escp_webhook_config {
    int max_attempts;    /* 10 */
    int backoff_base_ms; /* 30,000 */
    int backoff_cap_ms;  /* 3,600,000 */
    int timeout_ms;      /* 5,000 per attempt (connect at most 2,000 of it) */
    int max_sleep_ms;    /* 1,000: the longest it sleeps without looking */
    bool allow_private_network; /* also loopback, private and shared addresses (netaddr.h) */
};
struct escp_webhooks;
struct escp_webhooks *escp_webhooks_start(const char *conninfo, const struct escp_webhook_config *cfg,
                                          esc_error_t *err);
/* Stops claiming, finishes the attempts in flight (at most timeout_ms), joins. NULL-safe. */
void escp_webhooks_stop(struct escp_webhooks *w);
/* This process committed a notification: look now rather than at the next poll. NULL-safe. */
void escp_webhooks_poke(struct escp_webhooks *w);
/* New settings (0 in a field = its default), taken by the worker before
 * its next pass; an attempt in flight finishes with the old ones (SIGHUP).
 * NULL-safe. */
void escp_webhooks_configure(struct escp_webhooks *w, const struct escp_webhook_config *cfg);
/* 0 when url is an absolute http or https URL with a host (libcurl's parser). */
int escp_webhook_url_check(const char *url, esc_error_t *err);
/* 0 when a webhook may be registered for url (already through
 * escp_webhook_url_check): no user:password@, a host not refused by name, and
 * every address it resolves to allowed (esc_netaddr_allowed); else -1 with
 * ESC_ERR_VALIDATION on field "url", or ESC_ERR_UNAVAILABLE when the resolver
 * fails for now.  With allow_private a name that does not resolve passes:
 * the worker checks the addresses again at every connect. */
int escp_webhook_destination_check(const char *url, bool allow_private, esc_error_t *err);
/* Process-wide set-up of libcurl: once, before any thread starts. 0 or -1. */
int escp_webhooks_global_init(void);
/* "whsec_" + 43 base64url characters (256 random bits); malloc'd. */
char *escp_webhook_secret_new(esc_error_t *err);

/* ---- the alert worker (alerts.c; docs/channels.md) ----
 * Sends the alert outbox to chat robots, incoming webhooks and mail within
 * each platform's limits.  What needs the data key is asked of the service
 * through the two callbacks (the worker sits below it). */
struct escp_alerts_config {
    int max_attempts;      /* 5, then the fallback channel */
    int backoff_base_ms;   /* 5,000 */
    int backoff_cap_ms;    /* 300,000 */
    int timeout_ms;        /* 10,000 per attempt */
    int max_sleep_ms;      /* 1,000 */
    bool allow_private_network;
    const char *public_url; /* where people reach this daemon (links); NULL = no links */
    const char *ca_file;    /* more CA certificates to trust for TLS (PEM); NULL = the system's */
    int ack_link_ttl_s;     /* 3,600: how long a one-click link works */
    void *keys;             /* the callbacks' argument */
    /* the channel's sealed secrets as JSON text (malloc'd; the caller wipes it), or NULL */
    char *(*open_secret)(void *keys, const char *sealed, int64_t channel_id);
    /* a signed one-click link token (malloc'd), or NULL */
    char *(*ack_link)(void *keys, int64_t ticket_id, int64_t principal_id, int64_t ack_due_ms,
                      int64_t expires_s, const char *nonce);
};
struct escp_alerts;
struct escp_alerts *escp_alerts_start(const char *conninfo, const struct escp_alerts_config *cfg,
                                      esc_error_t *err);
/* Stops, after the sends in flight (at most timeout_ms). NULL-safe. */
void escp_alerts_stop(struct escp_alerts *a);
/* This process committed a message: look now. NULL-safe. */
void escp_alerts_poke(struct escp_alerts *a);

#endif
