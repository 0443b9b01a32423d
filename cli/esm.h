/* Lambda's event-source-mapping management API on the admin listener (docs/ESM_API.md):
 * Create, List, Get, Update and Delete under /2015-03-31/event-source-mappings. A mapping made
 * through it is a sluice mapping like one of the file (named "esm-<UUID>"), kept in the store
 * (table esm_mappings) and merged into the configuration at start and at every reload; a
 * change goes through the reload machinery (cli/reload.h) as a change of one mapping would.
 * With no shared engine each sluice has its own set; with admin.esm_store (cli/esm_store.c) the
 * set lives in a shared engine every process reads, and each applies every change it sees. */
#ifndef SL_CLI_ESM_H
#define SL_CLI_ESM_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "clients/postgres/conf.h"
#include "clients/redis/conf.h"
#include "config/config.h"
#include "core/err.h"

struct sl_source_ops;

struct sl_app;
struct sl_http_router;
struct sl_esm_shared;
struct sl_esm_shared_ops;
struct sl_esm_store_cfg;
struct shared_job;

#define SL_ESM_UUID_LEN 36
#define SL_ESM_MAX      1000 /* mappings made through the API, per process */

/* One mapping made through the API. */
struct sl_esm_entry {
    char uuid[SL_ESM_UUID_LEN + 1];
    char *name;  /* "esm-<uuid>" */
    json_t *doc; /* the Lambda fields as last set (Create, then Update) */
    const char
        *transition;     /* "Creating", "Updating", "Enabling", "Disabling", "Deleting" or NULL */
    bool deleted;        /* gone once the reload applying it is done */
    bool saving;         /* created, its row not committed yet: not merged */
    bool writing;        /* a write of it to a shared engine is in flight: sync leaves it be */
    bool lenient;        /* set from a shared engine: a clash leaves it out, never refuses */
    uint64_t gen;        /* the change that set transition */
    uint64_t version;    /* the shared engine's version of its row (0: local store) */
    int64_t modified_ms; /* wall clock */
    char problem[256];   /* why it does not run, or "" */
};

struct sl_esm {
    struct sl_esm_entry **v;
    size_t n;
    uint64_t gen;         /* changes made */
    uint64_t applied_gen; /* changes the reload being applied carries */
    bool applying;        /* a reload of ours runs */
    bool pending;         /* a change waits for the running reload */
    bool stale;           /* a sync skipped an entry being written: read again after it */
    struct sl_esm_store_cfg *store_cfg;     /* admin.esm_store, bound */
    const struct sl_esm_shared_ops *shared; /* the shared engine, or NULL: the local store */
    struct sl_esm_shared *sh;
    struct shared_job *held; /* writes waiting for the engine's first connection */
};

/* The store table, as the schema's step 4 creates it. */
extern const char sl_esm_schema[];

/* At start (sluice run, the store open): reads the table and adds each mapping to app->cfg;
 * one the file no longer allows (its source or function gone, its name or source taken) is
 * left out with an error logged and shown in its StateTransitionReason. */
int sl_esm_open(struct sl_app *app, struct sl_err *err);
void sl_esm_release(struct sl_app *app);
/* Adds the API's mappings to a configuration the file gave (a reload's next one). With
 * strict, a clash (name, source) or a missing reference of a mapping that runs is an error (the
 * reload is refused); else, and for one that already could not run, that mapping is left out
 * and its problem kept. */
int sl_esm_merge(struct sl_app *app, struct sl_config *cfg, bool strict, struct sl_err *err);
void sl_esm_entry_free(struct sl_esm_entry *e);
/* Writes the entry's row with doc (remove: deletes it); cb once committed (0) or failed. A
 * shared engine also answers -EEXIST (another mapping of that source and function exists:
 * other names its UUID when known) and -ENOENT (an update of a row another process deleted). */
typedef void (*sl_esm_saved_cb)(int status, const char *other, void *arg);
int sl_esm_save(struct sl_app *app, struct sl_esm_entry *e, const json_t *doc, bool remove,
                sl_esm_saved_cb cb, void *arg);
/* An entry changed (its gen set): applies the API's mappings through a reload. */
void sl_esm_changed(struct sl_app *app);
/* A reload ended (any): a change that waited for it is applied now. */
void sl_esm_after_reload(struct sl_app *app);
/* The routes, on the admin router. */
void sl_esm_routes(struct sl_app *app, struct sl_http_router *r);

/* ---- shared engines (admin.esm_store) ---------------------------------------------------------
 */

enum sl_esm_store_type { SL_ESM_STORE_LOCAL, SL_ESM_STORE_POSTGRES, SL_ESM_STORE_REDIS };

struct sl_esm_store_cfg {
    int type;             /* enum sl_esm_store_type */
    json_t *postgres_raw; /* admin.esm_store.postgres as written */
    struct sl_pg_conn_cfg postgres;
    json_t *redis_raw; /* admin.esm_store.redis as written */
    struct sl_redis_conn_cfg redis;
    char *key; /* redis: the prefix of its keys and the channel */
    int64_t poll_ms;
};

/* esm_store.c: binds and checks admin.esm_store (errors name the file and key path). */
extern const struct sl_prop_table sl_esm_store_table;
int sl_esm_store_bind(const struct sl_config *cfg, struct sl_esm_store_cfg *out,
                      struct sl_err *err);
void sl_esm_store_release(struct sl_esm_store_cfg *c);
/* sluice validate: binds and releases. */
int sl_esm_store_check(const struct sl_config *cfg, struct sl_err *err);

/* One row of a shared engine: doc is a new reference. */
struct sl_esm_row {
    char uuid[SL_ESM_UUID_LEN + 1];
    json_t *doc;
    int64_t created_ms;
    int64_t modified_ms;
    uint64_t version;
};
void sl_esm_rows_free(struct sl_esm_row *rows, size_t n);

