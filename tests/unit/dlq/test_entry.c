/* DLQ entries: the canonical JSON document, its round trip, the on-failure record, response
 * excerpts and the rejection of malformed documents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/utf8.h"
#include "dlq/dlq.h"

#define T0 1767323045678LL /* 2026-01-02T03:04:05.678Z */

static void add_attempt(struct sl_dlq_entry *e, int64_t t, int status, const char *outcome,
                        const char *error, const char *ferr, const char *resp)
{
    struct sl_dlq_attempt a = {
        .time_ms = t,
        .duration_ms = 12,
        .status = status,
        .outcome = (char *)outcome,
        .error = (char *)error,
        .function_error = (char *)ferr,
        .response = (char *)resp,
        .response_len = resp ? strlen(resp) : 0,
    };
    sl_dlq_entry_add_attempt(e, &a);
}

static void full_entry(struct sl_dlq_entry *e)
{
    memset(e, 0, sizeof(*e));
    strcpy(e->id, "0f8e1c2a-1111-4222-8333-944445555666");
    e->mapping = sl_strdup("orders-to-billing");
    e->function = sl_strdup("billing");
    e->source = sl_strdup("orders");
    e->source_type = sl_strdup("http");
    e->coords = sl_strdup("{\"hook\":\"orders\",\"seq\":42}");
    e->attrs = sl_strdup("{\"headers\":{\"content-type\":\"application/json\"}}");
    e->record_id = sl_strdup("rec-42");
    e->payload = sl_strdup("{\"order\":\"caf\xc3\xa9 \\\"quoted\\\"\",\"n\":1}\n\ttab");
    e->payload_len = strlen(e->payload);
    e->record_time_ms = T0 - 5000;
    e->first_failure_ms = T0 - 4000;
    e->last_failure_ms = T0 - 1000;
    e->created_ms = T0;
    e->condition = sl_strdup(SL_COND_RETRIES_EXHAUSTED);
    add_attempt(e, T0 - 4000, 500, "retry", "HTTP 500", "Unhandled", "{\"errorMessage\":\"boom\"}");
    add_attempt(e, T0 - 2500, 0, "retry", "timeout", NULL, NULL);
    add_attempt(e, T0 - 1000, 502, "fail", "HTTP 502", "Handled", "bad gateway");
}

static void assert_str_eq_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_entries_equal(const struct sl_dlq_entry *a, const struct sl_dlq_entry *b)
{
    assert_string_equal(a->id, b->id);
    assert_str_eq_or_null(a->mapping, b->mapping);
    assert_str_eq_or_null(a->function, b->function);
    assert_str_eq_or_null(a->source, b->source);
    assert_str_eq_or_null(a->source_type, b->source_type);
    assert_str_eq_or_null(a->record_id, b->record_id);
    assert_str_eq_or_null(a->condition, b->condition);
    assert_int_equal(a->payload_len, b->payload_len);
    assert_memory_equal(a->payload, b->payload, a->payload_len);
    assert_int_equal(a->record_time_ms, b->record_time_ms);
    assert_int_equal(a->first_failure_ms, b->first_failure_ms);
    assert_int_equal(a->last_failure_ms, b->last_failure_ms);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->nattempts, b->nattempts);
    assert_int_equal(a->counts_known, b->counts_known);
    assert_int_equal(a->counted_attempts, b->counted_attempts);
    assert_int_equal(a->uncounted_attempts, b->uncounted_attempts);
    for (size_t i = 0; i < a->nattempts; i++) {
        const struct sl_dlq_attempt *x = &a->attempts[i], *y = &b->attempts[i];
        assert_int_equal(x->time_ms, y->time_ms);
        assert_int_equal(x->duration_ms, y->duration_ms);
        assert_int_equal(x->status, y->status);
        assert_str_eq_or_null(x->outcome, y->outcome);
        assert_str_eq_or_null(x->error, y->error);
        assert_str_eq_or_null(x->function_error, y->function_error);
        assert_int_equal(x->counted, y->counted);
        assert_int_equal(x->response_len, y->response_len);
        if (x->response || y->response) {
            assert_non_null(x->response);
            assert_non_null(y->response);
            assert_memory_equal(x->response, y->response, x->response_len);
        }
    }
}

