/* test_api_metrics.c — GET /metrics: the Prometheus text format parsed strictly
 * (every line a HELP, a TYPE or a sample; names and label escapes valid;
 * every family with one HELP and one TYPE before its samples; histograms
 * cumulative with _count equal to the +Inf bucket), request counters that
 * grow by exactly the requests made, database gauges equal to SQL counts, a
 * breach counted, and a 200 with escalated_db_up 0 when the database is
 * unreachable. */
#include "harness.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static h_ctx *H;

static int setup(void **state)
{
    (void)state;
    /* the webhook worker would move notifications from pending to
     * undeliverable between a scrape and the SQL count it is compared with */
    setenv("ESCALATED_WEBHOOK_WORKER", "off", 1);
    H = h_start("test_api_metrics", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_finish(H);
    return 0;
}

/* ------------------------------------------------- a strict parser */

struct label {
    char *name, *value;
};

struct sample {
    char *name;
    struct label *labels;
    size_t nlabels;
    double value;
    char *family;
};

struct family {
    char *name, *type;
    int has_help, has_type, nsamples;
};

struct scrape {
    struct sample *s;
    size_t n;
    struct family *f;
    size_t nf;
};

static void scrape_free(struct scrape *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->s[i].name);
        for (size_t j = 0; j < p->s[i].nlabels; j++) {
            free(p->s[i].labels[j].name);
            free(p->s[i].labels[j].value);
        }
        free(p->s[i].labels);
    }
    for (size_t i = 0; i < p->nf; i++) {
        free(p->f[i].name);
        free(p->f[i].type);
    }
    free(p->s);
    free(p->f);
    free(p);
}

#define BAD(...)                                                              \
    do {                                                                      \
        print_error("line %d: ", lineno);                                     \
        print_error(__VA_ARGS__);                                             \
        print_error("\n  in: %.*s\n", (int)strcspn(line, "\n"), line);        \
        fail();                                                               \
    } while (0)

static size_t metric_name_len(const char *p)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':'))
        return 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':')
        n++;
    return n;
}

static size_t label_name_len(const char *p)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)p[0]) || p[0] == '_'))
        return 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
    return n;
}

static struct family *family_get(struct scrape *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->nf; i++)
        if (strlen(p->f[i].name) == len && strncmp(p->f[i].name, name, len) == 0)
            return &p->f[i];
    return NULL;
}

static struct family *family_add(struct scrape *p, const char *name, size_t len)
{
    p->f = realloc(p->f, (p->nf + 1) * sizeof *p->f);
    struct family *f = &p->f[p->nf++];
    memset(f, 0, sizeof *f);
    f->name = strndup(name, len);
    return f;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The family a sample name belongs to under the TYPE declared for it. */
static struct family *family_of_sample(struct scrape *p, const char *name)
{
    struct family *f = family_get(p, name, strlen(name));
    if (f && strcmp(f->type, "histogram") != 0 && strcmp(f->type, "summary") != 0)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++)
        if (ends_with(name, suffixes[i])) {
            struct family *g = family_get(p, name, strlen(name) - strlen(suffixes[i]));
            if (g && g->has_type && strcmp(g->type, "histogram") == 0)
                return g;
        }
    return NULL;
}

static double parse_value(const char *s, size_t len, int *ok)
{
    char buf[64];
    *ok = 0;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strcmp(buf, "+Inf") == 0) {
        *ok = 1;
        return INFINITY;
    }
    if (strcmp(buf, "-Inf") == 0) {
        *ok = 1;
        return -INFINITY;
    }
    if (strcmp(buf, "NaN") == 0) {
        *ok = 1;
        return NAN;
    }
    for (size_t i = 0; i < len; i++)
        if (!(isdigit((unsigned char)buf[i]) || strchr("+-.eE", buf[i])))
            return 0;
    char *end;
    double v = strtod(buf, &end);
    *ok = *end == '\0';
    return v;
}

