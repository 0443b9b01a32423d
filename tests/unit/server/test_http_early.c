/* What the server decides from a request's headers alone, before reading its body: transfer
 * codings it cannot decode (501), a route's headers hook (e.g. a wrong token: 401) and the
 * listener's budget of buffered body bytes (503). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "server/parse.h"
#include "tests/unit/server/fixture.h"

/* ---- the parser ---------------------------------------------------------------------------- */

struct pt {
    struct sl_http_parse ps;
    struct sl_http_msg msg;
};

static void pt_init(struct pt *t, const struct sl_http_limits *lim, bool stop_at_headers)
{
    sl_http_msg_init(&t->msg);
    sl_http_parse_init(&t->ps, lim);
    t->ps.stop_at_headers = stop_at_headers;
    sl_http_parse_begin(&t->ps, &t->msg);
}

static int pt_feed_all(struct pt *t, const char *s)
{
    size_t used = 0;
    return sl_http_parse_feed(&t->ps, s, strlen(s), &used);
}

static void test_transfer_codings_other_than_chunked_get_501(void **state)
{
    static const char *const refused[] = {
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: deflate\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    };
    char req[256];
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        for (int stop = 0; stop <= 1; stop++) {
            struct pt t;
            pt_init(&t, NULL, stop);
            snprintf(req, sizeof(req), "POST /h HTTP/1.1\r\nHost: x\r\n%s\r\n3\r\nabc\r\n0\r\n\r\n",
                     refused[i]);
            int st = pt_feed_all(&t, req);
            if (st != SL_HTTP_PARSE_ERROR || t.ps.err_status != 501) {
                fprintf(stderr, "%s: state %d status %d\n", refused[i], st, t.ps.err_status);
                fail();
            }
            assert_string_equal(t.ps.err_code, "unsupported_transfer_encoding");
            sl_http_msg_release(&t.msg);
        }
    }
    static const char *const accepted[] = {"chunked", "Chunked", "CHUNKED"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        struct pt t;
        pt_init(&t, NULL, false);
        snprintf(req, sizeof(req),
                 "POST /h HTTP/1.1\r\nTransfer-Encoding: %s\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                 accepted[i]);
        assert_int_equal(pt_feed_all(&t, req), SL_HTTP_PARSE_DONE);
        assert_string_equal(t.msg.req.body, "abc");
        sl_http_msg_release(&t.msg);
    }
}

