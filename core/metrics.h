/* A Prometheus metrics registry, owned by whoever creates it and used from its loop only. */
#ifndef SL_CORE_METRICS_H
#define SL_CORE_METRICS_H

#include <stddef.h>

#include "core/buf.h"

enum sl_metric_type {
    SL_METRIC_COUNTER,
    SL_METRIC_GAUGE,
    SL_METRIC_HISTOGRAM,
};

struct sl_metrics;
struct sl_metric;

/* Reads a gauge's value when the registry is rendered. Return SL_METRIC_UNKNOWN (NaN) when the
 * value is not known: the series is then left out of that rendering (never a made-up value such
 * as -1), and a family with no series rendered is left out whole. */
typedef double (*sl_metric_read_cb)(void *arg);

#define SL_METRIC_UNKNOWN (__builtin_nan(""))

struct sl_metrics *sl_metrics_create(void);
void sl_metrics_destroy(struct sl_metrics *r);

/* labels is the label set without braces, e.g. `mapping="orders",outcome="ok"`, or NULL; build
 * it with sl_metrics_label(). Asking twice for the same name and labels returns the same series. */
struct sl_metric *sl_metrics_counter(struct sl_metrics *r, const char *name, const char *help,
                                     const char *labels);
struct sl_metric *sl_metrics_gauge(struct sl_metrics *r, const char *name, const char *help,
                                   const char *labels);
struct sl_metric *sl_metrics_gauge_fn(struct sl_metrics *r, const char *name, const char *help,
                                      const char *labels, sl_metric_read_cb cb, void *arg);
/* A counter read when the registry is rendered (a count kept elsewhere, e.g. by another
 * thread): cb must return a value that never decreases. */
struct sl_metric *sl_metrics_counter_fn(struct sl_metrics *r, const char *name, const char *help,
                                        const char *labels, sl_metric_read_cb cb, void *arg);
/* bounds are the upper bounds of the buckets in ascending order (+Inf is implied). */
struct sl_metric *sl_metrics_histogram(struct sl_metrics *r, const char *name, const char *help,
                                       const char *labels, const double *bounds, size_t nbounds);

/* Removes every series whose value is read through arg (sl_metrics_gauge_fn,
 * sl_metrics_counter_fn): before arg is freed. The series' pointers are invalid afterwards. */
void sl_metrics_forget(struct sl_metrics *r, const void *arg);
/* Removes every series whose label set holds `label` (one `key="value"` pair, as
 * sl_metrics_label writes it), e.g. the series of a mapping that no longer exists. The series'
 * pointers are invalid afterwards. A family left with no series is not rendered. */
void sl_metrics_remove(struct sl_metrics *r, const char *label);

void sl_metric_inc(struct sl_metric *m);
void sl_metric_add(struct sl_metric *m, double v);
/* SL_METRIC_UNKNOWN leaves a gauge out of the renderings until it is set to a value. */
void sl_metric_set(struct sl_metric *m, double v);
void sl_metric_observe(struct sl_metric *m, double v);
double sl_metric_value(const struct sl_metric *m);

/* Appends `key="value"` (value escaped per the exposition format; a comma first when b is not
 * empty). */
void sl_metrics_label(struct sl_buf *b, const char *key, const char *value);
/* Renders every family in the text exposition format 0.0.4. */
void sl_metrics_render(struct sl_metrics *r, struct sl_buf *out);

#endif
