/* datakey.c — the key file, AES-256-GCM sealing, the blind index and the
 * normalisers it expects (the contract is in datakey.h; docs/security.md).
 *
 * Hygiene: every buffer that held a key, a key line or plaintext is wiped
 * with OPENSSL_cleanse before it is freed or goes out of scope, and no error
 * message quotes the file's content or a value (only line numbers, versions
 * and the file's path).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/datakey.h"

#define KEY_FILE_MAX (64 * 1024)
#define NONCE_LEN 12
#define TAG_LEN 16
#define SEAL_PREFIX "esc1:v"
/* Far above any customer field; keeps every length inside the int that EVP takes. */
#define SEAL_MAX_PLAINTEXT (16u * 1024 * 1024)

/* HKDF's salt is fixed: the keys are already uniformly random, so the salt
 * only separates this use of them from any other; the info strings make the
 * sealing and index subkeys independent of each other. */
static const char hkdf_salt[] = "escalated data key file v1";
static const char info_seal[] = "escalated seal aes-256-gcm";
static const char info_index[] = "escalated blind index hmac-sha256";
static const char index_domain[] = "escalated-bi1"; /* first input of every index HMAC */

struct slot {
    unsigned version;
    unsigned char key[ESC_DATAKEY_BYTES]; /* the derived sealing subkey */
};

struct esc_datakey {
    struct slot *slots; /* in file order */
    size_t n;
    unsigned current;
    EVP_CIPHER *gcm;          /* fetched once: an implicit fetch per value costs more than the cipher */
    EVP_MAC_CTX *index_mac;   /* HMAC keyed with the index subkey; each index dups it */
};

/* ------------------------------------------------------------------ base64 */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(const char *alphabet, char c)
{
    if (c == '\0')
        return -1;
    const char *p = strchr(alphabet, c);
    return p ? (int)(p - alphabet) : -1;
}

/* Encode into out (room for 4 * ceil(n / 3) + 1); returns the length written. */
static size_t b64_encode(const char *alphabet, int pad, const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = alphabet[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (i + 2 < n)
            out[o++] = alphabet[v & 63];
        else if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* Strict decode of n characters: padding exactly as the encoder writes it
 * (required when pad, refused otherwise) and unused low bits zero, so each
 * byte string has one text.  out needs 3 * n / 4 bytes.  Returns the length
 * decoded or -1. */
static long b64_decode(const char *alphabet, int pad, const char *in, size_t n, unsigned char *out)
{
    size_t pads = 0;
    if (pad) {
        if (n % 4)
            return -1;
        while (pads < 2 && pads < n && in[n - 1 - pads] == '=')
            pads++;
        n -= pads;
    } else if (n % 4 == 1) {
        return -1;
    }
    if (pad && pads && n % 4 != 4 - pads)
        return -1;
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(alphabet, in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* the low bits of the last character must be zero */
        return -1;
    return (long)o;
}

/* ------------------------------------------------------------- key material */

static int random_bytes(unsigned char *buf, size_t n, esc_error_t *err)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "no randomness available");
        return -1;
    }
    return 0;
}

static int hkdf_sha256(const unsigned char ikm[ESC_DATAKEY_BYTES], const char *info,
                       unsigned char out[ESC_DATAKEY_BYTES])
{
    int rc = -1;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ESC_DATAKEY_BYTES),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)hkdf_salt, strlen(hkdf_salt)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end()};
    if (!ctx || EVP_KDF_derive(ctx, out, ESC_DATAKEY_BYTES, params) != 1)
        goto out;
    rc = 0;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

void esc_datakey_free(struct esc_datakey *ring)
{
    if (!ring)
        return;
    if (ring->slots) {
        OPENSSL_cleanse(ring->slots, ring->n * sizeof *ring->slots);
        free(ring->slots);
    }
    EVP_MAC_CTX_free(ring->index_mac); /* the provider wipes the HMAC key */
    EVP_CIPHER_free(ring->gcm);
    OPENSSL_cleanse(ring, sizeof *ring);
    free(ring);
}

/* ---------------------------------------------------------------- key file */

