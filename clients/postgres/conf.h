/* The PostgreSQL connection keys (conninfo, password, connect_timeout, command_timeout), defined
 * once for every module that talks to PostgreSQL: the queue and change-stream sources and the
 * PostgreSQL DLQ sink inline sl_pg_conn_table into their own tables (SL_PROP_INLINE). */
#ifndef SL_CLIENTS_POSTGRES_CONF_H
#define SL_CLIENTS_POSTGRES_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "config/props.h"
#include "core/err.h"

struct sl_pg_conn_cfg {
    char *conninfo; /* libpq keyword=value string or postgresql:// URI, without a password */
    char *password; /* secret */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
};

/* Binds a struct sl_pg_conn_cfg; inline it with
 * {.type = SL_PROP_INLINE, .offset = offsetof(struct my_cfg, conn), .sub = &sl_pg_conn_table}. */
extern const struct sl_prop_table sl_pg_conn_table;

/* What the table cannot check: conninfo parses (libpq's own parser) and holds no password (that
 * goes in `password`, which is never printed). Errors name `file: path.conninfo` and never
 * echo a password. */
int sl_pg_conn_cfg_check(const struct sl_pg_conn_cfg *c, const char *file, const char *path,
                         struct sl_err *err);
/* "host:port/dbname" of a conninfo (libpq's defaults filled in), for logs and describe. */
void sl_pg_conn_endpoint(const char *conninfo, char *out, size_t cap);

#endif
