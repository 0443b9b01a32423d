/* The redis source (type "redis"): Redis Streams through a consumer group.
 *
 * Two connections: `rd` only runs the blocking XREADGROUP, `ctl` runs everything else (XGROUP,
 * XPENDING, XCLAIM, XACK, XINFO), so acks never wait behind a blocked read. States:
 * DOWN (waiting to reconnect) -> CONNECTING -> SETUP (XGROUP CREATE ... MKSTREAM per stream) ->
 * RECOVER (this consumer's own pending entries, XPENDING + XCLAIM, page by page) -> LIVE (reads,
 * claims of idle entries, heartbeats of held ones, metrics). Any error on either connection
 * drops both and reconnects with backoff; what was in flight stays pending in Redis and is
 * recovered (entries still held by the mapping are recognised and not emitted twice).
 * Acks: per stream a tracker of emitted ids; XACK goes out for the handled prefix only. */
#include "sources/redis/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/id.h"
#include "core/conditions.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/presleep.h"
#include "core/time.h"
#include "clients/redis/conn.h"
#include "sources/redis/redis_int.h"
#include "sources/redis/tracker.h"

#define REDIS_ACK_CHUNK       500
#define REDIS_HEARTBEAT_CHUNK 500
#define REDIS_BACKOFF_MIN_MS  100
#define REDIS_BACKOFF_MAX_MS  5000

enum rstate {
    RS_IDLE = 0, /* created, not started */
    RS_DOWN,     /* waiting to reconnect */
    RS_CONNECTING,
    RS_SETUP,
    RS_RECOVER,
    RS_LIVE,
};

static const char *const state_names[] = {"created",    "disconnected", "connecting",
                                          "setting up", "recovering",   "live"};

struct rsrc;

struct rstream {
    struct rsrc *s;
    char *name;
    char *arn;
    struct sl_redis_stream_ref ref; /* what its records share */
    uint32_t lane;
    struct sl_redis_tracker tr;
    char cursor[SL_REDIS_ID_MAX + 2]; /* XPENDING paging: "-" or "(<id>" */
    bool recovering;
    bool recover_wait; /* a recovery page waits for resume() */
    bool claiming;
    int64_t pending; /* from the last metrics refresh, -1 unknown */
    struct sl_metric *m_pending, *m_lag, *m_oldest, *m_claimed;
};

struct rsrc {
    struct sl_source base;
    struct sl_redis_cfg cfg;
    int64_t start_ms;
    struct ev_loop *loop;
    struct sl_redis_conn rd, ctl;
    struct rstream *streams;
    size_t nstreams;
    enum rstate state;
    bool started, paused, stopped, reading, was_live;
    size_t setup_left, recover_left;
    size_t held; /* emitted, not yet handled (read_ahead) */
    uint32_t failures;
    char last_why[300];
    struct sl_backoff backoff;
    uint64_t rng;
    ev_timer retry_timer, claim_timer, heartbeat_timer, metrics_timer;
    struct sl_presleep acks; /* before the loop sleeps: XACKs out, then the next read */
    char endpoint[300];
    struct sl_redis_pool pool; /* free records */
    struct sl_buf ackcmd;      /* an XACK in RESP, reused */
    struct sl_buf readcmd;     /* the XREADGROUP in RESP, reused */
    struct sl_metric *m_reconnects, *m_connected, *m_poison;
};

/* A growing argv for redisAsyncCommandArgv (strings are copied by hiredis when formatting). */
struct rargv {
    const char **v;
    size_t *len;
    size_t n, cap;
};

static void argv_push(struct rargv *a, const char *s, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = sl_realloc(a->v, a->cap * sizeof(*a->v));
        a->len = sl_realloc(a->len, a->cap * sizeof(*a->len));
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

static void argv_str(struct rargv *a, const char *s)
{
    argv_push(a, s, strlen(s));
}

static void argv_free(struct rargv *a)
{
    free(a->v);
    free(a->len);
}

static int argv_send(struct sl_redis_conn *c, int64_t extra_ms, sl_redis_reply_cb cb, void *priv,
                     struct rargv *a)
{
    int rc = sl_redis_conn_cmd(c, extra_ms, cb, priv, (int)a->n, a->v, a->len);
    argv_free(a);
    return rc;
}

static void source_down(struct rsrc *s, const char *why);
static void read_next(struct rsrc *s);
static void wake_before_sleep(struct rsrc *s);
static void recover_page(struct rstream *st);
static void flush_acks(struct rsrc *s);

static bool reply_is_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR;
}

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* One bulk string of a RESP command: "$<len>\r\n<bytes>\r\n". */
static void resp_bulk(struct sl_buf *b, const char *v, size_t n)
{
    sl_buf_putc(b, '$');
    sl_buf_put_u64(b, n);
    SL_BUF_LIT(b, "\r\n");
    sl_buf_append(b, v, n);
    SL_BUF_LIT(b, "\r\n");
}

/* A number as a bulk string. */
static void resp_i64(struct sl_buf *b, int64_t v)
{
    char num[24];
    size_t n = (size_t)(sl_put_i64(num, v) - num);
    resp_bulk(b, num, n);
}

/* ---- emitting entries ---- */

static const redisReply *field_value(const redisReply *fields, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (is_str(k) && k->len == nlen && memcmp(k->str, name, nlen) == 0 &&
            is_str(fields->element[i + 1]))
            return fields->element[i + 1];
    }
    return NULL;
}

