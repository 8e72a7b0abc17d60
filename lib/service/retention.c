/* retention.c — the retention period and the anonymisation run
 * (docs/operations.md "Retention and anonymisation"): for GET/PUT
 * /v1/retention, POST /v1/retention/run and `escalated retention`.
 * Anonymising needs no data key: it erases sealed values, it opens none. */
#include <limits.h>
#include <string.h>

#include "base/log.h"
#include "service/retention.h"
#include "service/service.h"

/* Tickets per transaction: one statement locks, updates and records them,
 * a second erases their events' findings; at 500 a batch stays well under
 * a second and holds its row locks as briefly (as the SLA engine's). */
#define RETENTION_BATCH 500

json_t *escp_svc_retention_get(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *out = escp_store_retention_get(c, err);
    escp_release(svc->store, c);
    return out;
}

static int check_months(int64_t months, esc_error_t *err)
{
    if (months >= ESCP_RETENTION_MIN_MONTHS && months <= ESCP_RETENTION_MAX_MONTHS)
        return 0;
    esc_error_set(err, ESC_ERR_VALIDATION, "months",
                  "months must be an integer from %d (the history is kept at least 4 months "
                  "after close) to %d",
                  ESCP_RETENTION_MIN_MONTHS, ESCP_RETENTION_MAX_MONTHS);
    return -1;
}

json_t *escp_svc_retention_put(struct escp_svc *svc, int64_t actor_id, int64_t months,
                               esc_error_t *err)
{
    if (check_months(months, err) != 0)
        return NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *out = escp_store_retention_put(c, (int)months, actor_id, err);
    escp_release(svc->store, c);
    if (out)
        log_info("retention: personal data of closed tickets kept %d months (set by %s)",
                 (int)months, actor_id ? "a principal" : "the command line");
    return out;
}

/* One batch in one transaction: *n tickets anonymised. */
static int run_batch(struct escp_conn *c, int limit, int64_t actor_id, json_t *done, int *n,
                     esc_error_t *err)
{
    if (escp_begin(c, err) != 0)
        return -1;
    if (escp_store_retention_anonymise(c, limit, actor_id, done, n, err) != 0) {
        escp_rollback(c);
        return -1;
    }
    return escp_commit(c, err);
}

json_t *escp_svc_retention_run(struct escp_svc *svc, int64_t actor_id, bool dry_run, int limit,
                               bool list, esc_error_t *err)
{
    json_t *out = NULL, *done = NULL, *after = NULL;
    long total = 0;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    /* what is due now; a dry run stops here, having changed nothing */
    if (!(out = escp_store_retention_due(c, dry_run && list ? limit : 0, err)))
        goto out;
    json_int_t due = json_integer_value(json_object_get(out, "due"));
    if (dry_run) {
        size_t listed = json_array_size(json_object_get(out, "tickets"));
        if (!list)
            json_object_del(out, "tickets");
        json_object_set_new(out, "dry_run", json_true());
        json_object_set_new(out, "anonymised", json_integer(0));
        json_object_set_new(out, "more", json_boolean(due > (json_int_t)listed));
        goto out;
    }
    if (list && !(done = json_array())) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    while (total < limit) {
        int n = 0, want = limit - total < RETENTION_BATCH ? (int)(limit - total) : RETENTION_BATCH;
        if (run_batch(c, want, actor_id, done, &n, err) != 0)
            goto fail;
        if (n == 0)
            break;
        total += n;
        /* each batch committed `anonymised` events: feed readers may look */
        escp_wake_events(svc->wake);
        if (total % 10000 < (long)n)
            log_info("retention: %ld tickets anonymised so far", total);
    }
    /* due now: tickets another run holds, or that came due meanwhile */
    if (!(after = escp_store_retention_due(c, 0, err)))
        goto fail;
    json_object_set_new(out, "dry_run", json_false());
    json_object_set_new(out, "anonymised", json_integer(total));
    json_object_set_new(out, "more",
                        json_boolean(json_integer_value(json_object_get(after, "due")) > 0));
    if (list)
        json_object_set(out, "tickets", done);
    else
        json_object_del(out, "tickets");
    if (total > 0)
        log_info("retention: %ld tickets closed at or before %s anonymised (%" JSON_INTEGER_FORMAT
                 " months)", total, json_string_value(json_object_get(out, "cutoff")),
                 json_integer_value(json_object_get(out, "months")));
    goto out;
fail:
    json_decref(out);
    out = NULL;
out:
    escp_release(svc->store, c);
    json_decref(done);
    json_decref(after);
    return out;
}

/* ---- the command line (retention.h) ---- */

/* A service on a pool of one connection to conninfo (as keys.h's). */
static int cli_open(struct escp_svc *svc, const char *conninfo, esc_error_t *err)
{
    memset(svc, 0, sizeof *svc);
    svc->store = esc_store_new(conninfo, 1, err);
    return svc->store ? 0 : -1;
}

json_t *esc_retention_get(const char *conninfo, esc_error_t *err)
{
    struct escp_svc svc;
    if (cli_open(&svc, conninfo, err) != 0)
        return NULL;
    json_t *out = escp_svc_retention_get(&svc, err);
    esc_store_free(svc.store);
    return out;
}

json_t *esc_retention_set(const char *conninfo, int64_t months, esc_error_t *err)
{
    struct escp_svc svc;
    if (check_months(months, err) != 0 || cli_open(&svc, conninfo, err) != 0)
        return NULL;
    json_t *out = escp_svc_retention_put(&svc, 0, months, err);
    esc_store_free(svc.store);
    return out;
}

json_t *esc_retention_run(const char *conninfo, bool dry_run, int limit, esc_error_t *err)
{
    struct escp_svc svc;
    if (cli_open(&svc, conninfo, err) != 0)
        return NULL;
    json_t *out = dry_run ? escp_svc_retention_run(&svc, 0, true, limit, true, err)
                          : escp_svc_retention_run(&svc, 0, false, INT_MAX, false, err);
    esc_store_free(svc.store);
    return out;
}
