/* pii.c — personal data in free text; identity and bank card numbers.
 * PURE.  The rules, the precedence and the masked forms are in pii.h.
 *
 * The scan is two passes over the bytes.  The first finds the '@' of each
 * email address and records the spans of addresses (findings) and of
 * already masked addresses (skipped); the second walks the rest a group of
 * digits at a time and tries, at each group, the candidates made of it and
 * the next few groups of its run.  Both passes work on bytes: in valid
 * UTF-8 an ASCII byte is always a whole character and 0xEF always starts
 * one, so nothing here splits a character of valid input, and every read
 * is bounded by the length, so invalid input is merely text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pii.h"

/* ------------------------------------------------------------ characters */

static bool is_ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ascii_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_ascii_alnum(unsigned char c)
{
    return is_ascii_digit(c) || is_ascii_alpha(c);
}

/* A digit starting at s[p], ending at or before lim: its byte length (1, or
 * 3 for U+FF10..U+FF19 = EF BC 90..99) and its value in *d; 0 if none. */
static size_t digit_at(const unsigned char *s, size_t p, size_t lim, int *d)
{
    if (p >= lim)
        return 0;
    if (is_ascii_digit(s[p])) {
        *d = s[p] - '0';
        return 1;
    }
    if (s[p] == 0xEF && lim - p >= 3 && s[p + 1] == 0xBC && s[p + 2] >= 0x90 && s[p + 2] <= 0x99) {
        *d = s[p + 2] - 0x90;
        return 3;
    }
    return 0;
}

/* A separator at s[p] (before lim): its byte length, 0 if none.  *hyphen
 * tells a hyphen from a space (the bare "86" prefix needs a hyphen). */
static size_t sep_at(const unsigned char *s, size_t p, size_t lim, bool *hyphen)
{
    *hyphen = false;
    if (p >= lim)
        return 0;
    if (s[p] == ' ')
        return 1;
    if (s[p] == '-') {
        *hyphen = true;
        return 1;
    }
    if (s[p] == 0xC2 && lim - p >= 2 && s[p + 1] == 0xA0) /* U+00A0 */
        return 2;
    if (s[p] == 0xE3 && lim - p >= 3 && s[p + 1] == 0x80 && s[p + 2] == 0x80) /* U+3000 */
        return 3;
    if (s[p] == 0xEF && lim - p >= 3 && s[p + 1] == 0xBC && s[p + 2] == 0x8D) { /* U+FF0D */
        *hyphen = true;
        return 3;
    }
    return 0;
}

/* The check character X at s[p]: X, x, U+FF38 (EF BC B8), U+FF58 (EF BD 98). */
static size_t x_at(const unsigned char *s, size_t p, size_t lim)
{
    if (p >= lim)
        return 0;
    if (s[p] == 'X' || s[p] == 'x')
        return 1;
    if (s[p] == 0xEF && lim - p >= 3 &&
        ((s[p + 1] == 0xBC && s[p + 2] == 0xB8) || (s[p + 1] == 0xBD && s[p + 2] == 0x98)))
        return 3;
    return 0;
}

/* Full-width letter or digit in the three bytes at p: U+FF10..19,
 * U+FF21..3A (EF BC A1..BA), U+FF41..5A (EF BD 81..9A).  Returns the ASCII
 * character it stands for, or 0. */
static char fw_alnum(const unsigned char *p)
{
    if (p[0] != 0xEF)
        return 0;
    if (p[1] == 0xBC && p[2] >= 0x90 && p[2] <= 0x99)
        return (char)('0' + (p[2] - 0x90));
    if (p[1] == 0xBC && p[2] >= 0xA1 && p[2] <= 0xBA)
        return (char)('A' + (p[2] - 0xA1));
    if (p[1] == 0xBD && p[2] >= 0x81 && p[2] <= 0x9A)
        return (char)('a' + (p[2] - 0x81));
    return 0;
}

/* ASCII letter or digit, or a full-width one, starting at s[p]. */
static bool alnum_at(const unsigned char *s, size_t p, size_t len)
{
    if (p >= len)
        return false;
    if (is_ascii_alnum(s[p]))
        return true;
    return len - p >= 3 && fw_alnum(s + p) != 0;
}

