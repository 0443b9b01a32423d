/* The SNS source's typed record: the spool row (base.seq), the MessageId (the item identifier
 * of partial batch responses), the attributes ({"EventSubscriptionArn"}: what the event adds
 * around the Sns object) and the body, the Sns object as parse.c wrote it, in one reused
 * buffer.
 * Records come from a per-source free list, so emitting allocates nothing once it has grown. */
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/sns/sns_int.h"

#define SNS_KEEP_BYTES (64u << 10) /* a buffer grown past this by a large record is not kept */

static const struct sl_sns_rec *srec(const struct sl_record *r)
{
    return (const struct sl_sns_rec *)r;
}

void sl_sns_pool_release(struct sl_sns_pool *p)
{
    while (p->free) {
        struct sl_sns_rec *sr = p->free;
        p->free = sr->next_free;
        sl_buf_release(&sr->buf);
        free(sr);
    }
}

void sl_sns_write_attrs(struct sl_buf *out, const char *subscription_arn, size_t len)
{
    SL_BUF_LIT(out, "{\"EventSubscriptionArn\":");
    sl_json_escape(out, subscription_arn, len);
    sl_buf_putc(out, '}');
}

static void sns_write_id(const struct sl_record *r, struct sl_buf *out)
{
    const char *id, *attrs;
    sl_sns_record_parts(r, &id, &attrs);
    sl_buf_puts(out, id);
}

/* The attributes with the MessageId and the spool row: where the record came from. */
static void sns_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const char *id, *attrs;
    sl_sns_record_parts(r, &id, &attrs);
    size_t alen = strlen(attrs);
    if (alen >= 2 && attrs[alen - 1] == '}') {
        sl_buf_append(out, attrs, alen - 1);
        if (alen > 2)
            sl_buf_putc(out, ',');
    } else {
        sl_buf_putc(out, '{');
    }
    SL_BUF_LIT(out, "\"MessageId\":");
    sl_json_escape(out, id, strlen(id));
    SL_BUF_LIT(out, ",\"spoolSeq\":");
    sl_buf_put_u64(out, r->seq);
    sl_buf_putc(out, '}');
}

static void sns_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, srec(r)->buf.data, srec(r)->attrs_len);
}

static bool sns_matches(const struct sl_record *r, json_t *item)
{
    const struct sl_sns_rec *sr = srec(r);
    return json_is_string(item) && json_string_length(item) == sr->id_len &&
           memcmp(json_string_value(item), sr->id, sr->id_len) == 0;
}

static void sns_release(struct sl_record *r)
{
    struct sl_sns_rec *sr = (struct sl_sns_rec *)r;
    if (sr->buf.cap > SNS_KEEP_BYTES)
        sl_buf_release(&sr->buf);
    struct sl_sns_pool *p = sr->pool;
    sr->next_free = p->free;
    p->free = sr;
}

const struct sl_record_ops sl_sns_record_ops = {
    .write_id = sns_write_id,
    .write_coords = sns_write_coords,
    .write_attrs = sns_write_attrs,
    .matches = sns_matches,
    .release = sns_release,
};

struct sl_record *sl_sns_record_take(struct sl_sns_pool *p, uint64_t seq, const char *id,
                                     int64_t received_ms, const char *attrs, const void *body,
                                     size_t body_len)
{
    struct sl_sns_rec *sr = p->free;
    struct sl_buf buf;
    if (sr) {
        p->free = sr->next_free;
        buf = sr->buf;
    } else {
        sr = sl_malloc(sizeof(*sr));
        sl_buf_init(&buf);
    }
    memset(sr, 0, sizeof(*sr));
    sr->buf = buf;
    sl_buf_reset(&sr->buf);
    sr->base.ops = &sl_sns_record_ops;
    sr->pool = p;
    size_t id_len = strnlen(id ? id : "", sizeof(sr->id) - 1);
    memcpy(sr->id, id ? id : "", id_len);
    sr->id[id_len] = '\0';
    sr->id_len = (uint8_t)id_len;
    if (!attrs || !*attrs)
        attrs = "{}";
    sr->attrs_len = strlen(attrs);
    sl_buf_append(&sr->buf, attrs, sr->attrs_len + 1);
    size_t body_off = sr->buf.len;
    sl_buf_append(&sr->buf, body ? body : "", body_len);
    sl_buf_putc(&sr->buf, '\0');
    sr->base.body = (const unsigned char *)sr->buf.data + body_off;
    sr->base.body_len = body_len;
    sr->base.seq = seq;
    sr->base.time_ms = received_ms;
    sr->base.bytes = body_len + 16;
    return &sr->base;
}

void sl_sns_record_parts(const struct sl_record *r, const char **id, const char **attrs)
{
    if (r->ops == &sl_sns_record_ops) {
        *id = srec(r)->id;
        *attrs = srec(r)->buf.data;
        return;
    }
    const struct sl_text_record *t = sl_record_text(r);
    *id = t ? t->id : "";
    *attrs = t ? t->attrs : "{}";
}
