/* The offset window of one partition: what was read, in read order, and what was handled. Acks
 * come out of order (bisect halves, DLQ writes, several batches of other lanes); the commit
 * position only moves over a handled prefix. Kafka offsets need not be contiguous (compaction,
 * transaction markers), so the window keeps the offsets themselves. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

void sl_kwin_init(struct sl_kwin *w)
{
    memset(w, 0, sizeof(*w));
    w->commit = -1;
}

void sl_kwin_release(struct sl_kwin *w)
{
    free(w->off);
    free(w->time_ms);
    free(w->done);
    sl_kwin_init(w);
}

void sl_kwin_reset(struct sl_kwin *w)
{
    w->head = 0;
    w->n = 0;
    w->commit = -1;
}

/* cap is a power of two (64, doubled), so a mask wraps the ring. */
static size_t slot(const struct sl_kwin *w, size_t i)
{
    return (w->head + i) & (w->cap - 1);
}

static void grow(struct sl_kwin *w)
{
    size_t cap = w->cap ? w->cap * 2 : 64;
    int64_t *off = sl_calloc(cap, sizeof(*off));
    int64_t *tm = sl_calloc(cap, sizeof(*tm));
    uint8_t *done = sl_calloc(cap, 1);
    for (size_t i = 0; i < w->n; i++) {
        size_t s = slot(w, i);
        off[i] = w->off[s];
        tm[i] = w->time_ms[s];
        done[i] = w->done[s];
    }
    free(w->off);
    free(w->time_ms);
    free(w->done);
    w->off = off;
    w->time_ms = tm;
    w->done = done;
    w->cap = cap;
    w->head = 0;
}

void sl_kwin_push(struct sl_kwin *w, int64_t offset, int64_t time_ms)
{
    if (w->n == w->cap)
        grow(w);
    size_t s = slot(w, w->n);
    w->off[s] = offset;
    w->time_ms[s] = time_ms;
    w->done[s] = 0;
    w->n++;
}

/* Index (0 = oldest) of offset; -1 when absent. Offsets are nearly always contiguous, so the
 * distance from the oldest is tried first; then a binary search. */
static long find(const struct sl_kwin *w, int64_t offset)
{
    if (w->n == 0)
        return -1;
    int64_t guess = offset - w->off[w->head];
    if (guess >= 0 && (uint64_t)guess < w->n && w->off[slot(w, (size_t)guess)] == offset)
        return (long)guess;
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = w->off[slot(w, mid)];
        if (v == offset)
            return (long)mid;
        if (v < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int sl_kwin_ack(struct sl_kwin *w, int64_t offset)
{
    long i = find(w, offset);
    if (i < 0)
        return SL_ENOTFOUND;
    w->done[slot(w, (size_t)i)] = 1;
    while (w->n > 0 && w->done[w->head]) {
        w->commit = w->off[w->head] + 1;
        w->head = (w->head + 1) & (w->cap - 1);
        w->n--;
    }
    if (w->n == 0)
        w->head = 0;
    return 0;
}

int64_t sl_kwin_commit_pos(const struct sl_kwin *w)
{
    if (w->n > 0)
        return w->off[w->head];
    return w->commit;
}

int64_t sl_kwin_oldest_ms(const struct sl_kwin *w)
{
    return w->n > 0 ? w->time_ms[w->head] : -1;
}

size_t sl_kwin_pending(const struct sl_kwin *w)
{
    size_t p = 0;
    for (size_t i = 0; i < w->n; i++)
        p += !w->done[slot(w, i)];
    return p;
}
