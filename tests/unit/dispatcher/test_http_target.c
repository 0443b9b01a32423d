/* The "http" target against a tiny HTTP/1.1 server running on threads of this test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/jw.h"
#include "dispatcher/alias/alias_target.h"
#include "dispatcher/http/http_target.h"
#include "dispatcher/lambda/lambda_target.h"
#include "dispatcher/runtime/runtime_target.h"
#include "dispatcher/target.h"

/* ---- The test server ----------------------------------------------------------------------
 * Behaviour is chosen by the request path; on "/mixed" by the first word of the body. */

#define SRV_MAX_THREADS 64
#define SRV_MAX_REQUEST (256 * 1024)

struct srv {
    int lfd;
    int port;
    atomic_bool stop;
    pthread_t accept_thr;
    pthread_mutex_t mu;
    pthread_t threads[SRV_MAX_THREADS];
    int nthreads;
    int connections;
    int requests;
    char last_method[16];
    char last_path[256];
    char last_headers[8192];
    char last_body[8192];
    size_t last_body_len;
    struct ev_loop *loop;
    ev_async notify;
};

struct conn {
    struct srv *s;
    int fd;
};

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Waits for readable data; returns 1 readable, 0 when the server stops, -1 on error. */
static int wait_readable(struct srv *s, int fd)
{
    for (;;) {
        if (atomic_load(&s->stop))
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, 20);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static void respond(int fd, int status, const char *extra_headers, const char *body, size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: application/json\r\n"
                     "%s\r\n",
                     status, len, extra_headers ? extra_headers : "");
    if (send_all(fd, head, (size_t)n) == 0 && len)
        send_all(fd, body, len);
}

static size_t content_length(const char *headers)
{
    const char *p = headers;
    while ((p = strchr(p, '\n'))) {
        p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            return (size_t)strtoul(p + 15, NULL, 10);
    }
    return 0;
}

/* Serves one request; returns false when the connection is done. */
static bool serve_one(struct srv *s, int fd, char *buf, size_t *have)
{
    char *end;
    while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
        if (*have >= SRV_MAX_REQUEST || wait_readable(s, fd) <= 0)
            return false;
        ssize_t r = recv(fd, buf + *have, SRV_MAX_REQUEST - *have, 0);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    buf[head_len - 1] = '\0'; /* the last \n: headers become a string */
    size_t body_len = content_length(buf);
    if (head_len + body_len > SRV_MAX_REQUEST)
        return false;
    while (*have < head_len + body_len) {
        if (wait_readable(s, fd) <= 0)
            return false;
        ssize_t r = recv(fd, buf + *have, SRV_MAX_REQUEST - *have, 0);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
    char method[16] = "", path[256] = "";
    sscanf(buf, "%15s %255s", method, path);
    const char *body = buf + head_len;

    pthread_mutex_lock(&s->mu);
    s->requests++;
    snprintf(s->last_method, sizeof(s->last_method), "%s", method);
    snprintf(s->last_path, sizeof(s->last_path), "%s", path);
    snprintf(s->last_headers, sizeof(s->last_headers), "%s", buf);
    s->last_body_len = body_len < sizeof(s->last_body) ? body_len : sizeof(s->last_body) - 1;
    memcpy(s->last_body, body, s->last_body_len);
    s->last_body[s->last_body_len] = '\0';
    pthread_mutex_unlock(&s->mu);
    ev_async_send(s->loop, &s->notify);

    char what[sizeof(path)];
    snprintf(what, sizeof(what), "%s", path);
    if (strcmp(path, "/mixed") == 0)
        snprintf(what, sizeof(what), "/%.*s", (int)(body_len < 20 ? body_len : 20), body);

    bool keep = true;
    if (strcmp(what, "/ok") == 0) {
        respond(fd, 200, NULL, "{}", 2);
    } else if (strcmp(what, "/echo") == 0) {
        respond(fd, 200, NULL, body, body_len);
    } else if (strcmp(what, "/500") == 0) {
        respond(fd, 500, NULL, "{\"message\":\"boom\"}", 18);
    } else if (strcmp(what, "/404") == 0) {
        respond(fd, 404, NULL, "{}", 2);
    } else if (strcmp(what, "/429") == 0) {
        respond(fd, 429, "Retry-After: 2\r\n", "{\"Reason\":\"x\"}", 14);
    } else if (strcmp(what, "/fe") == 0) {
        const char *b = "{\"errorMessage\":\"boom\",\"errorType\":\"KeyError\"}";
        respond(fd, 200, "X-Amz-Function-Error: Unhandled\r\n", b, strlen(b));
    } else if (strcmp(what, "/partial") == 0) {
        const char *b = "{\"batchItemFailures\":[{\"itemIdentifier\":\"a\"},"
                        "{\"itemIdentifier\":{\"partition\":\"t-0\",\"offset\":5}}]}";
        respond(fd, 200, NULL, b, strlen(b));
    } else if (strcmp(what, "/badpartial") == 0) {
        const char *b = "{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}";
        respond(fd, 200, NULL, b, strlen(b));
    } else if (strcmp(what, "/big") == 0 || strcmp(what, "/big500") == 0) {
        static char big[5000];
        memset(big, 'x', sizeof(big));
        respond(fd, strcmp(what, "/big") == 0 ? 200 : 500, NULL, big, sizeof(big));
    } else if (strcmp(what, "/slow") == 0) {
        /* Never answers: waits until the client gives up or the server stops. */
        char c;
        while (wait_readable(s, fd) > 0 && recv(fd, &c, 1, 0) > 0)
            ;
        keep = false;
    } else if (strcmp(what, "/reset") == 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        keep = false;
    } else {
        respond(fd, 400, NULL, "{}", 2);
    }
    size_t used = head_len + body_len;
    memmove(buf, buf + used, *have - used);
    *have -= used;
    return keep;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    char *buf = malloc(SRV_MAX_REQUEST);
    size_t have = 0;
    while (serve_one(c->s, c->fd, buf, &have))
        ;
    close(c->fd);
    free(buf);
    free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct srv *s = arg;
    while (wait_readable(s, s->lfd) > 0) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->nthreads == SRV_MAX_THREADS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        s->connections++;
        struct conn *c = malloc(sizeof(*c));
        c->s = s;
        c->fd = fd;
        pthread_create(&s->threads[s->nthreads++], NULL, conn_main, c);
        pthread_mutex_unlock(&s->mu);
        ev_async_send(s->loop, &s->notify);
    }
    return NULL;
}

