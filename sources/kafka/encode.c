/* Kafka records and Lambda's self-managed Kafka event
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html, docs/KAFKA.md):
 * {"eventSource":"SelfManagedKafka","bootstrapServers":"b:9092",
 *  "records":{"t-0":[{"topic":"t","partition":0,"offset":15,"timestamp":1545084650987,
 *    "timestampType":"CREATE_TIME","key":"b64","value":"b64","headers":[{"k":[104,-1]}]}]}}
 * `format: raw` gives the array of record objects alone.
 *
 * Records read from Kafka are typed (record.c) and written in one pass from their parts, with
 * the topic and bootstrap texts escaped once per partition and source. Text records (rebuilt
 * from a DLQ entry for redrive) carry the attributes in the layout sl_kafka_put_attrs writes,
 * which is spliced without parsing; attrs in another layout are parsed instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "sources/kafka/kafka_int.h"

static const char BS_PREFIX[] = "{\"bootstrapServers\":\"";
static const char HEADERS_KEY[] = ",\"headers\":[";

/* "<base64>" at the cursor (room for SL_B64_ENCODED_LEN(n) + 2). */
static char *put_b64_at(char *d, const void *data, size_t n)
{
    *d++ = '"';
    d += sl_b64_encode(data, n, d);
    *d++ = '"';
    return d;
}

/* Lambda gives header values as arrays of signed bytes: [104,-1]. */
static void put_header_value(struct sl_buf *b, const void *val, size_t len)
{
    const signed char *p = val;
    /* At most "-128," per byte, plus the brackets. */
    char *d = sl_buf_reserve(b, len * 5 + 2), *start = d;
    *d++ = '[';
    for (size_t i = 0; val && i < len; i++) {
        if (i)
            *d++ = ',';
        int v = p[i];
        if (v < 0) {
            *d++ = '-';
            v = -v;
        }
        d += sl_u64_to_dec((uint64_t)v, d);
    }
    *d++ = ']';
    sl_buf_commit(b, (size_t)(d - start));
}

static bool header_at(const struct sl_kafka_headers *h, size_t i, const char **name,
                      const void **val, size_t *len)
{
    if (h->rk)
        return rd_kafka_header_get_all(h->rk, i, name, val, len) == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (i >= h->n)
        return false;
    *name = h->names[i];
    *val = h->vals[i];
    *len = h->lens[i];
    return true;
}

/* ,"headers":[{"name":[bytes]},...]} */
static void put_headers_tail(struct sl_buf *b, const struct sl_kafka_headers *h)
{
    const char *name;
    const void *val;
    size_t len;
    sl_buf_puts(b, HEADERS_KEY);
    for (size_t i = 0; h && header_at(h, i, &name, &val, &len); i++) {
        if (i)
            sl_buf_putc(b, ',');
        sl_buf_putc(b, '{');
        sl_json_escape(b, name, strlen(name));
        sl_buf_putc(b, ':');
        put_header_value(b, val, len);
        sl_buf_putc(b, '}');
    }
    SL_BUF_LIT(b, "]}");
}

struct ts_type {
    const char *name;
    size_t len;
};

static struct ts_type ts_type_of(int t)
{
#define TS_TYPE(s) ((struct ts_type){.name = s, .len = sizeof(s) - 1})
    switch (t) {
    case RD_KAFKA_TIMESTAMP_CREATE_TIME:
        return TS_TYPE("CREATE_TIME");
    case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME:
        return TS_TYPE("LOG_APPEND_TIME");
    default:
        return TS_TYPE("NO_TIMESTAMP_TYPE");
    }
#undef TS_TYPE
}

/* The most put_coordinates writes: the fixed members with the longest timestamp type, the
 * partition (32-bit) and the offset and timestamp (64-bit) at their longest, the topic and the
 * key's base64. */
static size_t coordinates_max(size_t topic_json_len, size_t key_len)
{
    static const char fixed[] = "\"topic\":,\"partition\":,\"offset\":,\"timestamp\":,"
                                "\"timestampType\":\"NO_TIMESTAMP_TYPE\",\"key\":\"\"";
    return sizeof(fixed) + topic_json_len + 11 + 2 * 21 + SL_B64_ENCODED_LEN(key_len);
}

/* The most put_value_at writes: null is longer than the quotes around an empty value. */
static size_t value_max(size_t value_len)
{
    return sizeof(",\"value\":null") + SL_B64_ENCODED_LEN(value_len);
}

