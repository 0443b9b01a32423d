/* The ESM API's mappings in Redis, shared by several sluice processes (admin.esm_store type
 * redis; cli/esm.h, docs/ESM_API.md).
 *
 * Keys (prefix `key`): <key>:docs, a hash UUID -> "<version> <created ms> <modified ms> <doc>";
 * <key>:pairs, a hash "<source>\n<function>" -> UUID (Lambda's duplicate rule); <key>:pair_of,
 * UUID -> its pair; <key>:version, the counter every change bumps. Every change is one Lua
 * script, which Redis runs atomically (https://redis.io/docs/latest/develop/interactive/
 * programmability/eval-intro/): it checks the pair, writes the three hashes, bumps the counter
 * and PUBLISHes the UUID on the channel <key>. Each process SUBSCRIBEs on a second connection and
 * reads the whole hash again on a message, on every (re)subscription and every `poll`, handing
 * it to sl_esm_sync. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/esm.h"
#include "clients/redis/conn.h"
#include "core/log.h"
#include "core/mem.h"

static const char scope[] = "esm";

/* KEYS: docs, pairs, pair_of, version. ARGV: uuid, pair, doc, ms, channel. {0, other UUID} when
 * the pair is taken, {1, version} once written. */
static const char create_lua[] =
    "local o = redis.call('HGET', KEYS[2], ARGV[2]) "
    "if o then return {0, o} end "
    "local v = redis.call('INCR', KEYS[4]) "
    "redis.call('HSET', KEYS[1], ARGV[1], v .. ' ' .. ARGV[4] .. ' ' .. ARGV[4] .. ' ' .. ARGV[3]) "
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[1]) "
    "redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) "
    "redis.call('PUBLISH', ARGV[5], ARGV[1]) "
    "return {1, v}";

/* As create; {2, ''} when the row is gone. The created time is kept. */
static const char update_lua[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if not cur then return {2, ''} end "
    "local old = redis.call('HGET', KEYS[3], ARGV[1]) "
    "if old ~= ARGV[2] then "
    "  local o = redis.call('HGET', KEYS[2], ARGV[2]) "
    "  if o then return {0, o} end "
    "  if old then redis.call('HDEL', KEYS[2], old) end "
    "  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1]) "
    "  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) "
    "end "
    "local created = string.match(cur, '^%d+ (%d+) ') "
    "local v = redis.call('INCR', KEYS[4]) "
    "redis.call('HSET', KEYS[1], ARGV[1], v .. ' ' .. created .. ' ' .. ARGV[4] .. ' ' .. "
    "ARGV[3]) "
    "redis.call('PUBLISH', ARGV[5], ARGV[1]) "
    "return {1, v}";

/* KEYS as create; ARGV: uuid, channel. */
static const char delete_lua[] = "local old = redis.call('HGET', KEYS[3], ARGV[1]) "
                                 "if old then redis.call('HDEL', KEYS[2], old) end "
                                 "redis.call('HDEL', KEYS[3], ARGV[1]) "
                                 "if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then "
                                 "  redis.call('INCR', KEYS[4]) "
                                 "  redis.call('PUBLISH', ARGV[2], ARGV[1]) "
                                 "end "
                                 "return {1, 0}";

struct sl_esm_shared {
    struct sl_esm_watch w;     /* first: the engine is its watch */
    struct sl_redis_conn conn; /* commands */
    struct sl_redis_conn sub;  /* SUBSCRIBE only */
    char *channel, *docs, *pairs, *pair_of, *version;
};

/* ---- reading the hash ----------------------------------------------------------------------- */

static int row_cmp(const void *a, const void *b)
{
    const struct sl_esm_row *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->uuid, y->uuid);
}

/* One value "<version> <created> <modified> <doc>" into r. */
static bool row_parse(const char *uuid, const char *v, struct sl_esm_row *r)
{
    unsigned long long ver;
    long long c, m;
    int off = 0;
    if (strlen(uuid) != SL_ESM_UUID_LEN ||
        sscanf(v, "%llu %lld %lld %n", &ver, &c, &m, &off) != 3 || off == 0)
        return false;
    json_t *doc = json_loads(v + off, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return false;
    }
    memcpy(r->uuid, uuid, SL_ESM_UUID_LEN + 1);
    r->doc = doc;
    r->created_ms = c;
    r->modified_ms = m;
    r->version = ver;
    return true;
}

/* The rows of an HGETALL reply, in the order they were created (as the PostgreSQL store and
 * the local one list them). */
static struct sl_esm_row *rows_from(const redisReply *rep, size_t *n)
{
    size_t pairs = rep->elements / 2;
    struct sl_esm_row *rows = sl_calloc(pairs ? pairs : 1, sizeof(*rows));
    size_t k = 0;
    for (size_t i = 0; i < pairs && k < SL_ESM_MAX; i++) {
        const redisReply *u = rep->element[2 * i], *v = rep->element[2 * i + 1];
        if (u->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            !row_parse(u->str, v->str, &rows[k])) {
            sl_error(scope,
                     "event source mapping %.40s: unreadable entry in the shared hash: "
                     "left out",
                     u->type == REDIS_REPLY_STRING ? u->str : "?");
            continue;
        }
        k++;
    }
    qsort(rows, k, sizeof(*rows), row_cmp);
    *n = k;
    return rows;
}

