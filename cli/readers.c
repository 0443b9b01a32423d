/* One reader per mapping of a pull source (cli/readers.h). */
#include "cli/readers.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "sources/postgres/queue.h"

/* The mapping's reader keys and the source keys they set. */
struct reader_key {
    const char *name; /* in the mapping's `reader` */
    size_t offset;    /* in struct sl_cfg_reader */
};
enum { KEY_GROUP, KEY_POSITION, KEY_TIMESTAMP };
static const struct reader_key reader_keys[] = {
    [KEY_GROUP] = {"group", offsetof(struct sl_cfg_reader, group)},
    [KEY_POSITION] = {"starting_position", offsetof(struct sl_cfg_reader, starting_position)},
    [KEY_TIMESTAMP] = {"starting_timestamp", offsetof(struct sl_cfg_reader, starting_timestamp)},
};

static const char *reader_value(const struct sl_cfg_mapping *mc, size_t k)
{
    return *(char *const *)((const char *)&mc->reader + reader_keys[k].offset);
}

/* The source key reader key k sets. */
static const char *source_key(const struct sl_source_ops *ops, size_t k)
{
    return k == KEY_GROUP ? ops->group_key : reader_keys[k].name;
}

static bool has_reader(const struct sl_cfg_mapping *mc)
{
    for (size_t k = 0; k < SL_ARRAY_LEN(reader_keys); k++) {
        if (reader_value(mc, k))
            return true;
    }
    return false;
}

static const struct sl_source_ops *source_type(const struct sl_config *cfg, const char *name)
{
    const struct sl_cfg_typed *sec = name ? sl_config_find(&cfg->sources, name) : NULL;
    return sec && sec->type ? sl_source_find_type(sec->type) : NULL;
}

bool sl_readers_per_mapping(const struct sl_config *cfg, const char *name)
{
    const struct sl_source_ops *ops = source_type(cfg, name);
    return ops && ops->group_key;
}

bool sl_readers_several(const struct sl_config *cfg, const char *name)
{
    const struct sl_source_ops *ops = source_type(cfg, name);
    return ops && (ops->group_key || ops->fan_out);
}

size_t sl_readers_count(const struct sl_config *cfg, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; name && i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (mc->source && strcmp(mc->source, name) == 0)
            n++;
    }
    return n;
}

const char *sl_readers_name(const struct sl_config *cfg, const struct sl_cfg_mapping *mc)
{
    const struct sl_source_ops *ops = source_type(cfg, mc->source);
    if (!ops || !ops->group_key || sl_readers_count(cfg, mc->source) < 2)
        return NULL;
    return mc->name;
}

/* The first mapping of cfg that reads source `name`, or NULL. */
static const struct sl_cfg_mapping *first_reader(const struct sl_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (mc->source && strcmp(mc->source, name) == 0)
            return mc;
    }
    return NULL;
}

bool sl_readers_same(const struct sl_config *cfg, const struct sl_config *other, const char *name)
{
    const struct sl_cfg_mapping *a = first_reader(cfg, name), *b = first_reader(other, name);
    for (size_t k = 0; k < SL_ARRAY_LEN(reader_keys); k++) {
        const char *x = a ? reader_value(a, k) : NULL, *y = b ? reader_value(b, k) : NULL;
        if (x != y && (!x || !y || strcmp(x, y) != 0))
            return false;
    }
    return true;
}

struct sl_source *sl_readers_find(struct sl_source *const *srcs, size_t n,
                                  const struct sl_config *cfg, const struct sl_cfg_mapping *mc)
{
    const char *reader = sl_readers_name(cfg, mc);
    for (size_t i = 0; mc->source && i < n; i++) {
        const struct sl_source *s = srcs[i];
        if (strcmp(s->name, mc->source) != 0)
            continue;
        if (reader ? s->reader && strcmp(s->reader, reader) == 0 : !s->reader)
            return srcs[i];
    }
    return NULL;
}

const char *sl_readers_configured_group(const struct sl_config *cfg,
                                        const struct sl_cfg_mapping *mc)
{
    const struct sl_cfg_typed *sec = mc->source ? sl_config_find(&cfg->sources, mc->source) : NULL;
    const struct sl_source_ops *ops = sec && sec->type ? sl_source_find_type(sec->type) : NULL;
    if (!ops || !ops->group_key)
        return NULL;
    if (mc->reader.group)
        return mc->reader.group;
    return json_string_value(json_object_get(sec->raw, ops->group_key));
}

/* "<sec path>.<source key>" in err's message becomes "<mapping path>.reader.<key>": the value
 * came from the mapping (or, for a starting_timestamp, the starting_position that asks for
 * one). */
