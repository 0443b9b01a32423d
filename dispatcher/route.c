/* Weighted choice among routes with a small fast generator. */
#include "dispatcher/route.h"

#include <errno.h>
#include <math.h>

#include <stdio.h>

#include "core/jw.h"
#include "core/time.h"

int sl_router_init(struct sl_router *r, const double *weights, size_t n, uint64_t seed)
{
    if (!r || !weights || n == 0 || n > SL_ROUTES_MAX)
        return -EINVAL;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(weights[i] > 0) || !isfinite(weights[i]))
            return -EINVAL;
        sum += weights[i];
        r->cum[i] = sum;
    }
    r->n = n;
    /* splitmix64 of the seed: any seed, 0 included, gives a non-zero state. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->state = z ? z : 1;
    return 0;
}

uint64_t sl_router_seed(const void *salt)
{
    return (uint64_t)sl_mono_ns() ^ (uint64_t)(uintptr_t)salt;
}

size_t sl_router_pick(struct sl_router *r)
{
    if (r->n <= 1)
        return 0;
    /* xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators"). */
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    uint64_t v = x * 0x2545F4914F6CDD1Dull;
    double u = (double)(v >> 11) * (1.0 / 9007199254740992.0) * r->cum[r->n - 1];
    for (size_t i = 0; i < r->n - 1; i++) {
        if (u < r->cum[i])
            return i;
    }
    return r->n - 1;
}

void sl_route_describe_weight(struct sl_jw *w, double weight)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%g", weight);
    sl_jw_key(w, "weight");
    sl_jw_raw(w, text, (size_t)n);
}
