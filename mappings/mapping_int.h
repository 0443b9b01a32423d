/* Internals of the mapping engine shared between its files. */
#ifndef SL_MAPPINGS_MAPPING_INT_H
#define SL_MAPPINGS_MAPPING_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backoff.h"
#include "mappings/filter.h"
#include "mappings/mapping.h"

struct sl_lane;

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

struct sl_lane {
    struct sl_mapping *m;
    struct sl_lane *next;
    uint32_t id;
    struct sl_record *head, *tail; /* records not yet batched, in order */
    size_t count;
    size_t bytes;
    struct sl_batch *work; /* batches to run before new ones: retries, bisect halves */
    unsigned active;       /* batches invoking + DLQ writes pending */
    bool dirty;            /* got records since the last kick */
    bool revoked;          /* the source lost this lane: failures are dropped unacked */
    ev_timer timer;        /* batch window or retry backoff */
};

struct sl_mapping_metrics {
    struct sl_metric *received;
    struct sl_metric *filtered;
    struct sl_metric *dispatched;
    struct sl_metric *delivered;
    struct sl_metric *failed;
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

    struct sl_filter *filter; /* NULL: deliver everything */
    struct sl_lane *lanes;
    struct sl_lane *kick_cursor;           /* where the next round-robin kick starts */
    struct sl_record *all_head, *all_tail; /* every live record, oldest first */
    size_t inflight_records;
    size_t inflight_bytes;
    size_t invoking; /* batches being invoked (max_concurrency) */
    bool source_paused;
    bool started;
    bool draining;
    bool halted;             /* no more invocations or DLQ writes (shutdown) */
    ev_prepare before_sleep; /* kicks lanes that got records during this loop iteration */
    sl_mapping_drained_cb drained_cb;
    void *drained_arg;

    struct sl_mapping_metrics mx;
};

/* mapping.c */
void sl_lane_kick(struct sl_lane *lane);
/* A concurrency slot came free: kick the other lanes that have work, round-robin. */
void sl_mapping_kick_others(struct sl_mapping *m, struct sl_lane *skip);
/* The record was handled (delivered or dead-lettered): ack it to the source and free it. */
void sl_mapping_record_done(struct sl_mapping *m, struct sl_record *r, bool ack);

/* batch.c */
struct sl_batch *sl_batch_new(struct sl_lane *lane, size_t cap);
void sl_batch_free(struct sl_batch *b);
void sl_batch_dispatch(struct sl_batch *b);
/* Puts b at the head of its lane's work (it runs before anything else of the lane). */
void sl_lane_push_front(struct sl_lane *lane, struct sl_batch *b);

/* deadletter.c */
void sl_mapping_dead_letter(struct sl_mapping *m, struct sl_lane *lane, struct sl_record *r,
                            const char *condition);
/* Builds the DLQ entry of a record (the caller releases it). */
void sl_mapping_entry_build(const char *mapping, const char *function, const char *source,
                            const char *source_type, const struct sl_record *r,
                            const char *condition, struct sl_dlq_entry *e);

/* metrics.c */
void sl_mapping_metrics_init(struct sl_mapping *m);

#endif
