#include "core/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct sl_family;

struct sl_metric {
    struct sl_metric *next; /* next series of the same family */
    const struct sl_family *family;
    char *labels;
    double value;
    sl_metric_read_cb read_cb;
    void *read_arg;
    double *bucket_counts; /* histograms: one per bound, plus +Inf */
    double sum;
    double count;
};

struct sl_family {
    struct sl_family *next;
    char *name;
    char *help;
    enum sl_metric_type type;
    double *bounds;
    size_t nbounds;
    struct sl_metric *series;
};

struct sl_metrics {
    struct sl_family *families;
    struct sl_family **tail;
};

struct sl_metrics *sl_metrics_create(void)
{
    struct sl_metrics *r = SL_NEW(struct sl_metrics);
    r->tail = &r->families;
    return r;
}

static void metric_free(struct sl_metric *m)
{
    free(m->labels);
    free(m->bucket_counts);
    free(m);
}

void sl_metrics_destroy(struct sl_metrics *r)
{
    if (!r)
        return;
    struct sl_family *f = r->families;
    while (f) {
        struct sl_family *next = f->next;
        struct sl_metric *m = f->series;
        while (m) {
            struct sl_metric *mn = m->next;
            metric_free(m);
            m = mn;
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
        f = next;
    }
    free(r);
}

static struct sl_family *family_get(struct sl_metrics *r, const char *name, const char *help,
                                    enum sl_metric_type type)
{
    for (struct sl_family *f = r->families; f; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    struct sl_family *f = SL_NEW(struct sl_family);
    f->name = sl_strdup(name);
    f->help = sl_strdup(help ? help : "");
    f->type = type;
    *r->tail = f;
    r->tail = &f->next;
    return f;
}

static struct sl_metric *series_get(struct sl_family *f, const char *labels)
{
    const char *l = labels ? labels : "";
    struct sl_metric **tail = &f->series;
    for (struct sl_metric *m = f->series; m; m = m->next) {
        if (strcmp(m->labels, l) == 0)
            return m;
        tail = &m->next;
    }
    struct sl_metric *m = SL_NEW(struct sl_metric);
    m->labels = sl_strdup(l);
    m->family = f;
    if (f->type == SL_METRIC_HISTOGRAM)
        m->bucket_counts = sl_calloc(f->nbounds + 1, sizeof(double));
    *tail = m;
    return m;
}

struct sl_metric *sl_metrics_counter(struct sl_metrics *r, const char *name, const char *help,
                                     const char *labels)
{
    return series_get(family_get(r, name, help, SL_METRIC_COUNTER), labels);
}

struct sl_metric *sl_metrics_gauge(struct sl_metrics *r, const char *name, const char *help,
                                   const char *labels)
{
    return series_get(family_get(r, name, help, SL_METRIC_GAUGE), labels);
}

/* A series whose value is read through cb when the registry is rendered. */
static struct sl_metric *read_through(struct sl_metric *m, sl_metric_read_cb cb, void *arg)
{
    m->read_cb = cb;
    m->read_arg = arg;
    return m;
}

struct sl_metric *sl_metrics_gauge_fn(struct sl_metrics *r, const char *name, const char *help,
                                      const char *labels, sl_metric_read_cb cb, void *arg)
{
    return read_through(sl_metrics_gauge(r, name, help, labels), cb, arg);
}

struct sl_metric *sl_metrics_counter_fn(struct sl_metrics *r, const char *name, const char *help,
                                        const char *labels, sl_metric_read_cb cb, void *arg)
{
    return read_through(sl_metrics_counter(r, name, help, labels), cb, arg);
}

struct sl_metric *sl_metrics_histogram(struct sl_metrics *r, const char *name, const char *help,
                                       const char *labels, const double *bounds, size_t nbounds)
{
    struct sl_family *f = family_get(r, name, help, SL_METRIC_HISTOGRAM);
    if (!f->bounds) {
        f->bounds = sl_memdup(bounds, nbounds * sizeof(double));
        f->nbounds = nbounds;
    }
    return series_get(f, labels);
}

/* Whether a label set ("a=\"x\",b=\"y\"") holds the pair `label`: it starts the set or
 * follows a comma, and a comma or the end follows it. Values are escaped, so a quote inside one
 * never ends it. */
static bool labels_hold(const char *labels, const char *label)
{
    size_t n = strlen(label);
    for (const char *p = labels; (p = strstr(p, label)) != NULL; p++) {
        if ((p == labels || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    }
    return false;
}

static void remove_where(struct sl_metrics *r, const void *arg, const char *label)
{
    for (struct sl_family *f = r ? r->families : NULL; f; f = f->next) {
        struct sl_metric **pm = &f->series;
        while (*pm) {
            struct sl_metric *m = *pm;
            bool hit = label ? labels_hold(m->labels, label) : (m->read_cb && m->read_arg == arg);
            if (hit) {
                *pm = m->next;
                metric_free(m);
            } else {
                pm = &m->next;
            }
        }
    }
}

void sl_metrics_forget(struct sl_metrics *r, const void *arg)
{
    remove_where(r, arg, NULL);
}

void sl_metrics_remove(struct sl_metrics *r, const char *label)
{
    if (label && *label)
        remove_where(r, NULL, label);
}

void sl_metric_inc(struct sl_metric *m)
{
    m->value += 1;
}

void sl_metric_add(struct sl_metric *m, double v)
{
    m->value += v;
}

void sl_metric_set(struct sl_metric *m, double v)
{
    m->value = v;
}

double sl_metric_value(const struct sl_metric *m)
{
    return m->read_cb ? m->read_cb(m->read_arg) : m->value;
}

void sl_metric_observe(struct sl_metric *m, double v)
{
    const struct sl_family *f = m->family;
    size_t i = 0;
    if (!m->bucket_counts)
        return;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    m->bucket_counts[i] += 1; /* per bucket; render() accumulates */
    m->sum += v;
    m->count += 1;
}

void sl_metrics_label(struct sl_buf *b, const char *key, const char *value)
{
    if (b->len)
        sl_buf_putc(b, ',');
    sl_buf_printf(b, "%s=\"", key);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            sl_buf_putc(b, '\\');
        if (*p == '\n') {
            sl_buf_puts(b, "\\n");
            continue;
        }
        sl_buf_putc(b, *p);
    }
    sl_buf_putc(b, '"');
}

static void fmt_value(struct sl_buf *out, double v)
{
    if (isinf(v))
        sl_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        sl_buf_printf(out, "%.0f", v);
    else
        sl_buf_printf(out, "%.9g", v);
}

static void render_line(struct sl_buf *out, const char *name, const char *suffix,
                        const char *labels, const char *extra, double v)
{
    sl_buf_printf(out, "%s%s", name, suffix);
    if ((labels && *labels) || extra) {
        sl_buf_putc(out, '{');
        if (labels && *labels)
            sl_buf_puts(out, labels);
        if (extra) {
            if (labels && *labels)
                sl_buf_putc(out, ',');
            sl_buf_puts(out, extra);
        }
        sl_buf_putc(out, '}');
    }
    sl_buf_putc(out, ' ');
    fmt_value(out, v);
    sl_buf_putc(out, '\n');
}

static void render_header(struct sl_buf *out, const struct sl_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    sl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                  type_names[f->type]);
}

void sl_metrics_render(struct sl_metrics *r, struct sl_buf *out)
{
    for (struct sl_family *f = r->families; f; f = f->next) {
        bool header = false;
        for (struct sl_metric *m = f->series; m; m = m->next) {
            if (f->type != SL_METRIC_HISTOGRAM) {
                double v = sl_metric_value(m);
                if (isnan(v))
                    continue; /* unknown: left out */
                if (!header)
                    render_header(out, f);
                header = true;
                render_line(out, f->name, "", m->labels, NULL, v);
                continue;
            }
            if (!header)
                render_header(out, f);
            header = true;
            double cum = 0;
            char le[64];
            for (size_t i = 0; i <= f->nbounds; i++) {
                cum += m->bucket_counts[i];
                if (i < f->nbounds)
                    snprintf(le, sizeof(le), "le=\"%.9g\"", f->bounds[i]);
                else
                    snprintf(le, sizeof(le), "le=\"+Inf\"");
                render_line(out, f->name, "_bucket", m->labels, le, cum);
            }
            render_line(out, f->name, "_sum", m->labels, NULL, m->sum);
            render_line(out, f->name, "_count", m->labels, NULL, m->count);
        }
    }
}
