#include "core/backoff.h"

#include "core/id.h"

int64_t sl_backoff_ceiling(const struct sl_backoff *p, uint32_t attempt)
{
    double ceiling = (double)p->min_ms;
    double mult = p->multiplier < 1.0 ? 1.0 : p->multiplier;
    for (uint32_t i = 1; i < attempt && ceiling < (double)p->max_ms; i++)
        ceiling *= mult;
    if (ceiling > (double)p->max_ms)
        ceiling = (double)p->max_ms;
    if (ceiling < (double)p->min_ms)
        ceiling = (double)p->min_ms;
    return (int64_t)ceiling;
}

int64_t sl_backoff_delay(const struct sl_backoff *p, uint32_t attempt, uint64_t *rng)
{
    int64_t ceiling = sl_backoff_ceiling(p, attempt);
    int64_t span = ceiling - p->min_ms;
    if (span <= 0)
        return p->min_ms;
    return p->min_ms + (int64_t)(sl_rng_next(rng) % (uint64_t)(span + 1));
}
