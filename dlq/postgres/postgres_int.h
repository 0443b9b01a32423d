/* The PostgreSQL DLQ sink's parts: its keys, the SQL built for its table (schema.c), the
 * blocking listing (list.c) and the sink itself (postgres.c). */
#ifndef SL_DLQ_POSTGRES_INT_H
#define SL_DLQ_POSTGRES_INT_H

#include <libpq-fe.h>
#include <pthread.h>

#include "clients/postgres/conf.h"
#include "clients/postgres/conn.h"
#include "core/backoff.h"
#include "dlq/dlq.h"

#define PGDLQ_TABLE_DEFAULT "sluice_dlq"
/* Bytes of one part of the table name: PostgreSQL's identifiers hold 63 (NAMEDATALEN - 1) and
 * the index names add "_by_mapping" to the table's. */
#define PGDLQ_IDENT_MAX 48
/* Puts waiting while an INSERT is on the wire go out together in the next one, up to this many
 * entries and bytes of documents. */
#define PGDLQ_GROUP_MAX   100
#define PGDLQ_GROUP_BYTES (8u << 20)

struct pgdlq_cfg {
    struct sl_pg_conn_cfg conn; /* conninfo, password, connect_timeout, command_timeout */
    char *table;                /* "name" or "schema.name" */
    bool create_table;
};

extern const struct sl_prop_table sl_pgdlq_table;

/* The statements of one table, its name quoted in them. */
struct pgdlq_sql {
    char *schema; /* CREATE TABLE / INDEX IF NOT EXISTS (several statements) */
    char *insert; /* $1: the canonical document (sl_pgdlq_insert_sql for several) */
    char *remove; /* $1: the entry id; RETURNING the mapping of the row removed */
    char *count;  /* rows per mapping */
    char *list;   /* $1 mapping, $2 since ms, $3 id, $4/$5 after (created ms, seq), $6 limit */
    char *table;  /* the table as written in them ("schema"."name") */
};

/* Whether table is a name or schema.name the sink accepts; errors name file, path, value and
 * what is allowed. */
int sl_pgdlq_table_check(const char *table, const char *file, const char *path, struct sl_err *err);
/* Builds the statements for a checked table name. */
void sl_pgdlq_sql_build(const char *table, struct pgdlq_sql *out);
void sl_pgdlq_sql_release(struct pgdlq_sql *s);
/* Appends the INSERT of n documents ($1..$n), one statement: they commit together. */
void sl_pgdlq_insert_sql(const struct pgdlq_sql *s, int n, struct sl_buf *out);
/* Binds and checks a section (keys, conninfo, table). */
int sl_pgdlq_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                  struct pgdlq_cfg *out, struct sl_err *err);
/* sl_dlq_ops.init */
int sl_pgdlq_init(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                  struct sl_buf *sql, struct sl_err *err);

struct pgdlq_op;

/* Entries per mapping as last counted, plus the writes confirmed since. */
struct pgdlq_count {
    char *mapping;
    int64_t n;
};

struct sl_dlq_postgres {
    struct sl_dlq base;
    struct pgdlq_cfg cfg;
    struct pgdlq_sql sql;
    char endpoint[200];
    struct ev_loop *loop;
    struct sl_pg_conn conn;
    bool opened, connecting, ever_up, schema_done, closing, destroying, listing;
    uint32_t failures;
    char last_why[300];
    struct sl_backoff backoff;
    uint64_t rng;
    ev_timer retry_timer;
    ev_timer fail_timer;                      /* fails the ops of a lost connection from the loop */
    struct pgdlq_op *queue_head, *queue_tail; /* removes waiting for the connection */
    struct pgdlq_op *puts_head, *puts_tail;   /* puts waiting for the connection or a group */
    struct pgdlq_op *failed;
    int fail_status;
    bool group_busy;                     /* an INSERT of puts is on the wire */
    size_t inflight;                     /* puts sent, not yet answered */
    char *insert_n[PGDLQ_GROUP_MAX + 1]; /* the INSERT of n documents, made on first use */
    /* depth */
    struct pgdlq_count *counts;
    size_t ncounts;
    bool counts_known, counting;
    int64_t total;
    int64_t counted_at_ms;
    /* list: a blocking connection of its own (the admin worker thread, or the CLI's) */
    PGconn *lconn;
};

/* sl_dlq_ops.list (list.c); closes lconn with sl_pgdlq_list_release. */
int sl_pgdlq_list(struct sl_dlq *d, const struct sl_dlq_filter *f, sl_dlq_each_cb cb, void *arg,
                  struct sl_err *err);
void sl_pgdlq_list_release(struct sl_dlq_postgres *q);

#endif
