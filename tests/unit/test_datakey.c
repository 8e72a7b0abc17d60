/* test_datakey.c — lib/base/datakey.c: the key file and its checks, sealing
 * with AES-256-GCM and opening (round trips, every kind of tampering), key
 * versions and rotation, the blind index, and the normalisers.
 *
 * The known vectors were computed independently with Python's
 * `cryptography` (HKDF, AESGCM) and `hmac` from the construction that
 * datakey.h documents, so they pin the format, not just self-consistency.
 * The last test prints the cost of sealing, opening and indexing one value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/datakey.h"

/* index = bytes 0..31, v1 = bytes 32..63, v2 = bytes 64..95 */
#define KEY_INDEX "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_V1 "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define KEY_V2 "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="

static char dir[64];
static unsigned file_seq;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_datakey.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh path in the test directory (not created). */
static char *new_path(char buf[128])
{
    snprintf(buf, 128, "%s/key%u", dir, ++file_seq);
    return buf;
}

static char *write_file(char buf[128], const char *content, mode_t mode)
{
    new_path(buf);
    int fd = open(buf, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return buf;
}

static struct esc_datakey *load_text(const char *content)
{
    char path[128];
    esc_error_t err = {0};
    struct esc_datakey *ring = esc_datakey_load(write_file(path, content, 0600), &err);
    if (!ring)
        print_error("load failed: %s\n", err.message);
    assert_non_null(ring);
    return ring;
}

static struct esc_datakey *known_ring(void)
{
    return load_text("# test keys\nindex " KEY_INDEX "\nv1 " KEY_V1 "\nv2 " KEY_V2 "\n");
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ------------------------------------------------------------ known values */

static void test_known_vectors(void **state)
{
    (void)state;
    struct esc_datakey *ring = known_ring();
    esc_error_t err = {0};
    char bi[ESC_BLIND_INDEX_LEN + 1];

    assert_int_equal(esc_datakey_current_version(ring), 2);
    assert_true(esc_datakey_has_version(ring, 1) && esc_datakey_has_version(ring, 2));
    assert_false(esc_datakey_has_version(ring, 3));

    assert_int_equal(esc_blind_index(ring, "phone", "13812345678", bi, &err), 0);
    assert_string_equal(bi, "58f59e382e7a2cac6d0814ed7430f49d2d02cc22a96e05f03621a2bb3bca502e");
    assert_int_equal(esc_blind_index(ring, "id_number", "13812345678", bi, &err), 0);
    assert_string_equal(bi, "1b7c0b06b761591a8784510ad184f0b8a2afb361898e37e7a9881e7e182eee81");

    /* sealed by Python with the nonce 100..111 */
    size_t len = 99;
    char *p = esc_open(ring, "esc1:v1:ZGVmZ2hpamtsbW5v6JdpzUIV3uSDe905cHL8OY-o9TaIagZL8YwB",
                       "tickets.customer_phone:42", &len, &err);
    assert_non_null(p);
    assert_string_equal(p, "13812345678");
    assert_int_equal(len, 11);
    free(p);
    p = esc_open(ring, "esc1:v2:ZGVmZ2hpamtsbW5vv6OUDkoT6WyLReZ67vSXCbW8UdM1P_LJcQ", "tickets.customer_name:7", NULL,
                 &err);
    assert_non_null(p);
    assert_string_equal(p, "王小明");
    free(p);
    assert_int_equal(err.code, ESC_OK);
    esc_datakey_free(ring);
}

/* ------------------------------------------------------------- round trips */

static void round_trip(const struct esc_datakey *ring, const char *value, size_t len)
{
    esc_error_t err = {0};
    char *sealed = esc_seal(ring, value, len, "tickets.customer_name:1", &err);
    assert_non_null(sealed);
    assert_int_equal(esc_sealed_version(sealed), esc_datakey_current_version(ring));
    /* the documented length: 7 + digits + ceil((28 + len) * 4 / 3) */
    assert_int_equal(strlen(sealed), 7 + 1 + ((28 + len) * 4 + 2) / 3);
    size_t got_len = 12345;
    char *opened = esc_open(ring, sealed, "tickets.customer_name:1", &got_len, &err);
    assert_non_null(opened);
    assert_int_equal(got_len, len);
    assert_memory_equal(opened, value, len);
    assert_int_equal(opened[len], '\0');
    assert_int_equal(err.code, ESC_OK);
    free(opened);
    free(sealed);
}

static void test_round_trips(void **state)
{
    (void)state;
    struct esc_datakey *ring = known_ring();
    round_trip(ring, "", 0);
    round_trip(ring, "x", 1);
    round_trip(ring, "a\0b", 3); /* bytes, not C strings */
    static const char line[] = "客户投诉：宽带连续三天无法上网，要求赔偿并尽快修复。";
    size_t n = strlen(line) * 300;
    char *long_text = malloc(n + 1);
    assert_non_null(long_text);
    for (size_t i = 0; i < 300; i++)
        memcpy(long_text + i * strlen(line), line, strlen(line));
    round_trip(ring, long_text, n);
    free(long_text);

    esc_error_t err = {0};
    char *sealed = esc_seal(ring, NULL, 0, "t:1", &err);
    assert_non_null(sealed);
    free(sealed);
    /* no aad, no ring, no plaintext with a length: refused */
    assert_null(esc_seal(ring, "x", 1, "", &err));
    assert_int_equal(err.code, ESC_ERR_INTERNAL);
    esc_error_clear(&err);
    assert_null(esc_seal(ring, "x", 1, NULL, &err));
    assert_null(esc_seal(NULL, "x", 1, "t:1", &err));
    assert_null(esc_seal(ring, NULL, 1, "t:1", &err));
    esc_datakey_free(ring);
}

static void test_two_seals_differ(void **state)
{
    (void)state;
    struct esc_datakey *ring = known_ring();
    esc_error_t err = {0};
    char *a = esc_seal(ring, "13812345678", 11, "tickets.customer_phone:1", &err);
    char *b = esc_seal(ring, "13812345678", 11, "tickets.customer_phone:1", &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a, b);
    /* the nonces differ, not just the tails */
    assert_memory_not_equal(a + 8, b + 8, 16);
    free(a);
    free(b);
    esc_datakey_free(ring);
}

/* ------------------------------------------------------------- tampering */

static void expect_open_fails(const struct esc_datakey *ring, const char *sealed, const char *aad,
                              const char *want_in_message)
{
    esc_error_t err = {0};
    size_t len = 77;
    char *p = esc_open(ring, sealed, aad, &len, &err);
    if (p)
        print_error("opened \"%s\" with aad \"%s\"\n", sealed, aad);
    assert_null(p);
    assert_int_equal(len, 0);
    assert_int_equal(err.code, ESC_ERR_INTERNAL);
    if (want_in_message && !strstr(err.message, want_in_message)) {
        print_error("message \"%s\" lacks \"%s\"\n", err.message, want_in_message);
        fail();
    }
    assert_null(strstr(err.message, "Wang")); /* never the plaintext */
}

static void test_wrong_aad_fails(void **state)
{
    (void)state;
    struct esc_datakey *ring = known_ring();
    esc_error_t err = {0};
    char *s = esc_seal(ring, "Wang Xiaoming", 13, "tickets.customer_name:42", &err);
    assert_non_null(s);
    expect_open_fails(ring, s, "tickets.customer_name:43", "failed authentication");  /* another row */
    expect_open_fails(ring, s, "tickets.customer_email:42", "failed authentication"); /* another column */
    expect_open_fails(ring, s, "tickets.customer_name:4", "failed authentication");
    expect_open_fails(ring, s, "", NULL);
    expect_open_fails(ring, s, NULL, NULL);
    char *p = esc_open(ring, s, "tickets.customer_name:42", NULL, &err);
    assert_string_equal(p, "Wang Xiaoming");
    free(p);
    free(s);
    esc_datakey_free(ring);
}

static void test_tampering_fails(void **state)
{
    (void)state;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct esc_datakey *ring = known_ring();
    esc_error_t err = {0};
    char *s = esc_seal(ring, "Wang Xiaoming", 13, "t:1", &err);
    assert_non_null(s);
    size_t n = strlen(s);

    /* every character of nonce, ciphertext and tag, changed to two others */
    for (size_t i = 8; i < n; i++) {
        char saved = s[i];
        for (int k = 1; k <= 2; k++) {
            s[i] = alphabet[(strchr(alphabet, saved) - alphabet + k * 17) % 64];
            expect_open_fails(ring, s, "t:1", NULL);
        }
        s[i] = saved;
    }
    /* a character dropped, one added, the tag cut off */
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s%s", (int)(n - 1), s, "");
    expect_open_fails(ring, buf, "t:1", NULL);
    snprintf(buf, sizeof buf, "%sA", s);
    expect_open_fails(ring, buf, "t:1", NULL);
    snprintf(buf, sizeof buf, "%.*s", (int)(n - 22), s);
    expect_open_fails(ring, buf, "t:1", NULL);
    /* relabelled as the other version the ring holds: the header is authenticated */
    snprintf(buf, sizeof buf, "esc1:v1:%s", s + 8);
    expect_open_fails(ring, buf, "t:1", "failed authentication");
    /* not sealed values at all */
    expect_open_fails(ring, "13812345678", "t:1", "not a sealed value");
    expect_open_fails(ring, "esc1:v2:", "t:1", "not a sealed value");
    expect_open_fails(ring, "esc1:v2:***********************************************", "t:1", "not a sealed value");
    snprintf(buf, sizeof buf, "esc1:v02:%s", s + 8);
    expect_open_fails(ring, buf, "t:1", "not a sealed value");
    snprintf(buf, sizeof buf, "esc2:v2:%s", s + 8);
    expect_open_fails(ring, buf, "t:1", "not a sealed value");
    expect_open_fails(ring, NULL, "t:1", "not a sealed value");

    char *p = esc_open(ring, s, "t:1", NULL, &err);
    assert_string_equal(p, "Wang Xiaoming");
    free(p);
    free(s);
    esc_datakey_free(ring);
}

static void test_unknown_version_fails(void **state)
{
    (void)state;
    struct esc_datakey *old = known_ring();
    struct esc_datakey *newer =
        load_text("index " KEY_INDEX "\nv1 " KEY_V1 "\nv2 " KEY_V2 "\nv3 " KEY_V1 "\n");
    esc_error_t err = {0};
    char *s = esc_seal(newer, "Wang", 4, "t:1", &err);
    assert_non_null(s);
    assert_int_equal(esc_sealed_version(s), 3);
    expect_open_fails(old, s, "t:1", "version 3");
    free(s);
    esc_datakey_free(old);
    esc_datakey_free(newer);
}

static void test_sealed_version(void **state)
{
    (void)state;
    assert_int_equal(esc_sealed_version("esc1:v1:abc"), 1);
    assert_int_equal(esc_sealed_version("esc1:v12:"), 12);
    assert_int_equal(esc_sealed_version("esc1:v999999999:x"), 999999999);
    assert_int_equal(esc_sealed_version("esc1:v1000000000:x"), 0);
    assert_int_equal(esc_sealed_version("esc1:v0:abc"), 0);
    assert_int_equal(esc_sealed_version("esc1:v01:abc"), 0);
    assert_int_equal(esc_sealed_version("esc1:v:abc"), 0);
    assert_int_equal(esc_sealed_version("esc1:v1abc"), 0);
    assert_int_equal(esc_sealed_version("esc1:v-1:abc"), 0);
    assert_int_equal(esc_sealed_version("13812345678"), 0);
    assert_int_equal(esc_sealed_version(""), 0);
    assert_int_equal(esc_sealed_version(NULL), 0);
}

/* ------------------------------------------------------ files and rotation */

static void test_generate_and_add_version(void **state)
{
    (void)state;
    char path[128], before[8192];
    esc_error_t err = {0};
    mode_t old_umask = umask(0277); /* the file must still come out 0600 */
    int rc = esc_datakey_generate_file(new_path(path), &err);
    umask(old_umask);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* never overwrites */
    assert_int_equal(esc_datakey_generate_file(path, &err), -1);
    assert_non_null(strstr(err.message, path));
    esc_error_clear(&err);

    struct esc_datakey *r1 = esc_datakey_load(path, &err);
    assert_non_null(r1);
    assert_int_equal(esc_datakey_current_version(r1), 1);
    char *old_sealed = esc_seal(r1, "13812345678", 11, "tickets.customer_phone:9", &err);
    assert_non_null(old_sealed);
    char bi1[ESC_BLIND_INDEX_LEN + 1], bi2[ESC_BLIND_INDEX_LEN + 1];
    assert_int_equal(esc_blind_index(r1, "phone", "13812345678", bi1, &err), 0);

    snprintf(before, sizeof before, "%s", read_text(path));
    unsigned v = 0;
    assert_int_equal(esc_datakey_add_version(path, &v, &err), 0);
    assert_int_equal(v, 2);
    /* the old lines are kept as they were, one line added */
    const char *after = read_text(path);
    assert_int_equal(strncmp(after, before, strlen(before)), 0);
    assert_int_equal(strncmp(after + strlen(before), "v2 ", 3), 0);
    assert_int_equal(strlen(after + strlen(before)), 3 + 44 + 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    struct esc_datakey *r2 = esc_datakey_load(path, &err);
    assert_non_null(r2);
    assert_int_equal(esc_datakey_current_version(r2), 2);
    char *p = esc_open(r2, old_sealed, "tickets.customer_phone:9", NULL, &err);
    assert_string_equal(p, "13812345678"); /* old versions still open */
    free(p);
    char *new_sealed = esc_seal(r2, "13812345678", 11, "tickets.customer_phone:9", &err);
    assert_int_equal(esc_sealed_version(new_sealed), 2);
    expect_open_fails(r1, new_sealed, "tickets.customer_phone:9", "version 2");
    /* the blind index does not move with the data key */
    assert_int_equal(esc_blind_index(r2, "phone", "13812345678", bi2, &err), 0);
    assert_string_equal(bi1, bi2);
    assert_int_equal(err.code, ESC_OK);

    /* a read-only (0400) file stays read-only */
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(esc_datakey_add_version(path, &v, &err), 0);
    assert_int_equal(v, 3);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0400);

    /* two files never share keys */
    char other[128];
    assert_int_equal(esc_datakey_generate_file(new_path(other), &err), 0);
    struct esc_datakey *r3 = esc_datakey_load(other, &err);
    assert_int_equal(esc_blind_index(r3, "phone", "13812345678", bi2, &err), 0);
    assert_string_not_equal(bi1, bi2);
    expect_open_fails(r3, old_sealed, "tickets.customer_phone:9", "failed authentication");

    /* a symbolic link is refused, and so is a missing file */
    char link[128];
    assert_int_equal(symlink(path, new_path(link)), 0);
    assert_int_equal(esc_datakey_add_version(link, &v, &err), -1);
    assert_non_null(strstr(err.message, "symbolic link"));
    esc_error_clear(&err);
    struct esc_datakey *via_link = esc_datakey_load(link, &err); /* loading through a link is fine */
    assert_non_null(via_link);
    esc_datakey_free(via_link);
    char missing[128];
    assert_int_equal(esc_datakey_add_version(new_path(missing), &v, &err), -1);
    assert_non_null(strstr(err.message, missing));

    /* no temporary files left beside the key file */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.'", dir);
    assert_int_not_equal(system(cmd), 0);

    free(old_sealed);
    free(new_sealed);
    esc_datakey_free(r1);
    esc_datakey_free(r2);
    esc_datakey_free(r3);
}

struct rotate_arg {
    const char *path;
    int failures;
};

static void *rotate_many(void *p)
{
    struct rotate_arg *a = p;
    for (int i = 0; i < 5; i++) {
        esc_error_t err = {0};
        if (esc_datakey_add_version(a->path, NULL, &err) != 0) {
            print_error("add_version: %s\n", err.message);
            a->failures++;
        }
    }
    return NULL;
}

/* Rotations that race must each add their own version: none may be lost to
 * another's rename (a lost key means values nobody can open). */
static void test_concurrent_add_version(void **state)
{
    (void)state;
    char path[128];
    esc_error_t err = {0};
    assert_int_equal(esc_datakey_generate_file(new_path(path), &err), 0);
    pthread_t t[4];
    struct rotate_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct rotate_arg){path, 0};
        assert_int_equal(pthread_create(&t[i], NULL, rotate_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) /* all joined before any assert: they write into args */
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(args[i].failures, 0);
    struct esc_datakey *ring = esc_datakey_load(path, &err);
    assert_non_null(ring);
    assert_int_equal(esc_datakey_current_version(ring), 21);
    for (unsigned v = 1; v <= 21; v++)
        assert_true(esc_datakey_has_version(ring, v));
    esc_datakey_free(ring);
}

static void expect_load_fails(const char *path, const char *want1, const char *want2)
{
    esc_error_t err = {0};
    struct esc_datakey *ring = esc_datakey_load(path, &err);
    if (ring)
        print_error("loaded %s\n", path);
    assert_null(ring);
    assert_int_equal(err.code, ESC_ERR_INTERNAL);
    assert_string_equal(err.field, "data_key_file");
    const char *want[] = {path, want1, want2};
    for (int i = 0; i < 3; i++) {
        if (want[i] && !strstr(err.message, want[i])) {
            print_error("message \"%s\" lacks \"%s\"\n", err.message, want[i]);
            fail();
        }
    }
    /* no key material in the message, whatever the line held */
    assert_null(strstr(err.message, "AAECAwQF"));
    assert_null(strstr(err.message, "ICEiIyQl"));
    assert_null(strstr(err.message, "QEFCQ0RF"));
}

static void test_file_permissions(void **state)
{
    (void)state;
    static const char good[] = "index " KEY_INDEX "\nv1 " KEY_V1 "\n";
    char path[128];
    esc_error_t err = {0};
    const mode_t refused[] = {0644, 0640, 0604, 0660, 0700, 0620, 0602, 04600};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char mode[8];
        snprintf(mode, sizeof mode, "%04o", (unsigned)refused[i]);
        expect_load_fails(write_file(path, good, refused[i]), mode, "0600 or 0400");
    }
    struct esc_datakey *ring = esc_datakey_load(write_file(path, good, 0600), &err);
    assert_non_null(ring);
    esc_datakey_free(ring);
    ring = esc_datakey_load(write_file(path, good, 0400), &err);
    assert_non_null(ring);
    esc_datakey_free(ring);

    /* owned by someone else (only root can arrange that) */
    if (geteuid() == 0) {
        write_file(path, good, 0600);
        assert_int_equal(chown(path, 65534, 65534), 0);
        expect_load_fails(path, "not owned", NULL);
    }
    expect_load_fails(new_path(path), "cannot open", "No such file");
    expect_load_fails(dir, "not a regular file", NULL);
    assert_null(esc_datakey_load(NULL, &err));
    assert_null(esc_datakey_load("", &err));
}

static void test_malformed_files(void **state)
{
    (void)state;
    static const struct {
        const char *content;
        const char *want1, *want2;
    } cases[] = {
        {"", "no \"index <key>\" line", NULL},
        {"# only a comment\n\n", "no \"index <key>\" line", NULL},
        {"index " KEY_INDEX "\n", "no \"v<version> <key>\" line", NULL},
        {"v1 " KEY_V1 "\n", "no \"index <key>\" line", NULL},
        {"index " KEY_INDEX "\nv1 " KEY_V1 "\nv1 " KEY_V2 "\n", "line 3", "version 1 appears twice"},
        {"index " KEY_INDEX "\nindex " KEY_V2 "\nv1 " KEY_V1 "\n", "line 2", "second index key"},
        {"index " KEY_INDEX "\nv1\n", "line 2", "is not \"v<version> <key>\""},
        {"index " KEY_INDEX "\nv1 " KEY_V1 " trailing\n", "line 2", "is not"},
        {"index " KEY_INDEX "\nv0 " KEY_V1 "\n", "line 2", "does not start with"},
        {"index " KEY_INDEX "\nv01 " KEY_V1 "\n", "line 2", "does not start with"},
        {"index " KEY_INDEX "\nv1000000000 " KEY_V1 "\n", "line 2", "does not start with"},
        {"index " KEY_INDEX "\nkey1 " KEY_V1 "\n", "line 2", "does not start with"},
        {"index " KEY_INDEX "\nV1 " KEY_V1 "\n", "line 2", "does not start with"},
        /* 31 and 33 bytes, unpadded, bad characters, and non-canonical last bits */
        {"index " KEY_INDEX "\nv1 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pg==\n", "line 2", "not 32 bytes"},
        {"index " KEY_INDEX "\nv1 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9A\n", "line 2", "not 32 bytes"},
        {"index " KEY_INDEX "\nv1 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n", "line 2", "not 32 bytes"},
        {"index " KEY_INDEX "\nv1 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj-=\n", "line 2", "not 32 bytes"},
        {"index " KEY_INDEX "\nv1 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9=\n", "line 2", "not 32 bytes"},
        {"index AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nv1 " KEY_V1 "\n", "line 1", "not 32 bytes"},
        {"index " KEY_INDEX "\nv1 " KEY_V1 "\n\nv2=" KEY_V2 "\n", "line 4", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        expect_load_fails(write_file(path, cases[i].content, 0600), cases[i].want1, cases[i].want2);
    }
    /* what is allowed: comments, blank lines, CRLF, tabs, indentation, versions out of order */
    struct esc_datakey *ring = load_text("# keys\r\n\r\n  index\t" KEY_INDEX "  \r\n"
                                         "v7 " KEY_V2 "\n   # v3 is retired\nv2 " KEY_V1);
    assert_int_equal(esc_datakey_current_version(ring), 7);
    assert_true(esc_datakey_has_version(ring, 2));
    assert_false(esc_datakey_has_version(ring, 3));
    esc_datakey_free(ring);
}

/* ---------------------------------------------------------- blind index */

static void test_blind_index(void **state)
{
    (void)state;
    struct esc_datakey *ring = known_ring();
    esc_error_t err = {0};
    char a[ESC_BLIND_INDEX_LEN + 1], b[ESC_BLIND_INDEX_LEN + 1];
    assert_int_equal(esc_blind_index(ring, "phone", "13812345678", a, &err), 0);
    assert_int_equal(strlen(a), ESC_BLIND_INDEX_LEN);
    assert_int_equal(esc_blind_index(ring, "phone", "13812345678", b, &err), 0);
    assert_string_equal(a, b); /* stable */
    assert_int_equal(esc_blind_index(ring, "phone", "13812345679", b, &err), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(esc_blind_index(ring, "id_number", "13812345678", b, &err), 0);
    assert_string_not_equal(a, b); /* kinds do not collide */
    /* the kind/value boundary cannot be shifted */
    assert_int_equal(esc_blind_index(ring, "phone1", "3812345678", b, &err), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(esc_blind_index(ring, "phone", "", b, &err), 0);
    assert_int_equal(err.code, ESC_OK);

    /* the index key is the index line's, not a data key's */
    struct esc_datakey *other_index = load_text("index " KEY_V2 "\nv1 " KEY_V1 "\nv2 " KEY_V2 "\n");
    assert_int_equal(esc_blind_index(other_index, "phone", "13812345678", b, &err), 0);
    assert_string_not_equal(a, b);
    struct esc_datakey *other_data = load_text("index " KEY_INDEX "\nv5 " KEY_V2 "\n");
    assert_int_equal(esc_blind_index(other_data, "phone", "13812345678", b, &err), 0);
    assert_string_equal(a, b);

    assert_int_equal(esc_blind_index(ring, "Phone", "1", b, &err), -1);
    assert_string_equal(b, "");
    assert_int_equal(esc_blind_index(ring, "", "1", b, &err), -1);
    assert_int_equal(esc_blind_index(ring, "phone", NULL, b, &err), -1);
    assert_int_equal(esc_blind_index(NULL, "phone", "1", b, &err), -1);
    esc_datakey_free(ring);
    esc_datakey_free(other_index);
    esc_datakey_free(other_data);
}

/* ---------------------------------------------------------- normalisers */

struct norm_case {
    const char *in, *want; /* want NULL: refused */
};

static void run_norm(char *(*fn)(const char *, esc_error_t *), const char *field, const struct norm_case *c,
                     size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        esc_error_t err = {0};
        char *got = fn(c[i].in, &err);
        int ok = c[i].want ? got && strcmp(got, c[i].want) == 0
                           : !got && err.code == ESC_ERR_VALIDATION && strcmp(err.field, field) == 0;
        if (!ok) {
            print_error("%s(\"%s\") = \"%s\", want \"%s\"\n", field, c[i].in ? c[i].in : "(null)",
                        got ? got : "(null)", c[i].want ? c[i].want : "(refused)");
            failures++;
        }
        free(got);
    }
    assert_int_equal(failures, 0);
}

static void test_normalise_phone(void **state)
{
    (void)state;
    static const struct norm_case cases[] = {
        {"13812345678", "13812345678"},
        {"138 1234 5678", "13812345678"},
        {"138-1234-5678", "13812345678"},
        {"+86 138-1234-5678", "13812345678"},
        {"+8613812345678", "13812345678"},
        {"0086 138 1234 5678", "13812345678"},
        {"8613812345678", "13812345678"},
        {"８６１３８１２３４５６７８", "13812345678"},
        {"＋８６　１３８－１２３４－５６７８", "13812345678"},
        {"(010) 6552-9988", "01065529988"},
        {"010.6552.9988", "01065529988"},
        {"+86 10 6552 9988", "01065529988"},
        {"+86 755 8888 1234", "075588881234"},
        {"+86 010 6552 9988", "01065529988"},
        {"0044 20 7946 0958", "+442079460958"},
        {"+44 20 7946 0958", "+442079460958"},
        {"138—1234—5678", "13812345678"}, /* em dashes */
        {"10086", "10086"},
        {"12", NULL},
        {"+86", NULL},
        {"", NULL},
        {"   ", NULL},
        {"138 1234 5678 ext 5", NULL},
        {"1381234567+8", NULL},
        {"++8613812345678", NULL},
        {"123456789012345678901", NULL},
        {"\xff\xfe", NULL},
        {"138\xe3\x80", NULL}, /* a cut UTF-8 sequence */
        {NULL, NULL},
    };
    run_norm(esc_normalise_phone, "customer_phone", cases, sizeof cases / sizeof cases[0]);
}

static void test_normalise_id_number(void **state)
{
    (void)state;
    static const struct norm_case cases[] = {
        {"11010519491231002X", "11010519491231002X"},
        {"11010519491231002x", "11010519491231002X"},
        {"110105 19491231 002x", "11010519491231002X"},
        {"１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"},
        {"１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"},
        {"e12345678", "E12345678"},
        {"110105-1949", "1101051949"},
        {"A123456(7)", NULL},
        {"", NULL},
        {" ", NULL},
        {"123456789012345678901234567890123", NULL},
        {"身份证", NULL},
        {NULL, NULL},
    };
    run_norm(esc_normalise_id_number, "customer_id_number", cases, sizeof cases / sizeof cases[0]);
}

/* ------------------------------------------------------------- threads */

static void *use_ring(void *p)
{
    const struct esc_datakey *ring = p;
    for (int i = 0; i < 500; i++) {
        esc_error_t err = {0};
        char value[32], aad[32], bi[ESC_BLIND_INDEX_LEN + 1];
        snprintf(value, sizeof value, "138%08d", i);
        snprintf(aad, sizeof aad, "t:%d", i);
        char *s = esc_seal(ring, value, strlen(value), aad, &err);
        char *o = s ? esc_open(ring, s, aad, NULL, &err) : NULL;
        int ok = o && strcmp(o, value) == 0 && esc_blind_index(ring, "phone", value, bi, &err) == 0;
        free(s);
        free(o);
        if (!ok)
            return (void *)1;
    }
    return NULL;
}

/* One ring, shared by threads, as the daemon's request threads will share it. */
static void test_threads_share_a_ring(void **state)
{
    (void)state;
    struct esc_datakey *ring = known_ring();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, use_ring, ring), 0);
    for (int i = 0; i < 4; i++) {
        void *res = (void *)2;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    esc_datakey_free(ring);
}

/* ------------------------------------------------------------- figures */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Prints what a value costs; asserts only that the work was done. */
static void test_measure(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct esc_datakey *ring = known_ring();
    esc_error_t err = {0};
    char bi[ESC_BLIND_INDEX_LEN + 1];
    const char *value = "13812345678", *aad = "tickets.customer_phone:123456";
    int done = 0;

    double t0 = now_us();
    for (int i = 0; i < N; i++) {
        char *s = esc_seal(ring, value, 11, aad, &err);
        char *o = esc_open(ring, s, aad, NULL, &err);
        done += o != NULL;
        free(s);
        free(o);
    }
    double t1 = now_us();
    for (int i = 0; i < N; i++)
        done += esc_blind_index(ring, "phone", value, bi, &err) == 0;
    double t2 = now_us();
    struct esc_datakey *r = NULL;
    char path[128];
    write_file(path, "index " KEY_INDEX "\nv1 " KEY_V1 "\nv2 " KEY_V2 "\n", 0600);
    for (int i = 0; i < 200; i++) {
        r = esc_datakey_load(path, &err);
        done += r != NULL;
        esc_datakey_free(r);
    }
    double t3 = now_us();
    print_message("datakey: seal+open %.2f us/value, blind index %.2f us/value, load %.1f us/file "
                  "(11-byte value, %d iterations)\n",
                  (t1 - t0) / N, (t2 - t1) / N, (t3 - t2) / 200, N);
    assert_int_equal(done, 2 * N + 200);
    esc_datakey_free(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_two_seals_differ),
        cmocka_unit_test(test_wrong_aad_fails),
        cmocka_unit_test(test_tampering_fails),
        cmocka_unit_test(test_unknown_version_fails),
        cmocka_unit_test(test_sealed_version),
        cmocka_unit_test(test_generate_and_add_version),
        cmocka_unit_test(test_concurrent_add_version),
        cmocka_unit_test(test_file_permissions),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_blind_index),
        cmocka_unit_test(test_normalise_phone),
        cmocka_unit_test(test_normalise_id_number),
        cmocka_unit_test(test_threads_share_a_ring),
        cmocka_unit_test(test_measure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
