/* The kafka DLQ sink without a broker: ids, message values (original and Lambda's on-failure
 * record), the original key, config errors and the calls that need no cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/mem.h"
#include "dlq/kafka/kafka.h"
#include "dlq/kafka/kafka_int.h"

static void entry(struct sl_dlq_entry *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", "0b7f5c1e-3c55-4b8e-9d0e-8d5b0d4f1a2b");
    e->mapping = sl_strdup("m");
    e->function = sl_strdup("fn");
    e->source = sl_strdup("events");
    e->source_type = sl_strdup("kafka");
    e->record_id = sl_strdup("orders-3:15");
    e->coords = sl_strdup("{\"topic\":\"orders\",\"partition\":3,\"offset\":15}");
    e->attrs = sl_strdup("{\"bootstrapServers\":\"b:9092\",\"topic\":\"orders\",\"partition\":3,"
                         "\"offset\":15,\"timestamp\":1545084650987,\"timestampType\":"
                         "\"CREATE_TIME\",\"key\":\"b3JkZXItMQ==\",\"headers\":[]}");
    e->payload = sl_memdup("{\"n\":1}", 7);
    e->payload_len = 7;
    e->record_time_ms = 1545084650987;
    e->created_ms = 1545084660000;
    e->first_failure_ms = e->last_failure_ms = 1545084655000;
    e->condition = sl_strdup(SL_COND_RETRIES_EXHAUSTED);
    struct sl_dlq_attempt a = {.time_ms = 1545084655000,
                               .status = 200,
                               .outcome = "retry",
                               .error = "function error: Unhandled",
                               .function_error = "Unhandled"};
    sl_dlq_entry_add_attempt(e, &a);
}

static void test_ids(void **state)
{
    int32_t p;
    int64_t o;
    assert_int_equal(sl_kdlq_parse_id("3:15", &p, &o), 0);
    assert_int_equal(p, 3);
    assert_int_equal(o, 15);
    assert_int_equal(sl_kdlq_parse_id("0b7f5c1e-3c55-4b8e-9d0e-8d5b0d4f1a2b", &p, &o), -EINVAL);
    assert_int_equal(sl_kdlq_parse_id("3:", &p, &o), -EINVAL);
    assert_int_equal(sl_kdlq_parse_id(":1", &p, &o), -EINVAL);
    assert_int_equal(sl_kdlq_parse_id("-1:1", &p, &o), -EINVAL);
    assert_int_equal(sl_kdlq_parse_id("1:2x", &p, &o), -EINVAL);
    assert_int_equal(sl_kdlq_parse_id(NULL, &p, &o), -EINVAL);
}

static void test_values(void **state)
{
    struct sl_dlq_entry e;
    entry(&e);
    struct sl_buf v, doc;
    bool omitted;
    sl_buf_init(&v);
    sl_buf_init(&doc);
    sl_kdlq_build(&e, SL_KDLQ_VALUE_ORIGINAL, 1000000, &v, &doc, &omitted);
    assert_false(omitted);
    assert_int_equal(v.len, 7);
    assert_memory_equal(v.data, "{\"n\":1}", 7);
    /* The header's entry reads back to the same document. */
    struct sl_dlq_entry back;
    assert_int_equal(sl_dlq_entry_from_json(doc.data, doc.len, &back, NULL), 0);
    assert_string_equal(back.record_id, "orders-3:15");
    sl_dlq_entry_release(&back);

    sl_buf_reset(&v);
    sl_buf_reset(&doc);
    sl_kdlq_build(&e, SL_KDLQ_VALUE_LAMBDA, 1000000, &v, &doc, &omitted);
    json_t *rec = json_loadb(v.data, v.len, 0, NULL);
    assert_non_null(rec);
    json_t *rc = json_object_get(rec, "requestContext");
    assert_string_equal(json_string_value(json_object_get(rc, "condition")),
                        "RetryAttemptsExhausted");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "responseContext"),
                                                          "functionError")),
                        "Unhandled");
    json_t *info = json_object_get(rec, "KafkaBatchInfo");
    assert_int_equal(json_integer_value(json_object_get(info, "batchSize")), 1);
    assert_string_equal(json_string_value(json_object_get(info, "bootstrapServers")), "b:9092");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(info, "recordInfo"), "offset")), "15");
    json_t *ev = json_object_get(rec, "payload");
    assert_string_equal(json_string_value(json_object_get(ev, "eventSource")), "SelfManagedKafka");
    json_t *r = json_array_get(json_object_get(json_object_get(ev, "records"), "orders-3"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "value")), "eyJuIjoxfQ==");
    assert_null(json_object_get(r, "bootstrapServers"));
    json_decref(rec);

    /* Over the message limit: the payload is left out, the metadata kept. */
    sl_buf_reset(&v);
    sl_buf_reset(&doc);
    sl_kdlq_build(&e, SL_KDLQ_VALUE_ORIGINAL, 2000, &v, &doc, &omitted);
    assert_true(omitted);
    assert_int_equal(v.len, 0);
    assert_int_equal(sl_dlq_entry_from_json(doc.data, doc.len, &back, NULL), 0);
    assert_int_equal(back.payload_len, 0);
    assert_string_equal(back.condition, "RetryAttemptsExhausted");
    sl_dlq_entry_release(&back);

    /* A tombstone's entry (no payload): an empty original value, a null lambda value. */
    free(e.payload);
    e.payload = NULL;
    e.payload_len = 0;
    sl_buf_reset(&v);
    sl_buf_reset(&doc);
    sl_kdlq_build(&e, SL_KDLQ_VALUE_ORIGINAL, 1000000, &v, &doc, &omitted);
    assert_int_equal(v.len, 0);
    assert_int_equal(sl_dlq_entry_from_json(doc.data, doc.len, &back, NULL), 0);
    assert_null(back.payload);
    sl_dlq_entry_release(&back);
    sl_buf_reset(&v);
    sl_buf_reset(&doc);
    sl_kdlq_build(&e, SL_KDLQ_VALUE_LAMBDA, 1000000, &v, &doc, &omitted);
    rec = json_loadb(v.data, v.len, 0, NULL);
    r = json_array_get(
        json_object_get(json_object_get(json_object_get(rec, "payload"), "records"), "orders-3"),
        0);
    assert_true(json_is_null(json_object_get(r, "value")));
    json_decref(rec);

    size_t klen = 0;
    char *key = sl_kdlq_key(&e, &klen);
    assert_int_equal(klen, 7);
    assert_memory_equal(key, "order-1", 7);
    free(key);
    free(e.attrs);
    e.attrs = sl_strdup("{\"topic\":\"orders\"}");
    assert_null(sl_kdlq_key(&e, &klen));
    sl_buf_release(&v);
    sl_buf_release(&doc);
    sl_dlq_entry_release(&e);
}