/* ,"value":"<base64>" at the cursor, or null for a tombstone (no value), as Lambda gives it; an
 * empty value is "". */
static char *put_value_at(char *d, const void *value, size_t value_len)
{
    d = SL_PUT_LIT(d, ",\"value\":");
    return value ? put_b64_at(d, value, value_len) : SL_PUT_LIT(d, "null");
}

/* "topic":..,"partition":..,"offset":..,"timestamp":..,"timestampType":".."[,"key":".."] at
 * the cursor, with room for coordinates_max. */
static char *put_coordinates(char *d, const char *topic_json, size_t topic_json_len,
                             int32_t partition, int64_t offset, int64_t ts, int ts_type,
                             const void *key, size_t key_len)
{
    struct ts_type tt = ts_type_of(ts_type);
    d = SL_PUT_LIT(d, "\"topic\":");
    d = sl_put_mem(d, topic_json, topic_json_len);
    d = SL_PUT_LIT(d, ",\"partition\":");
    d = sl_put_i64(d, partition);
    d = SL_PUT_LIT(d, ",\"offset\":");
    d = sl_put_i64(d, offset);
    d = SL_PUT_LIT(d, ",\"timestamp\":");
    d = sl_put_i64(d, ts);
    d = SL_PUT_LIT(d, ",\"timestampType\":\"");
    d = sl_put_mem(d, tt.name, tt.len);
    *d++ = '"';
    if (key) {
        d = SL_PUT_LIT(d, ",\"key\":");
        d = put_b64_at(d, key, key_len);
    }
    return d;
}

static bool has_headers(const struct sl_kafka_headers *h)
{
    return h && (h->rk || h->n);
}

void sl_kafka_put_attrs(struct sl_buf *b, const char *bootstrap_json, const char *topic_json,
                        int32_t partition, int64_t offset, int64_t ts, int ts_type, const void *key,
                        size_t key_len, const struct sl_kafka_headers *h)
{
    SL_BUF_LIT(b, "{\"bootstrapServers\":");
    sl_buf_puts(b, bootstrap_json);
    sl_buf_putc(b, ',');
    size_t tlen = strlen(topic_json);
    char *d = sl_buf_reserve(b, coordinates_max(tlen, key ? key_len : 0)), *start = d;
    d = put_coordinates(d, topic_json, tlen, partition, offset, ts, ts_type, key, key_len);
    sl_buf_commit(b, (size_t)(d - start));
    put_headers_tail(b, h);
}

/* One record object, reserved and written in one pass; headers, when there are any, after. */
void sl_kafka_put_record(struct sl_buf *b, const char *topic_json, int32_t partition,
                         int64_t offset, int64_t ts, int ts_type, const void *key, size_t key_len,
                         const void *value, size_t value_len, const struct sl_kafka_headers *h)
{
    static const char no_headers[] = ",\"headers\":[]}";
    size_t tlen = strlen(topic_json);
    size_t max =
        1 + coordinates_max(tlen, key ? key_len : 0) + value_max(value_len) + sizeof(no_headers);
    char *d = sl_buf_reserve(b, max), *start = d;
    *d++ = '{';
    d = put_coordinates(d, topic_json, tlen, partition, offset, ts, ts_type, key, key_len);
    d = put_value_at(d, value, value_len);
    if (!has_headers(h))
        d = sl_put_mem(d, no_headers, sizeof(no_headers) - 1);
    sl_buf_commit(b, (size_t)(d - start));
    if (has_headers(h))
        put_headers_tail(b, h);
}

struct sl_record *sl_kafka_record_build(const char *topic, int32_t partition, int64_t offset,
                                        int64_t ts_ms, int ts_type, const void *key, size_t key_len,
                                        const void *value, size_t value_len,
                                        const char *const *hnames, const void *const *hvals,
                                        const size_t *hlens, size_t nheaders, const char *bootstrap)
{
    struct sl_kafka_headers h = {.names = hnames, .vals = hvals, .lens = hlens, .n = nheaders};
    char *topic_json = sl_json_text(topic), *bs_json = sl_json_text(bootstrap);
    struct sl_buf a, c, id;
    sl_buf_init(&a);
    sl_buf_init(&c);
    sl_buf_init(&id);
    sl_kafka_put_attrs(&a, bs_json, topic_json, partition, offset, ts_ms, ts_type, key, key_len,
                       &h);
    SL_BUF_LIT(&c, "{\"topic\":");
    sl_buf_puts(&c, topic_json);
    SL_BUF_LIT(&c, ",\"partition\":");
    sl_buf_put_i64(&c, partition);
    SL_BUF_LIT(&c, ",\"offset\":");
    sl_buf_put_i64(&c, offset);
    sl_buf_putc(&c, '}');
    sl_buf_puts(&id, topic);
    sl_buf_putc(&id, '-');
    sl_buf_put_i64(&id, partition);
    sl_buf_putc(&id, ':');
    sl_buf_put_i64(&id, offset);
    struct sl_record *r = sl_record_new(id.data, a.data, c.data, value, value_len);
    r->seq = (uint64_t)offset;
    r->time_ms = ts_ms;
    r->bytes = a.len + SL_B64_ENCODED_LEN(value_len) + 16;
    sl_buf_release(&a);
    sl_buf_release(&c);
    sl_buf_release(&id);
    free(topic_json);
    free(bs_json);
    return r;
}

