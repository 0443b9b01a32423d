/* The embedded store: SQLite in WAL mode, a writer thread that group-commits queued jobs, and
 * done callbacks delivered on the loop through ev_async. See core/store.h. */
#include "core/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/bounded.h"
#include "core/lockfile.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store_fault.h"
#include "core/time.h"

#define STORE_SCOPE         "store"
#define STORE_DIR_MAX       4000
#define STORE_FREE_JOBS_MAX 1024
/* After the close deadline, how long the writer gets to return once its statement is
 * interrupted (sqlite3_interrupt ends the statement at its next check, not an fsync). */
#define STORE_INTERRUPT_WAIT_MS 200

struct store_stmt {
    const char *sql; /* the key: the caller's pointer */
    sqlite3_stmt *stmt;
};

struct sl_store_conn {
    sqlite3 *db;
    struct store_stmt *stmts;
    size_t nstmts;
    size_t cap;
};

struct store_job {
    sl_store_job_fn fn;
    sl_store_done_cb done;
    void *arg;
    int status;
    bool cleanup; /* runs even once the store is lost */
    struct store_job *next;
};

struct store_list {
    struct store_job *head;
    struct store_job *tail;
};

struct sl_store {
    struct ev_loop *loop; /* NULL: synchronous mode */
    ev_async async;
    ev_timer check; /* looks for a lost store while idle */
    size_t max_batch;
    char *dir;  /* as given */
    char *path; /* of the database file */
    struct sl_store_dir_id dir_id;
    struct sl_lockfile *lock;   /* held while open (opts.lock) */
    int schema_version;         /* user_version after open */
    _Atomic(const char *) lost; /* NULL, or why the store is lost (static text); set once */
    struct sl_store_conn wconn; /* writer thread (or the caller in synchronous mode) */
    struct sl_store_conn rconn; /* loop thread */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t wmu;     /* held while the write connection is in use */
    pthread_mutex_t mu;      /* guards the queues and the flags below */
    pthread_cond_t cv;       /* the writer waits here for jobs */
    struct store_list queue; /* submitted, not yet taken by the writer */
    struct store_list done;  /* finished, callback not yet fired */
    bool stopping;           /* no more submits; the writer exits once the queue is empty */
    int64_t deadline_ms;     /* close_by: jobs not begun by then are failed (0: none) */
    size_t cut;              /* jobs failed for the deadline */

    /* Loop thread only. */
    size_t pending;              /* submitted, callback not yet fired (keeps the loop alive) */
    bool *destroyed;             /* set when closed from inside a done callback */
    struct store_job *free_jobs; /* recycled job structs */
    size_t nfree_jobs;

    atomic_size_t queued;
    atomic_uint_least64_t commits;
    atomic_uint_least64_t jobs_committed;
};

/* ---- the statement cache ---- */

static void conn_finalize(struct sl_store_conn *c)
{
    for (size_t i = 0; i < c->nstmts; i++)
        sqlite3_finalize(c->stmts[i].stmt);
    free(c->stmts);
    c->stmts = NULL;
    c->nstmts = c->cap = 0;
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
}

/* Ends any statement a job left mid-step, so savepoints and commits are not held up. */
static void conn_reset_all(struct sl_store_conn *c)
{
    for (size_t i = 0; i < c->nstmts; i++)
        if (sqlite3_stmt_busy(c->stmts[i].stmt))
            sqlite3_reset(c->stmts[i].stmt);
}

sqlite3_stmt *sl_store_stmt(struct sl_store_conn *c, const char *sql)
{
    if (!c || !c->db || !sql)
        return NULL;
    for (size_t i = 0; i < c->nstmts; i++) {
        if (c->stmts[i].sql == sql) {
            sqlite3_stmt *stmt = c->stmts[i].stmt;
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            return stmt;
        }
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK || !stmt) {
        sl_warn(STORE_SCOPE, "cannot prepare statement: %s", sqlite3_errmsg(c->db));
        sqlite3_finalize(stmt);
        return NULL;
    }
    if (c->nstmts == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->stmts = sl_realloc(c->stmts, c->cap * sizeof(*c->stmts));
    }
    c->stmts[c->nstmts].sql = sql;
    c->stmts[c->nstmts].stmt = stmt;
    c->nstmts++;
    return stmt;
}