/* Open the key file and check what it is before reading a byte of it.
 * O_NONBLOCK so that a FIFO in its place cannot hang the start-up; the
 * fstat (on the opened file, so nothing can be swapped in between) refuses
 * it anyway.  Returns the fd or -1. */
static int open_checked(const char *path, int flags, struct stat *st, esc_error_t *err)
{
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot open the data key file %.160s: %s",
                      path, strerror(errno));
        return -1;
    }
    const char *why = NULL;
    if (fstat(fd, st) != 0)
        why = "cannot be examined";
    else if (!S_ISREG(st->st_mode))
        why = "is not a regular file";
    else if (st->st_uid != geteuid())
        why = "is not owned by the user the daemon runs as";
    else if ((st->st_mode & 07777) != 0600 && (st->st_mode & 07777) != 0400) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                      "the data key file %.160s has mode %04o; it must be 0600 or 0400 "
                      "(readable by its owner only)",
                      path, (unsigned)(st->st_mode & 07777));
        close(fd);
        return -1;
    } else if (st->st_size > KEY_FILE_MAX)
        why = "is larger than 64 KiB";
    if (why) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "the data key file %.160s %s", path, why);
        close(fd);
        return -1;
    }
    return fd;
}

/* Read the whole file (at most KEY_FILE_MAX bytes) into a malloc'd,
 * NUL-terminated buffer; the caller wipes and frees it. */
static char *read_all(int fd, const char *path, size_t *len_out, esc_error_t *err)
{
    char *buf = malloc(KEY_FILE_MAX + 2);
    size_t len = 0;
    if (!buf) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot read the data key file %.160s: %s",
                          path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > KEY_FILE_MAX) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "the data key file %.160s is larger than 64 KiB",
                          path);
            goto fail;
        }
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
fail:
    OPENSSL_cleanse(buf, KEY_FILE_MAX + 2);
    free(buf);
    return NULL;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* "v<N>" with N = 1..ESC_DATAKEY_MAX_VERSION, no sign, no leading zero.
 * Returns N or 0. */
static unsigned parse_version(const char *s, size_t n)
{
    if (n < 2 || n > 10 || s[0] != 'v' || s[1] == '0')
        return 0;
    unsigned long v = 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= ESC_DATAKEY_MAX_VERSION ? (unsigned)v : 0;
}

/* Parse the file's text into ring (slots, current, index_mac).  Each key is
 * decoded into a stack buffer, turned into its subkey and wiped at once. */
