#include "core/json_check.h"

#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

typedef const unsigned char *ptr;

static bool fail(struct sl_json_check_err *err, ptr start, ptr at, const char *what)
{
    if (err) {
        err->pos = (size_t)(at - start);
        err->what = what;
    }
    return false;
}

static ptr skip_ws(ptr p, ptr end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The code unit of the \uXXXX escape at p (p[0] == '\\', p[1] == 'u'), or -1. */
static long u_escape(ptr p, ptr end)
{
    if (end - p < 6)
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* p is at the opening quote: returns the byte after the closing one, or NULL with *at and
 * *what set. */
static ptr scan_string(ptr p, ptr end, ptr *at, const char **what)
{
    p++;
    for (;;) {
        /* The common case: plain ASCII. */
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p == end) {
            *at = p;
            *what = "the string is not closed";
            return NULL;
        }
        unsigned char c = *p;
        if (c == '"')
            return p + 1;
        if (c < 0x20) {
            *at = p;
            *what = "a control character in a string (it must be escaped)";
            return NULL;
        }
        if (c >= 0x80) {
            size_t len = sl_utf8_multi(p, (size_t)(end - p));
            if (len == 0) {
                *at = p;
                *what = "a string is not valid UTF-8";
                return NULL;
            }
            p += len;
            continue;
        }
        /* A backslash. */
        if (end - p < 2) {
            *at = p;
            *what = "the string is not closed";
            return NULL;
        }
        if (p[1] != 'u') {
            if (!memchr("\"\\/bfnrt", p[1], 8)) {
                *at = p;
                *what = "an invalid escape in a string";
                return NULL;
            }
            p += 2;
            continue;
        }
        long u = u_escape(p, end);
        if (u < 0) {
            *at = p;
            *what = "an invalid \\u escape in a string (four hex digits expected)";
            return NULL;
        }
        if (u >= 0xDC00 && u <= 0xDFFF) {
            *at = p;
            *what = "a \\u escape of a lone low surrogate";
            return NULL;
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            /* A high surrogate: a low one must follow (UTF-16 pair). */
            long lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? u_escape(p + 6, end) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                *at = p;
                *what = "a \\u escape of a high surrogate without its low surrogate";
                return NULL;
            }
            p += 12;
            continue;
        }
        p += 6;
    }
}

static ptr scan_digits(ptr p, ptr end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* p is at '-' or a digit. */
static ptr scan_number(ptr p, ptr end, ptr *at, const char **what)
{
    if (*p == '-')
        p++;
    if (p == end || *p < '0' || *p > '9') {
        *at = p;
        *what = "a digit was expected";
        return NULL;
    }
    p = *p == '0' ? p + 1 : scan_digits(p, end);
    if (p < end && *p == '.') {
        ptr q = scan_digits(p + 1, end);
        if (q == p + 1) {
            *at = q;
            *what = "a digit was expected after the decimal point";
            return NULL;
        }
        p = q;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        ptr q = scan_digits(p, end);
        if (q == p) {
            *at = q;
            *what = "a digit was expected in the exponent";
            return NULL;
        }
        p = q;
    }
    return p;
}

static ptr scan_literal(ptr p, ptr end, const char *lit, size_t len)
{
    return (size_t)(end - p) >= len && memcmp(p, lit, len) == 0 ? p + len : NULL;
}

/* What the checker expects next. */
enum want { WANT_VALUE, WANT_KEY, WANT_AFTER_VALUE };

bool sl_json_check(const char *s, size_t n, struct sl_json_check_err *err)
{
    ptr start = (ptr)s, end = start + n, p = start, at = NULL;
    const char *what = NULL;
    /* The open containers, innermost last: 1 bit per level (1: object). */
    uint8_t objects[SL_JSON_CHECK_MAX_DEPTH / 8];
    size_t depth = 0;
    enum want want = WANT_VALUE;

    for (;;) {
        p = skip_ws(p, end);
        if (want == WANT_AFTER_VALUE) {
            if (depth == 0)
                return p == end || fail(err, start, p, "unexpected text after the value");
            bool in_object = objects[(depth - 1) / 8] >> ((depth - 1) % 8) & 1;
            if (p == end)
                return fail(err, start, p,
                            in_object ? "the object is not closed" : "the array is not closed");
            if (*p == ',') {
                p++;
                want = in_object ? WANT_KEY : WANT_VALUE;
            } else if (*p == (in_object ? '}' : ']')) {
                p++;
                depth--;
            } else {
                return fail(err, start, p,
                            in_object ? "',' or '}' was expected" : "',' or ']' was expected");
            }
            continue;
        }
        if (want == WANT_KEY) {
            if (p == end || *p != '"')
                return fail(err, start, p, "a string (an object's key) was expected");
            if (!(p = scan_string(p, end, &at, &what)))
                return fail(err, start, at, what);
            p = skip_ws(p, end);
            if (p == end || *p != ':')
                return fail(err, start, p, "':' was expected after an object's key");
            p++;
            want = WANT_VALUE;
            continue;
        }
        /* A value. */
        if (p == end)
            return fail(err, start, p, depth ? "a value was expected" : "the body is empty");
        ptr q = NULL;
        switch (*p) {
        case '{':
        case '[': {
            bool object = *p == '{';
            if (depth == SL_JSON_CHECK_MAX_DEPTH)
                return fail(err, start, p, "arrays and objects are nested too deeply");
            if (object)
                objects[depth / 8] |= (uint8_t)(1u << (depth % 8));
            else
                objects[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
            depth++;
            q = skip_ws(p + 1, end);
            if (q < end && *q == (object ? '}' : ']')) {
                depth--;
                p = q + 1;
                want = WANT_AFTER_VALUE;
            } else {
                p = q;
                want = object ? WANT_KEY : WANT_VALUE;
            }
            continue;
        }
        case '"':
            q = scan_string(p, end, &at, &what);
            break;
        case 't':
            q = scan_literal(p, end, "true", 4);
            break;
        case 'f':
            q = scan_literal(p, end, "false", 5);
            break;
        case 'n':
            q = scan_literal(p, end, "null", 4);
            break;
        default:
            if (*p == '-' || (*p >= '0' && *p <= '9')) {
                q = scan_number(p, end, &at, &what);
                break;
            }
            return fail(err, start, p, "a value was expected");
        }
        if (!q)
            return fail(err, start, at ? at : p, what ? what : "an unknown word");
        p = q;
        want = WANT_AFTER_VALUE;
    }
}
