/* Internals of the PostgreSQL change-stream source (type "postgres-cdc") shared between its
 * files and its unit tests: the configuration, the relation cache, the rendering of a change
 * into its DynamoDB-Streams-shaped `dynamodb` object, and the typed records. */
#ifndef SL_SOURCES_POSTGRES_CDC_INT_H
#define SL_SOURCES_POSTGRES_CDC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clients/postgres/conf.h"
#include "config/config.h"
#include "core/buf.h"
#include "sources/postgres/pgoutput.h"
#include "sources/record.h"
#include "sources/source.h"

#define SL_PGCDC_NAME_MAX 63 /* NAMEDATALEN - 1: slot, publication and table names */

struct sl_pgcdc_cfg {
    struct sl_pg_conn_cfg conn; /* conninfo, password, connect_timeout, command_timeout */
    char *slot;
    char *publication;
    struct sl_strlist tables; /* for creating the publication; empty: FOR ALL TABLES */
    bool create;
    char *region;
    int64_t status_interval_ms;
    int64_t standby_poll_ms;
    uint64_t max_transaction_bytes;
};

extern const struct sl_prop_table sl_pgcdc_source_table;

/* Binds and checks a source section (slot default: sluice_<name>). On error nothing to release. */
int sl_pgcdc_cfg_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                      struct sl_pgcdc_cfg *out, struct sl_err *err);
void sl_pgcdc_cfg_release(struct sl_pgcdc_cfg *c);
/* The advisory lock key of a slot (FNV-1a 64 of "sluice-cdc:<slot>"), as a signed bigint. */
int64_t sl_pgcdc_lock_key(const char *slot);
/* The SQL `sluice init` runs: CREATE PUBLICATION unless it exists. */
void sl_pgcdc_init_sql(const struct sl_pgcdc_cfg *c, struct sl_buf *sql);

/* ---- what records share ---- */

/* Per source, immutable once made: texts the encoder writes for every record. */
struct sl_pgcdc_shared {
    char *slot;        /* raw */
    char *region_json; /* "us-east-1" */
    char *pub_json;
    char *slot_json;
};

struct sl_pgcdc_col {
    char *name_json; /* "\"id\"" */
    uint32_t type_oid;
    bool key;
};

/* A table as its latest Relation message described it. One that a newer Relation message (or a
 * reconnect) replaced is retired: it lives on while records point to it. */
struct sl_pgcdc_rel {
    struct sl_pgcdc_rel *next; /* in the source's cache (by relid) */
    const struct sl_pgcdc_shared *sh;
    uint32_t refs; /* live records of it */
    bool retired;  /* out of the cache: freed with its last record */
    uint32_t relid;
    char replident;
    char *table;    /* "public.orders" */
    char *arn_json; /* "\"postgres://host:port/db/public.orders/stream/slot\"" */
    char *table_json;
    uint16_t ncols;
    struct sl_pgcdc_col *cols;
};

/* Fills a relation from a Relation message; endpoint is "host:port/db". */
void sl_pgcdc_rel_init(struct sl_pgcdc_rel *rel, const struct sl_pgcdc_shared *sh,
                       const struct sl_pgo_msg *m, const char *endpoint);
void sl_pgcdc_rel_release(struct sl_pgcdc_rel *rel);
/* Takes rel out of use: freed now, or with its last record (sl_pgcdc_rel_unref). */
void sl_pgcdc_rel_retire(struct sl_pgcdc_rel *rel);
/* A record of rel went; frees a retired rel with its last record. */
void sl_pgcdc_rel_unref(struct sl_pgcdc_rel *rel);

enum sl_pgcdc_event { SL_PGCDC_INSERT = 0, SL_PGCDC_MODIFY, SL_PGCDC_REMOVE };
extern const char *const sl_pgcdc_event_names[]; /* INSERT MODIFY REMOVE */

/* Appends the `dynamodb` object of a change of rel (an 'I', 'U' or 'D' message) to out: Keys,
 * NewImage / OldImage by the stream view type, SequenceNumber seqno, SizeBytes, the commit time
 * (Unix seconds). scratch is a reused buffer (bytea decoding). Returns the event. */
enum sl_pgcdc_event sl_pgcdc_render(const struct sl_pgcdc_rel *rel, const struct sl_pgo_msg *m,
                                    uint64_t seqno, int64_t commit_s, struct sl_buf *scratch,
                                    struct sl_buf *out);
/* One column value as a DynamoDB attribute value ({"N":"1"}, {"S":"x"}, {"M":{...}}, ...). */
void sl_pgcdc_value(uint32_t type_oid, const struct sl_pgo_value *v, struct sl_buf *scratch,
                    struct sl_buf *out);
/* A JSON text (a json or jsonb column) as an attribute value: objects become M, arrays L,
 * strings S, numbers N, booleans BOOL, null NULL. Text that is not JSON, or nests deeper than
 * 64, becomes S. */
void sl_pgcdc_json_value(const char *s, size_t n, struct sl_buf *out);

/* ---- transactions and records ---- */

struct sl_pgcdc_record;

/* A transaction from BEGIN to COMMIT: its records' bodies in one buffer. Lives while it is
 * unconfirmed or any of its records lives. */
struct sl_pgcdc_txn {
    struct sl_pgcdc_txn *next; /* the source's FIFO of unconfirmed transactions, or free list */
    struct sl_pgcdc_pool *pool;
    uint64_t commit_lsn, end_lsn;
    int64_t commit_ms;
    uint32_t xid;
    size_t nrecords;
    size_t pending;                      /* records not acked yet */
    size_t refs;                         /* live records, + 1 while the source holds it */
    struct sl_pgcdc_record *head, *tail; /* records until COMMIT emits them */
    struct sl_buf buf;
};

struct sl_pgcdc_record {
    struct sl_record base;
    struct sl_pgcdc_record *next_free; /* free list, or the txn's list before COMMIT */
    struct sl_pgcdc_txn *txn;
    struct sl_pgcdc_rel *rel; /* holds a reference (refs) */
    uint64_t lsn;             /* the change's LSN */
    uint64_t seqno;           /* SequenceNumber: the LSN, + n for the n-th change sharing it */
    uint32_t body_off, body_len;
    uint8_t event; /* enum sl_pgcdc_event */
};

/* Free lists of records and transactions (one per source). */
struct sl_pgcdc_pool {
    struct sl_pgcdc_record *free;
    struct sl_pgcdc_txn *free_txn;
};

extern const struct sl_record_ops sl_pgcdc_record_ops;

struct sl_pgcdc_txn *sl_pgcdc_txn_take(struct sl_pgcdc_pool *p);
/* Drops a reference; the last one returns the transaction to the pool. */
void sl_pgcdc_txn_unref(struct sl_pgcdc_txn *t);
/* A record of t (not yet emitted), appended to t's list; its body is rendered by the caller
 * into t->buf between body_off and body_len. */
struct sl_pgcdc_record *sl_pgcdc_record_take(struct sl_pgcdc_pool *p, struct sl_pgcdc_txn *t);
void sl_pgcdc_pool_release(struct sl_pgcdc_pool *p);

static inline const struct sl_pgcdc_record *sl_pgcdc_record_of(const struct sl_record *r)
{
    return r->ops == &sl_pgcdc_record_ops ? (const struct sl_pgcdc_record *)r : NULL;
}

void sl_pgcdc_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out);
bool sl_pgcdc_filter_view(const struct sl_record *r, struct sl_fview *out);

#endif
