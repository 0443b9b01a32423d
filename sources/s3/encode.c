/* The S3 event (https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html):
 * {"Records":[<record>, ...]} where each record is the Lambda S3 record parse.c wrote at
 * intake (and the spool kept): the batch is spliced together, nothing is re-encoded.
 * `format: raw` gives the array alone. */
#include <ctype.h>
#include <string.h>

#include "core/jw.h"
#include "sources/s3/s3_int.h"

void sl_s3_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                  struct sl_buf *out)
{
    (void)source_name;
    if (format == SL_CFG_FORMAT_LAMBDA)
        SL_BUF_LIT(out, "{\"Records\":");
    sl_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(out, ',');
        if (rs[i]->body_len)
            sl_buf_append(out, rs[i]->body, rs[i]->body_len);
        else
            SL_BUF_LIT(out, "{}");
    }
    sl_buf_putc(out, ']');
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_buf_putc(out, '}');
}

/* A small scanner over JSON text that is known to be valid (parse.c wrote it): enough to find
 * a top-level member without building a tree. */
static size_t skip_ws(const char *t, size_t n, size_t i)
{
    while (i < n && isspace((unsigned char)t[i]))
        i++;
    return i;
}

static size_t skip_string(const char *t, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t skip_value(const char *t, size_t n, size_t i)
{
    if (i >= n)
        return n;
    if (t[i] == '"')
        return skip_string(t, n, i);
    if (t[i] == '{' || t[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = t[i];
            if (c == '"') {
                i = skip_string(t, n, i);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && !isspace((unsigned char)t[i]))
        i++;
    return i;
}

/* The top-level "s3" member of a record: *sep is the offset of the '{' or ',' before its key,
 * [*v, *vend) its value. */
static bool find_s3(const char *t, size_t n, size_t *sep, size_t *v, size_t *vend)
{
    size_t i = skip_ws(t, n, 0);
    if (i >= n || t[i] != '{')
        return false;
    size_t at = i++;
    for (;;) {
        i = skip_ws(t, n, i);
        if (i >= n || t[i] != '"')
            return false;
        size_t ks = i;
        i = skip_string(t, n, i);
        bool is_s3 = i - ks == 4 && memcmp(t + ks, "\"s3\"", 4) == 0;
        i = skip_ws(t, n, i);
        if (i >= n || t[i] != ':')
            return false;
        i = skip_ws(t, n, i + 1);
        size_t vs = i;
        i = skip_value(t, n, i);
        if (is_s3) {
            *sep = at;
            *v = vs;
            *vend = i;
            return i <= n && i > vs;
        }
        i = skip_ws(t, n, i);
        if (i >= n || t[i] != ',')
            return false;
        at = i++;
    }
}

/* The view's metadata: the record without its "s3" member (the view's data key). */
static void s3_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    const char *t = (const char *)r->body;
    size_t n = r->body_len, sep, v, vend;
    if (!t || !find_s3(t, n, &sep, &v, &vend)) {
        SL_BUF_LIT(out, "{}");
        return;
    }
    if (t[sep] == ',') {
        sl_buf_append(out, t, sep);
        sl_buf_append(out, t + vend, n - vend);
        return;
    }
    /* "s3" came first: drop the comma after it, if any. */
    sl_buf_append(out, t, sep + 1);
    size_t i = skip_ws(t, n, vend);
    if (i < n && t[i] == ',')
        i++;
    sl_buf_append(out, t + i, n - i);
}

/* What filter patterns see is the S3 record itself ({"s3": {"object": {"key": ...}}},
 * "eventName", ...): "s3" is the view's data, read in place; the rest is the metadata. */
bool sl_s3_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    size_t sep, v, vend;
    const char *t = (const char *)r->body;
    if (!t || !find_s3(t, r->body_len, &sep, &v, &vend))
        return false;
    *out = (struct sl_fview){
        .r = r,
        .data_key = "s3",
        .data = t + v,
        .data_len = vend - v,
        .write_meta = s3_write_meta,
    };
    return true;
}
