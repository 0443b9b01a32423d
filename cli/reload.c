/* Reloading the configuration: validate, compare with what runs, drain what goes, start what
 * comes (cli/reload.h). */
#include "cli/reload.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/esm.h"
#include "cli/mapstate.h"
#include "cli/readers.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/notify.h"
#include "core/time.h"
#include "dispatcher/alias/alias_target.h"

static const char scope[] = "reload";

struct sl_reload {
    struct sl_app *app;
    struct sl_config *next; /* the new configuration, validated */
    sl_reload_done_cb cb;
    void *arg;
    /* What goes (drained, then closed and freed), as pointers into the app's arrays. */
    struct sl_mapping **maps;
    bool *removed; /* maps[i] has no successor of its name: its metrics go too */
    size_t nmaps;
    struct sl_source **srcs;
    size_t nsrcs;
    struct sl_target **tgts;
    size_t ntgts;
    struct sl_dlq **dlqs;
    size_t ndlqs;
    size_t draining;   /* of maps, not drained yet */
    bool deleting;     /* drained: waiting for the spool deletes of their acks */
    uint64_t del_mark; /* sl_spool_delete_mark */
    int64_t deadline_ms;
    bool late; /* the drain outlasted drain_timeout (logged once) */
    ev_timer step;
    ev_timer deadline;
    json_t *changes; /* [{kind, name, change, key}] */
    json_t *lines;   /* their log lines, written once the reload goes ahead */
    json_t *errors;  /* ["..."]: what could not be built */
};

/* ---- lookups ------------------------------------------------------------------------------ */

/* Index of the module named `name` in an array of sources, targets or sinks, or -1. */
static long module_index(void *const *arr, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++) {
        if (strcmp(SL_MODULE(arr[i])->name, name) == 0)
            return (long)i;
    }
    return -1;
}

static void *module_find(void *const *arr, size_t n, const char *name)
{
    long i = module_index(arr, n, name);
    return i < 0 ? NULL : arr[i];
}

static bool ptr_in(void *const *arr, size_t n, const void *p)
{
    for (size_t i = 0; i < n; i++) {
        if (arr[i] == p)
            return true;
    }
    return false;
}

static struct sl_mapping *mapping_find(struct sl_app *app, const char *name)
{
    for (size_t i = 0; i < app->nmappings; i++) {
        if (strcmp(sl_mapping_name(app->mappings[i]), name) == 0)
            return app->mappings[i];
    }
    return NULL;
}

/* Removes p from an array of pointers, keeping the order. */
static void ptr_remove(void **arr, size_t *n, const void *p)
{
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] != p)
            arr[k++] = arr[i];
    }
    *n = k;
}

/* Whether source instance s is still one next has (cli/readers.h): a reader of a mapping that
 * still reads it alongside others, or the one instance of a source read by at most one mapping
 * with the same reader keys. */
static bool reader_kept(const struct sl_config *cur, const struct sl_config *next,
                        const struct sl_source *s)
{
    if (!s->ops->group_key)
        return true;
    if (!s->reader)
        return sl_readers_count(next, s->name) <= 1 && sl_readers_same(cur, next, s->name);
    const struct sl_cfg_mapping *mc = sl_config_mapping(next, s->reader);
    const char *r =
        mc && mc->source && strcmp(mc->source, s->name) == 0 ? sl_readers_name(next, mc) : NULL;
    return r && strcmp(r, s->reader) == 0;
}

/* "orders", or "orders/<mapping>" for one of several readers. */
static const char *source_label(const struct sl_source *s, char *buf, size_t cap)
{
    if (!s->reader)
        return s->name;
    snprintf(buf, cap, "%s/%s", s->name, s->reader);
    return buf;
}

static const char *mapping_dlq_name(const struct sl_cfg_mapping *mc)
{
    return mc->dlq ? mc->dlq : SL_DLQ_DEFAULT_NAME;
}

/* ---- the outcome -------------------------------------------------------------------------- */

static void note(struct sl_reload *rl, const char *kind, const char *name, const char *change,
                 const char *key, const char *what)
{
    json_t *c = json_pack("{s:s, s:s, s:s}", "kind", kind, "name", name, "change", change);
    if (key && *key)
        json_object_set_new(c, "key", json_string(key));
    json_array_append_new(rl->changes, c);
    char line[512];
    snprintf(line, sizeof(line), "%s %s %s%s%s%s%s", kind, name, change, key && *key ? " (" : "",
             key && *key ? key : "", key && *key ? ")" : "", what ? what : "");
    json_array_append_new(rl->lines, json_string(line));
}

