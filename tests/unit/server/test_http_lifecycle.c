/* Exchanges answered later, clients going away, timeouts, connection limits and shutdown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sys/resource.h>

#include "tests/unit/server/asserts.h"

struct later {
    ev_timer t;
    struct fx *f;
    size_t i;
    int fired;
};

static void on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct later *l = w->data;
    l->fired++;
    fx_answer(l->f, l->i, "later");
}

static void test_async_respond_after_timer(void **state)
{
    struct fx *f = fx_start(NULL);
    f->mode = FX_PARK;
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "POST /async HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"));
    assert_true(fx_wait_parked(f, 1));
    assert_int_equal(sl_http_server_pending(f->srv), 1);
    const struct sl_http_req *req = sl_http_exchange_req(f->parked[0]);
    assert_non_null(req);
    assert_string_equal(req->method, "POST");
    assert_int_equal(req->body_len, 2);
    assert_memory_equal(req->body, "hi", 2);

    struct later l = {.f = f, .i = 0};
    ev_timer_init(&l.t, on_later, 0.05, 0.);
    l.t.data = &l;
    ev_timer_start(f->loop, &l.t);
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(l.fired, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "later");
    th_resp_free(&r);
    assert_int_equal(sl_http_server_pending(f->srv), 0);

    /* The connection is still usable afterwards. */
    f->mode = FX_ECHO;
    assert_true(th_sends(f->loop, c, "GET /again HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET /again q= b= h=");
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_client_disconnects_before_respond(void **state)
{
    struct fx *f = fx_start(NULL);
    f->mode = FX_PARK;
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "POST /gone HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"));
    assert_true(fx_wait_parked(f, 1));
    th_close(c);
    assert_true(fx_wait_conns(f, 0));
    /* The exchange outlives its connection, request data included. */
    assert_int_equal(sl_http_server_pending(f->srv), 1);
    const struct sl_http_req *req = sl_http_exchange_req(f->parked[0]);
    assert_non_null(req);
    assert_string_equal(req->path, "/gone");
    assert_memory_equal(req->body, "body", 4);
    assert_true(strncmp(req->peer, "127.0.0.1:", 10) == 0);
    fx_answer(f, 0, "dropped");
    assert_int_equal(sl_http_server_pending(f->srv), 0);
    fx_stop(f);
}

static void test_destroy_with_pending_exchange(void **state)
{
    struct fx *f = fx_start(NULL);
    f->mode = FX_PARK;
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /p HTTP/1.1\r\n\r\n"));
    assert_true(fx_wait_parked(f, 1));
    struct sl_http_exchange *x = f->parked[0];
    f->parked[0] = NULL;
    sl_http_server_destroy(f->srv);
    f->srv = NULL;
    /* Still valid after the server is gone; answering frees it. */
    assert_non_null(sl_http_exchange_req(x));
    sl_http_respond_error(x, 503, "shutting_down", "bye");
    th_recv(c);
    assert_true(c->eof);
    th_close(c);
    ev_loop_destroy(f->loop);
    free(f);
}

