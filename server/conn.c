/* One client connection: reads, parses one request at a time, hands it to the handler, writes
 * the response, then either waits for the next request or closes. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "server/internal.h"

#define SL_HTTP_READ_CHUNK (16 * 1024)
/* While a request is with the handler, input is read ahead only up to this many bytes (to see
 * the client go away); then reading pauses until the response is written. */
#define SL_HTTP_READ_AHEAD (64 * 1024)
#define SL_HTTP_LINGER_MS  2000
#define SL_HTTP_KEEP_CAP   (256 * 1024)
/* Retry-After of the 503 for a full body budget: uploads in progress finish within seconds. */
#define SL_HTTP_BUSY_RETRY_AFTER "Retry-After: 1"

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_process(struct sl_http_conn *c);

static void conn_free(struct sl_http_conn *c)
{
    sl_buf_release(&c->rbuf);
    sl_buf_release(&c->wbuf);
    free(c);
}

static struct ev_loop *conn_loop(struct sl_http_conn *c)
{
    return c->srv->loop;
}

static void timer_set(struct sl_http_conn *c, int64_t ms)
{
    c->timer.repeat = (ev_tstamp)ms / 1000.0;
    ev_timer_again(conn_loop(c), &c->timer);
}

static int64_t conn_now_ms(struct sl_http_conn *c)
{
    return (int64_t)(ev_now(conn_loop(c)) * 1000.0);
}

/* Arms the timer for a wait of `ms`, shortened to the header deadline while the first request's
 * headers are still due (header_timeout_ms). */
static void timer_wait(struct sl_http_conn *c, int64_t ms)
{
    if (c->header_deadline_ms > 0) {
        int64_t left = c->header_deadline_ms - conn_now_ms(c);
        if (left < 1)
            left = 1;
        if (left < ms)
            ms = left;
    }
    timer_set(c, ms);
}

static void read_on(struct sl_http_conn *c)
{
    if (!c->peer_eof && !ev_is_active(&c->rio))
        ev_io_start(conn_loop(c), &c->rio);
}

static void read_off(struct sl_http_conn *c)
{
    if (ev_is_active(&c->rio))
        ev_io_stop(conn_loop(c), &c->rio);
}

void sl_http_conn_close(struct sl_http_conn *c)
{
    if (c->closed)
        return;
    struct sl_http_server *srv = c->srv;
    c->closed = true;
    /* Stopping also clears events already fed or pending for these watchers. */
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    ev_timer_stop(srv->loop, &c->timer);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    if (c->probe_only)
        srv->nprobe--;
    if (c->x) {
        if (c->x->pending)
            sl_http_exchange_orphan(c->x);
        else
            sl_http_exchange_destroy(c->x);
        c->x = NULL;
    }
    c->srv = NULL;
    if (c->busy == 0)
        conn_free(c);
}

/* Writes what is queued. Returns 0 when all is written, 1 when the socket is full (the write
 * watcher then takes over), -1 when the connection was closed. */
static int conn_flush(struct sl_http_conn *c)
{
    while (c->wpos < c->wbuf.len) {
        ssize_t n = send(c->fd, c->wbuf.data + c->wpos, c->wbuf.len - c->wpos, MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!ev_is_active(&c->wio))
                ev_io_start(conn_loop(c), &c->wio);
            return 1;
        }
        sl_http_conn_close(c);
        return -1;
    }
    if (c->wbuf.cap > SL_HTTP_KEEP_CAP)
        sl_buf_release(&c->wbuf);
    sl_buf_reset(&c->wbuf);
    c->wpos = 0;
    if (ev_is_active(&c->wio))
        ev_io_stop(conn_loop(c), &c->wio);
    return 0;
}

/* The last response is out: shut the write side, then read and drop input for a moment so the
 * client sees the response rather than a reset caused by unread data. */
