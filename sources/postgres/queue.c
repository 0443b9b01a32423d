/* The postgres-queue source: rows of a table claimed with FOR UPDATE SKIP LOCKED.
 *
 * Two connections: `cl` claims (one statement at a time) and LISTENs; `ak` deletes (or
 * archives) handled rows, renews the visibility of the rows this process holds and reads the
 * metrics, so acks never wait behind a claim. States: DOWN (waiting to reconnect) ->
 * CONNECTING -> SETUP (statement_timeout on both; the table's columns checked against the
 * mapping, the archive table's read; LISTEN) -> LIVE. Any failure drops both connections and
 * reconnects with backoff; what was claimed stays claimed in the table (its visibility timeout
 * runs) and rows the mapping still holds are recognised when claimed again, never emitted twice.
 *
 * Claims: one statement (queue_conf.c) takes up to claim_size visible rows in id order that no
 * other transaction holds, makes them invisible for visibility_timeout and counts the receive.
 * A claim goes out when there may be rows (a NOTIFY, the poll timer, the previous claim came
 * back full, room made by acks) and room is left under max_inflight, unless the mapping paused
 * the source. A row received more than max_receives times is emitted to be dead-lettered.
 * Acks: handled ids are collected and deleted before the loop sleeps, many per statement
 * (WHERE id = ANY($1)). Rows held longer than half the visibility timeout get it renewed
 * (only while still claimed by us: same receive count), so a slow function or a lane blocked by
 * retries never lets another process claim them. */
#include "sources/postgres/queue.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/postgres/conn.h"
#include "clients/postgres/sync.h"
#include "core/backoff.h"
#include "core/conditions.h"
#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/presleep.h"
#include "core/time.h"
#include "core/units.h"
#include "sources/postgres/queue_int.h"

#define PGQ_ACK_CHUNK      2000 /* ids per delete */
#define PGQ_RENEW_CHUNK    1000 /* ids per renewal */
#define PGQ_BACKOFF_MIN_MS 100
#define PGQ_BACKOFF_MAX_MS 5000
#define PGQ_GRACE_MS       1000 /* the client's timeout beyond the server's statement_timeout */

/* SQLSTATE of a statement the server cancelled (statement_timeout, pg_cancel_backend). */
#define PGQ_QUERY_CANCELED  "57014"
#define PGQ_UNDEFINED_TABLE "42P01"

enum qstate {
    QS_IDLE = 0, /* created, not started */
    QS_DOWN,     /* waiting to reconnect */
    QS_CONNECTING,
    QS_SETUP,
    QS_LIVE,
};

static const char *const state_names[] = {"created", "disconnected", "connecting", "setting up",
                                          "live"};

struct claim_row {
    int64_t id;
    int row;
};

struct qsrc {
    struct sl_source base;
    struct sl_pgq_cfg cfg;
    struct sl_pgq_sql sql;
    char *ack_sql; /* the delete, or the move to the archive (per connection setup) */
    char *path;    /* "sources[0]", for messages */
    char *file;    /* the config file, for messages (NULL: none) */
    struct ev_loop *loop;
    struct sl_pg_conn cl, ak;
    enum qstate state;
    bool started, paused, stopped, closing, claiming, more, was_live, metrics_out;
    int setup_left;
    int64_t claim_limit, claim_sent_ms;
    sl_source_stopped_cb stop_cb; /* stop() waits for the claim on the wire */
    void *stop_arg;
    uint32_t failures;
    char last_why[400];
    struct sl_backoff backoff;
    uint64_t rng;
    ev_timer retry_timer, poll_timer, renew_timer, metrics_timer;
    struct sl_presleep acks; /* before the loop sleeps: deletes out, then the next claim */
    char endpoint[300];
    char app_name[64];
    struct sl_pgq_held held;
    size_t nheld;                /* HELD: emitted, not yet handled */
    struct sl_pgq_ids pending;   /* handled, delete not yet sent */
    size_t acks_out, renews_out; /* statements on the wire */
    char **qcols;                /* the queue table's columns (for the archive) */
    size_t nqcols;
    uint64_t seq;
    int64_t visible; /* from the last metrics read, -1 unknown */
    struct sl_pgq_pool pool;
    struct sl_buf scratch, scratch2;
    struct claim_row *order;
    size_t order_cap;
    struct sl_metric *m_connected, *m_reconnects, *m_claimed, *m_acked, *m_redelivered, *m_poison,
        *m_lag, *m_oldest, *m_held;
};

static void source_down(struct qsrc *s, const char *why);
static void claim_next(struct qsrc *s);
static void wake_before_sleep(struct qsrc *s);

static const char *sqlstate(const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return st ? st : "";
}

/* The server's message of a failed result, one line. */
static const char *result_error(const PGresult *res, char *buf, size_t cap)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    snprintf(buf, cap, "%s", m && *m ? m : "unexpected result");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' ';)
        buf[--n] = '\0';
    return buf;
}

/* A statement failed: a cancelled one (statement_timeout) is tried again on the same
 * connection; anything else drops the connections (the setup checks run again). */
static void statement_failed(struct qsrc *s, const char *what, const PGresult *res)
{
    char e[300], why[400];
    result_error(res, e, sizeof(e));
    if (strcmp(sqlstate(res), PGQ_QUERY_CANCELED) == 0) {
        sl_warn(s->base.scope,
                "%s on %s cancelled after command_timeout (%lld ms): %s; trying "
                "again",
                what, s->cfg.table, (long long)s->cfg.conn.command_timeout_ms, e);
        return;
    }
    snprintf(why, sizeof(why), "%s on %s failed: %s", what, s->cfg.table, e);
    source_down(s, why);
}

