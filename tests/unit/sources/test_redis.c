/* The redis source's pure parts: entry ids, the ack tracker (handled prefix only, in order,
 * resent after a reconnect), fields -> JSON, the Kinesis encoder (also from a record rebuilt
 * like redrive does), the filter view, and config checks with key paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/b64.h"
#include "sources/record.h"
#include "sources/redis/redis_int.h"
#include "sources/redis/tracker.h"

static void test_id_parse(void **state)
{
    uint64_t ms, seq;
    assert_int_equal(sl_redis_id_parse("1700000000000-5", 15, &ms, &seq), 0);
    assert_true(ms == 1700000000000ULL && seq == 5);
    assert_int_equal(sl_redis_id_parse("0-0", 3, &ms, &seq), 0);
    assert_int_equal(sl_redis_id_parse("18446744073709551615-18446744073709551615", 41, &ms, &seq),
                     0);
    assert_true(ms == UINT64_MAX && seq == UINT64_MAX);
    assert_int_equal(sl_redis_id_parse("9999999999999999999-1", 21, &ms, &seq), 0);
    assert_true(ms == 9999999999999999999ULL && seq == 1);
    const char *bad[] = {"",
                         "-",
                         "1-",
                         "-1",
                         "1",
                         "1-2-3",
                         "a-1",
                         "18446744073709551616-0",
                         "1 -2",
                         "0-18446744073709551616",
                         "99999999999999999999-0",
                         "184467440737095516150-0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(sl_redis_id_parse(bad[i], strlen(bad[i]), &ms, &seq), 0);
}

static void test_tracker_acks_handled_prefix_in_order(void **state)
{
    struct sl_redis_tracker t;
    sl_redis_tracker_init(&t);
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "1-%d", i);
        assert_int_equal(sl_redis_tracker_push(&t, id), (uint64_t)i + 1);
    }
    uint64_t first;
    /* Out of order: 3 and 2 handled, 1 not: nothing may be acked. */
    assert_int_equal(sl_redis_tracker_handled(&t, 3), 0);
    assert_int_equal(sl_redis_tracker_handled(&t, 2), 0);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 100, &first), 0);
    assert_int_equal(sl_redis_tracker_handled(&t, 2), -ENOENT); /* twice */
    assert_int_equal(sl_redis_tracker_handled(&t, 999), -ENOENT);
    assert_int_equal(sl_redis_tracker_handled(&t, 1), 0);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 100, &first), 3);
    assert_int_equal(first, 1);
    assert_string_equal(sl_redis_tracker_id(&t, first), "1-0");
    assert_string_equal(sl_redis_tracker_id(&t, first + 2), "1-2");
    size_t idlen = 99;
    assert_string_equal(sl_redis_tracker_id_len(&t, first + 2, &idlen), "1-2");
    assert_int_equal(idlen, 3);
    assert_null(sl_redis_tracker_id_len(&t, 999, &idlen));
    assert_int_equal(idlen, 0);
    /* Sent once: not taken again while in flight. */
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 100, &first), 0);
    assert_int_equal(sl_redis_tracker_handled(&t, 4), 0);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 100, &first), 1);
    assert_int_equal(first, 4);
    /* The first XACK confirmed: those leave; the second is lost with its connection. */
    sl_redis_tracker_acked(&t, 1, 3);
    assert_int_equal(t.n, 197);
    assert_int_equal(t.head_seq, 4);
    sl_redis_tracker_reset_acking(&t);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 100, &first), 1);
    assert_int_equal(first, 4);
    sl_redis_tracker_acked(&t, 4, 1);
    /* Chunks: max per XACK. */
    for (uint64_t s = 5; s <= 200; s++)
        assert_int_equal(sl_redis_tracker_handled(&t, s), 0);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 50, &first), 50);
    assert_int_equal(first, 5);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 500, &first), 146);
    assert_int_equal(first, 55);
    sl_redis_tracker_unack(&t, 55, 146);
    sl_redis_tracker_acked(&t, 5, 50);
    assert_int_equal(t.head_seq, 55);
    assert_true(sl_redis_tracker_contains(&t, "1-60"));
    assert_false(sl_redis_tracker_contains(&t, "1-10"));
    assert_int_equal(sl_redis_tracker_count(&t, SL_REDIS_HANDLED), 146);
    assert_int_equal(sl_redis_tracker_take_ackable(&t, 500, &first), 146);
    sl_redis_tracker_acked(&t, first, 146);
    assert_int_equal(t.n, 0);
    /* Seqs keep growing after the ring emptied and wrapped. */
    assert_int_equal(sl_redis_tracker_push(&t, "2-0"), 201);
    sl_redis_tracker_release(&t);
}

