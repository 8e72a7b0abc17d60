/* text.h — a growable text buffer. */
#ifndef ESCALATED_BASE_TEXT_H
#define ESCALATED_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct escp_text {
    char *p;      /* NUL-terminated; owned; NULL until something is written */
    size_t len, cap;
    bool failed;  /* an allocation failed: the text is incomplete */
};
void escp_text_printf(struct escp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void escp_text_put(struct escp_text *t, const char *s, size_t n);
/* Hands over the text (caller frees) and resets *t; NULL if it failed. */
char *escp_text_take(struct escp_text *t, size_t *len);
void escp_text_free(struct escp_text *t);

#endif
