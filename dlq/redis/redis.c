/* The "redis" DLQ sink: one XADD per entry to a stream (fields id, mapping, created, doc = the
 * canonical JSON of sl_dlq_entry_to_json). put and remove run on the loop through an async
 * connection (hiredis + libev); the put callback fires once Redis answered the XADD, so the
 * entry is as durable as Redis makes it (its AOF fsync policy). list blocks: it uses a
 * separate blocking connection, made on first use, with timeouts, and runs on the admin worker
 * thread (or the CLI's); the id -> stream id hints it leaves for remove are under a lock. */
#include "dlq/redis/redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/backoff.h"
#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "clients/redis/conf.h"
#include "clients/redis/conn.h"

#define RDLQ_PAGE        500
#define RDLQ_HINTS_MAX   65536
#define RDLQ_BACKOFF_MIN 100
#define RDLQ_BACKOFF_MAX 5000
#define RDLQ_SID_MAX     48

struct rdlq_cfg {
    struct sl_redis_conn_cfg conn; /* host, port, unix_socket, password, db, timeouts */
    char *stream;
    int64_t maxlen;
};

#define OFF(f) offsetof(struct rdlq_cfg, f)

static const struct sl_prop rdlq_props[] = {
    /* host, port, unix_socket, password, db, connect_timeout, command_timeout: shared with the
     * Redis source. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_redis_conn_table},
    {.name = "stream",
     .type = SL_PROP_STRING,
     .offset = OFF(stream),
     .flags = SL_PROP_REQUIRED,
     .desc = "The stream key entries are added to (XADD)."},
    {.name = "maxlen",
     .type = SL_PROP_INT,
     .offset = OFF(maxlen),
     .def = "0",
     .desc =
         "Approximate cap on the stream's length (XADD MAXLEN ~): beyond it the OLDEST entries are "
         "trimmed, i.e. lost. 0: no cap (entries stay until redriven or purged)."},
};

static const struct sl_prop_table rdlq_table = {
    .name = "dlqs[] (type: redis)",
    .desc = "Entries are added to a Redis stream (XADD); `sluice dlq` lists, shows, redrives and "
            "purges them (docs/REDIS.md).",
    .props = rdlq_props,
    .nprops = SL_ARRAY_LEN(rdlq_props),
    .struct_size = sizeof(struct rdlq_cfg),
};

struct hint {
    char *id;
    char sid[RDLQ_SID_MAX];
};

/* A queued write: sent once the connection is up. */
struct rop {
    struct rdlq *q;
    struct rop *next;
    sl_dlq_done_cb cb;
    void *arg;
    bool is_put;
    char id[40];
    char sid[RDLQ_SID_MAX]; /* remove: where list saw it, or "" */
    char mapping_created[32];
    char *mapping;
    char *doc;
    size_t doc_len;
};

struct rdlq {
    struct sl_dlq base;
    struct rdlq_cfg cfg;
    struct ev_loop *loop;
    struct sl_redis_conn conn;
    bool opened, connecting, ever_up, listing, destroying;
    uint32_t failures;
    char last_why[300];
    struct sl_backoff backoff;
    uint64_t rng;
    ev_timer retry_timer;
    ev_timer fail_timer; /* fails queued ops from the loop */
    struct rop *queue_head, *queue_tail;
    struct rop *failed; /* ops to fail from fail_timer */
    int fail_status;
    redisContext *sync;
    pthread_mutex_t hints_mu; /* list (worker thread) puts hints, remove (loop) reads them */
    struct hint *hints;
    size_t nhints, hint_cap;
    int64_t xlen;
    int64_t xlen_asked_ms;
    char endpoint[300];
};

static const char REMOVE_LUA[] =
    "local key, id, hint = KEYS[1], ARGV[1], ARGV[2]\n"
    "local function has(e)\n"
    "  local f = e[2]\n"
    "  if not f then return false end\n"
    "  for i = 1, #f, 2 do if f[i] == 'id' then return f[i + 1] == id end end\n"
    "  return false\n"
    "end\n"
    "if hint ~= '' then\n"
    "  local r = redis.call('XRANGE', key, hint, hint)\n"
    "  if #r == 1 and has(r[1]) then return redis.call('XDEL', key, hint) end\n"
    "end\n"
    "local n, start = 0, '-'\n"
    "while true do\n"
    "  local r = redis.call('XRANGE', key, start, '+', 'COUNT', 1000)\n"
    "  for _, e in ipairs(r) do\n"
    "    if has(e) then n = n + redis.call('XDEL', key, e[1]) end\n"
    "  end\n"
    "  if #r < 1000 then break end\n"
    "  start = '(' .. r[#r][1]\n"
    "end\n"
    "return n\n";

static struct rdlq *sink(struct sl_dlq *d)
{
    return (struct rdlq *)d;
}

/* ---- list hints: entry id -> stream id (open addressing) ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void hints_clear(struct rdlq *q)
{
    for (size_t i = 0; i < q->hint_cap; i++)
        free(q->hints[i].id);
    free(q->hints);
    q->hints = NULL;
    q->nhints = q->hint_cap = 0;
}

static struct hint *hint_slot(struct rdlq *q, const char *id)
{
    size_t mask = q->hint_cap - 1;
    for (size_t i = hash_str(id) & mask;; i = (i + 1) & mask) {
        if (!q->hints[i].id || strcmp(q->hints[i].id, id) == 0)
            return &q->hints[i];
    }
}

static void hint_put_locked(struct rdlq *q, const char *id, const char *sid)
{
    if (q->nhints >= RDLQ_HINTS_MAX)
        hints_clear(q);
    if ((q->nhints + 1) * 2 > q->hint_cap) {
        struct hint *old = q->hints;
        size_t ocap = q->hint_cap;
        q->hint_cap = ocap ? ocap * 2 : 256;
        q->hints = sl_calloc(q->hint_cap, sizeof(*q->hints));
        for (size_t i = 0; i < ocap; i++) {
            if (old[i].id)
                *hint_slot(q, old[i].id) = old[i];
        }
        free(old);
    }
    struct hint *h = hint_slot(q, id);
    if (!h->id) {
        h->id = sl_strdup(id);
        q->nhints++;
    }
    snprintf(h->sid, sizeof(h->sid), "%s", sid);
}

static void hint_put(struct rdlq *q, const char *id, const char *sid)
{
    if (strlen(sid) >= RDLQ_SID_MAX)
        return;
    pthread_mutex_lock(&q->hints_mu);
    hint_put_locked(q, id, sid);
    pthread_mutex_unlock(&q->hints_mu);
}

/* Copies the stream id list saw for id into sid, or "" when none. */
static void hint_get(struct rdlq *q, const char *id, char sid[RDLQ_SID_MAX])
{
    pthread_mutex_lock(&q->hints_mu);
    struct hint *h = q->hint_cap ? hint_slot(q, id) : NULL;
    snprintf(sid, RDLQ_SID_MAX, "%s", h && h->id ? h->sid : "");
    pthread_mutex_unlock(&q->hints_mu);
}

/* ---- the async connection ---- */

static void rop_free(struct rop *o)
{
    free(o->mapping);
    free(o->doc);
    free(o);
}

static void op_reply_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rop *o = priv;
    struct rdlq *q = o->q;
    int status;
    if (!reply) {
        status = -ECONNRESET;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        sl_error(q->base.scope, "%s failed: %.200s", o->is_put ? "XADD" : "XDEL", reply->str);
        status = -EIO;
    } else if (o->is_put) {
        status = 0;
        if (q->xlen >= 0)
            q->xlen++;
    } else {
        status = reply->type == REDIS_REPLY_INTEGER && reply->integer > 0 ? 0 : SL_ENOTFOUND;
        if (status == 0 && q->xlen > 0)
            q->xlen -= reply->integer;
    }
    sl_dlq_done_cb cb = o->cb;
    void *arg = o->arg;
    rop_free(o);
    if (q->destroying && status == 0)
        status = SL_ECLOSED; /* never report success for a reply we did not read */
    if (cb)
        cb(status, arg);
}

