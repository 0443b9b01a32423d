/* What happened to the store's files: the checks core/store.c runs to notice that its directory
 * or database file is gone (the store is then "lost"), and the reading of a failed write as "no
 * space left". Plain functions over a path and a connection, so they can be tested alone. */
#ifndef SL_CORE_STORE_FAULT_H
#define SL_CORE_STORE_FAULT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <sys/stat.h>

/* The identity of the store directory when it was opened. */
struct sl_store_dir_id {
    dev_t dev;
    ino_t ino;
};

/* Records dir's identity; 0 or a negated errno. */
int sl_store_dir_id(const char *dir, struct sl_store_dir_id *out);

/* True when the store's files are no longer those it opened: dir is gone or is another
 * directory than `id`, or the database file of `db` was deleted, renamed or replaced. *why is
 * then a short static text saying which. Any thread that may use db. */
bool sl_store_files_lost(const char *dir, const struct sl_store_dir_id *id, sqlite3 *db,
                         const char **why);

/* The code of a write that failed on db (its last error): -ENOSPC when it failed for want of
 * space, else SL_ESTORE. *note (may be NULL) is then a short static text saying why ("the disk
 * is full" ...), else "". db_path is the database file (its WAL is db_path + "-wal"). */
int sl_store_write_error(sqlite3 *db, const char *dir, const char *db_path, const char **note);

#endif