/* to_json, from_json, to_json again: the two documents must be identical. */
static json_t *round_trip(const struct sl_dlq_entry *e, struct sl_dlq_entry *back)
{
    struct sl_buf a, b;
    sl_buf_init(&a);
    sl_buf_init(&b);
    sl_dlq_entry_to_json(e, &a);
    struct sl_err err = {0};
    int rc = sl_dlq_entry_from_json(a.data, a.len, back, &err);
    if (rc != 0)
        fail_msg("from_json: %s\n%s", err.msg, a.data);
    sl_dlq_entry_to_json(back, &b);
    assert_int_equal(a.len, b.len);
    assert_string_equal(a.data, b.data);
    json_error_t jerr;
    json_t *doc = json_loadb(a.data, a.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fail_msg("to_json wrote invalid JSON: %s\n%s", jerr.text, a.data);
    sl_buf_release(&a);
    sl_buf_release(&b);
    return doc;
}

static const char *jstr(json_t *doc, const char *path)
{
    json_t *v = doc;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static json_t *jget(json_t *doc, const char *path)
{
    json_t *v = doc;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return v;
}

static void test_round_trip_utf8(void **state)
{
    struct sl_dlq_entry e, back;
    full_entry(&e);
    json_t *doc = round_trip(&e, &back);
    assert_entries_equal(&e, &back);
    assert_string_equal(back.coords, e.coords);
    assert_string_equal(back.attrs, e.attrs);

    assert_string_equal(jstr(doc, "id"), e.id);
    assert_string_equal(jstr(doc, "payload"), e.payload);
    assert_null(jget(doc, "payloadBase64"));
    assert_string_equal(jstr(doc, "sourceType"), "http");
    assert_string_equal(jstr(doc, "createdAt"), "2026-01-02T03:04:05.678Z");
    assert_string_equal(jstr(doc, "recordTime"), "2026-01-02T03:04:00.678Z");
    assert_int_equal(json_integer_value(jget(doc, "coordinates.seq")), 42);
    assert_int_equal(json_integer_value(jget(doc, "attemptCount")), 3);
    json_t *attempts = jget(doc, "attempts");
    assert_int_equal(json_array_size(attempts), 3);
    json_t *a0 = json_array_get(attempts, 0);
    assert_string_equal(json_string_value(json_object_get(a0, "time")), "2026-01-02T03:04:01.678Z");
    assert_int_equal(json_integer_value(json_object_get(a0, "durationMs")), 12);
    assert_int_equal(json_integer_value(json_object_get(a0, "status")), 500);
    assert_string_equal(json_string_value(json_object_get(a0, "response")),
                        "{\"errorMessage\":\"boom\"}");
    json_t *a1 = json_array_get(attempts, 1);
    assert_true(json_is_null(json_object_get(a1, "functionError")));
    assert_true(json_is_null(json_object_get(a1, "response")));

    /* The on-failure record (docs/EVENTS.md, "Dead-letter entries"; Lambda's:
     * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). */
    assert_string_equal(jstr(doc, "onFailure.requestContext.requestId"), e.id);
    assert_string_equal(jstr(doc, "onFailure.requestContext.functionArn"), "billing");
    assert_string_equal(jstr(doc, "onFailure.requestContext.condition"), "RetryAttemptsExhausted");
    assert_int_equal(
        json_integer_value(jget(doc, "onFailure.requestContext.approximateInvokeCount")), 3);
    assert_int_equal(json_integer_value(jget(doc, "onFailure.responseContext.statusCode")), 502);
    assert_string_equal(jstr(doc, "onFailure.responseContext.executedVersion"), "$LATEST");
    assert_string_equal(jstr(doc, "onFailure.responseContext.functionError"), "Handled");
    assert_string_equal(jstr(doc, "onFailure.version"), "1.0");
    assert_string_equal(jstr(doc, "onFailure.timestamp"), jstr(doc, "createdAt"));
    json_decref(doc);
    sl_dlq_entry_release(&e);
    sl_dlq_entry_release(&back);
}

static void test_round_trip_binary(void **state)
{
    struct sl_dlq_entry e, back;
    full_entry(&e);
    free(e.payload);
    static const unsigned char bin[] = {0x00, 0xff, 0xfe, 'a', 0xc3, 0x28, 0x80, 0x00, 0x7f};
    e.payload = sl_memdup(bin, sizeof(bin));
    e.payload_len = sizeof(bin);
    json_t *doc = round_trip(&e, &back);
    assert_entries_equal(&e, &back);
    assert_null(jget(doc, "payload"));
    assert_string_equal(jstr(doc, "payloadBase64"), "AP/+YcMogAB/");
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* Valid UTF-8 with a NUL byte is binary too. */
    free(e.payload);
    e.payload = sl_memdup("a\0b", 3);
    e.payload_len = 3;
    doc = round_trip(&e, &back);
    assert_entries_equal(&e, &back);
    assert_non_null(jget(doc, "payloadBase64"));
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* An empty payload is the empty string... */
    free(e.payload);
    e.payload = sl_strdup("");
    e.payload_len = 0;
    doc = round_trip(&e, &back);
    assert_string_equal(jstr(doc, "payload"), "");
    assert_int_equal(back.payload_len, 0);
    assert_non_null(back.payload);
    json_decref(doc);
    sl_dlq_entry_release(&back);
    /* ...and none at all (a Kafka tombstone) is null, both ways. */
    free(e.payload);
    e.payload = NULL;
    doc = round_trip(&e, &back);
    assert_true(json_is_null(jget(doc, "payload")));
    assert_null(jget(doc, "payloadBase64"));
    assert_null(back.payload);
    assert_int_equal(back.payload_len, 0);
    json_decref(doc);
    sl_dlq_entry_release(&back);
    sl_dlq_entry_release(&e);
}

static void test_null_fields(void **state)
{
    struct sl_dlq_entry e = {0}, back;
    strcpy(e.id, "min-1");
    e.mapping = sl_strdup("m");
    e.condition = sl_strdup(SL_COND_TERMINAL);
    e.created_ms = T0;
    e.payload = sl_strdup("x");
    e.payload_len = 1;
    json_t *doc = round_trip(&e, &back);
    assert_true(json_is_null(jget(doc, "function")));
    assert_true(json_is_null(jget(doc, "source")));
    assert_true(json_is_null(jget(doc, "recordId")));
    assert_true(json_is_null(jget(doc, "recordTime")));
    assert_true(json_is_null(jget(doc, "firstFailureAt")));
    assert_true(json_is_object(jget(doc, "coordinates")));
    assert_int_equal(json_object_size(jget(doc, "coordinates")), 0);
    assert_int_equal(json_array_size(jget(doc, "attempts")), 0);
    /* No attempt: responseContext is null. */
    assert_true(json_is_null(jget(doc, "onFailure.responseContext")));
    assert_true(json_is_null(jget(doc, "onFailure.requestContext.functionArn")));
    assert_null(back.function);
    assert_null(back.source);
    assert_null(back.record_id);
    assert_int_equal(back.record_time_ms, 0);
    assert_string_equal(back.coords, "{}");
    assert_string_equal(back.attrs, "{}");
    assert_int_equal(back.nattempts, 0);
    json_decref(doc);
    sl_dlq_entry_release(&back);
    sl_dlq_entry_release(&e);
}

static void test_on_failure_conditions(void **state)
{
    struct sl_dlq_entry e, back;
    full_entry(&e);

    /* Age exceeded: no responseContext at all. */
    free(e.condition);
    e.condition = sl_strdup(SL_COND_AGE_EXCEEDED);
    json_t *doc = round_trip(&e, &back);
    json_t *of = jget(doc, "onFailure");
    assert_true(json_is_object(of));
    assert_null(json_object_get(of, "responseContext"));
    assert_string_equal(jstr(doc, "onFailure.requestContext.condition"), "RecordAgeExceeded");
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* Payload too large: responseContext null. */
    free(e.condition);
    e.condition = sl_strdup(SL_COND_PAYLOAD_TOO_LARGE);
    doc = round_trip(&e, &back);
    assert_true(json_is_null(jget(doc, "onFailure.responseContext")));
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* Partial batch failure: the last attempt has no function error -> null. */
    free(e.condition);
    e.condition = sl_strdup(SL_COND_RETRIES_EXHAUSTED);
    add_attempt(&e, T0 - 10, 200, "partial", "batchItemFailures", NULL, "{}");
    doc = round_trip(&e, &back);
    assert_int_equal(json_integer_value(jget(doc, "onFailure.responseContext.statusCode")), 200);
    assert_true(json_is_null(jget(doc, "onFailure.responseContext.functionError")));
    assert_int_equal(
        json_integer_value(jget(doc, "onFailure.requestContext.approximateInvokeCount")), 4);
    json_decref(doc);
    sl_dlq_entry_release(&back);
    sl_dlq_entry_release(&e);
}

static void test_embedded_objects_canonical(void **state)
{
    struct sl_dlq_entry e, back;
    full_entry(&e);
    free(e.coords);
    e.coords = sl_strdup("{ \"stream\" : \"s1\",\n \"id\": \"1-0\" , \"n\": [1, 2.5] }");
    free(e.attrs);
    e.attrs = sl_strdup("not json at all");
    json_t *doc = round_trip(&e, &back);
    assert_string_equal(back.coords, "{\"stream\":\"s1\",\"id\":\"1-0\",\"n\":[1,2.5]}");
    assert_string_equal(jstr(doc, "attributes.unparsed"), "not json at all");
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* Strings that are not UTF-8 are repaired so the document stays valid JSON. */
    free(e.source);
    e.source = sl_strdup("bad\xff name");
    doc = round_trip(&e, &back);
    assert_string_equal(back.source, "bad\xef\xbf\xbd name");
    json_decref(doc);
    sl_dlq_entry_release(&back);
    sl_dlq_entry_release(&e);
}

static void test_response_excerpt(void **state)
{
    struct sl_dlq_entry e = {0};
    /* Long UTF-8: cut on a character boundary within the cap. */
    size_t n = 5000;
    char *big = sl_malloc(n + 1);
    for (size_t i = 0; i < n; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[n] = '\0';
    add_attempt(&e, T0, 500, "retry", "x", NULL, big);
    assert_int_equal(e.attempts[0].response_len, SL_DLQ_RESPONSE_EXCERPT);
    assert_true(sl_utf8_valid(e.attempts[0].response, e.attempts[0].response_len));

    /* 1023 ASCII bytes then a 2-byte character: the character does not fit. */
    memset(big, 'a', 1023);
    memcpy(big + 1023, "\xc3\xa9", 3);
    add_attempt(&e, T0, 500, "retry", "x", NULL, big);
    assert_int_equal(e.attempts[1].response_len, 1023);
    assert_int_equal(strlen(e.attempts[1].response), 1023);
    free(big);

    /* Invalid bytes and NUL become U+FFFD. */
    struct sl_dlq_attempt a = {.time_ms = T0,
                               .response = "a\xff"
                                           "b\0c\xe2\x82",
                               .response_len = 7};
    sl_dlq_entry_add_attempt(&e, &a);
    assert_string_equal(e.attempts[2].response, "a\xef\xbf\xbd"
                                                "b\xef\xbf\xbd"
                                                "c\xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(e.attempts[2].response_len, strlen(e.attempts[2].response));

    /* An empty response stays an empty string (not null). */
    struct sl_dlq_attempt empty = {.time_ms = T0, .response = "", .response_len = 0};
    sl_dlq_entry_add_attempt(&e, &empty);
    assert_non_null(e.attempts[3].response);
    assert_int_equal(e.attempts[3].response_len, 0);
    assert_int_equal(e.nattempts, 4);
    sl_dlq_entry_release(&e);
    assert_int_equal(e.nattempts, 0);
    assert_null(e.attempts);
    sl_dlq_entry_release(NULL);
}

static void test_attempt_cap(void **state)
{
    struct sl_dlq_entry e = {0};
    for (int i = 0; i < SL_DLQ_MAX_ATTEMPTS + 5; i++)
        add_attempt(&e, T0 + i, 500, "retry", "e", NULL, NULL);
    assert_int_equal(e.nattempts, SL_DLQ_MAX_ATTEMPTS);
    /* The oldest went. */
    assert_int_equal(e.attempts[0].time_ms, T0 + 5);
    assert_int_equal(e.attempts[SL_DLQ_MAX_ATTEMPTS - 1].time_ms, T0 + SL_DLQ_MAX_ATTEMPTS + 4);
    sl_dlq_entry_release(&e);
}

/* Attempts that did not count toward max_attempts (bisect rounds, throttles) are kept apart:
 * per attempt ("counted") and in total (countedAttempts, uncountedAttempts), while attemptCount
 * keeps its meaning (the attempts listed). */
static void test_counted_and_uncounted_attempts(void **state)
{
    struct sl_dlq_entry e, back;
    full_entry(&e);
    e.attempts[0].counted = SL_DLQ_COUNTED_NO;
    e.attempts[1].counted = SL_DLQ_COUNTED_YES;
    e.attempts[2].counted = SL_DLQ_COUNTED_YES;
    e.counts_known = true;
    e.counted_attempts = 2;
    e.uncounted_attempts = 11; /* more than the attempts kept */
    json_t *doc = round_trip(&e, &back);
    assert_entries_equal(&e, &back);
    assert_int_equal(json_integer_value(jget(doc, "attemptCount")), 3);
    assert_int_equal(json_integer_value(jget(doc, "countedAttempts")), 2);
    assert_int_equal(json_integer_value(jget(doc, "uncountedAttempts")), 11);
    json_t *attempts = jget(doc, "attempts");
    assert_true(json_is_false(json_object_get(json_array_get(attempts, 0), "counted")));
    assert_true(json_is_true(json_object_get(json_array_get(attempts, 1), "counted")));
    /* Lambda's approximateInvokeCount counts every invocation. */
    assert_int_equal(
        json_integer_value(jget(doc, "onFailure.requestContext.approximateInvokeCount")), 13);
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* An entry written before the split: both unknown (null), attempts' "counted" null. */
    e.counts_known = false;
    e.counted_attempts = e.uncounted_attempts = 0;
    for (size_t i = 0; i < e.nattempts; i++)
        e.attempts[i].counted = SL_DLQ_COUNTED_UNKNOWN;
    doc = round_trip(&e, &back);
    assert_false(back.counts_known);
    assert_true(json_is_null(jget(doc, "countedAttempts")));
    assert_true(json_is_null(jget(doc, "uncountedAttempts")));
    assert_true(json_is_null(json_object_get(json_array_get(jget(doc, "attempts"), 0), "counted")));
    assert_int_equal(
        json_integer_value(jget(doc, "onFailure.requestContext.approximateInvokeCount")), 3);
    json_decref(doc);
    sl_dlq_entry_release(&e);
    sl_dlq_entry_release(&back);
}

/* The on-failure record carries Lambda's batch info for Kafka and (Kinesis-shaped) Redis
 * Streams records: https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html and
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html */
static void test_on_failure_batch_info(void **state)
{
    struct sl_dlq_entry e, back;
    full_entry(&e);
    free(e.source_type);
    free(e.coords);
    free(e.attrs);
    e.source_type = sl_strdup("kafka");
    e.coords = sl_strdup("{\"topic\":\"orders\",\"partition\":3,\"offset\":514}");
    e.attrs = sl_strdup("{\"bootstrapServers\":\"b1:9092,b2:9092\",\"topic\":\"orders\"}");
    json_t *doc = round_trip(&e, &back);
    assert_int_equal(json_integer_value(jget(doc, "onFailure.KafkaBatchInfo.batchSize")), 1);
    assert_string_equal(jstr(doc, "onFailure.KafkaBatchInfo.bootstrapServers"), "b1:9092,b2:9092");
    assert_int_equal(json_integer_value(jget(doc, "onFailure.KafkaBatchInfo.payloadSize")),
                     (json_int_t)e.payload_len);
    json_t *ri = json_object_get(jget(doc, "onFailure.KafkaBatchInfo.recordsInfo"), "orders-3");
    assert_non_null(ri);
    assert_string_equal(json_string_value(json_object_get(ri, "firstRecordOffset")), "514");
    assert_string_equal(json_string_value(json_object_get(ri, "lastRecordOffset")), "514");
    assert_string_equal(json_string_value(json_object_get(ri, "firstRecordTimestamp")),
                        "2026-01-02T03:04:00.678Z");
    assert_string_equal(json_string_value(json_object_get(ri, "lastRecordTimestamp")),
                        "2026-01-02T03:04:00.678Z");
    assert_null(jget(doc, "onFailure.KinesisBatchInfo"));
    json_decref(doc);
    sl_dlq_entry_release(&back);

    free(e.source_type);
    free(e.coords);
    free(e.attrs);
    e.source_type = sl_strdup("redis");
    e.coords = sl_strdup("{\"stream\":\"orders\",\"id\":\"1767323040678-0\",\"group\":\"g\"}");
    e.attrs = sl_strdup("{\"stream\":\"orders\",\"eventSourceARN\":\"sluice:redis:orders\"}");
    doc = round_trip(&e, &back);
    assert_string_equal(jstr(doc, "onFailure.KinesisBatchInfo.shardId"), "orders");
    assert_string_equal(jstr(doc, "onFailure.KinesisBatchInfo.startSequenceNumber"),
                        "1767323040678-0");
    assert_string_equal(jstr(doc, "onFailure.KinesisBatchInfo.endSequenceNumber"),
                        "1767323040678-0");
    assert_string_equal(jstr(doc, "onFailure.KinesisBatchInfo.approximateArrivalOfFirstRecord"),
                        "2026-01-02T03:04:00.678Z");
    assert_string_equal(jstr(doc, "onFailure.KinesisBatchInfo.approximateArrivalOfLastRecord"),
                        "2026-01-02T03:04:00.678Z");
    assert_int_equal(json_integer_value(jget(doc, "onFailure.KinesisBatchInfo.batchSize")), 1);
    assert_string_equal(jstr(doc, "onFailure.KinesisBatchInfo.streamArn"), "sluice:redis:orders");
    assert_null(jget(doc, "onFailure.KafkaBatchInfo"));
    json_decref(doc);
    sl_dlq_entry_release(&back);

    /* Webhooks have no Lambda analogue with batch info; broken coordinates give none either. */
    free(e.coords);
    e.coords = sl_strdup("{\"stream\":7}");
    doc = round_trip(&e, &back);
    assert_null(jget(doc, "onFailure.KinesisBatchInfo"));
    json_decref(doc);
    sl_dlq_entry_release(&back);
    sl_dlq_entry_release(&e);
    full_entry(&e);
    doc = round_trip(&e, &back);
    assert_null(jget(doc, "onFailure.KinesisBatchInfo"));
    assert_null(jget(doc, "onFailure.KafkaBatchInfo"));
    json_decref(doc);
    sl_dlq_entry_release(&back);
    sl_dlq_entry_release(&e);
}

static void test_hand_written_minimal(void **state)
{
    const char *doc = "{\"id\":\"x1\",\"mapping\":\"m\",\"condition\":\"TerminalError\","
                      "\"createdAt\":\"2026-01-01T00:00:00+01:00\",\"payload\":\"hi\","
                      "\"futureField\":{\"a\":1},\"attempts\":[{\"status\":404}]}";
    struct sl_dlq_entry e;
    struct sl_err err = {0};
    assert_int_equal(sl_dlq_entry_from_json(doc, strlen(doc), &e, &err), 0);
    assert_string_equal(e.id, "x1");
    assert_int_equal(e.created_ms, 1767222000000LL);
    assert_int_equal(e.payload_len, 2);
    assert_string_equal(e.coords, "{}");
    assert_int_equal(e.nattempts, 1);
    assert_int_equal(e.attempts[0].status, 404);
    assert_int_equal(e.attempts[0].time_ms, 0);
    assert_null(e.attempts[0].response);
    sl_dlq_entry_release(&e);
}

static void expect_rejected(const char *doc, const char *needle)
{
    struct sl_dlq_entry e;
    memset(&e, 0x5a, sizeof(e));
    struct sl_err err = {0};
    int rc = sl_dlq_entry_from_json(doc, strlen(doc), &e, &err);
    if (rc != SL_EPARSE)
        fail_msg("accepted (rc %d): %s", rc, doc);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\" for %s", err.msg, needle, doc);
    /* Left empty: releasing again is harmless. */
    assert_null(e.mapping);
    assert_null(e.payload);
    assert_int_equal(e.nattempts, 0);
    sl_dlq_entry_release(&e);
}

#define BASE "\"mapping\":\"m\",\"condition\":\"c\",\"createdAt\":\"2026-01-01T00:00:00Z\""

static void test_malformed_rejected(void **state)
{
    expect_rejected("", "invalid JSON");
    expect_rejected("{", "invalid JSON");
    expect_rejected("[]", "object");
    expect_rejected("null", NULL);
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"id\":\"b\"}", "invalid JSON");
    expect_rejected("{" BASE ",\"payload\":\"p\"}", "\"id\"");
    expect_rejected("{\"id\":7," BASE ",\"payload\":\"p\"}", "\"id\"");
    expect_rejected("{\"id\":\"has space\"," BASE ",\"payload\":\"p\"}", "\"id\"");
    expect_rejected("{\"id\":\"0123456789012345678901234567890123456789\"," BASE
                    ",\"payload\":\"p\"}",
                    "\"id\"");
    expect_rejected("{\"id\":\"a\",\"condition\":\"c\",\"createdAt\":\"2026-01-01T00:00:00Z\","
                    "\"payload\":\"p\"}",
                    "\"mapping\"");
    expect_rejected("{\"id\":\"a\",\"mapping\":1,\"condition\":\"c\",\"createdAt\":\"2026-01-01T00:"
                    "00:00Z\",\"payload\":\"p\"}",
                    "\"mapping\" must be a string");
    expect_rejected("{\"id\":\"a\",\"mapping\":\"\",\"condition\":\"c\",\"createdAt\":\"2026-01-"
                    "01T00:00:00Z\",\"payload\":\"p\"}",
                    "\"mapping\"");
    expect_rejected("{\"id\":\"a\"," BASE "}", "\"payload\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"payloadBase64\":\"cA==\"}",
                    "exclusive");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payloadBase64\":\"!!!\"}", "base64");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":5}", "\"payload\"");
    expect_rejected("{\"id\":\"a\",\"mapping\":\"m\",\"condition\":\"c\",\"createdAt\":"
                    "\"yesterday\",\"payload\":\"p\"}",
                    "\"createdAt\"");
    expect_rejected("{\"id\":\"a\",\"mapping\":\"m\",\"condition\":\"c\",\"createdAt\":\"-1h\","
                    "\"payload\":\"p\"}",
                    "\"createdAt\"");
    expect_rejected("{\"id\":\"a\",\"mapping\":\"m\",\"condition\":\"c\",\"payload\":\"p\"}",
                    "\"createdAt\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"recordTime\":12}",
                    "\"recordTime\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"coordinates\":\"s\"}",
                    "\"coordinates\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attributes\":[1]}",
                    "\"attributes\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attempts\":{}}", "\"attempts\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attempts\":[1]}", "attempts[0]");
    expect_rejected("{\"id\":\"a\"," BASE
                    ",\"payload\":\"p\",\"attempts\":[{},{\"status\":\"5\"}]}",
                    "attempts[1].\"status\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attempts\":[{\"status\":5000}]}",
                    "\"status\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attempts\":[{\"durationMs\":-1}]}",
                    "\"durationMs\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attempts\":[{\"error\":[]}]}",
                    "\"error\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attemptCount\":-1}",
                    "\"attemptCount\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"countedAttempts\":1}",
                    "go together");
    expect_rejected("{\"id\":\"a\"," BASE
                    ",\"payload\":\"p\",\"countedAttempts\":-1,\"uncountedAttempts\":0}",
                    "\"countedAttempts\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"attempts\":[{\"counted\":1}]}",
                    "\"counted\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"p\",\"onFailure\":5}", "\"onFailure\"");
    expect_rejected("{\"id\":\"a\"," BASE ",\"payload\":\"a\\u0000b\"}", "invalid JSON");

    /* Deep nesting is refused by the parser, not by the stack. */
    size_t depth = 100000;
    char *deep = sl_malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    expect_rejected(deep, NULL);
    free(deep);

    /* Larger than the cap: refused before parsing. */
    struct sl_dlq_entry e;
    struct sl_err err;
    assert_int_equal(sl_dlq_entry_from_json("{}", (size_t)SL_DLQ_ENTRY_MAX_JSON + 1, &e, &err),
                     SL_EPARSE);
    assert_int_equal(sl_dlq_entry_from_json(NULL, 0, &e, &err), SL_EPARSE);
}

