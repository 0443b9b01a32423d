/* The kafka dead-letter sink (type "kafka"). */
#ifndef SL_DLQ_KAFKA_H
#define SL_DLQ_KAFKA_H

#include "dlq/dlq.h"

extern const struct sl_dlq_ops sl_dlq_kafka_ops;

#endif
