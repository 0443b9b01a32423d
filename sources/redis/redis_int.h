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
#include "sources/record.h"
#include "sources/redis/redis.h"
#include "sources/redis/tracker.h"

enum sl_redis_start { SL_REDIS_START_EARLIEST = 0, SL_REDIS_START_LATEST, SL_REDIS_START_AT };

/* What kinesis.data carries (data_encoding): the fields as a JSON object (text: bytes that are
 * not UTF-8 are replaced), as a RESP array (binary-safe), or one field's raw value. */
enum sl_redis_data { SL_REDIS_DATA_JSON = 0, SL_REDIS_DATA_RESP, SL_REDIS_DATA_FIELD };

/* The condition of an entry that lacks data_field (dead-lettered at once, fields in RESP). */
#define SL_REDIS_COND_NO_DATA_FIELD "DataFieldMissing"

struct sl_redis_cfg {
    struct sl_redis_conn_cfg conn; /* host, port, unix_socket, password, db, timeouts */
    struct sl_strlist streams;
    char *group;
    char *consumer;
    int starting_position; /* enum sl_redis_start */
    char *starting_timestamp;
    char *partition_key_field;
    int data_encoding; /* enum sl_redis_data */
    char *data_field;
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
 * Strings that are not UTF-8 get U+FFFD for each bad byte; an odd last name gets "". Returns
 * the number of bytes replaced. */
size_t sl_redis_fields_json(const char *const *v, const size_t *lens, size_t n, struct sl_buf *out);
/* The fields as a RESP array of bulk strings, as Redis sends them (binary-safe):
 * "*<n>\r\n" then "$<len>\r\n<bytes>\r\n" per string. */
void sl_redis_fields_resp(const char *const *v, const size_t *lens, size_t n, struct sl_buf *out);
/* What an entry's body is (sl_redis_body). */
struct sl_redis_body_spec {
    int encoding;      /* enum sl_redis_data */
    const char *field; /* SL_REDIS_DATA_FIELD: the field's name */
    size_t field_len;
};
/* Appends the body of an entry's fields in spec's encoding: one pass, no allocation beyond
 * out's growth. *replaced counts the bytes the JSON encoding replaced. Returns false when the
 * data field is absent (the fields are then written in RESP). */
bool sl_redis_body(const struct sl_redis_body_spec *spec, const char *const *v, const size_t *lens,
                   size_t n, struct sl_buf *out, size_t *replaced);
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

/* ---- typed records (record.c) ---- */

struct sl_redis_record;

/* What a source's records share: the free list and the group and consumer as JSON text. */
struct sl_redis_pool {
    struct sl_redis_record *free;
    char *group_json, *consumer_json;
    struct sl_redis_body_spec body; /* zero: JSON; the field name is not owned */
};

/* What a stream's records share, computed once per stream. */
struct sl_redis_stream_ref {
    struct sl_redis_pool *pool;
    const char *name; /* not owned */
    char *name_json;  /* "orders" */
    char *arn_json;   /* "redis://host:port/db/orders" */
    size_t name_json_len, arn_json_len;
};

/* A Redis entry as the mapping holds it: the stream, the entry id, the deliveries and the fields
 * as JSON (base.body), followed in buf by the partition key's JSON text when it is not the
 * stream name. buf keeps its capacity while the record waits on the free list. */
struct sl_redis_record {
    struct sl_record base;
    const struct sl_redis_stream_ref *st;
    struct sl_redis_record *next_free;
    uint64_t id_ms, id_seq;
    int64_t deliveries;
    bool pkey_is_stream;
    bool utf8_replaced; /* the JSON body replaced bytes that are not UTF-8 */
    uint8_t id_len;
    char id[SL_REDIS_ID_MAX];
    size_t pkey_off, pkey_len; /* the partition key's JSON token in buf */
    struct sl_buf buf;
};

extern const struct sl_record_ops sl_redis_record_ops;

void sl_redis_pool_init(struct sl_redis_pool *p, const char *group, const char *consumer);
/* Frees the free list (every record must be back). */
void sl_redis_pool_release(struct sl_redis_pool *p);
void sl_redis_stream_ref_init(struct sl_redis_stream_ref *st, struct sl_redis_pool *p,
                              const char *name, const char *arn);
void sl_redis_stream_ref_release(struct sl_redis_stream_ref *st);

/* A typed record of entry id (id_len < SL_REDIS_ID_MAX) with the fields v/lens (n strings),
 * partition key pk (NULL: the stream name), read `deliveries` times; its body is in the pool's
 * data_encoding. Sets time_ms (the id's milliseconds) and bytes, and dead_letter when the
 * entry lacks the data field; lane and seq are the caller's. */
struct sl_record *sl_redis_record_take(const struct sl_redis_stream_ref *st, const char *id,
                                       size_t id_len, const char *const *v, const size_t *lens,
                                       size_t n, const char *pk, size_t pk_len, int64_t deliveries);
/* The typed record, or NULL for a record of another kind. */
static inline const struct sl_redis_record *sl_redis_record_of(const struct sl_record *r)
{
    return r->ops == &sl_redis_record_ops ? (const struct sl_redis_record *)r : NULL;
}
/* The entry id of a typed or text record. */
const char *sl_redis_record_id(const struct sl_record *r);

void sl_redis_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out);
bool sl_redis_filter_view(const struct sl_record *r, struct sl_fview *out);

#endif