static void notify_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    /* Only wakes the loop so that run_until re-checks its condition. */
}

static void srv_start(struct srv *s, struct ev_loop *loop)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->loop = loop;
    ev_async_init(&s->notify, notify_cb);
    ev_async_start(loop, &s->notify);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    socklen_t alen = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->accept_thr, NULL, accept_main, s);
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->accept_thr, NULL);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    close(s->lfd);
    ev_async_stop(s->loop, &s->notify);
    pthread_mutex_destroy(&s->mu);
}

static int srv_count(struct srv *s, const int *field)
{
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- Client side helpers ------------------------------------------------------------------ */

struct env {
    struct ev_loop *loop;
    struct srv srv;
};

struct result {
    int fired;
    bool from_invoke;
    struct sl_outcome o; /* copy without borrowed pointers */
    char body[8192];
    size_t body_len;
    json_t *failures;
    struct sl_target *destroy_me; /* destroyed from inside the callback when set */
};

static bool in_invoke; /* set around invoke() calls: a callback must never see it */

static void on_done(const struct sl_outcome *o, void *arg)
{
    struct result *r = arg;
    if (in_invoke)
        r->from_invoke = true;
    r->fired++;
    r->o = *o;
    r->o.response = NULL;
    r->o.failures = NULL;
    r->body_len = o->response_len < sizeof(r->body) ? o->response_len : sizeof(r->body) - 1;
    if (o->response)
        memcpy(r->body, o->response, r->body_len);
    r->body[r->body_len] = '\0';
    r->failures = o->failures ? json_incref(o->failures) : NULL;
    if (r->destroy_me) {
        struct sl_target *t = r->destroy_me;
        r->destroy_me = NULL;
        t->ops->destroy(t);
    }
}

static void result_release(struct result *r)
{
    json_decref(r->failures);
    r->failures = NULL;
}

static int invoke(struct sl_target *t, const char *payload, const struct sl_invoke *opts,
                  struct result *r)
{
    struct sl_invoke inv = {0};
    if (opts)
        inv = *opts;
    inv.payload = payload;
    inv.len = payload ? strlen(payload) : 0;
    in_invoke = true;
    int rc = t->ops->invoke(t, &inv, on_done, r);
    in_invoke = false;
    return rc;
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
}

/* Runs the loop until *counter >= want (a result's fired count or a server counter). */
static void run_until(struct env *e, const int *counter, int want, bool locked)
{
    bool expired = false;
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, 10.0, 0.);
    guard.data = &expired;
    ev_timer_start(e->loop, &guard);
    while ((locked ? srv_count(&e->srv, counter) : *counter) < want && !expired)
        ev_run(e->loop, EVRUN_ONCE);
    ev_timer_stop(e->loop, &guard);
    assert_false(expired);
}