static void read_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct sl_esm_shared *s = priv;
    size_t n = 0;
    struct sl_esm_row *rows = NULL;
    bool ok = reply && reply->type == REDIS_REPLY_ARRAY;
    if (reply && !ok)
        sl_error(scope, "reading %s at %s: %s", s->docs, s->w.endpoint,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    if (ok)
        rows = rows_from(reply, &n);
    sl_esm_watch_rows(&s->w, ok, rows, n);
    sl_esm_rows_free(rows, n);
}

static int send_read(struct sl_esm_watch *w)
{
    struct sl_esm_shared *s = (struct sl_esm_shared *)w;
    const char *argv[] = {"HGETALL", s->docs};
    return sl_redis_conn_cmd(&s->conn, 0, read_cb, s, 2, argv, NULL);
}

/* ---- the connections ------------------------------------------------------------------------ */

static void connect_one(struct sl_esm_shared *s, struct sl_redis_conn *c)
{
    char why[256];
    if (!c->ac && sl_redis_conn_connect(c, why, sizeof(why)) < 0)
        sl_esm_watch_down(&s->w, why);
}

static void redis_connect(struct sl_esm_watch *w)
{
    struct sl_esm_shared *s = (struct sl_esm_shared *)w;
    connect_one(s, &s->conn);
    connect_one(s, &s->sub);
}

/* Every message of the subscription (hiredis keeps this callback for the channel): the
 * confirmation of a (re)subscription, then one message per change. Both mean: read again. */
static void message_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    struct sl_esm_shared *s = priv;
    redisReply *reply = r;
    if (!reply || s->w.closing || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return; /* NULL: the connection went, the state callback reconnects */
    sl_esm_watch_read(&s->w);
}

static void state_cb(struct sl_redis_conn *c, bool up, const char *why, void *arg)
{
    struct sl_esm_shared *s = arg;
    if (!up) {
        sl_esm_watch_down(&s->w, why);
        return;
    }
    /* On the context itself, not sl_redis_conn_cmd: a subscription's callback fires for every
     * message, and the conn's command FIFO expects one reply per command. */
    if (c == &s->sub)
        redisAsyncCommand(c->ac, message_cb, s, "SUBSCRIBE %s", s->channel);
    if (s->conn.up && s->sub.up)
        sl_esm_watch_up(&s->w); /* reads what changed while it was down */
}

/* ---- opening: blocking, at start ------------------------------------------------------------ */

static redisReply *sync_cmd(redisContext *rc, int argc, const char **argv, struct sl_err *err)
{
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        sl_err_set(err, SL_ERR_FATAL, -EIO, "%s: %s", argv[0],
                   r               ? r->str
                   : rc->errstr[0] ? rc->errstr
                                   : "no reply");
        if (r)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int load(const struct sl_esm_store_cfg *cfg, const char *docs, struct sl_esm_row **rows,
                size_t *n, struct sl_err *err)
{
    const struct sl_redis_conn_cfg *c = &cfg->redis;
    struct timeval ctv = {.tv_sec = c->connect_timeout_ms / 1000,
                          .tv_usec = (c->connect_timeout_ms % 1000) * 1000};
    struct timeval tv = {.tv_sec = c->command_timeout_ms / 1000,
                         .tv_usec = (c->command_timeout_ms % 1000) * 1000};
    redisContext *rc = c->unix_socket && *c->unix_socket
                           ? redisConnectUnixWithTimeout(c->unix_socket, ctv)
                           : redisConnectWithTimeout(c->host, (int)c->port, ctv);
    if (!rc || rc->err) {
        sl_err_set(err, SL_ERR_FATAL, -ECONNREFUSED, "connecting: %s",
                   rc ? rc->errstr : "out of memory");
        if (rc)
            redisFree(rc);
        return -ECONNREFUSED;
    }
    redisSetTimeout(rc, tv);
    char db[24];
    snprintf(db, sizeof(db), "%lld", (long long)c->db);
    const char *auth[] = {"AUTH", c->password}, *sel[] = {"SELECT", db}, *all[] = {"HGETALL", docs};
    redisReply *r = NULL;
    int code = 0;
    if (c->password && *c->password) {
        if (!(r = sync_cmd(rc, 2, auth, err)))
            code = -EIO;
        freeReplyObject(r);
    }
    if (code == 0 && c->db) {
        if (!(r = sync_cmd(rc, 2, sel, err)))
            code = -EIO;
        freeReplyObject(r);
    }
    if (code == 0 && (r = sync_cmd(rc, 2, all, err)) != NULL) {
        if (r->type == REDIS_REPLY_ARRAY)
            *rows = rows_from(r, n);
        else
            code = sl_err_set(err, SL_ERR_FATAL, -EIO, "HGETALL %s: not a hash", docs);
        freeReplyObject(r);
    } else if (code == 0) {
        code = -EIO;
    }
    redisFree(rc);
    return code;
}

static char *key_join(const char *key, const char *part)
{
    size_t n = strlen(key) + strlen(part) + 2;
    char *out = sl_malloc(n);
    snprintf(out, n, "%s%s%s", key, *part ? ":" : "", part);
    return out;
}

static void engine_free(struct sl_esm_shared *s)
{
    free(s->channel);
    free(s->docs);
    free(s->pairs);
    free(s->pair_of);
    free(s->version);
    free(s);
}

static int redis_open(struct sl_app *app, const struct sl_esm_store_cfg *cfg,
                      struct sl_esm_shared **out, struct sl_esm_row **rows, size_t *n,
                      struct sl_err *err)
{
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&cfg->redis, &o);
    struct sl_esm_shared *s = SL_NEW(struct sl_esm_shared);
    sl_redis_conn_endpoint(&o, s->w.endpoint, sizeof(s->w.endpoint));
    s->channel = key_join(cfg->key, "");
    s->docs = key_join(cfg->key, "docs");
    s->pairs = key_join(cfg->key, "pairs");
    s->pair_of = key_join(cfg->key, "pair_of");
    s->version = key_join(cfg->key, "version");
    struct sl_err why;
    sl_err_clear(&why);
    int rc = load(cfg, s->docs, rows, n, &why);
    if (rc < 0) {
        sl_err_set(err, SL_ERR_FATAL, rc,
                   "admin.esm_store: the shared store of the event-source-mapping API: Redis at "
                   "%s: %s (sluice does not start without it: its mappings would be missing)",
                   s->w.endpoint, why.msg);
        engine_free(s);
        return rc;
    }
    sl_redis_conn_init(&s->conn, app->loop, &o, state_cb, s);
    o.db = 0; /* a subscription is not per database */
    sl_redis_conn_init(&s->sub, app->loop, &o, state_cb, s);
    sl_esm_watch_init(&s->w, app, cfg->poll_ms, send_read, redis_connect);
    redis_connect(&s->w);
    sl_info(scope, "API mappings shared through Redis at %s (hash %s, channel %s)", s->w.endpoint,
            s->docs, s->channel);
    *out = s;
    return 0;
}