static void answer(sl_reload_done_cb cb, void *arg, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (cb)
        cb(status, text ? text : "{}", text ? strlen(text) : 2, arg);
    free(text);
    json_decref(body);
}

/* The key path an error message names: "file:12: mappings[0].batch.size: ..." gives
 * "mappings[0].batch.size"; "" when it names none. */
static void error_key(const char *msg, const char *file, char *out, size_t cap)
{
    out[0] = '\0';
    size_t flen = file ? strlen(file) : 0;
    if (!file || strncmp(msg, file, flen) != 0)
        return;
    const char *p = msg + flen;
    if (*p == ':' && p[1] >= '0' && p[1] <= '9') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strncmp(p, ": ", 2) != 0)
        return;
    p += 2;
    const char *end = strstr(p, ": ");
    if (!end || (size_t)(end - p) >= cap || end == p)
        return;
    for (const char *c = p; c < end; c++) {
        if (*c == ' ')
            return;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
}

static void refuse(struct sl_app *app, sl_reload_done_cb cb, void *arg, int status,
                   const char *error, const char *msg, const char *key)
{
    sl_error(scope, "refused, nothing changed: %s", msg);
    json_t *body = json_pack("{s:s, s:s}", "error", error, "message", msg);
    if (key && *key)
        json_object_set_new(body, "key", json_string(key));
    answer(cb, arg, status, body);
    int rc = sl_notify("READY=1");
    if (rc < 0)
        sl_warn(scope, "cannot send READY=1 to $NOTIFY_SOCKET: %s", sl_strerror(rc));
    (void)app;
}

/* ---- comparing ---------------------------------------------------------------------------- */

static const struct sl_prop *root_row(const char *name)
{
    const struct sl_prop_table *t = &sl_config_root_table;
    for (size_t i = 0; i < t->nprops; i++) {
        if (strcmp(t->props[i].name, name) == 0)
            return &t->props[i];
    }
    return NULL;
}

/* The first key of the sections that cannot change while running that the new file changes:
 * the log, the listeners (their sockets are bound once) and the store (owned and locked). */
static bool fixed_changed(const struct sl_config *a, const struct sl_config *b, char *key,
                          size_t cap)
{
    static const char *const fixed[] = {"log", "server", "admin", "store"};
    for (size_t i = 0; i < SL_ARRAY_LEN(fixed); i++) {
        const struct sl_prop *p = root_row(fixed[i]);
        if (p && !sl_prop_equal(p, a, b, "", key, cap))
            return true;
    }
    return false;
}

/* Whether two typed sections hold the same values, bound by the module's table (so "1s" is
 * "1000ms"); key gets the first key that differs. */
static bool typed_equal(const struct sl_config *ca, const struct sl_cfg_typed *a,
                        const struct sl_config *cb, const struct sl_cfg_typed *b,
                        const struct sl_prop_table *t, char *key, size_t cap)
{
    if (strcmp(a->type, b->type) != 0) {
        snprintf(key, cap, "%s.type", b->path);
        return false;
    }
    bool eq;
    if (!t || t->struct_size == 0) {
        eq = json_equal(a->raw, b->raw);
        snprintf(key, cap, "%s", eq ? "" : b->path);
        return eq;
    }
    void *x = sl_calloc(1, t->struct_size), *y = sl_calloc(1, t->struct_size);
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_config_bind_typed(ca, a, t, x, &err) < 0 ||
        sl_config_bind_typed(cb, b, t, y, &err) < 0) {
        eq = json_equal(a->raw, b->raw);
        snprintf(key, cap, "%s", eq ? "" : b->path);
    } else {
        eq = sl_props_equal(t, x, y, b->path, key, cap);
    }
    sl_props_release(t, x);
    sl_props_release(t, y);
    free(x);
    free(y);
    return eq;
}

static const struct sl_prop_table *mappings_table(void)
{
    const struct sl_prop *p = root_row("mappings");
    return p ? p->sub : NULL;
}