/* ---------------------------------------------------------- single values */

int esc_luhn_valid(const char *digits, size_t n)
{
    if (!digits || n == 0)
        return 0;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        char c = digits[n - 1 - i];
        if (!is_ascii_digit((unsigned char)c))
            return 0;
        int v = c - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

char esc_id_number_check_char(const char *digits17)
{
    static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    if (!digits17)
        return 0;
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (!is_ascii_digit((unsigned char)digits17[i]))
            return 0; /* also stops at the NUL of a shorter string */
        sum += (digits17[i] - '0') * weight[i];
    }
    return "10X98765432"[sum % 11];
}

static int num(const char *d, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

static bool real_date(int y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* d: 18 ASCII characters, 17 digits and '0'..'9' or 'X'. */
static bool id18_ok(const char *d)
{
    int y = num(d + 6, 4);
    return esc_id_number_check_char(d) == d[17] && y >= 1900 && y <= 2099 &&
           real_date(y, num(d + 10, 2), num(d + 12, 2));
}

/* d: 15 ASCII digits. */
static bool id15_ok(const char *d)
{
    return real_date(1900 + num(d + 6, 2), num(d + 8, 2), num(d + 10, 2));
}

int esc_id_number_normalise(const char *s, char out[19])
{
    out[0] = '\0';
    if (!s)
        return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), p = 0, n = 0;
    char d[19];
    while (p < len && n < 18) {
        int v;
        size_t cl = digit_at(u, p, len, &v);
        if (cl) {
            d[n++] = (char)('0' + v);
            p += cl;
            continue;
        }
        cl = x_at(u, p, len);
        if (cl && n == 17) {
            d[n++] = 'X';
            p += cl;
            continue;
        }
        return -1;
    }
    d[n] = '\0';
    if (p != len)
        return -1;
    if (n == 18 ? !id18_ok(d) : n == 15 ? !id15_ok(d) : true)
        return -1;
    memcpy(out, d, n + 1);
    return 0;
}

int esc_id_number_valid(const char *s)
{
    char out[19];
    return esc_id_number_normalise(s, out) == 0;
}

int esc_bank_card_normalise(const char *s, char out[20])
{
    out[0] = '\0';
    if (!s)
        return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), p = 0, n = 0;
    char d[20];
    while (p < len) {
        int v;
        bool hyphen;
        size_t cl = digit_at(u, p, len, &v);
        if (cl) {
            if (n == 19)
                return -1;
            d[n++] = (char)('0' + v);
        } else if (!(cl = sep_at(u, p, len, &hyphen))) {
            return -1;
        }
        p += cl;
    }
    if (n < 12)
        return -1;
    d[n] = '\0';
    memcpy(out, d, n + 1);
    return 0;
}

int esc_bank_card_valid(const char *s)
{
    char out[20];
    return esc_bank_card_normalise(s, out) == 0;
}

