/* The "alias" function target: weighted routing over other function targets. */
#include "dispatcher/alias/alias_target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "dispatcher/route.h"

#define SL_ALIAS_POOL_MAX 64
#define SL_ALIAS_KINDS    (SL_OUTCOME_FAIL + 1)

/* The buckets of sluice_alias_duration_seconds, as those of sluice_invocation_duration_seconds. */
static const double duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,   1,    2.5,   5,    10};

struct sl_alias_version {
    char *name;
    double weight;
    uint64_t invocations;
    struct sl_metric *counts[SL_ALIAS_KINDS]; /* by outcome kind; NULL without a registry */
    struct sl_metric *duration;
};

struct sl_alias_target;

/* One invocation in flight in a version; linked in the alias's list until it returns. */
struct sl_alias_call {
    struct sl_alias_target *t;
    struct sl_alias_call *prev, *next;
    size_t version;
    sl_invoke_cb cb; /* NULL once cancelled by destroy: its outcome is dropped */
    void *arg;
};

struct sl_alias_target {
    struct sl_target base;
    struct sl_alias_version versions[SL_ROUTES_MAX];
    size_t nversions;
    struct sl_router router;
    struct sl_target *(*lookup)(void *ctx, const char *name);
    void *lookup_ctx;
    struct sl_alias_call *inflight; /* list */
    size_t ninflight;
    struct sl_alias_call *pool;
    size_t npool;
    int busy;
    bool closing;
};

static void alias_free(struct sl_alias_target *t)
{
    struct sl_alias_call *c;
    while ((c = t->pool)) {
        t->pool = c->next;
        free(c);
    }
    for (size_t i = 0; i < t->nversions; i++)
        free(t->versions[i].name);
    sl_module_release(SL_MODULE(&t->base));
    free(t);
}

static void call_unlink(struct sl_alias_target *t, struct sl_alias_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        t->inflight = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    t->ninflight--;
}

static void call_recycle(struct sl_alias_target *t, struct sl_alias_call *c)
{
    if (t->closing || t->npool >= SL_ALIAS_POOL_MAX) {
        free(c);
        return;
    }
    c->cb = NULL;
    c->arg = NULL;
    c->next = t->pool;
    t->pool = c;
    t->npool++;
}

/* The version's outcome, passed on with the version named. */
static void alias_done(const struct sl_outcome *o, void *arg)
{
    struct sl_alias_call *c = arg;
    struct sl_alias_target *t = c->t;
    struct sl_alias_version *v = &t->versions[c->version];
    sl_invoke_cb cb = c->cb;
    void *cb_arg = c->arg;
    call_unlink(t, c);
    call_recycle(t, c);
    if (cb) {
        if (v->counts[o->kind])
            sl_metric_inc(v->counts[o->kind]);
        if (v->duration)
            sl_metric_observe(v->duration, (double)o->duration_ms / 1000.0);
        struct sl_outcome ao = *o; /* body and failures stay borrowed from the version */
        snprintf(ao.executed_version, sizeof(ao.executed_version), "%s", v->name);
        if (o->kind != SL_OUTCOME_OK && o->error[0])
            snprintf(ao.error, sizeof(ao.error), "%s: %s", v->name, o->error);
        t->busy++;
        cb(&ao, cb_arg);
        t->busy--;
    }
    if (t->closing && t->busy == 0 && t->ninflight == 0)
        alias_free(t);
}

static int alias_invoke(struct sl_target *base, const struct sl_invoke *inv, sl_invoke_cb cb,
                        void *arg)
{
    struct sl_alias_target *t = (struct sl_alias_target *)base;
    if (!t || !inv || !cb)
        return -EINVAL;
    if (t->closing)
        return SL_ECLOSED;
    size_t k = sl_router_pick(&t->router);
    struct sl_alias_version *v = &t->versions[k];
    struct sl_target *vt = t->lookup ? t->lookup(t->lookup_ctx, v->name) : NULL;
    if (!vt)
        return -ENOENT; /* the mapping retries later: chosen again then */
    struct sl_alias_call *c = t->pool;
    if (c) {
        t->pool = c->next;
        t->npool--;
    } else {
        c = SL_NEW(struct sl_alias_call);
        c->t = t;
    }
    c->version = k;
    c->cb = cb;
    c->arg = arg;
    c->prev = NULL;
    c->next = t->inflight;
    if (t->inflight)
        t->inflight->prev = c;
    t->inflight = c;
    t->ninflight++;
    int rc = vt->ops->invoke(vt, inv, alias_done, c);
    if (rc < 0) {
        call_unlink(t, c);
        call_recycle(t, c);
        return rc;
    }
    v->invocations++;
    return 0;
}

static size_t alias_inflight(const struct sl_target *base)
{
    const struct sl_alias_target *t = (const struct sl_alias_target *)base;
    return t ? t->ninflight : 0;
}