static void conn_linger(struct sl_http_conn *c)
{
    if (c->peer_eof) {
        sl_http_conn_close(c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = SL_HTTP_CONN_LINGER;
    sl_buf_reset(&c->rbuf);
    c->rpos = 0;
    read_on(c);
    int64_t ms = c->srv->limits.idle_timeout_ms;
    timer_set(c, ms < SL_HTTP_LINGER_MS ? ms : SL_HTTP_LINGER_MS);
}

/* Queues an error the server answers by itself (header: one extra line, or NULL); the
 * connection closes after it. What was read of the request's body is dropped at once. */
static void conn_fail(struct sl_http_conn *c, int status, const char *code, const char *message,
                      const char *header)
{
    sl_debug(c->srv->scope, "%s: %d %s", c->x->peer, status, message);
    sl_http_exchange_uncharge(c->x);
    sl_buf_release(&c->x->msg.body);
    sl_http_response_error(&c->wbuf, status, code, message, header, false);
    c->close_after = true;
    c->state = SL_HTTP_CONN_WRITING;
    read_off(c);
}

/* Counts what a chunked body grew by against the listener's budget (a Content-Length body was
 * counted whole at its headers). Returns false when that goes beyond the budget: the request
 * then gets 503 and what was read of it is dropped. */
static bool conn_charge_body(struct sl_http_conn *c)
{
    struct sl_http_server *srv = c->srv;
    struct sl_http_exchange *x = c->x;
    size_t len = x->msg.body.len;
    if (len <= x->charged)
        return true;
    srv->buffered += len - x->charged;
    x->charged = len;
    return srv->buffered <= srv->limits.max_buffered_bytes;
}

static void conn_busy(struct sl_http_conn *c)
{
    char msg[128];
    snprintf(msg, sizeof(msg),
             "the request bodies this listener holds would exceed max_buffered_bytes (%zu "
             "bytes); retry later",
             c->srv->limits.max_buffered_bytes);
    conn_fail(c, 503, "server_busy", msg, SL_HTTP_BUSY_RETRY_AFTER);
}

/* The request's headers are in and its body is not read yet: the cheap place to refuse it (the
 * route's hook, e.g. a wrong token; the listener's body budget) before holding any of the body.
 * A refusal queues its error response and closes the connection after it, as the body is
 * unread. */
static bool probe_path(const struct sl_http_server *srv, const char *path)
{
    for (const char *const *p = srv->limits.probe_paths; p && *p; p++) {
        if (strcmp(*p, path) == 0)
            return true;
    }
    return false;
}

static void conn_headers(struct sl_http_conn *c)
{
    struct sl_http_server *srv = c->srv;
    struct sl_http_exchange *x = c->x;
    x->msg.req.peer = x->peer;
    if (c->header_deadline_ms > 0) {
        /* The headers came in time: from here the request timeout alone applies. */
        c->header_deadline_ms = 0;
        int64_t left = srv->limits.request_timeout_ms - (conn_now_ms(c) - c->req_start_ms);
        timer_set(c, left < 1 ? 1 : left);
    }
    if (c->probe_only && !probe_path(srv, x->msg.req.path)) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "connection limit of %zu reached (only health probes are answered)",
                 srv->limits.max_connections);
        conn_fail(c, 503, "too_many_connections", msg, NULL);
        return;
    }
    if (srv->on_headers) {
        struct sl_http_reject rej = {0};
        int status = srv->on_headers(&x->msg.req, srv->on_headers_arg, &rej);
        if (status != 0) {
            if (status < 400 || status > 599) {
                sl_warn(srv->scope, "a headers hook returned %d: answering 500", status);
                status = 500;
            }
            conn_fail(c, status, rej.code ? rej.code : "rejected",
                      rej.message ? rej.message : sl_http_status_text(status), rej.header);
            return;
        }
    }
    int64_t announced = x->msg.req.content_length;
    size_t want = announced > 0 ? (size_t)announced : 0;
    size_t max = srv->limits.max_buffered_bytes;
    /* A chunked body (-1) is counted as it grows, but is not started on a full budget. */
    if (announced != 0 && (srv->buffered >= max || want > max - srv->buffered)) {
        conn_busy(c);
        return;
    }
    x->charged = want;
    srv->buffered += want;
}

static void conn_dispatch(struct sl_http_conn *c)
{
    struct sl_http_server *srv = c->srv;
    struct sl_http_exchange *x = c->x;
    c->state = SL_HTTP_CONN_PENDING;
    c->in_request = false;
    ev_timer_stop(srv->loop, &c->timer);
    if (c->rbuf.len - c->rpos >= SL_HTTP_READ_AHEAD)
        read_off(c);
    x->msg.req.peer = x->peer;
    x->pending = true;
    srv->pending++;
    srv->handler(x, &x->msg.req, srv->arg);
}

/* Parses what has been read. Returns false when processing must stop for now. */
static bool conn_parse(struct sl_http_conn *c)
{
    struct sl_http_server *srv = c->srv;
    if (!c->in_request) {
        if (srv->draining) {
            sl_http_conn_close(c);
            return false;
        }
        if (c->rpos == c->rbuf.len) {
            read_on(c);
            timer_wait(c, srv->limits.idle_timeout_ms);
            return false;
        }
        c->in_request = true;
        c->continue_sent = false;
        sl_http_parse_begin(&c->ps, &c->x->msg);
        c->req_start_ms = conn_now_ms(c);
        timer_wait(c, srv->limits.request_timeout_ms);
    }
    size_t used = 0;
    int st = sl_http_parse_feed(&c->ps, c->rbuf.data + c->rpos, c->rbuf.len - c->rpos, &used);
    c->rpos += used;
    if (c->rpos == c->rbuf.len) {
        sl_buf_reset(&c->rbuf);
        c->rpos = 0;
    }
    if (st == SL_HTTP_PARSE_MORE || st == SL_HTTP_PARSE_DONE) {
        /* A body that is complete is held already: it is counted and goes on. */
        if (!conn_charge_body(c) && st == SL_HTTP_PARSE_MORE) {
            conn_busy(c);
            return true;
        }
    }
    switch (st) {
    case SL_HTTP_PARSE_HEADERS:
        conn_headers(c);
        return true;
    case SL_HTTP_PARSE_MORE:
        if (c->ps.want_continue && !c->continue_sent) {
            c->continue_sent = true;
            sl_buf_append(&c->wbuf, continue_line, sizeof(continue_line) - 1);
            if (conn_flush(c) < 0)
                return false;
        }
        read_on(c);
        return false;
    case SL_HTTP_PARSE_ERROR:
        conn_fail(c, c->ps.err_status, c->ps.err_code, c->ps.err_msg, NULL);
        return true;
    default:
        conn_dispatch(c);
        return true;
    }
}

