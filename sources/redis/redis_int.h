/* Internals of the redis source shared between its files (and its unit tests). */
#ifndef SL_SOURCES_REDIS_INT_H
#define SL_SOURCES_REDIS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clients/redis/conf.h"
#include "config/config.h"
#include "core/buf.h"
#include "sources/redis/redis.h"

enum sl_redis_start { SL_REDIS_START_EARLIEST = 0, SL_REDIS_START_LATEST, SL_REDIS_START_AT };

struct sl_redis_cfg {
    struct sl_redis_conn_cfg conn; /* host, port, unix_socket, password, db, timeouts */
    struct sl_strlist streams;
    char *group;
    char *consumer;
    int starting_position; /* enum sl_redis_start */
    char *starting_timestamp;
    char *partition_key_field;
    int64_t block_ms;
    int64_t count;      /* 0: the batch size of the mapping that reads the source */
    int64_t read_ahead; /* 0: 4 x count */
    int64_t claim_idle_ms;
    int64_t claim_interval_ms;
    int64_t max_deliveries;
    int64_t metrics_interval_ms;
};

extern const struct sl_prop_table sl_redis_source_table;

/* Binds and checks a source section; fills the derived values (group and consumer defaults,
 * the start time for `at`, count from the mapping). On error cfg needs no release. */
int sl_redis_cfg_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                      struct sl_redis_cfg *out, int64_t *start_ms, struct sl_err *err);
void sl_redis_cfg_release(struct sl_redis_cfg *c);

/* The fields of an entry (name, value, name, value...) as a JSON object, appended to out.
 * Strings that are not UTF-8 get U+FFFD for each bad byte; an odd last name gets "". */
void sl_redis_fields_json(const char *const *v, const size_t *lens, size_t n, struct sl_buf *out);
/* The raw JSON string token (quotes included) of a top-level member of a JSON object text;
 * false when absent or not a string. */
bool sl_redis_json_member(const char *obj, const char *key, const char **tok, size_t *len);

/* attrs of a record: {"stream":...,"partitionKey":...,"eventSourceARN":...}. */
void sl_redis_attrs(const char *stream, const char *pkey, size_t pkey_len, const char *arn,
                    struct sl_buf *out);
/* coords of a record: {"stream":...,"id":...,"group":...,"consumer":...,"deliveries":n}. */
void sl_redis_coords(const char *stream, const char *id, const char *group, const char *consumer,
                     int64_t deliveries, struct sl_buf *out);

/* The COUNT of the next XREADGROUP of a source holding `held` unhandled entries: what read_ahead
 * still allows, spread over the streams (COUNT is per stream), so that a source that fell
 * behind its function catches up in one round trip instead of one per `count`. Never below
 * count (no more round trips than reads of count, and the old bound on what is held: under
 * read_ahead plus one read), never above 4 x count (a reply stays a few batches big). A source
 * that keeps up frees about a batch between reads, so it reads about count at a time. */
int64_t sl_redis_read_count(int64_t read_ahead, size_t held, size_t nstreams, int64_t count);

void sl_redis_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out);
json_t *sl_redis_filter_view(const struct sl_record *r);

#endif
