/* The sluice process: builds every object from the config, runs the loop, drains on signals. */
#ifndef SL_CLI_APP_H
#define SL_CLI_APP_H

#include <ev.h>
#include <stdbool.h>

#include "cli/dlqtasks.h"
#include "config/config.h"
#include "core/metrics.h"
#include "core/watchdog.h"
#include "core/store.h"
#include "core/worker.h"
#include "dispatcher/target.h"
#include "dlq/dlq.h"
#include "mappings/mapping.h"
#include "server/http.h"
#include "sources/source.h"

enum sl_app_state { SL_APP_BUILDING, SL_APP_RUNNING, SL_APP_DRAINING, SL_APP_STOPPED };

/* Exit statuses of `sluice run` (docs/OPERATIONS.md, "Shutdown and crashes"). */
#define SL_EXIT_OK    0
#define SL_EXIT_ERROR 1 /* a runtime failure: could not start (port in use, store), ... */
#define SL_EXIT_USAGE 2 /* bad command line: unknown command or option, a bad value */
/* The config file is invalid or cannot be read (sysexits' EX_CONFIG); every command. */
#define SL_EXIT_CONFIG 78
/* Stopped with records not acknowledged: the drain deadline (or a second signal) cut in-flight
 * work, or a last commit or DLQ write was not confirmed in time. Those records stay at their
 * source and are delivered again after the restart (sysexits' EX_TEMPFAIL). */
#define SL_EXIT_ABANDONED 75
/* The shutdown did not end by drain_timeout + SL_SHUTDOWN_GRACE_MS and the watchdog ended the
 * process (sysexits' EX_SOFTWARE): a step blocked beyond its bound. Nothing acknowledged is
 * lost; unacknowledged records are delivered again after the restart. */
#define SL_EXIT_WATCHDOG 70

/* After the drain ends, closing (last offset commits, leaving consumer groups, flushing DLQ
 * writes) may take until the drain deadline, and at least this long. */
#define SL_SHUTDOWN_CLOSE_MS 1000
/* The watchdog ends the process this long after the drain deadline. */
#define SL_SHUTDOWN_GRACE_MS 5000

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
    /* Sinks a reload took out while a DLQ read was queued or running on the worker: they stay
     * open for it and are closed and freed once the worker is gone (sl_app_close). */
    struct sl_dlq **retired_dlqs;
    size_t nretired_dlqs;
    struct sl_dlq_tasks dlq_tasks;
    struct sl_mapping **mappings;
    size_t nmappings;
    ev_signal sigint;
    ev_signal sigterm;
    ev_signal sighup;           /* reloads the configuration (cli/reload.h) */
    struct sl_reload *reload;   /* the reload being applied, or NULL */
    struct sl_esm *esm;         /* the ESM API's mappings (cli/esm.h), or NULL */
    struct sl_config **retired; /* earlier configurations, borrowed by what did not change */
    size_t nretired;
    ev_timer drain_timer;
    ev_timer drain_poll;
    int64_t drain_deadline_ms; /* sl_mono_ms clock; 0 until a signal */
    int64_t close_deadline_ms; /* set when the drain ends */
    struct sl_watchdog *watchdog;
    bool closed;    /* sl_app_close ran */
    bool abandoned; /* a close step still runs on a helper thread: free nothing more */
    bool cut;       /* a close step was cut by its deadline */
    size_t left;    /* records not acknowledged at the end */
    int signals;
    int64_t started_ms;
    void *admin_allocs[32]; /* per-route state of the admin API, freed at release */
    size_t nadmin_allocs;
};

enum sl_app_mode {
    SL_APP_VALIDATE, /* bind every section and cross-check; open and start nothing */
    SL_APP_TOOL,     /* targets, DLQs and the existing store (never created, not locked, not
                      * migrated) for CLI tools (dlq commands); no servers */
    SL_APP_SERVE,    /* everything; owns the store: creates, locks and migrates it */
};

/* The exit status for a failed sl_app_init or config load: SL_EXIT_CONFIG when err is a
 * config error (SL_ECONFIG), else SL_EXIT_ERROR. */
int sl_app_exit_status(const struct sl_err *err);

/* Loads the config file and builds the objects the mode needs. On error, err says why. */
int sl_app_init(struct sl_app *app, const char *config_path, enum sl_app_mode mode,
                struct sl_err *err);
/* sluice validate: sl_app_init in SL_APP_VALIDATE mode with options; with opts->diags, every
 * error of the file and of every section goes there (and the return is SL_ECONFIG when there
 * is any). */
int sl_app_check(struct sl_app *app, const char *config_path, const struct sl_config_opts *opts,
                 struct sl_err *err);
/* Runs until drained after SIGINT/SIGTERM (or at once after a second signal). Returns 0, or
 * SL_EXIT_ERROR when a mapping could not start. */
int sl_app_run(struct sl_app *app);
/* Stops everything and closes connections, each step bounded by the shutdown deadline when the
 * process drained (acks and commits still confirmed, DLQ writes flushed), and frees what those
 * steps used. Returns the exit status: SL_EXIT_OK, or SL_EXIT_ABANDONED when records are left
 * unacknowledged. When app->abandoned is set afterwards, a step is still running on a helper
 * thread: the caller must _exit without sl_app_release. Runs once (release calls it if needed). */
int sl_app_close(struct sl_app *app);
void sl_app_release(struct sl_app *app);

/* A source's own rule about a mapping that reads it (e.g. a queue's visibility timeout against
 * the function's timeout), as the file's mappings are checked: for the ESM API's (cli/esm.h). */
int sl_app_check_mapping(struct sl_app *app, const struct sl_cfg_mapping *mc, struct sl_err *err);
/* What the mapping mc of cfg reads from its source s: s itself, or, when several mappings of
 * cfg read a push source, a handle of its own (sl_push_reader_attach; before s starts). */
struct sl_source *sl_app_source_for(const struct sl_config *cfg, struct sl_source *s,
                                    const struct sl_cfg_mapping *mc);

/* What every source, function and DLQ sink is created with. */
struct sl_env sl_app_env(const struct sl_app *app);

struct sl_redrive_env;
/* How a redrive run by this process reaches its functions and DLQ sinks. */
void sl_app_redrive_env(struct sl_app *app, struct sl_redrive_env *env);

/* admin.c: the admin API routes. */
void sl_admin_routes(struct sl_app *app, struct sl_http_router *r);

#endif
