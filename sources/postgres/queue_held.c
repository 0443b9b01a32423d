/* The rows a postgres-queue source holds, by id: claimed and not yet handled, or handled and
 * not yet deleted. Open addressing with linear probing; a removed slot stays GONE (probing
 * passes it) until the table is rebuilt, which happens when live and gone slots fill 70%. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/postgres/queue_int.h"

#define HELD_MIN_CAP  64
#define HELD_KEEP_CAP 1024 /* an empty table larger than this is freed, not cleared */

static size_t slot_of(int64_t id, size_t cap)
{
    /* splitmix64's finalizer: consecutive ids spread over the table. */
    uint64_t x = (uint64_t)id + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x & (cap - 1);
}

void sl_pgq_held_init(struct sl_pgq_held *h)
{
    memset(h, 0, sizeof(*h));
}

void sl_pgq_held_release(struct sl_pgq_held *h)
{
    free(h->v);
    memset(h, 0, sizeof(*h));
}

struct sl_pgq_slot *sl_pgq_held_find(struct sl_pgq_held *h, int64_t id)
{
    if (!h->cap)
        return NULL;
    for (size_t i = slot_of(id, h->cap);; i = (i + 1) & (h->cap - 1)) {
        struct sl_pgq_slot *s = &h->v[i];
        if (s->state == SL_PGQ_FREE)
            return NULL;
        if (s->state != SL_PGQ_GONE && s->id == id)
            return s;
    }
}

static void rebuild(struct sl_pgq_held *h, size_t cap)
{
    struct sl_pgq_slot *old = h->v;
    size_t old_cap = h->cap;
    h->v = sl_calloc(cap, sizeof(*h->v));
    h->cap = cap;
    h->used = h->n;
    for (size_t k = 0; k < old_cap; k++) {
        if (old[k].state == SL_PGQ_FREE || old[k].state == SL_PGQ_GONE)
            continue;
        size_t i = slot_of(old[k].id, cap);
        while (h->v[i].state != SL_PGQ_FREE)
            i = (i + 1) & (cap - 1);
        h->v[i] = old[k];
    }
    free(old);
}

struct sl_pgq_slot *sl_pgq_held_add(struct sl_pgq_held *h, int64_t id)
{
    if ((h->used + 1) * 10 > h->cap * 7) {
        size_t cap = h->cap ? h->cap : HELD_MIN_CAP;
        /* Grow when live slots need it; else the same size rids the table of GONE slots. */
        while ((h->n + 1) * 10 > cap * 5)
            cap *= 2;
        rebuild(h, cap);
    }
    size_t i = slot_of(id, h->cap);
    while (h->v[i].state != SL_PGQ_FREE && h->v[i].state != SL_PGQ_GONE)
        i = (i + 1) & (h->cap - 1);
    struct sl_pgq_slot *s = &h->v[i];
    if (s->state == SL_PGQ_FREE)
        h->used++;
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->state = SL_PGQ_HELD;
    h->n++;
    return s;
}

void sl_pgq_held_remove(struct sl_pgq_held *h, struct sl_pgq_slot *s)
{
    s->state = SL_PGQ_GONE;
    h->n--;
    if (h->n == 0) {
        /* Empty (between bursts, and after every row at a low rate): every slot is free
         * again. A table a burst grew is given back rather than cleared each time. */
        if (h->cap > HELD_KEEP_CAP) {
            free(h->v);
            h->v = NULL;
            h->cap = 0;
        } else {
            memset(h->v, 0, h->cap * sizeof(*h->v));
        }
        h->used = 0;
    }
}

void sl_pgq_ids_push(struct sl_pgq_ids *l, int64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = sl_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = id;
}

void sl_pgq_ids_release(struct sl_pgq_ids *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void sl_pgq_ids_array(const int64_t *ids, size_t n, struct sl_buf *out)
{
    char *d = sl_buf_reserve(out, n * 22 + 2), *start = d;
    *d++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *d++ = ',';
        if (ids[i] < 0) {
            *d++ = '-';
            d += sl_u64_to_dec((uint64_t)0 - (uint64_t)ids[i], d);
        } else {
            d += sl_u64_to_dec((uint64_t)ids[i], d);
        }
    }
    *d++ = '}';
    sl_buf_commit(out, (size_t)(d - start));
}
