#include "cli/dlqview.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/worker.h"
#include "mappings/redrive.h"

static const char dlqview_scope[] = "dlq";

typedef int (*dlqview_visit_fn)(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg);

struct visit {
    struct sl_dlq *d;
    dlqview_visit_fn fn;
    void *arg;
    size_t seen;
    size_t limit;
    bool more; /* an entry past limit matched */
    char last[SL_DLQVIEW_CURSOR_MAX];
};

static int visit_cb(const struct sl_dlq_entry *e, const char *pos, void *arg)
{
    struct visit *v = arg;
    if (v->limit && v->seen >= v->limit) {
        v->more = true;
        return 1;
    }
    v->seen++;
    snprintf(v->last, sizeof(v->last), "%s/%s", v->d->name, pos);
    return v->fn(v->d, e, v->arg);
}

static int bad_cursor(const char *after, struct sl_err *err)
{
    return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL,
                      "after: \"%.64s\" is not a cursor of this config (allowed: the \"next\" of "
                      "a previous page)",
                      after);
}

/* Visits matching entries of the sinks that can hold them (the mapping's sink when the filter
 * names a mapping, else every sink), from the cursor f->after on. Sets v's cursor fields. */
static int dlqview_each(struct sl_app *app, const struct sl_dlq_filter *f, struct visit *v,
                        struct sl_err *err)
{
    v->limit = f->limit;
    const struct sl_cfg_mapping *mc = f->mapping ? sl_config_mapping(&app->cfg, f->mapping) : NULL;
    if (f->mapping && !mc)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no mapping named \"%s\"",
                          f->mapping);
    size_t first = 0;
    const char *after = NULL;
    if (f->after) {
        const char *slash = strrchr(f->after, '/');
        size_t nlen = slash ? (size_t)(slash - f->after) : 0;
        for (first = 0; slash && first < app->ndlqs; first++) {
            const char *name = app->dlqs[first]->name;
            if (strlen(name) == nlen && memcmp(name, f->after, nlen) == 0)
                break;
        }
        if (!slash || first == app->ndlqs)
            return bad_cursor(f->after, err);
        after = slash + 1;
    }
    for (size_t i = first; i < app->ndlqs; i++) {
        struct sl_dlq *d = app->dlqs[i];
        if (mc && strcmp(d->name, sl_mapping_dlq_name(mc)) != 0)
            continue;
        if (!d->ops->list)
            continue;
        struct sl_dlq_filter sf = *f;
        sf.after = i == first ? after : NULL;
        /* One more than asked, to know whether there is a next page. */
        sf.limit = f->limit ? f->limit - v->seen + 1 : 0;
        v->d = d;
        int rc = d->ops->list(d, &sf, visit_cb, v, err);
        if (rc == -EINVAL && sf.after)
            return bad_cursor(f->after, err);
        if (rc < 0)
            return rc;
        if (v->more)
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
    sl_jw_key(w, "countedAttempts");
    if (e->counts_known)
        sl_jw_int(w, e->counted_attempts);
    else
        sl_jw_null(w);
    sl_jw_key(w, "uncountedAttempts");
    if (e->counts_known)
        sl_jw_int(w, e->uncounted_attempts);
    else
        sl_jw_null(w);
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
    struct visit v = {.fn = json_visit, .arg = &w};
    int rc = dlqview_each(app, f, &v, err);
    sl_jw_arr_close(&w);
    if (v.more)
        sl_jw_kstr(&w, "next", v.last);
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
    /* ATTEMPTS: those that count toward max_attempts; NOT COUNTED: bisect rounds, throttles,
     * requests that never reached the function ("-" for entries that predate the split, whose
     * ATTEMPTS are all the attempts kept). */
    char counted[24], uncounted[24];
    if (e->counts_known) {
        snprintf(counted, sizeof(counted), "%u", e->counted_attempts);
        snprintf(uncounted, sizeof(uncounted), "%u", e->uncounted_attempts);
    } else {
        snprintf(counted, sizeof(counted), "%zu", e->nattempts);
        snprintf(uncounted, sizeof(uncounted), "-");
    }
    if (t->rows++ == 0)
        fprintf(t->out, "%-36s  %-20s  %-24s  %-24s  %8s  %11s  %s\n", "ID", "MAPPING", "CONDITION",
                "CREATED", "ATTEMPTS", "NOT COUNTED", "LAST ERROR");
    fprintf(t->out, "%-36s  %-20s  %-24s  %-24s  %8s  %11s  %s\n", e->id, e->mapping, e->condition,
            ts, counted, uncounted, last_error(e));
    return 0;
}

