/* Outcome classification (partial batch responses:
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html;
 * statuses: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html) and Retry-After
 * parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatcher/target.h"

static struct sl_invoke partial_on = {.report_batch_item_failures = true};
static struct sl_invoke partial_off = {.report_batch_item_failures = false};

/* Classifies a 200 response body with partial batch responses on. */
static void classify_body(struct sl_outcome *o, const char *body, bool partial)
{
    sl_outcome_classify(o, 200, NULL, NULL, body, body ? strlen(body) : 0,
                        partial ? &partial_on : &partial_off, NULL);
}

static void assert_ok_body(const char *body)
{
    struct sl_outcome o;
    classify_body(&o, body, true);
    if (o.kind != SL_OUTCOME_OK)
        fail_msg("body %s: expected ok, got %s (%s)", body ? body : "(null)",
                 sl_outcome_kind_name(o.kind), o.error);
    assert_null(o.failures);
    assert_false(o.function_error);
    assert_true(o.reached_function);
    sl_outcome_release(&o);
}

static void assert_invalid_body(const char *body)
{
    struct sl_outcome o;
    classify_body(&o, body, true);
    if (o.kind != SL_OUTCOME_RETRY)
        fail_msg("body %s: expected retry, got %s", body, sl_outcome_kind_name(o.kind));
    assert_true(o.function_error);
    assert_true(o.reached_function);
    assert_string_equal(o.error, "invalid partial batch response");
    assert_null(o.failures);
    assert_int_equal(o.status, 200);
    sl_outcome_release(&o);
}

static void test_plain_2xx(void **state)
{
    struct sl_outcome o;
    const char *body = "{\"hello\":1}";
    sl_outcome_classify(&o, 200, NULL, NULL, body, strlen(body), &partial_off, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.retry_after_ms, -1);
    assert_true(o.reached_function);
    assert_false(o.function_error);
    assert_string_equal(o.error, "");
    assert_string_equal(o.function_error_type, "");
    assert_ptr_equal(o.response, body);
    assert_int_equal(o.response_len, strlen(body));
    assert_null(o.failures);
    sl_outcome_release(&o);

    for (int status = 200; status <= 299; status += 1) {
        sl_outcome_classify(&o, status, NULL, NULL, NULL, 0, NULL, NULL);
        assert_int_equal(o.kind, SL_OUTCOME_OK);
        assert_null(o.response);
        assert_int_equal(o.response_len, 0);
    }
}

static void test_function_error(void **state)
{
    struct sl_outcome o;
    const char *body = "{\"errorMessage\":\"boom\",\"errorType\":\"KeyError\"}";
    sl_outcome_classify(&o, 200, "Unhandled", NULL, body, strlen(body), &partial_off, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_true(o.function_error);
    assert_true(o.reached_function);
    assert_string_equal(o.function_error_type, "Unhandled");
    assert_string_equal(o.error, "function error: Unhandled");
    assert_ptr_equal(o.response, body);

    /* A function error wins over a partial batch response in the body. */
    const char *partial = "{\"batchItemFailures\":[{\"itemIdentifier\":\"a\"}]}";
    sl_outcome_classify(&o, 200, "Handled", NULL, partial, strlen(partial), &partial_on, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_null(o.failures);
    assert_string_equal(o.function_error_type, "Handled");

    /* Present but empty. */
    sl_outcome_classify(&o, 200, "", NULL, NULL, 0, NULL, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_true(o.function_error);
    assert_string_equal(o.error, "function error");

    /* A long type is cut, never overflowed. */
    char longtype[300];
    memset(longtype, 'x', sizeof(longtype) - 1);
    longtype[sizeof(longtype) - 1] = '\0';
    sl_outcome_classify(&o, 200, longtype, NULL, NULL, 0, NULL, NULL);
    assert_int_equal(strlen(o.function_error_type), sizeof(o.function_error_type) - 1);
    assert_true(strlen(o.error) < sizeof(o.error));
}

static void test_partial_success_cases(void **state)
{
    /* Counted as full success by Lambda: empty list, null list, {}, null. */
    assert_ok_body(NULL);
    assert_ok_body("");
    assert_ok_body("null");
    assert_ok_body("{}");
    assert_ok_body("{\"batchItemFailures\":null}");
    assert_ok_body("{\"batchItemFailures\":[]}");
    assert_ok_body("[]");
    /* Not JSON, or JSON that is not a partial batch response: a handler need not return one. */
    assert_ok_body("{not json");
    assert_ok_body("OK");
    assert_ok_body("\"done\"");
    assert_ok_body("42");
    assert_ok_body("{\"statusCode\":200,\"body\":\"x\"}");
    assert_ok_body("{\"batchItemFailures\":[]} trailing");
}

static void test_partial_invalid_cases(void **state)
{
    /* Counted as full failure: empty-string id, null id, wrong key name, bad entries. */
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}");
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":null}]}");
    assert_invalid_body("{\"batchItemFailures\":[{\"foo\":\"notvalid\"}]}");
    assert_invalid_body("{\"batchItemFailures\":[{}]}");
    assert_invalid_body("{\"batchItemFailures\":[null]}");
    assert_invalid_body("{\"batchItemFailures\":[\"id-1\"]}");
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":42}]}");
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":true}]}");
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":[\"a\"]}]}");
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":{}}]}");
    /* One bad entry after good ones fails the whole batch. */
    assert_invalid_body("{\"batchItemFailures\":[{\"itemIdentifier\":\"a\"},"
                        "{\"itemIdentifier\":\"\"}]}");
    /* batchItemFailures that is not a list. */
    assert_invalid_body("{\"batchItemFailures\":\"a\"}");
    assert_invalid_body("{\"batchItemFailures\":{}}");
    assert_invalid_body("{\"batchItemFailures\":5}");
    assert_invalid_body("{\"batchItemFailures\":false}");
}