/* Emits one entry [id, [field, value, ...]] read `deliveries` times so far (this one included).
 * An entry deleted meanwhile (fields nil) is acked without delivery. */
static void emit_entry(struct rsrc *s, struct rstream *st, const redisReply *e, int64_t deliveries)
{
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 2 || !is_str(e->element[0]) ||
        e->element[0]->len >= SL_REDIS_ID_MAX)
        return;
    const char *id = e->element[0]->str;
    const redisReply *fields = e->element[1];
    if (!fields || fields->type != REDIS_REPLY_ARRAY) {
        sl_warn(s->base.scope,
                "entry %s of stream %s was deleted before it could be delivered: acknowledging "
                "it",
                id, st->name);
        uint64_t seq = sl_redis_tracker_push(&st->tr, id);
        sl_redis_tracker_handled(&st->tr, seq);
        wake_before_sleep(s);
        return;
    }
    size_t nf = fields->elements;
    const char *stackv[64];
    size_t stackl[64];
    const char **fv = nf <= 64 ? stackv : sl_malloc(nf * sizeof(*fv));
    size_t *fl = nf <= 64 ? stackl : sl_malloc(nf * sizeof(*fl));
    for (size_t i = 0; i < nf; i++) {
        const redisReply *f = fields->element[i];
        bool ok = is_str(f);
        fv[i] = ok ? f->str : "";
        fl[i] = ok ? f->len : 0;
    }
    const redisReply *pk =
        s->cfg.partition_key_field ? field_value(fields, s->cfg.partition_key_field) : NULL;
    struct sl_record *r = sl_redis_record_take(&st->ref, id, e->element[0]->len, fv, fl, nf,
                                               pk ? pk->str : NULL, pk ? pk->len : 0, deliveries);
    if (fv != stackv) {
        free(fv);
        free(fl);
    }
    r->lane = st->lane;
    r->seq = sl_redis_tracker_push(&st->tr, id);
    s->held++;
    if (deliveries > s->cfg.max_deliveries) {
        r->dead_letter = SL_COND_MAX_DELIVERIES;
        sl_metric_inc(s->m_poison);
        sl_warn(s->base.scope,
                "entry %s of stream %s was delivered %lld times (max_deliveries %lld): "
                "dead-lettering it",
                id, st->name, (long long)deliveries, (long long)s->cfg.max_deliveries);
    } else if (r->dead_letter) {
        sl_warn(s->base.scope,
                "entry %s of stream %s has no field \"%s\" (data_field): dead-lettering it with "
                "its fields in RESP",
                id, st->name, s->cfg.data_field);
    }
    sl_source_emit(&s->base, r);
}

static struct rstream *stream_named(struct rsrc *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nstreams; i++) {
        if (strlen(s->streams[i].name) == len && memcmp(s->streams[i].name, name, len) == 0)
            return &s->streams[i];
    }
    return NULL;
}

/* ---- reading new entries (rd) ---- */

static void read_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rsrc *s = priv;
    if (!reply)
        return;
    s->reading = false;
    if (reply_is_error(reply)) {
        char why[300];
        snprintf(why, sizeof(why), "XREADGROUP failed: %.200s", reply->str);
        source_down(s, why);
        return;
    }
    /* The source works end to end: the next drop starts the backoff afresh. Not earlier: an
     * error that comes back after every connect (a missing password, CROSSSLOT) must back off. */
    s->failures = 0;
    if (s->stopped)
        return; /* read but not emitted: still pending, recovered on the next start */
    if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *sr = reply->element[i];
            if (!sr || sr->type != REDIS_REPLY_ARRAY || sr->elements < 2 || !is_str(sr->element[0]))
                continue;
            struct rstream *st = stream_named(s, sr->element[0]->str, sr->element[0]->len);
            const redisReply *entries = sr->element[1];
            if (!st || !entries || entries->type != REDIS_REPLY_ARRAY)
                continue;
            for (size_t k = 0; k < entries->elements; k++)
                emit_entry(s, st, entries->element[k], 1);
        }
    }
    read_next(s);
}

/* Paused by the mapping, or holding read_ahead entries already. */
static bool throttled(const struct rsrc *s)
{
    return s->paused || s->held >= (size_t)s->cfg.read_ahead;
}

int64_t sl_redis_read_count(int64_t read_ahead, size_t held, size_t nstreams, int64_t count)
{
    int64_t room = read_ahead - (int64_t)held;
    int64_t n = room > 0 && nstreams > 0 ? room / (int64_t)nstreams : 0;
    if (n > 4 * count)
        n = 4 * count;
    return n > count ? n : count;
}

/* One XREADGROUP at a time, sent as soon as the previous reply was handed to the mapping (or,
 * when the source was throttled, as soon as handled entries make room: before the loop sleeps,
 * with the XACKs of the same iteration). It stays outstanding (BLOCK) while batches are at the
 * function, so new entries are read ahead of the lane's need up to read_ahead. */
