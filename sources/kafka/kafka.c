/* The kafka source (type "kafka"): a consumer group member whose assigned partitions are lanes.
 *
 * librdkafka's threads reach the loop only through the consumer queue's io-event pipe: the
 * main queue (errors, logs, commit results) is forwarded to the consumer queue, and one ev_io
 * drains it with rd_kafka_consumer_poll(rk, 0), which also serves the rebalance callback.
 * Auto-commit and auto offset store are off: a record's offset counts as handled when the
 * mapping acks it (delivered, filtered or durably dead-lettered), and every commit_interval the
 * first unhandled offset of each partition (or the last read + 1) is committed asynchronously.
 * On revoke the mapping drops the lane's queued records, handled offsets are committed and the
 * partitions are unassigned. */
#include "sources/kafka/kafka.h"

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conditions.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/kafka/kafka_int.h"

#define KAFKA_DRAIN_BUDGET 2000 /* messages per loop iteration before yielding */
#define KAFKA_RECOMMIT_MS  5000 /* resend a commit never confirmed after this long */
#define KAFKA_SOFT_PAUSE_S 1.0  /* a pause shorter than this only stops draining */
#define KAFKA_KICK_S       0.02 /* quiet this long while records wait: wake the fetcher */
#define KAFKA_PAUSED_HI_S  2.0  /* how often the watermarks of paused partitions are read */

static void pause_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static struct sl_kafka_source *ksrc(struct sl_source *s)
{
    return (struct sl_kafka_source *)s;
}

/* ---- logging from librdkafka (served on the loop through the main queue) ---- */

void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct sl_kafka_source *k = rd_kafka_opaque(rk);
    enum sl_log_level l = level <= 3   ? SL_LOG_ERROR
                          : level == 4 ? SL_LOG_WARN
                          : level <= 6 ? SL_LOG_INFO
                                       : SL_LOG_DEBUG;
    sl_log(l, k ? k->base.scope : "source:kafka", "librdkafka %s: %s", fac, buf);
}

void sl_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct sl_kafka_source *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        sl_error(k->base.scope, "fatal consumer error: %s", why);
        return;
    }
    sl_warn(k->base.scope, "consumer error: %s: %s", rd_kafka_err2name(err), reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        sl_kafka_reach_down(&k->reach, reason);
    }
}

/* librdkafka's statistics (statistics.interval.ms), on the loop thread: whether the consumer
 * reaches its cluster, for /readyz. */
static int kafka_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct sl_kafka_source *k = opaque;
    enum sl_kafka_reach was = sl_kafka_reach_stats(&k->reach, json, len);
    if (k->reach.state == SL_KAFKA_REACH_DOWN && was != SL_KAFKA_REACH_DOWN)
        sl_warn(k->base.scope, "cannot reach the cluster: %s", k->reach.why);
    else if (k->reach.state == SL_KAFKA_REACH_UP && was == SL_KAFKA_REACH_DOWN)
        sl_info(k->base.scope, "reaching the cluster again");
    return 0; /* librdkafka frees json */
}

/* ---- the partition table ---- */

static double part_high_read(void *arg)
{
    struct sl_kafka_part *p = arg;
    int64_t lo, hi;
    if (!p->k->rk || rd_kafka_get_watermark_offsets(p->k->rk, p->topic, p->partition, &lo, &hi) !=
                         RD_KAFKA_RESP_ERR_NO_ERROR)
        hi = -1;
    int64_t queried = atomic_load(&p->queried_hi); /* read while paused in librdkafka */
    if (queried > hi)
        hi = queried;
    return hi < 0 ? -1 : (double)hi;
}

static int64_t part_position(const struct sl_kafka_part *p)
{
    int64_t pos = sl_kwin_commit_pos(&p->win);
    return pos >= 0 ? pos : p->committed_ok;
}

static double part_lag_read(void *arg)
{
    struct sl_kafka_part *p = arg;
    double hi = part_high_read(arg);
    int64_t pos = part_position(p);
    if (hi < 0 || pos < 0 || !p->assigned)
        return -1;
    return hi > (double)pos ? hi - (double)pos : 0;
}

/* The two above as metrics: unknown is left out of the scrape. */
static double part_high_metric(void *arg)
{
    double v = part_high_read(arg);
    return v >= 0 ? v : SL_METRIC_UNKNOWN;
}

static double part_lag_metric(void *arg)
{
    double v = part_lag_read(arg);
    return v >= 0 ? v : SL_METRIC_UNKNOWN;
}

static double part_age_read(void *arg)
{
    struct sl_kafka_part *p = arg;
    int64_t t = sl_kwin_oldest_ms(&p->win);
    return t > 0 && p->assigned ? (double)(sl_now_ms() - t) / 1000.0 : 0.0;
}

