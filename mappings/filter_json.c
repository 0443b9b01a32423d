/* JSON text read in place for the filter matcher: a validator that accepts exactly what
 * jansson's json_loadb accepts (RFC 8259, with jansson's limits: UTF-8, paired surrogates, no
 * NUL in keys, integers within json_int_t, no real overflow, depth 2048), and readers that walk
 * validated text without building a tree or allocating (except for a string over 256 bytes
 * with escapes, which is unescaped on the heap). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "mappings/filter_int.h"

#define JT_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

struct jt_scan {
    const char *p, *end;
    unsigned flags;
    int depth;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct jt_scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A string at s->p (the opening quote). *nul is set when it holds \u0000. */
static bool scan_string(struct jt_scan *s, bool *nul)
{
    const char *p = s->p + 1, *end = s->end;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            s->p = p + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (end - p < 2)
                return false;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6)
                    return false;
                int u = hex4(p + 2);
                if (u < 0)
                    return false;
                p += 6;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return false; /* a lone low surrogate */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                        return false;
                    int lo = hex4(p + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    p += 6;
                } else if (u == 0) {
                    *nul = true;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return false;
            p += 2;
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n = sl_utf8_multi((const unsigned char *)p, (size_t)(end - p));
        if (n == 0)
            return false;
        p += n;
    }
    return false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* jansson's lexer puts back the byte that ends a number or a literal, and a NUL byte put back
 * reads as the end of its buffer: that one NUL is skipped ("1\0" and "[true\0]" load). */
static const char *skip_put_back_nul(const char *p, const char *end)
{
    return p < end && *p == '\0' ? p + 1 : p;
}

/* A number at s->p, with jansson's range checks. */
static bool scan_number(struct jt_scan *s)
{
    const char *p = s->p, *end = s->end, *start = p;
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return false;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p))
            p++;
    }
    struct sl_fnum num;
    if (!sl_jt_number(start, (size_t)(p - start), &num))
        return false;
    s->p = skip_put_back_nul(p, end);
    return true;
}

static bool scan_value(struct jt_scan *s);

static bool scan_container(struct jt_scan *s, char close)
{
    if (++s->depth > JT_MAX_DEPTH)
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            bool nul = false;
            if (s->p >= s->end || *s->p != '"' || !scan_string(s, &nul) || nul)
                return false; /* jansson refuses NUL in keys */
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            s->p++;
            skip_ws(s);
        }
        if (!scan_value(s))
            return false;
        skip_ws(s);
        if (s->p >= s->end)
            return false;
        if (*s->p == close) {
            s->p++;
            s->depth--;
            return true;
        }
        if (*s->p != ',')
            return false;
        s->p++;
        skip_ws(s);
    }
}

static bool scan_literal(struct jt_scan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p = skip_put_back_nul(s->p + n, s->end);
    return true;
}

static bool scan_value(struct jt_scan *s)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{':
        return scan_container(s, '}');
    case '[':
        return scan_container(s, ']');
    case '"': {
        bool nul = false;
        return scan_string(s, &nul) && (!nul || (s->flags & SL_JT_ALLOW_NUL));
    }
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        return scan_number(s);
    }
}

bool sl_jt_validate(const char *text, size_t len, unsigned flags, struct sl_jv *out)
{
    struct jt_scan s = {.p = text, .end = text + len, .flags = flags};
    skip_ws(&s);
    if (s.p >= s.end)
        return false;
    if (!(flags & SL_JT_DECODE_ANY) && *s.p != '{' && *s.p != '[')
        return false;
    const char *start = s.p;
    if (!scan_value(&s))
        return false;
    skip_ws(&s);
    if (s.p != s.end)
        return false;
    sl_jt_value(start, text + len, out);
    return true;
}

/* ---- readers of validated text ---- */

