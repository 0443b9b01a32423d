/* The acknowledgement tracker of one stream (one lane): the entry ids the source emitted, in
 * emission order, each with its state. The mapping reports handled records in any order; the
 * source XACKs only the handled prefix, so that after a crash the pending entries list holds
 * every entry from the first unhandled one on. A record's seq is its position here: seq n is
 * the n-th entry emitted on the lane (from 1), so finding it is an index computation. */
#ifndef SL_SOURCES_REDIS_TRACKER_H
#define SL_SOURCES_REDIS_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_REDIS_ID_MAX 48 /* "18446744073709551615-18446744073709551615" fits */

enum sl_redis_slot_state {
    SL_REDIS_HELD = 0, /* emitted, not yet handled */
    SL_REDIS_HANDLED,  /* handled, XACK not yet sent */
    SL_REDIS_ACKING,   /* XACK sent, reply not yet in */
    SL_REDIS_ACKED,    /* XACK confirmed (leaves as soon as it is at the front) */
};

struct sl_redis_slot {
    char id[SL_REDIS_ID_MAX];
    unsigned char state;
    unsigned char len; /* strlen(id) */
};

struct sl_redis_tracker {
    struct sl_redis_slot *v; /* ring */
    size_t cap, head, n;
    uint64_t head_seq; /* seq of v[head]; the next seq is head_seq + n */
};

/* An entry id "ms-seq": its two numbers. Returns 0, or -EINVAL when s is not one. */
int sl_redis_id_parse(const char *s, size_t len, uint64_t *ms, uint64_t *seq);

void sl_redis_tracker_init(struct sl_redis_tracker *t);
void sl_redis_tracker_release(struct sl_redis_tracker *t);
/* Appends an emitted entry; returns its seq. id must be shorter than SL_REDIS_ID_MAX. */
uint64_t sl_redis_tracker_push(struct sl_redis_tracker *t, const char *id);
/* Marks seq handled: 0, or -ENOENT when it is not held (unknown or handled twice). */
int sl_redis_tracker_handled(struct sl_redis_tracker *t, uint64_t seq);
/* True when id is tracked (in any state). Linear: used on recovery and claims only. */
bool sl_redis_tracker_contains(const struct sl_redis_tracker *t, const char *id);
/* The handled prefix not yet sent: from the front, skips entries being acked, collects up to
 * max HANDLED entries (marking them ACKING) and stops at the first HELD one. Fills *first with
 * the seq of the first collected entry; the collected entries are consecutive. Returns how many
 * were collected (their ids: sl_redis_tracker_id(t, first + i)). */
size_t sl_redis_tracker_take_ackable(struct sl_redis_tracker *t, size_t max, uint64_t *first);
const char *sl_redis_tracker_id(const struct sl_redis_tracker *t, uint64_t seq);
/* The same with its length (*len); NULL when seq is not tracked. */
const char *sl_redis_tracker_id_len(const struct sl_redis_tracker *t, uint64_t seq, size_t *len);
/* The XACK of [first, first + n) succeeded: those leave once they reach the front. */
void sl_redis_tracker_acked(struct sl_redis_tracker *t, uint64_t first, size_t n);
/* The XACK of [first, first + n) failed or its connection went away: send them again. */
void sl_redis_tracker_unack(struct sl_redis_tracker *t, uint64_t first, size_t n);
/* Every ACKING entry back to HANDLED (after a reconnect nothing is in flight). */
void sl_redis_tracker_reset_acking(struct sl_redis_tracker *t);
/* Entries in a state (for describe and heartbeats). */
size_t sl_redis_tracker_count(const struct sl_redis_tracker *t, enum sl_redis_slot_state st);

#endif