static struct sl_kafka_part *part_find(struct sl_kafka_source *k, const char *topic,
                                       int32_t partition)
{
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    }
    return NULL;
}

static struct sl_kafka_part *part_get(struct sl_kafka_source *k, const char *topic,
                                      int32_t partition)
{
    struct sl_kafka_part *p = part_find(k, topic, partition);
    if (p)
        return p;
    if (k->nparts == k->cap_parts) {
        k->cap_parts = k->cap_parts ? k->cap_parts * 2 : 16;
        k->parts = sl_realloc(k->parts, k->cap_parts * sizeof(*k->parts));
    }
    p = SL_NEW(struct sl_kafka_part);
    p->k = k;
    p->topic = sl_strdup(topic);
    p->partition = partition;
    p->lane = (uint32_t)k->nparts;
    p->next_offset = -1;
    p->committed = -1;
    p->committed_ok = -1;
    atomic_init(&p->queried_hi, -1);
    p->topic_json = sl_json_text(topic);
    {
        struct sl_buf g;
        sl_buf_init(&g);
        sl_buf_puts(&g, topic);
        sl_buf_putc(&g, '-');
        sl_buf_put_i64(&g, partition);
        p->group_json = sl_json_text(g.data);
        sl_buf_release(&g);
    }
    sl_kwin_init(&p->win);
    k->parts[k->nparts++] = p;

    struct sl_buf l;
    char num[16];
    snprintf(num, sizeof(num), "%d", (int)partition);
    sl_buf_init(&l);
    sl_source_labels(&k->base, &l);
    sl_metrics_label(&l, "topic", topic);
    sl_metrics_label(&l, "partition", num);
    p->m_committed = sl_metrics_gauge(k->metrics, "sluice_kafka_committed_offset",
                                      "Last offset commit the broker confirmed.", l.data);
    sl_metric_set(p->m_committed, SL_METRIC_UNKNOWN); /* left out until a commit is confirmed */
    p->m_high = sl_metrics_gauge_fn(k->metrics, "sluice_kafka_high_watermark",
                                    "High watermark of the partition (cached).", l.data,
                                    part_high_metric, p);
    p->m_lag = sl_metrics_gauge_fn(k->metrics, "sluice_kafka_lag",
                                   "High watermark minus the first unhandled offset.", l.data,
                                   part_lag_metric, p);
    p->m_age = sl_metrics_gauge_fn(k->metrics, "sluice_kafka_oldest_unhandled_age_seconds",
                                   "Age of the oldest record read but not yet handled.", l.data,
                                   part_age_read, p);
    sl_buf_release(&l);
    return p;
}

static struct sl_kafka_part *part_of_msg(struct sl_kafka_source *k, const rd_kafka_message_t *rkm)
{
    struct sl_kafka_part *p = k->last;
    if (p && p->rkt == rkm->rkt && p->partition == rkm->partition)
        return p;
    for (size_t i = 0; i < k->nparts; i++) {
        p = k->parts[i];
        if (p->rkt == rkm->rkt && p->partition == rkm->partition)
            return k->last = p;
    }
    p = part_find(k, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    if (p) {
        p->rkt = rkm->rkt;
        k->last = p;
    }
    return p;
}

/* ---- commits ---- */

static void commit_failed(struct sl_kafka_source *k, struct sl_kafka_part *p)
{
    sl_metric_inc(k->m_commit_errors);
    /* Commit it again at the next tick. */
    p->committed = p->committed_ok;
}

void sl_kafka_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct sl_kafka_source *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    if (err)
        sl_warn(k->base.scope, "offset commit failed: %s (will commit again)",
                rd_kafka_err2str(err));
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        struct sl_kafka_part *p = part_find(k, tp->topic, tp->partition);
        if (!p)
            continue;
        if (err || tp->err) {
            if (!err)
                sl_warn(k->base.scope, "offset commit of %s-%d failed: %s", tp->topic,
                        (int)tp->partition, rd_kafka_err2str(tp->err));
            commit_failed(k, p);
            continue;
        }
        /* Results come in the order the coordinator applied the commits: the last one is what
         * it holds, even when it is older than one confirmed before (a request librdkafka
         * retried after a timeout lands after a newer one). Then the position is sent again. */
        p->committed_ok = tp->offset;
        sl_metric_set(p->m_committed, (double)tp->offset);
        if (tp->offset < p->committed)
            p->committed = tp->offset;
    }
}

/* Commits the handled position of the assigned partitions that moved (only those of `only`
 * when it is not NULL). */