static int64_t num(const PGresult *res, int row, int col, int64_t dflt)
{
    if (PQgetisnull(res, row, col))
        return dflt;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* ---- claims (cl) ---- */

static int row_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct claim_row *)a)->id, y = ((const struct claim_row *)b)->id;
    return x < y ? -1 : x > y;
}

/* Emits the claimed rows in id order (RETURNING gives no order). */
static void emit_rows(struct qsrc *s, const PGresult *res, int n)
{
    if ((size_t)n > s->order_cap) {
        s->order_cap = (size_t)n;
        s->order = sl_realloc(s->order, s->order_cap * sizeof(*s->order));
    }
    bool sorted = true;
    for (int i = 0; i < n; i++) {
        s->order[i].id = num(res, i, SL_PGQ_R_ID, 0);
        s->order[i].row = i;
        if (i && s->order[i].id < s->order[i - 1].id)
            sorted = false;
    }
    if (!sorted)
        qsort(s->order, (size_t)n, sizeof(*s->order), row_cmp);
    int64_t lease = s->claim_sent_ms + s->cfg.visibility_timeout_ms;
    size_t redelivered = 0;
    for (int k = 0; k < n; k++) {
        int i = s->order[k].row;
        int64_t id = s->order[k].id;
        int64_t count = num(res, i, SL_PGQ_R_COUNT, 1);
        struct sl_pgq_slot *slot = sl_pgq_held_find(&s->held, id);
        if (slot) {
            /* Ours already (our claim ran out while the mapping held it): kept, not emitted
             * again; its renewals now match this claim. */
            slot->receive_count = count;
            slot->lease_ms = lease;
            sl_debug(s->base.scope, "row %lld claimed again while held (receive count %lld)",
                     (long long)id, (long long)count);
            continue;
        }
        int64_t now_ms = num(res, i, SL_PGQ_R_NOW, sl_now_ms());
        struct sl_pgq_row row = {
            .id = id,
            .receive_count = count,
            .sent_ms = num(res, i, SL_PGQ_R_SENT, 0),
            .first_ms = num(res, i, SL_PGQ_R_FIRST, now_ms),
            .body = PQgetvalue(res, i, SL_PGQ_R_BODY),
            .body_len = (size_t)PQgetlength(res, i, SL_PGQ_R_BODY),
        };
        if (!PQgetisnull(res, i, SL_PGQ_R_ATTRS)) {
            row.attrs = PQgetvalue(res, i, SL_PGQ_R_ATTRS);
            row.attrs_len = (size_t)PQgetlength(res, i, SL_PGQ_R_ATTRS);
        }
        if (!PQgetisnull(res, i, SL_PGQ_R_GROUP)) {
            row.group = PQgetvalue(res, i, SL_PGQ_R_GROUP);
            row.group_len = (size_t)PQgetlength(res, i, SL_PGQ_R_GROUP);
        }
        struct sl_record *r = sl_pgq_record_take(&s->pool, &row);
        r->seq = ++s->seq;
        slot = sl_pgq_held_add(&s->held, id);
        slot->receive_count = count;
        slot->lease_ms = lease;
        s->nheld++;
        if (count > 1)
            redelivered++;
        if (count > s->cfg.max_receives) {
            r->dead_letter = SL_COND_MAX_DELIVERIES;
            sl_metric_inc(s->m_poison);
            sl_warn(s->base.scope,
                    "row %lld of %s was received %lld times (max_receives %lld): dead-lettering "
                    "it",
                    (long long)id, s->cfg.table, (long long)count, (long long)s->cfg.max_receives);
        }
        /* The mapping may ack it at once (filtered out): the slot is looked up again then. */
        sl_source_emit(&s->base, r);
    }
    sl_metric_add(s->m_claimed, (double)n);
    if (redelivered)
        sl_metric_add(s->m_redelivered, (double)redelivered);
    sl_metric_set(s->m_held, (double)s->nheld);
}

/* stop() waited for the claim that was on the wire: it is back. */
static void stop_done_maybe(struct qsrc *s)
{
    if (s->stop_cb && !s->claiming) {
        sl_source_stopped_cb cb = s->stop_cb;
        s->stop_cb = NULL;
        cb(&s->base, s->stop_arg);
    }
}

static void claim_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct qsrc *s = priv;
    s->claiming = false;
    if (!res) {
        stop_done_maybe(s); /* the connection went away: its state callback handles it */
        return;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s->more = true;
        statement_failed(s, "claim", res);
        stop_done_maybe(s);
        claim_next(s);
        return;
    }
    /* The source works end to end: the next drop starts the backoff afresh. */
    s->failures = 0;
    int n = PQntuples(res);
    emit_rows(s, res, n);
    if (n >= s->claim_limit)
        s->more = true; /* a full claim: there may be more, claim again at once */
    stop_done_maybe(s);
    claim_next(s);
}

