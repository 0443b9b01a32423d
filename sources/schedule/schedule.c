/* The schedule source (type "schedule"): fires EventBridge scheduled events on a rate() or
 * cron() expression (docs/SCHEDULES.md).
 *
 * A tick is durable before it is delivered: its event goes into the spool (sources/spool.h)
 * first and is emitted once that insert is committed, as the webhook does with a request, and
 * a restart reads what was not acknowledged back from the spool. With the insert, in the same
 * savepoint, the tick is kept as the source's done_ms (state.c), so a restart knows which ticks
 * it missed while it was down and fires the latest of them (catch_up: one) or none.
 *
 * With a `lock` (Redis or PostgreSQL) a tick is fired only by the process the lock records as
 * the tick's owner (lock.c); without it every process fires every tick.
 *
 * A tick allocates (its event's attributes, a text record): ticks come once a second at most,
 * so the record pool the webhook keeps for its request rates is not worth having here. */
#include "sources/schedule/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/push_reader.h"
#include "sources/schedule/schedule_int.h"

#define SCHEDULE_RETRY_S   1.0
#define SCHEDULE_MAX_COUNT 100000 /* missed ticks counted, at most */

struct schedule {
    struct sl_source base;
    struct sl_schedule_conf conf; /* its config, expression, zone and detail (conf.c) */
    struct ev_loop *loop;
    struct sl_spool *spool;
    struct sl_store *store;
    struct sl_schedule_lock *lock;    /* NULL: no lock */
    ev_periodic tick;                 /* the next tick, on the wall clock */
    ev_timer retry;                   /* a tick not fired yet (lock unreachable, spool full) */
    int64_t next_ms;                  /* the armed tick; 0: none (nothing fires before 2200) */
    int64_t want_ms;                  /* a tick to fire; 0: none */
    int64_t asking_ms;                /* a tick whose lock request is out; 0: none */
    int64_t done_ms;                  /* every tick up to this one was fired or skipped */
    size_t pending;                   /* store callbacks outstanding: each holds s */
    bool started, stopped, destroyed; /* the ticks (with several mappings: of any of them) */
    bool put_failing;         /* the last spool write failed (logged once until one succeeds) */
    struct sl_push_reader rd; /* hands the spooled ticks to the mappings */
    struct sl_metric *m_fired;
    struct sl_metric *m_skipped;
};

struct schedule_put {
    struct schedule *s;
    struct sl_schedule_state_row state; /* done_ms = the tick, written with the spool row */
    uint64_t seq;
    int64_t tick_ms;
    char id[SL_ID_LEN + 1];
    char *attrs;
};

/* ---- firing ---- */

static void schedule_free(struct schedule *s);
static void schedule_process(struct schedule *s);

static void release_one(struct schedule *s)
{
    s->pending--;
    if (s->destroyed && s->pending == 0)
        schedule_free(s);
}

static void state_done(int status, void *arg)
{
    struct schedule *s = arg;
    if (status < 0 && !s->destroyed)
        sl_error(s->base.scope, "cannot keep the last tick in the store: %s", sl_strerror(status));
    release_one(s);
}

static void save_done(struct schedule *s, int64_t tick_ms)
{
    if (tick_ms > s->done_ms)
        s->done_ms = tick_ms;
    if (sl_schedule_state_write(s->store, s->base.name, s->done_ms, state_done, s) == 0)
        s->pending++;
}

static void want_tick(struct schedule *s, int64_t tick_ms)
{
    if (tick_ms > s->done_ms && tick_ms > s->want_ms)
        s->want_ms = tick_ms;
}

static void coords_of(struct schedule *s, uint64_t seq, int64_t tick_ms, struct sl_buf *out)
{
    struct sl_jw w;
    sl_jw_init(&w, out);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "schedule", s->base.name);
    sl_jw_key(&w, "tick");
    sl_jw_time(&w, tick_ms);
    sl_jw_key(&w, "spoolSeq");
    sl_jw_uint(&w, seq);
    sl_jw_obj_close(&w);
}