static void commit_handled(struct sl_kafka_source *k, const rd_kafka_topic_partition_list_t *only)
{
    if (!k->rk)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    int64_t now = sl_mono_ms();
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        if (!p->assigned)
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        int64_t pos = sl_kwin_commit_pos(&p->win);
        /* Sent but never confirmed for a while (a result lost in a coordinator change): send
         * it again. */
        bool stale = pos > p->committed_ok && now - p->sent_mono_ms > KAFKA_RECOMMIT_MS;
        if (pos < 0 || (pos <= p->committed && !stale))
            continue;
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = pos;
        p->committed = pos;
        p->sent_mono_ms = now;
    }
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, list, 1);
        if (err) {
            sl_warn(k->base.scope, "cannot commit offsets: %s", rd_kafka_err2str(err));
            for (int i = 0; i < list->cnt; i++) {
                struct sl_kafka_part *p =
                    part_find(k, list->elems[i].topic, list->elems[i].partition);
                if (p)
                    commit_failed(k, p);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void commit_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    commit_handled(w->data, NULL);
}

/* ---- pause and resume ---- */

static void pause_list(struct sl_kafka_source *k, rd_kafka_topic_partition_list_t *list, bool pause)
{
    if (!k->rk || list->cnt == 0)
        return;
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(k->rk, list) : rd_kafka_resume_partitions(k->rk, list);
    if (err)
        sl_warn(k->base.scope, "cannot %s partitions: %s", pause ? "pause" : "resume",
                rd_kafka_err2str(err));
}

/* Pauses or resumes every assigned partition (held ones stay paused). */
static void pause_assigned(struct sl_kafka_source *k, bool pause)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        if (p->assigned && (pause || !p->held))
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition);
    }
    pause_list(k, list, pause);
    rd_kafka_topic_partition_list_destroy(list);
}