const char *esc_pii_kind_name(enum esc_pii_kind kind)
{
    switch (kind) {
    case ESC_PII_PHONE:
        return "phone";
    case ESC_PII_ID_NUMBER:
        return "id_number";
    case ESC_PII_BANK_CARD:
        return "bank_card";
    case ESC_PII_EMAIL:
        return "email";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- lists */

static struct esc_pii_finding *list_push(struct esc_pii_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct esc_pii_finding *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return NULL;
        l->items = p;
        l->cap = cap;
    }
    struct esc_pii_finding *f = &l->items[l->n++];
    memset(f, 0, sizeof *f);
    return f;
}

void esc_pii_list_free(struct esc_pii_list *list)
{
    if (!list)
        return;
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* --------------------------------------------------------------- emails */

/* The spans of the first pass: an address (a finding, in `emails`) or an
 * already masked one (skipped). */
struct span {
    size_t start, end;
    bool finding;
};

struct spans {
    struct span *items;
    size_t n, cap;
};

static int spans_push(struct spans *sp, size_t start, size_t end, bool finding)
{
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 8;
        struct span *p = realloc(sp->items, cap * sizeof *p);
        if (!p)
            return -1;
        sp->items = p;
        sp->cap = cap;
    }
    sp->items[sp->n++] = (struct span){start, end, finding};
    return 0;
}

static bool is_local_ascii(unsigned char c)
{
    return is_ascii_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_label_char(unsigned char c)
{
    return is_ascii_alnum(c) || c == '-';
}

/* Bytes of the local-part character that ends at s[i] (exclusive) and
 * starts at or after floor: 1 (ASCII), 3 (full-width letter or digit), 0. */
static size_t local_char_before(const unsigned char *s, size_t i, size_t floor)
{
    if (i > floor && is_local_ascii(s[i - 1]))
        return 1;
    if (i >= floor + 3 && fw_alnum(s + i - 3))
        return 3;
    return 0;
}

/* The end of the domain that starts at s[p], or 0 when there is none
 * (rules in pii.h).  Reads at most 253 bytes. */
static size_t domain_end(const unsigned char *s, size_t len, size_t p)
{
    size_t lim = len - p > 253 ? p + 253 : len;
    size_t i = p, best = 0;
    int labels = 0;
    for (;;) {
        size_t ls = i;
        while (i < lim && is_label_char(s[i]))
            i++;
        size_t ll = i - ls;
        if (ll == 0)
            break;
        if (++labels >= 2) {
            /* The top-level label is its letters, so that what follows
             * them, digits included, is text. */
            size_t a = 0;
            while (a < ll && is_ascii_alpha(s[ls + a]))
                a++;
            if (a >= 2 && a <= 63)
                best = ls + a;
        }
        /* Only a valid label may be followed by another. */
        if (ll > 63 || s[ls] == '-' || s[i - 1] == '-')
            break;
        if (lim - i >= 2 && s[i] == '.' && is_label_char(s[i + 1])) {
            i++;
            continue;
        }
        break;
    }
    return best;
}

static int add_email(const unsigned char *s, size_t start, size_t at, size_t end,
                     struct esc_pii_list *emails)
{
    struct esc_pii_finding *f = list_push(emails);
    if (!f)
        return -1;
    f->kind = ESC_PII_EMAIL;
    f->offset = start;
    f->length = end - start;
    size_t o = 0;
    for (size_t p = start; p < at;) {
        char c = (char)s[p];
        if (s[p] >= 0x80) { /* a full-width letter or digit: local_char_before let only these in */
            c = fw_alnum(s + p);
            p += 3;
        } else {
            p++;
        }
        f->value[o++] = c;
    }
    f->value[o++] = '@';
    for (size_t p = at + 1; p < end; p++)
        f->value[o++] = (char)((s[p] >= 'A' && s[p] <= 'Z') ? s[p] | 0x20 : s[p]);
    f->value[o] = '\0';
    return 0;
}

/* The first pass: addresses into `emails`, every span (addresses and masked
 * addresses) into `sp`, both in order. */
static int scan_emails(const unsigned char *s, size_t len, struct esc_pii_list *emails,
                       struct spans *sp)
{
    size_t floor = 0, from = 0;
    while (from < len) {
        const unsigned char *q = memchr(s + from, '@', len - from);
        if (!q)
            break;
        size_t at = (size_t)(q - s);
        from = at + 1;
        size_t end = domain_end(s, len, at + 1);
        if (!end)
            continue;
        /* Already masked ("w***@example.com"): keep the digits of its
         * domain out of the second pass, report nothing. */
        if (at >= floor + 3 && memcmp(s + at - 3, "***", 3) == 0) {
            size_t start = at - 3 - local_char_before(s, at - 3, floor);
            if (spans_push(sp, start, end, false) != 0)
                return -1;
            floor = from = end;
            continue;
        }
        /* The local part: the local characters before the '@', at most
         * 64, and not after the floor.  A '*' between two of them means
         * masked text (no address); stars before them are only text
         * ("**wang@example.com**").  A double dot ends it, and it neither
         * starts nor ends with a dot.  The walks of two '@' never overlap
         * (an '@' ends the walk), so this is linear. */
        size_t i = at, start = at, nloc = 0, cl;
        bool stars = false, bad = false;
        for (;;) {
            if (i > floor && s[i - 1] == '*') {
                stars = true;
                i--;
                continue;
            }
            if ((cl = local_char_before(s, i, floor)) == 0)
                break;
            if (stars || ++nloc > 64) {
                bad = true;
                break;
            }
            if (cl == 1 && s[i - 1] == '.' && s[i] == '.')
                break;
            i -= cl;
            start = i;
        }
        while (start < at && s[start] == '.')
            start++;
        if (bad || start == at || s[at - 1] == '.')
            continue;
        if (add_email(s, start, at, end, emails) != 0 || spans_push(sp, start, end, true) != 0)
            return -1;
        floor = from = end;
    }
    return 0;
}

/* --------------------------------------------------------------- digits */

enum { MAX_GROUPS = 5, MAX_DIGITS = 23 };

struct group {
    size_t start, end; /* first digit .. after the last */
    size_t xend;       /* after a check character X that follows, or 0 */
    size_t ndig;       /* digits (only the first MAX_DIGITS are kept) */
    char dig[MAX_DIGITS + 1];
    bool opaque;       /* '*' between its digits: already masked */
    bool hyphen_after; /* the separator after it is a hyphen */
};

/* Reads the group starting at the digit s[p]; stops at lim. */
static void read_group(const unsigned char *s, size_t len, size_t lim, size_t p, struct group *g)
{
    memset(g, 0, sizeof *g);
    g->start = p;
    for (;;) {
        int v;
        size_t cl = digit_at(s, p, lim, &v);
        if (cl) {
            if (g->ndig < MAX_DIGITS)
                g->dig[g->ndig] = (char)('0' + v);
            g->ndig++;
            p += cl;
            continue;
        }
        if (p < lim && s[p] == '*') {
            size_t q = p;
            while (q < lim && s[q] == '*')
                q++;
            if (digit_at(s, q, lim, &v)) {
                g->opaque = true;
                p = q;
                continue;
            }
        }
        break;
    }
    g->end = p;
    size_t xl = x_at(s, p, lim);
    if (xl && !alnum_at(s, p + xl, len))
        g->xend = p + xl;
}

/* The start of the group that continues g's run, or 0 (a group never starts
 * at 0: a separator precedes it). */
static size_t next_group(const unsigned char *s, size_t lim, struct group *g)
{
    bool hyphen;
    int v;
    if (g->xend)
        return 0; /* an X ends the run */
    size_t sl = sep_at(s, g->end, lim, &hyphen);
    if (!sl || !digit_at(s, g->end + sl, lim, &v))
        return 0;
    g->hyphen_after = hyphen;
    return g->end + sl;
}

struct match {
    enum esc_pii_kind kind;
    size_t start, end;
    char value[20];
};

static bool shape(const size_t *lens, size_t k, size_t a, size_t b, size_t c)
{
    return k == 3 && lens[0] == a && lens[1] == b && lens[2] == c;
}

static bool mobile(const char *d)
{
    return d[0] == '1' && d[1] >= '3' && d[1] <= '9';
}

static bool card_shape(const size_t *lens, size_t k)
{
    if (k == 1)
        return true;
    if (lens[0] != 4 || lens[k - 1] < 2 || lens[k - 1] > 6)
        return false;
    for (size_t i = 1; i + 1 < k; i++)
        if (lens[i] < 4 || lens[i] > 6)
            return false;
    return true;
}

static void set_match(struct match *m, enum esc_pii_kind kind, size_t start, size_t end,
                      const char *value, size_t n)
{
    m->kind = kind;
    m->start = start;
    m->end = end;
    memcpy(m->value, value, n);
    m->value[n] = '\0';
}

/* Is the finding made of groups w[0..k-1] one of the shapes?  plus: bytes
 * of a '+' right before w[0] (0 if none).  Precedence as in pii.h. */
static bool try_groups(const struct group *w, size_t k, size_t plus, struct match *m)
{
    char d[MAX_DIGITS + 2];
    size_t lens[MAX_GROUPS], n = 0;
    for (size_t i = 0; i < k; i++) {
        if (w[i].opaque || n + w[i].ndig > MAX_DIGITS)
            return false;
        memcpy(d + n, w[i].dig, w[i].ndig);
        lens[i] = w[i].ndig;
        n += w[i].ndig;
    }
    d[n] = '\0';
    const struct group *last = &w[k - 1];
    size_t start = w[0].start, end = last->end;

    /* 18-character identity number */
    if (n == 17 && last->xend && (k == 1 || shape(lens, k, 6, 8, 3))) {
        d[17] = 'X';
        d[18] = '\0';
        if (id18_ok(d)) {
            set_match(m, ESC_PII_ID_NUMBER, start, last->xend, d, 18);
            return true;
        }
        d[17] = '\0';
    }
    if (n == 18 && (k == 1 || shape(lens, k, 6, 8, 4)) && id18_ok(d)) {
        set_match(m, ESC_PII_ID_NUMBER, start, end, d, 18);
        return true;
    }
    /* phone: plain, then with its prefix in a group of its own, then with
     * the prefix run into the number */
    if ((n == 11 && (k == 1 || shape(lens, k, 3, 4, 4))) && mobile(d)) {
        set_match(m, ESC_PII_PHONE, start, end, d, 11);
        return true;
    }
    if ((k == 2 || k == 4) && ((lens[0] == 2 && memcmp(d, "86", 2) == 0 && (plus || w[0].hyphen_after)) ||
                               (lens[0] == 4 && memcmp(d, "0086", 4) == 0 && !plus))) {
        const char *b = d + lens[0];
        size_t bn = n - lens[0];
        bool body = k == 2 ? bn == 11 : (lens[1] == 3 && lens[2] == 4 && lens[3] == 4);
        if (body && bn == 11 && mobile(b)) {
            set_match(m, ESC_PII_PHONE, lens[0] == 2 ? start - plus : start, end, b, 11);
            return true;
        }
    }
    if (k == 1 && ((n == 13 && plus && memcmp(d, "86", 2) == 0 && mobile(d + 2)) ||
                   (n == 15 && !plus && memcmp(d, "0086", 4) == 0 && mobile(d + 4)))) {
        set_match(m, ESC_PII_PHONE, n == 13 ? start - plus : start, end, d + n - 11, 11);
        return true;
    }
    /* 15-digit identity number */
    if (n == 15 && (k == 1 || shape(lens, k, 6, 6, 3)) && id15_ok(d)) {
        set_match(m, ESC_PII_ID_NUMBER, start, end, d, 15);
        return true;
    }
    /* card */
    if (n >= 12 && n <= 19 && card_shape(lens, k) && esc_luhn_valid(d, n)) {
        set_match(m, ESC_PII_BANK_CARD, start, end, d, n);
        return true;
    }
    return false;
}

/* Bytes of a '+' (or U+FF0B, EF BC 8B) that ends right at p, not before
 * floor. */
static size_t plus_before(const unsigned char *s, size_t p, size_t floor)
{
    if (p > floor && s[p - 1] == '+')
        return 1;
    if (p >= floor + 3 && s[p - 3] == 0xEF && s[p - 2] == 0xBC && s[p - 1] == 0x8B)
        return 3;
    return 0;
}

int esc_pii_scan(const char *text, size_t len, struct esc_pii_list *out, esc_error_t *err)
{
    const unsigned char *s = (const unsigned char *)text;
    struct esc_pii_list emails = {0};
    struct spans sp = {0};
    size_t n_before = out ? out->n : 0, k = 0, e = 0, pos = 0, floor = 0;
    int rc = -1;

    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "no list for the findings");
        return -1;
    }
    if (!text)
        len = 0;
    if (scan_emails(s, len, &emails, &sp) != 0)
        goto out;
    while (pos < len) {
        size_t lim = k < sp.n ? sp.items[k].start : len;
        if (pos >= lim) {
            if (sp.items[k].finding) {
                struct esc_pii_finding *f = list_push(out);
                if (!f)
                    goto out;
                *f = emails.items[e++];
            }
            pos = floor = sp.items[k++].end;
            continue;
        }
        int v;
        if (!digit_at(s, pos, lim, &v)) {
            pos++;
            continue;
        }
        struct group w[MAX_GROUPS];
        size_t nw = 1, next;
        read_group(s, len, lim, pos, &w[0]);
        while (nw < MAX_GROUPS && (next = next_group(s, lim, &w[nw - 1])) != 0) {
            read_group(s, len, lim, next, &w[nw]);
            nw++;
        }
        size_t plus = plus_before(s, pos, floor);
        struct match m;
        bool found = false;
        for (size_t kk = nw; kk >= 1 && !found; kk--)
            found = try_groups(w, kk, plus, &m);
        if (!found) {
            pos = w[0].end;
            continue;
        }
        struct esc_pii_finding *f = list_push(out);
        if (!f)
            goto out;
        f->kind = m.kind;
        f->offset = m.start;
        f->length = m.end - m.start;
        memcpy(f->value, m.value, sizeof m.value);
        pos = floor = m.end;
    }
    rc = 0;
out:
    if (rc != 0) {
        out->n = n_before;
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
    }
    esc_pii_list_free(&emails);
    free(sp.items);
    return rc;
}

