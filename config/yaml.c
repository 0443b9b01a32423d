/* YAML (libyaml events) -> jansson tree, with the config limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config.h"
#include "config/parse.h"
#include "config/props_fmt.h"
#include "core/mem.h"

#define SL_YAML_PATH_MAX 384

struct sl_yaml_frame {
    json_t *node; /* object or array (borrowed: owned by its parent or the root) */
    char *key;    /* objects: the key waiting for its value */
};

struct sl_yaml {
    yaml_parser_t parser;
    const char *name;
    json_t *root;
    json_t *lines;
    struct sl_yaml_frame stack[SL_CONFIG_MAX_DEPTH];
    int depth;
    int docs;
    struct sl_err *err;
};

/* The key path of the value about to be added at the top of the stack. */
static void current_path(const struct sl_yaml *y, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < y->depth; i++) {
        const struct sl_yaml_frame *f = &y->stack[i];
        char tmp[SL_YAML_PATH_MAX];
        size_t n = json_is_array(f->node) ? json_array_size(f->node) : 0;
        /* An open child was already appended: it is the last element, not the next one. */
        if (json_is_array(f->node))
            sl_path_index(tmp, sizeof(tmp), out, i < y->depth - 1 && n > 0 ? n - 1 : n);
        else
            sl_path_key(tmp, sizeof(tmp), out, f->key ? f->key : "");
        snprintf(out, cap, "%s", tmp);
    }
}

static int yaml_fail(struct sl_yaml *y, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yaml_fail(struct sl_yaml *y, const yaml_mark_t *mark, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX], path[SL_YAML_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    current_path(y, path, sizeof(path));
    char where[64];
    snprintf(where, sizeof(where), ":%zu", (size_t)mark->line + 1);
    return sl_err_set(y->err, SL_ERR_PERMANENT, SL_ECONFIG, "%s%s: %s%s%s",
                      y->name ? y->name : "config", where, path, *path ? ": " : "", msg);
}

static void record_line(struct sl_yaml *y, const yaml_mark_t *mark)
{
    if (!y->lines)
        return;
    char path[SL_YAML_PATH_MAX];
    current_path(y, path, sizeof(path));
    json_object_set_new(y->lines, path, json_integer((json_int_t)mark->line + 1));
}

/* Adds a new value (a reference we own) to the top container, or makes it the root. The key of
 * a container value stays in its frame until the container ends (it is part of the paths). */
static int add_value(struct sl_yaml *y, json_t *v, const yaml_mark_t *mark)
{
    record_line(y, mark);
    if (y->depth == 0) {
        y->root = v;
        return 0;
    }
    struct sl_yaml_frame *f = &y->stack[y->depth - 1];
    if (json_is_array(f->node))
        return json_array_append_new(f->node, v) == 0 ? 0 : yaml_fail(y, mark, "out of memory");
    int rc = json_object_set_new(f->node, f->key, v);
    if (!json_is_object(v) && !json_is_array(v)) {
        free(f->key);
        f->key = NULL;
    }
    return rc == 0 ? 0 : yaml_fail(y, mark, "invalid key");
}

static bool is_null_word(const char *s, size_t n)
{
    static const char *const words[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < SL_ARRAY_LEN(words); i++) {
        if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
            return true;
    }
    return false;
}

static int on_key(struct sl_yaml *y, struct sl_yaml_frame *f, const yaml_event_t *e)
{
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    if (n > SL_CONFIG_MAX_STRING_BYTES)
        return yaml_fail(y, &e->start_mark, "key is longer than %u bytes",
                         SL_CONFIG_MAX_STRING_BYTES);
    if (strlen(s) != n)
        return yaml_fail(y, &e->start_mark, "key contains a NUL character");
    if (json_object_get(f->node, s)) {
        f->key = sl_strdup(s);
        return yaml_fail(y, &e->start_mark, "duplicate key");
    }
    f->key = sl_strdup(s);
    return 0;
}

static int on_scalar(struct sl_yaml *y, const yaml_event_t *e)
{
    if (e->data.scalar.anchor)
        return yaml_fail(y, &e->start_mark,
                         "YAML anchors (&%s) and aliases are not supported: repeat the value",
                         (const char *)e->data.scalar.anchor);
    struct sl_yaml_frame *f = y->depth ? &y->stack[y->depth - 1] : NULL;
    if (f && json_is_object(f->node) && !f->key)
        return on_key(y, f, e);
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    if (n > SL_CONFIG_MAX_STRING_BYTES)
        return yaml_fail(y, &e->start_mark, "value is longer than %u bytes",
                         SL_CONFIG_MAX_STRING_BYTES);
    json_t *v;
    if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !e->data.scalar.tag &&
        is_null_word(s, n))
        v = json_null();
    else
        v = json_stringn(s, n);
    if (!v)
        return yaml_fail(y, &e->start_mark, "value is not valid UTF-8");
    return add_value(y, v, &e->start_mark);
}