/* Decides what goes and notes every change. Returns the number of changes. */
static size_t plan(struct sl_reload *rl)
{
    struct sl_app *app = rl->app;
    const struct sl_config *cur = &app->cfg, *next = rl->next;
    char key[256];
    rl->srcs = sl_calloc(app->nsources + 1, sizeof(*rl->srcs));
    rl->tgts = sl_calloc(app->ntargets + 1, sizeof(*rl->tgts));
    rl->dlqs = sl_calloc(app->ndlqs + 1, sizeof(*rl->dlqs));
    rl->maps = sl_calloc(app->nmappings + 1, sizeof(*rl->maps));
    rl->removed = sl_calloc(app->nmappings + 1, sizeof(*rl->removed));

    for (size_t i = 0; i < app->nsources; i++) {
        struct sl_source *s = app->sources[i];
        const struct sl_cfg_typed *o = sl_config_find(&cur->sources, s->name);
        const struct sl_cfg_typed *n = sl_config_find(&next->sources, s->name);
        const struct sl_source_ops *ops = n ? sl_source_find_type(n->type) : NULL;
        char label[256];
        const char *name = source_label(s, label, sizeof(label));
        if (!n)
            note(rl, "source", name, "removed", NULL, NULL);
        else if (!o || !typed_equal(cur, o, next, n, ops ? ops->props : NULL, key, sizeof(key)))
            note(rl, "source", name, "changed", o ? key : NULL, NULL);
        else if (!reader_kept(cur, next, s))
            note(rl, "source", name, "changed", NULL,
                 ": the mappings that read it changed; its readers are made again");
        else
            continue;
        rl->srcs[rl->nsrcs++] = s;
    }
    for (size_t i = 0; i < app->ntargets; i++) {
        struct sl_target *t = app->targets[i];
        const struct sl_cfg_typed *o = sl_config_find(&cur->functions, t->name);
        const struct sl_cfg_typed *n = sl_config_find(&next->functions, t->name);
        const struct sl_target_ops *ops = n ? sl_target_find_type(n->type) : NULL;
        if (!n)
            note(rl, "function", t->name, "removed", NULL, NULL);
        else if (!o || !typed_equal(cur, o, next, n, ops ? ops->props : NULL, key, sizeof(key)))
            note(rl, "function", t->name, "changed", o ? key : NULL, NULL);
        else
            continue;
        rl->tgts[rl->ntgts++] = t;
    }
    /* An alias whose version is rebuilt is rebuilt too: its mappings drain what runs in the old
     * version first. */
    for (size_t i = 0, n = rl->ntgts; i < app->ntargets; i++) {
        struct sl_target *t = app->targets[i];
        for (size_t j = 0; j < n && !ptr_in((void *const *)rl->tgts, rl->ntgts, t); j++) {
            if (sl_target_alias_routes_to(t, rl->tgts[j]->name)) {
                note(rl, "function", t->name, "restarted", NULL, ": a version of it changed");
                rl->tgts[rl->ntgts++] = t;
            }
        }
    }
    for (size_t i = 0; i < app->ndlqs; i++) {
        struct sl_dlq *d = app->dlqs[i];
        const struct sl_cfg_typed *o = sl_config_find(&cur->dlqs, d->name);
        const struct sl_cfg_typed *n = sl_config_find(&next->dlqs, d->name);
        const struct sl_dlq_ops *ops = n ? sl_dlq_find_type(n->type) : NULL;
        if (!o && !n)
            continue; /* the built-in default */
        if (!n)
            note(rl, "dlq", d->name, "removed", NULL, NULL);
        else if (!o || !typed_equal(cur, o, next, n, ops ? ops->props : NULL, key, sizeof(key)))
            note(rl, "dlq", d->name, "changed", o ? key : NULL, NULL);
        else
            continue;
        rl->dlqs[rl->ndlqs++] = d;
    }
    const struct sl_prop_table *mt = mappings_table();
    for (size_t i = 0; i < app->nmappings; i++) {
        struct sl_mapping *m = app->mappings[i];
        const struct sl_cfg_mapping *o = sl_mapping_config(m);
        const struct sl_cfg_mapping *n = sl_config_mapping(next, o->name);
        void *s = sl_readers_find(app->sources, app->nsources, cur, o);
        void *t = module_find((void *const *)app->targets, app->ntargets, o->function);
        void *d = module_find((void *const *)app->dlqs, app->ndlqs, mapping_dlq_name(o));
        char why[160];
        if (!n) {
            rl->removed[rl->nmaps] = true;
            note(rl, "mapping", o->name, "removed", NULL,
                 ": draining it; its source keeps its position");
        } else if (!sl_props_equal(mt, o, n, n->path, key, sizeof(key))) {
            note(rl, "mapping", o->name, "changed", key, ": draining it, then starting it again");
        } else if (ptr_in((void *const *)rl->srcs, rl->nsrcs, s) ||
                   ptr_in((void *const *)rl->tgts, rl->ntgts, t) ||
                   ptr_in((void *const *)rl->dlqs, rl->ndlqs, d)) {
            const char *what = ptr_in((void *const *)rl->srcs, rl->nsrcs, s)   ? "source"
                               : ptr_in((void *const *)rl->tgts, rl->ntgts, t) ? "function"
                                                                               : "dlq";
            snprintf(why, sizeof(why), ": its %s changed; draining it, then starting it again",
                     what);
            note(rl, "mapping", o->name, "restarted", NULL, why);
        } else {
            continue;
        }
        rl->maps[rl->nmaps++] = m;
        /* The drain stops its source: it is built again too. */
        if (s && !ptr_in((void *const *)rl->srcs, rl->nsrcs, s))
            rl->srcs[rl->nsrcs++] = s;
    }
    /* A push source gives its mappings their handles before it starts: one that gains or loses
     * a mapping is built again, and every mapping reading a source built again restarts. */
    for (size_t i = 0; i < next->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(next->mappings, struct sl_cfg_mapping, i);
        struct sl_source *s = module_find((void *const *)app->sources, app->nsources, mc->source);
        struct sl_mapping *m = mapping_find(app, mc->name);
        bool reads_it = m && mc->source && strcmp(sl_mapping_config(m)->source, mc->source) == 0;
        if (s && s->push && !reads_it && !ptr_in((void *const *)rl->srcs, rl->nsrcs, s)) {
            note(rl, "source", s->name, "restarted", NULL, ": a mapping reads it now");
            rl->srcs[rl->nsrcs++] = s;
        }
    }
    for (size_t i = 0; i < app->nmappings; i++) {
        struct sl_mapping *m = app->mappings[i];
        const struct sl_cfg_mapping *o = sl_mapping_config(m);
        void *s = module_find((void *const *)app->sources, app->nsources, o->source);
        if (!s || !ptr_in((void *const *)rl->srcs, rl->nsrcs, s) ||
            ptr_in((void *const *)rl->maps, rl->nmaps, m))
            continue;
        note(rl, "mapping", o->name, "restarted", NULL,
             ": its source is built again; draining it, then starting it again");
        rl->maps[rl->nmaps++] = m;
    }
    /* Added: what the new file names and nothing runs under that name. */
    for (size_t i = 0; i < next->sources.n; i++) {
        const char *name = SL_OBJLIST_AT(next->sources, struct sl_cfg_typed, i)->name;
        if (module_index((void *const *)app->sources, app->nsources, name) < 0)
            note(rl, "source", name, "added", NULL, NULL);
    }
    for (size_t i = 0; i < next->functions.n; i++) {
        const char *name = SL_OBJLIST_AT(next->functions, struct sl_cfg_typed, i)->name;
        if (module_index((void *const *)app->targets, app->ntargets, name) < 0)
            note(rl, "function", name, "added", NULL, NULL);
    }
    for (size_t i = 0; i < next->dlqs.n; i++) {
        const char *name = SL_OBJLIST_AT(next->dlqs, struct sl_cfg_typed, i)->name;
        if (module_index((void *const *)app->dlqs, app->ndlqs, name) < 0)
            note(rl, "dlq", name, "added", NULL, NULL);
    }
    for (size_t i = 0; i < next->mappings.n; i++) {
        const char *name = SL_OBJLIST_AT(next->mappings, struct sl_cfg_mapping, i)->name;
        if (!mapping_find(app, name))
            note(rl, "mapping", name, "added", NULL, NULL);
    }
    const struct sl_prop *sd = root_row("shutdown");
    if (sd && !sl_prop_equal(sd, cur, next, "", key, sizeof(key)))
        note(rl, "setting", key, "changed", key, NULL);
    return json_array_size(rl->changes);
}

