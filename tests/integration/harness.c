/* harness.c — see harness.h. */
#include "harness.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct h_priv {
    pthread_mutex_t mu;
    void **owned;      /* malloc'd things freed at the end */
    size_t n_owned, cap_owned;
    void **resps;      /* h_resp *, freed at the end */
    size_t n_resps, cap_resps;
    h_principal *principals;
    size_t n_principals, cap_principals;
    PGconn *db;        /* on the test database */
    char **extra_args;
    unsigned counter;
    json_t *policies;  /* GET /v1/policies and /v1/calendar as h_start found them */
    json_t *calendar;
};

static struct h_priv *P(h_ctx *h) { return (struct h_priv *)h->priv; }

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    return s;
}

/* Append p to a growing array of pointers, under the harness's lock (the
 * helpers are called from several threads at once). */
static void push_locked(h_ctx *h, void ***arr, size_t *n, size_t *cap, void *p)
{
    struct h_priv *pr = P(h);
    pthread_mutex_lock(&pr->mu);
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (!*arr)
            die("out of memory");
    }
    (*arr)[(*n)++] = p;
    pthread_mutex_unlock(&pr->mu);
}

static void *own(h_ctx *h, void *p)
{
    struct h_priv *pr = P(h);
    push_locked(h, &pr->owned, &pr->n_owned, &pr->cap_owned, p);
    return p;
}

double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void h_sleep(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

const char *h_fmt(h_ctx *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    return own(h, s);
}

const char *h_unique(h_ctx *h, const char *prefix)
{
    struct h_priv *pr = P(h);
    pthread_mutex_lock(&pr->mu);
    unsigned n = ++pr->counter;
    pthread_mutex_unlock(&pr->mu);
    return h_fmt(h, "%s-%d-%u", prefix, (int)getpid(), n);
}

const char *h_urlenc(h_ctx *h, const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            sprintf(o, "%%%02X", *p);
            o += 3;
        }
    }
    *o = 0;
    return own(h, out);
}

/* ------------------------------------------------------------ state file */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                die("out of memory");
        }
    }
    buf[n] = 0;
    fclose(f);
    return buf;
}

static char *state_get(const char *text, const char *key)
{
    size_t kl = strlen(key);
    const char *p = text;
    char *val = NULL;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            free(val);
            val = strndup(p + kl + 1, len - kl - 1);
        }
        p = eol ? eol + 1 : NULL;
    }
    return val;
}

/* ---------------------------------------------------------------- run */

int h_run(char *const argv[], char **out)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    size_t cap = 1024, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (cap - n < 512) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                die("out of memory");
        }
        ssize_t r = read(pfd[0], buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            free(buf);
            return -1;
        }
    }
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------- SQL */

static PGconn *db_conn(h_ctx *h)
{
    struct h_priv *pr = P(h);
    if (pr->db && PQstatus(pr->db) == CONNECTION_OK)
        return pr->db;
    if (pr->db) {
        PQreset(pr->db);
        if (PQstatus(pr->db) == CONNECTION_OK)
            return pr->db;
        PQfinish(pr->db);
    }
    pr->db = PQconnectdb(h->conninfo);
    return pr->db;
}

/* Whether a statement failed because the session is gone.  After a server
 * crash libpq may still say CONNECTION_OK (it read the server's parting
 * notice, not yet the end of the stream); a failure without an SQLSTATE is
 * libpq's own, and reading once more shows whether the end has come. */
static int conn_lost(PGconn *c, const PGresult *res)
{
    if (PQstatus(c) != CONNECTION_OK)
        return 1;
    if (PQresultStatus(res) != PGRES_FATAL_ERROR || PQresultErrorField(res, PG_DIAG_SQLSTATE))
        return 0;
    return !PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK;
}

int h_sql_exec(h_ctx *h, const char *sql, const char **err)
{
    struct h_priv *pr = P(h);
    pthread_mutex_lock(&pr->mu);
    PGconn *c = db_conn(h);
    PGresult *res = PQexec(c, sql);
    if (conn_lost(c, res)) { /* the server went away since: retry once */
        PQclear(res);
        PQreset(c);
        res = PQexec(c, sql);
    }
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok && err)
        *err = NULL;
    char *msg = ok ? NULL : xstrdup(PQerrorMessage(c));
    PQclear(res);
    if (!ok && PQstatus(c) != CONNECTION_OK)
        PQreset(c);
    pthread_mutex_unlock(&pr->mu);
    if (msg) {
        own(h, msg);
        if (err)
            *err = msg;
    }
    return ok ? 0 : -1;
}

