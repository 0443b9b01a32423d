/* The kafka source's keys and the librdkafka consumer configuration built from them. */
#include <stdio.h>
#include <string.h>

#include "clients/kafka/conf.h"
#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

static const char *const start_values[] = {"earliest", "latest", "at", NULL};

static const struct sl_prop kafka_props[] = {
    {.name = "bootstrap_servers",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kafka_cfg, bootstrap_servers),
     .flags = SL_PROP_REQUIRED,
     .desc =
         "Brokers to bootstrap from, `host:port[,host:port...]`. Also sent to the function as the "
         "event's `bootstrapServers`."},
    {.name = "topics",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct sl_kafka_cfg, topics),
     .desc = "Topics to consume. One of `topics` and `topic_regex` is required."},
    {.name = "topic_regex",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kafka_cfg, topic_regex),
     .desc =
         "Consume every topic whose name matches this POSIX regular expression (anchored at the "
         "start, as librdkafka's `^` subscriptions are); new matching topics join within "
         "`topic.metadata.refresh.interval.ms`."},
    {.name = "group_id",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kafka_cfg, group_id),
     .desc = "Consumer group; default `sluice-<source name>`. Processes sharing it share the "
             "partitions."},
    {.name = "starting_position",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_kafka_cfg, starting_position),
     .def = "latest",
     .enum_values = start_values,
     .desc = "Where a partition starts when the group has no committed offset for it (as Lambda's "
             "StartingPosition): `earliest`, `latest`, or `at` (`starting_timestamp`)."},
    {.name = "starting_timestamp",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kafka_cfg, starting_timestamp),
     .desc =
         "With `starting_position: at`: an RFC 3339 time (`2026-11-23T10:00:00Z`) or a time ago "
         "(`-1h`); partitions start at the first offset whose timestamp is at or after it."},
    {.name = "session_timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_kafka_cfg, session_timeout_ms),
     .def = "10s",
     .min = 3001,
     .max = 300000,
     .desc = "Group session timeout: a member silent this long loses its partitions."},
    {.name = "commit_interval",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_kafka_cfg, commit_interval_ms),
     .def = "1s",
     .min = 10,
     .max = 60000,
     .desc = "How often handled offsets are committed (also on revoke and at shutdown)."},
    {.name = "max_record_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_kafka_cfg, max_record_bytes),
     .def = "0",
     .desc =
         "Records whose key plus value exceed this go straight to the DLQ with condition "
         "`MaximumPayloadSizeExceeded`; 0: no source limit (the mapping's `batch.max_bytes` still "
         "applies to the encoded record)."},
    {.name = "rdkafka",
     .type = SL_PROP_STRING_MAP,
     .offset = offsetof(struct sl_kafka_cfg, rdkafka),
     .desc =
         "librdkafka properties passed as they are (`security.protocol`, `sasl.*`, `ssl.*`, ...). "
         "Values of secret properties (`*password*`, `*secret*`, `ssl.key.pem`, "
         "`sasl.oauthbearer.config`) are never shown. A relative path in a property that names a "
         "file (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, "
         "`ssl.crl.location`, `ssl.keystore.location`, `ssl.engine.location`, "
         "`sasl.kerberos.keytab`) is read from the config file's folder."},
};

const struct sl_prop_table sl_kafka_source_table = {
    .name = "sources[] (type: kafka)",
    .desc = "A Kafka consumer group member: each assigned partition is a lane (in order, at "
            "least once); handled offsets are committed. See docs/KAFKA.md.",
    .props = kafka_props,
    .nprops = SL_ARRAY_LEN(kafka_props),
    .struct_size = sizeof(struct sl_kafka_cfg),
};

/* Properties sluice sets itself, and the key to use instead. */
static const struct sl_kafka_reserved reserved[] = {
    {"bootstrap.servers", "bootstrap_servers"},
    {"metadata.broker.list", "bootstrap_servers"},
    {"group.id", "group_id"},
    {"enable.auto.commit", NULL},
    {"enable.auto.offset.store", NULL},
    {"auto.offset.reset", "starting_position"},
    {"session.timeout.ms", "session_timeout"},
    {"group.protocol.type", NULL},
};

