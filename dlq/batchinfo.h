/* The batch-info member of a DLQ entry's Lambda-style on-failure record, for the sources whose
 * Lambda analogue has one: KafkaBatchInfo for Kafka records
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html) and KinesisBatchInfo for
 * Redis Streams records, whose events are Kinesis-shaped
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). */
#ifndef SL_DLQ_BATCHINFO_H
#define SL_DLQ_BATCHINFO_H

#include "core/jw.h"
#include "dlq/dlq.h"

/* Writes the member (key and object) into the open on-failure object, from the entry's source
 * type, coordinates, attributes, record time and payload size; nothing for other sources or
 * when the coordinates lack what it needs. An entry holds one record: batchSize is 1. */
void sl_dlq_put_batch_info(struct sl_jw *w, const struct sl_dlq_entry *e);

#endif
