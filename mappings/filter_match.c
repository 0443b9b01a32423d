/* Matches a compiled pattern (filter_int.h) against a record's view, reading JSON text in place
 * (filter_json.c): no tree, no allocation per record. The body is validated and walked only
 * when a pattern names the data key; the metadata is written only when a pattern names another
 * key. A field whose value is an array matches when any element does (EventBridge); an object
 * value is not a leaf, so leaf matchers treat it as absent. */
#include <string.h>

#include "core/utf8.h"
#include "mappings/filter_int.h"

/* What one match has learned about the record's view (lazily). */
struct sl_fview_state {
    struct sl_buf *scratch; /* the metadata text */
    bool meta_done, meta_ok;
    struct sl_jv meta;
    bool data_done, data_ok;
    struct sl_jv data;
};

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

static bool is_number(const struct sl_jv *v, struct sl_fnum *num)
{
    return v->t == SL_JV_NUMBER && sl_jt_number(v->p, v->len, num);
}

static bool is_bool(const struct sl_jv *v)
{
    return v->t == SL_JV_TRUE || v->t == SL_JV_FALSE;
}

/* One matcher against one scalar value; s/len is the decoded string when v is one. */
static bool scalar_test(const struct sl_fm *m, const struct sl_jv *v, const char *s, size_t len)
{
    struct sl_fnum num;
    switch (m->kind) {
    case SL_FM_STRING:
        if (s)
            return len == m->len && memcmp(s, m->s, len) == 0;
        if (m->also_num && is_number(v, &num))
            return sl_fnum_cmp(&num, &m->num) == 0;
        return m->also_bool && is_bool(v) && (v->t == SL_JV_TRUE) == m->b;
    case SL_FM_NUMBER:
        return is_number(v, &num) && sl_fnum_cmp(&num, &m->num) == 0;
    case SL_FM_NULL:
        return v->t == SL_JV_NULL;
    case SL_FM_BOOL:
        return is_bool(v) && (v->t == SL_JV_TRUE) == m->b;
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
        return is_number(v, &num) && num_test(m->op1, &num, &m->v1) &&
               num_test(m->op2, &num, &m->v2);
    case SL_FM_ANYTHING_BUT:
        if (m->strings_only && !s)
            return false;
        for (size_t i = 0; i < m->nneg; i++) {
            if (scalar_test(&m->neg[i], v, s, len))
                return false;
        }
        return true;
    case SL_FM_EXISTS:
        break;
    }
    return false;
}

static bool scalar_match(const struct sl_fm *m, const struct sl_jv *v)
{
    if (v->t != SL_JV_STRING)
        return scalar_test(m, v, NULL, 0);
    struct sl_jt_buf b;
    size_t len;
    const char *s = sl_jt_str(v, &b, &len);
    bool r = scalar_test(m, v, s, len);
    sl_jt_buf_release(&b);
    return r;
}

/* True when v holds a leaf: a scalar, or an array with a scalar somewhere inside. */
static bool leaf_exists(const struct sl_jv *v)
{
    if (v->t == SL_JV_ABSENT || v->t == SL_JV_OBJECT)
        return false;
    if (v->t != SL_JV_ARRAY)
        return true;
    struct sl_jt_iter it;
    struct sl_jv e;
    sl_jt_iter_init(&it, v);
    while (sl_jt_next(&it, NULL, &e)) {
        if (leaf_exists(&e))
            return true;
    }
    return false;
}

static bool value_match(const struct sl_fm *m, const struct sl_jv *v)
{
    if (v->t == SL_JV_ABSENT || v->t == SL_JV_OBJECT)
        return false;
    if (v->t != SL_JV_ARRAY)
        return scalar_match(m, v);
    struct sl_jt_iter it;
    struct sl_jv e;
    sl_jt_iter_init(&it, v);
    while (sl_jt_next(&it, NULL, &e)) {
        if (value_match(m, &e))
            return true;
    }
    return false;
}

static bool leaf_match(const struct sl_ffield *f, const struct sl_jv *v)
{
    for (size_t i = 0; i < f->nm; i++) {
        const struct sl_fm *m = &f->m[i];
        if (m->kind == SL_FM_EXISTS ? leaf_exists(v) == m->b : value_match(m, v))
            return true;
    }
    return false;
}

static bool object_match(const struct sl_fnode *n, const struct sl_jv *obj)
{
    struct sl_fobj o = {.obj = obj};
    return sl_fnode_match(n, &o);
}

/* A nested pattern object against the objects inside array v; *seen tells whether there was
 * one. */
