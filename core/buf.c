#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void sl_buf_init(struct sl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sl_buf_release(struct sl_buf *b)
{
    free(b->data);
    sl_buf_init(b);
}

void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *sl_buf_reserve(struct sl_buf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = sl_realloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void sl_buf_commit(struct sl_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

void sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    char *dst = sl_buf_reserve(b, n);
    if (n)
        memcpy(dst, p, n);
    sl_buf_commit(b, n);
}

void sl_buf_puts(struct sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}

void sl_buf_putc(struct sl_buf *b, char c)
{
    *sl_buf_reserve(b, 1) = c;
    sl_buf_commit(b, 1);
}

void sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    char *dst = sl_buf_reserve(b, 64);
    int n = vsnprintf(dst, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        dst = sl_buf_reserve(b, (size_t)n);
        vsnprintf(dst, b->cap - b->len, fmt, ap);
    }
    sl_buf_commit(b, (size_t)n);
}

void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sl_buf_consume(struct sl_buf *b, size_t n)
{
    if (n >= b->len) {
        sl_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *sl_buf_steal(struct sl_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    if (!p)
        p = sl_strdup("");
    sl_buf_init(b);
    return p;
}
