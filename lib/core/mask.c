/* mask.c — masking of customer data on output (SPEC section 7).  PURE.
 * The rules are in mask.h. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "core/pii.h"

/* Bytes in the UTF-8 character starting at s (1 for a stray or truncated
 * sequence, so that malformed input still advances and is never split). */
static size_t utf8_char_len(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0)
        n = 2;
    else if ((s[0] & 0xF0) == 0xE0)
        n = 3;
    else if ((s[0] & 0xF8) == 0xF0)
        n = 4;
    else
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

size_t esc_utf8_length(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p += utf8_char_len(p))
        n++;
    return n;
}

/* Keep the first `head` and last `tail` of the n characters (each char's
 * bytes at starts[i] .. starts[i+1]), every other one a '*'.  When the
 * value is too short for that, only the last `short_tail` are shown, and at
 * least one character is always hidden. */
static char *mask_chars(const char *s, size_t head, size_t tail, size_t short_min,
                        size_t short_tail)
{
    size_t n = esc_utf8_length(s), len = strlen(s);
    if (n <= short_min) {
        head = 0;
        tail = short_tail;
    }
    if (head + tail >= n) {
        head = 0;
        tail = n > 0 ? (tail < n - 1 ? tail : n - 1) : 0;
    }
    char *out = malloc(len + n + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        size_t cl = utf8_char_len(p);
        if (i < head || i >= n - tail) {
            memcpy(o, p, cl);
            o += cl;
        } else {
            *o++ = '*';
        }
        p += cl;
    }
    *o = '\0';
    return out;
}

char *esc_mask_phone(const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s), n = 0;
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] >= '0' && s[i] <= '9')
            d[n++] = s[i];
    d[n] = '\0';
    /* 8 digits or more: 3 + 4 shown; fewer: the last 2. */
    char *out = mask_chars(d, 3, 4, 7, 2);
    free(d);
    return out;
}

char *esc_mask_id_number(const char *s)
{
    if (!s)
        return NULL;
    return mask_chars(s, 3, 4, 8, 2);
}

char *esc_mask_email(const char *s)
{
    if (!s)
        return NULL;
    const char *at = strrchr(s, '@');
    if (!at)
        return strdup("***");
    size_t first = at > s ? utf8_char_len((const unsigned char *)s) : 0;
    if (s + first > at)
        first = (size_t)(at - s);
    size_t dlen = strlen(at);
    char *out = malloc(first + 3 + dlen + 1);
    if (!out)
        return NULL;
    memcpy(out, s, first);
    memcpy(out + first, "***", 3);
    memcpy(out + first + 3, at, dlen + 1);
    return out;
}

char *esc_mask_bank_card(const char *s)
{
    if (!s)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), n = 0;
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (u[i] >= '0' && u[i] <= '9') {
            d[n++] = (char)u[i];
        } else if (u[i] == 0xEF && len - i >= 3 && u[i + 1] == 0xBC && u[i + 2] >= 0x90 &&
                   u[i + 2] <= 0x99) { /* full-width U+FF10..U+FF19 */
            d[n++] = (char)('0' + (u[i + 2] - 0x90));
            i += 2;
        }
    }
    d[n] = '\0';
    /* 9 digits or more: 4 + 4 shown; fewer: the last 2. */
    char *out = mask_chars(d, 4, 4, 8, 2);
    free(d);
    return out;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

char *esc_mask_text(const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    /* A masked card is never longer than its run, so len + 1 suffices. */
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    char *o = out;
    size_t i = 0;
    while (i < len) {
        if (!is_digit(s[i])) {
            *o++ = s[i++];
            continue;
        }
        /* A run: digits, with single spaces or '-' between them. */
        char dg[20];
        size_t nd = 0, j = i;
        while (j < len) {
            if (is_digit(s[j])) {
                if (nd < sizeof dg)
                    dg[nd] = s[j];
                nd++;
                j++;
            } else if ((s[j] == ' ' || s[j] == '-') && j + 1 < len && is_digit(s[j + 1])) {
                j++;
            } else {
                break;
            }
        }
        if (nd >= 13 && nd <= 19 && esc_luhn_valid(dg, nd)) {
            memcpy(o, dg, 6);
            o += 6;
            for (size_t k = 6; k < nd - 4; k++)
                *o++ = '*';
            memcpy(o, dg + nd - 4, 4);
            o += 4;
        } else {
            memcpy(o, s + i, j - i);
            o += j - i;
        }
        i = j;
    }
    *o = '\0';
    return out;
}