sqlite3 *sl_store_conn_db(struct sl_store_conn *c)
{
    return c ? c->db : NULL;
}

struct sl_store_conn *sl_store_reader(struct sl_store *st)
{
    return st ? &st->rconn : NULL;
}

/* ---- opening ---- */

static int mkdir_p(const char *dir, struct sl_err *err)
{
    size_t n = strlen(dir);
    if (n == 0 || n > STORE_DIR_MAX)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "store: invalid directory \"%.100s\"",
                          dir);
    char *path = sl_strdup(dir);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            rc = sl_err_set(err, SL_ERR_FATAL, -errno, "store: cannot create directory %s: %s",
                            path, strerror(errno));
        path[i] = saved;
    }
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)))
        rc = sl_err_set(err, SL_ERR_FATAL, -ENOTDIR, "store: %s is not a directory", dir);
    free(path);
    return rc;
}

static int conn_exec(sqlite3 *db, const char *sql, struct sl_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    sl_err_set(err, SL_ERR_PERMANENT, SL_ESTORE, "store: %s: %s", sql,
               msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return SL_ESTORE;
}

static int conn_open(struct sl_store_conn *c, const char *path, bool create, bool sync_full,
                     struct sl_err *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        sl_err_set(err, SL_ERR_FATAL, SL_ESTORE, "store: cannot open %s: %s", path,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        return SL_ESTORE;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, 5000);

    sqlite3_stmt *stmt = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(stmt, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(stmt);
    if (!wal)
        return sl_err_set(err, SL_ERR_FATAL, SL_ESTORE, "store: cannot use WAL mode on %s: %s",
                          path, sqlite3_errmsg(c->db));
    if (conn_exec(c->db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", err) <
            0 ||
        conn_exec(c->db, "PRAGMA foreign_keys=ON", err) < 0)
        return SL_ESTORE;
    return 0;
}

/* ---- the schema version ---- */

static int user_version(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        *out = sqlite3_column_int(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* One transaction: the step's SQL and the new user_version. */
static int migrate_step(sqlite3 *db, const struct sl_store_migration *m, struct sl_err *err)
{
    char set[64];
    snprintf(set, sizeof(set), "PRAGMA user_version = %d", m->version);
    if (conn_exec(db, "BEGIN IMMEDIATE", err) < 0)
        return SL_ESTORE;
    if ((m->sql && conn_exec(db, m->sql, err) < 0) || conn_exec(db, set, err) < 0 ||
        conn_exec(db, "COMMIT", err) < 0) {
        if (!sqlite3_get_autocommit(db))
            conn_exec(db, "ROLLBACK", NULL);
        return SL_ESTORE;
    }
    return 0;
}

/* Reads the database's user_version; refuses a newer one; brings an older one forward when
 * `migrate` (the store is locked), else refuses it. */
static int schema_open(struct sl_store *st, const struct sl_store_schema *sc, bool migrate,
                       struct sl_err *err)
{
    sqlite3 *db = st->wconn.db;
    int v = 0, tables = 0;
    if (user_version(db, "PRAGMA user_version", &v) != SQLITE_OK ||
        user_version(db, "SELECT count(*) FROM sqlite_master", &tables) != SQLITE_OK)
        return sl_err_set(err, SL_ERR_FATAL, SL_ESTORE, "store: cannot read the schema of %s: %s",
                          st->path, sqlite3_errmsg(db));
    st->schema_version = v;
    if (!sc || v == sc->version)
        return 0;
    if (v > sc->version || v < 0)
        return sl_err_set(err, SL_ERR_FATAL, SL_ESCHEMA,
                          "store %s has schema version %d, newer than this sluice knows (%d): "
                          "it was written by a newer sluice; run that version (or a later one) "
                          "on it",
                          st->path, v, sc->version);
    if (!migrate)
        return sl_err_set(err, SL_ERR_FATAL, SL_ESCHEMA,
                          "store %s has schema version %d, older than this sluice's (%d): "
                          "`sluice run` migrates it when it starts",
                          st->path, v, sc->version);
    if (v == 0 && tables == 0) {
        /* A new database: its tables are created as they are now, by their modules. */
        struct sl_store_migration stamp = {.version = sc->version};
        if (migrate_step(db, &stamp, err) < 0)
            return SL_ESTORE;
        st->schema_version = sc->version;
        return 0;
    }
    for (int next = v + 1; next <= sc->version; next++) {
        const struct sl_store_migration *m = &sc->steps[next - 1];
        if (m->version != next)
            return sl_err_set(err, SL_ERR_FATAL, SL_ESCHEMA,
                              "store: no migration to schema version %d", next);
        struct sl_err serr;
        sl_err_clear(&serr);
        if (migrate_step(db, m, &serr) < 0)
            return sl_err_set(err, SL_ERR_FATAL, SL_ESCHEMA,
                              "store %s: migrating its schema from version %d to %d failed (it "
                              "stays at version %d): %s",
                              st->path, next - 1, next, next - 1, serr.msg);
        st->schema_version = next;
    }
    sl_info(STORE_SCOPE, "store %s: schema migrated from version %d to %d", st->path, v,
            sc->version);
    return 0;
}

/* ---- losing the store ---- */

static void store_mark_lost(struct sl_store *st, const char *why)
{
    const char *none = NULL;
    if (!atomic_compare_exchange_strong(&st->lost, &none, why))
        return; /* already lost (and said so) */
    sl_error(STORE_SCOPE,
             "store directory %s lost: %s. Writes are refused from now on: pushes get 503 "
             "spool_unavailable and /readyz fails. Records accepted before are still being "
             "delivered from the open database; once they are (sluice_spool_depth 0), restore or "
             "recreate the directory and restart sluice",
             st->dir, why);
}

/* Checks the files with db (a connection of this thread). */
static int store_check_files(struct sl_store *st, sqlite3 *db)
{
    if (atomic_load(&st->lost))
        return SL_ESTORELOST;
    const char *why = NULL;
    if (!sl_store_files_lost(st->dir, &st->dir_id, db, &why))
        return 0;
    store_mark_lost(st, why);
    return SL_ESTORELOST;
}

/* ---- the group transaction (writer thread, or the caller in synchronous mode) ---- */

/* A job that does not run because the store is lost. */
static bool job_refused(const struct store_job *j, bool lost)
{
    return lost && !j->cleanup;
}

/* Ends a group that failed with `code` (logged by the caller): rolls back what is left of the
 * transaction and fails every job that ran. */
static void group_abort(struct sl_store *st, struct store_job *first, size_t n, bool lost, int code)
{
    sqlite3 *db = st->wconn.db;
    struct store_job *j;
    size_t i;
    if (!sqlite3_get_autocommit(db))
        conn_exec(db, "ROLLBACK", NULL);
    for (j = first, i = 0; i < n; j = j->next, i++)
        if (!job_refused(j, lost))
            j->status = code;
    if (code == -ENOSPC) {
        /* With a full disk or at the file size limit, the WAL is what cannot grow. A passive
         * checkpoint copies what it holds into the database file, after which the next
         * transaction writes the WAL from its start again
         * (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html, https://www.sqlite.org/wal.html):
         * writes resume once deletes made room, as they would once the disk has space. */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
}

/* The code of the statement that just failed on the writer connection, logged with what. */
static int group_error(struct sl_store *st, const char *what, size_t n)
{
    sqlite3 *db = st->wconn.db;
    const char *note = "";
    int code = sl_store_write_error(db, st->dir, st->path, &note);
    sl_error(STORE_SCOPE, "%s of %zu jobs failed: %s%s%s", what, n, sqlite3_errmsg(db),
             *note ? ": " : "", note);
    return code;
}

/* Each job runs in its own savepoint: the three statements are prepared once per connection
 * and reused (sqlite3_exec would parse them again for every job). */
static const char sql_savepoint[] = "SAVEPOINT sl_job";
static const char sql_release[] = "RELEASE sl_job";
static const char sql_rollback_to[] = "ROLLBACK TO sl_job";

static int conn_step(struct sl_store_conn *c, const char *sql)
{
    sqlite3_stmt *stmt = sl_store_stmt(c, sql);
    return stmt && sqlite3_step(stmt) == SQLITE_DONE ? 0 : SL_ESTORE;
}

/* Runs jobs[0..n) in one transaction; sets each job's status. Returns the jobs committed. */
static size_t run_group(struct sl_store *st, struct store_job *first, size_t n)
{
    sqlite3 *db = st->wconn.db;
    struct store_job *j;
    size_t i, ok = 0, nrun = 0, nfailed = 0;
    char why[256] = ""; /* SQLite's message for the first job that failed with SL_ESTORE */
    bool lost = atomic_load(&st->lost) != NULL;

    for (j = first, i = 0; i < n; j = j->next, i++) {
        j->status = job_refused(j, lost) ? SL_ESTORELOST : 0;
        nrun += j->status == 0;
    }
    if (nrun == 0)
        return 0;
    if (conn_exec(db, "BEGIN IMMEDIATE", NULL) < 0) {
        group_abort(st, first, n, lost, group_error(st, "BEGIN", nrun));
        return 0;
    }
    for (j = first, i = 0; i < n; j = j->next, i++) {
        if (job_refused(j, lost))
            continue;
        if (conn_step(&st->wconn, sql_savepoint) < 0) {
            j->status = SL_ESTORE;
            continue;
        }
        int rc = j->fn(&st->wconn, j->arg);
        if (rc == SL_ESTORE && nfailed++ == 0)
            snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db)); /* before anything resets it */
        conn_reset_all(&st->wconn);
        if (rc < 0) {
            j->status = rc == SL_ESTORE ? sl_store_write_error(db, st->dir, st->path, NULL) : rc;
            if (sqlite3_get_autocommit(db)) {
                /* SQLite rolled the whole transaction back, as it may after SQLITE_FULL or
                 * SQLITE_IOERR (https://www.sqlite.org/lang_transaction.html, "Response To
                 * Errors Within A Transaction"): nothing of this group is stored. */
                int code = j->status == -ENOSPC ? -ENOSPC : SL_ESTORE;
                sl_error(STORE_SCOPE,
                         "a job failed (%s%s%s) and SQLite rolled back the transaction of its "
                         "group of %zu jobs",
                         sl_strerror(j->status), *why ? ": " : "", why, nrun);
                group_abort(st, first, n, lost, code);
                return 0;
            }
            if (conn_step(&st->wconn, sql_rollback_to) < 0)
                sl_error(STORE_SCOPE, "ROLLBACK TO failed: %s", sqlite3_errmsg(db));
        } else {
            j->status = 0;
        }
        if (conn_step(&st->wconn, sql_release) < 0 && j->status == 0)
            j->status = SL_ESTORE;
    }
    if (nfailed > 0)
        sl_error(STORE_SCOPE, "%zu of %zu writes failed and were rolled back: %s", nfailed, nrun,
                 why);
    if (conn_exec(db, "COMMIT", NULL) < 0) {
        group_abort(st, first, n, lost, group_error(st, "COMMIT", nrun));
        return 0;
    }
    /* Committed to files that a restart would no longer find is not stored. */
    if (!lost && store_check_files(st, db) < 0) {
        for (j = first, i = 0; i < n; j = j->next, i++)
            if (!j->cleanup && j->status == 0)
                j->status = SL_ESTORELOST;
    }
    for (j = first, i = 0; i < n; j = j->next, i++)
        if (j->status == 0)
            ok++;
    atomic_fetch_add(&st->commits, 1);
    atomic_fetch_add(&st->jobs_committed, ok);
    return ok;
}

static void *writer_main(void *arg)
{
    struct sl_store *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->queue.head && !st->stopping)
            pthread_cond_wait(&st->cv, &st->mu);
        if (!st->queue.head)
            break; /* stopping, and everything queued is done */
        struct store_job *first = st->queue.head, *last = first;
        size_t n = 1;
        bool cut = st->stopping && st->deadline_ms > 0 && sl_mono_ms() >= st->deadline_ms;
        while ((cut || n < st->max_batch) && last->next) {
            last = last->next;
            n++;
        }
        st->queue.head = last->next;
        if (!st->queue.head)
            st->queue.tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&st->mu);

        if (cut) {
            /* Closing past its deadline: what is still queued is not written (its owners
             * keep the records unacknowledged, so they are delivered again). */
            for (struct store_job *j = first; j; j = j->next)
                j->status = SL_ECLOSED;
            st->cut += n;
        } else {
            pthread_mutex_lock(&st->wmu);
            run_group(st, first, n);
            pthread_mutex_unlock(&st->wmu);
        }
        atomic_fetch_sub(&st->queued, n);

        pthread_mutex_lock(&st->mu);
        if (st->done.tail)
            st->done.tail->next = first;
        else
            st->done.head = first;
        st->done.tail = last;
        pthread_mutex_unlock(&st->mu);
        ev_async_send(st->loop, &st->async);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ---- done callbacks (loop thread) ---- */

static struct store_job *job_alloc(struct sl_store *st)
{
    struct store_job *j = st->free_jobs;
    if (j) {
        st->free_jobs = j->next;
        st->nfree_jobs--;
        memset(j, 0, sizeof(*j));
        return j;
    }
    return SL_NEW(struct store_job);
}

static void job_free(struct sl_store *st, struct store_job *j)
{
    if (st->nfree_jobs < STORE_FREE_JOBS_MAX) {
        j->next = st->free_jobs;
        st->free_jobs = j;
        st->nfree_jobs++;
    } else {
        free(j);
    }
}

/* Fires one finished job's callback; returns false when there was none or when the store was
 * closed by the callback (st is then gone). */
static bool fire_one(struct sl_store *st)
{
    pthread_mutex_lock(&st->mu);
    struct store_job *j = st->done.head;
    if (j) {
        st->done.head = j->next;
        if (!st->done.head)
            st->done.tail = NULL;
    }
    pthread_mutex_unlock(&st->mu);
    if (!j)
        return false;

    sl_store_done_cb done = j->done;
    void *arg = j->arg;
    int status = j->status;
    job_free(st, j);
    if (st->loop && --st->pending == 0)
        ev_unref(st->loop); /* an idle store does not keep the loop running */
    if (!done)
        return true;

    bool destroyed = false;
    bool *outer = st->destroyed;
    st->destroyed = &destroyed;
    done(status, arg);
    if (destroyed) {
        if (outer)
            *outer = true;
        return false;
    }
    st->destroyed = outer;
    return true;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct sl_store *st = w->data;
    while (fire_one(st))
        ;
}

static void check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_store *st = w->data;
    if (sl_store_check(st) < 0) {
        /* Lost for good: nothing more to look for. The timer was unreferenced. */
        ev_ref(loop);
        ev_timer_stop(loop, w);
    }
}

/* ---- opening an existing store, owning one ---- */

/* opts.existing: the directory and its database file are there (nothing is created). */
static int store_exists(const char *dir, const char *file, struct sl_err *err)
{
    struct stat sb;
    if (stat(dir, &sb) < 0)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no store in %s: %s", dir,
                          errno == ENOENT ? "no such directory" : strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no store in %s: not a directory",
                          dir);
    size_t n = strlen(dir) + strlen(file) + 2;
    char *path = sl_malloc(n);
    snprintf(path, n, "%s/%s", dir, file);
    int rc = 0;
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ENOTFOUND, "no store in %s: no %s there", dir,
                        file);
    free(path);
    return rc;
}

