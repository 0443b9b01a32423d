/* The Redis engine of the shared intake: one XADD per push to the stream of the redis source
 * written to (https://redis.io/commands/xadd/), followed by WAIT <wait_replicas> <timeout>
 * when asked (https://redis.io/commands/wait/), on one asynchronous connection with that
 * source's connection settings (clients/redis/conn). Replies come in order, so a push is
 * answered from its last reply. While Redis is unreachable pushes are refused (503) and the
 * connection is retried with backoff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/redis/conf.h"
#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/id.h"
#include "core/time.h"
#include "sources/intake.h"
#include "sources/redis/redis_int.h"

#define RI_BACKOFF_MIN 100
#define RI_BACKOFF_MAX 5000

struct rintake {
    struct sl_intake base;
    struct sl_redis_cfg cfg; /* the connection options borrow its strings */
    struct sl_redis_conn conn;
    struct ev_loop *loop;
    ev_timer retry;
    struct sl_backoff backoff;
    uint64_t rng;
    uint32_t failures;
    bool connecting;
    bool closing;
    int64_t wait_replicas;
    int64_t wait_timeout_ms;
    /* The numbers of every XADD and WAIT as text, made once. */
    char maxlen[24]; /* "" when no MAXLEN */
    char nreplicas[24];
    char wait_ms[24];
    char endpoint[300];
};

struct rjob {
    struct rintake *r;
    sl_intake_done_cb cb;
    void *arg;
    int64_t start_ms;
    int status;  /* the first failure among its replies */
    int replies; /* replies still awaited */
};

static void rjob_reply(struct rjob *j, int status)
{
    struct rintake *r = j->r;
    if (status < 0 && j->status == 0)
        j->status = status;
    if (--j->replies > 0)
        return;
    r->base.inflight--;
    int st = r->closing ? SL_ECLOSED : j->status;
    if (!r->closing)
        sl_intake_count(&r->base, st, j->start_ms);
    j->cb(st, j->arg);
    free(j);
}

static void xadd_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rjob *j = priv;
    int status = 0;
    if (!reply) {
        status = -ECONNRESET;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        sl_warn(j->r->base.scope, "XADD failed: %.200s", reply->str);
        status = -EIO;
    }
    rjob_reply(j, status);
}

static void wait_cb(struct sl_redis_conn *c, redisReply *reply, void *priv)
{
    struct rjob *j = priv;
    struct rintake *r = j->r;
    int status = 0;
    if (!reply) {
        status = -ECONNRESET;
    } else if (reply->type != REDIS_REPLY_INTEGER) {
        sl_warn(r->base.scope, "WAIT failed: %.200s",
                reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        status = -EIO;
    } else if (reply->integer < r->wait_replicas) {
        sl_warn(r->base.scope, "WAIT: %lld of %lld replicas acknowledged within %lld ms",
                (long long)reply->integer, (long long)r->wait_replicas,
                (long long)r->wait_timeout_ms);
        status = -ETIMEDOUT;
    }
    rjob_reply(j, status);
}

static void ri_connect(struct rintake *r);

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ri_connect(w->data);
}

static void state_cb(struct sl_redis_conn *c, bool up, const char *why, void *arg)
{
    struct rintake *r = arg;
    r->connecting = false;
    if (up) {
        if (r->failures > 0)
            sl_info(r->base.scope, "intake connected to %s again", r->endpoint);
        r->failures = 0;
        return;
    }
    r->failures++;
    int64_t delay = sl_backoff_delay(&r->backoff, r->failures, &r->rng);
    if (r->failures == 1)
        sl_warn(r->base.scope,
                "intake cannot reach %s: %s (pushes are answered 503 until it "
                "is back; retrying in %lld ms)",
                r->endpoint, why, (long long)delay);
    ev_timer_set(&r->retry, (double)delay / 1000.0, 0.);
    ev_timer_start(r->loop, &r->retry);
}

static void ri_connect(struct rintake *r)
{
    if (r->conn.up || r->connecting)
        return;
    char why[300];
    r->connecting = true;
    if (sl_redis_conn_connect(&r->conn, why, sizeof(why)) < 0)
        state_cb(&r->conn, false, why, r);
}

