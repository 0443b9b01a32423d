#include "cli/app.h"
#include "cli/esm.h"
#include "cli/mapstate.h"
#include "cli/readers.h"
#include "cli/reload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/notify.h"
#include "core/time.h"
#include "dlq/sqlite/sqlite.h"
#include "mappings/filter.h"
#include "mappings/redrive.h"
#include "sources/http/dedupe.h"
#include "sources/http/webhook.h"
#include "sources/push_reader.h"
#include "sources/spool.h"

static const char app_scope[] = "sluice";

/* Every field is set: what a listener does not configure is 0 (off), never left over from
 * the stack (a stray header_timeout_ms once closed push connections after 3 ms). */
static void limits_from(const struct sl_cfg_listener *l, struct sl_http_limits *out)
{
    *out = (struct sl_http_limits){
        .max_connections = (size_t)l->max_connections,
        .max_header_bytes = (size_t)l->max_header_bytes,
        .max_body_bytes = (size_t)l->max_body_bytes,
        .request_timeout_ms = l->request_timeout_ms,
        .idle_timeout_ms = l->idle_timeout_ms,
        .max_headers = 100,
        .max_buffered_bytes = (size_t)l->max_buffered_bytes,         /* 0 (admin): the default */
        .max_connections_per_ip = (size_t)l->max_connections_per_ip, /* 0 (admin): unlimited */
    };
}

/* The admin listener stays reachable for health checks when idle or slow clients fill
 * admin.max_connections: a few extra connections may ask for the probes only, and a connection
 * that has not sent its request headers within a few seconds is closed. */
#define SL_ADMIN_PROBE_CONNECTIONS 8
#define SL_ADMIN_HEADER_TIMEOUT_MS 5000
static const char *const admin_probe_paths[] = {"/healthz", "/readyz", NULL};

/* "127.0.0.1:8081", "[::1]:8081" and "localhost:8081" are loopback. */
static bool listen_is_loopback(const char *listen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if (n >= sizeof(host))
        return false;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Secure by default: the admin API leaves loopback only behind a token. */
static int admin_check(const struct sl_config *cfg, struct sl_err *err)
{
    if (listen_is_loopback(cfg->admin.listener.listen) || (cfg->admin.token && *cfg->admin.token))
        return 0;
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                      "%s: admin.listen: \"%s\" is not a loopback address (allowed: a loopback "
                      "address, or any address when admin.token is set)",
                      cfg->file ? cfg->file : "config", cfg->admin.listener.listen);
}

static struct sl_target *app_target(struct sl_app *app, const char *name)
{
    for (size_t i = 0; i < app->ntargets; i++) {
        if (strcmp(app->targets[i]->name, name) == 0)
            return app->targets[i];
    }
    return NULL;
}

static struct sl_dlq *app_dlq(struct sl_app *app, const char *name)
{
    for (size_t i = 0; i < app->ndlqs; i++) {
        if (strcmp(app->dlqs[i]->name, name) == 0)
            return app->dlqs[i];
    }
    return NULL;
}

static struct sl_target *redrive_target_cb(void *ctx, const char *name)
{
    return app_target(ctx, name);
}

static struct sl_dlq *redrive_dlq_cb(void *ctx, const char *name)
{
    return app_dlq(ctx, name);
}

void sl_app_redrive_env(struct sl_app *app, struct sl_redrive_env *env)
{
    /* Whole: a field added later is NULL, never what the caller's stack held. */
    *env = (struct sl_redrive_env){
        .loop = app->loop,
        .cfg = &app->cfg,
        .target = redrive_target_cb,
        .dlq = redrive_dlq_cb,
        .ctx = app,
        .worker = app->worker,
        .metrics = app->metrics,
    };
}

/* sluice validate (cfg.diags set): records the error and goes on with the next section
 * (returns 0). Else returns rc. */
static int app_report(struct sl_app *app, int rc, struct sl_err *err)
{
    if (rc >= 0 || !app->cfg.diags)
        return rc;
    sl_cfg_diags_add(app->cfg.diags, err);
    sl_err_clear(err);
    return 0;
}

/* The source instance mapping mc reads (one per mapping for a pull source, cli/readers.h). */
static struct sl_source *app_source(struct sl_app *app, const struct sl_cfg_mapping *mc)
{
    return sl_readers_find(app->sources, app->nsources, &app->cfg, mc);
}

static int type_error(struct sl_err *err, const struct sl_config *cfg,
                      const struct sl_cfg_typed *sec, const char *what, const char *const *types)
{
    char allowed[256] = "";
    size_t off = 0;
    for (size_t i = 0; types[i]; i++)
        off += (size_t)snprintf(allowed + off, off < sizeof(allowed) ? sizeof(allowed) - off : 0,
                                "%s%s", i ? ", " : "", types[i]);
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                      "%s: %s.type: \"%s\" is not a known %s type (allowed: %s)",
                      cfg->file ? cfg->file : "config", sec->path, sec->type, what, allowed);
}

