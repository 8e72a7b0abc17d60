/* taxonomy.c — the checks of a complaint taxonomy and its flat forms.  PURE. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mask.h"
#include "core/taxonomy.h"
#include "core/validate.h"

int esc_taxonomy_code_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > ESC_TAXONOMY_CODE_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("_.-", *s)))
            return 0;
    return 1;
}

/* A field's path, cut at the buffer (a path of the depth allowed fits). */
static void path_of(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

struct walk {
    json_t *codes, *paths;
    int nodes;
    esc_error_t *err;
};

static int bad(struct walk *w, const char *field, const char *msg)
{
    esc_error_set(w->err, ESC_ERR_VALIDATION, field, "%s %s", field, msg);
    return -1;
}

static int name_ok(json_t *names, const char *lang)
{
    json_t *v = json_object_get(names, lang);
    if (!json_is_string(v))
        return 0;
    size_t n = esc_utf8_length(json_string_value(v));
    return n >= 1 && n <= ESC_TAXONOMY_NAME_MAX;
}

/* One level: the array `nodes` at `field`, under the path `up`. */
static int walk_level(struct walk *w, json_t *nodes, const char *field, json_t *up, int depth)
{
    static const char *const keys[] = {"code", "name", "children", NULL};
    char f[256], sub[256];
    size_t i;
    json_t *node;
    if (!json_is_array(nodes))
        return bad(w, field, "must be an array");
    if (depth > ESC_TAXONOMY_MAX_DEPTH) {
        esc_error_set(w->err, ESC_ERR_VALIDATION, field,
                      "the taxonomy is at most %d levels deep", ESC_TAXONOMY_MAX_DEPTH);
        return -1;
    }
    json_array_foreach(nodes, i, node) {
        path_of(f, sizeof f, "%s.%zu", field, i);
        if (!json_is_object(node))
            return bad(w, f, "must be an object with code, name and children");
        if (++w->nodes > ESC_TAXONOMY_MAX_NODES) {
            esc_error_set(w->err, ESC_ERR_VALIDATION, f, "the taxonomy has at most %d categories",
                          ESC_TAXONOMY_MAX_NODES);
            return -1;
        }
        path_of(sub, sizeof sub, "%s.", f);
        if (escp_only_keys(node, keys, sub, w->err) != 0)
            return -1;
        const char *code = json_string_value(json_object_get(node, "code"));
        path_of(sub, sizeof sub, "%s.code", f);
        if (!code)
            return bad(w, sub, "is required and must be a string");
        if (!esc_taxonomy_code_valid(code))
            return bad(w, sub, "must be 1 to 64 of a-z 0-9 _ . -");
        if (json_object_get(w->paths, code)) {
            esc_error_set(w->err, ESC_ERR_VALIDATION, sub, "the code %s is used twice", code);
            return -1;
        }
        json_t *names = json_object_get(node, "name");
        path_of(sub, sizeof sub, "%s.name", f);
        if (!json_is_object(names))
            return bad(w, sub, "must be an object with zh and en");
        path_of(sub, sizeof sub, "%s.name.", f);
        if (escp_only_keys(names, (const char *const[]){"zh", "en", NULL}, sub, w->err) != 0)
            return -1;
        for (const char *const *lang = (const char *const[]){"zh", "en", NULL}; *lang; lang++) {
            path_of(sub, sizeof sub, "%s.name.%s", f, *lang);
            if (!name_ok(names, *lang)) {
                esc_error_set(w->err, ESC_ERR_VALIDATION, sub, "%s must be 1 to %d characters",
                              sub, ESC_TAXONOMY_NAME_MAX);
                return -1;
            }
        }
        json_t *path = json_copy(up);
        if (!path || json_array_append_new(path, json_string(code)) != 0 ||
            json_object_set_new(w->paths, code, path) != 0 ||
            json_array_append_new(w->codes, json_string(code)) != 0) {
            esc_error_set(w->err, ESC_ERR_INTERNAL, NULL, "out of memory");
            return -1;
        }
        json_t *children = json_object_get(node, "children");
        path_of(sub, sizeof sub, "%s.children", f);
        if (children && !json_is_null(children) &&
            walk_level(w, children, sub, path, depth + 1) != 0)
            return -1;
    }
    return 0;
}

int esc_taxonomy_check(json_t *categories, json_t **codes, json_t **paths, esc_error_t *err)
{
    struct walk w = {json_array(), json_object(), 0, err};
    json_t *root = json_array();
    *codes = *paths = NULL;
    int rc = -1;
    if (!w.codes || !w.paths || !root) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (json_is_array(categories) && json_array_size(categories) == 0) {
        esc_error_set(err, ESC_ERR_VALIDATION, "categories", "categories must not be empty");
        goto out;
    }
    if (walk_level(&w, categories, "categories", root, 1) != 0)
        goto out;
    *codes = w.codes;
    *paths = w.paths;
    w.codes = w.paths = NULL;
    rc = 0;
out:
    json_decref(w.codes);
    json_decref(w.paths);
    json_decref(root);
    return rc;
}
