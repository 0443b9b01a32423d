/* Placeholder: the kafka dead-letter sink is being written. */
#include "dlq/kafka/kafka.h"

static const struct sl_prop_table kafka_table = {
    .name = "dlqs[] (type: kafka)",
    .desc = "Not available yet.",
    .tolerated = (const char *const[]){"*", NULL},
};

static int kafka_create(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                        struct sl_dlq **out, struct sl_err *err)
{
    return sl_err_set(err, SL_ERR_PERMANENT, SL_EUNSUPP, "%s: the kafka DLQ is not available yet",
                      sec->path);
}

const struct sl_dlq_ops sl_dlq_kafka_ops = {
    .type = "kafka",
    .props = &kafka_table,
    .create = kafka_create,
};