static void test_fields_json(void **state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    const char *v[] = {"k", "1", "name", "caf\xc3\xa9", "bad", "\xff\x41", "q\"", "a\nb", "odd"};
    size_t l[] = {1, 1, 4, 5, 3, 2, 2, 3, 3};
    sl_redis_fields_json(v, l, 9, &b);
    json_error_t e;
    json_t *doc = json_loads(b.data, 0, &e);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "k")), "1");
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "caf\xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(doc, "bad")), "\xef\xbf\xbd"
                                                                        "A");
    assert_string_equal(json_string_value(json_object_get(doc, "q\"")), "a\nb");
    assert_string_equal(json_string_value(json_object_get(doc, "odd")), "");
    json_decref(doc);
    sl_buf_reset(&b);
    sl_redis_fields_json(NULL, NULL, 0, &b);
    assert_string_equal(b.data, "{}");
    sl_buf_release(&b);
}

/* Each data_encoding: JSON (bytes replaced, counted), RESP and one field's raw bytes, exact. */
static void test_body_encodings(void **state)
{
    static const char bin[] = {'\xff', '\0', '\x80', 'x'};
    const char *v[] = {"k", "1", "bin", bin, "k", "2"};
    const size_t l[] = {1, 1, 3, 4, 1, 1};
    struct sl_buf b;
    sl_buf_init(&b);
    size_t replaced;
    struct sl_redis_body_spec spec = {.encoding = SL_REDIS_DATA_JSON};
    assert_true(sl_redis_body(&spec, v, l, 6, &b, &replaced));
    assert_int_equal(replaced, 2); /* \xff and \x80; the NUL is escaped, not replaced */
    sl_buf_reset(&b);

    spec.encoding = SL_REDIS_DATA_RESP;
    assert_true(sl_redis_body(&spec, v, l, 6, &b, &replaced));
    assert_int_equal(replaced, 0);
    static const char resp[] = "*6\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\nbin\r\n$4\r\n\xff\0\x80x\r\n"
                               "$1\r\nk\r\n$1\r\n2\r\n";
    assert_int_equal(b.len, sizeof(resp) - 1);
    assert_memory_equal(b.data, resp, b.len);
    sl_buf_reset(&b);
    sl_redis_fields_resp(NULL, NULL, 0, &b);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "*0\r\n", 4);
    sl_buf_reset(&b);

    /* field: the first field of that name, byte for byte. */
    spec = (struct sl_redis_body_spec){
        .encoding = SL_REDIS_DATA_FIELD, .field = "bin", .field_len = 3};
    assert_true(sl_redis_body(&spec, v, l, 6, &b, &replaced));
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, bin, 4);
    sl_buf_reset(&b);
    spec.field = "k";
    spec.field_len = 1;
    assert_true(sl_redis_body(&spec, v, l, 6, &b, &replaced));
    assert_int_equal(b.len, 1);
    assert_memory_equal(b.data, "1", 1);
    sl_buf_reset(&b);
    /* Absent (or only a name without a value): false, and the fields in RESP. */
    spec.field = "bi";
    spec.field_len = 2;
    assert_false(sl_redis_body(&spec, v, l, 6, &b, &replaced));
    assert_memory_equal(b.data, resp, sizeof(resp) - 1);
    sl_buf_reset(&b);
    spec.field = "odd";
    spec.field_len = 3;
    const char *odd[] = {"odd"};
    const size_t oddl[] = {3};
    assert_false(sl_redis_body(&spec, odd, oddl, 1, &b, &replaced));
    sl_buf_release(&b);

    /* A record of a source reading one field: data is its bytes; without it, dead-lettered. */
    struct sl_redis_pool pool;
    sl_redis_pool_init(&pool, "g", "c");
    pool.body = (struct sl_redis_body_spec){
        .encoding = SL_REDIS_DATA_FIELD, .field = "bin", .field_len = 3};
    struct sl_redis_stream_ref ref;
    sl_redis_stream_ref_init(&ref, &pool, "orders", "redis://h:1/0/orders");
    struct sl_record *r = sl_redis_record_take(&ref, "1-1", 3, v, l, 6, NULL, 0, 1);
    assert_null(r->dead_letter);
    assert_int_equal(r->body_len, 4);
    assert_memory_equal(r->body, bin, 4);
    struct sl_buf ev;
    sl_buf_init(&ev);
    sl_redis_encode("src", &r, 1, SL_CFG_FORMAT_RAW, &ev);
    json_t *doc = json_loadb(ev.data, ev.len, 0, NULL);
    const char *data = json_string_value(
        json_object_get(json_object_get(json_array_get(doc, 0), "kinesis"), "data"));
    assert_string_equal(data, "/wCAeA==");
    assert_null(json_object_get(json_array_get(doc, 0), "invalidUtf8Replaced"));
    json_decref(doc);
    sl_buf_release(&ev);
    r->ops->release(r);
    r = sl_redis_record_take(&ref, "1-2", 3, odd, oddl, 1, NULL, 0, 1);
    assert_string_equal(r->dead_letter, SL_REDIS_COND_NO_DATA_FIELD);
    assert_memory_equal(r->body, "*1\r\n$3\r\nodd\r\n", r->body_len);
    r->ops->release(r);
    sl_redis_stream_ref_release(&ref);
    sl_redis_pool_release(&pool);
}

