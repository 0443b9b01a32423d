/* Loading a sluice configuration: parse, interpolate, bind, cross-check. */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/parse.h"
#include "config/props_fmt.h"
#include "core/buf.h"
#include "core/mem.h"
#include "core/units.h"

#define SL_NAME_MAX    64
#define SL_DEFAULT_DLQ "default"

/* ---- lookups ------------------------------------------------------------------------------ */

const struct sl_cfg_typed *sl_config_find(const struct sl_objlist *list, const char *name)
{
    for (size_t i = 0; list && name && i < list->n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(*list, const struct sl_cfg_typed, i);
        if (sec->name && strcmp(sec->name, name) == 0)
            return sec;
    }
    return NULL;
}

const struct sl_cfg_mapping *sl_config_mapping(const struct sl_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *m =
            SL_OBJLIST_AT(cfg->mappings, const struct sl_cfg_mapping, i);
        if (m->name && strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

/* ---- release ------------------------------------------------------------------------------ */

static void release_typed(struct sl_objlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct sl_cfg_typed *sec = SL_OBJLIST_AT(*l, struct sl_cfg_typed, i);
        json_decref(sec->raw);
        sec->raw = NULL;
        free(sec->path);
        sec->path = NULL;
    }
}

void sl_config_release(struct sl_config *cfg)
{
    if (!cfg)
        return;
    release_typed(&cfg->functions);
    release_typed(&cfg->sources);
    release_typed(&cfg->dlqs);
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        struct sl_cfg_mapping *m = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        free(m->path);
        m->path = NULL;
    }
    sl_props_release(&sl_config_root_table, cfg);
    free(cfg->file);
    free(cfg->dir);
    free(cfg->text);
    json_decref(cfg->lines);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- after binding ------------------------------------------------------------------------ */

static char *index_path(const char *list, size_t i)
{
    char path[96];
    snprintf(path, sizeof(path), "%s[%zu]", list, i);
    return sl_strdup(path);
}

/* Collecting (sluice validate): records the error and goes on (returns 0). */
static int report(const struct sl_config *cfg, int rc, const struct sl_err *err)
{
    if (rc >= 0 || !cfg->diags)
        return rc;
    sl_cfg_diags_add(cfg->diags, err);
    return 0;
}

static void attach_typed(struct sl_objlist *l, json_t *root, const char *key)
{
    json_t *arr = root ? json_object_get(root, key) : NULL;
    for (size_t i = 0; i < l->n; i++) {
        struct sl_cfg_typed *sec = SL_OBJLIST_AT(*l, struct sl_cfg_typed, i);
        sec->raw = json_incref(json_array_get(arr, i));
        sec->path = index_path(key, i);
    }
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SL_NAME_MAX)
        return false;
    for (const char *c = s; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == '-'))
            return false;
    }
    return true;
}

static int name_error(const char *file, const char *path, const char *name, struct sl_err *err)
{
    char val[128];
    json_t *v = json_string(name);
    sl_value_text(v, false, true, val, sizeof(val));
    json_decref(v);
    return sl_cfg_errf(err, file, path,
                       "%s is not a valid name (allowed: 1 to %d characters of A-Z a-z 0-9 _ . -)",
                       val, SL_NAME_MAX);
}

/* Names valid and unique within one list. name_at(i) gives item i's name. */
static int check_names(const struct sl_config *cfg, const struct sl_objlist *l, const char *list,
                       size_t name_offset, size_t item_size, struct sl_err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *name = *(char *const *)((const char *)l->items + i * item_size + name_offset);
        char path[96];
        snprintf(path, sizeof(path), "%s[%zu].name", list, i);
        if (!name)
            continue; /* missing: already reported */
        int rc = 0;
        if (!valid_name(name))
            rc = name_error(cfg->file, path, name, err);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            const char *other =
                *(char *const *)((const char *)l->items + j * item_size + name_offset);
            if (other && strcmp(name, other) == 0)
                rc = sl_cfg_errf(err, cfg->file, path, "\"%s\" is already used by %s[%zu]", name,
                                 list, j);
        }
        if ((rc = report(cfg, rc, err)) < 0)
            return rc;
    }
    return 0;
}

