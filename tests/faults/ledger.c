/* ledger.c — the fault suite's load generator, ledger and checker (ledger.h). */
#include "ledger.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double fl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "ledger: out of memory\n");
        abort();
    }
    return q;
}

struct unanswered {
    char key[64];
    char *body;
};

struct fl_load {
    struct fl_config cfg;
    char *urls[FL_MAX_URLS];
    pthread_mutex_t mu;
    pthread_t *th;
    struct client *cls; /* one per thread, alive as long as the load */
    int n_th;
    volatile int stop;

    struct fl_entry *led;
    size_t n_led, cap_led;
    struct unanswered *un;
    size_t n_un, cap_un;

    struct fl_req *reqs; /* every request, in the order answered */
    size_t n_reqs, cap_reqs;

    struct fl_stats st;
    int fault_on;       /* between fl_fault_begin and fl_fault_end */
    double fault_begin; /* 0 until fl_fault_begin */
    double last_ok;     /* the last 2xx answer */
};

/* ---- one client: a curl handle of its own, kept alive -------------- */

struct client {
    fl_load *l;
    int idx;
    int url;          /* index into l->urls */
    CURL *c;
    unsigned rnd;
    char *body;
    size_t n, cap;
    int retry_after;  /* the final response had Retry-After */
};

struct answer {
    long status;      /* 0: no HTTP answer */
    json_t *json;     /* parsed body or NULL (owned: answer_free) */
    double t_sent, t_answered;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct client *cl = ud;
    size_t n = sz * nm;
    if (cl->n + n + 1 > cl->cap) {
        cl->cap = (cl->n + n + 1) * 2;
        cl->body = xrealloc(cl->body, cl->cap);
    }
    memcpy(cl->body + cl->n, p, n);
    cl->n += n;
    cl->body[cl->n] = 0;
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct client *cl = ud;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
        cl->retry_after = 0; /* a new response (after a 100 Continue, say) */
    else if (n >= 12 && strncasecmp(p, "Retry-After:", 12) == 0)
        cl->retry_after = 1;
    return n;
}

static char *url_of(struct client *cl, const char *path)
{
    fl_load *l = cl->l;
    char *u = NULL;
    pthread_mutex_lock(&l->mu);
    if (asprintf(&u, "%s%s", l->urls[cl->url % l->cfg.n_urls], path) < 0)
        u = NULL;
    pthread_mutex_unlock(&l->mu);
    if (!u)
        abort();
    return u;
}

/* Count the answer in the stats; a 2xx moves the gap measure. */
static void count(fl_load *l, enum fl_op op, const struct answer *a, int retry_after)
{
    pthread_mutex_lock(&l->mu);
    if (l->n_reqs == l->cap_reqs) {
        l->cap_reqs = l->cap_reqs ? l->cap_reqs * 2 : 4096;
        l->reqs = xrealloc(l->reqs, l->cap_reqs * sizeof *l->reqs);
    }
    l->reqs[l->n_reqs++] = (struct fl_req){a->t_sent, a->t_answered, (int)a->status, op, retry_after};
    struct fl_stats *s = &l->st;
    double lat = a->t_answered - a->t_sent;
    s->requests++;
    if (lat > s->max_latency_s)
        s->max_latency_s = lat;
    if (l->fault_on) {
        s->fault_requests++;
        if (lat > s->fault_max_latency_s)
            s->fault_max_latency_s = lat;
    }
    if (a->status >= 200 && a->status < 300) {
        s->answered_2xx++;
        if (l->fault_begin > 0) {
            double from = l->last_ok > l->fault_begin ? l->last_ok : l->fault_begin;
            if (a->t_answered - from > s->longest_gap_s)
                s->longest_gap_s = a->t_answered - from;
        }
        if (a->t_answered > l->last_ok)
            l->last_ok = a->t_answered;
    } else if (a->status == 0) {
        s->transport++;
        s->fault_transport += l->fault_on;
    } else if (a->status == 503) {
        if (retry_after) {
            s->s503_retry++;
            s->fault_503_retry += l->fault_on;
        } else {
            s->s503_bare++;
            s->fault_503_bare += l->fault_on;
        }
    } else if (a->status >= 500) {
        s->s5xx_other++;
        s->fault_5xx_other += l->fault_on;
    } else {
        s->s4xx++;
    }
    pthread_mutex_unlock(&l->mu);
}