static void claim_next(struct qsrc *s)
{
    if (s->state != QS_LIVE || s->stopped || s->paused || s->claiming || !s->more)
        return;
    int64_t room = s->cfg.max_inflight - (int64_t)s->nheld;
    if (room <= 0)
        return; /* acks make room: before_sleep() claims then */
    int64_t limit = room < s->cfg.claim_size ? room : s->cfg.claim_size;
    char lim[24];
    snprintf(lim, sizeof(lim), "%lld", (long long)limit);
    const char *v[1] = {lim};
    if (sl_pg_conn_query(&s->cl, s->sql.claim, 1, v, NULL, claim_cb, s) < 0)
        return;
    s->claiming = true;
    s->more = false;
    s->claim_limit = limit;
    s->claim_sent_ms = sl_mono_ms();
}

static void notify_cb(struct sl_pg_conn *c, const PGnotify *n, void *arg)
{
    struct qsrc *s = arg;
    s->more = true;
    claim_next(s);
}

static void poll_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct qsrc *s = w->data;
    s->more = true;
    claim_next(s);
}

/* ---- acks (ak) ---- */

struct id_job {
    struct qsrc *s;
    size_t n;
    int64_t ids[];
};

static struct id_job *id_job_new(struct qsrc *s, const int64_t *ids, size_t n)
{
    struct id_job *j = sl_malloc(sizeof(*j) + n * sizeof(j->ids[0]));
    j->s = s;
    j->n = n;
    if (ids)
        memcpy(j->ids, ids, n * sizeof(j->ids[0]));
    return j;
}

static void ack_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct id_job *j = priv;
    struct qsrc *s = j->s;
    s->acks_out--;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* Sent again once the connection is back (or at once, after a cancel). */
        for (size_t i = 0; i < j->n; i++)
            sl_pgq_ids_push(&s->pending, j->ids[i]);
        free(j);
        if (res) {
            statement_failed(
                s, s->sql.archive_q ? "archiving handled rows" : "deleting handled rows", res);
            wake_before_sleep(s);
        }
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        struct sl_pgq_slot *slot = sl_pgq_held_find(&s->held, j->ids[i]);
        if (slot && slot->state == SL_PGQ_HANDLED)
            sl_pgq_held_remove(&s->held, slot);
    }
    sl_metric_add(s->m_acked, (double)j->n);
    free(j);
}

static void flush_acks(struct qsrc *s)
{
    if (s->state != QS_LIVE || !s->ak.up || !s->ack_sql || s->pending.n == 0)
        return;
    size_t at = 0;
    while (at < s->pending.n) {
        size_t n = s->pending.n - at < PGQ_ACK_CHUNK ? s->pending.n - at : PGQ_ACK_CHUNK;
        struct id_job *j = id_job_new(s, s->pending.v + at, n);
        sl_buf_reset(&s->scratch);
        sl_pgq_ids_array(j->ids, n, &s->scratch);
        const char *v[1] = {s->scratch.data};
        if (sl_pg_conn_query(&s->ak, s->ack_sql, 1, v, NULL, ack_cb, j) < 0) {
            free(j);
            break;
        }
        s->acks_out++;
        at += n;
    }
    memmove(s->pending.v, s->pending.v + at, (s->pending.n - at) * sizeof(s->pending.v[0]));
    s->pending.n -= at;
}

/* What handled rows allow, once per loop iteration: the deletes of every row handled in it,
 * then the next claim if acks made room for one. */
static void before_sleep(void *arg)
{
    struct qsrc *s = arg;
    flush_acks(s);
    claim_next(s);
}

static void wake_before_sleep(struct qsrc *s)
{
    if (s->closing)
        return;
    sl_presleep_arm(&s->acks);
}

/* ---- renewing the visibility of held rows (ak) ---- */

static void renew_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct id_job *j = priv;
    struct qsrc *s = j->s;
    s->renews_out--;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* Not renewed: tried again at the next tick. */
        for (size_t i = 0; i < j->n; i++) {
            struct sl_pgq_slot *slot = sl_pgq_held_find(&s->held, j->ids[i]);
            if (slot)
                slot->lease_ms = 0;
        }
        free(j);
        if (res)
            statement_failed(s, "renewing the visibility timeout", res);
        return;
    }
    long renewed = strtol(PQcmdTuples(res), NULL, 10);
    if (renewed < (long)j->n)
        sl_debug(s->base.scope,
                 "%zu of %zu rows held were no longer claimed by this process (deleted, or "
                 "claimed by another one after their visibility timeout)",
                 j->n - (size_t)renewed, j->n);
    free(j);
}

static void renew_send(struct qsrc *s, struct id_job *j, struct sl_buf *ids, struct sl_buf *counts)
{
    sl_buf_putc(ids, '}');
    sl_buf_putc(counts, '}');
    const char *v[2] = {ids->data, counts->data};
    if (sl_pg_conn_query(&s->ak, s->sql.heartbeat, 2, v, NULL, renew_cb, j) < 0) {
        for (size_t i = 0; i < j->n; i++) {
            struct sl_pgq_slot *slot = sl_pgq_held_find(&s->held, j->ids[i]);
            if (slot)
                slot->lease_ms = 0;
        }
        free(j);
        return;
    }
    s->renews_out++;
}

