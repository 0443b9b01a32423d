/* Property tables: one description of every config key (name, type, default, bounds, flags,
 * description) that both binds config values into C structs and generates
 * docs/CONFIGURATION.md. */
#ifndef SL_CONFIG_PROPS_H
#define SL_CONFIG_PROPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum sl_prop_type {
    SL_PROP_STRING,      /* char *                                                   */
    SL_PROP_INT,         /* int64_t                                                  */
    SL_PROP_BOOL,        /* bool                                                     */
    SL_PROP_FLOAT,       /* double; min/max are whole-number bounds                  */
    SL_PROP_DURATION,    /* int64_t milliseconds; "250ms", "30s", "1h"; min/max in ms */
    SL_PROP_SIZE,        /* uint64_t bytes; "64KB", "6MB"; min/max in bytes          */
    SL_PROP_ENUM,        /* int: index into enum_values                              */
    SL_PROP_STRING_LIST, /* struct sl_strlist                                        */
    SL_PROP_INT_LIST,    /* struct sl_intlist; every item within min/max             */
    SL_PROP_STRING_MAP,  /* struct sl_strmap: an object of string values             */
    SL_PROP_OBJECT,      /* an embedded struct described by `sub`                    */
    SL_PROP_OBJECT_LIST, /* struct sl_objlist of structs described by `sub`          */
    SL_PROP_JSON,        /* json_t * (a new reference), checked elsewhere            */
    /* The keys of `sub`, as if they were rows of this table (same level, same key paths, in
     * this row's place in docs and error messages), bound into the struct at `offset`. Lets
     * modules share rows, e.g. one Redis connection table for a source and a sink. Only the
     * sub table's props are used (its name, desc and tolerated are not); `name` is unused. */
    SL_PROP_INLINE,
};

enum {
    SL_PROP_REQUIRED = 1 << 0, /* must be present (no default)                            */
    SL_PROP_SECRET = 1 << 1,   /* never printed: errors and describe() show "(secret)"    */
    SL_PROP_PATH = 1 << 2,     /* STRING: a file or directory; relative: to ctx->dir      */
};

struct sl_prop_table;
struct sl_cfg_diags;

struct sl_prop {
    const char *name;
    enum sl_prop_type type;
    size_t offset; /* offsetof() in the bound struct                    */
    /* Default as config text, parsed exactly like a user value: scalars as written ("30s",
     * "10", "true"); lists, maps and JSON as JSON text ("[]", "[408, 429]"). NULL: none (zero,
     * NULL or an empty list). Ignored for OBJECT (its sub table's defaults apply). */
    const char *def;
    /* Inclusive bounds for INT, INT_LIST items, FLOAT (by value), DURATION (ms), SIZE (bytes).
     * min = max = 0: no bound; max = 0 with min != 0: at least min. */
    int64_t min, max;
    unsigned flags;                  /* SL_PROP_REQUIRED | SL_PROP_SECRET | SL_PROP_PATH  */
    const char *const *enum_values;  /* NULL-terminated, for ENUM                         */
    const struct sl_prop_table *sub; /* for OBJECT, OBJECT_LIST and INLINE                */
    const char *desc;                /* one or two sentences for docs/CONFIGURATION.md    */
};

struct sl_prop_table {
    const char *name; /* section title in the docs, e.g. "mappings[]"           */
    const char *desc; /* what the section is                                    */
    const struct sl_prop *props;
    size_t nprops;
    size_t struct_size; /* size of the bound struct (for OBJECT_LIST items)       */
    /* Keys that the table does not describe but tolerates (checked by another table), e.g.
     * the type-specific keys of sources[]. NULL-terminated, or NULL. "*" tolerates any. */
    const char *const *tolerated;
};

struct sl_strlist {
    char **v;
    size_t n;
};

struct sl_intlist {
    int64_t *v;
    size_t n;
};

struct sl_strmap {
    char **keys;
    char **vals;
    size_t n;
};

struct sl_objlist {
    void *items; /* n structs of the sub table's struct_size */
    size_t n;
};

