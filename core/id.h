/* Random identifiers. */
#ifndef SL_CORE_ID_H
#define SL_CORE_ID_H

#include <stdint.h>

#define SL_ID_LEN 36

/* A UUID version 4 in its 36-character text form, NUL-terminated. */
void sl_id_new(char out[SL_ID_LEN + 1]);
/* 64 random bits from the kernel (for seeding per-object generators). */
uint64_t sl_random_u64(void);
/* xorshift64*: a fast generator for jitter; *state must not be 0. */
uint64_t sl_rng_next(uint64_t *state);

#endif