static void test_request_timeout_408(void **state)
{
    /* The idle timeout is far beyond the waits: only the request timeout can answer. */
    struct sl_http_limits lim = {.request_timeout_ms = 100, .idle_timeout_ms = 600000};
    struct fx *f = fx_start(&lim);
    struct th_client *c = th_connect(f->port);
    int64_t t0 = sl_mono_ms();
    assert_true(th_sends(f->loop, c, "GET /slow HTTP/1.1\r\nHost: x\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    int64_t waited = sl_mono_ms() - t0;
    assert_error_code(&r, 408, "request_timeout");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, c));
    assert_true(waited >= 90);
    assert_int_equal(f->calls, 0);
    th_close(c);

    /* Trickling bytes does not extend the deadline (slowloris): the 408 comes while the client
     * is still sending a header line every 10 ms or more. Had each line pushed the deadline
     * back, none would come for as long as the lines keep coming. */
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /slow HTTP/1.1\r\n"));
    int lines = 0;
    while (lines < 1000 && !c->eof && c->len == 0) {
        assert_true(th_sends(f->loop, c, "X-A: b\r\n") || c->eof);
        lines++;
        th_quiet_for(f->loop, c, 10);
    }
    assert_true(lines < 1000);
    assert_true(th_read_response(f->loop, c, &r));
    assert_error_code(&r, 408, "request_timeout");
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_idle_timeout(void **state)
{
    struct sl_http_limits lim = {.idle_timeout_ms = 100};
    struct fx *f = fx_start(&lim);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET / HTTP/1.1\r\n\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    th_resp_free(&r);
    int64_t t0 = sl_mono_ms();
    assert_true(th_wait_closed(f->loop, c));
    assert_true(sl_mono_ms() - t0 >= 90);
    assert_int_equal(c->len, 0); /* closed silently */
    th_close(c);
    assert_true(fx_wait_conns(f, 0));
    fx_stop(f);
}

static void test_max_connections_503(void **state)
{
    struct sl_http_limits lim = {.max_connections = 2};
    struct fx *f = fx_start(&lim);
    struct th_client *a = th_connect(f->port);
    struct th_client *b = th_connect(f->port);
    assert_true(fx_wait_conns(f, 2));
    assert_refused(f, th_connect(f->port), 503, "too_many_connections");
    struct th_client *c;
    struct th_resp r;
    assert_int_equal(f->srv->nconns, 2);

    /* Room again once one leaves. */
    th_close(a);
    assert_true(fx_wait_conns(f, 1));
    c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /in HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    th_close(c);
    th_close(b);
    fx_stop(f);
}

static void test_stop_accepting(void **state)
{
    struct fx *f = fx_start(NULL);
    f->mode = FX_PARK;
    struct th_client *idle = th_connect(f->port);
    struct th_client *busy = th_connect(f->port);
    assert_true(
        th_sends(f->loop, busy, "GET /inflight HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n"));
    assert_true(fx_wait_parked(f, 1));
    assert_int_equal(f->srv->nconns, 2);

    sl_http_server_stop_accepting(f->srv);
    /* The idle connection closes at once, new connections are refused. */
    assert_true(th_wait_closed(f->loop, idle));
    assert_int_equal(idle->len, 0);
    struct th_client *late = th_connect(f->port);
    assert_int_equal(late->fd, -1);
    th_close(late);
    assert_false(busy->eof);
    assert_int_equal(sl_http_server_pending(f->srv), 1);

    /* The in-flight exchange is answered with Connection: close; the pipelined one is not
     * started. */
    fx_answer(f, 0, "last");
    struct th_resp r;
    char v[64];
    assert_true(th_read_response(f->loop, busy, &r));
    assert_string_equal(r.body, "last");
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, busy));
    assert_int_equal(f->calls, 1);
    assert_int_equal(sl_http_server_pending(f->srv), 0);
    assert_true(fx_wait_conns(f, 0));
    th_close(idle);
    th_close(busy);
    fx_stop(f);
}

/* /next parks; /answer answers the parked /next from inside its own handler. */
static void nested_handler(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fx *f = arg;
    f->depth++;
    if (f->depth > f->max_depth)
        f->max_depth = f->depth;
    f->calls++;
    if (strcmp(req->path, "/answer") == 0 && f->nparked > 0 && f->parked[0]) {
        fx_answer(f, 0, "answered");
        sl_http_respond(x, 200, "text/plain", NULL, 0, "ok", 2);
    } else if (strcmp(req->path, "/next") == 0 && f->nparked == 0) {
        f->parked[f->nparked++] = x;
    } else {
        fx_echo(x, req);
    }
    f->depth--;
}