static void read_next(struct rsrc *s)
{
    if (s->state != RS_LIVE || throttled(s) || s->stopped || s->reading || !s->rd.up)
        return;
    /* XREADGROUP GROUP <group> <consumer> COUNT <n> BLOCK <ms> STREAMS <stream>... >... in
     * RESP, into a reused buffer: no argv, no printf on the way to every read. */
    struct sl_buf *b = &s->readcmd;
    sl_buf_reset(b);
    sl_buf_putc(b, '*');
    sl_buf_put_u64(b, 9 + 2 * s->nstreams);
    SL_BUF_LIT(b, "\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n");
    resp_bulk(b, s->cfg.group, strlen(s->cfg.group));
    resp_bulk(b, s->cfg.consumer, strlen(s->cfg.consumer));
    SL_BUF_LIT(b, "$5\r\nCOUNT\r\n");
    resp_i64(b, sl_redis_read_count(s->cfg.read_ahead, s->held, s->nstreams, s->cfg.count));
    SL_BUF_LIT(b, "$5\r\nBLOCK\r\n");
    resp_i64(b, s->cfg.block_ms);
    SL_BUF_LIT(b, "$7\r\nSTREAMS\r\n");
    for (size_t i = 0; i < s->nstreams; i++)
        resp_bulk(b, s->streams[i].name, strlen(s->streams[i].name));
    for (size_t i = 0; i < s->nstreams; i++)
        SL_BUF_LIT(b, "$1\r\n>\r\n");
    if (sl_redis_conn_cmd_resp(&s->rd, s->cfg.block_ms, read_cb, s, b->data, b->len) == 0) {
        s->reading = true;
        /* Out before the entries just read go to the function: Redis works on the next reply
         * while they are encoded and sent, and an idle stream's read is waiting again at once. */
        sl_redis_conn_write_now(&s->rd);
    }
}

/* ---- pending entries: recovery of our own, takeover of idle ones (ctl) ---- */

enum { JOB_RECOVER, JOB_CLAIM };

struct claim_job {
    struct rstream *st;
    int kind;
    bool page_full; /* XPENDING returned a full page: there may be more */
    size_t n;
    char (*ids)[SL_REDIS_ID_MAX];
    int64_t *counts;
};

static void claim_job_free(struct claim_job *j)
{
    free(j->ids);
    free(j->counts);
    free(j);
}

static int64_t job_count(const struct claim_job *j, const char *id, size_t *hint)
{
    for (size_t k = 0; k < j->n; k++) {
        size_t i = (*hint + k) % j->n;
        if (strcmp(j->ids[i], id) == 0) {
            *hint = i + 1;
            return j->counts[i];
        }
    }
    return 0;
}

static void claim_done(struct rstream *st, int kind)
{
    struct rsrc *s = st->s;
    if (kind == JOB_RECOVER) {
        st->recovering = false;
        if (s->state == RS_RECOVER && --s->recover_left == 0) {
            s->state = RS_LIVE;
            sl_debug(s->base.scope, "recovery done: reading new entries");
            read_next(s);
        }
    } else {
        st->claiming = false;
    }
}

static void pending_page(struct rstream *st, int kind);

static void next_page(struct rstream *st, int kind, bool more)
{
    struct rsrc *s = st->s;
    if (!more || s->stopped) {
        claim_done(st, kind);
        return;
    }
    if (throttled(s)) {
        if (kind == JOB_RECOVER)
            st->recover_wait = true; /* unthrottle() continues */
        else
            claim_done(st, kind);
        return;
    }
    pending_page(st, kind);
}

/* Handles a claim job's reply that cannot be used: none (the connection went away: the job is
 * dropped) or an error (the source goes down and reconnects). Returns true when it did. */
static bool claim_reply_failed(struct claim_job *j, redisReply *reply, const char *cmd,
                               bool need_array)
{
    struct rstream *st = j->st;
    if (!reply) {
        claim_job_free(j);
        return true;
    }
    if (!reply_is_error(reply) && (!need_array || reply->type == REDIS_REPLY_ARRAY))
        return false;
    char why[300];
    snprintf(why, sizeof(why), "%s on %s failed: %.200s", cmd, st->name,
             reply_is_error(reply) ? reply->str : "unexpected reply");
    claim_job_free(j);
    source_down(st->s, why);
    return true;
}

static void xclaim_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct claim_job *j = priv;
    struct rstream *st = j->st;
    struct rsrc *s = st->s;
    if (claim_reply_failed(j, reply, "XCLAIM", false))
        return;
    size_t emitted = 0, hint = 0;
    if (reply->type == REDIS_REPLY_ARRAY && !s->stopped) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 1 || !is_str(e->element[0]))
                continue;
            /* XCLAIM counted this delivery: the count XPENDING gave plus one. */
            int64_t deliveries = job_count(j, e->element[0]->str, &hint) + 1;
            emit_entry(s, st, e, deliveries);
            emitted++;
        }
    }
    if (j->kind == JOB_CLAIM && emitted > 0) {
        sl_metric_add(st->m_claimed, (double)emitted);
        sl_info(s->base.scope, "took over %zu idle entries of stream %s", emitted, st->name);
    } else if (j->kind == JOB_RECOVER && emitted > 0) {
        sl_info(s->base.scope, "recovered %zu pending entries of stream %s", emitted, st->name);
    }
    int kind = j->kind;
    bool more = j->page_full;
    claim_job_free(j);
    next_page(st, kind, more);
}

