/* The postgres-cdc source's typed records and their encoder. A record is one row change: its
 * `dynamodb` object (the body) lives in its transaction's buffer, rendered once when the change
 * arrived; its table's texts (ARN, name) are escaped once per Relation message. The event is
 * that body wrapped in the record's fields, written in one pass into the batch's buffer. Text
 * forms (identifier, coordinates, attributes) are made only for a DLQ entry, a log line or a
 * filter view; redrive rebuilds a text record from them, which this encoder takes too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/postgres/cdc_int.h"

static const struct sl_pgcdc_record *crec(const struct sl_record *r)
{
    return (const struct sl_pgcdc_record *)r;
}

struct sl_pgcdc_txn *sl_pgcdc_txn_take(struct sl_pgcdc_pool *p)
{
    struct sl_pgcdc_txn *t = p->free_txn;
    struct sl_buf buf;
    if (t) {
        p->free_txn = t->next;
        buf = t->buf;
        sl_buf_reset(&buf);
    } else {
        t = sl_malloc(sizeof(*t));
        sl_buf_init(&buf);
    }
    memset(t, 0, sizeof(*t));
    t->buf = buf;
    t->pool = p;
    t->refs = 1;
    return t;
}

void sl_pgcdc_txn_unref(struct sl_pgcdc_txn *t)
{
    if (!t || --t->refs > 0)
        return;
    struct sl_pgcdc_pool *p = t->pool;
    /* A buffer that grew for a huge transaction is not kept. */
    if (t->buf.cap > (1u << 20)) {
        sl_buf_release(&t->buf);
        sl_buf_init(&t->buf);
    }
    t->next = p->free_txn;
    p->free_txn = t;
}

struct sl_pgcdc_record *sl_pgcdc_record_take(struct sl_pgcdc_pool *p, struct sl_pgcdc_txn *t)
{
    struct sl_pgcdc_record *cr = p->free;
    if (cr)
        p->free = cr->next_free;
    else
        cr = sl_malloc(sizeof(*cr));
    memset(cr, 0, sizeof(*cr));
    cr->base.ops = &sl_pgcdc_record_ops;
    cr->txn = t;
    t->refs++;
    t->nrecords++;
    if (t->tail)
        t->tail->next_free = cr;
    else
        t->head = cr;
    t->tail = cr;
    return cr;
}

void sl_pgcdc_pool_release(struct sl_pgcdc_pool *p)
{
    while (p->free) {
        struct sl_pgcdc_record *cr = p->free;
        p->free = cr->next_free;
        free(cr);
    }
    while (p->free_txn) {
        struct sl_pgcdc_txn *t = p->free_txn;
        p->free_txn = t->next;
        sl_buf_release(&t->buf);
        free(t);
    }
}

/* ---- record ops ---- */

static void put_event_id(const struct sl_pgcdc_record *cr, struct sl_buf *out)
{
    const char *slot = cr->rel->sh->slot_json;
    sl_buf_append(out, slot, strlen(slot) - 1); /* without its closing quote */
    sl_buf_putc(out, ':');
    sl_buf_put_u64(out, cr->seqno);
    sl_buf_putc(out, '"');
}

static void cdc_write_id(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_put_u64(out, crec(r)->seqno);
}

static void cdc_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_pgcdc_record *cr = crec(r);
    char lsn[18];
    SL_BUF_LIT(out, "{\"slot\":");
    sl_buf_puts(out, cr->rel->sh->slot_json);
    SL_BUF_LIT(out, ",\"publication\":");
    sl_buf_puts(out, cr->rel->sh->pub_json);
    SL_BUF_LIT(out, ",\"table\":");
    sl_buf_puts(out, cr->rel->table_json);
    SL_BUF_LIT(out, ",\"lsn\":\"");
    sl_pgo_lsn_fmt(cr->lsn, lsn);
    sl_buf_puts(out, lsn);
    SL_BUF_LIT(out, "\",\"sequenceNumber\":\"");
    sl_buf_put_u64(out, cr->seqno);
    SL_BUF_LIT(out, "\",\"commitLsn\":\"");
    sl_pgo_lsn_fmt(cr->txn->commit_lsn, lsn);
    sl_buf_puts(out, lsn);
    SL_BUF_LIT(out, "\",\"xid\":");
    sl_buf_put_u64(out, cr->txn->xid);
    sl_buf_putc(out, '}');
}

static void cdc_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_pgcdc_record *cr = crec(r);
    SL_BUF_LIT(out, "{\"eventName\":\"");
    sl_buf_puts(out, sl_pgcdc_event_names[cr->event]);
    SL_BUF_LIT(out, "\",\"eventID\":");
    put_event_id(cr, out);
    SL_BUF_LIT(out, ",\"awsRegion\":");
    sl_buf_puts(out, cr->rel->sh->region_json);
    SL_BUF_LIT(out, ",\"eventSourceARN\":");
    sl_buf_puts(out, cr->rel->arn_json);
    SL_BUF_LIT(out, ",\"table\":");
    sl_buf_puts(out, cr->rel->table_json);
    sl_buf_putc(out, '}');
}

/* itemIdentifier: the SequenceNumber, as a string (as Lambda sends it) or a number. */
static bool cdc_matches(const struct sl_record *r, json_t *item)
{
    uint64_t seq = crec(r)->seqno;
    if (json_is_integer(item))
        return json_integer_value(item) >= 0 && (uint64_t)json_integer_value(item) == seq;
    if (!json_is_string(item))
        return false;
    char dec[24];
    dec[sl_u64_to_dec(seq, dec)] = '\0';
    return strcmp(json_string_value(item), dec) == 0;
}

