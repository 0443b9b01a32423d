#include "sources/spool.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

/* One handled row: deleted at once (one reader), or marked done by its reader and deleted
 * once every reader of its source has marked it (fan-out). */
struct spool_op {
    uint64_t seq;
    size_t charge;
    uint32_t reader;   /* offset of the reader's name in names (fan-out) */
    uint32_t nreaders; /* 0: delete now */
};

struct spool_del {
    struct sl_spool *sp;
    struct spool_op *ops;
    size_t n;
    struct sl_buf names; /* reader names, NUL-terminated, one arena per job */
    uint64_t freed;      /* quota bytes of the rows the job deleted */
};

struct sl_spool {
    struct ev_loop *loop;
    struct sl_store *st;
    uint64_t next_seq;
    uint64_t used;
    uint64_t max;
    struct spool_del *dels; /* deletes gathered during this loop iteration */
    size_t dels_cap;
    ev_prepare flush;        /* submits them before the loop sleeps */
    uint64_t dels_submitted; /* delete jobs given to the store */
    uint64_t dels_done;      /* ... and finished (committed or failed), in order */
};

struct spool_put {
    struct sl_spool *sp;
    uint64_t seq; /* the first item's; the others follow */
    size_t charge;
    sl_store_done_cb done;
    void *arg;
    size_t n;
    struct sl_spool_item it[]; /* strings point into the same allocation */
};

/* A change to this table is a new step of the store's schema (cli/app.c, store_schema). */
static const char spool_schema[] =
    "CREATE TABLE IF NOT EXISTS spool("
    " seq INTEGER PRIMARY KEY, source TEXT NOT NULL, id TEXT NOT NULL,"
    " received_ms INTEGER NOT NULL, attrs TEXT NOT NULL, body BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS spool_by_source ON spool(source, seq);";

static const char sql_insert[] =
    "INSERT INTO spool(seq, source, id, received_ms, attrs, body) VALUES(?,?,?,?,?,?)";
/* Fan-out (sources/push_reader.h): which reader handled which row. A row's marks go with it. */
const char sl_spool_done_schema[] =
    "CREATE TABLE IF NOT EXISTS spool_done("
    " seq INTEGER NOT NULL, reader TEXT NOT NULL, PRIMARY KEY(seq, reader)) WITHOUT ROWID;";

static const char sql_delete[] = "DELETE FROM spool WHERE seq = ?";
/* A reader's mark, only while its row exists (a sweep may have released it). */
static const char sql_done_mark[] =
    "INSERT OR IGNORE INTO spool_done(seq, reader)"
    " SELECT ?1, ?2 WHERE EXISTS(SELECT 1 FROM spool WHERE seq = ?1)";
static const char sql_done_count[] = "SELECT count(*) FROM spool_done WHERE seq = ?";
static const char sql_done_delete[] = "DELETE FROM spool_done WHERE seq = ?";
static const char sql_done_any[] = "SELECT EXISTS(SELECT 1 FROM spool_done)";
/* Marks of readers that no longer read the source (a mapping removed or renamed). */
static const char sql_sweep_stale[] =
    "DELETE FROM spool_done WHERE seq IN (SELECT seq FROM spool WHERE source = ?1)"
    " AND reader NOT IN (SELECT value FROM json_each(?2))";
static const char sql_sweep_done[] =
    "SELECT seq, length(attrs) + length(body) FROM spool WHERE source = ?1"
    " AND (SELECT count(*) FROM spool_done d WHERE d.seq = spool.seq) >= ?2";
static const char sql_scan[] = "SELECT seq, id, received_ms, attrs, body FROM spool"
                               " WHERE source = ?1 AND seq > ?2 AND (?4 IS NULL OR NOT EXISTS("
                               "SELECT 1 FROM spool_done d WHERE d.seq = spool.seq"
                               " AND d.reader = ?4)) ORDER BY seq LIMIT ?3";
static const char sql_depth_source[] = "SELECT count(*) FROM spool WHERE source = ?";
static const char sql_pending[] =
    "SELECT count(*) FROM spool WHERE source = ?1 AND NOT EXISTS("
    "SELECT 1 FROM spool_done d WHERE d.seq = spool.seq AND d.reader = ?2)";
static const char sql_depth_all[] = "SELECT count(*) FROM spool";
static const char sql_stats[] =
    "SELECT coalesce(max(seq), 0), coalesce(sum(length(attrs) + length(body)), 0) FROM spool";

size_t sl_spool_charge(size_t attrs_len, size_t body_len)
{
    return attrs_len + body_len;
}

static void spool_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents);

