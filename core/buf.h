/* A growing byte buffer, always NUL-terminated after its content. */
#ifndef SL_CORE_BUF_H
#define SL_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
};

void sl_buf_init(struct sl_buf *b);
void sl_buf_release(struct sl_buf *b);
void sl_buf_reset(struct sl_buf *b);
/* Makes room for n more bytes and returns where they go (the caller then calls sl_buf_commit). */
char *sl_buf_reserve(struct sl_buf *b, size_t n);
void sl_buf_commit(struct sl_buf *b, size_t n);
void sl_buf_append(struct sl_buf *b, const void *p, size_t n);
void sl_buf_puts(struct sl_buf *b, const char *s);
void sl_buf_putc(struct sl_buf *b, char c);
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal text of v, two digits per step from a table (no printf: these run per record). */
void sl_buf_put_u64(struct sl_buf *b, uint64_t v);
void sl_buf_put_i64(struct sl_buf *b, int64_t v);
/* Writes the decimal text of v at dst (room for 20 bytes) and returns its length. */
size_t sl_u64_to_dec(uint64_t v, char *dst);
/* Drops the first n bytes. */
void sl_buf_consume(struct sl_buf *b, size_t n);
/* Hands the storage to the caller (who frees it) and leaves b empty. */
char *sl_buf_steal(struct sl_buf *b, size_t *len);

#endif
