/* The postgres-queue source's pure parts: MD5 and SQS's md5OfMessageAttributes, message
 * attributes from the attributes column, the SQS encoder (field for field, and the same bytes
 * from a text record rebuilt as redrive does), the filter view, the held-rows table, the id
 * arrays, config checks with key paths, the SQL it runs and `sluice init` creates, and the
 * column check against a table. */
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
#include "sources/postgres/queue_int.h"
#include "sources/record.h"

static void hex_of(const void *data, size_t n, char out[33])
{
    unsigned char md5[16];
    sl_pgq_md5(data, n, md5);
    sl_pgq_hex(md5, out);
    out[32] = '\0';
}

static void test_md5_vectors(void **state)
{
    /* RFC 1321's test suite. */
    static const char *const vec[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    char hex[33];
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        hex_of(vec[i][0], strlen(vec[i][0]), hex);
        assert_string_equal(hex, vec[i][1]);
    }
    /* A million 'a's, fed in uneven pieces, equals the one-shot digest. */
    size_t n = 1000000;
    char *big = malloc(n);
    memset(big, 'a', n);
    hex_of(big, n, hex);
    assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
    struct sl_pgq_md5 m;
    sl_pgq_md5_init(&m);
    for (size_t at = 0, step = 1; at < n; at += step, step = step * 3 % 127 + 1)
        sl_pgq_md5_update(&m, big + at, at + step <= n ? step : n - at);
    unsigned char md5[16];
    sl_pgq_md5_final(&m, md5);
    sl_pgq_hex(md5, hex);
    assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
    /* Every length around the 56- and 64-byte padding edges. */
    for (size_t len = 50; len < 140; len++) {
        char a[33], b[33];
        hex_of(big, len, a);
        sl_pgq_md5_init(&m);
        sl_pgq_md5_update(&m, big, len / 2);
        sl_pgq_md5_update(&m, big + len / 2, len - len / 2);
        sl_pgq_md5_final(&m, md5);
        sl_pgq_hex(md5, b);
        b[32] = '\0';
        assert_string_equal(a, b);
    }
    free(big);
}

