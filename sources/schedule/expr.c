/* rate() and cron() expressions: parsing and the next fire time (expr.h). */
#include "sources/schedule/expr.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/mem.h"
#include "sources/schedule/civil.h"

enum { F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW, F_YEAR, F_COUNT };

struct field_def {
    const char *name;
    int lo, hi;
    const char *allowed; /* for messages */
};

static const struct field_def fields[F_COUNT] = {
    [F_MIN] = {"minutes", 0, 59, "0-59 and , - * /"},
    [F_HOUR] = {"hours", 0, 23, "0-23 and , - * /"},
    [F_DOM] = {"day-of-month", 1, 31, "1-31 and , - * / ? L W (L, L-n, nW, LW alone)"},
    [F_MONTH] = {"month", 1, 12, "1-12 or JAN-DEC and , - * /"},
    [F_DOW] = {"day-of-week", 1, 7,
               "1-7 or SUN-SAT (1 = SUN) and , - * / ? L # (L, nL, d#n alone)"},
    [F_YEAR] = {"year", SL_SCHED_YEAR_FIRST, SL_SCHED_YEAR_LAST, "1970-2199 and , - * /"},
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct parse {
    char *why;
    size_t cap;
};

static int fail(struct parse *p, int f, const char *tok, size_t len, const char *what)
{
    if (p->why && p->cap) {
        if (f >= 0)
            snprintf(p->why, p->cap, "%s \"%.*s\": %s (allowed: %s)", fields[f].name,
                     (int)(len > 32 ? 32 : len), tok, what, fields[f].allowed);
        else
            snprintf(p->why, p->cap, "%s", what);
    }
    return SL_EPARSE;
}

/* A number or (month, day-of-week) a three-letter name, case-insensitive. */
static const char *parse_value(int f, const char *s, const char *end, int *out)
{
    if (s < end && isdigit((unsigned char)*s)) {
        int v = 0;
        while (s < end && isdigit((unsigned char)*s) && v < 100000)
            v = v * 10 + (*s++ - '0');
        *out = v;
        return s;
    }
    const char *const *names = f == F_MONTH ? month_names : f == F_DOW ? dow_names : NULL;
    size_t n = f == F_MONTH ? 12 : 7;
    if (!names || end - s < 3)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(s, names[i], 3) == 0) {
            *out = (int)i + 1;
            return s + 3;
        }
    }
    return NULL;
}

static void set_bit(struct sl_sched_expr *e, int f, int v)
{
    switch (f) {
    case F_MIN:
        e->minutes |= 1ull << v;
        break;
    case F_HOUR:
        e->hours |= 1u << v;
        break;
    case F_DOM:
        e->dom |= 1u << v;
        break;
    case F_MONTH:
        e->months |= (uint16_t)(1u << v);
        break;
    case F_DOW:
        e->dow |= (uint8_t)(1u << v);
        break;
    default:
        e->years[(v - SL_SCHED_YEAR_FIRST) / 64] |= 1ull << ((v - SL_SCHED_YEAR_FIRST) % 64);
        break;
    }
}

/* One item of a list: *, a, a-b, each optionally /step. */
static int parse_item(struct parse *p, struct sl_sched_expr *e, int f, const char *s,
                      const char *end)
{
    const struct field_def *fd = &fields[f];
    size_t len = (size_t)(end - s);
    int lo = fd->lo, hi = fd->hi, step = 1;
    const char *q = s;
    bool star = false;
    if (q < end && *q == '*') {
        star = true;
        q++;
    } else {
        if (!(q = parse_value(f, q, end, &lo)))
            return fail(p, f, s, len, "not a value");
        if (lo < fd->lo || lo > fd->hi)
            return fail(p, f, s, len, "out of range");
        hi = lo;
        if (q < end && *q == '-') {
            const char *r = q + 1;
            if (!(q = parse_value(f, r, end, &hi)))
                return fail(p, f, s, len, "a range needs an end value");
            if (hi < fd->lo || hi > fd->hi)
                return fail(p, f, s, len, "out of range");
            if (hi < lo)
                return fail(p, f, s, len, "a range must not run backwards");
        }
    }
    if (q < end && *q == '/') {
        q++;
        if (q == end || !isdigit((unsigned char)*q))
            return fail(p, f, s, len, "an increment needs a number after /");
        step = 0;
        while (q < end && isdigit((unsigned char)*q) && step <= 10000)
            step = step * 10 + (*q++ - '0');
        if (step < 1 || step > fd->hi - fd->lo + 1)
            return fail(p, f, s, len, "the increment is out of range");
        if (!star && hi == lo)
            hi = fd->hi; /* a/n: from a to the end of the range */
    }
    if (q != end)
        return fail(p, f, s, len, "unexpected characters");
    for (int v = lo; v <= hi; v += step)
        set_bit(e, f, v);
    return 0;
}

