/* How every push source (webhooks, object-store notifications) hands its spooled records to
 * its mapping. A record is emitted straight after its commit while nothing older waits in the
 * spool; otherwise (after a restart, while paused, after a stop) the records are read back from
 * the spool in chunks by an idle watcher, so a long backlog never starves the loop. */
#ifndef SL_SOURCES_PUSH_READER_H
#define SL_SOURCES_PUSH_READER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "sources/source.h"
#include "sources/spool.h"

#define SL_PUSH_SCAN_CHUNK 256 /* rows read back per loop turn */

/* Makes the source's typed record of a spooled row and emits it (sl_source_emit). */
typedef void (*sl_push_emit_fn)(void *owner, const struct sl_spool_row *row);

struct sl_push_reader {
    struct sl_source *src; /* its name selects the spool rows; its scope names errors */
    struct ev_loop *loop;
    struct sl_spool *spool;
    sl_push_emit_fn emit;
    void *owner;
    bool started;
    bool stopped;
    bool paused;
    bool backlog;         /* records in the spool not yet emitted: read them from there */
    uint64_t emitted_seq; /* highest seq handed to the mapping */
    ev_idle scan_watcher;
};

/* Starts with a backlog: what a previous run left is read back first. */
void sl_push_reader_init(struct sl_push_reader *rd, struct sl_source *src, struct ev_loop *loop,
                         struct sl_spool *spool, sl_push_emit_fn emit, void *owner);
/* The source ops' part: start, pause (intake goes on into the spool; read back on resume),
 * resume, stop (nothing more is emitted). */
void sl_push_reader_start(struct sl_push_reader *rd);
void sl_push_reader_pause(struct sl_push_reader *rd);
void sl_push_reader_resume(struct sl_push_reader *rd);
void sl_push_reader_stop(struct sl_push_reader *rd);
/* Stops the watcher for good (destroy). */
void sl_push_reader_release(struct sl_push_reader *rd);
/* After the commit of the row seq: emits it now when nothing older waits and the reader
 * runs; else the scan will read it. */
void sl_push_reader_committed(struct sl_push_reader *rd, const struct sl_spool_row *row);

#endif