static void renew_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct qsrc *s = w->data;
    if (s->state != QS_LIVE || !s->ak.up || s->held.n == 0)
        return;
    int64_t now = sl_mono_ms(), vt = s->cfg.visibility_timeout_ms;
    struct id_job *j = NULL;
    for (size_t i = 0; i < s->held.cap; i++) {
        struct sl_pgq_slot *slot = &s->held.v[i];
        if ((slot->state != SL_PGQ_HELD && slot->state != SL_PGQ_HANDLED) ||
            slot->lease_ms - now > vt / 2)
            continue;
        if (!j) {
            j = id_job_new(s, NULL, PGQ_RENEW_CHUNK);
            j->n = 0;
            sl_buf_reset(&s->scratch);
            sl_buf_reset(&s->scratch2);
            sl_buf_putc(&s->scratch, '{');
            sl_buf_putc(&s->scratch2, '{');
        }
        if (j->n) {
            sl_buf_putc(&s->scratch, ',');
            sl_buf_putc(&s->scratch2, ',');
        }
        sl_buf_put_i64(&s->scratch, slot->id);
        sl_buf_put_i64(&s->scratch2, slot->receive_count);
        j->ids[j->n++] = slot->id;
        slot->lease_ms = now + vt;
        if (j->n == PGQ_RENEW_CHUNK) {
            renew_send(s, j, &s->scratch, &s->scratch2);
            j = NULL;
        }
    }
    if (j)
        renew_send(s, j, &s->scratch, &s->scratch2);
}

/* ---- metrics (ak) ---- */

static void metrics_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct qsrc *s = priv;
    s->metrics_out = false;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        if (res)
            statement_failed(s, "reading the metrics", res);
        return;
    }
    s->visible = num(res, 0, 0, -1);
    sl_metric_set(s->m_lag, (double)s->visible);
    sl_metric_set(s->m_oldest, PQgetisnull(res, 0, 1) ? 0 : strtod(PQgetvalue(res, 0, 1), NULL));
}

static void metrics_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct qsrc *s = w->data;
    if (s->state != QS_LIVE || !s->ak.up || s->metrics_out)
        return;
    if (sl_pg_conn_query(&s->ak, s->sql.metrics, 0, NULL, NULL, metrics_cb, s) == 0)
        s->metrics_out = true;
}

/* ---- connection state ---- */

static void stop_activity(struct qsrc *s)
{
    ev_timer_stop(s->loop, &s->poll_timer);
    ev_timer_stop(s->loop, &s->renew_timer);
    ev_timer_stop(s->loop, &s->metrics_timer);
}

static void source_down(struct qsrc *s, const char *why)
{
    if (s->state == QS_DOWN || s->state == QS_IDLE)
        return;
    /* A failure while setting up (a missing table or column, a refused LISTEN) is a failed
     * connect: one line per distinct reason, and the backoff grows. */
    bool was_up = s->state == QS_LIVE;
    bool in_setup = s->state == QS_SETUP;
    s->state = QS_DOWN;
    char msg[sizeof(s->last_why)];
    snprintf(msg, sizeof(msg), "%s", why);
    /* Pending statements get NULL: claims end, deletes go back to the pending list. */
    sl_pg_conn_close(&s->cl);
    sl_pg_conn_close(&s->ak);
    stop_activity(s);
    s->claiming = s->metrics_out = false;
    sl_metric_set(s->m_connected, 0);
    if (s->closing) {
        snprintf(s->last_why, sizeof(s->last_why), "%s", msg);
        return;
    }
    s->failures++;
    int64_t delay = sl_backoff_delay(&s->backoff, s->failures, &s->rng);
    if (was_up) {
        sl_metric_inc(s->m_reconnects);
        sl_warn(s->base.scope, "connection to %s lost: %s (reconnecting in %lld ms)", s->endpoint,
                msg, (long long)delay);
    } else if (strcmp(msg, s->last_why) != 0) {
        sl_log(in_setup ? SL_LOG_ERROR : SL_LOG_WARN, s->base.scope,
               "cannot %s %s: %s (retrying in %lld ms)", in_setup ? "use" : "connect to",
               s->endpoint, msg, (long long)delay);
    } else {
        sl_debug(s->base.scope, "cannot connect to %s: %s (retrying in %lld ms)", s->endpoint, msg,
                 (long long)delay);
    }
    snprintf(s->last_why, sizeof(s->last_why), "%s", msg);
    ev_timer_set(&s->retry_timer, (double)delay / 1000.0, 0.);
    ev_timer_start(s->loop, &s->retry_timer);
}

static void go_live(struct qsrc *s)
{
    if (!s->ack_sql)
        s->ack_sql = sl_strdup(s->sql.delete);
    if (s->failures > 0 || s->was_live)
        sl_info(s->base.scope, "connected to %s again (table %s)", s->endpoint, s->cfg.table);
    else
        sl_info(s->base.scope, "connected to %s (table %s%s%s%s%s, claims of %lld rows)",
                s->endpoint, s->cfg.table, s->cfg.archive_table ? ", archive " : "",
                s->cfg.archive_table ? s->cfg.archive_table : "",
                s->cfg.notify ? ", notify channel " : ", polling only",
                s->cfg.notify ? s->cfg.channel : "", (long long)s->cfg.claim_size);
    s->state = QS_LIVE;
    s->was_live = true;
    s->last_why[0] = '\0';
    sl_metric_set(s->m_connected, 1);
    double poll = (double)s->cfg.poll_interval_ms / 1000.0;
    ev_timer_set(&s->poll_timer, poll, poll);
    if (!s->stopped)
        ev_timer_start(s->loop, &s->poll_timer);
    int64_t renew_ms = s->cfg.visibility_timeout_ms / 4;
    ev_timer_set(&s->renew_timer, (double)renew_ms / 1000.0, (double)renew_ms / 1000.0);
    ev_timer_start(s->loop, &s->renew_timer);
    if (s->cfg.metrics_interval_ms > 0) {
        ev_timer_set(&s->metrics_timer, 0., (double)s->cfg.metrics_interval_ms / 1000.0);
        ev_timer_start(s->loop, &s->metrics_timer);
    }
    /* Rows held through the outage may have passed half their visibility timeout. */
    renew_timer_cb(s->loop, &s->renew_timer, 0);
    flush_acks(s); /* what was handled while we were away */
    s->more = true;
    claim_next(s);
}