/* The type names of a NULL-terminated registry of ops structs whose first field is the name. */
#define SL_TYPE_NAMES(registry, out)                                                               \
    do {                                                                                           \
        size_t n_ = 0;                                                                             \
        for (; (registry)[n_] && n_ < SL_ARRAY_LEN(out) - 1; n_++)                                 \
            (out)[n_] = (registry)[n_]->type;                                                      \
        (out)[n_] = NULL;                                                                          \
    } while (0)

static double store_ok_read(void *arg)
{
    return sl_store_lost(arg) ? 0 : 1;
}

static double store_commits_read(void *arg)
{
    return (double)sl_store_commits(arg);
}

static double store_jobs_read(void *arg)
{
    return (double)sl_store_jobs_committed(arg);
}

/* The schema of the store's database (its user_version), one step per version. The tables
 * are created by the modules that own them (sources/spool.c: spool; dlq/sqlite: dlq_entries;
 * cli/mapstate.c: mapping_state) as they are in this version; a change to one of them is a new
 * step here, which brings older stores forward when `sluice run` starts.
 *   1: spool and dlq_entries. Stores from before versions (0) have the same tables.
 *   2: mapping_state (the Enabled flag an operator set).
 *   3: webhook_dedupe (the delivery ids of webhooks, sources/http/dedupe.c).
 *   4: esm_mappings (the mappings made through the ESM API, cli/esm.c).
 *   5: spool_done (which mapping handled which row of a push source several mappings read,
 *      sources/spool.c). */
static const struct sl_store_migration store_steps[] = {
    {.version = 1, .sql = NULL},
    {.version = 2, .sql = sl_mapstate_schema},
    {.version = 3, .sql = sl_webhook_dedupe_schema},
    {.version = 4, .sql = sl_esm_schema},
    {.version = 5, .sql = sl_spool_done_schema},
};
static const struct sl_store_schema store_schema = {
    .version = (int)SL_ARRAY_LEN(store_steps),
    .steps = store_steps,
};

/* The store: opened here, watched by /readyz and sluice_store_ok. `sluice run` owns it (creates
 * it, holds its lock, migrates it); the CLI tools open the one that exists, next to its owner. */
static int app_open_store(struct sl_app *app, bool own, struct sl_err *err)
{
    const struct sl_config *cfg = &app->cfg;
    const char *file = cfg->file ? cfg->file : "config";
    /* Past a file size limit (ulimit -f) write(2) fails with EFBIG, which the store reports
     * as "no space" (503 to pushers), instead of SIGXFSZ ending the process. */
    signal(SIGXFSZ, SIG_IGN);
    struct sl_store_opts so = {
        .sync_full = cfg->store.sync == SL_CFG_SYNC_FULL,
        .max_batch = (size_t)cfg->store.commit_max_batch,
        .existing = !own,
        .lock = own,
        .schema = &store_schema,
    };
    struct sl_err serr;
    sl_err_clear(&serr);
    int rc = sl_store_open(app->loop, cfg->store.dir, &so, &app->store, &serr);
    if (rc == -EWOULDBLOCK)
        return sl_err_set(err, serr.cls, rc,
                          "%s; one sluice owns a store: stop that one, or give %s a store.dir "
                          "of its own",
                          serr.msg, file);
    if (rc == SL_ENOTFOUND)
        return sl_err_set(err, serr.cls, rc,
                          "%s (store.dir of %s); `sluice run` with this config creates it",
                          serr.msg, file);
    if (rc < 0)
        return sl_err_set(err, serr.cls, rc, "%s", serr.msg);
    if (own)
        sl_info(app_scope, "store %s (schema version %d), owned by this process (pid %ld)",
                sl_store_path(app->store), sl_store_schema_version(app->store), (long)getpid());
    sl_metrics_gauge_fn(app->metrics, "sluice_store_ok",
                        "1 while the store directory and database file are those opened at "
                        "start, 0 once they were deleted or replaced (the store is lost).",
                        NULL, store_ok_read, app->store);
    /* Their ratio is the writes per group commit (per fsync with store.sync full). */
    sl_metrics_counter_fn(app->metrics, "sluice_store_commits_total",
                          "Transactions the store's writer committed (each group of queued writes "
                          "is one transaction).",
                          NULL, store_commits_read, app->store);
    sl_metrics_counter_fn(app->metrics, "sluice_store_writes_committed_total",
                          "Writes (spool inserts and deletes, DLQ entries, kept state) the store "
                          "committed.",
                          NULL, store_jobs_read, app->store);
    rc = sl_spool_open(app->loop, app->store, cfg->store.spool_max_bytes, &app->spool, err);
    if (rc < 0)
        return rc;
    /* A new store is stamped with the latest version: its tables are created as they are now. */
    return sl_store_exec(app->store, sl_webhook_dedupe_schema, err);
}