static void spool_del_free(struct spool_del *d)
{
    if (!d)
        return;
    free(d->ops);
    sl_buf_release(&d->names);
    free(d);
}

int sl_spool_open(struct ev_loop *loop, struct sl_store *st, uint64_t max_bytes,
                  struct sl_spool **out, struct sl_err *err)
{
    int rc = sl_store_exec(st, spool_schema, err);
    if (rc == 0)
        rc = sl_store_exec(st, sl_spool_done_schema, err);
    if (rc < 0)
        return rc;
    struct sl_spool *sp = SL_NEW(struct sl_spool);
    sp->loop = loop;
    sp->st = st;
    sp->max = max_bytes;
    ev_prepare_init(&sp->flush, spool_flush_cb);
    sp->flush.data = sp;
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(st), sql_stats);
    if (!q) {
        free(sp);
        return sl_err_set(err, SL_ERR_FATAL, SL_ESTORE, "spool: cannot read its state");
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        sp->next_seq = (uint64_t)sqlite3_column_int64(q, 0) + 1;
        sp->used = (uint64_t)sqlite3_column_int64(q, 1);
    }
    sqlite3_reset(q);
    *out = sp;
    return 0;
}

void sl_spool_destroy(struct sl_spool *sp)
{
    if (!sp)
        return;
    /* Deletes not yet submitted are dropped: those rows are replayed at the next start. */
    if (sp->loop)
        ev_prepare_stop(sp->loop, &sp->flush);
    spool_del_free(sp->dels);
    free(sp);
}

static int spool_put_job(struct sl_store_conn *c, void *arg)
{
    struct spool_put *p = arg;
    sqlite3_stmt *q = sl_store_stmt(c, sql_insert);
    if (!q)
        return SL_ESTORE;
    /* One job: every item commits with the others or none does (the job's SAVEPOINT). */
    for (size_t i = 0; i < p->n; i++) {
        const struct sl_spool_item *it = &p->it[i];
        sqlite3_bind_int64(q, 1, (sqlite3_int64)(p->seq + i));
        sqlite3_bind_text(q, 2, it->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, it->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, it->received_ms);
        sqlite3_bind_text(q, 5, it->attrs, -1, SQLITE_STATIC);
        sqlite3_bind_blob(q, 6, it->body_len ? it->body : "", (int)it->body_len, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return SL_ESTORE;
        /* The item's own extra write (a webhook's delivery id), in the same savepoint. */
        if (it->also) {
            int rc2 = it->also(c, it->also_arg);
            if (rc2 < 0)
                return rc2;
        }
    }
    return 0;
}

static void spool_put_done(int status, void *arg)
{
    struct spool_put *p = arg;
    if (status < 0)
        p->sp->used -= p->charge;
    if (p->done)
        p->done(status, p->arg);
    free(p);
}

static char *copy_str(char **cur, const char *s)
{
    size_t n = strlen(s) + 1;
    char *out = memcpy(*cur, s, n);
    *cur += n;
    return out;
}

int sl_spool_put_many(struct sl_spool *sp, const struct sl_spool_item *items, size_t n,
                      uint64_t *first_seq, sl_store_done_cb done, void *arg)
{
    if (sl_store_lost(sp->st))
        return SL_ESTORELOST;
    size_t charge = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sl_spool_item *it = &items[i];
        size_t attrs_len = strlen(it->attrs);
        charge += sl_spool_charge(attrs_len, it->body_len);
        bytes += strlen(it->source) + strlen(it->id) + attrs_len + it->body_len + 3;
    }
    if (sp->used + charge > sp->max)
        return SL_EFULL;
    struct spool_put *p = sl_malloc(sizeof(*p) + n * sizeof(p->it[0]) + bytes);
    char *cur = (char *)(p->it + n);
    p->sp = sp;
    p->seq = sp->next_seq;
    p->charge = charge;
    p->done = done;
    p->arg = arg;
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        struct sl_spool_item *it = &p->it[i];
        *it = items[i];
        it->source = copy_str(&cur, items[i].source);
        it->id = copy_str(&cur, items[i].id);
        it->attrs = copy_str(&cur, items[i].attrs);
        it->body = it->body_len ? memcpy(cur, items[i].body, it->body_len) : cur;
        cur += it->body_len;
    }
    int rc = sl_store_submit(sp->st, spool_put_job, spool_put_done, p);
    if (rc < 0) {
        free(p);
        return rc;
    }
    sp->used += charge;
    *first_seq = sp->next_seq;
    sp->next_seq += n;
    return 0;
}

int sl_spool_put(struct sl_spool *sp, const struct sl_spool_item *it, uint64_t *seq,
                 sl_store_done_cb done, void *arg)
{
    return sl_spool_put_many(sp, it, 1, seq, done, arg);
}

