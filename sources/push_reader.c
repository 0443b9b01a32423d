#include "sources/push_reader.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "sources/push_record.h"

/* A mapping's handle on a fanned-out push source: the source's ops with the view's own
 * describe and backlog (the module's start, pause, resume, ack and stop work on s->push). */
struct sl_push_view {
    struct sl_source base;
    struct sl_source_ops ops;
    struct sl_push_reader rd;
};

static void emit(struct sl_push_reader *rd, const struct sl_spool_row *row)
{
    rd->emitted_seq = row->seq;
    rd->emit(rd->owner, rd->src, row);
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
    int n = sl_spool_scan(rd->spool, rd->src->name, rd->reader, rd->emitted_seq, SL_PUSH_SCAN_CHUNK,
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
    src->push = rd;
    ev_idle_init(&rd->scan_watcher, scan_cb);
    rd->scan_watcher.data = rd;
}

static void view_describe(struct sl_source *s, struct sl_jw *w)
{
    struct sl_push_reader *rd = s->push;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", s->ops->type);
    sl_jw_kstr(w, "name", s->name);
    sl_jw_kstr(w, "reader", rd->reader);
    sl_jw_kint(w, "readers", (int64_t)rd->hub->nviews);
    sl_jw_kbool(w, "paused", rd->paused);
    sl_jw_kint(w, "spooled", sl_push_reader_pending(rd));
    /* What the source itself says (its route, its settings), shared by its mappings. */
    sl_jw_key(w, "source");
    rd->hub->src->ops->describe(rd->hub->src, w);
    sl_jw_obj_close(w);
}

static int64_t view_backlog(struct sl_source *s)
{
    return sl_push_reader_pending(s->push);
}

static bool view_ready(struct sl_source *s, char *why, size_t n)
{
    struct sl_source *hub = s->push->hub->src;
    return !hub->ops->ready || hub->ops->ready(hub, why, n);
}

static void view_destroy(struct sl_source *s)
{
    (void)s; /* owned by its source's reader (sl_push_reader_release) */
}

struct sl_source *sl_push_reader_attach(struct sl_push_reader *rd, const char *reader,
                                        size_t nreaders)
{
    if (nreaders <= 1) {
        free(rd->reader);
        rd->reader = sl_strdup(reader);
        return rd->src;
    }
    struct sl_push_view *v = SL_NEW(struct sl_push_view);
    v->ops = *rd->src->ops;
    v->ops.describe = view_describe;
    v->ops.backlog = view_backlog;
    v->ops.ready = view_ready;
    v->ops.destroy = view_destroy;
    v->ops.close = NULL;
    v->ops.check_mapping = NULL;
    sl_source_init(&v->base, &v->ops, rd->src->name);
    sl_push_reader_init(&v->rd, &v->base, rd->loop, rd->spool, rd->emit, rd->owner);
    v->rd.reader = sl_strdup(reader);
    v->rd.hub = rd;
    rd->views = sl_realloc(rd->views, (rd->nviews + 1) * sizeof(*rd->views));
    rd->views[rd->nviews++] = v;
    return &v->base;
}

/* Once per source, at its first start: rows the current mappings all handled leave the spool,
 * and marks of mappings that no longer read it are forgotten (a reload removed one). */
static void sweep(struct sl_push_reader *own)
{
    if (own->swept)
        return;
    own->swept = true;
    size_t n = own->nviews ? own->nviews : 1;
    const char **names = sl_calloc(n, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        names[i] = own->nviews ? own->views[i]->rd.reader : own->reader;
        if (!names[i])
            goto out; /* a reader the app did not name: nothing is known of its marks */
    }
    sl_spool_sweep(own->spool, own->src->name, names, n);
out:
    free(names);
}

void sl_push_reader_start(struct sl_push_reader *rd)
{
    sweep(rd->hub ? rd->hub : rd);
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
    struct sl_push_reader *hub = rd->hub;
    if (!hub)
        return;
    /* The intake (which answers pushers) stops with the last of its running mappings (a
     * disabled one never started). */
    for (size_t i = 0; i < hub->nviews; i++) {
        if (hub->views[i]->rd.started && !hub->views[i]->rd.stopped)
            return;
    }
    hub->stopped = true;
}

void sl_push_reader_ack(struct sl_push_reader *rd, uint64_t seq, size_t charge)
{
    if (rd->hub)
        sl_spool_done(rd->spool, seq, rd->reader, (unsigned)rd->hub->nviews, charge);
    else
        sl_spool_delete(rd->spool, seq, charge);
}

int64_t sl_push_reader_pending(struct sl_push_reader *rd)
{
    return sl_spool_pending(rd->spool, rd->src->name, rd->reader);
}

void sl_push_reader_release(struct sl_push_reader *rd)
{
    ev_idle_stop(rd->loop, &rd->scan_watcher);
    for (size_t i = 0; i < rd->nviews; i++) {
        struct sl_push_view *v = rd->views[i];
        ev_idle_stop(rd->loop, &v->rd.scan_watcher);
        free(v->rd.reader);
        sl_source_release(&v->base);
        free(v);
    }
    free(rd->views);
    rd->views = NULL;
    rd->nviews = 0;
    free(rd->reader);
    rd->reader = NULL;
}

void sl_push_reader_committed(struct sl_push_reader *rd, const struct sl_spool_row *row)
{
    for (size_t i = 0; i < rd->nviews; i++)
        sl_push_reader_committed(&rd->views[i]->rd, row);
    if (!rd->nviews && !rd->backlog && !rd->paused && !rd->stopped && row->seq > rd->emitted_seq)
        emit(rd, row);
}

int sl_push_source_start(struct sl_source *s, struct sl_err *err)
{
    (void)err;
    sl_push_reader_start(s->push);
    return 0;
}

void sl_push_source_pause(struct sl_source *s)
{
    sl_push_reader_pause(s->push);
}

void sl_push_source_resume(struct sl_source *s)
{
    sl_push_reader_resume(s->push);
}

void sl_push_source_ack(struct sl_source *s, const struct sl_record *r)
{
    const char *id, *attrs;
    sl_push_record_parts(r, &id, &attrs);
    sl_push_reader_ack(s->push, r->seq, sl_spool_charge(strlen(attrs), r->body_len));
}

void sl_push_source_stop(struct sl_source *s, sl_source_stopped_cb cb, void *arg)
{
    sl_push_reader_stop(s->push);
    if (cb)
        cb(s, arg);
}

int64_t sl_push_source_backlog(struct sl_source *s)
{
    return sl_spool_depth(s->push->spool, s->name);
}
