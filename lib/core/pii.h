/* escalated — personal data in free text, and the identity and bank card
 * number rules (issue 8).  PURE: no I/O, no clock, no global state.
 *
 * ---------------------------------------------------------------- values
 * Characters.  A "digit" is an ASCII digit or a full-width one (U+FF10..
 * U+FF19, what a Chinese input method types); an "X" is X, x, U+FF38 or
 * U+FF58; a "separator" is an ASCII space or '-', U+00A0, U+3000 (the
 * ideographic space) or U+FF0D (full-width hyphen-minus).  Normalised values
 * are ASCII: digits half-width, the X upper case.
 *
 * Identity number (GB 11643-1999, the 居民身份证号码):
 *   - 18 characters: 17 digits and a check character, a digit or X.  The
 *     check character is ISO 7064 MOD 11-2 of the 17 digits (weights 7 9 10
 *     5 8 4 2 1 6 3 7 9 10 5 8 4 2; sum mod 11 -> "10X98765432"), and
 *     characters 7-14 are a real birth date YYYYMMDD with the year in
 *     1900..2099.  Lower-case x is accepted (people type it) and normalised
 *     to X.
 *   - 15 digits, the legacy number issued until 1999: characters 7-12 are a
 *     real date 19YYMMDD.  It has no check digit.
 *   The region code (characters 1-6) is not checked: the list changes, and
 *   a number with a valid check digit and birth date is personal data either
 *   way.  As a single value (the field) it is the 18 or 15 characters
 *   alone, without separators.
 *
 * Bank card (the customer field `bank_card`): 12..19 digits, with any number
 * of separators anywhere.  The FIELD does not require the Luhn check: most
 * cards pass it (UnionPay 62..., Visa, Mastercard), but some Chinese bank
 * cards (older domestic debit cards, some issued by rural and city banks)
 * do not, and refusing a customer's real card at intake is worse than
 * storing a mistyped one.  FREE TEXT does require Luhn (below): there a
 * 12..19-digit run is far more often an order or tracking number.
 *
 * ---------------------------------------------------------------- free text
 * esc_pii_scan finds, in UTF-8 text (one pass for addresses, then one for
 * the digits):
 *
 *   email      local@domain, ASCII (the practical subset of RFC 5322 that
 *              real addresses use).  The local part is the run of
 *              A-Z a-z 0-9 . _ % + - before the '@' (full-width letters and
 *              digits count too, normalised to ASCII): 1..64 characters,
 *              not ending in a dot; leading dots are text, and a double dot
 *              ends it ("a..b@x.cn" is "b@x.cn").  A longer run is no
 *              address.  The domain is two or more labels of A-Z a-z 0-9 -
 *              (1..63 each, no leading or trailing '-'), at most 253 bytes,
 *              the last (top-level) one taken as its leading letters, two
 *              or more: "wang@example.com123" is "wang@example.com"
 *              followed by "123".  IDN (U-labels, and "xn--" top-level
 *              labels beyond their "xn") are not recognised.  The value is
 *              the address with the domain in lower case.
 *   digits     a "group" is a maximal run of digits; groups joined by
 *              exactly one separator form a "run".  A finding is made of
 *              whole consecutive groups of one run, so a number is never
 *              taken out of the middle of a longer one: a 20-digit order
 *              number is not a 19-digit card, and a 12-digit run is not a
 *              phone.  The accepted shapes (group lengths) are:
 *     id_number   18 characters as one group or 6-8-4 (the last may end in
 *                 X, which must not be followed by a letter or digit);
 *                 15 digits as one group or 6-6-3.  Rules above.
 *     phone       a mainland mobile number: 11 digits 1[3-9]xxxxxxxxx, as
 *                 one group or 3-4-4; optionally after +86 (any separator or
 *                 none), 0086 (any or none) or 86 followed by a hyphen.
 *                 The finding covers the prefix; the value is the 11 digits.
 *     bank_card   12..19 digits passing the Luhn check, as one group, or as
 *                 groups of which the first has 4 digits, the middle ones
 *                 4..6 and the last 2..6 (4-4-4-4, 4-4-4-4-3, 4-6-5).
 *
 * Precedence.  Emails first: digits inside an address are part of it
 * ("13812345678@qq.com" is one email).  Then, at each group from the left,
 * the candidate spanning the most groups wins; among candidates spanning
 * the same groups: an 18-character identity number (valid check character
 * and birth date) before a phone before a 15-digit identity number before a
 * card.  So an 18-digit number with a valid GB 11643 check is an identity
 * number even when it also passes Luhn; an 18-digit number with a wrong
 * check character is a card if it passes Luhn, else nothing.  Consequences
 * worth knowing: any 11-digit 1[3-9] group is a phone, amounts included
 * ("13500000000元"); about one order number in ten of 12..19 digits passes
 * Luhn and is masked as a card.
 *
 * Already masked text is left alone, so masking is idempotent: a group with
 * '*' between digits ("138****5678") is never part of a finding, and an
 * address whose local part ends in "***" ("w***@example.com") is neither a
 * finding nor scanned for digits, and a '*' between the characters of a
 * local part makes it no address.  (Stars around a number or an address,
 * as Markdown's "**13812345678**", are only text.)
 *
 * Masked forms (esc_pii_mask): phone "138****5678" (the prefix dropped);
 * identity number as esc_mask_id_number, first 3 and last 4
 * ("110***********1233"); card as esc_mask_bank_card, first 4 and last 4
 * ("6222***********0128"); email as esc_mask_email, "w***@example.com"
 * (the domain as written).  Masked forms are ASCII except an email's first
 * character, which is copied whole, so valid UTF-8 stays valid.
 *
 * Robustness.  Input is any bytes (NUL included: the length is explicit);
 * invalid UTF-8 is read as other text, never read past `len`.  The scan is
 * linear: each byte is examined a bounded number of times (the walks back
 * from two '@' never overlap, forward at most 253 bytes, 5 groups ahead).
 *
 * Ownership.  esc_pii_scan appends to *out (which starts zeroed or holds
 * earlier findings); esc_pii_list_free frees its items (NULL-safe) and
 * zeroes it.  esc_pii_mask and esc_pii_mask_text return a new
 * NUL-terminated string (free with free()).
 */
