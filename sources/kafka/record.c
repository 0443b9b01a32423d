/* The Kafka source's typed record: the message itself, held zero-copy until the mapping is done
 * with it, and its partition. Text forms (identifier, coordinates, attributes) are made only
 * for a DLQ entry, a log line or a filter view. Records come from a per-source free list, so
 * reading a message allocates nothing once the list has grown to the mapping's caps. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

#define KAFKA_MAX_HEADERS_SIZED 64 /* headers looked at for the size estimate */

static const struct sl_kafka_record *krec(const struct sl_record *r)
{
    return (const struct sl_kafka_record *)r;
}

static void kafka_write_id(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_kafka_record *kr = krec(r);
    sl_buf_puts(out, kr->p->topic);
    sl_buf_putc(out, '-');
    sl_buf_put_i64(out, kr->p->partition);
    sl_buf_putc(out, ':');
    sl_buf_put_i64(out, (int64_t)r->seq);
}

static void kafka_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_kafka_record *kr = krec(r);
    SL_BUF_LIT(out, "{\"topic\":");
    sl_buf_puts(out, kr->p->topic_json);
    SL_BUF_LIT(out, ",\"partition\":");
    sl_buf_put_i64(out, kr->p->partition);
    SL_BUF_LIT(out, ",\"offset\":");
    sl_buf_put_i64(out, (int64_t)r->seq);
    sl_buf_putc(out, '}');
}

static void kafka_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_kafka_record *kr = krec(r);
    struct sl_kafka_headers h = {.rk = kr->hdrs};
    sl_kafka_put_attrs(out, kr->p->k->bootstrap_json, kr->p->topic_json, kr->p->partition,
                       (int64_t)r->seq, kr->ts, kr->ts_type, kr->rkm->key, kr->rkm->key_len, &h);
}

/* Lambda's Kafka partial batch responses name records as {"partition":"<topic>-<n>",
 * "offset":N} (the offset as a number or a string); a plain "<topic>-<n>:<offset>" string
 * (the record's id) is accepted too. */
static bool kafka_matches(const struct sl_record *r, json_t *item)
{
    const struct sl_kafka_record *kr = krec(r);
    const char *part;
    int64_t off;
    if (json_is_object(item)) {
        json_t *p = json_object_get(item, "partition"), *o = json_object_get(item, "offset");
        if (!json_is_string(p))
            return false;
        part = json_string_value(p);
        if (json_is_integer(o)) {
            off = (int64_t)json_integer_value(o);
        } else if (json_is_string(o)) {
            char *end;
            const char *txt = json_string_value(o);
            off = strtoll(txt, &end, 10);
            if (end == txt || *end)
                return false;
        } else {
            return false;
        }
        if (off != (int64_t)r->seq)
            return false;
        /* part must be exactly "<topic>-<partition>". */
        size_t tlen = strlen(kr->p->topic);
        if (strncmp(part, kr->p->topic, tlen) != 0 || part[tlen] != '-')
            return false;
        char *end;
        long n = strtol(part + tlen + 1, &end, 10);
        return end != part + tlen + 1 && !*end && n == kr->p->partition;
    }
    if (!json_is_string(item))
        return false;
    struct sl_buf id;
    sl_buf_init(&id);
    kafka_write_id(r, &id);
    bool same = strcmp(id.data, json_string_value(item)) == 0;
    sl_buf_release(&id);
    return same;
}

static void kafka_release(struct sl_record *r)
{
    struct sl_kafka_record *kr = (struct sl_kafka_record *)r;
    struct sl_kafka_source *k = kr->p->k;
    rd_kafka_message_destroy(kr->rkm);
    kr->rkm = NULL;
    kr->next_free = k->free_records;
    k->free_records = kr;
}

const struct sl_record_ops sl_kafka_record_ops = {
    .write_id = kafka_write_id,
    .write_coords = kafka_write_coords,
    .write_attrs = kafka_write_attrs,
    .matches = kafka_matches,
    .release = kafka_release,
};

/* What the record adds to the encoded event: base64 grows by 4/3, a header byte becomes up to
 * five characters ("-128,"), plus the fixed members. */
static size_t estimate_bytes(const struct sl_kafka_record *kr)
{
    const rd_kafka_message_t *rkm = kr->rkm;
    size_t n =
        (rkm->len + 2) / 3 * 4 + (rkm->key_len + 2) / 3 * 4 + strlen(kr->p->topic_json) + 160;
    rd_kafka_headers_t *hdrs = kr->hdrs;
    if (hdrs) {
        const char *name;
        const void *val;
        size_t len;
        for (size_t i = 0;
             i < KAFKA_MAX_HEADERS_SIZED &&
             rd_kafka_header_get_all(hdrs, i, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++)
            n += strlen(name) * 2 + len * 5 + 8;
    }
    return n;
}

struct sl_record *sl_kafka_record_take(struct sl_kafka_part *p, rd_kafka_message_t *rkm)
{
    struct sl_kafka_source *k = p->k;
    struct sl_kafka_record *kr = k->free_records;
    if (kr)
        k->free_records = kr->next_free;
    else
        kr = sl_malloc(sizeof(*kr));
    memset(kr, 0, sizeof(*kr));
    rd_kafka_timestamp_type_t tstype;
    kr->base.ops = &sl_kafka_record_ops;
    kr->base.lane = p->lane;
    kr->base.seq = (uint64_t)rkm->offset;
    kr->base.body = rkm->payload;
    kr->base.body_len = rkm->len;
    kr->rkm = rkm;
    kr->p = p;
    kr->ts = rd_kafka_message_timestamp(rkm, &tstype);
    kr->ts_type = (int)tstype;
    /* Parsed once here (librdkafka keeps them in the message) for the estimate and the
     * encoder. */
    if (rd_kafka_message_headers(rkm, &kr->hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        kr->hdrs = NULL;
    kr->base.time_ms = kr->ts;
    kr->base.bytes = estimate_bytes(kr);
    return &kr->base;
}

void sl_kafka_records_release(struct sl_kafka_source *k)
{
    while (k->free_records) {
        struct sl_kafka_record *kr = k->free_records;
        k->free_records = kr->next_free;
        free(kr);
    }
}
