/* free_text.c — personal data in free text at rest (migration 008,
 * docs/security.md): the texts a ticket or an event carries are stored
 * masked, and what the scanner found is sealed beside them, so that every
 * reader of the table (reports, CSV, dashboard, `q`, a database dump) sees
 * only masked text while the audited reveal can still give the original. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/pii.h"
#include "service/service.h"

/* The masked form of one finding: the scanner's own masking applied to the
 * finding's bytes alone, so the stored text is exactly what esc_pii_mask
 * would give for the whole text. */
static char *mask_one(const char *text, const struct esc_pii_finding *fd, size_t *len,
                      esc_error_t *err)
{
    struct esc_pii_finding one = *fd;
    one.offset = 0;
    struct esc_pii_list l = {.items = &one, .n = 1, .cap = 1};
    return esc_pii_mask(text + fd->offset, fd->length, &l, len, err);
}

/* One text: its masked form into f->masked and its findings appended to
 * *arr (created on the first finding).  Nothing found: both left alone. */
static int mask_text(struct escp_free_text *f, json_t **arr, esc_error_t *err)
{
    struct esc_pii_list found = {0};
    char *out = NULL;
    size_t len = strlen(f->text), used = 0, cap = len + 1, prev = 0;
    int rc = -1;
    if (esc_pii_scan(f->text, len, &found, err) != 0)
        goto out;
    if (found.n == 0) {
        rc = 0;
        goto out;
    }
    if (!*arr && !(*arr = json_array()))
        goto oom;
    for (size_t i = 0; i < found.n; i++) {
        const struct esc_pii_finding *fd = &found.items[i];
        size_t ml;
        char *m = mask_one(f->text, fd, &ml, err);
        if (!m)
            goto out;
        size_t need = used + (fd->offset - prev) + ml + (len - fd->offset - fd->length) + 1;
        if (need > cap) {
            char *n = realloc(out, need);
            if (!n) {
                free(m);
                goto oom;
            }
            out = n;
            cap = need;
        } else if (!out && !(out = malloc(cap))) {
            free(m);
            goto oom;
        }
        memcpy(out + used, f->text + prev, fd->offset - prev);
        used += fd->offset - prev;
        json_t *o = json_pack("{s:I, s:I, s:s, s:s%}", "at", (json_int_t)used, "length",
                              (json_int_t)ml, "kind", esc_pii_kind_name(fd->kind), "original",
                              f->text + fd->offset, fd->length);
        memcpy(out + used, m, ml);
        used += ml;
        free(m);
        if (!o || json_array_append_new(*arr, o) != 0)
            goto oom;
        prev = fd->offset + fd->length;
    }
    memcpy(out + used, f->text + prev, len - prev);
    used += len - prev;
    out[used] = '\0';
    f->masked = out;
    out = NULL;
    rc = 0;
    goto out;
oom:
    esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
out:
    free(out);
    esc_pii_list_free(&found);
    return rc;
}

int escp_free_text_mask(struct escp_free_text *f, size_t n, json_t **doc, esc_error_t *err)
{
    *doc = NULL;
    for (size_t i = 0; i < n; i++)
        f[i].masked = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *arr = NULL;
        if (!f[i].text)
            continue;
        if (mask_text(&f[i], &arr, err) != 0) {
            json_decref(arr);
            goto fail;
        }
        if (!arr)
            continue;
        /* json_object_set_new steals arr even when it fails */
        if ((!*doc && !(*doc = json_object())) || json_object_set_new(*doc, f[i].name, arr) != 0) {
            if (!*doc)
                json_decref(arr);
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            goto fail;
        }
    }
    return 0;
fail:
    json_decref(*doc);
    *doc = NULL;
    escp_free_text_clear(f, n);
    return -1;
}

const char *escp_free_text_stored(const struct escp_free_text *f)
{
    return f->masked ? f->masked : f->text;
}

void escp_free_text_clear(struct escp_free_text *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].masked);
        f[i].masked = NULL;
    }
}

static void place(char *buf, size_t len, const char *table, int64_t id)
{
    snprintf(buf, len, "%s.pii:%" PRId64, table, id);
}

char *escp_free_text_seal(struct escp_keyring *kr, const char *table, int64_t id, json_t *doc,
                          esc_error_t *err)
{
    char aad[64];
    char *plain = json_dumps(doc, JSON_COMPACT);
    if (!plain) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    place(aad, sizeof aad, table, id);
    char *s = escp_keyring_seal(kr, plain, strlen(plain), aad, err);
    /* the findings in clear: do not leave them in freed memory */
    memset(plain, 0, strlen(plain));
    free(plain);
    return s;
}

