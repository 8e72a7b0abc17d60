/* text.c — a growable text buffer (Prometheus text, CSV, rendered pages). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"


static int text_reserve(struct escp_text *t, size_t more)
{
    if (t->failed)
        return -1;
    if (t->len + more + 1 <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) {
        t->failed = true;
        return -1;
    }
    t->p = p;
    t->cap = cap;
    return 0;
}

void escp_text_put(struct escp_text *t, const char *s, size_t n)
{
    if (text_reserve(t, n) != 0)
        return;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}


void escp_text_printf(struct escp_text *t, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        escp_text_put(t, small, (size_t)n);
        return;
    }
    if (text_reserve(t, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

char *escp_text_take(struct escp_text *t, size_t *len)
{
    char *p = NULL;
    if (!t->failed) {
        if (!t->p && text_reserve(t, 0) == 0)
            t->p[0] = '\0';
        p = t->p;
        *len = t->len;
        t->p = NULL;
    }
    escp_text_free(t);
    return p;
}

void escp_text_free(struct escp_text *t)
{
    free(t->p);
    memset(t, 0, sizeof *t);
}

