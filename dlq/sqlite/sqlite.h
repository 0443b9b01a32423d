/* The "sqlite" DLQ sink: entries kept in the embedded store (table dlq_entries), several named
 * sinks per store. */
#ifndef SL_DLQ_SQLITE_SQLITE_H
#define SL_DLQ_SQLITE_SQLITE_H

#include "dlq/dlq.h"

extern const struct sl_dlq_ops sl_dlq_sqlite_ops;
/* The type's own keys: none (the table exists for docs/CONFIGURATION.md). */
extern const struct sl_prop_table sl_dlq_sqlite_props;

/* Allocates a sqlite sink named `name` without a config section (the implicit
 * SL_DLQ_DEFAULT_NAME one); open it with sl_dlq_sqlite_ops.open (it
 * uses env's store). Returns 0 or -EINVAL (empty
 * name). */
int sl_dlq_sqlite_create(const struct sl_env *env, const char *name, struct sl_dlq **out);

#endif
