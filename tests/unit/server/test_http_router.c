/* Router dispatch through a real server: exact and prefix paths, methods, 404 and 405. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "tests/unit/server/fixture.h"

static void named(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "%s %s %s", (const char *)arg, req->method, req->path);
    sl_http_respond(x, 200, "text/plain", NULL, 0, b.data, b.len);
    sl_buf_release(&b);
}

struct rt {
    struct fx *f;
    struct sl_http_router *r;
    struct th_client *c;
};

static struct rt rt_start(void)
{
    struct rt t;
    t.r = sl_http_router_create();
    sl_http_router_add(t.r, "GET", "/health", false, named, "health");
    sl_http_router_add(t.r, "POST", "/hooks/", true, named, "hooks");
    sl_http_router_add(t.r, "GET", "/hooks/", true, named, "hooks-get");
    sl_http_router_add(t.r, "DELETE", "/hooks/special", false, named, "special");
    sl_http_router_add(t.r, "*", "/any", false, named, "any");
    sl_http_router_add(t.r, "PUT", "/items", false, named, "items-put");
    sl_http_router_add(t.r, "PATCH", "/items", false, named, "items-patch");
    t.f = fx_start_with(NULL, sl_http_router_handle, t.r);
    t.c = th_connect(t.f->port);
    return t;
}

static void rt_stop(struct rt *t)
{
    th_close(t->c);
    fx_stop(t->f);
    sl_http_router_destroy(t->r);
}

static void get(struct rt *t, const char *req, struct th_resp *r)
{
    assert_true(th_sends(t->f->loop, t->c, req));
    assert_true(th_read_response(t->f->loop, t->c, r));
}

static void expect_body(struct rt *t, const char *req, const char *body)
{
    struct th_resp r;
    get(t, req, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, body);
    th_resp_free(&r);
}

static void test_dispatch(void **state)
{
    struct rt t = rt_start();
    expect_body(&t, "GET /health HTTP/1.1\r\n\r\n", "health GET /health");
    expect_body(&t, "GET /health?verbose=1 HTTP/1.1\r\n\r\n", "health GET /health");
    expect_body(&t, "POST /hooks/orders HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "hooks POST /hooks/orders");
    expect_body(&t, "GET /hooks/orders HTTP/1.1\r\n\r\n", "hooks-get GET /hooks/orders");
    /* The exact path is more specific than the prefix; other methods fall back to it. */
    expect_body(&t, "DELETE /hooks/special HTTP/1.1\r\n\r\n", "special DELETE /hooks/special");
    expect_body(&t, "POST /hooks/special HTTP/1.1\r\n\r\n", "hooks POST /hooks/special");
    expect_body(&t, "OPTIONS /any HTTP/1.1\r\n\r\n", "any OPTIONS /any");
    expect_body(&t, "DELETE /any HTTP/1.1\r\n\r\n", "any DELETE /any");
    rt_stop(&t);
}

static void test_head_uses_get(void **state)
{
    struct rt t = rt_start();
    struct th_resp r;
    char v[32];
    assert_true(th_sends(t.f->loop, t.c, "HEAD /health HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response_ex(t.f->loop, t.c, &r, true));
    assert_int_equal(r.status, 200);
    assert_true(th_resp_header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "19"); /* "health HEAD /health" */
    th_resp_free(&r);
    rt_stop(&t);
}

static void test_404(void **state)
{
    struct rt t = rt_start();
    const char *reqs[] = {"GET /nothing HTTP/1.1\r\n\r\n", "GET /healthz HTTP/1.1\r\n\r\n",
                          "GET /hooks HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n"};
    for (size_t i = 0; i < 4; i++) {
        struct th_resp r;
        char v[64];
        get(&t, reqs[i], &r);
        assert_int_equal(r.status, 404);
        assert_true(th_resp_header(&r, "Content-Type", v, sizeof(v)));
        assert_string_equal(v, "application/json");
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "not_found");
        assert_non_null(json_string_value(json_object_get(j, "message")));
        json_decref(j);
        th_resp_free(&r);
    }
    /* A 404 keeps the connection open. */
    expect_body(&t, "GET /health HTTP/1.1\r\n\r\n", "health GET /health");
    rt_stop(&t);
}

static void expect_405(struct rt *t, const char *req, const char *allow)
{
    struct th_resp r;
    char v[128];
    get(t, req, &r);
    assert_int_equal(r.status, 405);
    assert_true(th_resp_header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, allow);
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "method_not_allowed");
    json_decref(j);
    th_resp_free(&r);
}

static void test_405_allow(void **state)
{
    struct rt t = rt_start();
    expect_405(&t, "POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "GET, HEAD");
    expect_405(&t, "GET /items HTTP/1.1\r\n\r\n", "PUT, PATCH");
    expect_405(&t, "PUT /hooks/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "POST, GET, HEAD");
    expect_405(&t, "PUT /hooks/special HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
               "POST, GET, DELETE, HEAD");
    rt_stop(&t);
}

static void test_empty_router(void **state)
{
    struct sl_http_router *r = sl_http_router_create();
    struct fx *f = fx_start_with(NULL, sl_http_router_handle, r);
    struct th_client *c = th_connect(f->port);
    struct th_resp resp;
    assert_true(th_sends(f->loop, c, "GET / HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &resp));
    assert_int_equal(resp.status, 404);
    th_resp_free(&resp);
    th_close(c);
    fx_stop(f);
    sl_http_router_destroy(r);
    sl_http_router_destroy(NULL);
}

/* A removed hook's route is gone: its path answers 404, other routes stay. */
static void test_remove(void **state)
{
    struct rt t = rt_start();
    static const char special[] = "special";
    sl_http_router_add(t.r, "POST", "/hooks/gone", false, named, (void *)special);
    expect_body(&t, "POST /hooks/gone HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "special POST /hooks/gone");
    sl_http_router_remove(t.r, special);
    /* Falls back to the prefix route, as if it had never been added. */
    expect_body(&t, "POST /hooks/gone HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "hooks POST /hooks/gone");
    expect_body(&t, "GET /health HTTP/1.1\r\n\r\n", "health GET /health");
    sl_http_router_remove(t.r, "not a route");
    sl_http_router_remove(NULL, special);
    rt_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),     cmocka_unit_test(test_head_uses_get),
        cmocka_unit_test(test_404),          cmocka_unit_test(test_405_allow),
        cmocka_unit_test(test_empty_router), cmocka_unit_test(test_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
