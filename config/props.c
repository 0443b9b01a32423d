/* Property tables: binding config values (a jansson tree) into C structs. */
#include "config/props.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/diags.h"
#include "config/props_fmt.h"
#include "core/mem.h"
#include "core/units.h"

#define SL_PATH_MAX 384

static const char *const sl_bool_true[] = {"true", "yes", "on", NULL};
static const char *const sl_bool_false[] = {"false", "no", "off", NULL};

static int bind_table(const struct sl_prop_table *t, json_t *node, char *base,
                      const struct sl_prop_ctx *ctx, struct sl_err *err);

/* The context of a nested node: same file and folder, its own key path. */
static struct sl_prop_ctx sub_ctx(const struct sl_prop_ctx *ctx, const char *path)
{
    return (struct sl_prop_ctx){.file = ctx ? ctx->file : NULL,
                                .path = path,
                                .dir = ctx ? ctx->dir : NULL,
                                .collect = ctx ? ctx->collect : NULL};
}

/* In collect mode, records an error and lets binding go on (returns 0). */
static int collected(const struct sl_prop_ctx *ctx, int rc, const struct sl_err *err)
{
    if (rc >= 0 || !ctx || !ctx->collect)
        return rc;
    sl_cfg_diags_add(ctx->collect, err);
    return 0;
}

char *sl_prop_path(const char *dir, const char *path)
{
    if (!dir || !*path || path[0] == '/')
        return sl_strdup(path);
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (*path == '/')
            path++;
    }
    if (!*path || strcmp(path, ".") == 0)
        return sl_strdup(dir);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = sl_malloc(n);
    snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", path);
    return out;
}

/* ---- errors ------------------------------------------------------------------------------- */

static int prop_errf(const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int prop_errf(const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err,
                     const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *file = ctx && ctx->file ? ctx->file : NULL;
    if (file && path && *path)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s: %s", file, path, msg);
    if (file)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s", file, msg);
    if (path && *path)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s", path, msg);
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s", msg);
}

/* Appends s to out (capacity cap, already NUL-terminated), replacing control bytes with '?'. */
static void path_append(char *out, size_t cap, const char *s)
{
    size_t len = strlen(out);
    while (*s && len + 1 < cap) {
        unsigned char c = (unsigned char)*s++;
        out[len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[len] = '\0';
}

void sl_path_key(char *out, size_t cap, const char *parent, const char *key)
{
    out[0] = '\0';
    path_append(out, cap, parent ? parent : "");
    if (parent && *parent)
        path_append(out, cap, ".");
    path_append(out, cap, key);
}

void sl_path_index(char *out, size_t cap, const char *parent, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof(idx), "[%zu]", i);
    out[0] = '\0';
    path_append(out, cap, parent ? parent : "");
    path_append(out, cap, idx);
}

const char *sl_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Writes a scalar for a message: strings quoted (or raw when !quote), at most ~60 characters,
 * control characters escaped. */
void sl_value_text(const json_t *v, bool secret, bool quote, char *out, size_t cap)
{
    if (secret) {
        snprintf(out, cap, "(secret)");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), o = 0, limit = 60;
        if (quote && o + 1 < cap)
            out[o++] = '"';
        for (size_t i = 0; i < n && o + 8 < cap; i++) {
            unsigned char c = (unsigned char)s[i];
            if (i == limit) {
                memcpy(out + o, "...", 3);
                o += 3;
                break;
            }
            if (c == '"' || c == '\\') {
                out[o++] = '\\';
                out[o++] = (char)c;
            } else if (c < 0x20 || c == 0x7f) {
                o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
            } else {
                out[o++] = (char)c;
            }
        }
        if (quote && o + 1 < cap)
            out[o++] = '"';
        out[o] = '\0';
        break;
    }
    case JSON_INTEGER:
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, cap, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(out, cap, "true");
        break;
    case JSON_FALSE:
        snprintf(out, cap, "false");
        break;
    default:
        snprintf(out, cap, "%s", sl_json_kind(v));
        break;
    }
}

