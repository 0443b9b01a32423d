#include "mappings/redrive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/worker.h"
#include "sources/source.h"

struct redrive_item {
    struct sl_dlq_entry e;
    struct sl_dlq *d;
};

struct sl_redrive {
    struct sl_redrive_env env;
    struct sl_redrive_opts opts;
    struct sl_dlq **sinks; /* to list, in order */
    size_t nsinks;
    /* The listing position: written by the page job (worker thread), read on the loop between
     * pages. */
    size_t sink_i;
    char pos[SL_DLQ_POS_MAX];
    size_t listed;
    struct sl_err lerr;
    struct redrive_item *items; /* the page */
    size_t nitems;
    size_t cap;
    size_t next;
    struct sl_redrive_result res;
    sl_redrive_entry_cb entry_cb;
    sl_redrive_done_cb done_cb;
    void *arg;
    ev_timer pace;
    struct sl_buf payload;
    bool busy;
    bool paging;   /* a page job is on the worker */
    bool orphaned; /* destroyed while paging: page_done frees it */
    bool done;
};

const char *sl_mapping_dlq_name(const struct sl_cfg_mapping *mc)
{
    return mc->dlq ? mc->dlq : SL_DLQ_DEFAULT_NAME;
}

static int collect_cb(const struct sl_dlq_entry *e, const char *pos, void *arg)
{
    struct sl_redrive *rd = arg;
    snprintf(rd->pos, sizeof(rd->pos), "%s", pos);
    if (rd->nitems == rd->cap) {
        rd->cap = rd->cap ? rd->cap * 2 : 16;
        rd->items = sl_realloc(rd->items, rd->cap * sizeof(*rd->items));
    }
    struct redrive_item *it = &rd->items[rd->nitems++];
    memset(it, 0, sizeof(*it));
    /* Deep copy through the canonical JSON form. */
    struct sl_buf b;
    sl_buf_init(&b);
    sl_dlq_entry_to_json(e, &b);
    int rc = sl_dlq_entry_from_json(b.data, b.len, &it->e, NULL);
    sl_buf_release(&b);
    if (rc < 0)
        rd->nitems--;
    else
        it->d = rd->sinks[rd->sink_i];
    return 0;
}

static void redrive_add_sink(struct sl_redrive *rd, const char *name)
{
    struct sl_dlq *d = rd->env.dlq(rd->env.ctx, name);
    if (d && d->ops->list)
        rd->sinks[rd->nsinks++] = d;
}

static void items_release(struct sl_redrive *rd)
{
    for (size_t i = 0; i < rd->nitems; i++)
        sl_dlq_entry_release(&rd->items[i].e);
    rd->nitems = 0;
    rd->next = 0;
}

/* Lists the next page into items (worker thread, or the loop without a worker). */
static int page_fn(void *arg)
{
    struct sl_redrive *rd = arg;
    size_t want = SL_REDRIVE_PAGE;
    if (rd->opts.limit && rd->opts.limit - rd->listed < want)
        want = rd->opts.limit - rd->listed;
    while (rd->nitems < want && rd->sink_i < rd->nsinks) {
        struct sl_dlq *d = rd->sinks[rd->sink_i];
        size_t before = rd->nitems;
        size_t ask = want - rd->nitems;
        struct sl_dlq_filter f = {
            .mapping = rd->opts.mapping,
            .id = rd->opts.id,
            .after = rd->pos[0] ? rd->pos : NULL,
            .limit = ask,
        };
        int rc = d->ops->list(d, &f, collect_cb, rd, &rd->lerr);
        if (rc < 0)
            return rc;
        if (rd->nitems == before) { /* nothing after pos: this sink is done */
            rd->sink_i++;
            rd->pos[0] = '\0';
        }
    }
    rd->listed += rd->nitems;
    return 0;
}

