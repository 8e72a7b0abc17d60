/* webhook_sign.c — the webhook signature and retry back-off (PURE; see
 * include/escalated/webhook.h). */
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#include "core/webhook_sign.h"

int esc_webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t body_len,
                     char out[ESC_WEBHOOK_SIGNATURE_LEN + 1])
{
    char prefix[32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    int n = snprintf(prefix, sizeof prefix, "%" PRId64 ".", timestamp);
    out[0] = '\0';
    if (!secret || n <= 0 || (size_t)n >= sizeof prefix || (!body && body_len))
        return -1;

    int rc = -1;
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t got = 0;
    if (!ctx || !EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)n) ||
        (body_len && !EVP_MAC_update(ctx, (const unsigned char *)body, body_len)) ||
        !EVP_MAC_final(ctx, mac, &got, sizeof mac) || got != 32)
        goto out;
    memcpy(out, "sha256=", 7);
    for (size_t i = 0; i < got; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return rc;
}

double esc_webhook_backoff(int attempt, double base_s, double cap_s, double u)
{
    if (attempt < 1)
        attempt = 1;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    if (cap_s < base_s)
        cap_s = base_s;
    double step = base_s;
    for (int i = 1; i < attempt && step < cap_s; i++)
        step *= 2;
    if (step > cap_s)
        step = cap_s;
    return step * (0.5 + 0.5 * u);
}
