#include "clients/redis/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/redis/arena.h"
#include "core/mem.h"
#include "core/time.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <hiredis/adapters/libev.h>
#pragma GCC diagnostic pop

struct conn_cmd {
    struct sl_redis_conn *c;
    uint64_t gen;
    sl_redis_reply_cb cb;
    void *priv;
};

void sl_redis_conn_endpoint(const struct sl_redis_conn_opts *o, char *out, size_t cap)
{
    if (o->unix_socket && *o->unix_socket)
        snprintf(out, cap, "%s", o->unix_socket);
    else
        snprintf(out, cap, "%s:%d", o->host ? o->host : "127.0.0.1", o->port);
}

static void dl_push(struct sl_redis_conn *c, int64_t deadline)
{
    if (c->dl_n == c->dl_cap) {
        size_t ncap = c->dl_cap ? c->dl_cap * 2 : 64;
        int64_t *v = sl_malloc(ncap * sizeof(*v));
        for (size_t i = 0; i < c->dl_n; i++)
            v[i] = c->deadlines[(c->dl_head + i) % c->dl_cap];
        free(c->deadlines);
        c->deadlines = v;
        c->dl_cap = ncap;
        c->dl_head = 0;
    }
    c->deadlines[(c->dl_head + c->dl_n) % c->dl_cap] = deadline;
    c->dl_n++;
}

static void watchdog_arm(struct sl_redis_conn *c)
{
    ev_timer_stop(c->loop, &c->watchdog);
    if (c->dl_n == 0)
        return;
    int64_t left = c->deadlines[c->dl_head] - sl_mono_ms();
    ev_timer_set(&c->watchdog, left > 0 ? (double)left / 1000.0 : 0.0, 0.);
    ev_timer_start(c->loop, &c->watchdog);
}

static void dl_pop(struct sl_redis_conn *c)
{
    if (c->dl_n == 0)
        return;
    c->dl_head = (c->dl_head + 1) % c->dl_cap;
    c->dl_n--;
    watchdog_arm(c);
}

/* Forgets the context: it is being freed (by hiredis or by us). */
static void conn_forget(struct sl_redis_conn *c)
{
    c->ac = NULL;
    c->up = false;
    c->handshake = 0;
    c->gen++;
    c->dl_n = 0;
    c->dl_head = 0;
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_timer_stop(c->loop, &c->watchdog);
}

void sl_redis_conn_close(struct sl_redis_conn *c)
{
    redisAsyncContext *ac = c->ac;
    if (!ac) {
        conn_forget(c);
        return;
    }
    conn_forget(c);
    ac->data = NULL;
    /* Pending callbacks run with NULL replies (now, or after the callback we are in). */
    redisAsyncFree(ac);
}

static void conn_fail(struct sl_redis_conn *c, const char *why)
{
    sl_redis_conn_close(c);
    c->state_cb(c, false, why, c->arg);
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct conn_cmd *cmd = privdata;
    struct sl_redis_conn *c = cmd->c;
    redisReply *reply = r;
    if (!reply || cmd->gen != c->gen) {
        cmd->cb(c, NULL, cmd->priv);
        free(cmd);
        return;
    }
    dl_pop(c);
    cmd->cb(c, reply, cmd->priv);
    free(cmd);
}

static struct conn_cmd *cmd_new(struct sl_redis_conn *c, sl_redis_reply_cb cb, void *priv)
{
    struct conn_cmd *cmd = sl_malloc(sizeof(*cmd));
    cmd->c = c;
    cmd->gen = c->gen;
    cmd->cb = cb;
    cmd->priv = priv;
    return cmd;
}

/* A command was queued: its deadline joins the FIFO. */
static void cmd_sent(struct sl_redis_conn *c, int64_t extra_ms)
{
    bool was_idle = c->dl_n == 0;
    dl_push(c, sl_mono_ms() + c->o.command_timeout_ms + extra_ms);
    if (was_idle)
        watchdog_arm(c);
}

static int conn_send(struct sl_redis_conn *c, int64_t extra_ms, sl_redis_reply_cb cb, void *priv,
                     int argc, const char **argv, const size_t *lens)
{
    struct conn_cmd *cmd = cmd_new(c, cb, priv);
    if (redisAsyncCommandArgv(c->ac, reply_cb, cmd, argc, argv, lens) != REDIS_OK) {
        free(cmd);
        return -ENOTCONN;
    }
    cmd_sent(c, extra_ms);
    return 0;
}

int sl_redis_conn_cmd(struct sl_redis_conn *c, int64_t extra_ms, sl_redis_reply_cb cb, void *priv,
                      int argc, const char **argv, const size_t *lens)
{
    if (!c->ac || !c->up)
        return -ENOTCONN;
    return conn_send(c, extra_ms, cb, priv, argc, argv, lens);
}

int sl_redis_conn_cmd_resp(struct sl_redis_conn *c, int64_t extra_ms, sl_redis_reply_cb cb,
                           void *priv, const char *resp, size_t len)
{
    if (!c->ac || !c->up)
        return -ENOTCONN;
    struct conn_cmd *cmd = cmd_new(c, cb, priv);
    if (redisAsyncFormattedCommand(c->ac, reply_cb, cmd, resp, len) != REDIS_OK) {
        free(cmd);
        return -ENOTCONN;
    }
    cmd_sent(c, extra_ms);
    return 0;
}

