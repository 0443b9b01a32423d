/* Internals of the mapping engine shared between its files. */
#ifndef SL_MAPPINGS_MAPPING_INT_H
#define SL_MAPPINGS_MAPPING_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backoff.h"
#include "mappings/filter.h"
#include "mappings/mapping.h"

struct sl_lane;
struct sl_dlq_job;

/* A group of records of one lane, dispatched together; also a retry or bisect half waiting. */
struct sl_batch {
    struct sl_mapping *m;
    struct sl_lane *lane;
    struct sl_batch *next; /* in the lane's work queue */
    struct sl_record **rs;
    size_t n;
    size_t bytes;
    int64_t not_before_ms; /* monotonic: retry after backoff */
    int64_t started_ms;    /* wall clock at invoke */
    int64_t started_mono_ns;
    struct sl_buf payload;
};

/* The scheduler's queues of lanes. A lane is on each at most once (its on[] flag). */
enum sl_lane_queue {
    SL_LQ_DIRTY,   /* got records this loop iteration: queued to run before the loop sleeps */
    SL_LQ_READY,   /* may be able to start a batch: the running scheduler pass serves it */
    SL_LQ_WAITING, /* has work but found every concurrency slot taken: served as slots free */
    SL_LQ_COUNT,
};

struct sl_lane_fifo {
    struct sl_lane *head, *tail;
};

struct sl_lane {
    struct sl_mapping *m;
    uint32_t id;
    struct sl_record *head, *tail; /* records not yet batched, in order */
    size_t count;
    size_t bytes;
    struct sl_batch *work; /* batches to run before new ones: retries, bisect halves */
    unsigned active;       /* batches invoking + DLQ writes pending */
    bool revoked;          /* the source lost this lane: failures are dropped unacked */
    ev_timer timer;        /* batch window or retry backoff */
    bool on[SL_LQ_COUNT];  /* on the mapping's queue q */
    struct sl_lane *qnext[SL_LQ_COUNT];
};

struct sl_mapping_metrics {
    struct sl_metric *received;
    struct sl_metric *filtered;
    struct sl_metric *dispatched;
    struct sl_metric *delivered;
    struct sl_metric *failed;
    struct sl_metric *attempts_counted;   /* failed attempts that count toward max_attempts */
    struct sl_metric *attempts_uncounted; /* bisect rounds, throttles, never reached */
    struct sl_metric *dead_lettered;
    struct sl_metric *dlq_errors;
    struct sl_metric *inv_ok;
    struct sl_metric *inv_partial;
    struct sl_metric *inv_retry;
    struct sl_metric *inv_fail;
    struct sl_metric *duration;
    struct sl_metric *inflight_records;
    struct sl_metric *inflight_bytes;
};

struct sl_mapping {
    struct ev_loop *loop;
    const struct sl_cfg_mapping *cfg;
    struct sl_source *s;
    struct sl_target *t;
    struct sl_dlq *d;
    struct sl_metrics *registry;
    char scope[96];
    struct sl_backoff backoff;
    uint64_t rng;

    struct sl_filter *filter;     /* NULL: deliver everything */
    struct sl_buf filter_scratch; /* a record's metadata text while it is matched */
    /* Lanes by id: sources number their lanes densely from 0 (partition table index, stream
     * index, hook index), so the array is short and lookups are O(1). Slots may be NULL. */
    struct sl_lane **lanes;
    size_t nlanes;
    struct sl_lane_fifo queues[SL_LQ_COUNT];
    bool kicking; /* a scheduler pass is running: kicks only queue their lane for it */
    struct sl_record *all_head, *all_tail; /* every live record, oldest first */
    size_t inflight_records;
    size_t inflight_bytes;
    size_t invoking;          /* batches being invoked (max_concurrency) */
    bool source_paused;       /* over the in-flight caps */
    bool source_held;         /* what the source was told: paused (caps or disabled) */
    bool disabled;            /* by the config or an operator: the source stays paused */
    const char *state_reason; /* StateTransitionReason (static text) */
    int64_t state_changed_ms; /* wall clock of the last enable/disable */
    const char *last_result;  /* LastProcessingResult (static text) */
    bool started;
    bool draining;
    bool source_stopped;         /* the source's stop callback fired: it emits nothing more */
    bool stop_asked;             /* the source was asked to stop (once) */
    struct sl_dlq_job *dlq_jobs; /* DLQ writes under way or waiting to retry (deadletter.c) */
    unsigned pump_depth;         /* lane_pump calls on the stack right now */
    unsigned pump_depth_max;     /* the deepest seen (tests expect 1: no recursion) */
    bool halted;                 /* no more invocations or DLQ writes (shutdown) */
    ev_prepare before_sleep;     /* kicks lanes that got records during this loop iteration */
    ev_check after_poll;         /* reads the clock once per loop iteration */
    int64_t poll_mono_ms;        /* that reading (0 outside an iteration) */
    sl_mapping_drained_cb drained_cb;
    void *drained_arg;

    struct sl_mapping_metrics mx;
    struct sl_buf scratch; /* text forms for log lines (a record's id) */
    /* The payload buffer of the last batch that finished, for the next one (batch.c). */
    struct sl_buf spare_payload;
};

/* mapping.c */
/* The one scheduler: whatever may let a lane start a batch (records arrived, a batch, DLQ
 * write or concurrency slot finished, a window or backoff timer fired) kicks the lane. Outside
 * a scheduler pass the kick runs one; inside it only queues the lane for the running pass.
 * Only a pass cuts and dispatches batches, so the stack stays flat however many batches
 * finish synchronously, and work that can start now starts before the loop sleeps. */
void sl_lane_kick(struct sl_lane *lane);
/* The record was handled (delivered or dead-lettered): ack it to the source and free it. */
void sl_mapping_record_done(struct sl_mapping *m, struct sl_record *r, bool ack);
/* Tells the source to pause or resume so that it is paused exactly while the mapping is over
 * its caps or disabled. */
void sl_mapping_sync_source(struct sl_mapping *m);

/* batch.c */
struct sl_batch *sl_batch_new(struct sl_lane *lane, size_t cap);
void sl_batch_free(struct sl_batch *b);
/* What sl_batch_dispatch did with a batch. */
enum sl_dispatch {
    SL_DISPATCH_SENT,    /* the target has it: its outcome comes back later */
    SL_DISPATCH_DONE,    /* finished at once: dead-lettered or split into the lane's work */
    SL_DISPATCH_REFUSED, /* the target refused it at once: back in the lane's work, due
                          * after a backoff */
};
/* Sends b to the target or finishes it at once. Never kicks a lane: the caller, the
 * scheduler's batch-cutting loop, goes on with the lane. */
enum sl_dispatch sl_batch_dispatch(struct sl_batch *b);

/* deadletter.c */
void sl_mapping_dead_letter(struct sl_mapping *m, struct sl_lane *lane, struct sl_record *r,
                            const char *condition);
/* Stops the retry timers of DLQ writes (shutdown). */
void sl_mapping_dead_letter_halt(struct sl_mapping *m);
/* Frees the DLQ writes still held (waiting to retry); their records stay unacked. */
void sl_mapping_dead_letter_release(struct sl_mapping *m);

/* metrics.c */
void sl_mapping_metrics_init(struct sl_mapping *m);

#endif