static int create_from(const char *yaml, struct sl_dlq **out, struct sl_config *cfg,
                       struct sl_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    int rc = sl_config_load_text(yaml, strlen(yaml), false, "d.yaml", cfg, err);
    if (rc < 0)
        return rc;
    struct sl_env env = {.cfg = cfg};
    return sl_dlq_kafka_ops.create(&env, SL_OBJLIST_AT(cfg->dlqs, struct sl_cfg_typed, 0), out,
                                   err);
}

#define HEAD                                                                                       \
    "functions: [{name: fn, type: http, url: \"http://127.0.0.1:1/x\"}]\n"                         \
    "sources: [{name: s, type: http}]\n"                                                           \
    "mappings: [{name: m, source: s, function: fn, dlq: k}]\n"                                     \
    "dlqs:\n  - name: k\n    type: kafka\n    bootstrap_servers: \"127.0.0.1:1\"\n"

static int done_calls;

static void done_cb(int status, void *arg)
{
    done_calls++;
}

static void test_config_and_offline_calls(void **state)
{
    struct sl_err err;
    struct sl_config cfg;
    struct sl_dlq *d = NULL;
    assert_int_equal(create_from(HEAD "    rdkafka: {x.y: 1}\n", &d, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "topic"));
    sl_config_release(&cfg);
    assert_int_equal(create_from(HEAD "    topic: t\n    rdkafka: {x.y: 1}\n", &d, &cfg, &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "d.yaml: dlqs[0].rdkafka.x.y: not a librdkafka property"));
    sl_config_release(&cfg);
    assert_int_equal(create_from(HEAD "    topic: t\n    rdkafka: {acks: \"1\"}\n", &d, &cfg, &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "dlqs[0].rdkafka.acks: set by sluice"));
    sl_config_release(&cfg);

    assert_int_equal(create_from(HEAD "    topic: t\n    value_format: lambda\n"
                                      "    rdkafka: {sasl.password: hunter2}\n",
                                 &d, &cfg, &err),
                     0);
    struct sl_dlq_entry e;
    entry(&e);
    /* Not open: put fails and its callback never fires. */
    assert_true(d->ops->put(d, &e, done_cb, NULL) < 0);
    assert_int_equal(done_calls, 0);
    /* An entry id no listing has seen has no place to remove (no cluster needed). */
    assert_int_equal(d->ops->remove(d, "0b7f5c1e-3c55-4b8e-9d0e-8d5b0d4f1a2b", done_cb, NULL),
                     SL_ENOTFOUND);
    assert_int_equal(d->ops->depth(d, NULL), -1);
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    d->ops->describe(d, &w);
    assert_null(strstr(b.data, "hunter2"));
    assert_non_null(strstr(b.data, "\"groupId\":\"sluice-dlq-k\""));
    assert_non_null(strstr(b.data, "\"valueFormat\":\"lambda\""));
    sl_buf_release(&b);
    sl_dlq_entry_release(&e);
    d->ops->destroy(d);
    sl_dlq_kafka_ops.destroy(NULL);
    sl_config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_config_and_offline_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