/* --------------------------------------------------------------- masking */

/* Writes the masked form of f (a finding of text s) to dst unless dst is
 * NULL; returns its length.  An email is esc_mask_email's form: its first
 * character as written (ASCII, or a full-width one of 3 bytes), "***", and
 * the '@' and domain as written. */
static size_t mask_finding(const struct esc_pii_finding *f, const unsigned char *s, char *dst)
{
    if (f->kind == ESC_PII_EMAIL) {
        const unsigned char *p = s + f->offset;
        const unsigned char *at = memchr(p, '@', f->length);
        size_t first = p[0] < 0x80 ? 1 : 3, dom = f->length - (size_t)(at - p);
        if (dst) {
            memcpy(dst, p, first);
            memcpy(dst + first, "***", 3);
            memcpy(dst + first + 3, at, dom);
        }
        return first + 3 + dom;
    }
    /* Phone and identity number: first 3 and last 4; card: first 4 and
     * last 4; each other character a '*'. */
    size_t n = strlen(f->value), head = f->kind == ESC_PII_BANK_CARD ? 4 : 3, tail = 4;
    for (size_t i = 0; dst && i < n; i++)
        dst[i] = (i < head || i >= n - tail) ? f->value[i] : '*';
    return n;
}

/* Do the findings fit the text well enough for mask_finding to stay in
 * bounds?  (They come from esc_pii_scan, but the list is the caller's.) */
