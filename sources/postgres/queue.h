/* The PostgreSQL queue source (type "postgres-queue"): rows of a table claimed in batches with
 * FOR UPDATE SKIP LOCKED, delivered as SQS-shaped records, deleted (or archived) once handled.
 * docs/POSTGRES.md. */
#ifndef SL_SOURCES_POSTGRES_QUEUE_H
#define SL_SOURCES_POSTGRES_QUEUE_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_pg_queue_ops;

#endif
