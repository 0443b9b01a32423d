/* Compiles one filter pattern object into the matcher tree (filter_int.h), checking it as
 * EventBridge does: leaves are lists of matchers, operators and their operands are known. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mappings/filter_int.h"

struct fc {
    const char *path; /* "config.yaml: mappings[0].filters" */
    size_t index;     /* the pattern's index in the list */
    bool loose;       /* scalars may be text standing for numbers and booleans (YAML) */
    int depth;
    char where[256]; /* key path inside the pattern: "body.amount[0]" */
    size_t wlen;
    struct sl_err *err;
};

static const char ops_allowed[] = "equals-ignore-case, anything-but, numeric, exists, prefix, "
                                  "suffix, wildcard";

static int fc_fail(struct fc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fc_fail(struct fc *c, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_err_set(c->err, SL_ERR_PERMANENT, SL_ECONFIG, "%s[%zu]: %s%s%s", c->path, c->index,
                      c->where, c->wlen ? ": " : "", msg);
}

/* Compact JSON of v for messages, cut at a character boundary. */
static const char *show(const json_t *v, char *buf, size_t cap)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        snprintf(buf, cap, "(a value)");
        return buf;
    }
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 4;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf, s, n);
        memcpy(buf + n, "...", 4);
    } else {
        memcpy(buf, s, n + 1);
    }
    free(s);
    return buf;
}

#define SHOW(v) show((v), (char[96]){0}, 96)

static size_t where_push_key(struct fc *c, const char *key)
{
    size_t saved = c->wlen;
    snprintf(c->where + c->wlen, sizeof(c->where) - c->wlen, "%s%s", c->wlen ? "." : "", key);
    c->wlen = strlen(c->where);
    return saved;
}

static size_t where_push_index(struct fc *c, size_t i)
{
    size_t saved = c->wlen;
    snprintf(c->where + c->wlen, sizeof(c->where) - c->wlen, "[%zu]", i);
    c->wlen = strlen(c->where);
    return saved;
}

static void where_pop(struct fc *c, size_t saved)
{
    c->wlen = saved;
    c->where[saved] = '\0';
}

static void fm_release(struct sl_fm *m)
{
    if (m->kind == SL_FM_ANYTHING_BUT) {
        for (size_t i = 0; i < m->nneg; i++)
            fm_release(&m->neg[i]);
        free(m->neg);
    }
    free(m->segs);
    free(m->s);
}

/* A number operand: a JSON number, or (loose) text that reads as one. */
static bool operand_num(const struct fc *c, const json_t *v, struct sl_fnum *out)
{
    if (json_is_number(v)) {
        sl_fnum_from_json(out, v);
        return true;
    }
    return c->loose && json_is_string(v) &&
           sl_fnum_parse(json_string_value(v), json_string_length(v), out);
}