static void xpending_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct claim_job *j = priv;
    struct rstream *st = j->st;
    struct rsrc *s = st->s;
    if (claim_reply_failed(j, reply, "XPENDING", true))
        return;
    j->page_full = reply->elements >= (size_t)s->cfg.count;
    j->ids = sl_calloc(reply->elements ? reply->elements : 1, sizeof(*j->ids));
    j->counts = sl_calloc(reply->elements ? reply->elements : 1, sizeof(*j->counts));
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *p = reply->element[i];
        if (!p || p->type != REDIS_REPLY_ARRAY || p->elements < 4 || !is_str(p->element[0]) ||
            p->element[0]->len >= SL_REDIS_ID_MAX)
            continue;
        const char *id = p->element[0]->str;
        /* The next page starts after this id, whatever happens to it. */
        snprintf(st->cursor, sizeof(st->cursor), "(%s", id);
        if (sl_redis_tracker_contains(&st->tr, id))
            continue; /* held by the mapping already (a reconnect): not emitted twice */
        snprintf(j->ids[j->n], SL_REDIS_ID_MAX, "%s", id);
        j->counts[j->n] = p->element[3]->type == REDIS_REPLY_INTEGER ? p->element[3]->integer : 0;
        j->n++;
    }
    if (j->n == 0 || s->stopped) {
        int kind = j->kind;
        bool more = j->page_full;
        claim_job_free(j);
        next_page(st, kind, more);
        return;
    }
    char idle[24];
    snprintf(idle, sizeof(idle), "%lld",
             j->kind == JOB_RECOVER ? 0LL : (long long)s->cfg.claim_idle_ms);
    struct rargv a = {0};
    argv_str(&a, "XCLAIM");
    argv_str(&a, st->name);
    argv_str(&a, s->cfg.group);
    argv_str(&a, s->cfg.consumer);
    argv_str(&a, idle);
    for (size_t i = 0; i < j->n; i++)
        argv_str(&a, j->ids[i]);
    if (argv_send(&s->ctl, 0, xclaim_cb, j, &a) < 0) {
        int kind = j->kind;
        claim_job_free(j);
        claim_done(st, kind);
    }
}

/* One page of XPENDING: this consumer's entries (recovery) or every consumer's entries idle
 * longer than claim_idle (takeover). */
static void pending_page(struct rstream *st, int kind)
{
    struct rsrc *s = st->s;
    char count[24], idle[24];
    snprintf(count, sizeof(count), "%lld", (long long)s->cfg.count);
    snprintf(idle, sizeof(idle), "%lld", (long long)s->cfg.claim_idle_ms);
    struct claim_job *j = SL_NEW(struct claim_job);
    j->st = st;
    j->kind = kind;
    struct rargv a = {0};
    argv_str(&a, "XPENDING");
    argv_str(&a, st->name);
    argv_str(&a, s->cfg.group);
    if (kind == JOB_CLAIM) {
        argv_str(&a, "IDLE");
        argv_str(&a, idle);
    }
    argv_str(&a, st->cursor);
    argv_str(&a, "+");
    argv_str(&a, count);
    if (kind == JOB_RECOVER)
        argv_str(&a, s->cfg.consumer);
    if (argv_send(&s->ctl, 0, xpending_cb, j, &a) < 0) {
        claim_job_free(j);
        claim_done(st, kind);
    }
}

static void recover_page(struct rstream *st)
{
    pending_page(st, JOB_RECOVER);
}

static void start_recovery(struct rsrc *s)
{
    s->state = RS_RECOVER;
    s->recover_left = s->nstreams;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        st->recovering = true;
        st->recover_wait = false;
        strcpy(st->cursor, "-");
    }
    for (size_t i = 0; i < s->nstreams && s->state == RS_RECOVER; i++)
        recover_page(&s->streams[i]);
}

static void claim_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rsrc *s = w->data;
    if (s->state != RS_LIVE || throttled(s) || s->stopped)
        return;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        if (st->claiming)
            continue;
        st->claiming = true;
        strcpy(st->cursor, "-");
        pending_page(st, JOB_CLAIM);
        if (s->state != RS_LIVE)
            return;
    }
}

/* Keeps the entries this source holds fresh (XCLAIM ... JUSTID resets their idle time), so
 * other processes never take them over while they are being worked on. */
static void heartbeat_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    if (reply_is_error(reply))
        sl_debug("source:redis", "heartbeat XCLAIM failed: %.200s", reply->str);
}

static void heartbeat_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rsrc *s = w->data;
    if (s->state != RS_LIVE)
        return;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        struct sl_redis_tracker *t = &st->tr;
        uint64_t seq = t->head_seq, end = t->head_seq + t->n;
        while (seq < end) {
            struct rargv a = {0};
            argv_str(&a, "XCLAIM");
            argv_str(&a, st->name);
            argv_str(&a, s->cfg.group);
            argv_str(&a, s->cfg.consumer);
            argv_str(&a, "0");
            size_t added = 0;
            for (; seq < end && added < REDIS_HEARTBEAT_CHUNK; seq++) {
                const struct sl_redis_slot *sl = &t->v[(t->head + (seq - t->head_seq)) % t->cap];
                if (sl->state == SL_REDIS_ACKED)
                    continue;
                argv_str(&a, sl->id);
                added++;
            }
            argv_str(&a, "JUSTID");
            if (added == 0) {
                argv_free(&a);
                break;
            }
            argv_send(&s->ctl, 0, heartbeat_cb, NULL, &a);
        }
    }
}