static int op_send(struct rdlq *q, struct rop *o)
{
    if (o->is_put) {
        char maxlen[24];
        const char *argv[14];
        size_t lens[14];
        int n = 0;
#define ARG(s, l) (argv[n] = (s), lens[n] = (l), n++)
        ARG("XADD", 4);
        ARG(q->cfg.stream, strlen(q->cfg.stream));
        if (q->cfg.maxlen > 0) {
            snprintf(maxlen, sizeof(maxlen), "%lld", (long long)q->cfg.maxlen);
            ARG("MAXLEN", 6);
            ARG("~", 1);
            ARG(maxlen, strlen(maxlen));
        }
        ARG("*", 1);
        ARG("id", 2);
        ARG(o->id, strlen(o->id));
        ARG("mapping", 7);
        ARG(o->mapping, strlen(o->mapping));
        ARG("created", 7);
        ARG(o->mapping_created, strlen(o->mapping_created));
        ARG("doc", 3);
        ARG(o->doc, o->doc_len);
#undef ARG
        return sl_redis_conn_cmd(&q->conn, 0, op_reply_cb, o, n, argv, lens);
    }
    const char *argv[] = {"EVAL", REMOVE_LUA, "1", q->cfg.stream, o->id, o->sid};
    return sl_redis_conn_cmd(&q->conn, 0, op_reply_cb, o, 6, argv, NULL);
}

