/* Closing the kafka source by a deadline.
 *
 * rd_kafka_consumer_close() blocks until the consumer has revoked its assignment, committed its
 * offsets and left the group, with no timeout of its own (rdkafka.h: "The maximum blocking time
 * is roughly limited to session.timeout.ms"); when the group coordinator stops answering it does
 * not return at all, and neither does rd_kafka_destroy(), which closes the consumer too
 * (https://github.com/confluentinc/librdkafka/issues/4519). Other calls the close makes wait on
 * librdkafka's threads with no timeout as well (rd_kafka_assign() and
 * rd_kafka_rebalance_protocol() while serving the revocation). So every step runs on one helper
 * thread, and the loop thread waits for it until the deadline:
 * 1. the handled offsets are committed with rd_kafka_commit_queue() and the result awaited on
 *    that queue until the deadline (at most KAFKA_CLOSE_COMMIT_MS);
 * 2. the group is left with rd_kafka_consumer_close_queue(), whose queue is served here until
 *    rd_kafka_consumer_closed() (rdkafka.h: "The application must poll/serve this queue until
 *    rd_kafka_consumer_closed() returns true") or the deadline (at most session.timeout.ms);
 * 3. the handle is destroyed with RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE (the close was done, or
 *    cannot be), after the position resolver and fetch waker threads, which use the handle.
 * If the steps have not returned by the deadline they are left running, the step they are in is
 * logged, and the source is abandoned: nothing it uses is freed, and the process exits. While
 * the loop thread waits, the helper thread is the only one touching the source.
 * Records never acked were never committed: the group's next member reads them again. */
#include <errno.h>
#include <stdatomic.h>

#include "core/bounded.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/kafka/kafka_int.h"

#define KAFKA_CLOSE_COMMIT_MS 5000 /* the final commit waits this long at most */
#define KAFKA_DESTROY_MIN_MS  200  /* kept from the earlier steps for destroying the handle */
#define KAFKA_CLOSE_POLL_MS   100

static int left_ms(int64_t deadline_ms, int64_t cap_ms)
{
    int64_t left = deadline_ms - sl_mono_ms();
    if (left > cap_ms)
        left = cap_ms;
    return left > 0 ? (int)left : 0;
}

/* Serves one event of a queue this file waits on, as the callbacks would have. */
static void serve_event(struct sl_kafka_source *k, rd_kafka_event_t *ev)
{
    const char *fac, *text;
    int level;
    switch (rd_kafka_event_type(ev)) {
    case RD_KAFKA_EVENT_REBALANCE:
        /* Once the group handler has terminated there is nothing left to assign or revoke
         * (rd_kafka_consumer_close() likewise stops serving at its TERMINATE op). */
        if (!rd_kafka_consumer_closed(k->rk))
            sl_kafka_rebalance_cb(k->rk, rd_kafka_event_error(ev),
                                  rd_kafka_event_topic_partition_list(ev), k);
        break;
    case RD_KAFKA_EVENT_OFFSET_COMMIT:
        sl_kafka_commit_cb(k->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                           k);
        break;
    case RD_KAFKA_EVENT_LOG:
        if (rd_kafka_event_log(ev, &fac, &text, &level) == 0)
            sl_kafka_log_cb(k->rk, level, fac, text);
        break;
    case RD_KAFKA_EVENT_ERROR:
        sl_kafka_error_cb(k->rk, rd_kafka_event_error(ev), rd_kafka_event_error_string(ev), k);
        break;
    default:
        break; /* messages fetched before the close: never emitted, so never committed */
    }
}

/* Commits the handled position of each assigned partition the broker has not confirmed.
 * Returns 0 when confirmed (or nothing to commit), else a negative code. */