#define SL_OBJLIST_AT(list, type, i) (&((type *)(list).items)[i])

/* Where a value came from, for error messages and relative paths. */
struct sl_prop_ctx {
    const char *file; /* config file name, or NULL */
    const char *path; /* key path of the node being bound: "mappings[1].retry"; "" for the root */
    const char *dir;  /* the config file's folder: SL_PROP_PATH values resolve against it
                       * (NULL: they are kept as written) */
    /* NULL: binding stops at the first error. Else every error is added here and binding goes
     * on with the next key (a key in error keeps its zero value); sl_props_bind still returns
     * SL_ECONFIG, with err set to the last one, when it added any. */
    struct sl_cfg_diags *collect;
};

/* `path` as seen from `dir`: a new string. An absolute path, an empty one or a NULL dir give
 * path itself; else "dir/path", without path's leading "./" (so "." is dir). */
char *sl_prop_path(const char *dir, const char *path);

/* Applies defaults, then binds every key of `node` (a JSON object, or NULL for all defaults)
 * into `out`. Every field the table describes is initialised first (the rest of `out` is left
 * alone). A key whose value is JSON null counts as absent. Scalars may be JSON values or
 * strings (YAML gives strings): INT "42"; BOOL true/false/yes/no/on/off (any case); FLOAT
 * "1.5"; DURATION "250ms"/"1h30m" or a bare number of seconds; SIZE "64KB"/"6MiB" or a bare
 * number of bytes; ENUM one of enum_values (case-sensitive). Keys not in the table (nor
 * tolerated) are errors. On error returns SL_ECONFIG and err names the file, the full key path,
 * the value (or "(secret)") and what is allowed, e.g.
 *   config.yaml: mappings[1].retry.max_attempts: 0 is out of range (allowed: 1..10000)
 * On error `out` is released. node is not modified. */
int sl_props_bind(const struct sl_prop_table *t, json_t *node, void *out,
                  const struct sl_prop_ctx *ctx, struct sl_err *err);
/* sl_props_bind collecting every error into ctx->collect (required), where `out` stays bound
 * even when errors were found (keys in error keep their zero value): the caller releases it
 * and may check it further. */
int sl_props_bind_all(const struct sl_prop_table *t, json_t *node, void *out,
                      const struct sl_prop_ctx *ctx, struct sl_err *err);
/* Frees everything sl_props_bind allocated in `obj` (strings, lists, nested objects) and
 * resets those fields, so a second release is harmless. */
void sl_props_release(const struct sl_prop_table *t, void *obj);
/* Appends the Markdown reference of a table (and its sub tables) to md; `prefix` is the key
 * path shown for its keys, e.g. "mappings[].retry" ("" for a root table, whose heading is its
 * name; a table named "<prefix> (type: x)" adds " (type: x)"). One "## " heading per table,
 * its description, then a table
 * Key | Type | Default | Allowed | Description; nested tables follow in declaration order.
 * An inlined table has no heading: its rows are rows of the table that inlines it. The output
 * depends only on the tables (deterministic). */
void sl_props_doc(const struct sl_prop_table *t, const char *prefix, struct sl_buf *md);

/* Whether two structs bound with table t hold the same values (each key compared as bound:
 * "1s" equals "1000ms"; lists in order). When they differ, path (cap bytes) gets the key path of
 * the first difference, under prefix ("mappings[0].batch.size"). */
bool sl_props_equal(const struct sl_prop_table *t, const void *a, const void *b, const char *prefix,
                    char *path, size_t cap);
/* The same for one row p of a table, a and b being the structs the table binds. */
bool sl_prop_equal(const struct sl_prop *p, const void *a, const void *b, const char *prefix,
                   char *path, size_t cap);

/* Helpers for the typed-list convention. */
bool sl_strlist_contains(const struct sl_strlist *l, const char *s);
bool sl_intlist_contains(const struct sl_intlist *l, int64_t v);
const char *sl_strmap_get(const struct sl_strmap *m, const char *key);

#endif