static bool all_digits(const char *s, const char *end)
{
    if (s == end)
        return false;
    for (; s < end; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int small_num(const char *s, const char *end)
{
    int v = 0;
    for (; s < end && v < 1000; s++)
        v = v * 10 + (*s - '0');
    return v;
}

/* The day-of-month forms that stand alone: L, L-n, LW, nW. 1 when s is one of them. */
static int parse_dom_special(struct parse *p, struct sl_sched_expr *e, const char *s,
                             const char *end)
{
    size_t len = (size_t)(end - s);
    if (len == 1 && toupper((unsigned char)*s) == 'L') {
        e->dom_kind = SL_SCHED_DAY_LAST;
        return 1;
    }
    if (len == 2 && strncasecmp(s, "LW", 2) == 0) {
        e->dom_kind = SL_SCHED_DAY_LAST_WD;
        return 1;
    }
    if (len >= 3 && toupper((unsigned char)s[0]) == 'L' && s[1] == '-') {
        if (!all_digits(s + 2, end) || small_num(s + 2, end) > 30)
            return fail(p, F_DOM, s, len, "L-n needs n from 0 to 30");
        e->dom_kind = SL_SCHED_DAY_LAST;
        e->dom_arg = (uint8_t)small_num(s + 2, end);
        return 1;
    }
    if (len >= 2 && toupper((unsigned char)end[-1]) == 'W') {
        if (!all_digits(s, end - 1) || small_num(s, end - 1) < 1 || small_num(s, end - 1) > 31)
            return fail(p, F_DOM, s, len, "nW needs one day n from 1 to 31");
        e->dom_kind = SL_SCHED_DAY_WEEKDAY;
        e->dom_arg = (uint8_t)small_num(s, end - 1);
        return 1;
    }
    return 0;
}

/* The day-of-week forms that stand alone: L (Saturday), nL, d#n. */
static int parse_dow_special(struct parse *p, struct sl_sched_expr *e, const char *s,
                             const char *end)
{
    size_t len = (size_t)(end - s);
    if (len == 1 && toupper((unsigned char)*s) == 'L') {
        e->dow_kind = SL_SCHED_DAY_SET;
        e->dow = 1u << 7;
        return 1;
    }
    const char *hash = memchr(s, '#', len);
    if (hash || (len >= 2 && toupper((unsigned char)end[-1]) == 'L')) {
        const char *vend = hash ? hash : end - 1;
        int d;
        const char *q = parse_value(F_DOW, s, vend, &d);
        if (!q || q != vend || d < 1 || d > 7)
            return fail(p, F_DOW, s, len, "needs a day of the week (1-7 or SUN-SAT) first");
        e->dow_day = (uint8_t)d;
        if (!hash) {
            e->dow_kind = SL_SCHED_DAY_LAST;
            return 1;
        }
        if (!all_digits(hash + 1, end) || small_num(hash + 1, end) < 1 ||
            small_num(hash + 1, end) > 5)
            return fail(p, F_DOW, s, len, "d#n needs n from 1 to 5");
        e->dow_kind = SL_SCHED_DAY_NTH;
        e->dow_arg = (uint8_t)small_num(hash + 1, end);
        return 1;
    }
    return 0;
}

static int parse_field(struct parse *p, struct sl_sched_expr *e, int f, const char *s,
                       const char *end)
{
    size_t len = (size_t)(end - s);
    if (len == 1 && *s == '?') {
        if (f != F_DOM && f != F_DOW)
            return fail(p, f, s, len, "? is allowed only in day-of-month and day-of-week");
        return 0; /* SL_SCHED_DAY_ANY */
    }
    if (f == F_DOM || f == F_DOW) {
        int rc = f == F_DOM ? parse_dom_special(p, e, s, end) : parse_dow_special(p, e, s, end);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if (f == F_DOM)
            e->dom_kind = SL_SCHED_DAY_SET;
        else
            e->dow_kind = SL_SCHED_DAY_SET;
    }
    const char *item = s;
    for (const char *q = s; q <= end; q++) {
        if (q == end || *q == ',') {
            if (q == item)
                return fail(p, f, s, len, "an empty list item");
            if (memchr(item, '?', (size_t)(q - item)) || memchr(item, '#', (size_t)(q - item)))
                return fail(p, f, s, len, "?, L, W and # stand alone, not in a list");
            int rc = parse_item(p, e, f, item, q);
            if (rc < 0)
                return rc;
            item = q + 1;
        }
    }
    return 0;
}

static int parse_cron(struct parse *p, const char *s, const char *end, struct sl_sched_expr *e)
{
    e->kind = SL_SCHED_CRON;
    const char *tok[F_COUNT], *tend[F_COUNT];
    int n = 0;
    const char *q = s;
    while (q < end) {
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q == end)
            break;
        if (n == F_COUNT)
            return fail(p, -1, NULL, 0,
                        "cron() takes six fields: minutes hours day-of-month month "
                        "day-of-week year (more were given)");
        tok[n] = q;
        while (q < end && *q != ' ' && *q != '\t')
            q++;
        tend[n++] = q;
    }
    if (n != F_COUNT) {
        if (p->why && p->cap)
            snprintf(p->why, p->cap,
                     "cron() takes six fields: minutes hours day-of-month month day-of-week "
                     "year (%d given)",
                     n);
        return SL_EPARSE;
    }
    for (int f = 0; f < F_COUNT; f++) {
        int rc = parse_field(p, e, f, tok[f], tend[f]);
        if (rc < 0)
            return rc;
    }
    if ((e->dom_kind == SL_SCHED_DAY_ANY) == (e->dow_kind == SL_SCHED_DAY_ANY))
        return fail(p, -1, NULL, 0,
                    "exactly one of day-of-month and day-of-week must be ? (the other gives "
                    "the days, * for every day)");
    return 0;
}

static int parse_rate(struct parse *p, const char *s, const char *end, struct sl_sched_expr *e)
{
    e->kind = SL_SCHED_RATE;
    while (s < end && *s == ' ')
        s++;
    while (end > s && end[-1] == ' ')
        end--;
    const char *q = s;
    int64_t v = 0;
    while (q < end && isdigit((unsigned char)*q) && v <= 1000000)
        v = v * 10 + (*q++ - '0');
    if (q == s || v < 1 || v > 1000000 || q == end || *q != ' ')
        return fail(p, -1, NULL, 0,
                    "rate() takes a whole number from 1 to 1000000, a space and a unit, e.g. "
                    "rate(5 minutes)");
    while (q < end && *q == ' ')
        q++;
    static const struct {
        const char *one, *many;
        int64_t ms;
    } units[] = {
        {"second", "seconds", 1000},
        {"minute", "minutes", 60 * 1000},
        {"hour", "hours", 3600 * 1000},
        {"day", "days", 86400 * 1000},
    };
    size_t ulen = (size_t)(end - q);
    for (size_t i = 0; i < SL_ARRAY_LEN(units); i++) {
        bool one = strlen(units[i].one) == ulen && memcmp(q, units[i].one, ulen) == 0;
        bool many = strlen(units[i].many) == ulen && memcmp(q, units[i].many, ulen) == 0;
        if (!one && !many)
            continue;
        if (one != (v == 1))
            return fail(p, -1, NULL, 0,
                        v == 1 ? "rate(1 ...) takes the singular unit: second, minute, hour "
                                 "or day"
                               : "a rate above 1 takes the plural unit: seconds, minutes, "
                                 "hours or days");
        e->period_ms = v * units[i].ms;
        return 0;
    }
    return fail(p, -1, NULL, 0,
                "the unit of rate() is minute(s), hour(s) or day(s) (or second(s), a sluice "
                "extension)");
}

int sl_sched_expr_parse(const char *text, struct sl_sched_expr *out, char *why, size_t cap)
{
    struct parse p = {.why = why, .cap = cap};
    memset(out, 0, sizeof(*out));
    size_t n = text ? strnlen(text, SL_SCHED_EXPR_MAX + 1) : 0;
    if (n > SL_SCHED_EXPR_MAX)
        return fail(&p, -1, NULL, 0, "longer than 256 characters");
    while (n && isspace((unsigned char)text[n - 1]))
        n--;
    while (n && isspace((unsigned char)*text)) {
        text++;
        n--;
    }
    if (n < 6 || text[n - 1] != ')')
        return fail(&p, -1, NULL, 0,
                    "an expression is rate(value unit) or cron(minutes hours day-of-month "
                    "month day-of-week year)");
    if (memcmp(text, "rate(", 5) == 0)
        return parse_rate(&p, text + 5, text + n - 1, out);
    if (memcmp(text, "cron(", 5) == 0)
        return parse_cron(&p, text + 5, text + n - 1, out);
    return fail(&p, -1, NULL, 0,
                "an expression is rate(value unit) or cron(minutes hours day-of-month month "
                "day-of-week year)");
}

/* ---- the next fire time ---- */

static bool year_ok(const struct sl_sched_expr *e, int64_t y)
{
    if (y < SL_SCHED_YEAR_FIRST || y > SL_SCHED_YEAR_LAST)
        return false;
    int64_t b = y - SL_SCHED_YEAR_FIRST;
    return e->years[b / 64] >> (b % 64) & 1;
}

static int nearest_weekday(int64_t y, int m, int n)
{
    int dim = sl_civil_days_in_month(y, m);
    if (n > dim)
        return 0;
    int wd = sl_civil_weekday(sl_civil_days(y, m, n));
    if (wd == 6) /* Saturday: the Friday before, or Monday when that is last month */
        return n == 1 ? 3 : n - 1;
    if (wd == 0) /* Sunday: the Monday after, or Friday when that is next month */
        return n == dim ? n - 2 : n + 1;
    return n;
}

static bool day_ok(const struct sl_sched_expr *e, int64_t y, int m, int d)
{
    int dim = sl_civil_days_in_month(y, m);
    if (e->dom_kind != SL_SCHED_DAY_ANY) {
        switch (e->dom_kind) {
        case SL_SCHED_DAY_SET:
            return e->dom >> d & 1;
        case SL_SCHED_DAY_LAST:
            return d == dim - e->dom_arg;
        case SL_SCHED_DAY_WEEKDAY:
            return d == nearest_weekday(y, m, e->dom_arg);
        case SL_SCHED_DAY_LAST_WD: {
            int wd = sl_civil_weekday(sl_civil_days(y, m, dim));
            return d == (wd == 6 ? dim - 1 : wd == 0 ? dim - 2 : dim);
        }
        default:
            return false;
        }
    }
    int dow = sl_civil_weekday(sl_civil_days(y, m, d)) + 1; /* 1 = Sunday */
    switch (e->dow_kind) {
    case SL_SCHED_DAY_SET:
        return e->dow >> dow & 1;
    case SL_SCHED_DAY_NTH:
        return dow == e->dow_day && (d - 1) / 7 + 1 == e->dow_arg;
    case SL_SCHED_DAY_LAST:
        return dow == e->dow_day && d + 7 > dim;
    default:
        return false;
    }
}

/* The earliest instant after `after` (seconds) whose wall time in z is local (seconds of the
 * local calendar), or -1: none (a gap skips it, or its only occurrences are not after). The
 * offsets a day before and after cover a transition near it. */
static int64_t resolve(const struct sl_tz *z, int64_t local, int64_t after)
{
    int32_t cand[3] = {sl_tz_offset(z, local - 86400), sl_tz_offset(z, local),
                       sl_tz_offset(z, local + 86400)};
    int64_t best = -1;
    for (int i = 0; i < 3; i++) {
        int64_t u = local - cand[i];
        if (sl_tz_offset(z, u) != cand[i] || u <= after)
            continue;
        if (best < 0 || u < best)
            best = u;
    }
    return best;
}

static int cron_next(const struct sl_sched_expr *e, const struct sl_tz *z, int64_t after_ms,
                     int64_t *next_ms)
{
    int64_t after = sl_floor_div(after_ms, 1000);
    int64_t lmin = sl_floor_div(after + sl_tz_offset(z, after), 60) + 1;
    int64_t first_day = sl_civil_days(SL_SCHED_YEAR_FIRST, 1, 1);
    if (lmin < first_day * 1440)
        lmin = first_day * 1440;
    int64_t days = sl_floor_div(lmin, 1440);
    int mins = (int)(lmin - days * 1440);
    int64_t y, mo64, d64;
    sl_civil_from_days(days, &y, &mo64, &d64);
    int mo = (int)mo64, d = (int)d64, h = mins / 60, mi = mins % 60;

    for (; y <= SL_SCHED_YEAR_LAST; y++, mo = 1, d = 1, h = 0, mi = 0) {
        if (!year_ok(e, y))
            continue;
        for (; mo <= 12; mo++, d = 1, h = 0, mi = 0) {
            if (!(e->months >> mo & 1))
                continue;
            int dim = sl_civil_days_in_month(y, mo);
            for (; d <= dim; d++, h = 0, mi = 0) {
                if (!day_ok(e, y, mo, d))
                    continue;
                int64_t day = sl_civil_days(y, mo, d);
                for (; h < 24; h++, mi = 0) {
                    if (!(e->hours >> h & 1))
                        continue;
                    for (; mi < 60; mi++) {
                        if (!(e->minutes >> mi & 1))
                            continue;
                        int64_t u = resolve(z, day * 86400 + h * 3600 + mi * 60, after);
                        if (u >= 0) {
                            *next_ms = u * 1000;
                            return 0;
                        }
                    }
                }
            }
        }
    }
    return SL_ENOTFOUND;
}

int sl_sched_expr_next(const struct sl_sched_expr *e, const struct sl_tz *z, int64_t after_ms,
                       int64_t *next_ms)
{
    if (e->kind == SL_SCHED_RATE) {
        if (e->period_ms <= 0)
            return SL_ENOTFOUND;
        *next_ms = (sl_floor_div(after_ms, e->period_ms) + 1) * e->period_ms;
        return 0;
    }
    return cron_next(e, z, after_ms, next_ms);
}
