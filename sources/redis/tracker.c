#include "sources/redis/tracker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

int sl_redis_id_parse(const char *s, size_t len, uint64_t *ms, uint64_t *seq)
{
    uint64_t part[2] = {0, 0};
    size_t k = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '-' && k == 0 && digits > 0) {
            k = 1;
            digits = 0;
            continue;
        }
        if (ch < '0' || ch > '9' || digits >= 20)
            return -EINVAL;
        uint64_t d = (uint64_t)(ch - '0');
        /* 19 digits always fit (10^19 - 1 < 2^64 - 1): only the 20th can overflow. Checked
         * only then, as this runs for every entry read. */
        if (digits == 19 && part[k] > (UINT64_MAX - d) / 10)
            return -EINVAL;
        part[k] = part[k] * 10 + d;
        digits++;
    }
    if (k != 1 || digits == 0)
        return -EINVAL;
    *ms = part[0];
    *seq = part[1];
    return 0;
}

void sl_redis_tracker_init(struct sl_redis_tracker *t)
{
    memset(t, 0, sizeof(*t));
    t->head_seq = 1;
}

void sl_redis_tracker_release(struct sl_redis_tracker *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
    t->head_seq = 1;
}

static struct sl_redis_slot *slot_at(const struct sl_redis_tracker *t, size_t i)
{
    return &t->v[(t->head + i) % t->cap];
}

static struct sl_redis_slot *slot_of(const struct sl_redis_tracker *t, uint64_t seq)
{
    if (seq < t->head_seq || seq - t->head_seq >= t->n)
        return NULL;
    return slot_at(t, (size_t)(seq - t->head_seq));
}

uint64_t sl_redis_tracker_push(struct sl_redis_tracker *t, const char *id)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        struct sl_redis_slot *v = sl_malloc(ncap * sizeof(*v));
        for (size_t i = 0; i < t->n; i++)
            v[i] = *slot_at(t, i);
        free(t->v);
        t->v = v;
        t->cap = ncap;
        t->head = 0;
    }
    struct sl_redis_slot *sl = slot_at(t, t->n);
    size_t len = strnlen(id, SL_REDIS_ID_MAX - 1);
    memcpy(sl->id, id, len);
    sl->id[len] = '\0';
    sl->len = (unsigned char)len;
    sl->state = SL_REDIS_HELD;
    t->n++;
    return t->head_seq + t->n - 1;
}

int sl_redis_tracker_handled(struct sl_redis_tracker *t, uint64_t seq)
{
    struct sl_redis_slot *sl = slot_of(t, seq);
    if (!sl || sl->state != SL_REDIS_HELD)
        return -ENOENT;
    sl->state = SL_REDIS_HANDLED;
    return 0;
}

bool sl_redis_tracker_contains(const struct sl_redis_tracker *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(slot_at(t, i)->id, id) == 0)
            return true;
    }
    return false;
}

size_t sl_redis_tracker_take_ackable(struct sl_redis_tracker *t, size_t max, uint64_t *first)
{
    size_t i = 0, taken = 0;
    while (i < t->n) {
        unsigned char st = slot_at(t, i)->state;
        if (st != SL_REDIS_ACKING && st != SL_REDIS_ACKED)
            break;
        i++;
    }
    *first = t->head_seq + i;
    for (; i < t->n && taken < max; i++, taken++) {
        struct sl_redis_slot *sl = slot_at(t, i);
        if (sl->state != SL_REDIS_HANDLED)
            break;
        sl->state = SL_REDIS_ACKING;
    }
    return taken;
}

const char *sl_redis_tracker_id(const struct sl_redis_tracker *t, uint64_t seq)
{
    struct sl_redis_slot *sl = slot_of(t, seq);
    return sl ? sl->id : NULL;
}

const char *sl_redis_tracker_id_len(const struct sl_redis_tracker *t, uint64_t seq, size_t *len)
{
    struct sl_redis_slot *sl = slot_of(t, seq);
    *len = sl ? sl->len : 0;
    return sl ? sl->id : NULL;
}

void sl_redis_tracker_acked(struct sl_redis_tracker *t, uint64_t first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sl_redis_slot *sl = slot_of(t, first + i);
        if (sl && sl->state == SL_REDIS_ACKING)
            sl->state = SL_REDIS_ACKED;
    }
    while (t->n > 0 && slot_at(t, 0)->state == SL_REDIS_ACKED) {
        t->head = (t->head + 1) % t->cap;
        t->head_seq++;
        t->n--;
    }
}

void sl_redis_tracker_unack(struct sl_redis_tracker *t, uint64_t first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sl_redis_slot *sl = slot_of(t, first + i);
        if (sl && sl->state == SL_REDIS_ACKING)
            sl->state = SL_REDIS_HANDLED;
    }
}

void sl_redis_tracker_reset_acking(struct sl_redis_tracker *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct sl_redis_slot *sl = slot_at(t, i);
        if (sl->state == SL_REDIS_ACKING)
            sl->state = SL_REDIS_HANDLED;
    }
}

size_t sl_redis_tracker_count(const struct sl_redis_tracker *t, enum sl_redis_slot_state st)
{
    size_t c = 0;
    for (size_t i = 0; i < t->n; i++)
        c += slot_at(t, i)->state == st;
    return c;
}
