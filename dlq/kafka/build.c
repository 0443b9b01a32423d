/* The kafka DLQ sink's keys, client configuration and message building. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/kafka/conf.h"
#include "clients/kafka/reach.h"
#include "core/b64.h"
#include "core/mem.h"
#include "dlq/kafka/kafka_int.h"

static const char *const value_formats[] = {"original", "lambda", NULL};

static const struct sl_prop kdlq_props[] = {
    {.name = "bootstrap_servers",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kdlq_cfg, bootstrap_servers),
     .flags = SL_PROP_REQUIRED,
     .desc = "Brokers of the cluster holding the DLQ topic (it may differ from the source's)."},
    {.name = "topic",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kdlq_cfg, topic),
     .flags = SL_PROP_REQUIRED,
     .desc = "Topic failed records are produced to (one message per record)."},
    {.name = "value_format",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_kdlq_cfg, value_format),
     .def = "original",
     .enum_values = value_formats,
     .desc = "`original`: the message value is the record's original value; `lambda`: Lambda's "
             "Kafka on-failure record "
             "(https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html), with the "
             "one-record event as `payload`. Either way the headers carry the error metadata and "
             "the whole entry."},
    {.name = "group_id",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_kdlq_cfg, group_id),
     .desc =
         "Consumer group `sluice dlq list/show/redrive/purge` read the topic with; its committed "
         "offset moves over removed (redriven or purged) entries. Default `sluice-dlq-<name>`."},
    {.name = "list_timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_kdlq_cfg, list_timeout_ms),
     .def = "15s",
     .min = 100,
     .max = 300000,
     .desc = "How long listing may take to read the topic up to its high watermarks."},
    {.name = "rdkafka",
     .type = SL_PROP_STRING_MAP,
     .offset = offsetof(struct sl_kdlq_cfg, rdkafka),
     .desc = "librdkafka properties for the sink's producer and reader (security, SASL, TLS...). "
             "Secret values are never shown. A relative path in a property that names a file "
             "(`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, ...) is read "
             "from the config file's folder."},
};

const struct sl_prop_table sl_kdlq_table = {
    .name = "dlqs[] (type: kafka)",
    .desc = "Dead-letter entries as messages of a Kafka topic: idempotent producer, acks=all; "
            "the record is acked only once the broker acknowledged its entry. See "
            "docs/KAFKA.md.",
    .props = kdlq_props,
    .nprops = SL_ARRAY_LEN(kdlq_props),
    .struct_size = sizeof(struct sl_kdlq_cfg),
};

static const struct sl_kafka_reserved reserved[] = {
    {"bootstrap.servers", NULL},  {"metadata.broker.list", NULL},
    {"enable.idempotence", NULL}, {"acks", NULL},
    {"group.id", NULL},           {"enable.auto.commit", NULL},
};

int sl_kdlq_conf_build(const struct sl_kdlq_cfg *c, const char *file, const char *path,
                       bool producer, const char *group_id, rd_kafka_conf_t **out,
                       struct sl_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const prod_keys[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"log.queue", "true"},
        {"statistics.interval.ms", SL_KAFKA_STATS_MS}}; /* reachability (reach.h) */
    static const char *const cons_keys[][2] = {{"enable.auto.commit", "false"},
                                               {"enable.partition.eof", "true"},
                                               {"auto.offset.reset", "earliest"},
                                               {"log.queue", "true"}};
    const char *const(*keys)[2] = producer ? prod_keys : cons_keys;
    size_t nkeys = producer ? SL_ARRAY_LEN(prod_keys) : SL_ARRAY_LEN(cons_keys);
    int rc;
    if ((rc = sl_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap_servers, file, path, err)) <
        0)
        goto fail;
    if (!producer && (rc = sl_kafka_conf_set(conf, "group.id", group_id, file, path, err)) < 0)
        goto fail;
    for (size_t i = 0; i < nkeys; i++) {
        if ((rc = sl_kafka_conf_set(conf, keys[i][0], keys[i][1], file, path, err)) < 0)
            goto fail;
    }
    rc = sl_kafka_conf_apply(conf, c->rdkafka.keys, c->rdkafka.vals, c->rdkafka.n, reserved,
                             SL_ARRAY_LEN(reserved),
                             "the sink's producer is idempotent with acks=all; use the sink's own "
                             "keys",
                             file, path, err);
    if (rc < 0)
        goto fail;
    *out = conf;
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return rc;
}

int sl_kdlq_parse_id(const char *id, int32_t *partition, int64_t *offset)
{
    if (!id)
        return -EINVAL;
    char *end;
    long p = strtol(id, &end, 10);
    if (end == id || *end != ':' || p < 0 || p > INT32_MAX)
        return -EINVAL;
    const char *o = end + 1;
    long long off = strtoll(o, &end, 10);
    if (end == o || *end || off < 0)
        return -EINVAL;
    *partition = (int32_t)p;
    *offset = off;
    return 0;
}