PGconn *h_hold_rows(h_ctx *h, long rows, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = NULL;
    if (vasprintf(&sql, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    own(h, sql);
    PGconn *c = PQconnectdb(h->conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, "BEGIN");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("h_hold_rows: %s: %s", sql, PQerrorMessage(c));
    assert_int_equal(PQntuples(res), rows);
    PQclear(res);
    return c;
}

void h_hold_end(PGconn *c)
{
    PGresult *res = PQexec(c, "COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
}

const char *h_sql_value(h_ctx *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = NULL;
    if (vasprintf(&sql, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    struct h_priv *pr = P(h);
    pthread_mutex_lock(&pr->mu);
    PGconn *c = db_conn(h);
    PGresult *res = PQexec(c, sql);
    if (conn_lost(c, res)) { /* the server went away since: retry once */
        PQclear(res);
        PQreset(c);
        res = PQexec(c, sql);
    }
    char *val = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        val = xstrdup(PQgetvalue(res, 0, 0));
    else if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "harness: SQL failed: %s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    pthread_mutex_unlock(&pr->mu);
    free(sql);
    return val ? own(h, val) : NULL;
}

int h_sql_wait(h_ctx *h, double seconds)
{
    double end = h_now() + seconds;
    while (h_now() < end) {
        PGconn *c = PQconnectdb(h->conninfo);
        int ok = PQstatus(c) == CONNECTION_OK;
        PQfinish(c);
        if (ok)
            return 0;
        h_sleep(0.1);
    }
    return -1;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void admin_sql(h_ctx *h, const char *sql, int must)
{
    PGconn *c = PQconnectdb(h->admin_conninfo);
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    if (PQstatus(c) != CONNECTION_OK) {
        if (must)
            die("cannot connect to %s: %s", h->admin_conninfo, PQerrorMessage(c));
        fprintf(stderr, "harness: cannot connect to %s: %s", h->admin_conninfo, PQerrorMessage(c));
        PQfinish(c);
        return;
    }
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (must)
            die("%s: %s", sql, PQerrorMessage(c));
        fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
}

/* ---------------------------------------------------------------- HTTP */

struct buf {
    char *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->n + n + 1 > cap)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf_add(ud, ptr, size * nmemb);
    return size * nmemb;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
        b->n = 0; /* a new (final or interim) response: keep only the last */
    buf_add(b, ptr, n);
    return n;
}

static void resp_free(h_resp *r)
{
    if (!r)
        return;
    json_decref(r->json);
    free(r->body);
    free(r->headers);
    free(r->method);
    free(r->path);
    free(r);
}

void h_free(h_ctx *h, h_resp *r)
{
    struct h_priv *pr = P(h);
    pthread_mutex_lock(&pr->mu);
    for (size_t i = 0; i < pr->n_resps; i++) {
        if (pr->resps[i] == r) {
            pr->resps[i] = NULL;
            resp_free(r);
            break;
        }
    }
    pthread_mutex_unlock(&pr->mu);
}

static void keep_resp(h_ctx *h, h_resp *r)
{
    struct h_priv *pr = P(h);
    push_locked(h, &pr->resps, &pr->n_resps, &pr->cap_resps, r);
}

h_resp *h_reqv(h_ctx *h, const char *method, const char *path, const char *token,
               const char *body, size_t body_len, const char *const *headers)
{
    return h_reqv_at(h, h->base_url, method, path, token, body, body_len, headers);
}

h_resp *h_reqv_at(h_ctx *h, const char *base, const char *method, const char *path,
                  const char *token, const char *body, size_t body_len,
                  const char *const *headers)
{
    h_resp *r = calloc(1, sizeof *r);
    if (!r)
        die("out of memory");
    r->method = xstrdup(method);
    r->path = xstrdup(path);
    struct buf bb = {0}, hb = {0};
    buf_add(&bb, "", 0);
    buf_add(&hb, "", 0);

    CURL *c = curl_easy_init();
    if (!c)
        die("curl_easy_init failed");
    char *url = xasprintf("%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    struct curl_slist *hl = NULL;
    int have_ct = 0;
    for (size_t i = 0; headers && headers[i]; i++) {
        if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
            have_ct = 1;
        hl = curl_slist_append(hl, headers[i]);
    }
    if (body && !have_ct)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    char *auth = NULL;
    if (token) {
        auth = xasprintf("Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    if (strcmp(method, "GET") == 0 && !body) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        if (body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                   strcmp(method, "PATCH") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            if (!have_ct)
                hl = curl_slist_append(hl, "Content-Type:");
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    double t0 = h_now();
    CURLcode rc = curl_easy_perform(c);
    r->seconds = h_now() - t0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        /* A server may answer (e.g. 413) before reading the whole body and
         * close; keep the answer when one arrived. */
        r->status = code;
        if (code == 0) {
            bb.n = 0;
            const char *m = curl_easy_strerror(rc);
            buf_add(&bb, m, strlen(m));
        }
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(url);
    free(auth);
    r->body = bb.p;
    r->body_len = bb.n;
    r->headers = hb.p;
    if (r->status && r->body_len)
        r->json = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
    if (h->verbose)
        fprintf(stderr, "  %s %s -> %ld (%.3fs) %.300s\n", method, path, r->status, r->seconds,
                r->body);
    keep_resp(h, r);
    return r;
}

h_resp *h_req_(h_ctx *h, const char *method, const char *path, const char *token,
               const char *body, ...)
{
    const char *hdr[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, body);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 31)
        hdr[n++] = s;
    va_end(ap);
    hdr[n] = NULL;
    return h_reqv(h, method, path, token, body, body ? strlen(body) : 0, hdr);
}

h_resp *h_reqj_(h_ctx *h, const char *method, const char *path, const char *token,
                json_t *body, ...)
{
    const char *hdr[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, body);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 31)
        hdr[n++] = s;
    va_end(ap);
    hdr[n] = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    h_resp *r = h_reqv(h, method, path, token, text, text ? strlen(text) : 0, hdr);
    free(text);
    return r;
}

const char *h_header(const h_resp *r, const char *name)
{
    if (!r || !r->headers)
        return NULL;
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p);
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            /* the harness owns the string through a static-per-response trick:
             * store into the headers buffer is not possible (const), so keep a
             * thread-local copy ring. */
            static __thread char ring[8][1024];
            static __thread int slot;
            char *out = ring[slot++ & 7];
            size_t len = (size_t)(e - v) < 1023 ? (size_t)(e - v) : 1023;
            memcpy(out, v, len);
            out[len] = 0;
            return out;
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

static void describe(const h_resp *r)
{
    print_error("request: %s %s -> %ld\nbody: %.2000s\n", r->method, r->path, r->status,
                r->body ? r->body : "(none)");
}

void h_expect_status_(const h_resp *r, long status, const char *file, int line)
{
    if (r->status != status) {
        print_error("expected HTTP %ld, got %ld\n", status, r->status);
        describe(r);
        _fail(file, line);
    }
}

static const char *error_mismatch(const h_resp *r, long status, const char *code,
                                  const char *field)
{
    json_t *err = r->json ? json_object_get(r->json, "error") : NULL;
    const char *got_code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *got_field = json_string_value(json_object_get(err, "field"));
    const char *ct = h_header(r, "Content-Type");
    if (r->status != status)
        return "wrong status";
    if (!r->json || !json_is_object(err))
        return "the body is not {\"error\": {...}}";
    if (!got_code || strcmp(got_code, code) != 0)
        return "wrong error.code";
    if (!msg || !*msg)
        return "error.message missing or empty";
    if (field && (!got_field || strcmp(got_field, field) != 0))
        return "wrong error.field";
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return "Content-Type is not application/json";
    return NULL;
}

static void print_mismatch(const h_resp *r, const char *why, long status, const char *code,
                           const char *field, const char *label)
{
    json_t *err = r->json ? json_object_get(r->json, "error") : NULL;
    const char *got_code = json_string_value(json_object_get(err, "code"));
    const char *got_field = json_string_value(json_object_get(err, "field"));
    print_error("%s%s%s: expected %ld %s%s%s, got %ld code=%s field=%s\n", label ? label : "",
                label ? ": " : "", why, status, code, field ? " field=" : "", field ? field : "",
                r->status, got_code ? got_code : "-", got_field ? got_field : "-");
    describe(r);
}

int h_check_error(const h_resp *r, long status, const char *code, const char *field,
                  const char *label)
{
    const char *why = error_mismatch(r, status, code, field);
    if (!why)
        return 1;
    print_mismatch(r, why, status, code, field, label);
    return 0;
}

void h_expect_error_(const h_resp *r, long status, const char *code, const char *field,
                     const char *file, int line)
{
    const char *why = error_mismatch(r, status, code, field);
    if (why) {
        print_mismatch(r, why, status, code, field, NULL);
        _fail(file, line);
    }
}

/* ---------------------------------------------------------------- JSON */

json_t *h_get(json_t *o, const char *path)
{
    if (!o || !path)
        return NULL;
    char *copy = xstrdup(path), *save = NULL;
    json_t *cur = o;
    for (char *tok = strtok_r(copy, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            cur = (*end == 0 && i >= 0) ? json_array_get(cur, (size_t)i) : NULL;
        } else if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else {
            cur = NULL;
        }
    }
    free(copy);
    return cur;
}

const char *h_str(json_t *o, const char *path) { return json_string_value(h_get(o, path)); }

json_int_t h_int(json_t *o, const char *path)
{
    json_t *v = h_get(o, path);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

int h_isnull(json_t *o, const char *path) { return json_is_null(h_get(o, path)); }
int h_has(json_t *o, const char *path) { return h_get(o, path) != NULL; }

json_t *h_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", text, e.text);
    return j;
}

size_t h_utf8_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

double h_ts_epoch(const char *ts)
{
    if (!ts)
        return NAN;
    int Y, M, D, h, m;
    double s;
    char rest[64] = "";
    if (sscanf(ts, "%d-%d-%dT%d:%d:%lf%63s", &Y, &M, &D, &h, &m, &s, rest) < 6)
        return NAN;
    /* days from civil (Howard Hinnant) */
    int y = Y - (M <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = (long)era * 146097 + (long)doe - 719468;
    double t = (double)days * 86400.0 + h * 3600.0 + m * 60.0 + s;
    if (rest[0] == '+' || rest[0] == '-') {
        int oh = 0, om = 0;
        sscanf(rest + 1, "%d:%d", &oh, &om);
        double off = oh * 3600.0 + om * 60.0;
        t -= rest[0] == '+' ? off : -off;
    }
    return t;
}

double h_ts_diff(const char *a, const char *b) { return h_ts_epoch(b) - h_ts_epoch(a); }

static void dump_json(json_t *o)
{
    char *t = o ? json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    print_error("in: %.3000s\n", t ? t : "(null)");
    free(t);
}

void h_assert_str_(json_t *o, const char *path, const char *want, const char *file, int line)
{
    json_t *v = h_get(o, path);
    if (want == NULL) {
        if (!json_is_null(v)) {
            print_error("%s: expected null\n", path);
            dump_json(o);
            _fail(file, line);
        }
        return;
    }
    const char *got = json_string_value(v);
    if (!got || strcmp(got, want) != 0) {
        print_error("%s: expected \"%s\", got %s%s%s\n", path, want, got ? "\"" : "",
                    got ? got : (v ? "a non-string" : "nothing"), got ? "\"" : "");
        dump_json(o);
        _fail(file, line);
    }
}

void h_assert_int_(json_t *o, const char *path, json_int_t want, const char *file, int line)
{
    json_t *v = h_get(o, path);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        print_error("%s: expected %lld, got %s%lld\n", path, (long long)want,
                    json_is_integer(v) ? "" : "a non-integer ",
                    json_is_integer(v) ? (long long)json_integer_value(v) : 0LL);
        dump_json(o);
        _fail(file, line);
    }
}

void h_assert_null_(json_t *o, const char *path, int want_null, const char *file, int line)
{
    json_t *v = h_get(o, path);
    if (want_null ? !json_is_null(v) : (v == NULL || json_is_null(v))) {
        print_error("%s: expected %s\n", path, want_null ? "null" : "a value (present, not null)");
        dump_json(o);
        _fail(file, line);
    }
}

void h_assert_ts_(json_t *o, const char *path, const char *file, int line)
{
    const char *s = h_str(o, path);
    int ok = s && strlen(s) == 24;
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; ok && i < 24; i++)
        ok = pat[i] == 'd' ? isdigit((unsigned char)s[i]) != 0 : s[i] == pat[i];
    if (!ok) {
        print_error("%s: expected an RFC 3339 UTC timestamp with milliseconds, got %s\n", path,
                    s ? s : "a non-string");
        dump_json(o);
        _fail(file, line);
    }
}

/* -------------------------------------------------------------- daemon */

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind: %s", strerror(errno));
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void h_daemon_log_tail(h_ctx *h, int lines)
{
    char *text = read_file(h->log_path);
    if (!text)
        return;
    size_t n = strlen(text);
    const char *p = text + n;
    int seen = 0;
    while (p > text && seen <= lines) {
        p--;
        if (*p == '\n')
            seen++;
    }
    fprintf(stderr, "---- daemon log %s (tail) ----\n%s\n----\n", h->log_path, p);
    free(text);
}

void h_daemon_args(h_ctx *h, const char *const *argv)
{
    struct h_priv *pr = P(h);
    for (size_t i = 0; pr->extra_args && pr->extra_args[i]; i++)
        free(pr->extra_args[i]);
    free(pr->extra_args);
    pr->extra_args = NULL;
    size_t n = 0;
    while (argv && argv[n])
        n++;
    if (!n)
        return;
    pr->extra_args = calloc(n + 1, sizeof *pr->extra_args);
    for (size_t i = 0; i < n; i++)
        pr->extra_args[i] = xstrdup(argv[i]);
}

pid_t h_daemon_pid(h_ctx *h) { return h->pid; }

/* Fork/exec `serve` on a free port; waits for /healthz 200 (10 s). Returns the
 * pid, or 0 after failing the test. */
static pid_t spawn_daemon(h_ctx *h, int *port_out, char **base_out)
{
    struct h_priv *pr = P(h);
    for (int tries = 0; tries < 3; tries++) {
        int port = h_free_port();
        char *base = xasprintf("http://127.0.0.1:%d", port);
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
        char *argv[64];
        size_t n = 0;
        argv[n++] = h->bin;
        argv[n++] = "serve";
        argv[n++] = "--db";
        argv[n++] = h->conninfo;
        argv[n++] = "--listen";
        argv[n++] = listen;
        for (size_t i = 0; pr->extra_args && pr->extra_args[i] && n < 62; i++)
            argv[n++] = pr->extra_args[i];
        argv[n] = NULL;
        int logfd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (logfd < 0)
            fail_msg("open %s: %s", h->log_path, strerror(errno));
        dprintf(logfd, "==== harness: starting %s serve --listen %s ====\n", h->bin, listen);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
            int nul = open("/dev/null", O_RDONLY);
            dup2(nul, 0);
            dup2(logfd, 1);
            dup2(logfd, 2);
            execv(h->bin, argv);
            dprintf(2, "exec %s: %s\n", h->bin, strerror(errno));
            _exit(127);
        }
        close(logfd);
        double end = h_now() + 10.0;
        int exited = 0;
        while (h_now() < end) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = 1;
                break;
            }
            h_resp *r = h_reqv_at(h, base, "GET", "/healthz", NULL, NULL, 0, NULL);
            long s = r->status;
            h_free(h, r);
            if (s == 200) {
                *port_out = port;
                *base_out = base;
                return pid;
            }
            h_sleep(0.05);
        }
        free(base);
        if (!exited) {
            h_daemon_log_tail(h, 40);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("the daemon did not answer GET /healthz with 200 within 10 s");
        }
        /* it exited: the port may have been taken meanwhile; try another */
    }
    h_daemon_log_tail(h, 40);
    fail_msg("the daemon exited during start-up, three times");
    return 0;
}

void h_daemon_start(h_ctx *h)
{
    if (h->pid)
        fail_msg("daemon already running");
    char *base = NULL;
    int port = 0;
    pid_t pid = spawn_daemon(h, &port, &base);
    free(h->base_url);
    h->base_url = base;
    h->port = port;
    h->pid = pid;
}

pid_t h_extra_start(h_ctx *h, const char **base_url)
{
    char *base = NULL;
    int port = 0;
    pid_t pid = spawn_daemon(h, &port, &base);
    *base_url = own(h, base);
    return pid;
}

static int stop_pid(h_ctx *h, pid_t pid)
{
    kill(pid, SIGTERM);
    double end = h_now() + 15.0;
    int st = 0;
    while (h_now() < end) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            fprintf(stderr, "harness: the daemon died of signal %d\n", WTERMSIG(st));
            h_daemon_log_tail(h, 40);
            return -1;
        }
        h_sleep(0.02);
    }
    fprintf(stderr, "harness: the daemon did not exit within 15 s of SIGTERM\n");
    h_daemon_log_tail(h, 40);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int h_extra_stop(h_ctx *h, pid_t pid) { return stop_pid(h, pid); }

int h_daemon_stop(h_ctx *h)
{
    if (!h->pid)
        return 0;
    pid_t pid = h->pid;
    h->pid = 0;
    return stop_pid(h, pid);
}

void h_daemon_stop_ok(h_ctx *h)
{
    int st = h_daemon_stop(h);
    if (st != 0) {
        h_daemon_log_tail(h, 40);
        fail_msg("the daemon exited with status %d after SIGTERM (expected 0)", st);
    }
}

void h_daemon_kill(h_ctx *h)
{
    if (!h->pid)
        fail_msg("no daemon running");
    kill(h->pid, SIGKILL);
    waitpid(h->pid, NULL, 0);
    h->pid = 0;
}

void h_daemon_restart(h_ctx *h)
{
    h_daemon_stop_ok(h);
    h_daemon_start(h);
}

/* ------------------------------------------------------------ principals */

const char *h_key(h_ctx *h, const char *role, int tier, const char *name)
{
    struct h_priv *pr = P(h);
    char tierbuf[8];
    char *argv[16];
    size_t n = 0;
    argv[n++] = h->bin;
    argv[n++] = "keys";
    argv[n++] = "create";
    argv[n++] = "--name";
    argv[n++] = (char *)name;
    argv[n++] = "--role";
    argv[n++] = (char *)role;
    if (tier) {
        snprintf(tierbuf, sizeof tierbuf, "%d", tier);
        argv[n++] = "--tier";
        argv[n++] = tierbuf;
    }
    argv[n++] = "--db";
    argv[n++] = h->conninfo;
    argv[n] = NULL;
    char *out = NULL;
    int st = h_run(argv, &out);
    if (st != 0)
        fail_msg("escalated keys create --name %s --role %s: exit %d", name, role, st);
    /* the token alone on stdout */
    size_t len = strlen(out);
    while (len && isspace((unsigned char)out[len - 1]))
        out[--len] = 0;
    if (len < 8 || strchr(out, '\n') || strchr(out, ' '))
        fail_msg("keys create printed more than a token: '%s'", out);
    pthread_mutex_lock(&pr->mu);
    if (pr->n_principals == pr->cap_principals) {
        pr->cap_principals = pr->cap_principals ? pr->cap_principals * 2 : 16;
        pr->principals = realloc(pr->principals, pr->cap_principals * sizeof *pr->principals);
    }
    h_principal *p = &pr->principals[pr->n_principals++];
    p->name = xstrdup(name);
    p->role = xstrdup(role);
    p->tier = tier;
    p->token = out;
    p->id = 0;
    pthread_mutex_unlock(&pr->mu);
    char *qname = PQescapeLiteral(db_conn(h), name, strlen(name));
    const char *id = h_sql_value(h, "SELECT id FROM principals WHERE name = %s ORDER BY id DESC LIMIT 1",
                                 qname);
    PQfreemem(qname);
    if (!id)
        fail_msg("principal %s not found in the database after keys create", name);
    p = NULL;
    pthread_mutex_lock(&pr->mu);
    pr->principals[pr->n_principals - 1].id = strtoll(id, NULL, 10);
    const char *tok = pr->principals[pr->n_principals - 1].token;
    pthread_mutex_unlock(&pr->mu);
    return tok;
}

const h_principal *h_principal_by_token(h_ctx *h, const char *token)
{
    struct h_priv *pr = P(h);
    for (size_t i = 0; i < pr->n_principals; i++)
        if (strcmp(pr->principals[i].token, token) == 0)
            return &pr->principals[i];
    return NULL;
}

static int64_t id_of(h_ctx *h, const char *token) { return h_principal_by_token(h, token)->id; }

/* --------------------------------------------------------------- setup */

h_ctx *h_start(const char *name, const char *state_file)
{
    h_ctx *h = calloc(1, sizeof *h);
    struct h_priv *pr = calloc(1, sizeof *pr);
    if (!h || !pr)
        die("out of memory");
    pthread_mutex_init(&pr->mu, NULL);
    h->priv = pr;
    const char *base = strrchr(name, '/');
    h->name = xstrdup(base ? base + 1 : name);
    h->verbose = getenv("ESC_TEST_VERBOSE") && *getenv("ESC_TEST_VERBOSE") == '1';
    curl_global_init(CURL_GLOBAL_ALL);
    signal(SIGPIPE, SIG_IGN);

    const char *bin = getenv("ESC_BIN");
    if (!bin || !*bin)
        die("ESC_BIN is not set (the path of the escalated binary)");
    if (access(bin, X_OK) != 0)
        die("ESC_BIN=%s is not executable", bin);
    h->bin = xstrdup(bin);
    const char *sf = state_file ? state_file : getenv("ESC_PG_STATE");
    if (!sf || !*sf)
        die("ESC_PG_STATE is not set (the state file of scripts/pg.sh start-test)");
    char *st = read_file(sf);
    if (!st)
        die("cannot read %s: %s (did integration.pg_start run?)", sf, strerror(errno));
    h->pghost = state_get(st, "PGHOST");
    h->pgport = state_get(st, "PGPORT");
    h->pgdir = state_get(st, "PGDIR");
    char *user = state_get(st, "PGUSER");
    free(st);
    if (!h->pghost || !h->pgport)
        die("%s lacks PGHOST/PGPORT", sf);

    char db[64];
    size_t k = 0;
    k += (size_t)snprintf(db, sizeof db, "esc_");
    for (const char *p = h->name; *p && k < 40; p++)
        db[k++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    snprintf(db + k, sizeof db - k, "_%d", (int)getpid());
    h->dbname = xstrdup(db);
    h->admin_conninfo = xasprintf("host=%s port=%s user=%s dbname=postgres", h->pghost, h->pgport,
                                  user ? user : "postgres");
    h->conninfo = xasprintf("host=%s port=%s user=%s dbname=%s", h->pghost, h->pgport,
                            user ? user : "postgres", h->dbname);
    free(user);
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", h->dbname);
    admin_sql(h, sql, 1);
    free(sql);
    sql = xasprintf("CREATE DATABASE %s", h->dbname);
    admin_sql(h, sql, 1);
    free(sql);

    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, ".");
    h->log_path = xasprintf("%s/%s.daemon.log", cwd, h->name);
    unlink(h->log_path);
    /* a data key of this run's own (the daemon refuses to start without
     * one), in the environment every daemon started from here inherits */
    h->data_key_file = xasprintf("%s/%s.data.key", cwd, h->name);
    unlink(h->data_key_file);
    {
        char *kargv[] = {h->bin, "data-key", "create", "--data-key-file", h->data_key_file, NULL};
        char *kout = NULL;
        int krc = h_run(kargv, &kout);
        free(kout);
        if (krc != 0)
            die("%s data-key create --data-key-file %s exited %d", h->bin, h->data_key_file, krc);
        setenv("ESCALATED_DATA_KEY_FILE", h->data_key_file, 1);
    }

    char *argv[] = {h->bin, "migrate", "--db", h->conninfo, NULL};
    char *out = NULL;
    int rc = h_run(argv, &out);
    free(out);
    if (rc != 0)
        die("%s migrate --db '%s' exited %d", h->bin, h->conninfo, rc);

    h->k.frontdesk = h_key(h, "frontdesk", 0, "Front Desk");
    h->k.manager = h_key(h, "manager", 0, "Manager Zhang");
    h->k.admin = h_key(h, "admin", 0, "Admin");
    h->k.agent[1] = h_key(h, "agent", 1, "李娜");
    h->k.agent[2] = h_key(h, "agent", 2, "Agent Two");
    h->k.agent[3] = h_key(h, "agent", 3, "Agent Three");
    h->k.frontdesk_id = id_of(h, h->k.frontdesk);
    h->k.manager_id = id_of(h, h->k.manager);
    h->k.admin_id = id_of(h, h->k.admin);
    h->k.frontdesk_name = "Front Desk";
    h->k.manager_name = "Manager Zhang";
    h->k.agent_name[1] = "李娜";
    h->k.agent_name[2] = "Agent Two";
    h->k.agent_name[3] = "Agent Three";
    for (int t = 1; t <= 3; t++)
        h->k.agent_id[t] = id_of(h, h->k.agent[t]);

    h_daemon_start(h);
    /* the settings as the migration made them, for h_restore_settings */
    h_resp *r = h_req(h, "GET", "/v1/policies", h->k.manager, NULL);
    h_expect_status(r, 200);
    pr->policies = json_incref(json_object_get(r->json, "items"));
    r = h_req(h, "GET", "/v1/calendar", h->k.manager, NULL);
    h_expect_status(r, 200);
    pr->calendar = json_incref(r->json);
    return h;
}

void h_finish(h_ctx *h)
{
    if (!h)
        return;
    struct h_priv *pr = P(h);
    int st = h_daemon_stop(h);
    if (pr->db) {
        PQfinish(pr->db);
        pr->db = NULL;
    }
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", h->dbname);
    if (!getenv("ESC_TEST_KEEP_DB"))
        admin_sql(h, sql, 0);
    free(sql);
    for (size_t i = 0; i < pr->n_resps; i++)
        resp_free(pr->resps[i]);
    free(pr->resps);
    for (size_t i = 0; i < pr->n_owned; i++)
        free(pr->owned[i]);
    free(pr->owned);
    for (size_t i = 0; i < pr->n_principals; i++) {
        free(pr->principals[i].name);
        free(pr->principals[i].role);
        free(pr->principals[i].token);
    }
    free(pr->principals);
    json_decref(pr->policies);
    json_decref(pr->calendar);
    h_daemon_args(h, NULL);
    pthread_mutex_destroy(&pr->mu);
    free(pr);
    free(h->name);
    free(h->conninfo);
    free(h->admin_conninfo);
    free(h->dbname);
    free(h->pghost);
    free(h->pgport);
    free(h->pgdir);
    free(h->bin);
    free(h->base_url);
    free(h->log_path);
    if (h->data_key_file)
        unlink(h->data_key_file);
    free(h->data_key_file);
    free(h);
    curl_global_cleanup();
    if (st != 0) {
        fprintf(stderr, "harness: the daemon's exit status after SIGTERM was %d, expected 0\n", st);
        exit(1);
    }
}

/* ---------------------------------------------------------- conveniences */

json_t *h_create_ticket_(h_ctx *h, const char *token, json_t *body, const char *file, int line)
{
    if (!body)
        body = json_pack("{s:s}", "subject", h_unique(h, "ticket"));
    h_resp *r = h_reqj(h, "POST", "/v1/tickets", token ? token : h->k.frontdesk, body);
    if (r->status != 201 || !json_is_object(r->json)) {
        print_error("create ticket: expected 201 with a ticket\n");
        describe(r);
        _fail(file, line);
    }
    return r->json;
}

json_t *h_create_ticket_subject_(h_ctx *h, const char *subject, const char *severity,
                                 const char *file, int line)
{
    json_t *b = json_pack("{s:s}", "subject", subject);
    if (severity)
        json_object_set_new(b, "severity", json_string(severity));
    return h_create_ticket_(h, NULL, b, file, line);
}

h_resp *h_action_if(h_ctx *h, const char *token, json_int_t id, const char *action,
                    json_t *body, const char *if_match)
{
    if (!body)
        body = json_object();
    char path[128];
    snprintf(path, sizeof path, "/v1/tickets/%lld/%s", (long long)id, action);
    if (if_match) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "If-Match: %s", if_match);
        return h_reqj(h, "POST", path, token, body, hdr);
    }
    return h_reqj(h, "POST", path, token, body);
}

