/* The kafka source without a broker: the offset window, record building, the event shape
 * (fast and parsed paths), the filter view and config errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/b64.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "sources/kafka/kafka.h"
#include "sources/kafka/kafka_int.h"

/* ---- window ---- */

static void test_window_in_order(void **state)
{
    struct sl_kwin w;
    sl_kwin_init(&w);
    assert_int_equal(sl_kwin_commit_pos(&w), -1);
    for (int64_t o = 10; o < 15; o++)
        sl_kwin_push(&w, o, 1000 + o);
    assert_int_equal(sl_kwin_commit_pos(&w), 10);
    assert_int_equal(sl_kwin_oldest_ms(&w), 1010);
    assert_int_equal(sl_kwin_ack(&w, 10), 0);
    assert_int_equal(sl_kwin_commit_pos(&w), 11);
    assert_int_equal(sl_kwin_ack(&w, 11), 0);
    assert_int_equal(sl_kwin_ack(&w, 12), 0);
    assert_int_equal(sl_kwin_ack(&w, 13), 0);
    assert_int_equal(sl_kwin_ack(&w, 14), 0);
    assert_int_equal(sl_kwin_commit_pos(&w), 15);
    assert_int_equal(sl_kwin_oldest_ms(&w), -1);
    assert_int_equal(sl_kwin_ack(&w, 14), SL_ENOTFOUND);
    sl_kwin_release(&w);
}

static void test_window_out_of_order_and_gaps(void **state)
{
    struct sl_kwin w;
    sl_kwin_init(&w);
    /* Offsets with gaps (compaction, transaction markers). */
    int64_t offs[] = {3, 4, 7, 8, 20, 21};
    for (size_t i = 0; i < 6; i++)
        sl_kwin_push(&w, offs[i], 0);
    assert_int_equal(sl_kwin_ack(&w, 8), 0);
    assert_int_equal(sl_kwin_ack(&w, 7), 0);
    assert_int_equal(sl_kwin_commit_pos(&w), 3); /* 3 not handled: nothing moves */
    assert_int_equal(sl_kwin_ack(&w, 5), SL_ENOTFOUND);
    assert_int_equal(sl_kwin_ack(&w, 4), 0);
    assert_int_equal(sl_kwin_pending(&w), 3);
    assert_int_equal(sl_kwin_ack(&w, 3), 0);
    assert_int_equal(sl_kwin_commit_pos(&w), 20); /* the first unhandled, past the gap */
    assert_int_equal(sl_kwin_ack(&w, 21), 0);
    assert_int_equal(sl_kwin_commit_pos(&w), 20);
    assert_int_equal(sl_kwin_ack(&w, 20), 0);
    assert_int_equal(sl_kwin_commit_pos(&w), 22);
    sl_kwin_reset(&w);
    assert_int_equal(sl_kwin_commit_pos(&w), -1);
    sl_kwin_release(&w);
}

static void test_window_wraps_and_grows(void **state)
{
    struct sl_kwin w;
    sl_kwin_init(&w);
    int64_t next = 0, acked = 0;
    /* Push and ack in waves so the ring wraps several times while growing. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 37 + round; i++)
            sl_kwin_push(&w, next++, 0);
        /* Ack newest first, oldest last. */
        for (int64_t o = next - 1; o >= acked + (next - acked) / 2; o--)
            assert_int_equal(sl_kwin_ack(&w, o), 0);
        assert_int_equal(sl_kwin_commit_pos(&w), acked);
        int64_t stop = acked + (next - acked) / 2;
        for (int64_t o = acked; o < stop; o++)
            assert_int_equal(sl_kwin_ack(&w, o), 0);
        acked = next;
        assert_int_equal(sl_kwin_commit_pos(&w), next);
    }
    sl_kwin_release(&w);
}

/* ---- records and the event ---- */

static struct sl_record *sample(int32_t partition, int64_t offset, bool key)
{
    const char *names[] = {"h-text", "h-bin"};
    static const unsigned char bin[] = {0xff, 0x00, 0x80, 0x7f};
    const void *vals[] = {"abc", bin};
    size_t lens[] = {3, sizeof(bin)};
    return sl_kafka_record_build("orders", partition, offset, 1545084650987,
                                 RD_KAFKA_TIMESTAMP_CREATE_TIME, key ? "order-1" : NULL,
                                 key ? 7 : 0, "{\"n\":1}", 7, names, vals, lens, 2,
                                 "b-1:9092,b-2:9092");
}