static bool is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* "<value> is not <what>" for scalars, "expected <what>, got a list" for the rest. */
static int type_error(const struct sl_prop *p, const json_t *v, const char *what, const char *hint,
                      const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (!is_scalar(v))
        return prop_errf(ctx, path, err, "expected %s, got %s", what, sl_json_kind(v));
    char val[128];
    sl_value_text(v, p->flags & SL_PROP_SECRET, true, val, sizeof(val));
    return prop_errf(ctx, path, err, "%s is not %s%s", val, what, hint ? hint : "");
}

/* ---- bounds ------------------------------------------------------------------------------- */

static bool has_bounds(const struct sl_prop *p)
{
    return p->min != 0 || p->max != 0;
}

/* A bound in the prop's unit: "0", "250ms", "64KiB", "1000". */
static void fmt_bound(const struct sl_prop *p, int64_t b, char *out, size_t cap)
{
    if (b == 0) {
        snprintf(out, cap, "0");
        return;
    }
    switch (p->type) {
    case SL_PROP_DURATION:
        sl_duration_fmt(b, out, cap);
        break;
    case SL_PROP_SIZE:
        sl_size_fmt((uint64_t)b, out, cap);
        break;
    default:
        snprintf(out, cap, "%" PRId64, b);
        break;
    }
}

void sl_prop_fmt_range(const struct sl_prop *p, char *out, size_t cap)
{
    char lo[48], hi[48];
    fmt_bound(p, p->min, lo, sizeof(lo));
    fmt_bound(p, p->max, hi, sizeof(hi));
    if (p->max == 0 && p->min != 0)
        snprintf(out, cap, "%s or more", lo);
    else
        snprintf(out, cap, "%s..%s", lo, hi);
}

static int range_error(const struct sl_prop *p, const json_t *v, const struct sl_prop_ctx *ctx,
                       const char *path, struct sl_err *err)
{
    char val[128], range[112];
    sl_value_text(v, p->flags & SL_PROP_SECRET, false, val, sizeof(val));
    sl_prop_fmt_range(p, range, sizeof(range));
    return prop_errf(ctx, path, err, "%s is out of range (allowed: %s)", val, range);
}

static bool in_range_i(const struct sl_prop *p, int64_t v)
{
    if (!has_bounds(p))
        return true;
    if (v < p->min)
        return false;
    return p->max == 0 || v <= p->max;
}

static bool in_range_u(const struct sl_prop *p, uint64_t v)
{
    if (!has_bounds(p))
        return true;
    if (p->min > 0 && v < (uint64_t)p->min)
        return false;
    return p->max <= 0 || v <= (uint64_t)p->max;
}

/* ---- scalars ------------------------------------------------------------------------------ */

