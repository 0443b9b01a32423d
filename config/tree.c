/* The config tree: JSON parsing with limits, ${VAR} interpolation, error formatting. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/parse.h"
#include "config/props_fmt.h"
#include "core/buf.h"

#define SL_TREE_PATH_MAX 384

int sl_cfg_errf(struct sl_err *err, const char *name, const char *path, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bool has_path = path && *path;
    if (name)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s%s%s", name,
                          has_path ? path : "", has_path ? ": " : "", msg);
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s%s%s", has_path ? path : "",
                      has_path ? ": " : "", msg);
}

/* Depth and string-length limits of a parsed JSON tree. */
static int check_limits(json_t *v, int depth, const char *path, const char *name,
                        struct sl_err *err)
{
    char sub[SL_TREE_PATH_MAX];
    if (json_is_object(v) || json_is_array(v)) {
        if (depth > SL_CONFIG_MAX_DEPTH)
            return sl_cfg_errf(err, name, path, "nested deeper than %d levels",
                               SL_CONFIG_MAX_DEPTH);
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
        {
            sl_path_key(sub, sizeof(sub), path, key);
            if (strlen(key) > SL_CONFIG_MAX_STRING_BYTES)
                return sl_cfg_errf(err, name, path, "key is longer than %u bytes",
                                   SL_CONFIG_MAX_STRING_BYTES);
            int rc = check_limits(item, depth + 1, sub, name, err);
            if (rc < 0)
                return rc;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            sl_path_index(sub, sizeof(sub), path, i);
            int rc = check_limits(json_array_get(v, i), depth + 1, sub, name, err);
            if (rc < 0)
                return rc;
        }
    } else if (json_is_string(v) && json_string_length(v) > SL_CONFIG_MAX_STRING_BYTES) {
        return sl_cfg_errf(err, name, path, "value is longer than %u bytes",
                           SL_CONFIG_MAX_STRING_BYTES);
    }
    return 0;
}

int sl_cfg_parse_json(const char *text, size_t len, const char *name, json_t **root,
                      struct sl_err *err)
{
    *root = NULL;
    if (len > SL_CONFIG_MAX_FILE_BYTES)
        return sl_cfg_errf(err, name, NULL, "larger than the limit of %u bytes",
                           SL_CONFIG_MAX_FILE_BYTES);
    json_error_t jerr;
    json_t *v = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s:%d: JSON syntax error: %s",
                          name ? name : "config", jerr.line, jerr.text);
    if (!json_is_object(v)) {
        int rc = sl_cfg_errf(err, name, NULL, "the top level must be a mapping, not %s",
                             sl_json_kind(v));
        json_decref(v);
        return rc;
    }
    int rc = check_limits(v, 1, "", name, err);
    if (rc < 0) {
        json_decref(v);
        return rc;
    }
    *root = v;
    return 0;
}

/* ---- ${VAR} interpolation ----------------------------------------------------------------- */

static bool valid_var_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    }
    return true;
}

struct interp {
    const char *name;             /* the file, for messages */
    bool no_env;                  /* never read the environment */
    struct sl_cfg_diags *collect; /* NULL: stop at the first error */
    bool unknown;                 /* the string being expanded has an unresolved reference */
};

/* Expands one ${...} reference (inner text between the braces) into out. */
static int expand_ref(const char *inner, size_t n, struct sl_buf *out, const char *path,
                      struct interp *in, struct sl_err *err)
{
    const char *name = in->name;
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (inner[i] == ':' && inner[i + 1] == '-') {
            sep = inner + i;
            break;
        }
    }
    size_t name_len = sep ? (size_t)(sep - inner) : n;
    char var[128];
    if (!valid_var_name(inner, name_len) || name_len >= sizeof(var))
        return sl_cfg_errf(err, name, path,
                           "\"${%.*s}\" is not a valid reference (use ${NAME} or "
                           "${NAME:-default}; $${ for a literal ${)",
                           (int)(n > 60 ? 60 : n), inner);
    memcpy(var, inner, name_len);
    var[name_len] = '\0';
    const char *val = in->no_env ? NULL : getenv(var);
    if ((!val || !*val) && sep) {
        sl_buf_append(out, sep + 2, n - name_len - 2);
        return 0;
    }
    if (!val && in->no_env) {
        /* Unknown: keep the reference as written; checks of this key are skipped. */
        in->unknown = true;
        sl_buf_printf(out, "${%s}", var);
        return 0;
    }
    if (!val)
        return sl_cfg_errf(err, name, path,
                           "environment variable %s is not set (use ${%s:-default} for a default)",
                           var, var);
    sl_buf_puts(out, val);
    return 0;
}

static int interpolate_string(json_t *v, const char *path, struct interp *in, struct sl_err *err)
{
    const char *name = in->name;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!memchr(s, '$', n))
        return 0;
    struct sl_buf out;
    sl_buf_init(&out);
    int rc = 0;
    in->unknown = false;
    for (size_t i = 0; i < n && rc == 0;) {
        if (s[i] == '$' && i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') {
            sl_buf_puts(&out, "${");
            i += 3;
        } else if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
            const char *end = memchr(s + i + 2, '}', n - i - 2);
            if (!end) {
                rc = sl_cfg_errf(err, name, path,
                                 "unterminated \"${\" (close it with '}', or write $${ for a "
                                 "literal ${)");
                break;
            }
            rc = expand_ref(s + i + 2, (size_t)(end - (s + i + 2)), &out, path, in, err);
            i = (size_t)(end - s) + 1;
        } else {
            sl_buf_putc(&out, s[i]);
            i++;
        }
        if (rc == 0 && out.len > SL_CONFIG_MAX_STRING_BYTES)
            rc = sl_cfg_errf(err, name, path,
                             "value is longer than %u bytes after ${VAR} "
                             "interpolation",
                             SL_CONFIG_MAX_STRING_BYTES);
    }
    if (rc == 0 && json_string_setn(v, out.data ? out.data : "", out.len) != 0)
        rc = sl_cfg_errf(err, name, path, "value is not valid UTF-8 after ${VAR} interpolation");
    sl_buf_release(&out);
    if (rc == 0 && in->unknown)
        sl_cfg_diags_unknown(in->collect, path);
    if (rc < 0 && in->collect) {
        sl_cfg_diags_add(in->collect, err);
        sl_cfg_diags_unknown(in->collect, path); /* its other errors would only repeat it */
        return 0;
    }
    return rc;
}

static int interpolate(json_t *v, const char *path, struct interp *in, struct sl_err *err)
{
    char sub[SL_TREE_PATH_MAX];
    if (json_is_string(v))
        return interpolate_string(v, path, in, err);
    if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
        {
            sl_path_key(sub, sizeof(sub), path, key);
            int rc = interpolate(item, sub, in, err);
            if (rc < 0)
                return rc;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            sl_path_index(sub, sizeof(sub), path, i);
            int rc = interpolate(json_array_get(v, i), sub, in, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int sl_cfg_interpolate(json_t *root, const char *name, struct sl_err *err)
{
    return sl_cfg_interpolate_opts(root, name, false, NULL, err);
}

int sl_cfg_interpolate_opts(json_t *root, const char *name, bool no_env,
                            struct sl_cfg_diags *collect, struct sl_err *err)
{
    struct interp in = {.name = name, .no_env = no_env, .collect = collect};
    int rc = root ? interpolate(root, "", &in, err) : 0;
    if (rc == 0 && collect && collect->errors)
        rc = SL_ECONFIG;
    return rc;
}