static void wait_result(struct env *e, struct result *r)
{
    run_until(e, &r->fired, 1, false);
    assert_int_equal(r->fired, 1);
    assert_false(r->from_invoke);
}

static struct sl_target *make_target(struct env *e, const char *path, int64_t timeout_ms)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->srv.port, path);
    struct sl_target *t = NULL;
    struct sl_err err = {0};
    int rc = sl_target_http_create_url(e->loop, "test", url, timeout_ms, &t, &err);
    if (rc != 0)
        fail_msg("create: %s", err.msg);
    assert_non_null(t);
    assert_ptr_equal(t->ops, &sl_target_http_ops);
    return t;
}

/* One call to a fresh target on `path`; the caller releases r. */
static void call_path(struct env *e, const char *path, const struct sl_invoke *opts,
                      struct result *r)
{
    struct sl_target *t = make_target(e, path, 5000);
    memset(r, 0, sizeof(*r));
    assert_int_equal(invoke(t, "{\"Records\":[]}", opts, r), 0);
    assert_int_equal(t->ops->inflight(t), 1);
    wait_result(e, r);
    assert_int_equal(t->ops->inflight(t), 0);
    t->ops->destroy(t);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    e->loop = ev_loop_new(EVFLAG_AUTO);
    srv_start(&e->srv, e->loop);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    srv_stop(&e->srv);
    ev_loop_destroy(e->loop);
    free(e);
    return 0;
}

/* ---- Tests -------------------------------------------------------------------------------- */

static void test_ok_and_request_shape(void **state)
{
    struct env *e = *state;
    struct result r;
    call_path(e, "/echo", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_OK);
    assert_int_equal(r.o.status, 200);
    assert_true(r.o.reached_function);
    assert_string_equal(r.body, "{\"Records\":[]}");
    assert_true(r.o.duration_ms >= 0);
    /* What the server saw. */
    assert_string_equal(e->srv.last_method, "POST");
    assert_string_equal(e->srv.last_path, "/echo");
    assert_string_equal(e->srv.last_body, "{\"Records\":[]}");
    assert_non_null(strcasestr(e->srv.last_headers, "\nContent-Type: application/json\r"));
    assert_non_null(strcasestr(e->srv.last_headers, "\nContent-Length: 14\r"));
    assert_null(strcasestr(e->srv.last_headers, "\nExpect:"));
    result_release(&r);
}

static void test_statuses(void **state)
{
    struct env *e = *state;
    struct result r;

    call_path(e, "/500", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 500);
    assert_true(r.o.reached_function);
    assert_string_equal(r.o.error, "HTTP 500");
    assert_string_equal(r.body, "{\"message\":\"boom\"}");

    call_path(e, "/429", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 429);
    assert_false(r.o.reached_function);
    assert_int_equal(r.o.retry_after_ms, 2000);
    assert_string_equal(r.o.error, "HTTP 429 (retry after 2000 ms)");

    call_path(e, "/404", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_FAIL);
    assert_int_equal(r.o.status, 404);

    int64_t only400[] = {400};
    struct sl_intlist terminal = {.v = only400, .n = 1};
    struct sl_invoke opts = {.terminal_statuses = &terminal};
    call_path(e, "/404", &opts, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);

    call_path(e, "/fe", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 200);
    assert_true(r.o.function_error);
    assert_string_equal(r.o.function_error_type, "Unhandled");
    assert_string_equal(r.o.error, "function error: Unhandled");
}