void sl_kafka_release_held(struct sl_kafka_source *k, rd_kafka_topic_partition_list_t *seek,
                           uint64_t g)
{
    if (g != k->generation || !k->rk)
        return;
    rd_kafka_topic_partition_list_t *to_seek = rd_kafka_topic_partition_list_new(seek->cnt);
    rd_kafka_topic_partition_list_t *to_resume = rd_kafka_topic_partition_list_new(seek->cnt);
    for (int i = 0; i < seek->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &seek->elems[i];
        struct sl_kafka_part *p = part_find(k, tp->topic, tp->partition);
        if (!p || !p->assigned || !p->held)
            continue;
        p->held = false;
        if (tp->offset != RD_KAFKA_OFFSET_INVALID) {
            rd_kafka_topic_partition_list_add(to_seek, tp->topic, tp->partition)->offset =
                tp->offset;
            sl_info(k->base.scope, "%s-%d has no committed offset: starting at offset %lld",
                    tp->topic, (int)tp->partition, (long long)tp->offset);
        }
        rd_kafka_topic_partition_list_add(to_resume, tp->topic, tp->partition);
    }
    if (to_seek->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, to_seek, 0);
        if (e) {
            sl_error(k->base.scope, "cannot seek to the starting position: %s",
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    if (!k->lib_paused && !k->stopped)
        pause_list(k, to_resume, false);
    rd_kafka_topic_partition_list_destroy(to_seek);
    rd_kafka_topic_partition_list_destroy(to_resume);
}

/* ---- rebalances ---- */

static void on_assign(struct sl_kafka_source *k, rd_kafka_topic_partition_list_t *parts,
                      bool incremental)
{
    k->generation++;
    for (int i = 0; i < parts->cnt; i++) {
        struct sl_kafka_part *p = part_get(k, parts->elems[i].topic, parts->elems[i].partition);
        p->assigned = true;
        p->held = false;
        p->next_offset = -1;
        p->committed = -1;
        sl_kwin_reset(&p->win);
    }
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (incremental)
        e = rd_kafka_incremental_assign(k->rk, parts);
    else
        err = rd_kafka_assign(k->rk, parts);
    if (e) {
        sl_error(k->base.scope, "assign failed: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (err) {
        sl_error(k->base.scope, "assign failed: %s", rd_kafka_err2str(err));
    }
    bool hold = k->resolver && parts->cnt > 0;
    if (hold) {
        for (int i = 0; i < parts->cnt; i++)
            part_find(k, parts->elems[i].topic, parts->elems[i].partition)->held = true;
    }
    if (hold || k->lib_paused || k->stopped)
        pause_list(k, parts, true);
    if (hold)
        sl_kafka_resolver_submit(k->resolver, parts, k->generation);
    sl_info(k->base.scope, "assigned %d partitions%s", parts->cnt,
            hold ? " (resolving the starting position)" : "");
}

static void on_revoke(struct sl_kafka_source *k, rd_kafka_topic_partition_list_t *parts,
                      bool incremental)
{
    k->generation++;
    if (!k->closing) {
        for (int i = 0; i < parts->cnt; i++) {
            struct sl_kafka_part *p =
                part_find(k, parts->elems[i].topic, parts->elems[i].partition);
            if (p && p->assigned)
                sl_source_revoke_lane(&k->base, p->lane);
        }
        /* Handled offsets first: duplicates after a rebalance are fine, loss is not. */
        commit_handled(k, parts);
    }
    for (int i = 0; i < parts->cnt; i++) {
        struct sl_kafka_part *p = part_find(k, parts->elems[i].topic, parts->elems[i].partition);
        if (!p)
            continue;
        p->assigned = false;
        p->held = false;
        sl_kwin_reset(&p->win);
    }
    if (incremental) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(k->rk, parts);
        if (e) {
            sl_error(k->base.scope, "unassign failed: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(k->rk, NULL);
    }
    sl_info(k->base.scope, "revoked %d partitions", parts->cnt);
}

void sl_kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct sl_kafka_source *k = opaque;
    /* NULL once the group handler has terminated (an event served by close.c after it): the
     * protocol last seen then still holds. */
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    if (protocol)
        k->cooperative = strcmp(protocol, "COOPERATIVE") == 0;
    bool incremental = k->cooperative;
    if (!k->closing)
        sl_metric_inc(k->m_rebalances);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(k, parts, incremental);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(k, parts, incremental);
    } else {
        sl_error(k->base.scope, "rebalance error: %s", rd_kafka_err2str(err));
        for (size_t i = 0; i < k->nparts; i++) {
            if (k->parts[i]->assigned && !k->closing)
                sl_source_revoke_lane(&k->base, k->parts[i]->lane);
            k->parts[i]->assigned = false;
        }
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- consuming ---- */

/* Hands a message to the mapping as a record. Returns true when the record took the message
 * (it is destroyed with the record), false when the caller destroys it. */
static bool handle_message(struct sl_kafka_source *k, rd_kafka_message_t *rkm)
{
    if (rkm->err) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            sl_warn(k->base.scope, "consumer: %s", rd_kafka_message_errstr(rkm));
        return false;
    }
    if (k->stopped)
        return false; /* never acked, so never committed: the next owner reads it */
    struct sl_kafka_part *p = part_of_msg(k, rkm);
    if (!p || !p->assigned) {
        sl_debug(k->base.scope, "dropping a message of %s-%d: not assigned",
                 rd_kafka_topic_name(rkm->rkt), (int)rkm->partition);
        return false;
    }
    if (p->next_offset >= 0 && rkm->offset < p->next_offset)
        return false; /* read again after a pause or seek: already emitted */
    p->next_offset = rkm->offset + 1;
    p->last_msg = ev_now(k->loop);
    struct sl_record *r = sl_kafka_record_take(p, rkm);
    if (r->time_ms <= 0)
        r->time_ms = sl_now_ms();
    if (k->cfg.max_record_bytes && rkm->len + rkm->key_len > k->cfg.max_record_bytes)
        r->dead_letter = SL_COND_PAYLOAD_TOO_LARGE;
    sl_kwin_push(&p->win, rkm->offset, r->time_ms);
    sl_metric_inc(k->m_consumed);
    sl_source_emit(&k->base, r);
    return true;
}

/* Paused but not yet in librdkafka: the queue is left alone (its prefetch is bounded by
 * queued.max.messages.kbytes), so a short pause discards nothing. */
static bool soft_paused(const struct sl_kafka_source *k)
{
    return k->paused && !k->lib_paused && !k->stopped;
}

static void drain(struct sl_kafka_source *k)
{
    int n = 0;
    while (n < KAFKA_DRAIN_BUDGET && k->rk && !soft_paused(k)) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(k->rk, 0);
        if (!rkm)
            break;
        if (!handle_message(k, rkm))
            rd_kafka_message_destroy(rkm);
        n++;
    }

    /* The pipe is written only when the queue goes from empty to not empty: keep draining
     * from the loop while something may be left. */
    if (n == KAFKA_DRAIN_BUDGET && !soft_paused(k))
        ev_idle_start(k->loop, &k->more);
    else
        ev_idle_stop(k->loop, &k->more);
}

static void drain_start(struct sl_kafka_source *k)
{
    if (k->rk && !ev_is_active(&k->io))
        ev_io_start(k->loop, &k->io);
    ev_idle_start(k->loop, &k->more); /* what arrived meanwhile wrote no new pipe event */
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_kafka_source *k = w->data;
    if (soft_paused(k)) {
        ev_io_stop(loop, w);
        return;
    }
    char buf[256];
    while (read(k->pipe_fds[0], buf, sizeof(buf)) > 0) {
    }
    drain(k);
}

static void more_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    drain(w->data);
}

/* librdkafka before 2.2 stops fetching a partition whose queue reached its thresholds and looks
 * again only when its broker thread wakes, up to a second later, even if the queue was drained
 * long before. When nothing arrived for a while, the queue is empty and a partition's cached
 * high watermark says records are waiting, the waker (waker.c) sends its leader a request,
 * which wakes the broker thread that fetches it. */
/* Partitions paused in librdkafka are not fetched, so their cached high watermark stands still:
 * the waker reads them every KAFKA_PAUSED_HI_S instead. */
static void read_paused_watermarks(struct sl_kafka_source *k, ev_tstamp now)
{
    if (now - k->paused_hi_asked < KAFKA_PAUSED_HI_S)
        return;
    k->paused_hi_asked = now;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        if (p->assigned)
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->opaque = p;
    }
    if (list->cnt > 0)
        sl_kafka_waker_submit(k->waker, list);
    else
        rd_kafka_topic_partition_list_destroy(list);
}

