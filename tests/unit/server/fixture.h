/* A server on 127.0.0.1:0 in its own loop, with a handler that echoes the request or parks the
 * exchange for the test to answer later. */
#ifndef SL_TEST_SERVER_FIXTURE_H
#define SL_TEST_SERVER_FIXTURE_H

#include "core/buf.h"
#include "server/http.h"
#include "server/internal.h"
#include "tests/unit/server/helpers.h"

#define FX_PARK_MAX 16

enum fx_mode {
    FX_ECHO = 0, /* answer at once: "<method> <path> q=<query> b=<body> h=<x-test>" */
    FX_PARK,     /* keep the exchange in parked[] */
};

struct fx {
    struct ev_loop *loop;
    struct sl_http_server *srv;
    int port;
    enum fx_mode mode;
    struct sl_http_exchange *parked[FX_PARK_MAX];
    size_t nparked;
    int calls;
    int depth, max_depth; /* handler nesting */
    char peers[FX_PARK_MAX][64];
    char paths[FX_PARK_MAX][64];
};

static inline void fx_echo(struct sl_http_exchange *x, const struct sl_http_req *req)
{
    struct sl_buf b;
    size_t hlen = 0;
    const char *h = sl_http_header_get(req, "x-test", &hlen);
    sl_buf_init(&b);
    sl_buf_printf(&b, "%s %s q=%s b=", req->method, req->path, req->query);
    sl_buf_append(&b, req->body, req->body_len);
    sl_buf_puts(&b, " h=");
    if (h)
        sl_buf_append(&b, h, hlen);
    sl_http_respond(x, 200, "text/plain", NULL, 0, b.data, b.len);
    sl_buf_release(&b);
}

static inline void fx_handler(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fx *f = arg;
    f->depth++;
    if (f->depth > f->max_depth)
        f->max_depth = f->depth;
    int i = f->calls++ % FX_PARK_MAX;
    snprintf(f->peers[i], sizeof(f->peers[i]), "%s", req->peer);
    snprintf(f->paths[i], sizeof(f->paths[i]), "%s", req->path);
    if (f->mode == FX_PARK && f->nparked < FX_PARK_MAX)
        f->parked[f->nparked++] = x;
    else
        fx_echo(x, req);
    f->depth--;
}

static inline struct fx *fx_start_with(const struct sl_http_limits *limits,
                                       sl_http_handler_cb handler, void *arg)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sl_err err = {0};
    f->loop = ev_loop_new(EVFLAG_AUTO);
    int rc = sl_http_server_create(f->loop, "127.0.0.1:0", limits, handler, arg ? arg : f, &f->srv,
                                   &err);
    if (rc < 0) {
        fprintf(stderr, "server: %s\n", err.msg);
        abort();
    }
    f->port = sl_http_server_port(f->srv);
    return f;
}

static inline struct fx *fx_start(const struct sl_http_limits *limits)
{
    return fx_start_with(limits, fx_handler, NULL);
}

static inline void fx_stop(struct fx *f)
{
    sl_http_server_destroy(f->srv);
    /* Parked exchanges not answered by the test (fx_answer) are answered now: they free
     * themselves. */
    for (size_t i = 0; i < f->nparked; i++)
        if (f->parked[i])
            sl_http_respond(f->parked[i], 200, NULL, NULL, 0, NULL, 0);
    ev_loop_destroy(f->loop);
    free(f);
}

/* Answers parked exchange i with 200 and the given body, and forgets it. */
static inline void fx_answer(struct fx *f, size_t i, const char *body)
{
    struct sl_http_exchange *x = f->parked[i];
    f->parked[i] = NULL;
    sl_http_respond(x, 200, "text/plain", NULL, 0, body, strlen(body));
}

struct fx_wait {
    struct fx *f;
    size_t n;
};

static inline bool fx_parked_step(void *arg)
{
    struct fx_wait *w = arg;
    return w->f->nparked >= w->n;
}

/* Waits until n exchanges are parked. */
static inline bool fx_wait_parked(struct fx *f, size_t n)
{
    struct fx_wait w = {f, n};
    return th_pump_until(f->loop, fx_parked_step, &w, TH_TIMEOUT_MS);
}

static inline bool fx_conns_step(void *arg)
{
    struct fx_wait *w = arg;
    return w->f->srv->nconns == w->n;
}

/* Waits until the server holds exactly n connections. */
static inline bool fx_wait_conns(struct fx *f, size_t n)
{
    struct fx_wait w = {f, n};
    return th_pump_until(f->loop, fx_conns_step, &w, TH_TIMEOUT_MS);
}

#endif
