/* The "sqlite" DLQ sink: entries as canonical JSON documents in the embedded store. Writes are
 * store jobs (group commit, callback after the commit); depth uses the store's read connection
 * on the loop thread; list reads through a read-only connection of its own, so it can run on
 * the admin worker thread (WAL: readers never wait for the writer). */
#include "dlq/sqlite/sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

#define SQLITE_DLQ_NAME_MAX   256
#define SQLITE_DLQ_ID_MAX     1024
#define SQLITE_DLQ_LIST_CHUNK 256 /* rows per read transaction of a listing */

struct sl_dlq_sqlite {
    struct sl_dlq base;
    struct sl_store *st; /* borrowed; NULL until open */
    sqlite3 *ldb;        /* list's read-only connection, opened by the first list */
    bool listing;        /* list is running */
};

/* The type has no keys of its own: binding only checks that the section holds no others. */
struct sqlite_conf {
    char unused;
};

const struct sl_prop_table sl_dlq_sqlite_props = {
    .name = "dlqs[] (type: sqlite)",
    .desc = "Entries are kept in the embedded store (store.dir), in table dlq_entries; several "
            "sqlite DLQs share it, told apart by name. No keys besides name and type.",
    .props = NULL,
    .nprops = 0,
    .struct_size = sizeof(struct sqlite_conf),
    .tolerated = NULL,
};

/* The record id of an entry, for dlq_entries_by_record: null when the document is not JSON (an
 * error there would refuse the row). */
#define RECORD_ID_EXPR "iif(json_valid(doc), json_extract(doc, '$.recordId'), NULL)"

/* A change to this table is a new step of the store's schema (cli/app.c, store_schema). */
static const char SCHEMA_SQL[] = "CREATE TABLE IF NOT EXISTS dlq_entries("
                                 " id TEXT PRIMARY KEY, mapping TEXT NOT NULL, dlq TEXT NOT NULL,"
                                 " created_ms INTEGER NOT NULL, doc TEXT NOT NULL);"
                                 "CREATE INDEX IF NOT EXISTS dlq_entries_by_mapping"
                                 " ON dlq_entries(dlq, mapping, created_ms);"
                                 "CREATE INDEX IF NOT EXISTS dlq_entries_by_time"
                                 " ON dlq_entries(dlq, created_ms);"
                                 "CREATE INDEX IF NOT EXISTS dlq_entries_by_record"
                                 " ON dlq_entries(dlq, " RECORD_ID_EXPR ");";

static const char INSERT_SQL[] =
    "INSERT INTO dlq_entries(id, mapping, dlq, created_ms, doc) VALUES(?1, ?2, ?3, ?4, ?5)";
static const char DELETE_SQL[] = "DELETE FROM dlq_entries WHERE dlq = ?1 AND id = ?2";
static const char COUNT_SQL[] = "SELECT count(*) FROM dlq_entries WHERE dlq = ?1";
static const char COUNT_MAPPING_SQL[] =
    "SELECT count(*) FROM dlq_entries WHERE dlq = ?1 AND mapping = ?2";
/* ?1 dlq, ?2 since, ?3 limit, ?4 mapping, ?5 id, (?6, ?7) the (created_ms, rowid) to start
 * after. Entries come in (created_ms, rowid) order, which is also the position. */
#define LIST_COLS "SELECT id, doc, created_ms, rowid FROM dlq_entries WHERE dlq = ?1"
#define LIST_ORDER                                                                                 \
    " AND created_ms >= ?2 AND (created_ms, rowid) > (?6, ?7) ORDER BY created_ms, rowid LIMIT ?3"
static const char LIST_SQL[] = LIST_COLS LIST_ORDER;
static const char LIST_MAPPING_SQL[] = LIST_COLS " AND mapping = ?4" LIST_ORDER;
/* An entry's id, or its record's id (through dlq_entries_by_record): the rows are picked by
 * rowid first, so that no index on time makes the planner scan the sink. */
static const char LIST_ID_SQL[] =
    "SELECT id, doc, created_ms, rowid FROM dlq_entries WHERE rowid IN"
    " (SELECT rowid FROM dlq_entries WHERE id = ?5 UNION"
    " SELECT rowid FROM dlq_entries WHERE dlq = ?1 AND " RECORD_ID_EXPR " = ?5)"
    " AND +dlq = ?1 AND (?4 IS NULL OR mapping = ?4) AND +created_ms >= ?2"
    " AND (+created_ms, rowid) > (?6, ?7) ORDER BY created_ms, rowid LIMIT ?3";

