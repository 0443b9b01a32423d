#include "core/id.h"

#include <string.h>
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

/* Ids are made per accepted push: their random bytes come from the kernel in blocks, one
 * getrandom(2) per 64 ids instead of one per id. Each thread has its own block. */
static __thread unsigned char id_pool[1024];
static __thread size_t id_pool_used = sizeof(id_pool);

static void id_random(unsigned char r[16])
{
    if (id_pool_used + 16 > sizeof(id_pool)) {
        if (getrandom(id_pool, sizeof(id_pool), 0) != (ssize_t)sizeof(id_pool)) {
            /* No kernel randomness (a seccomp sandbox, a very early boot): still distinct. */
            uint64_t a = sl_random_u64(), b = sl_random_u64();
            for (int i = 0; i < 8; i++) {
                r[i] = (unsigned char)(a >> (i * 8));
                r[8 + i] = (unsigned char)(b >> (i * 8));
            }
            return;
        }
        id_pool_used = 0;
    }
    memcpy(r, id_pool + id_pool_used, 16);
    id_pool_used += 16;
}

void sl_id_new(char out[SL_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    id_random(r);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[r[i] >> 4];
        *o++ = hex[r[i] & 0x0f];
    }
    *o = '\0';
}
