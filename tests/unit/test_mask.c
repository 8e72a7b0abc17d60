/* test_mask.c — lib/mask.c: the masks of SPEC section 7 (phone, identity
 * number, email), of the bank_card field (SPEC section 9) and of bank card
 * numbers in free text, counted in UTF-8 characters, never splitting one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/mask.h"

struct mask_case {
    const char *in;
    const char *want;
};

static void run_cases(const char *what, char *(*mask)(const char *), const struct mask_case *c,
                      size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char *got = mask(c[i].in);
        if (!got || strcmp(got, c[i].want) != 0) {
            print_error("%s(\"%s\") = \"%s\", want \"%s\"\n", what, c[i].in, got ? got : "(null)",
                        c[i].want);
            failures++;
        }
        free(got);
    }
    assert_int_equal(failures, 0);
    assert_null(mask(NULL));
}

#define RUN(fn, cases) run_cases(#fn, fn, cases, sizeof cases / sizeof cases[0])

static void test_phone(void **state)
{
    (void)state;
    static const struct mask_case cases[] = {
        {"13812345678", "138****5678"},           /* SPEC 7 */
        {"+86 138-1234-5678", "861******5678"},   /* digits only, in order */
        {"(010) 6552-9988", "010****9988"},
        {"+1 (212) 555-0123", "121****0123"},
        {"12345678", "123*5678"},                 /* 8 digits: 3 + 4 shown */
        {"1234567", "*****67"},                   /* fewer: the last 2 */
        {"123456", "****56"},
        {"电话 555-1234 转 8", "555*2348"},           /* non-digits dropped, UTF-8 too */
        {"123", "*23"},
        {"12", "*2"},                             /* never the whole value */
        {"1", "*"},
        {"", ""},
        {"unknown", ""},
        {"\xef\xbc\x91\xef\xbc\x93\xef\xbc\x98", ""}, /* full-width digits are not ASCII digits */
    };
    RUN(esc_mask_phone, cases);
}

static void test_id_number(void **state)
{
    (void)state;
    static const struct mask_case cases[] = {
        {"110101199003071234", "110***********1234"},
        {"11010119900307123X", "110***********123X"},
        {"E12345678", "E12**5678"},           /* 9 characters: 3 + 4 shown */
        {"12345678", "******78"},             /* 8 or fewer: the last 2 */
        {"G1234", "***34"},
        {"AB", "*B"},
        {"A", "*"},
        {"", ""},
        {"护照号码ABC1234", "护照号****1234"},   /* characters, not bytes */
        {"张三丰李四王五", "*****王五"},
        {"身份证号码一二三四五六七八九", "身份证*******六七八九"},
        {"😀😀😀xy1234", "😀😀😀**1234"},            /* 4-byte characters */
    };
    RUN(esc_mask_id_number, cases);
}

static void test_email(void **state)
{
    (void)state;
    static const struct mask_case cases[] = {
        {"wang@example.com", "w***@example.com"}, /* SPEC 7 */
        {"w@example.com", "w***@example.com"},
        {"li.na+tickets@mail.example.cn", "l***@mail.example.cn"},
        {"王小明@例子.中国", "王***@例子.中国"},     /* a whole UTF-8 character */
        {"@example.com", "***@example.com"},
        {"\"a@b\"@example.com", "\"***@example.com"}, /* the last '@' starts the domain */
        {"a@", "a***@"},
        {"no-at-sign", "***"},
        {"", "***"},
    };
    RUN(esc_mask_email, cases);
}

