/* Matches a compiled pattern (filter_int.h) against a record's filter view. Walks the view with
 * jansson lookups only: no allocation. A field whose value is an array matches when any element
 * does (EventBridge); an object value is not a leaf, so leaf matchers treat it as absent. */
#include <string.h>

#include "mappings/filter_int.h"

static bool num_test(enum sl_fm_op op, const struct sl_fnum *v, const struct sl_fnum *n)
{
    int cmp = sl_fnum_cmp(v, n);
    switch (op) {
    case SL_FM_OP_EQ:
        return cmp == 0;
    case SL_FM_OP_NE:
        return cmp != 0;
    case SL_FM_OP_LT:
        return cmp < 0;
    case SL_FM_OP_LE:
        return cmp <= 0;
    case SL_FM_OP_GT:
        return cmp > 0;
    case SL_FM_OP_GE:
        return cmp >= 0;
    case SL_FM_OP_NONE:
        break;
    }
    return true;
}

/* One matcher against one scalar value of the view. */
static bool scalar_match(const struct sl_fm *m, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t len = s ? json_string_length(v) : 0;
    struct sl_fnum num;
    switch (m->kind) {
    case SL_FM_STRING:
        if (s)
            return len == m->len && memcmp(s, m->s, len) == 0;
        if (m->also_num && json_is_number(v)) {
            sl_fnum_from_json(&num, v);
            return sl_fnum_cmp(&num, &m->num) == 0;
        }
        return m->also_bool && json_is_boolean(v) && json_is_true(v) == m->b;
    case SL_FM_NUMBER:
        if (!json_is_number(v))
            return false;
        sl_fnum_from_json(&num, v);
        return sl_fnum_cmp(&num, &m->num) == 0;
    case SL_FM_NULL:
        return json_is_null(v);
    case SL_FM_BOOL:
        return json_is_boolean(v) && json_is_true(v) == m->b;
    case SL_FM_EQUALS_IC:
        return s && sl_ftext_eq_ic(s, len, m->s, m->len);
    case SL_FM_PREFIX:
        return s && len >= m->len && memcmp(s, m->s, m->len) == 0;
    case SL_FM_PREFIX_IC:
        return s && sl_ftext_prefix_ic(s, len, m->s, m->len);
    case SL_FM_SUFFIX:
        return s && len >= m->len && memcmp(s + len - m->len, m->s, m->len) == 0;
    case SL_FM_SUFFIX_IC:
        return s && sl_ftext_suffix_ic(s, len, m->s, m->len);
    case SL_FM_WILDCARD:
        return s && sl_fwild_match(m, s, len);
    case SL_FM_NUMERIC:
        if (!json_is_number(v))
            return false;
        sl_fnum_from_json(&num, v);
        return num_test(m->op1, &num, &m->v1) && num_test(m->op2, &num, &m->v2);
    case SL_FM_ANYTHING_BUT:
        if (m->strings_only && !s)
            return false;
        for (size_t i = 0; i < m->nneg; i++) {
            if (scalar_match(&m->neg[i], v))
                return false;
        }
        return true;
    case SL_FM_EXISTS:
        break;
    }
    return false;
}

/* True when v holds a leaf: a scalar, or an array with a scalar somewhere inside. */
static bool leaf_exists(json_t *v)
{
    if (!v || json_is_object(v))
        return false;
    if (!json_is_array(v))
        return true;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (leaf_exists(e))
            return true;
    }
    return false;
}

static bool value_match(const struct sl_fm *m, json_t *v)
{
    if (!v || json_is_object(v))
        return false;
    if (!json_is_array(v))
        return scalar_match(m, v);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (value_match(m, e))
            return true;
    }
    return false;
}

static bool leaf_match(const struct sl_ffield *f, json_t *v)
{
    for (size_t i = 0; i < f->nm; i++) {
        const struct sl_fm *m = &f->m[i];
        if (m->kind == SL_FM_EXISTS ? leaf_exists(v) == m->b : value_match(m, v))
            return true;
    }
    return false;
}

/* A nested pattern object against the objects inside array v; *seen tells whether there was one. */
static bool array_match(const struct sl_fnode *n, json_t *v, bool *seen)
{
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (json_is_object(e)) {
            *seen = true;
            if (sl_fnode_match(n, e))
                return true;
        } else if (json_is_array(e) && array_match(n, e, seen)) {
            return true;
        }
    }
    return false;
}

static bool field_match(const struct sl_ffield *f, json_t *v)
{
    if (!f->node)
        return leaf_match(f, v);
    if (json_is_object(v))
        return sl_fnode_match(f->node, v);
    if (json_is_array(v)) {
        bool seen = false;
        if (array_match(f->node, v, &seen))
            return true;
        if (seen)
            return false;
    }
    /* Nothing to descend into: the nested fields are all absent (only exists:false matches). */
    return sl_fnode_match(f->node, NULL);
}

bool sl_fnode_match(const struct sl_fnode *n, json_t *obj)
{
    for (size_t i = 0; i < n->nfields; i++) {
        const struct sl_ffield *f = &n->fields[i];
        if (!field_match(f, obj ? json_object_get(obj, f->key) : NULL))
            return false;
    }
    if (n->nalts == 0)
        return true;
    for (size_t i = 0; i < n->nalts; i++) {
        if (sl_fnode_match(&n->alts[i], obj))
            return true;
    }
    return false;
}
