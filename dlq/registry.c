/* The DLQ sink types built into sluice. */
#include <string.h>

#include "dlq/dlq.h"
#include "dlq/kafka/kafka.h"
#include "dlq/redis/redis.h"
#include "dlq/sqlite/sqlite.h"

const struct sl_dlq_ops *const sl_dlq_types[] = {&sl_dlq_sqlite_ops, &sl_dlq_redis_ops,
                                                 &sl_dlq_kafka_ops, NULL};

const struct sl_dlq_ops *sl_dlq_find_type(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; sl_dlq_types[i]; i++)
        if (strcmp(sl_dlq_types[i]->type, type) == 0)
            return sl_dlq_types[i];
    return NULL;
}