h_resp *h_action(h_ctx *h, const char *token, json_int_t id, const char *action, json_t *body)
{
    return h_action_if(h, token, id, action, body, NULL);
}

json_t *h_action_ok_(h_ctx *h, const char *token, json_int_t id, const char *action,
                     json_t *body, const char *file, int line)
{
    h_resp *r = h_action(h, token, id, action, body);
    long want = strcmp(action, "comment") == 0 ? 201 : 200;
    h_expect_status_(r, want, file, line);
    return r->json;
}

json_t *h_get_ticket_(h_ctx *h, const char *token, json_int_t id, const char *file, int line)
{
    h_resp *r = h_req(h, "GET", h_fmt(h, "/v1/tickets/%lld", (long long)id),
                      token ? token : h->k.manager, NULL);
    h_expect_status_(r, 200, file, line);
    return r->json;
}

json_t *h_events_(h_ctx *h, json_int_t id, const char *file, int line)
{
    h_resp *r = h_req(h, "GET", h_fmt(h, "/v1/tickets/%lld/events", (long long)id), h->k.manager,
                      NULL);
    h_expect_status_(r, 200, file, line);
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items)) {
        print_error("events: no items array\n");
        describe(r);
        _fail(file, line);
    }
    return items;
}

json_t *h_reason(const char *reason) { return json_pack("{s:s}", "reason", reason); }

