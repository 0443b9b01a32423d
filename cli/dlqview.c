#include "cli/dlqview.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/time.h"
#include "mappings/redrive.h"

typedef int (*dlqview_visit_fn)(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg);

struct visit {
    struct sl_dlq *d;
    dlqview_visit_fn fn;
    void *arg;
    size_t seen;
    size_t limit;
};

static int visit_cb(const struct sl_dlq_entry *e, void *arg)
{
    struct visit *v = arg;
    if (v->limit && v->seen >= v->limit)
        return 1;
    v->seen++;
    return v->fn(v->d, e, v->arg);
}

/* Visits matching entries of the sinks that can hold them: the mapping's sink when the filter
 * names a mapping, else every sink. */
static int dlqview_each(struct sl_app *app, const struct sl_dlq_filter *f, dlqview_visit_fn fn,
                        void *arg, struct sl_err *err)
{
    struct visit v = {.fn = fn, .arg = arg, .limit = f->limit};
    const struct sl_cfg_mapping *mc = f->mapping ? sl_config_mapping(&app->cfg, f->mapping) : NULL;
    if (f->mapping && !mc)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no mapping named \"%s\"",
                          f->mapping);
    for (size_t i = 0; i < app->ndlqs; i++) {
        struct sl_dlq *d = app->dlqs[i];
        if (mc && strcmp(d->name, sl_mapping_dlq_name(mc)) != 0)
            continue;
        if (!d->ops->list)
            continue;
        v.d = d;
        int rc = d->ops->list(d, f, visit_cb, &v, err);
        if (rc < 0)
            return rc;
        if (v.limit && v.seen >= v.limit)
            break;
    }
    return 0;
}

static const char *last_error(const struct sl_dlq_entry *e)
{
    return e->nattempts ? e->attempts[e->nattempts - 1].error : "";
}

static int json_visit(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg)
{
    struct sl_jw *w = arg;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "id", e->id);
    sl_jw_kstr(w, "mapping", e->mapping);
    sl_jw_kstr(w, "dlq", d->name);
    sl_jw_kstr(w, "condition", e->condition);
    sl_jw_key(w, "createdAt");
    sl_jw_time(w, e->created_ms);
    sl_jw_kstr(w, "recordId", e->record_id);
    sl_jw_kint(w, "attempts", (int64_t)e->nattempts);
    sl_jw_kstr(w, "lastError", last_error(e));
    sl_jw_obj_close(w);
    return 0;
}

int sl_dlqview_list_json(struct sl_app *app, const struct sl_dlq_filter *f, struct sl_buf *out,
                         struct sl_err *err)
{
    struct sl_jw w;
    sl_jw_init(&w, out);
    sl_jw_obj_open(&w);
    sl_jw_key(&w, "entries");
    sl_jw_arr_open(&w);
    int rc = dlqview_each(app, f, json_visit, &w, err);
    sl_jw_arr_close(&w);
    sl_jw_obj_close(&w);
    return rc;
}

struct table {
    FILE *out;
    size_t rows;
};

static int table_visit(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg)
{
    struct table *t = arg;
    char ts[32];
    sl_time_fmt_iso(e->created_ms, ts, sizeof(ts));
    if (t->rows++ == 0)
        fprintf(t->out, "%-36s  %-20s  %-24s  %-24s  %8s  %s\n", "ID", "MAPPING", "CONDITION",
                "CREATED", "ATTEMPTS", "LAST ERROR");
    fprintf(t->out, "%-36s  %-20s  %-24s  %-24s  %8zu  %s\n", e->id, e->mapping, e->condition, ts,
            e->nattempts, last_error(e));
    return 0;
}

int sl_dlqview_list_table(struct sl_app *app, const struct sl_dlq_filter *f, FILE *out,
                          struct sl_err *err)
{
    struct table t = {.out = out};
    int rc = dlqview_each(app, f, table_visit, &t, err);
    if (rc == 0 && t.rows == 0)
        fprintf(out, "no entries\n");
    return rc;
}

static int show_visit(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg)
{
    sl_dlq_entry_to_json(e, arg);
    return 1;
}

int sl_dlqview_show(struct sl_app *app, const char *id, struct sl_buf *out, struct sl_err *err)
{
    struct sl_dlq_filter f = {.id = id, .limit = 1};
    size_t before = out->len;
    int rc = dlqview_each(app, &f, show_visit, out, err);
    if (rc < 0)
        return rc;
    if (out->len == before)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no DLQ entry with id %s", id);
    return 0;
}

struct purge {
    struct sl_app *app;
    char (*ids)[40];
    struct sl_dlq **sinks;
    size_t n, cap;
    size_t pending;
    size_t removed;
    int status;
    sl_dlqview_purged_cb cb;
    void *arg;
    ev_timer done; /* reports from the loop, also when nothing matched */
};

static int purge_visit(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg)
{
    struct purge *p = arg;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->ids = sl_realloc(p->ids, p->cap * sizeof(*p->ids));
        p->sinks = sl_realloc(p->sinks, p->cap * sizeof(*p->sinks));
    }
    p->sinks[p->n] = d;
    snprintf(p->ids[p->n], sizeof(p->ids[p->n]), "%s", e->id);
    p->n++;
    return 0;
}

static void purge_free(struct purge *p)
{
    free(p->ids);
    free(p->sinks);
    free(p);
}

static void purge_report_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct purge *p = w->data;
    p->cb(p->removed, p->status, p->arg);
    purge_free(p);
}

static void purge_finish(struct purge *p)
{
    ev_timer_init(&p->done, purge_report_cb, 0., 0.);
    p->done.data = p;
    ev_timer_start(p->app->loop, &p->done);
}

static void purge_done(int status, void *arg)
{
    struct purge *p = arg;
    if (status == 0)
        p->removed++;
    else if (status != SL_ENOTFOUND && p->status == 0)
        p->status = status;
    if (--p->pending == 0)
        purge_finish(p);
}

int sl_dlqview_purge(struct sl_app *app, const struct sl_dlq_filter *f, sl_dlqview_purged_cb cb,
                     void *arg, struct sl_err *err)
{
    struct purge *p = SL_NEW(struct purge);
    p->app = app;
    p->cb = cb;
    p->arg = arg;
    int rc = dlqview_each(app, f, purge_visit, p, err);
    if (rc < 0) {
        purge_free(p);
        return rc;
    }
    p->pending = 1; /* held until every removal is queued */
    for (size_t i = 0; i < p->n; i++) {
        if (p->sinks[i]->ops->remove(p->sinks[i], p->ids[i], purge_done, p) == 0)
            p->pending++;
        else if (p->status == 0)
            p->status = SL_ECLOSED;
    }
    purge_done(SL_ENOTFOUND, p);
    return 0;
}
