#include "core/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct sl_unit {
    const char *name;
    uint64_t mul; /* multiplier to the base unit */
    uint64_t div; /* divisor to the base unit */
};

static const struct sl_unit duration_units[] = {
    {"ns", 1, 1000000}, {"us", 1, 1000},   {"ms", 1, 1},       {"s", 1000, 1},
    {"m", 60000, 1},    {"h", 3600000, 1}, {"d", 86400000, 1},
};

static const struct sl_unit size_units[] = {
    {"b", 1, 1},
    {"kb", 1000, 1},
    {"mb", 1000000, 1},
    {"gb", 1000000000, 1},
    {"kib", 1024, 1},
    {"mib", 1024 * 1024, 1},
    {"gib", 1024ull * 1024 * 1024, 1},
    {"k", 1024, 1},
    {"m", 1024 * 1024, 1},
    {"g", 1024ull * 1024 * 1024, 1},
};

static const struct sl_unit *unit_find(const struct sl_unit *units, size_t n, const char *s,
                                       size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(units[i].name) == len && strncasecmp(units[i].name, s, len) == 0)
            return &units[i];
    }
    return NULL;
}

/* Parses "<digits>[.<digits>]<unit>" parts; bare_mul applies to a trailing bare number. */
static int units_parse(const char *s, const struct sl_unit *units, size_t nunits, uint64_t bare_mul,
                       int multi, uint64_t *out)
{
    uint64_t total = 0;
    int parts = 0;

    if (!s)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return -EINVAL;
    while (*s && !isspace((unsigned char)*s)) {
        uint64_t whole = 0, frac = 0, frac_div = 1;
        const char *start = s;
        while (isdigit((unsigned char)*s)) {
            uint64_t digit = (uint64_t)(*s - '0');
            if (whole > (UINT64_MAX - digit) / 10)
                return -EINVAL;
            whole = whole * 10 + digit;
            s++;
        }
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s)) {
                if (frac_div < 1000000000ull) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    frac_div *= 10;
                }
                s++;
            }
        }
        if (s == start || (s == start + 1 && *start == '.'))
            return -EINVAL;
        const char *u = s;
        while (isalpha((unsigned char)*s))
            s++;
        uint64_t mul = bare_mul, div = 1;
        if (s > u) {
            const struct sl_unit *unit = unit_find(units, nunits, u, (size_t)(s - u));
            if (!unit)
                return -EINVAL;
            mul = unit->mul;
            div = unit->div;
        } else if (parts > 0 || *s) {
            return -EINVAL;
        }
        if (whole && mul > UINT64_MAX / whole)
            return -EINVAL;
        uint64_t v = whole * mul / div + frac * mul / frac_div / div;
        if (total > UINT64_MAX - v)
            return -EINVAL;
        total += v;
        parts++;
        if (!multi && *s)
            return -EINVAL;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return -EINVAL;
    *out = total;
    return 0;
}

int sl_duration_parse(const char *s, int64_t *ms)
{
    uint64_t v;
    int rc = units_parse(s, duration_units, sizeof(duration_units) / sizeof(duration_units[0]),
                         1000, 1, &v);
    if (rc < 0 || v > (uint64_t)INT64_MAX)
        return -EINVAL;
    *ms = (int64_t)v;
    return 0;
}

int sl_size_parse(const char *s, uint64_t *bytes)
{
    return units_parse(s, size_units, sizeof(size_units) / sizeof(size_units[0]), 1, 0, bytes);
}

void sl_duration_fmt(int64_t ms, char *out, size_t cap)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, cap, "%lld%s", (long long)(ms / units[i].ms), units[i].name);
            return;
        }
    }
    snprintf(out, cap, "%lldms", (long long)ms);
}

void sl_size_fmt(uint64_t bytes, char *out, size_t cap)
{
    static const struct {
        const char *name;
        uint64_t mul;
    } units[] = {{"GiB", 1024ull * 1024 * 1024},
                 {"GB", 1000000000},
                 {"MiB", 1024 * 1024},
                 {"MB", 1000000},
                 {"KiB", 1024},
                 {"KB", 1000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (bytes != 0 && bytes % units[i].mul == 0) {
            snprintf(out, cap, "%llu%s", (unsigned long long)(bytes / units[i].mul), units[i].name);
            return;
        }
    }
    snprintf(out, cap, "%lluB", (unsigned long long)bytes);
}
