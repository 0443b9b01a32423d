/* A worker thread for slow calls that must not hold the loop: each job's fn runs on the thread,
 * one at a time in submission order, and its done callback then fires on the loop (through
 * ev_async). Used for the admin API's DLQ reads, which may scan a whole store or topic. */
#ifndef SL_CORE_WORKER_H
#define SL_CORE_WORKER_H

#include <ev.h>
#include <stdint.h>

struct sl_worker;

/* Runs on the worker thread. Returns 0 or a negative code, handed to done. */
typedef int (*sl_worker_fn)(void *arg);
/* Runs on the loop: status is fn's result, or SL_ECLOSED when the job was cancelled by
 * sl_worker_destroy before it ran. */
typedef void (*sl_worker_done_cb)(int status, void *arg);

/* Starts the thread (signals blocked on it). Returns 0 or a negative code. */
int sl_worker_create(struct ev_loop *loop, const char *name, struct sl_worker **out);
/* Queues a job. Loop thread only. Returns 0 and fires done exactly once, or SL_ECLOSED
 * (destroying) and never fires it. While jobs are pending the worker keeps the loop alive. */
int sl_worker_submit(struct sl_worker *w, sl_worker_fn fn, sl_worker_done_cb done, void *arg);
/* Jobs queued or running. */
size_t sl_worker_pending(const struct sl_worker *w);
/* Cancels the queued jobs, waits for the running one, joins the thread and fires the remaining
 * done callbacks (cancelled ones with SL_ECLOSED) on the calling thread. NULL is fine. */
void sl_worker_destroy(struct sl_worker *w);
/* The same, waiting for the running job until deadline_ms (sl_mono_ms clock; 0: no bound).
 * Returns -EINPROGRESS when the job still ran then: the queued callbacks have fired, and w is
 * left to that job (nothing it reads may be freed: the process is on its way out). */
int sl_worker_destroy_by(struct sl_worker *w, int64_t deadline_ms);

#endif
