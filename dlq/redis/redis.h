/* The redis dead-letter sink (type "redis"). */
#ifndef SL_DLQ_REDIS_H
#define SL_DLQ_REDIS_H

#include "dlq/dlq.h"

extern const struct sl_dlq_ops sl_dlq_redis_ops;

#endif