static int store_lock(struct sl_store *st, struct sl_err *err)
{
    size_t n = strlen(st->dir) + sizeof("/" SL_STORE_LOCK_FILE);
    char *path = sl_malloc(n);
    snprintf(path, n, "%s/%s", st->dir, SL_STORE_LOCK_FILE);
    pid_t holder = 0;
    int rc = sl_lockfile_acquire(path, &st->lock, &holder);
    if (rc == -EWOULDBLOCK && holder > 0)
        sl_err_set(err, SL_ERR_FATAL, rc,
                   "store %s is in use by another process: pid %ld holds its lock file %s", st->dir,
                   (long)holder, path);
    else if (rc == -EWOULDBLOCK)
        sl_err_set(err, SL_ERR_FATAL, rc,
                   "store %s is in use by another process, which holds its lock file %s (its pid "
                   "could not be read)",
                   st->dir, path);
    else if (rc < 0)
        sl_err_set(err, SL_ERR_FATAL, rc, "store: cannot lock %s: %s", path, sl_strerror(rc));
    free(path);
    return rc;
}

/* ---- public API ---- */

int sl_store_open(struct ev_loop *loop, const char *dir, const struct sl_store_opts *opts,
                  struct sl_store **out, struct sl_err *err)
{
    const char *file = opts && opts->file_name && *opts->file_name ? opts->file_name : "sluice.db";
    bool existing = opts && opts->existing;
    if (!dir || strchr(file, '/') || strlen(file) > 255)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "store: invalid directory or file name");
    int rc = existing ? store_exists(dir, file, err) : mkdir_p(dir, err);
    if (rc < 0)
        return rc;

    struct sl_store *st = SL_NEW(struct sl_store);
    st->loop = loop;
    st->max_batch = opts && opts->max_batch ? opts->max_batch : SL_STORE_DEFAULT_MAX_BATCH;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->wmu, NULL);
    pthread_cond_init(&st->cv, NULL);

    size_t plen = strlen(dir) + strlen(file) + 2;
    st->dir = sl_strdup(dir);
    st->path = sl_malloc(plen);
    snprintf(st->path, plen, "%s/%s", dir, file);
    rc = sl_store_dir_id(dir, &st->dir_id);
    if (rc < 0) {
        sl_err_set(err, SL_ERR_FATAL, rc, "store: cannot stat %s: %s", dir, sl_strerror(rc));
        goto fail;
    }
    if (opts && opts->lock && (rc = store_lock(st, err)) < 0)
        goto fail;
    bool sync_full = opts ? opts->sync_full : true;
    rc = conn_open(&st->wconn, st->path, !existing, sync_full, err);
    if (rc == 0)
        rc = schema_open(st, opts ? opts->schema : NULL, st->lock != NULL, err);
    if (rc == 0)
        rc = conn_open(&st->rconn, st->path, false, sync_full, err);
    if (rc < 0)
        goto fail;

    if (loop) {
        ev_async_init(&st->async, async_cb);
        st->async.data = st;
        ev_async_start(loop, &st->async);
        ev_unref(loop);

        int prc = sl_thread_start(&st->thread, "sl-store", writer_main, st);
        if (prc != 0) {
            ev_ref(loop);
            ev_async_stop(loop, &st->async);
            rc = sl_err_set(err, SL_ERR_FATAL, prc, "store: cannot start writer thread: %s",
                            strerror(-prc));
            goto fail;
        }
        st->thread_started = true;

        double every = SL_STORE_CHECK_INTERVAL_MS / 1000.0;
        ev_timer_init(&st->check, check_cb, every, every);
        st->check.data = st;
        ev_timer_start(loop, &st->check);
        ev_unref(loop); /* the check alone does not keep the loop running */
    }
    *out = st;
    return 0;