/* ---- a private cluster, SQL shorthands, wall clock -------------------- */

static char *priv_state; /* our own pg.sh state file */
static char *priv_pgsh;  /* scripts/pg.sh */

static char *pg_script(void)
{
    const char *s = getenv("ESC_PG_SCRIPT");
    if (s && *s)
        return xstrdup(s);
    const char *data = getenv("ESC_TEST_DATA"); /* <src>/tests/data */
    char *p = NULL;
    if (data && *data && asprintf(&p, "%s/../../scripts/pg.sh", data) > 0 && access(p, X_OK) == 0)
        return p;
    free(p);
    return xstrdup("scripts/pg.sh");
}

static int sh(const char *cmd)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    char *out = NULL;
    int rc = h_run(argv, &out);
    if (out && *out)
        fprintf(stderr, "%s", out);
    free(out);
    return rc;
}

h_ctx *h_start_private(const char *name)
{
    priv_pgsh = pg_script();
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, ".");
    if (asprintf(&priv_state, "%s/%s.pgstate", cwd, name) < 0) {
        priv_state = NULL;
        return NULL;
    }
    char *cmd = NULL;
    if (asprintf(&cmd, "'%s' start-test '%s' 1>&2", priv_pgsh, priv_state) < 0)
        return NULL;
    int rc = sh(cmd);
    free(cmd);
    if (rc != 0) {
        fprintf(stderr, "%s: %s start-test failed (%d)\n", name, priv_pgsh, rc);
        return NULL;
    }
    return h_start(name, priv_state);
}