static bool array_match(const struct sl_fnode *n, const struct sl_jv *v, bool *seen)
{
    struct sl_jt_iter it;
    struct sl_jv e;
    sl_jt_iter_init(&it, v);
    while (sl_jt_next(&it, NULL, &e)) {
        if (e.t == SL_JV_OBJECT) {
            *seen = true;
            if (object_match(n, &e))
                return true;
        } else if (e.t == SL_JV_ARRAY && array_match(n, &e, seen)) {
            return true;
        }
    }
    return false;
}

static bool field_match(const struct sl_ffield *f, const struct sl_jv *v)
{
    if (!f->node)
        return leaf_match(f, v);
    if (v->t == SL_JV_OBJECT)
        return object_match(f->node, v);
    if (v->t == SL_JV_ARRAY) {
        bool seen = false;
        if (array_match(f->node, v, &seen))
            return true;
        if (seen)
            return false;
    }
    /* Nothing to descend into: the nested fields are all absent (only exists:false matches). */
    return sl_fnode_match(f->node, NULL);
}

/* ---- the record's view ---- */

static bool view_hidden(const struct sl_fview *v, const char *key)
{
    for (const char *const *h = v->hidden; h && *h; h++)
        if (strcmp(*h, key) == 0)
            return true;
    return false;
}

static void view_data(const struct sl_fview *v, struct sl_fview_state *vs)
{
    vs->data_done = true;
    if (v->data_flags & SL_FVIEW_NULL) {
        vs->data = (struct sl_jv){.t = SL_JV_NULL};
        vs->data_ok = true;
        return;
    }
    const char *text = v->data ? v->data : "";
    unsigned flags = (v->data_flags & SL_FVIEW_DECODE_ANY ? SL_JT_DECODE_ANY : 0) |
                     (v->data_flags & SL_FVIEW_ALLOW_NUL ? SL_JT_ALLOW_NUL : 0);
    if (sl_jt_validate(text, v->data_len, flags, &vs->data)) {
        vs->data_ok = true;
    } else if ((v->data_flags & SL_FVIEW_TEXT) && sl_utf8_valid(text, v->data_len)) {
        /* Not JSON: the bytes are a string (a JSON pattern then never matches them). */
        vs->data = (struct sl_jv){.t = SL_JV_STRING, .p = text, .len = v->data_len};
        vs->data_ok = true;
    }
}

static void view_meta(const struct sl_fview *v, struct sl_fview_state *vs)
{
    vs->meta_done = true;
    if (!v->write_meta)
        return;
    sl_buf_reset(vs->scratch);
    v->write_meta(v->r, vs->scratch);
    const char *text = vs->scratch->data ? vs->scratch->data : "";
    vs->meta_ok = sl_jt_validate(text, vs->scratch->len, SL_JT_ALLOW_NUL, &vs->meta) &&
                  vs->meta.t == SL_JV_OBJECT;
}

static void view_get(const struct sl_fobj *o, const char *key, struct sl_jv *out)
{
    out->t = SL_JV_ABSENT;
    const struct sl_fview *v = o->view;
    struct sl_fview_state *vs = o->vs;
    if (strcmp(key, v->data_key) == 0) {
        if (!vs->data_done)
            view_data(v, vs);
        if (vs->data_ok)
            *out = vs->data;
        return;
    }
    if (view_hidden(v, key))
        return;
    if (!vs->meta_done)
        view_meta(v, vs);
    if (vs->meta_ok && !sl_jt_get(&vs->meta, key, strlen(key), out))
        out->t = SL_JV_ABSENT;
}

static void obj_get(const struct sl_fobj *o, const char *key, struct sl_jv *out)
{
    if (!o) {
        out->t = SL_JV_ABSENT;
    } else if (o->obj) {
        if (!sl_jt_get(o->obj, key, strlen(key), out))
            out->t = SL_JV_ABSENT;
    } else {
        view_get(o, key, out);
    }
}

bool sl_fnode_match(const struct sl_fnode *n, const struct sl_fobj *o)
{
    for (size_t i = 0; i < n->nfields; i++) {
        const struct sl_ffield *f = &n->fields[i];
        struct sl_jv v;
        obj_get(o, f->key, &v);
        if (!field_match(f, &v))
            return false;
    }
    if (n->nalts == 0)
        return true;
    for (size_t i = 0; i < n->nalts; i++) {
        if (sl_fnode_match(&n->alts[i], o))
            return true;
    }
    return false;
}

bool sl_filter_match_view(const struct sl_filter *f, const struct sl_fview *v,
                          struct sl_buf *scratch)
{
    if (!f)
        return true;
    if (!v)
        return false;
    struct sl_fview_state vs = {.scratch = scratch};
    struct sl_fobj o = {.view = v, .vs = &vs};
    for (size_t i = 0; i < f->n; i++) {
        if (sl_fnode_match(&f->patterns[i], &o))
            return true;
    }
    return false;
}