static int parse_key_file(char *text, size_t len, const char *path, struct esc_datakey *ring,
                          esc_error_t *err)
{
    int rc = -1, have_index = 0;
    unsigned char raw[ESC_DATAKEY_BYTES + 3], sub[ESC_DATAKEY_BYTES];
    size_t cap = 0;
    unsigned lineno = 0;
    char *p = text, *end = text + len;

    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *line = p, *stop = eol ? eol : end;
        p = eol ? eol + 1 : end;
        lineno++;
        if (memchr(line, '\0', (size_t)(stop - line))) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "the data key file %.160s: line %u holds a NUL byte",
                          path, lineno);
            goto out;
        }
        while (stop > line && (is_blank(stop[-1]) || stop[-1] == '\r'))
            stop--;
        while (line < stop && is_blank(*line))
            line++;
        if (line == stop || *line == '#')
            continue;

        char *name = line, *name_end = line;
        while (name_end < stop && !is_blank(*name_end))
            name_end++;
        char *key = name_end;
        while (key < stop && is_blank(*key))
            key++;
        size_t name_len = (size_t)(name_end - name), key_len = (size_t)(stop - key);
        if (key == name_end || key_len == 0 || memchr(key, ' ', key_len) || memchr(key, '\t', key_len)) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                          "the data key file %.160s: line %u is not \"v<version> <key>\" or \"index <key>\"",
                          path, lineno);
            goto out;
        }
        int is_index = name_len == 5 && memcmp(name, "index", 5) == 0;
        unsigned version = is_index ? 0 : parse_version(name, name_len);
        if (!is_index && !version) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                          "the data key file %.160s: line %u does not start with \"index\" or "
                          "\"v<version>\" (version 1..%u, no leading zeros)",
                          path, lineno, ESC_DATAKEY_MAX_VERSION);
            goto out;
        }
        long got = key_len == 44 ? b64_decode(b64_std, 1, key, key_len, raw) : -1;
        if (got != ESC_DATAKEY_BYTES) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                          "the data key file %.160s: line %u: the key is not 32 bytes in base64 "
                          "(44 characters; make one with `openssl rand -base64 32`)",
                          path, lineno);
            goto out;
        }
        if (is_index) {
            if (have_index) {
                esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                              "the data key file %.160s: line %u: a second index key (there must be one)", path,
                              lineno);
                goto out;
            }
            if (hkdf_sha256(raw, info_index, sub) != 0)
                goto crypto_failed;
            EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
            ring->index_mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
            EVP_MAC_free(hmac); /* the context keeps its own reference */
            OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                                   OSSL_PARAM_construct_end()};
            if (!ring->index_mac || EVP_MAC_init(ring->index_mac, sub, sizeof sub, params) != 1)
                goto crypto_failed;
            have_index = 1;
            continue;
        }
        for (size_t i = 0; i < ring->n; i++) {
            if (ring->slots[i].version == version) {
                esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                              "the data key file %.160s: line %u: version %u appears twice", path, lineno, version);
                goto out;
            }
        }
        if (ring->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct slot *ns = calloc(ncap, sizeof *ns);
            if (!ns) {
                esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
                goto out;
            }
            if (ring->n) {
                memcpy(ns, ring->slots, ring->n * sizeof *ns);
                OPENSSL_cleanse(ring->slots, ring->n * sizeof *ns);
            }
            free(ring->slots);
            ring->slots = ns;
            cap = ncap;
        }
        if (hkdf_sha256(raw, info_seal, ring->slots[ring->n].key) != 0)
            goto crypto_failed;
        ring->slots[ring->n++].version = version;
        if (version > ring->current)
            ring->current = version;
        OPENSSL_cleanse(raw, sizeof raw);
    }
    if (!have_index) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                      "the data key file %.160s has no \"index <key>\" line (the blind index key)", path);
        goto out;
    }
    if (ring->n == 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "the data key file %.160s has no \"v<version> <key>\" line",
                      path);
        goto out;
    }
    rc = 0;
    goto out;
crypto_failed:
    esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot derive keys from the data key file %.160s", path);
out:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(sub, sizeof sub);
    return rc;
}

/* The checks and parse shared by load and add_version, on an open fd. */
static struct esc_datakey *load_fd(int fd, const char *path, char **text_out, size_t *len_out,
                                   esc_error_t *err)
{
    size_t len = 0;
    char *text = read_all(fd, path, &len, err);
    struct esc_datakey *ring = text ? calloc(1, sizeof *ring) : NULL;
    if (text && !ring)
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    if (!ring || parse_key_file(text, len, path, ring, err) != 0)
        goto fail;
    ring->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (!ring->gcm) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "AES-256-GCM is not available from OpenSSL");
        goto fail;
    }
    if (text_out) {
        *text_out = text;
        *len_out = len;
    } else {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    return ring;
fail:
    esc_datakey_free(ring);
    if (text) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    return NULL;
}

struct esc_datakey *esc_datakey_load(const char *path, esc_error_t *err)
{
    struct stat st;
    if (!path || !*path) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "no data key file is named");
        return NULL;
    }
    int fd = open_checked(path, O_RDONLY, &st, err);
    if (fd < 0)
        return NULL;
    struct esc_datakey *ring = load_fd(fd, path, NULL, NULL, err);
    close(fd);
    return ring;
}

unsigned esc_datakey_current_version(const struct esc_datakey *ring)
{
    return ring ? ring->current : 0;
}

int esc_datakey_has_version(const struct esc_datakey *ring, unsigned version)
{
    for (size_t i = 0; ring && i < ring->n; i++)
        if (ring->slots[i].version == version)
            return 1;
    return 0;
}