static json_t *encode(struct sl_record **rs, size_t n, int format)
{
    struct sl_buf out;
    sl_buf_init(&out);
    sl_kafka_encode("src", rs, n, format, &out);
    json_error_t jerr;
    json_t *doc = json_loadb(out.data, out.len, 0, &jerr);
    if (!doc)
        fail_msg("not JSON (%s): %s", jerr.text, out.data);
    sl_buf_release(&out);
    return doc;
}

static void test_record_and_event_shape(void **state)
{
    struct sl_record *rs[2] = {sample(3, 15, true), sample(3, 16, false)};
    assert_string_equal(sl_record_text(rs[0])->id, "orders-3:15");
    assert_int_equal(rs[0]->seq, 15);
    assert_int_equal(rs[0]->time_ms, 1545084650987);
    json_t *c = json_loads(sl_record_text(rs[0])->coords, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(c, "topic")), "orders");
    assert_int_equal(json_integer_value(json_object_get(c, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(c, "offset")), 15);
    json_decref(c);

    json_t *ev = encode(rs, 2, SL_CFG_FORMAT_LAMBDA);
    assert_string_equal(json_string_value(json_object_get(ev, "eventSource")), "SelfManagedKafka");
    assert_string_equal(json_string_value(json_object_get(ev, "bootstrapServers")),
                        "b-1:9092,b-2:9092");
    assert_null(json_object_get(ev, "eventSourceArn"));
    json_t *recs = json_object_get(ev, "records");
    assert_int_equal(json_object_size(recs), 1);
    json_t *arr = json_object_get(recs, "orders-3");
    assert_int_equal(json_array_size(arr), 2);
    json_t *r = json_array_get(arr, 0);
    assert_int_equal(json_object_size(r), 8);
    assert_string_equal(json_string_value(json_object_get(r, "topic")), "orders");
    assert_int_equal(json_integer_value(json_object_get(r, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "offset")), 15);
    assert_int_equal(json_integer_value(json_object_get(r, "timestamp")), 1545084650987);
    assert_string_equal(json_string_value(json_object_get(r, "timestampType")), "CREATE_TIME");
    assert_string_equal(json_string_value(json_object_get(r, "key")), "b3JkZXItMQ==");
    assert_string_equal(json_string_value(json_object_get(r, "value")), "eyJuIjoxfQ==");
    json_t *h = json_object_get(r, "headers");
    assert_int_equal(json_array_size(h), 2);
    json_t *bin = json_object_get(json_array_get(h, 1), "h-bin");
    assert_int_equal(json_integer_value(json_array_get(bin, 0)), -1);
    assert_int_equal(json_integer_value(json_array_get(bin, 1)), 0);
    assert_int_equal(json_integer_value(json_array_get(bin, 2)), -128);
    assert_int_equal(json_integer_value(json_array_get(bin, 3)), 127);
    json_t *txt = json_object_get(json_array_get(h, 0), "h-text");
    assert_int_equal(json_integer_value(json_array_get(txt, 0)), 'a');
    /* A null key is absent. */
    assert_null(json_object_get(json_array_get(arr, 1), "key"));
    json_decref(ev);

    json_t *raw = encode(rs, 2, SL_CFG_FORMAT_RAW);
    assert_true(json_is_array(raw));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(raw, 1), "offset")), 16);
    json_decref(raw);
    sl_record_free(rs[0]);
    sl_record_free(rs[1]);
}

/* A record rebuilt from a DLQ entry has re-encoded attrs: the parsed path gives the same
 * event. */
static void test_parsed_path_matches(void **state)
{
    struct sl_record *r = sample(0, 7, true);
    const struct sl_text_record *t = sl_record_text(r);
    json_t *a = json_loads(t->attrs, 0, NULL);
    json_object_del(a, "bootstrapServers");
    json_object_set_new(a, "bootstrapServers", json_string("b-1:9092,b-2:9092"));
    char *text = json_dumps(a, JSON_INDENT(1));
    struct sl_record *r2 = sl_record_new(t->id, text, t->coords, r->body, r->body_len);
    free(text);
    json_decref(a);
    json_t *e1 = encode(&r, 1, SL_CFG_FORMAT_LAMBDA);
    json_t *e2 = encode(&r2, 1, SL_CFG_FORMAT_LAMBDA);
    assert_true(json_equal(e1, e2));
    json_decref(e1);
    json_decref(e2);
    /* Mixed partitions (redrive) are grouped by key. */
    struct sl_record *mix[3] = {r, sample(1, 3, false), r2};
    json_t *e3 = encode(mix, 3, SL_CFG_FORMAT_LAMBDA);
    assert_int_equal(json_array_size(json_object_get(json_object_get(e3, "records"), "orders-0")),
                     2);
    assert_int_equal(json_array_size(json_object_get(json_object_get(e3, "records"), "orders-1")),
                     1);
    json_decref(e3);
    sl_record_free(mix[1]);
    sl_record_free(r);
    sl_record_free(r2);
}

