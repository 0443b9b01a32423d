/* The HTTP server over real loopback sockets: keep-alive, pipelining, limits, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "tests/unit/server/fixture.h"

/* Checks a JSON error response: status, error code, JSON content type, Connection: close and
 * the server closing the connection afterwards. */
static void assert_json_error(struct fx *f, struct th_client *c, int status, const char *code,
                              const char *message_part)
{
    struct th_resp r;
    char v[128];
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, status);
    assert_true(th_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    json_error_t jerr;
    json_t *j = json_loadb(r.body, r.body_len, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), code);
    const char *msg = json_string_value(json_object_get(j, "message"));
    assert_non_null(msg);
    if (message_part)
        assert_non_null(strstr(msg, message_part));
    json_decref(j);
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, c));
}

static void test_keep_alive(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port);
    for (int i = 0; i < 3; i++) {
        char req[128], want[64];
        snprintf(req, sizeof(req), "GET /r%d?i=%d HTTP/1.1\r\nHost: x\r\n\r\n", i, i);
        assert_true(th_sends(f->loop, c, req));
        struct th_resp r;
        assert_true(th_read_response(f->loop, c, &r));
        assert_int_equal(r.status, 200);
        snprintf(want, sizeof(want), "GET /r%d q=i=%d b= h=", i, i);
        assert_string_equal(r.body, want);
        char v[64];
        assert_false(th_resp_header(&r, "Connection", v, sizeof(v)));
        th_resp_free(&r);
    }
    assert_int_equal(f->calls, 3);
    /* Same connection each time: same peer, one connection on the server. */
    assert_string_equal(f->peers[0], f->peers[2]);
    assert_true(strncmp(f->peers[0], "127.0.0.1:", 10) == 0);
    assert_int_equal(f->srv->nconns, 1);
    assert_false(c->eof);
    th_close(c);
    assert_true(fx_wait_conns(f, 0));
    fx_stop(f);
}

static void test_pipelining_one_at_a_time(void **state)
{
    struct fx *f = fx_start(NULL);
    f->mode = FX_PARK;
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c,
                         "GET /a HTTP/1.1\r\n\r\n"
                         "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                         "GET /c HTTP/1.1\r\n\r\n"));
    const char *want[] = {"/a", "/b", "/c"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(fx_wait_parked(f, i + 1));
        /* Only one exchange of the connection is with the handler at a time. */
        assert_true(th_quiet_for(f->loop, c, 20));
        assert_int_equal(f->nparked, i + 1);
        assert_int_equal(sl_http_server_pending(f->srv), 1);
        const struct sl_http_req *req = sl_http_exchange_req(f->parked[i]);
        assert_non_null(req);
        assert_string_equal(req->path, want[i]);
        fx_answer(f, i, want[i]);
        struct th_resp r;
        assert_true(th_read_response(f->loop, c, &r));
        assert_string_equal(r.body, want[i]);
        th_resp_free(&r);
    }
    assert_int_equal(sl_http_server_pending(f->srv), 0);
    th_close(c);
    fx_stop(f);
}

static void test_pipelining_sync_order(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port);
    struct sl_buf b;
    sl_buf_init(&b);
    for (int i = 0; i < 20; i++)
        sl_buf_printf(&b, "GET /p%d HTTP/1.1\r\n\r\n", i);
    assert_true(th_send(f->loop, c, b.data, b.len));
    sl_buf_release(&b);
    for (int i = 0; i < 20; i++) {
        struct th_resp r;
        char want[32];
        assert_true(th_read_response(f->loop, c, &r));
        snprintf(want, sizeof(want), "GET /p%d q= b= h=", i);
        assert_string_equal(r.body, want);
        th_resp_free(&r);
    }
    th_close(c);
    fx_stop(f);
}

static void test_header_case_insensitive(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /h HTTP/1.1\r\nX-TEST:  Mixed Value \t\r\n\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET /h q= b= h=Mixed Value");
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_garbage_400(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "\x01\x02 NOT HTTP AT ALL\r\n\r\n"));
    assert_json_error(f, c, 400, "bad_request", "Invalid method");
    assert_int_equal(f->calls, 0);
    th_close(c);

    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET / HTTP/1.1\r\nBad Header\r\n\r\n"));
    assert_json_error(f, c, 400, "bad_request", "malformed request");
    th_close(c);
    fx_stop(f);
}

