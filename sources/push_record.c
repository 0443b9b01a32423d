/* The typed record of every push source (push_record.h). */
#include "sources/push_record.h"

#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"

#define PUSH_KEEP_BYTES (64u << 10)

void sl_push_pool_init(struct sl_push_pool *p, const struct sl_record_ops *ops,
                       const char *source_name)
{
    p->free = NULL;
    p->ops = ops;
    p->name_json = sl_json_text(source_name ? source_name : "");
}

void sl_push_pool_release(struct sl_push_pool *p)
{
    while (p->free) {
        struct sl_push_rec *pr = p->free;
        p->free = pr->next_free;
        sl_buf_release(&pr->buf);
        free(pr);
    }
    free(p->name_json);
    p->name_json = NULL;
}

void sl_push_record_write_id(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, sl_push_rec(r)->id, sl_push_rec(r)->id_len);
}

void sl_push_record_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, sl_push_rec(r)->buf.data, sl_push_rec(r)->attrs_len);
}

bool sl_push_record_matches(const struct sl_record *r, json_t *item)
{
    const struct sl_push_rec *pr = sl_push_rec(r);
    return json_is_string(item) && json_string_length(item) == pr->id_len &&
           memcmp(json_string_value(item), pr->id, pr->id_len) == 0;
}

void sl_push_record_release(struct sl_record *r)
{
    struct sl_push_rec *pr = (struct sl_push_rec *)r;
    if (pr->buf.cap > PUSH_KEEP_BYTES)
        sl_buf_release(&pr->buf);
    struct sl_push_pool *p = pr->pool;
    pr->next_free = p->free;
    p->free = pr;
}

void sl_push_record_write_attrs_coords(const struct sl_record *r, const char *id_key,
                                       struct sl_buf *out)
{
    const char *id, *attrs;
    sl_push_record_parts(r, &id, &attrs);
    size_t alen = strlen(attrs);
    if (alen >= 2 && attrs[alen - 1] == '}') {
        sl_buf_append(out, attrs, alen - 1);
        if (alen > 2)
            sl_buf_putc(out, ',');
    } else {
        sl_buf_putc(out, '{');
    }
    sl_json_escape(out, id_key, strlen(id_key));
    sl_buf_putc(out, ':');
    sl_json_escape(out, id, strlen(id));
    SL_BUF_LIT(out, ",\"spoolSeq\":");
    sl_buf_put_u64(out, r->seq);
    sl_buf_putc(out, '}');
}

struct sl_record *sl_push_record_take(struct sl_push_pool *p, uint64_t seq, const char *id,
                                      int64_t received_ms, const char *attrs, const void *body,
                                      size_t body_len)
{
    struct sl_push_rec *pr = p->free;
    struct sl_buf buf;
    if (pr) {
        p->free = pr->next_free;
        buf = pr->buf;
    } else {
        pr = sl_malloc(sizeof(*pr));
        sl_buf_init(&buf);
    }
    memset(pr, 0, sizeof(*pr));
    pr->buf = buf;
    sl_buf_reset(&pr->buf);
    pr->base.ops = p->ops;
    pr->pool = p;
    size_t id_len = strnlen(id ? id : "", sizeof(pr->id) - 1);
    memcpy(pr->id, id ? id : "", id_len);
    pr->id[id_len] = '\0';
    pr->id_len = (uint8_t)id_len;
    /* attrs, its NUL, then the body (and a NUL after it, as text records have). */
    if (!attrs || !*attrs)
        attrs = "{}";
    pr->attrs_len = strlen(attrs);
    sl_buf_append(&pr->buf, attrs, pr->attrs_len + 1);
    size_t body_off = pr->buf.len;
    sl_buf_append(&pr->buf, body ? body : "", body_len);
    sl_buf_putc(&pr->buf, '\0');
    pr->base.body = (const unsigned char *)pr->buf.data + body_off;
    pr->base.body_len = body_len;
    pr->base.seq = seq;
    pr->base.time_ms = received_ms;
    pr->base.bytes = body_len + pr->attrs_len + id_len + 64;
    return &pr->base;
}

void sl_push_record_parts(const struct sl_record *r, const char **id, const char **attrs)
{
    if (r->ops->release == sl_push_record_release) {
        *id = sl_push_rec(r)->id;
        *attrs = sl_push_rec(r)->buf.data;
        return;
    }
    const struct sl_text_record *t = sl_record_text(r);
    *id = t ? t->id : "";
    *attrs = t ? t->attrs : "{}";
}
