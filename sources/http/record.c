/* The webhook source's typed record: the spool row's sequence (base.seq), the id the pusher
 * got back, the kept attributes (a JSON object text, as stored) and the body, in one reused
 * buffer. The hook's name is escaped once per hook. The coordinates' text is made only for a
 * DLQ entry; it is byte for byte what webhook text records carried. Records come from a
 * per-hook free list, so emitting a row allocates nothing once the list has grown (a buffer
 * grown past SL_WEBHOOK_KEEP_BYTES by a large body is not kept). */
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/http/webhook_int.h"

#define SL_WEBHOOK_KEEP_BYTES (64u << 10)

static const struct sl_webhook_record *wrec(const struct sl_record *r)
{
    return (const struct sl_webhook_record *)r;
}

void sl_webhook_pool_init(struct sl_webhook_pool *p, const char *hook)
{
    p->free = NULL;
    p->hook_json = sl_json_text(hook ? hook : "");
}

void sl_webhook_pool_release(struct sl_webhook_pool *p)
{
    while (p->free) {
        struct sl_webhook_record *wr = p->free;
        p->free = wr->next_free;
        sl_buf_release(&wr->buf);
        free(wr);
    }
    free(p->hook_json);
    p->hook_json = NULL;
}

static void webhook_write_id(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, wrec(r)->id, wrec(r)->id_len);
}

static void webhook_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_webhook_record *wr = wrec(r);
    SL_BUF_LIT(out, "{\"hook\":");
    sl_buf_puts(out, wr->pool->hook_json);
    SL_BUF_LIT(out, ",\"id\":");
    sl_json_escape(out, wr->id, wr->id_len);
    SL_BUF_LIT(out, ",\"spoolSeq\":");
    sl_buf_put_u64(out, r->seq);
    sl_buf_putc(out, '}');
}

static void webhook_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, wrec(r)->buf.data, wrec(r)->attrs_len);
}

static bool webhook_matches(const struct sl_record *r, json_t *item)
{
    const struct sl_webhook_record *wr = wrec(r);
    return json_is_string(item) && json_string_length(item) == wr->id_len &&
           memcmp(json_string_value(item), wr->id, wr->id_len) == 0;
}

static void webhook_release(struct sl_record *r)
{
    struct sl_webhook_record *wr = (struct sl_webhook_record *)r;
    if (wr->buf.cap > SL_WEBHOOK_KEEP_BYTES)
        sl_buf_release(&wr->buf);
    struct sl_webhook_pool *p = wr->pool;
    wr->next_free = p->free;
    p->free = wr;
}

const struct sl_record_ops sl_webhook_record_ops = {
    .write_id = webhook_write_id,
    .write_coords = webhook_write_coords,
    .write_attrs = webhook_write_attrs,
    .matches = webhook_matches,
    .release = webhook_release,
};

struct sl_record *sl_webhook_record_take(struct sl_webhook_pool *p, uint64_t seq, const char *id,
                                         int64_t received_ms, const char *attrs, const void *body,
                                         size_t body_len)
{
    struct sl_webhook_record *wr = p->free;
    struct sl_buf buf;
    if (wr) {
        p->free = wr->next_free;
        buf = wr->buf;
    } else {
        wr = sl_malloc(sizeof(*wr));
        sl_buf_init(&buf);
    }
    memset(wr, 0, sizeof(*wr));
    wr->buf = buf;
    sl_buf_reset(&wr->buf);
    wr->base.ops = &sl_webhook_record_ops;
    wr->pool = p;
    size_t id_len = strnlen(id ? id : "", sizeof(wr->id) - 1);
    memcpy(wr->id, id ? id : "", id_len);
    wr->id[id_len] = '\0';
    wr->id_len = (uint8_t)id_len;

    /* attrs, its NUL, then the body (and a NUL after it, as text records have). */
    if (!attrs || !*attrs)
        attrs = "{}";
    wr->attrs_len = strlen(attrs);
    sl_buf_append(&wr->buf, attrs, wr->attrs_len + 1);
    size_t body_off = wr->buf.len;
    sl_buf_append(&wr->buf, body ? body : "", body_len);
    sl_buf_putc(&wr->buf, '\0');
    wr->base.body = (const unsigned char *)wr->buf.data + body_off;
    wr->base.body_len = body_len;
    wr->base.seq = seq;
    wr->base.time_ms = received_ms;
    wr->base.bytes = body_len + wr->attrs_len + id_len + 64;
    return &wr->base;
}

void sl_webhook_record_parts(const struct sl_record *r, const char **id, const char **attrs)
{
    if (r->ops == &sl_webhook_record_ops) {
        *id = wrec(r)->id;
        *attrs = wrec(r)->buf.data;
        return;
    }
    const struct sl_text_record *t = sl_record_text(r);
    *id = t ? t->id : "";
    *attrs = t ? t->attrs : "{}";
}