static void setup_step_done(struct qsrc *s)
{
    if (--s->setup_left == 0)
        go_live(s);
}

/* A failed setup step: why names the key to look at. */
static void setup_failed(struct qsrc *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void setup_failed(struct qsrc *s, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    source_down(s, why);
}

static void setup_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct qsrc *s = priv;
    if (!res || s->state != QS_SETUP)
        return;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char e[300];
        setup_failed(s, "setting statement_timeout failed: %s", result_error(res, e, sizeof(e)));
        return;
    }
    setup_step_done(s);
}

static void free_qcols(struct qsrc *s)
{
    for (size_t i = 0; i < s->nqcols; i++)
        free(s->qcols[i]);
    free(s->qcols);
    s->qcols = NULL;
    s->nqcols = 0;
}

/* A columns query failed: the table is missing, or the server refused. */
static void columns_failed(struct qsrc *s, const PGresult *res, const char *key, const char *table)
{
    char e[300];
    if (strcmp(sqlstate(res), PGQ_UNDEFINED_TABLE) == 0)
        setup_failed(s, "%s.%s: table %s does not exist (`sluice init -c %s` creates it)", s->path,
                     key, table, s->file ? s->file : "FILE");
    else
        setup_failed(s, "cannot read the columns of table %s: %s", table,
                     result_error(res, e, sizeof(e)));
}

static void columns_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct qsrc *s = priv;
    if (!res || s->state != QS_SETUP)
        return;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        columns_failed(s, res, "table", s->cfg.table);
        return;
    }
    int n = PQntuples(res);
    free_qcols(s);
    s->qcols = sl_calloc((size_t)n + 1, sizeof(*s->qcols));
    unsigned *types = sl_calloc((size_t)n + 1, sizeof(*types));
    const char **tnames = sl_calloc((size_t)n + 1, sizeof(*tnames));
    for (int i = 0; i < n; i++) {
        s->qcols[i] = sl_strdup(PQgetvalue(res, i, 0));
        types[i] = (unsigned)strtoul(PQgetvalue(res, i, 1), NULL, 10);
        tnames[i] = PQgetvalue(res, i, 2);
    }
    s->nqcols = (size_t)n;
    char msg[400];
    const char *bad = sl_pgq_check_columns(&s->cfg, (const char *const *)s->qcols, types, tnames,
                                           (size_t)n, msg, sizeof(msg));
    free(types);
    free(tnames);
    if (bad) {
        setup_failed(s, "%s.%s", s->path, bad);
        return;
    }
    setup_step_done(s);
}

static void archive_columns_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct qsrc *s = priv;
    if (!res || s->state != QS_SETUP)
        return;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        columns_failed(s, res, "archive_table", s->cfg.archive_table);
        return;
    }
    /* The columns both tables have move; the archive's others take their defaults. */
    int n = PQntuples(res);
    const char **common = sl_calloc(s->nqcols + 1, sizeof(*common));
    size_t ncommon = 0;
    bool has_id = false;
    for (size_t k = 0; k < s->nqcols; k++) {
        for (int i = 0; i < n; i++) {
            if (strcmp(PQgetvalue(res, i, 0), s->qcols[k]) == 0) {
                common[ncommon++] = s->qcols[k];
                has_id |= strcmp(s->qcols[k], s->cfg.columns.id) == 0;
                break;
            }
        }
    }
    if (!has_id) {
        free(common);
        setup_failed(s,
                     "%s.archive_table: table %s has no column \"%s\" (allowed: a table with the "
                     "queue's columns; `sluice init` creates one)",
                     s->path, s->cfg.archive_table, s->cfg.columns.id);
        return;
    }
    free(s->ack_sql);
    s->ack_sql = sl_pgq_sql_archive(&s->sql, common, ncommon);
    free(common);
    setup_step_done(s);
}

static void listen_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct qsrc *s = priv;
    if (!res || s->state != QS_SETUP)
        return;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char e[300];
        setup_failed(s, "LISTEN on channel %s failed: %s", s->cfg.channel,
                     result_error(res, e, sizeof(e)));
        return;
    }
    setup_step_done(s);
}

static void setup_query(struct qsrc *s, struct sl_pg_conn *c, const char *sql, const char *param,
                        sl_pg_result_cb cb)
{
    const char *v[1] = {param};
    if (s->state != QS_SETUP)
        return;
    s->setup_left++;
    if (sl_pg_conn_query(c, sql, param ? 1 : 0, param ? v : NULL, NULL, cb, s) < 0)
        source_down(s, "the connection went away during setup");
}

