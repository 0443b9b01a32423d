/* The postgres-queue source's event shape: SQS records
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), docs/POSTGRES.md:
 * {"Records":[{"messageId":"42","receiptHandle":"42:1","body":"...","attributes":{
 *   "ApproximateReceiveCount":"1","SentTimestamp":"1545082649183","SenderId":"",
 *   "ApproximateFirstReceiveTimestamp":"1545082649185"},"messageAttributes":{},
 *   "md5OfMessageAttributes":null,"md5OfBody":"...","eventSource":"sluice:postgres",
 *   "eventSourceARN":"postgres://127.0.0.1:5432/app/jobs","awsRegion":""}]}
 * Typed records are written in one pass from their parts (the messageAttributes were made when
 * the row was claimed, the ARN escaped once per source). Text records (rebuilt from a DLQ entry
 * for a redrive) give the same parts from their attributes, so both write the same bytes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/postgres/queue_int.h"

struct pgq_parts {
    const char *id; /* decimal text */
    size_t id_len;
    int64_t receive_count;
    int64_t sent_ms;
    int64_t first_ms;
    const unsigned char *md5; /* of the body */
    const char *mattrs;       /* messageAttributes JSON */
    size_t mattrs_len;
    const unsigned char *mattrs_md5; /* NULL: no attributes */
    const char *group;               /* raw text, or NULL */
    size_t group_len;
    const char *arn_json;
    size_t arn_len;
    bool utf8_replaced;
};

static void put_md5(struct sl_buf *b, const unsigned char md5[16])
{
    char *d = sl_buf_reserve(b, 34);
    d[0] = '"';
    sl_pgq_hex(md5, d + 1);
    d[33] = '"';
    sl_buf_commit(b, 34);
}

/* "<n>" for a number attribute (SQS gives every attribute as a string). */
static void put_num_str(struct sl_buf *b, int64_t v)
{
    sl_buf_putc(b, '"');
    sl_buf_put_i64(b, v);
    sl_buf_putc(b, '"');
}

/* One record; with body NULL, the metadata alone (the filter view's). */
static void write_event(struct sl_buf *b, const struct pgq_parts *p, const struct sl_record *body)
{
    SL_BUF_LIT(b, "{\"messageId\":\"");
    sl_buf_append(b, p->id, p->id_len);
    SL_BUF_LIT(b, "\",\"receiptHandle\":\"");
    sl_buf_append(b, p->id, p->id_len);
    sl_buf_putc(b, ':');
    sl_buf_put_i64(b, p->receive_count);
    sl_buf_putc(b, '"');
    if (body) {
        SL_BUF_LIT(b, ",\"body\":");
        sl_json_escape(b, (const char *)body->body, body->body_len);
    }
    SL_BUF_LIT(b, ",\"attributes\":{\"ApproximateReceiveCount\":");
    put_num_str(b, p->receive_count);
    SL_BUF_LIT(b, ",\"SentTimestamp\":");
    put_num_str(b, p->sent_ms ? p->sent_ms : p->first_ms);
    SL_BUF_LIT(b, ",\"SenderId\":\"\",\"ApproximateFirstReceiveTimestamp\":");
    put_num_str(b, p->first_ms);
    if (p->group) {
        SL_BUF_LIT(b, ",\"MessageGroupId\":");
        sl_json_escape(b, p->group, p->group_len);
        SL_BUF_LIT(b, ",\"SequenceNumber\":\"");
        sl_buf_append(b, p->id, p->id_len);
        sl_buf_putc(b, '"');
    }
    SL_BUF_LIT(b, "},\"messageAttributes\":");
    sl_buf_append(b, p->mattrs, p->mattrs_len);
    SL_BUF_LIT(b, ",\"md5OfMessageAttributes\":");
    if (p->mattrs_md5)
        put_md5(b, p->mattrs_md5);
    else
        SL_BUF_LIT(b, "null");
    SL_BUF_LIT(b, ",\"md5OfBody\":");
    put_md5(b, p->md5);
    SL_BUF_LIT(b, ",\"eventSource\":\"sluice:postgres\",\"eventSourceARN\":");
    sl_buf_append(b, p->arn_json, p->arn_len);
    SL_BUF_LIT(b, ",\"awsRegion\":\"\"");
    if (p->utf8_replaced)
        SL_BUF_LIT(b, ",\"invalidUtf8Replaced\":true");
    sl_buf_putc(b, '}');
}

static void typed_parts(const struct sl_pgq_record *rr, char idbuf[24], struct pgq_parts *p)
{
    memset(p, 0, sizeof(*p));
    if (rr->id < 0) {
        idbuf[0] = '-';
        p->id_len = 1 + sl_u64_to_dec((uint64_t)0 - (uint64_t)rr->id, idbuf + 1);
    } else {
        p->id_len = sl_u64_to_dec((uint64_t)rr->id, idbuf);
    }
    p->id = idbuf;
    p->receive_count = rr->receive_count;
    p->sent_ms = rr->sent_ms;
    p->first_ms = rr->first_ms;
    p->md5 = rr->md5;
    p->mattrs = rr->buf.data + rr->attrs_off;
    p->mattrs_len = rr->attrs_len;
    p->mattrs_md5 = rr->nattrs > 0 ? rr->attrs_md5 : NULL;
    if (rr->has_group) {
        p->group = rr->buf.data + rr->group_off;
        p->group_len = rr->group_len;
    }
    p->arn_json = rr->pool->arn_json;
    p->arn_len = strlen(rr->pool->arn_json);
    p->utf8_replaced = rr->utf8_replaced;
}

