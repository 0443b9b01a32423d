/* Exponential backoff with full jitter (the AWS architecture blog's "Full Jitter"). */
#ifndef SL_CORE_BACKOFF_H
#define SL_CORE_BACKOFF_H

#include <stdint.h>

struct sl_backoff {
    int64_t min_ms;    /* lower bound of every delay */
    int64_t max_ms;    /* cap of the exponential ceiling */
    double multiplier; /* growth of the ceiling per attempt, >= 1 */
};

/* The ceiling for retry number `attempt` (1 = first retry): min(max, min * multiplier^(attempt-1)).
 */
int64_t sl_backoff_ceiling(const struct sl_backoff *p, uint32_t attempt);
/* A delay drawn uniformly from [min, ceiling], using *rng (see core/id.h). */
int64_t sl_backoff_delay(const struct sl_backoff *p, uint32_t attempt, uint64_t *rng);

#endif