static void test_partial(void **state)
{
    struct env *e = *state;
    struct result r;
    struct sl_invoke opts = {.report_batch_item_failures = true};
    call_path(e, "/partial", &opts, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_PARTIAL);
    assert_non_null(r.failures);
    assert_int_equal(json_array_size(r.failures), 2);
    assert_string_equal(json_string_value(json_array_get(r.failures, 0)), "a");
    json_t *k = json_array_get(r.failures, 1);
    assert_string_equal(json_string_value(json_object_get(k, "partition")), "t-0");
    assert_int_equal(json_integer_value(json_object_get(k, "offset")), 5);
    result_release(&r);

    call_path(e, "/badpartial", &opts, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_true(r.o.function_error);
    assert_string_equal(r.o.error, "invalid partial batch response");

    call_path(e, "/partial", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_OK);
    assert_null(r.failures);
}

static void test_timeout(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_target(e, "/slow", 0); /* default 30 s */
    struct result r = {0};
    struct sl_invoke opts = {.timeout_ms = 200};
    assert_int_equal(invoke(t, "{}", &opts, &r), 0);
    wait_result(e, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 0);
    assert_string_equal(r.o.error, "timeout after 200 ms");
    assert_true(r.o.reached_function); /* the request was sent */
    assert_true(r.o.duration_ms >= 190);
    assert_true(r.o.duration_ms < 5000);
    t->ops->destroy(t);

    /* The target's own default. */
    t = make_target(e, "/slow", 150);
    memset(&r, 0, sizeof(r));
    assert_int_equal(invoke(t, "{}", NULL, &r), 0);
    wait_result(e, &r);
    assert_string_equal(r.o.error, "timeout after 150 ms");
    t->ops->destroy(t);
}

static void test_reset(void **state)
{
    struct env *e = *state;
    struct result r;
    call_path(e, "/reset", NULL, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 0);
    assert_true(r.o.reached_function);
    assert_int_equal(strncmp(r.o.error, "connection reset", 16), 0);
    assert_false(r.o.function_error);
}

static void test_refused(void **state)
{
    struct env *e = *state;
    /* A port nobody listens on: bind one, then close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    struct sl_target *t = NULL;
    assert_int_equal(sl_target_http_create_url(e->loop, "refused", url, 2000, &t, NULL), 0);
    struct result r = {0};
    assert_int_equal(invoke(t, "{}", NULL, &r), 0);
    assert_int_equal(r.fired, 0);
    wait_result(e, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 0);
    assert_string_equal(r.o.error, "connection refused");
    assert_false(r.o.reached_function);
    t->ops->destroy(t);
}

static struct sl_target *make_conf_target(struct env *e, const char *path, uint64_t max_resp,
                                          int64_t max_conn)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->srv.port, path);
    struct sl_http_target_conf conf = {
        .url = url,
        .timeout_ms = 5000,
        .max_response_bytes = max_resp,
        .max_connections = max_conn,
    };
    struct sl_target *t = NULL;
    struct sl_err err = {0};
    if (sl_target_http_create_conf(e->loop, "conf", &conf, &t, &err) != 0)
        fail_msg("create: %s", err.msg);
    return t;
}

static void test_oversize(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_conf_target(e, "/big", 1024, 4);
    struct result r = {0};
    struct sl_invoke opts = {.report_batch_item_failures = true};
    assert_int_equal(invoke(t, "{}", &opts, &r), 0);
    wait_result(e, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 200);
    assert_true(r.o.function_error);
    assert_true(r.o.reached_function);
    assert_string_equal(r.o.error, "response too large (more than 1024 bytes)");
    assert_int_equal(r.body_len, 1024);
    t->ops->destroy(t);

    /* A non-2xx status still decides. */
    t = make_conf_target(e, "/big500", 1024, 4);
    memset(&r, 0, sizeof(r));
    assert_int_equal(invoke(t, "{}", NULL, &r), 0);
    wait_result(e, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_int_equal(r.o.status, 500);
    assert_false(r.o.function_error);
    assert_string_equal(r.o.error, "HTTP 500");
    t->ops->destroy(t);
}

static void test_keepalive(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_target(e, "/echo", 5000);
    for (int i = 0; i < 5; i++) {
        struct result r = {0};
        char payload[32];
        snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
        assert_int_equal(invoke(t, payload, NULL, &r), 0);
        wait_result(e, &r);
        assert_int_equal(r.o.kind, SL_OUTCOME_OK);
        assert_string_equal(r.body, payload);
    }
    assert_int_equal(srv_count(&e->srv, &e->srv.requests), 5);
    assert_int_equal(srv_count(&e->srv, &e->srv.connections), 1);
    t->ops->destroy(t);
}

static void test_max_connections(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_conf_target(e, "/ok", 64 * 1024, 1);
    struct result r[4];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 4; i++)
        assert_int_equal(invoke(t, "{}", NULL, &r[i]), 0);
    assert_int_equal(t->ops->inflight(t), 4);
    for (int i = 0; i < 4; i++) {
        wait_result(e, &r[i]);
        assert_int_equal(r[i].o.kind, SL_OUTCOME_OK);
    }
    assert_int_equal(srv_count(&e->srv, &e->srv.requests), 4);
    assert_int_equal(srv_count(&e->srv, &e->srv.connections), 1);
    t->ops->destroy(t);
}

static void test_destroy_inflight(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_target(e, "/slow", 30000);
    struct result r[3];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++)
        assert_int_equal(invoke(t, "{}", NULL, &r[i]), 0);
    run_until(e, &e->srv.requests, 3, true);
    assert_int_equal(t->ops->inflight(t), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].fired, 0);
    t->ops->destroy(t);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].fired, 1);
        assert_int_equal(r[i].o.kind, SL_OUTCOME_RETRY);
        assert_string_equal(r[i].o.error, "cancelled");
        assert_true(r[i].o.reached_function);
    }
    /* Nothing fires later. */
    ev_run(e->loop, EVRUN_NOWAIT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].fired, 1);
}

