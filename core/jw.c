#include "core/jw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "core/time.h"

void sl_jw_init(struct sl_jw *w, struct sl_buf *b)
{
    w->b = b;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
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

void sl_json_escape(struct sl_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. */
    char *d = sl_buf_reserve(b, n * 6 + 2);
    char *start = d;
    *d++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *d++ = '\\';
            *d++ = '"';
            break;
        case '\\':
            *d++ = '\\';
            *d++ = '\\';
            break;
        case '\n':
            *d++ = '\\';
            *d++ = 'n';
            break;
        case '\r':
            *d++ = '\\';
            *d++ = 'r';
            break;
        case '\t':
            *d++ = '\\';
            *d++ = 't';
            break;
        default:
            if (c < 0x20) {
                memcpy(d, "\\u00", 4);
                d[4] = hex[c >> 4];
                d[5] = hex[c & 15];
                d += 6;
            } else {
                *d++ = (char)c;
            }
        }
    }
    *d++ = '"';
    sl_buf_commit(b, (size_t)(d - start));
}

void sl_jw_key(struct sl_jw *w, const char *k)
{
    jw_sep(w);
    sl_json_escape(w->b, k, strlen(k));
    sl_buf_putc(w->b, ':');
    w->after_key = true;
}

void sl_jw_strn(struct sl_jw *w, const char *s, size_t n)
{
    jw_sep(w);
    sl_json_escape(w->b, s, n);
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
