/* Every problem found in a config file, for `sluice validate`: errors (the file is invalid)
 * and warnings (it is valid but does not do what it seems to), each with its line and key
 * path, in file order. */
#ifndef SL_CONFIG_DIAGS_H
#define SL_CONFIG_DIAGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct sl_cfg_diag {
    char *msg;  /* "file:line: path: text" once finished ("file: path: text" before) */
    char *path; /* key path ("mappings[0].retry.max_attempts"), or NULL */
    char *text; /* the message without file, line and path */
    long line;  /* 1-based, or 0 when unknown */
    bool warning;
};

struct sl_cfg_diags {
    struct sl_cfg_diag *v;
    size_t n, cap;
    size_t errors;
    /* Key paths whose values came from ${VAR} references that were not resolved (--no-env, or
     * an error), each with the number of diagnostics when it was marked: later errors at or
     * under these paths are dropped by sl_cfg_diags_finish. NULL: none. */
    json_t *unknown;
};

void sl_cfg_diags_init(struct sl_cfg_diags *d);
void sl_cfg_diags_release(struct sl_cfg_diags *d);
/* Adds err's message (a config error "file: path: text") as an error; a message already
 * there is not added again (a module reports what the binder already collected). */
void sl_cfg_diags_add(struct sl_cfg_diags *d, const struct sl_err *err);
/* Adds a warning, formatted like a config error. */
void sl_cfg_diags_warn(struct sl_cfg_diags *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Marks the value at `path` as unknown (see `unknown`): errors added after this call at or
 * under the path are dropped. */
void sl_cfg_diags_unknown(struct sl_cfg_diags *d, const char *path);
/* Splits each message of file `file` into line, path and text (the line from `lines`, the
 * key path -> line object of the YAML parser, or of the nearest parent path), drops errors
 * about unknown values, and sorts them by line (stable: same line, order found). */
void sl_cfg_diags_finish(struct sl_cfg_diags *d, const char *file, json_t *lines);

/* The line of `path`, or of its nearest parent that has one; 0 when none. */
long sl_cfg_line_of(json_t *lines, const char *path);

#endif
