/* bench_redis_baseline HOST PORT STREAM GROUP COUNT: the bare consumer sluice's redis source is
 * measured against. Creates GROUP at the start of STREAM, then reads it with blocking hiredis on
 * one connection, pipelined: XREADGROUP COUNT n, then the XACK of the ids it returned sent
 * together with the next XREADGROUP (one write, one round trip per batch), until the stream is
 * drained. Prints `records=N seconds=S rate=R` (records per second). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_redis_baseline HOST PORT STREAM GROUP COUNT\n");
        return 2;
    }
    const char *stream = argv[3], *group = argv[4], *count = argv[5];
    redisContext *c = redisConnect(argv[1], atoi(argv[2]));
    if (!c || c->err) {
        fprintf(stderr, "cannot connect: %s\n", c ? c->errstr : "out of memory");
        return 1;
    }
    redisReply *r = redisCommand(c, "XGROUP CREATE %s %s 0", stream, group);
    freeReplyObject(r);
    size_t total = 0, cap = 0;
    const char **argvx = NULL;
    size_t *lens = NULL;
    double t0 = now_s();
    /* The first read goes alone; every later one rides with the XACK of the batch before. */
    redisAppendCommand(c, "XREADGROUP GROUP %s bench COUNT %s STREAMS %s >", group, count, stream);
    for (;;) {
        void *rv = NULL;
        if (redisGetReply(c, &rv) != REDIS_OK)
            break;
        r = rv;
        size_t n = 0;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0)
            n = r->element[0]->element[1]->elements;
        if (n == 0) {
            freeReplyObject(r);
            break;
        }
        redisReply *entries = r->element[0]->element[1];
        if (n + 3 > cap) {
            cap = n + 3;
            argvx = realloc(argvx, cap * sizeof(*argvx));
            lens = realloc(lens, cap * sizeof(*lens));
        }
        argvx[0] = "XACK";
        argvx[1] = stream;
        argvx[2] = group;
        for (size_t i = 0; i < n; i++)
            argvx[3 + i] = entries->element[i]->element[0]->str;
        for (size_t i = 0; i < n + 3; i++)
            lens[i] = strlen(argvx[i]);
        redisAppendCommandArgv(c, (int)(n + 3), argvx, lens);
        redisAppendCommand(c, "XREADGROUP GROUP %s bench COUNT %s STREAMS %s >", group, count,
                           stream);
        total += n;
        freeReplyObject(r);
        /* The XACK's reply; the next loop takes the read's. */
        void *av = NULL;
        if (redisGetReply(c, &av) != REDIS_OK)
            break;
        freeReplyObject(av);
    }
    double secs = now_s() - t0;
    printf("records=%zu seconds=%.3f rate=%.0f\n", total, secs,
           secs > 0 ? (double)total / secs : 0);
    free(argvx);
    free(lens);
    redisFree(c);
    return 0;
}