/* An entry's result: counted, and reported to the caller. */
static void entry_result(struct sl_redrive *rd, const struct redrive_item *it, const char *result,
                         const char *detail)
{
    size_t *n = strcmp(result, "redriven") == 0 ? &rd->res.redriven
                : strcmp(result, "failed") == 0 ? &rd->res.failed
                                                : &rd->res.skipped;
    (*n)++;
    if (rd->env.metrics && !rd->opts.dry_run) {
        struct sl_buf l;
        sl_buf_init(&l);
        sl_metrics_label(&l, "mapping", it->e.mapping ? it->e.mapping : "");
        sl_metrics_label(&l, "result", result);
        sl_metric_inc(sl_metrics_counter(rd->env.metrics, "sluice_dlq_redrive_entries_total",
                                         "DLQ entries handled by redrives, by result.", l.data));
        sl_buf_release(&l);
    }
    rd->entry_cb(&it->e, result, detail, rd->arg);
}

static void redrive_finish(struct sl_redrive *rd)
{
    if (rd->done)
        return;
    rd->done = true;
    ev_timer_stop(rd->env.loop, &rd->pace);
    rd->done_cb(&rd->res, rd->arg);
}

static void redrive_next(struct sl_redrive *rd);

static void redrive_schedule(struct sl_redrive *rd)
{
    double gap = rd->opts.rate > 0 ? 1.0 / rd->opts.rate : 0.0;
    ev_timer_set(&rd->pace, gap, 0.);
    ev_timer_start(rd->env.loop, &rd->pace);
}

static void removed_cb(int status, void *arg)
{
    struct sl_redrive *rd = arg;
    struct redrive_item *it = &rd->items[rd->next - 1];
    if (status == 0)
        entry_result(rd, it, "redriven", "delivered and removed");
    else
        entry_result(rd, it, "failed", "delivered, but the entry could not be removed");
    rd->busy = false;
    redrive_schedule(rd);
}

static void invoked_cb(const struct sl_outcome *o, void *arg)
{
    struct sl_redrive *rd = arg;
    struct redrive_item *it = &rd->items[rd->next - 1];
    if (o->kind == SL_OUTCOME_OK) {
        int rc = it->d->ops->remove(it->d, it->e.id, removed_cb, rd);
        if (rc == 0)
            return;
        entry_result(rd, it, "failed", "delivered, but the entry could not be removed");
    } else {
        entry_result(rd, it, "failed", o->error);
    }
    rd->busy = false;
    redrive_schedule(rd);
}

static void redrive_skip(struct sl_redrive *rd, struct redrive_item *it, const char *why)
{
    entry_result(rd, it, "skipped", why);
}

/* The page is listed (status 0) or listing failed: the entries listed so far are handled, and
 * no more are listed after a failure. */
static void page_result(struct sl_redrive *rd, int status)
{
    rd->res.matched += rd->nitems;
    if (status < 0) {
        if (!rd->lerr.msg[0])
            sl_err_set(&rd->lerr, SL_ERR_TRANSIENT, status, "listing stopped: %s",
                       sl_strerror(status));
        rd->res.error = rd->lerr.msg;
        sl_warn("redrive", "%s", rd->lerr.msg);
    }
}

static void redrive_send(struct sl_redrive *rd);

static void page_done(int status, void *arg)
{
    struct sl_redrive *rd = arg;
    rd->paging = false;
    if (rd->orphaned) {
        sl_redrive_destroy(rd);
        return;
    }
    page_result(rd, status);
    redrive_next(rd);
}

/* Sends the page's entries (one at a time, paced), then lists the next page. */
static void redrive_next(struct sl_redrive *rd)
{
    for (;;) {
        redrive_send(rd);
        if (rd->done || rd->busy || rd->paging || rd->next < rd->nitems)
            return;
        bool more = rd->sink_i < rd->nsinks && !rd->res.error &&
                    (!rd->opts.limit || rd->listed < rd->opts.limit);
        if (!more) {
            redrive_finish(rd);
            return;
        }
        items_release(rd);
        if (!rd->env.worker) {
            page_result(rd, page_fn(rd));
            continue;
        }
        rd->paging = true;
        int rc = sl_worker_submit(rd->env.worker, page_fn, page_done, rd);
        if (rc == 0)
            return;
        rd->paging = false;
        page_result(rd, rc);
    }
}

