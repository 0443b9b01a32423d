/* The schedule lock: several sluice processes with the same schedule fire each tick once in
 * total. Before firing a tick a process runs `SET <key>:<tick ms> <owner> NX PX <ttl>`
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

#define LOCK_RECONNECT_S 1.0

#define OFF(f) offsetof(struct sl_schedule_lock_cfg, f)

static const char *const lock_types[] = {"none", "redis", NULL};

static const struct sl_prop lock_props[] = {
    {.name = "type",
     .type = SL_PROP_ENUM,
     .offset = OFF(type),
     .def = "none",
     .enum_values = lock_types,
     .desc = "`redis`: processes that share this Redis fire each tick once in total; `none`: "
             "every process fires every tick (one process per schedule)."},
    /* host, port, unix_socket, password, db, connect_timeout, command_timeout. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_redis_conn_table},
    {.name = "key",
     .type = SL_PROP_STRING,
     .offset = OFF(key),
     .desc = "Prefix of the lock keys (`<key>:<tick in Unix ms>`); default "
             "`sluice:schedule:<source name>`."},
    {.name = "ttl",
     .type = SL_PROP_DURATION,
     .offset = OFF(ttl_ms),
     .def = "1h",
     .min = 1000,
     .max = 7 * 86400 * 1000LL,
     .desc = "How long a tick's key lives: a process down for less than this does not fire "
             "again (catch_up) a tick another one fired."},
};

const struct sl_prop_table sl_schedule_lock_table = {
    .name = "lock",
    .desc = "One fire per tick across sluice processes.",
    .props = lock_props,
    .nprops = SL_ARRAY_LEN(lock_props),
    .struct_size = sizeof(struct sl_schedule_lock_cfg),
};

struct sl_schedule_lock {
    struct ev_loop *loop;
    const struct sl_schedule_lock_cfg *cfg;
    const char *scope;
    struct sl_redis_conn conn;
    ev_timer reconnect;
    ev_timer fail; /* fails a request that could not be sent, from the loop */
    char *owner;
    sl_schedule_lock_cb cb;
    void *arg;
    uint64_t req;    /* bumped per request: a reply to a dropped one is ignored */
    bool set_failed; /* the request's SET got an error reply */
    bool busy;
    bool logged_down;
};

static void fail_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct lock_req {
    struct sl_schedule_lock *l;
    uint64_t req;
    bool decides; /* this reply gives the outcome (the GET; the SET when no GET was sent) */
    bool get;     /* the GET's reply, else the SET's */
};

static void lock_connect(struct sl_schedule_lock *l)
{
    char why[256];
    if (sl_redis_conn_connect(&l->conn, why, sizeof(why)) < 0) {
        sl_warn(l->scope, "lock: cannot connect to Redis: %s (retrying)", why);
        ev_timer_set(&l->reconnect, LOCK_RECONNECT_S, 0);
        ev_timer_start(l->loop, &l->reconnect);
    }
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    lock_connect(w->data);
}

static void state_cb(struct sl_redis_conn *c, bool up, const char *why, void *arg)
{
    (void)c;
    struct sl_schedule_lock *l = arg;
    if (up) {
        if (l->logged_down)
            sl_info(l->scope, "lock: Redis reachable again");
        l->logged_down = false;
        return;
    }
    if (!l->logged_down)
        sl_warn(l->scope, "lock: Redis unreachable: %s (ticks wait for it)", why ? why : "");
    l->logged_down = true;
    ev_timer_set(&l->reconnect, LOCK_RECONNECT_S, 0);
    ev_timer_start(l->loop, &l->reconnect);
}