/* The refused value shows in the message as printable ASCII only (it also goes to the log). */
static void test_501_message_is_printable(void **state)
{
    struct pt t;
    pt_init(&t, NULL, false);
    assert_int_equal(pt_feed_all(&t, "POST / HTTP/1.1\r\nTransfer-Encoding: gz\xff\xfe\r\n\r\n"),
                     SL_HTTP_PARSE_ERROR);
    assert_int_equal(t.ps.err_status, 501);
    for (const char *p = t.ps.err_msg; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    sl_http_msg_release(&t.msg);
}

static void test_stop_at_headers(void **state)
{
    const char *req = "POST /p?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
    size_t head = strlen(req) - 11;
    for (size_t step = 1; step <= strlen(req); step += 5) {
        struct pt t;
        pt_init(&t, NULL, true);
        size_t off = 0, avail = 0, used;
        int st = SL_HTTP_PARSE_MORE;
        bool saw_headers = false;
        while (st == SL_HTTP_PARSE_MORE || st == SL_HTTP_PARSE_HEADERS) {
            if (st == SL_HTTP_PARSE_MORE) {
                if (avail == strlen(req))
                    break;
                avail = avail + step > strlen(req) ? strlen(req) : avail + step;
            }
            st = sl_http_parse_feed(&t.ps, req + off, avail - off, &used);
            off += used;
            if (st == SL_HTTP_PARSE_HEADERS) {
                assert_false(saw_headers); /* once per request */
                saw_headers = true;
                assert_int_equal(off, head);
                const struct sl_http_req *r = &t.msg.req;
                assert_string_equal(r->method, "POST");
                assert_string_equal(r->path, "/p");
                assert_string_equal(r->query, "x=1");
                assert_int_equal(r->nheaders, 2);
                assert_string_equal(sl_http_header_get(r, "host", NULL), "h");
                assert_int_equal(r->content_length, 11);
                assert_int_equal(r->body_len, 0);
            }
        }
        assert_true(saw_headers);
        assert_int_equal(st, SL_HTTP_PARSE_DONE);
        assert_int_equal(off, strlen(req));
        assert_string_equal(t.msg.req.body, "hello world");
        assert_string_equal(t.msg.req.path, "/p");
        sl_http_msg_release(&t.msg);
    }
}

static void test_stop_at_headers_without_body_and_pipelined(void **state)
{
    struct pt t;
    pt_init(&t, NULL, true);
    const char *two =
        "GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\nok\r\n0\r\n\r\n";
    size_t used = 0, off = 0;
    assert_int_equal(sl_http_parse_feed(&t.ps, two, strlen(two), &used), SL_HTTP_PARSE_HEADERS);
    off += used;
    assert_int_equal(t.msg.req.content_length, 0);
    /* No body: the message completes without another byte. */
    assert_int_equal(sl_http_parse_feed(&t.ps, two + off, 0, &used), SL_HTTP_PARSE_DONE);
    assert_int_equal(used, 0);
    assert_string_equal(t.msg.req.path, "/1");
    sl_http_parse_begin(&t.ps, &t.msg);
    assert_int_equal(sl_http_parse_feed(&t.ps, two + off, strlen(two) - off, &used),
                     SL_HTTP_PARSE_HEADERS);
    off += used;
    assert_int_equal(t.msg.req.content_length, -1);
    assert_int_equal(sl_http_parse_feed(&t.ps, two + off, strlen(two) - off, &used),
                     SL_HTTP_PARSE_DONE);
    off += used;
    assert_int_equal(off, strlen(two));
    assert_string_equal(t.msg.req.body, "ok");
    sl_http_msg_release(&t.msg);
}

static void test_limits_defaults(void **state)
{
    struct sl_http_limits out;
    sl_http_limits_defaults(NULL, &out);
    assert_int_equal(out.max_buffered_bytes, 64 * 1024 * 1024);
    /* Never below one largest body: such a request could never be taken. */
    struct sl_http_limits in = {.max_body_bytes = 1000, .max_buffered_bytes = 10};
    sl_http_limits_defaults(&in, &out);
    assert_int_equal(out.max_buffered_bytes, 1000);
}

/* ---- the server ---------------------------------------------------------------------------- */

static void read_json_error(struct fx *f, struct th_client *c, int status, const char *code,
                            const char *header, const char *header_value)
{
    struct th_resp r;
    char v[128];
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, status);
    assert_true(th_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    if (header) {
        assert_true(th_resp_header(&r, header, v, sizeof(v)));
        assert_string_equal(v, header_value);
    }
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), code);
    assert_non_null(json_string_value(json_object_get(j, "message")));
    json_decref(j);
    th_resp_free(&r);
}

static void read_status(struct fx *f, struct th_client *c, int status)
{
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, status);
    th_resp_free(&r);
}

struct hook_seen {
    int calls;
    int64_t content_length;
    size_t body_len;
    char path[64], query[64];
};

static struct hook_seen seen;

static int token_hook(const struct sl_http_req *req, void *arg, struct sl_http_reject *rej)
{
    seen.calls++;
    seen.content_length = req->content_length;
    seen.body_len = req->body_len;
    snprintf(seen.path, sizeof(seen.path), "%s", req->path);
    snprintf(seen.query, sizeof(seen.query), "%s", req->query);
    size_t len;
    const char *auth = sl_http_header_get(req, "authorization", &len);
    if (auth && len == 9 && memcmp(auth, "Bearer ok", 9) == 0)
        return 0;
    rej->code = "unauthorized";
    rej->message = "missing or wrong bearer token";
    rej->header = "WWW-Authenticate: Bearer";
    return 401;
}

struct routed {
    struct sl_http_router *r;
    struct fx *f;
};

static struct routed routed_start(const struct sl_http_limits *lim)
{
    struct routed t;
    memset(&seen, 0, sizeof(seen));
    t.r = sl_http_router_create();
    t.f = fx_start_with(lim, sl_http_router_handle, t.r);
    /* The fixture's handler (echo) behind a hooked route; an unhooked one beside it. */
    sl_http_router_add_hooked(t.r, "POST", "/hooks/", true, token_hook, fx_handler, t.f);
    sl_http_router_add(t.r, "POST", "/open", false, fx_handler, t.f);
    return t;
}

static void routed_stop(struct routed *t)
{
    fx_stop(t->f);
    sl_http_router_destroy(t->r);
}

