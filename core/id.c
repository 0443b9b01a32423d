#include "core/id.h"

#include <stdio.h>
#include <sys/random.h>
#include <time.h>

uint64_t sl_random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    return v ? v : 0x9E3779B97F4A7C15ull;
}

uint64_t sl_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void sl_id_new(char out[SL_ID_LEN + 1])
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t a = sl_random_u64(), b = sl_random_u64();
        for (int i = 0; i < 8; i++) {
            r[i] = (unsigned char)(a >> (i * 8));
            r[8 + i] = (unsigned char)(b >> (i * 8));
        }
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, SL_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}
