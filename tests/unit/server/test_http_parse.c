/* The request parser alone: split reads, pipelining, limits at their exact boundaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/parse.h"

struct pt {
    struct sl_http_parse ps;
    struct sl_http_msg msg;
};

static void pt_init(struct pt *t, const struct sl_http_limits *lim)
{
    sl_http_msg_init(&t->msg);
    sl_http_parse_init(&t->ps, lim);
    sl_http_parse_begin(&t->ps, &t->msg);
}

/* Feeds s in reads of `step` bytes (keeping unconsumed bytes, like the connection does) until
 * the state is not MORE. Returns the state; *used says how much of s was consumed. */
static int pt_feed(struct pt *t, const char *s, size_t step, size_t *used)
{
    size_t len = strlen(s), off = 0, avail = 0;
    int st = SL_HTTP_PARSE_MORE;
    while (st == SL_HTTP_PARSE_MORE && avail < len) {
        avail = avail + step > len ? len : avail + step;
        size_t n = 0;
        st = sl_http_parse_feed(&t->ps, s + off, avail - off, &n);
        off += n;
    }
    if (used)
        *used = off;
    return st;
}

static void test_split_reads_same_result(void **state)
{
    const char *req = "POST /p/a%20th?x=1&y=%3F HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n"
                      "Content-Length: 11\r\n\r\nhello world";
    for (size_t step = 1; step <= strlen(req); step += 7) {
        struct pt t;
        size_t used;
        pt_init(&t, NULL);
        assert_int_equal(pt_feed(&t, req, step, &used), SL_HTTP_PARSE_DONE);
        assert_int_equal(used, strlen(req));
        const struct sl_http_req *r = &t.msg.req;
        assert_string_equal(r->method, "POST");
        assert_string_equal(r->path, "/p/a%20th");
        assert_int_equal(r->path_len, 9);
        assert_string_equal(r->query, "x=1&y=%3F");
        assert_int_equal(r->query_len, 9);
        assert_int_equal(r->nheaders, 3);
        assert_string_equal(r->headers[1].name, "X-Empty");
        assert_string_equal(r->headers[1].value, "");
        assert_int_equal(r->headers[1].value_len, 0);
        size_t vlen = 0;
        assert_string_equal(sl_http_header_get(r, "CONTENT-length", &vlen), "11");
        assert_int_equal(vlen, 2);
        assert_null(sl_http_header_get(r, "content-len", NULL));
        assert_int_equal(r->body_len, 11);
        assert_string_equal(r->body, "hello world");
        assert_true(t.msg.keep_alive);
        sl_http_msg_release(&t.msg);
    }
}

static void test_pipelined_consumes_one(void **state)
{
    struct pt t;
    pt_init(&t, NULL);
    const char *two = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t used = 0;
    assert_int_equal(sl_http_parse_feed(&t.ps, two, strlen(two), &used), SL_HTTP_PARSE_DONE);
    assert_int_equal(used, strlen("GET /1 HTTP/1.1\r\n\r\n"));
    assert_string_equal(t.msg.req.path, "/1");
    assert_string_equal(t.msg.req.query, "");
    /* DONE sticks until the next begin. */
    size_t again = 9;
    assert_int_equal(sl_http_parse_feed(&t.ps, two + used, 5, &again), SL_HTTP_PARSE_DONE);
    assert_int_equal(again, 0);
    sl_http_parse_begin(&t.ps, &t.msg);
    size_t used2 = 0;
    assert_int_equal(sl_http_parse_feed(&t.ps, two + used, strlen(two) - used, &used2),
                     SL_HTTP_PARSE_DONE);
    assert_int_equal(used + used2, strlen(two));
    assert_string_equal(t.msg.req.path, "/2");
    assert_false(t.msg.keep_alive);
    sl_http_msg_release(&t.msg);
}

static void test_header_bytes_boundary(void **state)
{
    /* "GET / HTTP/1.1\r\n" (16) + "X: " (3) + value + "\r\n\r\n" (4) */
    char req[256];
    for (int extra = 0; extra <= 1; extra++) {
        struct sl_http_limits lim = {.max_header_bytes = 100};
        struct pt t;
        pt_init(&t, &lim);
        int vlen = 100 - 23 + extra;
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", vlen, 0);
        assert_int_equal(strlen(req), 100 + (size_t)extra);
        int st = pt_feed(&t, req, strlen(req), NULL);
        if (extra == 0) {
            assert_int_equal(st, SL_HTTP_PARSE_DONE);
        } else {
            assert_int_equal(st, SL_HTTP_PARSE_ERROR);
            assert_int_equal(t.ps.err_status, 431);
            assert_string_equal(t.ps.err_code, "headers_too_large");
        }
        sl_http_msg_release(&t.msg);
    }
}

