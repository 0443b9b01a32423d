/* Private to the config module: config text -> a jansson tree (YAML or JSON), with limits, and
 * ${VAR} interpolation of that tree. */
#ifndef SL_CONFIG_PARSE_H
#define SL_CONFIG_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/diags.h"
#include "core/err.h"

/* Parses one YAML document into *root (a new reference; NULL for an empty document): mappings
 * become objects, sequences arrays, scalars strings, except plain null/Null/NULL/~/empty which
 * become JSON null. Anchors, aliases, duplicate keys and non-scalar keys are errors. When lines
 * is not NULL, *lines gets an object mapping each node's key path to its 1-based line. */
int sl_cfg_parse_yaml(const char *text, size_t len, const char *name, json_t **root, json_t **lines,
                      struct sl_err *err);
/* Parses JSON (duplicate keys rejected) and checks the depth and string limits. */
int sl_cfg_parse_json(const char *text, size_t len, const char *name, json_t **root,
                      struct sl_err *err);
/* Replaces ${VAR}, ${VAR:-default} and $${ in every string value of the tree, in place. */
int sl_cfg_interpolate(json_t *root, const char *name, struct sl_err *err);
/* The same; no_env: the environment is not read, a reference with a default takes it, one
 * without stays as written and its key path is marked unknown in collect. collect (may be
 * NULL): every error is added there and the others strings are still expanded. */
int sl_cfg_interpolate_opts(json_t *root, const char *name, bool no_env,
                            struct sl_cfg_diags *collect, struct sl_err *err);
/* Formats "name: path: msg" (the parts that are present) into err as SL_ECONFIG. */
int sl_cfg_errf(struct sl_err *err, const char *name, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
