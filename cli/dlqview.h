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
/* Removes the matching entries (waits for each removal's commit); *n is how many. */
int sl_dlqview_purge(struct sl_app *app, const struct sl_dlq_filter *f, size_t *n,
                     struct sl_err *err);

#endif