fail:
    conn_finalize(&st->rconn);
    conn_finalize(&st->wconn);
    sl_lockfile_release(st->lock);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->wmu);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st->dir);
    free(st);
    return rc;
}

void sl_store_close(struct sl_store *st)
{
    sl_store_close_by(st, 0);
}

int sl_store_close_by(struct sl_store *st, int64_t deadline_ms)
{
    if (!st)
        return 0;
    if (st->destroyed)
        *st->destroyed = true; /* closed from a done callback: async_cb must stop */
    st->destroyed = NULL;

    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    st->deadline_ms = deadline_ms;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (st->thread_started && deadline_ms <= 0) {
        pthread_join(st->thread, NULL);
    } else if (st->thread_started && sl_bounded_join(st->thread, deadline_ms) < 0) {
        /* A group still running at the deadline: stop its statement (safe from another
         * thread, https://sqlite.org/c3ref/interrupt.html) and give it a moment. */
        sqlite3_interrupt(st->wconn.db);
        if (sl_bounded_join(st->thread, sl_mono_ms() + STORE_INTERRUPT_WAIT_MS) < 0) {
            sl_error(STORE_SCOPE,
                     "the writer thread is still in a commit at the close deadline: left "
                     "running (%zu writes not confirmed)",
                     sl_store_queued(st));
            return -EINPROGRESS; /* st stays allocated: the writer still uses it */
        }
    }
    int rc = st->cut > 0 ? -ETIMEDOUT : 0;
    if (st->cut > 0)
        sl_warn(STORE_SCOPE, "close deadline reached: %zu queued writes not made", st->cut);

    /* The remaining callbacks fire here; a callback may not close the store again. */
    while (fire_one(st))
        ;
    if (st->loop) {
        if (st->pending == 0)
            ev_ref(st->loop);
        ev_async_stop(st->loop, &st->async);
        if (ev_is_active(&st->check)) {
            ev_ref(st->loop);
            ev_timer_stop(st->loop, &st->check);
        }
    }
    while (st->free_jobs) {
        struct store_job *j = st->free_jobs;
        st->free_jobs = j->next;
        free(j);
    }
    conn_finalize(&st->rconn);
    conn_finalize(&st->wconn);
    sl_lockfile_release(st->lock); /* after the last write: the next owner finds it all */
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->wmu);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st->dir);
    free(st);
    return rc;
}

