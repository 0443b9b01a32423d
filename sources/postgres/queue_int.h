/* Internals of the postgres-queue source shared between its files (and its unit tests):
 * queue_conf.c (keys, checks, the SQL, `sluice init`), queue_record.c (typed records),
 * queue_encode.c (SQS event shape, filter view), queue_attrs.c (message attributes, MD5),
 * queue_held.c (the rows this process holds) and queue.c (the source on the loop). */
#ifndef SL_SOURCES_POSTGRES_QUEUE_INT_H
#define SL_SOURCES_POSTGRES_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clients/postgres/conf.h"
#include "config/config.h"
#include "core/buf.h"
#include "sources/postgres/queue.h"
#include "sources/record.h"

#define SL_PGQ_NAME_MAX  63      /* PostgreSQL's identifiers: NAMEDATALEN - 1 bytes */
#define SL_PGQ_COUNT_CAP 1000000 /* the lag metric counts visible rows up to this */

/* The columns the source reads and writes (`columns.*`). An optional one that is NULL or ""
 * is not used. */
struct sl_pgq_columns {
    char *id;                /* integer row id: messageId, the claim order */
    char *payload;           /* the body (any type, read as text) */
    char *visible_after;     /* timestamp: the row may be claimed from then on */
    char *receive_count;     /* integer: claims so far */
    char *created_at;        /* optional timestamp: SentTimestamp */
    char *first_received_at; /* optional timestamp, set by the first claim */
    char *attributes;        /* optional JSON object: messageAttributes */
    char *group;             /* optional: MessageGroupId, and the lane */
};

struct sl_pgq_cfg {
    struct sl_pg_conn_cfg conn; /* conninfo, password, connect_timeout, command_timeout */
    char *table;
    struct sl_pgq_columns columns;
    char *archive_table;
    int64_t visibility_timeout_ms;
    int64_t max_receives;
    int64_t claim_size;   /* 0 in the file: the batch size of the mapping */
    int64_t max_inflight; /* 0 in the file: 4 x claim_size */
    int64_t poll_interval_ms;
    bool notify;
    char *channel; /* NULL in the file: sluice_<table> */
    int64_t metrics_interval_ms;
    /* Derived by sl_pgq_cfg_bind. */
    int64_t lanes; /* with a group column: the mapping's max_concurrency; else 1 */
};

extern const struct sl_prop_table sl_pgq_source_table;

/* Binds and checks a source section; fills the derived values (claim_size and lanes from the
 * mapping that reads the source, max_inflight, channel). Errors name the key path. On error
 * out needs no release. */
int sl_pgq_cfg_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                    struct sl_pgq_cfg *out, struct sl_err *err);
void sl_pgq_cfg_release(struct sl_pgq_cfg *c);

/* A name sluice accepts for a table, column or channel: 1 to 63 bytes of A-Z a-z 0-9 _ $, not
 * starting with a digit or $. Names are used as written (quoted in SQL: case-sensitive). */
bool sl_pgq_name_ok(const char *s, size_t n);
/* A table: `name` or `schema.name`, each part a name. */
bool sl_pgq_table_ok(const char *s);
/* Appends "name" (quoted, as SQL). */
void sl_pgq_quote_name(struct sl_buf *out, const char *name);
/* Appends "schema"."name" or "name". */
void sl_pgq_quote_table(struct sl_buf *out, const char *table);

/* The idempotent SQL that creates what the source needs (`sluice init`): the table, the NOTIFY
 * function and trigger (notify: true) and the archive table (archive_table set). Each
 * statement ends with ";\n". */
void sl_pgq_init_sql(const struct sl_pgq_cfg *c, struct sl_buf *sql);

/* ---- the statements (queue_conf.c) ---- */

