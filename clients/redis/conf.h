/* The Redis connection keys (host, port, unix_socket, password, db, connect_timeout,
 * command_timeout), defined once for every module that talks to Redis: the Redis source and the
 * Redis DLQ sink inline sl_redis_conn_table into their own tables (SL_PROP_INLINE), so both have
 * the same keys, defaults, bounds, docs and errors. */
#ifndef SL_CLIENTS_REDIS_CONF_H
#define SL_CLIENTS_REDIS_CONF_H

#include <stdint.h>

#include "clients/redis/conn.h"
#include "config/props.h"
#include "core/err.h"

struct sl_redis_conn_cfg {
    char *host;
    int64_t port;
    char *unix_socket;
    char *password; /* secret */
    int64_t db;
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
};

/* Binds a struct sl_redis_conn_cfg; inline it with
 * {.type = SL_PROP_INLINE, .offset = offsetof(struct my_cfg, conn), .sub = &sl_redis_conn_table}.
 */
extern const struct sl_prop_table sl_redis_conn_table;

/* What the table cannot check: an address (host or unix_socket) is set. Errors name
 * `file: path.host`. */
int sl_redis_conn_cfg_check(const struct sl_redis_conn_cfg *c, const char *file, const char *path,
                            struct sl_err *err);
/* The connection options of c; they borrow c's strings. */
void sl_redis_conn_opts_from_cfg(const struct sl_redis_conn_cfg *c, struct sl_redis_conn_opts *o);

#endif