/* ---- applying ----------------------------------------------------------------------------- */

static void reload_free(struct sl_reload *rl)
{
    struct sl_app *app = rl->app;
    ev_timer_stop(app->loop, &rl->step);
    ev_timer_stop(app->loop, &rl->deadline);
    if (rl->next) {
        sl_config_release(rl->next);
        free(rl->next);
    }
    free(rl->maps);
    free(rl->removed);
    free(rl->srcs);
    free(rl->tgts);
    free(rl->dlqs);
    json_decref(rl->changes);
    json_decref(rl->lines);
    json_decref(rl->errors);
    if (app->reload == rl)
        app->reload = NULL;
    free(rl);
}

static void apply_error(struct sl_reload *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void apply_error(struct sl_reload *rl, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_error(scope, "%s", msg);
    json_array_append_new(rl->errors, json_string(msg));
}

/* What a close step returned: a step left running on a helper thread keeps what it uses. */
static bool closed_cleanly(int rc)
{
    return rc != -EINPROGRESS && rc != SL_CLOSE_LEFT_RUNNING;
}

/* Every mapping that goes is drained: close and free them and what goes with them. */
static void take_down(struct sl_reload *rl)
{
    struct sl_app *app = rl->app;
    int64_t now = sl_mono_ms();
    int64_t deadline =
        rl->deadline_ms > now + SL_SHUTDOWN_CLOSE_MS ? rl->deadline_ms : now + SL_SHUTDOWN_CLOSE_MS;
    for (size_t i = 0; i < rl->nmaps; i++) {
        struct sl_mapping *m = rl->maps[i];
        const struct sl_cfg_mapping *mc = sl_mapping_config(m);
        struct sl_dlq *d = module_find((void *const *)app->dlqs, app->ndlqs, mapping_dlq_name(mc));
        if (d && d->writers > 0)
            d->writers--;
        sl_mapping_halt(m);
        /* Its gauges read the mapping; a mapping of the same name gets its counters back. */
        sl_metrics_forget(app->metrics, m);
        if (rl->removed[i]) {
            struct sl_buf l;
            sl_buf_init(&l);
            sl_metrics_label(&l, "mapping", mc->name);
            sl_metrics_remove(app->metrics, l.data);
            sl_buf_release(&l);
        }
        ptr_remove((void **)app->mappings, &app->nmappings, m);
        sl_mapping_destroy(m);
    }
    /* A DLQ read on the worker (a listing, a show) may use any sink: none is closed under it. */
    bool reading = sl_worker_pending(app->worker) > 0;
    for (size_t i = 0; i < rl->ndlqs; i++) {
        struct sl_dlq *d = rl->dlqs[i];
        ptr_remove((void **)app->dlqs, &app->ndlqs, d);
        if (reading) {
            app->retired_dlqs = sl_realloc(app->retired_dlqs,
                                           (app->nretired_dlqs + 1) * sizeof(*app->retired_dlqs));
            app->retired_dlqs[app->nretired_dlqs++] = d;
            sl_info(scope, "dlq %s: a DLQ read is under way: closed when sluice stops", d->name);
            continue;
        }
        int rc = d->ops->close ? d->ops->close(d, deadline) : 0;
        if (rc < 0 && closed_cleanly(rc))
            sl_warn(scope, "dlq %s: closed before its last writes were confirmed: %s", d->name,
                    sl_strerror(rc));
        if (closed_cleanly(rc))
            d->ops->destroy(d);
        else
            sl_warn(scope, "dlq %s: a close step still runs; its memory is kept", d->name);
    }
    for (size_t i = 0; i < rl->ntgts; i++) {
        ptr_remove((void **)app->targets, &app->ntargets, rl->tgts[i]);
        rl->tgts[i]->ops->destroy(rl->tgts[i]);
    }
    for (size_t i = 0; i < rl->nsrcs; i++) {
        struct sl_source *s = rl->srcs[i];
        ptr_remove((void **)app->sources, &app->nsources, s);
        /* Last commits, leaving its consumer group before the new one joins. */
        int rc = s->ops->close ? s->ops->close(s, deadline) : 0;
        if (rc < 0 && closed_cleanly(rc))
            sl_warn(scope,
                    "source %s: closed before its last commits were confirmed (%s): records "
                    "handled since are delivered again",
                    s->scope, sl_strerror(rc));
        if (closed_cleanly(rc))
            s->ops->destroy(s);
        else
            sl_warn(scope, "source %s: a close step still runs; its memory is kept", s->scope);
    }
}

/* The new file becomes the running configuration; the old one stays: objects that did not
 * change borrow it (mappings their sections, the log its instance name). */
static void swap_config(struct sl_reload *rl)
{
    struct sl_app *app = rl->app;
    struct sl_config *old = sl_memdup(&app->cfg, sizeof(app->cfg));
    app->retired = sl_realloc(app->retired, (app->nretired + 1) * sizeof(*app->retired));
    app->retired[app->nretired++] = old;
    app->cfg = *rl->next;
    free(rl->next);
    rl->next = NULL;
}

/* Builds and starts what the new file has and nothing runs for. */
static void bring_up(struct sl_reload *rl)
{
    struct sl_app *app = rl->app;
    const struct sl_config *cfg = &app->cfg;
    struct sl_env env = sl_app_env(app);
    struct sl_err err;
    app->sources = sl_realloc(app->sources, (app->nsources + cfg->sources.n + cfg->mappings.n + 1) *
                                                sizeof(void *));
    for (size_t i = 0; i < cfg->sources.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->sources, struct sl_cfg_typed, i);
        const struct sl_source_ops *ops = sl_source_find_type(sec->type);
        /* A reader per mapping (cli/readers.h): those the running ones lack. */
        for (size_t k = 0; ops && ops->group_key && k < cfg->mappings.n; k++) {
            const struct sl_cfg_mapping *mc =
                SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, k);
            if (!mc->source || strcmp(mc->source, sec->name) != 0 ||
                sl_readers_find(app->sources, app->nsources, cfg, mc))
                continue;
            sl_err_clear(&err);
            if (sl_readers_create(&env, ops, sec, mc, &app->sources[app->nsources], &err) < 0)
                apply_error(rl, "source %s: cannot create the reader of mapping %s: %s", sec->name,
                            mc->name, err.msg);
            else
                app->nsources++;
        }
        if (module_index((void *const *)app->sources, app->nsources, sec->name) >= 0 ||
            (ops && ops->group_key && sl_readers_count(cfg, sec->name) > 0))
            continue;
        sl_err_clear(&err);
        if (!ops || ops->create(&env, sec, &app->sources[app->nsources], &err) < 0)
            apply_error(rl, "source %s: cannot create it: %s", sec->name, err.msg);
        else
            app->nsources++;
    }
    app->targets =
        sl_realloc(app->targets, (app->ntargets + cfg->functions.n + 1) * sizeof(void *));
    for (size_t i = 0; i < cfg->functions.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->functions, struct sl_cfg_typed, i);
        if (module_index((void *const *)app->targets, app->ntargets, sec->name) >= 0)
            continue;
        const struct sl_target_ops *ops = sl_target_find_type(sec->type);
        sl_err_clear(&err);
        if (!ops || ops->create(&env, sec, &app->targets[app->ntargets], &err) < 0)
            apply_error(rl, "function %s: cannot create it: %s", sec->name, err.msg);
        else
            app->ntargets++;
    }
    app->dlqs = sl_realloc(app->dlqs, (app->ndlqs + cfg->dlqs.n + 1) * sizeof(void *));
    for (size_t i = 0; i < cfg->dlqs.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->dlqs, struct sl_cfg_typed, i);
        if (module_index((void *const *)app->dlqs, app->ndlqs, sec->name) >= 0)
            continue;
        const struct sl_dlq_ops *ops = sl_dlq_find_type(sec->type);
        struct sl_dlq *d = NULL;
        sl_err_clear(&err);
        if (!ops || ops->create(&env, sec, &d, &err) < 0) {
            apply_error(rl, "dlq %s: cannot create it: %s", sec->name, err.msg);
            continue;
        }
        if (d->ops->open(d, &err) < 0) {
            apply_error(rl, "dlq %s: cannot open it: %s", sec->name, err.msg);
            d->ops->destroy(d);
            continue;
        }
        app->dlqs[app->ndlqs++] = d;
    }
    app->mappings =
        sl_realloc(app->mappings, (app->nmappings + cfg->mappings.n + 1) * sizeof(void *));
    struct sl_mapping_env menv = {.loop = app->loop, .metrics = app->metrics};
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (mapping_find(app, mc->name))
            continue;
        struct sl_source *s = sl_readers_find(app->sources, app->nsources, cfg, mc);
        struct sl_target *t = module_find((void *const *)app->targets, app->ntargets, mc->function);
        struct sl_dlq *d = module_find((void *const *)app->dlqs, app->ndlqs, mapping_dlq_name(mc));
        if (!s || !t || !d) {
            apply_error(rl, "mapping %s: not started: its %s could not be built", mc->name,
                        !s   ? "source"
                        : !t ? "function"
                             : "dlq");
            continue;
        }
        struct sl_mapping *m = NULL;
        sl_err_clear(&err);
        if (sl_mapping_create(&menv, mc, sl_app_source_for(cfg, s, mc), t, d, &m, &err) < 0) {
            apply_error(rl, "mapping %s: cannot create it: %s", mc->name, err.msg);
            continue;
        }
        app->mappings[app->nmappings++] = m;
        /* As at start: the state an operator kept for it, while the config's `enabled` is what
         * it was then. */
        sl_mapstate_apply(app->store, mc, m);
        sl_err_clear(&err);
        if (sl_mapping_start(m, &err) < 0)
            apply_error(rl, "mapping %s: cannot start it: %s", mc->name, err.msg);
    }
}

