#include <stdlib.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/mapping_int.h"

static const double duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,     2.5,  5,     10,   30};

static double oldest_age_read(void *arg)
{
    struct sl_mapping *m = arg;
    return m->all_head ? (double)(sl_now_ms() - m->all_head->time_ms) / 1000.0 : 0.0;
}

/* The mapping's entries in its DLQ. A sink that counts only its total (Redis: XLEN; Kafka: end
 * offsets minus the group's committed offsets) gives it when this mapping is its only writer.
 * Unknown: the series is left out. */
static double dlq_depth_read(void *arg)
{
    struct sl_mapping *m = arg;
    if (!m->d->ops->depth)
        return SL_METRIC_UNKNOWN;
    int64_t n = m->d->ops->depth(m->d, m->cfg->name);
    if (n < 0 && m->d->writers == 1)
        n = m->d->ops->depth(m->d, NULL);
    return n >= 0 ? (double)n : SL_METRIC_UNKNOWN;
}

static double backlog_read(void *arg)
{
    struct sl_mapping *m = arg;
    int64_t n = m->s->ops->backlog ? m->s->ops->backlog(m->s) : -1;
    return n >= 0 ? (double)n : SL_METRIC_UNKNOWN;
}

void sl_mapping_metrics_init(struct sl_mapping *m)
{
    struct sl_metrics *r = m->registry;
    struct sl_mapping_metrics *x = &m->mx;
    struct sl_buf l, lo;
    sl_buf_init(&l);
    sl_metrics_label(&l, "mapping", m->cfg->name);

    x->received = sl_metrics_counter(r, "sluice_records_received_total",
                                     "Records the mapping received from its source.", l.data);
    x->filtered = sl_metrics_counter(r, "sluice_records_filtered_total",
                                     "Records dropped by the mapping's filters.", l.data);
    x->dispatched =
        sl_metrics_counter(r, "sluice_records_dispatched_total",
                           "Records sent to the function (again on every retry).", l.data);
    x->delivered = sl_metrics_counter(r, "sluice_records_delivered_total",
                                      "Records the function handled successfully.", l.data);
    x->failed = sl_metrics_counter(r, "sluice_records_failed_total",
                                   "Records in failed invocations (again on every retry).", l.data);
    static const char *const counted[] = {"true", "false"};
    struct sl_metric **att[] = {&x->attempts_counted, &x->attempts_uncounted};
    for (size_t i = 0; i < 2; i++) {
        sl_buf_init(&lo);
        sl_buf_puts(&lo, l.data);
        sl_metrics_label(&lo, "counted", counted[i]);
        *att[i] = sl_metrics_counter(
            r, "sluice_failed_attempts_total",
            "Failed attempts of records (one per record of a failed invocation), by whether they "
            "count toward max_attempts (false: bisect rounds, throttles, requests that never "
            "reached the function).",
            lo.data);
        sl_buf_release(&lo);
    }
    x->dead_lettered = sl_metrics_counter(r, "sluice_records_dead_lettered_total",
                                          "Records written to the dead-letter queue.", l.data);
    x->dlq_errors = sl_metrics_counter(r, "sluice_dlq_write_errors_total",
                                       "Failed dead-letter writes (each is retried).", l.data);
    static const char *const outcomes[] = {"ok", "partial", "retry", "fail"};
    struct sl_metric **inv[] = {&x->inv_ok, &x->inv_partial, &x->inv_retry, &x->inv_fail};
    for (size_t i = 0; i < 4; i++) {
        sl_buf_init(&lo);
        sl_buf_puts(&lo, l.data);
        sl_metrics_label(&lo, "outcome", outcomes[i]);
        *inv[i] = sl_metrics_counter(r, "sluice_invocations_total",
                                     "Function invocations by outcome.", lo.data);
        sl_buf_release(&lo);
    }
    x->duration = sl_metrics_histogram(r, "sluice_invocation_duration_seconds",
                                       "Time from invoking the function to its outcome.", l.data,
                                       duration_bounds, SL_ARRAY_LEN(duration_bounds));
    x->inflight_records = sl_metrics_gauge(r, "sluice_inflight_records",
                                           "Records held by the mapping, not yet acked.", l.data);
    x->inflight_bytes = sl_metrics_gauge(r, "sluice_inflight_bytes",
                                         "Bytes of the records held by the mapping.", l.data);
    sl_metrics_gauge_fn(r, "sluice_oldest_unacked_record_age_seconds",
                        "Age of the oldest record the mapping holds (0 when none).", l.data,
                        oldest_age_read, m);
    sl_metrics_gauge_fn(r, "sluice_dlq_depth",
                        "Entries in the mapping's dead-letter queue (the sink's total when the "
                        "sink counts no more and this mapping is its only writer).",
                        l.data, dlq_depth_read, m);
    sl_metrics_gauge_fn(r, "sluice_source_backlog",
                        "Records the source holds durably and not yet acked (spool depth).", l.data,
                        backlog_read, m);
    sl_buf_release(&l);
}
