/* token.c — bearer tokens: creation and hashing (only the hash is stored). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/token.h"

char *escp_token_new(esc_error_t *err)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0};
    size_t got = 0;
    while (got < 32) {
        ssize_t n = getrandom(raw + got, 32 - got, 0);
        if (n <= 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "no randomness available");
            return NULL;
        }
        got += (size_t)n;
    }
    char *tok = malloc(4 + 44 + 1);
    if (!tok) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    memcpy(tok, "esc_", 4);
    size_t o = 4;
    for (size_t i = 0; i < 32; i += 3) { /* 11 groups; the last has 2 bytes (raw[32] = 0) */
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        tok[o++] = b64[(v >> 18) & 63];
        tok[o++] = b64[(v >> 12) & 63];
        tok[o++] = b64[(v >> 6) & 63];
        if (i + 2 < 32)
            tok[o++] = b64[v & 63];
    }
    tok[o] = '\0';
    return tok;
}

void escp_token_hash(const char *token, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len && i < 32; i++) {
        out[2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    out[64] = '\0';
}

