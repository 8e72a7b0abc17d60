/* calendar_cache.c — see calendar_cache.h.
 *
 * One calendar is kept, process-wide: the last document parsed (a deep
 * copy, the key) and what it parsed to.  The key is the document's content,
 * not a version number, so the answer is right whichever database or daemon
 * the document came from and whoever changed it.  A resolve compares its
 * document with the key (json_equal: a microsecond or less for a calendar of
 * a few dozen dates) and computes on the cached calendar under the lock; a
 * new document is parsed outside the lock (esc_tz_load reads a file), then
 * installed.  Two resolves that meet a new document at once both parse it;
 * the second install wins, and both answers are the same. */
#include <pthread.h>
#include <string.h>

#include "base/log.h"
#include "core/ticket.h"
#include "service/calendar_cache.h"

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *cache_doc;                  /* the key; NULL = nothing cached */
static struct esc_calendar cache_cal;      /* what cache_doc parsed to */

/* The deadline on a parsed calendar, ESC_TIME_NULL when there is none. */
static esc_time_t due_on(const struct esc_calendar *cal, esc_time_t resolved_at, int days)
{
    esc_time_t due = esc_deadline_callback(cal, resolved_at, days);
    if (due < 0) {
        log_warn("the business calendar has no working day ahead; no callback deadline");
        return ESC_TIME_NULL;
    }
    return due;
}

/* Parse the stored document, or fall back to the default calendar. */
static int parse(const json_t *doc, struct esc_calendar *cal, esc_error_t *err)
{
    esc_error_t cerr = {0};
    if (esc_calendar_from_json(doc, cal, &cerr) == 0)
        return 0;
    log_error("the stored business calendar is invalid (%s: %s); using the default",
              cerr.field, cerr.message);
    esc_calendar_free(cal);
    return esc_calendar_default(cal, err);
}

int escp_calendar_callback_due(const json_t *doc, esc_time_t resolved_at, int business_days,
                               esc_time_t *out, esc_error_t *err)
{
    int rc = -1;
    json_t *key = NULL, *old_key = NULL;
    struct esc_calendar fresh, old_cal;
    memset(&fresh, 0, sizeof fresh);
    memset(&old_cal, 0, sizeof old_cal);

    pthread_mutex_lock(&cache_mu);
    if (cache_doc && json_equal(cache_doc, doc)) {
        *out = due_on(&cache_cal, resolved_at, business_days);
        pthread_mutex_unlock(&cache_mu);
        return 0;
    }
    pthread_mutex_unlock(&cache_mu);

    /* a document this process has not parsed yet (or not lately) */
    if (parse(doc, &fresh, err) != 0)
        goto out;
    key = json_deep_copy(doc);
    if (!key) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    *out = due_on(&fresh, resolved_at, business_days);

    pthread_mutex_lock(&cache_mu);
    old_key = cache_doc;
    old_cal = cache_cal;
    cache_doc = key;
    cache_cal = fresh;
    pthread_mutex_unlock(&cache_mu);
    key = NULL;
    memset(&fresh, 0, sizeof fresh); /* the cache owns it now */
    rc = 0;
out:
    json_decref(key);
    esc_calendar_free(&fresh);
    json_decref(old_key);
    esc_calendar_free(&old_cal);
    return rc;
}

void escp_calendar_cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    json_t *old_key = cache_doc;
    struct esc_calendar old_cal = cache_cal;
    cache_doc = NULL;
    memset(&cache_cal, 0, sizeof cache_cal);
    pthread_mutex_unlock(&cache_mu);
    json_decref(old_key);
    esc_calendar_free(&old_cal);
}
