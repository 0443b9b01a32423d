/* TZif reader and POSIX TZ rules (RFC 8536, https://www.rfc-editor.org/rfc/rfc8536; the rule
 * syntax is POSIX's TZ variable, https://pubs.opengroup.org/onlinepubs/9699919799/basedefs/
 * V1_chap08.html). Only what offsets need is kept: transition times, each one's UT offset, and
 * the footer rule. Leap-second records are skipped (the tz "right/" zones are not supported:
 * schedules count POSIX time). */
#include "sources/schedule/tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/schedule/civil.h"

#define TZ_MAX_TRANS  4096
#define TZ_MAX_TYPES  256
#define DEFAULT_TZDIR "/usr/share/zoneinfo"

/* A date of a POSIX rule: Jn (1..365, no leap day), n (0..365) or Mm.w.d. */
struct tz_date {
    char kind; /* 'J', 'n' or 'M' */
    int n, m, w, d;
    int32_t time; /* seconds after local midnight (may be negative or past 24h) */
};

struct tz_rule {
    bool set;
    bool has_dst;
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    struct tz_date start, end;
};

struct sl_tz {
    size_t ntrans;
    int64_t *trans;   /* ascending */
    int32_t *offs;    /* the offset from trans[i] on */
    int32_t first;    /* before the first transition */
    struct tz_rule r; /* after the last one (or always, without transitions) */
};

static void set_why(char *why, size_t cap, const char *msg)
{
    if (why && cap)
        snprintf(why, cap, "%s", msg);
}

/* ---- POSIX TZ rules ---- */

static const char *rule_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *q = p;
    while (isalpha((unsigned char)*q))
        q++;
    return q - p >= 3 ? q : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536's extension). Returns the end or NULL. */
static const char *rule_hms(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return NULL;
        int32_t v = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 3) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if ((i == 0 && v > 167) || (i > 0 && v > 59))
            return NULL;
        parts[i] = v;
        if (*p != ':')
            break;
        p++;
    }
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return p;
}

static const char *rule_num(const char *p, int lo, int hi, int *out)
{
    if (!isdigit((unsigned char)*p))
        return NULL;
    int v = 0;
    while (isdigit((unsigned char)*p) && v <= hi)
        v = v * 10 + (*p++ - '0');
    if (v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *rule_date(const char *p, struct tz_date *d)
{
    d->time = 2 * 3600;
    if (*p == 'J') {
        d->kind = 'J';
        p = rule_num(p + 1, 1, 365, &d->n);
    } else if (*p == 'M') {
        d->kind = 'M';
        if (!(p = rule_num(p + 1, 1, 12, &d->m)) || *p++ != '.')
            return NULL;
        if (!(p = rule_num(p, 1, 5, &d->w)) || *p++ != '.')
            return NULL;
        p = rule_num(p, 0, 6, &d->d);
    } else {
        d->kind = 'n';
        p = rule_num(p, 0, 365, &d->n);
    }
    if (p && *p == '/')
        p = rule_hms(p + 1, &d->time);
    return p;
}

static int rule_parse(const char *s, struct tz_rule *r)
{
    memset(r, 0, sizeof(*r));
    const char *p = rule_name(s);
    int32_t v;
    if (!p || !(p = rule_hms(p, &v)))
        return -EINVAL;
    r->std_off = -v; /* POSIX offsets count west */
    r->set = true;
    if (!*p)
        return 0;
    if (!(p = rule_name(p)))
        return -EINVAL;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = rule_hms(p, &v)))
            return -EINVAL;
        r->dst_off = -v;
    }
    if (*p != ',') /* a DST zone without rules: POSIX leaves the dates to the implementation */
        return -EINVAL;
    if (!(p = rule_date(p + 1, &r->start)) || *p != ',')
        return -EINVAL;
    if (!(p = rule_date(p + 1, &r->end)) || *p)
        return -EINVAL;
    return 0;
}