/* ---- acks (ctl) ---- */

struct ack_job {
    struct rstream *st;
    uint64_t first;
    size_t n;
};

static void xack_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct ack_job *j = priv;
    struct rstream *st = j->st;
    if (!reply || reply_is_error(reply)) {
        sl_redis_tracker_unack(&st->tr, j->first, j->n);
        if (reply) {
            char why[300];
            snprintf(why, sizeof(why), "XACK on %s failed: %.200s", st->name, reply->str);
            free(j);
            source_down(st->s, why);
            return;
        }
    } else {
        sl_redis_tracker_acked(&st->tr, j->first, j->n);
    }
    free(j);
}

/* XACK <stream> <group> <id>... written straight into RESP from the tracker's ids: no argv, no
 * formatting per id. */
static void xack_resp(struct rsrc *s, struct rstream *st, uint64_t first, size_t n)
{
    struct sl_buf *b = &s->ackcmd;
    sl_buf_reset(b);
    sl_buf_putc(b, '*');
    sl_buf_put_u64(b, 3 + n);
    SL_BUF_LIT(b, "\r\n$4\r\nXACK\r\n");
    resp_bulk(b, st->name, strlen(st->name));
    resp_bulk(b, s->cfg.group, strlen(s->cfg.group));
    for (size_t k = 0; k < n; k++) {
        size_t len;
        const char *id = sl_redis_tracker_id_len(&st->tr, first + k, &len);
        resp_bulk(b, id, len);
    }
}

static void flush_acks(struct rsrc *s)
{
    if (!s->ctl.up)
        return;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        for (;;) {
            uint64_t first;
            size_t n = sl_redis_tracker_take_ackable(&st->tr, REDIS_ACK_CHUNK, &first);
            if (n == 0)
                break;
            xack_resp(s, st, first, n);
            struct ack_job *j = SL_NEW(struct ack_job);
            j->st = st;
            j->first = first;
            j->n = n;
            if (sl_redis_conn_cmd_resp(&s->ctl, 0, xack_cb, j, s->ackcmd.data, s->ackcmd.len) < 0) {
                sl_redis_tracker_unack(&st->tr, first, n);
                free(j);
                return;
            }
        }
    }
}

static void unthrottle(struct rsrc *s);

/* What handled entries allow, once per loop iteration: one XACK per stream for every id that
 * became ackable, then the next read sized by all the room they made (an ack that sent a read
 * at once would size it by the first record of a batch). */
static void before_sleep(void *arg)
{
    struct rsrc *s = arg;
    flush_acks(s);
    /* Written now rather than after the loop wakes for the socket's write event. */
    sl_redis_conn_write_now(&s->ctl);
    unthrottle(s);
}

static void wake_before_sleep(struct rsrc *s)
{
    sl_presleep_arm(&s->acks);
}

/* ---- metrics (ctl) ---- */

static void xpending_summary_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rstream *st = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return;
    const redisReply *count = reply->element[0], *min = reply->element[1];
    if (count->type != REDIS_REPLY_INTEGER)
        return;
    st->pending = count->integer;
    sl_metric_set(st->m_pending, (double)count->integer);
    uint64_t ms = 0, seq = 0;
    double age = 0;
    if (count->integer > 0 && is_str(min) &&
        sl_redis_id_parse(min->str, min->len, &ms, &seq) == 0) {
        int64_t now = sl_now_ms();
        age = now > (int64_t)ms ? (double)(now - (int64_t)ms) / 1000.0 : 0;
    }
    sl_metric_set(st->m_oldest, age);
}

static void xinfo_groups_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rstream *st = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *g = reply->element[i];
        if (!g || g->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *name = field_value(g, "name");
        if (!name || strcmp(name->str, st->s->cfg.group) != 0)
            continue;
        for (size_t k = 0; k + 1 < g->elements; k += 2) {
            const redisReply *key = g->element[k], *v = g->element[k + 1];
            if (is_str(key) && strcmp(key->str, "lag") == 0)
                sl_metric_set(st->m_lag, v->type == REDIS_REPLY_INTEGER ? (double)v->integer
                                                                        : SL_METRIC_UNKNOWN);
        }
    }
}

static void metrics_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rsrc *s = w->data;
    if (!s->ctl.up || s->state < RS_SETUP)
        return;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        const char *pend[] = {"XPENDING", st->name, s->cfg.group};
        sl_redis_conn_cmd(&s->ctl, 0, xpending_summary_cb, st, 3, pend, NULL);
        const char *info[] = {"XINFO", "GROUPS", st->name};
        sl_redis_conn_cmd(&s->ctl, 0, xinfo_groups_cb, st, 3, info, NULL);
    }
}

/* ---- connection state ---- */

static void stop_activity(struct rsrc *s)
{
    ev_timer_stop(s->loop, &s->claim_timer);
    ev_timer_stop(s->loop, &s->heartbeat_timer);
    ev_timer_stop(s->loop, &s->metrics_timer);
    s->reading = false;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        st->recovering = st->recover_wait = st->claiming = false;
    }
}