struct sl_env sl_app_env(const struct sl_app *app)
{
    return (struct sl_env){
        .loop = app->loop,
        .cfg = &app->cfg,
        .store = app->store,
        .push = app->push_router,
        .metrics = app->metrics,
        .spool = app->spool,
        /* The app outlives its targets; the lookup only reads it. */
        .function = redrive_target_cb,
        .function_ctx = (void *)(uintptr_t)app,
    };
}

/* The instances of one source section: one per mapping that reads it when its type keeps a
 * position per reader (cli/readers.h), else one. */
static int app_create_source(struct sl_app *app, const struct sl_env *env,
                             const struct sl_source_ops *ops, const struct sl_cfg_typed *sec,
                             struct sl_err *err)
{
    const struct sl_config *cfg = &app->cfg;
    if (!ops->group_key || sl_readers_count(cfg, sec->name) == 0) {
        int rc = ops->create(env, sec, &app->sources[app->nsources], err);
        if (rc == 0)
            app->nsources++;
        return rc;
    }
    if (cfg->diags) {
        /* validate: the section's own errors once, as written (the readers are bound quietly),
         * with metrics of its own that go with it. */
        struct sl_env venv = *env;
        struct sl_source *s = NULL;
        venv.metrics = sl_metrics_create();
        int rc = ops->create(&venv, sec, &s, err);
        if (rc == 0)
            ops->destroy(s);
        sl_metrics_destroy(venv.metrics);
        if (rc < 0)
            return rc; /* (its readers would only repeat it) */
    }
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (!mc->source || strcmp(mc->source, sec->name) != 0)
            continue;
        int rc = sl_readers_create(env, ops, sec, mc, &app->sources[app->nsources], err);
        if (rc == 0)
            app->nsources++;
        else if ((rc = app_report(app, rc, err)) < 0)
            return rc;
    }
    return 0;
}

static int app_build_sources(struct sl_app *app, struct sl_err *err)
{
    const struct sl_config *cfg = &app->cfg;
    struct sl_env env = sl_app_env(app);
    app->sources = sl_calloc(cfg->sources.n + cfg->mappings.n + 1, sizeof(*app->sources));
    for (size_t i = 0; i < cfg->sources.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->sources, struct sl_cfg_typed, i);
        if (!sec->name || !sec->type)
            continue; /* validate: missing, already reported */
        const struct sl_source_ops *ops = sl_source_find_type(sec->type);
        int rc;
        if (!ops) {
            const char *types[16];
            SL_TYPE_NAMES(sl_source_types, types);
            rc = type_error(err, cfg, sec, "source", types);
        } else {
            rc = app_create_source(app, &env, ops, sec, err);
        }
        if (rc < 0 && (rc = app_report(app, rc, err)) < 0)
            return rc;
    }
    return 0;
}

static int app_build_targets(struct sl_app *app, struct sl_err *err)
{
    const struct sl_config *cfg = &app->cfg;
    app->targets = sl_calloc(cfg->functions.n + 1, sizeof(*app->targets));
    for (size_t i = 0; i < cfg->functions.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->functions, struct sl_cfg_typed, i);
        if (!sec->name || !sec->type)
            continue; /* validate: missing, already reported */
        const struct sl_target_ops *ops = sl_target_find_type(sec->type);
        struct sl_env env = sl_app_env(app);
        int rc;
        if (!ops) {
            const char *types[16];
            SL_TYPE_NAMES(sl_target_types, types);
            rc = type_error(err, cfg, sec, "function", types);
        } else {
            rc = ops->create(&env, sec, &app->targets[app->ntargets], err);
        }
        if (rc == 0)
            app->ntargets++;
        else if ((rc = app_report(app, rc, err)) < 0)
            return rc;
    }
    return 0;
}

