/* Lambda event filtering (docs/FILTERS.md;
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): the list of
 * patterns. Each item is a pattern object, a string of pattern JSON text, or Lambda's
 * {"Pattern": "<JSON text>"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mappings/filter_int.h"

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int too_long(const char *path, size_t i, size_t chars, struct sl_err *err)
{
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                      "%s[%zu]: the pattern is %zu characters long once encoded (at most %d)", path,
                      i, chars, SL_FILTER_MAX_PATTERN_CHARS);
}

/* The pattern text of item, if it is given as text: a string or {"Pattern": string}. */
static json_t *pattern_text(json_t *item)
{
    if (json_is_string(item))
        return item;
    json_t *p = json_object_get(item, "Pattern");
    return json_object_size(item) == 1 && json_is_string(p) ? p : NULL;
}

static int compile_one(json_t *item, const char *path, size_t i, struct sl_fnode *out,
                       struct sl_err *err)
{
    json_t *text = pattern_text(item);
    if (!text && !json_is_object(item)) {
        char *s = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%s[%zu]: a filter pattern must be an object or a string of JSON "
                            "text, got %.80s",
                            path, i, s ? s : "?");
        free(s);
        return rc;
    }
    if (!text) {
        char *s = json_dumps(item, JSON_COMPACT);
        size_t chars = s ? utf8_chars(s, strlen(s)) : 0;
        free(s);
        if (chars > SL_FILTER_MAX_PATTERN_CHARS)
            return too_long(path, i, chars, err);
        return sl_fnode_compile(item, true, path, i, out, err);
    }
    const char *src = json_string_value(text);
    size_t chars = utf8_chars(src, json_string_length(text));
    if (chars > SL_FILTER_MAX_PATTERN_CHARS)
        return too_long(path, i, chars, err);
    json_error_t jerr;
    /* Default flags but for DECODE_ANY (to say what a non-object is): duplicate keys, last wins. */
    json_t *obj = json_loadb(src, json_string_length(text), JSON_DECODE_ANY, &jerr);
    if (!obj)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s[%zu]: the pattern is not valid JSON: %s (line %d, column %d)", path,
                          i, jerr.text, jerr.line, jerr.column);
    int rc;
    if (!json_is_object(obj))
        rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                        "%s[%zu]: a filter pattern must be a JSON object, got %.80s", path, i, src);
    else
        rc = sl_fnode_compile(obj, false, path, i, out, err);
    json_decref(obj);
    return rc;
}

int sl_filter_compile(json_t *patterns, const char *path, struct sl_filter **out,
                      struct sl_err *err)
{
    *out = NULL;
    if (!path)
        path = "filters";
    if (!patterns || json_is_null(patterns))
        return 0;
    if (!json_is_array(patterns)) {
        char *s = json_dumps(patterns, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%s: must be a list of filter patterns (objects or JSON text), "
                            "got %.80s",
                            path, s ? s : "?");
        free(s);
        return rc;
    }
    size_t n = json_array_size(patterns);
    if (n == 0)
        return 0;
    if (n > SL_FILTER_MAX_PATTERNS)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: at most %d filter patterns are allowed, got %zu", path,
                          SL_FILTER_MAX_PATTERNS, n);
    struct sl_filter *f = SL_NEW(struct sl_filter);
    f->patterns = sl_calloc(n, sizeof(*f->patterns));
    for (size_t i = 0; i < n; i++) {
        int rc = compile_one(json_array_get(patterns, i), path, i, &f->patterns[i], err);
        if (rc < 0) {
            sl_filter_destroy(f);
            return rc;
        }
        f->n++;
    }
    *out = f;
    return 0;
}

bool sl_filter_match(const struct sl_filter *f, json_t *view)
{
    if (!f)
        return true;
    /* Through the same text matcher as records: the tree is written out once. */
    char *text = json_is_object(view) ? json_dumps(view, JSON_COMPACT) : NULL;
    struct sl_jv obj;
    bool have = text && sl_jt_validate(text, strlen(text), SL_JT_ALLOW_NUL, &obj);
    struct sl_fobj o = {.obj = &obj};
    bool match = false;
    for (size_t i = 0; i < f->n && !match; i++)
        match = sl_fnode_match(&f->patterns[i], have ? &o : NULL);
    free(text);
    return match;
}

void sl_filter_destroy(struct sl_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        sl_fnode_release(&f->patterns[i]);
    free(f->patterns);
    free(f);
}