/* Column positions in a claim's result. */
enum {
    SL_PGQ_R_ID = 0,
    SL_PGQ_R_COUNT,
    SL_PGQ_R_SENT,  /* created_at as epoch ms, or NULL */
    SL_PGQ_R_FIRST, /* first_received_at as epoch ms, or NULL */
    SL_PGQ_R_NOW,   /* the server's now() as epoch ms */
    SL_PGQ_R_BODY,
    SL_PGQ_R_ATTRS, /* text, or NULL */
    SL_PGQ_R_GROUP, /* text, or NULL */
    SL_PGQ_R_NCOLS,
};

struct sl_pgq_sql {
    char *table_q;   /* the table, quoted */
    char *archive_q; /* the archive table, quoted, or NULL */
    char *claim;     /* $1 LIMIT; the SL_PGQ_R_* columns */
    char *delete;    /* $1 ids (bigint[] text) */
    char *heartbeat; /* $1 ids, $2 receive counts: renews those still claimed by us */
    char *columns;   /* $1 a quoted table: attname, atttypid of its columns */
    char *metrics;   /* visible rows (up to SL_PGQ_COUNT_CAP + 1), the oldest one's age (s) */
    char *listen;    /* LISTEN "channel", or NULL */
    char *setup;     /* SET statement_timeout */
};

void sl_pgq_sql_build(const struct sl_pgq_cfg *c, struct sl_pgq_sql *q);
void sl_pgq_sql_release(struct sl_pgq_sql *q);
/* The statement that moves acked rows to the archive table: the columns both tables have. */
char *sl_pgq_sql_archive(const struct sl_pgq_sql *q, const char *const *cols, size_t n);

/* Checks the columns a table has (names, type oids and type names) against the mapping.
 * Returns NULL when they fit, else a message naming the key and the column (into buf). */
const char *sl_pgq_check_columns(const struct sl_pgq_cfg *c, const char *const *names,
                                 const unsigned *types, const char *const *type_names, size_t n,
                                 char *buf, size_t cap);

/* ---- MD5 and message attributes (queue_attrs.c) ---- */

struct sl_pgq_md5 {
    uint32_t a, b, c, d;
    uint64_t len;
    unsigned char block[64];
};

void sl_pgq_md5_init(struct sl_pgq_md5 *m);
void sl_pgq_md5_update(struct sl_pgq_md5 *m, const void *data, size_t n);
void sl_pgq_md5_final(struct sl_pgq_md5 *m, unsigned char out[16]);
void sl_pgq_md5(const void *data, size_t n, unsigned char out[16]);
/* 32 lower-case hex digits (no NUL) at out. */
void sl_pgq_hex(const unsigned char md5[16], char out[32]);

/* SQS messageAttributes from the attributes column (a JSON object): each member becomes
 * {"stringValue":..,"stringListValues":[],"binaryListValues":[],"dataType":..}, names sorted:
 * a string is a String, a number a Number (its text), true/false a String, an object with a
 * "dataType" is taken as already in SQS form (String/Number: stringValue; Binary: binaryValue,
 * base64), null is left out, anything else is a String of its JSON text. Appends the object
 * ("{}" for none) to out and fills md5 with SQS's md5OfMessageAttributes. Returns how many
 * attributes there are (0: md5 is not set); -1 (and "{}") when the text is not a JSON object.
 * Applied to its own output it gives the same text. */
int sl_pgq_message_attrs(const char *json, size_t len, struct sl_buf *out, unsigned char md5[16]);

/* ---- typed records (queue_record.c) ---- */

struct sl_pgq_record;

/* What a source's records share: the free list and texts escaped once. */
struct sl_pgq_pool {
    struct sl_pgq_record *free;
    char *arn_json;   /* "postgres://host:port/db/table" */
    char *table_json; /* "public.jobs" (as configured) */
    uint32_t lanes;   /* records with a group: lane = hash(group) % lanes */
};

/* A claimed row as the mapping holds it: its id, receive count and times as numbers, the MD5
 * of the body, and in buf the body (base.body), the messageAttributes JSON and the group's
 * text. buf keeps its capacity while the record waits on the free list. */
