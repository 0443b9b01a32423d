/* Whether a librdkafka client reaches its cluster, read from its statistics (the JSON of
 * `statistics.interval.ms`, described in librdkafka's STATISTICS.md). librdkafka connects only
 * to the brokers it needs and reconnects by itself; its error events say when every broker is
 * down but never when one is back, so the periodic statistics are what says both. */
#ifndef SL_CLIENTS_KAFKA_REACH_H
#define SL_CLIENTS_KAFKA_REACH_H

#include <stdbool.h>
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

/* What a client (the Kafka source's consumer, the Kafka sink's producer) knows of its reach,
 * kept from one statistics document to the next. Loop thread. Zeroed: UNKNOWN. */
struct sl_kafka_reachability {
    enum sl_kafka_reach state;
    char why[200]; /* while DOWN */
};
/* Takes one statistics document: UP or DOWN replaces the state, UNKNOWN (every broker idle)
 * keeps it. Returns the state before. */
enum sl_kafka_reach sl_kafka_reach_stats(struct sl_kafka_reachability *r, const char *json,
                                         size_t len);
/* The error event RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: down until the statistics show a broker
 * connected. */
void sl_kafka_reach_down(struct sl_kafka_reachability *r, const char *reason);
/* For a ready op: false while DOWN, with why (n bytes) set to the reason. */
bool sl_kafka_reach_ready(const struct sl_kafka_reachability *r, char *why, size_t n);

#endif
