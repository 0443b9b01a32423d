/* Replies built in arenas (clients/redis/arena.c) by a real hiredis reader: the same trees as
 * hiredis's own objects, fed whole or byte by byte; arenas reused, trimmed after a huge reply,
 * and let go of while a reply is still out (ASan checks that nothing leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/read.h>

#include "clients/redis/arena.h"

/* An XREADGROUP reply: stream "s" with entry 1-1 (k=v, body="" ) and 1-2, deleted (nil). */
static const char XREAD[] =
    "*1\r\n*2\r\n$1\r\ns\r\n*2\r\n"
    "*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nbody\r\n$0\r\n\r\n"
    "*2\r\n$3\r\n1-2\r\n*-1\r\n";

static redisReader *reader(struct sl_redis_arenas *as)
{
    redisReader *r = redisReaderCreateWithFunctions(&sl_redis_arena_fns);
    assert_non_null(r);
    r->privdata = as;
    return r;
}

/* Feeds text in pieces of `step` bytes; returns the one reply it makes. */
static redisReply *parse(redisReader *r, const char *text, size_t len, size_t step)
{
    void *out = NULL;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(redisReaderFeed(r, text + off, n), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, &out), REDIS_OK);
        if (off + n < len)
            assert_null(out);
    }
    assert_non_null(out);
    return out;
}

static void check_xread(const redisReply *top)
{
    assert_int_equal(top->type, REDIS_REPLY_ARRAY);
    assert_int_equal(top->elements, 1);
    const redisReply *sr = top->element[0];
    assert_int_equal(sr->elements, 2);
    assert_string_equal(sr->element[0]->str, "s");
    const redisReply *entries = sr->element[1];
    assert_int_equal(entries->type, REDIS_REPLY_ARRAY);
    assert_int_equal(entries->elements, 2);
    const redisReply *e = entries->element[0];
    assert_int_equal(e->element[0]->type, REDIS_REPLY_STRING);
    assert_int_equal(e->element[0]->len, 3);
    assert_string_equal(e->element[0]->str, "1-1");
    const redisReply *f = e->element[1];
    assert_int_equal(f->elements, 4);
    assert_string_equal(f->element[0]->str, "k");
    assert_string_equal(f->element[1]->str, "v");
    assert_string_equal(f->element[2]->str, "body");
    assert_int_equal(f->element[3]->len, 0);
    assert_string_equal(f->element[3]->str, "");
    assert_string_equal(entries->element[1]->element[0]->str, "1-2");
    assert_int_equal(entries->element[1]->element[1]->type, REDIS_REPLY_NIL);
}

static void test_an_xreadgroup_reply_is_the_usual_tree(void **state)
{
    struct sl_redis_arenas *as = sl_redis_arenas_new();
    redisReader *r = reader(as);
    redisReply *top = parse(r, XREAD, sizeof(XREAD) - 1, sizeof(XREAD));
    check_xread(top);
    sl_redis_arena_fns.freeObject(top);
    /* Byte by byte: the reader stops and resumes inside every element. */
    top = parse(r, XREAD, sizeof(XREAD) - 1, 1);
    check_xread(top);
    sl_redis_arena_fns.freeObject(top);
    redisReaderFree(r);
    sl_redis_arenas_release(as);
}

static void test_scalars_errors_and_nils(void **state)
{
    struct sl_redis_arenas *as = sl_redis_arenas_new();
    redisReader *r = reader(as);
    static const char *const texts[] = {
        "+OK\r\n",       "-NOGROUP No such key\r\n", ":42\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
        "$3\r\na\0b\r\n"};
    static const int types[] = {REDIS_REPLY_STATUS, REDIS_REPLY_ERROR, REDIS_REPLY_INTEGER,
                                REDIS_REPLY_NIL,    REDIS_REPLY_NIL,   REDIS_REPLY_ARRAY,
                                REDIS_REPLY_STRING};
    static const size_t lens[] = {5, 22, 5, 5, 5, 4, 9};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        redisReply *x = parse(r, texts[i], lens[i], lens[i]);
        assert_int_equal(x->type, types[i]);
        if (i == 0)
            assert_string_equal(x->str, "OK");
        if (i == 1)
            assert_string_equal(x->str, "NOGROUP No such key");
        if (i == 2)
            assert_int_equal(x->integer, 42);
        if (i == 5)
            assert_int_equal(x->elements, 0);
        if (i == 6) {
            assert_int_equal(x->len, 3); /* binary-safe: the NUL inside stays */
            assert_memory_equal(x->str, "a\0b", 4);
        }
        sl_redis_arena_fns.freeObject(x);
    }
    redisReaderFree(r);
    sl_redis_arenas_release(as);
}

