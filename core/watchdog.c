/* The watchdog thread: see core/watchdog.h. */
#include "core/watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/bounded.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

struct sl_watchdog {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;
    int64_t deadline_ms;
    int exit_code;
    char scope[64];
    char what[256];
    char note[512];
};

static void *watchdog_main(void *arg)
{
    struct sl_watchdog *w = arg;
    struct timespec ts = sl_mono_timespec(w->deadline_ms);
    pthread_mutex_lock(&w->mu);
    while (!w->stop && sl_mono_ms() < w->deadline_ms)
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        return NULL;
    }
    /* Always logged, whatever the level: it explains the exit status. */
    sl_log_write(SL_LOG_ERROR, w->scope, "%s; still pending: %s; exiting now with status %d",
                 w->what, w->note[0] ? w->note : "(nothing noted)", w->exit_code);
    _exit(w->exit_code);
}

int sl_watchdog_start(int64_t deadline_ms, int exit_code, const char *scope, const char *what,
                      struct sl_watchdog **out)
{
    struct sl_watchdog *w = SL_NEW(struct sl_watchdog);
    w->deadline_ms = deadline_ms;
    w->exit_code = exit_code;
    snprintf(w->scope, sizeof(w->scope), "%s", scope ? scope : "watchdog");
    snprintf(w->what, sizeof(w->what), "%s", what ? what : "deadline passed");
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->th, NULL, watchdog_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void sl_watchdog_note(struct sl_watchdog *w, const char *fmt, ...)
{
    if (!w)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&w->mu);
    vsnprintf(w->note, sizeof(w->note), fmt, ap);
    pthread_mutex_unlock(&w->mu);
    va_end(ap);
}

void sl_watchdog_stop(struct sl_watchdog *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