static void schedule_emit(void *owner, struct sl_source *to, const struct sl_spool_row *row)
{
    struct schedule *s = owner;
    struct sl_buf coords;
    sl_buf_init(&coords);
    coords_of(s, row->seq, row->received_ms, &coords);
    struct sl_record *r = sl_record_new(row->id, row->attrs, coords.data, row->body, row->body_len);
    sl_buf_release(&coords);
    r->lane = 0;
    r->seq = row->seq;
    r->time_ms = row->received_ms;
    sl_source_emit(to, r);
}

static void retry_later(struct schedule *s, int64_t tick_ms)
{
    want_tick(s, tick_ms);
    if (!ev_is_active(&s->retry) && !s->stopped) {
        ev_timer_set(&s->retry, SCHEDULE_RETRY_S, 0);
        ev_timer_start(s->loop, &s->retry);
    }
}

/* The spool is full (the function has been failing for long) or the store is lost: the tick
 * waits, and is retried every second; a newer tick replaces it. */
static void put_failed(struct schedule *s, int64_t tick_ms, int code)
{
    if (!s->put_failing)
        sl_error(s->base.scope, "cannot spool the tick: %s (retrying every second)",
                 code == SL_EFULL ? "the spool is over its quota" : sl_strerror(code));
    s->put_failing = true;
    retry_later(s, tick_ms);
}

static void put_done(int status, void *arg)
{
    struct schedule_put *p = arg;
    struct schedule *s = p->s;
    if (!s->destroyed) {
        if (status < 0) {
            put_failed(s, p->tick_ms, status);
        } else {
            s->put_failing = false;
            sl_metric_inc(s->m_fired);
            if (p->tick_ms > s->done_ms)
                s->done_ms = p->tick_ms; /* written with the row */
            sl_push_reader_committed(&s->rd, &(struct sl_spool_row){
                                                 .seq = p->seq,
                                                 .id = p->id,
                                                 .received_ms = p->tick_ms,
                                                 .attrs = p->attrs,
                                                 .body = s->conf.detail,
                                                 .body_len = s->conf.detail_len,
                                             });
        }
    }
    free(p->attrs);
    free(p);
    release_one(s);
}

static void fire(struct schedule *s, int64_t tick_ms)
{
    struct schedule_put *p = SL_NEW(struct schedule_put);
    p->s = s;
    p->tick_ms = tick_ms;
    sl_id_new(p->id);
    p->attrs =
        sl_schedule_attrs(p->id, tick_ms, s->conf.cfg.account, s->conf.cfg.region, s->base.name);
    p->state.source = s->base.name;
    p->state.done_ms = tick_ms > s->done_ms ? tick_ms : s->done_ms;
    struct sl_spool_item it = {
        .source = s->base.name,
        .id = p->id,
        .received_ms = tick_ms,
        .attrs = p->attrs,
        .body = s->conf.detail,
        .body_len = s->conf.detail_len,
        .also = sl_schedule_state_put,
        .also_arg = &p->state,
    };
    int rc = sl_spool_put(s->spool, &it, &p->seq, put_done, p);
    if (rc < 0) {
        free(p->attrs);
        free(p);
        put_failed(s, tick_ms, rc);
        return;
    }
    s->pending++;
}

static void lock_cb(int won, void *arg)
{
    struct schedule *s = arg;
    int64_t tick_ms = s->asking_ms;
    s->asking_ms = 0;
    if (s->stopped)
        return; /* not fired, not recorded: the next start sees it as missed */
    if (won > 0) {
        fire(s, tick_ms);
    } else if (won == 0) {
        sl_metric_inc(s->m_skipped);
        sl_debug(s->base.scope, "tick fired by another process");
        save_done(s, tick_ms);
    } else {
        retry_later(s, tick_ms);
        return;
    }
    schedule_process(s);
}

