/* harness_webdriver.c — a headless Chromium for the page tests (the
 * dashboard's, the console's): Debian's chromium under Debian's chromedriver,
 * driven over the W3C WebDriver HTTP API with libcurl + jansson
 * (harness_webdriver.h). */
#include "harness_webdriver.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
    pid_t pid;         /* chromedriver (its own process group) */
    char base[64];     /* http://127.0.0.1:PORT */
    char *session;
    char userdir[64];
    double deadline;   /* h_now() after which waits fail (0 = none) */
    char box_what[64];
} W;

void wd_time_box_start(double seconds, const char *name)
{
    W.deadline = h_now() + seconds;
    snprintf(W.box_what, sizeof W.box_what, "%s", name);
}

void wd_time_box(const char *what)
{
    if (W.deadline > 0 && h_now() > W.deadline) {
        print_error("%s: over its time box at: %s\n", W.box_what, what);
        fail();
    }
}

const char *wd_session(void) { return W.session; }

char *wd_find_in_path(const char *const *names)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *const *n = names; *n; n++) {
        if ((*n)[0] == '/') {
            if (access(*n, X_OK) == 0)
                return strdup(*n);
            continue;
        }
        for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
            size_t len = strcspn(p, ":");
            snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, *n);
            if (len && access(buf, X_OK) == 0)
                return strdup(buf);
            p += len;
            if (*p == ':')
                p++;
        }
    }
    return NULL;
}

/* -------------------------------------------------------------- WebDriver */

struct wbuf {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct wbuf *b = ud;
    size_t add = size * nmemb;
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, ptr, add);
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

/* One WebDriver command.  Steals body.  Returns the response's "value" (new
 * reference, may be NULL) and its HTTP status in *status (0: no answer). */