static int app_build_dlqs(struct sl_app *app, bool open, struct sl_err *err)
{
    const struct sl_config *cfg = &app->cfg;
    struct sl_env env = sl_app_env(app);
    app->dlqs = sl_calloc(cfg->dlqs.n + 2, sizeof(*app->dlqs));
    for (size_t i = 0; i < cfg->dlqs.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->dlqs, struct sl_cfg_typed, i);
        if (!sec->name || !sec->type)
            continue; /* validate: missing, already reported */
        const struct sl_dlq_ops *ops = sl_dlq_find_type(sec->type);
        int rc;
        if (!ops) {
            const char *types[16];
            SL_TYPE_NAMES(sl_dlq_types, types);
            rc = type_error(err, cfg, sec, "dlq", types);
        } else {
            rc = ops->create(&env, sec, &app->dlqs[app->ndlqs], err);
        }
        if (rc == 0)
            app->ndlqs++;
        else if ((rc = app_report(app, rc, err)) < 0)
            return rc;
    }
    if (!app_dlq(app, SL_DLQ_DEFAULT_NAME)) {
        int rc = sl_dlq_sqlite_create(&env, SL_DLQ_DEFAULT_NAME, &app->dlqs[app->ndlqs]);
        if (rc < 0)
            return sl_err_set(err, SL_ERR_FATAL, rc, "cannot create the default DLQ");
        app->ndlqs++;
    }
    for (size_t i = 0; open && i < app->ndlqs; i++) {
        struct sl_dlq *d = app->dlqs[i];
        int rc = d->ops->open(d, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The `timeout` key of a function section, read through its type's property table (0: the
 * type has no such key, or the section is invalid, which is reported elsewhere). */
static int64_t function_timeout_ms(const struct sl_config *cfg, const char *name)
{
    const struct sl_cfg_typed *fsec = name ? sl_config_find(&cfg->functions, name) : NULL;
    const struct sl_target_ops *ops = fsec && fsec->type ? sl_target_find_type(fsec->type) : NULL;
    const struct sl_prop *row = NULL;
    for (size_t i = 0; ops && ops->props && i < ops->props->nprops; i++) {
        const struct sl_prop *p = &ops->props->props[i];
        if (p->name && strcmp(p->name, "timeout") == 0 && p->type == SL_PROP_DURATION)
            row = p;
    }
    if (!row)
        return 0;
    /* Bound quietly: sluice validate reports the section's own errors once, elsewhere. */
    struct sl_config quiet = *cfg;
    quiet.diags = NULL;
    void *tmp = sl_calloc(1, ops->props->struct_size);
    struct sl_err e;
    sl_err_clear(&e);
    int64_t ms = 0;
    if (sl_config_bind_typed(&quiet, fsec, ops->props, tmp, &e) == 0) {
        ms = *(const int64_t *)((const char *)tmp + row->offset);
        sl_props_release(ops->props, tmp);
    }
    free(tmp);
    return ms;
}

/* A source's own rule about the function of the mapping that reads it (check_mapping). */
static int app_check_mapping(struct sl_app *app, const struct sl_cfg_mapping *mc,
                             struct sl_err *err)
{
    struct sl_source *s = app_source(app, mc);
    if (!s || !s->ops->check_mapping || !mc->function)
        return 0;
    return s->ops->check_mapping(s, &app->cfg, mc, function_timeout_ms(&app->cfg, mc->function),
                                 err);
}

int sl_app_check_mapping(struct sl_app *app, const struct sl_cfg_mapping *mc, struct sl_err *err)
{
    return app_check_mapping(app, mc, err);
}

struct sl_source *sl_app_source_for(const struct sl_config *cfg, struct sl_source *s,
                                    const struct sl_cfg_mapping *mc)
{
    if (!s->push)
        return s;
    size_t n = 0;
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *o = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        n += o->source && strcmp(o->source, s->name) == 0;
    }
    return sl_push_reader_attach(s->push, mc->name, n);
}

static int app_build_mappings(struct sl_app *app, bool create, struct sl_err *err)
{
    const struct sl_config *cfg = &app->cfg;
    const char *file = cfg->file ? cfg->file : "config";
    struct sl_mapping_env env = {.loop = app->loop, .metrics = app->metrics};
    app->mappings = sl_calloc(cfg->mappings.n + 1, sizeof(*app->mappings));
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (!mc->source)
            continue; /* validate: missing, already reported */
        /* A source instance feeds exactly one mapping: it acks each record once. A pull
         * source read by several mappings has an instance (a reader) per mapping. */
        int rrc = sl_readers_check(cfg, app->sources, app->nsources, i, err);
        if ((rrc = app_report(app, rrc, err)) < 0)
            return rrc;
        int crc = app_report(app, app_check_mapping(app, mc, err), err);
        if (crc < 0)
            return crc;
        if (!create) {
            /* validate: compile the filters to report their errors, then drop them. */
            struct sl_filter *f = NULL;
            char path[256];
            snprintf(path, sizeof(path), "%s: %s.filters", file, mc->path);
            int rc = sl_filter_compile(mc->filters, path, &f, err);
            sl_filter_destroy(f);
            if ((rc = app_report(app, rc, err)) < 0)
                return rc;
            continue;
        }
        struct sl_source *s = app_source(app, mc);
        struct sl_target *t = app_target(app, mc->function);
        struct sl_dlq *d = app_dlq(app, mc->dlq ? mc->dlq : SL_DLQ_DEFAULT_NAME);
        if (!s || !t || !d)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s: unresolved reference",
                              file, mc->path);
        int rc = sl_mapping_create(&env, mc, sl_app_source_for(cfg, s, mc), t, d,
                                   &app->mappings[app->nmappings], err);
        if (rc < 0)
            return rc;
        app->nmappings++;
    }
    return 0;
}