static void test_bank_card(void **state)
{
    (void)state;
    static const struct mask_case cases[] = {
        {"6222021234567890128", "6222***********0128"},     /* SPEC 9: first 4, last 4 */
        {"6222 0212 3456 7890 128", "6222***********0128"}, /* digits only, in order */
        {"6222-0212-3456-7890-128", "6222***********0128"},
        {"4111111111111111", "4111********1111"},
        {"622202123452", "6222****3452"},                   /* 12 */
        {"\xef\xbc\x96\xef\xbc\x92\xef\xbc\x92\xef\xbc\x92 0212 3456 7890 128",
         "6222***********0128"},                            /* full-width digits count */
        {"卡号6222021234567890128", "6222***********0128"},
        {"123456789", "1234*6789"},                         /* 9: 4 + 4 shown */
        {"12345678", "******78"},                           /* 8 or fewer: the last 2 */
        {"1234", "**34"},
        {"1", "*"},
        {"", ""},
        {"no digits", ""},
        {"\xef\xbc", ""},                                   /* a cut full-width digit */
    };
    RUN(esc_mask_bank_card, cases);
}

static void test_text(void **state)
{
    (void)state;
    static const struct mask_case cases[] = {
        {"card 4111111111111111 please", "card 411111******1111 please"},
        {"4111 1111 1111 1111", "411111******1111"},
        {"4111-1111-1111-1111", "411111******1111"},
        {"4111 1111-1111 1111.", "411111******1111."},
        {"卡号：4111 1111 1111 1111，谢谢", "卡号：411111******1111，谢谢"},
        {"订单6222021234567890128付款失败", "订单622202*********0128付款失败"}, /* 19 digits */
        {"622202020011223349", "622202********3349"},                    /* 18 */
        {"Amex 378282246310005", "Amex 378282*****0005"},                /* 15 */
        {"4222222222222", "422222***2222"},                              /* 13 */
        {"two: 4111111111111111 and 5200000000000007!", "two: 411111******1111 and 520000******0007!"},
        {"4111111111111111-", "411111******1111-"},                      /* separator not part of it */
        {" 4111111111111111 ", " 411111******1111 "},
        /* left alone */
        {"4111111111111112", "4111111111111112"},         /* fails the Luhn check */
        {"4111 1111 1111 1112", "4111 1111 1111 1112"},
        {"12345678901234567894", "12345678901234567894"}, /* 20 digits, Luhn-valid */
        {"422222222222", "422222222222"},                 /* 12 digits */
        {"4111  1111 1111 1111", "4111  1111 1111 1111"}, /* two spaces end a run */
        {"4111_1111_1111_1111", "4111_1111_1111_1111"},
        {"电话13812345678，订单号2026112300012", "电话13812345678，订单号2026112300012"},
        {"客户于2026-11-23投诉，金额1234.56元", "客户于2026-11-23投诉，金额1234.56元"},
        {"无数字的中文文本", "无数字的中文文本"},
        {"", ""},
    };
    RUN(esc_mask_text, cases);
}

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(esc_utf8_length(NULL), 0);
    assert_int_equal(esc_utf8_length(""), 0);
    assert_int_equal(esc_utf8_length("abc"), 3);
    assert_int_equal(esc_utf8_length("é"), 1);
    assert_int_equal(esc_utf8_length("中文"), 2);
    assert_int_equal(esc_utf8_length("😀"), 1);
    assert_int_equal(esc_utf8_length("a中😀é"), 4);
    assert_int_equal(esc_utf8_length("客户投诉：网点服务态度差"), 12);
    /* A 200-character Chinese subject is 600 bytes. */
    char buf[601];
    for (int i = 0; i < 200; i++)
        memcpy(buf + 3 * i, "投", 3);
    buf[600] = '\0';
    assert_int_equal(strlen(buf), 600);
    assert_int_equal(esc_utf8_length(buf), 200);
    /* Malformed input: each stray byte counts once, nothing is overrun. */
    assert_int_equal(esc_utf8_length("\xe4\xb8"), 2); /* truncated sequence */
    assert_int_equal(esc_utf8_length("\x80x"), 2);
    char *m = esc_mask_id_number("\xe4\xb8");
    assert_non_null(m);
    assert_string_equal(m, "*\xb8");
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_id_number),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_bank_card),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_utf8_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