json_t *wd_raw(const char *method, const char *path, json_t *body, long *status)
{
    char url[512];
    struct wbuf b = {0};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    snprintf(url, sizeof url, "%s%s", W.base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (text)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    *status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    free(text);
    json_t *doc = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    json_t *v = doc ? json_incref(json_object_get(doc, "value")) : NULL;
    json_decref(doc);
    return v;
}

/* The same, asserting success; the value is kept until wd_gc(). */
static json_t *kept[1 << 16];
static size_t n_kept;

static json_t *keep(json_t *v)
{
    if (v && n_kept < sizeof kept / sizeof kept[0])
        kept[n_kept++] = v;
    return v;
}

void wd_gc(void)
{
    for (size_t i = 0; i < n_kept; i++)
        json_decref(kept[i]);
    n_kept = 0;
}

json_t *wd(const char *method, const char *path, json_t *body)
{
    long st;
    json_t *v = keep(wd_raw(method, path, body, &st));
    if (st != 200) {
        char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
        print_error("WebDriver %s %s -> %ld %s\n", method, path, st, d ? d : "");
        free(d);
        fail();
    }
    return v;
}

/* "/session/ID" + tail (a static buffer: use it at once) */
const char *wd_spath(const char *tail)
{
    static char p[512];
    snprintf(p, sizeof p, "/session/%s%s", W.session, tail);
    return p;
}

/* Run a script in the page (a function body; `arguments` as usual). */
json_t *wd_js(const char *script)
{
    return wd("POST", wd_spath("/execute/sync"),
              json_pack("{s:s,s:[]}", "script", script, "args"));
}

/* Not kept: for polling. */
int wd_js_bool(const char *script)
{
    long st;
    json_t *v = wd_raw("POST", wd_spath("/execute/sync"),
                       json_pack("{s:s,s:[]}", "script", script, "args"), &st);
    int yes = st == 200 && json_is_true(v);
    if (st != 200) {
        char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
        print_error("WebDriver script failed (%ld): %s\n  %s\n", st, d ? d : "", script);
        free(d);
        json_decref(v);
        fail();
    }
    json_decref(v);
    return yes;
}

const char *wd_js_str(const char *script)
{
    const char *s = json_string_value(wd_js(script));
    return s ? s : "";
}

/* Poll a script until it returns true; fail with `what` after timeout_s. */
void wd_wait_js(const char *script, double timeout_s, const char *what)
{
    double until = h_now() + timeout_s;
    while (!wd_js_bool(script)) {
        if (h_now() > until) {
            print_error("browser: timed out waiting for %s\n  (script: %s)\n  page says: %s\n",
                        what, script,
                        wd_js_str("return Array.from(document.querySelectorAll('.error:not([hidden])'))"
                               ".map(function (e) { return e.textContent; }).join(' | ');"));
            fail();
        }
        wd_time_box(what);
        h_sleep(0.1);
    }
}

const char *wd_element(const char *css)
{
    json_t *v = wd("POST", wd_spath("/element"),
                   json_pack("{s:s,s:s}", "using", "css selector", "value", css));
    const char *key;
    json_t *id;
    json_object_foreach(v, key, id) return json_string_value(id);
    fail_msg("no element id for %s", css);
    return NULL;
}

void wd_click(const char *css)
{
    /* pages that repaint themselves (the console refreshes every few
     * seconds) may replace the element between finding and clicking it:
     * find it again then */
    for (int tries = 0;; tries++) {
        char p[256];
        long st;
        snprintf(p, sizeof p, "/element/%s/click", wd_element(css));
        json_t *v = wd_raw("POST", wd_spath(p), NULL, &st);
        const char *e = json_string_value(json_object_get(v, "error"));
        int stale = st == 404 && e && strcmp(e, "stale element reference") == 0;
        if (st == 200 || !stale || tries == 3) {
            if (st != 200) {
                char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
                print_error("WebDriver click %s -> %ld %s\n", css, st, d ? d : "");
                free(d);
                json_decref(v);
                fail();
            }
            json_decref(v);
            return;
        }
        json_decref(v);
        h_sleep(0.05);
    }
}

void wd_type(const char *css, const char *text)
{
    char p[256];
    const char *id = wd_element(css);
    snprintf(p, sizeof p, "/element/%s/clear", id);
    wd("POST", wd_spath(p), NULL);
    snprintf(p, sizeof p, "/element/%s/value", id);
    wd("POST", wd_spath(p), json_pack("{s:s}", "text", text));
}

void wd_cdp(const char *cmd, json_t *params)
{
    wd("POST", wd_spath("/goog/cdp/execute"), json_pack("{s:s,s:o}", "cmd", cmd, "params", params));
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

void wd_screenshot(const char *path)
{
    wd_js("window.scrollTo(0, 0); return null;");
    h_sleep(0.1);
    const char *b64 = json_string_value(wd("GET", wd_spath("/screenshot"), NULL));
    assert_non_null(b64);
    size_t n = strlen(b64), o = 0;
    unsigned char *out = malloc(n * 3 / 4 + 3);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)b64[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    assert_true(o > 8 && memcmp(out, "\x89PNG", 4) == 0);
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(out, 1, o, f), o);
    fclose(f);
    free(out);
    fprintf(stderr, "browser: screenshot %s (%zu bytes)\n", path, o);
}

void wd_start(const char *outdir)
{
    static const char *const drivers[] = {"chromedriver", "/usr/lib/chromium/chromedriver", NULL};
    static const char *const browsers[] = {"chromium", "chromium-browser", "/usr/lib/chromium/chromium", NULL};
    char *driver = wd_find_in_path(drivers), *browser = wd_find_in_path(browsers);
    if (!driver || !browser)
        fail_msg("this test needs Debian's chromium and chromium-driver "
                 "(apt-get install chromium chromium-driver; scripts/test.sh installs them): "
                 "chromedriver %s, chromium %s", driver ? driver : "NOT FOUND",
                 browser ? browser : "NOT FOUND");
    int port = h_free_port();
    snprintf(W.base, sizeof W.base, "http://127.0.0.1:%d", port);
    char portarg[32], logpath[4096];
    snprintf(portarg, sizeof portarg, "--port=%d", port);
    snprintf(logpath, sizeof logpath, "%s/chromedriver.log", outdir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0); /* chromedriver and the browsers it starts: one group to stop */
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(driver, driver, portarg, (char *)NULL);
        _exit(127);
    }
    W.pid = pid;
    setpgid(pid, pid);
    double until = h_now() + 15;
    for (;;) {
        long st;
        json_t *v = wd_raw("GET", "/status", NULL, &st);
        int ready = st == 200 && json_is_true(json_object_get(v, "ready"));
        json_decref(v);
        if (ready)
            break;
        if (h_now() > until)
            fail_msg("chromedriver did not become ready in 15 s (see %s)", logpath);
        h_sleep(0.05);
    }

    strcpy(W.userdir, "/tmp/esc-browser-XXXXXX");
    assert_non_null(mkdtemp(W.userdir));
    char udarg[128];
    snprintf(udarg, sizeof udarg, "--user-data-dir=%s", W.userdir);
    json_t *args = json_pack("[s,s,s,s,s,s,s,s,s,s,s,s]", "--headless=new",
                             "--no-sandbox", /* we run as root */
                             "--disable-dev-shm-usage", "--disable-gpu", udarg,
                             "--window-size=1280,900", "--lang=en-US", "--no-first-run",
                             "--disable-extensions", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync");
    json_t *caps = json_pack("{s:{s:{s:s,s:{s:s,s:o},s:{s:s}}}}", "capabilities", "alwaysMatch",
                             "browserName", "chrome", "goog:chromeOptions", "binary", browser,
                             "args", args, "goog:loggingPrefs", "browser", "ALL");
    json_t *v = wd("POST", "/session", caps);
    W.session = strdup(json_string_value(json_object_get(v, "sessionId")));
    assert_non_null(W.session);
    free(driver);
    free(browser);
}

void wd_stop(void)
{
    if (W.session) {
        long st;
        char p[128];
        snprintf(p, sizeof p, "/session/%s", W.session);
        json_decref(wd_raw("DELETE", p, NULL, &st));
        free(W.session);
        W.session = NULL;
    }
    if (W.pid > 0) {
        kill(-W.pid, SIGTERM);
        int status;
        double until = h_now() + 5;
        while (waitpid(W.pid, &status, WNOHANG) == 0) {
            if (h_now() > until) {
                kill(-W.pid, SIGKILL);
                waitpid(W.pid, &status, 0);
                break;
            }
            h_sleep(0.05);
        }
        W.pid = 0;
    }
    if (W.userdir[0]) {
        char *const rm[] = {"rm", "-rf", W.userdir, NULL};
        h_run(rm, NULL);
        W.userdir[0] = '\0';
    }
    wd_gc();
}

void wd_check_browser_log(const char *const *expected)
{
    json_t *logs = wd("POST", wd_spath("/se/log"), json_pack("{s:s}", "type", "browser"));
    size_t i;
    json_t *e;
    int bad = 0;
    json_array_foreach(logs, i, e) {
        const char *level = json_string_value(json_object_get(e, "level"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *src = json_string_value(json_object_get(e, "source"));
        if (!level || strcmp(level, "SEVERE") != 0)
            continue;
        int fine = 0;
        for (const char *const *x = expected; x && *x && src && msg && !fine; x++)
            fine = strcmp(src, "network") == 0 && strstr(msg, *x) != NULL;
        if (fine)
            continue;
        print_error("browser log: %s %s: %s\n", src ? src : "?", level, msg ? msg : "");
        bad++;
    }
    assert_int_equal(bad, 0);
}
