/* Kafka records and Lambda's self-managed Kafka event
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html, docs/KAFKA.md):
 * {"eventSource":"SelfManagedKafka","bootstrapServers":"b:9092",
 *  "records":{"t-0":[{"topic":"t","partition":0,"offset":15,"timestamp":1545084650987,
 *    "timestampType":"CREATE_TIME","key":"b64","value":"b64","headers":[{"k":[104,-1]}]}]}}
 * `format: raw` gives the array of record objects alone.
 *
 * A record's attrs hold everything but the value, in a fixed layout the encoder splices
 * without parsing:
 *   {"bootstrapServers":"..","topic":"t","partition":0,"offset":15,"timestamp":..,
 *    "timestampType":"CREATE_TIME"[,"key":"b64"],"headers":[...]}
 * Attrs in another layout (a record rebuilt from a DLQ entry, whose attrs were re-encoded) are
 * parsed instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "sources/kafka/kafka_int.h"

static const char BS_PREFIX[] = "{\"bootstrapServers\":\"";
static const char HEADERS_KEY[] = ",\"headers\":[";

static void put_b64(struct sl_buf *b, const void *data, size_t n)
{
    sl_buf_putc(b, '"');
    char *dst = sl_buf_reserve(b, SL_B64_ENCODED_LEN(n));
    sl_buf_commit(b, sl_b64_encode(data, n, dst));
    sl_buf_putc(b, '"');
}

static void put_int(struct sl_buf *b, long long v)
{
    sl_buf_put_i64(b, v);
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

static const char *ts_type_name(int t)
{
    switch (t) {
    case RD_KAFKA_TIMESTAMP_CREATE_TIME:
        return "CREATE_TIME";
    case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME:
        return "LOG_APPEND_TIME";
    default:
        return "NO_TIMESTAMP_TYPE";
    }
}

struct sl_record *sl_kafka_record_build(const char *topic, int32_t partition, int64_t offset,
                                        int64_t ts_ms, int ts_type, const void *key, size_t key_len,
                                        const void *value, size_t value_len,
                                        const char *const *hnames, const void *const *hvals,
                                        const size_t *hlens, size_t nheaders, const char *bootstrap,
                                        struct sl_kafka_scratch *sc)
{
    struct sl_buf *a = &sc->attrs;
    sl_buf_reset(a);
    sl_buf_puts(a, "{\"bootstrapServers\":");
    sl_json_escape(a, bootstrap, strlen(bootstrap));
    sl_buf_puts(a, ",\"topic\":");
    sl_json_escape(a, topic, strlen(topic));
    sl_buf_puts(a, ",\"partition\":");
    put_int(a, partition);
    sl_buf_puts(a, ",\"offset\":");
    put_int(a, offset);
    sl_buf_puts(a, ",\"timestamp\":");
    put_int(a, ts_ms);
    sl_buf_puts(a, ",\"timestampType\":\"");
    sl_buf_puts(a, ts_type_name(ts_type));
    sl_buf_putc(a, '"');
    if (key) {
        sl_buf_puts(a, ",\"key\":");
        put_b64(a, key, key_len);
    }
    sl_buf_puts(a, HEADERS_KEY);
    for (size_t i = 0; i < nheaders; i++) {
        if (i)
            sl_buf_putc(a, ',');
        sl_buf_putc(a, '{');
        sl_json_escape(a, hnames[i], strlen(hnames[i]));
        sl_buf_putc(a, ':');
        put_header_value(a, hvals[i], hlens[i]);
        sl_buf_putc(a, '}');
    }
    sl_buf_puts(a, "]}");

    struct sl_buf *c = &sc->coords;
    sl_buf_reset(c);
    sl_buf_puts(c, "{\"topic\":");
    sl_json_escape(c, topic, strlen(topic));
    sl_buf_puts(c, ",\"partition\":");
    put_int(c, partition);
    sl_buf_puts(c, ",\"offset\":");
    put_int(c, offset);
    sl_buf_putc(c, '}');

    sl_buf_reset(&sc->id);
    sl_buf_puts(&sc->id, topic);
    sl_buf_putc(&sc->id, '-');
    put_int(&sc->id, partition);
    sl_buf_putc(&sc->id, ':');
    put_int(&sc->id, offset);

    struct sl_record *r = sl_record_new(sc->id.data, a->data, c->data, value, value_len);
    r->seq = (uint64_t)offset;
    r->time_ms = ts_ms;
    r->bytes = a->len + SL_B64_ENCODED_LEN(value_len) + 16;
    return r;
}

#define SL_KAFKA_MAX_HEADERS 64

struct sl_record *sl_kafka_record_from_msg(const rd_kafka_message_t *rkm, const char *bootstrap,
                                           struct sl_kafka_scratch *sc)
{
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
    const char *hnames[SL_KAFKA_MAX_HEADERS];
    const void *hvals[SL_KAFKA_MAX_HEADERS];
    size_t hlens[SL_KAFKA_MAX_HEADERS];
    size_t nh = 0;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        while (nh < SL_KAFKA_MAX_HEADERS &&
               rd_kafka_header_get_all(hdrs, nh, &hnames[nh], &hvals[nh], &hlens[nh]) ==
                   RD_KAFKA_RESP_ERR_NO_ERROR)
            nh++;
    }
    return sl_kafka_record_build(rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset, ts,
                                 (int)tstype, rkm->key, rkm->key_len, rkm->payload, rkm->len,
                                 hnames, hvals, hlens, nh, bootstrap, sc);
}

void sl_kafka_scratch_release(struct sl_kafka_scratch *sc)
{
    sl_buf_release(&sc->attrs);
    sl_buf_release(&sc->coords);
    sl_buf_release(&sc->id);
}

/* ---- encoding ---- */

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
    sl_buf_puts(b, ",\"value\":");
    put_b64(b, r->body, r->body_len);
}

