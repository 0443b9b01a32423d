/* Placeholder: the redis dead-letter sink is being written. */
#include "dlq/redis/redis.h"

static const struct sl_prop_table redis_table = {
    .name = "dlqs[] (type: redis)",
    .desc = "Not available yet.",
    .tolerated = (const char *const[]){"*", NULL},
};

static int redis_create(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                        struct sl_dlq **out, struct sl_err *err)
{
    return sl_err_set(err, SL_ERR_PERMANENT, SL_EUNSUPP, "%s: the redis DLQ is not available yet",
                      sec->path);
}

const struct sl_dlq_ops sl_dlq_redis_ops = {
    .type = "redis",
    .props = &redis_table,
    .create = redis_create,
};