/* ---- text records (redrive) ---- */

/* Length of the JSON string starting at s (at its opening quote), quotes included; 0 if it
 * does not end. */
static size_t json_string_span(const char *s)
{
    if (*s != '"')
        return 0;
    for (size_t i = 1; s[i]; i++) {
        if (s[i] == '\\') {
            if (!s[i + 1])
                return 0;
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* The fixed layout: where the members after bootstrapServers start, and where ,"headers" is. */
struct layout {
    const char *bs; /* the bootstrapServers JSON string */
    size_t bs_len;
    const char *rest; /* "topic":... */
    const char *headers;
};

static bool layout_of(const char *attrs, struct layout *l)
{
    if (strncmp(attrs, BS_PREFIX, sizeof(BS_PREFIX) - 2) != 0)
        return false;
    l->bs = attrs + sizeof(BS_PREFIX) - 2;
    l->bs_len = json_string_span(l->bs);
    if (!l->bs_len || l->bs[l->bs_len] != ',')
        return false;
    l->rest = l->bs + l->bs_len + 1;
    if (strncmp(l->rest, "\"topic\":", 8) != 0)
        return false;
    l->headers = strstr(l->rest, HEADERS_KEY);
    return l->headers != NULL;
}

static void put_value(struct sl_buf *b, const struct sl_record *r)
{
    char *d = sl_buf_reserve(b, value_max(r->body_len)), *start = d;
    d = put_value_at(d, r->body, r->body_len);
    sl_buf_commit(b, (size_t)(d - start));
}

/* Writes one record object from parsed attrs (any layout). */
static void encode_parsed(const struct sl_text_record *t, struct sl_buf *b)
{
    json_t *a = json_loads(t->attrs, 0, NULL);
    static const char *const order[] = {"topic",     "partition",     "offset",
                                        "timestamp", "timestampType", "key"};
    sl_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < SL_ARRAY_LEN(order); i++) {
        json_t *v = json_object_get(a, order[i]);
        if (!v || json_is_null(v))
            continue;
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
            continue;
        if (!first)
            sl_buf_putc(b, ',');
        first = false;
        sl_buf_putc(b, '"');
        sl_buf_puts(b, order[i]);
        SL_BUF_LIT(b, "\":");
        sl_buf_puts(b, text);
        free(text);
    }
    if (first)
        SL_BUF_LIT(b, "\"topic\":\"\"");
    put_value(b, &t->base);
    json_t *h = json_object_get(a, "headers");
    char *text = json_is_array(h) ? json_dumps(h, JSON_COMPACT) : NULL;
    SL_BUF_LIT(b, ",\"headers\":");
    sl_buf_puts(b, text ? text : "[]");
    free(text);
    sl_buf_putc(b, '}');
    json_decref(a);
}

static void encode_text(const struct sl_text_record *t, struct sl_buf *b)
{
    struct layout l;
    if (!layout_of(t->attrs, &l)) {
        encode_parsed(t, b);
        return;
    }
    sl_buf_putc(b, '{');
    sl_buf_append(b, l.rest, (size_t)(l.headers - l.rest));
    put_value(b, &t->base);
    sl_buf_puts(b, l.headers); /* ,"headers":[...]} */
}

/* ---- the event ---- */

static void encode_record(const struct sl_record *r, struct sl_buf *b)
{
    const struct sl_text_record *t = sl_record_text(r);
    if (t) {
        encode_text(t, b);
        return;
    }
    const struct sl_kafka_record *kr = (const struct sl_kafka_record *)r;
    struct sl_kafka_headers h = {.rk = kr->hdrs};
    sl_kafka_put_record(b, kr->p->topic_json, kr->p->partition, (int64_t)r->seq, kr->ts,
                        kr->ts_type, kr->rkm->key, kr->rkm->key_len, r->body, r->body_len, &h);
}

/* The records key ("<topic>-<partition>") of a record: for a text record its id up to the last
 * ':' (unescaped), for a typed one its partition's JSON text. */
struct group {
    const struct sl_kafka_part *p;
    const char *id;
    size_t len;
};

static struct group group_of(const struct sl_record *r)
{
    const struct sl_text_record *t = sl_record_text(r);
    if (!t)
        return (struct group){.p = ((const struct sl_kafka_record *)r)->p};
    const char *colon = strrchr(t->id, ':');
    return (struct group){.id = t->id, .len = colon ? (size_t)(colon - t->id) : strlen(t->id)};
}

static bool same_group(struct group a, struct group b)
{
    if (a.p || b.p)
        return a.p == b.p;
    return a.len == b.len && strncmp(a.id, b.id, a.len) == 0;
}

static void put_group_key(struct group g, struct sl_buf *b)
{
    if (g.p)
        sl_buf_puts(b, g.p->group_json);
    else
        sl_json_escape(b, g.id, g.len);
}

static void put_bootstrap(const struct sl_record *r, struct sl_buf *b)
{
    const struct sl_text_record *t = sl_record_text(r);
    if (!t) {
        sl_buf_puts(b, ((const struct sl_kafka_record *)r)->p->k->bootstrap_json);
        return;
    }
    struct layout l;
    if (layout_of(t->attrs, &l)) {
        sl_buf_append(b, l.bs, l.bs_len);
        return;
    }
    json_t *a = json_loads(t->attrs, 0, NULL);
    const char *bs = json_string_value(json_object_get(a, "bootstrapServers"));
    sl_json_escape(b, bs ? bs : "", bs ? strlen(bs) : 0);
    json_decref(a);
}

void sl_kafka_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out)
{
    if (format != SL_CFG_FORMAT_LAMBDA) {
        sl_buf_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sl_buf_putc(out, ',');
            encode_record(rs[i], out);
        }
        sl_buf_putc(out, ']');
        return;
    }
    SL_BUF_LIT(out, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":");
    if (n)
        put_bootstrap(rs[0], out);
    else
        SL_BUF_LIT(out, "\"\"");
    SL_BUF_LIT(out, ",\"records\":{");
    /* A batch holds one partition: one group, in one pass. */
    struct group g0 = n ? group_of(rs[0]) : (struct group){0};
    bool one = true;
    for (size_t i = 1; i < n && one; i++)
        one = same_group(g0, group_of(rs[i]));
    if (one && n) {
        put_group_key(g0, out);
        SL_BUF_LIT(out, ":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sl_buf_putc(out, ',');
            encode_record(rs[i], out);
        }
        SL_BUF_LIT(out, "]}}");
        return;
    }
    /* Records of several partitions (redrive) are grouped by key, in order of first
     * appearance. */
    bool *done = n > 1 ? sl_calloc(n, sizeof(bool)) : NULL;
    bool first_group = true;
    for (size_t i = 0; i < n; i++) {
        if (done && done[i])
            continue;
        struct group g = group_of(rs[i]);
        if (!first_group)
            sl_buf_putc(out, ',');
        first_group = false;
        put_group_key(g, out);
        SL_BUF_LIT(out, ":[");
        encode_record(rs[i], out);
        for (size_t k = i + 1; k < n; k++) {
            if (done[k] || !same_group(g, group_of(rs[k])))
                continue;
            done[k] = true;
            sl_buf_putc(out, ',');
            encode_record(rs[k], out);
        }
        sl_buf_putc(out, ']');
    }
    free(done);
    SL_BUF_LIT(out, "}}");
}

/* Lambda's Kafka filters match the value decoded as UTF-8 JSON, and the record's metadata. */
static const char *const kafka_view_hidden[] = {"bootstrapServers", NULL};

static void kafka_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    r->ops->write_attrs(r, out);
}

bool sl_kafka_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    *out = (struct sl_fview){
        .r = r,
        .data_key = "value",
        .data = r->body,
        .data_len = r->body_len,
        .data_flags = SL_FVIEW_DECODE_ANY | SL_FVIEW_TEXT | (r->body ? 0 : SL_FVIEW_NULL),
        .hidden = kafka_view_hidden,
        .write_meta = kafka_write_meta,
    };
    return true;
}
