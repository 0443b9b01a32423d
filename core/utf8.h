#ifndef SL_CORE_UTF8_H
#define SL_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one (NUL, stray
 * continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated). n > 0. */
size_t sl_utf8_seq(const char *s, size_t n);
/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates) with no NUL byte. */
bool sl_utf8_valid(const char *s, size_t n);

#endif