static void fail_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rdlq *q = w->data;
    struct rop *o = q->failed;
    q->failed = NULL;
    while (o) {
        struct rop *next = o->next;
        sl_dlq_done_cb cb = o->cb;
        void *arg = o->arg;
        rop_free(o);
        cb(q->fail_status, arg);
        o = next;
    }
}

/* Fails every queued op (from the loop, never inside put/remove). */
static void fail_queue(struct rdlq *q, int status)
{
    if (!q->queue_head)
        return;
    q->queue_tail->next = q->failed;
    q->failed = q->queue_head;
    q->queue_head = q->queue_tail = NULL;
    q->fail_status = status;
    ev_timer_set(&q->fail_timer, 0., 0.);
    ev_timer_start(q->loop, &q->fail_timer);
}

static void send_queue(struct rdlq *q)
{
    while (q->queue_head && q->conn.up) {
        struct rop *o = q->queue_head;
        q->queue_head = o->next;
        if (!q->queue_head)
            q->queue_tail = NULL;
        o->next = NULL;
        if (op_send(q, o) < 0) {
            o->next = q->queue_head;
            q->queue_head = o;
            if (!q->queue_tail)
                q->queue_tail = o;
            break;
        }
    }
}

static void rdlq_connect(struct rdlq *q);

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    rdlq_connect(w->data);
}

static void conn_state_cb(struct sl_redis_conn *c, bool up, const char *why, void *arg)
{
    struct rdlq *q = arg;
    q->connecting = false;
    if (up) {
        if (q->failures > 0 || q->ever_up)
            sl_info(q->base.scope, "connected to %s again", q->endpoint);
        else
            sl_debug(q->base.scope, "connected to %s", q->endpoint);
        q->ever_up = true;
        q->failures = 0;
        q->last_why[0] = '\0';
        send_queue(q);
        return;
    }
    q->failures++;
    int64_t delay = sl_backoff_delay(&q->backoff, q->failures, &q->rng);
    if (strcmp(why, q->last_why) != 0)
        sl_warn(q->base.scope, "cannot reach %s: %s (retrying in %lld ms)", q->endpoint, why,
                (long long)delay);
    snprintf(q->last_why, sizeof(q->last_why), "%s", why);
    fail_queue(q, -ENOTCONN);
    ev_timer_set(&q->retry_timer, (double)delay / 1000.0, 0.);
    ev_timer_start(q->loop, &q->retry_timer);
}