/* Parse an exposition; fails the test on the first deviation. */
static struct scrape *parse(const char *text)
{
    struct scrape *p = calloc(1, sizeof *p);
    int lineno = 0;
    const char *line = text;
    const char *current = NULL; /* the family whose samples are being read */
    assert_true(strlen(text) > 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    while (*line) {
        lineno++;
        size_t llen = strcspn(line, "\n");
        const char *next = line + llen + 1;
        if (llen == 0)
            BAD("empty line");
        if (line[0] == '#') {
            int help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
            if (!help && !type)
                BAD("a comment that is neither HELP nor TYPE");
            size_t nlen = metric_name_len(line + 7);
            if (!nlen || line[7 + nlen] != ' ')
                BAD("bad metric name");
            struct family *f = family_get(p, line + 7, nlen);
            if (!f)
                f = family_add(p, line + 7, nlen);
            if (f->nsamples)
                BAD("HELP/TYPE after the family's samples");
            const char *rest = line + 7 + nlen + 1;
            size_t rlen = (size_t)(line + llen - rest);
            if (help) {
                if (f->has_help++)
                    BAD("second HELP");
                if (rlen == 0)
                    BAD("empty HELP");
                for (size_t i = 0; i < rlen; i++)
                    if (rest[i] == '\\' && (i + 1 >= rlen || (rest[i + 1] != '\\' && rest[i + 1] != 'n')))
                        BAD("bad escape in HELP");
                    else if (rest[i] == '\\')
                        i++;
            } else {
                if (f->has_type++)
                    BAD("second TYPE");
                f->type = strndup(rest, rlen);
                if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
                    strcmp(f->type, "histogram"))
                    BAD("unexpected type %s", f->type);
            }
            line = next;
            continue;
        }
        /* a sample: name{labels} value */
        struct sample s = {0};
        size_t nlen = metric_name_len(line);
        if (!nlen)
            BAD("bad metric name");
        s.name = strndup(line, nlen);
        const char *q = line + nlen;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t ln = label_name_len(q);
                if (!ln || q[ln] != '=' || q[ln + 1] != '"')
                    BAD("bad label");
                char *lname = strndup(q, ln);
                for (size_t j = 0; j < s.nlabels; j++)
                    if (strcmp(s.labels[j].name, lname) == 0)
                        BAD("duplicate label %s", lname);
                q += ln + 2;
                char *val = malloc(strlen(q) + 1);
                size_t vn = 0;
                while (*q != '"') {
                    if (*q == '\n' || *q == '\0')
                        BAD("unterminated label value");
                    if (*q == '\\') {
                        if (q[1] == '\\')
                            val[vn++] = '\\';
                        else if (q[1] == '"')
                            val[vn++] = '"';
                        else if (q[1] == 'n')
                            val[vn++] = '\n';
                        else
                            BAD("bad escape in a label value");
                        q += 2;
                    } else {
                        val[vn++] = *q++;
                    }
                }
                val[vn] = '\0';
                q++;
                s.labels = realloc(s.labels, (s.nlabels + 1) * sizeof *s.labels);
                s.labels[s.nlabels++] = (struct label){lname, val};
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    BAD("expected , or }");
            }
            q++;
        }
        if (*q != ' ')
            BAD("expected one space before the value");
        q++;
        int ok;
        size_t vlen = (size_t)(line + llen - q);
        s.value = parse_value(q, vlen, &ok);
        if (!ok)
            BAD("bad value (or a timestamp, which we never send)");
        struct family *f = family_of_sample(p, s.name);
        if (!f || !f->has_help || !f->has_type)
            BAD("sample without a HELP and a TYPE before it");
        if (current && strcmp(current, f->name) != 0 && f->nsamples)
            BAD("samples of family %s are not together", f->name);
        current = f->name;
        f->nsamples++;
        s.family = f->name;
        if (strcmp(f->type, "counter") == 0 && !(s.value >= 0))
            BAD("a counter below 0");
        /* no sample twice */
        for (size_t i = 0; i < p->n; i++) {
            if (strcmp(p->s[i].name, s.name) || p->s[i].nlabels != s.nlabels)
                continue;
            size_t same = 0;
            for (size_t a = 0; a < s.nlabels; a++)
                for (size_t b = 0; b < s.nlabels; b++)
                    same += !strcmp(s.labels[a].name, p->s[i].labels[b].name) &&
                            !strcmp(s.labels[a].value, p->s[i].labels[b].value);
            if (same == s.nlabels)
                BAD("the same series twice");
        }
        p->s = realloc(p->s, (p->n + 1) * sizeof *p->s);
        p->s[p->n++] = s;
        line = next;
    }
    for (size_t i = 0; i < p->nf; i++)
        if (!p->f[i].has_help || !p->f[i].has_type) {
            print_error("family %s lacks HELP or TYPE\n", p->f[i].name);
            fail();
        }
    return p;
}