static void name_reader_key(struct sl_err *err, const struct sl_source_ops *ops,
                            const struct sl_cfg_typed *sec, const struct sl_cfg_mapping *mc)
{
    for (size_t k = 0; k < SL_ARRAY_LEN(reader_keys); k++) {
        char from[256], to[256];
        if (!reader_value(mc, k) && !(k == KEY_TIMESTAMP && reader_value(mc, KEY_POSITION)))
            continue;
        snprintf(from, sizeof(from), "%s.%s:", sec->path, source_key(ops, k));
        char *at = strstr(err->msg, from);
        if (!at)
            continue;
        int tn = snprintf(to, sizeof(to), "%s.reader.%s:", mc->path, reader_keys[k].name);
        char rest[SL_ERR_MSG_MAX];
        snprintf(rest, sizeof(rest), "%s", at + strlen(from));
        snprintf(at, sizeof(err->msg) - (size_t)(at - err->msg), "%.*s%s", tn, to, rest);
        return;
    }
}

int sl_readers_create(const struct sl_env *env, const struct sl_source_ops *ops,
                      const struct sl_cfg_typed *sec, const struct sl_cfg_mapping *mc,
                      struct sl_source **out, struct sl_err *err)
{
    struct sl_cfg_typed own = *sec;
    own.raw = json_copy(sec->raw);
    for (size_t k = 0; k < SL_ARRAY_LEN(reader_keys); k++) {
        const char *v = reader_value(mc, k);
        if (v)
            json_object_set_new(own.raw, source_key(ops, k), json_string(v));
    }
    struct sl_config quiet = *env->cfg;
    quiet.diags = NULL;
    struct sl_env renv = *env;
    renv.cfg = &quiet;
    renv.reader = sl_readers_name(env->cfg, mc);
    int rc = ops->create(&renv, &own, out, err);
    json_decref(own.raw);
    if (rc < 0)
        name_reader_key(err, ops, sec, mc);
    return rc;
}

/* "kafka, redis, postgres-cdc": the types with a reader per mapping. */
static void reader_types(char *out, size_t cap)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; sl_source_types[i] && off < cap; i++) {
        if (sl_source_types[i]->group_key)
            off += (size_t)snprintf(out + off, cap - off, "%s%s", off ? ", " : "",
                                    sl_source_types[i]->type);
    }
}

int sl_readers_check(const struct sl_config *cfg, struct sl_source *const *srcs, size_t n, size_t i,
                     struct sl_err *err)
{
    const char *file = cfg->file ? cfg->file : "config";
    const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
    const struct sl_source_ops *ops = source_type(cfg, mc->source);
    if (!ops)
        return 0; /* an unknown source or type: reported elsewhere */
    if (!ops->group_key && has_reader(mc)) {
        char types[128];
        reader_types(types, sizeof(types));
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s.reader: source \"%s\" is of type %s, which has no reader of "
                          "its own per mapping (allowed: reader with a source of type %s)",
                          file, mc->path, mc->source, ops->type, types);
    }
    struct sl_source *s = ops->group_key ? sl_readers_find(srcs, n, cfg, mc) : NULL;
    for (size_t k = 0; k < i; k++) {
        const struct sl_cfg_mapping *o = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, k);
        if (!o->source || strcmp(o->source, mc->source) != 0)
            continue;
        if (ops == &sl_source_pg_queue_ops)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "%s: %s.source: \"%s\" is already read by mapping \"%s\" (allowed: "
                              "one mapping per postgres-queue source: a queue's rows are "
                              "claimed once, so two mappings would split them; give each "
                              "mapping a queue of its own)",
                              file, mc->path, mc->source, o->name ? o->name : "");
        if (ops->fan_out)
            continue; /* one intake, a spool row kept until every mapping handled it */
        if (!ops->group_key)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "%s: %s.source: \"%s\" is already used by mapping \"%s\" "
                              "(allowed: one mapping per %s source; push sources and stream "
                              "sources with a reader per mapping may feed several)",
                              file, mc->path, mc->source, o->name ? o->name : "", ops->type);
        struct sl_source *os = sl_readers_find(srcs, n, cfg, o);
        const char *g = s && ops->group ? ops->group(s) : NULL;
        if (g && os && strcmp(g, ops->group(os)) == 0)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "%s: %s.reader.group: mappings \"%s\" and \"%s\" both read source "
                              "\"%s\" with %s \"%s\" (allowed: a %s of its own per mapping; a "
                              "group's records are shared by its readers, not copied to each)",
                              file, mc->path, o->name ? o->name : "", mc->name ? mc->name : "",
                              mc->source, ops->group_key, g, ops->group_key);
    }
    return 0;
}