static int final_commit(struct sl_kafka_source *k, int64_t deadline_ms)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < k->nparts; i++) {
        struct sl_kafka_part *p = k->parts[i];
        int64_t pos = sl_kwin_commit_pos(&p->win);
        if (p->assigned && pos >= 0 && pos > p->committed_ok)
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = pos;
    }
    int rc = 0;
    int wait_ms = left_ms(deadline_ms, KAFKA_CLOSE_COMMIT_MS);
    if (list->cnt > 0 && wait_ms == 0) {
        sl_warn(k->base.scope, "no time left to commit the handled offsets of %d partitions",
                list->cnt);
        rc = -ETIMEDOUT;
    } else if (list->cnt > 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
        rd_kafka_resp_err_t e = rd_kafka_commit_queue(k->rk, list, q, NULL, NULL);
        rd_kafka_event_t *ev = e ? NULL : rd_kafka_queue_poll(q, wait_ms);
        if (ev)
            serve_event(k, ev); /* updates the confirmed positions */
        if (e || !ev || rd_kafka_event_error(ev)) {
            sl_warn(k->base.scope, "final offset commit of %d partitions failed: %s", list->cnt,
                    e    ? rd_kafka_err2str(e)
                    : ev ? rd_kafka_event_error_string(ev)
                         : "timed out");
            rc = e || ev ? -EIO : -ETIMEDOUT;
        } else {
            sl_info(k->base.scope, "committed handled offsets of %d partitions", list->cnt);
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* Leaves the group: revokes the assignment and sends LeaveGroup. 0 when closed in time. */
static int close_group(struct sl_kafka_source *k, int64_t deadline_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(k->rk, q);
    if (e) {
        sl_warn(k->base.scope, "consumer close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_queue_destroy(q);
        return 0; /* nothing to wait for (a fatal error, or closed already) */
    }
    int64_t start = sl_mono_ms();
    int64_t limit = start + k->cfg.session_timeout_ms;
    if (limit > deadline_ms)
        limit = deadline_ms;
    while (!rd_kafka_consumer_closed(k->rk)) {
        int wait_ms = left_ms(limit, KAFKA_CLOSE_POLL_MS);
        if (wait_ms == 0)
            break;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, wait_ms);
        if (ev) {
            serve_event(k, ev);
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_event_t *ev;
    while ((ev = rd_kafka_queue_poll(q, 0))) {
        serve_event(k, ev);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    if (rd_kafka_consumer_closed(k->rk))
        return 0;
    sl_warn(k->base.scope,
            "could not leave the consumer group within %lld ms (coordinator unreachable?): the "
            "group takes the partitions back after session_timeout",
            (long long)(sl_mono_ms() - start));
    return -ETIMEDOUT;
}

struct sl_kafka_closing {
    struct sl_kafka_source *k;
    int64_t steps_deadline; /* for the commit and the group leave */
    int rc;
    const char *_Atomic step; /* what the helper thread is doing, for the log */
    atomic_bool committed;    /* the handled offsets are confirmed (or there were none) */
};

/* On the helper thread: every step that calls into librdkafka, in order. */
static void closing_fn(void *arg)
{
    struct sl_kafka_closing *c = arg;
    struct sl_kafka_source *k = c->k;
    atomic_store(&c->step, "committing the handled offsets");
    int rc = final_commit(k, c->steps_deadline);
    rc = rc == -ETIMEDOUT ? rc : 0; /* a commit refused at once is logged, not a timeout */
    atomic_store(&c->committed, rc == 0);
    atomic_store(&c->step, "leaving the consumer group");
    /* Not leaving in time loses nothing (the group takes the partitions back after
     * session.timeout.ms): it is logged, and does not count as work left undone. */
    close_group(k, c->steps_deadline);
    rd_kafka_queue_destroy(k->q);
    k->q = NULL;
    /* What uses the handle goes first, then the handle. */
    atomic_store(&c->step, "destroying the handle");
    sl_kafka_resolver_destroy(k->resolver);
    sl_kafka_waker_destroy(k->waker);
    rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    c->rc = rc;
}

int sl_kafka_close(struct sl_kafka_source *k, int64_t deadline_ms)
{
    if (k->closed)
        return 0;
    k->closed = true;
    k->closing = true;
    if (k->loop) {
        ev_io_stop(k->loop, &k->io);
        ev_idle_stop(k->loop, &k->more);
        ev_timer_stop(k->loop, &k->commit_timer);
        ev_timer_stop(k->loop, &k->pause_timer);
        ev_timer_stop(k->loop, &k->kick_timer);
    }
    sl_kafka_resolver_quit(k->resolver);
    sl_kafka_waker_quit(k->waker);
    if (!k->rk) {
        /* Never started: the helper threads (if any) do not use a handle. */
        sl_kafka_resolver_destroy(k->resolver);
        sl_kafka_waker_destroy(k->waker);
        k->resolver = NULL;
        k->waker = NULL;
        return 0;
    }
    rd_kafka_queue_io_event_enable(k->q, -1, NULL, 0);
    /* Freed with the source, never before: an abandoned helper thread keeps using it. */
    struct sl_kafka_closing *c = SL_NEW(struct sl_kafka_closing);
    c->k = k;
    c->steps_deadline = deadline_ms - KAFKA_DESTROY_MIN_MS;
    atomic_init(&c->step, "starting");
    atomic_init(&c->committed, false);
    k->closer = c;
    int brc = sl_bounded_call(closing_fn, c, deadline_ms);
    if (brc < 0 && brc != -EINPROGRESS)
        closing_fn(c); /* no thread to run it on: here, unbounded */
    if (brc == -EINPROGRESS) {
        bool committed = atomic_load(&c->committed);
        sl_error(k->base.scope,
                 "closing the consumer: still %s at the shutdown deadline; left running, the "
                 "process exits without it%s",
                 atomic_load(&c->step),
                 committed ? " (the handled offsets were committed: nothing is read again)" : "");
        k->abandoned = true;
        return committed ? SL_CLOSE_LEFT_RUNNING : -EINPROGRESS;
    }
    k->resolver = NULL;
    k->waker = NULL;
    k->rk = NULL;
    return c->rc;
}
