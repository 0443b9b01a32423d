#include "sources/push_reader.h"

#include "core/err.h"
#include "core/log.h"

static void emit(struct sl_push_reader *rd, const struct sl_spool_row *row)
{
    rd->emitted_seq = row->seq;
    rd->emit(rd->owner, row);
}

static int scan_row_cb(const struct sl_spool_row *row, void *arg)
{
    struct sl_push_reader *rd = arg;
    emit(rd, row);
    return rd->paused; /* the mapping may pause us from inside emit */
}

static void scan_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct sl_push_reader *rd = w->data;
    if (rd->paused || rd->stopped) {
        ev_idle_stop(loop, w);
        return;
    }
    int n = sl_spool_scan(rd->spool, rd->src->name, rd->emitted_seq, SL_PUSH_SCAN_CHUNK,
                          scan_row_cb, rd);
    if (n < 0) {
        sl_error(rd->src->scope, "cannot read the spool: %s (will retry)", sl_strerror(n));
        return;
    }
    if (n == 0) {
        /* Every commit whose callback has fired is visible and now emitted. */
        rd->backlog = false;
        ev_idle_stop(loop, w);
    }
}

void sl_push_reader_init(struct sl_push_reader *rd, struct sl_source *src, struct ev_loop *loop,
                         struct sl_spool *spool, sl_push_emit_fn emit_fn, void *owner)
{
    *rd = (struct sl_push_reader){
        .src = src,
        .loop = loop,
        .spool = spool,
        .emit = emit_fn,
        .owner = owner,
        .backlog = true,
    };
    ev_idle_init(&rd->scan_watcher, scan_cb);
    rd->scan_watcher.data = rd;
}

void sl_push_reader_start(struct sl_push_reader *rd)
{
    rd->started = true;
    if (!rd->paused)
        ev_idle_start(rd->loop, &rd->scan_watcher);
}

void sl_push_reader_pause(struct sl_push_reader *rd)
{
    if (rd->paused)
        return;
    rd->paused = true;
    rd->backlog = true;
    ev_idle_stop(rd->loop, &rd->scan_watcher);
}

void sl_push_reader_resume(struct sl_push_reader *rd)
{
    if (!rd->paused)
        return;
    rd->paused = false;
    if (rd->started && !rd->stopped)
        ev_idle_start(rd->loop, &rd->scan_watcher);
}

void sl_push_reader_stop(struct sl_push_reader *rd)
{
    rd->stopped = true;
    ev_idle_stop(rd->loop, &rd->scan_watcher);
}

void sl_push_reader_release(struct sl_push_reader *rd)
{
    ev_idle_stop(rd->loop, &rd->scan_watcher);
}

void sl_push_reader_committed(struct sl_push_reader *rd, const struct sl_spool_row *row)
{
    if (!rd->backlog && !rd->paused && !rd->stopped && row->seq > rd->emitted_seq)
        emit(rd, row);
}
