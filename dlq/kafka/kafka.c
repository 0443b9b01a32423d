/* The kafka DLQ sink (type "kafka"): one message per dead-lettered record, produced by an
 * idempotent producer with acks=all. The producer's main queue is watched through its io-event
 * pipe, so delivery reports (which fire put's callback) are served on the loop. Entries are
 * read back by a consumer of the sink's own group (read.c); removing an entry produces a
 * removal marker and moves the group's committed offset over the removed prefix. */
#include "dlq/kafka/kafka.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bounded.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "dlq/kafka/kafka_int.h"

#define KDLQ_TICK_S   0.2  /* ptick_cb */
#define KDLQ_FLUSH_MS 5000 /* close() waits this long at most for writes in flight */

struct put_job {
    struct sl_dlq_kafka *q;
    sl_dlq_done_cb cb;
    void *arg;
    bool marker; /* a removal marker (remove's job) */
    int32_t partition;
    int64_t offset;
};

static struct sl_dlq_kafka *sink(struct sl_dlq *d)
{
    return (struct sl_dlq_kafka *)d;
}

static void kdlq_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct sl_dlq_kafka *q = rd_kafka_opaque(rk);
    enum sl_log_level l = level <= 3   ? SL_LOG_ERROR
                          : level == 4 ? SL_LOG_WARN
                          : level <= 6 ? SL_LOG_INFO
                                       : SL_LOG_DEBUG;
    sl_log(l, q ? q->base.scope : "dlq:kafka", "librdkafka %s: %s", fac, buf);
}

/* The producer's statistics (statistics.interval.ms), served on the loop: whether it reaches
 * the cluster, for /readyz. */
static int kdlq_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct sl_dlq_kafka *q = opaque;
    sl_kafka_reach_stats(&q->reach, json, len);
    return 0; /* librdkafka frees json */
}

static bool kdlq_ready(struct sl_dlq *d, char *why, size_t n)
{
    struct sl_dlq_kafka *q = (struct sl_dlq_kafka *)d;
    return sl_kafka_reach_ready(&q->reach, why, n);
}

static void kdlq_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct sl_dlq_kafka *q = opaque;
    sl_warn(q->base.scope, "%s: %s", rd_kafka_err2name(err), reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        sl_kafka_reach_down(&q->reach, reason);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct put_job *j = m->_private;
    struct sl_dlq_kafka *q = j->q;
    q->inflight--;
    if (q->destroying) {
        /* Purged at close: the write was never confirmed (dlq.h: its callback fires with
         * SL_ECLOSED, on the loop). Past close's last poll, nothing fires any more. */
        if (j->cb && !q->silent)
            j->cb(SL_ECLOSED, j->arg);
        free(j);
        return;
    }
    if (m->err)
        sl_warn(q->base.scope, "%s not stored: %s", j->marker ? "removal marker" : "entry",
                rd_kafka_err2str(m->err));
    if (j->marker && !m->err) {
        sl_kdlq_commit_removed(q, j->partition, j->offset, j->cb, j->arg);
    } else if (j->cb) {
        j->cb(m->err ? -EIO : 0, j->arg);
    }
    free(j);
}

static void pio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_dlq_kafka *q = w->data;
    char buf[256];
    while (read(q->pfds[0], buf, sizeof(buf)) > 0) {
    }
    rd_kafka_poll(q->prod, 0);
}

/* The io event is written only when the queue goes from empty to not empty; a delivery report
 * that waits there unseen blocks a lane behind its DLQ write. While writes are in flight the
 * queue is also served at a steady tick. */
static void ptick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_dlq_kafka *q = w->data;
    if (q->inflight > 0)
        rd_kafka_poll(q->prod, 0);
}

/* ---- life cycle ---- */

static int kdlq_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                       struct sl_dlq **out, struct sl_err *err)
{
    const struct sl_config *cfg = env ? env->cfg : NULL;
    struct sl_dlq_kafka *q = SL_NEW(struct sl_dlq_kafka);
    pthread_mutex_init(&q->parts_mu, NULL);
    q->depth = -1;
    int rc = sl_config_bind_typed(cfg, sec, &sl_kdlq_table, &q->cfg, err);
    if (rc < 0) {
        free(q);
        return rc;
    }
    sl_kafka_conf_paths(cfg, &q->cfg.rdkafka);
    q->file = cfg && cfg->file ? cfg->file : "config";
    sl_dlq_init(&q->base, &sl_dlq_kafka_ops, env, sec->name);
    q->pfds[0] = q->pfds[1] = q->rfds[0] = q->rfds[1] = -1;
    if (!*q->cfg.topic) {
        rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s.topic: empty topic name",
                        q->file, sec->path);
        goto fail;
    }
    if (q->cfg.group_id && *q->cfg.group_id) {
        q->group_id = sl_strdup(q->cfg.group_id);
    } else {
        size_t n = strlen(sec->name) + 16;
        q->group_id = sl_malloc(n);
        snprintf(q->group_id, n, "sluice-dlq-%s", sec->name);
    }
    if ((rc = sl_kdlq_conf_build(&q->cfg, q->file, sec->path, true, NULL, &q->pconf, err)) < 0 ||
        (rc = sl_kdlq_conf_build(&q->cfg, q->file, sec->path, false, q->group_id, &q->cconf, err)) <
            0)
        goto fail;
    char val[64];
    size_t vlen = sizeof(val);
    q->max_message_bytes = 1000000;
    if (rd_kafka_conf_get(q->pconf, "message.max.bytes", val, &vlen) == RD_KAFKA_CONF_OK)
        q->max_message_bytes = atoll(val);
    *out = &q->base;
    return 0;