/* Every prefix and many single-byte corruptions of a real document: never a crash. */
static void test_corrupted_documents(void **state)
{
    struct sl_dlq_entry e;
    full_entry(&e);
    struct sl_buf b;
    sl_buf_init(&b);
    sl_dlq_entry_to_json(&e, &b);
    sl_dlq_entry_release(&e);

    for (size_t len = 0; len < b.len; len++) {
        struct sl_dlq_entry x;
        struct sl_err err;
        char *copy = sl_memdup(b.data, len); /* exact size, so ASan sees any overread */
        assert_int_equal(sl_dlq_entry_from_json(copy, len, &x, &err), SL_EPARSE);
        free(copy);
    }
    static const char flips[] = {'"', '{', '}', '[', ']', ',', ':', '\\', '0', 'x', '\xff', ' '};
    size_t accepted = 0;
    for (size_t i = 0; i < b.len; i += 3) {
        for (size_t k = 0; k < sizeof(flips); k++) {
            char *copy = sl_memdup(b.data, b.len);
            copy[i] = flips[k];
            struct sl_dlq_entry x;
            struct sl_err err;
            if (sl_dlq_entry_from_json(copy, b.len, &x, &err) == 0) {
                accepted++;
                struct sl_buf again;
                sl_buf_init(&again);
                sl_dlq_entry_to_json(&x, &again);
                assert_true(again.len > 0);
                sl_buf_release(&again);
                sl_dlq_entry_release(&x);
            }
            free(copy);
        }
    }
    /* Some flips land in string contents and still parse; most do not. */
    assert_true(accepted > 0);
    sl_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_utf8),
        cmocka_unit_test(test_round_trip_binary),
        cmocka_unit_test(test_null_fields),
        cmocka_unit_test(test_on_failure_conditions),
        cmocka_unit_test(test_embedded_objects_canonical),
        cmocka_unit_test(test_response_excerpt),
        cmocka_unit_test(test_attempt_cap),
        cmocka_unit_test(test_counted_and_uncounted_attempts),
        cmocka_unit_test(test_on_failure_batch_info),
        cmocka_unit_test(test_hand_written_minimal),
        cmocka_unit_test(test_malformed_rejected),
        cmocka_unit_test(test_corrupted_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
