/* Schedule expressions in Amazon EventBridge syntax ("Schedule types" in the EventBridge
 * Scheduler user guide, https://docs.aws.amazon.com/scheduler/latest/UserGuide/
 * schedule-types.html; docs/SCHEDULES.md):
 *   rate(value unit)   unit minute(s) | hour(s) | day(s), and second(s) as a sluice extension;
 *                      the singular form when value is 1, the plural otherwise
 *   cron(minutes hours day-of-month month day-of-week year)
 *                      wildcards , - * / ? L W #; one of day-of-month and day-of-week is ?
 * Parsing and the next-fire computation are pure functions (no clock, no global state). */
#ifndef SL_SOURCES_SCHEDULE_EXPR_H
#define SL_SOURCES_SCHEDULE_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "sources/schedule/tz.h"

#define SL_SCHED_EXPR_MAX   256 /* longest expression accepted */
#define SL_SCHED_YEAR_FIRST 1970
#define SL_SCHED_YEAR_LAST  2199

enum sl_sched_kind { SL_SCHED_RATE = 1, SL_SCHED_CRON };

/* How day-of-month and day-of-week are given (cron). */
enum sl_sched_day_kind {
    SL_SCHED_DAY_ANY = 0, /* ?: the other field decides */
    SL_SCHED_DAY_SET,     /* a set of days (dom 1..31, dow 1..7 with 1 = Sunday) */
    SL_SCHED_DAY_LAST,    /* dom: L or L-n (day_arg = n); dow: nL, the last weekday n */
    SL_SCHED_DAY_WEEKDAY, /* dom: nW, the weekday nearest to day n (day_arg) in its month */
    SL_SCHED_DAY_LAST_WD, /* dom: LW, the last weekday (Monday to Friday) of the month */
    SL_SCHED_DAY_NTH,     /* dow: d#n, the n-th (day_arg) weekday d of the month */
};

struct sl_sched_expr {
    enum sl_sched_kind kind;
    int64_t period_ms; /* rate */
    /* cron: sets of allowed values, bit v for value v */
    uint64_t minutes;
    uint32_t hours;
    uint32_t dom;
    uint16_t months;
    uint8_t dow;
    uint64_t years[4]; /* bit (year - 1970) */
    uint8_t dom_kind, dom_arg;
    uint8_t dow_kind, dow_day, dow_arg;
};

/* Parses text. Returns 0, or SL_EPARSE with why (cap bytes) naming the field, the token and
 * what is allowed, e.g. `day-of-month "32": out of range (allowed: 1-31)`. */
int sl_sched_expr_parse(const char *text, struct sl_sched_expr *out, char *why, size_t cap);
/* The first fire time strictly after after_ms (Unix ms, UTC), cron fields read as wall time in
 * zone z (NULL: UTC). Rates tick at whole multiples of their period since the Unix epoch, in
 * UTC, so every process agrees on the ticks. A wall time that a daylight-saving change skips
 * does not fire; one it repeats fires once, at its first occurrence. Returns 0 with *next_ms,
 * or SL_ENOTFOUND when nothing fires before 2200. */
int sl_sched_expr_next(const struct sl_sched_expr *e, const struct sl_tz *z, int64_t after_ms,
                       int64_t *next_ms);

#endif
