#include "sources/spool.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

struct spool_del {
    struct sl_spool *sp;
    uint64_t *seqs;
    size_t n;
    size_t charge;
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
static const char sql_delete[] = "DELETE FROM spool WHERE seq = ?";
static const char sql_scan[] = "SELECT seq, id, received_ms, attrs, body FROM spool"
                               " WHERE source = ? AND seq > ? ORDER BY seq LIMIT ?";
static const char sql_depth_source[] = "SELECT count(*) FROM spool WHERE source = ?";
static const char sql_depth_all[] = "SELECT count(*) FROM spool";
static const char sql_stats[] =
    "SELECT coalesce(max(seq), 0), coalesce(sum(length(attrs) + length(body)), 0) FROM spool";

size_t sl_spool_charge(size_t attrs_len, size_t body_len)
{
    return attrs_len + body_len;
}

static void spool_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents);

int sl_spool_open(struct ev_loop *loop, struct sl_store *st, uint64_t max_bytes,
                  struct sl_spool **out, struct sl_err *err)
{
    int rc = sl_store_exec(st, spool_schema, err);
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
    if (sp->dels) {
        free(sp->dels->seqs);
        free(sp->dels);
    }
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

static int spool_del_job(struct sl_store_conn *c, void *arg)
{
    struct spool_del *d = arg;
    sqlite3_stmt *q = sl_store_stmt(c, sql_delete);
    if (!q)
        return SL_ESTORE;
    for (size_t i = 0; i < d->n; i++) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)d->seqs[i]);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return SL_ESTORE;
    }
    return 0;
}

static void spool_del_done(int status, void *arg)
{
    struct spool_del *d = arg;
    d->sp->dels_done++;
    if (status == 0)
        d->sp->used = d->sp->used > d->charge ? d->sp->used - d->charge : 0;
    free(d->seqs);
    free(d);
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
        free(d->seqs);
        free(d);
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

void sl_spool_delete(struct sl_spool *sp, uint64_t seq, size_t bytes)
{
    if (!sp->dels) {
        sp->dels = SL_NEW(struct spool_del);
        sp->dels->sp = sp;
    }
    struct spool_del *d = sp->dels;
    if (d->n == sp->dels_cap) {
        sp->dels_cap = sp->dels_cap ? sp->dels_cap * 2 : 64;
        d->seqs = sl_realloc(d->seqs, sp->dels_cap * sizeof(*d->seqs));
    }
    d->seqs[d->n++] = seq;
    d->charge += bytes;
    if (!sp->loop)
        sl_spool_flush(sp);
    else if (!ev_is_active(&sp->flush))
        ev_prepare_start(sp->loop, &sp->flush);
}

int sl_spool_scan(struct sl_spool *sp, const char *source, uint64_t after, size_t limit,
                  sl_spool_row_cb cb, void *arg)
{
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(sp->st), sql_scan);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)limit);
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

uint64_t sl_spool_used_bytes(const struct sl_spool *sp)
{
    return sp->used;
}
