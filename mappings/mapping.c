#include "mappings/mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/mapping_int.h"

static void lane_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    sl_lane_kick(w->data);
}

static struct sl_lane *lane_find(const struct sl_mapping *m, uint32_t id)
{
    return id < m->nlanes ? m->lanes[id] : NULL;
}

static struct sl_lane *lane_get(struct sl_mapping *m, uint32_t id)
{
    struct sl_lane *lane = lane_find(m, id);
    if (lane)
        return lane;
    if (id >= m->nlanes) {
        /* Doubling keeps growth amortised O(1) when a source adds lanes one by one. */
        size_t n = m->nlanes ? m->nlanes : 8;
        while (n <= id)
            n *= 2;
        m->lanes = sl_realloc(m->lanes, n * sizeof(*m->lanes));
        memset(m->lanes + m->nlanes, 0, (n - m->nlanes) * sizeof(*m->lanes));
        m->nlanes = n;
    }
    lane = SL_NEW(struct sl_lane);
    lane->m = m;
    lane->id = id;
    ev_init(&lane->timer, lane_timer_cb);
    lane->timer.data = lane;
    m->lanes[id] = lane;
    return lane;
}

static void lane_enqueue(struct sl_lane *lane, enum sl_lane_queue q)
{
    struct sl_lane_fifo *f = &lane->m->queues[q];
    if (lane->on[q])
        return;
    lane->on[q] = true;
    lane->qnext[q] = NULL;
    if (f->tail)
        f->tail->qnext[q] = lane;
    else
        f->head = lane;
    f->tail = lane;
}

static struct sl_lane *lane_dequeue(struct sl_mapping *m, enum sl_lane_queue q)
{
    struct sl_lane_fifo *f = &m->queues[q];
    struct sl_lane *lane = f->head;
    if (!lane)
        return NULL;
    f->head = lane->qnext[q];
    if (!f->head)
        f->tail = NULL;
    lane->qnext[q] = NULL;
    lane->on[q] = false;
    return lane;
}

/* Makes the lane's timer fire by monotonic time at_ms. One timer serves both the batch window
 * and the retry backoff, so it keeps whichever is due first; the kick it fires re-arms it for
 * the other. */
static void lane_arm(struct sl_lane *lane, int64_t at_ms)
{
    struct ev_loop *loop = lane->m->loop;
    int64_t delay_ms = at_ms - sl_mono_ms();
    double after = delay_ms > 0 ? (double)delay_ms / 1000.0 : 0.;
    if (ev_is_active(&lane->timer) && ev_timer_remaining(loop, &lane->timer) <= after)
        return;
    ev_timer_stop(loop, &lane->timer);
    ev_timer_set(&lane->timer, after, 0.);
    ev_timer_start(loop, &lane->timer);
}

static void mapping_update_gauges(struct sl_mapping *m)
{
    sl_metric_set(m->mx.inflight_records, (double)m->inflight_records);
    sl_metric_set(m->mx.inflight_bytes, (double)m->inflight_bytes);
}

static bool mapping_over_caps(const struct sl_mapping *m)
{
    return m->inflight_records >= (size_t)m->cfg->max_inflight_records ||
           m->inflight_bytes >= m->cfg->max_inflight_bytes;
}

static bool mapping_under_resume_mark(const struct sl_mapping *m)
{
    /* Hysteresis: resume at three quarters of the caps, so the source does not flap. */
    return m->inflight_records <= (size_t)m->cfg->max_inflight_records * 3 / 4 &&
           m->inflight_bytes <= m->cfg->max_inflight_bytes / 4 * 3;
}

static bool mapping_filter_pass(struct sl_mapping *m, const struct sl_record *r)
{
    struct sl_fview v;
    bool viewable = m->s->ops->filter_view && m->s->ops->filter_view(r, &v);
    return sl_filter_match_view(m->filter, viewable ? &v : NULL, &m->filter_scratch);
}

