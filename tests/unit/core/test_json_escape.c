/* core: the JSON string escaper and the UTF-8 decoder it uses. Whatever bytes come in, the
 * output is valid JSON in UTF-8: valid sequences pass unchanged, each invalid byte becomes
 * U+FFFD (EF BF BD). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/utf8.h"

#define FFFD "\xef\xbf\xbd"

/* The decoder sluice had before the table: decodes the code point, then rejects overlongs,
 * surrogates and values beyond U+10FFFF. The table-driven one must agree with it. */
static size_t ref_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned int cp;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Escapes n bytes of s and returns the JSON text (owned by b). */
static const char *esc(struct sl_buf *b, const char *s, size_t n, size_t *replaced)
{
    sl_buf_reset(b);
    size_t r = sl_json_escape(b, s, n);
    if (replaced)
        *replaced = r;
    return b->data;
}

struct esc_case {
    const char *in;
    size_t in_len;
    const char *want; /* the JSON text, quotes included */
    size_t replaced;
};

#define C(in, want, rep)                                                                           \
    {                                                                                              \
        in, sizeof(in) - 1, want, rep                                                              \
    }

static const struct esc_case esc_cases[] = {
    C("", "\"\"", 0), C("plain", "\"plain\"", 0),
    C("q\" b\\ n\n r\r t\t", "\"q\\\" b\\\\ n\\n r\\r t\\t\"", 0),
    C("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"", 0), C("a\0b", "\"a\\u0000b\"", 0),
    /* Valid sequences pass unchanged, at the edges of each length. */
    C("\xc2\x80 \xdf\xbf", "\"\xc2\x80 \xdf\xbf\"", 0),
    C("\xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf \xee\x80\x80",
      "\"\xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf \xee\x80\x80\"", 0),
    C("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"", 0),
    C("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
      "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"", 0),
    /* Each invalid byte becomes one U+FFFD. */
    C("\xff\xfe", "\"" FFFD FFFD "\"", 2), C("a\x80z", "\"a" FFFD "z\"", 1),
    C("\xc0\xaf", "\"" FFFD FFFD "\"", 2),                   /* overlong '/' */
    C("\xc1\xbf", "\"" FFFD FFFD "\"", 2),                   /* overlong */
    C("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"", 3),          /* overlong, 3 bytes */
    C("\xf0\x80\x80\xaf", "\"" FFFD FFFD FFFD FFFD "\"", 4), /* overlong, 4 bytes */
    C("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"", 3),          /* surrogate D800 */
    C("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\"", 3),          /* surrogate DFFF */
    C("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"", 4), /* U+110000 */
    C("\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"", 4),
    C("\xe2\x82", "\"" FFFD FFFD "\"", 2),                           /* truncated at the end */
    C("\xe2\x82z\xe2\x82\xac", "\"" FFFD FFFD "z\xe2\x82\xac\"", 2), /* cut by an ASCII byte */
    C("\xf0\x9f\x98", "\"" FFFD FFFD FFFD "\"", 3),
    C("\xc3\"", "\"" FFFD "\\\"\"", 1), /* a lead byte does not swallow a quote */
    C("\xc3\\", "\"" FFFD "\\\\\"", 1), C("\xe2\x82\n", "\"" FFFD FFFD "\\n\"", 2),
    C("\xef\xbf\xbd", "\"" FFFD "\"", 0), /* U+FFFD itself is valid */
};

static void test_escape_table(void **state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
        const struct esc_case *t = &esc_cases[i];
        size_t rep = 99;
        const char *got = esc(&b, t->in, t->in_len, &rep);
        if (strcmp(got, t->want) != 0 || rep != t->replaced) {
            fprintf(stderr, "case %zu: got %s (%zu replaced), want %s (%zu)\n", i, got, rep,
                    t->want, t->replaced);
            fail();
        }
        /* Valid JSON in UTF-8, whatever came in. */
        assert_true(sl_utf8_valid(got, b.len));
        json_t *j = json_loadb(got, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(j);
        if (t->replaced == 0) { /* nothing replaced: the string reads back as it went in */
            assert_int_equal(json_string_length(j), t->in_len);
            assert_memory_equal(json_string_value(j), t->in, t->in_len);
        }
        json_decref(j);
    }
    sl_buf_release(&b);
}

/* The table decoder agrees with the reference on every 1- and 2-byte input, every 3-byte input
 * and 4-byte inputs of each lead with every second byte. */
static void test_decoder_matches_reference(void **state)
{
    unsigned char p[4];
    for (unsigned a = 0; a < 256; a++) {
        p[0] = (unsigned char)a;
        assert_int_equal(sl_utf8_seq((const char *)p, 1), ref_seq(p, 1));
        for (unsigned c = 0; c < 256; c++) {
            p[1] = (unsigned char)c;
            assert_int_equal(sl_utf8_seq((const char *)p, 2), ref_seq(p, 2));
            if (a < 0xe0)
                continue;
            for (unsigned d = 0; d < 256; d++) {
                p[2] = (unsigned char)d;
                if (sl_utf8_seq((const char *)p, 3) != ref_seq(p, 3)) {
                    fprintf(stderr, "%02x %02x %02x\n", a, c, d);
                    fail();
                }
                if (a < 0xf0)
                    continue;
                static const unsigned char last[] = {0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xff};
                for (size_t e = 0; e < sizeof(last); e++) {
                    p[3] = last[e];
                    assert_int_equal(sl_utf8_seq((const char *)p, 4), ref_seq(p, 4));
                    assert_int_equal(sl_utf8_seq((const char *)p, 3), ref_seq(p, 3));
                }
            }
        }
    }
}

/* Random byte strings: the escaper's output is valid UTF-8 JSON, and equals the input exactly
 * when the input was valid UTF-8 (and had no NUL, which becomes \u0000). */
static void test_random_bytes_always_valid(void **state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    unsigned char s[64];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(x % sizeof(s));
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* Bias toward high bytes so that sequences, valid and not, are common. */
            s[i] = (unsigned char)((x & 3) ? 0x80 | (x >> 8) : (x >> 8));
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t rep;
        const char *got = esc(&b, (const char *)s, n, &rep);
        assert_true(sl_utf8_valid(got, b.len));
        json_t *j = json_loadb(got, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(j);
        size_t bad = 0;
        for (size_t i = 0; i < n;) {
            size_t k = s[i] ? ref_seq(s + i, n - i) : 1;
            bad += k == 0;
            i += k ? k : 1;
        }
        assert_int_equal(rep, bad);
        if (bad == 0) {
            assert_int_equal(json_string_length(j), n);
            assert_memory_equal(json_string_value(j), s, n);
        }
        json_decref(j);
    }
    sl_buf_release(&b);
}

/* Long strings are escaped in blocks: a sequence across a block boundary stays whole, and the
 * worst case (every byte escaped or replaced) fits. */
static void test_long_strings_across_blocks(void **state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    size_t n = 3 * 4096 + 7;
    char *s = malloc(n);
    for (size_t off = 4090; off < 4100; off++) {
        memset(s, 'a', n);
        memcpy(s + off, "\xf0\x9f\x98\x80", 4);
        size_t rep;
        esc(&b, s, n, &rep);
        assert_int_equal(rep, 0);
        assert_int_equal(b.len, n + 2);
        assert_memory_equal(b.data + 1, s, n);
    }
    memset(s, 0xff, n);
    size_t rep;
    esc(&b, s, n, &rep);
    assert_int_equal(rep, n);
    assert_int_equal(b.len, 3 * n + 2);
    memset(s, 0x01, n);
    esc(&b, s, n, &rep);
    assert_int_equal(b.len, 6 * n + 2);
    free(s);
    sl_buf_release(&b);
}

/* The writer counts replacements over a whole document (a webhook marks its record with it). */
static void test_jw_counts_replacements(void **state)
{
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "ok", "fine \xc3\xa9");
    assert_int_equal(w.replaced, 0);
    sl_jw_kstrn(&w, "query", "a=\xff\xfe", 4);
    sl_jw_kstr(&w, "k\x80", "v");
    sl_jw_obj_close(&w);
    assert_int_equal(w.replaced, 3);
    assert_string_equal(b.data, "{\"ok\":\"fine \xc3\xa9\",\"query\":\"a=" FFFD FFFD "\",\"k" FFFD
                                "\":\"v\"}");
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    sl_jw_init(&w, &b);
    assert_int_equal(w.replaced, 0);
    sl_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_decoder_matches_reference),
        cmocka_unit_test(test_random_bytes_always_valid),
        cmocka_unit_test(test_long_strings_across_blocks),
        cmocka_unit_test(test_jw_counts_replacements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
