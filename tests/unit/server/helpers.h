/* Test helpers for server/: real client sockets on loopback, driven from the test's thread
 * while the server's loop runs with EVRUN_NOWAIT. Waiting uses poll() on the client socket and
 * a deadline, never a fixed sleep. */
#ifndef SL_TEST_SERVER_HELPERS_H
#define SL_TEST_SERVER_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "core/time.h"

#define TH_TIMEOUT_MS 30000
#define TH_BUF_MAX    (12 * 1024 * 1024)

struct th_client {
    int fd;
    char *buf; /* received, not yet consumed */
    size_t len;
    bool eof;
    bool reset;
};

struct th_resp {
    int status;
    char head[8192]; /* status line and headers, NUL-terminated */
    char *body;      /* NUL-terminated, owned: th_resp_free */
    size_t body_len;
};

typedef bool (*th_cond_fn)(void *arg);

/* Runs the loop until cond holds (true) or the deadline passes (false). */
static inline bool th_pump_until(struct ev_loop *loop, th_cond_fn cond, void *arg,
                                 int64_t timeout_ms)
{
    int64_t end = sl_mono_ms() + timeout_ms;
    for (long i = 0; i < 10000000; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        if (cond(arg))
            return true;
        if (sl_mono_ms() > end)
            return false;
        poll(NULL, 0, 0);
    }
    return false;
}

static inline struct th_client *th_connect(int port)
{
    struct th_client *c = calloc(1, sizeof(*c));
    c->buf = malloc(TH_BUF_MAX + 1);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(c->fd);
        c->fd = -1;
    } else {
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    }
    return c;
}

static inline void th_close(struct th_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c);
}

/* Reads what is available without blocking. */
static inline void th_recv(struct th_client *c)
{
    while (!c->eof && c->len < TH_BUF_MAX) {
        ssize_t n = recv(c->fd, c->buf + c->len, TH_BUF_MAX - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            c->eof = true;
        } else if (errno == ECONNRESET) {
            c->eof = true;
            c->reset = true;
        }
        break;
    }
    c->buf[c->len] = '\0';
}

struct th_send_ctx {
    struct th_client *c;
    const char *p;
    size_t left;
};

static inline bool th_send_step(void *arg)
{
    struct th_send_ctx *s = arg;
    while (s->left > 0) {
        ssize_t n = send(s->c->fd, s->p, s->left, MSG_NOSIGNAL);
        if (n <= 0)
            return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK; /* give up on errors */
        s->p += n;
        s->left -= (size_t)n;
    }
    return true;
}

/* Sends everything, running the loop while the socket is full. */
static inline bool th_send(struct ev_loop *loop, struct th_client *c, const void *p, size_t n)
{
    struct th_send_ctx s = {c, p, n};
    return th_pump_until(loop, th_send_step, &s, TH_TIMEOUT_MS) && s.left == 0;
}

static inline bool th_sends(struct ev_loop *loop, struct th_client *c, const char *s)
{
    return th_send(loop, c, s, strlen(s));
}

/* Value of a header in a response head, copied into out; false if absent. */
static inline bool th_resp_header(const struct th_resp *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = end ? (size_t)(end - v) : strlen(v);
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        line = strstr(line, "\r\n");
    }
    return false;
}

/* Takes one complete response off the client's buffer: 1 done, 0 incomplete, -1 malformed. */
static inline int th_take_response(struct th_client *c, struct th_resp *r, bool head_only)
{
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - c->buf) + 4;
    if (hlen >= sizeof(r->head))
        return -1;
    memset(r, 0, sizeof(*r));
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    char cl[32];
    size_t blen = 0;
    if (!head_only && th_resp_header(r, "Content-Length", cl, sizeof(cl)))
        blen = strtoul(cl, NULL, 10);
    if (c->len < hlen + blen)
        return 0;
    r->body = malloc(blen + 1);
    memcpy(r->body, c->buf + hlen, blen);
    r->body[blen] = '\0';
    r->body_len = blen;
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    c->buf[c->len] = '\0';
    return 1;
}

static inline void th_resp_free(struct th_resp *r)
{
    free(r->body);
    r->body = NULL;
}

struct th_read_ctx {
    struct th_client *c;
    struct th_resp *r;
    bool head_only;
    int rc;
};

static inline bool th_read_step(void *arg)
{
    struct th_read_ctx *s = arg;
    th_recv(s->c);
    s->rc = th_take_response(s->c, s->r, s->head_only);
    return s->rc != 0 || s->c->eof;
}

/* Waits for one complete response; true if one arrived. */
static inline bool th_read_response_ex(struct ev_loop *loop, struct th_client *c, struct th_resp *r,
                                       bool head_only)
{
    struct th_read_ctx s = {c, r, head_only, 0};
    memset(r, 0, sizeof(*r));
    th_pump_until(loop, th_read_step, &s, TH_TIMEOUT_MS);
    if (s.rc == 0 && c->len > 0) /* eof right after the last bytes */
        s.rc = th_take_response(c, r, head_only);
    return s.rc == 1;
}

static inline bool th_read_response(struct ev_loop *loop, struct th_client *c, struct th_resp *r)
{
    return th_read_response_ex(loop, c, r, false);
}

static inline bool th_eof_step(void *arg)
{
    struct th_client *c = arg;
    th_recv(c);
    return c->eof;
}

/* Waits for the server to close the connection; true if it did. */
static inline bool th_wait_closed(struct ev_loop *loop, struct th_client *c)
{
    return th_pump_until(loop, th_eof_step, c, TH_TIMEOUT_MS);
}

/* Runs the loop for a moment (ms) and reports whether the client got anything or EOF. */
static inline bool th_quiet_for(struct ev_loop *loop, struct th_client *c, int64_t ms)
{
    th_pump_until(loop, th_eof_step, c, ms);
    return c->len == 0 && !c->eof;
}

#endif
