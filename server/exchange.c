#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/mem.h"
#include "server/internal.h"

/* Buffers bigger than this are given back after a response instead of kept for reuse. */
#define SL_HTTP_KEEP_CAP (256 * 1024)

struct sl_http_exchange *sl_http_exchange_create(const char *peer)
{
    struct sl_http_exchange *x = SL_NEW(struct sl_http_exchange);
    sl_http_msg_init(&x->msg);
    snprintf(x->peer, sizeof(x->peer), "%s", peer);
    return x;
}

void sl_http_exchange_uncharge(struct sl_http_exchange *x)
{
    if (x->srv && x->charged)
        x->srv->buffered -= x->charged;
    x->charged = 0;
}

void sl_http_exchange_destroy(struct sl_http_exchange *x)
{
    if (!x)
        return;
    sl_http_exchange_uncharge(x);
    sl_http_msg_release(&x->msg);
    free(x);
}

void sl_http_exchange_orphan(struct sl_http_exchange *x)
{
    struct sl_http_server *srv = x->srv;
    x->conn = NULL;
    x->orphan_prev = NULL;
    x->orphan_next = srv->orphans;
    if (srv->orphans)
        srv->orphans->orphan_prev = x;
    srv->orphans = x;
}

static void orphan_unlink(struct sl_http_exchange *x)
{
    if (!x->srv)
        return;
    if (x->orphan_prev)
        x->orphan_prev->orphan_next = x->orphan_next;
    else
        x->srv->orphans = x->orphan_next;
    if (x->orphan_next)
        x->orphan_next->orphan_prev = x->orphan_prev;
}

const struct sl_http_req *sl_http_exchange_req(const struct sl_http_exchange *x)
{
    return x && x->pending ? &x->msg.req : NULL;
}

const char *sl_http_header_get(const struct sl_http_req *req, const char *name, size_t *len)
{
    if (!req || !name)
        return NULL;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sl_http_header *h = &req->headers[i];
        if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

/* Marks x answered. Returns its connection, or NULL when the response is to be dropped (x is
 * then freed). */
static struct sl_http_conn *answer(struct sl_http_exchange *x)
{
    if (!x)
        return NULL;
    if (!x->pending) {
        sl_warn("server:http", "an exchange was answered twice: ignoring the second response");
        return NULL;
    }
    x->pending = false;
    if (x->srv)
        x->srv->pending--;
    if (!x->conn) {
        orphan_unlink(x);
        sl_http_exchange_destroy(x);
        return NULL;
    }
    return x->conn;
}

static void finish(struct sl_http_exchange *x, struct sl_http_conn *c, bool keep_alive)
{
    struct sl_http_msg *msg = &x->msg;
    sl_http_exchange_uncharge(x);
    if (msg->body.cap > SL_HTTP_KEEP_CAP)
        sl_buf_release(&msg->body);
    if (msg->text.cap > SL_HTTP_KEEP_CAP)
        sl_buf_release(&msg->text);
    sl_http_msg_reset(msg);
    c->close_after = !keep_alive;
    sl_http_conn_responded(c);
}

void sl_http_respond(struct sl_http_exchange *x, int status, const char *content_type,
                     const char *const *headers, size_t nheaders, const void *body, size_t len)
{
    struct sl_http_conn *c = answer(x);
    if (!c)
        return;
    /* A probe connection holds a slot beyond max_connections: it serves one request. */
    bool keep_alive = x->msg.keep_alive && !c->srv->draining && !c->probe_only;
    sl_http_response_build(&c->wbuf, status, content_type, headers, nheaders, body, len, keep_alive,
                           x->msg.http10, x->msg.head);
    finish(x, c, keep_alive);
}

void sl_http_respond_error(struct sl_http_exchange *x, int status, const char *code,
                           const char *message)
{
    struct sl_buf body;
    sl_buf_init(&body);
    sl_http_error_json(&body, status, code, message);
    sl_http_respond(x, status, "application/json", NULL, 0, body.data, body.len);
    sl_buf_release(&body);
}

void sl_http_respond_json(struct sl_http_exchange *x, int status, const char *json, size_t len)
{
    sl_http_respond(x, status, "application/json", NULL, 0, json, len);
}

void sl_http_exchange_abort(struct sl_http_exchange *x)
{
    struct sl_http_conn *c = answer(x);
    if (!c)
        return;
    /* A reset, not an orderly close: the client sees the connection fail. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    sl_http_conn_close(c);
}