static void test_destroy_from_callback(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_target(e, "/mixed", 30000);
    struct result slow = {0}, fast = {0};
    assert_int_equal(invoke(t, "slow", NULL, &slow), 0);
    run_until(e, &e->srv.requests, 1, true);
    fast.destroy_me = t;
    assert_int_equal(invoke(t, "ok", NULL, &fast), 0);
    wait_result(e, &fast);
    assert_int_equal(fast.o.kind, SL_OUTCOME_OK);
    /* The fast call's callback destroyed the target: the slow one was cancelled. */
    assert_int_equal(slow.fired, 1);
    assert_string_equal(slow.o.error, "cancelled");
    ev_run(e->loop, EVRUN_NOWAIT);
    assert_int_equal(slow.fired, 1);
    assert_int_equal(fast.fired, 1);
}

static void test_invoke_errors(void **state)
{
    struct env *e = *state;
    struct sl_target *t = make_target(e, "/ok", 1000);
    struct result r = {0};
    struct sl_invoke inv = {.payload = NULL, .len = 5};
    assert_int_equal(t->ops->invoke(t, &inv, on_done, &r), -EINVAL);
    inv.len = 0;
    assert_int_equal(t->ops->invoke(t, &inv, NULL, &r), -EINVAL);
    inv.timeout_ms = -1;
    assert_int_equal(t->ops->invoke(t, &inv, on_done, &r), -EINVAL);
    assert_int_equal(t->ops->inflight(t), 0);
    ev_run(e->loop, EVRUN_NOWAIT);
    assert_int_equal(r.fired, 0);
    /* An empty payload is allowed. */
    inv.timeout_ms = 0;
    assert_int_equal(t->ops->invoke(t, &inv, on_done, &r), 0);
    wait_result(e, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_OK);
    t->ops->destroy(t);
    sl_target_http_ops.destroy(NULL);
}

static void test_bad_urls(void **state)
{
    struct env *e = *state;
    const char *bad[] = {"",
                         "ftp://127.0.0.1/x",
                         "127.0.0.1:80",
                         "http://",
                         "http://a b/",
                         "http://host/\r\nX: y",
                         "file:///etc/passwd",
                         "https://[::1/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_target *t = (struct sl_target *)1;
        struct sl_err err = {0};
        int rc = sl_target_http_create_url(e->loop, "bad", bad[i], 0, &t, &err);
        if (rc != SL_ECONFIG)
            fail_msg("url accepted: %s (rc %d)", bad[i], rc);
        assert_null(t);
        assert_true(err.msg[0] != '\0');
    }
    struct sl_target *t = NULL;
    assert_int_equal(sl_target_http_create_url(e->loop, "t", NULL, 0, &t, NULL), SL_ECONFIG);
    assert_int_equal(sl_target_http_create_url(e->loop, "t", "HTTPS://example.com/", 0, &t, NULL),
                     0);
    t->ops->destroy(t);
}

/* A section built by hand, as the config loader would hand it over. */
static int create_from_json(struct env *e, const char *json, struct sl_target **t,
                            struct sl_err *err)
{
    json_error_t jerr;
    json_t *raw = json_loads(json, 0, &jerr);
    assert_non_null(raw);
    struct sl_cfg_typed sec = {.name = "fn", .type = "http", .raw = raw, .path = "functions[0]"};
    const struct sl_target_ops *ops = sl_target_find_type("http");
    assert_ptr_equal(ops, &sl_target_http_ops);
    struct sl_env env = {.loop = e->loop};
    int rc = ops->create(&env, &sec, t, err);
    json_decref(raw);
    return rc;
}

