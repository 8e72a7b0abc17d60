/* test_openapi_routes.c — docs/openapi.yaml lists exactly the routes the
 * daemon serves: every entry of every table in escp_route_tables (the list
 * app/server.c serves) is a path + method of the document, every operation of
 * the document is a route, and each operation's x-roles are the route's roles
 * mask.  Paths are compared with each parameter written "{}" (the document
 * names them: /v1/tickets/{id}); a parameter the code names ("{tier}") must
 * have that name in the document too.
 *
 * No YAML library: the `paths:` section is read line by line, and the
 * document is written for that (its header says so): a path is a key at 2
 * spaces, a method at 4, `x-roles: [a, b]` a one-line flow list at 6.  A
 * line this reader does not expect at those indents fails the test rather
 * than being skipped, so the layout cannot drift silently. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/server.h"
#include "core/model.h"
#include "http/http.h"

#define MAX_OPS 512

struct op {
    char path[256];   /* as written in the document */
    char method[16];  /* upper case */
    unsigned roles;   /* ESCP_ROLE bits */
    int has_roles;
    int line;
    int matched;
};

static struct op ops[MAX_OPS];
static int nops;
static const char *yaml_path;

static const char *const methods[] = {"get", "put", "post", "delete", "patch", "head", "options",
                                      "trace", NULL};

/* "/v1/tickets/{id}" -> "/v1/tickets/{}"; names of the parameters in `names`
 * (comma-separated, in order). */
static void normalise(const char *in, char *out, size_t cap, char *names, size_t ncap)
{
    size_t o = 0, n = 0;
    names[0] = 0;
    for (const char *p = in; *p && o + 3 < cap;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            assert_non_null(end);
            if (n && n + 1 < ncap)
                names[n++] = ',';
            for (const char *q = p + 1; q < end && n + 1 < ncap; q++)
                names[n++] = *q;
            names[n] = 0;
            out[o++] = '{';
            out[o++] = '}';
            p = end + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
}

static unsigned parse_roles(const char *list, int line)
{
    /* "[a, b]" */
    const char *p = strchr(list, '[');
    const char *end = strrchr(list, ']');
    if (!p || !end || end < p)
        fail_msg("%s:%d: x-roles must be a one-line flow list: %s", yaml_path, line, list);
    unsigned mask = 0;
    p++;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',' && *p != ' ')
            p++;
        if (p == s)
            continue;
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(p - s), s);
        int role = esc_role_from_name(name);
        if (role < 0)
            fail_msg("%s:%d: x-roles names no role: %s", yaml_path, line, name);
        if (mask & ESCP_ROLE(role))
            fail_msg("%s:%d: x-roles names %s twice", yaml_path, line, name);
        mask |= ESCP_ROLE(role);
    }
    return mask;
}

static size_t indent_of(const char *s)
{
    size_t n = 0;
    while (s[n] == ' ')
        n++;
    return n;
}

static void read_paths(void)
{
    FILE *f = fopen(yaml_path, "r");
    if (!f)
        fail_msg("cannot open %s", yaml_path);
    char line[4096];
    int lineno = 0, in_paths = 0, seen_paths = 0;
    struct op *cur = NULL;
    char cur_path[256] = "";
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        size_t ind = indent_of(line);
        const char *text = line + ind;
        if (!*text || *text == '#')
            continue;
        if (ind == 0) {
            in_paths = strcmp(text, "paths:") == 0;
            seen_paths |= in_paths;
            cur = NULL;
            continue;
        }
        if (!in_paths)
            continue;
        if (ind == 2) {
            size_t len = strlen(text);
            if (text[0] != '/' || text[len - 1] != ':' || len >= sizeof cur_path)
                fail_msg("%s:%d: under paths:, a key at 2 spaces must be a path: %s", yaml_path,
                         lineno, text);
            snprintf(cur_path, sizeof cur_path, "%.*s", (int)(len - 1), text);
            cur = NULL;
        } else if (ind == 4) {
            if (!cur_path[0])
                fail_msg("%s:%d: a method before any path", yaml_path, lineno);
            int known = 0;
            for (int i = 0; methods[i]; i++) {
                size_t ml = strlen(methods[i]);
                if (strncmp(text, methods[i], ml) == 0 && text[ml] == ':' && !text[ml + 1]) {
                    known = 1;
                    assert_true(nops < MAX_OPS);
                    cur = &ops[nops++];
                    memset(cur, 0, sizeof *cur);
                    snprintf(cur->path, sizeof cur->path, "%s", cur_path);
                    for (size_t k = 0; k <= ml; k++)
                        cur->method[k] = (char)toupper((unsigned char)methods[i][k]);
                    cur->line = lineno;
                }
            }
            /* path-level parameters/summary are allowed; they are not operations */
            if (!known && strncmp(text, "parameters:", 11) != 0 && strncmp(text, "summary:", 8) != 0 &&
                strncmp(text, "description:", 12) != 0)
                fail_msg("%s:%d: unexpected key under %s: %s", yaml_path, lineno, cur_path, text);
            if (!known)
                cur = NULL;
        } else if (ind == 6 && cur && strncmp(text, "x-roles:", 8) == 0) {
            if (cur->has_roles)
                fail_msg("%s:%d: x-roles twice", yaml_path, lineno);
            cur->roles = parse_roles(text + 8, lineno);
            cur->has_roles = 1;
        }
    }
    fclose(f);
    if (!seen_paths)
        fail_msg("%s has no paths: section", yaml_path);
}