static void source_down(struct rsrc *s, const char *why)
{
    if (s->state == RS_DOWN || s->state == RS_IDLE)
        return;
    /* A failure while setting up (NOAUTH, LOADING, WRONGTYPE...) is a failed connect: one line
     * per distinct reason, and the backoff grows. */
    bool was_up = s->state > RS_SETUP;
    s->state = RS_DOWN;
    sl_redis_conn_close(&s->rd);
    sl_redis_conn_close(&s->ctl);
    stop_activity(s);
    for (size_t i = 0; i < s->nstreams; i++)
        sl_redis_tracker_reset_acking(&s->streams[i].tr);
    sl_metric_set(s->m_connected, 0);
    s->failures++;
    int64_t delay = sl_backoff_delay(&s->backoff, s->failures, &s->rng);
    if (was_up) {
        sl_metric_inc(s->m_reconnects);
        sl_warn(s->base.scope, "connection to %s lost: %s (reconnecting in %lld ms)", s->endpoint,
                why, (long long)delay);
    } else if (strcmp(why, s->last_why) != 0) {
        sl_warn(s->base.scope, "cannot connect to %s: %s (retrying in %lld ms)", s->endpoint, why,
                (long long)delay);
    } else {
        sl_debug(s->base.scope, "cannot connect to %s: %s (retrying in %lld ms)", s->endpoint, why,
                 (long long)delay);
    }
    snprintf(s->last_why, sizeof(s->last_why), "%s", why);
    ev_timer_set(&s->retry_timer, (double)delay / 1000.0, 0.);
    ev_timer_start(s->loop, &s->retry_timer);
}

/* Connected, and the groups exist: only now is the source "connected" (a server that accepts
 * the connection but refuses every command, e.g. without AUTH, is not). */
static void source_ready(struct rsrc *s)
{
    if (s->failures > 0 || s->was_live)
        sl_info(s->base.scope, "connected to %s again (group %s, consumer %s)", s->endpoint,
                s->cfg.group, s->cfg.consumer);
    else
        sl_info(s->base.scope, "connected to %s (group %s, consumer %s, %zu streams)", s->endpoint,
                s->cfg.group, s->cfg.consumer, s->nstreams);
    s->last_why[0] = '\0';
    s->was_live = true;
    sl_metric_set(s->m_connected, 1);
}

static void setup_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rstream *st = priv;
    struct rsrc *s = st->s;
    if (!reply || s->state != RS_SETUP)
        return;
    if (reply_is_error(reply) && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot create group %s on stream %s: %.200s", s->cfg.group,
                 st->name, reply->str);
        source_down(s, why);
        return;
    }
    if (--s->setup_left > 0)
        return;
    source_ready(s);
    if (s->stopped) {
        s->state = RS_LIVE; /* only acks flow */
        flush_acks(s);
        return;
    }
    start_recovery(s);
}

static void on_connected(struct rsrc *s)
{
    if (s->state != RS_CONNECTING)
        return;
    s->state = RS_SETUP;
    flush_acks(s); /* what was handled while we were away */
    ev_timer_set(&s->claim_timer, (double)s->cfg.claim_interval_ms / 1000.0,
                 (double)s->cfg.claim_interval_ms / 1000.0);
    ev_timer_start(s->loop, &s->claim_timer);
    double hb = (double)s->cfg.claim_idle_ms / 3000.0;
    ev_timer_set(&s->heartbeat_timer, hb, hb);
    ev_timer_start(s->loop, &s->heartbeat_timer);
    ev_timer_set(&s->metrics_timer, 0., (double)s->cfg.metrics_interval_ms / 1000.0);
    ev_timer_start(s->loop, &s->metrics_timer);

    char start[48];
    if (s->cfg.starting_position == SL_REDIS_START_EARLIEST)
        strcpy(start, "0");
    else if (s->cfg.starting_position == SL_REDIS_START_LATEST)
        strcpy(start, "$");
    else if (s->start_ms <= 0)
        strcpy(start, "0");
    else
        snprintf(start, sizeof(start), "%lld-18446744073709551615", (long long)(s->start_ms - 1));
    s->setup_left = s->nstreams;
    for (size_t i = 0; i < s->nstreams && s->state == RS_SETUP; i++) {
        const char *argv[] = {"XGROUP",     "CREATE", s->streams[i].name,
                              s->cfg.group, start,    "MKSTREAM"};
        if (sl_redis_conn_cmd(&s->ctl, 0, setup_cb, &s->streams[i], 6, argv, NULL) < 0) {
            source_down(s, "the connection went away during setup");
            return;
        }
    }
}

static void conn_state_cb(struct sl_redis_conn *c, bool up, const char *why, void *arg)
{
    struct rsrc *s = arg;
    if (!up) {
        source_down(s, why ? why : "connection lost");
        return;
    }
    if (s->ctl.up && (s->rd.up || s->stopped))
        on_connected(s);
}

static void source_connect(struct rsrc *s)
{
    char why[300];
    s->state = RS_CONNECTING;
    if (sl_redis_conn_connect(&s->ctl, why, sizeof(why)) < 0 ||
        (!s->stopped && sl_redis_conn_connect(&s->rd, why, sizeof(why)) < 0))
        source_down(s, why);
}

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    source_connect(w->data);
}

/* ---- ops ---- */