static void test_filter_view(void **state)
{
    struct sl_record *r = sample(2, 9, true);
    struct sl_fview fv;
    assert_true(sl_kafka_filter_view(r, &fv));
    json_t *v = sl_fview_json(&fv);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "value"), "n")), 1);
    assert_int_equal(json_integer_value(json_object_get(v, "partition")), 2);
    assert_string_equal(json_string_value(json_object_get(v, "topic")), "orders");
    assert_null(json_object_get(v, "bootstrapServers"));
    json_decref(v);
    sl_record_free(r);
}

/* A tombstone (no value) is "value": null in the event and the filter view; an empty value
 * is "", as Lambda gives them. */
static void test_tombstone_vs_empty_value(void **state)
{
    struct sl_record *rs[2];
    for (int i = 0; i < 2; i++)
        rs[i] = sl_kafka_record_build("orders", 0, i, 1545084650987, RD_KAFKA_TIMESTAMP_CREATE_TIME,
                                      "k", 1, i ? "" : NULL, 0, NULL, NULL, NULL, 0, "b:9092");
    assert_null(rs[0]->body);
    assert_non_null(rs[1]->body);
    json_t *ev = encode(rs, 2, SL_CFG_FORMAT_LAMBDA);
    json_t *arr = json_object_get(json_object_get(ev, "records"), "orders-0");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 0), "value")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "value")), "");
    json_decref(ev);
    json_t *raw = encode(rs, 2, SL_CFG_FORMAT_RAW);
    assert_true(json_is_null(json_object_get(json_array_get(raw, 0), "value")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(raw, 1), "value")), "");
    json_decref(raw);
    for (int i = 0; i < 2; i++) {
        struct sl_fview fv;
        assert_true(sl_kafka_filter_view(rs[i], &fv));
        json_t *v = sl_fview_json(&fv);
        json_t *val = json_object_get(v, "value");
        if (i == 0)
            assert_true(json_is_null(val));
        else
            assert_string_equal(json_string_value(val), "");
        json_decref(v);
        sl_record_free(rs[i]);
    }
}

/* The encoder reserves room once per record and writes unchecked: whatever the buffer held
 * before (so the reservation ends at every possible place against the buffer's capacity), a
 * tombstone and an empty value encode whole, and under ASan nothing writes past the buffer. */
static void test_encode_fits_at_every_buffer_offset(void **state)
{
    struct sl_record *rs[2];
    for (int i = 0; i < 2; i++)
        rs[i] = sl_kafka_record_build("orders", 0, i, 1545084650987, RD_KAFKA_TIMESTAMP_CREATE_TIME,
                                      NULL, 0, i ? "" : NULL, 0, NULL, NULL, NULL, 0, "b:9092");
    char fill[600];
    memset(fill, ' ', sizeof(fill));
    for (size_t pre = 0; pre < sizeof(fill); pre++) {
        for (int i = 0; i < 2; i++) {
            struct sl_buf out;
            sl_buf_init(&out);
            sl_buf_append(&out, fill, pre);
            sl_kafka_encode("src", &rs[i], 1, SL_CFG_FORMAT_RAW, &out);
            json_t *arr = json_loads(out.data, 0, NULL);
            assert_non_null(arr);
            json_t *v = json_object_get(json_array_get(arr, 0), "value");
            assert_true(i ? json_is_string(v) : json_is_null(v));
            json_decref(arr);
            sl_buf_release(&out);
        }
    }
    for (int i = 0; i < 2; i++)
        sl_record_free(rs[i]);
}

/* A typed record (as read from librdkafka) writes its text forms from its parts and matches
 * Lambda's partial batch identifiers. */