static void rdlq_connect(struct rdlq *q)
{
    if (q->conn.up || q->connecting || !q->loop)
        return;
    char why[300];
    q->connecting = true;
    if (sl_redis_conn_connect(&q->conn, why, sizeof(why)) < 0)
        conn_state_cb(&q->conn, false, why, q);
}

static int enqueue(struct rdlq *q, struct rop *o)
{
    if (q->conn.up && !q->queue_head && op_send(q, o) == 0)
        return 0;
    if (q->queue_tail)
        q->queue_tail->next = o;
    else
        q->queue_head = o;
    q->queue_tail = o;
    if (!ev_is_active(&q->retry_timer))
        rdlq_connect(q);
    return 0;
}

/* ---- ops ---- */

static int rdlq_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                       struct sl_dlq **out, struct sl_err *err)
{
    const struct sl_config *cfg = env ? env->cfg : NULL;
    struct rdlq *q = SL_NEW(struct rdlq);
    int rc = sl_config_bind_typed(cfg, sec, &rdlq_table, &q->cfg, err);
    if (rc < 0) {
        free(q);
        return rc;
    }
    const char *file = cfg && cfg->file ? cfg->file : "config";
    if (!q->cfg.stream || !*q->cfg.stream) {
        sl_props_release(&rdlq_table, &q->cfg);
        free(q);
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s.stream: empty (allowed: a stream key)", file, sec->path);
    }
    rc = sl_redis_conn_cfg_check(&q->cfg.conn, file, sec->path, err);
    if (rc < 0) {
        sl_props_release(&rdlq_table, &q->cfg);
        free(q);
        return rc;
    }
    sl_dlq_init(&q->base, &sl_dlq_redis_ops, env, sec->name);
    pthread_mutex_init(&q->hints_mu, NULL);
    q->backoff.min_ms = RDLQ_BACKOFF_MIN;
    q->backoff.max_ms = RDLQ_BACKOFF_MAX;
    q->backoff.multiplier = 2.0;
    q->rng = sl_random_u64() | 1;
    q->xlen = -1;
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&q->cfg.conn, &o);
    sl_redis_conn_endpoint(&o, q->endpoint, sizeof(q->endpoint));
    *out = &q->base;
    /* The conn is set up in open(), which knows the loop. */
    q->conn.loop = NULL;
    return 0;
}

static int rdlq_open(struct sl_dlq *d, struct sl_err *err)
{
    struct rdlq *q = sink(d);
    struct ev_loop *loop = d->env.loop;
    if (q->opened)
        return 0;
    q->opened = true;
    q->loop = loop;
    if (!loop)
        return 0; /* list only */
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&q->cfg.conn, &o);
    sl_redis_conn_init(&q->conn, loop, &o, conn_state_cb, q);
    ev_init(&q->retry_timer, retry_timer_cb);
    q->retry_timer.data = q;
    ev_init(&q->fail_timer, fail_timer_cb);
    q->fail_timer.data = q;
    /* Connect now; an unreachable Redis is retried (writes fail and are retried meanwhile). */
    rdlq_connect(q);
    return 0;
}

