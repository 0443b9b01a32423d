/* A mapping binds one source to one function target and one DLQ sink: it batches the source's
 * records per lane (size, window, bytes), invokes the target, retries by policy (backoff with
 * full jitter, Retry-After, bisect, partial batch responses) and dead-letters what cannot be
 * delivered. A record is acked to its source only after success or a durable DLQ write. */
#ifndef SL_MAPPINGS_MAPPING_H
#define SL_MAPPINGS_MAPPING_H

#include <ev.h>

#include "config/config.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/metrics.h"
#include "dispatcher/target.h"
#include "dlq/dlq.h"
#include "sources/source.h"

struct sl_mapping;

struct sl_mapping_env {
    struct ev_loop *loop;
    struct sl_metrics *metrics;
};

typedef void (*sl_mapping_drained_cb)(struct sl_mapping *m, void *arg);

/* Borrows cfg, s, t and d: they must outlive the mapping. */
int sl_mapping_create(const struct sl_mapping_env *env, const struct sl_cfg_mapping *cfg,
                      struct sl_source *s, struct sl_target *t, struct sl_dlq *d,
                      struct sl_mapping **out, struct sl_err *err);
/* Connects to the source and starts it (disabled mappings do nothing). */
int sl_mapping_start(struct sl_mapping *m, struct sl_err *err);
/* Stops the source, flushes batches at once (windows no longer wait) and fires cb when no
 * record is in flight any more. cb may fire before this returns. */
void sl_mapping_drain(struct sl_mapping *m, sl_mapping_drained_cb cb, void *arg);
/* Records held (queued, in flight, waiting to retry or being dead-lettered). */
size_t sl_mapping_inflight(const struct sl_mapping *m);
/* After sl_mapping_drain: the source has stopped emitting and no record is held. No record in
 * flight alone is not drained: a source's read may still be on the wire (a claim, a fetch),
 * and what it brings back has to be delivered. */
bool sl_mapping_drained(const struct sl_mapping *m);
void sl_mapping_describe(struct sl_mapping *m, struct sl_jw *w);
/* Lambda's State: Creating (not started), Enabled, Disabling (disabled, records still in
 * flight), Disabled. */
const char *sl_mapping_state(const struct sl_mapping *m);
bool sl_mapping_enabled(const struct sl_mapping *m);
/* Before start: the state kept from an earlier run (reason: static text; changed_ms: wall
 * clock, 0 when unknown). */
void sl_mapping_init_state(struct sl_mapping *m, bool enabled, const char *reason,
                           int64_t changed_ms);
/* Like Lambda's Enabled flag, at run time. Disabling pauses the source (it keeps its position:
 * offsets, pending entries, spool rows) and lets the records in flight finish; enabling starts
 * or resumes it. reason is static text. Fails while the mapping drains (shutdown). */
int sl_mapping_set_enabled(struct sl_mapping *m, bool enabled, const char *reason,
                           struct sl_err *err);
const char *sl_mapping_name(const struct sl_mapping *m);
const struct sl_cfg_mapping *sl_mapping_config(const struct sl_mapping *m);
/* Starts nothing new from now on (shutdown): call it before destroying the target, whose
 * cancelled calls then only release their batches. */
void sl_mapping_halt(struct sl_mapping *m);
/* Frees everything; records still held are dropped unacked (their source replays them). */
void sl_mapping_destroy(struct sl_mapping *m);

#endif
