/* kafka_tool: a small Kafka client for tests and benchmarks.
 *
 *   kafka_tool produce -b SERVERS -t TOPIC -n N [--start I] [--partition P] [--keys K]
 *                      [--size BYTES] [--headers] [--poison I,J,..] [--rate N]
 *       Produces N records with values {"n":I,...} (I from --start, default 0), padded to
 *       about --size bytes; "fail":true for the --poison indices. Keys are "k<I % K>"
 *       (--keys 0: null keys; default 8). --headers adds "h-text" = "v<I>" and "h-bin" =
 *       bytes ff 00 80. --rate paces the records (per second). --tombstones I,J,.. gives
 *       those records a null value, --empties I,J,.. an empty one. Prints "produced N".
 *   kafka_tool dump -b SERVERS -t TOPIC [--timeout-ms MS]
 *       Prints every record up to the high watermarks as one JSON line each:
 *       {"partition","offset","timestamp","key" (base64|null),"value" (base64|null),
 *        "headers":[{"name":"base64"}]}.
 *   kafka_tool committed -b SERVERS -t TOPIC -g GROUP
 *       Prints {"<partition>": committed offset (-1001 when none), ...}.
 *   kafka_tool watermarks -b SERVERS -t TOPIC
 *       Prints {"<partition>": high watermark, ...}. */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/mem.h"
#include "core/time.h"

struct args {
    const char *cmd;
    const char *servers;
    const char *topic;
    const char *group;
    long n, start, keys, size, rate, timeout_ms;
    int partition;
    bool headers;
    const char *poison;
    const char *tombstones, *empties;
};

static void die(const char *what, const char *why)
{
    fprintf(stderr, "kafka_tool: %s: %s\n", what, why);
    exit(1);
}

static rd_kafka_t *client(const struct args *a, rd_kafka_type_t type, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", a->servers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)))
        die("config", errstr);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "acks", "all", errstr, sizeof(errstr));
    } else {
        rd_kafka_conf_set(conf, "group.id", group ? group : "kafka-tool", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr));
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk)
        die("client", errstr);
    return rk;
}

static bool is_poison(const char *list, long i)
{
    if (!list)
        return false;
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", i);
    size_t n = strlen(buf);
    for (const char *p = list; (p = strstr(p, buf)); p += n) {
        bool start_ok = p == list || p[-1] == ',';
        bool end_ok = p[n] == '\0' || p[n] == ',';
        if (start_ok && end_ok)
            return true;
    }
    return false;
}

static long failed_deliveries;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err) {
        failed_deliveries++;
        fprintf(stderr, "kafka_tool: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

static int produce(const struct args *a)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", a->servers, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "linger.ms", a->rate ? "0" : "5", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk)
        die("producer", errstr);
    struct sl_buf v;
    sl_buf_init(&v);
    int64_t t0 = sl_mono_ns();
    static const unsigned char bin[] = {0xff, 0x00, 0x80};
    for (long i = a->start; i < a->start + a->n; i++) {
        if (a->rate > 0) {
            int64_t due = t0 + (int64_t)((double)(i - a->start) * 1e9 / (double)a->rate);
            int64_t now = sl_mono_ns();
            if (due > now) {
                rd_kafka_poll(rk, 0);
                struct timespec ts = {(time_t)((due - now) / 1000000000),
                                      (long)((due - now) % 1000000000)};
                nanosleep(&ts, NULL);
            }
        }
        sl_buf_reset(&v);
        sl_buf_printf(&v, "{\"n\":%ld%s", i, is_poison(a->poison, i) ? ",\"fail\":true" : "");
        if (a->size > (long)v.len + 10) {
            sl_buf_puts(&v, ",\"pad\":\"");
            while ((long)v.len < a->size - 2)
                sl_buf_putc(&v, 'x');
            sl_buf_putc(&v, '"');
        }
        sl_buf_putc(&v, '}');
        /* A null value (a tombstone) has no payload; an empty one has a payload of 0 bytes. */
        const void *vp = is_poison(a->tombstones, i) ? NULL : v.data;
        size_t vlen = vp && !is_poison(a->empties, i) ? v.len : 0;
        char key[32];
        snprintf(key, sizeof(key), "k%ld", a->keys > 0 ? i % a->keys : 0);
        char hv[32];
        snprintf(hv, sizeof(hv), "v%ld", i);
        const char *kp = a->keys > 0 ? key : NULL;
        size_t klen = kp ? strlen(kp) : 0;
        rd_kafka_resp_err_t e;
        for (;;) {
            if (a->headers)
                e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_PARTITION(a->partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)vp, vlen),
                    RD_KAFKA_V_KEY(kp, klen), RD_KAFKA_V_HEADER("h-text", hv, (ssize_t)strlen(hv)),
                    RD_KAFKA_V_HEADER("h-bin", bin, (ssize_t)sizeof(bin)), RD_KAFKA_V_END);
            else
                e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_PARTITION(a->partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)vp, vlen),
                    RD_KAFKA_V_KEY(kp, klen), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 100);
        }
        if (e)
            die("produce", rd_kafka_err2str(e));
        rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    sl_buf_release(&v);
    rd_kafka_destroy(rk);
    if (failed_deliveries)
        die("produce", "some deliveries failed");
    printf("produced %ld\n", a->n);
    return 0;
}

static rd_kafka_topic_partition_list_t *partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int tries = 0; tries < 20; tries++) {
        e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            break;
        if (!e)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        usleep(250000);
    }
    if (!md)
        die("metadata", e ? rd_kafka_err2str(e) : "topic not found");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return l;
}

