/* The Redis connection keys shared by the Redis source and the Redis DLQ sink. */
#include "clients/redis/conf.h"

#include <stddef.h>

#include "core/mem.h"

#define OFF(f) offsetof(struct sl_redis_conn_cfg, f)

/* The descriptions hold for every user of the table (a source and a sink): what differs is said
 * per user in the text. */
static const struct sl_prop conn_props[] = {
    {.name = "host",
     .type = SL_PROP_STRING,
     .offset = OFF(host),
     .def = "127.0.0.1",
     .desc = "Redis server address (an IP address, or a name resolved when connecting)."},
    {.name = "port",
     .type = SL_PROP_INT,
     .offset = OFF(port),
     .def = "6379",
     .min = 1,
     .max = 65535,
     .desc = "Redis server port."},
    {.name = "unix_socket",
     .type = SL_PROP_STRING,
     .offset = OFF(unix_socket),
     .flags = SL_PROP_PATH,
     .desc = "Path of a Unix socket to use instead of host and port."},
    {.name = "password",
     .type = SL_PROP_STRING,
     .offset = OFF(password),
     .flags = SL_PROP_SECRET,
     .desc = "Password sent with AUTH after connecting; unset: no AUTH. Never logged."},
    {.name = "db",
     .type = SL_PROP_INT,
     .offset = OFF(db),
     .def = "0",
     .min = 0,
     .max = 1000000,
     .desc = "Database number (SELECT); for a source it is also part of eventSourceARN."},
    {.name = "connect_timeout",
     .type = SL_PROP_DURATION,
     .offset = OFF(connect_timeout_ms),
     .def = "5s",
     .min = 10,
     .max = 600000,
     .desc = "How long connecting (with AUTH and SELECT) may take before it is retried."},
    {.name = "command_timeout",
     .type = SL_PROP_DURATION,
     .offset = OFF(command_timeout_ms),
     .def = "10s",
     .min = 10,
     .max = 600000,
     .desc = "How long a command may wait for its reply (on top of `block` for a source's "
             "reads); then the connection is dropped and made again. A DLQ write that times out "
             "fails (and the mapping retries it)."},
};

const struct sl_prop_table sl_redis_conn_table = {
    .name = "Redis connection",
    .props = conn_props,
    .nprops = SL_ARRAY_LEN(conn_props),
    .struct_size = sizeof(struct sl_redis_conn_cfg),
};

int sl_redis_conn_cfg_check(const struct sl_redis_conn_cfg *c, const char *file, const char *path,
                            struct sl_err *err)
{
    if ((c->host && *c->host) || (c->unix_socket && *c->unix_socket))
        return 0;
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                      "%s: %s.host: empty (allowed: an address, or set unix_socket)",
                      file ? file : "config", path ? path : "");
}

void sl_redis_conn_opts_from_cfg(const struct sl_redis_conn_cfg *c, struct sl_redis_conn_opts *o)
{
    *o = (struct sl_redis_conn_opts){
        .host = c->host,
        .port = (int)c->port,
        .unix_socket = c->unix_socket,
        .password = c->password,
        .db = c->db,
        .connect_timeout_ms = c->connect_timeout_ms,
        .command_timeout_ms = c->command_timeout_ms,
    };
}