static int rdlq_put(struct sl_dlq *d, const struct sl_dlq_entry *e, sl_dlq_done_cb cb, void *arg)
{
    struct rdlq *q = sink(d);
    if (!q->opened || !q->loop)
        return SL_ECLOSED;
    size_t id_len = strnlen(e->id, sizeof(e->id));
    if (id_len == 0 || id_len == sizeof(e->id) || !e->mapping || !*e->mapping || !e->condition ||
        !*e->condition || e->created_ms <= 0)
        return -EINVAL;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_dlq_entry_to_json(e, &b);
    if (b.len > SL_DLQ_ENTRY_MAX_JSON) {
        sl_buf_release(&b);
        return SL_EFULL;
    }
    struct rop *o = SL_NEW(struct rop);
    o->q = q;
    o->cb = cb;
    o->arg = arg;
    o->is_put = true;
    memcpy(o->id, e->id, id_len + 1);
    o->mapping = sl_strdup(e->mapping);
    snprintf(o->mapping_created, sizeof(o->mapping_created), "%lld", (long long)e->created_ms);
    o->doc = sl_buf_steal(&b, &o->doc_len);
    return enqueue(q, o);
}

static int rdlq_remove(struct sl_dlq *d, const char *id, sl_dlq_done_cb cb, void *arg)
{
    struct rdlq *q = sink(d);
    if (!q->opened || !q->loop)
        return SL_ECLOSED;
    if (!id || !*id || strlen(id) >= sizeof(((struct rop *)0)->id))
        return -EINVAL;
    struct rop *o = SL_NEW(struct rop);
    o->q = q;
    o->cb = cb;
    o->arg = arg;
    snprintf(o->id, sizeof(o->id), "%s", id);
    hint_get(q, id, o->sid);
    return enqueue(q, o);
}

/* ---- list: a blocking connection of its own ---- */

static void sync_drop(struct rdlq *q)
{
    if (q->sync)
        redisFree(q->sync);
    q->sync = NULL;
}

static redisReply *sync_cmd(struct rdlq *q, int argc, const char **argv, struct sl_err *err)
{
    redisReply *r = redisCommandArgv(q->sync, argc, argv, NULL);
    if (!r) {
        sl_err_set(err, SL_ERR_TRANSIENT, -EIO, "%s: %s: %s", q->base.scope, argv[0],
                   q->sync->errstr[0] ? q->sync->errstr : "no reply");
        sync_drop(q);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        sl_err_set(err, SL_ERR_PERMANENT, -EIO, "%s: %s failed: %.200s", q->base.scope, argv[0],
                   r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int sync_open(struct rdlq *q, struct sl_err *err)
{
    if (q->sync)
        return 0;
    struct timeval ctv = {.tv_sec = q->cfg.conn.connect_timeout_ms / 1000,
                          .tv_usec = (q->cfg.conn.connect_timeout_ms % 1000) * 1000};
    struct timeval tv = {.tv_sec = q->cfg.conn.command_timeout_ms / 1000,
                         .tv_usec = (q->cfg.conn.command_timeout_ms % 1000) * 1000};
    q->sync = q->cfg.conn.unix_socket && *q->cfg.conn.unix_socket
                  ? redisConnectUnixWithTimeout(q->cfg.conn.unix_socket, ctv)
                  : redisConnectWithTimeout(q->cfg.conn.host, (int)q->cfg.conn.port, ctv);
    if (!q->sync || q->sync->err) {
        int rc =
            sl_err_set(err, SL_ERR_TRANSIENT, -ECONNREFUSED, "%s: cannot connect to %s: %s",
                       q->base.scope, q->endpoint, q->sync ? q->sync->errstr : "out of memory");
        sync_drop(q);
        return rc;
    }
    redisSetTimeout(q->sync, tv);
    redisReply *r;
    if (q->cfg.conn.password && *q->cfg.conn.password) {
        const char *argv[] = {"AUTH", q->cfg.conn.password};
        if (!(r = sync_cmd(q, 2, argv, err))) {
            sync_drop(q);
            return err ? err->code : -EIO;
        }
        freeReplyObject(r);
    }
    if (q->cfg.conn.db) {
        char db[24];
        snprintf(db, sizeof(db), "%lld", (long long)q->cfg.conn.db);
        const char *argv[] = {"SELECT", db};
        if (!(r = sync_cmd(q, 2, argv, err))) {
            sync_drop(q);
            return err ? err->code : -EIO;
        }
        freeReplyObject(r);
    }
    return 0;
}

static const redisReply *field(const redisReply *f, const char *name)
{
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0 &&
            f->element[i + 1]->type == REDIS_REPLY_STRING)
            return f->element[i + 1];
    }
    return NULL;
}

/* Whether s is written as itself inside a JSON string (nothing escaped). */
static bool plain_text(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
            return false;
    }
    return true;
}