void h_finish_private(h_ctx *h)
{
    h_finish(h);
    char *cmd = NULL;
    if (asprintf(&cmd, "'%s' stop-test '%s' 1>&2", priv_pgsh, priv_state) > 0)
        sh(cmd);
    else
        cmd = NULL;
    free(cmd);
    free(priv_state);
    free(priv_pgsh);
    priv_state = priv_pgsh = NULL;
}

int h_pg_ctl(h_ctx *h, const char *what)
{
    char *cmd = NULL;
    int rc = asprintf(&cmd,
                      "bindir=$(pg_config --bindir 2>/dev/null); "
                      "[ -x \"$bindir/pg_ctl\" ] || bindir=/usr/lib/postgresql/15/bin; "
                      "if [ \"$(id -u)\" = 0 ]; then run='runuser -u postgres --'; else run=''; fi; "
                      "$run \"$bindir/pg_ctl\" -D '%s/data' -l '%s/server.log' -w -t 60 %s %s >/dev/null",
                      h->pgdir, h->pgdir, strcmp(what, "stop") == 0 ? "-m fast" : "", what);
    if (rc < 0)
        return -1;
    rc = sh(cmd);
    free(cmd);
    return rc;
}

double h_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void h_sleep_until_wall(double t) { h_sleep(t - h_wall()); }

