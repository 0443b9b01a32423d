/* Sends ListOffsets requests (rd_kafka_query_watermark_offsets) for the loop, on a helper
 * thread, since the query blocks until the partition's leader answers. Two uses:
 * - waking librdkafka fetchers that sleep while records wait (kick_timer_cb in kafka.c):
 *   librdkafka before 2.2 re-checks a partition whose local queue reached its thresholds only
 *   when the broker thread that fetches it wakes up, at its one-second tick or when something
 *   is sent to that broker; the request goes to the leader, the broker thread that fetches it,
 *   which then fetches at once;
 * - reading the high watermarks of partitions paused in librdkafka (a disabled or long-paused
 *   mapping), whose cached watermark does not move without fetches: the lag stays true. */
#include <stdlib.h>

#include "core/bounded.h"
#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

#define WAKER_QUERY_TIMEOUT_MS 500

struct sl_kafka_waker {
    rd_kafka_t *rk;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    rd_kafka_topic_partition_list_t *job; /* partitions to wake; a newer request replaces it */
};

static void *waker_main(void *arg)
{
    struct sl_kafka_waker *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->quit) {
        if (!w->job) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        rd_kafka_topic_partition_list_t *job = w->job;
        w->job = NULL;
        pthread_mutex_unlock(&w->mu);
        for (int i = 0; i < job->cnt; i++) {
            int64_t lo, hi;
            /* To wake a fetcher the request is what counts; the answer is kept when asked. */
            rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(w->rk, job->elems[i].topic,
                                                                     job->elems[i].partition, &lo,
                                                                     &hi, WAKER_QUERY_TIMEOUT_MS);
            struct sl_kafka_part *p = job->elems[i].opaque;
            if (p && e == RD_KAFKA_RESP_ERR_NO_ERROR && hi >= 0)
                atomic_store(&p->queried_hi, hi);
        }
        rd_kafka_topic_partition_list_destroy(job);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int sl_kafka_waker_create(rd_kafka_t *rk, struct sl_kafka_waker **out)
{
    struct sl_kafka_waker *w = SL_NEW(struct sl_kafka_waker);
    w->rk = rk;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = sl_thread_start(&w->th, "sl-kafka-wake", waker_main, w);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void sl_kafka_waker_submit(struct sl_kafka_waker *w, rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&w->mu);
    if (w->job)
        rd_kafka_topic_partition_list_destroy(w->job);
    w->job = parts;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void sl_kafka_waker_quit(struct sl_kafka_waker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void sl_kafka_waker_destroy(struct sl_kafka_waker *w)
{
    if (!w)
        return;
    sl_kafka_waker_quit(w);
    pthread_join(w->th, NULL);
    if (w->job)
        rd_kafka_topic_partition_list_destroy(w->job);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