static void finish(struct sl_reload *rl)
{
    struct sl_app *app = rl->app;
    take_down(rl);
    swap_config(rl);
    bring_up(rl);
    size_t nerr = json_array_size(rl->errors);
    if (nerr)
        sl_error(scope, "applied with %zu errors (%zu changes); %zu mappings running", nerr,
                 json_array_size(rl->changes), app->nmappings);
    else
        sl_info(scope, "applied (%zu changes); %zu mappings running", json_array_size(rl->changes),
                app->nmappings);
    json_t *body = json_pack("{s:s, s:O}", "status", nerr ? "applied_with_errors" : "reloaded",
                             "changes", rl->changes);
    if (nerr)
        json_object_set(body, "errors", rl->errors);
    sl_reload_done_cb cb = rl->cb;
    void *arg = rl->arg;
    reload_free(rl);
    int rc = sl_notify("READY=1");
    if (rc < 0)
        sl_warn(scope, "cannot send READY=1 to $NOTIFY_SOCKET: %s", sl_strerror(rc));
    answer(cb, arg, nerr ? 500 : 200, body);
    sl_esm_after_reload(app);
}

/* Steps run from the loop, never from inside a mapping's callback. */
static void step_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_reload *rl = w->data;
    if (rl->draining > 0)
        return;
    if (!rl->deleting) {
        /* The acks of what drained delete spool rows: a hook built again reads what is left. */
        rl->deleting = true;
        rl->del_mark = sl_spool_delete_mark(rl->app->spool);
    }
    if (!sl_spool_deleted(rl->app->spool, rl->del_mark))
        return;
    finish(rl);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_reload *rl = w->data;
    size_t left = 0;
    for (size_t i = 0; i < rl->nmaps; i++)
        left += sl_mapping_inflight(rl->maps[i]);
    rl->late = true;
    sl_warn(scope,
            "the mappings it replaces still hold %zu records after shutdown.drain_timeout "
            "(%lld ms): waiting for them to finish",
            left, (long long)rl->app->cfg.drain_timeout_ms);
}

