/* principals.c — the use cases of principals (docs/api.md "Principals"):
 * create, list, revoke, rotate, and the audit trail, each change committed
 * with its audit record; and the command line's entry points (keys.h), which
 * run the same use cases on a pool of one connection. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/token.h"
#include "service/keys.h"
#include "service/service.h"

static const char *via_of(const struct esc_actor *actor) { return actor ? "http" : "cli"; }
static int64_t actor_id_of(const struct esc_actor *actor) { return actor ? actor->id : 0; }

/* "principal 3" or "the command line", for the log. */
static const char *by(const struct esc_actor *actor, char buf[40])
{
    if (!actor)
        return "the command line";
    snprintf(buf, 40, "principal %" PRId64, actor->id);
    return buf;
}

static void token_free(char *token)
{
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
}

/* The principal p (stolen) with "token" added: the one answer that shows it. */
static json_t *with_token(json_t *p, const char *token, esc_error_t *err)
{
    if (p && json_object_set_new(p, "token", json_string(token)) != 0) {
        json_decref(p);
        p = NULL;
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
    return p;
}

json_t *escp_svc_principal_create(struct escp_svc *svc, const struct esc_actor *actor,
                                  const struct escp_principal_new *pn, esc_error_t *err)
{
    char hash[65];
    json_t *p = NULL;
    char *token = escp_token_new(err);
    if (!token)
        return NULL;
    escp_token_hash(token, hash);
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        goto out;
    p = escp_store_principal_create(c, pn, hash, actor_id_of(actor), via_of(actor), err);
    escp_release(svc->store, c);
    if (!(p = with_token(p, token, err)))
        goto out;
    char who[40];
    log_info("principal %" JSON_INTEGER_FORMAT " (%s) created by %s",
             json_integer_value(json_object_get(p, "id")), esc_role_name(pn->role), by(actor, who));
out:
    token_free(token);
    return p;
}

json_t *escp_svc_principal_list(struct escp_svc *svc, const struct escp_principal_filter *f,
                                esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_principal_list(c, f, err);
    escp_release(svc->store, c);
    return items;
}

json_t *escp_svc_principal_get(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *p = escp_store_principal_get(c, id, err);
    escp_release(svc->store, c);
    return p;
}

json_t *escp_svc_principal_audit(struct escp_svc *svc, int64_t id, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *items = escp_store_principal_audit(c, id, err);
    escp_release(svc->store, c);
    return items ? json_pack("{s:o}", "items", items) : NULL;
}

static int is(const json_t *p, const char *key, const char *value)
{
    const char *v = json_string_value(json_object_get(p, key));
    return v && strcmp(v, value) == 0;
}

/* Why revoking p (as it is now) is refused, or NULL when it may be: the
 * caller's own principal (an admin would lock themselves out; another admin
 * or the command line can), and the last active admin (nobody could manage
 * principals over HTTP any more). */
static const char *revoke_refused(const struct esc_actor *actor, int64_t id, const json_t *p,
                                  int64_t other_admins)
{
    if (actor && actor->id == id)
        return "an admin cannot revoke their own principal; another admin can";
    if (is(p, "role", "admin") && is(p, "status", "active") && other_admins == 0)
        return "the last active admin cannot be revoked; create another admin first";
    return NULL;
}

json_t *escp_svc_principal_revoke(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                  const char *reason, esc_error_t *err)
{
    int64_t others = 0;
    char now[48];
    json_t *p = NULL, *out = NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    if (escp_begin(c, err) != 0 || !(p = escp_store_principal_for_change(c, id, &others, now, err)))
        goto out;
    if (is(p, "status", "revoked")) { /* idempotent: answered as it is, nothing recorded */
        out = json_incref(p);
        goto out;
    }
    const char *why = revoke_refused(actor, id, p, others);
    if (why) {
        esc_error_set(err, ESC_ERR_CONFLICT, NULL, "%s", why);
        goto out;
    }
    if (!(out = escp_store_principal_revoke(c, id, actor_id_of(actor), via_of(actor), reason, err)))
        goto out;
    if (escp_commit(c, err) != 0) {
        json_decref(out);
        out = NULL;
        goto out;
    }
    char who[40];
    log_info("principal %" PRId64 " revoked by %s", id, by(actor, who));
out:
    escp_release(svc->store, c); /* rolls back what was not committed */
    json_decref(p);
    return out;
}

json_t *escp_svc_principal_rotate(struct escp_svc *svc, const struct esc_actor *actor, int64_t id,
                                  bool set_expiry, esc_time_t expires, esc_error_t *err)
{
    int64_t others = 0;
    char now_text[48], hash[65], expires_pg[48];
    char *token = NULL;
    json_t *p = NULL, *out = NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    if (escp_begin(c, err) != 0 || !(p = escp_store_principal_for_change(c, id, &others, now_text, err)))
        goto out;
    if (is(p, "status", "revoked")) {
        esc_error_set(err, ESC_ERR_CONFLICT, NULL, "a revoked principal cannot be rotated");
        goto out;
    }
    /* the expiry the new token will have, against the database's clock */
    esc_time_t now = 0, until = expires;
    const char *kept = json_string_value(json_object_get(p, "expires_at"));
    if (!set_expiry && (!kept || esc_time_parse(kept, &until) != 0))
        until = ESC_TIME_NULL;
    if (esc_time_parse(now_text, &now) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "internal error");
        goto out;
    }
    if (until != ESC_TIME_NULL && until <= now) {
        esc_error_set(err, ESC_ERR_VALIDATION, "expires_at",
                      set_expiry ? "expires_at must be in the future"
                                 : "the principal has expired: give a new expires_at (or null)");
        goto out;
    }
    if (!(token = escp_token_new(err)))
        goto out;
    escp_token_hash(token, hash);
    if (set_expiry && expires != ESC_TIME_NULL)
        escp_time_pg(expires, expires_pg, sizeof expires_pg);
    out = escp_store_principal_rotate(c, id, hash, set_expiry,
                                      set_expiry && expires != ESC_TIME_NULL ? expires_pg : NULL,
                                      actor_id_of(actor), via_of(actor), err);
    if (!out)
        goto out;
    if (escp_commit(c, err) != 0 || !(out = with_token(out, token, err))) {
        json_decref(out);
        out = NULL;
        goto out;
    }
    char who[40];
    log_info("principal %" PRId64 " rotated by %s", id, by(actor, who));
out:
    escp_release(svc->store, c);
    token_free(token);
    json_decref(p);
    return out;
}