/* The value of a query (at most 2047 characters), or fail the test. */
static const char *sql_value_or_fail(h_ctx *h, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static const char *sql_value_or_fail(h_ctx *h, const char *fmt, va_list ap)
{
    char sql[2048];
    vsnprintf(sql, sizeof sql, fmt, ap);
    const char *v = h_sql_value(h, "%s", sql);
    if (!v)
        fail_msg("no value from: %s", sql);
    return v;
}

long long h_sql_ll(h_ctx *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *v = sql_value_or_fail(h, fmt, ap);
    va_end(ap);
    return strtoll(v, NULL, 10);
}

double h_sql_d(h_ctx *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *v = sql_value_or_fail(h, fmt, ap);
    va_end(ap);
    return strtod(v, NULL);
}

/* ---- more conveniences ------------------------------------------------- */

json_int_t h_new_ticket_(h_ctx *h, const char *subject, const char *severity,
                         const char *category, const char *file, int line)
{
    json_t *b = json_pack("{s:s}", "subject", subject ? subject : h_unique(h, "ticket"));
    if (severity)
        json_object_set_new(b, "severity", json_string(severity));
    if (category)
        json_object_set_new(b, "category", json_string(category));
    return h_int(h_create_ticket_(h, NULL, b, file, line), "id");
}

json_t *h_resolve_body(const char *root_cause)
{
    return json_pack("{s:s,s:s}", "resolution", "fixed", "root_cause", root_cause);
}

json_t *h_close_body(const char *result, int score)
{
    json_t *sat = json_pack("{s:s}", "result", result);
    if (score)
        json_object_set_new(sat, "score", json_integer(score));
    return json_pack("{s:o}", "satisfaction", sat);
}

size_t h_count_events(h_ctx *h, json_int_t id, const char *type, json_t **last)
{
    json_t *items = h_events(h, id), *e;
    size_t i, n = 0;
    json_array_foreach(items, i, e) {
        const char *t = h_str(e, "type");
        if (t && strcmp(t, type) == 0) {
            n++;
            if (last)
                *last = e;
        }
    }
    return n;
}

json_t *h_breaches_of(h_ctx *h, json_int_t id)
{
    h_resp *r = h_req(h, "GET", h_fmt(h, "/v1/breaches?ticket=%lld", (long long)id), h->k.manager,
                      NULL);
    h_expect_status(r, 200);
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items))
        fail_msg("GET /v1/breaches?ticket=%lld: no items array", (long long)id);
    return items;
}