/* Writes one record object from parsed attrs (any layout). */
static void encode_parsed(const struct sl_record *r, struct sl_buf *b)
{
    json_t *a = json_loads(r->attrs, 0, NULL);
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
        sl_buf_printf(b, "\"%s\":%s", order[i], text);
        free(text);
    }
    if (first)
        sl_buf_puts(b, "\"topic\":\"\"");
    put_value(b, r);
    json_t *h = json_object_get(a, "headers");
    char *text = json_is_array(h) ? json_dumps(h, JSON_COMPACT) : NULL;
    sl_buf_puts(b, ",\"headers\":");
    sl_buf_puts(b, text ? text : "[]");
    free(text);
    sl_buf_putc(b, '}');
    json_decref(a);
}

static void encode_record(const struct sl_record *r, struct sl_buf *b)
{
    struct layout l;
    if (!layout_of(r->attrs, &l)) {
        encode_parsed(r, b);
        return;
    }
    sl_buf_putc(b, '{');
    sl_buf_append(b, l.rest, (size_t)(l.headers - l.rest));
    put_value(b, r);
    sl_buf_puts(b, l.headers); /* ,"headers":[...]} */
}

/* The "<topic>-<partition>" key of a record: its id up to the last ':'. */
static size_t group_key(const struct sl_record *r)
{
    const char *colon = strrchr(r->id, ':');
    return colon ? (size_t)(colon - r->id) : strlen(r->id);
}

static void put_bootstrap(const struct sl_record *r, struct sl_buf *b)
{
    struct layout l;
    if (layout_of(r->attrs, &l)) {
        sl_buf_append(b, l.bs, l.bs_len);
        return;
    }
    json_t *a = json_loads(r->attrs, 0, NULL);
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
    sl_buf_puts(out, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":");
    if (n)
        put_bootstrap(rs[0], out);
    else
        sl_buf_puts(out, "\"\"");
    sl_buf_puts(out, ",\"records\":{");
    /* A batch holds one partition; records of several (redrive) are grouped by key, in order
     * of first appearance. */
    bool *done = n > 1 ? sl_calloc(n, sizeof(bool)) : NULL;
    bool first_group = true;
    for (size_t i = 0; i < n; i++) {
        if (done && done[i])
            continue;
        size_t klen = group_key(rs[i]);
        if (!first_group)
            sl_buf_putc(out, ',');
        first_group = false;
        sl_json_escape(out, rs[i]->id, klen);
        sl_buf_puts(out, ":[");
        encode_record(rs[i], out);
        for (size_t k = i + 1; k < n; k++) {
            if (done[k] || group_key(rs[k]) != klen || strncmp(rs[k]->id, rs[i]->id, klen) != 0)
                continue;
            done[k] = true;
            sl_buf_putc(out, ',');
            encode_record(rs[k], out);
        }
        sl_buf_putc(out, ']');
    }
    free(done);
    sl_buf_puts(out, "}}");
}

/* Lambda's Kafka filters match the value decoded as UTF-8 JSON, and the record's metadata. */
json_t *sl_kafka_filter_view(const struct sl_record *r)
{
    json_t *view = json_loads(r->attrs, 0, NULL);
    if (!json_is_object(view)) {
        json_decref(view);
        view = json_object();
    }
    json_object_del(view, "bootstrapServers");
    json_t *value = json_loadb((const char *)r->body, r->body_len, JSON_DECODE_ANY, NULL);
    if (!value && sl_utf8_valid((const char *)r->body, r->body_len))
        value = json_stringn((const char *)r->body, r->body_len);
    if (value)
        json_object_set_new(view, "value", value);
    return view;
}