static void kick_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_kafka_source *k = w->data;
    if (!k->rk || !k->waker || k->stopped)
        return;
    if (k->lib_paused) {
        read_paused_watermarks(k, ev_now(loop));
        return;
    }
    if (k->paused || !k->kick_fetchers)
        return;
    if (rd_kafka_queue_length(k->q) > 0) {
        drain_start(k);
        return;
    }
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        int64_t lo, hi;
        if (!p->assigned || p->held || p->next_offset < 0 ||
            ev_now(loop) - p->last_msg < KAFKA_KICK_S ||
            rd_kafka_get_watermark_offsets(k->rk, p->topic, p->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi <= p->next_offset)
            continue;
        if (!list)
            list = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition);
        p->last_msg = ev_now(loop); /* at most one wake-up per partition and interval */
    }
    if (!list)
        return;
    sl_debug(k->base.scope, "no records for %.0f ms from %d lagging partitions: waking them",
             KAFKA_KICK_S * 1000.0, list->cnt);
    sl_metric_add(k->m_kicks, list->cnt);
    sl_kafka_waker_submit(k->waker, list);
}

/* ---- the ops ---- */

static int kafka_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                        struct sl_source **out, struct sl_err *err)
{
    struct sl_kafka_source *k = SL_NEW(struct sl_kafka_source);
    const char *file = env->cfg && env->cfg->file ? env->cfg->file : "config";
    int rc = sl_config_bind_typed(env->cfg, sec, &sl_kafka_source_table, &k->cfg, err);
    if (rc < 0) {
        free(k);
        return rc;
    }
    sl_kafka_conf_paths(env->cfg, &k->cfg.rdkafka);
    k->pipe_fds[0] = k->pipe_fds[1] = -1;
    sl_source_init_reader(&k->base, &sl_source_kafka_ops, sec->name, env);
    k->bootstrap_json = sl_json_text(k->cfg.bootstrap_servers ? k->cfg.bootstrap_servers : "");
    k->loop = env->loop;
    k->metrics = env->metrics;
    k->path = sl_strdup(sec->path);
    if (k->cfg.topics.n == 0 && (!k->cfg.topic_regex || !*k->cfg.topic_regex)) {
        rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                        "%s: %s: no topics (set topics: [a list] or topic_regex)", file, sec->path);
        goto fail;
    }
    if (k->cfg.topics.n > 0 && k->cfg.topic_regex) {
        rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                        "%s: %s.topic_regex: set either topics or topic_regex, not both", file,
                        sec->path);
        goto fail;
    }
    for (size_t i = 0; i < k->cfg.topics.n; i++) {
        if (!*k->cfg.topics.v[i]) {
            rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%s: %s.topics[%zu]: empty topic name", file, sec->path, i);
            goto fail;
        }
    }
    if (k->cfg.topic_regex) {
        regex_t re;
        const char *pat =
            k->cfg.topic_regex[0] == '^' ? k->cfg.topic_regex + 1 : k->cfg.topic_regex;
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
            rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%s: %s.topic_regex: \"%s\" is not a valid regular expression", file,
                            sec->path, k->cfg.topic_regex);
            goto fail;
        }
        regfree(&re);
    }
    if (k->cfg.starting_position == SL_KAFKA_START_AT) {
        if (!k->cfg.starting_timestamp ||
            sl_time_parse(k->cfg.starting_timestamp, sl_now_ms(), &k->starting_ms) < 0) {
            rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%s: %s.starting_timestamp: %s%s%s (allowed: an RFC 3339 time like "
                            "2026-11-23T10:00:00Z, or a time ago like -1h; required with "
                            "starting_position: at)",
                            file, sec->path, k->cfg.starting_timestamp ? "\"" : "",
                            k->cfg.starting_timestamp ? k->cfg.starting_timestamp : "missing",
                            k->cfg.starting_timestamp ? "\" is not a time" : "");
            goto fail;
        }
    }
    if (k->cfg.group_id && *k->cfg.group_id) {
        k->group_id = sl_strdup(k->cfg.group_id);
    } else {
        size_t n = strlen(sec->name) + 8;
        k->group_id = sl_malloc(n);
        snprintf(k->group_id, n, "sluice-%s", sec->name);
    }
    uint64_t inflight_bytes = 0;
    for (size_t i = 0; env->cfg && i < env->cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc =
            SL_OBJLIST_AT(env->cfg->mappings, struct sl_cfg_mapping, i);
        /* One of several readers: its own mapping's. */
        if (mc->source && strcmp(mc->source, sec->name) == 0 &&
            (!env->reader || (mc->name && strcmp(mc->name, env->reader) == 0)))
            inflight_bytes = mc->max_inflight_bytes;
    }
    rc = sl_kafka_conf_build(&k->cfg, file, sec->path, k->group_id, inflight_bytes, &k->conf, err);
    if (rc < 0)
        goto fail;
    {
        struct sl_buf l;
        sl_buf_init(&l);
        sl_source_labels(&k->base, &l);
        k->m_rebalances = sl_metrics_counter(env->metrics, "sluice_kafka_rebalances_total",
                                             "Partition assignments and revocations.", l.data);
        k->m_commit_errors = sl_metrics_counter(env->metrics, "sluice_kafka_commit_errors_total",
                                                "Offset commits that failed (retried).", l.data);
        k->m_consumed = sl_metrics_counter(env->metrics, "sluice_kafka_consumed_total",
                                           "Messages read and handed to the mapping.", l.data);
        k->m_kicks = sl_metrics_counter(
            env->metrics, "sluice_kafka_fetcher_wakeups_total",
            "Partitions whose idle fetcher was woken while records waited (librdkafka < 2.2).",
            l.data);
        sl_buf_release(&l);
    }
    ev_io_init(&k->io, io_cb, -1, EV_READ);
    k->io.data = k;
    ev_idle_init(&k->more, more_cb);
    k->more.data = k;
    ev_init(&k->commit_timer, commit_timer_cb);
    k->commit_timer.data = k;
    ev_init(&k->pause_timer, pause_timer_cb);
    k->pause_timer.data = k;
    ev_init(&k->kick_timer, kick_timer_cb);
    k->kick_timer.data = k;
    *out = &k->base;
    return 0;