static const struct slot *find_slot(const struct esc_datakey *ring, unsigned version)
{
    for (size_t i = 0; i < ring->n; i++)
        if (ring->slots[i].version == version)
            return &ring->slots[i];
    return NULL;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync the directory holding path, so a new name survives a crash. */
static int sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* "<name> <base64 of 32 fresh bytes>\n" into line (room for 64). */
static int new_key_line(const char *name, char line[64], esc_error_t *err)
{
    unsigned char raw[ESC_DATAKEY_BYTES];
    char b64[48];
    if (random_bytes(raw, sizeof raw, err) != 0)
        return -1;
    b64_encode(b64_std, 1, raw, sizeof raw, b64);
    snprintf(line, 64, "%s %s\n", name, b64);
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(b64, sizeof b64);
    return 0;
}

static const char file_header[] =
    "# escalated data key file (docs/security.md).  Keep it secret (mode 0600)\n"
    "# and keep a backup: values sealed with a key cannot be read without it.\n"
    "# \"index\" is the blind index key and never changes.  \"v<N>\" are the data\n"
    "# keys: the highest seals new values, every one opens old ones.  Add a\n"
    "# version with `escalated data-key rotate`; never edit or reuse a line.\n";

int esc_datakey_generate_file(const char *path, esc_error_t *err)
{
    int rc = -1, created = 0;
    char index_line[64] = "", v1_line[64] = "";
    int fd = -1;
    if (!path || !*path) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "no data key file is named");
        return -1;
    }
    if (new_key_line("index", index_line, err) != 0 || new_key_line("v1", v1_line, err) != 0)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot create the data key file %.160s: %s", path,
                      strerror(errno));
        goto out;
    }
    created = 1;
    /* the umask may have taken bits away; the mode must be exactly 0600 */
    if (fchmod(fd, 0600) != 0 || write_all(fd, file_header, strlen(file_header)) != 0 ||
        write_all(fd, index_line, strlen(index_line)) != 0 || write_all(fd, v1_line, strlen(v1_line)) != 0 ||
        fsync(fd) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot write the data key file %.160s: %s", path,
                      strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot write the data key file %.160s: %s", path,
                      strerror(errno));
        goto out;
    }
    fd = -1;
    if (sync_parent(path) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot sync the directory of %.160s: %s", path,
                      strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && created)
        unlink(path); /* a half-written key file must not be mistaken for a good one */
    OPENSSL_cleanse(index_line, sizeof index_line);
    OPENSSL_cleanse(v1_line, sizeof v1_line);
    return rc;
}