static void test_json_member(void **state)
{
    const char *tok;
    size_t len;
    const char *obj = " { \"a\" : [1,{\"x\":\"}\"}] , \"stream\":\"s\\\"1\", \"n\": 5 }";
    assert_true(sl_redis_json_member(obj, "stream", &tok, &len));
    assert_int_equal(len, 6);
    assert_memory_equal(tok, "\"s\\\"1\"", 6);
    assert_false(sl_redis_json_member(obj, "n", &tok, &len)); /* not a string */
    assert_false(sl_redis_json_member(obj, "x", &tok, &len)); /* not top level */
    assert_false(sl_redis_json_member("[]", "a", &tok, &len));
    assert_false(sl_redis_json_member("{\"a\":", "a", &tok, &len));
    assert_false(sl_redis_json_member(NULL, "a", &tok, &len));
}

static struct sl_record *record(const char *id, const char *stream, const char *pkey,
                                const char *body)
{
    struct sl_buf a, c;
    sl_buf_init(&a);
    sl_buf_init(&c);
    sl_redis_attrs(stream, pkey, strlen(pkey), "redis://127.0.0.1:6379/0/orders", &a);
    sl_redis_coords(stream, id, "g", "c1", 1, &c);
    struct sl_record *r = sl_record_new(id, a.data, c.data, body, strlen(body));
    r->time_ms = 1545084650987;
    sl_buf_release(&a);
    sl_buf_release(&c);
    return r;
}