static const char *label_of(const struct sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}

/* Same labels, except `skip` (may be NULL). */
static int same_labels(const struct sample *a, const struct sample *b, const char *skip)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < a->nlabels; i++) {
        if (skip && strcmp(a->labels[i].name, skip) == 0)
            continue;
        na++;
        const char *v = label_of(b, a->labels[i].name);
        if (!v || strcmp(v, a->labels[i].value) != 0)
            return 0;
    }
    for (size_t i = 0; i < b->nlabels; i++)
        nb += !(skip && strcmp(b->labels[i].name, skip) == 0);
    return na == nb;
}

/* The value of name{labels...} (NULL-terminated pairs, exactly those labels); NAN if absent. */
static double value_of(const struct scrape *p, const char *name, const char *const *labels)
{
    size_t want = 0;
    while (labels && labels[want])
        want += 2;
    want /= 2;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->s[i].name, name) != 0 || p->s[i].nlabels != want)
            continue;
        size_t hit = 0;
        for (size_t j = 0; j < want; j++) {
            const char *v = label_of(&p->s[i], labels[2 * j]);
            hit += v && strcmp(v, labels[2 * j + 1]) == 0;
        }
        if (hit == want)
            return p->s[i].value;
    }
    return NAN;
}

static double value0(const struct scrape *p, const char *name, const char *const *labels)
{
    double v = value_of(p, name, labels);
    return isnan(v) ? 0 : v;
}

static const struct family *family_named(const struct scrape *p, const char *name)
{
    for (size_t i = 0; i < p->nf; i++)
        if (strcmp(p->f[i].name, name) == 0)
            return &p->f[i];
    return NULL;
}

/* Histogram rules for every histogram series. */
static void check_histograms(const struct scrape *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct sample *c = &p->s[i];
        if (!ends_with(c->name, "_count") || !family_named(p, c->family) ||
            strcmp(family_named(p, c->family)->type, "histogram") != 0)
            continue;
        char bucket[128], sum[128];
        snprintf(bucket, sizeof bucket, "%s_bucket", c->family);
        snprintf(sum, sizeof sum, "%s_sum", c->family);
        double prev_le = -INFINITY, prev_n = 0, inf_n = NAN;
        int nb = 0, have_sum = 0;
        for (size_t j = 0; j < p->n; j++) {
            const struct sample *b = &p->s[j];
            if (strcmp(b->name, sum) == 0 && same_labels(b, c, NULL)) {
                have_sum = 1;
                assert_true(b->value >= 0);
            }
            if (strcmp(b->name, bucket) != 0 || !same_labels(b, c, "le"))
                continue;
            const char *le = label_of(b, "le");
            assert_non_null(le);
            int ok;
            double bound = parse_value(le, strlen(le), &ok);
            assert_true(ok);
            if (!(bound > prev_le) || b->value < prev_n) {
                print_error("%s: buckets out of order or not cumulative at le=%s\n", c->family, le);
                fail();
            }
            prev_le = bound;
            prev_n = b->value;
            nb++;
            if (isinf(bound))
                inf_n = b->value;
        }
        if (nb < 2 || isnan(inf_n) || inf_n != c->value || !have_sum) {
            print_error("%s{route=%s,method=%s}: %d buckets, +Inf %g, _count %g, _sum %s\n",
                        c->family, label_of(c, "route"), label_of(c, "method"), nb, inf_n, c->value,
                        have_sum ? "present" : "missing");
            fail();
        }
    }
}

static h_resp *get_metrics(const char *base)
{
    h_resp *r = base ? h_reqv_at(H, base, "GET", "/metrics", NULL, NULL, 0, NULL)
                     : h_req(H, "GET", "/metrics", NULL, NULL);
    h_expect_status(r, 200);
    const char *ct = h_header(r, "Content-Type");
    if (!ct || strcmp(ct, "text/plain; version=0.0.4; charset=utf-8") != 0) {
        print_error("Content-Type: %s\n", ct ? ct : "(none)");
        fail();
    }
    return r;
}

static struct scrape *scrape_at(const char *base)
{
    h_resp *r = get_metrics(base);
    struct scrape *p = parse(r->body);
    check_histograms(p);
    h_free(H, r);
    return p;
}

static struct scrape *scrape(void) { return scrape_at(NULL); }