static void test_partial_valid(void **state)
{
    struct sl_outcome o;
    classify_body(&o,
                  "{\"batchItemFailures\":[{\"itemIdentifier\":\"059f36b4\"},"
                  "{\"itemIdentifier\":\"b\",\"extra\":1}]}",
                  true);
    assert_int_equal(o.kind, SL_OUTCOME_PARTIAL);
    assert_false(o.function_error);
    assert_true(o.reached_function);
    assert_non_null(o.failures);
    assert_true(json_is_array(o.failures));
    assert_int_equal(json_array_size(o.failures), 2);
    assert_string_equal(json_string_value(json_array_get(o.failures, 0)), "059f36b4");
    assert_string_equal(json_string_value(json_array_get(o.failures, 1)), "b");
    assert_string_equal(o.error, "partial batch failure: 2 items");
    /* failures is a new reference that outlives the body's parse. */
    assert_int_equal(o.failures->refcount, 1);
    sl_outcome_release(&o);
    assert_null(o.failures);
    sl_outcome_release(&o); /* twice is harmless */
    sl_outcome_release(NULL);

    /* Kafka object identifiers. */
    classify_body(&o,
                  "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"t-0\","
                  "\"offset\":5}},{\"itemIdentifier\":\"plain\"}]}",
                  true);
    assert_int_equal(o.kind, SL_OUTCOME_PARTIAL);
    assert_int_equal(json_array_size(o.failures), 2);
    json_t *id = json_array_get(o.failures, 0);
    assert_true(json_is_object(id));
    assert_string_equal(json_string_value(json_object_get(id, "partition")), "t-0");
    assert_int_equal(json_integer_value(json_object_get(id, "offset")), 5);
    sl_outcome_release(&o);

    /* Only body_len bytes are read. */
    const char *padded = "{\"batchItemFailures\":[{\"itemIdentifier\":\"x\"}]}GARBAGE";
    sl_outcome_classify(&o, 200, NULL, NULL, padded, strlen(padded) - 7, &partial_on, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_PARTIAL);
    assert_int_equal(o.response_len, strlen(padded) - 7);
    sl_outcome_release(&o);

    /* Without report_batch_item_failures the same body is plain success. */
    classify_body(&o, "{\"batchItemFailures\":[{\"itemIdentifier\":\"a\"}]}", false);
    assert_int_equal(o.kind, SL_OUTCOME_OK);
    assert_null(o.failures);
    classify_body(&o, "{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}", false);
    assert_int_equal(o.kind, SL_OUTCOME_OK);
    /* NULL inv means defaults: partial responses off. */
    const char *b = "{\"batchItemFailures\":[{\"itemIdentifier\":\"a\"}]}";
    sl_outcome_classify(&o, 200, NULL, NULL, b, strlen(b), NULL, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_OK);
}

static void test_deep_json(void **state)
{
    /* Deep nesting must not crash the parser (jansson caps depth). */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    struct sl_outcome o;
    sl_outcome_classify(&o, 200, NULL, NULL, deep, n, &partial_on, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_OK);
    free(deep);
}