static void drained_cb(struct sl_mapping *m, void *arg)
{
    struct sl_reload *rl = arg;
    sl_info(scope, "mapping %s drained", sl_mapping_name(m));
    if (rl->draining > 0)
        rl->draining--;
}

/* Applies a validated configuration (owned from here): drain what changed or went, then start
 * what is new. */
static void reload_apply(struct sl_app *app, struct sl_config *next, sl_reload_done_cb cb,
                         void *arg)
{
    char key[256];
    int rc;
    if (fixed_changed(&app->cfg, next, key, sizeof(key))) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s cannot change while running: restart to apply", key);
        sl_config_release(next);
        free(next);
        refuse(app, cb, arg, 400, "restart_required", msg, key);
        return;
    }
    struct sl_reload *rl = SL_NEW(struct sl_reload);
    rl->app = app;
    rl->next = next;
    rl->cb = cb;
    rl->arg = arg;
    rl->changes = json_array();
    rl->lines = json_array();
    rl->errors = json_array();
    ev_timer_init(&rl->step, step_cb, 0., 0.005);
    rl->step.data = rl;
    ev_timer_init(&rl->deadline, deadline_cb, (double)app->cfg.drain_timeout_ms / 1000.0, 0.);
    rl->deadline.data = rl;
    if (plan(rl) == 0) {
        sl_info(scope, "no changes");
        reload_free(rl);
        answer(cb, arg, 200, json_pack("{s:s, s:[]}", "status", "unchanged", "changes"));
        rc = sl_notify("READY=1");
        if (rc < 0)
            sl_warn(scope, "cannot send READY=1 to $NOTIFY_SOCKET: %s", sl_strerror(rc));
        sl_esm_after_reload(app);
        return;
    }
    /* A DLQ purge or redrive uses the functions and sinks it found at its start. */
    bool tasks = false;
    for (size_t i = 0; i < SL_DLQ_TASKS_MAX; i++)
        tasks = tasks || (app->dlq_tasks.slots[i].seq && app->dlq_tasks.slots[i].running);
    if (tasks && (rl->ntgts || rl->ndlqs)) {
        reload_free(rl);
        refuse(app, cb, arg, 409, "dlq_task_running",
               "a DLQ redrive or purge is running and the new file changes a function or a DLQ: "
               "reload once it has finished",
               NULL);
        return;
    }
    size_t i;
    json_t *line;
    json_array_foreach(rl->lines, i, line) sl_info(scope, "%s", json_string_value(line));
    app->reload = rl;
    rl->deadline_ms = sl_mono_ms() + app->cfg.drain_timeout_ms;
    ev_timer_start(app->loop, &rl->deadline);
    rl->draining = rl->nmaps;
    for (i = 0; i < rl->nmaps; i++)
        sl_mapping_drain(rl->maps[i], drained_cb, rl);
    ev_timer_start(app->loop, &rl->step);
}