static void print_b64(const void *p, size_t n)
{
    char *out = sl_malloc(SL_B64_ENCODED_LEN(n) + 1);
    out[sl_b64_encode(p, n, out)] = '\0';
    printf("\"%s\"", out);
    free(out);
}

static int dump(const struct args *a)
{
    rd_kafka_t *rk = client(a, RD_KAFKA_CONSUMER, "kafka-tool-dump");
    rd_kafka_topic_partition_list_t *l = partitions_of(rk, a->topic);
    int left = 0;
    int64_t *high = sl_calloc((size_t)l->cnt, sizeof(int64_t));
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, a->topic, l->elems[i].partition, &lo, &hi, 5000))
            die("watermarks", "query failed");
        high[i] = hi;
        l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        if (hi > lo)
            left++;
        else
            high[i] = -1;
    }
    rd_kafka_assign(rk, l);
    int64_t deadline = sl_mono_ms() + (a->timeout_ms ? a->timeout_ms : 30000);
    while (left > 0 && sl_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int idx = -1;
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].partition == m->partition)
                idx = i;
        if (idx >= 0 && high[idx] >= 0 && m->offset < high[idx]) {
            printf(
                "{\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"key\":", (int)m->partition,
                (long long)m->offset, (long long)rd_kafka_message_timestamp(m, NULL));
            if (m->key)
                print_b64(m->key, m->key_len);
            else
                printf("null");
            printf(",\"value\":");
            if (m->payload)
                print_b64(m->payload, m->len);
            else
                printf("null");
            printf(",\"headers\":[");
            rd_kafka_headers_t *hdrs = NULL;
            if (!rd_kafka_message_headers(m, &hdrs) && hdrs) {
                const char *name;
                const void *val;
                size_t sz;
                for (size_t h = 0; !rd_kafka_header_get_all(hdrs, h, &name, &val, &sz); h++) {
                    printf("%s{\"%s\":", h ? "," : "", name);
                    print_b64(val ? val : "", val ? sz : 0);
                    printf("}");
                }
            }
            printf("]}\n");
            if (m->offset + 1 >= high[idx]) {
                high[idx] = -1;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    free(high);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (left > 0)
        die("dump", "timed out before the high watermarks");
    return 0;
}

static int committed(const struct args *a)
{
    rd_kafka_t *rk = client(a, RD_KAFKA_CONSUMER, a->group);
    rd_kafka_topic_partition_list_t *l = partitions_of(rk, a->topic);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
    if (e)
        die("committed", rd_kafka_err2str(e));
    printf("{");
    for (int i = 0; i < l->cnt; i++)
        printf("%s\"%d\":%lld", i ? "," : "", (int)l->elems[i].partition,
               (long long)l->elems[i].offset);
    printf("}\n");
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return 0;
}

static int watermarks(const struct args *a)
{
    rd_kafka_t *rk = client(a, RD_KAFKA_CONSUMER, NULL);
    rd_kafka_topic_partition_list_t *l = partitions_of(rk, a->topic);
    printf("{");
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, a->topic, l->elems[i].partition, &lo, &hi, 5000))
            die("watermarks", "query failed");
        printf("%s\"%d\":%lld", i ? "," : "", (int)l->elems[i].partition, (long long)hi);
    }
    printf("}\n");
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"count", required_argument, NULL, 'n'},
        {"start", required_argument, NULL, 's'},
        {"partition", required_argument, NULL, 'p'},
        {"keys", required_argument, NULL, 'k'},
        {"size", required_argument, NULL, 'z'},
        {"headers", no_argument, NULL, 'H'},
        {"poison", required_argument, NULL, 'x'},
        {"rate", required_argument, NULL, 'r'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {"tombstones", required_argument, NULL, 'N'},
        {"empties", required_argument, NULL, 'E'},
        {NULL, 0, NULL, 0},
    };
    struct args a = {.keys = 8, .partition = RD_KAFKA_PARTITION_UA, .n = 0};
    if (argc < 2) {
        fprintf(stderr, "usage: kafka_tool produce|dump|committed|watermarks -b SERVERS -t TOPIC "
                        "...\n");
        return 2;
    }
    a.cmd = argv[1];
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "b:t:g:n:s:p:k:z:Hx:r:T:N:E:", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            a.servers = optarg;
            break;
        case 't':
            a.topic = optarg;
            break;
        case 'g':
            a.group = optarg;
            break;
        case 'n':
            a.n = atol(optarg);
            break;
        case 's':
            a.start = atol(optarg);
            break;
        case 'p':
            a.partition = atoi(optarg);
            break;
        case 'k':
            a.keys = atol(optarg);
            break;
        case 'z':
            a.size = atol(optarg);
            break;
        case 'H':
            a.headers = true;
            break;
        case 'N':
            a.tombstones = optarg;
            break;
        case 'E':
            a.empties = optarg;
            break;
        case 'x':
            a.poison = optarg;
            break;
        case 'r':
            a.rate = atol(optarg);
            break;
        case 'T':
            a.timeout_ms = atol(optarg);
            break;
        default:
            return 2;
        }
    }
    if (!a.servers || !a.topic) {
        fprintf(stderr, "kafka_tool: -b and -t are required\n");
        return 2;
    }
    if (strcmp(a.cmd, "produce") == 0)
        return produce(&a);
    if (strcmp(a.cmd, "dump") == 0)
        return dump(&a);
    if (strcmp(a.cmd, "committed") == 0 && a.group)
        return committed(&a);
    if (strcmp(a.cmd, "watermarks") == 0)
        return watermarks(&a);
    fprintf(stderr, "kafka_tool: unknown command %s\n", a.cmd);
    return 2;
}