static void document_matches_route_tables(void **state)
{
    (void)state;
    read_paths();
    assert_true(nops > 0);
    int problems = 0;
    for (int i = 0; i < nops; i++) {
        if (!ops[i].has_roles) {
            fprintf(stderr, "%s:%d: %s %s has no x-roles\n", yaml_path, ops[i].line, ops[i].method,
                    ops[i].path);
            problems++;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(ops[i].path, ops[j].path) == 0 && strcmp(ops[i].method, ops[j].method) == 0) {
                fprintf(stderr, "%s:%d: %s %s twice\n", yaml_path, ops[i].line, ops[i].method,
                        ops[i].path);
                problems++;
            }
    }
    int nroutes = 0;
    for (int t = 0; escp_route_tables[t]; t++) {
        for (const struct escp_route *r = escp_route_tables[t]; r->method; r++) {
            nroutes++;
            char want[256], want_names[128];
            normalise(r->pattern, want, sizeof want, want_names, sizeof want_names);
            struct op *found = NULL;
            for (int i = 0; i < nops && !found; i++) {
                char have[256], have_names[128];
                normalise(ops[i].path, have, sizeof have, have_names, sizeof have_names);
                if (strcmp(have, want) == 0 && strcmp(ops[i].method, r->method) == 0) {
                    found = &ops[i];
                    /* a parameter the code names keeps its name */
                    const char *w = want_names, *h = have_names;
                    while (*w || *h) {
                        size_t wl = strcspn(w, ","), hl = strcspn(h, ",");
                        if (wl && (wl != hl || strncmp(w, h, wl) != 0)) {
                            fprintf(stderr, "%s:%d: %s %s: the code names a parameter {%.*s}, "
                                            "the document {%.*s}\n",
                                    yaml_path, ops[i].line, r->method, r->pattern, (int)wl, w,
                                    (int)hl, h);
                            problems++;
                        }
                        w += wl + (w[wl] == ',');
                        h += hl + (h[hl] == ',');
                    }
                }
            }
            if (!found) {
                fprintf(stderr, "route %s %s is not in %s\n", r->method, r->pattern, yaml_path);
                problems++;
                continue;
            }
            found->matched++;
            if (found->has_roles && found->roles != r->roles) {
                fprintf(stderr, "%s:%d: %s %s: x-roles is mask 0x%x, the route's roles 0x%x\n",
                        yaml_path, found->line, r->method, found->path, found->roles, r->roles);
                problems++;
            }
        }
    }
    for (int i = 0; i < nops; i++)
        if (!ops[i].matched) {
            fprintf(stderr, "%s:%d: %s %s is no route of the daemon\n", yaml_path, ops[i].line,
                    ops[i].method, ops[i].path);
            problems++;
        }
    printf("%d routes, %d operations in %s\n", nroutes, nops, yaml_path);
    assert_int_equal(problems, 0);
    assert_int_equal(nroutes, nops);
}

/* The reader itself: a route missing from a document, or a wrong mask, is
 * found (so the test above can fail). */
static void reader_finds_a_difference(void **state)
{
    (void)state;
    char tmp[] = "/tmp/openapi_routes_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("openapi: 3.1.0\npaths:\n  /healthz:\n    get:\n      x-roles: []\n"
          "  /v1/queues/{queue}/claim:\n    post:\n      x-roles: [agent, manager]\n"
          "components: {}\n",
          f);
    fclose(f);
    const char *saved = yaml_path;
    yaml_path = tmp;
    nops = 0;
    read_paths();
    yaml_path = saved;
    unlink(tmp);
    assert_int_equal(nops, 2);
    assert_string_equal(ops[1].path, "/v1/queues/{queue}/claim");
    assert_string_equal(ops[1].method, "POST");
    assert_int_equal(ops[1].roles, ESCP_ROLE(ESC_ROLE_AGENT) | ESCP_ROLE(ESC_ROLE_MANAGER));
    assert_int_equal(ops[0].roles, ESCP_PUBLIC);
    char n[64], names[64];
    normalise(ops[1].path, n, sizeof n, names, sizeof names);
    assert_string_equal(n, "/v1/queues/{}/claim");
    assert_string_equal(names, "queue");
    nops = 0;
}

int main(int argc, char **argv)
{
    yaml_path = argc > 1 ? argv[1] : getenv("ESC_OPENAPI_YAML");
    if (!yaml_path) {
        fprintf(stderr, "usage: %s docs/openapi.yaml\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_finds_a_difference),
        cmocka_unit_test(document_matches_route_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
