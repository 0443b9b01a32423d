/* The S3 source's typed record: the spool row (base.seq), the sequencer (the item identifier
 * of partial batch responses), the attributes ({"bucket","key"}: the lane's hash and the DLQ
 * coordinates) and the body, the Lambda S3 record as parse.c wrote it, in one reused buffer.
 * Records come from a per-source free list, so emitting allocates nothing once it has grown. */
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/s3/s3_int.h"

#define S3_KEEP_BYTES (64u << 10) /* a buffer grown past this by a large record is not kept */

static const struct sl_s3_rec *srec(const struct sl_record *r)
{
    return (const struct sl_s3_rec *)r;
}

void sl_s3_pool_release(struct sl_s3_pool *p)
{
    while (p->free) {
        struct sl_s3_rec *sr = p->free;
        p->free = sr->next_free;
        sl_buf_release(&sr->buf);
        free(sr);
    }
}

void sl_s3_write_note_attrs(struct sl_buf *out, const struct sl_s3_note *n)
{
    SL_BUF_LIT(out, "{\"bucket\":");
    sl_json_escape(out, n->bucket, n->bucket_len);
    SL_BUF_LIT(out, ",\"key\":");
    sl_json_escape(out, n->key_enc, n->key_enc_len);
    sl_buf_putc(out, '}');
}

static void s3_write_id(const struct sl_record *r, struct sl_buf *out)
{
    const char *id, *attrs;
    sl_s3_record_parts(r, &id, &attrs);
    sl_buf_puts(out, id);
}

/* The attributes with the sequencer and the spool row: where the record came from. */
static void s3_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const char *id, *attrs;
    sl_s3_record_parts(r, &id, &attrs);
    size_t alen = strlen(attrs);
    if (alen >= 2 && attrs[alen - 1] == '}') {
        sl_buf_append(out, attrs, alen - 1);
        if (alen > 2)
            sl_buf_putc(out, ',');
    } else {
        sl_buf_putc(out, '{');
    }
    SL_BUF_LIT(out, "\"sequencer\":");
    sl_json_escape(out, id, strlen(id));
    SL_BUF_LIT(out, ",\"spoolSeq\":");
    sl_buf_put_u64(out, r->seq);
    sl_buf_putc(out, '}');
}

static void s3_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, srec(r)->buf.data, srec(r)->attrs_len);
}

static bool s3_matches(const struct sl_record *r, json_t *item)
{
    const struct sl_s3_rec *sr = srec(r);
    return json_is_string(item) && json_string_length(item) == sr->id_len &&
           memcmp(json_string_value(item), sr->id, sr->id_len) == 0;
}

static void s3_release(struct sl_record *r)
{
    struct sl_s3_rec *sr = (struct sl_s3_rec *)r;
    if (sr->buf.cap > S3_KEEP_BYTES)
        sl_buf_release(&sr->buf);
    struct sl_s3_pool *p = sr->pool;
    sr->next_free = p->free;
    p->free = sr;
}

const struct sl_record_ops sl_s3_record_ops = {
    .write_id = s3_write_id,
    .write_coords = s3_write_coords,
    .write_attrs = s3_write_attrs,
    .matches = s3_matches,
    .release = s3_release,
};

struct sl_record *sl_s3_record_take(struct sl_s3_pool *p, uint64_t seq, const char *id,
                                    int64_t received_ms, const char *attrs, const void *body,
                                    size_t body_len)
{
    struct sl_s3_rec *sr = p->free;
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
    sr->base.ops = &sl_s3_record_ops;
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

void sl_s3_record_parts(const struct sl_record *r, const char **id, const char **attrs)
{
    if (r->ops == &sl_s3_record_ops) {
        *id = srec(r)->id;
        *attrs = srec(r)->buf.data;
        return;
    }
    const struct sl_text_record *t = sl_record_text(r);
    *id = t ? t->id : "";
    *attrs = t ? t->attrs : "{}";
}