int sl_dlqview_list_table(struct sl_app *app, const struct sl_dlq_filter *f, FILE *out,
                          struct sl_err *err)
{
    struct table t = {.out = out};
    struct visit v = {.fn = table_visit, .arg = &t};
    int rc = dlqview_each(app, f, &v, err);
    if (rc == 0 && t.rows == 0)
        fprintf(out, "no entries\n");
    if (rc == 0 && v.more)
        fprintf(out, "more: --after %s\n", v.last);
    return rc;
}

static int show_visit(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg)
{
    sl_dlq_entry_to_json(e, arg);
    return 1;
}

int sl_dlqview_show(struct sl_app *app, const char *id, struct sl_buf *out, struct sl_err *err)
{
    struct sl_dlq_filter f = {.id = id};
    size_t before = out->len;
    struct visit v = {.fn = show_visit, .arg = out};
    int rc = dlqview_each(app, &f, &v, err);
    if (rc < 0)
        return rc;
    if (out->len == before)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no DLQ entry with id %s", id);
    return 0;
}

/* ---- on the worker thread ---- */

/* A filter whose strings the job owns. */
struct owned_filter {
    struct sl_dlq_filter f;
    char *mapping, *id, *after;
};

static void owned_filter_set(struct owned_filter *o, const struct sl_dlq_filter *f)
{
    o->f = *f;
    o->f.mapping = o->mapping = f->mapping ? sl_strdup(f->mapping) : NULL;
    o->f.id = o->id = f->id ? sl_strdup(f->id) : NULL;
    o->f.after = o->after = f->after ? sl_strdup(f->after) : NULL;
}

static void owned_filter_release(struct owned_filter *o)
{
    free(o->mapping);
    free(o->id);
    free(o->after);
}

struct view_job {
    struct sl_app *app;
    struct owned_filter of;
    bool show;
    struct sl_buf out;
    struct sl_err err;
    sl_dlqview_done_cb cb;
    void *arg;
};

static int view_job_fn(void *arg)
{
    struct view_job *j = arg;
    if (j->show)
        return sl_dlqview_show(j->app, j->of.f.id, &j->out, &j->err);
    return sl_dlqview_list_json(j->app, &j->of.f, &j->out, &j->err);
}

static void view_job_done(int status, void *arg)
{
    struct view_job *j = arg;
    if (status == SL_ECLOSED && !j->err.msg[0])
        sl_err_set(&j->err, SL_ERR_TRANSIENT, status, "sluice is stopping");
    j->cb(status, &j->out, &j->err, j->arg);
    owned_filter_release(&j->of);
    sl_buf_release(&j->out);
    free(j);
}

static int view_submit(struct sl_app *app, const struct sl_dlq_filter *f, bool show,
                       sl_dlqview_done_cb cb, void *arg)
{
    if (!app->worker)
        return SL_ECLOSED;
    struct view_job *j = SL_NEW(struct view_job);
    j->app = app;
    j->show = show;
    j->cb = cb;
    j->arg = arg;
    sl_err_clear(&j->err);
    sl_buf_init(&j->out);
    owned_filter_set(&j->of, f);
    int rc = sl_worker_submit(app->worker, view_job_fn, view_job_done, j);
    if (rc < 0) {
        owned_filter_release(&j->of);
        free(j);
    }
    return rc;
}

int sl_dlqview_list_async(struct sl_app *app, const struct sl_dlq_filter *f, sl_dlqview_done_cb cb,
                          void *arg)
{
    return view_submit(app, f, false, cb, arg);
}

int sl_dlqview_show_async(struct sl_app *app, const char *id, sl_dlqview_done_cb cb, void *arg)
{
    struct sl_dlq_filter f = {.id = id};
    return view_submit(app, &f, true, cb, arg);
}

/* ---- purge: list a chunk on the worker, remove it on the loop, again ---- */