static void on_connected(struct qsrc *s)
{
    s->state = QS_SETUP;
    s->setup_left = 1; /* held until every step is queued */
    free(s->ack_sql);
    s->ack_sql = NULL;
    setup_query(s, &s->ak, s->sql.setup, NULL, setup_cb);
    setup_query(s, &s->cl, s->sql.setup, NULL, setup_cb);
    setup_query(s, &s->cl, s->sql.columns, s->sql.table_q, columns_cb);
    if (s->sql.archive_q)
        setup_query(s, &s->cl, s->sql.columns, s->sql.archive_q, archive_columns_cb);
    if (s->sql.listen)
        setup_query(s, &s->cl, s->sql.listen, NULL, listen_cb);
    if (s->state == QS_SETUP)
        setup_step_done(s);
}

static void conn_state_cb(struct sl_pg_conn *c, bool up, const char *why, void *arg)
{
    struct qsrc *s = arg;
    if (!up) {
        source_down(s, why ? why : "connection lost");
        return;
    }
    if (s->state == QS_CONNECTING && s->cl.up && s->ak.up)
        on_connected(s);
}

static void source_connect(struct qsrc *s)
{
    char why[300];
    s->state = QS_CONNECTING;
    if (sl_pg_conn_connect(&s->cl, why, sizeof(why)) < 0 ||
        sl_pg_conn_connect(&s->ak, why, sizeof(why)) < 0)
        source_down(s, why);
}

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    source_connect(w->data);
}

/* ---- ops ---- */

static void init_metrics(struct qsrc *s, struct sl_metrics *mx, const char *name)
{
    struct sl_buf l;
    sl_buf_init(&l);
    sl_metrics_label(&l, "source", name);
    s->m_connected = sl_metrics_gauge(mx, "sluice_pgqueue_connected",
                                      "1 while the source is connected to PostgreSQL and its "
                                      "table checked.",
                                      l.data);
    s->m_reconnects = sl_metrics_counter(mx, "sluice_pgqueue_reconnects_total",
                                         "Connections to PostgreSQL lost and made again.", l.data);
    s->m_claimed = sl_metrics_counter(mx, "sluice_pgqueue_claimed_total", "Rows claimed.", l.data);
    s->m_acked = sl_metrics_counter(mx, "sluice_pgqueue_acked_total",
                                    "Rows deleted (or archived) once handled.", l.data);
    s->m_redelivered = sl_metrics_counter(
        mx, "sluice_pgqueue_redelivered_total",
        "Rows claimed with a receive count above 1 (after a crash, a lost connection or a "
        "visibility timeout that ran out).",
        l.data);
    s->m_poison = sl_metrics_counter(mx, "sluice_pgqueue_max_receives_total",
                                     "Rows dead-lettered for exceeding max_receives.", l.data);
    s->m_lag = sl_metrics_gauge(mx, "sluice_pgqueue_lag",
                                "Rows visible and not yet claimed, counted up to 1000000 (1000001: "
                                "more), every metrics_interval.",
                                l.data);
    s->m_oldest =
        sl_metrics_gauge(mx, "sluice_pgqueue_oldest_visible_age_seconds",
                         "Age (from created_at) of the oldest visible row; 0 when none.", l.data);
    s->m_held = sl_metrics_gauge(mx, "sluice_pgqueue_held",
                                 "Rows this process claimed and has not handled yet.", l.data);
    sl_metric_set(s->m_lag, SL_METRIC_UNKNOWN);
    sl_metric_set(s->m_oldest, SL_METRIC_UNKNOWN);
    sl_buf_release(&l);
}