static void handshake_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    const char *what = priv;
    if (!reply)
        return; /* the disconnect callback reports it */
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[300];
        /* Redis's error text never repeats the password. */
        snprintf(why, sizeof(why), "%s failed: %.200s", what, reply->str);
        conn_fail(c, why);
        return;
    }
    if (--c->handshake == 0) {
        ev_timer_stop(c->loop, &c->connect_timer);
        c->up = true;
        c->state_cb(c, true, NULL, c->arg);
    }
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct sl_redis_conn *c = ac->data;
    if (!c || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        char why[300];
        snprintf(why, sizeof(why), "%s", ac->errstr[0] ? ac->errstr : "connect failed");
        conn_forget(c); /* hiredis frees the context after this callback */
        c->state_cb(c, false, why, c->arg);
        return;
    }
    c->handshake = 1;
    if (c->o.password && *c->o.password) {
        const char *argv[] = {"AUTH", c->o.password};
        c->handshake++;
        conn_send(c, 0, handshake_cb, "AUTH", 2, argv, NULL);
    }
    if (c->o.db != 0) {
        char db[24];
        snprintf(db, sizeof(db), "%lld", (long long)c->o.db);
        const char *argv[] = {"SELECT", db};
        c->handshake++;
        conn_send(c, 0, handshake_cb, "SELECT", 2, argv, NULL);
    }
    if (!(c->o.password && *c->o.password) && c->o.db == 0) {
        /* Nothing to send: a PING proves the server answers commands (a password-protected
         * server accepts the connection but refuses everything with NOAUTH). */
        const char *argv[] = {"PING"};
        c->handshake++;
        conn_send(c, 0, handshake_cb, "PING", 1, argv, NULL);
    }
    /* Closes the count: up once every handshake reply came (at once when there are none). */
    if (--c->handshake == 0) {
        ev_timer_stop(c->loop, &c->connect_timer);
        c->up = true;
        c->state_cb(c, true, NULL, c->arg);
    }
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct sl_redis_conn *c = ac->data;
    if (!c || c->ac != ac)
        return;
    char why[300];
    snprintf(why, sizeof(why), "%s",
             ac->errstr[0] ? ac->errstr : "the server closed the connection");
    conn_forget(c);
    c->state_cb(c, false, why, c->arg);
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_redis_conn *c = w->data;
    char why[96];
    snprintf(why, sizeof(why), "no connection within %lld ms (connect_timeout)",
             (long long)c->o.connect_timeout_ms);
    conn_fail(c, why);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_redis_conn *c = w->data;
    if (c->dl_n == 0)
        return;
    if (c->deadlines[c->dl_head] > sl_mono_ms()) {
        watchdog_arm(c);
        return;
    }
    char why[96];
    snprintf(why, sizeof(why), "no reply within %lld ms (command_timeout)",
             (long long)c->o.command_timeout_ms);
    conn_fail(c, why);
}

void sl_redis_conn_init(struct sl_redis_conn *c, struct ev_loop *loop,
                        const struct sl_redis_conn_opts *o, sl_redis_conn_state_cb cb, void *arg)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->o = *o;
    c->state_cb = cb;
    c->arg = arg;
    ev_init(&c->connect_timer, connect_timeout_cb);
    c->connect_timer.data = c;
    ev_init(&c->watchdog, watchdog_cb);
    c->watchdog.data = c;
}

int sl_redis_conn_connect(struct sl_redis_conn *c, char *why, size_t why_cap)
{
    sl_redis_conn_close(c);
    redisAsyncContext *ac = c->o.unix_socket && *c->o.unix_socket
                                ? redisAsyncConnectUnix(c->o.unix_socket)
                                : redisAsyncConnect(c->o.host, c->o.port);
    if (!ac) {
        snprintf(why, why_cap, "out of memory");
        return -ENOMEM;
    }
    if (ac->err) {
        snprintf(why, why_cap, "%s", ac->errstr);
        redisAsyncFree(ac);
        return -ECONNREFUSED;
    }
    if (redisLibevAttach(c->loop, ac) != REDIS_OK) {
        snprintf(why, why_cap, "cannot attach to the event loop");
        redisAsyncFree(ac);
        return -EINVAL;
    }
    if (c->arenas) {
        sl_redis_arenas_attach(c->arenas, &ac->c);
        /* hiredis frees its read buffer whenever it empties with more than maxbuf (16 KiB)
         * unused; a reply of a few hundred entries is bigger, so that was a malloc and a free
         * per read. Kept up to 1 MiB instead (hiredis's README, "Reader max buffer"). */
        ac->c.reader->maxbuf = 1024 * 1024;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    c->ac = ac;
    c->up = false;
    ev_timer_set(&c->connect_timer, (double)c->o.connect_timeout_ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->connect_timer);
    return 0;
}

void sl_redis_conn_write_now(struct sl_redis_conn *c)
{
    if (!c->ac || !c->up)
        return;
    redisAsyncContext *ac = c->ac;
    int done = 0;
    /* Not redisAsyncHandleWrite: on an error it frees the context, which may be the one whose
     * reply callback we are in. An error stays in the context and the write event reports it. */
    if (redisBufferWrite(&ac->c, &done) == REDIS_OK && done && ac->ev.delWrite)
        ac->ev.delWrite(ac->ev.data);
}

void sl_redis_conn_flush(struct sl_redis_conn *c)
{
    if (!c->ac || !c->up)
        return;
    int done = 0;
    for (int i = 0; i < 16 && !done; i++) {
        if (redisBufferWrite(&c->ac->c, &done) != REDIS_OK)
            return;
    }
}

void sl_redis_conn_release(struct sl_redis_conn *c)
{
    sl_redis_conn_close(c);
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_timer_stop(c->loop, &c->watchdog);
    free(c->deadlines);
    c->deadlines = NULL;
    c->dl_cap = 0;
    /* After the close: a context whose free hiredis deferred lets go of the arenas later. */
    sl_redis_arenas_release(c->arenas);
    c->arenas = NULL;
}

void sl_redis_conn_use_arena(struct sl_redis_conn *c)
{
    if (!c->arenas)
        c->arenas = sl_redis_arenas_new();
}
