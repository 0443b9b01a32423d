/* `starting_position: at`: newly assigned partitions are held (paused) while a helper thread
 * asks the group coordinator for their committed offsets (rd_kafka_committed blocks) and, for
 * those without one, the first offset at or after starting_timestamp
 * (rd_kafka_offsets_for_times). The loop then seeks those partitions and resumes them. Until
 * the answer comes, nothing of those partitions is consumed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bounded.h"
#include "core/log.h"
#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

#define RESOLVE_TIMEOUT_MS 10000
#define RESOLVE_RETRY_MS   1000

struct sl_kafka_resolver {
    struct sl_kafka_source *k;
    rd_kafka_t *rk;
    int64_t at_ms;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    rd_kafka_topic_partition_list_t *job; /* newest request (older ones are superseded) */
    uint64_t job_gen;
    rd_kafka_topic_partition_list_t *result;
    uint64_t result_gen;
    ev_async done;
};

/* Returns the start of each partition: INVALID (keep the committed offset) or an offset. */
static rd_kafka_topic_partition_list_t *resolve(struct sl_kafka_resolver *r,
                                                const rd_kafka_topic_partition_list_t *job,
                                                char *why, size_t cap)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(job);
    rd_kafka_resp_err_t e = rd_kafka_committed(r->rk, c, RESOLVE_TIMEOUT_MS);
    if (e) {
        snprintf(why, cap, "committed offsets: %s", rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(c);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *need = rd_kafka_topic_partition_list_new(c->cnt);
    for (int i = 0; i < c->cnt; i++) {
        if (c->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(need, c->elems[i].topic, c->elems[i].partition)
                ->offset = r->at_ms;
        c->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    }
    if (need->cnt > 0) {
        e = rd_kafka_offsets_for_times(r->rk, need, RESOLVE_TIMEOUT_MS);
        if (e) {
            snprintf(why, cap, "offsets for times: %s", rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(need);
            rd_kafka_topic_partition_list_destroy(c);
            return NULL;
        }
        for (int i = 0; i < need->cnt; i++) {
            rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                c, need->elems[i].topic, need->elems[i].partition);
            /* -1: no message at or after the time: start at the end. */
            tp->offset = need->elems[i].offset >= 0 ? need->elems[i].offset : RD_KAFKA_OFFSET_END;
        }
    }
    rd_kafka_topic_partition_list_destroy(need);
    return c;
}

static void *resolver_main(void *arg)
{
    struct sl_kafka_resolver *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->quit) {
        if (!r->job) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        rd_kafka_topic_partition_list_t *job = r->job;
        uint64_t gen = r->job_gen;
        r->job = NULL;
        pthread_mutex_unlock(&r->mu);
        char why[256] = "";
        rd_kafka_topic_partition_list_t *res = resolve(r, job, why, sizeof(why));
        pthread_mutex_lock(&r->mu);
        if (!res) {
            /* Try again unless a newer assignment superseded this one. */
            if (!r->job && !r->quit) {
                r->job = job;
                r->job_gen = gen;
                job = NULL;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += RESOLVE_RETRY_MS / 1000;
                pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            }
            if (job)
                rd_kafka_topic_partition_list_destroy(job);
            continue;
        }
        rd_kafka_topic_partition_list_destroy(job);
        if (r->result)
            rd_kafka_topic_partition_list_destroy(r->result);
        r->result = res;
        r->result_gen = gen;
        ev_async_send(r->k->loop, &r->done);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct sl_kafka_resolver *r = w->data;
    pthread_mutex_lock(&r->mu);
    rd_kafka_topic_partition_list_t *res = r->result;
    uint64_t gen = r->result_gen;
    r->result = NULL;
    pthread_mutex_unlock(&r->mu);
    if (res) {
        sl_kafka_release_held(r->k, res, gen);
        rd_kafka_topic_partition_list_destroy(res);
    }
}

int sl_kafka_resolver_create(struct sl_kafka_source *k, struct sl_kafka_resolver **out)
{
    struct sl_kafka_resolver *r = SL_NEW(struct sl_kafka_resolver);
    r->k = k;
    r->rk = k->rk;
    r->at_ms = k->starting_ms;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    ev_async_init(&r->done, done_cb);
    r->done.data = r;
    ev_async_start(k->loop, &r->done);
    int rc = sl_thread_start(&r->th, "sl-kafka-pos", resolver_main, r);
    if (rc != 0) {
        ev_async_stop(k->loop, &r->done);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sl_kafka_resolver_submit(struct sl_kafka_resolver *r,
                              const rd_kafka_topic_partition_list_t *parts, uint64_t g)
{
    pthread_mutex_lock(&r->mu);
    if (r->job)
        rd_kafka_topic_partition_list_destroy(r->job);
    r->job = rd_kafka_topic_partition_list_copy(parts);
    r->job_gen = g;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void sl_kafka_resolver_quit(struct sl_kafka_resolver *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    /* A result it still sends is ignored (ev_async_send on a stopped watcher wakes nothing). */
    ev_async_stop(r->k->loop, &r->done);
}

void sl_kafka_resolver_destroy(struct sl_kafka_resolver *r)
{
    if (!r)
        return;
    if (!r->quit)
        sl_kafka_resolver_quit(r);
    pthread_join(r->th, NULL);
    if (r->job)
        rd_kafka_topic_partition_list_destroy(r->job);
    if (r->result)
        rd_kafka_topic_partition_list_destroy(r->result);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