static void conn_process(struct sl_http_conn *c)
{
    c->busy++;
    while (!c->closed) {
        if (c->state == SL_HTTP_CONN_WRITING) {
            int r = conn_flush(c);
            if (r < 0)
                break;
            if (r > 0) {
                timer_set(c, c->srv->limits.idle_timeout_ms); /* write stall */
                break;
            }
            if (c->close_after || c->peer_eof) {
                conn_linger(c);
                break;
            }
            c->state = SL_HTTP_CONN_READING;
            c->in_request = false;
            continue;
        }
        if (c->state != SL_HTTP_CONN_READING || !conn_parse(c))
            break;
    }
    c->busy--;
    if (c->closed && c->busy == 0)
        conn_free(c);
}

void sl_http_conn_responded(struct sl_http_conn *c)
{
    c->state = SL_HTTP_CONN_WRITING;
    if (c->busy > 0)
        return; /* answered from inside the handler: conn_process goes on by itself */
    /* Continue from the loop, never inside the caller's stack: the handler of the next
     * pipelined request must not run nested in somebody else's callback. */
    ev_feed_event(conn_loop(c), &c->wio, EV_WRITE);
}

void sl_http_conn_drain(struct sl_http_conn *c)
{
    if (c->state == SL_HTTP_CONN_READING && !c->in_request)
        sl_http_conn_close(c);
}

static void conn_eof(struct sl_http_conn *c)
{
    if (c->state == SL_HTTP_CONN_WRITING) {
        /* The client may only have shut its write side: finish the response, then close. */
        c->peer_eof = true;
        read_off(c);
        return;
    }
    /* Reading: a partial request is abandoned. Pending: the client is gone, the exchange
     * lives on until answered. Lingering: done. */
    sl_http_conn_close(c);
}

static void on_linger_read(struct sl_http_conn *c)
{
    char tmp[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        sl_http_conn_close(c);
        return;
    }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_http_conn *c = w->data;
    if (c->state == SL_HTTP_CONN_LINGER) {
        on_linger_read(c);
        return;
    }
    if (c->rpos > 0) {
        sl_buf_consume(&c->rbuf, c->rpos);
        c->rpos = 0;
    }
    char *dst = sl_buf_reserve(&c->rbuf, SL_HTTP_READ_CHUNK);
    ssize_t n = recv(c->fd, dst, SL_HTTP_READ_CHUNK, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        sl_http_conn_close(c);
        return;
    }
    if (n == 0) {
        conn_eof(c);
        return;
    }
    sl_buf_commit(&c->rbuf, (size_t)n);
    if (c->state == SL_HTTP_CONN_READING)
        conn_process(c);
    else if (c->rbuf.len - c->rpos >= SL_HTTP_READ_AHEAD)
        read_off(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_http_conn *c = w->data;
    if (c->state == SL_HTTP_CONN_WRITING) {
        conn_process(c);
        return;
    }
    conn_flush(c); /* a "100 Continue" while reading the body */
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_http_conn *c = w->data;
    ev_timer_stop(loop, w);
    if (c->state == SL_HTTP_CONN_READING && c->in_request) {
        conn_fail(c, 408, "request_timeout", "the request did not arrive in time", NULL);
        conn_process(c);
        return;
    }
    if (c->state == SL_HTTP_CONN_PENDING)
        return;
    /* Idle keep-alive connection, stalled writer or lingering close. */
    sl_http_conn_close(c);
}

void sl_http_conn_create(struct sl_http_server *srv, int fd, const char *peer,
                         const unsigned char addr[16], bool probe_only)
{
    struct sl_http_conn *c = SL_NEW(struct sl_http_conn);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->srv = srv;
    c->fd = fd;
    memcpy(c->addr, addr, sizeof(c->addr));
    c->probe_only = probe_only;
    c->state = SL_HTTP_CONN_READING;
    sl_buf_init(&c->rbuf);
    sl_buf_init(&c->wbuf);
    sl_http_parse_init(&c->ps, &srv->limits);
    c->ps.stop_at_headers = true; /* conn_headers runs before the body is read */
    c->x = sl_http_exchange_create(peer);
    c->x->srv = srv;
    c->x->conn = c;
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_init(&c->timer, on_timer);
    c->rio.data = c;
    c->wio.data = c;
    c->timer.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (probe_only)
        srv->nprobe++;
    if (srv->limits.header_timeout_ms > 0)
        c->header_deadline_ms = conn_now_ms(c) + srv->limits.header_timeout_ms;
    ev_io_start(srv->loop, &c->rio);
    timer_wait(c, srv->limits.idle_timeout_ms);
}