fail:
    sl_props_release(&sl_kafka_source_table, &k->cfg);
    sl_source_release(&k->base);
    free(k->bootstrap_json);
    free(k->group_id);
    free(k->path);
    free(k);
    return rc;
}

static int kafka_subscribe(struct sl_kafka_source *k, struct sl_err *err)
{
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new(k->cfg.topics.n ? (int)k->cfg.topics.n : 1);
    char *regex = NULL;
    if (k->cfg.topic_regex) {
        size_t n = strlen(k->cfg.topic_regex) + 2;
        regex = sl_malloc(n);
        snprintf(regex, n, "%s%s", k->cfg.topic_regex[0] == '^' ? "" : "^", k->cfg.topic_regex);
        rd_kafka_topic_partition_list_add(topics, regex, RD_KAFKA_PARTITION_UA);
    }
    for (size_t i = 0; i < k->cfg.topics.n; i++)
        rd_kafka_topic_partition_list_add(topics, k->cfg.topics.v[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    free(regex);
    if (e)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: cannot subscribe: %s", k->base.scope,
                          rd_kafka_err2str(e));
    return 0;
}

static int kafka_start(struct sl_source *s, struct sl_err *err)
{
    struct sl_kafka_source *k = ksrc(s);
    char errstr[512];
    if (k->started)
        return 0;
    if (!k->conf)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECLOSED, "%s: cannot start twice", s->scope);
    rd_kafka_conf_set_opaque(k->conf, k);
    rd_kafka_conf_set_rebalance_cb(k->conf, sl_kafka_rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(k->conf, sl_kafka_commit_cb);
    rd_kafka_conf_set_error_cb(k->conf, sl_kafka_error_cb);
    rd_kafka_conf_set_log_cb(k->conf, sl_kafka_log_cb);
    rd_kafka_conf_set_stats_cb(k->conf, kafka_stats_cb);
    if (pipe2(k->pipe_fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return sl_err_set(err, SL_ERR_FATAL, -errno, "%s: pipe: %s", s->scope, strerror(errno));
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, k->conf, errstr, sizeof(errstr));
    if (!k->rk)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: cannot create the consumer: %s",
                          s->scope, errstr);
    k->conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(k->rk);
    rd_kafka_set_log_queue(k->rk, NULL);
    k->q = rd_kafka_queue_get_consumer(k->rk);
    rd_kafka_queue_io_event_enable(k->q, k->pipe_fds[1], "1", 1);
    ev_io_set(&k->io, k->pipe_fds[0], EV_READ);
    ev_io_start(k->loop, &k->io);
    if (k->cfg.starting_position == SL_KAFKA_START_AT) {
        int rc = sl_kafka_resolver_create(k, &k->resolver);
        if (rc < 0)
            return sl_err_set(err, SL_ERR_FATAL, rc, "%s: cannot start the position resolver",
                              s->scope);
    }
    /* librdkafka 2.2 re-checks a full queue by itself (fetch.queue.backoff.ms). */
    k->kick_fetchers = rd_kafka_version() < 0x020200ff;
    int rc = sl_kafka_waker_create(k->rk, &k->waker);
    if (rc < 0)
        return sl_err_set(err, SL_ERR_FATAL, rc, "%s: cannot start the fetch waker", s->scope);
    rc = kafka_subscribe(k, err);
    if (rc < 0)
        return rc;
    double iv = (double)k->cfg.commit_interval_ms / 1000.0;
    ev_timer_set(&k->commit_timer, iv, iv);
    ev_timer_start(k->loop, &k->commit_timer);
    ev_timer_set(&k->kick_timer, KAFKA_KICK_S / 2, KAFKA_KICK_S / 2);
    ev_timer_start(k->loop, &k->kick_timer);
    ev_idle_start(k->loop, &k->more); /* serve whatever was queued before the pipe was set */
    k->started = true;
    sl_info(s->scope, "consuming %s%s as group %s from %s",
            k->cfg.topic_regex ? "topics matching " : "",
            k->cfg.topic_regex ? k->cfg.topic_regex : k->cfg.topics.v[0], k->group_id,
            k->cfg.bootstrap_servers);
    return 0;
}

/* The pause lasted: pause the partitions in librdkafka and serve the queue again (rebalances,
 * errors and commit results must not wait for the mapping). */
static void pause_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_kafka_source *k = w->data;
    if (!k->paused || k->lib_paused)
        return;
    k->lib_paused = true;
    sl_info(k->base.scope, "paused for over %.0fs: pausing the partitions in librdkafka",
            KAFKA_SOFT_PAUSE_S);
    pause_assigned(k, true);
    drain_start(k);
}