static void redrive_send(struct sl_redrive *rd)
{
    const struct sl_config *cfg = rd->env.cfg;
    while (rd->next < rd->nitems && !rd->busy) {
        struct redrive_item *it = &rd->items[rd->next++];
        const struct sl_cfg_mapping *mc = sl_config_mapping(cfg, it->e.mapping);
        const char *fname = rd->opts.to ? rd->opts.to : mc ? mc->function : it->e.function;
        struct sl_target *t = fname ? rd->env.target(rd->env.ctx, fname) : NULL;
        const struct sl_source_ops *sops = sl_source_find_type(it->e.source_type);
        if (!t) {
            redrive_skip(rd, it, "its function is not defined in the config");
            continue;
        }
        if (!sops) {
            redrive_skip(rd, it, "its source type is unknown");
            continue;
        }
        if (rd->opts.dry_run) {
            rd->res.skipped++;
            rd->entry_cb(&it->e, "would redrive", fname, rd->arg);
            continue;
        }
        struct sl_record *r = sl_record_new(it->e.record_id, it->e.attrs, it->e.coords,
                                            it->e.payload, it->e.payload_len);
        r->time_ms = it->e.record_time_ms;
        sl_buf_reset(&rd->payload);
        sops->encode(it->e.source, &r, 1, mc ? mc->format : SL_CFG_FORMAT_LAMBDA, &rd->payload);
        sl_record_free(r);
        struct sl_invoke inv = {
            .payload = rd->payload.data,
            .len = rd->payload.len,
            .report_batch_item_failures = mc ? mc->retry.report_batch_item_failures : false,
            .terminal_statuses = mc ? &mc->retry.terminal_statuses : NULL,
        };
        rd->busy = true;
        int rc = t->ops->invoke(t, &inv, invoked_cb, rd);
        if (rc < 0) {
            rd->busy = false;
            entry_result(rd, it, "failed", sl_strerror(rc));
        }
    }
}

static void pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    redrive_next(w->data);
}

int sl_redrive_start(const struct sl_redrive_env *env, const struct sl_redrive_opts *opts,
                     sl_redrive_entry_cb entry_cb, sl_redrive_done_cb done_cb, void *arg,
                     struct sl_redrive **out, struct sl_err *err)
{
    const struct sl_config *cfg = env->cfg;
    if (opts->mapping && !sl_config_mapping(cfg, opts->mapping))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no mapping named \"%s\"",
                          opts->mapping);
    if (opts->to && !env->target(env->ctx, opts->to))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no function named \"%s\"",
                          opts->to);
    struct sl_redrive *rd = SL_NEW(struct sl_redrive);
    rd->env = *env;
    rd->opts = *opts;
    rd->entry_cb = entry_cb;
    rd->done_cb = done_cb;
    rd->arg = arg;
    sl_buf_init(&rd->payload);
    ev_init(&rd->pace, pace_cb);
    rd->pace.data = rd;

    rd->sinks = sl_calloc(cfg->dlqs.n + 1, sizeof(*rd->sinks));
    if (opts->mapping) {
        redrive_add_sink(rd, sl_mapping_dlq_name(sl_config_mapping(cfg, opts->mapping)));
    } else {
        /* Every sink once: the default one, then those the config defines. */
        redrive_add_sink(rd, SL_DLQ_DEFAULT_NAME);
        for (size_t i = 0; i < cfg->dlqs.n; i++) {
            const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->dlqs, struct sl_cfg_typed, i);
            if (strcmp(sec->name, SL_DLQ_DEFAULT_NAME) != 0)
                redrive_add_sink(rd, sec->name);
        }
    }
    *out = rd;
    /* Start from the loop, so done never fires from inside this call. */
    ev_timer_set(&rd->pace, 0., 0.);
    ev_timer_start(env->loop, &rd->pace);
    return 0;
}

void sl_redrive_destroy(struct sl_redrive *rd)
{
    if (!rd)
        return;
    ev_timer_stop(rd->env.loop, &rd->pace);
    if (rd->paging) {
        rd->orphaned = true;
        return;
    }
    items_release(rd);
    free(rd->items);
    free(rd->sinks);
    sl_buf_release(&rd->payload);
    free(rd);
}