static struct sl_dlq_sqlite *sink(struct sl_dlq *d)
{
    return (struct sl_dlq_sqlite *)d;
}

/* ---- life cycle ---- */

int sl_dlq_sqlite_create(const struct sl_env *env, const char *name, struct sl_dlq **out)
{
    if (!name || !*name || strlen(name) > SQLITE_DLQ_NAME_MAX)
        return -EINVAL;
    struct sl_dlq_sqlite *q = SL_NEW(struct sl_dlq_sqlite);
    sl_dlq_init(&q->base, &sl_dlq_sqlite_ops, env, name);
    *out = &q->base;
    return 0;
}

static int sqlite_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                         struct sl_dlq **out, struct sl_err *err)
{
    const struct sl_config *cfg = env ? env->cfg : NULL;
    if (!sec || !sec->name || !*sec->name || strlen(sec->name) > SQLITE_DLQ_NAME_MAX)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s.name: a DLQ needs a name of 1 to %d characters",
                          sec && sec->path ? sec->path : "dlqs[]", SQLITE_DLQ_NAME_MAX);
    struct sqlite_conf conf = {0};
    int rc = sl_config_bind_typed(cfg, sec, &sl_dlq_sqlite_props, &conf, err);
    if (rc < 0)
        return rc;
    sl_props_release(&sl_dlq_sqlite_props, &conf);
    return sl_dlq_sqlite_create(env, sec->name, out);
}

static int sqlite_open(struct sl_dlq *d, struct sl_err *err)
{
    struct sl_dlq_sqlite *q = sink(d);
    struct sl_store *st = d->env.store;
    if (!st)
        return sl_err_set(err, SL_ERR_FATAL, -EINVAL, "%s: no store", q->base.scope);
    int rc = sl_store_exec(st, SCHEMA_SQL, err);
    if (rc < 0)
        return rc;
    q->st = st;
    return 0;
}

static void sqlite_destroy(struct sl_dlq *d)
{
    if (!d)
        return;
    sqlite3_close(sink(d)->ldb);
    sl_dlq_release(d);
    free(d);
}

/* ---- writes (store jobs; self-contained, so the sink may go before the store) ---- */

struct write_job {
    sl_dlq_done_cb cb;
    void *arg;
    int64_t created_ms;
    char *doc; /* put only */
    size_t doc_len;
    char *id;
    char *mapping; /* put only */
    char *dlq;
    char text[]; /* id, mapping and dlq */
};

static struct write_job *job_new(const char *id, const char *mapping, const char *dlq,
                                 sl_dlq_done_cb cb, void *arg)
{
    size_t nid = strlen(id) + 1, nmap = mapping ? strlen(mapping) + 1 : 0, ndlq = strlen(dlq) + 1;
    struct write_job *j = sl_calloc(1, sizeof(*j) + nid + nmap + ndlq);
    j->cb = cb;
    j->arg = arg;
    j->id = memcpy(j->text, id, nid);
    j->dlq = memcpy(j->text + nid, dlq, ndlq);
    if (mapping)
        j->mapping = memcpy(j->text + nid + ndlq, mapping, nmap);
    return j;
}

static void job_done(int status, void *arg)
{
    struct write_job *j = arg;
    if (j->cb)
        j->cb(status, j->arg);
    free(j->doc);
    free(j);
}

/* SL_ESTORE: the store logs SQLite's message. */
static int step_status(int rc)
{
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return -EEXIST;
    return SL_ESTORE;
}

static int put_fn(struct sl_store_conn *c, void *arg)
{
    struct write_job *j = arg;
    sqlite3_stmt *s = sl_store_stmt(c, INSERT_SQL);
    if (!s)
        return SL_ESTORE;
    sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, j->mapping, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, j->dlq, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, j->created_ms);
    sqlite3_bind_text(s, 5, j->doc, (int)j->doc_len, SQLITE_STATIC);
    int rc = step_status(sqlite3_step(s));
    sqlite3_reset(s);
    return rc;
}