static void test_retryable_statuses(void **state)
{
    struct sl_outcome o;
    struct {
        int status;
        bool reached;
        const char *error;
    } cases[] = {
        {408, true, "HTTP 408"}, {429, false, "HTTP 429"}, {500, true, "HTTP 500"},
        {502, true, "HTTP 502"}, {503, false, "HTTP 503"}, {504, true, "HTTP 504"},
        {599, true, "HTTP 599"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_outcome_classify(&o, cases[i].status, NULL, NULL, "x", 1, &partial_on, NULL);
        assert_int_equal(o.kind, SL_OUTCOME_RETRY);
        assert_int_equal(o.status, cases[i].status);
        assert_int_equal(o.reached_function, cases[i].reached);
        assert_false(o.function_error);
        assert_int_equal(o.retry_after_ms, -1);
        assert_string_equal(o.error, cases[i].error);
    }
    /* 408 and 429 stay retryable even when listed as terminal. */
    int64_t all[] = {400, 404, 408, 429};
    struct sl_intlist terminal = {.v = all, .n = 4};
    struct sl_invoke inv = {.terminal_statuses = &terminal};
    sl_outcome_classify(&o, 429, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    sl_outcome_classify(&o, 408, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
}

static void test_retry_after_statuses(void **state)
{
    struct sl_outcome o;
    sl_outcome_classify(&o, 429, NULL, "2", NULL, 0, NULL, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_false(o.reached_function);
    assert_int_equal(o.retry_after_ms, 2000);
    assert_string_equal(o.error, "HTTP 429 (retry after 2000 ms)");

    sl_outcome_classify(&o, 503, NULL, "0", NULL, 0, NULL, NULL);
    assert_int_equal(o.retry_after_ms, 0);
    assert_false(o.reached_function);
    assert_string_equal(o.error, "HTTP 503 (retry after 0 ms)");

    sl_outcome_classify(&o, 429, NULL, "soon", NULL, 0, NULL, NULL);
    assert_int_equal(o.retry_after_ms, -1);
    assert_string_equal(o.error, "HTTP 429");

    /* Any status that carries it. */
    sl_outcome_classify(&o, 500, NULL, "7", NULL, 0, NULL, NULL);
    assert_int_equal(o.retry_after_ms, 7000);
    sl_outcome_classify(&o, 200, NULL, "3", NULL, 0, NULL, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_OK);
    assert_int_equal(o.retry_after_ms, 3000);
}

static void test_terminal_4xx(void **state)
{
    struct sl_outcome o;
    int statuses[] = {400, 401, 403, 404, 409, 410, 413, 415, 422, 499};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        sl_outcome_classify(&o, statuses[i], NULL, NULL, NULL, 0, NULL, NULL);
        assert_int_equal(o.kind, SL_OUTCOME_FAIL);
        assert_true(o.reached_function);
    }
    sl_outcome_classify(&o, 404, NULL, NULL, NULL, 0, NULL, NULL);
    assert_string_equal(o.error, "HTTP 404");

    /* An empty list means the default. */
    struct sl_intlist empty = {.v = NULL, .n = 0};
    struct sl_invoke inv = {.terminal_statuses = &empty};
    sl_outcome_classify(&o, 404, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_FAIL);

    int64_t only[] = {400, 413};
    struct sl_intlist list = {.v = only, .n = 2};
    inv.terminal_statuses = &list;
    sl_outcome_classify(&o, 400, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_FAIL);
    sl_outcome_classify(&o, 413, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_FAIL);
    sl_outcome_classify(&o, 404, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_string_equal(o.error, "HTTP 404");
    sl_outcome_classify(&o, 401, NULL, NULL, NULL, 0, &inv, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
}

static void test_unexpected_status(void **state)
{
    struct sl_outcome o;
    int statuses[] = {100, 101, 199, 300, 301, 304, 399, 600, 999, -5};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        sl_outcome_classify(&o, statuses[i], NULL, NULL, NULL, 0, NULL, NULL);
        assert_int_equal(o.kind, SL_OUTCOME_RETRY);
        assert_non_null(strstr(o.error, "unexpected status"));
    }
    sl_outcome_classify(&o, 302, NULL, NULL, NULL, 0, NULL, NULL);
    assert_string_equal(o.error, "unexpected status: HTTP 302");
}

static void test_transport_error(void **state)
{
    struct sl_outcome o;
    sl_outcome_classify(&o, 0, NULL, NULL, NULL, 0, &partial_on, "connection refused");
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "connection refused");
    assert_true(o.reached_function);
    assert_false(o.function_error);
    assert_int_equal(o.retry_after_ms, -1);

    sl_outcome_classify(&o, 0, "Unhandled", "5", NULL, 0, NULL, NULL);
    assert_int_equal(o.kind, SL_OUTCOME_RETRY);
    assert_string_equal(o.error, "transport error");
    assert_false(o.function_error);
    assert_int_equal(o.retry_after_ms, -1);

    char longmsg[1000];
    memset(longmsg, 'e', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    sl_outcome_classify(&o, 0, NULL, NULL, NULL, 0, NULL, longmsg);
    assert_int_equal(strlen(o.error), sizeof(o.error) - 1);
}

static void test_kind_names(void **state)
{
    assert_string_equal(sl_outcome_kind_name(SL_OUTCOME_OK), "ok");
    assert_string_equal(sl_outcome_kind_name(SL_OUTCOME_PARTIAL), "partial");
    assert_string_equal(sl_outcome_kind_name(SL_OUTCOME_RETRY), "retry");
    assert_string_equal(sl_outcome_kind_name(SL_OUTCOME_FAIL), "fail");
    assert_string_equal(sl_outcome_kind_name((enum sl_outcome_kind)42), "unknown");
}

static void test_retry_after_seconds(void **state)
{
    int64_t now = 1445412480000;
    assert_int_equal(sl_retry_after_parse("0", now), 0);
    assert_int_equal(sl_retry_after_parse("1", now), 1000);
    assert_int_equal(sl_retry_after_parse("120", now), 120000);
    assert_int_equal(sl_retry_after_parse("  3 ", now), 3000);
    assert_int_equal(sl_retry_after_parse("86400", now), 86400000);
    assert_int_equal(sl_retry_after_parse("-1", now), -1);
    assert_int_equal(sl_retry_after_parse("", now), -1);
    assert_int_equal(sl_retry_after_parse("   ", now), -1);
    assert_int_equal(sl_retry_after_parse(NULL, now), -1);
    assert_int_equal(sl_retry_after_parse("1.5", now), -1);
    assert_int_equal(sl_retry_after_parse("3a", now), -1);
    assert_int_equal(sl_retry_after_parse("abc", now), -1);
    assert_int_equal(sl_retry_after_parse("+3", now), -1);
    assert_int_equal(sl_retry_after_parse("99999999999999999999999", now), -1);
}

static int64_t utc_ms(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000;
}

static void test_retry_after_dates(void **state)
{
    int64_t at = utc_ms(2015, 10, 21, 7, 28, 0);
    assert_int_equal(at, 1445412480000);
    assert_int_equal(sl_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at - 5000), 5000);
    assert_int_equal(sl_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at), 0);
    /* In the past: retry now. */
    assert_int_equal(sl_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at + 60000), 0);
    assert_int_equal(sl_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", at), 0);

    /* Against timegm for a spread of dates (leap years, month ends, centuries). */
    struct {
        const char *text;
        int y, mon, d, h, mi, s;
    } dates[] = {
        {"Mon, 29 Feb 2016 00:00:00 GMT", 2016, 2, 29, 0, 0, 0},
        {"Tue, 29 Feb 2000 23:59:59 GMT", 2000, 2, 29, 23, 59, 59},
        {"Fri, 31 Dec 2100 12:00:00 GMT", 2100, 12, 31, 12, 0, 0},
        {"Thu, 01 Jan 1970 00:00:01 GMT", 1970, 1, 1, 0, 0, 1},
        {"Sat, 01 Mar 2036 10:11:12 GMT", 2036, 3, 1, 10, 11, 12},
    };
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        int64_t want =
            utc_ms(dates[i].y, dates[i].mon, dates[i].d, dates[i].h, dates[i].mi, dates[i].s);
        assert_int_equal(sl_retry_after_parse(dates[i].text, 0), want);
        assert_int_equal(sl_retry_after_parse(dates[i].text, want - 1234), 1234);
    }

    const char *bad[] = {
        "Wed, 32 Oct 2015 07:28:00 GMT",     "Wed, 21 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 07:28:00",         "Wed, 21 Oct 2015 07:28:00 UTC",
        "Sun, 29 Feb 2015 00:00:00 GMT",     "Wed, 21 Oct 2015 24:00:00 GMT",
        "Wed, 21 Oct 2015 07:60:00 GMT",     "Wed 21 Oct 2015 07:28:00 GMT",
        "Wednesday, 21-Oct-15 07:28:00 GMT", "Wed, 1 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 07:28:00 GMT x",   "Xyz, 21 Oct 2015 07:28:00 GMT",
        "Wed, 00 Oct 2015 07:28:00 GMT",     "Wed, 21 Oct 15 07:28:00 GMT",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sl_retry_after_parse(bad[i], at) != -1)
            fail_msg("accepted bad date: %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_2xx),
        cmocka_unit_test(test_function_error),
        cmocka_unit_test(test_partial_success_cases),
        cmocka_unit_test(test_partial_invalid_cases),
        cmocka_unit_test(test_partial_valid),
        cmocka_unit_test(test_deep_json),
        cmocka_unit_test(test_retryable_statuses),
        cmocka_unit_test(test_retry_after_statuses),
        cmocka_unit_test(test_terminal_4xx),
        cmocka_unit_test(test_unexpected_status),
        cmocka_unit_test(test_transport_error),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
