/* Lambda's event-source-mapping management API on the admin listener (docs/ESM_API.md):
 * Create, List, Get, Update and Delete under /2015-03-31/event-source-mappings. A mapping made
 * through it is a sluice mapping like one of the file (named "esm-<UUID>"), kept in the store
 * (table esm_mappings) and merged into the configuration at start and at every reload; a
 * change goes through the reload machinery (cli/reload.h) as a change of one mapping would.
 * Per process: with no shared engine, each sluice has its own set. */
#ifndef SL_CLI_ESM_H
#define SL_CLI_ESM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"

struct sl_source_ops;

struct sl_app;
struct sl_http_router;

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
    uint64_t gen;        /* the change that set transition */
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
/* Writes the entry's row with doc (remove: deletes it); cb once committed (0) or failed. */
typedef void (*sl_esm_saved_cb)(int status, void *arg);
int sl_esm_save(struct sl_app *app, const struct sl_esm_entry *e, const json_t *doc, bool remove,
                sl_esm_saved_cb cb, void *arg);
/* An entry changed (its gen set): applies the API's mappings through a reload. */
void sl_esm_changed(struct sl_app *app);
/* A reload ended (any): a change that waited for it is applied now. */
void sl_esm_after_reload(struct sl_app *app);
/* The routes, on the admin router. */
void sl_esm_routes(struct sl_app *app, struct sl_http_router *r);

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