/* --------------------------------------------------------------- tests */

struct expect {
    const char *route, *method, *status;
    int delta;
};

static void each_request_is_counted_once_under_its_route_method_and_status(void **state)
{
    (void)state;
    json_int_t id = h_new_ticket(H, "metrics: warm-up", "normal", NULL);
    struct scrape *a = scrape();

    json_int_t id2 = h_new_ticket(H, "metrics: counted", "normal", NULL);
    h_expect_status(h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), H->k.frontdesk, NULL), 200);
    h_expect_status(h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id2), H->k.manager, NULL), 200);
    h_expect_error(h_req(H, "GET", "/v1/tickets/999999999", H->k.manager, NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", h_fmt(H, "/v1/tickets/%lld", (long long)id), NULL, NULL), 401,
                   "unauthenticated");
    h_expect_error(h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "{\"subject\": "), 400, "invalid_json");
    h_expect_error(h_req(H, "POST", "/v1/tickets", H->k.frontdesk, "subject=x",
                         "Content-Type: text/plain"),
                   415, "unsupported_media_type");
    h_expect_error(h_req(H, "GET", "/no/such/route", NULL, NULL), 404, "not_found");
    h_expect_error(h_req(H, "GET", "/v1/tickets/1/nope", H->k.manager, NULL), 404, "not_found");
    h_expect_error(h_req(H, "DELETE", "/v1/tickets", H->k.manager, NULL), 405, "method_not_allowed");
    h_expect_status(h_req(H, "HEAD", "/healthz", NULL, NULL), 200);
    h_expect_error(h_req(H, "GET", "/metrics?format=json", NULL, NULL), 400, "validation_failed");
    /* a long poll on an empty queue: 204 after waiting */
    h_expect_status(h_req(H, "POST", "/v1/queues/line-3/claim?wait=0.3", H->k.agent[3], NULL), 204);

    struct scrape *b = scrape();
    const struct expect want[] = {
        {"/v1/tickets", "POST", "201", 1},
        {"/v1/tickets/{id}", "GET", "200", 2},
        {"/v1/tickets/{id}", "GET", "404", 1},
        {"/v1/tickets/{id}", "GET", "401", 1},
        {"/v1/tickets", "POST", "400", 1},
        {"/v1/tickets", "POST", "415", 1},
        {"unmatched", "GET", "404", 2},
        {"/v1/tickets", "DELETE", "405", 1},
        {"/healthz", "HEAD", "200", 1},
        {"/metrics", "GET", "400", 1},
        {"/metrics", "GET", "200", 1}, /* the first scrape: counted once answered */
        {"/v1/queues/{tier}/claim", "POST", "204", 1},
    };
    const char *N = "escalated_http_requests_total";
    int failures = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *const l[] = {"route", want[i].route, "method", want[i].method, "status",
                                 want[i].status, NULL};
        double d = value0(b, N, l) - value0(a, N, l);
        if (d != want[i].delta) {
            print_error("%s %s -> %s: counted %g more, expected %d\n", want[i].method,
                        want[i].route, want[i].status, d, want[i].delta);
            failures++;
        }
    }
    /* nothing else moved, and nothing went away */
    for (size_t i = 0; i < b->n; i++) {
        const struct sample *s = &b->s[i];
        if (strcmp(s->name, N) != 0)
            continue;
        int listed = 0;
        for (size_t j = 0; j < sizeof want / sizeof want[0]; j++)
            listed |= !strcmp(label_of(s, "route"), want[j].route) &&
                      !strcmp(label_of(s, "method"), want[j].method) &&
                      !strcmp(label_of(s, "status"), want[j].status);
        const char *const l[] = {"route", label_of(s, "route"), "method", label_of(s, "method"),
                                 "status", label_of(s, "status"), NULL};
        if (!listed && s->value != value0(a, N, l)) {
            print_error("%s %s -> %s changed (%g -> %g) without a request\n", l[3], l[1], l[5],
                        value0(a, N, l), s->value);
            failures++;
        }
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct sample *s = &a->s[i];
        if (strcmp(s->name, N) != 0)
            continue;
        const char *const l[] = {"route", label_of(s, "route"), "method", label_of(s, "method"),
                                 "status", label_of(s, "status"), NULL};
        if (isnan(value_of(b, N, l))) {
            print_error("series %s %s %s disappeared\n", l[3], l[1], l[5]);
            failures++;
        }
    }
    /* each histogram counts exactly the requests of its route and method */
    for (size_t i = 0; i < b->n; i++) {
        const struct sample *c = &b->s[i];
        if (strcmp(c->name, "escalated_http_request_duration_seconds_count") != 0)
            continue;
        double total = 0;
        for (size_t j = 0; j < b->n; j++)
            if (strcmp(b->s[j].name, N) == 0 && same_labels(&b->s[j], c, "status"))
                total += b->s[j].value;
        if (total != c->value) {
            print_error("histogram %s %s counts %g, requests_total says %g\n",
                        label_of(c, "method"), label_of(c, "route"), c->value, total);
            failures++;
        }
    }
    /* the time went into the right route: the long poll is in the claim route's sum */
    const char *const claim[] = {"route", "/v1/queues/{tier}/claim", "method", "POST", NULL};
    const char *const one[] = {"route", "/v1/tickets/{id}", "method", "GET", NULL};
    double claim_sum = value0(b, "escalated_http_request_duration_seconds_sum", claim) -
                       value0(a, "escalated_http_request_duration_seconds_sum", claim);
    if (!(claim_sum >= 0.25 && claim_sum < 10)) {
        print_error("the claim that waited 0.3 s added %g s to its route's sum\n", claim_sum);
        failures++;
    }
    double get_sum = value0(b, "escalated_http_request_duration_seconds_sum", one) -
                     value0(a, "escalated_http_request_duration_seconds_sum", one);
    if (!(get_sum > 0 && get_sum < 5)) {
        print_error("GET /v1/tickets/{id} added %g s to its sum\n", get_sum);
        failures++;
    }
    /* a route nobody asked for still shows its (empty) histogram */
    const char *const cal[] = {"route", "/v1/calendar", "method", "PUT", NULL};
    if (value_of(b, "escalated_http_request_duration_seconds_count", cal) != 0) {
        print_error("PUT /v1/calendar: expected an empty histogram\n");
        failures++;
    }
    scrape_free(a);
    scrape_free(b);
    assert_int_equal(failures, 0);
}