/* The text of a scalar: strings as they are, numbers and booleans formatted into tmp. */
static const char *scalar_text(const json_t *v, char *tmp, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(tmp, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tmp;
    case JSON_REAL:
        snprintf(tmp, cap, "%.17g", json_real_value(v));
        return tmp;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

static int parse_string(const struct sl_prop *p, const json_t *v, char **out,
                        const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    char tmp[64];
    const char *s = scalar_text(v, tmp, sizeof(tmp));
    if (!s)
        return type_error(p, v, "a string", NULL, ctx, path, err);
    if (json_is_string(v) && strlen(s) != json_string_length(v))
        return prop_errf(ctx, path, err, "contains a NUL character");
    *out = p->flags & SL_PROP_PATH ? sl_prop_path(ctx ? ctx->dir : NULL, s) : sl_strdup(s);
    return 0;
}

static bool parse_int_text(const char *s, int64_t *out)
{
    const char *d = s;
    if (*d == '-' || *d == '+')
        d++;
    if (!*d)
        return false;
    for (const char *c = d; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return false;
    }
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = (int64_t)v;
    return true;
}

static int parse_int(const struct sl_prop *p, const json_t *v, int64_t *out,
                     const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    int64_t n;
    if (json_is_integer(v))
        n = (int64_t)json_integer_value(v);
    else if (!json_is_string(v) || !parse_int_text(json_string_value(v), &n))
        return type_error(p, v, "an integer", NULL, ctx, path, err);
    if (!in_range_i(p, n))
        return range_error(p, v, ctx, path, err);
    *out = n;
    return 0;
}

static bool word_in(const char *s, const char *const *words)
{
    for (size_t i = 0; words[i]; i++) {
        if (strcasecmp(s, words[i]) == 0)
            return true;
    }
    return false;
}

static int parse_bool(const struct sl_prop *p, const json_t *v, bool *out,
                      const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (word_in(s, sl_bool_true)) {
            *out = true;
            return 0;
        }
        if (word_in(s, sl_bool_false)) {
            *out = false;
            return 0;
        }
    }
    return type_error(p, v, "a boolean", " (allowed: true, false)", ctx, path, err);
}

static int parse_float(const struct sl_prop *p, const json_t *v, double *out,
                       const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        d = strtod(s, &end);
        if (!*s || isspace((unsigned char)*s) || *end || errno == ERANGE || !isfinite(d))
            return type_error(p, v, "a number", NULL, ctx, path, err);
    } else {
        return type_error(p, v, "a number", NULL, ctx, path, err);
    }
    if (has_bounds(p) && (d < (double)p->min || (p->max != 0 && d > (double)p->max) || isnan(d)))
        return range_error(p, v, ctx, path, err);
    *out = d;
    return 0;
}

static int parse_duration(const struct sl_prop *p, const json_t *v, int64_t *out,
                          const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    char tmp[64];
    int64_t ms;
    const char *s =
        (json_is_string(v) || json_is_number(v)) ? scalar_text(v, tmp, sizeof(tmp)) : NULL;
    if (!s || sl_duration_parse(s, &ms) < 0)
        return type_error(p, v, "a duration", " (e.g. 250ms, 30s, 1h)", ctx, path, err);
    if (!in_range_i(p, ms))
        return range_error(p, v, ctx, path, err);
    *out = ms;
    return 0;
}

static int parse_size(const struct sl_prop *p, const json_t *v, uint64_t *out,
                      const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    char tmp[64];
    uint64_t bytes;
    const char *s =
        (json_is_string(v) || json_is_integer(v)) ? scalar_text(v, tmp, sizeof(tmp)) : NULL;
    if (!s || sl_size_parse(s, &bytes) < 0)
        return type_error(p, v, "a size", " (e.g. 64KB, 6MB, 1GiB)", ctx, path, err);
    if (!in_range_u(p, bytes))
        return range_error(p, v, ctx, path, err);
    *out = bytes;
    return 0;
}

void sl_prop_fmt_enum(const struct sl_prop *p, const char *quote, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; p->enum_values && p->enum_values[i] && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s%s%s", i ? ", " : "", quote, p->enum_values[i],
                              quote);
}

