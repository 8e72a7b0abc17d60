/* customer.c — the customer's data at rest (docs/security.md): the data key
 * ring the daemon holds, sealing a new ticket's customer (sealed, masked and
 * blind-indexed forms, migration 006), opening it for the recorded reveal,
 * and re-sealing rows in batches (rows from before 006 at start-up, rows of
 * an older key version after a rotation). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/datakey.h"
#include "base/log.h"
#include "core/mask.h"
#include "service/service.h"

/* A ring is immutable; a reload swaps in a new one under the write lock, so
 * a seal or open in progress (under the read lock) never sees it freed. */
struct escp_keyring {
    pthread_rwlock_t lock;
    pthread_mutex_t reload_mu;
    struct esc_datakey *ring;
    char *path;
    time_t last_reload;
    /* the file as last loaded, and when it was last looked at (seconds) */
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    time_t last_check;
};

static void remember_file(struct escp_keyring *kr)
{
    struct stat st;
    if (stat(kr->path, &st) == 0) {
        kr->dev = st.st_dev;
        kr->ino = st.st_ino;
        kr->mtime = st.st_mtim;
    }
}

struct escp_keyring *escp_keyring_load(const char *path, esc_error_t *err)
{
    struct escp_keyring *kr = calloc(1, sizeof *kr);
    if (!kr || !(kr->path = strdup(path))) {
        free(kr);
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&kr->lock, NULL);
    pthread_mutex_init(&kr->reload_mu, NULL);
    kr->ring = esc_datakey_load(path, err);
    if (!kr->ring) {
        escp_keyring_free(kr);
        return NULL;
    }
    kr->last_reload = time(NULL);
    remember_file(kr);
    return kr;
}

/* Load the key file and put it in use; the ring now in use (borrowed), or
 * NULL when the file does not load (logged with `failure`, the old ring stays).
 * The caller holds reload_mu. */
static struct esc_datakey *reload_ring(struct escp_keyring *kr, const char *failure)
{
    esc_error_t e = {0};
    struct esc_datakey *fresh = esc_datakey_load(kr->path, &e);
    if (!fresh) {
        log_warn("data key file %s %s: %s", kr->path, failure, e.message);
        return NULL;
    }
    pthread_rwlock_wrlock(&kr->lock);
    struct esc_datakey *old = kr->ring;
    kr->ring = fresh;
    pthread_rwlock_unlock(&kr->lock);
    esc_datakey_free(old);
    log_info("data key file %s reloaded: sealing with version %u", kr->path,
             esc_datakey_current_version(fresh));
    return fresh;
}

/* Before sealing, at most once a second: has the key file been replaced
 * (a rotation renames a new one over it)?  Then seal with its new version
 * from now on, so that a rotation's re-sealing is not undone by daemons
 * still sealing with the old version (`data-key rotate` waits two seconds
 * after adding the version for this).  A stat() a second costs nothing. */
static void reload_if_replaced(struct escp_keyring *kr)
{
    time_t now = time(NULL);
    struct stat st;
    pthread_mutex_lock(&kr->reload_mu);
    if (now != kr->last_check) {
        kr->last_check = now;
        if (stat(kr->path, &st) == 0 &&
            (st.st_ino != kr->ino || st.st_dev != kr->dev ||
             st.st_mtim.tv_sec != kr->mtime.tv_sec || st.st_mtim.tv_nsec != kr->mtime.tv_nsec)) {
            reload_ring(kr, "changed but cannot be loaded"); /* a failure is logged */
            /* remembered either way: a broken file is reported once, not
             * every second */
            kr->dev = st.st_dev;
            kr->ino = st.st_ino;
            kr->mtime = st.st_mtim;
        }
    }
    pthread_mutex_unlock(&kr->reload_mu);
}

void escp_keyring_free(struct escp_keyring *kr)
{
    if (!kr)
        return;
    esc_datakey_free(kr->ring);
    pthread_rwlock_destroy(&kr->lock);
    pthread_mutex_destroy(&kr->reload_mu);
    free(kr->path);
    free(kr);
}