static const char *skip_string(const char *p, bool *esc)
{
    for (p++;; p++) {
        if (*p == '\\') {
            *esc = true;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
}

static const char *skip_container(const char *p)
{
    int depth = 0;
    for (;;) {
        char c = *p;
        if (c == '"') {
            bool esc = false;
            p = skip_string(p, &esc);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return p + 1;
        p++;
    }
}

const char *sl_jt_value(const char *p, const char *end, struct sl_jv *v)
{
    memset(v, 0, sizeof(*v));
    v->p = p;
    v->end = end;
    switch (*p) {
    case '"': {
        const char *after = skip_string(p, &v->esc);
        v->t = SL_JV_STRING;
        v->p = p + 1;
        v->len = (size_t)(after - p - 2);
        return after;
    }
    case '{':
    case '[':
        v->t = *p == '{' ? SL_JV_OBJECT : SL_JV_ARRAY;
        return skip_container(p);
    case 't':
        v->t = SL_JV_TRUE;
        return skip_put_back_nul(p + 4, end);
    case 'f':
        v->t = SL_JV_FALSE;
        return skip_put_back_nul(p + 5, end);
    case 'n':
        v->t = SL_JV_NULL;
        return skip_put_back_nul(p + 4, end);
    default: {
        const char *q = p;
        while (q < end &&
               (is_digit(*q) || *q == '-' || *q == '+' || *q == '.' || *q == 'e' || *q == 'E'))
            q++;
        v->t = SL_JV_NUMBER;
        v->len = (size_t)(q - p);
        return skip_put_back_nul(q, end);
    }
    }
}

void sl_jt_iter_init(struct sl_jt_iter *it, const struct sl_jv *container)
{
    it->p = container->p + 1;
    it->end = container->end;
}

static const char *ws(const char *p)
{
    while (is_ws(*p))
        p++;
    return p;
}

bool sl_jt_next(struct sl_jt_iter *it, struct sl_jv *key, struct sl_jv *val)
{
    const char *p = ws(it->p);
    if (*p == ',')
        p = ws(p + 1);
    if (*p == '}' || *p == ']')
        return false;
    if (key) {
        p = sl_jt_value(p, it->end, key);
        p = ws(p);
        p = ws(p + 1); /* ':' */
    }
    it->p = sl_jt_value(p, it->end, val);
    return true;
}

bool sl_jt_get(const struct sl_jv *o, const char *key, size_t klen, struct sl_jv *out)
{
    struct sl_jt_iter it;
    struct sl_jv k, v;
    bool found = false;
    sl_jt_iter_init(&it, o);
    while (sl_jt_next(&it, &k, &v)) {
        bool same;
        if (!k.esc) {
            same = k.len == klen && memcmp(k.p, key, klen) == 0;
        } else {
            struct sl_jt_buf b;
            size_t n;
            const char *s = sl_jt_str(&k, &b, &n);
            same = n == klen && memcmp(s, key, klen) == 0;
            sl_jt_buf_release(&b);
        }
        if (same) {
            *out = v; /* the last one wins, as in jansson */
            found = true;
        }
    }
    return found;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

const char *sl_jt_str(const struct sl_jv *v, struct sl_jt_buf *b, size_t *len)
{
    b->heap = NULL;
    if (!v->esc) {
        *len = v->len;
        return v->p;
    }
    /* Decoded text is never longer than its escaped form. */
    char *o = v->len <= sizeof(b->stack) ? b->stack : (b->heap = malloc(v->len ? v->len : 1));
    if (!o) {
        *len = 0;
        return "";
    }
    const char *p = v->p, *end = v->p + v->len;
    size_t n = 0;
    while (p < end) {
        if (*p != '\\') {
            o[n++] = *p++;
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            unsigned cp = (unsigned)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo = (unsigned)hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: /* " \ / */
            o[n++] = e;
        }
    }
    *len = n;
    return o;
}

void sl_jt_buf_release(struct sl_jt_buf *b)
{
    free(b->heap);
    b->heap = NULL;
}

bool sl_jt_number(const char *p, size_t len, struct sl_fnum *out)
{
    bool real = memchr(p, '.', len) || memchr(p, 'e', len) || memchr(p, 'E', len);
    char stack[64], *tmp = len < sizeof(stack) ? stack : malloc(len + 1);
    if (!tmp)
        return false;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    bool ok = true;
    errno = 0;
    if (!real) {
        long long v = strtoll(tmp, NULL, 10);
        if (errno == ERANGE) {
            ok = false; /* jansson: "too big integer" */
        } else {
            out->is_int = true;
            out->i = v;
            out->d = (double)v;
        }
    } else {
        double d = strtod(tmp, NULL);
        if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)) {
            ok = false; /* jansson: "real number overflow" */
        } else {
            out->is_int = false;
            out->i = 0;
            out->d = d;
        }
    }
    if (tmp != stack)
        free(tmp);
    return ok;
}