struct purge {
    struct sl_app *app;
    struct owned_filter of;
    char cursor[SL_DLQVIEW_CURSOR_MAX];
    /* The chunk: filled on the worker thread, read on the loop once the job is done. */
    char (*ids)[40];
    struct sl_dlq **sinks;
    size_t n, cap;
    bool more;
    struct sl_err err;
    /* Loop thread. */
    size_t pending;
    size_t listed;
    size_t removed;
    int status;
    sl_dlqview_purged_cb cb;
    void *arg;
};

static int purge_visit(struct sl_dlq *d, const struct sl_dlq_entry *e, void *arg)
{
    struct purge *p = arg;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->ids = sl_realloc(p->ids, p->cap * sizeof(*p->ids));
        p->sinks = sl_realloc(p->sinks, p->cap * sizeof(*p->sinks));
    }
    p->sinks[p->n] = d;
    snprintf(p->ids[p->n], sizeof(p->ids[p->n]), "%s", e->id);
    p->n++;
    return 0;
}

static int purge_list_fn(void *arg)
{
    struct purge *p = arg;
    struct sl_dlq_filter f = p->of.f;
    f.limit = SL_DLQVIEW_CHUNK;
    f.after = p->cursor[0] ? p->cursor : NULL;
    p->n = 0;
    struct visit v = {.fn = purge_visit, .arg = p};
    int rc = dlqview_each(p->app, &f, &v, &p->err);
    p->more = rc == 0 && v.more;
    if (v.seen)
        memcpy(p->cursor, v.last, sizeof(p->cursor));
    return rc;
}

static void purge_free(struct purge *p)
{
    owned_filter_release(&p->of);
    free(p->ids);
    free(p->sinks);
    free(p);
}

static void purge_end(struct purge *p)
{
    sl_info(dlqview_scope, "purge done: %zu entries removed%s%s", p->removed,
            p->status ? ", with errors: " : "", p->status ? sl_strerror(p->status) : "");
    p->cb(p->listed, p->removed, p->status, true, p->arg);
    purge_free(p);
}

static void purge_list_done(int status, void *arg);

static void purge_chunk_removed(struct purge *p)
{
    if (p->more && p->status == 0) {
        sl_info(dlqview_scope, "purge: %zu entries removed so far", p->removed);
        p->cb(p->listed, p->removed, 0, false, p->arg);
        if (sl_worker_submit(p->app->worker, purge_list_fn, purge_list_done, p) == 0)
            return;
        p->status = SL_ECLOSED;
    }
    purge_end(p);
}

static void purge_removed(int status, void *arg)
{
    struct purge *p = arg;
    if (status == 0)
        p->removed++;
    else if (status != SL_ENOTFOUND && p->status == 0)
        p->status = status;
    if (--p->pending == 0)
        purge_chunk_removed(p);
}

static void purge_list_done(int status, void *arg)
{
    struct purge *p = arg;
    if (status < 0) {
        sl_warn(dlqview_scope, "purge stopped: %s",
                p->err.msg[0] ? p->err.msg : sl_strerror(status));
        if (p->status == 0)
            p->status = status;
        purge_end(p);
        return;
    }
    p->listed += p->n;
    p->pending = 1; /* held until every removal of the chunk is queued */
    for (size_t i = 0; i < p->n; i++) {
        if (p->sinks[i]->ops->remove(p->sinks[i], p->ids[i], purge_removed, p) == 0)
            p->pending++;
        else if (p->status == 0)
            p->status = SL_ECLOSED;
    }
    purge_removed(SL_ENOTFOUND, p);
}

int sl_dlqview_purge(struct sl_app *app, const struct sl_dlq_filter *f, sl_dlqview_purged_cb cb,
                     void *arg, struct sl_err *err)
{
    if (f->mapping && !sl_config_mapping(&app->cfg, f->mapping))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no mapping named \"%s\"",
                          f->mapping);
    if (!app->worker)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECLOSED, "no worker to list entries");
    struct purge *p = SL_NEW(struct purge);
    p->app = app;
    p->cb = cb;
    p->arg = arg;
    sl_err_clear(&p->err);
    owned_filter_set(&p->of, f);
    p->of.f.limit = 0;
    int rc = sl_worker_submit(app->worker, purge_list_fn, purge_list_done, p);
    if (rc < 0) {
        purge_free(p);
        return sl_err_set(err, SL_ERR_TRANSIENT, rc, "sluice is stopping");
    }
    return 0;
}