int escp_keyring_reload(struct escp_keyring *kr, esc_error_t *err)
{
    pthread_mutex_lock(&kr->reload_mu);
    struct esc_datakey *ring = reload_ring(kr, "cannot be loaded");
    if (ring)
        remember_file(kr);
    pthread_mutex_unlock(&kr->reload_mu);
    if (!ring)
        esc_error_set(err, ESC_ERR_VALIDATION, "data_key_file",
                      "the data key file %s cannot be loaded (the key in use stays)", kr->path);
    return ring ? 0 : -1;
}

unsigned escp_keyring_version(struct escp_keyring *kr)
{
    pthread_rwlock_rdlock(&kr->lock);
    unsigned v = esc_datakey_current_version(kr->ring);
    pthread_rwlock_unlock(&kr->lock);
    return v;
}

/* Load the key file again when a value names a version this ring lacks (a
 * rotation by `escalated data-key rotate` since this daemon started): at
 * most once a second, so a forged version cannot make every request read
 * the file.  0 when the ring now has `version`. */
static int reload_for(struct escp_keyring *kr, unsigned version)
{
    int ok = 0;
    pthread_mutex_lock(&kr->reload_mu);
    pthread_rwlock_rdlock(&kr->lock);
    ok = esc_datakey_has_version(kr->ring, version);
    pthread_rwlock_unlock(&kr->lock);
    time_t now = time(NULL);
    if (!ok && now != kr->last_reload) {
        kr->last_reload = now;
        struct esc_datakey *fresh = reload_ring(kr, "could not be reloaded");
        if (fresh) {
            ok = esc_datakey_has_version(fresh, version);
            remember_file(kr);
        }
    }
    pthread_mutex_unlock(&kr->reload_mu);
    return ok ? 0 : -1;
}

static const char *const field_names[ESCP_CUST__COUNT] = {"name", "phone", "email", "id_number",
                                                           "bank_card"};

/* "tickets.customer_phone:42": the place a value is bound to, so that a
 * sealed value copied to another column or ticket does not open. */
static void place(char *buf, size_t len, int field, int64_t id)
{
    snprintf(buf, len, "tickets.customer_%s:%" PRId64, field_names[field], id);
}

/* The name as ordinary reads show it: its first character and a '*' for
 * each other one ("王小明" -> "王**"): enough for an agent to address the
 * customer (王先生), not enough to identify them. */
static char *mask_name(const char *s)
{
    size_t n = esc_utf8_length(s), first = 0;
    if (*s) {
        first = 1;
        while (((unsigned char)s[first] & 0xC0) == 0x80)
            first++;
    }
    char *out = malloc(first + (n ? n - 1 : 0) + 1);
    if (!out)
        return NULL;
    memcpy(out, s, first);
    memset(out + first, '*', n ? n - 1 : 0);
    out[first + (n ? n - 1 : 0)] = '\0';
    return out;
}

static char *(*const maskers[ESCP_CUST__COUNT])(const char *) = {
    mask_name, esc_mask_phone, esc_mask_email, esc_mask_id_number, esc_mask_bank_card};

void escp_customer_stored_clear(struct escp_customer_stored *cs)
{
    for (int f = 0; f < ESCP_CUST__COUNT; f++) {
        free(cs->sealed[f]);
        free(cs->masked[f]);
    }
    free(cs->phone_bi);
    free(cs->id_number_bi);
    memset(cs, 0, sizeof *cs);
}

/* The blind index of a value of `kind` after normalising it; NULL (no
 * index, not an error) when the value has no normal form: the field's own
 * validation is looser than the index's (a phone with an extension). */
static char *index_of(const struct esc_datakey *ring, const char *kind, const char *value,
                      char *(*normalise)(const char *, esc_error_t *))
{
    esc_error_t e = {0};
    char *norm = normalise(value, &e), *out = NULL;
    if (norm) {
        char bi[ESC_BLIND_INDEX_LEN + 1];
        if (esc_blind_index(ring, kind, norm, bi, &e) == 0)
            out = strdup(bi);
        free(norm);
    }
    return out;
}

