/* The sluice process: builds every object from the config, runs the loop, drains on signals. */
#ifndef SL_CLI_APP_H
#define SL_CLI_APP_H

#include <ev.h>
#include <stdbool.h>

#include "cli/dlqtasks.h"
#include "config/config.h"
#include "core/metrics.h"
#include "core/store.h"
#include "core/worker.h"
#include "dispatcher/target.h"
#include "dlq/dlq.h"
#include "mappings/mapping.h"
#include "server/http.h"
#include "sources/source.h"

enum sl_app_state { SL_APP_BUILDING, SL_APP_RUNNING, SL_APP_DRAINING, SL_APP_STOPPED };

struct sl_app {
    struct ev_loop *loop;
    struct sl_config cfg;
    enum sl_app_state state;
    struct sl_store *store;
    struct sl_spool *spool;
    struct sl_metrics *metrics;
    struct sl_http_router *push_router;
    struct sl_http_router *admin_router;
    struct sl_http_server *push;
    struct sl_http_server *admin;
    struct sl_source **sources;
    size_t nsources;
    struct sl_target **targets;
    size_t ntargets;
    struct sl_dlq **dlqs;
    size_t ndlqs;
    struct sl_worker *worker; /* DLQ reads off the loop (cli/dlqview.h) */
    struct sl_dlq_tasks dlq_tasks;
    struct sl_mapping **mappings;
    size_t nmappings;
    ev_signal sigint;
    ev_signal sigterm;
    ev_timer drain_timer;
    ev_timer drain_poll;
    int signals;
    int64_t started_ms;
    void *admin_allocs[32]; /* per-route state of the admin API, freed at release */
    size_t nadmin_allocs;
};

enum sl_app_mode {
    SL_APP_VALIDATE, /* bind every section and cross-check; open and start nothing */
    SL_APP_TOOL,     /* store, targets and DLQs for CLI tools (dlq commands); no servers */
    SL_APP_SERVE,    /* everything */
};

/* Loads the config file and builds the objects the mode needs. On error, err says why. */
int sl_app_init(struct sl_app *app, const char *config_path, enum sl_app_mode mode,
                struct sl_err *err);
/* Runs until drained after SIGINT/SIGTERM (or at once after a second signal). */
int sl_app_run(struct sl_app *app);
void sl_app_release(struct sl_app *app);

struct sl_redrive_env;
/* How a redrive run by this process reaches its functions and DLQ sinks. */
void sl_app_redrive_env(struct sl_app *app, struct sl_redrive_env *env);

/* admin.c: the admin API routes. */
void sl_admin_routes(struct sl_app *app, struct sl_http_router *r);

#endif
