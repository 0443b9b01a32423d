/* The DLQ sink types built into sluice. */
#include <string.h>

#include "dlq/dlq.h"
#include "dlq/kafka/kafka.h"
#include "dlq/postgres/postgres.h"
#include "dlq/redis/redis.h"
#include "dlq/sqlite/sqlite.h"

const struct sl_dlq_ops *const sl_dlq_types[] = {&sl_dlq_sqlite_ops, &sl_dlq_redis_ops,
                                                 &sl_dlq_kafka_ops, &sl_dlq_postgres_ops, NULL};

void sl_dlq_init(struct sl_dlq *d, const struct sl_dlq_ops *ops, const struct sl_env *env,
                 const char *name)
{
    sl_module_init(SL_MODULE(d), ops, "dlq", ops->type, name);
    if (env)
        d->env = *env;
}

void sl_dlq_release(struct sl_dlq *d)
{
    sl_module_release(SL_MODULE(d));
}

const struct sl_dlq_ops *sl_dlq_find_type(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; sl_dlq_types[i]; i++)
        if (strcmp(sl_dlq_types[i]->type, type) == 0)
            return sl_dlq_types[i];
    return NULL;
}
