/* core: JSON writer, base64, UTF-8 validation, time formatting and parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "core/jw.h"
#include "core/time.h"
#include "core/utf8.h"

static void test_jw_nested_document_parses(void **state)
{
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "s", "quote\" back\\ nl\n tab\t ctl\x01");
    sl_jw_kint(&w, "neg", -42);
    sl_jw_key(&w, "arr");
    sl_jw_arr_open(&w);
    sl_jw_int(&w, 1);
    sl_jw_null(&w);
    sl_jw_bool(&w, true);
    sl_jw_obj_open(&w);
    sl_jw_obj_close(&w);
    sl_jw_arr_close(&w);
    sl_jw_key(&w, "b64");
    sl_jw_b64(&w, "\x00\xff\x10", 3);
    sl_jw_key(&w, "raw");
    sl_jw_raw(&w, "{\"x\":[1,2]}", 11);
    sl_jw_obj_close(&w);

    json_error_t err;
    json_t *doc = json_loadb(b.data, b.len, 0, &err);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "s")),
                        "quote\" back\\ nl\n tab\t ctl\x01");
    assert_int_equal(json_integer_value(json_object_get(doc, "neg")), -42);
    assert_int_equal(json_array_size(json_object_get(doc, "arr")), 4);
    assert_string_equal(json_string_value(json_object_get(doc, "b64")), "AP8Q");
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(json_object_get(doc, "raw"), "x"), 1)),
        2);
    json_decref(doc);
    sl_buf_release(&b);
}

static void test_b64_round_trip_all_lengths(void **state)
{
    unsigned char src[64], back[64];
    char enc[128];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(src); n++) {
        size_t len = sl_b64_encode(src, n, enc);
        assert_int_equal(len, SL_B64_ENCODED_LEN(n));
        long got = sl_b64_decode(enc, len, back);
        assert_int_equal(got, (long)n);
        assert_memory_equal(src, back, n);
    }
    assert_int_equal(sl_b64_decode("abc", 3, back), -EINVAL);
    assert_int_equal(sl_b64_decode("ab!d", 4, back), -EINVAL);
    assert_int_equal(sl_b64_decode("a=bc", 4, back), -EINVAL);
    assert_int_equal(sl_b64_encode("foobar", 6, enc), 8);
    assert_memory_equal(enc, "Zm9vYmFy", 8);
}

/* The table-driven integer writer agrees with printf on edges and on a sweep of values. */
static void test_buf_put_int_matches_printf(void **state)
{
    static const int64_t edges[] = {0,   1,    -1,    9,         10,        99,        100,
                                    -99, -100, 12345, INT64_MAX, INT64_MIN, INT32_MIN, INT32_MAX};
    struct sl_buf b;
    char want[32];
    sl_buf_init(&b);
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        sl_buf_reset(&b);
        sl_buf_put_i64(&b, edges[i]);
        snprintf(want, sizeof(want), "%" PRId64, edges[i]);
        assert_string_equal(b.data, want);
    }
    for (uint64_t v = 1; v < UINT64_MAX / 7; v = v * 7 + 3) {
        sl_buf_reset(&b);
        sl_buf_put_u64(&b, v);
        snprintf(want, sizeof(want), "%" PRIu64, v);
        assert_string_equal(b.data, want);
    }
    sl_buf_reset(&b);
    sl_buf_put_u64(&b, UINT64_MAX);
    assert_string_equal(b.data, "18446744073709551615");
    sl_buf_release(&b);
}

/* The digit count is exact on both sides of every power of ten (where an estimate from the bit
 * length is off by one if anything is). */
static void test_dec_digits_at_powers_of_ten(void **state)
{
    char dst[32], want[32];
    uint64_t p = 1;
    for (int k = 0; k <= 19; k++, p *= 10) {
        const uint64_t vals[] = {p - 1, p, p + 1, p * 2 - 1};
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
            if (k == 19 && i == 3)
                break; /* 2e19 - 1 overflows */
            size_t n = sl_u64_to_dec(vals[i], dst);
            snprintf(want, sizeof(want), "%" PRIu64, vals[i]);
            assert_int_equal(n, strlen(want));
            assert_memory_equal(dst, want, n);
        }
        if (k == 19)
            break;
    }
    for (int b = 0; b < 64; b++) {
        uint64_t v = (uint64_t)1 << b;
        const uint64_t vals[] = {v - 1, v, v + 1};
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
            size_t n = sl_u64_to_dec(vals[i], dst);
            snprintf(want, sizeof(want), "%" PRIu64, vals[i]);
            assert_int_equal(n, strlen(want));
            assert_memory_equal(dst, want, n);
        }
    }
}

/* The cursor writers write exactly the digits (in place, nothing past them) and chain. */
static void test_put_cursor_writes_in_place(void **state)
{
    static const int64_t vals[] = {0, 7, -7, 10, 99, -100, 123456789, INT64_MIN, INT64_MAX};
    char dst[32], want[32];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        memset(dst, 'x', sizeof(dst));
        size_t n = sl_i64_to_dec(vals[i], dst);
        snprintf(want, sizeof(want), "%" PRId64, vals[i]);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(dst, want, n);
        assert_int_equal(dst[n], 'x');
    }
    memset(dst, 'x', sizeof(dst));
    char *d = SL_PUT_LIT(dst, "{\"n\":");
    d = sl_put_i64(d, -42);
    d = sl_put_mem(d, "}", 1);
    assert_int_equal(d - dst, 9);
    assert_memory_equal(dst, "{\"n\":-42}x", 10);
}

static void test_utf8(void **state)
{
    assert_true(sl_utf8_valid("plain", 5));
    assert_true(sl_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    assert_false(sl_utf8_valid("\xff", 1));
    assert_false(sl_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(sl_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(sl_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(sl_utf8_valid("a\0b", 3));             /* NUL */
    assert_false(sl_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void test_time_format_and_parse(void **state)
{
    char ts[32];
    int64_t ms;
    sl_time_fmt_iso(1573691886021, ts, sizeof(ts));
    assert_string_equal(ts, "2019-11-14T00:38:06.021Z");
    assert_int_equal(sl_time_parse("2019-11-14T00:38:06.021Z", 0, &ms), 0);
    assert_int_equal(ms, 1573691886021);
    assert_int_equal(sl_time_parse("2019-11-14T02:38:06+02:00", 0, &ms), 0);
    assert_int_equal(ms, 1573691886000);
    assert_int_equal(sl_time_parse("2019-11-14", 0, &ms), 0);
    assert_int_equal(ms, 1573689600000);
    assert_int_equal(sl_time_parse("-1h", 10000000, &ms), 0);
    assert_int_equal(ms, 10000000 - 3600000);
    assert_int_equal(sl_time_parse("yesterday", 0, &ms), -EINVAL);
    assert_int_equal(sl_time_parse("2019-13-01", 0, &ms), -EINVAL);
    assert_int_equal(sl_time_parse("", 0, &ms), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jw_nested_document_parses),
        cmocka_unit_test(test_b64_round_trip_all_lengths),
        cmocka_unit_test(test_buf_put_int_matches_printf),
        cmocka_unit_test(test_dec_digits_at_powers_of_ten),
        cmocka_unit_test(test_put_cursor_writes_in_place),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_time_format_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