/* Deletes row seq and its marks; adds its charge to *freed when it was there. */
static int del_row(struct sl_store_conn *c, uint64_t seq, size_t charge, bool marks,
                   uint64_t *freed)
{
    sqlite3_stmt *q = sl_store_stmt(c, sql_delete);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return SL_ESTORE;
    if (sqlite3_changes(sl_store_conn_db(c)) > 0)
        *freed += charge;
    if (!marks)
        return 0;
    if (!(q = sl_store_stmt(c, sql_done_delete)))
        return SL_ESTORE;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : SL_ESTORE;
}

/* Fan-out: marks seq done by reader; deletes it once nreaders readers have marked it. */
static int done_row(struct sl_store_conn *c, const struct spool_op *op, const char *reader,
                    uint64_t *freed)
{
    sqlite3_stmt *q = sl_store_stmt(c, sql_done_mark);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)op->seq);
    sqlite3_bind_text(q, 2, reader, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || !(q = sl_store_stmt(c, sql_done_count)))
        return SL_ESTORE;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)op->seq);
    int64_t marks = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    if (marks < 0)
        return SL_ESTORE;
    if ((uint64_t)marks < op->nreaders)
        return 0;
    return del_row(c, op->seq, op->charge, true, freed);
}

static int spool_del_job(struct sl_store_conn *c, void *arg)
{
    struct spool_del *d = arg;
    d->freed = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct spool_op *op = &d->ops[i];
        int rc = op->nreaders ? done_row(c, op, d->names.data + op->reader, &d->freed)
                              : del_row(c, op->seq, op->charge, false, &d->freed);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void spool_del_done(int status, void *arg)
{
    struct spool_del *d = arg;
    d->sp->dels_done++;
    if (status == 0)
        d->sp->used = d->sp->used > d->freed ? d->sp->used - d->freed : 0;
    spool_del_free(d);
}

void sl_spool_flush(struct sl_spool *sp)
{
    if (!sp)
        return;
    if (sp->loop)
        ev_prepare_stop(sp->loop, &sp->flush);
    struct spool_del *d = sp->dels;
    if (!d)
        return;
    sp->dels = NULL;
    sp->dels_cap = 0;
    /* Deleting handled rows is harmless even in a lost store, and keeps the depth readers see
     * true while what was accepted before is delivered. */
    if (sl_store_submit_cleanup(sp->st, spool_del_job, spool_del_done, d) < 0) {
        /* Store closing: the rows stay and are replayed at the next start. */
        spool_del_free(d);
        return;
    }
    sp->dels_submitted++;
}

uint64_t sl_spool_delete_mark(struct sl_spool *sp)
{
    /* Always a job, even with no deletes: the store runs its jobs in order, so once this one is
     * done every write queued before it is too (a mapping's kept state included). */
    if (sp && !sp->dels) {
        sp->dels = SL_NEW(struct spool_del);
        sp->dels->sp = sp;
    }
    sl_spool_flush(sp);
    return sp ? sp->dels_submitted : 0;
}

bool sl_spool_deleted(const struct sl_spool *sp, uint64_t mark)
{
    return !sp || sp->dels_done >= mark;
}

static void spool_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct sl_spool *sp = w->data;
    sl_spool_flush(sp);
}

/* The gathered job's next op (the job is submitted before the loop sleeps). */
static struct spool_op *op_add(struct sl_spool *sp, uint64_t seq, size_t bytes)
{
    if (!sp->dels) {
        sp->dels = SL_NEW(struct spool_del);
        sp->dels->sp = sp;
    }
    struct spool_del *d = sp->dels;
    if (d->n == sp->dels_cap) {
        sp->dels_cap = sp->dels_cap ? sp->dels_cap * 2 : 64;
        d->ops = sl_realloc(d->ops, sp->dels_cap * sizeof(*d->ops));
    }
    struct spool_op *op = &d->ops[d->n++];
    *op = (struct spool_op){.seq = seq, .charge = bytes};
    return op;
}

static void op_queued(struct sl_spool *sp)
{
    if (!sp->loop)
        sl_spool_flush(sp);
    else if (!ev_is_active(&sp->flush))
        ev_prepare_start(sp->loop, &sp->flush);
}

void sl_spool_delete(struct sl_spool *sp, uint64_t seq, size_t bytes)
{
    op_add(sp, seq, bytes);
    op_queued(sp);
}