static void mapping_emit_cb(struct sl_record *r, void *arg)
{
    struct sl_mapping *m = arg;
    struct sl_lane *lane = lane_get(m, r->lane);

    /* One clock reading per loop iteration (after_poll_cb), not one per record. */
    r->arrived_mono_ms = m->poll_mono_ms ? m->poll_mono_ms : sl_mono_ms();
    r->next = NULL;
    r->all_next = NULL;
    r->all_prev = m->all_tail;
    if (m->all_tail)
        m->all_tail->all_next = r;
    else
        m->all_head = r;
    m->all_tail = r;
    m->inflight_records++;
    m->inflight_bytes += r->bytes;
    sl_metric_inc(m->mx.received);

    if (!m->source_paused && mapping_over_caps(m)) {
        m->source_paused = true;
        sl_debug(m->scope, "in-flight caps reached (%zu records, %zu bytes): pausing the source",
                 m->inflight_records, m->inflight_bytes);
        sl_mapping_sync_source(m);
    }
    mapping_update_gauges(m);
    lane->revoked = false;

    if (r->dead_letter) {
        /* The source already knows this record cannot be delivered (a poison entry). */
        sl_mapping_dead_letter(m, lane, r, r->dead_letter);
        return;
    }
    if (m->filter && !mapping_filter_pass(m, r)) {
        sl_metric_inc(m->mx.filtered);
        sl_mapping_record_done(m, r, true);
        return;
    }
    if (lane->tail)
        lane->tail->next = r;
    else
        lane->head = r;
    lane->tail = r;
    lane->count++;
    lane->bytes += r->bytes;
    /* Batch what arrives within one loop iteration together: kick before the loop sleeps. */
    lane_enqueue(lane, SL_LQ_DIRTY);
}

static void mapping_revoke_cb(uint32_t id, void *arg)
{
    struct sl_mapping *m = arg;
    struct sl_lane *lane = lane_find(m, id);
    if (!lane)
        return;
    size_t dropped = 0;
    ev_timer_stop(m->loop, &lane->timer);
    lane->revoked = true;
    while (lane->work) {
        struct sl_batch *b = lane->work;
        lane->work = b->next;
        for (size_t i = 0; i < b->n; i++, dropped++)
            sl_mapping_record_done(m, b->rs[i], false);
        sl_batch_free(b);
    }
    while (lane->head) {
        struct sl_record *r = lane->head;
        lane->head = r->next;
        sl_mapping_record_done(m, r, false);
        dropped++;
    }
    lane->tail = NULL;
    lane->count = 0;
    lane->bytes = 0;
    sl_info(m->scope,
            "lane %u revoked: %zu records dropped unacked (their new owner redelivers "
            "them)",
            id, dropped);
}

static void mapping_schedule(struct sl_mapping *m);

static void before_sleep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct sl_mapping *m = w->data;
    struct sl_lane *lane;
    while ((lane = lane_dequeue(m, SL_LQ_DIRTY)))
        lane_enqueue(lane, SL_LQ_READY);
    mapping_schedule(m);
    m->poll_mono_ms = 0; /* records emitted outside an iteration read the clock */
}

static void after_poll_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct sl_mapping *m = w->data;
    m->poll_mono_ms = sl_mono_ms();
}

/* Drained: the source said it will emit nothing more, and no record is held. */
static void mapping_check_drained(struct sl_mapping *m)
{
    if (m->draining && m->source_stopped && m->inflight_records == 0 && m->drained_cb) {
        sl_mapping_drained_cb cb = m->drained_cb;
        m->drained_cb = NULL;
        cb(m, m->drained_arg);
    }
}

void sl_mapping_record_done(struct sl_mapping *m, struct sl_record *r, bool ack)
{
    if (ack)
        m->s->ops->ack(m->s, r);
    if (r->all_prev)
        r->all_prev->all_next = r->all_next;
    else
        m->all_head = r->all_next;
    if (r->all_next)
        r->all_next->all_prev = r->all_prev;
    else
        m->all_tail = r->all_prev;
    m->inflight_records--;
    m->inflight_bytes -= r->bytes;
    sl_record_free(r);
    mapping_update_gauges(m);
    if (m->source_paused && !m->draining && mapping_under_resume_mark(m)) {
        m->source_paused = false;
        sl_debug(m->scope, "below the in-flight caps: resuming the source");
        sl_mapping_sync_source(m);
    }
    mapping_check_drained(m);
}