h_resp *h_reqj_at(h_ctx *h, const char *base, const char *method, const char *path,
                  const char *token, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    h_resp *r = h_reqv_at(h, base, method, path, token, text, text ? strlen(text) : 0, NULL);
    free(text);
    return r;
}

const char *h_repeat(h_ctx *h, const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = xmalloc(ul * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = 0;
    return own(h, s);
}

int h_check_bad(h_ctx *h, const char *method, const char *path, const char *token, long status,
                const char *code, const struct h_bad *cases, size_t n)
{
    int in_query = strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        h_resp *r = in_query ? h_req(h, method, h_fmt(h, "%s%c%s", path, strchr(path, '?') ? '&' : '?',
                                                      cases[i].text), token, NULL)
                             : h_req(h, method, path, token, cases[i].text);
        failed += !h_check_error(r, status, code, cases[i].field, cases[i].text);
    }
    return failed;
}

/* ---- settings ---------------------------------------------------------- */

json_t *h_put_policy(h_ctx *h, const char *severity, const char *json)
{
    h_resp *r = h_req(h, "PUT", h_fmt(h, "/v1/policies/%s", severity), h->k.manager, json);
    h_expect_status(r, 200);
    return r->json;
}

void h_restore_settings(h_ctx *h)
{
    struct h_priv *pr = P(h);
    size_t i;
    json_t *p;
    json_array_foreach(pr->policies, i, p) {
        /* GET shows severity and updated_at too; PUT takes the four settings only */
        json_t *body = json_pack("{s:O,s:O,s:O,s:O}", "ack_seconds", h_get(p, "ack_seconds"),
                                 "resolve_seconds", h_get(p, "resolve_seconds"), "warn_ratio",
                                 h_get(p, "warn_ratio"), "callback_business_days",
                                 h_get(p, "callback_business_days"));
        if (!body)
            fail_msg("GET /v1/policies at start-up lacked a setting");
        h_resp *r = h_reqj(h, "PUT", h_fmt(h, "/v1/policies/%s", h_str(p, "severity")), h->k.manager,
                           body);
        h_expect_status(r, 200);
    }
    h_resp *r = h_reqj(h, "PUT", "/v1/calendar", h->k.manager, json_incref(pr->calendar));
    h_expect_status(r, 200);
}

/* ---- waiting ----------------------------------------------------------- */

long long h_wait_sql_count(h_ctx *h, long long want, double seconds, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    double end = h_now() + seconds;
    for (;;) {
        const char *v = h_sql_value(h, "%s", sql);
        if (!v)
            fail_msg("no value from: %s", sql);
        long long got = strtoll(v, NULL, 10);
        if (got == want || h_now() >= end)
            return got;
        h_sleep(0.05);
    }
}