struct sl_pgq_record {
    struct sl_record base;
    struct sl_pgq_pool *pool;
    struct sl_pgq_record *next_free;
    int64_t id;
    int64_t receive_count;
    int64_t sent_ms;
    int64_t first_ms;
    unsigned char md5[16];       /* of the body */
    unsigned char attrs_md5[16]; /* md5OfMessageAttributes, when nattrs > 0 */
    int nattrs;
    bool has_group;
    bool utf8_replaced;          /* the body is not UTF-8: the event's text replaced bytes */
    size_t attrs_off, attrs_len; /* messageAttributes JSON in buf */
    size_t group_off, group_len; /* the group's raw text in buf */
    struct sl_buf buf;
};

extern const struct sl_record_ops sl_pgq_record_ops;

void sl_pgq_pool_init(struct sl_pgq_pool *p, const char *arn, const char *table, uint32_t lanes);
/* Frees the free list (every record must be back). */
void sl_pgq_pool_release(struct sl_pgq_pool *p);

/* What one claimed row holds. attrs/group NULL: none. */
struct sl_pgq_row {
    int64_t id;
    int64_t receive_count;
    int64_t sent_ms;  /* 0: unknown */
    int64_t first_ms; /* 0: unknown */
    const char *body;
    size_t body_len;
    const char *attrs;
    size_t attrs_len;
    const char *group;
    size_t group_len;
};

/* A typed record of a row (from the pool's free list when it has one). Sets time_ms (sent, else
 * first receive), bytes and lane (from the group); seq is the caller's. */
struct sl_record *sl_pgq_record_take(struct sl_pgq_pool *p, const struct sl_pgq_row *row);
static inline const struct sl_pgq_record *sl_pgq_record_of(const struct sl_record *r)
{
    return r->ops == &sl_pgq_record_ops ? (const struct sl_pgq_record *)r : NULL;
}
/* The row id of a typed or text record; false when it has none. */
bool sl_pgq_record_id(const struct sl_record *r, int64_t *id);

/* ---- the event shape (queue_encode.c) ---- */

void sl_pgq_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                   struct sl_buf *out);
bool sl_pgq_filter_view(const struct sl_record *r, struct sl_fview *out);

/* ---- the rows this process holds (queue_held.c) ---- */

enum sl_pgq_held_state {
    SL_PGQ_FREE = 0,
    SL_PGQ_HELD,    /* claimed and emitted, not yet handled */
    SL_PGQ_HANDLED, /* handled: its delete is queued or on the wire */
    SL_PGQ_GONE,    /* a removed slot (probing goes past it) */
};

struct sl_pgq_slot {
    int64_t id;
    int64_t receive_count; /* of our latest claim: the lease renewal matches it */
    int64_t lease_ms;      /* monotonic time our claim's visibility timeout ends, about */
    uint8_t state;
};

/* An open-addressing hash of row ids. */
struct sl_pgq_held {
    struct sl_pgq_slot *v;
    size_t cap;  /* a power of two */
    size_t n;    /* live slots */
    size_t used; /* live + GONE */
};

void sl_pgq_held_init(struct sl_pgq_held *h);
void sl_pgq_held_release(struct sl_pgq_held *h);
struct sl_pgq_slot *sl_pgq_held_find(struct sl_pgq_held *h, int64_t id);
/* A new live slot for id (not present), state HELD. The pointer is valid until the next add. */
struct sl_pgq_slot *sl_pgq_held_add(struct sl_pgq_held *h, int64_t id);
void sl_pgq_held_remove(struct sl_pgq_held *h, struct sl_pgq_slot *s);

/* A growing list of row ids. */
struct sl_pgq_ids {
    int64_t *v;
    size_t n, cap;
};

void sl_pgq_ids_push(struct sl_pgq_ids *l, int64_t id);
void sl_pgq_ids_release(struct sl_pgq_ids *l);
/* Appends the PostgreSQL array text of ids: {1,2,3}. */
void sl_pgq_ids_array(const int64_t *ids, size_t n, struct sl_buf *out);

#endif