static int parse_enum(const struct sl_prop *p, const json_t *v, int *out,
                      const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (json_is_string(v) && p->enum_values) {
        const char *s = json_string_value(v);
        for (int i = 0; p->enum_values[i]; i++) {
            if (strcmp(s, p->enum_values[i]) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    char allowed[256], val[128];
    sl_prop_fmt_enum(p, "", allowed, sizeof(allowed));
    if (!is_scalar(v))
        return prop_errf(ctx, path, err, "expected one of %s, got %s", allowed, sl_json_kind(v));
    sl_value_text(v, p->flags & SL_PROP_SECRET, true, val, sizeof(val));
    return prop_errf(ctx, path, err, "%s is not allowed (allowed: %s)", val, allowed);
}

/* ---- lists, maps, objects ----------------------------------------------------------------- */

static int parse_strlist(const struct sl_prop *p, json_t *v, struct sl_strlist *out,
                         const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (!json_is_array(v))
        return prop_errf(ctx, path, err, "expected a list of strings, got %s", sl_json_kind(v));
    size_t n = json_array_size(v);
    out->v = sl_calloc(n ? n : 1, sizeof(char *));
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char ipath[SL_PATH_MAX];
        sl_path_index(ipath, sizeof(ipath), path, i);
        int rc = parse_string(p, json_array_get(v, i), &out->v[i], ctx, ipath, err);
        if (rc < 0)
            return rc;
        out->n++;
    }
    return 0;
}

static int parse_intlist(const struct sl_prop *p, json_t *v, struct sl_intlist *out,
                         const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (!json_is_array(v))
        return prop_errf(ctx, path, err, "expected a list of integers, got %s", sl_json_kind(v));
    size_t n = json_array_size(v);
    out->v = sl_calloc(n ? n : 1, sizeof(int64_t));
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char ipath[SL_PATH_MAX];
        sl_path_index(ipath, sizeof(ipath), path, i);
        int rc = parse_int(p, json_array_get(v, i), &out->v[i], ctx, ipath, err);
        if (rc < 0)
            return rc;
        out->n++;
    }
    return 0;
}

static int parse_strmap(const struct sl_prop *p, json_t *v, struct sl_strmap *out,
                        const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (!json_is_object(v))
        return prop_errf(ctx, path, err, "expected a mapping of strings, got %s", sl_json_kind(v));
    size_t n = json_object_size(v);
    out->keys = sl_calloc(n ? n : 1, sizeof(char *));
    out->vals = sl_calloc(n ? n : 1, sizeof(char *));
    out->n = 0;
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        char kpath[SL_PATH_MAX];
        sl_path_key(kpath, sizeof(kpath), path, key);
        char *val = NULL;
        int rc = parse_string(p, item, &val, ctx, kpath, err);
        if (rc < 0)
            return rc;
        out->keys[out->n] = sl_strdup(key);
        out->vals[out->n] = val;
        out->n++;
    }
    return 0;
}

static int parse_objlist(const struct sl_prop *p, json_t *v, struct sl_objlist *out,
                         const struct sl_prop_ctx *ctx, const char *path, struct sl_err *err)
{
    if (!json_is_array(v))
        return prop_errf(ctx, path, err, "expected a list, got %s", sl_json_kind(v));
    size_t n = json_array_size(v), sz = p->sub->struct_size;
    out->items = sl_calloc(n ? n : 1, sz ? sz : 1);
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char ipath[SL_PATH_MAX];
        sl_path_index(ipath, sizeof(ipath), path, i);
        json_t *item = json_array_get(v, i);
        int rc;
        if (!json_is_object(item)) {
            /* Collecting: the item stays zeroed, so list indexes still match the file. */
            rc = collected(
                ctx, prop_errf(ctx, ipath, err, "expected a mapping, got %s", sl_json_kind(item)),
                err);
            if (rc < 0)
                return rc;
            out->n++;
            continue;
        }
        struct sl_prop_ctx ictx = sub_ctx(ctx, ipath);
        rc = bind_table(p->sub, item, (char *)out->items + i * sz, &ictx, err);
        if (rc < 0)
            return rc;
        out->n++;
    }
    return 0;
}

/* ---- fields ------------------------------------------------------------------------------- */