void *sl_kdlq_key(const struct sl_dlq_entry *e, size_t *len)
{
    json_t *a = e->attrs ? json_loads(e->attrs, 0, NULL) : NULL;
    const char *k = json_string_value(json_object_get(a, "key"));
    void *out = NULL;
    if (k) {
        size_t n = strlen(k);
        out = sl_malloc(n / 4 * 3 + 3);
        long dl = sl_b64_decode(k, n, out);
        if (dl < 0) {
            free(out);
            out = NULL;
        } else {
            *len = (size_t)dl;
        }
    }
    json_decref(a);
    return out;
}

/* Lambda's Kafka-topic on-failure record: the entry's onFailure object plus KafkaBatchInfo
 * (batchSize 1, recordInfo) and the one-record event as payload. */
static void build_lambda(const struct sl_dlq_entry *e, const struct sl_buf *entry_json,
                         bool omit_payload, struct sl_buf *out)
{
    json_t *doc = json_loadb(entry_json->data, entry_json->len, 0, NULL);
    json_t *of = json_incref(json_object_get(doc, "onFailure"));
    if (!json_is_object(of)) {
        json_decref(of);
        of = json_object();
    }
    json_t *attrs = e->attrs ? json_loads(e->attrs, 0, NULL) : NULL;
    if (!json_is_object(attrs)) {
        json_decref(attrs);
        attrs = json_object();
    }
    json_t *bs = json_incref(json_object_get(attrs, "bootstrapServers"));
    json_object_del(attrs, "bootstrapServers");
    json_t *info = json_object();
    json_object_set_new(info, "batchSize", json_integer(1));
    if (bs)
        json_object_set(info, "bootstrapServers", bs);
    json_object_set_new(info, "payloadSize", json_integer((json_int_t)e->payload_len));
    json_t *ri = json_object();
    json_t *off = json_object_get(attrs, "offset");
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(off));
    json_object_set_new(ri, "offset", json_string(num));
    json_t *ts = json_object_get(doc, "recordTime");
    json_object_set(ri, "timestamp", ts ? ts : json_null());
    json_object_set_new(info, "recordInfo", ri);
    json_object_set_new(of, "KafkaBatchInfo", info);

    json_t *ev = json_object();
    json_object_set_new(ev, "eventSource", json_string("SelfManagedKafka"));
    json_object_set(ev, "bootstrapServers", bs ? bs : json_string(""));
    json_t *rec = json_deep_copy(attrs);
    if (!omit_payload && !e->payload) {
        json_object_set_new(rec, "value", json_null()); /* a tombstone stays one */
    } else if (!omit_payload) {
        size_t n = SL_B64_ENCODED_LEN(e->payload_len);
        char *b = sl_malloc(n + 1);
        b[sl_b64_encode(e->payload, e->payload_len, b)] = '\0';
        json_object_set_new(rec, "value", json_string(b));
        free(b);
    }
    json_t *records = json_object();
    json_t *arr = json_array();
    json_array_append_new(arr, rec);
    const char *rid = e->record_id ? e->record_id : "";
    const char *colon = strrchr(rid, ':');
    json_object_setn_new(records, rid, colon ? (size_t)(colon - rid) : strlen(rid), arr);
    json_object_set_new(ev, "records", records);
    json_object_set_new(of, "payload", ev);
    json_decref(bs);
    char *text = json_dumps(of, JSON_COMPACT | JSON_PRESERVE_ORDER);
    sl_buf_puts(out, text ? text : "{}");
    free(text);
    json_decref(of);
    json_decref(attrs);
    json_decref(doc);
}

void sl_kdlq_build(const struct sl_dlq_entry *e, int value_format, size_t limit,
                   struct sl_buf *value, struct sl_buf *entry_json, bool *omitted)
{
    sl_dlq_entry_to_json(e, entry_json);
    *omitted = false;
    size_t total = entry_json->len + (value_format == SL_KDLQ_VALUE_ORIGINAL
                                          ? e->payload_len
                                          : entry_json->len + e->payload_len * 2);
    if (total + 4096 > limit) {
        /* Too big for one message: keep the metadata, leave the payload out (the record is
         * still at its source coordinates). */
        struct sl_dlq_entry copy = *e;
        copy.payload = "";
        copy.payload_len = 0;
        sl_buf_reset(entry_json);
        sl_dlq_entry_to_json(&copy, entry_json);
        *omitted = true;
    }
    if (value_format == SL_KDLQ_VALUE_LAMBDA)
        build_lambda(e, entry_json, *omitted, value);
    else if (!*omitted && e->payload)
        sl_buf_append(value, e->payload, e->payload_len);
}