static bool operand_bool(const struct fc *c, const json_t *v, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (!c->loose || !json_is_string(v))
        return false;
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < SL_ARRAY_LEN(yes); i++) {
        if (strcmp(json_string_value(v), yes[i]) == 0 || strcmp(json_string_value(v), no[i]) == 0) {
            *out = strcmp(json_string_value(v), yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static void set_text(struct sl_fm *m, enum sl_fm_kind kind, const json_t *s)
{
    m->kind = kind;
    m->len = json_string_length(s);
    m->s = sl_memdup(json_string_value(s), m->len + 1);
}

/* A literal: string, number, null or boolean. */
static bool compile_literal(const struct fc *c, const json_t *v, struct sl_fm *m)
{
    if (json_is_string(v)) {
        set_text(m, SL_FM_STRING, v);
        if (c->loose) {
            m->also_num = sl_fnum_parse(m->s, m->len, &m->num);
            m->also_bool = operand_bool(c, v, &m->b);
        }
    } else if (json_is_number(v)) {
        m->kind = SL_FM_NUMBER;
        sl_fnum_from_json(&m->num, v);
    } else if (json_is_null(v)) {
        m->kind = SL_FM_NULL;
    } else if (json_is_boolean(v)) {
        m->kind = SL_FM_BOOL;
        m->b = json_is_true(v);
    } else {
        return false;
    }
    return true;
}

static enum sl_fm_op numeric_op(const json_t *v)
{
    static const struct {
        const char *name;
        enum sl_fm_op op;
    } ops[] = {{"=", SL_FM_OP_EQ},  {"!=", SL_FM_OP_NE}, {"<", SL_FM_OP_LT},
               {"<=", SL_FM_OP_LE}, {">", SL_FM_OP_GT},  {">=", SL_FM_OP_GE}};
    for (size_t i = 0; json_is_string(v) && i < SL_ARRAY_LEN(ops); i++) {
        if (strcmp(json_string_value(v), ops[i].name) == 0)
            return ops[i].op;
    }
    return SL_FM_OP_NONE;
}

static bool is_lower(enum sl_fm_op op)
{
    return op == SL_FM_OP_GT || op == SL_FM_OP_GE;
}

static bool is_upper(enum sl_fm_op op)
{
    return op == SL_FM_OP_LT || op == SL_FM_OP_LE;
}

static int compile_numeric(struct fc *c, json_t *v, struct sl_fm *m)
{
    m->kind = SL_FM_NUMERIC;
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n != 2 && n != 4) {
        if (n > 4)
            return fc_fail(c, "\"numeric\" takes one comparison or a range of two, got %s",
                           SHOW(v));
        return fc_fail(c, "\"numeric\" needs an operator and a number, got %s", SHOW(v));
    }
    enum sl_fm_op ops[2];
    struct sl_fnum vals[2];
    for (size_t k = 0; k < n / 2; k++) {
        json_t *op = json_array_get(v, 2 * k);
        ops[k] = numeric_op(op);
        if (ops[k] == SL_FM_OP_NONE && json_is_string(op))
            return fc_fail(c, "\"numeric\": unknown comparison %s (allowed: =, !=, <, <=, >, >=)",
                           SHOW(op));
        if (ops[k] == SL_FM_OP_NONE || !operand_num(c, json_array_get(v, 2 * k + 1), &vals[k]))
            return fc_fail(c, "\"numeric\" needs an operator and a number, got %s", SHOW(v));
    }
    m->op1 = ops[0];
    m->v1 = vals[0];
    if (n == 2)
        return 0;
    /* A range: one lower and one upper bound, in either order; store the lower one first. */
    int lo = is_lower(ops[0]) ? 0 : 1;
    if (!is_lower(ops[lo]) || !is_upper(ops[1 - lo]))
        return fc_fail(c,
                       "\"numeric\" range needs a lower bound (> or >=) and an upper bound "
                       "(< or <=), got %s",
                       SHOW(v));
    int cmp = sl_fnum_cmp(&vals[lo], &vals[1 - lo]);
    if (cmp > 0 || (cmp == 0 && (ops[lo] == SL_FM_OP_GT || ops[1 - lo] == SL_FM_OP_LT)))
        return fc_fail(c, "\"numeric\" range matches no number, got %s", SHOW(v));
    m->op1 = ops[lo];
    m->v1 = vals[lo];
    m->op2 = ops[1 - lo];
    m->v2 = vals[1 - lo];
    return 0;
}

/* {"prefix": s}, {"prefix": {"equals-ignore-case": s}}, and the same for "suffix". */
static int compile_affix(struct fc *c, const char *op, json_t *v, struct sl_fm *m,
                         enum sl_fm_kind exact, enum sl_fm_kind ic)
{
    if (json_is_string(v)) {
        set_text(m, exact, v);
        return 0;
    }
    json_t *s = json_object_get(v, "equals-ignore-case");
    if (json_is_object(v) && json_object_size(v) == 1 && json_is_string(s)) {
        set_text(m, ic, s);
        return 0;
    }
    return fc_fail(c, "\"%s\" needs a string (or {\"equals-ignore-case\": string}), got %s", op,
                   SHOW(v));
}

static int compile_wildcard(struct fc *c, json_t *v, struct sl_fm *m)
{
    m->kind = SL_FM_WILDCARD;
    if (!json_is_string(v))
        return fc_fail(c, "\"wildcard\" needs a string, got %s", SHOW(v));
    const char *why = sl_fwild_compile(m, json_string_value(v), json_string_length(v));
    if (why)
        return fc_fail(c, "\"wildcard\": %s, got %s", why, SHOW(v));
    return 0;
}

static int ab_fail(struct fc *c, const json_t *v)
{
    return fc_fail(c,
                   "\"anything-but\" needs a string, a number, a list of them, or one of "
                   "{\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string}, got %s",
                   SHOW(v));
}

/* Compiles the list (or single value) `v` of anything-but into m->neg with `each`. */
static int ab_list(struct fc *c, json_t *v, const json_t *whole, struct sl_fm *m,
                   int (*each)(struct fc *c, json_t *item, struct sl_fm *out))
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n == 0)
        return fc_fail(c, "\"anything-but\" needs at least one value, got %s", SHOW(whole));
    m->neg = sl_calloc(n, sizeof(*m->neg));
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        m->nneg++;
        int rc = each(c, item, &m->neg[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int ab_literal(struct fc *c, json_t *item, struct sl_fm *out)
{
    if (!(json_is_string(item) || json_is_number(item)))
        return -1;
    compile_literal(c, item, out);
    return 0;
}

static int ab_ic(struct fc *c, json_t *item, struct sl_fm *out)
{
    if (!json_is_string(item))
        return -1;
    set_text(out, SL_FM_EQUALS_IC, item);
    return 0;
}

static int ab_wild(struct fc *c, json_t *item, struct sl_fm *out)
{
    return compile_wildcard(c, item, out);
}

static int compile_anything_but(struct fc *c, json_t *v, struct sl_fm *m)
{
    m->kind = SL_FM_ANYTHING_BUT;
    int rc;
    if (json_is_object(v)) {
        const char *op = json_object_size(v) == 1 ? json_object_iter_key(json_object_iter(v)) : "";
        json_t *arg = json_object_get(v, op);
        m->strings_only = true;
        if ((strcmp(op, "prefix") == 0 || strcmp(op, "suffix") == 0) && json_is_string(arg)) {
            m->neg = SL_NEW(struct sl_fm);
            m->nneg = 1;
            set_text(m->neg, op[0] == 'p' ? SL_FM_PREFIX : SL_FM_SUFFIX, arg);
            return 0;
        }
        if (strcmp(op, "equals-ignore-case") == 0)
            rc = ab_list(c, arg, v, m, ab_ic);
        else if (strcmp(op, "wildcard") == 0)
            rc = ab_list(c, arg, v, m, ab_wild);
        else
            return ab_fail(c, v);
        return rc == -1 ? ab_fail(c, v) : rc;
    }
    if (!json_is_array(v) && !json_is_string(v) && !json_is_number(v))
        return ab_fail(c, v);
    rc = ab_list(c, v, v, m, ab_literal);
    return rc == -1 ? ab_fail(c, v) : rc;
}

static int compile_matcher(struct fc *c, json_t *v, struct sl_fm *m)
{
    if (compile_literal(c, v, m))
        return 0;
    if (!json_is_object(v))
        return fc_fail(c,
                       "a matcher is a string, a number, true, false, null or an operator "
                       "object, got %s",
                       SHOW(v));
    if (json_object_size(v) != 1)
        return fc_fail(c, "a matcher object holds exactly one operator, got %s", SHOW(v));
    const char *op = json_object_iter_key(json_object_iter(v));
    json_t *arg = json_object_get(v, op);
    if (strcmp(op, "equals-ignore-case") == 0) {
        if (!json_is_string(arg))
            return fc_fail(c, "\"equals-ignore-case\" needs a string, got %s", SHOW(arg));
        set_text(m, SL_FM_EQUALS_IC, arg);
        return 0;
    }
    if (strcmp(op, "prefix") == 0)
        return compile_affix(c, op, arg, m, SL_FM_PREFIX, SL_FM_PREFIX_IC);
    if (strcmp(op, "suffix") == 0)
        return compile_affix(c, op, arg, m, SL_FM_SUFFIX, SL_FM_SUFFIX_IC);
    if (strcmp(op, "wildcard") == 0)
        return compile_wildcard(c, arg, m);
    if (strcmp(op, "numeric") == 0)
        return compile_numeric(c, arg, m);
    if (strcmp(op, "anything-but") == 0)
        return compile_anything_but(c, arg, m);
    if (strcmp(op, "exists") == 0) {
        m->kind = SL_FM_EXISTS;
        if (!operand_bool(c, arg, &m->b))
            return fc_fail(c, "\"exists\" needs true or false, got %s", SHOW(arg));
        return 0;
    }
    return fc_fail(c, "unknown operator \"%s\" (allowed: %s)", op, ops_allowed);
}

static int compile_leaf(struct fc *c, json_t *arr, struct sl_ffield *f)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return fc_fail(c, "the list of matchers is empty");
    f->m = sl_calloc(n, sizeof(*f->m));
    for (size_t i = 0; i < n; i++) {
        size_t saved = where_push_index(c, i);
        f->nm++;
        int rc = compile_matcher(c, json_array_get(arr, i), &f->m[i]);
        if (rc < 0)
            return rc;
        where_pop(c, saved);
    }
    return 0;
}

static int compile_node(struct fc *c, json_t *obj, struct sl_fnode *n);

static int compile_or(struct fc *c, json_t *v, struct sl_fnode *n)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 0;
    for (size_t i = 0; i < count; i++) {
        if (!json_is_object(json_array_get(v, i)))
            count = 0;
    }
    if (count == 0)
        return fc_fail(c, "\"$or\" needs a list of pattern objects, got %s", SHOW(v));
    n->alts = sl_calloc(count, sizeof(*n->alts));
    for (size_t i = 0; i < count; i++) {
        size_t saved = where_push_index(c, i);
        n->nalts++;
        int rc = compile_node(c, json_array_get(v, i), &n->alts[i]);
        if (rc < 0)
            return rc;
        where_pop(c, saved);
    }
    return 0;
}

static int compile_node(struct fc *c, json_t *obj, struct sl_fnode *n)
{
    if (++c->depth > SL_FILTER_MAX_DEPTH)
        return fc_fail(c, "the pattern is nested deeper than %d levels", SL_FILTER_MAX_DEPTH);
    if (json_object_size(obj) == 0)
        return fc_fail(c, c->depth == 1 ? "empty pattern: name at least one field"
                                        : "empty pattern object: name at least one field");
    n->fields = sl_calloc(json_object_size(obj), sizeof(*n->fields));
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t saved = where_push_key(c, key);
        int rc;
        if (strcmp(key, "$or") == 0) {
            rc = compile_or(c, v, n);
        } else {
            struct sl_ffield *f = &n->fields[n->nfields++];
            f->key = sl_strdup(key);
            if (json_is_object(v)) {
                f->node = SL_NEW(struct sl_fnode);
                rc = compile_node(c, v, f->node);
            } else if (json_is_array(v)) {
                rc = compile_leaf(c, v, f);
            } else {
                rc = fc_fail(c, "a field's value must be a list of matchers (e.g. [%s]), got %s",
                             SHOW(v), SHOW(v));
            }
        }
        if (rc < 0)
            return rc;
        where_pop(c, saved);
    }
    c->depth--;
    return 0;
}

int sl_fnode_compile(json_t *obj, bool loose, const char *path, size_t index, struct sl_fnode *out,
                     struct sl_err *err)
{
    struct fc c = {.path = path, .index = index, .loose = loose, .err = err};
    memset(out, 0, sizeof(*out));
    int rc = compile_node(&c, obj, out);
    if (rc < 0)
        sl_fnode_release(out);
    return rc;
}

void sl_fnode_release(struct sl_fnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nfields; i++) {
        struct sl_ffield *f = &n->fields[i];
        free(f->key);
        if (f->node) {
            sl_fnode_release(f->node);
            free(f->node);
        }
        for (size_t k = 0; k < f->nm; k++)
            fm_release(&f->m[k]);
        free(f->m);
    }
    free(n->fields);
    for (size_t i = 0; i < n->nalts; i++)
        sl_fnode_release(&n->alts[i]);
    free(n->alts);
    memset(n, 0, sizeof(*n));
}