/* One listed stream entry: 1 to stop, 0 to go on. */
static int list_entry(struct rdlq *q, const redisReply *e, const struct sl_dlq_filter *f,
                      sl_dlq_each_cb cb, void *arg, size_t *seen)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const char *sid = e->element[0]->str;
    const redisReply *fl = e->element[1];
    const redisReply *id = field(fl, "id"), *mapping = field(fl, "mapping");
    const redisReply *created = field(fl, "created"), *doc = field(fl, "doc");
    if (!id || !doc) {
        sl_warn(q->base.scope, "skipping stream entry %.64s: not a DLQ entry (no id or doc field)",
                sid);
        return 0;
    }
    /* An entry's own id is a field; its record's id is read from the document. */
    bool by_record = f->id && strcmp(f->id, id->str) != 0;
    if (by_record && plain_text(f->id) && !strstr(doc->str, f->id))
        return 0; /* not in the document at all: no need to parse it */
    if (f->mapping && (!mapping || strcmp(f->mapping, mapping->str) != 0))
        return 0;
    if (f->since_ms && (!created || strtoll(created->str, NULL, 10) < f->since_ms))
        return 0;
    hint_put(q, id->str, sid);
    struct sl_dlq_entry ent;
    struct sl_err perr;
    if (sl_dlq_entry_from_json(doc->str, doc->len, &ent, &perr) < 0) {
        sl_warn(q->base.scope, "skipping unreadable entry %.64s: %s", id->str, perr.msg);
        return 0;
    }
    if (by_record && !sl_dlq_entry_has_id(&ent, f->id)) {
        sl_dlq_entry_release(&ent);
        return 0;
    }
    int stop = cb(&ent, sid, arg);
    sl_dlq_entry_release(&ent);
    (*seen)++;
    if (stop || (f->limit && *seen >= f->limit))
        return 1;
    return 0;
}

static int rdlq_list(struct sl_dlq *d, const struct sl_dlq_filter *f, sl_dlq_each_cb cb, void *arg,
                     struct sl_err *err)
{
    struct rdlq *q = sink(d);
    if (!q->opened)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECLOSED, "%s: not open", q->base.scope);
    if (q->listing)
        return sl_err_set(err, SL_ERR_PERMANENT, -EBUSY, "%s: list called from a list callback",
                          q->base.scope);
    struct sl_dlq_filter none = {0};
    if (!f)
        f = &none;
    int rc = sync_open(q, err);
    if (rc < 0)
        return rc;
    q->listing = true;
    char start[RDLQ_SID_MAX + 2] = "-", count[16];
    if (f->after) {
        size_t n = strspn(f->after, "0123456789-");
        if (n == 0 || f->after[n] || n >= RDLQ_SID_MAX)
            return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL,
                              "%s: not a position of this sink: %.64s", q->base.scope, f->after);
        snprintf(start, sizeof(start), "(%s", f->after);
    }
    snprintf(count, sizeof(count), "%d", RDLQ_PAGE);
    size_t seen = 0;
    bool stop = false;
    while (!stop) {
        const char *argv[] = {"XRANGE", q->cfg.stream, start, "+", "COUNT", count};
        redisReply *r = sync_cmd(q, 6, argv, err);
        if (!r) {
            rc = err ? err->code : -EIO;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            break;
        }
        for (size_t i = 0; i < r->elements && !stop; i++)
            stop = list_entry(q, r->element[i], f, cb, arg, &seen) != 0;
        if (r->elements < RDLQ_PAGE) {
            stop = true;
        } else {
            const redisReply *last = r->element[r->elements - 1];
            if (last->type == REDIS_REPLY_ARRAY && last->elements > 0 &&
                last->element[0]->type == REDIS_REPLY_STRING &&
                last->element[0]->len < RDLQ_SID_MAX)
                snprintf(start, sizeof(start), "(%s", last->element[0]->str);
            else
                stop = true;
        }
        freeReplyObject(r);
    }
    q->listing = false;
    return rc;
}