struct sl_schedule_lock *sl_schedule_lock_create(struct ev_loop *loop,
                                                 const struct sl_schedule_lock_cfg *cfg,
                                                 const char *scope, const char *owner,
                                                 sl_schedule_lock_cb cb, void *arg)
{
    struct sl_schedule_lock *l = SL_NEW(struct sl_schedule_lock);
    l->loop = loop;
    l->cfg = cfg;
    l->scope = scope;
    l->cb = cb;
    l->arg = arg;
    l->owner = sl_strdup(owner);
    char where[300];
    struct sl_redis_conn_opts eo;
    sl_redis_conn_opts_from_cfg(&cfg->conn, &eo);
    sl_redis_conn_endpoint(&eo, where, sizeof(where));
    sl_info(scope, "lock: Redis %s, keys %s:<tick ms>, owner %s", where, cfg->key, owner);
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&cfg->conn, &o);
    sl_redis_conn_init(&l->conn, loop, &o, state_cb, l);
    ev_timer_init(&l->reconnect, reconnect_cb, LOCK_RECONNECT_S, 0);
    l->reconnect.data = l;
    ev_timer_init(&l->fail, fail_cb, 0, 0);
    l->fail.data = l;
    lock_connect(l);
    return l;
}

bool sl_schedule_lock_up(const struct sl_schedule_lock *l)
{
    return l->conn.up;
}

static void reply_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct lock_req *r = priv;
    struct sl_schedule_lock *l = r->l;
    bool current = r->req == l->req, decides = r->decides, get = r->get;
    free(r);
    if (!current)
        return; /* dropped by destroy */
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        sl_warn(l->scope, "lock: %s", reply->str);
        l->set_failed = true;
    }
    if (!decides)
        return;
    l->busy = false;
    int won;
    if (!reply || l->set_failed)
        won = -1; /* the connection went before the reply came, or Redis refused */
    else if (get && reply->type == REDIS_REPLY_STRING) /* who holds the tick */
        won = reply->len == strlen(l->owner) && memcmp(reply->str, l->owner, reply->len) == 0;
    else if (!get && reply->type == REDIS_REPLY_STATUS) /* SET's OK */
        won = 1;
    else if (!get && reply->type == REDIS_REPLY_NIL) /* SET's nil: another holds it */
        won = 0;
    else
        won = -1; /* GET's nil: the key expired already; ask again */
    l->cb(won, l->arg);
}

static void fail_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct sl_schedule_lock *l = w->data;
    ev_timer_stop(loop, w);
    l->busy = false;
    l->cb(-1, l->arg);
}

static struct lock_req *lock_req_new(struct sl_schedule_lock *l, bool get)
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
void sl_schedule_lock_take(struct sl_schedule_lock *l, int64_t tick_ms)
{
    char key[512], ttl[32];
    int klen = snprintf(key, sizeof(key), "%s:%lld", l->cfg->key, (long long)tick_ms);
    int tlen = snprintf(ttl, sizeof(ttl), "%lld", (long long)l->cfg->ttl_ms);
    const char *set[] = {"SET", key, l->owner, "NX", "PX", ttl};
    size_t set_lens[] = {3, (size_t)klen, strlen(l->owner), 2, 2, (size_t)tlen};
    const char *get[] = {"GET", key};
    size_t get_lens[] = {3, (size_t)klen};
    l->busy = true;
    l->set_failed = false;
    l->req++;
    struct lock_req *r = lock_req_new(l, false);
    if (sl_redis_conn_cmd(&l->conn, 0, reply_cb, r, 6, set, set_lens) < 0) {
        free(r);
        /* Not connected: say so from the loop, not from inside this call. */
        ev_timer_start(l->loop, &l->fail);
        return;
    }
    struct lock_req *g = lock_req_new(l, true);
    if (sl_redis_conn_cmd(&l->conn, 0, reply_cb, g, 2, get, get_lens) < 0) {
        free(g);
        r->decides = true; /* the SET's reply decides alone */
    }
}

void sl_schedule_lock_destroy(struct sl_schedule_lock *l)
{
    if (!l)
        return;
    ev_timer_stop(l->loop, &l->reconnect);
    ev_timer_stop(l->loop, &l->fail);
    l->req++; /* replies delivered by the close below are stale */
    sl_redis_conn_release(&l->conn);
    free(l->owner);
    free(l);
}