static void test_hook_refuses_before_the_body(void **state)
{
    struct routed t = routed_start(NULL);
    struct fx *f = t.f;
    /* Only the headers of a 1 MiB body: the 401 comes without the body being sent. */
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c,
                         "POST /hooks/a?q=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer no\r\n"
                         "Content-Length: 1048576\r\n\r\n"));
    read_json_error(f, c, 401, "unauthorized", "WWW-Authenticate", "Bearer");
    assert_true(th_wait_closed(f->loop, c)); /* the body was not read: no next request */
    assert_int_equal(f->calls, 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.content_length, 1048576);
    assert_int_equal(seen.body_len, 0);
    assert_string_equal(seen.path, "/hooks/a");
    assert_string_equal(seen.query, "q=1");
    assert_int_equal(sl_http_server_buffered(f->srv), 0);
    th_close(c);

    /* Expect: 100-continue and a refusal: the final answer, never "100 Continue". */
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c,
                         "POST /hooks/a HTTP/1.1\r\nExpect: 100-continue\r\n"
                         "Content-Length: 10\r\n\r\n"));
    read_json_error(f, c, 401, "unauthorized", NULL, NULL);
    th_close(c);

    /* A client that sends its body anyway still reads the answer (the rest is drained). */
    c = th_connect(f->port);
    char big[70000];
    int n = snprintf(big, sizeof(big), "POST /hooks/a HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
                     (int)sizeof(big) - 200);
    memset(big + n, 'b', sizeof(big) - (size_t)n);
    size_t total = (size_t)n + sizeof(big) - 200;
    assert_true(th_send(f->loop, c, big, total));
    read_json_error(f, c, 401, "unauthorized", NULL, NULL);
    th_close(c);

    /* The right token: the body is read and the handler runs; keep-alive goes on. */
    c = th_connect(f->port);
    for (int i = 0; i < 2; i++) {
        assert_true(th_sends(f->loop, c,
                             "POST /hooks/a HTTP/1.1\r\nAuthorization: Bearer ok\r\n"
                             "Content-Length: 2\r\n\r\nhi"));
        struct th_resp r;
        assert_true(th_read_response(f->loop, c, &r));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "POST /hooks/a q= b=hi h=");
        th_resp_free(&r);
    }
    assert_false(c->eof);
    assert_int_equal(f->calls, 2);
    th_close(c);

    /* Routes without a hook, and unknown paths, are not affected. */
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "POST /open HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"));
    read_status(f, c, 200);
    assert_true(th_sends(f->loop, c, "POST /nope HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"));
    read_status(f, c, 404);
    th_close(c);
    routed_stop(&t);
}

static int bad_status_hook(const struct sl_http_req *req, void *arg, struct sl_http_reject *rej)
{
    return 200; /* not a refusal status: answered as 500, never as a success */
}

static void test_hook_set_directly(void **state)
{
    struct fx *f = fx_start(NULL);
    sl_http_server_set_headers_hook(f->srv, bad_status_hook, NULL);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET / HTTP/1.1\r\n\r\n"));
    read_json_error(f, c, 500, "rejected", NULL, NULL);
    assert_int_equal(f->calls, 0);
    th_close(c);
    sl_http_server_set_headers_hook(f->srv, NULL, NULL);
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET / HTTP/1.1\r\n\r\n"));
    read_status(f, c, 200);
    th_close(c);
    fx_stop(f);
}

static void test_transfer_encoding_gzip_501(void **state)
{
    struct fx *f = fx_start(NULL);
    static const char *const te[] = {"gzip", "gzip, chunked"};
    for (int i = 0; i < 2; i++) {
        char req[256];
        snprintf(req, sizeof(req),
                 "POST /up HTTP/1.1\r\nTransfer-Encoding: %s\r\n\r\n3\r\nabc\r\n0\r\n\r\n", te[i]);
        struct th_client *c = th_connect(f->port);
        assert_true(th_sends(f->loop, c, req));
        read_json_error(f, c, 501, "unsupported_transfer_encoding", NULL, NULL);
        assert_true(th_wait_closed(f->loop, c));
        th_close(c);
    }
    assert_int_equal(f->calls, 0);
    fx_stop(f);
}

struct buffered_wait {
    struct fx *f;
    size_t n;
};

static bool buffered_step(void *arg)
{
    struct buffered_wait *w = arg;
    return sl_http_server_buffered(w->f->srv) == w->n;
}

static bool wait_buffered(struct fx *f, size_t n)
{
    struct buffered_wait w = {f, n};
    return th_pump_until(f->loop, buffered_step, &w, TH_TIMEOUT_MS);
}

static struct th_client *start_upload(struct fx *f, size_t len, const char *first)
{
    char req[128];
    snprintf(req, sizeof(req), "POST /up HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", len, first);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, req));
    return c;
}

static void send_rest(struct fx *f, struct th_client *c, size_t n)
{
    char *p = malloc(n);
    memset(p, 'x', n);
    assert_true(th_send(f->loop, c, p, n));
    free(p);
}