static void xlen_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rdlq *q = priv;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        q->xlen = reply->integer;
}

/* Per mapping: unknown (-1). In total: XLEN, as of the last refresh (at most once a second). */
static int64_t rdlq_depth(struct sl_dlq *d, const char *mapping)
{
    struct rdlq *q = sink(d);
    if (q->loop && q->conn.up && sl_mono_ms() - q->xlen_asked_ms > 1000) {
        const char *argv[] = {"XLEN", q->cfg.stream};
        if (sl_redis_conn_cmd(&q->conn, 0, xlen_cb, q, 2, argv, NULL) == 0)
            q->xlen_asked_ms = sl_mono_ms();
    }
    return mapping ? -1 : q->xlen;
}

static void rdlq_describe(struct sl_dlq *d, struct sl_jw *w)
{
    struct rdlq *q = sink(d);
    int64_t n = rdlq_depth(d, NULL);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", d->ops->type);
    sl_jw_kstr(w, "name", d->name);
    sl_jw_kstr(w, "endpoint", q->endpoint);
    sl_jw_kstr(w, "stream", q->cfg.stream);
    sl_jw_kint(w, "maxlen", q->cfg.maxlen);
    sl_jw_kbool(w, "connected", q->conn.up);
    sl_jw_key(w, "entries");
    if (n < 0)
        sl_jw_null(w);
    else
        sl_jw_int(w, n);
    sl_jw_obj_close(w);
}

static void rdlq_destroy(struct sl_dlq *d)
{
    if (!d)
        return;
    struct rdlq *q = sink(d);
    q->destroying = true;
    if (q->loop) {
        ev_timer_stop(q->loop, &q->retry_timer);
        ev_timer_stop(q->loop, &q->fail_timer);
        /* Writes still queued or in flight were never confirmed: their callbacks fire with
         * SL_ECLOSED (as libuv's close does), so their owners release them; the records stay
         * unacked at their source, which delivers them again on the next start. */
        sl_redis_conn_release(&q->conn);
        struct rop *lists[2] = {q->queue_head, q->failed};
        q->queue_head = q->queue_tail = q->failed = NULL;
        for (int k = 0; k < 2; k++) {
            for (struct rop *o = lists[k]; o;) {
                struct rop *next = o->next;
                sl_dlq_done_cb cb = o->cb;
                void *arg = o->arg;
                rop_free(o);
                if (cb)
                    cb(SL_ECLOSED, arg);
                o = next;
            }
        }
    }
    sync_drop(q);
    hints_clear(q);
    pthread_mutex_destroy(&q->hints_mu);
    sl_props_release(&rdlq_table, &q->cfg);
    sl_dlq_release(d);
    free(q);
}

static bool rdlq_ready(struct sl_dlq *d, char *why, size_t n)
{
    struct rdlq *q = (struct rdlq *)d;
    if (q->conn.up || !q->opened || !q->loop)
        return true;
    snprintf(why, n, "cannot reach %s%s%s", q->endpoint, q->last_why[0] ? ": " : "", q->last_why);
    return false;
}

const struct sl_dlq_ops sl_dlq_redis_ops = {
    .type = "redis",
    .props = &rdlq_table,
    .create = rdlq_create,
    .open = rdlq_open,
    .put = rdlq_put,
    .list = rdlq_list,
    .remove = rdlq_remove,
    .depth = rdlq_depth,
    .describe = rdlq_describe,
    .destroy = rdlq_destroy,
    .ready = rdlq_ready,
};