json_t *escp_free_text_open(struct escp_keyring *kr, const char *table, int64_t id,
                            const char *sealed, esc_error_t *err)
{
    char aad[64];
    place(aad, sizeof aad, table, id);
    char *plain = escp_keyring_open(kr, sealed, aad, err);
    if (!plain)
        return NULL;
    json_t *doc = json_loads(plain, 0, NULL);
    memset(plain, 0, strlen(plain));
    free(plain);
    if (!json_is_object(doc)) {
        json_decref(doc);
        esc_error_set(err, ESC_ERR_INTERNAL, "sealed_value", "the free-text findings do not open");
        return NULL;
    }
    return doc;
}

char *escp_free_text_restore(const char *masked, json_t *findings, esc_error_t *err)
{
    size_t len = strlen(masked), prev = 0, cap = len + 1, used = 0, i;
    json_t *fd;
    json_array_foreach(findings, i, fd) {
        const char *orig = json_string_value(json_object_get(fd, "original"));
        cap += orig ? strlen(orig) : 0;
    }
    char *out = malloc(cap);
    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    json_array_foreach(findings, i, fd) {
        json_int_t at = json_integer_value(json_object_get(fd, "at"));
        json_int_t n = json_integer_value(json_object_get(fd, "length"));
        const char *orig = json_string_value(json_object_get(fd, "original"));
        /* in order, inside the text: anything else is not what was sealed
         * for this text */
        if (!orig || at < (json_int_t)prev || n < 0 || (size_t)(at + n) > len) {
            free(out);
            esc_error_set(err, ESC_ERR_INTERNAL, "sealed_value",
                          "the free-text findings do not fit the stored text");
            return NULL;
        }
        memcpy(out + used, masked + prev, (size_t)at - prev);
        used += (size_t)at - prev;
        memcpy(out + used, orig, strlen(orig));
        used += strlen(orig);
        prev = (size_t)(at + n);
    }
    memcpy(out + used, masked + prev, len - prev);
    used += len - prev;
    out[used] = '\0';
    return out;
}

/* ---- rows from before migration 008 ---- */

static const char *const old_names[ESCP_TEXT__COUNT] = {"subject", "description", "category",
                                                        "resolution", "feedback"};

/* One batch in one transaction; *done gets the rows scanned. */
static int scan_batch(struct esc_store *store, struct escp_keyring *kr, int batch, int *done,
                      esc_error_t *err)
{
    struct escp_text_row *rows = NULL;
    int n = 0, rc = -1;
    *done = 0;
    struct escp_conn *c = escp_lease(store, err);
    if (!c)
        return -1;
    if (escp_begin(c, err) != 0)
        goto out;
    if (escp_store_text_pending(c, batch, &rows, &n, err) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        struct escp_free_text ft[ESCP_TEXT__COUNT];
        const char *stored[ESCP_TEXT__COUNT];
        json_t *doc = NULL;
        char *sealed = NULL;
        for (int f = 0; f < ESCP_TEXT__COUNT; f++)
            ft[f] = (struct escp_free_text){old_names[f], rows[i].text[f], NULL};
        if (escp_free_text_mask(ft, ESCP_TEXT__COUNT, &doc, err) != 0)
            goto out;
        for (int f = 0; f < ESCP_TEXT__COUNT; f++)
            stored[f] = escp_free_text_stored(&ft[f]);
        int s = doc && !(sealed = escp_free_text_seal(kr, "tickets", rows[i].id, doc, err)) ? -1 : 0;
        if (s == 0)
            s = escp_store_text_store(c, rows[i].id, stored, sealed, err);
        escp_free_text_clear(ft, ESCP_TEXT__COUNT);
        json_decref(doc);
        free(sealed);
        if (s != 0)
            goto out;
    }
    if (escp_commit(c, err) != 0)
        goto out;
    *done = n;
    rc = 0;
out:
    escp_release(store, c); /* rolls back what did not commit */
    escp_text_rows_free(rows, n);
    return rc;
}

int escp_free_text_scan_old(struct esc_store *store, struct escp_keyring *kr, int batch,
                            long *total, esc_error_t *err)
{
    *total = 0;
    for (;;) {
        int done;
        if (scan_batch(store, kr, batch, &done, err) != 0)
            return -1;
        if (done == 0)
            return 0;
        *total += done;
        log_info("free text: %ld tickets from before migration 008 scanned so far", *total);
    }
}
