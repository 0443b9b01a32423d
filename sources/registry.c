#include <stddef.h>

#include "sources/http/webhook.h"
#include "sources/kafka/kafka.h"
#include "sources/postgres/cdc.h"
#include "sources/postgres/queue.h"
#include "sources/redis/redis.h"
#include "sources/s3/s3.h"
#include "sources/schedule/schedule.h"
#include "sources/source.h"

const struct sl_source_ops *const sl_source_types[] = {
    &sl_source_http_ops, &sl_source_redis_ops, &sl_source_kafka_ops,    &sl_source_pg_queue_ops,
    &sl_source_s3_ops,   &sl_source_pgcdc_ops, &sl_source_schedule_ops, NULL,
};
