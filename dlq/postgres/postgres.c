/* The "postgres" DLQ sink: one row per entry in a PostgreSQL table (schema.c). put and remove
 * run on the loop through one asynchronous connection (clients/postgres/conn); put's callback
 * fires once the INSERT's result came back, i.e. after it committed (each statement commits on
 * its own: PostgreSQL's autocommit). One INSERT is on the wire at a time; the puts made
 * meanwhile go out together in the next one (group commit). While the connection is down, writes
 * wait for the next connect attempt and fail when it fails, so the mapping retries them (its lane
 * stays blocked); the connection is made again with backoff. depth counts the rows per mapping (at
 * most once every few seconds, kept current in between by this sink's own writes). list blocks:
 * it reads through a connection of its own (list.c) on the admin worker thread. */
#include "dlq/postgres/postgres.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "dlq/postgres/postgres_int.h"

#define PGDLQ_BACKOFF_MIN 100
#define PGDLQ_BACKOFF_MAX 5000
#define PGDLQ_COUNT_EVERY 5000              /* ms between two counts of the table */
#define PGDLQ_TIME_MAX    253402300799999LL /* 9999-12-31T23:59:59.999Z: createdAt's range */
#define PGDLQ_ID_MAX      1024              /* longest id remove takes */

/* A write: sent once the connection is up. */
struct pgdlq_op {
    struct sl_dlq_postgres *q;
    struct pgdlq_op *next;
    sl_dlq_done_cb cb;
    void *arg;
    bool is_put;
    bool alone; /* put: its group failed; sent on its own, to tell which entry the server refuses */
    char *text; /* put: the document; remove: the id */
    size_t len;
};

/* Puts sent as one INSERT (they commit together). */
struct pgdlq_group {
    struct sl_dlq_postgres *q;
    struct pgdlq_op *ops;
    int n;
};

static struct sl_dlq_postgres *sink(struct sl_dlq *d)
{
    return (struct sl_dlq_postgres *)d;
}

static void op_free(struct pgdlq_op *o)
{
    free(o->text);
    free(o);
}

/* ---- depth: rows per mapping ---- */

static void count_add(struct sl_dlq_postgres *q, const char *mapping, int64_t n)
{
    if (!q->counts_known || !mapping)
        return;
    q->total += n;
    for (size_t i = 0; i < q->ncounts; i++) {
        if (strcmp(q->counts[i].mapping, mapping) == 0) {
            q->counts[i].n += n;
            return;
        }
    }
    q->counts = sl_realloc(q->counts, (q->ncounts + 1) * sizeof(*q->counts));
    q->counts[q->ncounts++] = (struct pgdlq_count){.mapping = sl_strdup(mapping), .n = n};
}

static void counts_clear(struct sl_dlq_postgres *q)
{
    for (size_t i = 0; i < q->ncounts; i++)
        free(q->counts[i].mapping);
    free(q->counts);
    q->counts = NULL;
    q->ncounts = 0;
    q->total = 0;
}

/* The count's result: the rows as of the statements before it on this connection (one at a
 * time, in order), so the writes confirmed after it are added to it exactly. */
static void count_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct sl_dlq_postgres *q = priv;
    q->counting = false;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        return; /* an error (a missing table) is reported by the writes */
    counts_clear(q);
    int rows = PQntuples(res);
    q->counts = sl_calloc((size_t)rows + 1, sizeof(*q->counts));
    for (int i = 0; i < rows; i++) {
        int64_t n = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        q->counts[q->ncounts++] =
            (struct pgdlq_count){.mapping = sl_strdup(PQgetvalue(res, i, 0)), .n = n};
        q->total += n;
    }
    q->counts_known = true;
}

/* ---- the connection ---- */

static void log_failure(struct sl_dlq_postgres *q, const char *what, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char msg[300];
    snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
    msg[strcspn(msg, "\n")] = '\0';
    bool missing = state && strcmp(state, "42P01") == 0; /* undefined_table */
    sl_error(q->base.scope, "%s %s failed: %s%s", what, q->sql.table, msg,
             missing ? " (create it with `sluice init`, or set create_table: true)" : "");
}

