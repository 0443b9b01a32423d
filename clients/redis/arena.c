#include "clients/redis/arena.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* A reply of a few hundred small entries fits the first block; bigger ones chain blocks. */
#define ARENA_BLOCK_MIN (64 * 1024)
/* What an arena keeps between replies: one huge reply does not pin its size forever. */
#define ARENA_RETAIN_MAX (1024 * 1024)

struct block {
    struct block *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct sl_redis_arenas *owner;
    struct block *first, *cur;
};

/* One arena per reply being built or handed out. hiredis builds one reply at a time and frees
 * it before it parses the next, so a connection needs one arena: it waits in `spare`. */
struct sl_redis_arenas {
    struct arena *spare;
    unsigned live; /* replies not yet freed */
    bool orphaned; /* the owner let go: free what comes back */
};

/* Every object of a reply: a plain redisReply (what the callbacks read) and its arena. */
struct node {
    redisReply r;
    struct arena *a;
    bool root;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct block *b = a->cur;
    if (b && b->cap - b->used < n) {
        /* Blocks kept from earlier replies come next; one too small gets a new one before it. */
        b = b->next && b->next->cap >= n ? b->next : NULL;
        if (!b) {
            size_t cap = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
            b = sl_malloc(sizeof(*b) + cap);
            b->cap = cap;
            b->used = 0;
            b->next = a->cur->next;
            a->cur->next = b;
        }
        a->cur = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static struct arena *arena_new(struct sl_redis_arenas *owner)
{
    struct arena *a = sl_malloc(sizeof(*a));
    struct block *b = sl_malloc(sizeof(*b) + ARENA_BLOCK_MIN);
    b->next = NULL;
    b->cap = ARENA_BLOCK_MIN;
    b->used = 0;
    a->owner = owner;
    a->first = a->cur = b;
    return a;
}

static void arena_free(struct arena *a)
{
    for (struct block *b = a->first, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

static size_t arena_held(const struct arena *a)
{
    size_t n = 0;
    for (const struct block *b = a->first; b; b = b->next)
        n += b->cap;
    return n;
}

/* Empty again; only the first block stays when the blocks add up to more than retained. */
static void arena_reset(struct arena *a)
{
    bool trim = arena_held(a) > ARENA_RETAIN_MAX;
    for (struct block *b = a->first->next, *next; b && trim; b = next) {
        next = b->next;
        free(b);
    }
    if (trim) {
        a->first->next = NULL;
        if (a->first->cap > ARENA_RETAIN_MAX) {
            free(a->first);
            a->first = sl_malloc(sizeof(*a->first) + ARENA_BLOCK_MIN);
            a->first->cap = ARENA_BLOCK_MIN;
            a->first->next = NULL;
        }
    }
    for (struct block *b = a->first; b; b = b->next)
        b->used = 0;
    a->cur = a->first;
}

/* A new object of the task's reply: the root takes an arena, the others go into the root's
 * and into their parent's element array, as hiredis's own functions do. */
static struct node *node_new(const redisReadTask *task, int type)
{
    struct node *nd;
    if (task->parent) {
        struct node *parent = task->parent->obj;
        nd = arena_alloc(parent->a, sizeof(*nd));
        memset(nd, 0, sizeof(*nd));
        nd->a = parent->a;
        if (parent->r.type == REDIS_REPLY_ARRAY && task->idx >= 0 &&
            (size_t)task->idx < parent->r.elements)
            parent->r.element[task->idx] = &nd->r;
    } else {
        struct sl_redis_arenas *as = task->privdata;
        if (!as)
            return NULL; /* not attached: hiredis reports it as out of memory */
        struct arena *a = as->spare ? as->spare : arena_new(as);
        as->spare = NULL;
        as->live++;
        nd = arena_alloc(a, sizeof(*nd));
        memset(nd, 0, sizeof(*nd));
        nd->a = a;
        nd->root = true;
    }
    nd->r.type = type;
    return nd;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    struct node *nd = node_new(task, task->type);
    if (!nd)
        return NULL;
    char *s = arena_alloc(nd->a, len + 1);
    memcpy(s, str, len);
    s[len] = '\0';
    nd->r.str = s;
    nd->r.len = len;
    return nd;
}

static void *create_array(const redisReadTask *task, int elements)
{
    struct node *nd = node_new(task, REDIS_REPLY_ARRAY);
    if (!nd)
        return NULL;
    if (elements > 0) {
        nd->r.element = arena_alloc(nd->a, (size_t)elements * sizeof(*nd->r.element));
        memset(nd->r.element, 0, (size_t)elements * sizeof(*nd->r.element));
    }
    nd->r.elements = elements > 0 ? (size_t)elements : 0;
    return nd;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    struct node *nd = node_new(task, REDIS_REPLY_INTEGER);
    if (nd)
        nd->r.integer = value;
    return nd;
}

static void *create_nil(const redisReadTask *task)
{
    return node_new(task, REDIS_REPLY_NIL);
}

/* hiredis frees only whole replies (the root); the whole arena goes back at once. */
static void free_object(void *obj)
{
    struct node *nd = obj;
    if (!nd || !nd->root)
        return;
    struct arena *a = nd->a;
    struct sl_redis_arenas *as = a->owner;
    as->live--;
    if (as->orphaned || as->spare) {
        arena_free(a);
        if (as->orphaned && as->live == 0)
            free(as);
        return;
    }
    arena_reset(a);
    as->spare = a;
}

redisReplyObjectFunctions sl_redis_arena_fns = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
    .freeObject = free_object,
};

struct sl_redis_arenas *sl_redis_arenas_new(void)
{
    return sl_calloc(1, sizeof(struct sl_redis_arenas));
}

void sl_redis_arenas_attach(struct sl_redis_arenas *as, redisContext *c)
{
    c->reader->fn = &sl_redis_arena_fns;
    c->reader->privdata = as;
}

void sl_redis_arenas_release(struct sl_redis_arenas *as)
{
    if (!as)
        return;
    if (as->spare)
        arena_free(as->spare);
    as->spare = NULL;
    as->orphaned = true;
    if (as->live == 0)
        free(as);
}

size_t sl_redis_arenas_held(const struct sl_redis_arenas *as)
{
    return as && as->spare ? arena_held(as->spare) : 0;
}
