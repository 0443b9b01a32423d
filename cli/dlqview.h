/* Reading and purging dead-letter entries across every DLQ sink of a config: shared by the
 * `sluice dlq` commands and the admin API.
 *
 * Listing is paginated with a cursor, "<dlq name>/<position in that sink>": it names the last
 * entry of a page, and the next page starts after it, also when entries were removed since.
 * Sinks are visited in config order (the implicit default one where it stands in app->dlqs).
 * Reads block (a sink may scan a store or a topic): the synchronous calls are for the CLI and
 * for the admin worker thread; the _async ones run them there and answer on the loop. */
#ifndef SL_CLI_DLQVIEW_H
#define SL_CLI_DLQVIEW_H

#include <stdio.h>

#include "cli/app.h"

#define SL_DLQVIEW_CURSOR_MAX 400 /* bytes of a cursor, with its NUL */
#define SL_DLQVIEW_CHUNK      500 /* entries a purge removes per step */

/* {"entries":[{id, mapping, dlq, condition, createdAt, recordId, attempts, lastError}...],
 *  "next": cursor} ("next" only when more entries match than limit). f->after is a cursor. */
int sl_dlqview_list_json(struct sl_app *app, const struct sl_dlq_filter *f, struct sl_buf *out,
                         struct sl_err *err);
/* A table for people, and a "more:" line with the cursor when there are more. */
int sl_dlqview_list_table(struct sl_app *app, const struct sl_dlq_filter *f, FILE *out,
                          struct sl_err *err);
/* The whole entry document; SL_ENOTFOUND when no sink holds it. */
int sl_dlqview_show(struct sl_app *app, const char *id, struct sl_buf *out, struct sl_err *err);

/* On the loop, when an _async call is done: status 0 and the JSON in out, or an error (err). */
typedef void (*sl_dlqview_done_cb)(int status, const struct sl_buf *out, const struct sl_err *err,
                                   void *arg);
/* list_json and show on the app's worker thread; the filter and id are copied. Returns an error
 * (and never calls cb) when the job cannot be queued; otherwise cb fires exactly once. */
int sl_dlqview_list_async(struct sl_app *app, const struct sl_dlq_filter *f, sl_dlqview_done_cb cb,
                          void *arg);
int sl_dlqview_show_async(struct sl_app *app, const char *id, sl_dlqview_done_cb cb, void *arg);

/* Purge progress: entries listed and removed so far, and 0 or the first error. done is true on
 * the last call. */
typedef void (*sl_dlqview_purged_cb)(size_t listed, size_t removed, int status, bool done,
                                     void *arg);
/* Removes the matching entries in chunks of SL_DLQVIEW_CHUNK: each chunk is listed on the
 * worker thread, then removed on the loop; cb fires after each chunk and once with done.
 * Returns an error (and never calls cb) when it cannot start. */
int sl_dlqview_purge(struct sl_app *app, const struct sl_dlq_filter *f, sl_dlqview_purged_cb cb,
                     void *arg, struct sl_err *err);

#endif
