#include "sources/http/dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

/* A change to this table is a new step of the store's schema (cli/app.c, store_steps). */
const char sl_webhook_dedupe_schema[] =
    "CREATE TABLE IF NOT EXISTS webhook_dedupe("
    " source TEXT NOT NULL, delivery TEXT NOT NULL, id TEXT NOT NULL,"
    " seen_ms INTEGER NOT NULL, PRIMARY KEY(source, delivery));"
    "CREATE INDEX IF NOT EXISTS webhook_dedupe_by_age ON webhook_dedupe(source, seen_ms);";

static const char sql_find[] =
    "SELECT id FROM webhook_dedupe WHERE source = ? AND delivery = ? AND seen_ms >= ?";
/* A row older than the window (not yet expired) is taken over; a live one is left alone. */
static const char sql_record[] =
    "INSERT INTO webhook_dedupe(source, delivery, id, seen_ms) VALUES(?1,?2,?3,?4)"
    " ON CONFLICT(source, delivery) DO UPDATE SET id = excluded.id, seen_ms = excluded.seen_ms"
    " WHERE webhook_dedupe.seen_ms < ?5";
static const char sql_first[] = "SELECT id FROM webhook_dedupe WHERE source = ? AND delivery = ?";
static const char sql_expire[] = "DELETE FROM webhook_dedupe WHERE source = ? AND seen_ms < ?";
/* Beyond the cap the oldest go first, even inside the window. */
static const char sql_cap[] =
    "DELETE FROM webhook_dedupe WHERE rowid IN (SELECT rowid FROM webhook_dedupe"
    " WHERE source = ? ORDER BY seen_ms DESC, rowid DESC LIMIT -1 OFFSET ?)";

struct sl_dedupe_flight {
    struct sl_dedupe *d;
    struct sl_dedupe_flight *prev, *next;
    size_t key_len;
    char id[SL_ID_LEN + 1];
    int64_t seen_ms;
    struct sl_http_exchange **waiters;
    size_t nwaiters;
    char key[]; /* key_len bytes, in the same allocation */
};

struct sl_dedupe {
    struct ev_loop *loop;
    struct sl_store *st;
    char *source;
    int64_t window_ms;
    int64_t max_entries;
    struct sl_dedupe_flight *flights;
    ev_timer expire;
};

struct dedupe_expire {
    char *source;
    int64_t before_ms;
    int64_t max_entries;
};

static int expire_job(struct sl_store_conn *c, void *arg)
{
    struct dedupe_expire *e = arg;
    sqlite3_stmt *q = sl_store_stmt(c, sql_expire);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, e->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, e->before_ms);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return SL_ESTORE;
    q = sl_store_stmt(c, sql_cap);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, e->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, e->max_entries);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : SL_ESTORE;
}

static void expire_done(int status, void *arg)
{
    struct dedupe_expire *e = arg;
    if (status < 0)
        sl_warn("source:http", "%s: removing expired delivery ids failed: %s (retried later)",
                e->source, sl_strerror(status));
    free(e->source);
    free(e);
}

static void expire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_dedupe *d = w->data;
    struct dedupe_expire *e = SL_NEW(struct dedupe_expire);
    e->source = sl_strdup(d->source);
    e->before_ms = sl_now_ms() - d->window_ms;
    e->max_entries = d->max_entries;
    /* A cleanup job: losing it does no harm, and the next one does the same. */
    if (sl_store_submit_cleanup(d->st, expire_job, expire_done, e) < 0) {
        free(e->source);
        free(e);
    }
}

struct sl_dedupe *sl_dedupe_create(struct ev_loop *loop, struct sl_store *st, const char *source,
                                   int64_t window_ms, int64_t max_entries)
{
    struct sl_dedupe *d = SL_NEW(struct sl_dedupe);
    d->loop = loop;
    d->st = st;
    d->source = sl_strdup(source);
    d->window_ms = window_ms;
    d->max_entries = max_entries;
    ev_timer_init(&d->expire, expire_cb, 0.001, SL_DEDUPE_EXPIRE_INTERVAL_MS / 1000.0);
    d->expire.data = d;
    if (loop && st) {
        ev_timer_start(loop, &d->expire);
        /* The timer alone does not keep sluice running. */
        ev_unref(loop);
    }
    return d;
}