int escp_customer_seal(struct escp_keyring *kr, int64_t id, const char *const clear[ESCP_CUST__COUNT],
                       struct escp_customer_stored *cs, esc_error_t *err)
{
    int rc = -1;
    char aad[96];
    memset(cs, 0, sizeof *cs);
    cs->id = id;
    reload_if_replaced(kr);
    pthread_rwlock_rdlock(&kr->lock);
    for (int f = 0; f < ESCP_CUST__COUNT; f++) {
        if (!clear[f])
            continue;
        place(aad, sizeof aad, f, id);
        cs->sealed[f] = esc_seal(kr->ring, clear[f], strlen(clear[f]), aad, err);
        cs->masked[f] = maskers[f](clear[f]);
        if (!cs->sealed[f] || !cs->masked[f]) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the customer could not be sealed");
            goto out;
        }
        cs->key_version = esc_datakey_current_version(kr->ring);
    }
    if (clear[ESCP_CUST_PHONE])
        cs->phone_bi = index_of(kr->ring, "phone", clear[ESCP_CUST_PHONE], esc_normalise_phone);
    if (clear[ESCP_CUST_ID_NUMBER])
        cs->id_number_bi = index_of(kr->ring, "id_number", clear[ESCP_CUST_ID_NUMBER],
                                    esc_normalise_id_number);
    rc = 0;
out:
    pthread_rwlock_unlock(&kr->lock);
    if (rc != 0)
        escp_customer_stored_clear(cs);
    return rc;
}

int escp_customer_open(struct escp_keyring *kr, int64_t id, const char *const sealed[ESCP_CUST__COUNT],
                       char *clear[ESCP_CUST__COUNT], esc_error_t *err)
{
    char aad[96];
    memset(clear, 0, sizeof(char *) * ESCP_CUST__COUNT);
    for (int f = 0; f < ESCP_CUST__COUNT; f++) {
        if (!sealed[f])
            continue;
        unsigned v = esc_sealed_version(sealed[f]);
        pthread_rwlock_rdlock(&kr->lock);
        int known = esc_datakey_has_version(kr->ring, v);
        pthread_rwlock_unlock(&kr->lock);
        if (!known && v != 0)
            reload_for(kr, v);
        place(aad, sizeof aad, f, id);
        pthread_rwlock_rdlock(&kr->lock);
        clear[f] = esc_open(kr->ring, sealed[f], aad, NULL, err);
        pthread_rwlock_unlock(&kr->lock);
        if (!clear[f]) {
            log_error("ticket %" PRId64 ": customer.%s does not open (key version %u)", id,
                          field_names[f], v);
            for (int g = 0; g < f; g++) {
                free(clear[g]);
                clear[g] = NULL;
            }
            return -1;
        }
    }
    return 0;
}

int escp_customer_try_open(const char *conninfo, struct escp_keyring *kr, int64_t *id,
                           unsigned *version, esc_error_t *err)
{
    struct escp_customer_row row;
    char *clear[ESCP_CUST__COUNT];
    int found = 0, rc = -1;
    *id = 0;
    *version = 0;
    if (escp_store_customer_sample(conninfo, &row, &found, err) != 0)
        return -1;
    if (!found)
        return 0;
    esc_error_t oerr = {0};
    if (escp_customer_open(kr, row.id, (const char *const *)row.sealed, clear, &oerr) == 0) {
        for (int f = 0; f < ESCP_CUST__COUNT; f++)
            if (clear[f]) {
                memset(clear[f], 0, strlen(clear[f])); /* customer data: not left in memory */
                free(clear[f]);
            }
        rc = 0;
    } else {
        esc_error_set(err, ESC_ERR_VALIDATION, "data_key_file",
                      "ticket %" PRId64 "'s customer record (key version %u) does not open with "
                      "this data key file: %s", row.id, row.version, oerr.message);
    }
    *id = row.id;
    *version = row.version;
    for (int f = 0; f < ESCP_CUST__COUNT; f++)
        free(row.sealed[f]);
    return rc;
}