static void init_fields(const struct sl_prop_table *t, char *base)
{
    for (size_t i = 0; i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        void *f = base + p->offset;
        switch (p->type) {
        case SL_PROP_STRING:
            *(char **)f = NULL;
            break;
        case SL_PROP_INT:
        case SL_PROP_DURATION:
            *(int64_t *)f = 0;
            break;
        case SL_PROP_BOOL:
            *(bool *)f = false;
            break;
        case SL_PROP_FLOAT:
            *(double *)f = 0;
            break;
        case SL_PROP_SIZE:
            *(uint64_t *)f = 0;
            break;
        case SL_PROP_ENUM:
            *(int *)f = 0;
            break;
        case SL_PROP_STRING_LIST:
            memset(f, 0, sizeof(struct sl_strlist));
            break;
        case SL_PROP_INT_LIST:
            memset(f, 0, sizeof(struct sl_intlist));
            break;
        case SL_PROP_STRING_MAP:
            memset(f, 0, sizeof(struct sl_strmap));
            break;
        case SL_PROP_OBJECT:
        case SL_PROP_INLINE:
            if (p->sub)
                init_fields(p->sub, (char *)f);
            break;
        case SL_PROP_OBJECT_LIST:
            memset(f, 0, sizeof(struct sl_objlist));
            break;
        case SL_PROP_JSON:
            *(json_t **)f = NULL;
            break;
        }
    }
}

static void release_field(const struct sl_prop *p, void *f)
{
    switch (p->type) {
    case SL_PROP_STRING:
        free(*(char **)f);
        *(char **)f = NULL;
        break;
    case SL_PROP_STRING_LIST: {
        struct sl_strlist *l = f;
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
        break;
    }
    case SL_PROP_INT_LIST: {
        struct sl_intlist *l = f;
        free(l->v);
        l->v = NULL;
        l->n = 0;
        break;
    }
    case SL_PROP_STRING_MAP: {
        struct sl_strmap *m = f;
        for (size_t i = 0; i < m->n; i++) {
            free(m->keys[i]);
            free(m->vals[i]);
        }
        free(m->keys);
        free(m->vals);
        m->keys = m->vals = NULL;
        m->n = 0;
        break;
    }
    case SL_PROP_OBJECT:
    case SL_PROP_INLINE:
        if (p->sub)
            sl_props_release(p->sub, f);
        break;
    case SL_PROP_OBJECT_LIST: {
        struct sl_objlist *l = f;
        size_t sz = p->sub ? p->sub->struct_size : 0;
        for (size_t i = 0; i < l->n && p->sub; i++)
            sl_props_release(p->sub, (char *)l->items + i * sz);
        free(l->items);
        l->items = NULL;
        l->n = 0;
        break;
    }
    case SL_PROP_JSON:
        json_decref(*(json_t **)f);
        *(json_t **)f = NULL;
        break;
    default:
        break;
    }
}

void sl_props_release(const struct sl_prop_table *t, void *obj)
{
    if (!t || !obj)
        return;
    for (size_t i = 0; i < t->nprops; i++)
        release_field(&t->props[i], (char *)obj + t->props[i].offset);
}

static int bind_field(const struct sl_prop *p, json_t *v, void *f, const struct sl_prop_ctx *ctx,
                      const char *path, struct sl_err *err)
{
    if ((p->type == SL_PROP_OBJECT || p->type == SL_PROP_OBJECT_LIST) &&
        (!p->sub || (p->type == SL_PROP_OBJECT_LIST && p->sub->struct_size == 0)))
        return prop_errf(ctx, path, err, "property table error: no sub table or struct_size");
    if (p->type == SL_PROP_ENUM && !p->enum_values)
        return prop_errf(ctx, path, err, "property table error: no enum_values");
    switch (p->type) {
    case SL_PROP_STRING:
        return parse_string(p, v, f, ctx, path, err);
    case SL_PROP_INT:
        return parse_int(p, v, f, ctx, path, err);
    case SL_PROP_BOOL:
        return parse_bool(p, v, f, ctx, path, err);
    case SL_PROP_FLOAT:
        return parse_float(p, v, f, ctx, path, err);
    case SL_PROP_DURATION:
        return parse_duration(p, v, f, ctx, path, err);
    case SL_PROP_SIZE:
        return parse_size(p, v, f, ctx, path, err);
    case SL_PROP_ENUM:
        return parse_enum(p, v, f, ctx, path, err);
    case SL_PROP_STRING_LIST:
        return parse_strlist(p, v, f, ctx, path, err);
    case SL_PROP_INT_LIST:
        return parse_intlist(p, v, f, ctx, path, err);
    case SL_PROP_STRING_MAP:
        return parse_strmap(p, v, f, ctx, path, err);
    case SL_PROP_OBJECT: {
        if (!json_is_object(v))
            return prop_errf(ctx, path, err, "expected a mapping, got %s", sl_json_kind(v));
        struct sl_prop_ctx sctx = sub_ctx(ctx, path);
        return bind_table(p->sub, v, f, &sctx, err);
    }
    case SL_PROP_OBJECT_LIST:
        return parse_objlist(p, v, f, ctx, path, err);
    case SL_PROP_JSON:
        *(json_t **)f = json_incref(v);
        return 0;
    case SL_PROP_INLINE:
        break; /* has no value of its own: bind_rows binds its sub table's keys */
    }
    return prop_errf(ctx, path, err, "unsupported property type %d", (int)p->type);
}