static void stream_metrics(struct rsrc *s, struct sl_metrics *mx, struct rstream *st)
{
    struct sl_buf l;
    sl_buf_init(&l);
    sl_source_labels(&s->base, &l);
    sl_metrics_label(&l, "stream", st->name);
    st->m_pending = sl_metrics_gauge(mx, "sluice_redis_pending",
                                     "Entries pending in the group (read, not yet acked).", l.data);
    st->m_lag = sl_metrics_gauge(mx, "sluice_redis_lag",
                                 "Entries not yet read by the group (XINFO GROUPS lag; left out "
                                 "when Redis cannot tell).",
                                 l.data);
    st->m_oldest = sl_metrics_gauge(mx, "sluice_redis_oldest_pending_age_seconds",
                                    "Age of the oldest pending entry of the group.", l.data);
    st->m_claimed = sl_metrics_counter(mx, "sluice_redis_claimed_total",
                                       "Idle entries taken over from other consumers.", l.data);
    /* Not known before the first XPENDING / XINFO answers: left out until then. */
    sl_metric_set(st->m_pending, SL_METRIC_UNKNOWN);
    sl_metric_set(st->m_lag, SL_METRIC_UNKNOWN);
    sl_metric_set(st->m_oldest, SL_METRIC_UNKNOWN);
    sl_buf_release(&l);
}

static int redis_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                        struct sl_source **out, struct sl_err *err)
{
    struct rsrc *s = SL_NEW(struct rsrc);
    int rc = sl_redis_cfg_bind(env->cfg, sec, &s->cfg, &s->start_ms, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    sl_source_init_reader(&s->base, &sl_source_redis_ops, sec->name, env);
    s->loop = env->loop;
    s->backoff.min_ms = REDIS_BACKOFF_MIN_MS;
    s->backoff.max_ms = REDIS_BACKOFF_MAX_MS;
    s->backoff.multiplier = 2.0;
    s->rng = sl_random_u64() | 1;
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&s->cfg.conn, &o);
    sl_redis_conn_endpoint(&o, s->endpoint, sizeof(s->endpoint));
    sl_redis_conn_init(&s->rd, s->loop, &o, conn_state_cb, s);
    /* rd only reads entries: its replies are the big ones, built without a malloc each. */
    sl_redis_conn_use_arena(&s->rd);
    sl_redis_conn_init(&s->ctl, s->loop, &o, conn_state_cb, s);
    ev_init(&s->retry_timer, retry_timer_cb);
    s->retry_timer.data = s;
    ev_init(&s->claim_timer, claim_timer_cb);
    s->claim_timer.data = s;
    ev_init(&s->heartbeat_timer, heartbeat_timer_cb);
    s->heartbeat_timer.data = s;
    ev_init(&s->metrics_timer, metrics_timer_cb);
    s->metrics_timer.data = s;
    sl_presleep_init(&s->acks, s->loop, before_sleep, s);
    sl_redis_pool_init(&s->pool, s->cfg.group, s->cfg.consumer);
    sl_buf_init(&s->ackcmd);
    sl_buf_init(&s->readcmd);
    s->pool.body = (struct sl_redis_body_spec){
        .encoding = s->cfg.data_encoding,
        .field = s->cfg.data_field,
        .field_len = s->cfg.data_field ? strlen(s->cfg.data_field) : 0,
    };

    s->nstreams = s->cfg.streams.n;
    s->streams = sl_calloc(s->nstreams, sizeof(*s->streams));
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        char arn[600];
        st->s = s;
        st->name = s->cfg.streams.v[i];
        st->lane = (uint32_t)i;
        st->pending = -1;
        const struct sl_redis_conn_cfg *cc = &s->cfg.conn;
        if (cc->unix_socket && *cc->unix_socket)
            snprintf(arn, sizeof(arn), "redis+unix://%s/%lld/%s", cc->unix_socket,
                     (long long)cc->db, st->name);
        else
            snprintf(arn, sizeof(arn), "redis://%s:%lld/%lld/%s", cc->host, (long long)cc->port,
                     (long long)cc->db, st->name);
        st->arn = sl_strdup(arn);
        sl_redis_stream_ref_init(&st->ref, &s->pool, st->name, st->arn);
        sl_redis_tracker_init(&st->tr);
        strcpy(st->cursor, "-");
        stream_metrics(s, env->metrics, st);
    }
    struct sl_buf l;
    sl_buf_init(&l);
    sl_source_labels(&s->base, &l);
    s->m_reconnects = sl_metrics_counter(env->metrics, "sluice_redis_reconnects_total",
                                         "Connections to Redis lost and made again.", l.data);
    s->m_connected = sl_metrics_gauge(env->metrics, "sluice_redis_connected",
                                      "1 while the source is connected to Redis.", l.data);
    s->m_poison = sl_metrics_counter(env->metrics, "sluice_redis_max_deliveries_total",
                                     "Entries dead-lettered for exceeding max_deliveries.", l.data);
    sl_buf_release(&l);
    *out = &s->base;
    return 0;
}

static int redis_start(struct sl_source *base, struct sl_err *err)
{
    struct rsrc *s = (struct rsrc *)base;
    if (s->started)
        return 0;
    s->started = true;
    sl_info(s->base.scope, "connecting to %s (group %s, consumer %s)", s->endpoint, s->cfg.group,
            s->cfg.consumer);
    /* Never fails: an unreachable Redis is retried in the background. */
    source_connect(s);
    return 0;
}

static void redis_pause(struct sl_source *base)
{
    ((struct rsrc *)base)->paused = true;
}