static void test_max_buffered_bytes(void **state)
{
    struct sl_http_limits lim = {.max_body_bytes = 1000, .max_buffered_bytes = 2500};
    struct fx *f = fx_start(&lim);
    /* Two slow uploads hold 2000 bytes of budget from their headers on. */
    struct th_client *a = start_upload(f, 1000, "aaaa");
    struct th_client *b = start_upload(f, 1000, "bbbb");
    assert_true(wait_buffered(f, 2000));
    /* A third would go beyond 2500: 503 with Retry-After before its body is read. */
    struct th_client *c = start_upload(f, 1000, "");
    read_json_error(f, c, 503, "server_busy", "Retry-After", "1");
    assert_true(th_wait_closed(f->loop, c));
    th_close(c);
    /* Exactly up to the budget is fine. */
    c = start_upload(f, 500, "");
    assert_true(wait_buffered(f, 2500));
    send_rest(f, c, 500);
    read_status(f, c, 200);
    assert_true(wait_buffered(f, 2000)); /* given back once answered */
    th_close(c);
    /* Bodies without a length announced nothing and need no budget. */
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /g HTTP/1.1\r\n\r\n"));
    read_status(f, c, 200);
    th_close(c);
    /* A finished upload and one whose client went away give their bytes back. */
    send_rest(f, a, 996);
    read_status(f, a, 200);
    assert_true(wait_buffered(f, 1000));
    th_close(b);
    assert_true(wait_buffered(f, 0));
    /* Room again. */
    c = start_upload(f, 1000, "");
    send_rest(f, c, 1000);
    read_status(f, c, 200);
    assert_true(wait_buffered(f, 0));
    th_close(c);
    th_close(a);
    fx_stop(f);
}

static void test_chunked_bodies_counted_as_they_grow(void **state)
{
    struct sl_http_limits lim = {.max_body_bytes = 1000, .max_buffered_bytes = 1000};
    struct fx *f = fx_start(&lim);
    struct th_client *a = start_upload(f, 800, "");
    assert_true(wait_buffered(f, 800));
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
    char chunk[256];
    memset(chunk, 0, sizeof(chunk));
    snprintf(chunk, sizeof(chunk), "96\r\n%0150d\r\n", 0);
    assert_true(th_sends(f->loop, c, chunk));
    assert_true(wait_buffered(f, 950));
    assert_true(th_quiet_for(f->loop, c, 20));
    snprintf(chunk, sizeof(chunk), "64\r\n%0100d\r\n", 0);
    assert_true(th_sends(f->loop, c, chunk));
    read_json_error(f, c, 503, "server_busy", "Retry-After", "1");
    assert_true(wait_buffered(f, 800)); /* what it had read is dropped at once */
    th_close(c);
    /* On a full budget a chunked body is not even started. */
    struct th_client *b = start_upload(f, 200, "");
    assert_true(wait_buffered(f, 1000));
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
    read_json_error(f, c, 503, "server_busy", NULL, NULL);
    th_close(c);
    th_close(a);
    th_close(b);
    assert_true(wait_buffered(f, 0));
    fx_stop(f);
}

/* A request with the handler holds its body until answered, even when its client is gone. */
static void test_pending_exchange_holds_budget(void **state)
{
    struct sl_http_limits lim = {.max_body_bytes = 1000, .max_buffered_bytes = 1500};
    struct fx *f = fx_start(&lim);
    f->mode = FX_PARK;
    struct th_client *a = start_upload(f, 1000, "");
    send_rest(f, a, 1000);
    assert_true(fx_wait_parked(f, 1));
    assert_int_equal(sl_http_server_buffered(f->srv), 1000);
    th_close(a);
    assert_true(fx_wait_conns(f, 0));
    assert_int_equal(sl_http_server_buffered(f->srv), 1000); /* orphaned, still held */
    struct th_client *c = start_upload(f, 1000, "");
    read_json_error(f, c, 503, "server_busy", NULL, NULL);
    th_close(c);
    fx_answer(f, 0, "done");
    assert_int_equal(sl_http_server_buffered(f->srv), 0);
    fx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_codings_other_than_chunked_get_501),
        cmocka_unit_test(test_501_message_is_printable),
        cmocka_unit_test(test_stop_at_headers),
        cmocka_unit_test(test_stop_at_headers_without_body_and_pipelined),
        cmocka_unit_test(test_limits_defaults),
        cmocka_unit_test(test_hook_refuses_before_the_body),
        cmocka_unit_test(test_hook_set_directly),
        cmocka_unit_test(test_transfer_encoding_gzip_501),
        cmocka_unit_test(test_max_buffered_bytes),
        cmocka_unit_test(test_chunked_bodies_counted_as_they_grow),
        cmocka_unit_test(test_pending_exchange_holds_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