static double sql_num(const char *fmt, const char *arg) { return h_sql_d(H, fmt, arg); }

static void the_database_gauges_equal_sql_counts_and_every_family_is_documented(void **state)
{
    (void)state;
    const char *A1 = H->k.agent[1];
    /* tickets in each open state and a closed one */
    h_create_ticket_subject(H, "metrics: waits in line-1", "normal");
    json_int_t acked = h_new_ticket(H, "metrics: acknowledged", "normal", NULL);
    h_action_ok(H, A1, acked, "acknowledge", NULL);
    json_int_t up = h_new_ticket(H, "metrics: escalated", "major", NULL);
    h_action_ok(H, A1, up, "acknowledge", NULL);
    h_action_ok(H, A1, up, "escalate", h_reason("needs line-2"));
    json_int_t waiting = h_new_ticket(H, "metrics: waiting", "normal", NULL);
    h_action_ok(H, A1, waiting, "acknowledge", NULL);
    h_action_ok(H, A1, waiting, "wait", h_reason("asked the customer"));
    json_int_t done = h_new_ticket(H, "metrics: resolved", "normal", NULL);
    h_action_ok(H, A1, done, "acknowledge", NULL);
    h_action_ok(H, A1, done, "resolve", h_resolve_body("customer_side"));
    json_int_t closed = h_new_ticket(H, "metrics: closed", "normal", NULL);
    h_action_ok(H, A1, closed, "acknowledge", NULL);
    h_action_ok(H, A1, closed, "resolve", h_resolve_body("operations"));
    h_action_ok(H, H->k.frontdesk, closed, "close", h_close_body("satisfied", 0));

    /* a breach: a one-second acknowledgement deadline nobody meets */
    h_put_policy(H, "normal", "{\"ack_seconds\": 1}");
    json_int_t late = h_new_ticket(H, "metrics: breached", "normal", NULL);
    h_put_policy(H, "normal", "{\"ack_seconds\": 600}");
    h_wait_sql_count(H, 1, 15, "SELECT count(*) FROM breaches WHERE ticket_id = %lld", (long long)late);
    assert_string_equal(h_sql_value(H, "SELECT count(*) FROM breaches WHERE ticket_id = %lld AND kind = 'ack'",
                                    (long long)late), "1");

    struct scrape *p = scrape();
    int failures = 0;
    assert_true(value_of(p, "escalated_db_up", NULL) == 1);

    static const char *const tiers[] = {"line-1", "line-2", "line-3"};
    static const char *const states[] = {"awaiting_ack", "acknowledged", "waiting_customer", "resolved"};
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 4; s++) {
            const char *const l[] = {"tier", tiers[t], "state", states[s], NULL};
            double got = value_of(p, "escalated_tickets_open", l);
            double want = sql_num(h_fmt(H, "SELECT count(*) FROM tickets WHERE tier = %d AND state = '%%s'", t + 1),
                                  states[s]);
            if (got != want) {
                print_error("tickets_open{%s,%s} = %g, SQL says %g\n", tiers[t], states[s], got, want);
                failures++;
            }
        }
    /* what this test did is visible in it */
    assert_true(value_of(p, "escalated_tickets_open", (const char *const[]){"tier", "line-2", "state", "awaiting_ack", NULL}) >= 1);
    assert_true(value_of(p, "escalated_tickets_open", (const char *const[]){"tier", "line-1", "state", "waiting_customer", NULL}) >= 1);
    assert_true(value_of(p, "escalated_tickets_open", (const char *const[]){"tier", "line-1", "state", "resolved", NULL}) >= 1);
    assert_null(strstr(h_req(H, "GET", "/metrics", NULL, NULL)->body, "state=\"closed\""));

    static const char *const kinds[][2] = {{"ack", "ack"}, {"resolve", "resolve"},
                                           {"at_risk", "warn"}, {"callback", "callback"}};
    for (int k = 0; k < 4; k++) {
        double got = value_of(p, "escalated_timers_pending", (const char *const[]){"kind", kinds[k][0], NULL});
        double want = sql_num("SELECT count(*) FROM timers WHERE kind = '%s'", kinds[k][1]);
        if (got != want) {
            print_error("timers_pending{%s} = %g, SQL says %g\n", kinds[k][0], got, want);
            failures++;
        }
    }
    for (int k = 0; k < 3; k++) {
        const char *kind = kinds[k == 2 ? 3 : k][1];
        double got = value_of(p, "escalated_breaches_total", (const char *const[]){"kind", kind, NULL});
        double want = sql_num("SELECT count(*) FROM breaches WHERE kind = '%s'", kind);
        if (got != want) {
            print_error("breaches_total{%s} = %g, SQL says %g\n", kind, got, want);
            failures++;
        }
    }
    assert_true(value_of(p, "escalated_breaches_total", (const char *const[]){"kind", "ack", NULL}) >= 1);

    static const char *const nstatus[] = {"pending", "delivered", "failed", "undeliverable"};
    for (int k = 0; k < 4; k++) {
        double got = value_of(p, "escalated_notifications", (const char *const[]){"status", nstatus[k], NULL});
        double want = sql_num("SELECT count(*) FROM notifications WHERE status = '%s'", nstatus[k]);
        if (got != want) {
            print_error("notifications{%s} = %g, SQL says %g\n", nstatus[k], got, want);
            failures++;
        }
    }
    /* the major ticket and the breach each queued a notification */
    assert_true(sql_num("SELECT count(*) FROM notifications WHERE type = '%s'", "major_created") >= 1);
    assert_true(sql_num("SELECT count(*) FROM notifications WHERE type = '%s'", "breached") >= 1);
    static const char *const dstatus[] = {"pending", "delivered", "failed", "cancelled"};
    for (int k = 0; k < 4; k++) {
        double got = value_of(p, "escalated_webhook_deliveries", (const char *const[]){"status", dstatus[k], NULL});
        double want = sql_num("SELECT count(*) FROM deliveries WHERE status = '%s'", dstatus[k]);
        if (got != want) {
            print_error("webhook_deliveries{%s} = %g, SQL says %g\n", dstatus[k], got, want);
            failures++;
        }
    }
    double overdue = value_of(p, "escalated_timers_overdue_seconds", NULL);
    assert_true(overdue >= 0 && overdue < 5);

    /* the SLA engine of this daemon fired that breach */
    assert_true(value_of(p, "escalated_sla_timers_fired_total", NULL) >= 1);
    assert_true(value_of(p, "escalated_sla_engine_passes_total", NULL) >= 1);
    double late_max = value_of(p, "escalated_sla_lateness_max_seconds", NULL);
    assert_true(late_max >= 0 && late_max < 5);
    assert_true(value_of(p, "escalated_sla_lateness_last_seconds", NULL) <= late_max);

    /* pool, process, build */
    assert_true(value_of(p, "escalated_db_pool_size", NULL) == 16); /* the default --pool-size */
    double leased = value_of(p, "escalated_db_pool_leased", NULL);
    assert_true(leased >= 0 && leased <= 16);
    assert_true(value_of(p, "escalated_http_requests_in_flight", NULL) >= 1); /* the scrape */
    double start = value_of(p, "process_start_time_seconds", NULL);
    double now = (double)time(NULL);
    assert_true(start > now - 3600 && start <= now + 1);
    assert_true(value_of(p, "process_cpu_seconds_total", NULL) > 0);
    assert_true(value_of(p, "process_resident_memory_bytes", NULL) > 1e6);
    assert_true(value_of(p, "process_open_fds", NULL) > 3);
    char *out = NULL;
    char *const argv[] = {H->bin, "--version", NULL};
    assert_int_equal(h_run(argv, &out), 0);
    char version[64] = "";
    assert_int_equal(sscanf(out, "escalated %63s", version), 1);
    free(out);
    assert_true(value_of(p, "escalated_build_info", (const char *const[]){"version", version, NULL}) == 1);
    /* a fresh reading: seconds have passed since the last scrape read the database */
    double read_s = value_of(p, "escalated_db_read_duration_seconds", NULL);
    double age = value_of(p, "escalated_db_read_age_seconds", NULL);
    assert_true(read_s >= 0 && read_s < 5);
    assert_true(age >= 0 && age < 1);

    /* every family is documented */
    char *doc = NULL;
    const char *data = getenv("ESC_TEST_DATA");
    if (data) {
        char *path = NULL;
        assert_true(asprintf(&path, "%s/../../docs/metrics.md", data) > 0);
        FILE *f = fopen(path, "r");
        free(path);
        if (f) {
            doc = calloc(1, 1 << 20);
            size_t n = fread(doc, 1, (1 << 20) - 1, f);
            doc[n] = '\0';
            fclose(f);
        }
    }
    assert_non_null(doc);
    for (size_t i = 0; i < p->nf; i++) {
        char want[160];
        snprintf(want, sizeof want, "`%s`", p->f[i].name);
        if (!strstr(doc, want)) {
            print_error("docs/metrics.md does not mention %s\n", want);
            failures++;
        }
    }
    free(doc);
    scrape_free(p);
    assert_int_equal(failures, 0);
}