static void alias_describe(struct sl_target *base, struct sl_jw *w)
{
    struct sl_alias_target *t = (struct sl_alias_target *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kint(w, "inflight", (int64_t)t->ninflight);
    sl_jw_key(w, "routing");
    sl_jw_arr_open(w);
    for (size_t i = 0; i < t->nversions; i++) {
        const struct sl_alias_version *v = &t->versions[i];
        sl_jw_obj_open(w);
        sl_jw_kstr(w, "function", v->name);
        sl_route_describe_weight(w, v->weight);
        sl_jw_kint(w, "invocations", (int64_t)v->invocations);
        sl_jw_kbool(w, "running", t->lookup && t->lookup(t->lookup_ctx, v->name));
        sl_jw_obj_close(w);
    }
    sl_jw_arr_close(w);
    sl_jw_obj_close(w);
}

/* Answers every invocation in flight with RETRY "cancelled" now; the alias is freed once the
 * versions have returned them (their own destroy cancels them, see dispatcher/target.h). */
static void alias_destroy(struct sl_target *base)
{
    struct sl_alias_target *t = (struct sl_alias_target *)base;
    if (!t || t->closing)
        return;
    t->closing = true;
    t->busy++;
    for (struct sl_alias_call *c = t->inflight; c; c = c->next) {
        sl_invoke_cb cb = c->cb;
        if (!cb)
            continue;
        c->cb = NULL;
        struct sl_outcome o = {
            .kind = SL_OUTCOME_RETRY, .retry_after_ms = -1, .reached_function = true};
        snprintf(o.error, sizeof(o.error), "%s: cancelled", t->versions[c->version].name);
        cb(&o, c->arg);
    }
    t->busy--;
    if (t->ninflight == 0)
        alias_free(t);
}

bool sl_target_alias_routes_to(const struct sl_target *base, const char *name)
{
    if (!base || base->ops != &sl_target_alias_ops || !name)
        return false;
    const struct sl_alias_target *t = (const struct sl_alias_target *)base;
    for (size_t i = 0; i < t->nversions; i++) {
        if (strcmp(t->versions[i].name, name) == 0)
            return true;
    }
    return false;
}

static void version_metrics(struct sl_alias_target *t, struct sl_metrics *m)
{
    if (!m)
        return;
    struct sl_buf l;
    sl_buf_init(&l);
    for (size_t i = 0; i < t->nversions; i++) {
        struct sl_alias_version *v = &t->versions[i];
        for (int k = 0; k < SL_ALIAS_KINDS; k++) {
            sl_buf_reset(&l);
            sl_metrics_label(&l, "function", t->base.name);
            sl_metrics_label(&l, "version", v->name);
            sl_metrics_label(&l, "outcome", sl_outcome_kind_name((enum sl_outcome_kind)k));
            v->counts[k] =
                sl_metrics_counter(m, "sluice_alias_invocations_total",
                                   "Invocations of an alias by version and outcome", l.data);
        }
        sl_buf_reset(&l);
        sl_metrics_label(&l, "function", t->base.name);
        sl_metrics_label(&l, "version", v->name);
        v->duration = sl_metrics_histogram(
            m, "sluice_alias_duration_seconds", "Duration of an alias's invocations by version",
            l.data, duration_bounds, sizeof(duration_bounds) / sizeof(duration_bounds[0]));
    }
    sl_buf_release(&l);
}

int sl_target_alias_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                           struct sl_target **out, struct sl_err *err)
{
    const struct sl_config *cfg = env ? env->cfg : NULL;
    *out = NULL;
    if (!sec || !sec->name)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "alias target: no config section");
    struct sl_alias_target_conf conf;
    memset(&conf, 0, sizeof(conf));
    int rc = sl_config_bind_typed(cfg, sec, &sl_alias_target_props, &conf, err);
    if (rc < 0)
        return rc;
    char where[512];
    snprintf(where, sizeof(where), "%s: %s.", cfg && cfg->file ? cfg->file : "config",
             sec->path ? sec->path : "functions[]");
    rc = sl_alias_target_conf_check(&conf, cfg, sec->name, where, err);
    if (rc < 0) {
        sl_props_release(&sl_alias_target_props, &conf);
        return rc;
    }
    struct sl_alias_target *t = SL_NEW(struct sl_alias_target);
    sl_module_init(SL_MODULE(&t->base), &sl_target_alias_ops, "function", sl_target_alias_ops.type,
                   sec->name);
    double weights[SL_ROUTES_MAX];
    for (size_t i = 0; i < conf.routing.n; i++) {
        const struct sl_alias_version_conf *vc =
            SL_OBJLIST_AT(conf.routing, struct sl_alias_version_conf, i);
        t->versions[i].name = sl_strdup(vc->function);
        t->versions[i].weight = weights[i] = vc->weight;
    }
    t->nversions = conf.routing.n;
    sl_props_release(&sl_alias_target_props, &conf);
    sl_router_init(&t->router, weights, t->nversions, sl_router_seed(t));
    t->lookup = env->function;
    t->lookup_ctx = env->function_ctx;
    version_metrics(t, env->metrics);
    *out = &t->base;
    return 0;
}

const struct sl_target_ops sl_target_alias_ops = {
    .type = "alias",
    .props = &sl_alias_target_props,
    .create = sl_target_alias_create,
    .invoke = alias_invoke,
    .inflight = alias_inflight,
    .describe = alias_describe,
    .destroy = alias_destroy,
};
