/* The PostgreSQL dead-letter sink (type "postgres"). */
#ifndef SL_DLQ_POSTGRES_H
#define SL_DLQ_POSTGRES_H

#include "dlq/dlq.h"

extern const struct sl_dlq_ops sl_dlq_postgres_ops;

#endif