static void test_typed_record_ops(void **state)
{
    struct sl_kafka_source k = {.bootstrap_json = "\"b:9092\""};
    struct sl_kafka_part p = {.k = &k,
                              .topic = "or-ders",
                              .partition = 3,
                              .topic_json = "\"or-ders\"",
                              .group_json = "\"or-ders-3\""};
    struct sl_kafka_record kr = {.base = {.ops = &sl_kafka_record_ops, .seq = 15}, .p = &p};
    struct sl_record *r = &kr.base;
    struct sl_buf b;
    sl_buf_init(&b);
    assert_string_equal(sl_record_id_text(r, &b), "or-ders-3:15");
    sl_buf_reset(&b);
    r->ops->write_coords(r, &b);
    assert_string_equal(b.data, "{\"topic\":\"or-ders\",\"partition\":3,\"offset\":15}");
    sl_buf_release(&b);
    static const char *const yes[] = {
        "{\"partition\":\"or-ders-3\",\"offset\":15}",
        "{\"partition\":\"or-ders-3\",\"offset\":\"15\"}",
        "\"or-ders-3:15\"",
    };
    static const char *const no[] = {
        "{\"partition\":\"or-ders-3\",\"offset\":16}",
        "{\"partition\":\"or-ders-4\",\"offset\":15}",
        "{\"partition\":\"or-ders-3x\",\"offset\":15}",
        "{\"partition\":\"orders-3\",\"offset\":15}",
        "{\"partition\":\"or-ders-3\",\"offset\":\"15x\"}",
        "{\"partition\":\"or-ders-3\"}",
        "{\"partition\":3,\"offset\":15}",
        "\"or-ders-3:16\"",
        "15",
        "null",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        json_t *id = json_loads(yes[i], JSON_DECODE_ANY, NULL);
        assert_true(r->ops->matches(r, id));
        json_decref(id);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        json_t *id = json_loads(no[i], JSON_DECODE_ANY, NULL);
        if (r->ops->matches(r, id))
            fail_msg("%s matched", no[i]);
        json_decref(id);
    }
}

/* ---- config ---- */

static int create_from(const char *yaml, struct sl_err *err)
{
    struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = sl_config_load_text(yaml, strlen(yaml), false, "k.yaml", &cfg, err);
    if (rc == 0) {
        struct sl_metrics *mx = sl_metrics_create();
        struct sl_env env = {.cfg = &cfg, .metrics = mx};
        struct sl_source *s = NULL;
        rc = sl_source_kafka_ops.create(&env, SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0),
                                        &s, err);
        if (rc == 0) {
            struct sl_buf b;
            struct sl_jw w;
            sl_buf_init(&b);
            sl_jw_init(&w, &b);
            s->ops->describe(s, &w);
            assert_null(strstr(b.data, "hunter2"));
            if (strstr(yaml, "hunter2"))
                assert_non_null(strstr(b.data, "\"sasl.password\":\"(secret)\""));
            sl_buf_release(&b);
            s->ops->destroy(s);
        }
        sl_metrics_destroy(mx);
    }
    sl_config_release(&cfg);
    return rc;
}

#define HEAD                                                                                       \
    "functions: [{name: fn, type: http, url: \"http://127.0.0.1:1/x\"}]\n"                         \
    "mappings: [{name: m, source: k, function: fn}]\n"                                             \
    "sources:\n  - name: k\n    type: kafka\n    bootstrap_servers: \"127.0.0.1:1\"\n"

