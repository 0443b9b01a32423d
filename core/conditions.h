/* Why a record was dead-lettered: the condition of a DLQ entry and of its on-failure record
 * (requestContext.condition in Lambda's on-failure destination records,
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). Sources
 * name the conditions they decide themselves (sl_record.dead_letter), mappings the others, and
 * dlq/ writes them; all of them take the names from here. */
#ifndef SL_CORE_CONDITIONS_H
#define SL_CORE_CONDITIONS_H

#define SL_COND_RETRIES_EXHAUSTED "RetryAttemptsExhausted"
#define SL_COND_AGE_EXCEEDED      "RecordAgeExceeded"
#define SL_COND_TERMINAL          "TerminalError"
#define SL_COND_PAYLOAD_TOO_LARGE "MaximumPayloadSizeExceeded"
#define SL_COND_MAX_DELIVERIES    "MaxDeliveriesExceeded"

#endif
