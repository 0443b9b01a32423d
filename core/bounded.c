/* Blocking calls with a deadline: see core/bounded.h. */
#include "core/bounded.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/mem.h"
#include "core/time.h"

/* Shared by the caller and the helper thread; whoever lets go last frees it. */
struct bounded {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool done;
    int refs;
};

struct timespec sl_mono_timespec(int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    if (deadline_ms < 0)
        ts = (struct timespec){0, 0};
    return ts;
}

static void bounded_unref(struct bounded *b)
{
    pthread_mutex_lock(&b->mu);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (!last)
        return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void *bounded_main(void *arg)
{
    struct bounded *b = arg;
    b->fn(b->arg);
    pthread_mutex_lock(&b->mu);
    b->done = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    bounded_unref(b);
    return NULL;
}

int sl_bounded_call(void (*fn)(void *arg), void *arg, int64_t deadline_ms)
{
    struct bounded *b = SL_NEW(struct bounded);
    b->fn = fn;
    b->arg = arg;
    b->refs = 2;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);

    pthread_t th;
    int rc = sl_thread_start(&th, "sl-bounded", bounded_main, b);
    if (rc != 0) {
        b->refs = 1;
        bounded_unref(b);
        return rc;
    }

    struct timespec ts = sl_mono_timespec(deadline_ms);
    pthread_mutex_lock(&b->mu);
    while (!b->done && sl_mono_ms() < deadline_ms)
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    bool done = b->done;
    pthread_mutex_unlock(&b->mu);
    if (done)
        pthread_join(th, NULL);
    else
        pthread_detach(th);
    bounded_unref(b);
    return done ? 0 : -EINPROGRESS;
}

int sl_thread_start(pthread_t *th, const char *name, void *(*fn)(void *arg), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -rc;
    char n[16];
    snprintf(n, sizeof(n), "%s", name ? name : "sluice");
    pthread_setname_np(*th, n);
    return 0;
}

int sl_bounded_join(pthread_t th, int64_t deadline_ms)
{
    struct timespec ts = sl_mono_timespec(deadline_ms);
    int rc = pthread_clockjoin_np(th, NULL, CLOCK_MONOTONIC, &ts);
    return rc == 0 ? 0 : -EINPROGRESS;
}
