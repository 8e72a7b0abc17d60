/* webhooks.c — the admin side of webhooks and of the notification outbox
 * (docs/webhooks.md): each use case on one pooled connection, the delivery
 * worker poked after a commit that gives it work, and the one builder per
 * kind of object that turns what the store read into outgoing JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "service/service.h"
#include "workers/workers.h"

/* ---- outgoing JSON ---- */

json_t *escp_webhook_json(const json_t *w, const char *secret_once)
{
    /* field by field, so nothing the store may add (the secret above all)
     * reaches a client unless it is named here */
    json_t *o = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:s*}",
                          "id", json_object_get(w, "id"),
                          "url", json_object_get(w, "url"),
                          "event_types", json_object_get(w, "event_types"),
                          "active", json_object_get(w, "active"),
                          "created_at", json_object_get(w, "created_at"),
                          "created_by", json_object_get(w, "created_by"),
                          "deleted_at", json_object_get(w, "deleted_at"),
                          "secret", secret_once);
    return o;
}

json_t *escp_notification_json(const json_t *n)
{
    /* the payload is the notification's copy of ticket facts: whatever of
     * the customer or the ticket's free text it carries is masked as in the
     * ticket itself, top level and in a nested "ticket" */
    json_t *payload = json_deep_copy(json_object_get(n, "payload"));
    if (json_is_object(payload)) {
        escp_ticket_mask(payload);
        json_t *t = json_object_get(payload, "ticket");
        if (json_is_object(t))
            escp_ticket_mask(t);
    }
    return json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:o?,s:O?}",
                     "id", json_object_get(n, "id"),
                     "ticket_id", json_object_get(n, "ticket_id"),
                     "type", json_object_get(n, "type"),
                     "audience", json_object_get(n, "audience"),
                     "status", json_object_get(n, "status"),
                     "created_at", json_object_get(n, "created_at"),
                     "routed_at", json_object_get(n, "routed_at"),
                     "delivered_at", json_object_get(n, "delivered_at"),
                     "attempts", json_object_get(n, "attempts"),
                     "last_error", json_object_get(n, "last_error"),
                     "payload", payload,
                     "deliveries", json_object_get(n, "deliveries"));
}

/* The store's object (a new reference, or NULL with err set) through a
 * builder; the store's is freed either way. */
static json_t *built(json_t *stored, json_t *(*build)(const json_t *), esc_error_t *err)
{
    if (!stored)
        return NULL;
    json_t *o = build(stored);
    json_decref(stored);
    if (!o)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    return o;
}

/* An array of the store's objects through a builder, in place. */
static int build_each(json_t *items, json_t *(*build)(const json_t *), esc_error_t *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v) {
        json_t *o = build(v);
        if (!o || json_array_set_new(items, i, o) != 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            return -1;
        }
    }
    return 0;
}

static json_t *webhook_json(const json_t *w) { return escp_webhook_json(w, NULL); }

/* ---- webhooks ---- */

json_t *escp_svc_webhook_create(struct escp_svc *svc, const struct esc_actor *actor, const char *url,
                                const char *event_types, const char *secret, esc_error_t *err)
{
    char *made = NULL;
    json_t *stored = NULL, *w = NULL;
    /* before a connection is leased: resolving the host may take a while */
    if (escp_webhook_destination_check(url, svc->webhook_allow_private, err) != 0)
        goto out;
    if (!secret) {
        if (!(made = escp_webhook_secret_new(err)))
            goto out;
        secret = made;
    }
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        goto out;
    stored = escp_store_webhook_create(c, url, event_types, secret, actor->id, err);
    escp_release(svc->store, c);
    if (!stored)
        goto out;
    /* the one answer that shows the secret: it is never shown again */
    if (!(w = escp_webhook_json(stored, secret))) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    log_info("webhook %" JSON_INTEGER_FORMAT " registered by principal %" PRId64,
             json_integer_value(json_object_get(w, "id")), actor->id);
    escp_webhooks_poke(svc->webhooks); /* undelivered notifications may want it now */
out:
    if (made) {
        memset(made, 0, strlen(made));
        free(made);
    }
    json_decref(stored);
    return w;
}

json_t *escp_svc_webhook_list(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_webhook_list(c, err);
    escp_release(svc->store, c);
    if (doc && build_each(json_object_get(doc, "items"), webhook_json, err) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

json_t *escp_svc_webhook_get(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *w = escp_store_webhook_get(c, id, err);
    escp_release(svc->store, c);
    return built(w, webhook_json, err);
}

int escp_svc_webhook_delete(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                            esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return -1;
    int rc = escp_store_webhook_delete(c, id, err);
    escp_release(svc->store, c);
    if (rc == 0)
        log_info("webhook %" PRId64 " deleted by principal %" PRId64, id, actor->id);
    return rc;
}

/* ---- notifications ---- */

json_t *escp_svc_notification_list(struct escp_svc *svc, const struct escp_notification_filter *f,
                                   esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_notification_list(c, f, err);
    escp_release(svc->store, c);
    if (items && build_each(items, escp_notification_json, err) != 0) {
        json_decref(items);
        items = NULL;
    }
    return items;
}

json_t *escp_svc_notification_get(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *n = escp_store_notification_get(c, id, err);
    escp_release(svc->store, c);
    return built(n, escp_notification_json, err);
}

json_t *escp_svc_notification_retry(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                    esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *n = escp_store_notification_retry(c, id, err);
    escp_release(svc->store, c);
    if (!n)
        return NULL;
    log_info("notification %" PRId64 " retried by principal %" PRId64, id, actor->id);
    escp_webhooks_poke(svc->webhooks); /* its deliveries are due now */
    return built(n, escp_notification_json, err);
}