static void test_encode_kinesis_shape(void **state)
{
    struct sl_record *rs[2] = {record("1545084650987-0", "orders", "eu", "{\"k\":\"1\"}"),
                               record("1545084650987-1", "orders", "orders", "{}")};
    struct sl_buf b;
    sl_buf_init(&b);
    sl_redis_encode("src", rs, 2, SL_CFG_FORMAT_LAMBDA, &b);
    json_error_t e;
    json_t *doc = json_loads(b.data, 0, &e);
    assert_non_null(doc);
    json_t *recs = json_object_get(doc, "Records");
    assert_int_equal(json_array_size(recs), 2);
    json_t *r0 = json_array_get(recs, 0), *k = json_object_get(r0, "kinesis");
    assert_string_equal(json_string_value(json_object_get(k, "kinesisSchemaVersion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(k, "partitionKey")), "eu");
    assert_string_equal(json_string_value(json_object_get(k, "sequenceNumber")), "1545084650987-0");
    assert_true(json_is_real(json_object_get(k, "approximateArrivalTimestamp")));
    assert_true(json_real_value(json_object_get(k, "approximateArrivalTimestamp")) ==
                1545084650.987);
    const char *data = json_string_value(json_object_get(k, "data"));
    char dec[64];
    long n = sl_b64_decode(data, strlen(data), dec);
    assert_int_equal(n, 9);
    assert_memory_equal(dec, "{\"k\":\"1\"}", 9);
    assert_string_equal(json_string_value(json_object_get(r0, "eventSource")), "sluice:redis");
    assert_string_equal(json_string_value(json_object_get(r0, "eventVersion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(r0, "eventName")), "aws:kinesis:record");
    assert_string_equal(json_string_value(json_object_get(r0, "eventID")),
                        "orders:1545084650987-0");
    assert_string_equal(json_string_value(json_object_get(r0, "eventSourceARN")),
                        "redis://127.0.0.1:6379/0/orders");
    assert_true(json_is_string(json_object_get(r0, "awsRegion")));
    assert_true(json_is_string(json_object_get(r0, "invokeIdentityArn")));
    json_decref(doc);

    /* raw: the array alone. */
    sl_buf_reset(&b);
    sl_redis_encode("src", rs, 1, SL_CFG_FORMAT_RAW, &b);
    doc = json_loads(b.data, 0, &e);
    assert_true(json_is_array(doc));
    json_decref(doc);

    /* A record rebuilt from a DLQ entry (attrs re-encoded, other key order, spaces). */
    struct sl_record *again = sl_record_new(
        "9-9", "{ \"eventSourceARN\": \"redis://h:1/2/s\", \"stream\": \"s\" }", "{}", "{}", 2);
    again->time_ms = 9;
    sl_buf_reset(&b);
    sl_redis_encode("src", &again, 1, SL_CFG_FORMAT_LAMBDA, &b);
    doc = json_loads(b.data, 0, &e);
    assert_non_null(doc);
    json_t *r = json_array_get(json_object_get(doc, "Records"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "eventID")), "s:9-9");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "kinesis"), "partitionKey")), "s");
    assert_string_equal(json_string_value(json_object_get(r, "eventSourceARN")), "redis://h:1/2/s");
    json_decref(doc);
    sl_record_free(again);

    /* Nothing in attrs at all: the source name stands in. */
    again = sl_record_new("1-1", NULL, NULL, "", 0);
    sl_buf_reset(&b);
    sl_redis_encode("src", &again, 1, SL_CFG_FORMAT_LAMBDA, &b);
    doc = json_loads(b.data, 0, &e);
    assert_non_null(doc);
    r = json_array_get(json_object_get(doc, "Records"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "eventID")), "src:1-1");
    json_decref(doc);
    sl_record_free(again);

    sl_buf_release(&b);
    sl_record_free(rs[0]);
    sl_record_free(rs[1]);
}

static void test_filter_view(void **state)
{
    struct sl_record *r = record("5-1", "orders", "eu", "{\"type\":\"order\",\"n\":\"2\"}");
    struct sl_fview fv;
    assert_true(sl_redis_filter_view(r, &fv));
    json_t *v = sl_fview_json(&fv);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "partitionKey")), "eu");
    assert_string_equal(json_string_value(json_object_get(v, "sequenceNumber")), "5-1");
    assert_string_equal(json_string_value(json_object_get(v, "eventSource")), "sluice:redis");
    assert_string_equal(json_string_value(json_object_get(v, "eventID")), "orders:5-1");
    json_t *data = json_object_get(v, "data");
    assert_string_equal(json_string_value(json_object_get(data, "type")), "order");
    json_decref(v);
    sl_record_free(r);
}

static void buf_text(const struct sl_record *r, int which, struct sl_buf *out)
{
    sl_buf_reset(out);
    if (which == 0)
        r->ops->write_id(r, out);
    else if (which == 1)
        r->ops->write_coords(r, out);
    else
        r->ops->write_attrs(r, out);
}