/* Fires the tick waiting, through the lock when there is one. */
static void schedule_process(struct schedule *s)
{
    if (s->stopped || s->destroyed || s->want_ms <= s->done_ms || ev_is_active(&s->retry))
        return;
    int64_t tick_ms = s->want_ms;
    if (!s->lock) {
        s->want_ms = 0;
        fire(s, tick_ms);
        return;
    }
    if (s->asking_ms)
        return; /* the reply comes first */
    s->want_ms = 0;
    s->asking_ms = tick_ms;
    sl_schedule_lock_take(s->lock, tick_ms);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    schedule_process(w->data);
}

/* The latest tick at or before now, from first (a tick at or before now); *n counts them. */
/* The latest tick at or before now, from first (a tick at or before now); *n counts the ticks
 * from first to it, or is SCHEDULE_MAX_COUNT when there are at least that many. A cron's
 * latest tick is looked for in windows before now that double until one holds a tick, so a
 * long downtime costs a few searches, not one per missed tick. */
static int64_t latest_tick(struct schedule *s, int64_t first, int64_t now, int64_t *n)
{
    if (s->conf.expr.kind == SL_SCHED_RATE) {
        int64_t p = s->conf.expr.period_ms;
        int64_t latest = first + (now - first) / p * p;
        *n = (latest - first) / p + 1;
        return latest;
    }
    int64_t latest = first, next;
    for (int64_t w = 60 * 1000; now - w > latest; w *= 2) {
        if (sl_sched_expr_next(&s->conf.expr, s->conf.tz, now - w, &next) == 0 && next <= now) {
            latest = next;
            break;
        }
    }
    while (sl_sched_expr_next(&s->conf.expr, s->conf.tz, latest, &next) == 0 && next <= now)
        latest = next;
    *n = 1;
    for (int64_t t = first; *n < SCHEDULE_MAX_COUNT && t < latest; ++*n) {
        if (sl_sched_expr_next(&s->conf.expr, s->conf.tz, t, &t) < 0)
            break;
    }
    return latest;
}

static void arm(struct schedule *s, int64_t after_ms)
{
    int64_t next;
    if (sl_sched_expr_next(&s->conf.expr, s->conf.tz, after_ms, &next) < 0) {
        s->next_ms = 0;
        sl_info(s->base.scope, "%s fires no more (nothing before the year 2200)",
                s->conf.cfg.expression);
        return;
    }
    s->next_ms = next;
    ev_periodic_set(&s->tick, (ev_tstamp)next / 1000.0, 0, 0);
    ev_periodic_start(s->loop, &s->tick);
}

static void tick_cb(struct ev_loop *loop, ev_periodic *w, int revents)
{
    (void)revents;
    struct schedule *s = w->data;
    ev_periodic_stop(loop, w);
    int64_t now = sl_now_ms();
    int64_t n, latest = s->next_ms;
    /* The loop was held up past later ticks too: fire the latest, as catch_up: one would. */
    if (latest <= now)
        latest = latest_tick(s, s->next_ms, now, &n);
    want_tick(s, latest);
    arm(s, latest > now ? latest : now);
    schedule_process(s);
}

/* ---- reading the spool ---- */

struct newest {
    uint64_t seq;
    int64_t tick_ms;
};

static int newest_row_cb(const struct sl_spool_row *row, void *arg)
{
    struct newest *nw = arg;
    nw->seq = row->seq;
    if (row->received_ms > nw->tick_ms)
        nw->tick_ms = row->received_ms;
    return 0;
}

/* The newest tick spooled and not yet acknowledged (0: none). Its done_ms was written with
 * it; the spool is read too so that a schedule_state row removed by hand does not make spooled
 * ticks look missed (and fire again). */
static int64_t spooled_newest(struct schedule *s)
{
    struct newest nw = {0, 0};
    for (;;) {
        uint64_t after = nw.seq;
        int n = sl_spool_scan(s->spool, s->base.name, NULL, after, 256, newest_row_cb, &nw);
        if (n <= 0)
            break;
    }
    return nw.tick_ms;
}

/* ---- the source ops ---- */