static void test_message_attributes(void **state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    unsigned char md5[16];
    char hex[33] = "";
    /* LocalStack's vector (tests/unit/test_sqs.py): {"timestamp": Number "1493147359900"}. */
    assert_int_equal(sl_pgq_message_attrs("{\"timestamp\":1493147359900}", 27, &b, md5), 1);
    sl_pgq_hex(md5, hex);
    assert_string_equal(hex, "235c5c510d26fb653d073faed50ae77c");
    assert_string_equal(b.data, "{\"timestamp\":{\"stringValue\":\"1493147359900\","
                                "\"stringListValues\":[],\"binaryListValues\":[],\"dataType\":"
                                "\"Number\"}}");
    /* The same attribute given in SQS form, and the output fed back in: the same bytes. */
    char *first = strdup(b.data);
    sl_buf_reset(&b);
    const char *sqs = "{\"timestamp\":{\"dataType\":\"Number\",\"stringValue\":\"1493147359900\"}}";
    assert_int_equal(sl_pgq_message_attrs(sqs, strlen(sqs), &b, md5), 1);
    assert_string_equal(b.data, first);
    sl_buf_reset(&b);
    assert_int_equal(sl_pgq_message_attrs(first, strlen(first), &b, md5), 1);
    assert_string_equal(b.data, first);
    sl_pgq_hex(md5, hex);
    assert_string_equal(hex, "235c5c510d26fb653d073faed50ae77c");
    free(first);

    /* Names sorted by bytes; strings, booleans, reals, other JSON; null left out. */
    sl_buf_reset(&b);
    const char *mix = "{\"b\":true,\"a\":\"x\\u00e9\",\"n\":null,\"r\":6.5,\"o\":{\"k\":[1]},"
                      "\"B\":{\"dataType\":\"Binary\",\"binaryValue\":\"AAEC\"}}";
    assert_int_equal(sl_pgq_message_attrs(mix, strlen(mix), &b, md5), 5);
    json_t *doc = json_loads(b.data, 0, NULL);
    assert_non_null(doc);
    const char *order[] = {"B", "a", "b", "o", "r"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) assert_string_equal(k, order[i++]);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "a"), "stringValue")), "x\xc3\xa9");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "b"), "stringValue")), "true");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "r"), "stringValue")), "6.5");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "r"), "dataType")),
                        "Number");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "o"), "stringValue")),
        "{\"k\":[1]}");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "B"), "binaryValue")), "AAEC");
    assert_null(json_object_get(json_object_get(doc, "B"), "stringValue"));
    json_decref(doc);
    /* The digest by SQS's algorithm, written out: B (Binary, bytes 00 01 02), a, b, o, r. */
    struct sl_pgq_md5 m;
    sl_pgq_md5_init(&m);
    static const struct {
        const char *name, *type, *value;
        size_t vlen;
        unsigned char transport;
    } want[] = {
        {"B", "Binary", "\x00\x01\x02", 3, 2}, {"a", "String", "x\xc3\xa9", 3, 1},
        {"b", "String", "true", 4, 1},         {"o", "String", "{\"k\":[1]}", 9, 1},
        {"r", "Number", "6.5", 3, 1},
    };
    for (size_t w = 0; w < 5; w++) {
        const char *parts[] = {want[w].name, want[w].type};
        for (int p = 0; p < 2; p++) {
            size_t n = strlen(parts[p]);
            unsigned char len[4] = {0, 0, 0, (unsigned char)n};
            sl_pgq_md5_update(&m, len, 4);
            sl_pgq_md5_update(&m, parts[p], n);
        }
        sl_pgq_md5_update(&m, &want[w].transport, 1);
        unsigned char len[4] = {0, 0, 0, (unsigned char)want[w].vlen};
        sl_pgq_md5_update(&m, len, 4);
        sl_pgq_md5_update(&m, want[w].value, want[w].vlen);
    }
    unsigned char expect[16];
    sl_pgq_md5_final(&m, expect);
    assert_memory_equal(md5, expect, 16);

    /* Not an object: "{}" and -1; none: "{}" and 0. */
    sl_buf_reset(&b);
    assert_int_equal(sl_pgq_message_attrs("[1]", 3, &b, md5), -1);
    assert_string_equal(b.data, "{}");
    sl_buf_reset(&b);
    assert_int_equal(sl_pgq_message_attrs(NULL, 0, &b, md5), 0);
    assert_string_equal(b.data, "{}");
    sl_buf_reset(&b);
    assert_int_equal(sl_pgq_message_attrs("{\"x\":null}", 10, &b, md5), 0);
    assert_string_equal(b.data, "{}");
    sl_buf_release(&b);
}

static struct sl_record *take(struct sl_pgq_pool *p, int64_t id, int64_t count, const char *body,
                              const char *attrs, const char *group)
{
    struct sl_pgq_row row = {
        .id = id,
        .receive_count = count,
        .sent_ms = 1545082649183,
        .first_ms = 1545082649185,
        .body = body,
        .body_len = strlen(body),
        .attrs = attrs,
        .attrs_len = attrs ? strlen(attrs) : 0,
        .group = group,
        .group_len = group ? strlen(group) : 0,
    };
    return sl_pgq_record_take(p, &row);
}

static json_t *encode_one(struct sl_record *r, int format)
{
    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_record *rs[1] = {r};
    sl_pgq_encode("orders", rs, 1, format, &b);
    json_t *doc = json_loads(b.data, 0, NULL);
    assert_non_null(doc);
    sl_buf_release(&b);
    return doc;
}