static int ri_put(struct sl_intake *in, const struct sl_intake_item *it, sl_intake_done_cb cb,
                  void *arg)
{
    struct rintake *r = (struct rintake *)in;
    if (r->closing)
        return SL_ECLOSED;
    if (!r->conn.up) {
        sl_intake_count(&r->base, -ENOTCONN, 0);
        return -ENOTCONN;
    }
    char t[32];
    const char *names[SL_INTAKE_MAX_FIELDS], *vals[SL_INTAKE_MAX_FIELDS];
    size_t lens[SL_INTAKE_MAX_FIELDS];
    size_t nf = sl_intake_fields(it, t, names, vals, lens);
    const char *argv[8 + 2 * SL_INTAKE_MAX_FIELDS];
    size_t alen[8 + 2 * SL_INTAKE_MAX_FIELDS];
    int n = 0;
#define ARG(s, l) (argv[n] = (s), alen[n] = (l), n++)
    ARG("XADD", 4);
    ARG(r->base.target, strlen(r->base.target));
    if (r->maxlen[0]) {
        ARG("MAXLEN", 6);
        ARG("~", 1);
        ARG(r->maxlen, strlen(r->maxlen));
    }
    ARG("*", 1);
    ARG(SL_INTAKE_F_BODY, strlen(SL_INTAKE_F_BODY));
    ARG(it->body ? (const char *)it->body : "", it->body_len);
    for (size_t i = 0; i < nf; i++) {
        ARG(names[i], strlen(names[i]));
        ARG(vals[i], lens[i]);
    }
#undef ARG
    struct rjob *j = SL_NEW(struct rjob);
    j->r = r;
    j->cb = cb;
    j->arg = arg;
    j->start_ms = sl_mono_ms();
    j->replies = 1;
    if (sl_redis_conn_cmd(&r->conn, 0, xadd_cb, j, n, argv, alen) < 0) {
        free(j);
        sl_intake_count(&r->base, -ENOTCONN, 0);
        return -ENOTCONN;
    }
    r->base.inflight++;
    if (r->wait_replicas > 0) {
        /* WAIT covers every write of this connection before it, the XADD included. */
        const char *wargv[] = {"WAIT", r->nreplicas, r->wait_ms};
        j->replies++;
        if (sl_redis_conn_cmd(&r->conn, r->wait_timeout_ms, wait_cb, j, 3, wargv, NULL) < 0)
            rjob_reply(j, -ENOTCONN); /* the XADD's reply still answers, with this failure */
    }
    return 0;
}

static void ri_destroy(struct sl_intake *in, int64_t deadline_ms)
{
    (void)deadline_ms;
    struct rintake *r = (struct rintake *)in;
    /* Replies still awaited are failed (their pushers get 503 and retry): closing the
     * connection fires their callbacks with no reply. */
    r->closing = true;
    if (r->loop)
        ev_timer_stop(r->loop, &r->retry);
    sl_redis_conn_release(&r->conn);
    sl_redis_cfg_release(&r->cfg);
    sl_intake_base_release(&r->base);
    free(r);
}

static const struct sl_intake_engine_ops rintake_ops = {
    .put = ri_put,
    .destroy = ri_destroy,
};

int sl_intake_redis_create(const struct sl_env *env, const char *source,
                           const struct sl_cfg_typed *to, const struct sl_intake_cfg *c,
                           struct sl_intake **out, struct sl_err *err)
{
    struct rintake *r = SL_NEW(struct rintake);
    struct sl_config quiet = *env->cfg;
    quiet.diags = NULL;
    int64_t start_ms = 0;
    int rc = sl_redis_cfg_bind(&quiet, to, &r->cfg, &start_ms, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    sl_intake_base_init(&r->base, &rintake_ops, "redis", r->cfg.streams.v[0], env, source, c);
    snprintf(r->base.scope, sizeof(r->base.scope), "source:intake:%s", to->name);
    r->loop = env->loop;
    if (c->maxlen > 0)
        snprintf(r->maxlen, sizeof(r->maxlen), "%lld", (long long)c->maxlen);
    snprintf(r->nreplicas, sizeof(r->nreplicas), "%lld", (long long)c->wait_replicas);
    snprintf(r->wait_ms, sizeof(r->wait_ms), "%lld", (long long)c->wait_timeout_ms);
    r->wait_replicas = c->wait_replicas;
    r->wait_timeout_ms = c->wait_timeout_ms;
    r->backoff =
        (struct sl_backoff){.min_ms = RI_BACKOFF_MIN, .max_ms = RI_BACKOFF_MAX, .multiplier = 2.0};
    r->rng = sl_random_u64() | 1;
    struct sl_redis_conn_opts o;
    sl_redis_conn_opts_from_cfg(&r->cfg.conn, &o);
    sl_redis_conn_endpoint(&o, r->endpoint, sizeof(r->endpoint));
    sl_redis_conn_init(&r->conn, r->loop, &o, state_cb, r);
    ev_init(&r->retry, retry_cb);
    r->retry.data = r;
    ri_connect(r);
    *out = &r->base;
    return 0;
}