int escp_customer_index(struct escp_keyring *kr, const char *kind, const char *value,
                        char out[ESC_BLIND_INDEX_LEN + 1], esc_error_t *err)
{
    char *norm = strcmp(kind, "phone") == 0 ? esc_normalise_phone(value, err)
                                            : esc_normalise_id_number(value, err);
    if (!norm)
        return -1;
    pthread_rwlock_rdlock(&kr->lock);
    int rc = esc_blind_index(kr->ring, kind, norm, out, err);
    pthread_rwlock_unlock(&kr->lock);
    free(norm);
    return rc;
}

int escp_keyring_mac(struct escp_keyring *kr, const char *kind, const char *msg,
                     char out[ESC_BLIND_INDEX_LEN + 1], esc_error_t *err)
{
    pthread_rwlock_rdlock(&kr->lock);
    int rc = esc_blind_index(kr->ring, kind, msg, out, err);
    pthread_rwlock_unlock(&kr->lock);
    return rc;
}

/* ---- re-sealing in batches ---- */

/* One batch in one transaction; *done gets the rows sealed anew. */
static int reseal_batch(struct esc_store *store, struct escp_keyring *kr, unsigned below, int batch,
                        int *done, esc_error_t *err)
{
    struct escp_customer_row *rows = NULL;
    int n = 0, rc = -1;
    *done = 0;
    struct escp_conn *c = escp_lease(store, err);
    if (!c)
        return -1;
    if (escp_begin(c, err) != 0)
        goto out;
    if (escp_store_customer_pending(c, below, batch, &rows, &n, err) != 0)
        goto rollback;
    for (int i = 0; i < n; i++) {
        char *opened[ESCP_CUST__COUNT] = {0};
        const char *clear[ESCP_CUST__COUNT] = {0};
        struct escp_customer_stored cs;
        if (rows[i].version != 0 &&
            escp_customer_open(kr, rows[i].id, (const char *const *)rows[i].sealed, opened, err) != 0)
            goto rollback;
        for (int f = 0; f < ESCP_CUST__COUNT; f++) /* a clear column wins: written later */
            clear[f] = rows[i].clear[f] ? rows[i].clear[f] : opened[f];
        int s = escp_customer_seal(kr, rows[i].id, clear, &cs, err);
        for (int f = 0; f < ESCP_CUST__COUNT; f++)
            free(opened[f]);
        if (s != 0)
            goto rollback;
        s = escp_store_customer_store(c, &cs, err);
        escp_customer_stored_clear(&cs);
        if (s != 0)
            goto rollback;
    }
    if (escp_commit(c, err) != 0)
        goto out;
    *done = n;
    rc = 0;
    goto out;
rollback:
    escp_rollback(c);
out:
    escp_release(store, c);
    escp_customer_rows_free(rows, n);
    return rc;
}

int escp_customer_reseal(struct esc_store *store, struct escp_keyring *kr, unsigned below,
                         int batch, long *total, esc_error_t *err)
{
    *total = 0;
    for (;;) {
        int done;
        if (reseal_batch(store, kr, below, batch, &done, err) != 0)
            return -1;
        if (done == 0)
            return 0;
        *total += done;
        log_info("customer data: %ld rows sealed with key version %u so far", *total,
                     escp_keyring_version(kr));
    }
}

/* ---- any other value (free-text findings, free_text.c) ---- */

char *escp_keyring_seal(struct escp_keyring *kr, const char *plain, size_t len, const char *aad,
                        esc_error_t *err)
{
    reload_if_replaced(kr);
    pthread_rwlock_rdlock(&kr->lock);
    char *s = esc_seal(kr->ring, plain, len, aad, err);
    pthread_rwlock_unlock(&kr->lock);
    return s;
}

char *escp_keyring_open(struct escp_keyring *kr, const char *sealed, const char *aad,
                        esc_error_t *err)
{
    unsigned v = esc_sealed_version(sealed);
    pthread_rwlock_rdlock(&kr->lock);
    int known = esc_datakey_has_version(kr->ring, v);
    pthread_rwlock_unlock(&kr->lock);
    if (!known && v != 0)
        reload_for(kr, v);
    pthread_rwlock_rdlock(&kr->lock);
    char *p = esc_open(kr->ring, sealed, aad, NULL, err);
    pthread_rwlock_unlock(&kr->lock);
    return p;
}