static void test_config(void **state)
{
    struct sl_err err;
    assert_int_equal(
        create_from(HEAD "    topics: [a]\n    rdkafka: {sasl.password: hunter2}\n", &err), 0);
    assert_int_equal(create_from(HEAD "    rdkafka: {client.id: x}\n", &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "sources[0]: no topics"));
    assert_int_equal(create_from(HEAD "    topics: [a]\n    rdkafka: {foo.bar: 1}\n", &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "k.yaml: sources[0].rdkafka.foo.bar: not a librdkafka"));
    assert_int_equal(create_from(HEAD "    topics: [a]\n    rdkafka: {sasl.password: hunter2, "
                                      "session.timeout.ms: 1}\n",
                                 &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "use sources[0].session_timeout"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(create_from(HEAD "    topics: [a]\n    starting_position: at\n", &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "starting_timestamp: missing"));
    assert_int_equal(create_from(HEAD "    topics: [a]\n    starting_position: at\n"
                                      "    starting_timestamp: \"2026-01-01T00:00:00Z\"\n",
                                 &err),
                     0);
    assert_true(sl_kafka_secret_key("ssl.key.password"));
    assert_true(sl_kafka_secret_key("sasl.oauthbearer.client.secret"));
    assert_false(sl_kafka_secret_key("client.id"));
}

static void conf_expect(const struct sl_kafka_cfg *c, uint64_t inflight, const char *key,
                        const char *want)
{
    rd_kafka_conf_t *conf = NULL;
    struct sl_err err;
    char got[64];
    size_t n = sizeof(got);
    assert_int_equal(sl_kafka_conf_build(c, "k.yaml", "sources[0]", "g", inflight, &conf, &err), 0);
    assert_int_equal(rd_kafka_conf_get(conf, key, got, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(got, want);
    rd_kafka_conf_destroy(conf);
}

/* librdkafka's prefetch follows the mapping's byte cap unless the user sets it, and its record
 * count threshold (which stalls fetching for a second before librdkafka 2.2) is out of the way. */
static void test_prefetch_follows_caps(void **state)
{
    struct sl_kafka_cfg c = {.bootstrap_servers = "127.0.0.1:9092", .session_timeout_ms = 10000};
    conf_expect(&c, 64ull << 20, "queued.max.messages.kbytes", "4096");
    conf_expect(&c, 64ull << 20, "fetch.max.bytes", "2097152");
    conf_expect(&c, 64ull << 20, "queued.min.messages", "10000000");
    conf_expect(&c, 1ull << 30, "queued.max.messages.kbytes", "65536");
    conf_expect(&c, 1ull << 30, "fetch.max.bytes", "33554432");
    conf_expect(&c, 1ull << 20, "queued.max.messages.kbytes", "1024");
    conf_expect(&c, 1ull << 20, "fetch.max.bytes", "1048576");
    char *keys[] = {"queued.max.messages.kbytes"}, *vals[] = {"777"};
    c.rdkafka.keys = keys;
    c.rdkafka.vals = vals;
    c.rdkafka.n = 1;
    conf_expect(&c, 64ull << 20, "queued.max.messages.kbytes", "777");
}

/* librdkafka properties that name files are read from the config file's folder, as store.dir. */
static void test_rdkafka_paths_from_config_folder(void **state)
{
    struct sl_config cfg = {.dir = "/etc/sluice"};
    const char *keys[] = {"ssl.ca.location",          "ssl.ca.location",      "ssl.key.location",
                          "ssl.certificate.location", "sasl.kerberos.keytab", "client.id",
                          "ssl.crl.location"};
    const char *vals[] = {"certs/ca.pem", "probe", "/abs/key.pem", "./me.pem",
                          "k.keytab",     "a/b",   "crl.pem"};
    const char *want[] = {
        "/etc/sluice/certs/ca.pem", "probe", "/abs/key.pem",       "/etc/sluice/me.pem",
        "/etc/sluice/k.keytab",     "a/b",   "/etc/sluice/crl.pem"};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    struct sl_strmap m = {
        .keys = sl_calloc(n, sizeof(char *)), .vals = sl_calloc(n, sizeof(char *)), .n = n};
    for (size_t i = 0; i < n; i++) {
        m.keys[i] = sl_strdup(keys[i]);
        m.vals[i] = sl_strdup(vals[i]);
    }
    sl_kafka_conf_paths(&cfg, &m);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(m.vals[i], want[i]);
        free(m.keys[i]);
        free(m.vals[i]);
    }
    /* No folder (text from memory): as written. */
    m.n = 1;
    m.keys[0] = sl_strdup("ssl.ca.location");
    m.vals[0] = sl_strdup("certs/ca.pem");
    sl_kafka_conf_paths(&(struct sl_config){0}, &m);
    assert_string_equal(m.vals[0], "certs/ca.pem");
    free(m.keys[0]);
    free(m.vals[0]);
    free(m.keys);
    free(m.vals);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_in_order),
        cmocka_unit_test(test_window_out_of_order_and_gaps),
        cmocka_unit_test(test_window_wraps_and_grows),
        cmocka_unit_test(test_record_and_event_shape),
        cmocka_unit_test(test_parsed_path_matches),
        cmocka_unit_test(test_filter_view),
        cmocka_unit_test(test_tombstone_vs_empty_value),
        cmocka_unit_test(test_encode_fits_at_every_buffer_offset),
        cmocka_unit_test(test_typed_record_ops),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_prefetch_follows_caps),
        cmocka_unit_test(test_rdkafka_paths_from_config_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