int esc_datakey_add_version(const char *path, unsigned *new_version, esc_error_t *err)
{
    int rc = -1, fd = -1, tmp_fd = -1;
    char tmp[PATH_MAX] = "", line[64] = "", name[16];
    char *text = NULL;
    size_t len = 0;
    struct esc_datakey *ring = NULL;
    struct stat st, now;

    if (!path || !*path) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "no data key file is named");
        return -1;
    }
    /* Take the lock on the file, then make sure the path still names the
     * locked file: another rotation may have renamed a new one over it while
     * we waited, and its lock is on that new file. */
    for (int attempt = 0;; attempt++) {
        if (lstat(path, &now) == 0 && S_ISLNK(now.st_mode)) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                          "the data key file %.160s is a symbolic link; add the version to the file it names", path);
            goto out;
        }
        fd = open_checked(path, O_RDONLY, &st, err);
        if (fd < 0)
            goto out;
        if (flock(fd, LOCK_EX) != 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot lock the data key file %.160s: %s", path,
                          strerror(errno));
            goto out;
        }
        if (lstat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino)
            break;
        close(fd);
        fd = -1;
        if (attempt == 100) { /* each retry means another rotation finished */
            esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file",
                          "the data key file %.160s keeps being replaced; is another rotation running?", path);
            goto out;
        }
    }
    if (fstat(fd, &st) != 0) { /* the mode as it is now, under the lock */
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot examine the data key file %.160s", path);
        goto out;
    }
    ring = load_fd(fd, path, &text, &len, err);
    if (!ring)
        goto out;
    unsigned max = 0;
    for (size_t i = 0; i < ring->n; i++)
        if (ring->slots[i].version > max)
            max = ring->slots[i].version;
    if (max >= ESC_DATAKEY_MAX_VERSION) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "the data key file %.160s has reached version %u", path,
                      ESC_DATAKEY_MAX_VERSION);
        goto out;
    }
    snprintf(name, sizeof name, "v%u", max + 1);
    if (new_key_line(name, line, err) != 0)
        goto out;

    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "the data key file's path is too long");
        goto out;
    }
    tmp_fd = mkostemp(tmp, O_CLOEXEC); /* created 0600, owned by us */
    if (tmp_fd < 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot create a file beside %.160s: %s", path,
                      strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    int ends_in_newline = len == 0 || text[len - 1] == '\n';
    if (fchmod(tmp_fd, st.st_mode & 0777) != 0 || write_all(tmp_fd, text, len) != 0 ||
        (!ends_in_newline && write_all(tmp_fd, "\n", 1) != 0) || write_all(tmp_fd, line, strlen(line)) != 0 ||
        fsync(tmp_fd) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot write the new data key file beside %.160s: %s",
                      path, strerror(errno));
        goto out;
    }
    int closed = close(tmp_fd);
    tmp_fd = -1;
    if (closed != 0 || rename(tmp, path) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot replace the data key file %.160s: %s", path,
                      strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    if (sync_parent(path) != 0) {
        esc_error_set(err, ESC_ERR_INTERNAL, "data_key_file", "cannot sync the directory of %.160s: %s", path,
                      strerror(errno));
        goto out;
    }
    if (new_version)
        *new_version = max + 1;
    rc = 0;
out:
    if (tmp_fd >= 0)
        close(tmp_fd);
    if (tmp[0])
        unlink(tmp);
    if (fd >= 0)
        close(fd); /* releases the lock */
    if (text) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    OPENSSL_cleanse(line, sizeof line);
    esc_datakey_free(ring);
    return rc;
}

/* ---------------------------------------------------------------- sealing */

/* Parse "esc1:v<N>:"; returns N and sets *body to what follows, or 0. */
static unsigned parse_header(const char *s, const char **body)
{
    size_t plen = strlen(SEAL_PREFIX);
    if (!s || strncmp(s, SEAL_PREFIX, plen) != 0)
        return 0;
    const char *colon = strchr(s + plen, ':');
    if (!colon)
        return 0;
    /* parse_version wants the 'v' in front */
    unsigned v = parse_version(s + plen - 1, (size_t)(colon - (s + plen - 1)));
    if (v && body)
        *body = colon + 1;
    return v;
}

unsigned esc_sealed_version(const char *sealed)
{
    return parse_header(sealed, NULL);
}

char *esc_seal(const struct esc_datakey *ring, const void *plaintext, size_t len, const char *aad,
               esc_error_t *err)
{
    char *out = NULL, *text = NULL, header[32];
    unsigned char *raw = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0;

    if (!ring || (!plaintext && len) || !aad || !*aad) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "sealing needs a key ring and the value's place (aad)");
        return NULL;
    }
    if (len > SEAL_MAX_PLAINTEXT) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "the value is too large to seal");
        return NULL;
    }
    const struct slot *slot = find_slot(ring, ring->current);
    int hlen = snprintf(header, sizeof header, SEAL_PREFIX "%u:", ring->current);
    size_t raw_len = NONCE_LEN + len + TAG_LEN;
    raw = malloc(raw_len);
    text = malloc((size_t)hlen + (raw_len + 2) / 3 * 4 + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!raw || !text || !ctx) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (random_bytes(raw, NONCE_LEN, err) != 0)
        goto out;
    /* the header is authenticated too, so relabelling the version fails */
    if (EVP_EncryptInit_ex2(ctx, ring->gcm, slot->key, raw, NULL) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)header, hlen) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        (len && EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &n, plaintext, (int)len) != 1) ||
        EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "AES-256-GCM sealing failed");
        goto out;
    }
    memcpy(text, header, (size_t)hlen);
    b64_encode(b64_url, 0, raw, raw_len, text + hlen);
    out = text;
    text = NULL;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    free(text);
    return out;
}

