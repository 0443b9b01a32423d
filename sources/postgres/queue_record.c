/* The postgres-queue source's typed record: a claimed row's id, receive count and times as
 * numbers, the MD5 of its body, and in one buffer the body, the SQS messageAttributes (made once,
 * when the row is claimed) and the group. Text forms (identifier, coordinates, attributes) are
 * made only for a DLQ entry, a log line or a filter view; a text record rebuilt from them
 * (redrive) encodes to the same bytes. Records come from a per-source free list and keep their
 * buffer's capacity there, so claiming a row allocates nothing once the list has grown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "sources/postgres/queue_int.h"

static const struct sl_pgq_record *prec(const struct sl_record *r)
{
    return (const struct sl_pgq_record *)r;
}

void sl_pgq_pool_init(struct sl_pgq_pool *p, const char *arn, const char *table, uint32_t lanes)
{
    p->free = NULL;
    p->arn_json = sl_json_text(arn ? arn : "");
    p->table_json = sl_json_text(table ? table : "");
    p->lanes = lanes ? lanes : 1;
}

void sl_pgq_pool_release(struct sl_pgq_pool *p)
{
    while (p->free) {
        struct sl_pgq_record *rr = p->free;
        p->free = rr->next_free;
        sl_buf_release(&rr->buf);
        free(rr);
    }
    free(p->arn_json);
    free(p->table_json);
    p->arn_json = p->table_json = NULL;
}

static void pgq_write_id(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_put_i64(out, prec(r)->id);
}

static void pgq_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_pgq_record *rr = prec(r);
    SL_BUF_LIT(out, "{\"table\":");
    sl_buf_puts(out, rr->pool->table_json);
    SL_BUF_LIT(out, ",\"id\":");
    sl_buf_put_i64(out, rr->id);
    SL_BUF_LIT(out, ",\"receiveCount\":");
    sl_buf_put_i64(out, rr->receive_count);
    sl_buf_putc(out, '}');
}

/* What the encoder needs besides the id and body, as text records keep it (queue_encode.c reads
 * it back for a redrive). */
static void pgq_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_pgq_record *rr = prec(r);
    SL_BUF_LIT(out, "{\"receiveCount\":");
    sl_buf_put_i64(out, rr->receive_count);
    SL_BUF_LIT(out, ",\"sentTimestamp\":");
    sl_buf_put_i64(out, rr->sent_ms);
    SL_BUF_LIT(out, ",\"firstReceiveTimestamp\":");
    sl_buf_put_i64(out, rr->first_ms);
    SL_BUF_LIT(out, ",\"eventSourceARN\":");
    sl_buf_puts(out, rr->pool->arn_json);
    SL_BUF_LIT(out, ",\"messageAttributes\":");
    sl_buf_append(out, rr->buf.data + rr->attrs_off, rr->attrs_len);
    if (rr->has_group) {
        SL_BUF_LIT(out, ",\"messageGroupId\":");
        sl_json_escape(out, rr->buf.data + rr->group_off, rr->group_len);
    }
    if (rr->utf8_replaced)
        SL_BUF_LIT(out, ",\"invalidUtf8Replaced\":true");
    sl_buf_putc(out, '}');
}

/* "123" names row 123 (messageId is a string, as in SQS: a number does not match). */
static bool id_text_is(const char *s, size_t n, int64_t id)
{
    char d[24];
    size_t k;
    if (id < 0) {
        d[0] = '-';
        k = 1 + sl_u64_to_dec((uint64_t)0 - (uint64_t)id, d + 1);
    } else {
        k = sl_u64_to_dec((uint64_t)id, d);
    }
    return n == k && memcmp(s, d, k) == 0;
}

static bool pgq_matches(const struct sl_record *r, json_t *item)
{
    return json_is_string(item) &&
           id_text_is(json_string_value(item), json_string_length(item), prec(r)->id);
}

static void pgq_release(struct sl_record *r)
{
    struct sl_pgq_record *rr = (struct sl_pgq_record *)r;
    struct sl_pgq_pool *p = rr->pool;
    rr->next_free = p->free;
    p->free = rr;
}

const struct sl_record_ops sl_pgq_record_ops = {
    .write_id = pgq_write_id,
    .write_coords = pgq_write_coords,
    .write_attrs = pgq_write_attrs,
    .matches = pgq_matches,
    .release = pgq_release,
};

/* FNV-1a of the group's bytes. */
static uint32_t group_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

struct sl_record *sl_pgq_record_take(struct sl_pgq_pool *p, const struct sl_pgq_row *row)
{
    struct sl_pgq_record *rr = p->free;
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
    rr->base.ops = &sl_pgq_record_ops;
    rr->pool = p;
    rr->id = row->id;
    rr->receive_count = row->receive_count;
    rr->sent_ms = row->sent_ms;
    rr->first_ms = row->first_ms;

    /* body, NUL, messageAttributes, NUL, group, NUL */
    const char *body = row->body ? row->body : "";
    sl_buf_append(&rr->buf, body, row->body_len);
    sl_buf_putc(&rr->buf, '\0');
    rr->utf8_replaced = !sl_utf8_valid(body, row->body_len);
    sl_pgq_md5(body, row->body_len, rr->md5);
    rr->attrs_off = rr->buf.len;
    int na = sl_pgq_message_attrs(row->attrs, row->attrs_len, &rr->buf, rr->attrs_md5);
    rr->nattrs = na > 0 ? na : 0;
    rr->attrs_len = rr->buf.len - rr->attrs_off;
    sl_buf_putc(&rr->buf, '\0');
    if (row->group) {
        rr->has_group = true;
        rr->group_off = rr->buf.len;
        rr->group_len = row->group_len;
        sl_buf_append(&rr->buf, row->group, row->group_len);
        sl_buf_putc(&rr->buf, '\0');
        rr->base.lane = group_hash(row->group, row->group_len) % p->lanes;
    }
    rr->base.body = (const unsigned char *)rr->buf.data;
    rr->base.body_len = row->body_len;
    rr->base.time_ms = row->sent_ms ? row->sent_ms : row->first_ms;
    /* The event: the body escaped (mostly as long), the attributes, ~420 bytes of the rest. */
    rr->base.bytes = row->body_len + row->body_len / 8 + rr->attrs_len + rr->group_len +
                     strlen(p->arn_json) + 420;
    return &rr->base;
}

bool sl_pgq_record_id(const struct sl_record *r, int64_t *id)
{
    const struct sl_pgq_record *rr = sl_pgq_record_of(r);
    if (rr) {
        *id = rr->id;
        return true;
    }
    const struct sl_text_record *t = sl_record_text(r);
    if (!t || !t->id || !*t->id)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(t->id, &end, 10);
    if (errno || *end)
        return false;
    *id = v;
    return true;
}