/* A remove's result: the mapping of the row removed, or none. */
static void remove_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct pgdlq_op *o = priv;
    struct sl_dlq_postgres *q = o->q;
    int status;
    if (!res) {
        status = q->destroying ? SL_ECLOSED : -ECONNRESET;
    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_failure(q, "DELETE from", res);
        status = -EIO;
    } else {
        int rows = PQntuples(res);
        status = rows > 0 ? 0 : SL_ENOTFOUND;
        for (int i = 0; i < rows; i++)
            count_add(q, PQgetvalue(res, i, 0), -1);
    }
    sl_dlq_done_cb cb = o->cb;
    void *arg = o->arg;
    op_free(o);
    if (cb)
        cb(status, arg);
}

static void fire_list(struct pgdlq_op *o, int status)
{
    while (o) {
        struct pgdlq_op *next = o->next;
        sl_dlq_done_cb cb = o->cb;
        void *arg = o->arg;
        op_free(o);
        if (cb)
            cb(status, arg);
        o = next;
    }
}

static const char *insert_sql(struct sl_dlq_postgres *q, int n)
{
    if (!q->insert_n[n]) {
        struct sl_buf b;
        sl_buf_init(&b);
        sl_pgdlq_insert_sql(&q->sql, n, &b);
        q->insert_n[n] = sl_buf_steal(&b, NULL);
    }
    return q->insert_n[n];
}

static void send_group(struct sl_dlq_postgres *q);

/* A group's result. Committed: every entry is stored (the rows RETURNING gives are the ones
 * new, counted for depth). Refused by the server: one entry may be at fault, so each is tried
 * again on its own before any of them fails. */
static void group_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct pgdlq_group *g = priv;
    struct sl_dlq_postgres *q = g->q;
    struct pgdlq_op *ops = g->ops;
    int n = g->n;
    free(g);
    q->inflight -= (size_t)n;
    int status = 0;
    if (!res) {
        /* The connection went away (or the sink is going): whether the statement committed
         * is not known. A put retried later finds its row (ON CONFLICT DO NOTHING). */
        status = q->destroying ? SL_ECLOSED : -ECONNRESET;
    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        status = -EIO;
        if (n == 1 || q->destroying) {
            log_failure(q, "INSERT into", res);
        } else {
            char what[64];
            snprintf(what, sizeof(what), "INSERT of %d entries (each tried again alone) into", n);
            log_failure(q, what, res);
            struct pgdlq_op *last = ops;
            for (struct pgdlq_op *o = ops; o; o = o->next) {
                o->alone = true;
                last = o;
            }
            last->next = q->puts_head;
            if (!q->puts_head)
                q->puts_tail = last;
            q->puts_head = ops;
            q->group_busy = false;
            send_group(q);
            return;
        }
    } else {
        for (int i = 0; i < PQntuples(res); i++)
            count_add(q, PQgetvalue(res, i, 0), 1);
    }
    /* Puts made from these callbacks wait, and go out together after them. */
    fire_list(ops, status);
    q->group_busy = false;
    send_group(q);
}

/* Sends the puts waiting as one INSERT, unless one is on the wire already: what comes
 * meanwhile waits for it and goes next, together (group commit). */
static void send_group(struct sl_dlq_postgres *q)
{
    if (q->group_busy || q->destroying || !q->puts_head || !q->conn.up)
        return;
    const char *values[PGDLQ_GROUP_MAX];
    int lengths[PGDLQ_GROUP_MAX];
    int n = 0;
    size_t bytes = 0;
    struct pgdlq_op *last = NULL;
    for (struct pgdlq_op *o = q->puts_head; o && n < PGDLQ_GROUP_MAX; o = o->next) {
        if (n > 0 && (o->alone || bytes + o->len > PGDLQ_GROUP_BYTES))
            break;
        values[n] = o->text;
        lengths[n] = (int)o->len;
        bytes += o->len;
        n++;
        last = o;
        if (o->alone)
            break;
    }
    struct pgdlq_group *g = SL_NEW(struct pgdlq_group);
    g->q = q;
    g->ops = q->puts_head;
    g->n = n;
    if (sl_pg_conn_query(&q->conn, insert_sql(q, n), n, values, lengths, group_cb, g) < 0) {
        free(g);
        return;
    }
    q->puts_head = last->next;
    if (!q->puts_head)
        q->puts_tail = NULL;
    last->next = NULL;
    q->group_busy = true;
    q->inflight += (size_t)n;
}

static void fail_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_dlq_postgres *q = w->data;
    struct pgdlq_op *o = q->failed;
    q->failed = NULL;
    fire_list(o, q->fail_status);
}

