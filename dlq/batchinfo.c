#include "dlq/batchinfo.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/time.h"

static json_t *object_of(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void put_time_or_null(struct sl_jw *w, const char *k, int64_t ms)
{
    sl_jw_key(w, k);
    if (ms <= 0) {
        sl_jw_null(w);
        return;
    }
    char ts[32];
    sl_time_fmt_iso(ms, ts, sizeof(ts));
    sl_jw_str(w, ts);
}

/* Kafka: the SQS/SNS/S3 form of Lambda's record, for a batch of one: recordsInfo keyed by
 * "<topic>-<partition>", offsets as strings. Self-managed Kafka has no event source ARN. */
static void put_kafka(struct sl_jw *w, const struct sl_dlq_entry *e, json_t *coords, json_t *attrs)
{
    json_t *topic = json_object_get(coords, "topic");
    json_t *part = json_object_get(coords, "partition");
    json_t *off = json_object_get(coords, "offset");
    if (!json_is_string(topic) || !json_is_integer(part) || !json_is_integer(off))
        return;
    char key[512], offset[32];
    snprintf(key, sizeof(key), "%s-%lld", json_string_value(topic),
             (long long)json_integer_value(part));
    snprintf(offset, sizeof(offset), "%lld", (long long)json_integer_value(off));
    sl_jw_key(w, "KafkaBatchInfo");
    sl_jw_obj_open(w);
    sl_jw_kint(w, "batchSize", 1);
    json_t *bs = json_object_get(attrs, "bootstrapServers");
    if (json_is_string(bs))
        sl_jw_kstr(w, "bootstrapServers", json_string_value(bs));
    sl_jw_kint(w, "payloadSize", (int64_t)e->payload_len);
    sl_jw_key(w, "recordsInfo");
    sl_jw_obj_open(w);
    sl_jw_key(w, key);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "firstRecordOffset", offset);
    sl_jw_kstr(w, "lastRecordOffset", offset);
    put_time_or_null(w, "firstRecordTimestamp", e->record_time_ms);
    put_time_or_null(w, "lastRecordTimestamp", e->record_time_ms);
    sl_jw_obj_close(w);
    sl_jw_obj_close(w);
    sl_jw_obj_close(w);
}

/* Redis Streams: a stream stands for a Kinesis shard, an entry id for a sequence number. */
static void put_kinesis(struct sl_jw *w, const struct sl_dlq_entry *e, json_t *coords,
                        json_t *attrs)
{
    json_t *stream = json_object_get(coords, "stream");
    json_t *id = json_object_get(coords, "id");
    if (!json_is_string(stream) || !json_is_string(id))
        return;
    sl_jw_key(w, "KinesisBatchInfo");
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "shardId", json_string_value(stream));
    sl_jw_kstr(w, "startSequenceNumber", json_string_value(id));
    sl_jw_kstr(w, "endSequenceNumber", json_string_value(id));
    put_time_or_null(w, "approximateArrivalOfFirstRecord", e->record_time_ms);
    put_time_or_null(w, "approximateArrivalOfLastRecord", e->record_time_ms);
    sl_jw_kint(w, "batchSize", 1);
    json_t *arn = json_object_get(attrs, "eventSourceARN");
    sl_jw_key(w, "streamArn");
    if (json_is_string(arn))
        sl_jw_str(w, json_string_value(arn));
    else
        sl_jw_null(w);
    sl_jw_obj_close(w);
}

void sl_dlq_put_batch_info(struct sl_jw *w, const struct sl_dlq_entry *e)
{
    bool kafka = e->source_type && strcmp(e->source_type, "kafka") == 0;
    bool redis = e->source_type && strcmp(e->source_type, "redis") == 0;
    if (!kafka && !redis)
        return;
    json_t *coords = object_of(e->coords);
    json_t *attrs = object_of(e->attrs);
    if (coords) {
        if (kafka)
            put_kafka(w, e, coords, attrs);
        else
            put_kinesis(w, e, coords, attrs);
    }
    json_decref(coords);
    json_decref(attrs);
}
