#include "core/jw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "core/time.h"
#include "core/utf8.h"

void sl_jw_init(struct sl_jw *w, struct sl_buf *b)
{
    w->b = b;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
    w->replaced = 0;
}

static void jw_sep(struct sl_jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth])
        sl_buf_putc(w->b, ',');
    w->first[w->depth] = false;
}

static void jw_open(struct sl_jw *w, char c)
{
    jw_sep(w);
    sl_buf_putc(w->b, c);
    if (w->depth < SL_JW_MAX_DEPTH - 1)
        w->depth++;
    w->first[w->depth] = true;
}

static void jw_close(struct sl_jw *w, char c)
{
    sl_buf_putc(w->b, c);
    if (w->depth > 0)
        w->depth--;
}

void sl_jw_obj_open(struct sl_jw *w)
{
    jw_open(w, '{');
}

void sl_jw_obj_close(struct sl_jw *w)
{
    jw_close(w, '}');
}

void sl_jw_arr_open(struct sl_jw *w)
{
    jw_open(w, '[');
}

void sl_jw_arr_close(struct sl_jw *w)
{
    jw_close(w, ']');
}

/* How each byte is written inside a JSON string: 0 as it is; 'u' as \u00XX (control bytes);
 * '"', '\\', 'n', 'r', 't' as a backslash and that letter; 'U' (bytes >= 0x80) as the UTF-8
 * sequence it starts when that is well-formed, else as U+FFFD. */
static const unsigned char jw_escape[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 't', 'n', 'u', 'u',  'r', 'u', 'u', /* 00 */
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',  'u', 'u', 'u', /* 10 */
    0,   0,   '"', 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,   /* 20 */
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,   /* 30 */
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,   /* 40 */
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\', 0,   0,   0,   /* 50 */
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,   /* 60 */
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,   /* 70 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* 80 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* 90 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* A0 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* B0 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* C0 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* D0 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* E0 */
    'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U', 'U',  'U', 'U', 'U', /* F0 */
};

/* Input bytes escaped per buffer reservation: a long string (a record body) never reserves its
 * worst case (6 bytes per byte) all at once. */
#define JW_ESCAPE_BLOCK 4096

size_t sl_json_escape(struct sl_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t replaced = 0, i = 0;
    sl_buf_putc(b, '"');
    while (i < n) {
        size_t end = n - i > JW_ESCAPE_BLOCK ? i + JW_ESCAPE_BLOCK : n;
        /* Worst case every byte becomes \u00XX; a sequence that starts before `end` and runs
         * past it is written in no more than the 6 bytes its first byte was given. */
        char *d = sl_buf_reserve(b, (end - i) * 6);
        char *start = d;
        while (i < end) {
            unsigned char c = p[i];
            unsigned char e = jw_escape[c];
            if (e == 0) {
                *d++ = (char)c;
                i++;
            } else if (e == 'U') {
                size_t len = sl_utf8_multi(p + i, n - i);
                if (len == 0) {
                    /* Not UTF-8: one U+FFFD per bad byte keeps the JSON valid for every
                     * reader without dropping the rest of the string. */
                    d[0] = (char)0xef;
                    d[1] = (char)0xbf;
                    d[2] = (char)0xbd;
                    d += 3;
                    i++;
                    replaced++;
                    continue;
                }
                d[0] = (char)c;
                d[1] = (char)p[i + 1];
                if (len > 2)
                    d[2] = (char)p[i + 2];
                if (len > 3)
                    d[3] = (char)p[i + 3];
                d += len;
                i += len;
            } else if (e == 'u') {
                d[0] = '\\';
                d[1] = 'u';
                d[2] = '0';
                d[3] = '0';
                d[4] = hex[c >> 4];
                d[5] = hex[c & 15];
                d += 6;
                i++;
            } else {
                d[0] = '\\';
                d[1] = (char)e;
                d += 2;
                i++;
            }
        }
        sl_buf_commit(b, (size_t)(d - start));
    }
    sl_buf_putc(b, '"');
    return replaced;
}

void sl_jw_key(struct sl_jw *w, const char *k)
{
    jw_sep(w);
    w->replaced += sl_json_escape(w->b, k, strlen(k));
    sl_buf_putc(w->b, ':');
    w->after_key = true;
}

void sl_jw_strn(struct sl_jw *w, const char *s, size_t n)
{
    jw_sep(w);
    w->replaced += sl_json_escape(w->b, s, n);
}

void sl_jw_str(struct sl_jw *w, const char *s)
{
    if (!s) {
        sl_jw_null(w);
        return;
    }
    sl_jw_strn(w, s, strlen(s));
}

void sl_jw_int(struct sl_jw *w, int64_t v)
{
    jw_sep(w);
    sl_buf_put_i64(w->b, v);
}

void sl_jw_uint(struct sl_jw *w, uint64_t v)
{
    jw_sep(w);
    sl_buf_put_u64(w->b, v);
}

void sl_jw_bool(struct sl_jw *w, bool v)
{
    jw_sep(w);
    sl_buf_puts(w->b, v ? "true" : "false");
}

void sl_jw_null(struct sl_jw *w)
{
    jw_sep(w);
    sl_buf_puts(w->b, "null");
}

void sl_jw_raw(struct sl_jw *w, const char *json, size_t n)
{
    jw_sep(w);
    sl_buf_append(w->b, json, n);
}

void sl_jw_b64(struct sl_jw *w, const void *data, size_t n)
{
    jw_sep(w);
    char *d = sl_buf_reserve(w->b, SL_B64_ENCODED_LEN(n) + 2);
    d[0] = '"';
    size_t len = sl_b64_encode(data, n, d + 1);
    d[len + 1] = '"';
    sl_buf_commit(w->b, len + 2);
}

void sl_jw_time(struct sl_jw *w, int64_t ms)
{
    char ts[32];
    sl_time_fmt_iso(ms, ts, sizeof(ts));
    sl_jw_str(w, ts);
}

void sl_jw_kstr(struct sl_jw *w, const char *k, const char *s)
{
    sl_jw_key(w, k);
    sl_jw_str(w, s);
}

void sl_jw_kstrn(struct sl_jw *w, const char *k, const char *s, size_t n)
{
    sl_jw_key(w, k);
    sl_jw_strn(w, s, n);
}

void sl_jw_kint(struct sl_jw *w, const char *k, int64_t v)
{
    sl_jw_key(w, k);
    sl_jw_int(w, v);
}

void sl_jw_kbool(struct sl_jw *w, const char *k, bool v)
{
    sl_jw_key(w, k);
    sl_jw_bool(w, v);
}

char *sl_json_text(const char *s)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_json_escape(&b, s, strlen(s));
    return sl_buf_steal(&b, NULL);
}