static void test_config_and_secrets(void **state)
{
    struct env *e = *state;
    char json[512];
    snprintf(json, sizeof(json),
             "{\"name\":\"fn\",\"type\":\"http\",\"url\":\"http://user:pw@127.0.0.1:%d/echo\","
             "\"timeout\":\"2s\",\"headers\":{\"Authorization\":\"Bearer s3cr3t\","
             "\"X-Tenant\":\"t1\"},\"max_response_bytes\":\"64KiB\",\"max_connections\":2}",
             e->srv.port);
    struct sl_target *t = NULL;
    struct sl_err err = {0};
    if (create_from_json(e, json, &t, &err) != 0)
        fail_msg("create: %s", err.msg);
    assert_string_equal(t->name, "fn");

    struct result r = {0};
    assert_int_equal(invoke(t, "{\"a\":1}", NULL, &r), 0);
    wait_result(e, &r);
    assert_int_equal(r.o.kind, SL_OUTCOME_OK);
    assert_non_null(strstr(e->srv.last_headers, "\nAuthorization: Bearer s3cr3t\r"));
    assert_non_null(strstr(e->srv.last_headers, "\nX-Tenant: t1\r"));

    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_jw w;
    sl_jw_init(&w, &b);
    t->ops->describe(t, &w);
    json_t *d = json_loads(b.data, 0, NULL);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "type")), "http");
    assert_int_equal(json_integer_value(json_object_get(d, "inflight")), 0);
    const char *url = json_string_value(json_object_get(d, "url"));
    assert_non_null(url);
    assert_non_null(strstr(url, "127.0.0.1"));
    assert_null(strstr(b.data, "s3cr3t"));
    assert_null(strstr(b.data, "pw@"));
    json_decref(d);
    sl_buf_release(&b);
    t->ops->destroy(t);

    /* Errors: missing url, out of bounds, unknown key, a header value that would inject. */
    const char *bad[] = {
        "{\"name\":\"fn\",\"type\":\"http\"}",
        "{\"url\":\"http://h/\",\"timeout\":\"20m\"}",
        "{\"url\":\"http://h/\",\"max_connections\":0}",
        "{\"url\":\"http://h/\",\"max_response_bytes\":\"100B\"}",
        "{\"url\":\"http://h/\",\"bogus\":1}",
        "{\"url\":\"gopher://h/\"}",
        "{\"url\":\"http://h/\",\"headers\":{\"Authorization\":\"s3cr3t\\r\\nX: y\"}}",
        "{\"url\":\"http://h/\",\"headers\":{\"Bad Name\":\"v\"}}",
        "{\"url\":\"http://h/\",\"headers\":{\"Content-Length\":\"5\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = (struct sl_target *)1;
        memset(&err, 0, sizeof(err));
        if (create_from_json(e, bad[i], &t, &err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_null(t);
        assert_true(err.msg[0] != '\0');
        if (strstr(err.msg, "s3cr3t"))
            fail_msg("secret in error: %s", err.msg);
    }
}

static void test_registry(void **state)
{
    assert_ptr_equal(sl_target_find_type("http"), &sl_target_http_ops);
    assert_null(sl_target_find_type("lambda-nope"));
    assert_null(sl_target_find_type(NULL));
    assert_ptr_equal(sl_target_types[0], &sl_target_http_ops);
    assert_ptr_equal(sl_target_find_type("lambda"), &sl_target_lambda_ops);
    assert_ptr_equal(sl_target_types[1], &sl_target_lambda_ops);
    assert_ptr_equal(sl_target_find_type("runtime"), &sl_target_runtime_ops);
    assert_ptr_equal(sl_target_types[2], &sl_target_runtime_ops);
    assert_ptr_equal(sl_target_find_type("alias"), &sl_target_alias_ops);
    assert_ptr_equal(sl_target_types[3], &sl_target_alias_ops);
    assert_null(sl_target_types[4]);
    assert_string_equal(sl_target_http_ops.type, "http");
    assert_ptr_equal(sl_target_http_ops.props, &sl_http_target_props);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_and_request_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invoke_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_and_secrets, setup, teardown),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
