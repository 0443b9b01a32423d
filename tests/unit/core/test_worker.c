/* core/worker: jobs run off the loop in order, done fires on the loop, destroy cancels. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/worker.h"

struct job {
    pthread_t ran_on;
    int ran;      /* order the fn ran in, from 1 */
    int done;     /* order done fired in, from 1 */
    int status;   /* what done got */
    int *counter; /* shared order counter of fn */
    int *dones;
    pthread_mutex_t *gate; /* fn waits on it when set */
    atomic_int started;
};

static int job_fn(void *arg)
{
    struct job *j = arg;
    atomic_store(&j->started, 1);
    if (j->gate) {
        pthread_mutex_lock(j->gate);
        pthread_mutex_unlock(j->gate);
    }
    j->ran_on = pthread_self();
    j->ran = ++*j->counter;
    return -j->ran;
}

static void job_done(int status, void *arg)
{
    struct job *j = arg;
    j->status = status;
    j->done = ++*j->dones;
}

static void test_jobs_run_off_loop_in_order(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct sl_worker *w = NULL;
    assert_int_equal(sl_worker_create(loop, "test", &w), 0);
    int counter = 0, dones = 0;
    struct job jobs[50];
    for (int i = 0; i < 50; i++) {
        jobs[i] = (struct job){.counter = &counter, .dones = &dones};
        assert_int_equal(sl_worker_submit(w, job_fn, job_done, &jobs[i]), 0);
    }
    assert_int_equal(sl_worker_pending(w), 50);
    /* Pending jobs keep the loop alive: ev_run returns once every done has fired. */
    ev_run(loop, 0);
    assert_int_equal(sl_worker_pending(w), 0);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(jobs[i].ran, i + 1);
        assert_int_equal(jobs[i].done, i + 1);
        assert_int_equal(jobs[i].status, -(i + 1));
        assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
    }
    /* An idle worker does not keep the loop alive. */
    ev_run(loop, 0);
    sl_worker_destroy(w);
    ev_loop_destroy(loop);
}

static void test_destroy_cancels_queued(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct sl_worker *w = NULL;
    assert_int_equal(sl_worker_create(loop, "test", &w), 0);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    int counter = 0, dones = 0;
    struct job first = {.counter = &counter, .dones = &dones, .gate = &gate};
    struct job rest[3];
    assert_int_equal(sl_worker_submit(w, job_fn, job_done, &first), 0);
    for (int i = 0; i < 3; i++) {
        rest[i] = (struct job){.counter = &counter, .dones = &dones};
        assert_int_equal(sl_worker_submit(w, job_fn, job_done, &rest[i]), 0);
    }
    /* The first job holds the thread (wait until it runs); release it, destroy waits for it. */
    while (!atomic_load(&first.started))
        sched_yield();
    pthread_mutex_unlock(&gate);
    sl_worker_destroy(w);
    assert_int_equal(dones, 4);
    assert_int_equal(first.status, -1); /* it ran */
    for (int i = 0; i < 3; i++) {
        /* Either ran before destroy took the queue, or cancelled; done fired once either way. */
        assert_true(rest[i].done > 0);
        if (!rest[i].ran)
            assert_int_equal(rest[i].status, SL_ECLOSED);
    }
    pthread_mutex_destroy(&gate);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_off_loop_in_order),
        cmocka_unit_test(test_destroy_cancels_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