int sl_store_exec(struct sl_store *st, const char *sql, struct sl_err *err)
{
    if (!st || !sql)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "store: no store or SQL");
    pthread_mutex_lock(&st->wmu);
    int rc = conn_exec(st->wconn.db, sql, err);
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

static int store_submit(struct sl_store *st, sl_store_job_fn fn, sl_store_done_cb done, void *arg,
                        bool cleanup)
{
    if (!st || !fn)
        return -EINVAL;
    if (st->stopping)
        return SL_ECLOSED;

    if (!st->loop) {
        /* Synchronous mode: one job, its own transaction, done before returning. */
        struct store_job j = {.fn = fn, .done = done, .arg = arg, .cleanup = cleanup};
        atomic_fetch_add(&st->queued, 1);
        pthread_mutex_lock(&st->wmu);
        run_group(st, &j, 1);
        pthread_mutex_unlock(&st->wmu);
        atomic_fetch_sub(&st->queued, 1);
        if (done)
            done(j.status, arg);
        return 0;
    }

    struct store_job *j = job_alloc(st);
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    j->cleanup = cleanup;
    if (st->pending++ == 0)
        ev_ref(st->loop);
    atomic_fetch_add(&st->queued, 1);
    pthread_mutex_lock(&st->mu);
    if (st->queue.tail)
        st->queue.tail->next = j;
    else
        st->queue.head = j;
    st->queue.tail = j;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

int sl_store_submit(struct sl_store *st, sl_store_job_fn fn, sl_store_done_cb done, void *arg)
{
    return store_submit(st, fn, done, arg, false);
}

int sl_store_submit_cleanup(struct sl_store *st, sl_store_job_fn fn, sl_store_done_cb done,
                            void *arg)
{
    return store_submit(st, fn, done, arg, true);
}

const char *sl_store_lost(const struct sl_store *st)
{
    return st ? atomic_load(&((struct sl_store *)st)->lost) : NULL;
}

int sl_store_check(struct sl_store *st)
{
    return st ? store_check_files(st, st->rconn.db) : -EINVAL;
}

const char *sl_store_dir(const struct sl_store *st)
{
    return st ? st->dir : NULL;
}

const char *sl_store_path(const struct sl_store *st)
{
    return st ? st->path : NULL;
}

int sl_store_schema_version(const struct sl_store *st)
{
    return st ? st->schema_version : 0;
}

size_t sl_store_queued(const struct sl_store *st)
{
    return st ? atomic_load(&((struct sl_store *)st)->queued) : 0;
}

uint64_t sl_store_commits(const struct sl_store *st)
{
    return st ? atomic_load(&((struct sl_store *)st)->commits) : 0;
}

uint64_t sl_store_jobs_committed(const struct sl_store *st)
{
    return st ? atomic_load(&((struct sl_store *)st)->jobs_committed) : 0;
}