/* A typed record's text forms equal a text record's for the same entry, and encoding it equals
 * encoding the text record redrive rebuilds from its attrs, byte for byte. */
static void test_typed_record_matches_text(void **state)
{
    static const char *const streams[] = {"orders", "we\"ird/\xc3\xa9\\s\x01", "bad\xff"};
    static const char *const pks[] = {NULL, "eu", "k\"\xff\x00z"};
    static const size_t pk_lens[] = {0, 2, 5};
    const char *fv[] = {"type", "order", "n", "2\xfe", "odd"};
    const size_t fl[] = {4, 5, 1, 2, 3};
    struct sl_redis_pool pool;
    sl_redis_pool_init(&pool, "g\"1", "c1");
    struct sl_buf a, b, c, e1, e2;
    sl_buf_init(&a);
    sl_buf_init(&b);
    sl_buf_init(&c);
    sl_buf_init(&e1);
    sl_buf_init(&e2);
    for (size_t si = 0; si < 3; si++) {
        struct sl_redis_stream_ref ref;
        char arn[128];
        snprintf(arn, sizeof(arn), "redis://127.0.0.1:6379/0/%s", streams[si]);
        sl_redis_stream_ref_init(&ref, &pool, streams[si], arn);
        for (size_t pi = 0; pi < 3; pi++) {
            for (int64_t deliveries = 1; deliveries <= 12; deliveries += 11) {
                const char *id = pi == 2 ? "1545084650007-42" : "1545084650987-0";
                struct sl_record *t0 = sl_redis_record_take(
                    &ref, id, strlen(id), fv, fl, 5 - pi % 2, pks[pi], pk_lens[pi], deliveries);
                assert_ptr_equal(t0->ops, &sl_redis_record_ops);
                assert_string_equal(sl_redis_record_id(t0), id);
                assert_true(t0->time_ms == (pi == 2 ? 1545084650007 : 1545084650987));

                /* What emit built before: text forms from sl_redis_attrs/coords. */
                sl_buf_reset(&a);
                sl_buf_reset(&c);
                sl_buf_reset(&b);
                sl_redis_attrs(streams[si], pks[pi] ? pks[pi] : streams[si],
                               pks[pi] ? pk_lens[pi] : strlen(streams[si]), arn, &a);
                sl_redis_coords(streams[si], id, "g\"1", "c1", deliveries, &c);
                /* "2\xfe" is not UTF-8: the attrs say so, and redrive keeps saying it. */
                assert_int_equal(sl_redis_fields_json(fv, fl, 5 - pi % 2, &b), 1);
                a.len--;
                sl_buf_puts(&a, ",\"invalidUtf8Replaced\":true}");
                struct sl_record *tx = sl_record_new(id, a.data, c.data, b.data, b.len);
                tx->time_ms = t0->time_ms;
                assert_int_equal(t0->body_len, tx->body_len);
                assert_memory_equal(t0->body, tx->body, tx->body_len);
                for (int w = 0; w < 3; w++) {
                    buf_text(t0, w, &e1);
                    buf_text(tx, w, &e2);
                    assert_string_equal(e1.data, e2.data);
                }
                json_t *item = json_string(id);
                assert_true(t0->ops->matches(t0, item));
                json_decref(item);
                item = json_string("1-1");
                assert_false(t0->ops->matches(t0, item));
                json_decref(item);

                /* Encoding: typed == text (redrive), both formats, mixed in one batch. */
                struct sl_record *rs[2] = {t0, tx};
                sl_buf_reset(&e1);
                sl_buf_reset(&e2);
                sl_redis_encode("src", &t0, 1, SL_CFG_FORMAT_LAMBDA, &e1);
                sl_redis_encode("src", &tx, 1, SL_CFG_FORMAT_LAMBDA, &e2);
                assert_int_equal(e1.len, e2.len);
                assert_string_equal(e1.data, e2.data);
                json_t *doc = json_loadb(e1.data, e1.len, JSON_ALLOW_NUL, NULL);
                assert_non_null(doc);
                assert_true(json_is_true(json_object_get(
                    json_array_get(json_object_get(doc, "Records"), 0), "invalidUtf8Replaced")));
                json_decref(doc);
                sl_buf_reset(&e1);
                sl_redis_encode("src", rs, 2, SL_CFG_FORMAT_RAW, &e1);
                rs[0] = tx;
                sl_buf_reset(&e2);
                sl_redis_encode("src", rs, 2, SL_CFG_FORMAT_RAW, &e2);
                assert_string_equal(e1.data, e2.data);

                struct sl_fview f1, f2;
                assert_true(sl_redis_filter_view(t0, &f1) && sl_redis_filter_view(tx, &f2));
                json_t *v1 = sl_fview_json(&f1), *v2 = sl_fview_json(&f2);
                if (!json_equal(v1, v2)) {
                    char *d1 = json_dumps(v1, JSON_SORT_KEYS), *d2 = json_dumps(v2, JSON_SORT_KEYS);
                    struct sl_buf mb;
                    sl_buf_init(&mb);
                    f1.write_meta(f1.r, &mb);
                    sl_buf_putc(&mb, 0);
                    fail_msg("typed view %s != text view %s (meta %s)", d1, d2, mb.data);
                }
                json_decref(v1);
                json_decref(v2);
                sl_record_free(tx);
                sl_record_free(t0); /* back to the free list: the next take reuses it */
                assert_ptr_equal(pool.free, (struct sl_redis_record *)t0);
            }
        }
        sl_redis_stream_ref_release(&ref);
    }
    sl_buf_release(&a);
    sl_buf_release(&b);
    sl_buf_release(&c);
    sl_buf_release(&e1);
    sl_buf_release(&e2);
    sl_redis_pool_release(&pool);
}