static const char *str_at(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_encoder_sqs_shape(void **state)
{
    struct sl_pgq_pool pool;
    sl_pgq_pool_init(&pool, "postgres://127.0.0.1:5432/app/public.jobs", "public.jobs", 1);
    const char *body = "{\"orderId\":\"o-1001\",\"total\":42.5}";
    struct sl_record *r = take(&pool, 42, 3, body, NULL, NULL);
    assert_int_equal(r->time_ms, 1545082649183);
    assert_int_equal(r->body_len, strlen(body));
    json_t *doc = encode_one(r, SL_CFG_FORMAT_LAMBDA);
    json_t *recs = json_object_get(doc, "Records");
    assert_int_equal(json_array_size(recs), 1);
    json_t *rec = json_array_get(recs, 0);
    /* The SQS event record of the Lambda docs ("Using Lambda with Amazon SQS"), field for field,
     * in order. */
    static const char *const keys[] = {"messageId",  "receiptHandle",     "body",
                                       "attributes", "messageAttributes", "md5OfMessageAttributes",
                                       "md5OfBody",  "eventSource",       "eventSourceARN",
                                       "awsRegion"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(rec, k, v)
    {
        assert_true(i < sizeof(keys) / sizeof(keys[0]));
        assert_string_equal(k, keys[i++]);
    }
    assert_int_equal(i, sizeof(keys) / sizeof(keys[0]));
    assert_string_equal(str_at(rec, "messageId"), "42");
    assert_string_equal(str_at(rec, "receiptHandle"), "42:3");
    assert_string_equal(str_at(rec, "body"), body);
    json_t *a = json_object_get(rec, "attributes");
    static const char *const akeys[] = {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                        "ApproximateFirstReceiveTimestamp"};
    i = 0;
    json_object_foreach(a, k, v) assert_string_equal(k, akeys[i++]);
    assert_int_equal(i, 4);
    assert_string_equal(str_at(a, "ApproximateReceiveCount"), "3");
    assert_string_equal(str_at(a, "SentTimestamp"), "1545082649183");
    assert_string_equal(str_at(a, "SenderId"), "");
    assert_string_equal(str_at(a, "ApproximateFirstReceiveTimestamp"), "1545082649185");
    assert_int_equal(json_object_size(json_object_get(rec, "messageAttributes")), 0);
    assert_true(json_is_null(json_object_get(rec, "md5OfMessageAttributes")));
    assert_string_equal(str_at(rec, "md5OfBody"), "3a771f3bb4ee36f5a2b85c6515c2f4f6");
    assert_string_equal(str_at(rec, "eventSource"), "sluice:postgres");
    assert_string_equal(str_at(rec, "eventSourceARN"), "postgres://127.0.0.1:5432/app/public.jobs");
    assert_string_equal(str_at(rec, "awsRegion"), "");
    json_decref(doc);

    /* format: raw is the array alone. */
    doc = encode_one(r, SL_CFG_FORMAT_RAW);
    assert_true(json_is_array(doc));
    assert_string_equal(str_at(json_array_get(doc, 0), "messageId"), "42");
    json_decref(doc);
    sl_record_free(r);

    /* Attributes and a group (FIFO's attributes), a body with quotes and newlines. */
    r = take(&pool, 7, 1, "line \"1\"\nline 2", "{\"timestamp\":1493147359900}", "g-\"1\"");
    doc = encode_one(r, SL_CFG_FORMAT_LAMBDA);
    rec = json_array_get(json_object_get(doc, "Records"), 0);
    assert_string_equal(str_at(rec, "body"), "line \"1\"\nline 2");
    a = json_object_get(rec, "attributes");
    assert_string_equal(str_at(a, "MessageGroupId"), "g-\"1\"");
    assert_string_equal(str_at(a, "SequenceNumber"), "7");
    assert_string_equal(str_at(rec, "md5OfMessageAttributes"), "235c5c510d26fb653d073faed50ae77c");
    assert_string_equal(
        str_at(json_object_get(json_object_get(rec, "messageAttributes"), "timestamp"), "dataType"),
        "Number");
    assert_null(json_object_get(rec, "invalidUtf8Replaced"));
    json_decref(doc);
    sl_record_free(r);

    /* A body that is not UTF-8: replaced in the text, and said so; md5 of the stored bytes. */
    r = take(&pool, 8, 1,
             "a\xff"
             "b",
             NULL, NULL);
    doc = encode_one(r, SL_CFG_FORMAT_LAMBDA);
    rec = json_array_get(json_object_get(doc, "Records"), 0);
    assert_string_equal(str_at(rec, "body"), "a\xef\xbf\xbd"
                                             "b");
    assert_true(json_is_true(json_object_get(rec, "invalidUtf8Replaced")));
    char hex[33];
    hex_of("a\xff"
           "b",
           3, hex);
    assert_string_equal(str_at(rec, "md5OfBody"), hex);
    json_decref(doc);
    sl_record_free(r);
    sl_pgq_pool_release(&pool);
}

/* The text forms, and a text record rebuilt from them (redrive), encode to the same bytes. */
static void test_text_record_round_trip(void **state)
{
    struct sl_pgq_pool pool;
    sl_pgq_pool_init(&pool, "postgres://db:5432/app/jobs", "jobs", 4);
    struct sl_record *rs[] = {
        take(&pool, 1, 1, "plain", NULL, NULL),
        take(&pool, 900719925474099, 12, "{\"a\":[1,2]}",
             "{\"Author\":\"John\",\"WeeksOn\":6,\"bin\":{\"dataType\":\"Binary\","
             "\"binaryValue\":\"3q2+7w==\"}}",
             "grp"),
        take(&pool, 3, 2, "bad \xc3(", NULL, "\xe2\x82\xac"),
    };
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        struct sl_record *r = rs[i];
        struct sl_buf id, attrs, coords, a, b;
        sl_buf_init(&id);
        sl_buf_init(&attrs);
        sl_buf_init(&coords);
        sl_buf_init(&a);
        sl_buf_init(&b);
        r->ops->write_id(r, &id);
        r->ops->write_attrs(r, &attrs);
        r->ops->write_coords(r, &coords);
        json_t *c = json_loads(coords.data, 0, NULL);
        assert_non_null(c);
        assert_string_equal(str_at(c, "table"), "jobs");
        json_decref(c);
        json_t *at = json_loads(attrs.data, 0, NULL);
        assert_non_null(at);
        json_decref(at);
        struct sl_record *t = sl_record_new(id.data, attrs.data, coords.data, r->body, r->body_len);
        t->time_ms = r->time_ms;
        sl_pgq_encode("orders", &r, 1, SL_CFG_FORMAT_LAMBDA, &a);
        sl_pgq_encode("orders", &t, 1, SL_CFG_FORMAT_LAMBDA, &b);
        assert_string_equal(a.data, b.data);
        int64_t tid, rid;
        assert_true(sl_pgq_record_id(t, &tid) && sl_pgq_record_id(r, &rid));
        assert_true(tid == rid);
        /* Filter views alike too. */
        struct sl_fview f1, f2;
        assert_true(sl_pgq_filter_view(r, &f1) && sl_pgq_filter_view(t, &f2));
        json_t *v1 = sl_fview_json(&f1), *v2 = sl_fview_json(&f2);
        assert_true(json_equal(v1, v2));
        json_decref(v1);
        json_decref(v2);
        sl_record_free(t);
        sl_buf_release(&id);
        sl_buf_release(&attrs);
        sl_buf_release(&coords);
        sl_buf_release(&a);
        sl_buf_release(&b);
    }
    /* Lanes: rows of a group share one; no group: lane 0. */
    assert_int_equal(rs[0]->lane, 0);
    struct sl_record *same = take(&pool, 99, 1, "x", NULL, "grp");
    assert_int_equal(same->lane, rs[1]->lane);
    assert_true(rs[1]->lane < 4);
    sl_record_free(same);
    /* Partial batch responses: the messageId string names the row; a number does not. */
    json_t *s = json_string("900719925474099"), *n = json_integer(900719925474099),
           *o = json_string("90071992547409");
    assert_true(rs[1]->ops->matches(rs[1], s));
    assert_false(rs[1]->ops->matches(rs[1], n));
    assert_false(rs[1]->ops->matches(rs[1], o));
    json_decref(s);
    json_decref(n);
    json_decref(o);
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
        sl_record_free(rs[i]);
    /* Records came back to the free list: the next take reuses one. */
    assert_non_null(pool.free);
    sl_pgq_pool_release(&pool);
}

static void test_filter_view(void **state)
{
    struct sl_pgq_pool pool;
    sl_pgq_pool_init(&pool, "postgres://db:5432/app/jobs", "jobs", 1);
    struct sl_record *r = take(&pool, 5, 2, "{\"type\":\"order\"}", "{\"k\":\"v\"}", NULL);
    struct sl_fview fv;
    assert_true(sl_pgq_filter_view(r, &fv));
    json_t *v = sl_fview_json(&fv);
    assert_string_equal(str_at(json_object_get(v, "body"), "type"), "order");
    assert_string_equal(str_at(v, "messageId"), "5");
    assert_string_equal(str_at(json_object_get(v, "attributes"), "ApproximateReceiveCount"), "2");
    assert_string_equal(
        str_at(json_object_get(json_object_get(v, "messageAttributes"), "k"), "stringValue"), "v");
    assert_string_equal(str_at(v, "eventSource"), "sluice:postgres");
    json_decref(v);
    sl_record_free(r);
    /* A plain-text body is a string (Lambda: a string pattern matches it). */
    r = take(&pool, 6, 1, "hello", NULL, NULL);
    assert_true(sl_pgq_filter_view(r, &fv));
    v = sl_fview_json(&fv);
    assert_string_equal(str_at(v, "body"), "hello");
    json_decref(v);
    sl_record_free(r);
    sl_pgq_pool_release(&pool);
}

static void test_held_table(void **state)
{
    struct sl_pgq_held h;
    sl_pgq_held_init(&h);
    assert_null(sl_pgq_held_find(&h, 1));
    for (int64_t id = 1; id <= 5000; id++) {
        struct sl_pgq_slot *s = sl_pgq_held_add(&h, id * 7);
        s->receive_count = id;
    }
    assert_int_equal(h.n, 5000);
    for (int64_t id = 1; id <= 5000; id++) {
        struct sl_pgq_slot *s = sl_pgq_held_find(&h, id * 7);
        assert_non_null(s);
        assert_true(s->receive_count == id && s->state == SL_PGQ_HELD);
    }
    assert_null(sl_pgq_held_find(&h, 8));
    /* Remove every other one: the rest are still found past the removed slots. */
    for (int64_t id = 1; id <= 5000; id += 2)
        sl_pgq_held_remove(&h, sl_pgq_held_find(&h, id * 7));
    assert_int_equal(h.n, 2500);
    for (int64_t id = 1; id <= 5000; id++)
        assert_true((sl_pgq_held_find(&h, id * 7) != NULL) == (id % 2 == 0));
    /* Churn (add one, remove one) does not grow the table without bound. */
    size_t cap = h.cap;
    for (int64_t id = 100000; id < 200000; id++) {
        sl_pgq_held_add(&h, id);
        sl_pgq_held_remove(&h, sl_pgq_held_find(&h, id));
    }
    assert_int_equal(h.n, 2500);
    assert_true(h.cap <= cap * 2);
    for (int64_t id = 2; id <= 5000; id += 2)
        sl_pgq_held_remove(&h, sl_pgq_held_find(&h, id * 7));
    assert_int_equal(h.n, 0);
    assert_int_equal(h.used, 0);
    sl_pgq_held_release(&h);

    struct sl_buf b;
    sl_buf_init(&b);
    int64_t ids[] = {1, -2, 9223372036854775807LL, 0};
    sl_pgq_ids_array(ids, 4, &b);
    assert_string_equal(b.data, "{1,-2,9223372036854775807,0}");
    sl_buf_reset(&b);
    sl_pgq_ids_array(ids, 0, &b);
    assert_string_equal(b.data, "{}");
    sl_buf_release(&b);
}

static int load(const char *yaml, struct sl_config *cfg, struct sl_err *err)
{
    return sl_config_load_text(yaml, strlen(yaml), false, "t.yaml", cfg, err);
}

static int bind_source(const char *src, const char *mapping, struct sl_pgq_cfg *out,
                       struct sl_err *err)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
             "mappings:\n  - {name: m, source: s, function: fn%s}\nsources:\n  - %s\n",
             mapping ? mapping : "", src);
    struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = load(text, &cfg, err);
    if (rc == 0)
        rc = sl_pgq_cfg_bind(&cfg, SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0), out, err);
    sl_config_release(&cfg);
    return rc;
}

