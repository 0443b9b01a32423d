/* Placeholder: the redis source is being written. */
#include "sources/redis/redis.h"

static const struct sl_prop_table redis_table = {
    .name = "sources[] (type: redis)",
    .desc = "Not available yet.",
    .tolerated = (const char *const[]){"*", NULL},
};

static int redis_create(const struct sl_source_env *env, const struct sl_cfg_typed *sec,
                        struct sl_source **out, struct sl_err *err)
{
    return sl_err_set(err, SL_ERR_PERMANENT, SL_EUNSUPP,
                      "%s: the redis source is not available yet", sec->path);
}

const struct sl_source_ops sl_source_redis_ops = {
    .type = "redis",
    .props = &redis_table,
    .create = redis_create,
};