/* What a text record's parts are made of (its attrs parsed: a redrive, not a hot path). */
struct text_parts {
    json_t *attrs;
    struct sl_buf arn, mattrs;
    unsigned char md5[16], mattrs_md5[16];
};

static void text_parts(const char *source_name, const struct sl_record *r, struct text_parts *tp,
                       struct pgq_parts *p)
{
    const struct sl_text_record *t = sl_record_text(r);
    memset(p, 0, sizeof(*p));
    sl_buf_init(&tp->arn);
    sl_buf_init(&tp->mattrs);
    tp->attrs = json_loads(t && t->attrs ? t->attrs : "{}", 0, NULL);
    json_t *a = json_is_object(tp->attrs) ? tp->attrs : NULL;
    p->id = t && t->id ? t->id : "";
    p->id_len = strlen(p->id);
    json_t *v = json_object_get(a, "receiveCount");
    p->receive_count = json_is_integer(v) ? json_integer_value(v) : 1;
    v = json_object_get(a, "sentTimestamp");
    p->sent_ms = json_is_integer(v) ? json_integer_value(v) : r->time_ms;
    v = json_object_get(a, "firstReceiveTimestamp");
    p->first_ms = json_is_integer(v) ? json_integer_value(v) : r->time_ms;
    sl_pgq_md5(r->body ? (const void *)r->body : "", r->body_len, tp->md5);
    p->md5 = tp->md5;
    v = json_object_get(a, "messageAttributes");
    char *mtext = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    int na = sl_pgq_message_attrs(mtext, mtext ? strlen(mtext) : 0, &tp->mattrs, tp->mattrs_md5);
    free(mtext);
    p->mattrs = tp->mattrs.data;
    p->mattrs_len = tp->mattrs.len;
    p->mattrs_md5 = na > 0 ? tp->mattrs_md5 : NULL;
    v = json_object_get(a, "messageGroupId");
    if (json_is_string(v)) {
        p->group = json_string_value(v);
        p->group_len = json_string_length(v);
    }
    v = json_object_get(a, "eventSourceARN");
    if (json_is_string(v)) {
        sl_json_escape(&tp->arn, json_string_value(v), json_string_length(v));
    } else {
        SL_BUF_LIT(&tp->arn, "\"postgres:///");
        size_t at = tp->arn.len;
        sl_json_escape(&tp->arn, source_name, strlen(source_name));
        /* Drop the quotes of the name: it goes inside the ARN's string. */
        memmove(tp->arn.data + at, tp->arn.data + at + 1, tp->arn.len - at - 2);
        tp->arn.len -= 2;
        sl_buf_putc(&tp->arn, '"');
    }
    p->arn_json = tp->arn.data;
    p->arn_len = tp->arn.len;
    p->utf8_replaced = json_is_true(json_object_get(a, "invalidUtf8Replaced"));
}

static void text_parts_release(struct text_parts *tp)
{
    json_decref(tp->attrs);
    sl_buf_release(&tp->arn);
    sl_buf_release(&tp->mattrs);
}

static void encode_record(const char *source_name, const struct sl_record *r, struct sl_buf *b,
                          bool with_body)
{
    struct pgq_parts p;
    const struct sl_pgq_record *rr = sl_pgq_record_of(r);
    if (rr) {
        char idbuf[24];
        typed_parts(rr, idbuf, &p);
        write_event(b, &p, with_body ? r : NULL);
        return;
    }
    struct text_parts tp;
    text_parts(source_name, r, &tp, &p);
    write_event(b, &p, with_body ? r : NULL);
    text_parts_release(&tp);
}

void sl_pgq_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                   struct sl_buf *out)
{
    if (format == SL_CFG_FORMAT_LAMBDA)
        SL_BUF_LIT(out, "{\"Records\":");
    sl_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(out, ',');
        encode_record(source_name, rs[i], out, true);
    }
    sl_buf_putc(out, ']');
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_buf_putc(out, '}');
}

/* Lambda matches SQS filters on `body` (JSON when it parses, else a string) and on the other
 * fields of the record. */
static void pgq_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    encode_record("", r, out, false);
}

bool sl_pgq_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    *out = (struct sl_fview){
        .r = r,
        .data_key = "body",
        .data = r->body,
        .data_len = r->body_len,
        .data_flags = SL_FVIEW_DECODE_ANY | SL_FVIEW_TEXT,
        .write_meta = pgq_write_meta,
    };
    return true;
}