static bool findings_fit(const unsigned char *s, size_t len, const struct esc_pii_list *found)
{
    size_t prev_end = 0;
    for (size_t i = 0; found && i < found->n; i++) {
        const struct esc_pii_finding *f = &found->items[i];
        if (f->offset < prev_end || f->length == 0 || f->offset > len || f->length > len - f->offset)
            return false;
        size_t vn = strnlen(f->value, sizeof f->value);
        if (f->kind == ESC_PII_EMAIL) {
            const unsigned char *p = s + f->offset, *at = memchr(p, '@', f->length);
            if (!at || (size_t)(at - p) < (p[0] < 0x80 ? 1u : 3u))
                return false;
        } else if (vn < 11 || vn > 19) {
            return false;
        }
        prev_end = f->offset + f->length;
    }
    return true;
}

char *esc_pii_mask(const char *text, size_t len, const struct esc_pii_list *found,
                   size_t *out_len, esc_error_t *err)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t total = len, o = 0, pos = 0;

    if (!text || !findings_fit(s, len, found)) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "findings do not fit the text");
        return NULL;
    }
    /* The length first, so that the copy is one allocation of the right
     * size (a masked email can be longer than the address). */
    for (size_t i = 0; found && i < found->n; i++)
        total = total - found->items[i].length + mask_finding(&found->items[i], s, NULL);
    char *out = malloc(total + 1);
    if (!out) {
        esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; found && i < found->n; i++) {
        const struct esc_pii_finding *f = &found->items[i];
        memcpy(out + o, s + pos, f->offset - pos);
        o += f->offset - pos;
        o += mask_finding(f, s, out + o);
        pos = f->offset + f->length;
    }
    memcpy(out + o, s + pos, len - pos);
    o += len - pos;
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

char *esc_pii_mask_text(const char *text, esc_error_t *err)
{
    struct esc_pii_list found = {0};
    char *out = NULL;
    if (!text)
        return NULL;
    size_t len = strlen(text);
    if (esc_pii_scan(text, len, &found, err) != 0)
        goto out;
    out = esc_pii_mask(text, len, &found, NULL, err);
out:
    esc_pii_list_free(&found);
    return out;
}