/* ---- writes --------------------------------------------------------------------------------- */

struct write {
    struct sl_esm_shared *s;
    sl_esm_store_cb cb;
    void *arg;
    bool update;
};

static void written_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct write *w = priv;
    int status = -ENOTCONN;
    uint64_t version = 0;
    const char *other = NULL;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
        const redisReply *v = reply->element[1];
        long long what = reply->element[0]->integer;
        status = what == 1 ? 0 : what == 0 ? -EEXIST : -ENOENT;
        if (what == 1 && v->type == REDIS_REPLY_INTEGER)
            version = (uint64_t)v->integer;
        if (what == 0 && v->type == REDIS_REPLY_STRING)
            other = v->str;
    } else if (reply) {
        sl_error(scope, "writing to %s at %s: %s", w->s->docs, w->s->w.endpoint,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        status = -EIO;
    }
    if (!w->s->w.closing)
        w->cb(status, version, other, w->arg);
    free(w);
}

static int redis_save(struct sl_esm_shared *s, const char *uuid, const char *source,
                      const char *function, const char *doc, int64_t ms, bool create,
                      sl_esm_store_cb cb, void *arg)
{
    if (!s->conn.up)
        return -ENOTCONN;
    char msbuf[32];
    snprintf(msbuf, sizeof(msbuf), "%lld", (long long)ms);
    size_t plen = strlen(source) + strlen(function) + 2;
    char *pair = sl_malloc(plen);
    snprintf(pair, plen, "%s\n%s", source, function);
    struct write *w = SL_NEW(struct write);
    *w = (struct write){.s = s, .cb = cb, .arg = arg, .update = doc && !create};
    int rc;
    if (!doc) {
        const char *argv[] = {"EVAL",     delete_lua, "4",  s->docs,   s->pairs,
                              s->pair_of, s->version, uuid, s->channel};
        rc = sl_redis_conn_cmd(&s->conn, 0, written_cb, w, 9, argv, NULL);
    } else {
        const char *argv[] = {"EVAL",     create ? create_lua : update_lua,
                              "4",        s->docs,
                              s->pairs,   s->pair_of,
                              s->version, uuid,
                              pair,       doc,
                              msbuf,      s->channel};
        rc = sl_redis_conn_cmd(&s->conn, 0, written_cb, w, 12, argv, NULL);
    }
    free(pair);
    if (rc < 0)
        free(w);
    return rc;
}

static void redis_refresh(struct sl_esm_shared *s)
{
    sl_esm_watch_read(&s->w);
}

static void redis_close(struct sl_esm_shared *s)
{
    sl_esm_watch_stop(&s->w);
    sl_redis_conn_release(&s->sub);
    sl_redis_conn_release(&s->conn);
    engine_free(s);
}

const struct sl_esm_shared_ops sl_esm_redis_ops = {
    .name = "redis",
    .open = redis_open,
    .save = redis_save,
    .refresh = redis_refresh,
    .close = redis_close,
};
