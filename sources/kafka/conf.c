/* The kafka source's keys and the librdkafka consumer configuration built from them. */
#include <stdio.h>
#include <string.h>

#include "clients/kafka/conf.h"
#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

static const char *const start_values[] = {"earliest", "latest", "at", NULL};

static const struct sl_prop kafka_props[] = {
    {"bootstrap_servers", SL_PROP_STRING, offsetof(struct sl_kafka_cfg, bootstrap_servers), NULL, 0,
     0, SL_PROP_REQUIRED, NULL, NULL,
     "Brokers to bootstrap from, `host:port[,host:port...]`. Also sent to the function as the "
     "event's `bootstrapServers`."},
    {"topics", SL_PROP_STRING_LIST, offsetof(struct sl_kafka_cfg, topics), NULL, 0, 0, 0, NULL,
     NULL, "Topics to consume. One of `topics` and `topic_regex` is required."},
    {"topic_regex", SL_PROP_STRING, offsetof(struct sl_kafka_cfg, topic_regex), NULL, 0, 0, 0, NULL,
     NULL,
     "Consume every topic whose name matches this POSIX regular expression (anchored at the "
     "start, as librdkafka's `^` subscriptions are); new matching topics join within "
     "`topic.metadata.refresh.interval.ms`."},
    {"group_id", SL_PROP_STRING, offsetof(struct sl_kafka_cfg, group_id), NULL, 0, 0, 0, NULL, NULL,
     "Consumer group; default `sluice-<source name>`. Processes sharing it share the "
     "partitions."},
    {"starting_position", SL_PROP_ENUM, offsetof(struct sl_kafka_cfg, starting_position), "latest",
     0, 0, 0, start_values, NULL,
     "Where a partition starts when the group has no committed offset for it (as Lambda's "
     "StartingPosition): `earliest`, `latest`, or `at` (`starting_timestamp`)."},
    {"starting_timestamp", SL_PROP_STRING, offsetof(struct sl_kafka_cfg, starting_timestamp), NULL,
     0, 0, 0, NULL, NULL,
     "With `starting_position: at`: an RFC 3339 time (`2026-11-23T10:00:00Z`) or a time ago "
     "(`-1h`); partitions start at the first offset whose timestamp is at or after it."},
    {"session_timeout", SL_PROP_DURATION, offsetof(struct sl_kafka_cfg, session_timeout_ms), "10s",
     3001, 300000, 0, NULL, NULL,
     "Group session timeout: a member silent this long loses its partitions."},
    {"commit_interval", SL_PROP_DURATION, offsetof(struct sl_kafka_cfg, commit_interval_ms), "1s",
     10, 60000, 0, NULL, NULL,
     "How often handled offsets are committed (also on revoke and at shutdown)."},
    {"max_record_bytes", SL_PROP_SIZE, offsetof(struct sl_kafka_cfg, max_record_bytes), "0", 0, 0,
     0, NULL, NULL,
     "Records whose key plus value exceed this go straight to the DLQ with condition "
     "`MaximumPayloadSizeExceeded`; 0: no source limit (the mapping's `batch.max_bytes` still "
     "applies to the encoded record)."},
    {"rdkafka", SL_PROP_STRING_MAP, offsetof(struct sl_kafka_cfg, rdkafka), NULL, 0, 0, 0, NULL,
     NULL,
     "librdkafka properties passed as they are (`security.protocol`, `sasl.*`, `ssl.*`, ...). "
     "Values of secret properties (`*password*`, `*secret*`, `ssl.key.pem`, "
     "`sasl.oauthbearer.config`) are never shown."},
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

int sl_kafka_conf_build(const struct sl_kafka_cfg *c, const char *file, const char *path,
                        const char *group_id, rd_kafka_conf_t **out, struct sl_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
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
        {"queued.max.messages.kbytes", "16384"},
        {"enable.partition.eof", "false"},
    };
    snprintf(ours[2].v, sizeof(ours[2].v), "%s", reset);
    snprintf(ours[3].v, sizeof(ours[3].v), "%lld", (long long)c->session_timeout_ms);
    snprintf(ours[4].v, sizeof(ours[4].v), "%lld", (long long)hb);
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