static int sqlite_put(struct sl_dlq *d, const struct sl_dlq_entry *e, sl_dlq_done_cb cb, void *arg)
{
    struct sl_dlq_sqlite *q = sink(d);
    if (!q->st)
        return SL_ECLOSED;
    size_t id_len = strnlen(e->id, sizeof(e->id));
    /* What from_json requires, so that every stored entry reads back. */
    if (id_len == 0 || id_len == sizeof(e->id) || !e->mapping || !*e->mapping || !e->condition ||
        !*e->condition || e->created_ms <= 0)
        return -EINVAL;

    struct sl_buf b;
    sl_buf_init(&b);
    sl_dlq_entry_to_json(e, &b);
    if (b.len > SL_DLQ_ENTRY_MAX_JSON || b.len > INT32_MAX) {
        sl_buf_release(&b);
        return SL_EFULL;
    }
    struct write_job *j = job_new(e->id, e->mapping, d->name, cb, arg);
    j->created_ms = e->created_ms;
    j->doc = sl_buf_steal(&b, &j->doc_len);
    int rc = sl_store_submit(q->st, put_fn, job_done, j);
    if (rc < 0) {
        free(j->doc);
        free(j);
    }
    return rc;
}

static int remove_fn(struct sl_store_conn *c, void *arg)
{
    struct write_job *j = arg;
    sqlite3_stmt *s = sl_store_stmt(c, DELETE_SQL);
    if (!s)
        return SL_ESTORE;
    sqlite3_bind_text(s, 1, j->dlq, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, j->id, -1, SQLITE_STATIC);
    int rc = step_status(sqlite3_step(s));
    sqlite3_reset(s);
    if (rc == 0 && sqlite3_changes(sl_store_conn_db(c)) == 0)
        rc = SL_ENOTFOUND;
    return rc;
}

static int sqlite_remove(struct sl_dlq *d, const char *id, sl_dlq_done_cb cb, void *arg)
{
    struct sl_dlq_sqlite *q = sink(d);
    if (!q->st)
        return SL_ECLOSED;
    if (!id || !*id || strlen(id) > SQLITE_DLQ_ID_MAX)
        return -EINVAL;
    struct write_job *j = job_new(id, NULL, d->name, cb, arg);
    int rc = sl_store_submit(q->st, remove_fn, job_done, j);
    if (rc < 0)
        free(j);
    return rc;
}

/* ---- list (a read-only connection of its own: any one thread at a time) ---- */

static int list_conn(struct sl_dlq_sqlite *q, struct sl_err *err)
{
    if (q->ldb)
        return 0;
    const char *path = sqlite3_db_filename(sl_store_conn_db(sl_store_reader(q->st)), "main");
    int rc = sqlite3_open_v2(path ? path : "", &q->ldb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        sl_err_set(err, SL_ERR_TRANSIENT, SL_ESTORE, "%s: cannot open %s for reading: %s",
                   q->base.scope, path ? path : "the store", q->ldb ? sqlite3_errmsg(q->ldb) : "");
        sqlite3_close(q->ldb);
        q->ldb = NULL;
        return SL_ESTORE;
    }
    sqlite3_busy_timeout(q->ldb, 5000);
    return 0;
}

/* "<created_ms>.<rowid>" -> 0, or -EINVAL. */
static int parse_pos(const char *pos, int64_t *created, int64_t *rowid)
{
    char *end;
    errno = 0;
    long long c = strtoll(pos, &end, 10);
    if (end == pos || *end != '.' || errno)
        return -EINVAL;
    const char *r = end + 1;
    long long id = strtoll(r, &end, 10);
    if (end == r || *end || errno)
        return -EINVAL;
    *created = c;
    *rowid = id;
    return 0;
}