static void test_header_count_and_body_boundaries(void **state)
{
    struct sl_http_limits lim = {.max_headers = 2, .max_body_bytes = 4};
    struct pt t;
    pt_init(&t, &lim);
    assert_int_equal(
        pt_feed(&t, "POST / HTTP/1.1\r\nA: 1\r\nContent-Length: 4\r\n\r\nabcd", 3, NULL),
        SL_HTTP_PARSE_DONE);
    assert_string_equal(t.msg.req.body, "abcd");
    sl_http_parse_begin(&t.ps, &t.msg);
    assert_int_equal(pt_feed(&t, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 100, NULL),
                     SL_HTTP_PARSE_ERROR);
    assert_int_equal(t.ps.err_status, 413);
    sl_http_msg_release(&t.msg);

    pt_init(&t, &lim);
    assert_int_equal(pt_feed(&t, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 100, NULL),
                     SL_HTTP_PARSE_ERROR);
    assert_int_equal(t.ps.err_status, 431);
    sl_http_msg_release(&t.msg);

    pt_init(&t, &lim);
    assert_int_equal(pt_feed(&t,
                             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n",
                             100, NULL),
                     SL_HTTP_PARSE_ERROR);
    assert_int_equal(t.ps.err_status, 413);
    assert_string_equal(t.ps.err_code, "payload_too_large");
    sl_http_msg_release(&t.msg);
}

static void test_malformed_reports_reason(void **state)
{
    const char *bad[] = {
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / HTTP/2.5\r\n\r\n",
        "G\x7f T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pt t;
        pt_init(&t, NULL);
        assert_int_equal(pt_feed(&t, bad[i], 4, NULL), SL_HTTP_PARSE_ERROR);
        assert_int_equal(t.ps.err_status, 400);
        assert_string_equal(t.ps.err_code, "bad_request");
        assert_true(strncmp(t.ps.err_msg, "malformed request: ", 19) == 0);
        assert_true(strlen(t.ps.err_msg) > 19);
        sl_http_msg_release(&t.msg);
    }
}

static void test_expect_and_keep_alive_rules(void **state)
{
    struct pt t;
    pt_init(&t, NULL);
    assert_int_equal(pt_feed(&t,
                             "PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
                             100, NULL),
                     SL_HTTP_PARSE_MORE);
    assert_true(t.ps.want_continue);
    sl_http_msg_release(&t.msg);

    pt_init(&t, NULL);
    assert_int_equal(pt_feed(&t, "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", 100, NULL),
                     SL_HTTP_PARSE_DONE);
    assert_false(t.ps.want_continue); /* no body: nothing to continue */
    sl_http_msg_release(&t.msg);

    pt_init(&t, NULL);
    assert_int_equal(pt_feed(&t, "GET / HTTP/1.0\r\n\r\n", 100, NULL), SL_HTTP_PARSE_DONE);
    assert_false(t.msg.keep_alive);
    assert_true(t.msg.http10);
    sl_http_msg_release(&t.msg);

    pt_init(&t, NULL);
    assert_int_equal(
        pt_feed(&t, "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 100,
                NULL),
        SL_HTTP_PARSE_DONE);
    assert_false(t.msg.keep_alive); /* no protocol switch: close after the answer */
    sl_http_msg_release(&t.msg);
}

static void test_limit_defaults(void **state)
{
    struct sl_http_limits out;
    struct sl_http_limits in = {.max_body_bytes = 10};
    sl_http_limits_defaults(&in, &out);
    assert_int_equal(out.max_body_bytes, 10);
    assert_true(out.max_header_bytes > 0);
    assert_true(out.max_headers > 0);
    assert_true(out.max_connections > 0);
    assert_true(out.request_timeout_ms > 0);
    assert_true(out.idle_timeout_ms > 0);
    sl_http_limits_defaults(NULL, &out);
    assert_true(out.max_body_bytes > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_reads_same_result),
        cmocka_unit_test(test_pipelined_consumes_one),
        cmocka_unit_test(test_header_bytes_boundary),
        cmocka_unit_test(test_header_count_and_body_boundaries),
        cmocka_unit_test(test_malformed_reports_reason),
        cmocka_unit_test(test_expect_and_keep_alive_rules),
        cmocka_unit_test(test_limit_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
