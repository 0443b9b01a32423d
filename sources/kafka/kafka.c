/* Placeholder: the kafka source is being written. */
#include "sources/kafka/kafka.h"

static const struct sl_prop_table kafka_table = {
    .name = "sources[] (type: kafka)",
    .desc = "Not available yet.",
    .tolerated = (const char *const[]){"*", NULL},
};

static int kafka_create(const struct sl_source_env *env, const struct sl_cfg_typed *sec,
                        struct sl_source **out, struct sl_err *err)
{
    return sl_err_set(err, SL_ERR_PERMANENT, SL_EUNSUPP,
                      "%s: the kafka source is not available yet", sec->path);
}

const struct sl_source_ops sl_source_kafka_ops = {
    .type = "kafka",
    .props = &kafka_table,
    .create = kafka_create,
};
