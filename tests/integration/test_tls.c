/* test_tls.c — HTTPS by the daemon itself (--tls-cert, --tls-key;
 * docs/operations.md#https):
 *   - with a self-signed certificate made here by the openssl command, a
 *     client that trusts that certificate (CAINFO) and verifies the peer gets
 *     its answers over HTTPS, an authenticated request included;
 *   - plain HTTP to the HTTPS port gets no answer;
 *   - the start is refused, with exit status 2 and a message naming the
 *     setting, for: one of the two alone, a missing file, a key that every
 *     user may read, a key of another certificate, a file that is not PEM.
 */
#include "harness.h"

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

static h_ctx *H;
static char dir[64];

static const char *path(const char *name) { return h_fmt(H, "%s/%s", dir, name); }

/* A self-signed certificate for 127.0.0.1 and its key, as <name>.crt and <name>.key. */
static void make_cert(const char *name)
{
    char *crt = strdup(path(h_fmt(H, "%s.crt", name))), *key = strdup(path(h_fmt(H, "%s.key", name)));
    h_make_cert(crt, key);
    free(crt);
    free(key);
}

static int setup(void **state)
{
    (void)state;
    H = h_start("test_tls", NULL);
    snprintf(dir, sizeof dir, "/tmp/esc_tls_XXXXXX");
    assert_non_null(mkdtemp(dir));
    make_cert("server");
    make_cert("other");
    FILE *f = fopen(path("junk.crt"), "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"server.crt", "server.key", "other.crt", "other.key", "junk.crt",
                           "open.key", "cert-as.key", NULL};
    for (int i = 0; names[i]; i++)
        unlink(path(names[i]));
    rmdir(dir);
    h_finish(H);
    return 0;
}

struct answer {
    CURLcode rc;
    long status;
};

static size_t drop(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

static struct answer get(const char *url, const char *token)
{
    struct answer a = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    assert_non_null(c);
    if (token)
        hdr = curl_slist_append(NULL, h_fmt(H, "Authorization: Bearer %s", token));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, path("server.crt"));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    a.rc = curl_easy_perform(c);
    if (a.rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return a;
}

/* `escalated serve` with extra arguments, its output to the harness log. */
static pid_t serve(int port, const char *const *extra)
{
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *argv[24] = {H->bin, "serve", "--db", H->conninfo, "--listen", listen};
    int n = 6;
    for (int i = 0; extra[i] && n < 22; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(H->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(H->bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Exit status of a daemon expected to stop by itself within 10 s, or -1. */
static int exit_status(pid_t pid)
{
    double end = h_now() + 10;
    int st;
    while (h_now() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        h_sleep(0.02);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void requests_are_answered_over_https_and_plain_http_is_not(void **state)
{
    (void)state;
    int port = h_free_port();
    const char *args[] = {"--tls-cert", path("server.crt"), "--tls-key", path("server.key"), NULL};
    pid_t pid = serve(port, args);
    struct answer a = {0};
    double end = h_now() + 10;
    while (h_now() < end) {
        a = get(h_fmt(H, "https://127.0.0.1:%d/healthz", port), NULL);
        if (a.rc == CURLE_OK)
            break;
        h_sleep(0.05);
    }
    if (a.rc != CURLE_OK || a.status != 200) {
        h_daemon_log_tail(H, 30);
        fail_msg("GET https://.../healthz: %s, HTTP %ld", curl_easy_strerror(a.rc), a.status);
    }
    a = get(h_fmt(H, "https://127.0.0.1:%d/v1/tickets?limit=1", port), H->k.admin);
    assert_int_equal(a.rc, CURLE_OK);
    assert_int_equal(a.status, 200);
    a = get(h_fmt(H, "https://127.0.0.1:%d/v1/tickets?limit=1", port), NULL);
    assert_int_equal(a.status, 401);
    /* plain HTTP to the HTTPS port: no HTTP answer at all */
    a = get(h_fmt(H, "http://127.0.0.1:%d/healthz", port), NULL);
    assert_true(a.rc != CURLE_OK || a.status == 0);
    kill(pid, SIGTERM);
    assert_int_equal(exit_status(pid), 0);
}

static void a_certificate_or_key_that_cannot_be_used_refuses_the_start(void **state)
{
    (void)state;
    /* a copy of the key that every user may read */
    char *const cp[] = {"cp", (char *)path("server.key"), (char *)path("open.key"), NULL};
    assert_int_equal(h_run(cp, NULL), 0);
    assert_int_equal(chmod(path("open.key"), 0644), 0);
    char *const cp2[] = {"cp", (char *)path("server.crt"), (char *)path("cert-as.key"), NULL};
    assert_int_equal(h_run(cp2, NULL), 0);
    assert_int_equal(chmod(path("cert-as.key"), 0600), 0);
    struct {
        const char *label, *cert, *key;
    } bad[] = {
        {"a certificate without its key", path("server.crt"), NULL},
        {"a key without its certificate", NULL, path("server.key")},
        {"a certificate file that does not exist", path("missing.crt"), path("server.key")},
        {"a key file that does not exist", path("server.crt"), path("missing.key")},
        {"a key that every user may read", path("server.crt"), path("open.key")},
        {"the key of another certificate", path("server.crt"), path("other.key")},
        {"a certificate that is not PEM", path("junk.crt"), path("server.key")},
        {"a certificate given as the key", path("server.crt"), path("cert-as.key")},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[6];
        int n = 0;
        if (bad[i].cert) {
            args[n++] = "--tls-cert";
            args[n++] = strdup(bad[i].cert);
        }
        if (bad[i].key) {
            args[n++] = "--tls-key";
            args[n++] = strdup(bad[i].key);
        }
        args[n] = NULL;
        int st = exit_status(serve(h_free_port(), args));
        if (st != 2) {
            fprintf(stderr, "%s: exit status %d, want 2\n", bad[i].label, st);
            failures++;
        }
        for (int k = 1; k < n; k += 2)
            free((char *)args[k]);
    }
    if (failures)
        h_daemon_log_tail(H, 40);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(requests_are_answered_over_https_and_plain_http_is_not),
        cmocka_unit_test(a_certificate_or_key_that_cannot_be_used_refuses_the_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
