/* A growing byte buffer, always NUL-terminated after its content. */
#ifndef SL_CORE_BUF_H
#define SL_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
};

void sl_buf_init(struct sl_buf *b);
void sl_buf_release(struct sl_buf *b);
void sl_buf_reset(struct sl_buf *b);
/* Grows the storage to hold n more bytes and the NUL (the slow path of sl_buf_reserve). */
void sl_buf_grow(struct sl_buf *b, size_t n);

/* The writers below are inline: encoders call them several times per record. */

/* Makes room for n more bytes and returns where they go (the caller then calls sl_buf_commit). */
static inline char *sl_buf_reserve(struct sl_buf *b, size_t n)
{
    if (b->len + n + 1 > b->cap)
        sl_buf_grow(b, n);
    return b->data + b->len;
}

static inline void sl_buf_commit(struct sl_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    char *dst = sl_buf_reserve(b, n);
    if (n)
        memcpy(dst, p, n);
    sl_buf_commit(b, n);
}

static inline void sl_buf_puts(struct sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}

static inline void sl_buf_putc(struct sl_buf *b, char c)
{
    *sl_buf_reserve(b, 1) = c;
    sl_buf_commit(b, 1);
}

/* A string literal, its length known at compile time. */
#define SL_BUF_LIT(b, s) sl_buf_append((b), "" s, sizeof(s) - 1)
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal text of v, two digits per step from a table (no printf: these run per record). */
void sl_buf_put_u64(struct sl_buf *b, uint64_t v);
void sl_buf_put_i64(struct sl_buf *b, int64_t v);
/* Writes the decimal text of v at dst (room for 20 bytes) and returns its length. */
size_t sl_u64_to_dec(uint64_t v, char *dst);
/* The same for a signed value (room for 21 bytes: a '-' first when negative). */
size_t sl_i64_to_dec(int64_t v, char *dst);

/* Unchecked writers for encoders that reserve (sl_buf_reserve) the most a record can take once,
 * then write its parts at a cursor and commit the length: one bound check per record, not one
 * per part. Each returns the cursor after what it wrote. */
static inline char *sl_put_mem(char *d, const void *p, size_t n)
{
    memcpy(d, p, n);
    return d + n;
}

/* A string literal, its length known at compile time. */
#define SL_PUT_LIT(d, s) sl_put_mem((d), "" s, sizeof(s) - 1)

static inline char *sl_put_i64(char *d, int64_t v)
{
    return d + sl_i64_to_dec(v, d);
}
/* Drops the first n bytes. */
void sl_buf_consume(struct sl_buf *b, size_t n);
/* Hands the storage to the caller (who frees it) and leaves b empty. */
char *sl_buf_steal(struct sl_buf *b, size_t *len);

#endif
