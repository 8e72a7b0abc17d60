/* fuzz_pii.c — the free-text scanner and masker (lib/core/pii.c), and the
 * single-value rules, on arbitrary bytes.  Invariants checked:
 *   - the findings are in bounds, non-empty, sorted and non-overlapping;
 *   - each value is what its kind promises (checked here by independent
 *     code: GB 11643 with weights 2^(17-i) mod 11, Luhn written again);
 *   - the masked text is byte-identical when nothing was found, is valid
 *     UTF-8 when the input is, and scanning it again finds nothing;
 *   - the single-value functions agree with each other.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "core/pii.h"
#include "fuzz.h"

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool gb11643_ok(const char *v)
{
    int sum = 0;
    if (strlen(v) != 18 || !all_digits(v, 17))
        return false;
    for (int i = 0; i < 17; i++) {
        int w = 1;
        for (int k = 0; k < 17 - i; k++)
            w = w * 2 % 11;
        sum += (v[i] - '0') * w;
    }
    return "10X98765432"[sum % 11] == v[17];
}

static bool luhn_ok(const char *v)
{
    size_t n = strlen(v);
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = v[n - 1 - i] - '0';
        if (i & 1)
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

static void check_value(const struct esc_pii_finding *f)
{
    size_t n = strnlen(f->value, sizeof f->value);
    CHECK(n < sizeof f->value && n > 0);
    switch (f->kind) {
    case ESC_PII_PHONE:
        CHECK(n == 11 && all_digits(f->value, n) && f->value[0] == '1' && f->value[1] >= '3');
        break;
    case ESC_PII_ID_NUMBER:
        CHECK(n == 18 ? gb11643_ok(f->value) : n == 15 && all_digits(f->value, n));
        CHECK(esc_id_number_valid(f->value));
        break;
    case ESC_PII_BANK_CARD:
        CHECK(n >= 12 && n <= 19 && all_digits(f->value, n) && luhn_ok(f->value));
        CHECK(esc_bank_card_valid(f->value));
        break;
    case ESC_PII_EMAIL: {
        const char *at = strchr(f->value, '@');
        CHECK(at && at > f->value && !strchr(at + 1, '@') && strchr(at + 1, '.'));
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)f->value[i] > 0x20 && (unsigned char)f->value[i] < 0x7F);
        break;
    }
    default:
        CHECK(!"unknown kind");
    }
}

static void check_single_values(const uint8_t *data, size_t size)
{
    /* The single-value functions take a string: the input up to a NUL. */
    char *s = malloc(size + 1);
    CHECK(s);
    memcpy(s, data, size);
    s[size] = '\0';
    char id[19], card[20];
    if (esc_id_number_normalise(s, id) == 0) {
        CHECK(esc_id_number_valid(s) && esc_id_number_valid(id));
        CHECK(strlen(id) == 18 ? gb11643_ok(id) : strlen(id) == 15 && all_digits(id, 15));
    } else {
        CHECK(!esc_id_number_valid(s) && id[0] == '\0');
    }
    if (esc_bank_card_normalise(s, card) == 0) {
        size_t n = strlen(card);
        CHECK(esc_bank_card_valid(s) && n >= 12 && n <= 19 && all_digits(card, n));
    } else {
        CHECK(!esc_bank_card_valid(s) && card[0] == '\0');
    }
    char *m = esc_mask_bank_card(s);
    CHECK(m);
    size_t digits = 0;
    for (const char *p = m; *p; p++)
        digits += *p >= '0' && *p <= '9';
    CHECK(digits <= 8);
    free(m);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct esc_pii_list found = {0}, again = {0};
    esc_error_t err = {0};

    CHECK(esc_pii_scan(text, size, &found, &err) == 0);
    size_t prev_end = 0;
    for (size_t i = 0; i < found.n; i++) {
        const struct esc_pii_finding *f = &found.items[i];
        CHECK(f->length > 0 && f->offset >= prev_end && f->offset + f->length <= size);
        check_value(f);
        prev_end = f->offset + f->length;
    }

    size_t mlen = 0;
    char *masked = esc_pii_mask(text, size, &found, &mlen, &err);
    CHECK(masked && masked[mlen] == '\0');
    if (found.n == 0)
        CHECK(mlen == size && memcmp(masked, data, size) == 0);
    if (fuzz_utf8_valid(data, size))
        CHECK(fuzz_utf8_valid((const unsigned char *)masked, mlen));
    /* Masking is idempotent: nothing is left to find. */
    CHECK(esc_pii_scan(masked, mlen, &again, &err) == 0);
    if (again.n != 0) {
        fprintf(stderr, "found again: %s at %zu+%zu in \"%.*s\"\n",
                esc_pii_kind_name(again.items[0].kind), again.items[0].offset,
                again.items[0].length, (int)mlen, masked);
        CHECK(again.n == 0);
    }

    check_single_values(data, size);
    free(masked);
    esc_pii_list_free(&found);
    esc_pii_list_free(&again);
    return 0;
}