void sl_reload_mappings(struct sl_app *app, sl_reload_done_cb cb, void *arg)
{
    if (app->state != SL_APP_RUNNING) {
        answer(cb, arg, 503,
               json_pack("{s:s, s:s}", "error", "shutting_down", "message", "sluice is stopping"));
        return;
    }
    if (app->reload) {
        answer(cb, arg, 409,
               json_pack("{s:s, s:s}", "error", "reload_in_progress", "message",
                         "a reload is being applied; try again once it has finished"));
        return;
    }
    struct sl_config *next = SL_NEW(struct sl_config);
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_config_copy(&app->cfg, next, &err) < 0 || sl_esm_merge(app, next, true, &err) < 0) {
        sl_config_release(next);
        free(next);
        refuse(app, cb, arg, 400, "invalid_config", err.msg, NULL);
        return;
    }
    sl_info(scope, "applying a change of the event source mappings API");
    reload_apply(app, next, cb, arg);
}

void sl_reload_start(struct sl_app *app, sl_reload_done_cb cb, void *arg)
{
    if (app->state != SL_APP_RUNNING) {
        answer(cb, arg, 503,
               json_pack("{s:s, s:s}", "error", "shutting_down", "message", "sluice is stopping"));
        return;
    }
    if (app->reload) {
        sl_warn(scope, "refused: a reload is being applied");
        answer(cb, arg, 409,
               json_pack("{s:s, s:s}", "error", "reload_in_progress", "message",
                         "a reload is being applied; try again once it has finished"));
        return;
    }
    const char *file = app->cfg.file;
    sl_info(scope, "reading %s", file ? file : "(no file)");
    /* systemd's Type=notify-reload wants the monotonic time of the reload's start with it. */
    char state[64];
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%lld",
             (long long)sl_mono_ms() * 1000LL);
    int rc = sl_notify(state);
    if (rc < 0)
        sl_warn(scope, "cannot send RELOADING=1 to $NOTIFY_SOCKET: %s", sl_strerror(rc));
    /* Validate as `sluice validate` does: every section bound and built, nothing opened. */
    struct sl_app *probe = SL_NEW(struct sl_app);
    struct sl_err err;
    sl_err_clear(&err);
    rc = sl_app_init(probe, file, SL_APP_VALIDATE, &err);
    struct sl_config *next = NULL;
    if (rc == 0) {
        next = sl_memdup(&probe->cfg, sizeof(probe->cfg));
        memset(&probe->cfg, 0, sizeof(probe->cfg));
    }
    sl_app_release(probe);
    free(probe);
    char key[256];
    if (rc < 0) {
        error_key(err.msg, file, key, sizeof(key));
        refuse(app, cb, arg, 400, "invalid_config", err.msg, key);
        return;
    }
    /* The mappings made through the ESM API run on with the file's (cli/esm.h). */
    sl_err_clear(&err);
    if (sl_esm_merge(app, next, true, &err) < 0) {
        sl_config_release(next);
        free(next);
        refuse(app, cb, arg, 400, "invalid_config", err.msg, NULL);
        return;
    }
    reload_apply(app, next, cb, arg);
}

static void http_done_cb(int status, const char *body, size_t len, void *arg)
{
    sl_http_respond_json(arg, status, body, len);
}

void sl_reload_http(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    sl_info(scope, "asked by the admin API (POST /v1/reload)");
    sl_reload_start(arg, http_done_cb, x);
}

bool sl_reload_running(const struct sl_app *app)
{
    return app->reload != NULL;
}

void sl_reload_abort(struct sl_app *app)
{
    struct sl_reload *rl = app->reload;
    if (!rl)
        return;
    sl_warn(scope, "stopping: the reload ends here; the mappings it was draining drain with "
                   "the others");
    sl_reload_done_cb cb = rl->cb;
    void *arg = rl->arg;
    reload_free(rl);
    answer(cb, arg, 503,
           json_pack("{s:s, s:s}", "error", "shutting_down", "message",
                     "sluice is stopping: the reload was not finished"));
}

void sl_reload_release(struct sl_app *app)
{
    for (size_t i = 0; i < app->nretired; i++) {
        sl_config_release(app->retired[i]);
        free(app->retired[i]);
    }
    free(app->retired);
    app->retired = NULL;
    app->nretired = 0;
}