static void kafka_pause(struct sl_source *s)
{
    struct sl_kafka_source *k = ksrc(s);
    if (k->paused)
        return;
    k->paused = true;
    if (k->stopped || !k->rk)
        return;
    ev_idle_stop(k->loop, &k->more);
    ev_timer_set(&k->pause_timer, KAFKA_SOFT_PAUSE_S, 0.);
    ev_timer_start(k->loop, &k->pause_timer);
}

static void kafka_resume(struct sl_source *s)
{
    struct sl_kafka_source *k = ksrc(s);
    if (!k->paused)
        return;
    k->paused = false;
    ev_timer_stop(k->loop, &k->pause_timer);
    if (k->lib_paused && !k->stopped)
        pause_assigned(k, false);
    k->lib_paused = false;
    if (k->started && !k->stopped)
        drain_start(k);
}

static void kafka_ack(struct sl_source *s, const struct sl_record *r)
{
    struct sl_kafka_source *k = ksrc(s);
    if (r->lane >= k->nparts)
        return;
    struct sl_kafka_part *p = k->parts[r->lane];
    if (!p->assigned)
        return; /* revoked meanwhile: its new owner reads it again */
    sl_kwin_ack(&p->win, (int64_t)r->seq);
}

static void kafka_stop(struct sl_source *s, sl_source_stopped_cb cb, void *arg)
{
    struct sl_kafka_source *k = ksrc(s);
    if (!k->stopped) {
        k->stopped = true;
        ev_timer_stop(k->loop, &k->pause_timer);
        ev_timer_stop(k->loop, &k->kick_timer);
        pause_assigned(k, true);
        commit_handled(k, NULL);
        if (k->started)
            drain_start(k); /* keep serving commit results and rebalances */
    }
    if (cb)
        cb(s, arg);
}

static int kafka_close(struct sl_source *s, int64_t deadline_ms)
{
    return sl_kafka_close(ksrc(s), deadline_ms);
}