static int app_listen(struct sl_app *app, struct sl_err *err)
{
    struct sl_http_limits lim;
    const struct sl_config *cfg = &app->cfg;
    int rc = admin_check(cfg, err);
    if (rc < 0)
        return rc;
    limits_from(&cfg->server, &lim);
    rc = sl_http_server_create(app->loop, cfg->server.listen, &lim, sl_http_router_handle,
                               app->push_router, &app->push, err);
    if (rc < 0)
        return rc;
    limits_from(&cfg->admin.listener, &lim);
    lim.probe_connections = SL_ADMIN_PROBE_CONNECTIONS;
    lim.probe_paths = admin_probe_paths;
    lim.header_timeout_ms = cfg->admin.listener.request_timeout_ms < SL_ADMIN_HEADER_TIMEOUT_MS
                                ? cfg->admin.listener.request_timeout_ms
                                : SL_ADMIN_HEADER_TIMEOUT_MS;
    rc = sl_http_server_create(app->loop, cfg->admin.listener.listen, &lim, sl_http_router_handle,
                               app->admin_router, &app->admin, err);
    if (rc < 0)
        return rc;
    /* Reachable from other hosts, a hook without a token takes records from anyone. */
    for (size_t i = 0; i < app->nsources && !listen_is_loopback(cfg->server.listen); i++) {
        struct sl_source *s = app->sources[i];
        if (s->ops == &sl_source_http_ops && !sl_webhook_has_auth(s))
            sl_warn(app_scope,
                    "hook \"%s\" has no token and the push listener %s is not on loopback: "
                    "anyone who reaches it can push records (set a token on the source)",
                    s->name, cfg->server.listen);
    }
    sl_info(app_scope, "push listener on %s (port %d), admin API on %s (port %d)%s",
            cfg->server.listen, sl_http_server_port(app->push), cfg->admin.listener.listen,
            sl_http_server_port(app->admin),
            cfg->admin.token && *cfg->admin.token ? " with token" : "");
    return 0;
}

int sl_app_exit_status(const struct sl_err *err)
{
    return err && err->code == SL_ECONFIG ? SL_EXIT_CONFIG : SL_EXIT_ERROR;
}

