/* Filter text helpers: numbers, case folding, wildcards. Nothing here allocates per record. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/utf8.h"
#include "mappings/filter_int.h"

void sl_fnum_from_json(struct sl_fnum *out, const json_t *v)
{
    if (json_is_integer(v)) {
        out->is_int = true;
        out->i = json_integer_value(v);
        out->d = (double)out->i;
    } else {
        out->is_int = false;
        out->i = 0;
        out->d = json_real_value(v);
    }
}

int sl_fnum_cmp(const struct sl_fnum *a, const struct sl_fnum *b)
{
    if (a->is_int && b->is_int)
        return a->i < b->i ? -1 : a->i > b->i;
    return a->d < b->d ? -1 : a->d > b->d;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool sl_fnum_parse(const char *s, size_t len, struct sl_fnum *out)
{
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    size_t i = 0, digits = 0;
    bool integral = true;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && is_digit(s[i]))
        i++, digits++;
    if (i < len && s[i] == '.') {
        integral = false;
        i++;
        size_t frac = 0;
        while (i < len && is_digit(s[i]))
            i++, frac++;
        if (digits == 0 && frac == 0)
            return false;
    } else if (digits == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp = 0;
        while (i < len && is_digit(s[i]))
            i++, exp++;
        if (exp == 0)
            return false;
    }
    if (i != len || len > 64)
        return false;
    char tmp[65];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    if (integral) {
        long long v = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            out->is_int = true;
            out->i = (json_int_t)v;
            out->d = (double)v;
            return true;
        }
        errno = 0;
    }
    double d = strtod(tmp, NULL);
    if (!isfinite(d))
        return false;
    out->is_int = false;
    out->i = 0;
    out->d = d;
    return true;
}

/* Decodes one code point at s[*i] and folds its case; a byte that does not start a well-formed
 * sequence stands for itself above the Unicode range. Every fold below maps a letter to one of
 * the same UTF-8 length, so folded texts keep their byte offsets (suffix tests rely on it). */
static uint32_t next_folded(const char *s, size_t len, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    size_t n = sl_utf8_seq(s + *i, len - *i);
    uint32_t c;
    if (n == 0) {
        *i += 1;
        return 0x110000u + u[0];
    }
    *i += n;
    if (n == 1) {
        c = u[0];
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    if (n == 2)
        c = ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    else if (n == 3)
        c = ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
    else
        c = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
            ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) /* Latin-1 */
        return c + 32;
    if (c >= 0x100 && c <= 0x17F) { /* Latin Extended-A */
        if ((c <= 0x137 || (c >= 0x14A && c <= 0x177)) && c % 2 == 0)
            return c + 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1)
            return c + 1;
        if (c == 0x178)
            return 0xFF;
        return c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) /* Greek */
        return c + 32;
    if (c >= 0x410 && c <= 0x42F) /* Cyrillic */
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

/* True when s[0..) starts with p[0..plen) under case folding (s holds at least plen bytes). */
static bool folded_prefix(const char *s, size_t slen, const char *p, size_t plen)
{
    size_t i = 0, j = 0;
    while (j < plen) {
        if (i >= slen)
            return false;
        if (next_folded(s, slen, &i) != next_folded(p, plen, &j))
            return false;
    }
    return true;
}

bool sl_ftext_eq_ic(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && folded_prefix(a, alen, b, blen);
}

bool sl_ftext_prefix_ic(const char *s, size_t len, const char *p, size_t plen)
{
    return len >= plen && folded_prefix(s, plen, p, plen);
}

bool sl_ftext_suffix_ic(const char *s, size_t len, const char *p, size_t plen)
{
    /* A tail that starts inside a sequence decodes as stray bytes, which fold to nothing in p. */
    return len >= plen && folded_prefix(s + len - plen, plen, p, plen);
}

const char *sl_fwild_compile(struct sl_fm *m, const char *text, size_t len)
{
    char *out = sl_malloc(len + 1);
    size_t stars = 0, n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '*') {
            if (i + 1 < len && text[i + 1] == '*') {
                free(out);
                return "consecutive '*' are not allowed";
            }
            stars++;
        }
    }
    m->segs = sl_calloc(stars + 1, sizeof(*m->segs));
    m->nsegs = 1;
    m->segs[0].s = out;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\\') {
            if (i + 1 >= len || (text[i + 1] != '*' && text[i + 1] != '\\')) {
                free(out);
                free(m->segs);
                m->segs = NULL;
                m->nsegs = 0;
                return "'\\' must be followed by '*' or '\\'";
            }
            out[n++] = text[++i];
            m->segs[m->nsegs - 1].len++;
        } else if (c == '*') {
            m->segs[m->nsegs].s = out + n;
            m->nsegs++;
        } else {
            out[n++] = c;
            m->segs[m->nsegs - 1].len++;
        }
    }
    out[n] = '\0';
    m->s = out;
    m->len = n;
    return NULL;
}

bool sl_fwild_match(const struct sl_fm *m, const char *s, size_t len)
{
    const struct sl_fseg *first = &m->segs[0];
    if (m->nsegs == 1)
        return len == first->len && memcmp(s, first->s, len) == 0;
    const struct sl_fseg *last = &m->segs[m->nsegs - 1];
    if (len < first->len + last->len || memcmp(s, first->s, first->len) != 0 ||
        memcmp(s + len - last->len, last->s, last->len) != 0)
        return false;
    /* Middle segments (never empty: no consecutive stars) leftmost first, between the ends. */
    size_t pos = first->len, end = len - last->len;
    for (size_t k = 1; k + 1 < m->nsegs; k++) {
        const struct sl_fseg *g = &m->segs[k];
        if (end - pos < g->len)
            return false;
        const char *hit = memmem(s + pos, end - pos, g->s, g->len);
        if (!hit)
            return false;
        pos = (size_t)(hit - s) + g->len;
    }
    return true;
}
