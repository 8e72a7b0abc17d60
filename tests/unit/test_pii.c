/* test_pii.c — lib/core/pii.c: personal data in free text (the cases of
 * $ESC_TEST_DATA/pii_cases.tsv), the identity number and bank card rules
 * for single values, and the scanner on hostile input (NUL bytes, invalid
 * UTF-8, truncated characters, long runs, findings lists that do not fit).
 *
 * The GB 11643 check character and the Luhn check are computed here a
 * second way (weights 2^(17-i) mod 11; Luhn written again), so that the
 * table's numbers and the library's arithmetic check each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "core/pii.h"

#define MAX_LINE 8192

/* ---------------------------------------------------------------- helpers */

static char gb11643_check(const char *d17)
{
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        int w = 1;
        for (int k = 0; k < 17 - i; k++)
            w = w * 2 % 11;
        sum += (d17[i] - '0') * w;
    }
    return "10X98765432"[sum % 11];
}

static bool luhn(const char *d)
{
    size_t n = strlen(d);
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i & 1)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

static FILE *open_data(const char *name)
{
    const char *dir = getenv("ESC_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (set ESC_TEST_DATA)", path);
    return f;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The table's escapes: \t \\ \xHH \uXXXX.  Writes to out, returns the
 * length, or -1 for a malformed escape. */
static long unescape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (o + 4 >= cap)
            return -1;
        if (*p != '\\') {
            out[o++] = *p;
            continue;
        }
        p++;
        if (*p == 't') {
            out[o++] = '\t';
        } else if (*p == '\\') {
            out[o++] = '\\';
        } else if (*p == 'x' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else if (*p == 'u') {
            unsigned cp = 0;
            for (int i = 1; i <= 4; i++) {
                if (hexval(p[i]) < 0)
                    return -1;
                cp = cp * 16 + (unsigned)hexval(p[i]);
            }
            p += 4;
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | cp >> 6);
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xE0 | cp >> 12);
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
        } else {
            return -1;
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* "kind:value kind:value" for the findings, as the table writes them. */
static void describe(const struct esc_pii_list *l, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    if (l->n == 0)
        snprintf(buf, cap, "-");
    for (size_t i = 0; i < l->n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s:%s", i ? " " : "",
                              esc_pii_kind_name(l->items[i].kind), l->items[i].value);
}

/* Each finding's value checked by this file's own arithmetic. */
static bool value_checks(const struct esc_pii_finding *f)
{
    size_t n = strlen(f->value);
    switch (f->kind) {
    case ESC_PII_PHONE:
        return n == 11 && f->value[0] == '1' && f->value[1] >= '3';
    case ESC_PII_ID_NUMBER:
        return n == 15 || (n == 18 && gb11643_check(f->value) == f->value[17]);
    case ESC_PII_BANK_CARD:
        return n >= 12 && n <= 19 && luhn(f->value);
    case ESC_PII_EMAIL:
        return strchr(f->value, '@') != NULL;
    }
    return false;
}

/* The masked text rebuilt from mask.h's functions: each finding's value
 * (an email's text as written) through its esc_mask_*. */
static char *mask_with_mask_h(const char *text, size_t len, const struct esc_pii_list *l)
{
    size_t cap = len * 2 + 64, o = 0, pos = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (size_t i = 0; i < l->n; i++) {
        const struct esc_pii_finding *f = &l->items[i];
        memcpy(out + o, text + pos, f->offset - pos);
        o += f->offset - pos;
        char *m = NULL;
        if (f->kind == ESC_PII_PHONE) {
            m = esc_mask_phone(f->value);
        } else if (f->kind == ESC_PII_ID_NUMBER) {
            m = esc_mask_id_number(f->value);
        } else if (f->kind == ESC_PII_BANK_CARD) {
            m = esc_mask_bank_card(f->value);
        } else {
            char *span = strndup(text + f->offset, f->length);
            m = esc_mask_email(span);
            free(span);
        }
        assert_non_null(m);
        memcpy(out + o, m, strlen(m));
        o += strlen(m);
        free(m);
        pos = f->offset + f->length;
    }
    memcpy(out + o, text + pos, len - pos);
    o += len - pos;
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------- the table */

static void test_cases_table(void **state)
{
    (void)state;
    FILE *f = open_data("pii_cases.tsv");
    static char line[MAX_LINE], text[MAX_LINE], want[MAX_LINE], got[MAX_LINE];
    int lineno = 0, rows = 0, failures = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *c1 = strchr(line, '\t'), *c2 = c1 ? strchr(c1 + 1, '\t') : NULL;
        if (!c2)
            fail_msg("pii_cases.tsv:%d: expected 3 columns", lineno);
        *c1 = *c2 = '\0';
        const char *findings = c1 + 1, *masked = c2 + 1;
        long len = unescape(line, text, sizeof text);
        long wlen = strcmp(masked, "=") == 0 ? len : unescape(masked, want, sizeof want);
        if (len < 0 || wlen < 0)
            fail_msg("pii_cases.tsv:%d: bad escape", lineno);
        if (strcmp(masked, "=") == 0)
            memcpy(want, text, (size_t)len + 1);
        rows++;

        struct esc_pii_list l = {0}, again = {0};
        esc_error_t err = {0};
        assert_int_equal(esc_pii_scan(text, (size_t)len, &l, &err), 0);
        describe(&l, got, sizeof got);
        if (strcmp(got, findings) != 0) {
            print_error("pii_cases.tsv:%d: found \"%s\", want \"%s\"\n", lineno, got, findings);
            failures++;
        }
        for (size_t i = 0; i < l.n; i++) {
            if (!value_checks(&l.items[i])) {
                print_error("pii_cases.tsv:%d: %s %s fails its own check\n", lineno,
                            esc_pii_kind_name(l.items[i].kind), l.items[i].value);
                failures++;
            }
        }
        size_t mlen = 0;
        char *m = esc_pii_mask(text, (size_t)len, &l, &mlen, &err);
        assert_non_null(m);
        if (mlen != (size_t)wlen || memcmp(m, want, mlen) != 0) {
            print_error("pii_cases.tsv:%d: masked \"%s\", want \"%s\"\n", lineno, m, want);
            failures++;
        }
        char *rebuilt = mask_with_mask_h(text, (size_t)len, &l);
        if (strlen(rebuilt) != mlen || memcmp(rebuilt, m, mlen) != 0) {
            print_error("pii_cases.tsv:%d: mask.h gives \"%s\", esc_pii_mask \"%s\"\n", lineno,
                        rebuilt, m);
            failures++;
        }
        assert_int_equal(esc_pii_scan(m, mlen, &again, &err), 0);
        if (again.n != 0) {
            describe(&again, got, sizeof got);
            print_error("pii_cases.tsv:%d: the masked text still holds %s\n", lineno, got);
            failures++;
        }
        /* The convenience form agrees (no row holds a NUL). */
        char *m2 = esc_pii_mask_text(text, &err);
        assert_non_null(m2);
        assert_string_equal(m2, m);
        free(m2);
        free(rebuilt);
        free(m);
        esc_pii_list_free(&l);
        esc_pii_list_free(&again);
    }
    fclose(f);
    assert_true(rows >= 100);
    assert_int_equal(failures, 0);
}

/* ---------------------------------------------------------- single values */

struct value_case {
    const char *in;
    const char *want; /* normalised, or NULL when invalid */
};

static void test_id_number(void **state)
{
    (void)state;
    static const struct value_case cases[] = {
        {"110101199003071233", "110101199003071233"},
        {"44030419851231002X", "44030419851231002X"},
        {"44030419851231002x", "44030419851231002X"}, /* lower-case x accepted */
        {"４４０３０４１９８５１２３１００２Ｘ", "44030419851231002X"},
        {"110101900307123", "110101900307123"},         /* legacy, 1990-03-07 */
        {"110101960229123", "110101960229123"},         /* 1996-02-29 */
        {"110101200002291002", "110101200002291002"},   /* 2000 is a leap year */
        {"110101209912311050", "110101209912311050"},   /* 2099: the last year */
        {"110101199003071234", NULL},                   /* wrong check digit */
        {"110101199003071235", NULL},
        {"11010119900307123X", NULL},                   /* X where 3 is due */
        {"44030419851231002Y", NULL},
        {"110101190002291006", NULL}, /* 1900-02-29: valid check, no such day */
        {"110101202302291003", NULL}, /* 2023-02-29 */
        {"110101199013070007", NULL}, /* month 13 */
        {"110101189903070018", NULL}, /* 1899 */
        {"110101210001011004", NULL}, /* 2100 */
        {"110101900230123", NULL},    /* 1990-02-30 */
        {"110101000229123", NULL},    /* 1900-02-29 */
        {"11010119900307123", NULL},  /* 17 */
        {"1101011990030712331", NULL}, /* 19 */
        {"11010190030712", NULL},     /* 14 */
        {"110101 199003071233", NULL}, /* a value has no separators */
        {" 110101199003071233", NULL},
        {"110101199003071233 ", NULL},
        {"X10101199003071233", NULL},
        {"11010119900307X233", NULL},
        {"11010190030712X", NULL},    /* legacy numbers have no X */
        {"", NULL},
        {"身份证", NULL},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[19];
        int rc = esc_id_number_normalise(cases[i].in, out);
        int ok = cases[i].want ? rc == 0 && strcmp(out, cases[i].want) == 0
                               : rc == -1 && out[0] == '\0';
        ok = ok && esc_id_number_valid(cases[i].in) == (cases[i].want != NULL);
        if (!ok) {
            print_error("id_number \"%s\": rc %d \"%s\", want %s\n", cases[i].in, rc, out,
                        cases[i].want ? cases[i].want : "invalid");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    assert_false(esc_id_number_valid(NULL));
}

static void test_id_check_char(void **state)
{
    (void)state;
    /* The table of weights against 2^(17-i) mod 11, on 20000 numbers. */
    uint64_t x = 88172645463325252ULL;
    char d[18];
    for (int n = 0; n < 20000; n++) {
        for (int i = 0; i < 17; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            d[i] = (char)('0' + x % 10);
        }
        d[17] = '\0';
        assert_int_equal(esc_id_number_check_char(d), gb11643_check(d));
    }
    assert_int_equal(esc_id_number_check_char("11010119900307123"), '3');
    assert_int_equal(esc_id_number_check_char("44030419851231002"), 'X');
    assert_int_equal(esc_id_number_check_char("1101011990030712"), 0); /* 16 */
    assert_int_equal(esc_id_number_check_char("1101011990030712a"), 0);
    assert_int_equal(esc_id_number_check_char(NULL), 0);
}

static void test_luhn(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    char d[20];
    for (int n = 0; n < 20000; n++) {
        size_t len = 1 + n % 19;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            d[i] = (char)('0' + x % 10);
        }
        d[len] = '\0';
        assert_int_equal(esc_luhn_valid(d, len), luhn(d));
    }
    assert_true(esc_luhn_valid("6222021234567890128", 19));
    assert_true(esc_luhn_valid("4111111111111111", 16));
    assert_true(esc_luhn_valid("378282246310005", 15));
    assert_false(esc_luhn_valid("4111111111111112", 16));
    assert_false(esc_luhn_valid("41111111111111a1", 16));
    assert_false(esc_luhn_valid("", 0));
    assert_false(esc_luhn_valid(NULL, 3));
}

static void test_bank_card_field(void **state)
{
    (void)state;
    static const struct value_case cases[] = {
        {"6222021234567890128", "6222021234567890128"},
        {"6222 0212 3456 7890 128", "6222021234567890128"},
        {"6222-0212-3456-7890-128", "6222021234567890128"},
        {"６２２２\xe3\x80\x80０２１２－３４５６ ７８９０ １２８", "6222021234567890128"},
        {"4111111111111111", "4111111111111111"},
        {"622202123452", "622202123452"},                 /* 12 */
        /* the field does not require Luhn (pii.h says why) */
        {"6222021234567890129", "6222021234567890129"},
        {" 6222 0212 3456 7890 128 ", "6222021234567890128"},
        {"6222  0212--3456 7890 128", "6222021234567890128"},
        {"62220212345", NULL},            /* 11 */
        {"62220212345678901281", NULL},   /* 20 */
        {"6222 0212 3456 7890 128 0", NULL},
        {"6222.0212.3456.7890.128", NULL},
        {"6222/0212/3456/7890/128", NULL},
        {"6222021234567890128a", NULL},
        {"卡号6222021234567890128", NULL},
        {"", NULL},
        {"    ", NULL},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[20];
        int rc = esc_bank_card_normalise(cases[i].in, out);
        int ok = cases[i].want ? rc == 0 && strcmp(out, cases[i].want) == 0
                               : rc == -1 && out[0] == '\0';
        ok = ok && esc_bank_card_valid(cases[i].in) == (cases[i].want != NULL);
        if (!ok) {
            print_error("bank_card \"%s\": rc %d \"%s\", want %s\n", cases[i].in, rc, out,
                        cases[i].want ? cases[i].want : "invalid");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    assert_false(esc_bank_card_valid(NULL));
    /* A Luhn-failing card is a valid field but no finding in free text. */
    struct esc_pii_list l = {0};
    assert_int_equal(esc_pii_scan("6222021234567890129", 19, &l, NULL), 0);
    assert_int_equal(l.n, 0);
    esc_pii_list_free(&l);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(esc_pii_kind_name(ESC_PII_PHONE), "phone");
    assert_string_equal(esc_pii_kind_name(ESC_PII_ID_NUMBER), "id_number");
    assert_string_equal(esc_pii_kind_name(ESC_PII_BANK_CARD), "bank_card");
    assert_string_equal(esc_pii_kind_name(ESC_PII_EMAIL), "email");
}

/* ------------------------------------------------------------ hostile input */

static void test_offsets_and_nul(void **state)
{
    (void)state;
    /* A NUL is other text: the length is explicit. */
    static const char text[] = "a\0" "13812345678\0wang@example.com\0";
    size_t len = sizeof text - 1;
    struct esc_pii_list l = {0};
    esc_error_t err = {0};
    assert_int_equal(esc_pii_scan(text, len, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].kind, ESC_PII_PHONE);
    assert_int_equal(l.items[0].offset, 2);
    assert_int_equal(l.items[0].length, 11);
    assert_int_equal(l.items[1].kind, ESC_PII_EMAIL);
    assert_int_equal(l.items[1].offset, 14);
    assert_int_equal(l.items[1].length, 16);
    size_t mlen = 0;
    char *m = esc_pii_mask(text, len, &l, &mlen, &err);
    static const char want[] = "a\0" "138****5678\0w***@example.com\0";
    assert_int_equal(mlen, sizeof want - 1);
    assert_memory_equal(m, want, mlen);
    free(m);

    /* Findings are appended to what the list holds. */
    assert_int_equal(esc_pii_scan("+86 138 1234 5678", 17, &l, &err), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.items[2].offset, 0);
    assert_int_equal(l.items[2].length, 17);
    assert_string_equal(l.items[2].value, "13812345678");
    esc_pii_list_free(&l);
    assert_null(l.items);
    esc_pii_list_free(NULL);

    /* A text cut short: nothing is read past the length (ASan checks the
     * heap copies), a full-width digit cut in half is not a digit. */
    const char *src = "１３８１２３４５６７８";
    for (size_t cut = 0; cut <= strlen(src); cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, src, cut);
        assert_int_equal(esc_pii_scan(copy, cut, &l, &err), 0);
        assert_int_equal(l.n, cut == strlen(src) ? 1 : 0);
        char *mm = esc_pii_mask(copy, cut, &l, &mlen, &err);
        assert_non_null(mm);
        if (l.n == 0)
            assert_memory_equal(mm, copy, cut);
        free(mm);
        esc_pii_list_free(&l);
        free(copy);
    }
    assert_int_equal(esc_pii_scan(NULL, 5, &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(esc_pii_scan("x", 1, NULL, &err), -1);
    assert_int_equal(err.code, ESC_ERR_INTERNAL);
    assert_null(esc_pii_mask_text(NULL, NULL));
}

static void test_mask_refuses_lists_that_do_not_fit(void **state)
{
    (void)state;
    const char *text = "手机13812345678";
    size_t len = strlen(text);
    struct esc_pii_list l = {0};
    esc_error_t err = {0};
    assert_int_equal(esc_pii_scan(text, len, &l, &err), 0);
    assert_int_equal(l.n, 1);
    struct esc_pii_finding saved = l.items[0];

    l.items[0].length = len; /* past the end */
    assert_null(esc_pii_mask(text, len, &l, NULL, &err));
    assert_int_equal(err.code, ESC_ERR_INTERNAL);
    esc_error_clear(&err);
    l.items[0] = saved;
    l.items[0].offset = len + 1;
    assert_null(esc_pii_mask(text, len, &l, NULL, NULL));
    l.items[0] = saved;
    l.items[0].length = 0;
    assert_null(esc_pii_mask(text, len, &l, NULL, NULL));
    l.items[0] = saved;
    strcpy(l.items[0].value, "138"); /* too short to mask */
    assert_null(esc_pii_mask(text, len, &l, NULL, NULL));
    l.items[0] = saved;
    l.items[0].kind = ESC_PII_EMAIL; /* no '@' in the span */
    assert_null(esc_pii_mask(text, len, &l, NULL, NULL));
    l.items[0] = saved;
    assert_null(esc_pii_mask(NULL, 0, &l, NULL, NULL));

    /* Two that overlap, or out of order. */
    assert_int_equal(esc_pii_scan(text, len, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_null(esc_pii_mask(text, len, &l, NULL, NULL));
    esc_pii_list_free(&l);

    /* An empty list and a NULL list copy the text. */
    size_t mlen;
    char *m = esc_pii_mask(text, len, NULL, &mlen, &err);
    assert_non_null(m);
    assert_int_equal(mlen, len);
    assert_string_equal(m, text);
    free(m);
}

static void test_long_runs(void **state)
{
    (void)state;
    /* Inputs that would be slow for a scanner that backtracks: they must
     * come back (quickly; tests/fuzz times every input) and unchanged. */
    static const char *const unit[] = {"1 ", "1-", "1", "a@", "a.", "@a.", "***", "1*", "+86 ", "a"};
    size_t n = 200000;
    char *text = malloc(n + 1);
    for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++) {
        size_t ul = strlen(unit[u]);
        for (size_t i = 0; i < n; i++)
            text[i] = unit[u][i % ul];
        text[n] = '\0';
        struct esc_pii_list l = {0};
        assert_int_equal(esc_pii_scan(text, n, &l, NULL), 0);
        assert_int_equal(l.n, 0);
        esc_pii_list_free(&l);
    }
    /* Many findings in one text: 20000 phones. */
    for (size_t i = 0; i + 12 <= n; i += 12)
        memcpy(text + i, "13812345678 ", 12);
    struct esc_pii_list l = {0};
    assert_int_equal(esc_pii_scan(text, n / 12 * 12, &l, NULL), 0);
    assert_int_equal(l.n, n / 12);
    esc_pii_list_free(&l);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_table),
        cmocka_unit_test(test_id_number),
        cmocka_unit_test(test_id_check_char),
        cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_bank_card_field),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_offsets_and_nul),
        cmocka_unit_test(test_mask_refuses_lists_that_do_not_fit),
        cmocka_unit_test(test_long_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
