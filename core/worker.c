/* A worker thread with a job queue; done callbacks return to the loop. See core/worker.h. */
#include "core/worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/bounded.h"
#include "core/err.h"
#include "core/mem.h"

struct worker_job {
    struct worker_job *next;
    sl_worker_fn fn;
    sl_worker_done_cb done;
    void *arg;
    int status;
};

struct sl_worker {
    struct ev_loop *loop;
    ev_async async;
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct worker_job *todo_head, *todo_tail; /* queued, not started */
    struct worker_job *done_head, *done_tail; /* ran, callback not fired yet */
    size_t pending;                           /* submitted, callback not fired yet */
    bool stopping;
    char name[32];
};

static void push(struct worker_job **head, struct worker_job **tail, struct worker_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static struct worker_job *pop(struct worker_job **head, struct worker_job **tail)
{
    struct worker_job *j = *head;
    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
    }
    return j;
}

static void *worker_main(void *arg)
{
    struct sl_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo_head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping)
            break;
        struct worker_job *j = pop(&w->todo_head, &w->todo_tail);
        pthread_mutex_unlock(&w->mu);
        j->status = j->fn(j->arg);
        pthread_mutex_lock(&w->mu);
        push(&w->done_head, &w->done_tail, j);
        ev_async_send(w->loop, &w->async);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Fires the callbacks of the jobs that ran, in order. */
static void fire_done(struct sl_worker *w)
{
    for (;;) {
        pthread_mutex_lock(&w->mu);
        struct worker_job *j = pop(&w->done_head, &w->done_tail);
        pthread_mutex_unlock(&w->mu);
        if (!j)
            return;
        w->pending--;
        if (w->pending == 0 && !w->stopping)
            ev_unref(w->loop); /* idle: no longer keeps the loop running */
        if (j->done)
            j->done(j->status, j->arg);
        free(j);
    }
}

static void async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    fire_done(a->data);
}

int sl_worker_create(struct ev_loop *loop, const char *name, struct sl_worker **out)
{
    struct sl_worker *w = SL_NEW(struct sl_worker);
    w->loop = loop;
    snprintf(w->name, sizeof(w->name), "%s", name ? name : "worker");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    ev_async_init(&w->async, async_cb);
    w->async.data = w;
    ev_async_start(loop, &w->async);
    ev_unref(loop);
    int rc = sl_thread_start(&w->thread, w->name, worker_main, w);
    if (rc != 0) {
        ev_ref(loop);
        ev_async_stop(loop, &w->async);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int sl_worker_submit(struct sl_worker *w, sl_worker_fn fn, sl_worker_done_cb done, void *arg)
{
    if (w->stopping)
        return SL_ECLOSED;
    struct worker_job *j = SL_NEW(struct worker_job);
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    if (w->pending++ == 0)
        ev_ref(w->loop);
    pthread_mutex_lock(&w->mu);
    push(&w->todo_head, &w->todo_tail, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

size_t sl_worker_pending(const struct sl_worker *w)
{
    return w ? w->pending : 0;
}

int sl_worker_destroy_by(struct sl_worker *w, int64_t deadline_ms)
{
    if (!w)
        return 0;
    bool was_busy = w->pending > 0;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    struct worker_job *cancelled = w->todo_head;
    w->todo_head = w->todo_tail = NULL;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    int rc = 0;
    if (deadline_ms)
        rc = sl_bounded_join(w->thread, deadline_ms);
    else
        pthread_join(w->thread, NULL);
    fire_done(w);
    while (cancelled) {
        struct worker_job *j = cancelled;
        cancelled = j->next;
        w->pending--;
        if (j->done)
            j->done(SL_ECLOSED, j->arg);
        free(j);
    }
    if (rc < 0)
        return rc; /* the job still running keeps w (and what it reads) */
    /* The ref taken for pending jobs (busy) or a fresh one balances create's unref, as libev
     * asks before stopping an unref'd watcher. */
    if (!was_busy)
        ev_ref(w->loop);
    ev_async_stop(w->loop, &w->async);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return 0;
}

void sl_worker_destroy(struct sl_worker *w)
{
    sl_worker_destroy_by(w, 0);
}