/* One request.  A transport error moves the client to the next URL. */
static struct answer request(struct client *cl, enum fl_op op, const char *method, const char *path, const char *token,
                             const char *body, const char *extra_header)
{
    struct answer a = {0, NULL, 0, 0};
    char *url = url_of(cl, path);
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    if (extra_header)
        hl = curl_slist_append(hl, extra_header);
    CURL *c = cl->c;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    double to = cl->l->cfg.request_timeout_s > 0 ? cl->l->cfg.request_timeout_s : 15.0;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(to * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, cl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, cl);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    const char *b = body ? body : "{}";
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(b));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, b);
    if (strcmp(method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    cl->n = 0;
    if (cl->body)
        cl->body[0] = 0;
    cl->retry_after = 0;
    a.t_sent = fl_now();
    CURLcode rc = curl_easy_perform(c);
    a.t_answered = fl_now();
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
        if (cl->n)
            a.json = json_loadb(cl->body, cl->n, 0, NULL);
    } else {
        a.status = 0;
        cl->url = (cl->url + 1) % cl->l->cfg.n_urls;
    }
    curl_slist_free_all(hl);
    free(url);
    count(cl->l, op, &a, cl->retry_after);
    return a;
}

static void answer_free(struct answer *a)
{
    json_decref(a->json);
    a->json = NULL;
}

static int ok(const struct answer *a) { return a->status >= 200 && a->status < 300; }

static void record(fl_load *l, enum fl_op op, const struct answer *a, const char *key)
{
    json_t *id = json_object_get(a->json, "id"), *v = json_object_get(a->json, "version"),
           *stt = json_object_get(a->json, "state");
    if (!json_is_integer(id) || !json_is_integer(v) || !json_is_string(stt)) {
        fprintf(stderr, "ledger: a %ld answer without id/version/state\n", a->status);
        return;
    }
    struct fl_entry e = {.op = op,
                         .ticket = json_integer_value(id),
                         .version = (int)json_integer_value(v),
                         .t_sent = a->t_sent,
                         .t_answered = a->t_answered};
    snprintf(e.state, sizeof e.state, "%s", json_string_value(stt));
    if (key)
        snprintf(e.key, sizeof e.key, "%s", key);
    pthread_mutex_lock(&l->mu);
    if (l->n_led == l->cap_led) {
        l->cap_led = l->cap_led ? l->cap_led * 2 : 1024;
        l->led = xrealloc(l->led, l->cap_led * sizeof *l->led);
    }
    l->led[l->n_led++] = e;
    l->st.writes++;
    pthread_mutex_unlock(&l->mu);
}

static void remember_unanswered(fl_load *l, const char *key, const char *body)
{
    pthread_mutex_lock(&l->mu);
    if (l->n_un == l->cap_un) {
        l->cap_un = l->cap_un ? l->cap_un * 2 : 64;
        l->un = xrealloc(l->un, l->cap_un * sizeof *l->un);
    }
    struct unanswered *u = &l->un[l->n_un++];
    snprintf(u->key, sizeof u->key, "%s", key);
    u->body = strdup(body);
    l->st.unanswered_creates++;
    pthread_mutex_unlock(&l->mu);
}

/* After an error: 503 says when to come back; otherwise a short pause, so
 * that a dead daemon is not hammered. */
static void back_off(const struct answer *a)
{
    if (a->status == 503 || a->status == 0)
        nap(0.05);
    else if (a->status >= 500)
        nap(0.02);
}

