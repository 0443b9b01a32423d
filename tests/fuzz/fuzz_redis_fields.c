/* Redis entry fields come from whoever writes to the stream: any bytes become a valid JSON
 * object (the record body), a RESP array that reads back to them exactly, or one field's bytes
 * (data_encoding), and encoding a record whose attrs are any text never crashes and
 * always gives valid JSON. Input: fields separated by NUL bytes; the last field is also tried
 * as attrs text. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "tests/fuzz/fview_check.h"
#include "sources/record.h"
#include "sources/redis/redis_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a RESP array of bulk strings back; aborts unless it holds exactly v/l. */
static void resp_check(const char *p, size_t len, const char *const *v, const size_t *l, size_t n)
{
    const char *end = p + len;
    char *next;
    if (len < 4 || *p != '*' || strtoull(p + 1, &next, 10) != n || memcmp(next, "\r\n", 2) != 0)
        abort();
    p = next + 2;
    for (size_t i = 0; i < n; i++) {
        if (p >= end || *p != '$' || strtoull(p + 1, &next, 10) != l[i] ||
            memcmp(next, "\r\n", 2) != 0)
            abort();
        p = next + 2;
        if ((size_t)(end - p) < l[i] + 2 || memcmp(p, v[i], l[i]) != 0 ||
            memcmp(p + l[i], "\r\n", 2) != 0)
            abort();
        p += l[i] + 2;
    }
    if (p != end)
        abort();
}

/* The event of one record: valid JSON whose kinesis.data decodes to the body, byte for byte. */
static void event_check(struct sl_record *r)
{
    struct sl_buf out;
    sl_buf_init(&out);
    sl_redis_encode("src", &r, 1, SL_CFG_FORMAT_RAW, &out);
    json_t *doc = json_loadb(out.data, out.len, JSON_ALLOW_NUL, NULL);
    const char *b64 = json_string_value(
        json_object_get(json_object_get(json_array_get(doc, 0), "kinesis"), "data"));
    if (!b64)
        abort();
    size_t n = strlen(b64);
    char *raw = malloc(n / 4 * 3 + 3);
    long got = sl_b64_decode(b64, n, raw);
    if (got < 0 || (size_t)got != r->body_len || memcmp(raw, r->body, r->body_len) != 0)
        abort();
    free(raw);
    json_decref(doc);
    sl_buf_release(&out);
}

/* Every data_encoding, through typed records: RESP reads back to the fields, a field's value is
 * its bytes, and the event carries the body exactly. */
static void encodings_check(const char *const *v, const size_t *l, size_t n)
{
    struct sl_redis_pool pool;
    sl_redis_pool_init(&pool, "g", "c");
    struct sl_redis_stream_ref ref;
    sl_redis_stream_ref_init(&ref, &pool, "s", "redis://h:1/0/s");
    for (int enc = SL_REDIS_DATA_JSON; enc <= SL_REDIS_DATA_FIELD; enc++) {
        pool.body = (struct sl_redis_body_spec){
            .encoding = enc, .field = n ? v[0] : "", .field_len = n ? l[0] : 0};
        struct sl_record *r = sl_redis_record_take(&ref, "1-1", 3, v, l, n, NULL, 0, 1);
        bool resp = enc == SL_REDIS_DATA_RESP || (enc == SL_REDIS_DATA_FIELD && n < 2);
        if (enc == SL_REDIS_DATA_FIELD && (n < 2) != (r->dead_letter != NULL))
            abort();
        if (resp)
            resp_check((const char *)r->body, r->body_len, v, l, n);
        else if (enc == SL_REDIS_DATA_FIELD &&
                 (r->body_len != l[1] || memcmp(r->body, v[1], l[1]) != 0))
            abort();
        event_check(r);
        r->ops->release(r);
    }
    sl_redis_stream_ref_release(&ref);
    sl_redis_pool_release(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v[64];
    size_t l[64], n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 64; i++) {
        if (i == size || data[i] == '\0') {
            v[n] = (const char *)data + start;
            l[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    struct sl_buf body;
    sl_buf_init(&body);
    sl_redis_fields_json(v, l, n, &body);
    json_t *doc = json_loadb(body.data, body.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc))
        abort();
    json_decref(doc);
    encodings_check(v, l, n);

    char *attrs = strndup(n ? v[n - 1] : "", n ? l[n - 1] : 0);
    struct sl_record *r = sl_record_new("1-1", attrs, NULL, body.data, body.len);
    free(attrs);
    r->time_ms = 1;
    struct sl_buf out;
    sl_buf_init(&out);
    sl_redis_encode("src", &r, 1, SL_CFG_FORMAT_LAMBDA, &out);
    doc = json_loadb(out.data, out.len, JSON_ALLOW_NUL, NULL);
    if (!doc)
        abort();
    json_decref(doc);
    struct sl_fview fv;
    if (!sl_redis_filter_view(r, &fv))
        abort();
    fuzz_check_fview(&fv, true);
    sl_record_free(r);
    sl_buf_release(&out);
    sl_buf_release(&body);
    return 0;
}
