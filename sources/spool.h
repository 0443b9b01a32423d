/* The spool: where push sources (webhooks) keep accepted records durably until they are
 * handled. One table in the embedded store, shared by every push source, with one byte quota.
 * Positions (seq) are assigned on the loop in arrival order, so commits and replays keep it. */
#ifndef SL_SOURCES_SPOOL_H
#define SL_SOURCES_SPOOL_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/store.h"

struct sl_spool;

struct sl_spool_item {
    const char *source;
    const char *id;
    int64_t received_ms;
    const char *attrs; /* JSON object text */
    const void *body;
    size_t body_len;
    /* NULL, or a write run in the insert's savepoint right after it (on the store's writer
     * thread): the row and what it writes commit together or not at all (a webhook's delivery
     * id, sources/http/dedupe.c). also_arg must stay valid until the put's done fires. */
    sl_store_job_fn also;
    void *also_arg;
};

/* A row read back (borrowed for the duration of the callback). */
struct sl_spool_row {
    uint64_t seq;
    const char *id;
    int64_t received_ms;
    const char *attrs;
    const void *body;
    size_t body_len;
};

typedef int (*sl_spool_row_cb)(const struct sl_spool_row *row, void *arg);

/* Deletes of handled rows are gathered during one loop iteration and committed as one store
 * job before the loop sleeps. */
int sl_spool_open(struct ev_loop *loop, struct sl_store *st, uint64_t max_bytes,
                  struct sl_spool **out, struct sl_err *err);
void sl_spool_destroy(struct sl_spool *sp);
/* Queues the item's insert (copied). Returns SL_ESTORELOST when the store is lost (see
 * sl_store_lost), SL_EFULL when the quota would be exceeded, else 0 with *seq set; done fires
 * after the commit (status < 0: not stored; -ENOSPC when the disk or file size limit is
 * reached). */
int sl_spool_put(struct sl_spool *sp, const struct sl_spool_item *it, uint64_t *seq,
                 sl_store_done_cb done, void *arg);
/* sl_spool_put for items[0..n) (n >= 1) as one store job: they commit together, in one
 * transaction, or none does (a push that answers once for many records, such as an
 * object-store notification). Their positions are *first_seq .. *first_seq + n - 1, in order;
 * done fires once for all of them. */
int sl_spool_put_many(struct sl_spool *sp, const struct sl_spool_item *items, size_t n,
                      uint64_t *first_seq, sl_store_done_cb done, void *arg);
/* Queues the delete of a handled row (committed with the others of this loop iteration);
 * `bytes` is what put charged (sl_spool_charge). */
void sl_spool_delete(struct sl_spool *sp, uint64_t seq, size_t bytes);
/* Fan-out (several mappings read one push source, sources/push_reader.h): reader handled row
 * seq. Its mark is queued like a delete; the row (with its marks) is deleted once nreaders
 * readers of its source have marked it. */
void sl_spool_done(struct sl_spool *sp, uint64_t seq, const char *reader, unsigned nreaders,
                   size_t bytes);
/* At the start of a push source read by readers[0..n) (mapping names): forgets the marks of
 * readers that no longer read it (a mapping removed by a reload) and deletes the rows every
 * current reader has marked. Queued as a store job, ahead of any later mark. */
void sl_spool_sweep(struct sl_spool *sp, const char *source, const char *const *readers, size_t n);
/* The table of fan-out marks (a store schema step, cli/app.c). */
extern const char sl_spool_done_schema[];
/* Submits the gathered deletes now (before closing the store at shutdown). */
void sl_spool_flush(struct sl_spool *sp);
/* Submits the gathered deletes (as a store job, even when there are none) and returns a mark:
 * sl_spool_deleted(sp, mark) is true once that job is done. The store runs its jobs in order,
 * so every write queued before the mark is done too: a scan no longer sees deleted rows (a hook
 * re-created by a reload reads only what is left), a mapping's kept state is committed. */
uint64_t sl_spool_delete_mark(struct sl_spool *sp);
bool sl_spool_deleted(const struct sl_spool *sp, uint64_t mark);
/* The quota charge of an item of this size. */
size_t sl_spool_charge(size_t attrs_len, size_t body_len);
/* Reads up to limit rows of `source` with seq > after, in seq order (read connection), leaving
 * out those `reader` marked done (NULL: none left out). Returns the number of rows passed to
 * cb, or a negative code. */
int sl_spool_scan(struct sl_spool *sp, const char *source, const char *reader, uint64_t after,
                  size_t limit, sl_spool_row_cb cb, void *arg);
/* Rows of source that reader has not marked done (reader NULL: sl_spool_depth). */
int64_t sl_spool_pending(struct sl_spool *sp, const char *source, const char *reader);
/* Rows held for source (NULL: all). */
int64_t sl_spool_depth(struct sl_spool *sp, const char *source);
uint64_t sl_spool_used_bytes(const struct sl_spool *sp);

#endif
