/* Lambda's SNS event (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html):
 * {"Records":[{"EventVersion":"1.0","EventSubscriptionArn":...,"EventSource":"aws:sns",
 * "Sns":{...}}, ...]}. The Sns object is what parse.c wrote at intake (the spool's body) and
 * the subscription ARN the record's attributes: both are spliced in, nothing is re-encoded.
 * `format: raw` gives the array alone. */
#include <string.h>

#include "core/jw.h"
#include "sources/sns/sns_int.h"

/* The members of a record's attributes object without its braces (empty for "{}"). */
static void attrs_inner(const struct sl_record *r, const char **p, size_t *n)
{
    const char *id, *attrs;
    sl_push_record_parts(r, &id, &attrs);
    size_t len = strlen(attrs);
    if (len >= 2 && attrs[0] == '{' && attrs[len - 1] == '}') {
        *p = attrs + 1;
        *n = len - 2;
    } else {
        *p = "";
        *n = 0;
    }
}

/* "EventVersion", "EventSubscriptionArn", "EventSource", with a comma after them. */
static void write_envelope(const struct sl_record *r, struct sl_buf *out)
{
    const char *inner;
    size_t n;
    attrs_inner(r, &inner, &n);
    SL_BUF_LIT(out, "\"EventVersion\":\"1.0\",");
    if (n) {
        sl_buf_append(out, inner, n);
        sl_buf_putc(out, ',');
    }
    SL_BUF_LIT(out, "\"EventSource\":\"aws:sns\"");
}

void sl_sns_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                   struct sl_buf *out)
{
    (void)source_name;
    if (format == SL_CFG_FORMAT_LAMBDA)
        SL_BUF_LIT(out, "{\"Records\":");
    sl_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(out, ',');
        sl_buf_putc(out, '{');
        write_envelope(rs[i], out);
        SL_BUF_LIT(out, ",\"Sns\":");
        if (rs[i]->body_len)
            sl_buf_append(out, rs[i]->body, rs[i]->body_len);
        else
            SL_BUF_LIT(out, "{}");
        sl_buf_putc(out, '}');
    }
    sl_buf_putc(out, ']');
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_buf_putc(out, '}');
}

static void sns_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_putc(out, '{');
    write_envelope(r, out);
    sl_buf_putc(out, '}');
}

/* What filter patterns see is the event's record: {"Sns": {"Message": ..., "TopicArn": ...},
 * "EventSource": "aws:sns", ...}; "Sns" is the view's data, read in place. */
bool sl_sns_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    if (!r->body || !r->body_len)
        return false;
    *out = (struct sl_fview){
        .r = r,
        .data_key = "Sns",
        .data = r->body,
        .data_len = r->body_len,
        .write_meta = sns_write_meta,
    };
    return true;
}