static bool is_structured(enum sl_prop_type type)
{
    return type == SL_PROP_STRING_LIST || type == SL_PROP_INT_LIST || type == SL_PROP_STRING_MAP ||
           type == SL_PROP_OBJECT_LIST || type == SL_PROP_JSON;
}

/* A default is config text: scalars as strings, lists/maps/JSON as JSON text ("[408, 429]"). */
static int bind_default(const struct sl_prop *p, void *f, const struct sl_prop_ctx *ctx,
                        const char *path, struct sl_err *err)
{
    if (p->type == SL_PROP_OBJECT) {
        if (!p->sub)
            return prop_errf(ctx, path, err, "property table error: no sub table");
        struct sl_prop_ctx sctx = sub_ctx(ctx, path);
        return bind_table(p->sub, NULL, f, &sctx, err);
    }
    if (!p->def)
        return 0;
    json_t *v =
        is_structured(p->type) ? json_loads(p->def, JSON_DECODE_ANY, NULL) : json_string(p->def);
    if (!v)
        return prop_errf(ctx, path, err, "invalid default \"%s\" in the property table", p->def);
    int rc = bind_field(p, v, f, ctx, path, err);
    json_decref(v);
    return rc;
}

/* Looks through inlined tables too: their keys are keys of this level. */
static const struct sl_prop *find_prop(const struct sl_prop_table *t, const char *key)
{
    for (size_t i = 0; i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        if (p->type == SL_PROP_INLINE) {
            const struct sl_prop *q = p->sub ? find_prop(p->sub, key) : NULL;
            if (q)
                return q;
        } else if (strcmp(p->name, key) == 0) {
            return p;
        }
    }
    return NULL;
}

/* Appends the keys of t (inlined tables' keys in their row's place) to out, ", "-separated. */
static void append_names(const struct sl_prop_table *t, char *out, size_t cap, size_t *o)
{
    for (size_t i = 0; i < t->nprops && *o < cap; i++) {
        const struct sl_prop *p = &t->props[i];
        if (p->type == SL_PROP_INLINE) {
            if (p->sub)
                append_names(p->sub, out, cap, o);
            continue;
        }
        *o += (size_t)snprintf(out + *o, cap - *o, "%s%s", *o ? ", " : "", p->name);
    }
}

static bool is_tolerated(const struct sl_prop_table *t, const char *key)
{
    for (size_t i = 0; t->tolerated && t->tolerated[i]; i++) {
        if (strcmp(t->tolerated[i], "*") == 0 || strcmp(t->tolerated[i], key) == 0)
            return true;
    }
    return false;
}