void h_wait_breaches(h_ctx *h, json_int_t id, const char *kinds, double seconds)
{
    long long n = 1;
    for (const char *p = kinds; *p; p++)
        n += *p == ',';
    long long got = h_wait_sql_count(h, n, seconds,
                                     "SELECT count(DISTINCT kind) FROM breaches WHERE ticket_id = %lld "
                                     "AND kind::text = ANY (string_to_array('%s', ','))",
                                     (long long)id, kinds);
    if (got != n)
        fail_msg("ticket %lld has %lld of the breaches %s after %.0f s", (long long)id, got, kinds,
                 seconds);
}

/* ---- threads ----------------------------------------------------------- */

struct racer {
    pthread_barrier_t *bar;
    void *(*fn)(void *);
    void *arg;
};

static void *race_start(void *p)
{
    struct racer *r = p;
    pthread_barrier_wait(r->bar);
    return r->fn(r->arg);
}

void h_race(int n, void *(*fn)(void *), void *args, size_t size)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n);
    pthread_t *th = xmalloc((size_t)n * sizeof *th);
    struct racer *rs = xmalloc((size_t)n * sizeof *rs);
    for (int i = 0; i < n; i++) {
        rs[i] = (struct racer){&bar, fn, (char *)args + (size_t)i * size};
        if (pthread_create(&th[i], NULL, race_start, &rs[i]) != 0)
            die("pthread_create failed");
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    free(th);
    free(rs);
}

/* ---- running the tests ------------------------------------------------- */

void h_apply_test_filter(void)
{
    const char *f = getenv("ESC_TEST_FILTER");
    if (f && *f)
        cmocka_set_test_filter(f);
}

/* ---- time zones -------------------------------------------------------- */

char *h_tz_push(const char *zone)
{
    const char *old = getenv("TZ");
    char *saved = old ? xstrdup(old) : NULL;
    setenv("TZ", zone, 1);
    tzset();
    return saved;
}

void h_tz_pop(char *saved)
{
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    free(saved);
    tzset();
}

void h_local_day(double epoch, const char *zone, char out[16])
{
    char *saved = h_tz_push(zone);
    time_t t = (time_t)floor(epoch);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
    h_tz_pop(saved);
}

/* ------------------------------------------------------ raw connections */

#include <arpa/inet.h>
#include <poll.h>
#include <sys/resource.h>

int h_raw_connect(h_ctx *h, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (src) {
        if (inet_pton(AF_INET, src, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
            goto fail;
    }
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)h->port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

int h_raw_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t h_raw_read(int fd, char *buf, size_t cap, double seconds, int *closed)
{
    size_t got = 0;
    double end = h_now() + seconds;
    *closed = 0;
    buf[0] = '\0';
    while (got + 1 < cap) {
        double left = end - h_now();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* EOF, or a reset */
            *closed = 1;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
    }
    return (ssize_t)got;
}

long h_nofile_at_least(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < n) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max >= n ? (rlim_t)n : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return rl.rlim_cur == RLIM_INFINITY ? n : (long)rl.rlim_cur;
}

/* ------------------------------------------------ data stored in clear */

static const char *const probe_sql =
    "CREATE OR REPLACE FUNCTION probe_clear(needle text) RETURNS text LANGUAGE plpgsql AS $$ "
    "DECLARE r record; n bigint; hits text := ''; "
    "BEGIN "
    " FOR r IN SELECT c.table_name, c.column_name FROM information_schema.columns c "
    "  JOIN information_schema.tables t ON t.table_schema = c.table_schema "
    "   AND t.table_name = c.table_name "
    "  WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
    "   AND c.data_type IN ('text', 'jsonb', 'json', 'character varying', 'ARRAY') LOOP "
    "  EXECUTE format('SELECT count(*) FROM %I WHERE %I::text LIKE $1', r.table_name, "
    "   r.column_name) INTO n USING '%' || needle || '%'; "
    "  IF n > 0 THEN hits := hits || r.table_name || '.' || r.column_name || ' '; END IF; "
    " END LOOP; "
    " RETURN hits; "
    "END $$";

void h_probe_install(h_ctx *h)
{
    const char *err = NULL;
    if (h_sql_exec(h, probe_sql, &err) != 0)
        fail_msg("probe function: %s", err);
}

const char *h_probe_clear(h_ctx *h, const char *needle)
{
    return h_sql_value(h, "SELECT probe_clear('%s')", needle);
}

/* ---- the usual file -------------------------------------------------- */
/* cmocka's group fixtures take no argument: what they need is kept here for
 * the one run a test binary makes. */
static struct {
    h_ctx **hp;
    const char *name;
    unsigned flags;
} usual;

static int usual_setup(void **state)
{
    (void)state;
    *usual.hp = h_start(usual.name, NULL);
    if (!*usual.hp)
        return -1;
    if (usual.flags & H_WITH_PROBE)
        h_probe_install(*usual.hp);
    return 0;
}

static int usual_teardown(void **state)
{
    (void)state;
    h_finish(*usual.hp);
    *usual.hp = NULL;
    return 0;
}

int h_run_tests_with_daemon_(h_ctx **hp, const char *name, unsigned flags, const char *group,
                             const struct CMUnitTest *tests, size_t count)
{
    usual.hp = hp;
    usual.name = name;
    usual.flags = flags;
    h_apply_test_filter();
    return _cmocka_run_group_tests(group, tests, count, usual_setup, usual_teardown);
}

char *h_dirname(const char *path)
{
    char *d = strdup(path);
    if (!d)
        die("out of memory");
    char *slash = strrchr(d, '/');
    if (slash && slash != d)
        *slash = '\0';
    else
        strcpy(d, ".");
    return d;
}

char *h_build_dir(void)
{
    const char *bin = getenv("ESC_BIN");
    return h_dirname(bin ? bin : "./escalated");
}

char *h_source_dir(void)
{
    const char *data = getenv("ESC_TEST_DATA");
    char *tests = h_dirname(data ? data : "./tests/data");
    char *src = h_dirname(tests);
    free(tests);
    return src;
}

void h_make_cert(const char *crt, const char *key)
{
    char *const argv[] = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                          "-keyout", (char *)key, "-out", (char *)crt, NULL};
    char *out = NULL;
    int st = h_run(argv, &out);
    free(out);
    if (st != 0)
        fail_msg("openssl req failed (%d): is the openssl command installed?", st);
    assert_int_equal(chmod(key, 0600), 0);
}
