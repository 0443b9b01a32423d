#include "mappings/redrive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/source.h"

struct redrive_item {
    struct sl_dlq_entry e;
    struct sl_dlq *d;
};

struct sl_redrive {
    struct sl_redrive_env env;
    struct sl_redrive_opts opts;
    struct redrive_item *items;
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
    bool done;
};

const char *sl_mapping_dlq_name(const struct sl_cfg_mapping *mc)
{
    return mc->dlq ? mc->dlq : SL_DLQ_DEFAULT_NAME;
}

static int collect_cb(const struct sl_dlq_entry *e, void *arg)
{
    struct sl_redrive *rd = arg;
    if (rd->opts.limit && rd->nitems >= rd->opts.limit)
        return 1;
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
    return 0;
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
    if (status == 0) {
        rd->res.redriven++;
        rd->entry_cb(&it->e, "redriven", "delivered and removed", rd->arg);
    } else {
        rd->res.failed++;
        rd->entry_cb(&it->e, "failed", "delivered, but the entry could not be removed", rd->arg);
    }
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
        rd->res.failed++;
        rd->entry_cb(&it->e, "failed", "delivered, but the entry could not be removed", rd->arg);
    } else {
        rd->res.failed++;
        rd->entry_cb(&it->e, "failed", o->error, rd->arg);
    }
    rd->busy = false;
    redrive_schedule(rd);
}

static void redrive_skip(struct sl_redrive *rd, struct redrive_item *it, const char *why)
{
    rd->res.skipped++;
    rd->entry_cb(&it->e, "skipped", why, rd->arg);
}

static void redrive_next(struct sl_redrive *rd)
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
            rd->res.failed++;
            rd->entry_cb(&it->e, "failed", sl_strerror(rc), rd->arg);
        }
    }
    if (!rd->busy && rd->next >= rd->nitems)
        redrive_finish(rd);
}

static void pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    redrive_next(w->data);
}

static int collect_from(struct sl_redrive *rd, const char *dlq_name, const char *mapping,
                        struct sl_err *err)
{
    struct sl_dlq *d = rd->env.dlq(rd->env.ctx, dlq_name);
    if (!d)
        return 0;
    size_t before = rd->nitems;
    struct sl_dlq_filter f = {.mapping = mapping, .id = rd->opts.id};
    int rc = d->ops->list(d, &f, collect_cb, rd, err);
    for (size_t i = before; i < rd->nitems; i++)
        rd->items[i].d = d;
    return rc;
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

    int rc = 0;
    if (opts->mapping) {
        rc = collect_from(rd, sl_mapping_dlq_name(sl_config_mapping(cfg, opts->mapping)),
                          opts->mapping, err);
    } else {
        /* Every sink once: the default one, then those the config defines. */
        rc = collect_from(rd, SL_DLQ_DEFAULT_NAME, NULL, err);
        for (size_t i = 0; rc >= 0 && i < cfg->dlqs.n; i++) {
            const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->dlqs, struct sl_cfg_typed, i);
            if (strcmp(sec->name, SL_DLQ_DEFAULT_NAME) != 0)
                rc = collect_from(rd, sec->name, NULL, err);
        }
    }
    if (rc < 0) {
        sl_redrive_destroy(rd);
        return rc;
    }
    rd->res.matched = rd->nitems;
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
    for (size_t i = 0; i < rd->nitems; i++)
        sl_dlq_entry_release(&rd->items[i].e);
    free(rd->items);
    sl_buf_release(&rd->payload);
    free(rd);
}