static void test_respond_from_other_handler_not_nested(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sl_err err = {0};
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(
        sl_http_server_create(f->loop, "127.0.0.1:0", NULL, nested_handler, f, &f->srv, &err), 0);
    f->port = sl_http_server_port(f->srv);
    struct th_client *a = th_connect(f->port);
    struct th_client *b = th_connect(f->port);
    /* a: /next is parked, /after waits behind it in the same connection. */
    assert_true(th_sends(f->loop, a, "GET /next HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n"));
    assert_true(fx_wait_parked(f, 1));
    assert_true(th_sends(f->loop, b, "GET /answer HTTP/1.1\r\n\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, b, &r));
    assert_string_equal(r.body, "ok");
    th_resp_free(&r);
    assert_true(th_read_response(f->loop, a, &r));
    assert_string_equal(r.body, "answered");
    th_resp_free(&r);
    assert_true(th_read_response(f->loop, a, &r));
    assert_string_equal(r.body, "GET /after q= b= h=");
    th_resp_free(&r);
    /* /after ran from the loop, not inside the /answer handler. */
    assert_int_equal(f->max_depth, 1);
    assert_int_equal(f->calls, 3);
    th_close(a);
    th_close(b);
    fx_stop(f);
}

static void destroying_handler(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fx *f = arg;
    f->calls++;
    sl_http_respond(x, 200, NULL, NULL, 0, "bye", 3);
    sl_http_server_destroy(f->srv);
    f->srv = NULL;
}

static void test_destroy_inside_handler(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sl_err err = {0};
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(
        sl_http_server_create(f->loop, "127.0.0.1:0", NULL, destroying_handler, f, &f->srv, &err),
        0);
    struct th_client *c = th_connect(sl_http_server_port(f->srv));
    assert_true(th_sends(f->loop, c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"));
    assert_true(th_wait_closed(f->loop, c));
    assert_int_equal(f->calls, 1);
    assert_null(f->srv);
    th_close(c);
    ev_loop_destroy(f->loop);
    free(f);
}

static void big_handler(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    size_t n = 8 * 1024 * 1024;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    sl_http_respond(x, 200, "application/octet-stream", NULL, 0, body, n);
    free(body);
}

static void test_large_response_backpressure(void **state)
{
    struct fx *f = fx_start_with(NULL, big_handler, NULL);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /big HTTP/1.1\r\n\r\nGET /big2 HTTP/1.1\r\n\r\n"));
    for (int k = 0; k < 2; k++) {
        struct th_resp r;
        assert_true(th_read_response(f->loop, c, &r));
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 8 * 1024 * 1024);
        for (size_t i = 0; i < r.body_len; i += 4099)
            assert_int_equal(r.body[i], 'a' + i % 26);
        th_resp_free(&r);
    }
    th_close(c);
    fx_stop(f);
}

static void test_half_close_after_request(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /half HTTP/1.1\r\n\r\n"));
    shutdown(c->fd, SHUT_WR);
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET /half q= b= h=");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, c));
    assert_true(fx_wait_conns(f, 0));
    th_close(c);
    fx_stop(f);
}

static bool accept_paused_step(void *arg)
{
    const struct sl_http_server *srv = arg;
    return !ev_is_active(&srv->accept_io) && ev_is_active(&srv->accept_pause);
}

static void test_emfile_pauses_then_recovers(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *c = th_connect(f->port); /* waits in the backlog until accepted */
    assert_true(c->fd >= 0);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int next = dup(0);
    assert_true(next >= 0);
    close(next);
    low = old;
    low.rlim_cur = (rlim_t)next; /* no new descriptor can be made */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* Waits for the failed accept to pause accepting. The assertions come once the limit is
     * restored, so that a failure does not leave it lowered for the tests that follow. */
    bool paused = th_pump_until(f->loop, accept_paused_step, f->srv, TH_TIMEOUT_MS);
    bool quiet = th_quiet_for(f->loop, c, 30);
    size_t conns = f->srv->nconns;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(paused);
    assert_true(quiet);
    assert_int_equal(conns, 0);
    /* Accepting resumes by itself and the waiting client is served. */
    assert_true(th_sends(f->loop, c, "GET /late HTTP/1.1\r\n\r\n"));
    struct th_resp r;
    assert_true(th_read_response(f->loop, c, &r));
    assert_string_equal(r.body, "GET /late q= b= h=");
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

static void test_bad_listen_addresses(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    const char *bad[] = {
        "",       "nope",    "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:8x",
        "::1:80", "[::1]80", "[::1:80",   "host:-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_http_server *srv = NULL;
        struct sl_err err = {0};
        assert_int_equal(sl_http_server_create(loop, bad[i], NULL, fx_handler, NULL, &srv, &err),
                         SL_ECONFIG);
        assert_non_null(strstr(err.msg, "listen address"));
        assert_null(srv);
    }
    /* A port in use is reported with the errno. */
    struct sl_http_server *one = NULL, *two = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_http_server_create(loop, "127.0.0.1:0", NULL, fx_handler, NULL, &one, &err),
                     0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", sl_http_server_port(one));
    assert_int_equal(sl_http_server_create(loop, addr, NULL, fx_handler, NULL, &two, &err),
                     -EADDRINUSE);
    assert_null(two);
    sl_http_server_destroy(one);
    /* Names and IPv6 forms. */
    assert_int_equal(sl_http_server_create(loop, "localhost:0", NULL, fx_handler, NULL, &one, &err),
                     0);
    assert_true(sl_http_server_port(one) > 0);
    sl_http_server_destroy(one);
    int rc = sl_http_server_create(loop, "[::1]:0", NULL, fx_handler, NULL, &one, &err);
    if (rc == 0) {
        assert_true(sl_http_server_port(one) > 0);
        sl_http_server_destroy(one);
    } else {
        assert_true(rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT || rc == SL_ECONFIG);
    }
    sl_http_server_destroy(NULL);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_respond_after_timer),
        cmocka_unit_test(test_client_disconnects_before_respond),
        cmocka_unit_test(test_destroy_with_pending_exchange),
        cmocka_unit_test(test_request_timeout_408),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_max_connections_503),
        cmocka_unit_test(test_stop_accepting),
        cmocka_unit_test(test_respond_from_other_handler_not_nested),
        cmocka_unit_test(test_destroy_inside_handler),
        cmocka_unit_test(test_large_response_backpressure),
        cmocka_unit_test(test_half_close_after_request),
        cmocka_unit_test(test_emfile_pauses_then_recovers),
        cmocka_unit_test(test_bad_listen_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