fail:
    q->base.ops->destroy(&q->base);
    return rc;
}

static int kdlq_open(struct sl_dlq *d, struct sl_err *err)
{
    struct sl_dlq_kafka *q = sink(d);
    struct ev_loop *loop = d->env.loop;
    char errstr[512];
    q->loop = loop;
    if (!loop || q->prod)
        return 0; /* synchronous use: list only */
    /* The reader is made here, on the loop (its queue is served by an ev_io), so that list can
     * run on the admin worker thread. */
    int rc = sl_kdlq_reader(q, err);
    if (rc < 0)
        return rc;
    if (pipe2(q->pfds, O_NONBLOCK | O_CLOEXEC) < 0)
        return sl_err_set(err, SL_ERR_FATAL, -errno, "%s: pipe: %s", q->base.scope,
                          strerror(errno));
    rd_kafka_conf_set_opaque(q->pconf, q);
    rd_kafka_conf_set_dr_msg_cb(q->pconf, dr_cb);
    rd_kafka_conf_set_log_cb(q->pconf, kdlq_log_cb);
    rd_kafka_conf_set_error_cb(q->pconf, kdlq_error_cb);
    rd_kafka_conf_set_stats_cb(q->pconf, kdlq_stats_cb);
    q->prod = rd_kafka_new(RD_KAFKA_PRODUCER, q->pconf, errstr, sizeof(errstr));
    if (!q->prod)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: cannot create the producer: %s",
                          q->base.scope, errstr);
    q->pconf = NULL;
    rd_kafka_set_log_queue(q->prod, NULL);
    q->pq = rd_kafka_queue_get_main(q->prod);
    rd_kafka_queue_io_event_enable(q->pq, q->pfds[1], "1", 1);
    ev_io_init(&q->pio, pio_cb, q->pfds[0], EV_READ);
    q->pio.data = q;
    ev_io_start(loop, &q->pio);
    ev_timer_init(&q->ptick, ptick_cb, KDLQ_TICK_S, KDLQ_TICK_S);
    q->ptick.data = q;
    ev_timer_start(loop, &q->ptick);
    return 0;
}

/* On a helper thread: rd_kafka_destroy() waits for the handle's threads, which wait for
 * requests still in flight (a commit to an unreachable coordinator, for one). */