static int pgq_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                      struct sl_source **out, struct sl_err *err)
{
    struct qsrc *s = SL_NEW(struct qsrc);
    int rc = sl_pgq_cfg_bind(env->cfg, sec, &s->cfg, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    sl_source_init(&s->base, &sl_source_pg_queue_ops, sec->name);
    s->loop = env->loop;
    s->path = sl_strdup(sec->path ? sec->path : "sources[]");
    s->file = env->cfg && env->cfg->file ? sl_strdup(env->cfg->file) : NULL;
    s->visible = -1;
    s->backoff.min_ms = PGQ_BACKOFF_MIN_MS;
    s->backoff.max_ms = PGQ_BACKOFF_MAX_MS;
    s->backoff.multiplier = 2.0;
    s->rng = sl_random_u64() | 1;
    sl_pgq_sql_build(&s->cfg, &s->sql);
    sl_pg_conn_endpoint(s->cfg.conn.conninfo, s->endpoint, sizeof(s->endpoint));
    snprintf(s->app_name, sizeof(s->app_name), "sluice %s", sec->name ? sec->name : "");
    struct sl_pg_conn_opts o = {
        .conninfo = s->cfg.conn.conninfo,
        .password = s->cfg.conn.password,
        .application_name = s->app_name,
        .connect_timeout_ms = s->cfg.conn.connect_timeout_ms,
        .command_timeout_ms = s->cfg.conn.command_timeout_ms + PGQ_GRACE_MS,
    };
    sl_pg_conn_init(&s->cl, s->loop, &o, conn_state_cb, s);
    sl_pg_conn_init(&s->ak, s->loop, &o, conn_state_cb, s);
    if (s->cfg.notify)
        sl_pg_conn_on_notify(&s->cl, notify_cb);
    ev_init(&s->retry_timer, retry_timer_cb);
    s->retry_timer.data = s;
    ev_init(&s->poll_timer, poll_timer_cb);
    s->poll_timer.data = s;
    ev_init(&s->renew_timer, renew_timer_cb);
    s->renew_timer.data = s;
    ev_init(&s->metrics_timer, metrics_timer_cb);
    s->metrics_timer.data = s;
    sl_presleep_init(&s->acks, s->loop, before_sleep, s);
    char arn[700];
    snprintf(arn, sizeof(arn), "postgres://%s/%s", s->endpoint, s->cfg.table);
    sl_pgq_pool_init(&s->pool, arn, s->cfg.table, (uint32_t)s->cfg.lanes);
    sl_pgq_held_init(&s->held);
    sl_buf_init(&s->scratch);
    sl_buf_init(&s->scratch2);
    init_metrics(s, env->metrics, sec->name);
    *out = &s->base;
    return 0;
}

static int pgq_start(struct sl_source *base, struct sl_err *err)
{
    struct qsrc *s = (struct qsrc *)base;
    if (s->started)
        return 0;
    s->started = true;
    sl_info(s->base.scope, "connecting to %s (table %s)", s->endpoint, s->cfg.table);
    /* Never fails: an unreachable server (or a table not there yet) is retried in the
     * background. */
    source_connect(s);
    return 0;
}

static void pgq_pause(struct sl_source *base)
{
    ((struct qsrc *)base)->paused = true;
}

static void pgq_resume(struct sl_source *base)
{
    struct qsrc *s = (struct qsrc *)base;
    if (!s->paused)
        return;
    s->paused = false;
    s->more = true;
    wake_before_sleep(s); /* the mapping resumes while it acks: claim once they are all in */
}

static void pgq_ack(struct sl_source *base, const struct sl_record *r)
{
    struct qsrc *s = (struct qsrc *)base;
    int64_t id;
    if (!sl_pgq_record_id(r, &id))
        return;
    struct sl_pgq_slot *slot = sl_pgq_held_find(&s->held, id);
    if (!slot || slot->state != SL_PGQ_HELD) {
        sl_debug(s->base.scope, "ack of row %lld: not held", (long long)id);
        return;
    }
    slot->state = SL_PGQ_HANDLED;
    s->nheld--;
    sl_metric_set(s->m_held, (double)s->nheld);
    sl_pgq_ids_push(&s->pending, id);
    wake_before_sleep(s);
}

static void pgq_stop(struct sl_source *base, sl_source_stopped_cb cb, void *arg)
{
    struct qsrc *s = (struct qsrc *)base;
    if (!s->stopped) {
        s->stopped = true;
        ev_timer_stop(s->loop, &s->poll_timer);
        sl_debug(s->base.scope, "stopped claiming; deletes continue");
    }
    if (s->claiming) {
        /* Its rows are emitted when it comes back: then nothing more will be. */
        s->stop_cb = cb;
        s->stop_arg = arg;
        return;
    }
    if (cb)
        cb(base, arg);
}

static int pgq_close(struct sl_source *base, int64_t deadline_ms)
{
    struct qsrc *s = (struct qsrc *)base;
    s->stop_cb = NULL; /* the mapping is gone */
    ev_timer_stop(s->loop, &s->retry_timer);
    stop_activity(s);
    sl_presleep_disarm(&s->acks);
    s->closing = true;
    flush_acks(s);
    if (s->acks_out > 0)
        sl_pg_conn_drain(&s->ak, deadline_ms);
    int rc = 0;
    if (s->acks_out > 0 || s->pending.n > 0) {
        sl_warn(s->base.scope,
                "closed with %zu handled rows not confirmed deleted (%s): they are delivered "
                "again once their visibility timeout runs out",
                s->pending.n + s->acks_out,
                s->state == QS_LIVE ? "the deadline passed" : s->last_why);
        rc = -ETIMEDOUT;
    }
    sl_pg_conn_close(&s->cl);
    sl_pg_conn_close(&s->ak);
    if (s->nheld > 0)
        sl_info(s->base.scope,
                "%zu rows claimed and not handled stay claimed: delivered again once their "
                "visibility timeout (%lld ms) runs out",
                s->nheld, (long long)s->cfg.visibility_timeout_ms);
    s->state = QS_DOWN;
    return rc;
}

static void pgq_destroy(struct sl_source *base)
{
    if (!base)
        return;
    struct qsrc *s = (struct qsrc *)base;
    s->stop_cb = NULL;
    s->closing = true;
    ev_timer_stop(s->loop, &s->retry_timer);
    stop_activity(s);
    sl_presleep_disarm(&s->acks);
    sl_pg_conn_release(&s->cl);
    sl_pg_conn_release(&s->ak);
    sl_pgq_held_release(&s->held);
    sl_pgq_ids_release(&s->pending);
    sl_pgq_pool_release(&s->pool);
    sl_pgq_sql_release(&s->sql);
    free_qcols(s);
    free(s->ack_sql);
    free(s->order);
    free(s->path);
    free(s->file);
    sl_buf_release(&s->scratch);
    sl_buf_release(&s->scratch2);
    sl_pgq_cfg_release(&s->cfg);
    sl_source_release(&s->base);
    free(s);
}

static void pgq_describe(struct sl_source *base, struct sl_jw *w)
{
    struct qsrc *s = (struct qsrc *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "name", base->name);
    sl_jw_kstr(w, "endpoint", s->endpoint);
    sl_jw_kstr(w, "table", s->cfg.table);
    if (s->cfg.archive_table)
        sl_jw_kstr(w, "archiveTable", s->cfg.archive_table);
    sl_jw_kstr(w, "state", s->stopped ? "stopped" : state_names[s->state]);
    sl_jw_kbool(w, "paused", s->paused);
    if (s->cfg.notify)
        sl_jw_kstr(w, "channel", s->cfg.channel);
    sl_jw_kint(w, "claimSize", s->cfg.claim_size);
    sl_jw_kint(w, "maxInflight", s->cfg.max_inflight);
    sl_jw_kint(w, "held", (int64_t)s->nheld);
    sl_jw_kint(w, "deletesPending", (int64_t)(s->held.n - s->nheld));
    sl_jw_key(w, "visible");
    if (s->visible < 0)
        sl_jw_null(w);
    else
        sl_jw_int(w, s->visible);
    sl_jw_obj_close(w);
}

static int64_t pgq_backlog(struct sl_source *base)
{
    return ((struct qsrc *)base)->visible;
}

static bool pgq_ready(struct sl_source *base, char *why, size_t n)
{
    struct qsrc *s = (struct qsrc *)base;
    if (s->state == QS_LIVE || s->state == QS_IDLE)
        return true;
    snprintf(why, n, "%s %s%s%s", state_names[s->state], s->endpoint, s->last_why[0] ? ": " : "",
             s->last_why);
    return false;
}

/* "30 seconds", "1.5 seconds": Lambda's wording. */
static void seconds(int64_t ms, char *out, size_t cap)
{
    snprintf(out, cap, "%g seconds", (double)ms / 1000.0);
}

static int pgq_check_mapping(struct sl_source *base, const struct sl_config *cfg,
                             const struct sl_cfg_mapping *mc, int64_t function_timeout_ms,
                             struct sl_err *err)
{
    struct qsrc *s = (struct qsrc *)base;
    if (function_timeout_ms <= 0 || s->cfg.visibility_timeout_ms >= function_timeout_ms)
        return 0;
    char vt[48], ft[48], at_least[48];
    seconds(s->cfg.visibility_timeout_ms, vt, sizeof(vt));
    seconds(function_timeout_ms, ft, sizeof(ft));
    sl_duration_fmt(function_timeout_ms, at_least, sizeof(at_least));
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                      "%s: %s.visibility_timeout: Queue visibility timeout: %s is less than "
                      "Function timeout: %s (function \"%s\" of %s; allowed: at least %s)",
                      cfg && cfg->file ? cfg->file : "config", s->path, vt, ft,
                      mc->function ? mc->function : "", mc->path ? mc->path : "its mapping",
                      at_least);
}