static void append_list(struct pgdlq_op **head, struct pgdlq_op **tail, struct pgdlq_op *first,
                        struct pgdlq_op *last)
{
    if (!first)
        return;
    if (*tail)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

/* Fails every op waiting for the connection (from the loop, never inside put/remove). */
static void fail_queue(struct sl_dlq_postgres *q, int status)
{
    if (!q->queue_head && !q->puts_head)
        return;
    struct pgdlq_op *failed = NULL, *tail = NULL;
    append_list(&failed, &tail, q->queue_head, q->queue_tail);
    append_list(&failed, &tail, q->puts_head, q->puts_tail);
    tail->next = q->failed;
    q->failed = failed;
    q->queue_head = q->queue_tail = q->puts_head = q->puts_tail = NULL;
    q->fail_status = status;
    ev_timer_set(&q->fail_timer, 0., 0.);
    ev_timer_start(q->loop, &q->fail_timer);
}

/* Sends the removes waiting, then the puts. */
static void send_queue(struct sl_dlq_postgres *q)
{
    while (q->queue_head && q->conn.up) {
        struct pgdlq_op *o = q->queue_head;
        const char *values[1] = {o->text};
        if (sl_pg_conn_query(&q->conn, q->sql.remove, 1, values, NULL, remove_cb, o) < 0)
            break;
        q->queue_head = o->next;
        if (!q->queue_head)
            q->queue_tail = NULL;
        o->next = NULL;
    }
    send_group(q);
}

static void schema_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct sl_dlq_postgres *q = priv;
    if (!res)
        return; /* run again on the next connection */
    if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
        q->schema_done = true;
        return;
    }
    log_failure(q, "creating", res);
}

static void ignore_cb(struct sl_pg_conn *c, PGresult *res, void *priv) {}

static void pgdlq_connect(struct sl_dlq_postgres *q);

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    pgdlq_connect(w->data);
}

static void conn_state_cb(struct sl_pg_conn *c, bool up, const char *why, void *arg)
{
    struct sl_dlq_postgres *q = arg;
    q->connecting = false;
    if (up) {
        if (q->failures > 0 || q->ever_up)
            sl_info(q->base.scope, "connected to %s again", q->endpoint);
        else
            sl_debug(q->base.scope, "connected to %s", q->endpoint);
        q->ever_up = true;
        q->failures = 0;
        q->last_why[0] = '\0';
        /* A statement left waiting (on a lock) when sluice goes away would still commit once
         * it got through, writing an entry whose record is delivered again: the server checks
         * for a gone client while it waits (PostgreSQL 14 and later; an older one refuses the
         * setting, which changes nothing else). */
        sl_pg_conn_query(&q->conn, "SET client_connection_check_interval = 1000", 0, NULL, NULL,
                         ignore_cb, q);
        /* The table first: the writes queued after it find it. */
        if (q->cfg.create_table && !q->schema_done)
            sl_pg_conn_query(&q->conn, q->sql.schema, 0, NULL, NULL, schema_cb, q);
        send_queue(q);
        return;
    }
    if (!why)
        why = "connection lost";
    bool same = strcmp(why, q->last_why) == 0;
    snprintf(q->last_why, sizeof(q->last_why), "%s", why);
    if (q->closing)
        return; /* close fails what is left itself */
    q->failures++;
    int64_t delay = sl_backoff_delay(&q->backoff, q->failures, &q->rng);
    /* Once per reason, not at every attempt of an outage. */
    if (same)
        sl_debug(q->base.scope, "cannot reach %s: %s (retrying in %lld ms)", q->endpoint,
                 q->last_why, (long long)delay);
    else
        sl_warn(q->base.scope, "cannot reach %s: %s (retrying in %lld ms)", q->endpoint,
                q->last_why, (long long)delay);
    fail_queue(q, -ENOTCONN);
    ev_timer_set(&q->retry_timer, (double)delay / 1000.0, 0.);
    ev_timer_start(q->loop, &q->retry_timer);
}

static void pgdlq_connect(struct sl_dlq_postgres *q)
{
    if (q->conn.up || q->connecting || !q->loop || q->closing)
        return;
    char why[300];
    q->connecting = true;
    if (sl_pg_conn_connect(&q->conn, why, sizeof(why)) < 0)
        conn_state_cb(&q->conn, false, why, q);
}