static int app_init(struct sl_app *app, const char *config_path, enum sl_app_mode mode,
                    const struct sl_config_opts *opts, struct sl_err *err)
{
    memset(app, 0, sizeof(*app));
    app->state = SL_APP_BUILDING;
    int rc = sl_config_load_opts(config_path, opts, &app->cfg, err);
    /* Collecting, go on with what could be loaded: the sections' own keys have errors too. */
    if (rc < 0 && (!opts || !opts->diags || !app->cfg.file))
        return rc;
    const struct sl_config *cfg = &app->cfg;
    static const enum sl_log_level levels[] = {SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN,
                                               SL_LOG_ERROR};
    if (mode == SL_APP_SERVE)
        sl_log_setup(levels[cfg->log.level],
                     cfg->log.format == SL_CFG_LOG_JSON ? SL_LOG_JSON : SL_LOG_TEXT,
                     cfg->log.instance);
    app->loop = ev_loop_new(EVFLAG_AUTO);
    app->metrics = sl_metrics_create();
    app->push_router = sl_http_router_create();
    app->admin_router = sl_http_router_create();
    if (mode != SL_APP_VALIDATE && (rc = app_open_store(app, mode == SL_APP_SERVE, err)) < 0)
        return rc;
    /* The mappings made through the ESM API join the file's before anything is built. */
    if (mode == SL_APP_SERVE && (rc = sl_esm_open(app, err)) < 0)
        return rc;
    if ((rc = app_build_sources(app, err)) < 0 || (rc = app_build_targets(app, err)) < 0 ||
        (rc = app_build_dlqs(app, mode != SL_APP_VALIDATE, err)) < 0 ||
        (rc = app_build_mappings(app, mode == SL_APP_SERVE, err)) < 0)
        return rc;
    if (mode == SL_APP_VALIDATE && cfg->admin.listener.listen &&
        (rc = app_report(app, admin_check(cfg, err), err)) < 0)
        return rc;
    if (mode == SL_APP_VALIDATE && (rc = app_report(app, sl_esm_store_check(cfg, err), err)) < 0)
        return rc;
    if (app->cfg.diags && app->cfg.diags->errors)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%zu errors", app->cfg.diags->errors);
    if (mode != SL_APP_VALIDATE &&
        (rc = sl_worker_create(app->loop, "sl-dlq-read", &app->worker)) < 0)
        return sl_err_set(err, SL_ERR_FATAL, rc, "cannot start the DLQ reader thread: %s",
                          sl_strerror(rc));
    if (mode == SL_APP_SERVE) {
        sl_admin_routes(app, app->admin_router);
        rc = app_listen(app, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sl_app_init(struct sl_app *app, const char *config_path, enum sl_app_mode mode,
                struct sl_err *err)
{
    int rc = app_init(app, config_path, mode, NULL, err);
    if (rc < 0)
        sl_config_err_line(&app->cfg, err); /* a typed section's key: its line too */
    return rc;
}

int sl_app_check(struct sl_app *app, const char *config_path, const struct sl_config_opts *opts,
                 struct sl_err *err)
{
    return app_init(app, config_path, SL_APP_VALIDATE, opts, err);
}

static size_t app_inflight(struct sl_app *app)
{
    size_t n = 0;
    for (size_t i = 0; i < app->nmappings; i++)
        n += sl_mapping_inflight(app->mappings[i]);
    return n;
}

static void app_finish_drain(struct sl_app *app, const char *why)
{
    if (app->state == SL_APP_STOPPED)
        return;
    app->state = SL_APP_STOPPED;
    size_t left = app_inflight(app);
    /* Closing gets what is left of drain_timeout, and at least SL_SHUTDOWN_CLOSE_MS. */
    int64_t now = sl_mono_ms();
    app->close_deadline_ms = app->drain_deadline_ms;
    if (app->close_deadline_ms < now + SL_SHUTDOWN_CLOSE_MS)
        app->close_deadline_ms = now + SL_SHUTDOWN_CLOSE_MS;
    if (left > 0)
        sl_warn(app_scope,
                "%s; %zu records not finished stay unacknowledged at their source and are "
                "delivered again after the restart",
                why, left);
    else
        sl_info(app_scope, "%s", why);
    sl_watchdog_note(app->watchdog, "%s; %zu records in flight", why, left);
    ev_break(app->loop, EVBREAK_ALL);
}

static bool app_drained(struct sl_app *app)
{
    for (size_t i = 0; i < app->nmappings; i++) {
        if (!sl_mapping_drained(app->mappings[i]))
            return false;
    }
    return !app->push || sl_http_server_pending(app->push) == 0;
}

static void drain_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_app *app = w->data;
    if (app_drained(app)) {
        app_finish_drain(app, "drained");
        return;
    }
    sl_watchdog_note(app->watchdog, "draining: %zu records in flight", app_inflight(app));
}

static void drain_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    app_finish_drain(w->data, "drain deadline reached");
}

static void mapping_drained_cb(struct sl_mapping *m, void *arg)
{
    struct sl_app *app = arg;
    sl_info(app_scope, "mapping %s drained", sl_mapping_name(m));
    if (app->state == SL_APP_DRAINING && app_drained(app))
        app_finish_drain(app, "drained");
}

/* The last resort: the steps of the shutdown bound themselves by the deadline; if one blocks
 * beyond its bound anyway, the watchdog ends the process SL_SHUTDOWN_GRACE_MS later. */
static void app_start_watchdog(struct sl_app *app)
{
    char what[160];
    snprintf(what, sizeof(what),
             "shutdown watchdog: not exited %d s after shutdown.drain_timeout (%lld ms)",
             SL_SHUTDOWN_GRACE_MS / 1000, (long long)app->cfg.drain_timeout_ms);
    int rc = sl_watchdog_start(app->drain_deadline_ms + SL_SHUTDOWN_GRACE_MS, SL_EXIT_WATCHDOG,
                               app_scope, what, &app->watchdog);
    if (rc < 0)
        sl_warn(app_scope, "cannot start the shutdown watchdog: %s", sl_strerror(rc));
}

/* Tells the service manager (systemd's Type=notify, sd_notify(3)) about a state change: READY=1
 * once listening with every mapping and source started, STOPPING=1 when the drain starts. */
static void app_notify(const char *state)
{
    int rc = sl_notify(state);
    if (rc < 0)
        sl_warn(app_scope, "cannot send %s to $NOTIFY_SOCKET: %s", state, sl_strerror(rc));
}

static void app_start_drain(struct sl_app *app)
{
    sl_reload_abort(app);
    app->state = SL_APP_DRAINING;
    app_notify("STOPPING=1");
    app->drain_deadline_ms = sl_mono_ms() + app->cfg.drain_timeout_ms;
    app_start_watchdog(app);
    /* The listener is closed before the line says so (tests and operators act on it). */
    if (app->push)
        sl_http_server_stop_accepting(app->push);
    sl_info(app_scope, "draining (deadline %lld ms): no new requests, finishing in-flight work",
            (long long)app->cfg.drain_timeout_ms);
    ev_timer_set(&app->drain_timer, (double)app->cfg.drain_timeout_ms / 1000.0, 0.);
    ev_timer_start(app->loop, &app->drain_timer);
    /* Push exchanges waiting for their commit are not tracked by mappings: poll for them. */
    ev_timer_set(&app->drain_poll, 0.05, 0.05);
    ev_timer_start(app->loop, &app->drain_poll);
    for (size_t i = 0; i < app->nmappings; i++)
        sl_mapping_drain(app->mappings[i], mapping_drained_cb, app);
    if (app_drained(app))
        app_finish_drain(app, "drained");
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct sl_app *app = w->data;
    app->signals++;
    if (app->signals == 1 && app->state == SL_APP_RUNNING) {
        sl_info(app_scope, "signal %d received", w->signum);
        app_start_drain(app);
        return;
    }
    if (app->state == SL_APP_DRAINING)
        app->drain_deadline_ms = sl_mono_ms();
    app_finish_drain(app, "second signal: stopping now");
}

/* systemd's ExecReload sends SIGHUP (packaging/sluice.service): reload the configuration. */
static void sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    sl_info(app_scope, "SIGHUP received: reloading the configuration");
    sl_reload_start(w->data, NULL, NULL);
}

