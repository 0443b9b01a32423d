/* Redrive: send dead-lettered entries back through a function (their mapping's, or another),
 * one at a time at a rate limit, and remove each entry only after the function succeeded. */
#ifndef SL_MAPPINGS_REDRIVE_H
#define SL_MAPPINGS_REDRIVE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/metrics.h"
#include "dispatcher/target.h"
#include "dlq/dlq.h"

struct sl_worker;

struct sl_redrive_opts {
    const char *mapping; /* only entries of this mapping (NULL: any) */
    const char *id;      /* only this entry (NULL: any) */
    const char *to;      /* function name to send to (NULL: the entry's mapping's function) */
    double rate;         /* entries per second, > 0 */
    bool dry_run;        /* list what would be sent, send nothing */
    size_t limit;        /* at most this many entries (0: all) */
};

struct sl_redrive_result {
    const char *error; /* NULL, or why listing the entries stopped (the counts cover the rest) */
    size_t matched;
    size_t redriven; /* delivered and removed */
    size_t failed;   /* the function failed again: the entry stays */
    size_t skipped;  /* dry run, or no usable function */
};

/* How the redrive reaches functions and sinks by name (owned by the caller). */
struct sl_redrive_env {
    struct ev_loop *loop;
    const struct sl_config *cfg;
    struct sl_target *(*target)(void *ctx, const char *name);
    struct sl_dlq *(*dlq)(void *ctx, const char *name);
    void *ctx;
    /* Lists entries off the loop, a page at a time; NULL lists on the loop (tests, tools). */
    struct sl_worker *worker;
    /* Counts each entry handled in sluice_dlq_redrive_entries_total{mapping,result} (result:
     * redriven, failed, skipped; a dry run counts nothing). NULL: not counted. */
    struct sl_metrics *metrics;
};

/* Called once per entry handled: status "redriven", "failed", "skipped" or "would redrive". */
typedef void (*sl_redrive_entry_cb)(const struct sl_dlq_entry *e, const char *status,
                                    const char *detail, void *arg);
typedef void (*sl_redrive_done_cb)(const struct sl_redrive_result *res, void *arg);

struct sl_redrive;

/* Works through the matching entries of every DLQ the config names (and the default one), a
 * page of SL_REDRIVE_PAGE at a time: each page is listed (on env->worker) and then sent on the
 * loop, so memory stays bounded and the loop never waits for a listing. done fires exactly once
 * unless an error is returned. */
#define SL_REDRIVE_PAGE 100
int sl_redrive_start(const struct sl_redrive_env *env, const struct sl_redrive_opts *opts,
                     sl_redrive_entry_cb entry_cb, sl_redrive_done_cb done_cb, void *arg,
                     struct sl_redrive **out, struct sl_err *err);
void sl_redrive_destroy(struct sl_redrive *rd);

/* The DLQ sink name a mapping writes to. */
const char *sl_mapping_dlq_name(const struct sl_cfg_mapping *mc);

#endif
