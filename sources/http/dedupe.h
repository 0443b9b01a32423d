/* Dedupe of webhook redeliveries by delivery id (docs/WEBHOOKS.md). A delivery id seen within a
 * hook's window is answered with the id of its first delivery and not stored again. The ids are
 * kept in the store (table webhook_dedupe, written in the same savepoint as the spool row, so a
 * row is there exactly when its push was stored), which survives restarts; pushes whose spool
 * write is not yet committed are kept in memory ("in flight"): a second push of the same id
 * waits for the first's answer instead of being stored twice. */
#ifndef SL_SOURCES_HTTP_DEDUPE_H
#define SL_SOURCES_HTTP_DEDUPE_H

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/id.h"
#include "core/store.h"
#include "server/http.h"

/* The table, created at start (cli/app.c) and by schema step 3 for older stores. */
extern const char sl_webhook_dedupe_schema[];

#define SL_DEDUPE_KEY_MAX 256 /* a longer delivery id is refused (400) */
/* Old rows are removed this often (and at start), and beyond the hook's cap. */
#define SL_DEDUPE_EXPIRE_INTERVAL_MS (60 * 1000)

struct sl_dedupe;
/* A push being stored: the delivery id, the id it was given and those waiting for it. */
struct sl_dedupe_flight;

/* NULL store: every lookup finds nothing (sluice validate). */
struct sl_dedupe *sl_dedupe_create(struct ev_loop *loop, struct sl_store *st, const char *source,
                                   int64_t window_ms, int64_t max_entries);
void sl_dedupe_destroy(struct sl_dedupe *d);

/* The push of this delivery id in flight, or NULL. */
struct sl_dedupe_flight *sl_dedupe_in_flight(struct sl_dedupe *d, const char *key, size_t len);
/* Answers x with the flight's answer once it has one. */
void sl_dedupe_wait(struct sl_dedupe_flight *f, struct sl_http_exchange *x);
/* 1 with first_id set when the delivery id was stored within the window, 0 when not, or a
 * negative code (read failed: the push is treated as new). Loop thread (read connection). */
int sl_dedupe_find(struct sl_dedupe *d, const char *key, size_t len, int64_t now_ms,
                   char first_id[SL_ID_LEN + 1]);
/* Registers a push about to be stored under `id`. */
struct sl_dedupe_flight *sl_dedupe_begin(struct sl_dedupe *d, const char *key, size_t len,
                                         const char *id, int64_t now_ms);
/* The store job that records the flight's delivery id (sl_spool_item.also), run in the spool
 * row's savepoint. The table is the last word: when it already holds the id within the window
 * (stored by a copy this process did not see in flight: a hook made anew by a reload), the job
 * returns SL_DEDUPE_SEEN, which rolls the spool row back, and the flight's id becomes the one
 * stored first. */
#define SL_DEDUPE_SEEN (-EEXIST)
int sl_dedupe_record_job(struct sl_store_conn *c, void *flight);
/* The id the push is answered with: its own, or the first delivery's (SL_DEDUPE_SEEN). Valid
 * once the put's done fired, until sl_dedupe_end. */
const char *sl_dedupe_flight_id(const struct sl_dedupe_flight *f);
/* The push's spool write finished: answers the waiters (202 with the flight's id when status is
 * 0 or SL_DEDUPE_SEEN, else 503 as it was not stored) and forgets the flight. */
void sl_dedupe_end(struct sl_dedupe_flight *f, int status);

#endif