int sl_app_run(struct sl_app *app)
{
    struct sl_err err;
    ev_signal_init(&app->sigint, signal_cb, SIGINT);
    ev_signal_init(&app->sigterm, signal_cb, SIGTERM);
    app->sigint.data = app->sigterm.data = app;
    ev_signal_start(app->loop, &app->sigint);
    ev_signal_start(app->loop, &app->sigterm);
    ev_signal_init(&app->sighup, sighup_cb, SIGHUP);
    app->sighup.data = app;
    ev_signal_start(app->loop, &app->sighup);
    ev_init(&app->drain_timer, drain_timeout_cb);
    app->drain_timer.data = app;
    ev_init(&app->drain_poll, drain_poll_cb);
    app->drain_poll.data = app;
    app->started_ms = sl_now_ms();
    app->state = SL_APP_RUNNING;
    /* Enabled or disabled by an operator in an earlier run (`sluice mappings disable`). */
    sl_err_clear(&err);
    if (sl_store_exec(app->store, sl_mapstate_schema, &err) < 0)
        sl_warn(app_scope, "cannot read the mappings' kept states: %s", err.msg);
    else
        for (size_t i = 0; i < app->nmappings; i++)
            sl_mapstate_apply(app->store, sl_mapping_config(app->mappings[i]), app->mappings[i]);
    for (size_t i = 0; i < app->nmappings; i++) {
        sl_err_clear(&err);
        if (sl_mapping_start(app->mappings[i], &err) < 0) {
            sl_error(app_scope, "cannot start mapping %s: %s", sl_mapping_name(app->mappings[i]),
                     err.msg);
            return 1;
        }
    }
    sl_info(app_scope, "sluice %s running with %zu mappings", SL_VERSION, app->nmappings);
    app_notify("READY=1");
    ev_run(app->loop, 0);
    sl_reload_abort(app);
    ev_timer_stop(app->loop, &app->drain_timer);
    ev_timer_stop(app->loop, &app->drain_poll);
    ev_signal_stop(app->loop, &app->sigint);
    ev_signal_stop(app->loop, &app->sigterm);
    ev_signal_stop(app->loop, &app->sighup);
    return 0;
}

/* What a close step returned: a cut counts against the exit status, an abandoned step stops
 * every free from then on (a helper thread may still use what it would free). */
static void app_account(struct sl_app *app, int rc)
{
    if (rc == -EINPROGRESS || rc == SL_CLOSE_LEFT_RUNNING)
        app->abandoned = true;
    if (rc < 0)
        app->cut = true;
}

/* Tells the watchdog the step now running: "<what> <name> (<type>)". */
static void app_note(struct sl_app *app, const char *what, const char *name, const char *type)
{
    sl_watchdog_note(app->watchdog, "%s%s%s%s%s%s (%zu records not acknowledged)", what,
                     name ? " " : "", name ? name : "", type ? " (" : "", type ? type : "",
                     type ? ")" : "", app->left);
}

