/* One asynchronous Redis connection on a libev loop (hiredis 0.14 + its libev adapter), with
 * what hiredis 0.14 lacks: a connect timeout, a per-command timeout (replies come in order, so
 * a FIFO of deadlines and one timer cover every command in flight), and the handshake (AUTH,
 * SELECT). A connection is either down or up; the owner learns of every change through one
 * state callback and reconnects when it likes (conn never retries by itself). */
#ifndef SL_CLIENTS_REDIS_CONN_H
#define SL_CLIENTS_REDIS_CONN_H

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_redis_conn;

/* up: the handshake succeeded. !up: a connect failed or the connection was lost (why says
 * how; it never holds the password). Not called for sl_redis_conn_close(). */
typedef void (*sl_redis_conn_state_cb)(struct sl_redis_conn *c, bool up, const char *why,
                                       void *arg);
/* reply is NULL when the connection went away before the reply came (or was closed): the
 * callback then only releases priv. Error replies are passed on (REDIS_REPLY_ERROR). */
typedef void (*sl_redis_reply_cb)(struct sl_redis_conn *c, redisReply *reply, void *priv);

struct sl_redis_conn_opts {
    const char *host; /* borrowed, must outlive the conn */
    int port;
    const char *unix_socket; /* used instead of host:port when set */
    const char *password;    /* AUTH when set */
    int64_t db;              /* SELECT when not 0 */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
};

struct sl_redis_arenas;

struct sl_redis_conn {
    struct ev_loop *loop;
    struct sl_redis_conn_opts o;
    redisAsyncContext *ac;
    uint64_t gen; /* bumped whenever a context is dropped: stale replies are recognised */
    bool up;
    int handshake; /* handshake replies still awaited */
    ev_timer connect_timer;
    ev_timer watchdog;
    int64_t *deadlines; /* monotonic ms of the commands in flight, oldest first (ring) */
    size_t dl_head, dl_n, dl_cap;
    sl_redis_conn_state_cb state_cb;
    void *arg;
    struct sl_redis_arenas *arenas; /* replies built in a reused arena (sl_redis_conn_use_arena) */
};

void sl_redis_conn_init(struct sl_redis_conn *c, struct ev_loop *loop,
                        const struct sl_redis_conn_opts *o, sl_redis_conn_state_cb cb, void *arg);
/* The same with the command already in RESP (a hot path formats it into a reused buffer; hiredis
 * copies it): "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" per argument. */
int sl_redis_conn_cmd_resp(struct sl_redis_conn *c, int64_t extra_ms, sl_redis_reply_cb cb,
                           void *priv, const char *cmd, size_t len);
/* Replies of this connection are built in an arena kept from reply to reply (clients/redis/
 * arena.h) instead of one allocation per element: for a connection whose replies are big
 * arrays read on a hot path. A reply is valid during its callback only, as always. Call once,
 * before connecting. */
void sl_redis_conn_use_arena(struct sl_redis_conn *c);
/* Starts connecting. Returns 0 (the state callback fires later, never from inside this call) or
 * a negative code with why filled (nothing will fire). */
int sl_redis_conn_connect(struct sl_redis_conn *c, char *why, size_t why_cap);
/* Drops the connection now (pending replies get NULL). No state callback. Idempotent. */
void sl_redis_conn_close(struct sl_redis_conn *c);
/* close + frees the deadline ring. */
void sl_redis_conn_release(struct sl_redis_conn *c);
/* Sends a command. extra_ms is added to command_timeout (e.g. a BLOCK time). Returns 0 (cb
 * fires exactly once) or -ENOTCONN (cb never fires). */
int sl_redis_conn_cmd(struct sl_redis_conn *c, int64_t extra_ms, sl_redis_reply_cb cb, void *priv,
                      int argc, const char **argv, const size_t *lens);
/* Writes what hiredis has buffered now instead of on the loop's next write event: a command
 * sent on a hot path (the next read, a round of acks) reaches the server before the loop goes
 * on to other work. Non-blocking; what the socket does not take (or an error) is left to the
 * write event, which hiredis still watches for then and which reports an error as usual. */
void sl_redis_conn_write_now(struct sl_redis_conn *c);
/* Best effort, non-blocking: writes what hiredis has buffered (used just before closing). */
void sl_redis_conn_flush(struct sl_redis_conn *c);
/* "host:port" or the socket path, for messages. */
void sl_redis_conn_endpoint(const struct sl_redis_conn_opts *o, char *out, size_t cap);

#endif