#define SRC "{name: s, type: postgres-queue, conninfo: 'host=127.0.0.1 dbname=app'"

static void expect_error(const char *src, const char *mapping, const char *want)
{
    struct sl_pgq_cfg c;
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(bind_source(src, mapping, &c, &err), SL_ECONFIG);
    if (!strstr(err.msg, want))
        fail_msg("error %s does not name %s", err.msg, want);
}

static void test_config_defaults_and_errors(void **state)
{
    struct sl_pgq_cfg c;
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(bind_source(SRC ", table: jobs}", ", batch: {size: 25}", &c, &err), 0);
    assert_string_equal(c.table, "jobs");
    assert_string_equal(c.columns.id, "id");
    assert_string_equal(c.columns.payload, "payload");
    assert_string_equal(c.columns.created_at, "created_at");
    assert_null(c.columns.attributes);
    assert_null(c.columns.group);
    assert_int_equal(c.claim_size, 25); /* the mapping's batch */
    assert_int_equal(c.max_inflight, 100);
    assert_int_equal(c.visibility_timeout_ms, 30000);
    assert_int_equal(c.max_receives, 10);
    assert_true(c.notify);
    assert_string_equal(c.channel, "sluice_jobs");
    assert_int_equal(c.lanes, 1);
    sl_pgq_cfg_release(&c);

    /* Optional columns "" are none; a group's lanes follow the mapping's concurrency. */
    assert_int_equal(bind_source(SRC ", table: app.jobs, columns: {created_at: '', "
                                     "first_received_at: '', group: tenant}, claim_size: 5, "
                                     "max_inflight: 7, channel: wake}",
                                 ", max_concurrency: 8", &c, &err),
                     0);
    assert_null(c.columns.created_at);
    assert_null(c.columns.first_received_at);
    assert_string_equal(c.columns.group, "tenant");
    assert_int_equal(c.claim_size, 5);
    assert_int_equal(c.max_inflight, 7);
    assert_int_equal(c.lanes, 8);
    assert_string_equal(c.channel, "wake");
    sl_pgq_cfg_release(&c);

    expect_error("{name: s, type: postgres-queue, conninfo: 'host=x'}", NULL, "table");
    expect_error(SRC ", table: 'my-jobs'}", NULL, "sources[0].table: \"my-jobs\"");
    expect_error(SRC ", table: 'a.b.c'}", NULL, "sources[0].table");
    expect_error(SRC ", table: '\"jobs\"'}", NULL, "sources[0].table");
    expect_error(SRC ", table: jobs, archive_table: jobs}", NULL,
                 "sources[0].archive_table: \"jobs\" is the queue table");
    expect_error(SRC ", table: jobs, columns: {payload: ''}}", NULL,
                 "sources[0].columns.payload: \"\" is empty");
    expect_error(SRC ", table: jobs, columns: {payload: id}}", NULL,
                 "sources[0].columns.payload: \"id\" is columns.id too");
    expect_error(SRC ", table: jobs, columns: {group: 'a b'}}", NULL,
                 "sources[0].columns.group: \"a b\" is not a column name");
    expect_error(SRC ", table: jobs, columns: {nope: x}}", NULL, "sources[0].columns.nope");
    expect_error(SRC ", table: jobs, visibility_timeout: 500ms}", NULL,
                 "sources[0].visibility_timeout");
    expect_error(SRC ", table: jobs, metrics_interval: 50ms}", NULL,
                 "sources[0].metrics_interval: 50ms is out of range");
    expect_error(SRC ", table: jobs, channel: '1x'}", NULL, "sources[0].channel: \"1x\"");
    expect_error(SRC ", table: "
                     "a_table_name_that_is_long_enough_that_sluice_plus_it_is_over_63}",
                 NULL, "sources[0].channel: missing, and the default");
    expect_error("{name: s, type: postgres-queue, conninfo: 'host=x password=p', table: jobs}",
                 NULL, "sources[0].conninfo: holds a password");
    expect_error("{name: s, type: postgres-queue, conninfo: 'nokey', table: jobs}", NULL,
                 "sources[0].conninfo: not a connection string");
    /* The password is a secret: never echoed. */
    struct sl_pgq_cfg c2;
    sl_err_clear(&err);
    assert_int_equal(bind_source("{name: s, type: postgres-queue, conninfo: 'host=x', password: "
                                 "hunter2, table: jobs, max_receives: 0}",
                                 NULL, &c2, &err),
                     SL_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));
}