/* An engine's answer to a write: status 0 with the row's new version, or an error (see
 * sl_esm_saved_cb). */
typedef void (*sl_esm_store_cb)(int status, uint64_t version, const char *other, void *arg);

struct sl_esm_shared_ops {
    const char *name;
    /* At start, blocking: prepares the engine, reads every row into rows/n (the caller frees
     * them) and starts watching: every change seen later is handed to sl_esm_sync. */
    int (*open)(struct sl_app *app, const struct sl_esm_store_cfg *cfg, struct sl_esm_shared **out,
                struct sl_esm_row **rows, size_t *n, struct sl_err *err);
    /* Writes one row atomically with its change notification; doc NULL deletes it; create
     * inserts (a duplicate source and function: -EEXIST), else updates (gone: -ENOENT). 0 (cb
     * fires once, later) or a negative code (the engine is unreachable: cb never fires). */
    int (*save)(struct sl_esm_shared *s, const char *uuid, const char *source, const char *function,
                const char *doc, int64_t ms, bool create, sl_esm_store_cb cb, void *arg);
    /* Reads every row again (soon, once). */
    void (*refresh)(struct sl_esm_shared *s);
    /* Before the loop goes: drops the connections; writes in flight are abandoned. */
    void (*close)(struct sl_esm_shared *s);
};
extern const struct sl_esm_shared_ops sl_esm_pg_ops;
extern const struct sl_esm_shared_ops sl_esm_redis_ops;

/* esm_store.c: what every shared engine does alike. One read of the whole set at a time (one
 * asked for meanwhile runs once it is done: a change may have committed after its snapshot), a
 * read every poll, a reconnect timer, one log line per outage. An engine embeds it first. */
struct sl_esm_watch {
    struct sl_app *app;
    char endpoint[160];
    ev_timer poll, reconnect;
    bool reading, again, down, closing;
    int (*read)(struct sl_esm_watch *w);     /* sends a read: 0 (sl_esm_watch_rows follows) */
    void (*connect)(struct sl_esm_watch *w); /* the reconnect timer fired */
};
void sl_esm_watch_init(struct sl_esm_watch *w, struct sl_app *app, int64_t poll_ms,
                       int (*read)(struct sl_esm_watch *), void (*connect)(struct sl_esm_watch *));
void sl_esm_watch_read(struct sl_esm_watch *w);
/* A read's answer: rows/n (ok false: it failed, or the connection went). */
void sl_esm_watch_rows(struct sl_esm_watch *w, bool ok, struct sl_esm_row *rows, size_t n);
/* Connected (again): logs the end of an outage, reads what changed meanwhile. */
void sl_esm_watch_up(struct sl_esm_watch *w);
/* Lost, or a connect failed: logs the outage once, connects again in a second. */
void sl_esm_watch_down(struct sl_esm_watch *w, const char *why);
void sl_esm_watch_stop(struct sl_esm_watch *w);
/* esm.c: the writes held for the first connection go out (up) or fail (-ENOTCONN). */
void sl_esm_held_go(struct sl_app *app, bool up);

/* The engine's whole set, read again: entries made, changed or deleted by another process are
 * applied through a reload as this process's own changes are. */
void sl_esm_sync(struct sl_app *app, struct sl_esm_row *rows, size_t n);

/* esm_sigv4.c: with admin.aws_credentials, requests must be signed (SigV4) by one of those keys
 * with an x-amz-date at most this far from the clock (AWS's own bound). */
#define SL_ESM_SIGV4_SKEW_MS (5 * 60 * 1000)
struct sl_http_req;
struct sl_esm_error;
/* 0 when req is signed by a configured key; else -1 with e set (403 and AWS's error type). */
int sl_esm_sigv4_check(const struct sl_app *app, const struct sl_http_req *req,
                       struct sl_esm_error *e);

/* esm_doc.c: the Lambda document <-> the sluice mapping. */

/* Errors carry Lambda's type (e.g. "InvalidParameterValueException") and HTTP status. */
struct sl_esm_error {
    int status;
    const char *type;
    char message[512];
};
/* Checks a Create (create true) or Update body and merges its fields into doc (a new object
 * for a create). 0, or -1 with e set. */
int sl_esm_doc_apply(json_t *doc, json_t *body, bool create, struct sl_esm_error *e);
/* Sets e to a 400 InvalidParameterValueException with the message; returns -1. */
int sl_esm_invalid(struct sl_esm_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The source and function names the doc's EventSourceArn and FunctionName name. */
void sl_esm_doc_names(const json_t *doc, char *source, size_t scap, char *function, size_t fcap);
/* The source a SelfManagedEventSource resolved to, kept in doc (not shown by Get). */
void sl_esm_doc_set_source(json_t *doc, const char *name);
/* The reader of the mapping doc makes on a source of type ops (kept in doc, not shown): Lambda's
 * rules for StartingPosition and StartingPositionTimestamp, the consumer group (Kafka's
 * ConsumerGroupId, else the UUID; a group or slot per ESM for the other stream types). 0, or
 * -1 with e set. */
int sl_esm_doc_reader(json_t *doc, const char *uuid, const struct sl_source_ops *ops,
                      struct sl_esm_error *e);
/* The group (slot) of the reader sl_esm_doc_reader gave doc, or NULL. */
const char *sl_esm_doc_group(const json_t *doc);
/* The mapping section (config shape) of an entry. */
json_t *sl_esm_section(const struct sl_esm_entry *e);
/* EventSourceMappingConfiguration: state, reason and last result as given. */
json_t *sl_esm_describe(const struct sl_esm_entry *e, const char *state, const char *reason,
                        const char *last_result);

#endif
