/* Reloading the configuration of a running sluice (SIGHUP, POST /v1/reload, `sluice reload`).
 * The file is validated first: a bad one, or one that changes a key that cannot change while
 * running (log, server, admin, store), changes nothing. Then each named section is compared
 * with what runs, in the config's canonical form (sl_props_equal): mappings that changed, or
 * whose source, function or DLQ changed, drain as on SIGTERM (in-flight batches finish; offsets,
 * pending entries and spool rows are kept) and are built again from the new file; removed ones
 * drain and go; added ones start; the others keep running untouched. One reload at a time. */
#ifndef SL_CLI_RELOAD_H
#define SL_CLI_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct sl_app;

/* The outcome: an HTTP status (200 applied, 400 refused: invalid or not reloadable, 409
 * another reload or a DLQ task runs, 500 applied with errors, 503 stopping) and the JSON body
 * that says what changed or why not. */
typedef void (*sl_reload_done_cb)(int status, const char *body, size_t len, void *arg);

/* Starts a reload of the file the process was started with. cb (may be NULL) fires once,
 * possibly before this returns. */
void sl_reload_start(struct sl_app *app, sl_reload_done_cb cb, void *arg);
/* The same with the running file's configuration and the ESM API's mappings as they are now
 * (cli/esm.h): what an API create, update or delete applies. */
void sl_reload_mappings(struct sl_app *app, sl_reload_done_cb cb, void *arg);
struct sl_http_exchange;
struct sl_http_req;
/* POST /v1/reload on the admin API (arg: the app): answers once the reload is applied. */
void sl_reload_http(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg);
/* True while a reload is being applied. */
bool sl_reload_running(const struct sl_app *app);
/* The process stops: the reload being applied ends where it is (cb gets 503); the mappings it
 * was draining are drained by the shutdown. */
void sl_reload_abort(struct sl_app *app);
/* Frees the configurations kept for the objects that still borrowed them. */
void sl_reload_release(struct sl_app *app);

#endif