static void without_a_database_metrics_answer_200_with_db_up_0_and_no_database_families(void **state)
{
    (void)state;
    /* a second daemon whose database does not exist: the last --db wins */
    h_daemon_args(H, (const char *const[]){"--db", "host=/nonexistent/escalated-metrics port=1", NULL});
    const char *base = NULL;
    pid_t pid = h_extra_start(H, &base);
    h_daemon_args(H, NULL);
    h_resp *ready = h_reqv_at(H, base, "GET", "/readyz", NULL, NULL, 0, NULL);
    h_expect_status(ready, 503);

    struct scrape *p = scrape_at(base);
    assert_true(value_of(p, "escalated_db_up", NULL) == 0);
    assert_true(value_of(p, "escalated_db_pool_size", NULL) == 16);
    /* in-process figures are there: the 503 of /readyz was counted */
    assert_true(value_of(p, "escalated_http_requests_total",
                         (const char *const[]){"route", "/readyz", "method", "GET", "status", "503", NULL}) == 1);
    assert_non_null(family_named(p, "escalated_http_request_duration_seconds"));
    assert_non_null(family_named(p, "escalated_build_info"));
    /* and the database families are left out, not shown as zeros */
    assert_null(family_named(p, "escalated_tickets_open"));
    assert_null(family_named(p, "escalated_breaches_total"));
    assert_null(family_named(p, "escalated_notifications"));
    scrape_free(p);
    assert_int_equal(h_extra_stop(H, pid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_request_is_counted_once_under_its_route_method_and_status),
        cmocka_unit_test(the_database_gauges_equal_sql_counts_and_every_family_is_documented),
        cmocka_unit_test(without_a_database_metrics_answer_200_with_db_up_0_and_no_database_families),
    };
    return h_run_group_tests(tests, setup, teardown);
}