static void cdc_release(struct sl_record *r)
{
    struct sl_pgcdc_record *cr = (struct sl_pgcdc_record *)r;
    struct sl_pgcdc_txn *t = cr->txn;
    struct sl_pgcdc_pool *p = t->pool;
    sl_pgcdc_rel_unref(cr->rel);
    cr->rel = NULL;
    cr->next_free = p->free;
    p->free = cr;
    sl_pgcdc_txn_unref(t);
}

const struct sl_record_ops sl_pgcdc_record_ops = {
    .write_id = cdc_write_id,
    .write_coords = cdc_write_coords,
    .write_attrs = cdc_write_attrs,
    .matches = cdc_matches,
    .release = cdc_release,
};

/* ---- encoder ---- */

#define EV_VERSION ",\"eventVersion\":\"1.1\",\"eventSource\":\"sluice:postgres\""

static void encode_typed(const struct sl_pgcdc_record *cr, struct sl_buf *out)
{
    SL_BUF_LIT(out, "{\"eventID\":");
    put_event_id(cr, out);
    SL_BUF_LIT(out, ",\"eventName\":\"");
    sl_buf_puts(out, sl_pgcdc_event_names[cr->event]);
    sl_buf_putc(out, '"');
    SL_BUF_LIT(out, EV_VERSION);
    SL_BUF_LIT(out, ",\"awsRegion\":");
    sl_buf_puts(out, cr->rel->sh->region_json);
    SL_BUF_LIT(out, ",\"dynamodb\":");
    sl_buf_append(out, cr->base.body, cr->base.body_len);
    SL_BUF_LIT(out, ",\"eventSourceARN\":");
    sl_buf_puts(out, cr->rel->arn_json);
    sl_buf_putc(out, '}');
}

/* A member of the text record's attrs, written as JSON (a string member only), or dflt. */
static void put_attr(json_t *attrs, const char *key, const char *dflt, struct sl_buf *out)
{
    json_t *v = json_object_get(attrs, key);
    const char *s = json_is_string(v) ? json_string_value(v) : dflt;
    sl_json_escape(out, s, strlen(s));
}

/* A text record (a redrive): not a hot path, its attrs are parsed. */
static void encode_text(const char *source_name, const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_text_record *t = sl_record_text(r);
    json_t *attrs = t ? json_loads(t->attrs ? t->attrs : "{}", 0, NULL) : NULL;
    char arn[300];
    snprintf(arn, sizeof(arn), "postgres:///%s", source_name);
    SL_BUF_LIT(out, "{\"eventID\":");
    put_attr(attrs, "eventID", t && t->id ? t->id : "", out);
    SL_BUF_LIT(out, ",\"eventName\":");
    put_attr(attrs, "eventName", "INSERT", out);
    SL_BUF_LIT(out, EV_VERSION);
    SL_BUF_LIT(out, ",\"awsRegion\":");
    put_attr(attrs, "awsRegion", "", out);
    SL_BUF_LIT(out, ",\"dynamodb\":");
    /* The body is the dynamodb object as it was delivered; anything else is kept as text. */
    json_t *body = r->body ? json_loadb((const char *)r->body, r->body_len, 0, NULL) : NULL;
    if (json_is_object(body))
        sl_buf_append(out, r->body, r->body_len);
    else
        SL_BUF_LIT(out, "{}");
    json_decref(body);
    SL_BUF_LIT(out, ",\"eventSourceARN\":");
    put_attr(attrs, "eventSourceARN", arn, out);
    sl_buf_putc(out, '}');
    json_decref(attrs);
}

void sl_pgcdc_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out)
{
    if (format == SL_CFG_FORMAT_LAMBDA)
        SL_BUF_LIT(out, "{\"Records\":");
    sl_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(out, ',');
        const struct sl_pgcdc_record *cr = sl_pgcdc_record_of(rs[i]);
        if (cr)
            encode_typed(cr, out);
        else
            encode_text(source_name, rs[i], out);
    }
    sl_buf_putc(out, ']');
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_buf_putc(out, '}');
}

/* Lambda matches DynamoDB filters on the `dynamodb` object and the record's metadata
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb-filtering.html). */
static void cdc_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_pgcdc_record *cr = sl_pgcdc_record_of(r);
    if (cr) {
        /* The attrs without their closing brace. */
        size_t at = out->len;
        cdc_write_attrs(r, out);
        out->len = out->len > at ? out->len - 1 : at;
    } else {
        const struct sl_text_record *t = sl_record_text(r);
        const char *attrs = t && t->attrs ? t->attrs : "{}";
        json_t *j = json_loads(attrs, 0, NULL);
        char *text = json_is_object(j) ? json_dumps(j, JSON_COMPACT) : NULL;
        size_t n = text ? strlen(text) : 0;
        if (n > 2) {
            sl_buf_append(out, text, n - 1);
        } else {
            sl_buf_putc(out, '{');
            SL_BUF_LIT(out, "\"eventName\":\"INSERT\"");
        }
        free(text);
        json_decref(j);
    }
    SL_BUF_LIT(out, EV_VERSION);
    sl_buf_putc(out, '}');
}

bool sl_pgcdc_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    *out = (struct sl_fview){
        .r = r,
        .data_key = "dynamodb",
        .data = r->body,
        .data_len = r->body_len,
        .data_flags = 0,
        .write_meta = cdc_write_meta,
    };
    return true;
}
