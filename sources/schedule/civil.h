/* Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01), with no time
 * zone and no C library state: what cron matching and TZ rules need. The conversions are the
 * well-known era-based formulas (see http://howardhinnant.github.io/date_algorithms.html). */
#ifndef SL_SOURCES_SCHEDULE_CIVIL_H
#define SL_SOURCES_SCHEDULE_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* Floor division for a negative a as well (b > 0). */
static inline int64_t sl_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static inline bool sl_civil_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month m (1..12) of year y. */
int sl_civil_days_in_month(int64_t y, int m);
/* The day number of y-m-d (m 1..12, d 1..31). */
int64_t sl_civil_days(int64_t y, int m, int d);
void sl_civil_from_days(int64_t days, int64_t *y, int64_t *m, int64_t *d);
/* 0 = Sunday .. 6 = Saturday. */
static inline int sl_civil_weekday(int64_t days)
{
    return (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
}

#endif
