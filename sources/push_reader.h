/* How every push source (webhooks, object-store notifications, SNS) hands its spooled records
 * to its mappings. A record is emitted straight after its commit while nothing older waits in
 * the spool; otherwise (after a restart, while paused, after a stop) the records are read back
 * from the spool in chunks by an idle watcher, so a long backlog never starves the loop.
 *
 * Fan-out: when several mappings read one source, the source keeps one intake (one route, one
 * spool insert) and its own reader hands each committed row to one view per mapping. A view is
 * a struct sl_source its mapping holds, with its own cursor and pause state, so a paused or
 * failing mapping never holds the others back; it reads back from the spool on its own when it
 * falls behind, leaving out the rows it already handled. A view's ack marks the row done for
 * its mapping (sl_spool_done); the row leaves the spool once every mapping has marked it. With
 * one mapping nothing of this runs: the ack deletes the row, as before. */
#ifndef SL_SOURCES_PUSH_READER_H
#define SL_SOURCES_PUSH_READER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "sources/source.h"
#include "sources/spool.h"

#define SL_PUSH_SCAN_CHUNK 256 /* rows read back per loop turn */

/* Makes the source's typed record of a spooled row and emits it to `to` (sl_source_emit): the
 * source itself, or the view of one of its mappings. */
typedef void (*sl_push_emit_fn)(void *owner, struct sl_source *to, const struct sl_spool_row *row);

struct sl_push_view;

struct sl_push_reader {
    struct sl_source *src; /* what the mapping holds; its name selects the spool rows */
    struct ev_loop *loop;
    struct sl_spool *spool;
    sl_push_emit_fn emit;
    void *owner;
    bool started;
    bool stopped;
    bool paused;
    bool backlog;         /* records in the spool not yet emitted: read them from there */
    bool swept;           /* the source's own reader: the spool's marks were swept */
    uint64_t emitted_seq; /* highest seq handed to the mapping */
    ev_idle scan_watcher;
    char *reader;                /* its mapping's name (the rows it marked done), or NULL */
    struct sl_push_reader *hub;  /* a view's: the source's own reader; NULL for that one */
    struct sl_push_view **views; /* the source's own reader, fanned out: one per mapping */
    size_t nviews;
};

/* Starts with a backlog: what a previous run left is read back first. Sets src->push. */
void sl_push_reader_init(struct sl_push_reader *rd, struct sl_source *src, struct ev_loop *loop,
                         struct sl_spool *spool, sl_push_emit_fn emit, void *owner);
/* Before start: the source's reader gives the mapping named `reader`, one of the nreaders that
 * read it, what it reads from: the source itself when it is the only one, else a view of its
 * own (owned by rd, freed by sl_push_reader_release). */
struct sl_source *sl_push_reader_attach(struct sl_push_reader *rd, const char *reader,
                                        size_t nreaders);
/* The source ops' part, for the reader of the handle s (s->push): start, pause (intake goes on
 * into the spool; read back on resume), resume, stop (nothing more is emitted; a fanned-out
 * source's intake stops once every view has stopped). */
void sl_push_reader_start(struct sl_push_reader *rd);
void sl_push_reader_pause(struct sl_push_reader *rd);
void sl_push_reader_resume(struct sl_push_reader *rd);
void sl_push_reader_stop(struct sl_push_reader *rd);
/* The mapping handled row seq (charge: what the spool put charged): deleted, or marked done
 * for a view's mapping. */
void sl_push_reader_ack(struct sl_push_reader *rd, uint64_t seq, size_t charge);
/* The source ops of a push source whose records are sl_push_record's (sources/push_record.h):
 * each is the reader's part above for the handle's reader (s->push). */
int sl_push_source_start(struct sl_source *s, struct sl_err *err);
void sl_push_source_pause(struct sl_source *s);
void sl_push_source_resume(struct sl_source *s);
void sl_push_source_ack(struct sl_source *s, const struct sl_record *r);
void sl_push_source_stop(struct sl_source *s, sl_source_stopped_cb cb, void *arg);
/* Its rows in the spool (the source's backlog op). */
int64_t sl_push_source_backlog(struct sl_source *s);
/* Rows this reader has not handled yet. */
int64_t sl_push_reader_pending(struct sl_push_reader *rd);
/* Stops the watchers for good and frees the views (destroy). */
void sl_push_reader_release(struct sl_push_reader *rd);
/* After the commit of the row seq: emits it now to each reader when nothing older waits for it
 * and it runs; else that reader's scan will read it. */
void sl_push_reader_committed(struct sl_push_reader *rd, const struct sl_spool_row *row);

#endif