static int chance(struct client *cl, int percent) { return (int)(rand_r(&cl->rnd) % 100) < percent; }

static void *writer(void *arg)
{
    struct client *cl = arg;
    fl_load *l = cl->l;
    int leave = l->cfg.leave_percent == 0 ? 20 : l->cfg.leave_percent < 0 ? 0 : l->cfg.leave_percent;
    for (long n = 1; !l->stop; n++) {
        char key[64], body[160], path[64];
        snprintf(key, sizeof key, "%s-%d-%ld", l->cfg.key_prefix, cl->idx, n);
        snprintf(body, sizeof body, "{\"subject\": \"fault load %s\", \"severity\": \"normal\"}", key);
        char hdr[100];
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
        struct answer a = request(cl, FL_CREATE, "POST", "/v1/tickets", l->cfg.frontdesk, body, hdr);
        if (!ok(&a)) {
            if (a.status == 0 || a.status >= 500)
                remember_unanswered(l, key, body);
            back_off(&a);
            answer_free(&a);
            continue;
        }
        record(l, FL_CREATE, &a, key);
        json_int_t id = json_integer_value(json_object_get(a.json, "id"));
        answer_free(&a);
        if (chance(cl, leave))
            continue;
        snprintf(path, sizeof path, "/v1/tickets/%lld/acknowledge", (long long)id);
        a = request(cl, FL_ACK, "POST", path, l->cfg.agent1, NULL, NULL);
        if (!ok(&a)) {
            back_off(&a);
            answer_free(&a);
            continue;
        }
        record(l, FL_ACK, &a, NULL);
        answer_free(&a);
        if (chance(cl, 50)) {
            snprintf(path, sizeof path, "/v1/tickets/%lld/escalate", (long long)id);
            a = request(cl, FL_ESCALATE, "POST", path, l->cfg.agent1, "{\"reason\": \"fault load\"}", NULL);
            if (ok(&a))
                record(l, FL_ESCALATE, &a, NULL);
        } else {
            snprintf(path, sizeof path, "/v1/tickets/%lld/resolve", (long long)id);
            a = request(cl, FL_RESOLVE, "POST", path, l->cfg.agent1,
                        "{\"resolution\": \"fixed\", \"root_cause\": \"operations\"}", NULL);
            if (ok(&a))
                record(l, FL_RESOLVE, &a, NULL);
        }
        back_off(&a);
        answer_free(&a);
    }
    return NULL;
}

static void *claimer(void *arg)
{
    struct client *cl = arg;
    fl_load *l = cl->l;
    char path[64];
    snprintf(path, sizeof path, "/v1/queues/line-2/claim?wait=%d", l->cfg.claim_wait_s > 0 ? l->cfg.claim_wait_s : 1);
    while (!l->stop) {
        struct answer a = request(cl, FL_CLAIM, "POST", path, l->cfg.agent2, NULL, NULL);
        if (a.status != 200) {
            back_off(&a);
            answer_free(&a);
            continue;
        }
        record(l, FL_CLAIM, &a, NULL);
        json_int_t id = json_integer_value(json_object_get(a.json, "id"));
        answer_free(&a);
        if (chance(cl, 50)) {
            char rp[64];
            snprintf(rp, sizeof rp, "/v1/tickets/%lld/resolve", (long long)id);
            a = request(cl, FL_RESOLVE, "POST", rp, l->cfg.agent2,
                        "{\"resolution\": \"fixed\", \"root_cause\": \"operations\"}", NULL);
            if (ok(&a))
                record(l, FL_RESOLVE, &a, NULL);
            back_off(&a);
            answer_free(&a);
        }
    }
    return NULL;
}