static void test_content_length_413_at_once(void **state)
{
    struct sl_http_limits lim = {.max_body_bytes = 1024};
    struct fx *f = fx_start(&lim);
    struct th_client *c = th_connect(f->port);
    /* Only the headers: the 413 must come without the body being sent. */
    assert_true(th_sends(f->loop, c, "POST /up HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"));
    assert_json_error(f, c, 413, "payload_too_large", "1024");
    assert_int_equal(f->calls, 0);
    th_close(c);

    /* At the limit it passes. */
    c = th_connect(f->port);
    char req[1200];
    int n = snprintf(req, sizeof(req), "POST /ok HTTP/1.1\r\nContent-Length: 1024\r\n\r\n");
    memset(req + n, 'a', 1024);
    assert_true(th_send(f->loop, c, req, (size_t)n + 1024));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, strlen("POST /ok q= b= h=") + 1024);
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_chunked_413(void **state)
{
    struct sl_http_limits lim = {.max_body_bytes = 100};
    struct fx *f = fx_start(&lim);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c,
                         "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "32\r\n0123456789012345678901234567890123456789012345678\n\r\n"));
    /* 50 bytes so far: still fine, nothing answered. */
    assert_true(th_quiet_for(f->loop, c, 20));
    assert_true(
        th_sends(f->loop, c, "33\r\n01234567890123456789012345678901234567890123456789\n\r\n"));
    /* 101 bytes: over, answered before the terminating chunk. */
    assert_json_error(f, c, 413, "payload_too_large", NULL);
    assert_int_equal(f->calls, 0);
    th_close(c);

    /* A chunked body within the limit is reassembled. */
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c,
                         "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "POST /c q= b=abcde h=");
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_431(void **state)
{
    struct sl_http_limits lim = {.max_header_bytes = 256, .max_headers = 4};
    struct fx *f = fx_start(&lim);
    struct th_client *c = th_connect(f->port);
    char req[600];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Long: %0300d\r\n\r\n", 7);
    assert_true(th_sends(f->loop, c, req));
    assert_json_error(f, c, 431, "headers_too_large", "256 bytes");
    th_close(c);

    c = th_connect(f->port);
    assert_true(
        th_sends(f->loop, c, "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n"));
    assert_json_error(f, c, 431, "headers_too_large", "more than 4");
    th_close(c);

    /* Endless headers never completed: 431 as soon as the limit is passed. */
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET / HTTP/1.1\r\nX: "));
    char junk[300];
    memset(junk, 'z', sizeof(junk));
    assert_true(th_send(f->loop, c, junk, sizeof(junk)));
    assert_json_error(f, c, 431, "headers_too_large", NULL);
    th_close(c);

    /* Four headers are fine. */
    c = th_connect(f->port);
    assert_true(
        th_sends(f->loop, c, "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nX-Test: 4\r\n\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET / q= b= h=4");
    th_resp_free(&r);
    th_close(c);
    assert_int_equal(f->calls, 1);
    fx_stop(f);
}

static void test_connection_close_and_http10(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_resp r;
    char v[64];

    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /1 HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, c));
    th_close(c);

    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /2 HTTP/1.0\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, c));
    th_close(c);

    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "keep-alive");
    th_resp_free(&r);
    assert_true(th_sends(f->loop, c, "GET /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET /4 q= b= h=");
    th_resp_free(&r);
    assert_false(c->eof);
    th_close(c);
    fx_stop(f);
}

static void test_expect_continue(void **state)
{
    struct sl_http_limits lim = {.max_body_bytes = 100};
    struct fx *f = fx_start(&lim);
    struct th_client *c = th_connect(f->port);
    struct th_resp r;
    assert_true(th_sends(f->loop, c,
                         "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 100);
    th_resp_free(&r);
    assert_true(th_sends(f->loop, c, "hello"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "POST /e q= b=hello h=");
    th_resp_free(&r);
    th_close(c);

    /* Too large: straight 413, no 100 Continue. */
    c = th_connect(f->port);
    assert_true(th_sends(
        f->loop, c, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n"));
    assert_json_error(f, c, 413, "payload_too_large", NULL);
    th_close(c);
    fx_stop(f);
}

static void test_head_has_no_body(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port);
    struct th_resp r;
    char v[32];
    assert_true(th_sends(f->loop, c, "HEAD /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response_ex(f->loop, c, &r, true));
    assert_int_equal(r.status, 200);
    assert_true(th_resp_header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "16"); /* "HEAD /x q= b= h=" */
    th_resp_free(&r);
    /* The next response follows right after the head: no body bytes in between. */
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET /y q= b= h=");
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void respond_custom(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    const char *headers[] = {"X-One: 1", "Bad\r\nInjected: yes", NULL, "X-Two: two"};
    if (strcmp(req->path, "/204") == 0)
        sl_http_respond(x, 204, "text/plain", NULL, 0, "ignored", 7);
    else if (strcmp(req->path, "/err") == 0)
        sl_http_respond_error(x, 409, "conflict", "quote \" and \\ in it");
    else
        sl_http_respond(x, 201, "application/json", headers, 4, "{}", 2);
}

static void test_response_shapes(void **state)
{
    struct fx *f = fx_start_with(NULL, respond_custom, NULL);
    struct th_client *c = th_connect(f->port);
    struct th_resp r;
    char v[64];
    assert_true(th_sends(f->loop, c, "GET /h HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.head, "HTTP/1.1 201 Created\r\n"));
    assert_true(th_resp_header(&r, "X-One", v, sizeof(v)));
    assert_true(th_resp_header(&r, "X-Two", v, sizeof(v)));
    assert_string_equal(v, "two");
    assert_false(th_resp_header(&r, "Injected", v, sizeof(v)));
    assert_string_equal(r.body, "{}");
    th_resp_free(&r);

    assert_true(th_sends(f->loop, c, "GET /204 HTTP/1.1\r\n\r\nGET /err HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 204);
    assert_false(th_resp_header(&r, "Content-Length", v, sizeof(v)));
    assert_int_equal(r.body_len, 0);
    th_resp_free(&r);
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 409);
    assert_true(th_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "conflict");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "quote \" and \\ in it");
    json_decref(j);
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_status_text(void **state)
{
    assert_string_equal(sl_http_status_text(200), "OK");
    assert_string_equal(sl_http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(sl_http_status_text(503), "Service Unavailable");
    assert_string_equal(sl_http_status_text(299), "Success");
    assert_string_equal(sl_http_status_text(999), "Server Error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelining_one_at_a_time),
        cmocka_unit_test(test_pipelining_sync_order),
        cmocka_unit_test(test_header_case_insensitive),
        cmocka_unit_test(test_garbage_400),
        cmocka_unit_test(test_content_length_413_at_once),
        cmocka_unit_test(test_chunked_413),
        cmocka_unit_test(test_431),
        cmocka_unit_test(test_connection_close_and_http10),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_response_shapes),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
