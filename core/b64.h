/* Base64 (RFC 4648, standard alphabet, padded). */
#ifndef SL_CORE_B64_H
#define SL_CORE_B64_H

#include <stddef.h>

#define SL_B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes SL_B64_ENCODED_LEN(n) characters (no NUL) and returns that count. */
size_t sl_b64_encode(const void *src, size_t n, char *dst);
/* Decodes into dst (at least n*3/4 bytes); returns the length or -EINVAL. */
long sl_b64_decode(const char *src, size_t n, void *dst);

#endif
