/* Clocks and time formatting. */
#ifndef SL_CORE_TIME_H
#define SL_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, milliseconds since the Unix epoch. */
int64_t sl_now_ms(void);
/* Monotonic clock, milliseconds and nanoseconds. */
int64_t sl_mono_ms(void);
int64_t sl_mono_ns(void);
/* "2019-11-14T00:38:06.021Z" (24 characters plus NUL). */
void sl_time_fmt_iso(int64_t ms, char *out, size_t cap);
/* Parses an RFC 3339 time ("2026-01-02T03:04:05Z", optional fraction and offset) or a
 * relative one ("-1h", "-30m" from now): returns 0 and sets *ms, or -EINVAL. */
int sl_time_parse(const char *s, int64_t now_ms, int64_t *ms);

#endif
