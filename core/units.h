/* Durations ("250ms", "30s", "1h30m") and sizes ("64KB", "6MB", "1GiB") as people write them. */
#ifndef SL_CORE_UNITS_H
#define SL_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Units: ns, us, ms, s, m, h, d; a bare number means seconds. Several parts may follow one
 * another ("1h30m"). Returns 0 or -EINVAL (empty, unknown unit, negative, overflow). */
int sl_duration_parse(const char *s, int64_t *ms);
/* Units: B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024), K/M/G as KiB/MiB/GiB;
 * a bare number means bytes. Returns 0 or -EINVAL. */
int sl_size_parse(const char *s, uint64_t *bytes);
/* Shortest exact text: "250ms", "30s", "5m", "1h". */
void sl_duration_fmt(int64_t ms, char *out, size_t cap);
/* Shortest exact text: "512B", "64KiB", "6MB". */
void sl_size_fmt(uint64_t bytes, char *out, size_t cap);

#endif