/* Continues what throttled() held back. */
static void unthrottle(struct rsrc *s)
{
    if (throttled(s))
        return;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        if (st->recover_wait && s->state == RS_RECOVER) {
            st->recover_wait = false;
            recover_page(st);
        }
    }
    read_next(s);
}

static void redis_resume(struct sl_source *base)
{
    struct rsrc *s = (struct rsrc *)base;
    if (!s->paused)
        return;
    s->paused = false;
    wake_before_sleep(s); /* the mapping resumes while it acks: read once they are all in */
}

static void redis_ack(struct sl_source *base, const struct sl_record *r)
{
    struct rsrc *s = (struct rsrc *)base;
    if (r->lane >= s->nstreams)
        return;
    struct rstream *st = &s->streams[r->lane];
    if (sl_redis_tracker_handled(&st->tr, r->seq) < 0) {
        sl_debug(s->base.scope, "ack of %s (stream %s): not held", sl_redis_record_id(r), st->name);
        return;
    }
    if (s->held > 0)
        s->held--;
    wake_before_sleep(s);
}

static void redis_stop(struct sl_source *base, sl_source_stopped_cb cb, void *arg)
{
    struct rsrc *s = (struct rsrc *)base;
    if (!s->stopped) {
        s->stopped = true;
        /* The blocked read goes; entries it may have taken stay pending for the next start. */
        sl_redis_conn_close(&s->rd);
        s->reading = false;
        ev_timer_stop(s->loop, &s->claim_timer);
        ev_timer_stop(s->loop, &s->heartbeat_timer);
        sl_debug(s->base.scope, "stopped reading; acks continue");
    }
    if (cb)
        cb(base, arg);
}

static void redis_destroy(struct sl_source *base)
{
    if (!base)
        return;
    struct rsrc *s = (struct rsrc *)base;
    ev_timer_stop(s->loop, &s->retry_timer);
    stop_activity(s);
    sl_presleep_disarm(&s->acks);
    /* Last acks: queued and written now (best effort, non-blocking); Redis applies them. */
    flush_acks(s);
    sl_redis_conn_flush(&s->ctl);
    sl_redis_conn_release(&s->rd);
    sl_redis_conn_release(&s->ctl);
    for (size_t i = 0; i < s->nstreams; i++) {
        sl_redis_tracker_release(&s->streams[i].tr);
        sl_redis_stream_ref_release(&s->streams[i].ref);
        free(s->streams[i].arn);
    }
    free(s->streams);
    sl_redis_pool_release(&s->pool);
    sl_buf_release(&s->ackcmd);
    sl_buf_release(&s->readcmd);
    sl_redis_cfg_release(&s->cfg);
    sl_source_release(&s->base);
    free(s);
}

static void redis_describe(struct sl_source *base, struct sl_jw *w)
{
    struct rsrc *s = (struct rsrc *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "name", base->name);
    sl_jw_kstr(w, "endpoint", s->endpoint);
    sl_jw_kint(w, "db", s->cfg.conn.db);
    sl_jw_kstr(w, "group", s->cfg.group);
    sl_jw_kstr(w, "consumer", s->cfg.consumer);
    sl_jw_kstr(w, "state", s->stopped ? "stopped" : state_names[s->state]);
    sl_jw_kbool(w, "paused", s->paused);
    sl_jw_key(w, "streams");
    sl_jw_arr_open(w);
    for (size_t i = 0; i < s->nstreams; i++) {
        struct rstream *st = &s->streams[i];
        sl_jw_obj_open(w);
        sl_jw_kstr(w, "name", st->name);
        sl_jw_kint(w, "lane", st->lane);
        sl_jw_kint(w, "held", (int64_t)sl_redis_tracker_count(&st->tr, SL_REDIS_HELD));
        sl_jw_key(w, "pending");
        if (st->pending < 0)
            sl_jw_null(w);
        else
            sl_jw_int(w, st->pending);
        sl_jw_obj_close(w);
    }
    sl_jw_arr_close(w);
    sl_jw_obj_close(w);
}

static int64_t redis_backlog(struct sl_source *base)
{
    struct rsrc *s = (struct rsrc *)base;
    int64_t total = 0;
    for (size_t i = 0; i < s->nstreams; i++) {
        if (s->streams[i].pending < 0)
            return -1;
        total += s->streams[i].pending;
    }
    return total;
}

static bool redis_ready(struct sl_source *base, char *why, size_t n)
{
    struct rsrc *s = (struct rsrc *)base;
    if (s->state == RS_RECOVER || s->state == RS_LIVE || s->state == RS_IDLE)
        return true;
    snprintf(why, n, "%s %s%s%s", state_names[s->state], s->endpoint, s->last_why[0] ? ": " : "",
             s->last_why);
    return false;
}

static const char *redis_group(struct sl_source *base)
{
    return ((struct rsrc *)base)->cfg.group;
}

const struct sl_source_ops sl_source_redis_ops = {
    .type = "redis",
    .props = &sl_redis_source_table,
    .create = redis_create,
    .start = redis_start,
    .pause = redis_pause,
    .resume = redis_resume,
    .ack = redis_ack,
    .stop = redis_stop,
    .destroy = redis_destroy,
    .describe = redis_describe,
    .encode = sl_redis_encode,
    .backlog = redis_backlog,
    .ready = redis_ready,
    .filter_view = sl_redis_filter_view,
    .group_key = "group",
    .group = redis_group,
};