static int enqueue(struct sl_dlq_postgres *q, struct pgdlq_op *o)
{
    if (o->is_put)
        append_list(&q->puts_head, &q->puts_tail, o, o);
    else
        append_list(&q->queue_head, &q->queue_tail, o, o);
    if (q->conn.up)
        send_queue(q);
    else if (!ev_is_active(&q->retry_timer))
        pgdlq_connect(q);
    return 0;
}

/* ---- ops ---- */

static int pgdlq_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                        struct sl_dlq **out, struct sl_err *err)
{
    struct sl_dlq_postgres *q = SL_NEW(struct sl_dlq_postgres);
    int rc = sl_pgdlq_bind(env ? env->cfg : NULL, sec, &q->cfg, err);
    if (rc < 0) {
        free(q);
        return rc;
    }
    sl_dlq_init(&q->base, &sl_dlq_postgres_ops, env, sec->name);
    sl_pgdlq_sql_build(q->cfg.table, &q->sql);
    sl_pg_conn_endpoint(q->cfg.conn.conninfo, q->endpoint, sizeof(q->endpoint));
    q->backoff = (struct sl_backoff){
        .min_ms = PGDLQ_BACKOFF_MIN, .max_ms = PGDLQ_BACKOFF_MAX, .multiplier = 2.0};
    q->rng = sl_random_u64() | 1;
    *out = &q->base;
    return 0;
}

static int pgdlq_open(struct sl_dlq *d, struct sl_err *err)
{
    struct sl_dlq_postgres *q = sink(d);
    if (q->opened)
        return 0;
    q->opened = true;
    q->loop = d->env.loop;
    if (!q->loop)
        return 0; /* list only */
    struct sl_pg_conn_opts o = {
        .conninfo = q->cfg.conn.conninfo,
        .password = q->cfg.conn.password && *q->cfg.conn.password ? q->cfg.conn.password : NULL,
        .application_name = "sluice dlq",
        .connect_timeout_ms = q->cfg.conn.connect_timeout_ms,
        .command_timeout_ms = q->cfg.conn.command_timeout_ms,
    };
    sl_pg_conn_init(&q->conn, q->loop, &o, conn_state_cb, q);
    ev_init(&q->retry_timer, retry_timer_cb);
    q->retry_timer.data = q;
    ev_init(&q->fail_timer, fail_timer_cb);
    q->fail_timer.data = q;
    /* Connect now; an unreachable server is retried (writes fail and are retried meanwhile). */
    pgdlq_connect(q);
    return 0;
}

static int pgdlq_put(struct sl_dlq *d, const struct sl_dlq_entry *e, sl_dlq_done_cb cb, void *arg)
{
    struct sl_dlq_postgres *q = sink(d);
    if (!q->opened || !q->loop || q->closing)
        return SL_ECLOSED;
    size_t id_len = strnlen(e->id, sizeof(e->id));
    /* What from_json requires (and the table's NOT NULL columns), so every row reads back. */
    if (id_len == 0 || id_len == sizeof(e->id) || !e->mapping || !*e->mapping || !e->condition ||
        !*e->condition || e->created_ms <= 0 || e->created_ms > PGDLQ_TIME_MAX)
        return -EINVAL;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_dlq_entry_to_json(e, &b);
    if (b.len > SL_DLQ_ENTRY_MAX_JSON) {
        sl_buf_release(&b);
        return SL_EFULL;
    }
    struct pgdlq_op *o = SL_NEW(struct pgdlq_op);
    o->q = q;
    o->cb = cb;
    o->arg = arg;
    o->is_put = true;
    o->text = sl_buf_steal(&b, &o->len);
    return enqueue(q, o);
}

static int pgdlq_remove(struct sl_dlq *d, const char *id, sl_dlq_done_cb cb, void *arg)
{
    struct sl_dlq_postgres *q = sink(d);
    if (!q->opened || !q->loop || q->closing)
        return SL_ECLOSED;
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > PGDLQ_ID_MAX)
        return -EINVAL;
    struct pgdlq_op *o = SL_NEW(struct pgdlq_op);
    o->q = q;
    o->cb = cb;
    o->arg = arg;
    o->text = sl_strndup(id, len);
    o->len = len;
    return enqueue(q, o);
}