static void kafka_destroy(struct sl_source *s)
{
    if (!s)
        return;
    struct sl_kafka_source *k = ksrc(s);
    if (!k->closed)
        sl_kafka_close(k, sl_mono_ms() + SL_KAFKA_CLOSE_DEFAULT_MS);
    if (k->abandoned)
        return; /* a helper thread still destroys the handle: k stays (the process exits) */
    if (k->conf)
        rd_kafka_conf_destroy(k->conf);
    for (int i = 0; i < 2; i++) {
        if (k->pipe_fds[i] >= 0)
            close(k->pipe_fds[i]);
    }
    for (size_t i = 0; i < k->nparts; i++) {
        /* Its gauges read the partition: a source replaced by a reload leaves none behind. */
        sl_metrics_forget(k->metrics, k->parts[i]);
        sl_kwin_release(&k->parts[i]->win);
        free(k->parts[i]->topic);
        free(k->parts[i]->topic_json);
        free(k->parts[i]->group_json);
        free(k->parts[i]);
    }
    free(k->parts);
    sl_kafka_records_release(k);
    free(k->bootstrap_json);
    sl_props_release(&sl_kafka_source_table, &k->cfg);
    free(k->group_id);
    free(k->path);
    free(k->closer);
    sl_source_release(&k->base);
    free(k);
}

static void kafka_describe(struct sl_source *s, struct sl_jw *w)
{
    static const char *const starts[] = {"earliest", "latest", "at"};
    struct sl_kafka_source *k = ksrc(s);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", s->ops->type);
    sl_jw_kstr(w, "name", s->name);
    sl_jw_kstr(w, "bootstrapServers", k->cfg.bootstrap_servers);
    if (k->cfg.topic_regex) {
        sl_jw_kstr(w, "topicRegex", k->cfg.topic_regex);
    } else {
        sl_jw_key(w, "topics");
        sl_jw_arr_open(w);
        for (size_t i = 0; i < k->cfg.topics.n; i++)
            sl_jw_str(w, k->cfg.topics.v[i]);
        sl_jw_arr_close(w);
    }
    sl_jw_kstr(w, "groupId", k->group_id);
    sl_jw_kstr(w, "startingPosition", starts[k->cfg.starting_position]);
    sl_jw_kbool(w, "paused", k->paused);
    sl_jw_key(w, "rdkafka");
    sl_jw_obj_open(w);
    for (size_t i = 0; i < k->cfg.rdkafka.n; i++)
        sl_jw_kstr(w, k->cfg.rdkafka.keys[i],
                   sl_kafka_secret_key(k->cfg.rdkafka.keys[i]) ? "(secret)"
                                                               : k->cfg.rdkafka.vals[i]);
    sl_jw_obj_close(w);
    sl_jw_key(w, "partitions");
    sl_jw_arr_open(w);
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        if (!p->assigned)
            continue;
        sl_jw_obj_open(w);
        sl_jw_kstr(w, "topic", p->topic);
        sl_jw_kint(w, "partition", p->partition);
        sl_jw_kint(w, "lane", p->lane);
        sl_jw_kint(w, "committed", p->committed_ok);
        sl_jw_kint(w, "position", part_position(p));
        sl_jw_kint(w, "unhandled", (int64_t)sl_kwin_pending(&p->win));
        sl_jw_kint(w, "lag", (int64_t)part_lag_read(p));
        sl_jw_obj_close(w);
    }
    sl_jw_arr_close(w);
    sl_jw_obj_close(w);
}

static int64_t kafka_backlog(struct sl_source *s)
{
    struct sl_kafka_source *k = ksrc(s);
    int64_t total = 0;
    bool known = false;
    for (size_t i = 0; i < k->nparts; i++) {
        double lag = part_lag_read(k->parts[i]);
        if (lag >= 0) {
            total += (int64_t)lag;
            known = true;
        }
    }
    return known ? total : -1;
}

static bool kafka_ready(struct sl_source *s, char *why, size_t n)
{
    struct sl_kafka_source *k = ksrc(s);
    return sl_kafka_reach_ready(&k->reach, why, n);
}

static const char *kafka_group(struct sl_source *s)
{
    return ksrc(s)->group_id;
}

const struct sl_source_ops sl_source_kafka_ops = {
    .type = "kafka",
    .props = &sl_kafka_source_table,
    .create = kafka_create,
    .start = kafka_start,
    .pause = kafka_pause,
    .resume = kafka_resume,
    .ack = kafka_ack,
    .stop = kafka_stop,
    .destroy = kafka_destroy,
    .describe = kafka_describe,
    .encode = sl_kafka_encode,
    .backlog = kafka_backlog,
    .ready = kafka_ready,
    .filter_view = sl_kafka_filter_view,
    .close = kafka_close,
    .group_key = "group_id",
    .group = kafka_group,
};