static int load(const char *yaml, struct sl_config *cfg, struct sl_err *err)
{
    return sl_config_load_text(yaml, strlen(yaml), false, "t.yaml", cfg, err);
}

static const char FN[] = "functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                         "mappings:\n  - {name: m, source: s, function: fn, batch: {size: 7}}\n";

static int bind_source(const char *src, struct sl_redis_cfg *out, int64_t *start,
                       struct sl_err *err)
{
    char text[1024];
    snprintf(text, sizeof(text), "%ssources:\n  - %s\n", FN, src);
    struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = load(text, &cfg, err);
    if (rc == 0)
        rc = sl_redis_cfg_bind(&cfg, SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0), out, start,
                               err);
    sl_config_release(&cfg);
    return rc;
}

static void test_config_defaults_and_errors(void **state)
{
    struct sl_redis_cfg c;
    struct sl_err err;
    int64_t start;
    sl_err_clear(&err);
    assert_int_equal(bind_source("{name: s, type: redis, streams: [a, b]}", &c, &start, &err), 0);
    assert_string_equal(c.group, "sluice-s");
    assert_non_null(c.consumer);
    assert_int_equal(c.count, 7); /* the mapping's batch size */
    assert_int_equal(c.read_ahead, 28);
    assert_int_equal(c.conn.port, 6379);
    assert_int_equal(c.claim_interval_ms, 10000);
    assert_int_equal(c.starting_position, SL_REDIS_START_LATEST);
    assert_int_equal(c.data_encoding, SL_REDIS_DATA_JSON);
    assert_null(c.data_field);
    sl_redis_cfg_release(&c);

    assert_int_equal(bind_source("{name: s, type: redis, streams: [a], starting_position: at, "
                                 "starting_timestamp: '2020-01-02T03:04:05Z'}",
                                 &c, &start, &err),
                     0);
    assert_true(start == 1577934245000LL);
    sl_redis_cfg_release(&c);

    assert_int_equal(bind_source("{name: s, type: redis, streams: [a], data_encoding: field, "
                                 "data_field: payload}",
                                 &c, &start, &err),
                     0);
    assert_int_equal(c.data_encoding, SL_REDIS_DATA_FIELD);
    assert_string_equal(c.data_field, "payload");
    sl_redis_cfg_release(&c);
    assert_int_equal(
        bind_source("{name: s, type: redis, streams: [a], data_encoding: resp}", &c, &start, &err),
        0);
    assert_int_equal(c.data_encoding, SL_REDIS_DATA_RESP);
    sl_redis_cfg_release(&c);

    struct {
        const char *src;
        const char *want[2];
    } bad[] = {
        {"{name: s, type: redis}", {"sources[0].streams", NULL}},
        {"{name: s, type: redis, streams: []}", {"sources[0].streams", "1 or more"}},
        {"{name: s, type: redis, streams: [a, a]}", {"sources[0].streams[1]", "twice"}},
        {"{name: s, type: redis, streams: ['']}", {"sources[0].streams[0]", NULL}},
        {"{name: s, type: redis, streams: [a], starting_position: at}",
         {"sources[0].starting_timestamp", "missing"}},
        {"{name: s, type: redis, streams: [a], starting_position: at, starting_timestamp: "
         "'2999-01-01T00:00:00Z'}",
         {"sources[0].starting_timestamp", "future"}},
        {"{name: s, type: redis, streams: [a], starting_timestamp: '-1h'}",
         {"sources[0].starting_timestamp", "only with"}},
        {"{name: s, type: redis, streams: [a], starting_position: yesterday}",
         {"sources[0].starting_position", "earliest"}},
        {"{name: s, type: redis, streams: [a], port: 70000}", {"sources[0].port", "70000"}},
        {"{name: s, type: redis, streams: [a], data_encoding: base64}",
         {"sources[0].data_encoding: \"base64\" is not allowed", "json, resp, field"}},
        {"{name: s, type: redis, streams: [a], data_encoding: field}",
         {"sources[0].data_field: missing", "data_encoding: field"}},
        {"{name: s, type: redis, streams: [a], data_encoding: field, data_field: ''}",
         {"sources[0].data_field: \"\" is empty", NULL}},
        {"{name: s, type: redis, streams: [a], data_field: payload}",
         {"sources[0].data_field: \"payload\" is set", "only with data_encoding: field"}},
        {"{name: s, type: redis, streams: [a], host: ''}",
         {"sources[0].host: empty (allowed: an address, or set unix_socket)", NULL}},
        {"{name: s, type: redis, streams: [a], password: sekrit-value, colour: red}",
         {"sources[0].colour", NULL}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_err_clear(&err);
        int rc = bind_source(bad[i].src, &c, &start, &err);
        if (rc != SL_ECONFIG)
            fail_msg("%s: accepted", bad[i].src);
        for (int k = 0; k < 2 && bad[i].want[k]; k++) {
            if (!strstr(err.msg, bad[i].want[k]))
                fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].src, err.msg, bad[i].want[k]);
        }
        assert_null(strstr(err.msg, "sekrit"));
    }
}

static void test_read_count(void **state)
{
    /* What read_ahead leaves, per stream, between count and 4 x count. */
    assert_int_equal(sl_redis_read_count(40, 0, 1, 10), 40);
    assert_int_equal(sl_redis_read_count(40, 25, 1, 10), 15);
    assert_int_equal(sl_redis_read_count(40, 0, 2, 10), 20);
    assert_int_equal(sl_redis_read_count(40, 35, 1, 10), 10); /* never below count */
    assert_int_equal(sl_redis_read_count(40, 50, 1, 10), 10);
    assert_int_equal(sl_redis_read_count(1000, 0, 1, 10), 40); /* a reply of 4 batches at most */
    assert_int_equal(sl_redis_read_count(5, 0, 1, 100), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_parse),
        cmocka_unit_test(test_tracker_acks_handled_prefix_in_order),
        cmocka_unit_test(test_fields_json),
        cmocka_unit_test(test_body_encodings),
        cmocka_unit_test(test_json_member),
        cmocka_unit_test(test_encode_kinesis_shape),
        cmocka_unit_test(test_filter_view),
        cmocka_unit_test(test_typed_record_matches_text),
        cmocka_unit_test(test_config_defaults_and_errors),
        cmocka_unit_test(test_read_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