static int sqlite_list(struct sl_dlq *d, const struct sl_dlq_filter *f, sl_dlq_each_cb cb,
                       void *arg, struct sl_err *err)
{
    struct sl_dlq_sqlite *q = sink(d);
    if (!q->st)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECLOSED, "%s: not open", q->base.scope);
    if (q->listing)
        return sl_err_set(err, SL_ERR_PERMANENT, -EBUSY, "%s: list called from a list callback",
                          q->base.scope);
    struct sl_dlq_filter none = {0};
    if (!f)
        f = &none;
    if (f->id && strlen(f->id) > SQLITE_DLQ_ID_MAX)
        return 0; /* no such id */
    int64_t after_created = INT64_MIN, after_rowid = INT64_MIN;
    if (f->after && parse_pos(f->after, &after_created, &after_rowid) < 0)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: not a position of this sink: %.64s",
                          q->base.scope, f->after);
    int rc = list_conn(q, err);
    if (rc < 0)
        return rc;

    const char *sql = f->id ? LIST_ID_SQL : f->mapping ? LIST_MAPPING_SQL : LIST_SQL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(q->ldb, sql, -1, &s, NULL) != SQLITE_OK)
        return sl_err_set(err, SL_ERR_TRANSIENT, SL_ESTORE, "%s: cannot prepare list: %s",
                          q->base.scope, sqlite3_errmsg(q->ldb));
    sqlite3_bind_text(s, 1, d->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, f->since_ms ? f->since_ms : INT64_MIN);
    if (f->mapping)
        sqlite3_bind_text(s, 4, f->mapping, -1, SQLITE_STATIC);
    if (f->id)
        sqlite3_bind_text(s, 5, f->id, -1, SQLITE_STATIC);

    /* In chunks, each its own short read transaction: a long one would hold a WAL snapshot
     * that keeps the writer's checkpoints from completing while pushes commit. */
    int step = SQLITE_DONE;
    size_t seen = 0;
    bool stop = false;
    q->listing = true;
    while (!stop) {
        size_t want = SQLITE_DLQ_LIST_CHUNK;
        if (f->limit && f->limit - seen < want)
            want = f->limit - seen;
        sqlite3_bind_int64(s, 3, (int64_t)want);
        sqlite3_bind_int64(s, 6, after_created);
        sqlite3_bind_int64(s, 7, after_rowid);
        size_t rows = 0;
        while (!stop && (step = sqlite3_step(s)) == SQLITE_ROW) {
            rows++;
            after_created = sqlite3_column_int64(s, 2);
            after_rowid = sqlite3_column_int64(s, 3);
            const char *doc = (const char *)sqlite3_column_text(s, 1);
            size_t len = (size_t)sqlite3_column_bytes(s, 1);
            struct sl_dlq_entry e;
            struct sl_err perr;
            if (sl_dlq_entry_from_json(doc, len, &e, &perr) < 0) {
                const char *id = (const char *)sqlite3_column_text(s, 0);
                sl_warn(q->base.scope, "skipping unreadable entry %.64s: %s", id ? id : "?",
                        perr.msg);
                continue;
            }
            seen++;
            char pos[SL_DLQ_POS_MAX];
            snprintf(pos, sizeof(pos), "%lld.%lld", (long long)after_created,
                     (long long)after_rowid);
            stop = cb(&e, pos, arg) != 0;
            sl_dlq_entry_release(&e);
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            break;
        sqlite3_reset(s); /* ends this chunk's read transaction */
        if (rows < want || (f->limit && seen >= f->limit))
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = sl_err_set(err, SL_ERR_TRANSIENT, SL_ESTORE, "%s: list failed: %s", q->base.scope,
                        sqlite3_errmsg(q->ldb));
    sqlite3_finalize(s); /* ends the read transaction */
    q->listing = false;
    return rc;
}

static int64_t sqlite_depth(struct sl_dlq *d, const char *mapping)
{
    struct sl_dlq_sqlite *q = sink(d);
    if (!q->st)
        return -1;
    struct sl_store_conn *c = sl_store_reader(q->st);
    sqlite3_stmt *s = sl_store_stmt(c, mapping ? COUNT_MAPPING_SQL : COUNT_SQL);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, d->name, -1, SQLITE_STATIC);
    if (mapping)
        sqlite3_bind_text(s, 2, mapping, -1, SQLITE_STATIC);
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return n;
}

static void sqlite_describe(struct sl_dlq *d, struct sl_jw *w)
{
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", d->ops->type);
    sl_jw_kstr(w, "name", d->name);
    sl_jw_key(w, "entries");
    int64_t n = sqlite_depth(d, NULL);
    if (n < 0)
        sl_jw_null(w);
    else
        sl_jw_int(w, n);
    sl_jw_obj_close(w);
}

const struct sl_dlq_ops sl_dlq_sqlite_ops = {
    .type = "sqlite",
    .props = &sl_dlq_sqlite_props,
    .create = sqlite_create,
    .open = sqlite_open,
    .put = sqlite_put,
    .list = sqlite_list,
    .remove = sqlite_remove,
    .depth = sqlite_depth,
    .describe = sqlite_describe,
    .destroy = sqlite_destroy,
};
