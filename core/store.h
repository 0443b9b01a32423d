/* The embedded store: one SQLite database in WAL mode under the data directory. Writes run on a
 * store writer thread that group-commits whatever is queued (many jobs, one transaction, one
 * fsync); each job's callback then fires on the loop through ev_async, after its commit.
 * Reads use a separate connection owned by the loop thread. */
#ifndef SL_CORE_STORE_H
#define SL_CORE_STORE_H

#include <ev.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct sl_store;
struct sl_store_conn; /* a connection with its cache of prepared statements */

#define SL_STORE_DEFAULT_MAX_BATCH 512

/* The lock file in the store directory: held by the store's owner (opts.lock). */
#define SL_STORE_LOCK_FILE "sluice.lock"

/* The schema of a store's database, numbered by SQLite's user_version. Version 0 is a database
 * from before versions, or a new one. One step brings a store from `version - 1` to `version`,
 * in one transaction with the new user_version. */
struct sl_store_migration {
    int version;
    const char *sql; /* run with sqlite3_exec; NULL: nothing changes but the version */
};

struct sl_store_schema {
    int version;                            /* what this binary reads and writes */
    const struct sl_store_migration *steps; /* steps[i].version == i + 1, for i < version */
};

/* A NULL opts means: synchronous=FULL, SL_STORE_DEFAULT_MAX_BATCH, "sluice.db", created when
 * missing, no lock, no schema version. */
struct sl_store_opts {
    bool sync_full;        /* PRAGMA synchronous=FULL (else NORMAL) */
    size_t max_batch;      /* jobs per transaction, at most; 0 = SL_STORE_DEFAULT_MAX_BATCH */
    const char *file_name; /* inside dir (no '/'); NULL or "" = "sluice.db" */
    /* Opens an existing store only: a missing directory or database file is SL_ENOTFOUND and
     * nothing is created. Else both are created when missing. */
    bool existing;
    /* Holds the directory's lock file (SL_STORE_LOCK_FILE, core/lockfile.h) until the store is
     * closed: one process owns a store. When another process holds it the open fails with
     * -EWOULDBLOCK and the message names that process's PID. */
    bool lock;
    /* NULL: the database's user_version is not looked at. Else a store whose version is newer
     * than schema->version is refused (SL_ESCHEMA); an older one is brought forward step by
     * step when the store is locked (a new, empty database is stamped with schema->version: its
     * modules create their tables as they are now), and refused when it is not. */
    const struct sl_store_schema *schema;
};

/* Runs on the writer thread, inside the group transaction (in its own SAVEPOINT: a job that
 * returns an error is rolled back alone). Returns 0 or a negative code. */
typedef int (*sl_store_job_fn)(struct sl_store_conn *c, void *arg);
/* Runs on the loop once the job's transaction committed (status 0) or failed (status < 0). */
typedef void (*sl_store_done_cb)(int status, void *arg);

/* Creates dir if needed (unless opts->existing), takes the lock (opts->lock), opens the database
 * (WAL), checks and migrates its schema (opts->schema) and starts the writer thread; modules
 * create their tables with sl_store_exec. A NULL loop opens the store for synchronous use:
 * sl_store_submit then runs the job at once in its own transaction and calls done before it
 * returns. Errors: SL_ENOTFOUND (opts->existing and no store), -EWOULDBLOCK (locked by another
 * process), SL_ESCHEMA, SL_ESTORE (SQLite's message in err) or a negated errno. */
int sl_store_open(struct ev_loop *loop, const char *dir, const struct sl_store_opts *opts,
                  struct sl_store **out, struct sl_err *err);
/* Stops accepting jobs, lets the writer run what is queued, joins it, fires the remaining done
 * callbacks on the calling thread (a submit from one of them gets SL_ECLOSED), finalizes the
 * cached statements and closes both connections. NULL is fine. A done callback may close the
 * store (the callbacks still pending then fire inside that close). */
