/* Whether a librdkafka client reaches its cluster, read from its statistics (the JSON of
 * `statistics.interval.ms`, described in librdkafka's STATISTICS.md). librdkafka connects only
 * to the brokers it needs and reconnects by itself; its error events say when every broker is
 * down but never when one is back, so the periodic statistics are what says both. */
#ifndef SL_CLIENTS_KAFKA_REACH_H
#define SL_CLIENTS_KAFKA_REACH_H

#include <stddef.h>

/* How often sluice asks librdkafka for statistics unless `rdkafka` sets
 * statistics.interval.ms. */
#define SL_KAFKA_STATS_MS "5000"

enum sl_kafka_reach {
    SL_KAFKA_REACH_UNKNOWN, /* nothing tried: every broker idle (INIT) */
    SL_KAFKA_REACH_UP,      /* at least one broker connected */
    SL_KAFKA_REACH_DOWN,    /* brokers were tried and none is connected */
};

/* Reads one statistics document: the "state" of every broker but librdkafka's internal one
 * (bootstrap addresses, brokers learned from metadata, and the group coordinator's alias).
 * librdkafka connects only to the brokers it needs: after a disconnect the idle ones rest in
 * INIT, so UNKNOWN means "as before" and the caller keeps what it knew (the error event
 * RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN says down). *why (n bytes) is set to a short reason when
 * DOWN ("no broker connected: 127.0.0.1:9092/1 DOWN"). Unparseable input gives UNKNOWN. */
enum sl_kafka_reach sl_kafka_stats_reach(const char *json, size_t len, char *why, size_t n);

#endif