static int check_type(const struct sl_config *cfg, const struct sl_objlist *l, const char *list,
                      struct sl_err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(*l, const struct sl_cfg_typed, i);
        if (sec->type && !valid_name(sec->type)) {
            char path[96];
            snprintf(path, sizeof(path), "%s[%zu].type", list, i);
            char val[128];
            json_t *v = json_string(sec->type);
            sl_value_text(v, false, true, val, sizeof(val));
            json_decref(v);
            int rc = report(
                cfg, sl_cfg_errf(err, cfg->file, path, "%s is not a valid type name", val), err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int undefined_ref(const struct sl_config *cfg, const char *path, const char *what,
                         const char *value, const struct sl_objlist *l, bool with_default,
                         struct sl_err *err)
{
    struct sl_buf defined;
    sl_buf_init(&defined);
    if (with_default)
        sl_buf_puts(&defined, SL_DEFAULT_DLQ);
    for (size_t i = 0; i < l->n && defined.len < 300; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(*l, const struct sl_cfg_typed, i);
        sl_buf_printf(&defined, "%s%s", defined.len ? ", " : "", sec->name);
    }
    char val[128];
    json_t *v = json_string(value);
    sl_value_text(v, false, true, val, sizeof(val));
    json_decref(v);
    int rc = sl_cfg_errf(err, cfg->file, path, "%s is not a defined %s (defined: %s)", val, what,
                         defined.len ? defined.data : "none");
    sl_buf_release(&defined);
    return rc;
}

static int check_mapping(struct sl_config *cfg, size_t i, struct sl_err *err)
{
    struct sl_cfg_mapping *m = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
    char path[128];
    int rc = 0;
    snprintf(path, sizeof(path), "%s.source", m->path);
    if (m->source && !sl_config_find(&cfg->sources, m->source))
        rc = report(cfg, undefined_ref(cfg, path, "source", m->source, &cfg->sources, false, err),
                    err);
    snprintf(path, sizeof(path), "%s.function", m->path);
    if (rc == 0 && m->function && !sl_config_find(&cfg->functions, m->function))
        rc = report(cfg,
                    undefined_ref(cfg, path, "function", m->function, &cfg->functions, false, err),
                    err);
    if (m->dlq && strcmp(m->dlq, SL_DEFAULT_DLQ) == 0) {
        free(m->dlq);
        m->dlq = NULL;
    }
    snprintf(path, sizeof(path), "%s.dlq", m->path);
    if (rc == 0 && m->dlq && !sl_config_find(&cfg->dlqs, m->dlq))
        rc = report(cfg, undefined_ref(cfg, path, "dlq", m->dlq, &cfg->dlqs, true, err), err);
    const struct sl_cfg_backoff *b = &m->retry.backoff;
    if (rc == 0 && b->min_ms > b->max_ms) {
        char lo[32], hi[32];
        sl_duration_fmt(b->min_ms, lo, sizeof(lo));
        sl_duration_fmt(b->max_ms, hi, sizeof(hi));
        snprintf(path, sizeof(path), "%s.retry.backoff.min", m->path);
        rc = report(
            cfg,
            sl_cfg_errf(err, cfg->file, path, "%s is more than retry.backoff.max (%s)", lo, hi),
            err);
    }
    if (rc == 0 && m->batch.window_ms > 300000) {
        snprintf(path, sizeof(path), "%s.batch.window", m->path);
        rc = report(cfg, sl_cfg_errf(err, cfg->file, path, "must be at most 300s"), err);
    }
    return rc;
}

/* "host:port", "[v6]:port" or ":port"; port 0..65535. */
static int check_listen(const struct sl_config *cfg, const char *path, const char *listen,
                        struct sl_err *err)
{
    const char *colon = strrchr(listen, ':');
    bool ok = colon != NULL && colon[1] != '\0' && strlen(colon + 1) <= 5;
    long port = 0;
    for (const char *c = colon ? colon + 1 : ""; ok && *c; c++) {
        if (*c < '0' || *c > '9')
            ok = false;
        else
            port = port * 10 + (*c - '0');
    }
    if (ok && port > 65535)
        ok = false;
    if (ok && listen[0] == '[' && (colon == listen || colon[-1] != ']'))
        ok = false;
    if (ok)
        return 0;
    char val[128];
    json_t *v = json_string(listen);
    sl_value_text(v, false, true, val, sizeof(val));
    json_decref(v);
    return sl_cfg_errf(err, cfg->file, path, "%s is not host:port (e.g. 127.0.0.1:8080)", val);
}

/* The port of a "host:port" that check_listen accepted, and whether its host is a wildcard
 * (every address: "", "0.0.0.0", "[::]", "*"). */
static long listen_port(const char *listen, bool *wildcard)
{
    const char *colon = strrchr(listen, ':');
    size_t hlen = (size_t)(colon - listen);
    *wildcard = hlen == 0 || (hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
                (hlen == 4 && strncmp(listen, "[::]", 4) == 0) || (hlen == 1 && listen[0] == '*');
    return strtol(colon + 1, NULL, 10);
}

/* The push and admin listeners cannot share an address (the second bind would fail at start):
 * same port on the same host, or on a wildcard host. Port 0 (any free port) never clashes. */
static int check_listeners_differ(const struct sl_config *cfg, struct sl_err *err)
{
    const char *a = cfg->server.listen, *b = cfg->admin.listener.listen;
    bool wa, wb;
    long pa = listen_port(a, &wa), pb = listen_port(b, &wb);
    size_t ha = (size_t)(strrchr(a, ':') - a), hb = (size_t)(strrchr(b, ':') - b);
    bool same_host = wa || wb || (ha == hb && strncmp(a, b, ha) == 0);
    if (pa == 0 || pa != pb || !same_host)
        return 0;
    char val[128];
    json_t *v = json_string(b);
    sl_value_text(v, false, true, val, sizeof(val));
    json_decref(v);
    return sl_cfg_errf(err, cfg->file, "admin.listen",
                       "%s is the address of server.listen (\"%s\") too (allowed: another port, "
                       "or another host: the push and admin listeners are separate)",
                       val, a);
}

static int cross_check(struct sl_config *cfg, struct sl_err *err)
{
    int rc = 0;
    bool listen_ok = cfg->server.listen && cfg->admin.listener.listen;
    if (cfg->server.listen &&
        (rc = report(cfg, check_listen(cfg, "server.listen", cfg->server.listen, err), err)) < 0)
        listen_ok = false;
    if (rc == 0 && cfg->admin.listener.listen &&
        (rc = report(cfg, check_listen(cfg, "admin.listen", cfg->admin.listener.listen, err),
                     err)) < 0)
        listen_ok = false;
    /* Both well formed (collecting, a bad one was reported and is not compared). */
    if (rc == 0 && listen_ok && check_listen(cfg, "server.listen", cfg->server.listen, NULL) == 0 &&
        check_listen(cfg, "admin.listen", cfg->admin.listener.listen, NULL) == 0)
        rc = report(cfg, check_listeners_differ(cfg, err), err);
    size_t typed_name = offsetof(struct sl_cfg_typed, name);
    size_t typed_size = sizeof(struct sl_cfg_typed);
    if (rc == 0)
        rc = check_names(cfg, &cfg->functions, "functions", typed_name, typed_size, err);
    if (rc == 0)
        rc = check_names(cfg, &cfg->sources, "sources", typed_name, typed_size, err);
    if (rc == 0)
        rc = check_names(cfg, &cfg->dlqs, "dlqs", typed_name, typed_size, err);
    if (rc == 0)
        rc = check_names(cfg, &cfg->mappings, "mappings", offsetof(struct sl_cfg_mapping, name),
                         sizeof(struct sl_cfg_mapping), err);
    if (rc == 0)
        rc = check_type(cfg, &cfg->functions, "functions", err);
    if (rc == 0)
        rc = check_type(cfg, &cfg->sources, "sources", err);
    if (rc == 0)
        rc = check_type(cfg, &cfg->dlqs, "dlqs", err);
    for (size_t i = 0; rc == 0 && i < cfg->dlqs.n; i++) {
        const struct sl_cfg_typed *d = SL_OBJLIST_AT(cfg->dlqs, const struct sl_cfg_typed, i);
        if (d->name && strcmp(d->name, SL_DEFAULT_DLQ) == 0) {
            char path[64];
            snprintf(path, sizeof(path), "dlqs[%zu].name", i);
            rc = report(cfg,
                        sl_cfg_errf(err, cfg->file, path,
                                    "\"default\" is reserved for the built-in SQLite dead-letter "
                                    "queue"),
                        err);
        }
    }
    for (size_t i = 0; rc == 0 && i < cfg->mappings.n; i++)
        rc = check_mapping(cfg, i, err);
    return rc;
}

/* ---- line numbers ------------------------------------------------------------------------- */

/* Turns "name: path: msg" into "name:LINE: path: msg" when the path (or its nearest parent) has a
 * known line. */
static void add_line(struct sl_err *err, const char *name, json_t *lines)
{
    if (!err || !name || !lines)
        return;
    size_t nlen = strlen(name);
    if (strncmp(err->msg, name, nlen) != 0 || strncmp(err->msg + nlen, ": ", 2) != 0)
        return;
    const char *path = err->msg + nlen + 2;
    const char *end = strstr(path, ": ");
    if (!end || end == path)
        return;
    char key[SL_ERR_MSG_MAX];
    size_t klen = (size_t)(end - path);
    memcpy(key, path, klen);
    key[klen] = '\0';
    long line = sl_cfg_line_of(lines, key);
    if (!line)
        return;
    char out[2 * SL_ERR_MSG_MAX];
    snprintf(out, sizeof(out), "%s:%ld: %s", name, line, path);
    size_t n = strlen(out);
    if (n >= sizeof(err->msg))
        n = sizeof(err->msg) - 1;
    memcpy(err->msg, out, n);
    err->msg[n] = '\0';
}

void sl_config_err_line(const struct sl_config *cfg, struct sl_err *err)
{
    if (cfg && err && err->code == SL_ECONFIG)
        add_line(err, cfg->file, cfg->lines);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* Loads text named `name`, whose relative paths are read from `dir` (NULL: kept as written). */
static int load_text(const char *text, size_t len, bool json, const char *name, const char *dir,
                     const struct sl_config_opts *o, struct sl_config *cfg, struct sl_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    struct sl_cfg_diags *diags = o ? o->diags : NULL;
    json_t *root = NULL, *lines = NULL;
    int rc = json ? sl_cfg_parse_json(text, len, name, &root, err)
                  : sl_cfg_parse_yaml(text, len, name, &root, &lines, err);
    if (rc < 0) {
        add_line(err, name, lines);
        sl_cfg_diags_add(diags, err);
        json_decref(lines);
        return rc;
    }
    int irc = sl_cfg_interpolate_opts(root, name, o && o->no_env, diags, err);
    if (irc < 0 && !diags)
        rc = irc;
    if (rc == 0) {
        struct sl_prop_ctx ctx = {.file = name, .path = "", .dir = dir, .collect = diags};
        rc = diags ? sl_props_bind_all(&sl_config_root_table, root, cfg, &ctx, err)
                   : sl_props_bind(&sl_config_root_table, root, cfg, &ctx, err);
    }
    if (rc == 0 || diags) {
        cfg->file = name ? sl_strdup(name) : NULL;
        cfg->dir = dir ? sl_strdup(dir) : NULL;
        cfg->lines = json_incref(lines);
        cfg->diags = diags;
        cfg->text = sl_strndup(text, len);
        cfg->text_len = len;
        cfg->text_json = json;
        attach_typed(&cfg->functions, root, "functions");
        attach_typed(&cfg->sources, root, "sources");
        attach_typed(&cfg->dlqs, root, "dlqs");
        for (size_t i = 0; i < cfg->mappings.n; i++)
            SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i)->path =
                index_path("mappings", i);
        int crc = cross_check(cfg, err);
        if (rc == 0)
            rc = crc;
        if (rc == 0 && diags && diags->errors)
            rc = SL_ECONFIG;
        if (rc < 0 && !diags)
            sl_config_release(cfg);
    }
    if (rc < 0)
        add_line(err, name, lines);
    json_decref(root);
    json_decref(lines);
    return rc;
}

int sl_config_load_text(const char *text, size_t len, bool json, const char *name,
                        struct sl_config *cfg, struct sl_err *err)
{
    return load_text(text, len, json, name, NULL, NULL, cfg, err);
}

char *sl_config_path(const struct sl_config *cfg, const char *path)
{
    return sl_prop_path(cfg ? cfg->dir : NULL, path);
}

/* The absolute path of the folder that holds the file at `path` (opened just before, so the
 * folder exists), with no "." or ".." left in it. NULL with errno set when it cannot be had. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *folder = slash == path ? sl_strdup("/")
                   : slash       ? sl_strndup(path, (size_t)(slash - path))
                                 : sl_strdup(".");
    char *abs = realpath(folder, NULL);
    free(folder);
    return abs;
}

static bool has_json_suffix(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".json") == 0;
}

int sl_config_load(const char *path, struct sl_config *cfg, struct sl_err *err)
{
    return sl_config_load_opts(path, NULL, cfg, err);
}

/* A whole-file error (cannot open, too large...): also a diagnostic when collecting. */
static int file_error(const struct sl_config_opts *o, int rc, const struct sl_err *err)
{
    if (o)
        sl_cfg_diags_add(o->diags, err);
    return rc;
}

int sl_config_load_opts(const char *path, const struct sl_config_opts *o, struct sl_config *cfg,
                        struct sl_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!path)
        return sl_cfg_errf(err, NULL, NULL, "no configuration file given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return file_error(o, sl_cfg_errf(err, path, NULL, "cannot open: %s", strerror(errno)), err);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return file_error(
            o, sl_cfg_errf(err, path, NULL, "is a directory, not a configuration file"), err);
    }
    size_t cap = SL_CONFIG_MAX_FILE_BYTES + 1, len = 0;
    char *text = sl_malloc(cap);
    while (len < cap) {
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(text);
            return file_error(o, sl_cfg_errf(err, path, NULL, "cannot read: %s", strerror(e)), err);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    int rc;
    if (len > SL_CONFIG_MAX_FILE_BYTES)
        rc = sl_cfg_errf(err, path, NULL, "larger than the limit of %u bytes",
                         SL_CONFIG_MAX_FILE_BYTES);
    else {
        char *dir = folder_of(path);
        if (!dir)
            rc = sl_cfg_errf(err, path, NULL, "cannot resolve the folder of the file: %s",
                             strerror(errno));
        else
            rc = load_text(text, len, has_json_suffix(path), path, dir, o, cfg, err);
        free(dir);
    }
    free(text);
    if (rc < 0 && o && o->diags && !o->diags->n)
        sl_cfg_diags_add(o->diags, err);
    return rc;
}

/* ---- typed sections ----------------------------------------------------------------------- */

int sl_config_bind_typed(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                         const struct sl_prop_table *t, void *out, struct sl_err *err)
{
    if (!sec || !t || !out)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "sl_config_bind_typed: bad arguments");
    json_t *own = json_is_object(sec->raw) ? json_copy(sec->raw) : NULL;
    if (own) {
        json_object_del(own, "name");
        json_object_del(own, "type");
    }
    struct sl_prop_ctx ctx = {.file = cfg ? cfg->file : NULL,
                              .path = sec->path ? sec->path : "",
                              .dir = cfg ? cfg->dir : NULL,
                              .collect = cfg ? cfg->diags : NULL};
    int rc = sl_props_bind(t, own, out, &ctx, err);
    json_decref(own);
    return rc;
}

int sl_config_section_error(struct sl_err *err, const struct sl_config *cfg,
                            const struct sl_cfg_typed *sec, const char *key, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s.%s: %s",
                      cfg && cfg->file ? cfg->file : "config", sec->path ? sec->path : "", key,
                      msg);
}

int sl_config_key_error(struct sl_err *err, const char *where, const char *key, const char *fmt,
                        ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s%s: %s", where, key, msg);
}

int sl_config_copy(const struct sl_config *src, struct sl_config *dst, struct sl_err *err)
{
    if (!src->text)
        return sl_cfg_errf(err, src->file, NULL, "no configuration text to copy");
    return load_text(src->text, src->text_len, src->text_json, src->file, src->dir, NULL, dst, err);
}

int sl_config_add_mapping(struct sl_config *cfg, json_t *section, const char *path,
                          struct sl_err *err)
{
    const struct sl_prop_table *t = NULL;
    for (size_t i = 0; i < sl_config_root_table.nprops; i++) {
        if (strcmp(sl_config_root_table.props[i].name, "mappings") == 0)
            t = sl_config_root_table.props[i].sub;
    }
    if (!t)
        return sl_cfg_errf(err, NULL, path, "no mappings table");
    struct sl_cfg_mapping m;
    memset(&m, 0, sizeof(m));
    struct sl_prop_ctx ctx = {.file = NULL, .path = path, .dir = cfg->dir};
    int rc = sl_props_bind(t, section, &m, &ctx, err);
    if (rc < 0)
        return rc;
    if (!valid_name(m.name)) {
        rc = name_error(NULL, path, m.name, err);
    } else {
        for (size_t i = 0; rc == 0 && i < cfg->mappings.n; i++) {
            const struct sl_cfg_mapping *o = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
            if (o->name && strcmp(o->name, m.name) == 0)
                rc = sl_cfg_errf(err, NULL, path, "the name \"%s\" is already used by %s", m.name,
                                 o->path ? o->path : "another mapping");
        }
    }
    if (rc < 0) {
        sl_props_release(t, &m);
        return rc;
    }
    size_t n = cfg->mappings.n;
    cfg->mappings.items = sl_realloc(cfg->mappings.items, (n + 1) * sizeof(m));
    m.path = sl_strdup(path);
    SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, n)[0] = m;
    cfg->mappings.n = n + 1;
    /* The file's checks, without the diagnostics collector (its errors are the caller's). */
    struct sl_cfg_diags *diags = cfg->diags;
    const char *file = cfg->file;
    cfg->diags = NULL;
    cfg->file = NULL;
    rc = check_mapping(cfg, n, err);
    cfg->diags = diags;
    cfg->file = (char *)file;
    if (rc < 0) {
        struct sl_cfg_mapping *last = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, n);
        free(last->path);
        last->path = NULL;
        sl_props_release(t, last);
        cfg->mappings.n = n;
    }
    return rc;
}
