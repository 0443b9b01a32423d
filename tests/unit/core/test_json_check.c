/* core/json_check: what is JSON (RFC 8259) and what is not, and where the checker stops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"

static bool check(const char *s, struct sl_json_check_err *err)
{
    return sl_json_check(s, strlen(s), err);
}

static void test_valid_values(void **state)
{
    static const char *const ok[] = {
        "{}",
        "[]",
        " { } ",
        "\t\r\n[ ]\n",
        "0",
        "-0",
        "1.5",
        "-12.25e+3",
        "1E9",
        "2e-2",
        "true",
        "false",
        "null",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\u20AC\"",
        "\"\\ud83d\\ude00\"",
        "\"\\u0000\"",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "{\"order\": 12345, \"item\": \"widget\", \"qty\": 3}",
        "[1, [2, [3, {\"a\": [null]}]]]",
        "{\"a\":{\"b\":{}},\"c\":[]}",
        "123456789012345678901234567890",
        "1e999999",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct sl_json_check_err err = {0};
        if (!check(ok[i], &err))
            fail_msg("refused %s: %s at %zu", ok[i], err.what, err.pos);
    }
}

static void test_invalid_values_and_where(void **state)
{
    static const struct {
        const char *text;
        size_t pos;
    } bad[] = {
        {"", 0},
        {"   ", 3},
        {"{", 1},
        {"[1,", 3},
        {"[1,]", 3},
        {"{\"a\":1,}", 7},
        {"{\"a\" 1}", 5},
        {"{a:1}", 1},
        {"[1 2]", 3},
        {"{} {}", 3},
        {"01", 1},
        {"-", 1},
        {"1.", 2},
        {"1e", 2},
        {"+1", 0},
        {".5", 0},
        {"tru", 0},
        {"nul", 0},
        {"True", 0},
        {"\"abc", 4},
        {"\"a\nb\"", 2},
        {"\"\\x\"", 1},
        {"\"\\u12G4\"", 1},
        {"\"\\ude00\"", 1},
        {"\"\\ud83d\"", 1},
        {"\"\\ud83dx\\ude00\"", 1},
        {"\"\xc3\"", 1},
        {"\"\xc0\xaf\"", 1},
        {"\"\xed\xa0\x80\"", 1},
        {"[1]]", 3},
        {"{\"a\":1]", 6},
        {"[\"a\"}", 4},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_json_check_err err = {0};
        if (check(bad[i].text, &err))
            fail_msg("accepted %s", bad[i].text);
        assert_non_null(err.what);
        if (err.pos != bad[i].pos)
            fail_msg("%s: stopped at %zu (%s), expected %zu", bad[i].text, err.pos, err.what,
                     bad[i].pos);
    }
    /* A NUL byte is not whitespace; bytes after the value are refused too. */
    assert_false(sl_json_check("{}\0", 3, NULL));
    assert_true(sl_json_check("{}\0", 2, NULL));
}

/* Nesting is limited (the checker keeps one bit per level), and the limit itself is fine. */
static void test_depth_limit(void **state)
{
    size_t d = SL_JSON_CHECK_MAX_DEPTH;
    char *s = malloc(2 * d + 3);
    memset(s, '[', d);
    memset(s + d, ']', d);
    assert_true(sl_json_check(s, 2 * d, NULL));
    memset(s, '[', d + 1);
    memset(s + d + 1, ']', d + 1);
    struct sl_json_check_err err;
    assert_false(sl_json_check(s, 2 * d + 2, &err));
    assert_int_equal(err.pos, d);
    /* Objects and arrays mixed at depth: each level closes with its own bracket. */
    const char *mixed = "[{\"a\":[{\"b\":[]}]}]";
    assert_true(check(mixed, NULL));
    assert_false(check("[{\"a\":[{\"b\":[]]}]}", NULL));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_values),
        cmocka_unit_test(test_invalid_values_and_where),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