static void teardown_fn(void *arg)
{
    struct sl_dlq_kafka *q = arg;
    if (q->prod)
        rd_kafka_destroy(q->prod);
    /* The reader never joins a group's rebalances: nothing to leave (rdkafka.h,
     * RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE). */
    if (q->reader)
        rd_kafka_destroy_flags(q->reader, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static int kdlq_close(struct sl_dlq *d, int64_t deadline_ms)
{
    struct sl_dlq_kafka *q = sink(d);
    if (q->closed)
        return 0;
    q->closed = true;
    if (sl_kdlq_depth_stop(q, deadline_ms) == -EINPROGRESS) {
        sl_error(q->base.scope, "a depth refresh was still running at the deadline: left running");
        q->abandoned = true;
        return -EINPROGRESS;
    }
    if (q->loop) {
        ev_io_stop(q->loop, &q->pio);
        ev_io_stop(q->loop, &q->rio);
        ev_timer_stop(q->loop, &q->ptick);
    }
    int rc = 0;
    if (q->prod) {
        /* Writes in flight: their delivery reports fire put's callbacks as usual while the
         * flush waits (rd_kafka_flush serves the queue), so their records are acked. */
        int64_t left = deadline_ms - sl_mono_ms();
        if (left > KDLQ_FLUSH_MS)
            left = KDLQ_FLUSH_MS;
        if (q->inflight > 0 && left > 0)
            rd_kafka_flush(q->prod, (int)left);
        if (q->inflight > 0) {
            sl_warn(q->base.scope,
                    "%zu entries not confirmed by the close deadline: their records stay "
                    "unacknowledged at their source",
                    q->inflight);
            rc = -ETIMEDOUT;
        }
        /* The rest is purged: its callbacks fire with SL_ECLOSED from the poll below. */
        q->destroying = true;
        rd_kafka_purge(q->prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(q->prod, 0);
        q->silent = true; /* the teardown thread may serve what is left: no callbacks there */
        rd_kafka_queue_io_event_enable(q->pq, -1, NULL, 0);
        rd_kafka_queue_destroy(q->pq);
        q->pq = NULL;
    }
    if (q->reader) {
        rd_kafka_queue_io_event_enable(q->rq, -1, NULL, 0);
        rd_kafka_queue_destroy(q->rq);
        q->rq = NULL;
    }
    q->destroying = true;
    if (q->prod || q->reader) {
        int brc = sl_bounded_call(teardown_fn, q, deadline_ms);
        if (brc < 0 && brc != -EINPROGRESS)
            teardown_fn(q); /* no thread to run it on: here, unbounded */
        if (brc == -EINPROGRESS) {
            sl_error(q->base.scope,
                     "the Kafka client was still shutting down at the deadline: left "
                     "running");
            q->abandoned = true;
            return -EINPROGRESS;
        }
        q->prod = NULL;
        q->reader = NULL;
    }
    return rc;
}

static void kdlq_destroy(struct sl_dlq *d)
{
    if (!d)
        return;
    struct sl_dlq_kafka *q = sink(d);
    if (!q->closed)
        kdlq_close(d, sl_mono_ms() + KDLQ_FLUSH_MS);
    if (q->abandoned)
        return; /* a helper thread still destroys the clients: q stays (the process exits) */
    if (q->pconf)
        rd_kafka_conf_destroy(q->pconf);
    if (q->cconf)
        rd_kafka_conf_destroy(q->cconf);
    for (int i = 0; i < 2; i++) {
        if (q->pfds[i] >= 0)
            close(q->pfds[i]);
        if (q->rfds[i] >= 0)
            close(q->rfds[i]);
    }
    sl_kdlq_parts_release(q);
    pthread_mutex_destroy(&q->parts_mu);
    sl_props_release(&sl_kdlq_table, &q->cfg);
    free(q->group_id);
    sl_dlq_release(&q->base);
    free(q);
}

/* ---- writes ---- */

static void header_add(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

static void header_time(rd_kafka_headers_t *h, const char *name, int64_t ms)
{
    if (ms > 0) {
        char t[40];
        sl_time_fmt_iso(ms, t, sizeof(t));
        header_add(h, name, t);
    }
}

static void header_coords(rd_kafka_headers_t *h, const struct sl_dlq_entry *e)
{
    json_t *c = e->coords ? json_loads(e->coords, 0, NULL) : NULL;
    static const char *const keys[][2] = {{"topic", "sluice-source-topic"},
                                          {"partition", "sluice-source-partition"},
                                          {"offset", "sluice-source-offset"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(c, keys[i][0]);
        char buf[64];
        if (json_is_string(v)) {
            header_add(h, keys[i][1], json_string_value(v));
        } else if (json_is_integer(v)) {
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
            header_add(h, keys[i][1], buf);
        }
    }
    json_decref(c);
}

static int kdlq_put(struct sl_dlq *d, const struct sl_dlq_entry *e, sl_dlq_done_cb cb, void *arg)
{
    struct sl_dlq_kafka *q = sink(d);
    if (!q->prod)
        return q->loop ? SL_ECLOSED : SL_EUNSUPP;
    if (!e->id[0] || !e->mapping || !e->condition || e->created_ms <= 0)
        return -EINVAL;
    struct sl_buf value, doc;
    bool omitted;
    sl_buf_init(&value);
    sl_buf_init(&doc);
    sl_kdlq_build(e, q->cfg.value_format, (size_t)q->max_message_bytes, &value, &doc, &omitted);
    if (omitted)
        sl_warn(q->base.scope,
                "entry %s: the payload (%zu bytes) is too large for a message of "
                "message.max.bytes=%lld and is left out; the record stays at its "
                "source coordinates",
                e->id, e->payload_len, (long long)q->max_message_bytes);
    /* original: a record without a value (a tombstone) gives a message without one; an empty
     * value stays empty. */
    const void *vp = value.len ? value.data : e->payload && !omitted ? "" : NULL;
    size_t klen = 0;
    void *key = sl_kdlq_key(e, &klen);

    rd_kafka_headers_t *h = rd_kafka_headers_new(16);
    char num[32];
    header_add(h, "sluice-entry-id", e->id);
    header_add(h, "sluice-mapping", e->mapping);
    header_add(h, "sluice-function", e->function);
    header_add(h, "sluice-source", e->source);
    header_coords(h, e);
    header_add(h, "sluice-condition", e->condition);
    snprintf(num, sizeof(num), "%zu", e->nattempts);
    header_add(h, "sluice-attempts", num);
    if (e->nattempts)
        header_add(h, "sluice-last-error", e->attempts[e->nattempts - 1].error);
    header_time(h, "sluice-first-failure", e->first_failure_ms);
    header_time(h, "sluice-last-failure", e->last_failure_ms);
    header_time(h, "sluice-time", e->created_ms);
    if (omitted) {
        snprintf(num, sizeof(num), "%zu", e->payload_len);
        header_add(h, "sluice-payload-omitted", num);
    }
    rd_kafka_header_add(h, SL_KDLQ_H_ENTRY, -1, doc.data, (ssize_t)doc.len);

    struct put_job *j = SL_NEW(struct put_job);
    j->q = q;
    j->cb = cb;
    j->arg = arg;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        q->prod, RD_KAFKA_V_TOPIC(q->cfg.topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)vp, value.len), RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    free(key);
    sl_buf_release(&value);
    sl_buf_release(&doc);
    if (err) {
        rd_kafka_headers_destroy(h); /* not taken on failure */
        free(j);
        sl_warn(q->base.scope, "cannot produce entry %s: %s", e->id, rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? SL_EFULL : -EIO;
    }
    q->inflight++;
    return 0;
}

static int kdlq_remove(struct sl_dlq *d, const char *id, sl_dlq_done_cb cb, void *arg)
{
    struct sl_dlq_kafka *q = sink(d);
    int32_t partition;
    int64_t offset;
    /* An entry id is known once a list read it (purge and redrive list first). */
    if (sl_kdlq_locate(q, id, &partition, &offset) < 0)
        return SL_ENOTFOUND;
    if (!q->prod)
        return q->loop ? SL_ECLOSED : SL_EUNSUPP;
    char place[48];
    snprintf(place, sizeof(place), "%d:%lld", (int)partition, (long long)offset);
    struct sl_err err;
    if (sl_kdlq_reader(q, &err) < 0) {
        sl_warn(q->base.scope, "%s", err.msg);
        return -EIO;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, SL_KDLQ_H_REMOVES, -1, place, -1);
    struct put_job *j = SL_NEW(struct put_job);
    j->q = q;
    j->cb = cb;
    j->arg = arg;
    j->marker = true;
    j->partition = partition;
    j->offset = offset;
    /* The marker goes to the entry's partition, after it. */
    rd_kafka_resp_err_t e = rd_kafka_producev(
        q->prod, RD_KAFKA_V_TOPIC(q->cfg.topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(place, strlen(place)),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        free(j);
        return -EIO;
    }
    q->inflight++;
    return 0;
}

/* Per mapping: not known (the topic is not indexed by mapping). In total: depth.c. */
static int64_t kdlq_depth(struct sl_dlq *d, const char *mapping)
{
    return mapping ? -1 : sl_kdlq_depth_total(sink(d));
}

static void kdlq_describe(struct sl_dlq *d, struct sl_jw *w)
{
    static const char *const formats[] = {"original", "lambda"};
    struct sl_dlq_kafka *q = sink(d);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", d->ops->type);
    sl_jw_kstr(w, "name", d->name);
    sl_jw_kstr(w, "bootstrapServers", q->cfg.bootstrap_servers);
    sl_jw_kstr(w, "topic", q->cfg.topic);
    sl_jw_kstr(w, "valueFormat", formats[q->cfg.value_format]);
    sl_jw_kstr(w, "groupId", q->group_id);
    sl_jw_kint(w, "inFlight", (int64_t)q->inflight);
    sl_jw_key(w, "rdkafka");
    sl_jw_obj_open(w);
    for (size_t i = 0; i < q->cfg.rdkafka.n; i++)
        sl_jw_kstr(w, q->cfg.rdkafka.keys[i],
                   sl_kafka_secret_key(q->cfg.rdkafka.keys[i]) ? "(secret)"
                                                               : q->cfg.rdkafka.vals[i]);
    sl_jw_obj_close(w);
    sl_jw_obj_close(w);
}

static int kdlq_list(struct sl_dlq *d, const struct sl_dlq_filter *f, sl_dlq_each_cb cb, void *arg,
                     struct sl_err *err)
{
    return sl_kdlq_list(sink(d), f, cb, arg, err);
}

const struct sl_dlq_ops sl_dlq_kafka_ops = {
    .type = "kafka",
    .props = &sl_kdlq_table,
    .create = kdlq_create,
    .open = kdlq_open,
    .put = kdlq_put,
    .list = kdlq_list,
    .remove = kdlq_remove,
    .depth = kdlq_depth,
    .describe = kdlq_describe,
    .destroy = kdlq_destroy,
    .close = kdlq_close,
    .ready = kdlq_ready,
};