fl_load *fl_load_start(const struct fl_config *cfg)
{
    if (cfg->n_urls < 1 || cfg->n_urls > FL_MAX_URLS || cfg->threads < 1 || !cfg->key_prefix) {
        fprintf(stderr, "ledger: bad config\n");
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fl_load *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cfg = *cfg;
    for (int i = 0; i < cfg->n_urls; i++) {
        l->urls[i] = strdup(cfg->urls[i]);
        l->cfg.urls[i] = NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->n_th = cfg->threads;
    l->th = calloc((size_t)l->n_th, sizeof *l->th);
    struct client *cls = l->cls = calloc((size_t)l->n_th, sizeof *cls);
    for (int i = 0; i < l->n_th; i++) {
        cls[i] = (struct client){.l = l, .idx = i, .url = i % cfg->n_urls, .c = curl_easy_init(),
                                 .rnd = cfg->seed * 7919u + (unsigned)i * 104729u + 1u};
        int is_claimer = l->n_th >= 2 && i % 4 == 0;
        pthread_create(&l->th[i], NULL, is_claimer ? claimer : writer, &cls[i]);
    }
    return l;
}

void fl_load_set_url(fl_load *l, int i, const char *url)
{
    if (i < 0 || i >= l->cfg.n_urls)
        return;
    char *u = strdup(url);
    pthread_mutex_lock(&l->mu);
    free(l->urls[i]);
    l->urls[i] = u;
    pthread_mutex_unlock(&l->mu);
}

void fl_fault_begin(fl_load *l)
{
    pthread_mutex_lock(&l->mu);
    l->fault_on = 1;
    l->fault_begin = fl_now();
    pthread_mutex_unlock(&l->mu);
}

void fl_fault_end(fl_load *l)
{
    pthread_mutex_lock(&l->mu);
    l->fault_on = 0;
    pthread_mutex_unlock(&l->mu);
}

void fl_load_stop(fl_load *l)
{
    if (!l->th)
        return;
    l->stop = 1;
    for (int i = 0; i < l->n_th; i++)
        pthread_join(l->th[i], NULL);
    free(l->th);
    l->th = NULL;
    pthread_mutex_lock(&l->mu);
    /* the gap still open at the end counts too (service that never came back) */
    if (l->fault_begin > 0) {
        double from = l->last_ok > l->fault_begin ? l->last_ok : l->fault_begin;
        if (fl_now() - from > l->st.longest_gap_s)
            l->st.longest_gap_s = fl_now() - from;
    }
    pthread_mutex_unlock(&l->mu);
}

struct fl_stats fl_load_stats(fl_load *l)
{
    pthread_mutex_lock(&l->mu);
    struct fl_stats s = l->st;
    pthread_mutex_unlock(&l->mu);
    return s;
}

long fl_load_retry_unanswered(fl_load *l, const char *base, double seconds)
{
    struct client cl = {.l = l, .idx = -1, .url = 0, .c = curl_easy_init(), .rnd = 1};
    int slot = 0;
    if (base) {
        /* a temporary URL in slot 0 would race nothing: the load is stopped */
        fl_load_set_url(l, 0, base);
    }
    cl.url = slot;
    double end = fl_now() + seconds;
    long left = 0;
    for (size_t i = 0; i < l->n_un; i++) {
        struct unanswered *u = &l->un[i];
        char hdr[100];
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", u->key);
        for (;;) {
            cl.url = slot;
            struct answer a = request(&cl, FL_CREATE, "POST", "/v1/tickets", l->cfg.frontdesk, u->body, hdr);
            if (ok(&a)) {
                record(l, FL_CREATE, &a, u->key);
                answer_free(&a);
                break;
            }
            if ((a.status != 0 && a.status < 500) || fl_now() > end) {
                fprintf(stderr, "ledger: the retry of key %s got %ld\n", u->key, a.status);
                left++;
                answer_free(&a);
                break;
            }
            answer_free(&a);
            nap(0.1);
        }
    }
    free(cl.body);
    curl_easy_cleanup(cl.c);
    return left;
}

size_t fl_requests(fl_load *l, const struct fl_req **reqs)
{
    *reqs = l->reqs;
    return l->n_reqs;
}

size_t fl_ledger(fl_load *l, const struct fl_entry **entries)
{
    *entries = l->led;
    return l->n_led;
}

void fl_load_free(fl_load *l)
{
    if (!l)
        return;
    fl_load_stop(l);
    struct client *cls = l->cls;
    for (int i = 0; i < l->n_th; i++) {
        curl_easy_cleanup(cls[i].c);
        free(cls[i].body);
    }
    free(cls);
    for (int i = 0; i < l->cfg.n_urls; i++)
        free(l->urls[i]);
    for (size_t i = 0; i < l->n_un; i++)
        free(l->un[i].body);
    free(l->un);
    free(l->led);
    free(l->reqs);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* ---- the checker ----------------------------------------------------- */

#define REPORT_MAX 20

static PGresult *q(PGconn *c, const char *sql, FILE *out)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(out, "ledger: query failed: %s\n%s\n", PQerrorMessage(c), sql);
        PQclear(r);
        return NULL;
    }
    return r;
}

struct tk {        /* one ticket of the database */
    int present;
    int version;
    char state[16];
    char key[64];
    size_t ev0, nev; /* its events in the events array */
    size_t br0, nbr; /* its breaches in the breaches array */
};

struct br {        /* one (ticket, kind, due_at) of the breaches */
    int64_t ticket;
    int ack;
    double due;        /* epoch seconds */
};

struct ev {
    int64_t id;
    int to_tier;       /* 0 when the tier did not change */
    char type[20];
    char to_state[16]; /* "" when the state did not change */
    double at;         /* epoch seconds */
};

static int is_versionless(const char *type)
{
    return strcmp(type, "commented") == 0 || strcmp(type, "customer_revealed") == 0 ||
           strcmp(type, "notified") == 0 || strcmp(type, "alerted") == 0; /* alerted: a ladder's step */
}

/* A ticket's history and breaches, to explain a breach reported lost or
 * spurious. */
static void dump_ticket(FILE *out, const struct tk *t, const struct ev *evs, const struct br *brs, int64_t id)
{
    fprintf(out, "ledger check: ticket %lld, version %d, %s:\n", (long long)id, t->version, t->state);
    for (size_t k = t->ev0; k < t->ev0 + t->nev; k++)
        fprintf(out, "    event %lld %-12s at %.6f to_state %s to_tier %d\n", (long long)evs[k].id, evs[k].type,
                evs[k].at, evs[k].to_state[0] ? evs[k].to_state : "-", evs[k].to_tier);
    for (size_t i = t->br0; i < t->br0 + t->nbr; i++)
        fprintf(out, "    breach %s due %.6f\n", brs[i].ack ? "ack" : "other", brs[i].due);
}

/* qsort has no context argument: the tickets the keys are compared in */
static const struct tk *sort_tks;

static int by_key(const void *a, const void *b)
{
    return strcmp(sort_tks[*(const int64_t *)a].key, sort_tks[*(const int64_t *)b].key);
}

/* How many tickets have `key` (keyed: ids sorted by key); *which: one of them. */
static int tickets_with_key(const struct tk *tks, const int64_t *keyed, size_t n, const char *key,
                            int64_t *which)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first id whose key is >= key */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(tks[keyed[mid]].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int count = 0;
    for (size_t i = lo; i < n && strcmp(tks[keyed[i]].key, key) == 0; i++) {
        *which = keyed[i];
        count++;
    }
    return count;
}

static void report(FILE *out, long *counter, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(FILE *out, long *counter, const char *fmt, ...)
{
    if (*counter < REPORT_MAX) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(out, "ledger check: ");
        vfprintf(out, fmt, ap);
        fputc('\n', out);
        va_end(ap);
    }
    (*counter)++;
}

int fl_check(fl_load *l, const char *conninfo, int ack_seconds, double settle_s,
             struct fl_check_result *res, FILE *out)
{
    memset(res, 0, sizeof *res);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(out, "ledger: connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    int rc = -1;
    PGresult *tr = NULL, *er = NULL, *br = NULL, *r = NULL;
    struct tk *tks = NULL;
    struct ev *evs = NULL;
    /* one snapshot for every query: an engine pass between two of them
     * would show events the tickets read before do not count */
    PQclear(PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    struct br *brs = NULL;
    tr = q(c, "SELECT id, version, state, coalesce(idempotency_key, '') AS k FROM tickets ORDER BY id", out);
    er = q(c, "SELECT ticket_id, type, coalesce(to_state, '') AS s, extract(epoch FROM at)::float8 AS at, "
              "id, coalesce(to_tier, 0) FROM events ORDER BY ticket_id, id", out);
    br = q(c, "SELECT ticket_id, kind, extract(epoch FROM due_at)::float8 AS due, count(*) AS n "
              "FROM breaches WHERE ticket_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 3", out);
    if (!tr || !er || !br)
        goto done;
    int nt = PQntuples(tr);
    int64_t max_id = nt ? atoll(PQgetvalue(tr, nt - 1, 0)) : 0;
    tks = calloc((size_t)max_id + 1, sizeof *tks);
    for (int i = 0; i < nt; i++) {
        int64_t id = atoll(PQgetvalue(tr, i, 0));
        struct tk *t = &tks[id];
        t->present = 1;
        t->version = atoi(PQgetvalue(tr, i, 1));
        snprintf(t->state, sizeof t->state, "%s", PQgetvalue(tr, i, 2));
        snprintf(t->key, sizeof t->key, "%s", PQgetvalue(tr, i, 3));
    }
    int ne = PQntuples(er);
    evs = calloc((size_t)ne + 1, sizeof *evs);
    for (int i = 0; i < ne; i++) {
        int64_t id = atoll(PQgetvalue(er, i, 0));
        snprintf(evs[i].type, sizeof evs[i].type, "%s", PQgetvalue(er, i, 1));
        snprintf(evs[i].to_state, sizeof evs[i].to_state, "%s", PQgetvalue(er, i, 2));
        evs[i].at = atof(PQgetvalue(er, i, 3));
        evs[i].id = atoll(PQgetvalue(er, i, 4));
        evs[i].to_tier = atoi(PQgetvalue(er, i, 5));
        if (id <= max_id && id >= 0) {
            if (tks[id].nev == 0)
                tks[id].ev0 = (size_t)i;
            tks[id].nev++;
        }
    }

    int nb = PQntuples(br);
    brs = calloc((size_t)nb + 1, sizeof *brs);
    for (int i = 0; i < nb; i++) { /* ordered by ticket */
        int64_t id = atoll(PQgetvalue(br, i, 0));
        brs[i] = (struct br){id, strcmp(PQgetvalue(br, i, 1), "ack") == 0, atof(PQgetvalue(br, i, 2))};
        if (id >= 1 && id <= max_id) {
            if (tks[id].nbr == 0)
                tks[id].br0 = (size_t)i;
            tks[id].nbr++;
        }
    }

    /* 1. every answered write at >= its version, in the state answered */
    for (size_t i = 0; i < l->n_led; i++) {
        const struct fl_entry *e = &l->led[i];
        res->entries_checked++;
        if (e->ticket < 1 || e->ticket > max_id || !tks[e->ticket].present) {
            report(out, &res->lost, "ticket %lld answered (version %d, %s) is not in the database",
                   (long long)e->ticket, e->version, e->state);
            continue;
        }
        struct tk *t = &tks[e->ticket];
        if (t->version < e->version) {
            report(out, &res->lost, "ticket %lld: version %d answered, %d in the database",
                   (long long)e->ticket, e->version, t->version);
            continue;
        }
        /* replay: the state after the version-th version-changing event */
        char st[16] = "";
        int v = 0;
        for (size_t k = t->ev0; k < t->ev0 + t->nev && v < e->version; k++) {
            if (is_versionless(evs[k].type))
                continue;
            v++;
            if (evs[k].to_state[0])
                snprintf(st, sizeof st, "%s", evs[k].to_state);
            if (v == 1 && strcmp(evs[k].type, "created") == 0 && !st[0])
                snprintf(st, sizeof st, "awaiting_ack");
        }
        if (v < e->version || strcmp(st, e->state) != 0)
            report(out, &res->lost, "ticket %lld: version %d answered as %s; the history gives %s at version %d",
                   (long long)e->ticket, e->version, e->state, st[0] ? st : "?", v);
    }

    /* 2. one ticket per idempotency key, the one answered (the keyed
     * tickets sorted by key: a load of many thousands stays quick) */
    size_t nkeyed = 0;
    int64_t *keyed = calloc((size_t)max_id + 1, sizeof *keyed);
    for (int64_t id = 1; id <= max_id; id++)
        if (tks[id].present && tks[id].key[0])
            keyed[nkeyed++] = id;
    sort_tks = tks;
    qsort(keyed, nkeyed, sizeof *keyed, by_key);
    for (size_t i = 0; i < l->n_led; i++) {
        const struct fl_entry *e = &l->led[i];
        if (e->op != FL_CREATE)
            continue;
        int64_t which = 0;
        int n = tickets_with_key(tks, keyed, nkeyed, e->key, &which);
        if (n != 1 || which != e->ticket)
            report(out, &res->key_violations, "key %s: %d tickets (answered %lld, found %lld)", e->key, n,
                   (long long)e->ticket, (long long)which);
    }
    for (size_t i = 0; i < l->n_un; i++) {
        int64_t which = 0;
        int n = tickets_with_key(tks, keyed, nkeyed, l->un[i].key, &which);
        if (n > 1)
            report(out, &res->key_violations, "key %s (unanswered at first): %d tickets", l->un[i].key, n);
    }
    free(keyed);

    /* 3. history length == version */
    for (int64_t id = 1; id <= max_id; id++) {
        struct tk *t = &tks[id];
        if (!t->present)
            continue;
        int v = 0;
        for (size_t k = t->ev0; k < t->ev0 + t->nev; k++)
            v += !is_versionless(evs[k].type);
        if (v != t->version)
            report(out, &res->history_violations, "ticket %lld: version %d, %d events that change it",
                   (long long)id, t->version, v);
    }
    for (size_t i = 0; i < l->n_led; i++)
        res->tickets_checked += l->led[i].op == FL_CREATE;

    /* 4. breaches: none twice, one breached event each */
    for (int i = 0; i < nb; i++) {
        long n = atol(PQgetvalue(br, i, 3));
        res->breaches += n;
        if (n > 1)
            report(out, &res->breach_doubled, "ticket %s: %ld %s breaches due at %s", PQgetvalue(br, i, 0), n,
                   PQgetvalue(br, i, 1), PQgetvalue(br, i, 2));
    }
    r = q(c, "SELECT ticket_id, coalesce(b.n, 0), coalesce(e.n, 0) FROM "
             "(SELECT ticket_id, count(*) AS n FROM breaches WHERE ticket_id IS NOT NULL GROUP BY 1) b FULL JOIN "
             "(SELECT ticket_id, count(*) AS n FROM events WHERE type = 'breached' GROUP BY 1) e "
             "USING (ticket_id) WHERE b.n IS DISTINCT FROM e.n", out);
    if (!r)
        goto done;
    for (int i = 0; i < PQntuples(r); i++)
        report(out, &res->breach_doubled, "ticket %s: %s breach rows, %s breached events", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    PQclear(r);

    /* 5. none lost: no live timer overdue past the engine's lateness ... */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT ticket_id, kind, extract(epoch FROM now() - due_at) FROM timers "
             "WHERE due_at < now() - make_interval(secs => %.3f)", settle_s);
    r = q(c, sql, out);
    if (!r)
        goto done;
    for (int i = 0; i < PQntuples(r); i++)
        report(out, &res->breach_lost, "ticket %s: the %s timer is %s s overdue and has not fired",
               PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    PQclear(r);
    r = q(c, "SELECT extract(epoch FROM now())::float8", out);
    if (!r)
        goto done;
    double now = atof(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    /* ... and every awaiting_ack period that outlived its deadline has its
     * ack breach (due_at = entered + ack_seconds), and no other has one */
    for (int64_t id = 1; id <= max_id; id++) {
        struct tk *t = &tks[id];
        if (!t->present)
            continue;
        for (size_t k = t->ev0; k < t->ev0 + t->nev; k++) {
            int enters = strcmp(evs[k].to_state, "awaiting_ack") == 0 ||
                         (strcmp(evs[k].type, "created") == 0 && !evs[k].to_state[0]);
            if (!enters)
                continue;
            double due = evs[k].at + ack_seconds, left = now;
            for (size_t j = k + 1; j < t->ev0 + t->nev; j++)
                if (evs[j].to_state[0] && strcmp(evs[j].to_state, "awaiting_ack") != 0) {
                    left = evs[j].at;
                    break;
                }
            int found = 0;
            for (size_t i = t->br0; i < t->br0 + t->nbr; i++)
                found |= brs[i].ack && fabs(brs[i].due - due) < 1e-4; /* both exact to the microsecond: periods can be 1 ms apart */
            if (left > due + 0.001 && !found) {
                if (left == now && now - due <= settle_s)
                    continue; /* still waiting, within the engine's lateness */
                if (res->breach_lost < REPORT_MAX)
                    dump_ticket(out, t, evs, brs, id);
                report(out, &res->breach_lost,
                       "ticket %lld: awaiting_ack from %.3f, due %.3f, left at %.3f (%.3f s late) without an ack breach",
                       (long long)id, evs[k].at, due, left, left - due);
            } else if (left < due - 0.001 && found) {
                if (res->breach_spurious < REPORT_MAX)
                    dump_ticket(out, t, evs, brs, id);
                report(out, &res->breach_spurious, "ticket %lld: an ack breach due %.3f, but it left awaiting_ack at %.3f",
                       (long long)id, due, left);
            }
        }
    }
    rc = res->lost || res->key_violations || res->history_violations || res->breach_doubled ||
                 res->breach_lost || res->breach_spurious
             ? -1
             : 0;
    fprintf(out,
            "ledger check: %ld entries, %ld tickets created; lost %ld, key violations %ld, history %ld, "
            "breaches %ld (doubled %ld, lost %ld, spurious %ld)\n",
            res->entries_checked, res->tickets_checked, res->lost, res->key_violations, res->history_violations,
            res->breaches, res->breach_doubled, res->breach_lost, res->breach_spurious);
done:
    PQclear(tr);
    PQclear(er);
    PQclear(br);
    free(tks);
    free(evs);
    free(brs);
    PQfinish(c);
    return rc;
}

/* ---- the table --------------------------------------------------------- */

void fl_errors_text(const struct fl_stats *s, char *buf, size_t n)
{
    snprintf(buf, n, "503+RA %ld, 503-bare %ld, 5xx %ld, transport %ld, 4xx %ld", s->s503_retry, s->s503_bare,
             s->s5xx_other, s->transport, s->s4xx);
}

void fl_report_row(const char *fault, long answered, const char *errors, double no_service_s, long lost)
{
    fprintf(stderr, "FAULT ROW: %s | answered %ld | %s | without service %.2f s | lost %ld\n", fault, answered,
            errors, no_service_s, lost);
    const char *path = getenv("ESC_FAULTS_TSV");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "%s\t%ld\t%s\t%.2f\t%ld\n", fault, answered, errors, no_service_s, lost);
    fclose(f);
}