char *esc_open(const struct esc_datakey *ring, const char *sealed, const char *aad, size_t *len_out,
               esc_error_t *err)
{
    char *out = NULL, *plain = NULL;
    unsigned char *raw = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    const char *body = NULL;
    int n = 0;

    if (len_out)
        *len_out = 0;
    if (!ring || !aad || !*aad) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "opening needs a key ring and the value's place (aad)");
        return NULL;
    }
    unsigned version = parse_header(sealed, &body);
    size_t body_len = body ? strlen(body) : 0;
    if (!version || body_len < (NONCE_LEN + TAG_LEN) * 4 / 3 ||
        body_len > (SEAL_MAX_PLAINTEXT + NONCE_LEN + TAG_LEN + 2) / 3 * 4) {
        esc_error_set(err, ESC_ERR_INTERNAL, "sealed_value", "the stored value is not a sealed value");
        return NULL;
    }
    const struct slot *slot = find_slot(ring, version);
    if (!slot) {
        esc_error_set(err, ESC_ERR_INTERNAL, "sealed_value",
                      "the value is sealed with data key version %u, which the data key file does not hold", version);
        return NULL;
    }
    raw = malloc(body_len / 4 * 3 + 3);
    if (!raw) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    long raw_len = b64_decode(b64_url, 0, body, body_len, raw);
    if (raw_len < NONCE_LEN + TAG_LEN) {
        esc_error_set(err, ESC_ERR_INTERNAL, "sealed_value", "the stored value is not a sealed value");
        goto out;
    }
    size_t ct_len = (size_t)raw_len - NONCE_LEN - TAG_LEN;
    size_t hlen = (size_t)(body - sealed);
    plain = malloc(ct_len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!plain || !ctx) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    int ok = EVP_DecryptInit_ex2(ctx, ring->gcm, slot->key, raw, NULL) == 1 &&
             EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)sealed, (int)hlen) == 1 &&
             EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
             (ct_len == 0 ||
              EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, raw + NONCE_LEN, (int)ct_len) == 1) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + ct_len) == 1 &&
             EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + ct_len, &n) == 1;
    if (!ok) {
        /* GCM has written the unauthenticated plaintext already: wipe it */
        OPENSSL_cleanse(plain, ct_len + 1);
        esc_error_set(err, ESC_ERR_INTERNAL, "sealed_value",
                      "the sealed value failed authentication (altered, moved from another place, or another key)");
        goto out;
    }
    plain[ct_len] = '\0';
    if (len_out)
        *len_out = ct_len;
    out = plain;
    plain = NULL;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    free(plain);
    return out;
}

/* ------------------------------------------------------------ blind index */

