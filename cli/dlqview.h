/* Reading and purging dead-letter entries across every DLQ sink of a config: shared by the
 * `sluice dlq` commands and the admin API. */
#ifndef SL_CLI_DLQVIEW_H
#define SL_CLI_DLQVIEW_H

#include <stdio.h>

#include "cli/app.h"

/* {"entries":[{id, mapping, dlq, condition, createdAt, recordId, attempts, lastError}...]} */
int sl_dlqview_list_json(struct sl_app *app, const struct sl_dlq_filter *f, struct sl_buf *out,
                         struct sl_err *err);
/* A table for people. */
int sl_dlqview_list_table(struct sl_app *app, const struct sl_dlq_filter *f, FILE *out,
                          struct sl_err *err);
/* The whole entry document; SL_ENOTFOUND when no sink holds it. */
int sl_dlqview_show(struct sl_app *app, const char *id, struct sl_buf *out, struct sl_err *err);
/* Called once every removal has committed: how many were removed, and 0 or the first error. */
typedef void (*sl_dlqview_purged_cb)(size_t removed, int status, void *arg);
/* Removes the matching entries. Returns an error (and never calls cb) when they cannot be
 * listed; otherwise cb fires exactly once, from the loop. */
int sl_dlqview_purge(struct sl_app *app, const struct sl_dlq_filter *f, sl_dlqview_purged_cb cb,
                     void *arg, struct sl_err *err);

#endif