/* The day (days since the epoch) a rule date falls on in year y. */
static int64_t rule_day(const struct tz_date *d, int64_t y)
{
    if (d->kind == 'J') {
        int n = d->n - 1; /* February 29 is never counted */
        if (sl_civil_leap(y) && d->n >= 60)
            n++;
        return sl_civil_days(y, 1, 1) + n;
    }
    if (d->kind == 'n')
        return sl_civil_days(y, 1, 1) + d->n;
    /* Mm.w.d: day d (0 = Sunday) of week w (5 = the last) of month m. */
    int64_t first = sl_civil_days(y, d->m, 1);
    int wd = sl_civil_weekday(first);
    int64_t day = first + (d->d - wd + 7) % 7 + (int64_t)(d->w - 1) * 7;
    int dim = sl_civil_days_in_month(y, d->m);
    while (day >= first + dim)
        day -= 7;
    return day;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y, m, d;
    sl_civil_from_days(sl_floor_div(t + r->std_off, 86400), &y, &m, &d);
    /* Transitions are given in local time: the start in standard time, the end in DST. */
    int64_t start = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    int64_t end = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool tzif_header(const unsigned char *p, size_t len, struct tzif_counts *c, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    *version = p[4] ? p[4] - '0' : 1;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return c->time <= TZ_MAX_TRANS && c->type >= 1 && c->type <= TZ_MAX_TYPES && c->chars <= 4096 &&
           c->leap <= 1024 && (c->isut == 0 || c->isut == c->type) &&
           (c->isstd == 0 || c->isstd == c->type);
}

static size_t tzif_block(const struct tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

int sl_tz_parse(const void *data, size_t len, struct sl_tz **out, char *why, size_t cap)
{
    const unsigned char *p = data;
    struct tzif_counts c;
    int version;
    if (!tzif_header(p, len, &c, &version)) {
        set_why(why, cap, "not a TZif file (RFC 8536) or its counts are out of range");
        return -EINVAL;
    }
    if (version < 2) {
        set_why(why, cap, "TZif version 1 files are not supported (no 64-bit data)");
        return -EINVAL;
    }
    size_t off = 44 + tzif_block(&c, 4);
    if (off > len || !tzif_header(p + off, len - off, &c, &version) ||
        off + 44 + tzif_block(&c, 8) > len) {
        set_why(why, cap, "the TZif file is truncated");
        return -EINVAL;
    }
    const unsigned char *b = p + off + 44;
    const unsigned char *idx = b + c.time * 8;
    const unsigned char *types = idx + c.time;
    size_t end = off + 44 + tzif_block(&c, 8);

    struct sl_tz *z = SL_NEW(struct sl_tz);
    z->ntrans = c.time;
    z->trans = sl_calloc(c.time ? c.time : 1, sizeof(int64_t));
    z->offs = sl_calloc(c.time ? c.time : 1, sizeof(int32_t));
    z->first = (int32_t)be32(types);
    for (size_t i = 0; i < c.time; i++) {
        z->trans[i] = be64(b + i * 8);
        if (idx[i] >= c.type || (i > 0 && z->trans[i] <= z->trans[i - 1])) {
            sl_tz_destroy(z);
            set_why(why, cap, "the TZif file has a bad transition");
            return -EINVAL;
        }
        z->offs[i] = (int32_t)be32(types + idx[i] * 6);
    }
    /* The footer: "\n<POSIX TZ rule>\n" (empty: no rule). */
    if (end < len && p[end] == '\n') {
        const unsigned char *nl = memchr(p + end + 1, '\n', len - end - 1);
        size_t n = nl ? (size_t)(nl - (p + end + 1)) : 0;
        if (nl && n > 0 && n < 128) {
            char rule[128];
            memcpy(rule, p + end + 1, n);
            rule[n] = '\0';
            if (rule_parse(rule, &z->r) < 0) {
                sl_tz_destroy(z);
                set_why(why, cap, "the TZif file's footer is not a POSIX TZ rule");
                return -EINVAL;
            }
        }
    }
    *out = z;
    return 0;
}

int sl_tz_parse_rule(const char *rule, struct sl_tz **out, char *why, size_t cap)
{
    struct sl_tz *z = SL_NEW(struct sl_tz);
    if (strlen(rule) >= 128 || rule_parse(rule, &z->r) < 0) {
        free(z);
        set_why(why, cap, "not a POSIX TZ rule");
        return -EINVAL;
    }
    z->first = z->r.std_off;
    *out = z;
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SL_TZ_MAX_NAME || name[0] == '/' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!isalnum(ch) && ch != '/' && ch != '_' && ch != '-' && ch != '+' && ch != '.')
            return false;
    }
    return true;
}

int sl_tz_load(const char *name, struct sl_tz **out, char *why, size_t cap)
{
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        *out = SL_NEW(struct sl_tz); /* no transitions, no rule: offset 0 */
        return 0;
    }
    if (!name_ok(name)) {
        set_why(why, cap,
                "not an IANA time zone name (letters, digits, '/', '_', '-', '+'; at most 64 "
                "characters; e.g. Europe/Berlin, America/New_York, UTC)");
        return -EINVAL;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : DEFAULT_TZDIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (why && cap)
            snprintf(why, cap, "no such time zone in the tz database (%s: %s)", path, strerror(e));
        return -e;
    }
    unsigned char *buf = sl_malloc(SL_TZ_MAX_FILE);
    size_t len = fread(buf, 1, SL_TZ_MAX_FILE, f);
    fclose(f);
    char inner[160] = "";
    int rc = sl_tz_parse(buf, len, out, inner, sizeof(inner));
    free(buf);
    if (rc < 0 && why && cap)
        snprintf(why, cap, "%s: %s", path, inner);
    return rc;
}

void sl_tz_destroy(struct sl_tz *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->offs);
    free(z);
}

int32_t sl_tz_offset(const struct sl_tz *z, int64_t t)
{
    if (!z)
        return 0;
    if (z->ntrans == 0)
        return z->r.set ? rule_offset(&z->r, t) : z->first;
    if (t < z->trans[0])
        return z->first;
    if (t >= z->trans[z->ntrans - 1] && z->r.set)
        return rule_offset(&z->r, t);
    size_t lo = 0, hi = z->ntrans; /* the last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->offs[lo];
}