static int check_keys(const struct sl_prop_table *t, json_t *node, const struct sl_prop_ctx *ctx,
                      struct sl_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v)
    {
        if (find_prop(t, key) || is_tolerated(t, key))
            continue;
        char path[SL_PATH_MAX], allowed[SL_ERR_MSG_MAX];
        size_t o = 0;
        allowed[0] = '\0';
        append_names(t, allowed, sizeof(allowed), &o);
        sl_path_key(path, sizeof(path), ctx ? ctx->path : "", key);
        int rc =
            collected(ctx, prop_errf(ctx, path, err, "unknown key (allowed: %s)", allowed), err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Binds the rows of t from node (NULL: defaults only) into base; an inlined table's rows are
 * bound from the same node into its struct. */
static int bind_rows(const struct sl_prop_table *t, json_t *node, char *base,
                     const struct sl_prop_ctx *ctx, struct sl_err *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        if (p->type == SL_PROP_INLINE) {
            rc = p->sub ? bind_rows(p->sub, node, base + p->offset, ctx, err)
                        : prop_errf(ctx, ctx ? ctx->path : "", err,
                                    "property table error: no sub table");
            continue;
        }
        char path[SL_PATH_MAX];
        sl_path_key(path, sizeof(path), ctx ? ctx->path : "", p->name);
        json_t *v = node ? json_object_get(node, p->name) : NULL;
        void *f = base + p->offset;
        if (v && !json_is_null(v))
            rc = bind_field(p, v, f, ctx, path, err);
        else if (p->flags & SL_PROP_REQUIRED)
            rc = prop_errf(ctx, path, err, "missing required key");
        else
            rc = bind_default(p, f, ctx, path, err);
        rc = collected(ctx, rc, err);
    }
    return rc;
}

static int bind_table(const struct sl_prop_table *t, json_t *node, char *base,
                      const struct sl_prop_ctx *ctx, struct sl_err *err)
{
    init_fields(t, base);
    if (node && json_is_null(node))
        node = NULL;
    if (node && !json_is_object(node)) {
        int rc = prop_errf(ctx, ctx ? ctx->path : "", err, "expected a mapping, got %s",
                           sl_json_kind(node));
        if (!ctx || !ctx->collect)
            return rc;
        sl_cfg_diags_add(ctx->collect, err);
        node = NULL; /* defaults only */
    }
    int rc = node ? check_keys(t, node, ctx, err) : 0;
    if (rc == 0)
        rc = bind_rows(t, node, base, ctx, err);
    if (rc < 0)
        sl_props_release(t, base);
    return rc;
}

int sl_props_bind(const struct sl_prop_table *t, json_t *node, void *out,
                  const struct sl_prop_ctx *ctx, struct sl_err *err)
{
    if (!t || !out)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "sl_props_bind: no table or output");
    size_t before = ctx && ctx->collect ? ctx->collect->errors : 0;
    int rc = bind_table(t, node, out, ctx, err);
    if (rc == 0 && ctx && ctx->collect && ctx->collect->errors > before) {
        sl_props_release(t, out);
        rc = SL_ECONFIG; /* err holds the last one */
    }
    return rc;
}

int sl_props_bind_all(const struct sl_prop_table *t, json_t *node, void *out,
                      const struct sl_prop_ctx *ctx, struct sl_err *err)
{
    if (!t || !out || !ctx || !ctx->collect)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "sl_props_bind_all: bad arguments");
    size_t before = ctx->collect->errors;
    int rc = bind_table(t, node, out, ctx, err);
    return rc == 0 && ctx->collect->errors > before ? SL_ECONFIG : rc;
}

/* ---- list helpers ------------------------------------------------------------------------- */

bool sl_strlist_contains(const struct sl_strlist *l, const char *s)
{
    for (size_t i = 0; l && s && i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0)
            return true;
    }
    return false;
}

bool sl_intlist_contains(const struct sl_intlist *l, int64_t v)
{
    for (size_t i = 0; l && i < l->n; i++) {
        if (l->v[i] == v)
            return true;
    }
    return false;
}

const char *sl_strmap_get(const struct sl_strmap *m, const char *key)
{
    for (size_t i = 0; m && key && i < m->n; i++) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
    }
    return NULL;
}
