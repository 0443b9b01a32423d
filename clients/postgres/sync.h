/* Blocking PostgreSQL calls for commands and threads that may block (sluice init, a DLQ sink's
 * reads on the admin worker thread): a connection made from the shared connection keys. */
#ifndef SL_CLIENTS_POSTGRES_SYNC_H
#define SL_CLIENTS_POSTGRES_SYNC_H

#include <libpq-fe.h>

#include "clients/postgres/conf.h"
#include "core/err.h"

/* Connects (blocking, within connect_timeout). NULL with err set (-EIO, libpq's message,
 * never the password). */
PGconn *sl_pg_connect_blocking(const struct sl_pg_conn_cfg *c, const char *application_name,
                               struct sl_err *err);
/* Runs sql (one or more statements, simple query protocol) in one transaction on a new
 * connection. 0, or -EIO with err holding the server's message. */
int sl_pg_exec_script(const struct sl_pg_conn_cfg *c, const char *sql, struct sl_err *err);

#endif