/* As last counted plus this sink's writes since; -1 until the first count came back. */
static int64_t pgdlq_depth(struct sl_dlq *d, const char *mapping)
{
    struct sl_dlq_postgres *q = sink(d);
    int64_t now = sl_mono_ms();
    if (q->loop && q->conn.up && !q->counting && !q->closing &&
        (!q->counts_known || now - q->counted_at_ms >= PGDLQ_COUNT_EVERY)) {
        if (sl_pg_conn_query(&q->conn, q->sql.count, 0, NULL, NULL, count_cb, q) == 0) {
            q->counting = true;
            q->counted_at_ms = now;
        }
    }
    if (!q->counts_known)
        return -1;
    if (!mapping)
        return q->total;
    for (size_t i = 0; i < q->ncounts; i++)
        if (strcmp(q->counts[i].mapping, mapping) == 0)
            return q->counts[i].n;
    return 0;
}

static void pgdlq_describe(struct sl_dlq *d, struct sl_jw *w)
{
    struct sl_dlq_postgres *q = sink(d);
    int64_t n = pgdlq_depth(d, NULL);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", d->ops->type);
    sl_jw_kstr(w, "name", d->name);
    sl_jw_kstr(w, "endpoint", q->endpoint);
    sl_jw_kstr(w, "table", q->cfg.table);
    sl_jw_kbool(w, "connected", q->conn.up);
    sl_jw_key(w, "entries");
    if (n < 0)
        sl_jw_null(w);
    else
        sl_jw_int(w, n);
    sl_jw_obj_close(w);
}

static bool pgdlq_ready(struct sl_dlq *d, char *why, size_t n)
{
    struct sl_dlq_postgres *q = sink(d);
    if (q->conn.up || !q->opened || !q->loop)
        return true;
    snprintf(why, n, "cannot reach %s%s%s", q->endpoint, q->last_why[0] ? ": " : "", q->last_why);
    return false;
}

/* Drops the connection and fires every write not confirmed with SL_ECLOSED (their records stay
 * unacknowledged at their source, which delivers them again). */
static void teardown(struct sl_dlq_postgres *q)
{
    if (!q->loop)
        return;
    q->closing = q->destroying = true;
    ev_timer_stop(q->loop, &q->retry_timer);
    ev_timer_stop(q->loop, &q->fail_timer);
    sl_pg_conn_close(&q->conn);
    struct pgdlq_op *lists[] = {q->queue_head, q->puts_head, q->failed};
    q->queue_head = q->queue_tail = q->puts_head = q->puts_tail = q->failed = NULL;
    for (size_t i = 0; i < SL_ARRAY_LEN(lists); i++)
        fire_list(lists[i], SL_ECLOSED);
}

static int pgdlq_close(struct sl_dlq *d, int64_t deadline_ms)
{
    struct sl_dlq_postgres *q = sink(d);
    if (q->closing || !q->loop)
        return 0;
    q->closing = true;
    /* Writes on the wire and those waiting for them: their results are read here (the loop no
     * longer runs) and their callbacks fire as usual, so the records they confirm are acked. */
    if ((q->inflight > 0 || q->puts_head) && q->conn.up)
        sl_pg_conn_drain(&q->conn, deadline_ms);
    size_t left = q->inflight;
    for (struct pgdlq_op *o = q->puts_head; o; o = o->next)
        left++;
    if (left > 0)
        sl_warn(q->base.scope,
                "%zu entries not confirmed by the close deadline: their records stay "
                "unacknowledged at their source",
                left);
    teardown(q);
    return left > 0 ? -ETIMEDOUT : 0;
}

static void pgdlq_destroy(struct sl_dlq *d)
{
    if (!d)
        return;
    struct sl_dlq_postgres *q = sink(d);
    teardown(q);
    sl_pgdlq_list_release(q);
    counts_clear(q);
    for (size_t i = 0; i < SL_ARRAY_LEN(q->insert_n); i++)
        free(q->insert_n[i]);
    sl_pgdlq_sql_release(&q->sql);
    sl_props_release(&sl_pgdlq_table, &q->cfg);
    sl_dlq_release(d);
    free(q);
}

const struct sl_dlq_ops sl_dlq_postgres_ops = {
    .type = "postgres",
    .props = &sl_pgdlq_table,
    .create = pgdlq_create,
    .open = pgdlq_open,
    .put = pgdlq_put,
    .list = sl_pgdlq_list,
    .remove = pgdlq_remove,
    .depth = pgdlq_depth,
    .describe = pgdlq_describe,
    .destroy = pgdlq_destroy,
    .close = pgdlq_close,
    .ready = pgdlq_ready,
    .init = sl_pgdlq_init,
};