/* librdkafka's prefetch, sized from the mapping's byte cap: a sixteenth of it may wait in
 * librdkafka's queue (1 MiB to 64 MiB; 4 MiB for the default 64 MiB cap), and one fetch brings
 * at most half of that (at least 1 MiB). Measured on the Kafka benchmark: a quarter gave 20 %
 * more throughput for 60 % more memory. The record
 * count is bounded by the mapping (max_inflight_records), so librdkafka's own count threshold is
 * set out of the way: before librdkafka 2.2 (no fetch.queue.backoff.ms), a partition whose queue
 * reaches queued.min.messages or queued.max.messages.kbytes is not fetched again for up to a
 * second, even once the queue is drained (see the `fetch.queue.backoff.ms` entry of
 * librdkafka's CONFIGURATION.md). */
static void prefetch_sizes(uint64_t inflight_bytes, long long *queue_kib, long long *fetch_bytes)
{
    uint64_t q = inflight_bytes ? inflight_bytes / 16 : 4 * 1024 * 1024;
    q = q < 1024 * 1024 ? 1024 * 1024 : q > 64 * 1024 * 1024 ? 64 * 1024 * 1024 : q;
    *queue_kib = (long long)(q / 1024);
    *fetch_bytes = (long long)(q / 2 < 1024 * 1024 ? 1024 * 1024 : q / 2);
}

int sl_kafka_conf_build(const struct sl_kafka_cfg *c, const char *file, const char *path,
                        const char *group_id, uint64_t inflight_bytes, rd_kafka_conf_t **out,
                        struct sl_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    long long queue_kib, fetch_bytes;
    prefetch_sizes(inflight_bytes, &queue_kib, &fetch_bytes);
    int64_t hb = c->session_timeout_ms / 8;
    hb = hb < 100 ? 100 : hb > 3000 ? 3000 : hb;
    const char *reset = c->starting_position == SL_KAFKA_START_LATEST ? "latest" : "earliest";
    struct {
        const char *k;
        char v[64];
    } ours[] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", ""},
        {"session.timeout.ms", ""},
        {"heartbeat.interval.ms", ""},
        {"log.queue", "true"},
        {"queued.max.messages.kbytes", ""},
        {"fetch.max.bytes", ""},
        {"queued.min.messages", "10000000"},
        {"enable.partition.eof", "false"},
        {"statistics.interval.ms", SL_KAFKA_STATS_MS}, /* reachability (clients/kafka/reach.h) */
    };
    snprintf(ours[2].v, sizeof(ours[2].v), "%s", reset);
    snprintf(ours[3].v, sizeof(ours[3].v), "%lld", (long long)c->session_timeout_ms);
    snprintf(ours[4].v, sizeof(ours[4].v), "%lld", (long long)hb);
    snprintf(ours[6].v, sizeof(ours[6].v), "%lld", queue_kib);
    snprintf(ours[7].v, sizeof(ours[7].v), "%lld", fetch_bytes);
    int rc = 0;
    if ((rc = sl_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap_servers, file, path, err)) <
            0 ||
        (rc = sl_kafka_conf_set(conf, "group.id", group_id, file, path, err)) < 0)
        goto fail;
    for (size_t i = 0; i < SL_ARRAY_LEN(ours); i++) {
        if ((rc = sl_kafka_conf_set(conf, ours[i].k, ours[i].v, file, path, err)) < 0)
            goto fail;
    }
    rc = sl_kafka_conf_apply(
        conf, c->rdkafka.keys, c->rdkafka.vals, c->rdkafka.n, reserved, SL_ARRAY_LEN(reserved),
        "offsets are committed only once records are handled", file, path, err);
    if (rc < 0)
        goto fail;
    *out = conf;
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return rc;
}
