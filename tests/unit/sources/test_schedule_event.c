/* sources/schedule: the EventBridge scheduled event a tick becomes (encode.c): its fields, the
 * tick's time in whole seconds, `detail` spliced from the body, one event as the object itself
 * with format lambda and several as an array, and what filter patterns see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sources/record.h"
#include "sources/schedule/schedule_int.h"

#define ID1 "0d3e5e9c-4a59-4d8e-9f06-1f1d0e9a7b21"
#define ID2 "6f1c2b8a-1111-4d8e-9f06-1f1d0e9a7b22"

static struct sl_record *tick(const char *id, int64_t ms, const char *detail)
{
    char *attrs = sl_schedule_attrs(id, ms, "123456789012", "eu-west-1", "nightly");
    struct sl_record *r = sl_record_new(id, attrs, NULL, detail, strlen(detail));
    free(attrs);
    r->time_ms = ms;
    return r;
}

static json_t *encode(struct sl_record **rs, size_t n, int format)
{
    struct sl_buf out;
    sl_buf_init(&out);
    sl_schedule_encode("nightly", rs, n, format, &out);
    json_error_t jerr;
    json_t *doc = json_loadb(out.data, out.len, 0, &jerr);
    if (!doc)
        fail_msg("not JSON: %s: %.*s", jerr.text, (int)out.len, out.data);
    sl_buf_release(&out);
    return doc;
}

static void test_one_tick_is_the_event_object(void **state)
{
    /* 2028-02-29T01:30:00.250Z: a leap day; EventBridge's time has whole seconds. */
    struct sl_record *r = tick(ID1, 1835400600250, "{\"job\":\"report\",\"n\":3}");
    json_t *e = encode(&r, 1, SL_CFG_FORMAT_LAMBDA);
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 9);
    assert_string_equal(json_string_value(json_object_get(e, "version")), "0");
    assert_string_equal(json_string_value(json_object_get(e, "id")), ID1);
    assert_string_equal(json_string_value(json_object_get(e, "detail-type")), "Scheduled Event");
    assert_string_equal(json_string_value(json_object_get(e, "source")), "aws.events");
    assert_string_equal(json_string_value(json_object_get(e, "account")), "123456789012");
    assert_string_equal(json_string_value(json_object_get(e, "time")), "2028-02-29T01:30:00Z");
    assert_string_equal(json_string_value(json_object_get(e, "region")), "eu-west-1");
    json_t *res = json_object_get(e, "resources");
    assert_int_equal(json_array_size(res), 1);
    assert_string_equal(json_string_value(json_array_get(res, 0)),
                        "arn:aws:events:eu-west-1:123456789012:rule/nightly");
    json_t *detail = json_object_get(e, "detail");
    assert_string_equal(json_string_value(json_object_get(detail, "job")), "report");
    assert_int_equal(json_integer_value(json_object_get(detail, "n")), 3);
    json_decref(e);
    sl_record_free(r);
}

static void test_several_ticks_are_an_array(void **state)
{
    struct sl_record *rs[2] = {tick(ID1, 0, "{}"), tick(ID2, 60000, "")};
    json_t *a = encode(rs, 2, SL_CFG_FORMAT_LAMBDA);
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "time")),
                        "1970-01-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "time")),
                        "1970-01-01T00:01:00Z");
    /* An empty body is an empty detail. */
    assert_true(json_is_object(json_object_get(json_array_get(a, 1), "detail")));
    json_decref(a);
    json_t *raw = encode(rs, 1, SL_CFG_FORMAT_RAW);
    assert_true(json_is_array(raw));
    assert_int_equal(json_array_size(raw), 1);
    json_decref(raw);
    sl_record_free(rs[0]);
    sl_record_free(rs[1]);
}

static void test_filter_view_is_the_event(void **state)
{
    struct sl_record *r = tick(ID1, 0, "{\"job\":\"report\"}");
    struct sl_fview v;
    assert_true(sl_schedule_filter_view(r, &v));
    json_t *view = sl_fview_json(&v);
    assert_string_equal(json_string_value(json_object_get(view, "detail-type")), "Scheduled Event");
    assert_string_equal(json_string_value(json_object_get(view, "source")), "aws.events");
    assert_string_equal(json_string_value(json_object_get(json_object_get(view, "detail"), "job")),
                        "report");
    json_decref(view);
    sl_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_tick_is_the_event_object),
        cmocka_unit_test(test_several_ticks_are_an_array),
        cmocka_unit_test(test_filter_view_is_the_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