void sl_dedupe_destroy(struct sl_dedupe *d)
{
    if (!d)
        return;
    if (d->loop && ev_is_active(&d->expire)) {
        ev_ref(d->loop);
        ev_timer_stop(d->loop, &d->expire);
    }
    /* The owner destroys it once no push is in flight. */
    while (d->flights)
        sl_dedupe_end(d->flights, SL_ECLOSED);
    free(d->source);
    free(d);
}

struct sl_dedupe_flight *sl_dedupe_in_flight(struct sl_dedupe *d, const char *key, size_t len)
{
    for (struct sl_dedupe_flight *f = d->flights; f; f = f->next) {
        if (f->key_len == len && memcmp(f->key, key, len) == 0)
            return f;
    }
    return NULL;
}

void sl_dedupe_wait(struct sl_dedupe_flight *f, struct sl_http_exchange *x)
{
    f->waiters = sl_realloc(f->waiters, (f->nwaiters + 1) * sizeof(*f->waiters));
    f->waiters[f->nwaiters++] = x;
}

int sl_dedupe_find(struct sl_dedupe *d, const char *key, size_t len, int64_t now_ms,
                   char first_id[SL_ID_LEN + 1])
{
    if (!d->st)
        return 0;
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(d->st), sql_find);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, d->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, key, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms - d->window_ms);
    int rc = sqlite3_step(q), found = 0;
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        snprintf(first_id, SL_ID_LEN + 1, "%s", id ? id : "");
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = SL_ESTORE;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return found;
}

struct sl_dedupe_flight *sl_dedupe_begin(struct sl_dedupe *d, const char *key, size_t len,
                                         const char *id, int64_t now_ms)
{
    struct sl_dedupe_flight *f = sl_calloc(1, sizeof(*f) + len);
    f->d = d;
    memcpy(f->key, key, len);
    f->key_len = len;
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->seen_ms = now_ms;
    f->next = d->flights;
    if (d->flights)
        d->flights->prev = f;
    d->flights = f;
    return f;
}

int sl_dedupe_record_job(struct sl_store_conn *c, void *arg)
{
    struct sl_dedupe_flight *f = arg;
    sqlite3_stmt *q = sl_store_stmt(c, sql_record);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, f->d->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, f->key, (int)f->key_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, f->seen_ms);
    sqlite3_bind_int64(q, 5, f->seen_ms - f->d->window_ms);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return SL_ESTORE;
    if (sqlite3_changes(sl_store_conn_db(c)) > 0)
        return 0;
    q = sl_store_stmt(c, sql_first);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, f->d->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, f->key, (int)f->key_len, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        snprintf(f->id, sizeof(f->id), "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? SL_DEDUPE_SEEN : SL_ESTORE;
}

const char *sl_dedupe_flight_id(const struct sl_dedupe_flight *f)
{
    return f->id;
}

void sl_dedupe_end(struct sl_dedupe_flight *f, int status)
{
    struct sl_dedupe *d = f->d;
    for (size_t i = 0; i < f->nwaiters; i++) {
        if (status >= 0 || status == SL_DEDUPE_SEEN) {
            char body[64];
            int n = snprintf(body, sizeof(body), "{\"id\":\"%s\"}", f->id);
            sl_http_respond_json(f->waiters[i], 202, body, (size_t)n);
        } else {
            static const char *const hdr[] = {"Retry-After: 5"};
            static const char body[] = "{\"error\":\"spool_unavailable\",\"message\":\"the first "
                                       "delivery of this id was not stored; retry later\"}";
            sl_http_respond(f->waiters[i], 503, "application/json", hdr, 1, body, sizeof(body) - 1);
        }
    }
    if (f->prev)
        f->prev->next = f->next;
    else
        d->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    free(f->waiters);
    free(f);
}