/* The table's columns against the mapping, after `sluice init` ran (blocking). */
static int verify_table(const struct sl_pgq_cfg *c, const struct sl_pgq_sql *q,
                        const struct sl_config *cfg, const char *path, struct sl_err *err)
{
    PGconn *pq = sl_pg_connect_blocking(&c->conn, "sluice init", err);
    if (!pq)
        return -EIO;
    const char *v[1] = {q->table_q};
    PGresult *res = PQexecParams(pq, q->columns, 1, NULL, v, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char e[300];
        rc = sl_err_set(err, SL_ERR_PERMANENT, -EIO, "cannot read the columns of table %s: %s",
                        c->table, result_error(res, e, sizeof(e)));
    } else {
        int n = PQntuples(res);
        const char **names = sl_calloc((size_t)n + 1, sizeof(*names));
        const char **tnames = sl_calloc((size_t)n + 1, sizeof(*tnames));
        unsigned *types = sl_calloc((size_t)n + 1, sizeof(*types));
        for (int i = 0; i < n; i++) {
            names[i] = PQgetvalue(res, i, 0);
            types[i] = (unsigned)strtoul(PQgetvalue(res, i, 1), NULL, 10);
            tnames[i] = PQgetvalue(res, i, 2);
        }
        char msg[400];
        const char *bad =
            sl_pgq_check_columns(c, names, types, tnames, (size_t)n, msg, sizeof(msg));
        if (bad)
            rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%s: %s.%s (the table existed before: `sluice init` does not change "
                            "a table)",
                            cfg && cfg->file ? cfg->file : "config", path, bad);
        free(names);
        free(tnames);
        free(types);
    }
    PQclear(res);
    PQfinish(pq);
    return rc;
}

static int pgq_init(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                    struct sl_buf *sql, struct sl_err *err)
{
    struct sl_pgq_cfg c;
    int rc = sl_pgq_cfg_bind(cfg, sec, &c, err);
    if (rc < 0)
        return rc;
    sl_pgq_init_sql(&c, sql);
    if (apply) {
        rc = sl_pg_exec_script(&c.conn, sql->data, err);
        if (rc == 0) {
            struct sl_pgq_sql q;
            sl_pgq_sql_build(&c, &q);
            rc = verify_table(&c, &q, cfg, sec->path ? sec->path : "sources[]", err);
            sl_pgq_sql_release(&q);
        }
    }
    sl_pgq_cfg_release(&c);
    return rc;
}

const struct sl_source_ops sl_source_pg_queue_ops = {
    .type = "postgres-queue",
    .props = &sl_pgq_source_table,
    .create = pgq_create,
    .start = pgq_start,
    .pause = pgq_pause,
    .resume = pgq_resume,
    .ack = pgq_ack,
    .stop = pgq_stop,
    .destroy = pgq_destroy,
    .describe = pgq_describe,
    .encode = sl_pgq_encode,
    .backlog = pgq_backlog,
    .filter_view = sl_pgq_filter_view,
    .close = pgq_close,
    .ready = pgq_ready,
    .init = pgq_init,
    .check_mapping = pgq_check_mapping,
};
