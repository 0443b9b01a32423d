/* bench_redis_baseline HOST PORT STREAM GROUP COUNT: the bare consumer sluice's redis source is
 * measured against. Creates GROUP at the start of STREAM, then reads it with blocking hiredis on
 * one connection, pipelined: XREADGROUP COUNT n, then the XACK of the ids it returned sent
 * together with the next XREADGROUP (one write, one round trip per batch), until the stream is
 * drained. Prints `records=N seconds=S rate=R` (records per second).
 *
 * bench_redis_baseline --latency HOST PORT STREAM GROUP FN_PORT N: the floor of the latency
 * run. Creates GROUP at the end of STREAM, then loops on a blocking XREADGROUP and POSTs each
 * reply to the function at 127.0.0.1:FN_PORT (one kept-alive connection) as "T:" and the
 * entries' field "t" separated by commas, waits for the answer, XACKs, until N entries. */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fn_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* POSTs body and reads the answer (headers, then Content-Length bytes). */
static int fn_post(int fd, const char *body, size_t len)
{
    char req[65536];
    int n = snprintf(req, sizeof(req),
                     "POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n%.*s",
                     len, (int)len, body);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n)
        return -1;
    char resp[4096];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        const char *cl = strstr(resp, "Content-Length:");
        if (end && cl && got >= (size_t)(end + 4 - resp) + (size_t)atoi(cl + 15))
            return 0;
        if (got == sizeof(resp) - 1)
            return -1;
    }
}

static int latency_main(char **argv)
{
    const char *stream = argv[2], *group = argv[3];
    long want = atol(argv[5]), total = 0;
    redisContext *c = redisConnect(argv[0], atoi(argv[1]));
    int fd = fn_connect(atoi(argv[4]));
    if (!c || c->err || fd < 0) {
        fprintf(stderr, "cannot connect\n");
        return 1;
    }
    freeReplyObject(redisCommand(c, "XGROUP CREATE %s %s $ MKSTREAM", stream, group));
    char body[60000];
    while (total < want) {
        redisReply *r = redisCommand(
            c, "XREADGROUP GROUP %s bare COUNT 100 BLOCK 1000 STREAMS %s >", group, stream);
        if (!r)
            return 1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            continue;
        }
        redisReply *entries = r->element[0]->element[1];
        size_t len = 2;
        memcpy(body, "T:", 2);
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *f = entries->element[i]->element[1];
            for (size_t k = 0; f && k + 1 < f->elements; k += 2) {
                if (strcmp(f->element[k]->str, "t") == 0 &&
                    len + f->element[k + 1]->len + 2 < sizeof(body))
                    len += (size_t)snprintf(body + len, sizeof(body) - len, "%s,",
                                            f->element[k + 1]->str);
            }
        }
        if (fn_post(fd, body, len) != 0) {
            fprintf(stderr, "the function did not answer\n");
            return 1;
        }
        for (size_t i = 0; i < entries->elements; i++)
            freeReplyObject(redisCommand(c, "XACK %s %s %s", stream, group,
                                         entries->element[i]->element[0]->str));
        total += (long)entries->elements;
        freeReplyObject(r);
    }
    printf("records=%ld\n", total);
    close(fd);
    redisFree(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 8 && strcmp(argv[1], "--latency") == 0)
        return latency_main(argv + 2);
    if (argc != 6) {
        fprintf(stderr, "usage: bench_redis_baseline HOST PORT STREAM GROUP COUNT\n"
                        "       bench_redis_baseline --latency HOST PORT STREAM GROUP FN_PORT N\n");
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
