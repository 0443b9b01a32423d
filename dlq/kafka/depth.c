/* The kafka sink's depth: the sum over the topic's partitions of the end offset (high
 * watermark) minus the sink group's committed offset (the low watermark when the group has
 * none). Reading them blocks, so a scrape only asks for a refresh, at most once a second, on the
 * sink's own worker thread, and reads the last known total (-1 until the first answer). The
 * count includes removal markers and removed entries past the committed prefix: a removal
 * commits only over a prefix that holds nothing else. */
#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "dlq/kafka/kafka_int.h"

#define KDLQ_DEPTH_EVERY_MS   1000
#define KDLQ_DEPTH_TIMEOUT_MS 2000

struct depth_job {
    struct sl_dlq_kafka *q;
    int64_t n; /* the total, or -1 */
};

/* Milliseconds left before deadline, at least 1 (librdkafka reads -1 as "forever"). */
static int left_ms(int64_t deadline)
{
    int64_t left = deadline - sl_mono_ms();
    return left < 1 ? 1 : (int)left;
}

/* On the worker thread. */
static int depth_fn(void *arg)
{
    struct depth_job *j = arg;
    struct sl_dlq_kafka *q = j->q;
    int64_t deadline = sl_mono_ms() + KDLQ_DEPTH_TIMEOUT_MS;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(q->reader, q->cfg.topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(q->reader, 0, rkt, &md, left_ms(deadline));
    rd_kafka_topic_destroy(rkt);
    if (e)
        return -EIO;
    if (md->topic_cnt != 1 || md->topics[0].err) {
        bool none =
            md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        rd_kafka_metadata_destroy(md);
        if (!none)
            return -EIO;
        j->n = 0; /* no topic yet: no entries */
        return 0;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(l, q->cfg.topic, md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    int rc = 0;
    int64_t n = 0;
    if (rd_kafka_committed(q->reader, l, left_ms(deadline)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = -EIO;
        goto out;
    }
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(q->reader, q->cfg.topic, l->elems[i].partition, &lo,
                                             &hi, left_ms(deadline))) {
            rc = -EIO;
            goto out;
        }
        int64_t start = l->elems[i].offset >= lo ? l->elems[i].offset : lo;
        n += hi > start ? hi - start : 0;
    }
    j->n = n;
out:
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* On the loop (or on the closing thread with SL_ECLOSED). */
static void depth_done(int status, void *arg)
{
    struct depth_job *j = arg;
    struct sl_dlq_kafka *q = j->q;
    q->depth_asking = false;
    if (status == 0)
        q->depth = j->n;
    else if (status != SL_ECLOSED)
        sl_debug(q->base.scope, "depth not refreshed: %s", sl_strerror(status));
    free(j);
}

int64_t sl_kdlq_depth_total(struct sl_dlq_kafka *q)
{
    if (!q->loop || !q->reader || q->closed)
        return q->depth;
    if (!q->depth_worker && sl_worker_create(q->loop, "sl-kdlq-depth", &q->depth_worker) < 0)
        return q->depth;
    int64_t now = sl_mono_ms();
    if (!q->depth_asking && now - q->depth_asked_ms >= KDLQ_DEPTH_EVERY_MS) {
        struct depth_job *j = SL_NEW(struct depth_job);
        j->q = q;
        j->n = -1;
        if (sl_worker_submit(q->depth_worker, depth_fn, depth_done, j) == 0) {
            q->depth_asking = true;
            q->depth_asked_ms = now;
        } else {
            free(j);
        }
    }
    return q->depth;
}

int sl_kdlq_depth_stop(struct sl_dlq_kafka *q, int64_t deadline_ms)
{
    if (!q->depth_worker)
        return 0;
    int rc = sl_worker_destroy_by(q->depth_worker, deadline_ms);
    q->depth_worker = NULL;
    return rc;
}
