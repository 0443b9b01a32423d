#include "core/b64.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Two output characters for each 12-bit value: three input bytes take two lookups. */
static char b64_pairs[4096][2];
static pthread_once_t b64_pairs_once = PTHREAD_ONCE_INIT;

static void b64_pairs_init(void)
{
    for (int v = 0; v < 4096; v++) {
        b64_pairs[v][0] = b64_alphabet[v >> 6];
        b64_pairs[v][1] = b64_alphabet[v & 63];
    }
}

size_t sl_b64_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *s = src;
    char *d = dst;
    size_t i = 0;
    pthread_once(&b64_pairs_once, b64_pairs_init);
    for (; i + 3 <= n; i += 3, d += 4) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        memcpy(d, b64_pairs[v >> 12], 2);
        memcpy(d + 2, b64_pairs[v & 4095], 2);
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *d++ = b64_alphabet[v >> 18];
        *d++ = b64_alphabet[(v >> 12) & 63];
        *d++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    return (size_t)(d - dst);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long sl_b64_decode(const char *src, size_t n, void *dst)
{
    unsigned char *d = dst;
    uint32_t acc = 0;
    int bits = 0;
    size_t pad = 0;

    if (n % 4)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '=') {
            if (i < n - 2)
                return -EINVAL;
            pad++;
            continue;
        }
        if (pad)
            return -EINVAL;
        int v = b64_value(c);
        if (v < 0)
            return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *d++ = (unsigned char)(acc >> bits);
        }
    }
    return (long)(d - (unsigned char *)dst);
}