void sl_spool_done(struct sl_spool *sp, uint64_t seq, const char *reader, unsigned nreaders,
                   size_t bytes)
{
    struct spool_op *op = op_add(sp, seq, bytes);
    struct sl_buf *names = &sp->dels->names;
    op->reader = (uint32_t)names->len;
    op->nreaders = nreaders ? nreaders : 1;
    sl_buf_append(names, reader, strlen(reader) + 1);
    op_queued(sp);
}

struct spool_sweep {
    struct sl_spool *sp;
    char *source;
    char *readers; /* JSON array of the reader names */
    size_t nreaders;
    uint64_t freed;
};

static int spool_sweep_job(struct sl_store_conn *c, void *arg)
{
    struct spool_sweep *w = arg;
    w->freed = 0;
    sqlite3_stmt *q = sl_store_stmt(c, sql_done_any);
    if (!q)
        return SL_ESTORE;
    bool any = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
    sqlite3_reset(q);
    if (!any)
        return 0; /* no source was ever read by several mappings: nothing to release */
    if (!(q = sl_store_stmt(c, sql_sweep_stale)))
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, w->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, w->readers, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || !(q = sl_store_stmt(c, sql_sweep_done)))
        return SL_ESTORE;
    /* Collected first: the rows are deleted after the SELECT is done with them. */
    struct spool_op *done = NULL;
    size_t n = 0, cap = 0;
    sqlite3_bind_text(q, 1, w->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)w->nreaders);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            done = sl_realloc(done, cap * sizeof(*done));
        }
        done[n++] = (struct spool_op){.seq = (uint64_t)sqlite3_column_int64(q, 0),
                                      .charge = (size_t)sqlite3_column_int64(q, 1)};
    }
    sqlite3_reset(q);
    for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
        if (del_row(c, done[i].seq, done[i].charge, true, &w->freed) < 0)
            rc = SQLITE_ERROR;
    }
    free(done);
    return rc == SQLITE_DONE ? 0 : SL_ESTORE;
}

static void spool_sweep_done(int status, void *arg)
{
    struct spool_sweep *w = arg;
    if (status == 0)
        w->sp->used = w->sp->used > w->freed ? w->sp->used - w->freed : 0;
    else
        sl_warn("spool",
                "releasing the rows of %s its mappings all handled failed: %s (tried "
                "again at the next start)",
                w->source, sl_strerror(status));
    free(w->source);
    free(w->readers);
    free(w);
}

void sl_spool_sweep(struct sl_spool *sp, const char *source, const char *const *readers, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(readers[i]));
    struct spool_sweep *w = SL_NEW(struct spool_sweep);
    w->sp = sp;
    w->source = sl_strdup(source);
    w->readers = json_dumps(arr, JSON_COMPACT);
    w->nreaders = n;
    json_decref(arr);
    if (!w->readers || sl_store_submit_cleanup(sp->st, spool_sweep_job, spool_sweep_done, w) < 0) {
        free(w->source);
        free(w->readers);
        free(w);
    }
}

int sl_spool_scan(struct sl_spool *sp, const char *source, const char *reader, uint64_t after,
                  size_t limit, sl_spool_row_cb cb, void *arg)
{
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(sp->st), sql_scan);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)limit);
    if (reader)
        sqlite3_bind_text(q, 4, reader, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, 4);
    int n = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sl_spool_row row = {
            .seq = (uint64_t)sqlite3_column_int64(q, 0),
            .id = (const char *)sqlite3_column_text(q, 1),
            .received_ms = sqlite3_column_int64(q, 2),
            .attrs = (const char *)sqlite3_column_text(q, 3),
            .body = sqlite3_column_blob(q, 4),
            .body_len = (size_t)sqlite3_column_bytes(q, 4),
        };
        n++;
        if (cb(&row, arg))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sl_error("spool", "reading the rows of %s failed: %s", source,
                 sqlite3_errmsg(sl_store_conn_db(sl_store_reader(sp->st))));
        sqlite3_reset(q);
        return SL_ESTORE;
    }
    sqlite3_reset(q);
    return n;
}

int64_t sl_spool_depth(struct sl_spool *sp, const char *source)
{
    sqlite3_stmt *q =
        sl_store_stmt(sl_store_reader(sp->st), source ? sql_depth_source : sql_depth_all);
    if (!q)
        return -1;
    if (source)
        sqlite3_bind_text(q, 1, source, -1, SQLITE_TRANSIENT);
    int64_t n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    return n;
}

int64_t sl_spool_pending(struct sl_spool *sp, const char *source, const char *reader)
{
    if (!reader)
        return sl_spool_depth(sp, source);
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(sp->st), sql_pending);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, reader, -1, SQLITE_TRANSIENT);
    int64_t n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    return n;
}

uint64_t sl_spool_used_bytes(const struct sl_spool *sp)
{
    return sp->used;
}
