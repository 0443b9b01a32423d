/* The PostgreSQL change-stream source (type "postgres-cdc"): row changes of a publication's
 * tables through a logical replication slot (pgoutput), as DynamoDB-Streams-shaped records
 * (docs/POSTGRES.md). */
#ifndef SL_SOURCES_POSTGRES_CDC_H
#define SL_SOURCES_POSTGRES_CDC_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_pgcdc_ops;

#endif
