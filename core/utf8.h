#ifndef SL_CORE_UTF8_H
#define SL_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* For each lead byte 0xC0..0xFF (index: byte - 0xC0): the length of the sequence it starts (0:
 * it never starts one: C0, C1, F5..FF) and the range its second byte must be in. The ranges are
 * those of Unicode's table of well-formed byte sequences (Table 3-7): they rule out overlong
 * forms (E0, F0), surrogates (ED) and code points beyond U+10FFFF (F4) without decoding the
 * code point. */
struct sl_utf8_lead {
    unsigned char len, lo, hi;
};
extern const struct sl_utf8_lead sl_utf8_leads[64];

/* Length (2..4) of the well-formed sequence at p, whose first byte is >= 0x80, or 0 when it is
 * not one (a stray continuation byte, an invalid lead, a bad or missing continuation). Inline:
 * the JSON escaper and the validator call it for every non-ASCII character. left > 0. */
static inline size_t sl_utf8_multi(const unsigned char *p, size_t left)
{
    if (p[0] < 0xc0)
        return 0;
    const struct sl_utf8_lead *l = &sl_utf8_leads[p[0] - 0xc0];
    size_t len = l->len;
    if (len == 0 || len > left || p[1] < l->lo || p[1] > l->hi)
        return 0;
    if (len > 2 && (p[2] & 0xc0) != 0x80)
        return 0;
    if (len > 3 && (p[3] & 0xc0) != 0x80)
        return 0;
    return len;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one (NUL, stray
 * continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated). n > 0. */
size_t sl_utf8_seq(const char *s, size_t n);
/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates) with no NUL byte. */
bool sl_utf8_valid(const char *s, size_t n);

#endif
