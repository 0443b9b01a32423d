/* The schedule lock on Redis: several sluice processes with the same schedule fire each tick once
 * in total. Before firing a tick a process runs `SET <key>:<tick ms> <owner> NX PX <ttl>`
 * (https://redis.io/commands/set/) and a GET of the key: the process whose owner the key holds
 * fires, the others skip the tick. Keys name the tick, not the process, and ticks are the same in
 * every process (rates count from the epoch), so a process that starts late or catches up after a
 * restart asks for the same keys: it does not fire a tick again while that key lives (ttl). The
 * owner (the value) names the process durably, so a process that took a tick and crashed before
 * spooling it still holds that tick after its restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "sources/schedule/schedule_int.h"

struct sl_schedule_lock_redis {
    struct sl_schedule_lock base;
    struct sl_redis_conn conn;
    uint64_t req;    /* bumped per request: a reply to a dropped one is ignored */
    bool set_failed; /* the request's SET got an error reply */
};

struct lock_req {
    struct sl_schedule_lock_redis *l;
    uint64_t req;
    bool decides; /* this reply gives the outcome (the GET; the SET when no GET was sent) */
    bool get;     /* the GET's reply, else the SET's */
};

static bool redis_lock_connect(struct sl_schedule_lock *base, char *why, size_t cap)
{
    struct sl_schedule_lock_redis *l = (struct sl_schedule_lock_redis *)base;
    return sl_redis_conn_connect(&l->conn, why, cap) == 0;
}

static void state_cb(struct sl_redis_conn *c, bool up, const char *why, void *arg)
{
    (void)c;
    sl_schedule_lock_state(arg, up, why);
}

static const struct sl_schedule_lock_ops redis_lock_ops;

struct sl_schedule_lock *sl_schedule_lock_redis_create(struct ev_loop *loop,
                                                       const struct sl_schedule_lock_cfg *cfg,
                                                       const char *scope, const char *owner,
                                                       sl_schedule_lock_cb cb, void *arg)
{
    struct sl_schedule_lock_redis *l = SL_NEW(struct sl_schedule_lock_redis);
    sl_schedule_lock_base_init(&l->base, &redis_lock_ops, loop, cfg, scope, owner, cb, arg);
    char where[300];
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&cfg->conn, &o);
    sl_redis_conn_endpoint(&o, where, sizeof(where));
    sl_info(scope, "lock: Redis %s, keys %s:<tick ms>, owner %s", where, cfg->key, owner);
    sl_redis_conn_init(&l->conn, loop, &o, state_cb, &l->base);
    return &l->base;
}

static bool redis_lock_up(const struct sl_schedule_lock *base)
{
    return ((const struct sl_schedule_lock_redis *)base)->conn.up;
}

static void reply_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct lock_req *r = priv;
    struct sl_schedule_lock_redis *l = r->l;
    struct sl_schedule_lock *b = &l->base;
    bool current = r->req == l->req, decides = r->decides, get = r->get;
    free(r);
    if (!current)
        return; /* dropped by destroy */
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        sl_warn(b->scope, "lock: %s", reply->str);
        l->set_failed = true;
    }
    if (!decides)
        return;
    int won;
    if (!reply || l->set_failed)
        won = -1; /* the connection went before the reply came, or Redis refused */
    else if (get && reply->type == REDIS_REPLY_STRING) /* who holds the tick */
        won = reply->len == strlen(b->owner) && memcmp(reply->str, b->owner, reply->len) == 0;
    else if (!get && reply->type == REDIS_REPLY_STATUS) /* SET's OK */
        won = 1;
    else if (!get && reply->type == REDIS_REPLY_NIL) /* SET's nil: another holds it */
        won = 0;
    else
        won = -1; /* GET's nil: the key expired already; ask again */
    b->cb(won, b->arg);
}

static struct lock_req *lock_req_new(struct sl_schedule_lock_redis *l, bool get)
{
    struct lock_req *r = SL_NEW(struct lock_req);
    r->l = l;
    r->req = l->req;
    r->decides = get;
    r->get = get;
    return r;
}

/* SET NX and a GET, pipelined: the GET tells who holds the tick, this process included when it
 * took the tick before (a retried spool write, or a restart that catches up a tick it took but
 * had not spooled: the owner is the same across restarts). */
static void redis_lock_take(struct sl_schedule_lock *base, int64_t tick_ms)
{
    struct sl_schedule_lock_redis *l = (struct sl_schedule_lock_redis *)base;
    char key[512], ttl[32];
    int klen = snprintf(key, sizeof(key), "%s:%lld", base->cfg->key, (long long)tick_ms);
    int tlen = snprintf(ttl, sizeof(ttl), "%lld", (long long)base->cfg->ttl_ms);
    const char *set[] = {"SET", key, base->owner, "NX", "PX", ttl};
    size_t set_lens[] = {3, (size_t)klen, strlen(base->owner), 2, 2, (size_t)tlen};
    const char *get[] = {"GET", key};
    size_t get_lens[] = {3, (size_t)klen};
    l->set_failed = false;
    l->req++;
    struct lock_req *r = lock_req_new(l, false);
    if (sl_redis_conn_cmd(&l->conn, 0, reply_cb, r, 6, set, set_lens) < 0) {
        free(r);
        sl_schedule_lock_fail_later(base); /* not connected */
        return;
    }
    struct lock_req *g = lock_req_new(l, true);
    if (sl_redis_conn_cmd(&l->conn, 0, reply_cb, g, 2, get, get_lens) < 0) {
        free(g);
        r->decides = true; /* the SET's reply decides alone */
    }
}

static void redis_lock_destroy(struct sl_schedule_lock *base)
{
    struct sl_schedule_lock_redis *l = (struct sl_schedule_lock_redis *)base;
    sl_schedule_lock_base_release(base);
    l->req++; /* replies delivered by the close below are stale */
    sl_redis_conn_release(&l->conn);
    free(l);
}

static const struct sl_schedule_lock_ops redis_lock_ops = {
    .server = "Redis",
    .connect = redis_lock_connect,
    .take = redis_lock_take,
    .up = redis_lock_up,
    .destroy = redis_lock_destroy,
};