void sl_mapping_sync_source(struct sl_mapping *m)
{
    bool hold = m->source_paused || m->disabled;
    if (hold == m->source_held || !m->started)
        return;
    m->source_held = hold;
    if (hold)
        m->s->ops->pause(m->s);
    else
        m->s->ops->resume(m->s);
}

/* Do the records of the group r starts (sl_record.group, queued after it) fit in b? */
static bool group_fits(const struct sl_record *r, const struct sl_batch *b,
                       const struct sl_cfg_batch *bc)
{
    if (b->n + r->group > (size_t)bc->size)
        return false;
    size_t bytes = b->bytes;
    for (uint32_t i = 0; r && i < r->group; i++, r = r->next) {
        bytes += r->bytes;
        if (bytes > bc->max_bytes)
            return false;
    }
    return true;
}

/* Takes the next batch from the lane's queue if one is due; arms the window timer if not. */
static struct sl_batch *lane_take_batch(struct sl_lane *lane, int64_t now)
{
    struct sl_mapping *m = lane->m;
    const struct sl_cfg_batch *bc = &m->cfg->batch;
    if (!lane->head)
        return NULL;
    bool full = lane->count >= (size_t)bc->size || lane->bytes >= bc->max_bytes;
    int64_t due = lane->head->arrived_mono_ms + bc->window_ms;
    if (!full && !m->draining && bc->window_ms > 0 && now < due) {
        lane_arm(lane, due);
        return NULL;
    }
    size_t cap = lane->count < (size_t)bc->size ? lane->count : (size_t)bc->size;
    struct sl_batch *b = sl_batch_new(lane, cap);
    while (lane->head && b->n < cap) {
        struct sl_record *r = lane->head;
        if (b->n > 0 && b->bytes + r->bytes > bc->max_bytes)
            break;
        if (b->n > 0 && r->group > 1 && !group_fits(r, b, bc))
            break; /* the group starts the next batch, whole */
        lane->head = r->next;
        if (!lane->head)
            lane->tail = NULL;
        r->next = NULL;
        lane->count--;
        lane->bytes -= r->bytes;
        b->rs[b->n++] = r;
        b->bytes += r->bytes;
    }
    return b;
}

/* Cuts and dispatches the lane's batches while a concurrency slot is free and its ordering
 * allows. Only the scheduler pass calls it, and nothing it calls calls it back: a batch that
 * finishes synchronously (dead-lettered, split, refused) just lets this loop go on. */
static void lane_pump(struct sl_lane *lane)
{
    struct sl_mapping *m = lane->m;
    bool ordered = m->cfg->ordering == SL_CFG_ORDER_LANE;
    /* One clock reading for the whole loop: a batch the target refuses goes back to the work
     * queue due after it (backoff), so each batch is dispatched at most once here and the loop
     * ends even if the target refuses everything. The lane's timer brings the rest. */
    int64_t now = sl_mono_ms();

    if (++m->pump_depth > m->pump_depth_max)
        m->pump_depth_max = m->pump_depth;
    while (!m->halted) {
        if (ordered && lane->active > 0)
            break; /* kicked again when its batch or DLQ write finishes */
        if (m->invoking >= (size_t)m->cfg->max_concurrency) {
            if (lane->head || lane->work)
                lane_enqueue(lane, SL_LQ_WAITING);
            break;
        }
        struct sl_batch *b = NULL;
        if (lane->work) {
            if (lane->work->not_before_ms > now) {
                lane_arm(lane, lane->work->not_before_ms);
                if (ordered)
                    break;
            } else {
                b = lane->work;
                lane->work = b->next;
                b->next = NULL;
            }
        }
        if (!b && (!ordered || !lane->work))
            b = lane_take_batch(lane, now);
        if (!b)
            break;
        ev_timer_stop(m->loop, &lane->timer);
        if (sl_batch_dispatch(b) == SL_DISPATCH_SENT && ordered)
            break; /* one batch at a time: kicked again when it finishes */
    }
    m->pump_depth--;
}

