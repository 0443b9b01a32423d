/* Replies built in a reused arena instead of one malloc per element.
 *
 * hiredis builds a reply through a table of object functions (redisReplyObjectFunctions, see
 * hiredis's README, "Customizing replies"): by default every element of a reply is its own
 * redisReply and every string its own allocation, so an XREADGROUP reply of 100 entries of a
 * few fields is hundreds of mallocs and as many frees. These functions build the same
 * redisReply tree (the callbacks read it as usual), but every node, element array and string
 * of a reply lives in one arena whose blocks are kept from reply to reply: once the arena has
 * grown to the size of the replies, reading allocates nothing. Strings are NUL-terminated as
 * hiredis's are. */
#ifndef SL_CLIENTS_REDIS_ARENA_H
#define SL_CLIENTS_REDIS_ARENA_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct sl_redis_arenas;

struct sl_redis_arenas *sl_redis_arenas_new(void);
/* Makes the reader of c build its replies in arenas of as (before any reply is read). */
void sl_redis_arenas_attach(struct sl_redis_arenas *as, redisContext *c);
/* The owner lets go: freed at once, or when the last reply built in it is freed (a context whose
 * release hiredis deferred may still free one later). */
void sl_redis_arenas_release(struct sl_redis_arenas *as);
/* Bytes held by the arenas (blocks kept for the next replies; for tests). */
size_t sl_redis_arenas_held(const struct sl_redis_arenas *as);

/* The object functions themselves (for tests that drive a redisReader directly: set
 * reader->fn to them and reader->privdata to the arenas). */
extern redisReplyObjectFunctions sl_redis_arena_fns;

#endif
