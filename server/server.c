/* The listener: accepts connections and owns them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "server/internal.h"

/* After EMFILE and similar, accepting pauses this long instead of spinning. */
#define SL_HTTP_ACCEPT_PAUSE_S 0.1

/* Over a connection limit: one best-effort 503 and close, without keeping any state. */
static void reject(int fd, const char *code, const char *msg)
{
    char junk[4096];
    struct sl_buf b;
    sl_buf_init(&b);
    sl_http_response_error(&b, 503, code, msg, NULL, false);
    ssize_t n = send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    sl_buf_release(&b);
    shutdown(fd, SHUT_WR);
    /* Unread input would turn the close into a reset that can hide the 503. */
    n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
    close(fd);
}

/* True when addr already holds max_connections_per_ip connections. A walk over the
 * connections (at most max_connections) costs less than keeping a table in step. */
static bool peer_full(const struct sl_http_server *srv, const unsigned char addr[16])
{
    size_t cap = srv->limits.max_connections_per_ip, n = 0;
    if (cap == 0)
        return false;
    for (const struct sl_http_conn *c = srv->conns; c; c = c->next) {
        if (memcmp(c->addr, addr, 16) == 0 && ++n >= cap)
            return true;
    }
    return false;
}

static void accept_pause(struct sl_http_server *srv, int e)
{
    sl_warn(srv->scope, "accept failed (%s): pausing accepts for %.0f ms", strerror(e),
            SL_HTTP_ACCEPT_PAUSE_S * 1000);
    ev_io_stop(srv->loop, &srv->accept_io);
    ev_timer_set(&srv->accept_pause, SL_HTTP_ACCEPT_PAUSE_S, 0.);
    ev_timer_start(srv->loop, &srv->accept_pause);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_http_server *srv = w->data;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t slen = sizeof(ss);
        int fd = accept4(srv->fd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                accept_pause(srv, e);
                return;
            }
            sl_warn(srv->scope, "accept failed: %s", strerror(e));
            return;
        }
        unsigned char addr[16];
        sl_http_peer_addr(&ss, addr);
        char msg[96];
        if (peer_full(srv, addr)) {
            snprintf(msg, sizeof(msg), "connection limit of %zu per client address reached",
                     srv->limits.max_connections_per_ip);
            reject(fd, "too_many_connections_per_ip", msg);
            continue;
        }
        bool probe_only = false;
        if (srv->nconns - srv->nprobe >= srv->limits.max_connections) {
            /* Full: a probe slot still lets health checks through (the path is known only once
             * the request line is read). */
            if (!srv->limits.probe_paths || srv->nprobe >= srv->limits.probe_connections) {
                snprintf(msg, sizeof(msg), "connection limit of %zu reached",
                         srv->limits.max_connections);
                reject(fd, "too_many_connections", msg);
                continue;
            }
            probe_only = true;
        }
        char peer[SL_HTTP_PEER_MAX];
        sl_http_peer_format(&ss, peer, sizeof(peer));
        sl_http_conn_create(srv, fd, peer, addr, probe_only);
    }
}

static void on_accept_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_http_server *srv = w->data;
    if (srv->fd >= 0)
        ev_io_start(loop, &srv->accept_io);
}

int sl_http_server_create(struct ev_loop *loop, const char *listen,
                          const struct sl_http_limits *limits, sl_http_handler_cb handler,
                          void *arg, struct sl_http_server **out, struct sl_err *err)
{
    if (!loop || !handler || !out)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "http server: missing argument");
    int fd = -1, port = 0;
    int rc = sl_http_listen_open(listen, &fd, &port, err);
    if (rc < 0)
        return rc;
    struct sl_http_server *srv = SL_NEW(struct sl_http_server);
    srv->loop = loop;
    sl_http_limits_defaults(limits, &srv->limits);
    srv->handler = handler;
    srv->arg = arg;
    if (handler == sl_http_router_handle) {
        /* The router knows which route a request goes to, and so whose hook to run. */
        srv->on_headers = sl_http_router_headers;
        srv->on_headers_arg = arg;
    }
    srv->fd = fd;
    srv->port = port;
    snprintf(srv->scope, sizeof(srv->scope), "server:http:%d", port);
    ev_io_init(&srv->accept_io, on_accept, fd, EV_READ);
    srv->accept_io.data = srv;
    ev_init(&srv->accept_pause, on_accept_resume);
    srv->accept_pause.data = srv;
    ev_io_start(loop, &srv->accept_io);
    sl_info(srv->scope, "listening on %s (port %d)", listen, port);
    *out = srv;
    return 0;
}

void sl_http_server_set_headers_hook(struct sl_http_server *srv, sl_http_headers_cb cb, void *arg)
{
    if (!srv)
        return;
    srv->on_headers = cb;
    srv->on_headers_arg = arg;
}

size_t sl_http_server_buffered(const struct sl_http_server *srv)
{
    return srv ? srv->buffered : 0;
}

int sl_http_server_port(const struct sl_http_server *srv)
{
    return srv ? srv->port : -1;
}

size_t sl_http_server_pending(const struct sl_http_server *srv)
{
    return srv ? srv->pending : 0;
}

static void close_listener(struct sl_http_server *srv)
{
    ev_io_stop(srv->loop, &srv->accept_io);
    ev_timer_stop(srv->loop, &srv->accept_pause);
    if (srv->fd >= 0) {
        close(srv->fd);
        srv->fd = -1;
    }
}

void sl_http_server_stop_accepting(struct sl_http_server *srv)
{
    if (!srv || srv->draining)
        return;
    srv->draining = true;
    close_listener(srv);
    struct sl_http_conn *c = srv->conns;
    while (c) {
        struct sl_http_conn *next = c->next;
        sl_http_conn_drain(c);
        c = next;
    }
}

void sl_http_server_destroy(struct sl_http_server *srv)
{
    if (!srv)
        return;
    close_listener(srv);
    while (srv->conns)
        sl_http_conn_close(srv->conns);
    for (struct sl_http_exchange *x = srv->orphans; x;) {
        struct sl_http_exchange *next = x->orphan_next;
        x->srv = NULL;
        x->orphan_prev = x->orphan_next = NULL;
        x = next;
    }
    free(srv);
}
