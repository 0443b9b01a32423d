#include "config/diags.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void sl_cfg_diags_init(struct sl_cfg_diags *d)
{
    memset(d, 0, sizeof(*d));
}

void sl_cfg_diags_release(struct sl_cfg_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].msg);
        free(d->v[i].path);
        free(d->v[i].text);
    }
    free(d->v);
    json_decref(d->unknown);
    memset(d, 0, sizeof(*d));
}

static void push(struct sl_cfg_diags *d, const char *msg, bool warning)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->v[i].msg, msg) == 0)
            return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = sl_realloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->n++] = (struct sl_cfg_diag){.msg = sl_strdup(msg), .warning = warning};
    if (!warning)
        d->errors++;
}

void sl_cfg_diags_add(struct sl_cfg_diags *d, const struct sl_err *err)
{
    if (d && err && err->msg[0])
        push(d, err->msg, false);
}

void sl_cfg_diags_warn(struct sl_cfg_diags *d, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d)
        push(d, msg, true);
}

void sl_cfg_diags_unknown(struct sl_cfg_diags *d, const char *path)
{
    if (!d)
        return;
    if (!d->unknown)
        d->unknown = json_object();
    /* Errors found from now on at this path are dropped; those already there are kept. */
    json_object_set_new(d->unknown, path, json_integer((json_int_t)d->n));
}

long sl_cfg_line_of(json_t *lines, const char *path)
{
    if (!lines || !path)
        return 0;
    char key[SL_ERR_MSG_MAX];
    size_t klen = strlen(path);
    if (klen >= sizeof(key))
        klen = sizeof(key) - 1;
    memcpy(key, path, klen);
    key[klen] = '\0';
    json_t *line = NULL;
    while (klen > 0 && !(line = json_object_get(lines, key))) {
        while (klen > 0 && key[klen - 1] != '.' && key[klen - 1] != '[')
            klen--;
        if (klen > 0)
            klen--;
        key[klen] = '\0';
    }
    return json_is_integer(line) ? (long)json_integer_value(line) : 0;
}

/* True when diag number `index` is at an unknown path or under one ("a.b" is under "a", "a[0]"
 * too) and was found after the path was marked. */
static bool is_unknown(json_t *unknown, const char *path, size_t index)
{
    const char *key;
    json_t *v;
    json_object_foreach(unknown, key, v)
    {
        size_t n = strlen(key);
        if (strncmp(path, key, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '[') &&
            index >= (size_t)json_integer_value(v))
            return true;
    }
    return false;
}

/* "file: path: text" -> path and text; "file: text" (no key path) -> text. */
static void split(struct sl_cfg_diag *g, const char *file)
{
    const char *rest = g->msg;
    size_t flen = file ? strlen(file) : 0;
    if (flen && strncmp(rest, file, flen) == 0 && strncmp(rest + flen, ": ", 2) == 0)
        rest += flen + 2;
    const char *sep = strstr(rest, ": ");
    /* A key path has no spaces: "is a directory" is text, "mappings[0].source" a path. */
    if (sep && sep != rest && !memchr(rest, ' ', (size_t)(sep - rest))) {
        g->path = sl_strndup(rest, (size_t)(sep - rest));
        g->text = sl_strdup(sep + 2);
    } else {
        g->text = sl_strdup(rest);
    }
}

static int by_line(const void *a, const void *b)
{
    const struct sl_cfg_diag *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return 0;
}

void sl_cfg_diags_finish(struct sl_cfg_diags *d, const char *file, json_t *lines)
{
    size_t kept = 0;
    d->errors = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct sl_cfg_diag *g = &d->v[i];
        if (!g->text)
            split(g, file);
        if (!g->warning && g->path && d->unknown && is_unknown(d->unknown, g->path, i)) {
            free(g->msg);
            free(g->path);
            free(g->text);
            continue;
        }
        if (!g->line && g->path)
            g->line = sl_cfg_line_of(lines, g->path);
        if (g->line && file) {
            char out[2 * SL_ERR_MSG_MAX];
            snprintf(out, sizeof(out), "%s:%ld: %s%s%s", file, g->line, g->path ? g->path : "",
                     g->path ? ": " : "", g->text);
            free(g->msg);
            g->msg = sl_strdup(out);
        }
        if (!g->warning)
            d->errors++;
        d->v[kept++] = *g;
    }
    d->n = kept;
    /* Insertion sort: stable, and the lists are short. */
    for (size_t i = 1; i < d->n; i++) {
        struct sl_cfg_diag g = d->v[i];
        size_t j = i;
        while (j > 0 && by_line(&d->v[j - 1], &g) > 0) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = g;
    }
}