static void test_sql(void **state)
{
    struct sl_pgq_cfg c;
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(bind_source(SRC ", table: app.Jobs, visibility_timeout: 45s, "
                                     "archive_table: app.jobs_done, columns: {group: g, "
                                     "attributes: attrs}}",
                                 NULL, &c, &err),
                     0);
    struct sl_pgq_sql q;
    sl_pgq_sql_build(&c, &q);
    assert_string_equal(q.table_q, "\"app\".\"Jobs\"");
    assert_string_equal(q.archive_q, "\"app\".\"jobs_done\"");
    /* One statement: SKIP LOCKED in id order, the visibility timeout, the receive counted. */
    assert_non_null(strstr(q.claim, "WITH sluice_claim AS (SELECT \"id\" FROM \"app\".\"Jobs\" "
                                    "WHERE \"visible_after\" <= now() ORDER BY \"id\" LIMIT $1 "
                                    "FOR UPDATE SKIP LOCKED) UPDATE \"app\".\"Jobs\" AS sluice_q "
                                    "SET \"visible_after\" = now() + interval '45000 "
                                    "milliseconds', \"receive_count\" = "
                                    "sluice_q.\"receive_count\" + 1, \"first_received_at\" = "
                                    "COALESCE(sluice_q.\"first_received_at\", now())"));
    assert_non_null(strstr(q.claim, "sluice_q.\"payload\"::text, sluice_q.\"attrs\"::text, "
                                    "sluice_q.\"g\"::text"));
    assert_string_equal(q.delete, "DELETE FROM \"app\".\"Jobs\" WHERE \"id\" = ANY($1::bigint[])");
    assert_non_null(strstr(q.heartbeat, "sluice_q.\"receive_count\" = sluice_h.n"));
    assert_string_equal(q.listen, "LISTEN \"sluice_Jobs\"");
    assert_string_equal(q.setup, "SET statement_timeout = 30000");
    const char *cols[] = {"id", "payload", "g"};
    char *move = sl_pgq_sql_archive(&q, cols, 3);
    assert_string_equal(move, "WITH sluice_moved AS (DELETE FROM \"app\".\"Jobs\" WHERE \"id\" = "
                              "ANY($1::bigint[]) RETURNING \"id\", \"payload\", \"g\") INSERT INTO "
                              "\"app\".\"jobs_done\" (\"id\", \"payload\", \"g\") SELECT \"id\", "
                              "\"payload\", \"g\" FROM sluice_moved");
    free(move);

    /* sluice init: the table with the mapped columns, the trigger, the archive. */
    struct sl_buf sql;
    sl_buf_init(&sql);
    sl_pgq_init_sql(&c, &sql);
    assert_non_null(strstr(sql.data, "CREATE TABLE IF NOT EXISTS \"app\".\"Jobs\" (\n    \"id\" "
                                     "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"));
    assert_non_null(strstr(sql.data, "\"attrs\" jsonb"));
    assert_non_null(strstr(sql.data, "\"g\" text\n);"));
    assert_non_null(
        strstr(sql.data, "CREATE OR REPLACE FUNCTION \"app\".\"Jobs_sluice_notify\"()"));
    assert_non_null(strstr(sql.data, "pg_notify('sluice_Jobs', '')"));
    assert_non_null(strstr(sql.data, "DROP TRIGGER IF EXISTS \"sluice_notify\" ON "
                                     "\"app\".\"Jobs\";\nCREATE TRIGGER \"sluice_notify\" AFTER "
                                     "INSERT ON \"app\".\"Jobs\" FOR EACH STATEMENT"));
    assert_non_null(strstr(sql.data, "CREATE TABLE IF NOT EXISTS \"app\".\"jobs_done\" (LIKE "
                                     "\"app\".\"Jobs\");"));
    /* Every statement ends with ";\n". */
    assert_true(sql.len > 2 && strcmp(sql.data + sql.len - 2, ";\n") == 0);
    sl_buf_release(&sql);

    /* The columns a table has against the mapping. */
    char buf[400];
    const char *names[] = {"id",         "payload",           "visible_after", "receive_count",
                           "created_at", "first_received_at", "attrs",         "g"};
    unsigned types[] = {20, 25, 1184, 23, 1184, 1184, 3802, 25};
    const char *tn[] = {"bigint",      "text",        "timestamptz", "integer",
                        "timestamptz", "timestamptz", "jsonb",       "text"};
    assert_null(sl_pgq_check_columns(&c, names, types, tn, 8, buf, sizeof(buf)));
    const char *msg = sl_pgq_check_columns(&c, names, types, tn, 6, buf, sizeof(buf));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "columns.attributes: column \"attrs\" not found in table "
                                "app.Jobs (its columns: id, payload"));
    unsigned uuid_id[] = {2950, 25, 1184, 23, 1184, 1184, 3802, 25};
    const char *tn2[] = {"uuid",        "text",        "timestamptz", "integer",
                         "timestamptz", "timestamptz", "jsonb",       "text"};
    msg = sl_pgq_check_columns(&c, names, uuid_id, tn2, 8, buf, sizeof(buf));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "columns.id: column \"id\" of table app.Jobs is uuid (allowed: "
                                "an integer column"));
    sl_pgq_sql_release(&q);
    sl_pgq_cfg_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_vectors),
        cmocka_unit_test(test_message_attributes),
        cmocka_unit_test(test_encoder_sqs_shape),
        cmocka_unit_test(test_text_record_round_trip),
        cmocka_unit_test(test_filter_view),
        cmocka_unit_test(test_held_table),
        cmocka_unit_test(test_config_defaults_and_errors),
        cmocka_unit_test(test_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