static int schedule_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                           struct sl_source **out, struct sl_err *err)
{
    struct schedule *s = SL_NEW(struct schedule);
    int rc = sl_schedule_conf_bind(env->cfg, sec, &s->conf, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    sl_source_init(&s->base, &sl_source_schedule_ops, sec->name);
    if (env->store)
        rc = sl_store_exec(env->store, sl_schedule_state_schema, err);
    if (rc < 0) {
        schedule_free(s);
        return rc;
    }
    s->loop = env->loop;
    s->spool = env->spool;
    s->store = env->store;
    sl_push_reader_init(&s->rd, &s->base, env->loop, env->spool, schedule_emit, s);
    ev_periodic_init(&s->tick, tick_cb, 0, 0, 0);
    s->tick.data = s;
    ev_timer_init(&s->retry, retry_cb, SCHEDULE_RETRY_S, 0);
    s->retry.data = s;
    struct sl_buf l;
    sl_buf_init(&l);
    sl_metrics_label(&l, "source", sec->name);
    s->m_fired = sl_metrics_counter(env->metrics, "sluice_schedule_fired_total",
                                    "Schedule ticks fired (their event spooled).", l.data);
    s->m_skipped = sl_metrics_counter(env->metrics, "sluice_schedule_skipped_total",
                                      "Schedule ticks not fired here: another process held the "
                                      "tick's lock, or catch_up: none skipped them.",
                                      l.data);
    sl_buf_release(&l);
    *out = &s->base;
    return 0;
}

/* The ticks start with the first mapping that starts (a view's start, with several). */
static int schedule_start_ticks(struct schedule *s, struct sl_err *err)
{
    int64_t done = 0;
    int found = sl_schedule_state_read(s->store, s->base.name, &done);
    if (found < 0)
        return sl_err_set(err, SL_ERR_FATAL, found, "%s: cannot read its last tick from the store",
                          s->base.name);
    int64_t spooled = spooled_newest(s);
    if (spooled > done)
        done = spooled;
    int64_t now = sl_now_ms();
    s->started = true;
    if (!found && !spooled) {
        /* The first start: nothing was missed. */
        s->done_ms = now;
        save_done(s, now);
    } else {
        s->done_ms = done;
        int64_t first;
        if (sl_sched_expr_next(&s->conf.expr, s->conf.tz, done, &first) == 0 && first <= now) {
            int64_t n;
            int64_t latest = latest_tick(s, first, now, &n);
            char at[32];
            sl_time_fmt_iso(latest, at, sizeof(at));
            const char *more = n >= SCHEDULE_MAX_COUNT ? " or more" : "";
            if (s->conf.cfg.catch_up == SL_SCHEDULE_CATCH_UP_ONE) {
                sl_info(s->base.scope, "%lld%s tick(s) missed while down: firing the latest (%s)",
                        (long long)n, more, at);
                want_tick(s, latest);
            } else {
                sl_info(s->base.scope,
                        "%lld%s tick(s) missed while down, up to %s: skipped (catch_up: none)",
                        (long long)n, more, at);
                sl_metric_add(s->m_skipped, (double)n);
                save_done(s, latest);
            }
        }
    }
    if (s->conf.cfg.lock.type != SL_SCHEDULE_LOCK_NONE) {
        /* One process owns a store (its lock file), so host and store name it across
         * restarts: a tick it took and had not spooled before a crash is still its own. */
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        struct sl_buf owner;
        sl_buf_init(&owner);
        sl_buf_printf(&owner, "%s:%s", host, s->store ? sl_store_dir(s->store) : "");
        s->lock = sl_schedule_lock_create(s->loop, &s->conf.cfg.lock, s->base.scope, owner.data,
                                          lock_cb, s);
        sl_buf_release(&owner);
    }
    arm(s, now > s->done_ms ? now : s->done_ms);
    schedule_process(s);
    return 0;
}

static int schedule_start(struct sl_source *src, struct sl_err *err)
{
    struct schedule *s = src->push->owner;
    int rc = s->started ? 0 : schedule_start_ticks(s, err);
    if (rc == 0)
        sl_push_reader_start(src->push);
    return rc;
}

static void schedule_pause(struct sl_source *src)
{
    /* Ticks still go into the spool; they are read back on resume. */
    sl_push_reader_pause(src->push);
}

static void schedule_resume(struct sl_source *src)
{
    sl_push_reader_resume(src->push);
}

static void schedule_ack(struct sl_source *src, const struct sl_record *r)
{
    const struct sl_text_record *t = sl_record_text(r);
    size_t alen = t && t->attrs ? strlen(t->attrs) : 2;
    sl_push_reader_ack(src->push, r->seq, sl_spool_charge(alen, r->body_len));
}

static void schedule_stop(struct sl_source *src, sl_source_stopped_cb cb, void *arg)
{
    struct schedule *s = src->push->owner;
    sl_push_reader_stop(src->push);
    if (s->rd.stopped) {
        /* The last of its mappings stopped: no more ticks. */
        s->stopped = true;
        ev_periodic_stop(s->loop, &s->tick);
        ev_timer_stop(s->loop, &s->retry);
    }
    if (cb)
        cb(src, arg);
}

static void schedule_free(struct schedule *s)
{
    sl_schedule_lock_destroy(s->lock);
    sl_schedule_conf_release(&s->conf);
    sl_source_release(&s->base);
    free(s);
}

static void schedule_destroy(struct sl_source *src)
{
    if (!src)
        return;
    struct schedule *s = (struct schedule *)src;
    if (s->loop) {
        ev_periodic_stop(s->loop, &s->tick);
        ev_timer_stop(s->loop, &s->retry);
        sl_push_reader_release(&s->rd);
    }
    sl_schedule_lock_destroy(s->lock);
    s->lock = NULL;
    s->destroyed = true;
    if (s->pending == 0)
        schedule_free(s);
}

static void put_iso(struct sl_jw *w, const char *key, int64_t ms)
{
    sl_jw_key(w, key);
    if (ms > 0)
        sl_jw_time(w, ms);
    else
        sl_jw_null(w);
}

static void schedule_describe(struct sl_source *src, struct sl_jw *w)
{
    struct schedule *s = (struct schedule *)src;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", src->ops->type);
    sl_jw_kstr(w, "name", src->name);
    sl_jw_kstr(w, "expression", s->conf.cfg.expression);
    sl_jw_kstr(w, "timezone", s->conf.cfg.timezone);
    sl_jw_kstr(w, "catch_up", sl_schedule_catch_up_values[s->conf.cfg.catch_up]);
    sl_jw_kstr(w, "lock", sl_schedule_lock_types[s->conf.cfg.lock.type]);
    put_iso(w, "next_fire", s->next_ms);
    put_iso(w, "last_tick", s->done_ms);
    sl_jw_kbool(w, "paused", s->rd.paused);
    sl_jw_kint(w, "spooled", s->spool ? sl_spool_depth(s->spool, src->name) : 0);
    sl_jw_obj_close(w);
}

static int64_t schedule_backlog(struct sl_source *src)
{
    struct schedule *s = (struct schedule *)src;
    return sl_spool_depth(s->spool, src->name);
}

static bool schedule_ready(struct sl_source *src, char *why, size_t n)
{
    struct schedule *s = (struct schedule *)src;
    if (!s->lock || sl_schedule_lock_up(s->lock))
        return true;
    snprintf(why, n, "the lock's %s is unreachable: ticks wait for it",
             sl_schedule_lock_server(s->lock));
    return false;
}

const struct sl_source_ops sl_source_schedule_ops = {
    .type = "schedule",
    .props = &sl_schedule_table,
    .create = schedule_create,
    .start = schedule_start,
    .pause = schedule_pause,
    .resume = schedule_resume,
    .ack = schedule_ack,
    .stop = schedule_stop,
    .destroy = schedule_destroy,
    .describe = schedule_describe,
    .encode = sl_schedule_encode,
    .backlog = schedule_backlog,
    .filter_view = sl_schedule_filter_view,
    .ready = schedule_ready,
    .fan_out = true,
};