static int on_start(struct sl_yaml *y, const yaml_event_t *e, bool mapping)
{
    const yaml_char_t *anchor =
        mapping ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
    if (anchor)
        return yaml_fail(y, &e->start_mark,
                         "YAML anchors (&%s) and aliases are not supported: repeat the value",
                         (const char *)anchor);
    struct sl_yaml_frame *f = y->depth ? &y->stack[y->depth - 1] : NULL;
    if (f && json_is_object(f->node) && !f->key)
        return yaml_fail(y, &e->start_mark, "a key must be a plain value, not a %s",
                         mapping ? "mapping" : "list");
    if (y->depth >= SL_CONFIG_MAX_DEPTH)
        return yaml_fail(y, &e->start_mark, "nested deeper than %d levels", SL_CONFIG_MAX_DEPTH);
    json_t *node = mapping ? json_object() : json_array();
    int rc = add_value(y, node, &e->start_mark);
    if (rc < 0)
        return rc;
    y->stack[y->depth].node = node;
    y->stack[y->depth].key = NULL;
    y->depth++;
    return 0;
}

static int on_event(struct sl_yaml *y, const yaml_event_t *e, bool *done)
{
    switch (e->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (y->docs++ > 0)
            return yaml_fail(y, &e->start_mark, "only one YAML document is allowed");
        return 0;
    case YAML_ALIAS_EVENT:
        return yaml_fail(y, &e->start_mark,
                         "YAML aliases (*%s) and anchors are not supported: repeat the value",
                         (const char *)e->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(y, e);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(y, e, false);
    case YAML_MAPPING_START_EVENT:
        return on_start(y, e, true);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (y->depth > 0) {
            y->depth--;
            free(y->stack[y->depth].key);
            y->stack[y->depth].key = NULL;
            if (y->depth > 0) {
                struct sl_yaml_frame *parent = &y->stack[y->depth - 1];
                free(parent->key);
                parent->key = NULL;
            }
        }
        return 0;
    default:
        return 0;
    }
}

static int syntax_error(struct sl_yaml *y)
{
    const yaml_parser_t *p = &y->parser;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    char ctx[160] = "";
    if (p->context)
        snprintf(ctx, sizeof(ctx), " (%s, line %zu)", p->context, (size_t)p->context_mark.line + 1);
    return sl_err_set(y->err, SL_ERR_PERMANENT, SL_ECONFIG, "%s:%zu: YAML syntax error: %s%s",
                      y->name ? y->name : "config", (size_t)p->problem_mark.line + 1, problem, ctx);
}

int sl_cfg_parse_yaml(const char *text, size_t len, const char *name, json_t **root, json_t **lines,
                      struct sl_err *err)
{
    *root = NULL;
    if (lines)
        *lines = NULL;
    if (len > SL_CONFIG_MAX_FILE_BYTES)
        return sl_cfg_errf(err, name, NULL, "larger than the limit of %u bytes",
                           SL_CONFIG_MAX_FILE_BYTES);
    struct sl_yaml y;
    memset(&y, 0, sizeof(y));
    y.name = name;
    y.err = err;
    y.lines = lines ? json_object() : NULL;
    if (!yaml_parser_initialize(&y.parser))
        return sl_cfg_errf(err, name, NULL, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)(text ? text : ""), len);
    int rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&y.parser, &e)) {
            rc = syntax_error(&y);
            break;
        }
        rc = on_event(&y, &e, &done);
        yaml_event_delete(&e);
    }
    for (int i = 0; i < SL_CONFIG_MAX_DEPTH; i++)
        free(y.stack[i].key);
    yaml_parser_delete(&y.parser);
    if (rc == 0 && json_is_null(y.root)) {
        json_decref(y.root);
        y.root = NULL;
    }
    if (rc == 0 && y.root && !json_is_object(y.root))
        rc = sl_cfg_errf(err, name, NULL, "the top level must be a mapping, not %s",
                         sl_json_kind(y.root));
    if (rc < 0) {
        json_decref(y.root);
        json_decref(y.lines);
        return rc;
    }
    *root = y.root;
    if (lines)
        *lines = y.lines;
    return 0;
}