void sl_store_close(struct sl_store *st);
/* sl_store_close with a deadline (sl_mono_ms clock; 0: none). Jobs the writer has not begun by
 * the deadline are not run: their callbacks fire with SL_ECLOSED. A group still committing at
 * the deadline is interrupted. Returns 0 when every job ran; -ETIMEDOUT when some were not run;
 * -EINPROGRESS when the writer thread was still busy shortly after the deadline: then nothing
 * is freed and no callback fires (the writer still uses the store and its jobs' arguments, which
 * must not be freed either: the process is expected to exit). */
int sl_store_close_by(struct sl_store *st, int64_t deadline_ms);

/* Runs `sql` (one or more statements, e.g. CREATE TABLE IF NOT EXISTS) now, synchronously,
 * on the write connection, outside any group transaction: it takes the write connection's lock,
 * so it waits for the group being committed, if any. For schema set-up at start-up only (never
 * from inside a job: that would deadlock). SL_ESTORE with err set on failure. */
int sl_store_exec(struct sl_store *st, const char *sql, struct sl_err *err);

/* Queues a write. Returns 0 and fires done exactly once, or returns an error (store closed) and
 * never fires it. done may be NULL. Loop thread only. Callbacks fire in submission order. While
 * jobs are pending the store keeps the loop alive (an idle store does not).
 * A job's status is 0 only once it is committed and the store's files were still in place after
 * the commit; else it is negative: -ENOSPC when the write failed for want of space (full disk,
 * file size limit), SL_ESTORELOST when the store is lost (see sl_store_lost), else the job's own
 * code or SL_ESTORE. */
int sl_store_submit(struct sl_store *st, sl_store_job_fn fn, sl_store_done_cb done, void *arg);
/* The same for a write whose loss does no harm, such as deleting rows already handled: it still
 * runs on the open database once the store is lost, so readers see what it did. */
int sl_store_submit_cleanup(struct sl_store *st, sl_store_job_fn fn, sl_store_done_cb done,
                            void *arg);

/* Losing the store. The store keeps its database open; once its directory is deleted or
 * replaced, or its database file deleted, renamed or replaced, what it would commit no longer
 * survives a restart. It checks after every group commit (a job committed then is failed) and,
 * on a loop, once a second. From then on it is lost for good: it logs one error naming the
 * directory, fails every job but cleanup ones with SL_ESTORELOST without running it, and reads
 * still see what was committed before. */
#define SL_STORE_CHECK_INTERVAL_MS 1000

/* NULL while the store is in place, else why it is lost (a short static text). Any thread. */
const char *sl_store_lost(const struct sl_store *st);
/* Checks now (read connection: loop thread only); 0, or SL_ESTORELOST when lost. */
int sl_store_check(struct sl_store *st);
/* The directory the store was opened in. */
const char *sl_store_dir(const struct sl_store *st);
/* Its database file (dir/file_name). */
const char *sl_store_path(const struct sl_store *st);
/* The database's schema version (user_version) after the open and its migrations. */
int sl_store_schema_version(const struct sl_store *st);

/* A prepared statement cached per connection and per SQL text (the pointer is the key, so pass
 * string literals); reset and with bindings cleared. Valid for the writer connection inside a
 * job, or the read connection on the loop thread. NULL when the SQL does not prepare (logged).
 * Statements a job leaves mid-step are reset when the job returns. Finalized at close. */
sqlite3_stmt *sl_store_stmt(struct sl_store_conn *c, const char *sql);
sqlite3 *sl_store_conn_db(struct sl_store_conn *c);

/* The read connection (loop thread only). */
struct sl_store_conn *sl_store_reader(struct sl_store *st);

/* Jobs queued or running, not yet committed. */
size_t sl_store_queued(const struct sl_store *st);
/* Group commits done and jobs committed since open (for metrics and tests). */
uint64_t sl_store_commits(const struct sl_store *st);
uint64_t sl_store_jobs_committed(const struct sl_store *st);

#endif
