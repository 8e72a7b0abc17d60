/* escalated — masking of customer data on output (SPEC section 7).  PURE.
 * Each function returns a new malloc'd string (free with free()), or NULL
 * when the input is NULL or allocation fails.  Input is UTF-8; masking counts
 * characters, never splits one.
 *
 *  phone:     the digits are kept in order, everything else dropped; first 3
 *             and last 4 digits shown, each other digit a '*':
 *             "13812345678" -> "138****5678", "+86 138-1234-5678" -> "861******5678".
 *             Fewer than 8 digits: only the last 2 are shown ("****67").
 *  id_number: first 3 and last 4 characters, each other one a '*';
 *             8 characters or fewer: only the last 2 shown.
 *  bank_card: the digits (ASCII or full-width U+FF10..U+FF19, written as
 *             ASCII) kept in order, everything else dropped; first 4 and
 *             last 4 shown, each other digit a '*' (SPEC section 9):
 *             "6222 0212 3456 7890 128" -> "6222***********0128".
 *             8 digits or fewer: only the last 2 shown.
 *  email:     first character of the local part, "***", then "@domain":
 *             "wang@example.com" -> "w***@example.com"; without '@': "***".
 *  text:      (the older, narrower form of esc_pii_mask_text in pii.h)
 *             free text (subject, description) with every run of 13-19 digits
 *             (spaces and '-' allowed between digits) that passes the Luhn
 *             check, i.e. a bank card number, replaced by its first 6 and
 *             last 4 digits with '*' between; other text unchanged.
 */
#ifndef ESCALATED_MASK_H
#define ESCALATED_MASK_H

#include <stddef.h>

char *esc_mask_phone(const char *s);
char *esc_mask_id_number(const char *s);
char *esc_mask_email(const char *s);
char *esc_mask_bank_card(const char *s);
char *esc_mask_text(const char *s);

/* Number of Unicode code points in a valid UTF-8 string. */
size_t esc_utf8_length(const char *s);

#endif
