/* Connection limits that keep one client from starving the others: the per-address cap, the
 * probe connections beyond max_connections and the header timeout of new connections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "tests/unit/server/asserts.h"

static void get_ok(struct fx *f, const char *path)
{
    struct th_client *c = th_connect(f->port);
    struct th_resp r;
    char req[128];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", path);
    assert_true(th_sends(f->loop, c, req));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    th_close(c);
}

static void test_per_ip_cap_503(void **state)
{
    struct sl_http_limits lim = {.max_connections_per_ip = 2};
    struct fx *f = fx_start(&lim);
    struct th_client *a = th_connect(f->port);
    struct th_client *b = th_connect(f->port);
    assert_true(fx_wait_conns(f, 2));
    /* A third idle connection from 127.0.0.1 is refused with a JSON body, though the listener
     * has room (max_connections 1024). */
    assert_refused(f, th_connect(f->port), 503, "too_many_connections_per_ip");
    assert_int_equal(f->srv->nconns, 2);

    /* Room again once one of that address's connections leaves. */
    th_close(a);
    assert_true(fx_wait_conns(f, 1));
    get_ok(f, "/again");
    th_close(b);
    fx_stop(f);
}

static void test_per_ip_cap_zero_is_unlimited(void **state)
{
    struct fx *f = fx_start(NULL);
    struct th_client *cs[8];
    for (size_t i = 0; i < 8; i++)
        cs[i] = th_connect(f->port);
    assert_true(fx_wait_conns(f, 8));
    get_ok(f, "/ninth");
    for (size_t i = 0; i < 8; i++)
        th_close(cs[i]);
    fx_stop(f);
}

static const char *const probes[] = {"/healthz", "/readyz", NULL};

static void test_probes_beyond_max_connections(void **state)
{
    struct sl_http_limits lim = {
        .max_connections = 2, .probe_connections = 1, .probe_paths = probes};
    struct fx *f = fx_start(&lim);
    struct th_client *a = th_connect(f->port);
    struct th_client *b = th_connect(f->port);
    assert_true(fx_wait_conns(f, 2));

    /* Full: a probe is answered on the extra connection, which then closes. */
    struct th_client *p = th_connect(f->port);
    struct th_resp r;
    assert_true(th_sends(f->loop, p, "GET /healthz HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, p, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, p));
    th_close(p);

    /* Any other path on it gets 503 with a JSON body. */
    p = th_connect(f->port);
    assert_true(th_sends(f->loop, p, "GET /metrics HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, p, &r));
    assert_error_code(&r, 503, "too_many_connections");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, p));
    th_close(p);

    /* The probe slots are taken too: refused at once. */
    assert_true(fx_wait_conns(f, 2));
    p = th_connect(f->port);
    assert_true(fx_wait_conns(f, 3));
    struct th_client *q = th_connect(f->port);
    assert_true(th_read_response(f->loop, q, &r));
    assert_error_code(&r, 503, "too_many_connections");
    th_resp_free(&r);
    th_close(q);
    th_close(p);
    assert_true(fx_wait_conns(f, 2));
    assert_int_equal(f->srv->nprobe, 0);
    th_close(a);
    th_close(b);
    fx_stop(f);
}

static void test_header_timeout_closes_silent_connections(void **state)
{
    /* The idle timeout is far beyond the waits: only the header timeout can close. */
    struct sl_http_limits lim = {.header_timeout_ms = 100, .idle_timeout_ms = 600000};
    struct fx *f = fx_start(&lim);
    /* Nothing sent: closed without an answer. */
    struct th_client *idle = th_connect(f->port);
    int64_t t0 = sl_mono_ms();
    assert_true(th_wait_closed(f->loop, idle));
    assert_true(sl_mono_ms() - t0 >= 90);
    assert_int_equal(idle->len, 0);
    th_close(idle);

    /* Part of the headers: 408. */
    struct th_client *slow = th_connect(f->port);
    struct th_resp r;
    assert_true(th_sends(f->loop, slow, "GET /slow HTTP/1.1\r\nX-A: 1\r\n"));
    assert_true(th_read_response(f->loop, slow, &r));
    assert_int_equal(r.status, 408);
    th_resp_free(&r);
    th_close(slow);

    /* Headers in time: the keep-alive connection then runs on idle_timeout alone. */
    struct th_client *c = th_connect(f->port);
    assert_true(th_sends(f->loop, c, "GET /a HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_true(th_quiet_for(f->loop, c, 300));
    assert_false(c->eof);
    assert_true(th_sends(f->loop, c, "GET /b HTTP/1.1\r\n\r\n"));
    assert_true(th_read_response(f->loop, c, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    th_close(c);
    fx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_ip_cap_503),
        cmocka_unit_test(test_per_ip_cap_zero_is_unlimited),
        cmocka_unit_test(test_probes_beyond_max_connections),
        cmocka_unit_test(test_header_timeout_closes_silent_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