#ifndef ESCALATED_PII_H
#define ESCALATED_PII_H

#include <stddef.h>

#include "base/error.h"

enum esc_pii_kind { ESC_PII_PHONE, ESC_PII_ID_NUMBER, ESC_PII_BANK_CARD, ESC_PII_EMAIL };

/* 64-character local part + '@' + 253-byte domain + NUL */
#define ESC_PII_VALUE_MAX 320

struct esc_pii_finding {
    enum esc_pii_kind kind;
    size_t offset; /* bytes into the text */
    size_t length; /* bytes */
    char value[ESC_PII_VALUE_MAX]; /* normalised, NUL-terminated */
};

struct esc_pii_list {
    struct esc_pii_finding *items; /* sorted by offset, never overlapping */
    size_t n, cap;
};

/* "phone", "id_number", "bank_card", "email" */
const char *esc_pii_kind_name(enum esc_pii_kind kind);

/* Appends the findings in text[0..len) to *out.  -1 (ESC_ERR_INTERNAL) only
 * when memory runs out; *out then holds what it held before. */
int esc_pii_scan(const char *text, size_t len, struct esc_pii_list *out, esc_error_t *err);
void esc_pii_list_free(struct esc_pii_list *list);

/* text with each finding of `found` (from esc_pii_scan of the same text)
 * replaced by its masked form; byte-identical when there is none.  *out_len
 * (may be NULL) gets the length.  NULL with ESC_ERR_INTERNAL when memory
 * runs out or `found` does not fit the text (out of bounds, unsorted or
 * overlapping). */
char *esc_pii_mask(const char *text, size_t len, const struct esc_pii_list *found,
                   size_t *out_len, esc_error_t *err);
/* esc_pii_scan + esc_pii_mask of a NUL-terminated string; NULL for NULL. */
char *esc_pii_mask_text(const char *text, esc_error_t *err);

/* Single values (a whole string; rules above).  The *_valid functions
 * return 1 or 0; the *_normalise ones 0 and the ASCII value in `out`, or -1
 * (out then holds ""). */
int esc_id_number_valid(const char *s);
int esc_id_number_normalise(const char *s, char out[19]);
int esc_bank_card_valid(const char *s);
int esc_bank_card_normalise(const char *s, char out[20]);

/* The GB 11643 check character ('0'..'9' or 'X') of 17 ASCII digits; 0 when
 * they are not 17 ASCII digits. */
char esc_id_number_check_char(const char *digits17);
/* Luhn (ISO/IEC 7812) over n ASCII digits; 0 for n == 0 or a non-digit. */
int esc_luhn_valid(const char *digits, size_t n);

#endif