static void test_the_arena_is_reused(void **state)
{
    struct sl_redis_arenas *as = sl_redis_arenas_new();
    redisReader *r = reader(as);
    redisReply *first = parse(r, XREAD, sizeof(XREAD) - 1, sizeof(XREAD));
    sl_redis_arena_fns.freeObject(first);
    size_t held = sl_redis_arenas_held(as);
    assert_true(held > 0);
    for (int i = 0; i < 100; i++) {
        redisReply *x = parse(r, XREAD, sizeof(XREAD) - 1, sizeof(XREAD));
        /* The same memory again: nothing was allocated for it. */
        assert_ptr_equal(x, first);
        sl_redis_arena_fns.freeObject(x);
        assert_int_equal(sl_redis_arenas_held(as), held);
    }
    redisReaderFree(r);
    sl_redis_arenas_release(as);
}

/* A reply bigger than a block chains blocks; afterwards the arena shrinks back. */
static void test_a_huge_reply_is_not_kept(void **state)
{
    struct sl_redis_arenas *as = sl_redis_arenas_new();
    redisReader *r = reader(as);
    size_t n = 3000, vlen = 1000;
    size_t cap = 32 + n * (vlen + 16);
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(text + len, cap - len, "$%zu\r\n", vlen);
        memset(text + len, 'a' + (int)(i % 26), vlen);
        len += vlen;
        memcpy(text + len, "\r\n", 2);
        len += 2;
    }
    redisReply *x = parse(r, text, len, 4096);
    assert_int_equal(x->elements, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(x->element[i]->len, vlen);
        assert_int_equal(x->element[i]->str[0], 'a' + (int)(i % 26));
        assert_int_equal(x->element[i]->str[vlen - 1], 'a' + (int)(i % 26));
        assert_int_equal(x->element[i]->str[vlen], '\0');
    }
    sl_redis_arena_fns.freeObject(x);
    assert_true(sl_redis_arenas_held(as) <= 1024 * 1024);
    x = parse(r, XREAD, sizeof(XREAD) - 1, 7);
    check_xread(x);
    sl_redis_arena_fns.freeObject(x);
    free(text);
    redisReaderFree(r);
    sl_redis_arenas_release(as);
}

/* A protocol error in the middle of a reply: the reader frees the partial reply. */
static void test_a_broken_reply_is_freed(void **state)
{
    struct sl_redis_arenas *as = sl_redis_arenas_new();
    redisReader *r = reader(as);
    static const char bad[] = "*3\r\n$1\r\na\r\n*2\r\n:1\r\n!oops\r\n";
    void *out = NULL;
    assert_int_equal(redisReaderFeed(r, bad, sizeof(bad) - 1), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &out), REDIS_ERR);
    assert_null(out);
    redisReaderFree(r);
    /* A reader freed in the middle of a reply lets it go too. */
    r = reader(as);
    assert_int_equal(redisReaderFeed(r, XREAD, 20), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &out), REDIS_OK);
    assert_null(out);
    redisReaderFree(r);
    sl_redis_arenas_release(as);
}

/* The owner lets go while a reply is still out (hiredis deferred the context's free): the arenas
 * go when that reply does. */
static void test_arenas_outlive_their_owner_until_the_last_reply(void **state)
{
    struct sl_redis_arenas *as = sl_redis_arenas_new();
    redisReader *r = reader(as);
    redisReply *x = parse(r, XREAD, sizeof(XREAD) - 1, sizeof(XREAD));
    sl_redis_arenas_release(as);
    check_xread(x);
    sl_redis_arena_fns.freeObject(x);
    r->privdata = NULL;
    redisReaderFree(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_xreadgroup_reply_is_the_usual_tree),
        cmocka_unit_test(test_scalars_errors_and_nils),
        cmocka_unit_test(test_the_arena_is_reused),
        cmocka_unit_test(test_a_huge_reply_is_not_kept),
        cmocka_unit_test(test_a_broken_reply_is_freed),
        cmocka_unit_test(test_arenas_outlive_their_owner_until_the_last_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
