/* Dead-lettering one record: build its self-contained entry, write it to the mapping's DLQ, and
 * ack the record only once the write is durable. A failed write blocks the lane and is retried
 * with backoff until it succeeds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/mapping_int.h"

struct sl_dlq_job {
    struct sl_dlq_job *prev, *next; /* the mapping's jobs */
    struct sl_mapping *m;
    struct sl_lane *lane;
    struct sl_record *r;
    struct sl_dlq_entry e;
    uint32_t tries;
    ev_timer retry;
};

/* The text form an op writes, as a new string. */
static char *record_text(const struct sl_record *r,
                         void (*write)(const struct sl_record *, struct sl_buf *))
{
    struct sl_buf b;
    sl_buf_init(&b);
    write(r, &b);
    return sl_buf_steal(&b, NULL);
}

/* Builds the self-contained DLQ entry of a record (the caller releases it). */
static void entry_build(const char *mapping, const char *function, const char *source,
                        const char *source_type, const struct sl_record *r, const char *condition,
                        struct sl_dlq_entry *e)
{
    const struct sl_record_failure *f = r->fail;
    memset(e, 0, sizeof(*e));
    sl_id_new(e->id);
    e->mapping = sl_strdup(mapping);
    e->function = sl_strdup(function);
    e->source = sl_strdup(source);
    e->source_type = sl_strdup(source_type);
    e->coords = record_text(r, r->ops->write_coords);
    e->attrs = record_text(r, r->ops->write_attrs);
    e->record_id = record_text(r, r->ops->write_id);
    /* A record without a value (a Kafka tombstone) has a null payload, apart from "". */
    e->payload = r->body ? sl_memdup(r->body_len ? (const void *)r->body : "", r->body_len) : NULL;
    e->payload_len = r->body ? r->body_len : 0;
    e->record_time_ms = r->time_ms;
    e->created_ms = sl_now_ms();
    e->first_failure_ms = f && f->first_failure_ms ? f->first_failure_ms : e->created_ms;
    e->last_failure_ms = f && f->last_failure_ms ? f->last_failure_ms : e->created_ms;
    e->condition = sl_strdup(condition);
    e->counts_known = true;
    e->counted_attempts = f ? f->counted_total : 0;
    e->uncounted_attempts = f ? f->history_total - f->counted_total : 0;
    for (uint32_t i = 0; f && i < f->nhistory; i++) {
        const struct sl_attempt *a = f->history[i];
        struct sl_dlq_attempt da = {
            .time_ms = a->time_ms,
            .duration_ms = a->duration_ms,
            .status = a->status,
            .outcome = (char *)a->outcome,
            .error = (char *)a->error,
            .function_error = a->function_error[0] ? (char *)a->function_error : NULL,
            .response = a->response,
            .response_len = a->response_len,
            .counted = a->counted ? SL_DLQ_COUNTED_YES : SL_DLQ_COUNTED_NO,
        };
        sl_dlq_entry_add_attempt(e, &da);
    }
}

static void dlq_job_put(struct sl_dlq_job *j);

static void dlq_job_free(struct sl_dlq_job *j)
{
    struct sl_mapping *m = j->m;
    if (j->prev)
        j->prev->next = j->next;
    else
        m->dlq_jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    ev_timer_stop(m->loop, &j->retry);
    sl_dlq_entry_release(&j->e);
    free(j);
}

void sl_mapping_dead_letter_halt(struct sl_mapping *m)
{
    for (struct sl_dlq_job *j = m->dlq_jobs; j; j = j->next)
        ev_timer_stop(m->loop, &j->retry);
}

void sl_mapping_dead_letter_release(struct sl_mapping *m)
{
    /* Jobs still here wait for a retry (a sink fires the callbacks of the writes it holds when
     * it is destroyed, before the mappings): their records stay unacked and are replayed. */
    while (m->dlq_jobs)
        dlq_job_free(m->dlq_jobs);
}

static void dlq_put_done(int status, void *arg)
{
    struct sl_dlq_job *j = arg;
    struct sl_mapping *m = j->m;
    struct sl_lane *lane = j->lane;
    if (status == 0) {
        sl_metric_inc(m->mx.dead_lettered);
        sl_info(m->scope,
                "record %s dead-lettered to %s as %s (%s, %u attempts counted of max_attempts "
                "%lld, %u not counted)",
                j->e.record_id, m->d->name, j->e.id, j->e.condition, j->e.counted_attempts,
                (long long)m->cfg->retry.max_attempts, j->e.uncounted_attempts);
        lane->active--;
        sl_mapping_record_done(m, j->r, true);
        dlq_job_free(j);
        /* The write may confirm inside put(), within a scheduler pass dispatching this lane:
         * the kick then only queues the lane for that pass, it does not recurse. */
        sl_lane_kick(lane);
        return;
    }
    sl_metric_inc(m->mx.dlq_errors);
    if (m->halted) {
        /* Shutting down: the record stays unacked and its source replays it. */
        lane->active--;
        dlq_job_free(j);
        return;
    }
    int64_t delay = sl_backoff_delay(&m->backoff, ++j->tries, &m->rng);
    sl_error(m->scope, "DLQ write to %s failed: %s; lane blocked, retrying in %lld ms", m->d->name,
             sl_strerror(status), (long long)delay);
    ev_timer_set(&j->retry, (double)delay / 1000.0, 0.);
    ev_timer_start(m->loop, &j->retry);
}

static void dlq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    dlq_job_put(w->data);
}

static void dlq_job_put(struct sl_dlq_job *j)
{
    int rc = j->m->d->ops->put(j->m->d, &j->e, dlq_put_done, j);
    if (rc < 0)
        dlq_put_done(rc, j);
}

void sl_mapping_dead_letter(struct sl_mapping *m, struct sl_lane *lane, struct sl_record *r,
                            const char *condition)
{
    struct sl_dlq_job *j = SL_NEW(struct sl_dlq_job);
    j->next = m->dlq_jobs;
    if (j->next)
        j->next->prev = j;
    m->dlq_jobs = j;
    j->m = m;
    j->lane = lane;
    j->r = r;
    ev_init(&j->retry, dlq_retry_cb);
    j->retry.data = j;
    entry_build(m->cfg->name, m->t->name, m->s->name, m->s->ops->type, r, condition, &j->e);
    lane->active++;
    dlq_job_put(j);
}