/* One scheduler pass: serves queued lanes until none can start anything more. Lanes waiting for
 * a concurrency slot go first while slots are free, in the order they started waiting, so slots
 * go round the lanes instead of back to the lane whose batch just freed one. What finishes
 * during the pass only queues its lane here, and the pass serves it before returning. */
static void mapping_schedule(struct sl_mapping *m)
{
    if (m->kicking)
        return;
    m->kicking = true;
    while (!m->halted) {
        struct sl_lane *lane = NULL;
        if (m->invoking < (size_t)m->cfg->max_concurrency)
            lane = lane_dequeue(m, SL_LQ_WAITING);
        if (!lane)
            lane = lane_dequeue(m, SL_LQ_READY);
        if (!lane)
            break;
        lane_pump(lane);
    }
    m->kicking = false;
}

void sl_lane_kick(struct sl_lane *lane)
{
    lane_enqueue(lane, SL_LQ_READY);
    mapping_schedule(lane->m);
}

static void mapping_kick_all(struct sl_mapping *m)
{
    for (size_t i = 0; i < m->nlanes; i++) {
        if (m->lanes[i])
            lane_enqueue(m->lanes[i], SL_LQ_READY);
    }
    mapping_schedule(m);
}

int sl_mapping_create(const struct sl_mapping_env *env, const struct sl_cfg_mapping *cfg,
                      struct sl_source *s, struct sl_target *t, struct sl_dlq *d,
                      struct sl_mapping **out, struct sl_err *err)
{
    struct sl_mapping *m = SL_NEW(struct sl_mapping);
    m->loop = env->loop;
    m->cfg = cfg;
    m->disabled = !cfg->enabled;
    m->state_reason = "User action";
    m->last_result = "No records processed";
    m->s = s;
    m->t = t;
    m->d = d;
    d->writers++;
    m->registry = env->metrics;
    snprintf(m->scope, sizeof(m->scope), "mapping:%s", cfg->name);
    m->backoff.min_ms = cfg->retry.backoff.min_ms;
    m->backoff.max_ms = cfg->retry.backoff.max_ms;
    m->backoff.multiplier = cfg->retry.backoff.multiplier;
    m->rng = sl_random_u64();
    char path[160];
    snprintf(path, sizeof(path), "%s.filters", cfg->path ? cfg->path : cfg->name);
    int rc = sl_filter_compile(cfg->filters, path, &m->filter, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    sl_mapping_metrics_init(m);
    ev_prepare_init(&m->before_sleep, before_sleep_cb);
    m->before_sleep.data = m;
    ev_check_init(&m->after_poll, after_poll_cb);
    m->after_poll.data = m;
    *out = m;
    return 0;
}

int sl_mapping_start(struct sl_mapping *m, struct sl_err *err)
{
    if (m->disabled) {
        sl_info(m->scope, "disabled (%s): not starting source %s", m->state_reason, m->s->name);
        return 0;
    }
    if (m->started)
        return 0;
    m->s->emit = mapping_emit_cb;
    m->s->revoke = mapping_revoke_cb;
    m->s->emit_arg = m;
    ev_prepare_start(m->loop, &m->before_sleep);
    ev_check_start(m->loop, &m->after_poll);
    int rc = m->s->ops->start(m->s, err);
    if (rc < 0)
        return rc;
    m->started = true;
    sl_info(m->scope, "started: %s -> %s (batch %lld, window %lldms, max_attempts %lld)",
            m->s->name, m->t->name, (long long)m->cfg->batch.size,
            (long long)m->cfg->batch.window_ms, (long long)m->cfg->retry.max_attempts);
    return 0;
}

static void mapping_source_stopped_cb(struct sl_source *s, void *arg)
{
    struct sl_mapping *m = arg;
    m->source_stopped = true;
    mapping_check_drained(m);
}

void sl_mapping_drain(struct sl_mapping *m, sl_mapping_drained_cb cb, void *arg)
{
    m->draining = true;
    m->drained_cb = cb;
    m->drained_arg = arg;
    /* The drain ends when the source has stopped emitting (its stop callback, which may fire
     * at once) and every record it emitted is handled. */
    if (m->started && !m->source_stopped) {
        /* A second drain (a shutdown during a reload) waits for the same stop. */
        if (!m->stop_asked) {
            m->stop_asked = true;
            m->s->ops->stop(m->s, mapping_source_stopped_cb, m);
        }
    } else {
        m->source_stopped = true;
    }
    mapping_check_drained(m);
    if (m->inflight_records == 0)
        return; /* drained, or the source's stop callback will tell */
    /* Windows no longer wait; batches already waiting go now. */
    for (size_t i = 0; i < m->nlanes; i++) {
        if (m->lanes[i])
            ev_timer_stop(m->loop, &m->lanes[i]->timer);
    }
    mapping_kick_all(m);
}

const char *sl_mapping_state(const struct sl_mapping *m)
{
    if (m->disabled)
        return m->inflight_records > 0 ? "Disabling" : "Disabled";
    return m->started ? "Enabled" : "Creating";
}

bool sl_mapping_enabled(const struct sl_mapping *m)
{
    return !m->disabled;
}

void sl_mapping_init_state(struct sl_mapping *m, bool enabled, const char *reason,
                           int64_t changed_ms)
{
    m->disabled = !enabled;
    m->state_reason = reason;
    m->state_changed_ms = changed_ms;
}

int sl_mapping_set_enabled(struct sl_mapping *m, bool enabled, const char *reason,
                           struct sl_err *err)
{
    if (m->draining)
        return sl_err_set(err, SL_ERR_PERMANENT, -ESHUTDOWN, "mapping %s: shutting down",
                          m->cfg->name);
    if (enabled == !m->disabled)
        return 0;
    m->disabled = !enabled;
    m->state_reason = reason;
    m->state_changed_ms = sl_now_ms();
    if (!enabled) {
        sl_mapping_sync_source(m);
        sl_info(m->scope,
                "disabled (%s): source %s paused, its position kept; %zu records in flight "
                "finish",
                reason, m->s->name, m->inflight_records);
        return 0;
    }
    if (!m->started) {
        int rc = sl_mapping_start(m, err);
        if (rc < 0) {
            m->disabled = true;
            return rc;
        }
    } else {
        sl_mapping_sync_source(m);
    }
    sl_info(m->scope, "enabled (%s): reading source %s again", reason, m->s->name);
    return 0;
}

void sl_mapping_halt(struct sl_mapping *m)
{
    m->halted = true;
    sl_mapping_dead_letter_halt(m);
    ev_prepare_stop(m->loop, &m->before_sleep);
    ev_check_stop(m->loop, &m->after_poll);
    for (size_t i = 0; i < m->nlanes; i++) {
        if (m->lanes[i])
            ev_timer_stop(m->loop, &m->lanes[i]->timer);
    }
}

size_t sl_mapping_inflight(const struct sl_mapping *m)
{
    return m->inflight_records;
}

bool sl_mapping_drained(const struct sl_mapping *m)
{
    return m->draining && m->source_stopped && m->inflight_records == 0;
}

const char *sl_mapping_name(const struct sl_mapping *m)
{
    return m->cfg->name;
}

const struct sl_cfg_mapping *sl_mapping_config(const struct sl_mapping *m)
{
    return m->cfg;
}

void sl_mapping_describe(struct sl_mapping *m, struct sl_jw *w)
{
    static const char *const formats[] = {"lambda", "raw"};
    static const char *const orderings[] = {"lane", "none"};
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "name", m->cfg->name);
    sl_jw_kstr(w, "state",
               m->disabled        ? "disabled"
               : m->draining      ? "draining"
               : m->source_paused ? "paused"
               : m->started       ? "running"
                                  : "created");
    sl_jw_kstr(w, "State", sl_mapping_state(m));
    sl_jw_kstr(w, "StateTransitionReason", m->state_reason);
    sl_jw_kstr(w, "LastProcessingResult", m->last_result);
    if (m->state_changed_ms > 0) {
        sl_jw_key(w, "LastModified");
        sl_jw_time(w, m->state_changed_ms);
    }
    char why[256] = "";
    bool reachable = !m->s->ops->ready || m->s->ops->ready(m->s, why, sizeof(why));
    sl_jw_kbool(w, "SourceReachable", reachable);
    if (!reachable)
        sl_jw_kstr(w, "SourceUnreachableReason", why);
    int64_t backlog = m->s->ops->backlog ? m->s->ops->backlog(m->s) : -1;
    sl_jw_key(w, "lagRecords");
    if (backlog >= 0)
        sl_jw_int(w, backlog);
    else
        sl_jw_null(w);
    sl_jw_kstr(w, "function", m->t->name);
    sl_jw_kstr(w, "dlq", m->d->name);
    sl_jw_kstr(w, "format", formats[m->cfg->format]);
    sl_jw_kstr(w, "ordering", orderings[m->cfg->ordering]);
    sl_jw_key(w, "source");
    m->s->ops->describe(m->s, w);
    sl_jw_key(w, "inflight");
    sl_jw_obj_open(w);
    sl_jw_kint(w, "records", (int64_t)m->inflight_records);
    sl_jw_kint(w, "bytes", (int64_t)m->inflight_bytes);
    sl_jw_kint(w, "invocations", (int64_t)m->invoking);
    sl_jw_key(w, "oldestRecordAgeMs");
    if (m->all_head)
        sl_jw_int(w, sl_now_ms() - m->all_head->time_ms);
    else
        sl_jw_null(w);
    sl_jw_obj_close(w);
    sl_jw_key(w, "records");
    sl_jw_obj_open(w);
    sl_jw_kint(w, "received", (int64_t)sl_metric_value(m->mx.received));
    sl_jw_kint(w, "dispatched", (int64_t)sl_metric_value(m->mx.dispatched));
    sl_jw_kint(w, "delivered", (int64_t)sl_metric_value(m->mx.delivered));
    sl_jw_kint(w, "failed", (int64_t)sl_metric_value(m->mx.failed));
    sl_jw_kint(w, "deadLettered", (int64_t)sl_metric_value(m->mx.dead_lettered));
    sl_jw_obj_close(w);
    sl_jw_obj_close(w);
}

static void lane_free(struct sl_mapping *m, struct sl_lane *lane)
{
    ev_timer_stop(m->loop, &lane->timer);
    while (lane->work) {
        struct sl_batch *b = lane->work;
        lane->work = b->next;
        sl_batch_free(b);
    }
    free(lane);
}

void sl_mapping_destroy(struct sl_mapping *m)
{
    if (!m)
        return;
    ev_prepare_stop(m->loop, &m->before_sleep);
    ev_check_stop(m->loop, &m->after_poll);
    for (size_t i = 0; i < m->nlanes; i++) {
        if (m->lanes[i])
            lane_free(m, m->lanes[i]);
    }
    free(m->lanes);
    sl_mapping_dead_letter_release(m);
    /* Every live record is on the all-list, whatever stage it is in. */
    struct sl_record *r = m->all_head;
    while (r) {
        struct sl_record *next = r->all_next;
        sl_record_free(r);
        r = next;
    }
    sl_filter_destroy(m->filter);
    sl_buf_release(&m->filter_scratch);
    sl_buf_release(&m->scratch);
    sl_buf_release(&m->spare_payload);
    free(m);
}