int esc_blind_index(const struct esc_datakey *ring, const char *kind, const char *value,
                    char out[ESC_BLIND_INDEX_LEN + 1], esc_error_t *err)
{
    int rc = -1;
    unsigned char mac[32];
    size_t got = 0, klen = kind ? strlen(kind) : 0;
    EVP_MAC_CTX *ctx = NULL;

    out[0] = '\0';
    int kind_ok = klen >= 1 && klen <= 32;
    for (size_t i = 0; kind_ok && i < klen; i++)
        kind_ok = (kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9') || kind[i] == '_';
    if (!ring || !value || !kind_ok) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "a blind index needs a key ring, a kind ([a-z0-9_]) and a value");
        return -1;
    }
    /* The template context holds the keyed state; a copy per call keeps the
     * ring read-only, so threads can share it. */
    ctx = EVP_MAC_CTX_dup(ring->index_mac);
    if (!ctx || EVP_MAC_update(ctx, (const unsigned char *)index_domain, sizeof index_domain) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)kind, klen + 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)value, strlen(value)) != 1 ||
        EVP_MAC_final(ctx, mac, &got, sizeof mac) != 1 || got != sizeof mac) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "HMAC-SHA256 failed");
        goto out;
    }
    for (size_t i = 0; i < sizeof mac; i++) {
        out[2 * i] = "0123456789abcdef"[mac[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
    }
    out[ESC_BLIND_INDEX_LEN] = '\0';
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* ------------------------------------------------------------ normalisers */

/* Decode one UTF-8 code point at *p (advancing it); -1 when malformed
 * (overlong forms, surrogates and values above U+10FFFF included). */
static long next_code_point(const unsigned char **p)
{
    const unsigned char *s = *p;
    long cp;
    int extra;
    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        cp = s[0] & 0x1F;
        extra = 1;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        cp = s[0] & 0x0F;
        extra = 2;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        cp = s[0] & 0x07;
        extra = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= extra; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *p = s + 1 + extra;
    return cp;
}

static int is_space_cp(long cp)
{
    return cp == ' ' || cp == '\t' || cp == 0x3000;
}

/* Full-width forms U+FF01..U+FF5E are ASCII U+0021..U+007E shifted. */
static long fold_full_width(long cp)
{
    return cp >= 0xFF01 && cp <= 0xFF5E ? cp - 0xFF01 + 0x21 : cp;
}

char *esc_normalise_phone(const char *s, esc_error_t *err)
{
    static const char msg[] =
        "customer_phone may hold only digits, spaces, '-', '.', '(', ')' and a leading '+', with 3 to 20 digits";
    if (!s) {
        esc_error_set(err, ESC_ERR_VALIDATION, "customer_phone", msg);
        return NULL;
    }
    size_t cap = strlen(s) + 2, nd = 0;
    char *d = malloc(cap), *out = NULL;
    int plus = 0;
    if (!d) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        long cp = fold_full_width(next_code_point(&p));
        if (is_space_cp(cp) || cp == '-' || cp == '.' || cp == '(' || cp == ')' || (cp >= 0x2010 && cp <= 0x2015))
            continue;
        if (cp >= '0' && cp <= '9')
            d[nd++] = (char)cp;
        else if (cp == '+' && nd == 0 && !plus)
            plus = 1;
        else
            goto bad;
    }
    d[nd] = '\0';

    const char *intl = NULL; /* the digits after an international prefix */
    if (plus)
        intl = d;
    else if (strncmp(d, "00", 2) == 0)
        intl = d + 2;
    out = malloc(cap + 1);
    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    if (intl && strncmp(intl, "86", 2) == 0) {
        const char *nat = intl + 2;
        if ((strlen(nat) == 11 && nat[0] == '1') || nat[0] == '0')
            snprintf(out, cap + 1, "%s", nat); /* a mobile number, or already in domestic form */
        else
            snprintf(out, cap + 1, "0%s", nat); /* a landline gets its trunk prefix back */
    } else if (intl) {
        snprintf(out, cap + 1, "+%s", intl);
    } else if (nd == 13 && strncmp(d, "861", 3) == 0) {
        snprintf(out, cap + 1, "%s", d + 2);
    } else {
        snprintf(out, cap + 1, "%s", d);
    }
    size_t digits = strlen(out) - (out[0] == '+');
    if (digits < 3 || digits > 20)
        goto bad;
    OPENSSL_cleanse(d, cap);
    free(d);
    return out;
bad:
    esc_error_set(err, ESC_ERR_VALIDATION, "customer_phone", msg);
fail:
    OPENSSL_cleanse(d, cap);
    free(d);
    if (out) {
        OPENSSL_cleanse(out, cap + 1);
        free(out);
    }
    return NULL;
}

char *esc_normalise_id_number(const char *s, esc_error_t *err)
{
    static const char msg[] = "customer_id_number may hold only letters and digits (spaces and '-' are ignored), "
                              "1 to 32 of them";
    if (!s) {
        esc_error_set(err, ESC_ERR_VALIDATION, "customer_id_number", msg);
        return NULL;
    }
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        long cp = fold_full_width(next_code_point(&p));
        if (is_space_cp(cp) || cp == '-')
            continue;
        if (cp >= 'a' && cp <= 'z')
            cp -= 'a' - 'A';
        if (!((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z')) || n == 32)
            goto bad;
        out[n++] = (char)cp;
    }
    if (n == 0)
        goto bad;
    out[n] = '\0';
    return out;
bad:
    OPENSSL_cleanse(out, cap);
    free(out);
    esc_error_set(err, ESC_ERR_VALIDATION, "customer_id_number", msg);
    return NULL;
}
