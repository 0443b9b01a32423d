/* Comparing two bound structs through their property table: the config's own canonical form
 * ("1s" and "1000ms" are the same value), used to tell what a reload changes. */
#include <stdio.h>
#include <string.h>

#include "config/props.h"
#include "config/props_fmt.h"

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool field_eq(const struct sl_prop *p, const void *a, const void *b, const char *path,
                     char *out, size_t cap);

static bool table_eq(const struct sl_prop_table *t, const void *a, const void *b,
                     const char *prefix, char *out, size_t cap)
{
    for (size_t i = 0; t && i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        char path[256];
        if (p->type == SL_PROP_INLINE)
            snprintf(path, sizeof(path), "%s", prefix);
        else
            sl_path_key(path, sizeof(path), prefix, p->name);
        if (!field_eq(p, (const char *)a + p->offset, (const char *)b + p->offset, path, out, cap))
            return false;
    }
    return true;
}

static bool field_eq(const struct sl_prop *p, const void *a, const void *b, const char *path,
                     char *out, size_t cap)
{
    bool eq = true;
    switch (p->type) {
    case SL_PROP_STRING:
        eq = str_eq(*(char *const *)a, *(char *const *)b);
        break;
    case SL_PROP_INT:
    case SL_PROP_DURATION:
        eq = *(const int64_t *)a == *(const int64_t *)b;
        break;
    case SL_PROP_BOOL:
        eq = *(const bool *)a == *(const bool *)b;
        break;
    case SL_PROP_FLOAT:
        eq = *(const double *)a == *(const double *)b;
        break;
    case SL_PROP_SIZE:
        eq = *(const uint64_t *)a == *(const uint64_t *)b;
        break;
    case SL_PROP_ENUM:
        eq = *(const int *)a == *(const int *)b;
        break;
    case SL_PROP_STRING_LIST: {
        const struct sl_strlist *x = a, *y = b;
        eq = x->n == y->n;
        for (size_t i = 0; eq && i < x->n; i++)
            eq = str_eq(x->v[i], y->v[i]);
        break;
    }
    case SL_PROP_INT_LIST: {
        const struct sl_intlist *x = a, *y = b;
        eq = x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, x->n * sizeof(*x->v)) == 0);
        break;
    }
    case SL_PROP_STRING_MAP: {
        const struct sl_strmap *x = a, *y = b;
        eq = x->n == y->n;
        for (size_t i = 0; eq && i < x->n; i++)
            eq = str_eq(x->keys[i], y->keys[i]) && str_eq(x->vals[i], y->vals[i]);
        break;
    }
    case SL_PROP_OBJECT:
    case SL_PROP_INLINE:
        return table_eq(p->sub, a, b, path, out, cap);
    case SL_PROP_OBJECT_LIST: {
        const struct sl_objlist *x = a, *y = b;
        if (x->n != y->n || !p->sub) {
            eq = x->n == y->n;
            break;
        }
        for (size_t i = 0; i < x->n; i++) {
            char item[256];
            sl_path_index(item, sizeof(item), path, i);
            size_t sz = p->sub->struct_size;
            if (!table_eq(p->sub, (const char *)x->items + i * sz, (const char *)y->items + i * sz,
                          item, out, cap))
                return false;
        }
        break;
    }
    case SL_PROP_JSON: {
        json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
        eq = x == y || (x && y && json_equal(x, y));
        break;
    }
    }
    if (!eq && out && cap)
        snprintf(out, cap, "%s", path);
    return eq;
}

bool sl_props_equal(const struct sl_prop_table *t, const void *a, const void *b, const char *prefix,
                    char *path, size_t cap)
{
    if (path && cap)
        path[0] = '\0';
    return table_eq(t, a, b, prefix ? prefix : "", path, cap);
}

bool sl_prop_equal(const struct sl_prop *p, const void *a, const void *b, const char *prefix,
                   char *path, size_t cap)
{
    char key[256];
    if (path && cap)
        path[0] = '\0';
    sl_path_key(key, sizeof(key), prefix ? prefix : "", p->name);
    return field_eq(p, (const char *)a + p->offset, (const char *)b + p->offset, key, path, cap);
}
