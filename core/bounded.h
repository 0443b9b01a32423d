/* Blocking calls with a deadline. Some libraries offer no timeout for a call that waits on the
 * network (librdkafka's rd_kafka_destroy(), for one): such a call runs on a helper thread, and
 * the caller waits for it until a deadline. A call still running then is left to finish on its
 * own; the caller must leave alone everything it uses, which is only ever done on the way out of
 * the process. */
#ifndef SL_CORE_BOUNDED_H
#define SL_CORE_BOUNDED_H

#include <pthread.h>
#include <stdint.h>

/* Runs fn(arg) on a helper thread (every signal blocked) and waits until it returns or until
 * deadline_ms (sl_mono_ms clock) passes. Returns 0 when fn returned in time (its thread is
 * joined), -EINPROGRESS when it was still running at the deadline (its thread is detached and
 * runs on: what fn uses must never be freed), or a negative errno when no thread could start
 * (fn did not run). */
int sl_bounded_call(void (*fn)(void *arg), void *arg, int64_t deadline_ms);

/* Joins a thread, waiting until deadline_ms at most. Returns 0 when joined, -EINPROGRESS when
 * the thread still runs at the deadline (it is left joinable: nothing it uses may be freed). */
int sl_bounded_join(pthread_t th, int64_t deadline_ms);

/* Starts a thread with every signal blocked (signals belong to the loop thread) and names it
 * (at most 15 bytes are kept). Returns 0 or a negative errno. */
int sl_thread_start(pthread_t *th, const char *name, void *(*fn)(void *arg), void *arg);

/* The absolute CLOCK_MONOTONIC time of deadline_ms, for pthread waits on that clock. */
struct timespec sl_mono_timespec(int64_t deadline_ms);

#endif
