/* The redis source's typed record: an entry's id, deliveries and fields (as JSON, the body), and
 * its stream (whose name and ARN are escaped once per stream). Text forms (identifier,
 * coordinates, attributes) are made only for a DLQ entry, a log line or a filter view, and are
 * byte for byte what text records built from them carry (redrive rebuilds a text record from
 * them). Records come from a per-source free list and keep their buffer's capacity there, so
 * reading an entry allocates nothing once the list has grown to the mapping's caps. */
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/redis/redis_int.h"

static const struct sl_redis_record *rrec(const struct sl_record *r)
{
    return (const struct sl_redis_record *)r;
}

void sl_redis_pool_init(struct sl_redis_pool *p, const char *group, const char *consumer)
{
    p->free = NULL;
    p->group_json = sl_json_text(group ? group : "");
    p->consumer_json = sl_json_text(consumer ? consumer : "");
}

void sl_redis_pool_release(struct sl_redis_pool *p)
{
    while (p->free) {
        struct sl_redis_record *rr = p->free;
        p->free = rr->next_free;
        sl_buf_release(&rr->buf);
        free(rr);
    }
    free(p->group_json);
    free(p->consumer_json);
    p->group_json = p->consumer_json = NULL;
}

void sl_redis_stream_ref_init(struct sl_redis_stream_ref *st, struct sl_redis_pool *p,
                              const char *name, const char *arn)
{
    st->pool = p;
    st->name = name;
    st->name_json = sl_json_text(name);
    st->arn_json = sl_json_text(arn);
    st->name_json_len = strlen(st->name_json);
    st->arn_json_len = strlen(st->arn_json);
}

void sl_redis_stream_ref_release(struct sl_redis_stream_ref *st)
{
    free(st->name_json);
    free(st->arn_json);
    st->name_json = st->arn_json = NULL;
}

static const char *pkey_json(const struct sl_redis_record *rr, size_t *len)
{
    if (rr->pkey_is_stream) {
        *len = rr->st->name_json_len;
        return rr->st->name_json;
    }
    *len = rr->pkey_len;
    return rr->buf.data + rr->pkey_off;
}

static void redis_write_id(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_append(out, rrec(r)->id, rrec(r)->id_len);
}

static void redis_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_redis_record *rr = rrec(r);
    SL_BUF_LIT(out, "{\"stream\":");
    sl_buf_puts(out, rr->st->name_json);
    SL_BUF_LIT(out, ",\"id\":");
    sl_json_escape(out, rr->id, rr->id_len);
    SL_BUF_LIT(out, ",\"group\":");
    sl_buf_puts(out, rr->st->pool->group_json);
    SL_BUF_LIT(out, ",\"consumer\":");
    sl_buf_puts(out, rr->st->pool->consumer_json);
    SL_BUF_LIT(out, ",\"deliveries\":");
    sl_buf_put_i64(out, rr->deliveries);
    sl_buf_putc(out, '}');
}

static void redis_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_redis_record *rr = rrec(r);
    size_t pk_len;
    const char *pk = pkey_json(rr, &pk_len);
    SL_BUF_LIT(out, "{\"stream\":");
    sl_buf_puts(out, rr->st->name_json);
    SL_BUF_LIT(out, ",\"partitionKey\":");
    sl_buf_append(out, pk, pk_len);
    SL_BUF_LIT(out, ",\"eventSourceARN\":");
    sl_buf_puts(out, rr->st->arn_json);
    if (rr->utf8_replaced)
        SL_BUF_LIT(out, ",\"invalidUtf8Replaced\":true");
    sl_buf_putc(out, '}');
}

static bool redis_matches(const struct sl_record *r, json_t *item)
{
    return json_is_string(item) && strcmp(json_string_value(item), rrec(r)->id) == 0;
}

static void redis_release(struct sl_record *r)
{
    struct sl_redis_record *rr = (struct sl_redis_record *)r;
    struct sl_redis_pool *p = rr->st->pool;
    rr->next_free = p->free;
    p->free = rr;
}

const struct sl_record_ops sl_redis_record_ops = {
    .write_id = redis_write_id,
    .write_coords = redis_write_coords,
    .write_attrs = redis_write_attrs,
    .matches = redis_matches,
    .release = redis_release,
};

struct sl_record *sl_redis_record_take(const struct sl_redis_stream_ref *st, const char *id,
                                       size_t id_len, const char *const *v, const size_t *lens,
                                       size_t n, const char *pk, size_t pk_len, int64_t deliveries)
{
    struct sl_redis_pool *p = st->pool;
    struct sl_redis_record *rr = p->free;
    struct sl_buf buf;
    if (rr) {
        p->free = rr->next_free;
        buf = rr->buf;
    } else {
        rr = sl_malloc(sizeof(*rr));
        sl_buf_init(&buf);
    }
    memset(rr, 0, sizeof(*rr));
    rr->buf = buf;
    sl_buf_reset(&rr->buf);
    rr->base.ops = &sl_redis_record_ops;
    rr->st = st;
    rr->deliveries = deliveries;

    /* The id as a C string (as text records keep it: up to a NUL). */
    if (id_len >= SL_REDIS_ID_MAX)
        id_len = SL_REDIS_ID_MAX - 1;
    const char *nul = memchr(id, '\0', id_len);
    if (nul)
        id_len = (size_t)(nul - id);
    memcpy(rr->id, id, id_len);
    rr->id[id_len] = '\0';
    rr->id_len = (uint8_t)id_len;
    if (sl_redis_id_parse(rr->id, rr->id_len, &rr->id_ms, &rr->id_seq) != 0)
        rr->id_ms = rr->id_seq = 0;

    /* body (in the source's data_encoding), its NUL, then the partition key's JSON text. */
    size_t replaced;
    if (!sl_redis_body(&p->body, v, lens, n, &rr->buf, &replaced))
        rr->base.dead_letter = SL_REDIS_COND_NO_DATA_FIELD;
    rr->utf8_replaced = replaced > 0;
    size_t body_len = rr->buf.len;
    sl_buf_putc(&rr->buf, '\0');
    if (pk) {
        rr->pkey_off = rr->buf.len;
        sl_json_escape(&rr->buf, pk, pk_len);
        rr->pkey_len = rr->buf.len - rr->pkey_off;
    } else {
        rr->pkey_is_stream = true;
    }
    rr->base.body = (const unsigned char *)rr->buf.data;
    rr->base.body_len = body_len;
    rr->base.time_ms = (int64_t)rr->id_ms;
    size_t pkl;
    pkey_json(rr, &pkl);
    size_t attrs_len = st->name_json_len + pkl + st->arn_json_len + 37;
    rr->base.bytes = body_len / 3 * 4 + 4 + attrs_len + (size_t)rr->id_len * 2 + 256;
    return &rr->base;
}

const char *sl_redis_record_id(const struct sl_record *r)
{
    const struct sl_redis_record *rr = sl_redis_record_of(r);
    if (rr)
        return rr->id;
    const struct sl_text_record *t = sl_record_text(r);
    return t && t->id ? t->id : "";
}