int sl_app_close(struct sl_app *app)
{
    if (app->closed)
        return app->left > 0 || app->cut ? SL_EXIT_ABANDONED : SL_EXIT_OK;
    app->closed = true;
    /* Without a drain (start failure, CLI tools) each step keeps its own bound. */
    int64_t deadline = app->close_deadline_ms;
    int64_t far = sl_mono_ms() + 3600 * 1000;
    app->left = app_inflight(app);

    app_note(app, "stopping mappings, listeners and function calls", NULL, NULL);
    for (size_t i = 0; i < app->nmappings; i++)
        sl_mapping_halt(app->mappings[i]);
    /* Waits for a DLQ read in progress until the deadline; admin requests still waiting for one
     * are answered while the servers and sinks exist. */
    app_note(app, "waiting for a DLQ read", NULL, NULL);
    bool reading = sl_worker_destroy_by(app->worker, deadline) == -EINPROGRESS;
    if (reading)
        app->abandoned = true; /* a read, not records: the exit status stays as it is */
    app->worker = NULL;
    /* Sinks a reload took out while a read used the worker: nothing writes to them. */
    for (size_t i = 0; i < app->nretired_dlqs && !reading; i++) {
        struct sl_dlq *d = app->retired_dlqs[i];
        int rc = d->ops->close ? d->ops->close(d, deadline ? deadline : far) : 0;
        if (rc != -EINPROGRESS)
            d->ops->destroy(d);
    }
    if (!reading)
        app->nretired_dlqs = 0;
    sl_http_server_destroy(app->push);
    sl_http_server_destroy(app->admin);
    app->push = app->admin = NULL;
    for (size_t i = 0; i < app->ntargets; i++)
        app->targets[i]->ops->destroy(app->targets[i]);
    app->ntargets = 0;

    /* Closing the store fires the callbacks of writes still queued (DLQ writes ack records):
     * those not begun by the deadline fail, and their records stay unacknowledged. */
    app_note(app, "closing the store", NULL, NULL);
    sl_spool_flush(app->spool);
    app_account(app, sl_store_close_by(app->store, deadline));
    app->store = NULL;

    /* DLQ writes in flight may still be confirmed (their records are then acked): sinks get
     * half of the time left, so the sources' last commits keep the other half. */
    int64_t now = sl_mono_ms();
    int64_t sinks_deadline = deadline ? now + (deadline - now) / 2 : far;
    for (size_t i = 0; i < app->ndlqs && !reading; i++) {
        /* (A read still running uses the sinks' clients: they are left as they are.) */
        struct sl_dlq *d = app->dlqs[i];
        if (!d->ops->close)
            continue;
        app_note(app, "closing DLQ sink", d->name, d->ops->type);
        app_account(app, d->ops->close(d, sinks_deadline));
    }
    app->left = app_inflight(app);
    if (!app->abandoned) {
        /* Sinks fire the callbacks of writes they never confirmed (SL_ECLOSED): the mappings
         * that own those writes must still exist, so sinks go first. The mappings free their
         * records (a Kafka handle can only be destroyed once its messages are). */
        for (size_t i = 0; i < app->ndlqs; i++)
            app->dlqs[i]->ops->destroy(app->dlqs[i]);
        app->ndlqs = 0;
        for (size_t i = 0; i < app->nmappings; i++)
            sl_mapping_destroy(app->mappings[i]);
        app->nmappings = 0;
    }

    /* Last commits of what was handled, leaving consumer groups. */
    for (size_t i = 0; i < app->nsources; i++) {
        struct sl_source *s = app->sources[i];
        if (!s->ops->close)
            continue;
        app_note(app, "closing source", s->name, s->ops->type);
        app_account(app, s->ops->close(s, deadline ? deadline : far));
    }
    app_note(app, "freeing memory", NULL, NULL);
    int status = app->left > 0 || app->cut ? SL_EXIT_ABANDONED : SL_EXIT_OK;
    if (app->state == SL_APP_STOPPED && app->left > 0)
        sl_warn(app_scope,
                "stopped with %zu records not acknowledged: they stay at their source and are "
                "delivered again after the restart (exit status %d)",
                app->left, status);
    else if (app->state == SL_APP_STOPPED && app->cut)
        sl_warn(app_scope,
                "stopped before the last offset commits or DLQ writes were confirmed: records "
                "handled since the last confirmed commit are delivered again after the restart "
                "(exit status %d)",
                status);
    if (app->abandoned)
        sl_warn(app_scope, "exiting without waiting for the steps still running");
    return status;
}

void sl_app_release(struct sl_app *app)
{
    sl_app_close(app);
    if (app->abandoned)
        return; /* the caller exits: helper threads may still use what is left */
    for (size_t i = 0; i < app->ndlqs; i++)
        app->dlqs[i]->ops->destroy(app->dlqs[i]);
    for (size_t i = 0; i < app->nmappings; i++)
        sl_mapping_destroy(app->mappings[i]);
    for (size_t i = 0; i < app->nsources; i++)
        app->sources[i]->ops->destroy(app->sources[i]);
    free(app->mappings);
    free(app->sources);
    free(app->targets);
    free(app->retired_dlqs);
    free(app->dlqs);
    sl_spool_destroy(app->spool);
    sl_http_router_destroy(app->push_router);
    sl_http_router_destroy(app->admin_router);
    for (size_t i = 0; i < app->nadmin_allocs; i++)
        free(app->admin_allocs[i]);
    sl_metrics_destroy(app->metrics);
    sl_esm_release(app); /* a shared engine's connection is on the loop */
    if (app->loop)
        ev_loop_destroy(app->loop);
    sl_config_release(&app->cfg);
    sl_reload_release(app);
    sl_watchdog_stop(app->watchdog);
    memset(app, 0, sizeof(*app));
}