/* ---- the command line (keys.h) ---- */

/* A service on a pool of one connection to conninfo. */
static int cli_open(struct escp_svc *svc, const char *conninfo, esc_error_t *err)
{
    memset(svc, 0, sizeof *svc);
    svc->store = esc_store_new(conninfo, 1, err);
    return svc->store ? 0 : -1;
}

char *esc_keys_create(const char *conninfo, const char *name, enum esc_role role,
                      enum esc_tier tier, const char *expires_at, int64_t *id_out,
                      esc_error_t *err)
{
    struct escp_svc svc;
    char pg[48];
    esc_time_t t;
    struct escp_principal_new pn = {name, role, role == ESC_ROLE_AGENT ? tier : ESC_TIER_NONE, NULL};
    if (expires_at) {
        if (esc_time_parse(expires_at, &t) != 0) {
            esc_error_set(err, ESC_ERR_VALIDATION, "expires_at", "--expires-at must be an RFC 3339 time");
            return NULL;
        }
        escp_time_pg(t, pg, sizeof pg);
        pn.expires_at = pg;
    }
    if (cli_open(&svc, conninfo, err) != 0)
        return NULL;
    char *token = NULL;
    json_t *p = escp_svc_principal_create(&svc, NULL, &pn, err);
    if (p) {
        token = strdup(json_string_value(json_object_get(p, "token")));
        if (!token)
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        if (id_out)
            *id_out = json_integer_value(json_object_get(p, "id"));
    }
    json_decref(p);
    esc_store_free(svc.store);
    return token;
}

json_t *esc_keys_list(const char *conninfo, esc_error_t *err)
{
    struct escp_svc svc;
    struct escp_principal_filter f = {.limit = 200};
    json_t *all = json_array(), *page = NULL;
    if (!all || cli_open(&svc, conninfo, err) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        json_decref(all);
        return NULL;
    }
    /* pages come newest first; the command line shows the oldest first */
    for (;;) {
        if (!(page = escp_svc_principal_list(&svc, &f, err))) {
            json_decref(all);
            all = NULL;
            break;
        }
        size_t n = json_array_size(page), keep = n > (size_t)f.limit ? (size_t)f.limit : n;
        for (size_t i = 0; i < keep; i++)
            json_array_insert(all, 0, json_array_get(page, i));
        if (n <= (size_t)f.limit)
            break;
        f.before_id = json_integer_value(json_object_get(json_array_get(page, keep - 1), "id"));
        json_decref(page);
    }
    json_decref(page);
    esc_store_free(svc.store);
    return all;
}

json_t *esc_keys_revoke(const char *conninfo, int64_t id, const char *reason, esc_error_t *err)
{
    struct escp_svc svc;
    if (cli_open(&svc, conninfo, err) != 0)
        return NULL;
    json_t *p = escp_svc_principal_revoke(&svc, NULL, id, reason, err);
    esc_store_free(svc.store);
    return p;
}
