/* The postgres-cdc source: one walsender connection (replication=database) per source.
 *
 * States: DOWN (waiting to reconnect) -> CONNECTING -> LOCKING (pg_try_advisory_lock on a key
 * derived from the slot name, on the replication connection itself, so the lock goes when the
 * connection does) -> STANDBY (another process holds it: asked again every standby_poll) or
 * SETUP (the publication and the slot, created when missing and `create` allows) ->
 * STREAMING (START_REPLICATION ... LOGICAL, copy mode).
 *
 * A transaction's changes are rendered as they arrive into the transaction's buffer and
 * emitted together at its COMMIT (one lane: the slot), the first record carrying the group
 * size so the mapping keeps the transaction in one batch. Transactions wait in a FIFO until
 * all their records are acked (delivered, filtered or dead-lettered); the confirmed position
 * (the flush and apply LSN of the standby status update,
 * https://www.postgresql.org/docs/15/protocol-replication.html) then moves to the end LSN of
 * the last transaction of the FIFO's fully acked prefix, never further. A lost connection is
 * made again with backoff; START_REPLICATION resumes after the last transaction emitted (the
 * server starts at the slot's confirmed_flush_lsn when that is later). */
#include "sources/postgres/cdc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/postgres/conn.h"
#include "clients/postgres/sync.h"
#include "core/backoff.h"
#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/postgres/cdc_int.h"

#define CDC_BACKOFF_MIN_MS  100
#define CDC_BACKOFF_MAX_MS  5000
#define CDC_RECORD_OVERHEAD 160 /* the event's fields around the dynamodb object */

enum cstate {
    CS_IDLE = 0, /* created, not started */
    CS_DOWN,     /* waiting to reconnect */
    CS_CONNECTING,
    CS_LOCKING,
    CS_STANDBY,
    CS_SETUP,
    CS_STREAMING,
};

static const char *const state_names[] = {"created", "disconnected", "connecting", "locking",
                                          "standby", "setting up",   "streaming"};

struct csrc {
    struct sl_source base;
    struct sl_pgcdc_cfg cfg;
    struct ev_loop *loop;
    struct sl_pg_conn conn;
    enum cstate state;
    bool started, paused, stopped;
    bool was_streaming;
    bool standby_logged;
    bool want_reply; /* a keepalive asked for a status update */
    uint32_t failures;
    struct sl_backoff backoff;
    uint64_t rng;
    char endpoint[256];
    char last_why[400];
    char lock_sql[96];
    char app[128]; /* application_name (pg_stat_replication shows it) */
    struct sl_metrics *mx;
    ev_timer retry_timer;  /* reconnect, or the next lock attempt of a standby */
    ev_timer status_timer; /* a status update every status_interval */
    ev_prepare ack_prepare;
    ev_idle ack_idle;

    struct sl_pgcdc_shared sh;
    struct sl_pgcdc_pool pool;
    struct sl_pgcdc_rel *rels; /* by relid, the latest Relation message of each */
    struct sl_pgo_msg *msg;
    struct sl_buf scratch;

    /* The transaction being received. */
    struct sl_pgcdc_txn *cur;
    uint64_t last_lsn;
    uint64_t same_lsn; /* changes so far at last_lsn (a multi-insert shares one WAL record) */

    /* Emitted, not yet confirmed, in commit order. */
    struct sl_pgcdc_txn *fifo_head, *fifo_tail;
    size_t fifo_len;
    uint64_t confirmed;      /* flush/apply position: everything before it is handled */
    uint64_t sent_confirmed; /* the last one the server was told */
    uint64_t received;       /* write position: the latest WAL position received */
    uint64_t emitted_end;    /* the end LSN of the last transaction emitted */
    uint64_t server_end;     /* the server's latest end of WAL */
    int64_t newest_commit_ms;
    uint64_t seq;
    size_t held; /* records emitted, not acked */

    struct sl_metric *m_connected, *m_standby, *m_reconnects, *m_changes, *m_txns;
};

static void source_down(struct csrc *s, const char *why);
static void drain(struct csrc *s);

/* ---- status updates ---- */

static void send_status(struct csrc *s, bool reply)
{
    if (s->state != CS_STREAMING || !s->conn.pq)
        return;
    uint8_t msg[SL_PGO_STATUS_LEN];
    uint64_t write = s->received > s->confirmed ? s->received : s->confirmed;
    sl_pgo_status(msg, write, s->confirmed, s->confirmed, sl_now_ms() * 1000, reply);
    if (PQputCopyData(s->conn.pq, (const char *)msg, (int)sizeof(msg)) != 1) {
        char e[400], why[450];
        snprintf(why, sizeof(why), "sending a status update: %s",
                 sl_pg_conn_error(&s->conn, e, sizeof(e)));
        source_down(s, why);
        return;
    }
    s->sent_confirmed = s->confirmed;
    if (sl_pg_conn_flush(&s->conn) != 0)
        return; /* the state callback reported it */
    ev_timer_again(s->loop, &s->status_timer);
}

static void before_sleep(struct csrc *s)
{
    ev_prepare_stop(s->loop, &s->ack_prepare);
    ev_idle_stop(s->loop, &s->ack_idle);
    if (s->state != CS_STREAMING)
        return;
    if (s->want_reply || s->confirmed != s->sent_confirmed) {
        s->want_reply = false;
        send_status(s, false);
    }
    if (s->state == CS_STREAMING && !s->paused && !s->stopped)
        drain(s);
}

/* Runs before_sleep() before the loop next sleeps: the prepare watcher when the loop is about
 * to block, the idle watcher so that it does not block first when this was asked from inside
 * another prepare callback (the mapping acks from its own). */
static void wake_before_sleep(struct csrc *s)
{
    ev_prepare_start(s->loop, &s->ack_prepare);
    ev_idle_start(s->loop, &s->ack_idle);
}

static void ack_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    before_sleep(w->data);
}

static void ack_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    before_sleep(w->data);
}

static void status_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    send_status(w->data, false);
}

/* ---- confirmation ---- */

/* Moves the confirmed position over the fully acked prefix of the FIFO. */
static void advance(struct csrc *s)
{
    uint64_t before = s->confirmed;
    while (s->fifo_head && s->fifo_head->pending == 0) {
        struct sl_pgcdc_txn *t = s->fifo_head;
        s->fifo_head = t->next;
        if (!s->fifo_head)
            s->fifo_tail = NULL;
        s->fifo_len--;
        if (t->end_lsn > s->confirmed)
            s->confirmed = t->end_lsn; /* 0 for a part of a transaction cut before its COMMIT */
        sl_pgcdc_txn_unref(t);
    }
    if (s->confirmed != before)
        wake_before_sleep(s);
}

/* ---- receiving ---- */

static struct sl_pgcdc_rel *rel_find(struct csrc *s, uint32_t relid)
{
    for (struct sl_pgcdc_rel *r = s->rels; r; r = r->next) {
        if (r->relid == relid)
            return r;
    }
    return NULL;
}

static void rel_update(struct csrc *s, const struct sl_pgo_msg *m)
{
    struct sl_pgcdc_rel **pp = &s->rels;
    while (*pp && (*pp)->relid != m->relid)
        pp = &(*pp)->next;
    if (*pp) {
        struct sl_pgcdc_rel *old = *pp;
        *pp = old->next;
        sl_pgcdc_rel_retire(old);
    }
    struct sl_pgcdc_rel *rel = sl_malloc(sizeof(*rel));
    sl_pgcdc_rel_init(rel, &s->sh, m, s->endpoint);
    rel->next = s->rels;
    s->rels = rel;
}

/* Empties the cache; relations that records still point to live on until their last one. */
static void rels_retire(struct csrc *s)
{
    struct sl_pgcdc_rel *r = s->rels;
    s->rels = NULL;
    while (r) {
        struct sl_pgcdc_rel *next = r->next;
        sl_pgcdc_rel_retire(r);
        r = next;
    }
}

/* Gives up the transaction being received (the connection went): its records were never
 * emitted, and it is received again after the reconnect. */
static void txn_discard(struct csrc *s)
{
    struct sl_pgcdc_txn *t = s->cur;
    if (!t)
        return;
    s->cur = NULL;
    struct sl_pgcdc_record *cr = t->head;
    while (cr) {
        struct sl_pgcdc_record *next = cr->next_free;
        cr->base.ops->release(&cr->base);
        cr = next;
    }
    sl_pgcdc_txn_unref(t);
}

/* Emits the records of the current transaction as one group and queues it for confirmation.
 * final: its COMMIT came (end_lsn known); otherwise it grew past max_transaction_bytes and the
 * rest of it continues in a new part. */
static void txn_emit(struct csrc *s, uint64_t end_lsn, bool final)
{
    struct sl_pgcdc_txn *t = s->cur;
    s->cur = NULL;
    if (!final) {
        struct sl_pgcdc_txn *rest = sl_pgcdc_txn_take(&s->pool);
        rest->xid = t->xid;
        rest->commit_ms = t->commit_ms;
        rest->commit_lsn = t->commit_lsn;
        s->cur = rest;
    }
    t->end_lsn = final ? end_lsn : 0;
    t->pending = t->nrecords;
    struct sl_pgcdc_record *cr = t->head;
    t->head = t->tail = NULL;
    if (cr)
        cr->base.group = (uint32_t)t->nrecords;
    /* The FIFO holds the reference the source had. */
    if (s->fifo_tail)
        s->fifo_tail->next = t;
    else
        s->fifo_head = t;
    s->fifo_tail = t;
    t->next = NULL;
    s->fifo_len++;
    if (final)
        s->emitted_end = end_lsn;
    s->held += t->nrecords;
    sl_metric_inc(s->m_txns);
    sl_metric_add(s->m_changes, (double)t->nrecords);
    while (cr) {
        struct sl_pgcdc_record *next = cr->next_free; /* read before emit hands it over */
        cr->next_free = NULL;
        cr->base.body = (const unsigned char *)t->buf.data + cr->body_off;
        cr->base.seq = ++s->seq;
        sl_source_emit(&s->base, &cr->base);
        cr = next;
    }
    advance(s); /* an empty transaction (or one filtered at once) confirms now */
}

static void on_change(struct csrc *s, const struct sl_pgo_msg *m, uint64_t lsn)
{
    struct sl_pgcdc_rel *rel = rel_find(s, m->relid);
    if (!rel) {
        source_down(s, "a change of a table no Relation message described (protocol error)");
        return;
    }
    if (lsn == s->last_lsn) {
        s->same_lsn++;
    } else {
        s->last_lsn = lsn;
        s->same_lsn = 0;
    }
    struct sl_pgcdc_txn *t = s->cur;
    struct sl_pgcdc_record *cr = sl_pgcdc_record_take(&s->pool, t);
    cr->rel = rel;
    rel->refs++;
    cr->lsn = lsn;
    cr->seqno = lsn + s->same_lsn;
    cr->body_off = (uint32_t)t->buf.len;
    cr->event =
        (uint8_t)sl_pgcdc_render(rel, m, cr->seqno, t->commit_ms / 1000, &s->scratch, &t->buf);
    cr->body_len = (uint32_t)(t->buf.len - cr->body_off);
    cr->base.body_len = cr->body_len;
    cr->base.time_ms = t->commit_ms;
    cr->base.bytes = cr->body_len + strlen(rel->arn_json) + CDC_RECORD_OVERHEAD;
    if (t->buf.len >= s->cfg.max_transaction_bytes) {
        sl_info(s->base.scope,
                "transaction %u grew past max_transaction_bytes (%llu bytes): emitting its "
                "first %zu changes before its COMMIT",
                t->xid, (unsigned long long)s->cfg.max_transaction_bytes, t->nrecords);
        txn_emit(s, 0, false);
    }
}

static void on_message(struct csrc *s, const struct sl_pgo_frame *f)
{
    struct sl_pgo_msg *m = s->msg;
    int rc = sl_pgo_decode(f->data, f->len, m);
    char why[300];
    if (rc == -ENOTSUP) {
        sl_debug(s->base.scope, "skipping a pgoutput message of kind '%c'", m->kind);
        return;
    }
    if (rc < 0) {
        snprintf(why, sizeof(why), "undecodable pgoutput message at %llx: %s",
                 (unsigned long long)f->wal_start, m->error);
        source_down(s, why);
        return;
    }
    switch (m->kind) {
    case 'B':
        if (s->cur) {
            source_down(s, "BEGIN inside a transaction (protocol error)");
            return;
        }
        s->cur = sl_pgcdc_txn_take(&s->pool);
        /* Changes share an LSN only within a transaction: numbering them from each BEGIN
         * gives a change the same SequenceNumber when it is delivered again. */
        s->last_lsn = 0;
        s->same_lsn = 0;
        s->cur->xid = m->xid;
        s->cur->commit_lsn = m->lsn;
        s->cur->commit_ms = (m->time_us + SL_PGO_EPOCH_US) / 1000;
        s->newest_commit_ms = s->cur->commit_ms;
        return;
    case 'C':
        if (!s->cur) {
            source_down(s, "COMMIT outside a transaction (protocol error)");
            return;
        }
        s->cur->commit_lsn = m->lsn;
        txn_emit(s, m->end_lsn, true);
        return;
    case 'R':
        rel_update(s, m);
        return;
    case 'I':
    case 'U':
    case 'D':
        if (!s->cur) {
            source_down(s, "a change outside a transaction (protocol error)");
            return;
        }
        on_change(s, m, f->wal_start);
        return;
    case 'T':
        sl_info(s->base.scope,
                "TRUNCATE of %u tables in transaction %u: not delivered (no "
                "row changes to report)",
                m->nrels, s->cur ? s->cur->xid : 0);
        return;
    default: /* 'Y' type, 'O' origin: nothing to deliver */
        return;
    }
}

static void on_frame(struct csrc *s, const uint8_t *buf, size_t len)
{
    struct sl_pgo_frame f;
    if (sl_pgo_frame_parse(buf, len, &f) < 0) {
        char why[100];
        snprintf(why, sizeof(why), "unknown replication message kind 0x%02x", (unsigned)f.kind);
        source_down(s, why);
        return;
    }
    if (f.wal_end > s->server_end)
        s->server_end = f.wal_end;
    if (f.kind == 'k') {
        /* Nothing received is unconfirmed: what the server skipped up to here (WAL of other
         * tables) needs no delivery, and the slot may move past it (as pg_recvlogical does). */
        if (!s->cur && !s->fifo_head && f.wal_end > s->confirmed) {
            s->confirmed = f.wal_end;
            wake_before_sleep(s);
        }
        if (f.wal_end > s->received && !s->cur)
            s->received = f.wal_end;
        if (f.reply)
            s->want_reply = true;
        return;
    }
    if (f.wal_start > s->received)
        s->received = f.wal_start;
    on_message(s, &f);
}

/* Reads what libpq holds, frame by frame, until it holds no more, the mapping pauses the
 * source, or the connection goes. */
static void drain(struct csrc *s)
{
    while (s->state == CS_STREAMING && !s->paused && !s->stopped) {
        char *buf = NULL;
        int n = PQgetCopyData(s->conn.pq, &buf, 1);
        if (n > 0) {
            on_frame(s, (const uint8_t *)buf, (size_t)n);
            PQfreemem(buf);
            continue;
        }
        if (n == 0)
            break;
        char e[400], why[450];
        if (n == -1) {
            PGresult *res = PQgetResult(s->conn.pq);
            snprintf(why, sizeof(why), "the server ended the stream: %s",
                     res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : "no reason");
            PQclear(res);
            for (char *p = why; *p; p++)
                if (*p == '\n')
                    *p = ' ';
        } else {
            snprintf(why, sizeof(why), "reading the stream: %s",
                     sl_pg_conn_error(&s->conn, e, sizeof(e)));
        }
        source_down(s, why);
        return;
    }
    if (s->want_reply && s->state == CS_STREAMING) {
        s->want_reply = false;
        send_status(s, false);
    }
}

static void copy_cb(struct sl_pg_conn *c, void *arg)
{
    (void)c;
    drain(arg);
}

/* ---- connection and setup ---- */

static void source_connect(struct csrc *s);

static void arm_retry(struct csrc *s, int64_t ms)
{
    ev_timer_stop(s->loop, &s->retry_timer);
    ev_timer_set(&s->retry_timer, (double)ms / 1000.0, 0.);
    ev_timer_start(s->loop, &s->retry_timer);
}

static void source_down(struct csrc *s, const char *why)
{
    if (s->state == CS_DOWN || s->state == CS_IDLE)
        return;
    bool was_streaming = s->state == CS_STREAMING;
    s->state = CS_DOWN;
    txn_discard(s);
    rels_retire(s); /* the server describes every table again on the next stream */
    s->want_reply = false;
    ev_timer_stop(s->loop, &s->status_timer);
    sl_pg_conn_close(&s->conn);
    sl_metric_set(s->m_connected, 0);
    sl_metric_set(s->m_standby, 0);
    s->failures++;
    int64_t delay = sl_backoff_delay(&s->backoff, s->failures, &s->rng);
    if (was_streaming) {
        sl_metric_inc(s->m_reconnects);
        sl_warn(s->base.scope, "replication from %s lost: %s (reconnecting in %lld ms)",
                s->endpoint, why, (long long)delay);
    } else if (strcmp(why, s->last_why) != 0) {
        sl_error(s->base.scope, "cannot stream slot %s of %s: %s (retrying in %lld ms)",
                 s->cfg.slot, s->endpoint, why, (long long)delay);
    } else {
        sl_debug(s->base.scope, "cannot stream slot %s of %s: %s (retrying in %lld ms)",
                 s->cfg.slot, s->endpoint, why, (long long)delay);
    }
    snprintf(s->last_why, sizeof(s->last_why), "%s", why);
    if (!s->stopped || s->fifo_head)
        arm_retry(s, delay);
}

/* A statement's failure as one line: its message, or that the connection went (NULL res, the
 * state callback then reports it). */
static bool res_failed(struct csrc *s, PGresult *res, ExecStatusType want, const char *what)
{
    if (!res)
        return true;
    if (PQresultStatus(res) == want)
        return false;
    char why[500];
    snprintf(why, sizeof(why), "%s: %s", what, PQresultErrorMessage(res));
    for (char *p = why; *p; p++)
        if (*p == '\n')
            *p = ' ';
    size_t n = strlen(why);
    while (n > 0 && why[n - 1] == ' ')
        why[--n] = '\0';
    source_down(s, why);
    return true;
}

static void query(struct csrc *s, const char *sql, sl_pg_result_cb cb)
{
    if (sl_pg_conn_query(&s->conn, sql, 0, NULL, NULL, cb, s) < 0)
        source_down(s, "the connection went away");
}

static void setup_check(struct csrc *s);

static void start_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct csrc *s = priv;
    if (s->state != CS_SETUP || res_failed(s, res, PGRES_COPY_BOTH, "START_REPLICATION"))
        return;
    s->state = CS_STREAMING;
    s->failures = 0;
    s->last_why[0] = '\0';
    sl_metric_set(s->m_connected, 1);
    char lsn[18];
    sl_pgo_lsn_fmt(s->emitted_end, lsn);
    sl_info(s->base.scope, "%s slot %s (publication %s) of %s%s%s",
            s->was_streaming ? "streaming again from" : "streaming from", s->cfg.slot,
            s->cfg.publication, s->endpoint, s->emitted_end ? " after " : "",
            s->emitted_end ? lsn : "");
    s->was_streaming = true;
    sl_pg_conn_on_copy(&s->conn, copy_cb);
    sl_pg_conn_hold_reads(&s->conn, s->paused || s->stopped);
    ev_timer_set(&s->status_timer, 0., (double)s->cfg.status_interval_ms / 1000.0);
    ev_timer_again(s->loop, &s->status_timer);
    s->sent_confirmed = 0;
    wake_before_sleep(s); /* the first status update; and what libpq already holds */
}

static void start_streaming(struct csrc *s)
{
    char sql[300], lsn[18];
    sl_pgo_lsn_fmt(s->emitted_end, lsn);
    snprintf(sql, sizeof(sql),
             "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', publication_names "
             "'\"%s\"')",
             s->cfg.slot, lsn, s->cfg.publication);
    query(s, sql, start_cb);
}

static void created_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct csrc *s = priv;
    if (s->state != CS_SETUP)
        return;
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        res_failed(s, res, PGRES_COMMAND_OK, "creating the publication or the slot");
        return;
    }
    if (res)
        setup_check(s);
}

static void setup_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct csrc *s = priv;
    if (s->state != CS_SETUP || res_failed(s, res, PGRES_TUPLES_OK, "checking the slot"))
        return;
    bool pub = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    bool slot = PQntuples(res) == 1 && !PQgetisnull(res, 0, 1);
    char why[400], sql[600];
    if (!pub) {
        if (!s->cfg.create) {
            snprintf(why, sizeof(why),
                     "publication \"%s\" does not exist (create: false; create it, or run "
                     "`sluice init`)",
                     s->cfg.publication);
            source_down(s, why);
            return;
        }
        struct sl_buf b;
        sl_buf_init(&b);
        sl_pgcdc_init_sql(&s->cfg, &b);
        sl_info(s->base.scope, "creating publication %s", s->cfg.publication);
        query(s, b.data, created_cb);
        sl_buf_release(&b);
        return;
    }
    if (!slot) {
        if (!s->cfg.create) {
            snprintf(why, sizeof(why),
                     "replication slot \"%s\" does not exist (create: false; create it with "
                     "pg_create_logical_replication_slot('%s', 'pgoutput'))",
                     s->cfg.slot, s->cfg.slot);
            source_down(s, why);
            return;
        }
        snprintf(sql, sizeof(sql),
                 "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput (SNAPSHOT 'nothing')",
                 s->cfg.slot);
        sl_info(s->base.scope, "creating replication slot %s", s->cfg.slot);
        query(s, sql, created_cb);
        return;
    }
    uint64_t slot_confirmed = 0;
    if (sl_pgo_lsn_parse(PQgetvalue(res, 0, 4), &slot_confirmed) == 0) {
        /* Never report less than the slot has: the flush position must not move back. */
        if (slot_confirmed > s->confirmed)
            s->confirmed = slot_confirmed;
        if (slot_confirmed > s->received)
            s->received = slot_confirmed;
    }
    const char *plugin = PQgetvalue(res, 0, 1);
    if (strcmp(plugin, "pgoutput") != 0) {
        snprintf(why, sizeof(why),
                 "replication slot \"%s\" decodes with %s (allowed: a slot of pgoutput)",
                 s->cfg.slot, plugin);
        source_down(s, why);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        snprintf(why, sizeof(why),
                 "replication slot \"%s\" belongs to database %s, not to the one of conninfo",
                 s->cfg.slot, PQgetvalue(res, 0, 3));
        source_down(s, why);
        return;
    }
    start_streaming(s);
}

static void setup_check(struct csrc *s)
{
    char sql[800];
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM pg_publication WHERE pubname = '%s'), "
             "(SELECT plugin FROM pg_replication_slots WHERE slot_name = '%s'), "
             "(SELECT database = current_database() FROM pg_replication_slots WHERE slot_name "
             "= '%s'), (SELECT database FROM pg_replication_slots WHERE slot_name = '%s'), "
             "(SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
             "'%s')",
             s->cfg.publication, s->cfg.slot, s->cfg.slot, s->cfg.slot, s->cfg.slot);
    query(s, sql, setup_cb);
}

static void lock_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct csrc *s = priv;
    if ((s->state != CS_LOCKING && s->state != CS_STANDBY) ||
        res_failed(s, res, PGRES_TUPLES_OK, "taking the reader lock"))
        return;
    bool got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if (!got) {
        if (s->state != CS_STANDBY || !s->standby_logged)
            sl_info(s->base.scope,
                    "standing by: another process reads slot %s (holds its advisory lock); "
                    "trying again every %lld ms",
                    s->cfg.slot, (long long)s->cfg.standby_poll_ms);
        s->standby_logged = true;
        s->state = CS_STANDBY;
        s->failures = 0;
        s->last_why[0] = '\0';
        sl_metric_set(s->m_standby, 1);
        arm_retry(s, s->cfg.standby_poll_ms);
        return;
    }
    if (s->state == CS_STANDBY)
        sl_info(s->base.scope, "took over slot %s (its reader lock came free)", s->cfg.slot);
    s->standby_logged = false;
    sl_metric_set(s->m_standby, 0);
    s->state = CS_SETUP;
    setup_check(s);
}

static void conn_state_cb(struct sl_pg_conn *c, bool up, const char *why, void *arg)
{
    (void)c;
    struct csrc *s = arg;
    if (!up) {
        source_down(s, why ? why : "connection lost");
        return;
    }
    if (s->state != CS_CONNECTING)
        return;
    s->state = CS_LOCKING;
    query(s, s->lock_sql, lock_cb);
}

static void source_connect(struct csrc *s)
{
    char why[400];
    s->state = CS_CONNECTING;
    if (sl_pg_conn_connect(&s->conn, why, sizeof(why)) < 0)
        source_down(s, why);
}

static void retry_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct csrc *s = w->data;
    if (s->state == CS_STANDBY) {
        if (s->stopped)
            return;
        query(s, s->lock_sql, lock_cb);
        return;
    }
    if (s->state == CS_DOWN)
        source_connect(s);
}

/* ---- metrics ---- */

static double lag_bytes_read(void *arg)
{
    struct csrc *s = arg;
    if (s->state != CS_STREAMING)
        return SL_METRIC_UNKNOWN;
    return s->server_end > s->confirmed ? (double)(s->server_end - s->confirmed) : 0;
}

static double lag_seconds_read(void *arg)
{
    struct csrc *s = arg;
    if (!s->fifo_head && !s->cur)
        return 0;
    int64_t d = sl_now_ms() - s->newest_commit_ms;
    return d > 0 ? (double)d / 1000.0 : 0;
}

static double oldest_read(void *arg)
{
    struct csrc *s = arg;
    const struct sl_pgcdc_txn *t = s->fifo_head ? s->fifo_head : s->cur;
    if (!t)
        return 0;
    int64_t d = sl_now_ms() - t->commit_ms;
    return d > 0 ? (double)d / 1000.0 : 0;
}

static double confirmed_read(void *arg)
{
    struct csrc *s = arg;
    return s->confirmed ? (double)s->confirmed : SL_METRIC_UNKNOWN;
}

static void make_metrics(struct csrc *s, struct sl_metrics *mx)
{
    struct sl_buf l;
    sl_buf_init(&l);
    sl_source_labels(&s->base, &l);
    sl_metrics_label(&l, "slot", s->cfg.slot);
    sl_metrics_gauge_fn(mx, "sluice_pgcdc_lag_bytes",
                        "WAL bytes between the server's position and the slot's confirmed one "
                        "(left out while not streaming).",
                        l.data, lag_bytes_read, s);
    sl_metrics_gauge_fn(mx, "sluice_pgcdc_lag_seconds",
                        "Time since the commit of the newest transaction received, while some "
                        "are not confirmed yet (0 when caught up).",
                        l.data, lag_seconds_read, s);
    sl_metrics_gauge_fn(mx, "sluice_pgcdc_oldest_unconfirmed_age_seconds",
                        "Age (since its commit) of the oldest change not confirmed to the slot.",
                        l.data, oldest_read, s);
    sl_metrics_gauge_fn(mx, "sluice_pgcdc_confirmed_lsn",
                        "The position confirmed to the slot (flush LSN of the status updates), "
                        "as a number.",
                        l.data, confirmed_read, s);
    s->m_connected = sl_metrics_gauge(mx, "sluice_pgcdc_streaming",
                                      "1 while this process streams the slot.", l.data);
    s->m_standby =
        sl_metrics_gauge(mx, "sluice_pgcdc_standby",
                         "1 while another process holds the slot's reader lock.", l.data);
    s->m_reconnects = sl_metrics_counter(mx, "sluice_pgcdc_reconnects_total",
                                         "Replication streams lost and started again.", l.data);
    s->m_changes = sl_metrics_counter(mx, "sluice_pgcdc_changes_total",
                                      "Row changes emitted (inserts, updates, deletes).", l.data);
    s->m_txns = sl_metrics_counter(mx, "sluice_pgcdc_transactions_total",
                                   "Transactions (or parts of big ones) emitted.", l.data);
    sl_buf_release(&l);
}

/* ---- ops ---- */

static int cdc_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                      struct sl_source **out, struct sl_err *err)
{
    struct csrc *s = SL_NEW(struct csrc);
    int rc = sl_pgcdc_cfg_bind(env->cfg, sec, &s->cfg, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    sl_source_init_reader(&s->base, &sl_source_pgcdc_ops, sec->name, env);
    s->loop = env->loop;
    s->backoff.min_ms = CDC_BACKOFF_MIN_MS;
    s->backoff.max_ms = CDC_BACKOFF_MAX_MS;
    s->backoff.multiplier = 2.0;
    s->rng = sl_random_u64() | 1;
    sl_pg_conn_endpoint(s->cfg.conn.conninfo, s->endpoint, sizeof(s->endpoint));
    snprintf(s->lock_sql, sizeof(s->lock_sql), "SELECT pg_try_advisory_lock(%lld)",
             (long long)sl_pgcdc_lock_key(s->cfg.slot));
    snprintf(s->app, sizeof(s->app), "sluice-cdc-%s", sec->name ? sec->name : "");
    s->mx = env->metrics;
    struct sl_pg_conn_opts o = {
        .conninfo = s->cfg.conn.conninfo,
        .password = s->cfg.conn.password,
        .application_name = s->app,
        .replication = true,
        .connect_timeout_ms = s->cfg.conn.connect_timeout_ms,
        .command_timeout_ms = s->cfg.conn.command_timeout_ms,
    };
    sl_pg_conn_init(&s->conn, s->loop, &o, conn_state_cb, s);
    ev_init(&s->retry_timer, retry_timer_cb);
    s->retry_timer.data = s;
    ev_init(&s->status_timer, status_timer_cb);
    s->status_timer.data = s;
    ev_prepare_init(&s->ack_prepare, ack_prepare_cb);
    s->ack_prepare.data = s;
    ev_idle_init(&s->ack_idle, ack_idle_cb);
    s->ack_idle.data = s;
    s->sh.slot = s->cfg.slot;
    s->sh.slot_json = sl_json_text(s->cfg.slot);
    s->sh.pub_json = sl_json_text(s->cfg.publication);
    s->sh.region_json = sl_json_text(s->cfg.region ? s->cfg.region : "");
    s->msg = sl_malloc(sizeof(*s->msg));
    sl_buf_init(&s->scratch);
    make_metrics(s, env->metrics);
    *out = &s->base;
    return 0;
}

static int cdc_start(struct sl_source *base, struct sl_err *err)
{
    (void)err;
    struct csrc *s = (struct csrc *)base;
    if (s->started)
        return 0;
    s->started = true;
    sl_info(s->base.scope, "connecting to %s (slot %s, publication %s)", s->endpoint, s->cfg.slot,
            s->cfg.publication);
    /* Never fails: an unreachable server is retried in the background. */
    source_connect(s);
    return 0;
}

static void cdc_pause(struct sl_source *base)
{
    struct csrc *s = (struct csrc *)base;
    s->paused = true;
    sl_pg_conn_hold_reads(&s->conn, true);
}

static void cdc_resume(struct sl_source *base)
{
    struct csrc *s = (struct csrc *)base;
    if (!s->paused)
        return;
    s->paused = false;
    if (!s->stopped)
        sl_pg_conn_hold_reads(&s->conn, false);
    wake_before_sleep(s); /* reads what libpq already holds */
}

static void cdc_ack(struct sl_source *base, const struct sl_record *r)
{
    struct csrc *s = (struct csrc *)base;
    const struct sl_pgcdc_record *cr = sl_pgcdc_record_of(r);
    if (!cr || cr->txn->pending == 0)
        return;
    cr->txn->pending--;
    if (s->held > 0)
        s->held--;
    advance(s);
}

static void cdc_stop(struct sl_source *base, sl_source_stopped_cb cb, void *arg)
{
    struct csrc *s = (struct csrc *)base;
    if (!s->stopped) {
        s->stopped = true;
        /* Nothing more is read; the stream stays for the status updates of what is acked. */
        sl_pg_conn_hold_reads(&s->conn, true);
        txn_discard(s);
        if (s->state != CS_STREAMING) {
            ev_timer_stop(s->loop, &s->retry_timer);
            if (s->state != CS_DOWN && s->state != CS_IDLE && !s->fifo_head)
                sl_pg_conn_close(&s->conn);
        }
        sl_debug(s->base.scope, "stopped reading; confirmations continue");
    }
    if (cb)
        cb(base, arg);
}

/* Writes what libpq holds by deadline_ms (the socket is non-blocking). */
static int flush_by(struct csrc *s, int64_t deadline_ms)
{
    for (;;) {
        int r = PQflush(s->conn.pq);
        if (r <= 0)
            return r;
        int64_t left = deadline_ms - sl_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = PQsocket(s->conn.pq), .events = POLLOUT};
        poll(&p, 1, (int)(left > 100 ? 100 : left));
    }
}

static int cdc_close(struct sl_source *base, int64_t deadline_ms)
{
    struct csrc *s = (struct csrc *)base;
    int rc = s->fifo_head ? -ETIMEDOUT : 0;
    if (s->state == CS_STREAMING && s->conn.pq) {
        send_status(s, false);
        if (s->state == CS_STREAMING && flush_by(s, deadline_ms) != 0)
            rc = -ETIMEDOUT;
        char lsn[18];
        sl_pgo_lsn_fmt(s->confirmed, lsn);
        sl_info(s->base.scope, "closing: slot %s confirmed up to %s%s", s->cfg.slot, lsn,
                rc == 0 ? "" : " (unconfirmed changes are delivered again after the restart)");
    }
    ev_timer_stop(s->loop, &s->retry_timer);
    ev_timer_stop(s->loop, &s->status_timer);
    ev_prepare_stop(s->loop, &s->ack_prepare);
    ev_idle_stop(s->loop, &s->ack_idle);
    sl_pg_conn_close(&s->conn);
    s->state = CS_IDLE;
    return rc;
}

static void cdc_destroy(struct sl_source *base)
{
    if (!base)
        return;
    struct csrc *s = (struct csrc *)base;
    ev_timer_stop(s->loop, &s->retry_timer);
    ev_timer_stop(s->loop, &s->status_timer);
    ev_prepare_stop(s->loop, &s->ack_prepare);
    ev_idle_stop(s->loop, &s->ack_idle);
    sl_pg_conn_release(&s->conn);
    sl_metrics_forget(s->mx, s);
    txn_discard(s);
    while (s->fifo_head) {
        struct sl_pgcdc_txn *t = s->fifo_head;
        s->fifo_head = t->next;
        sl_pgcdc_txn_unref(t);
    }
    rels_retire(s);
    sl_pgcdc_pool_release(&s->pool);
    free(s->msg);
    sl_buf_release(&s->scratch);
    free(s->sh.slot_json);
    free(s->sh.pub_json);
    free(s->sh.region_json);
    sl_pgcdc_cfg_release(&s->cfg);
    sl_source_release(&s->base);
    free(s);
}

static void cdc_describe(struct sl_source *base, struct sl_jw *w)
{
    struct csrc *s = (struct csrc *)base;
    char lsn[18];
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "name", base->name);
    sl_jw_kstr(w, "endpoint", s->endpoint);
    sl_jw_kstr(w, "slot", s->cfg.slot);
    sl_jw_kstr(w, "publication", s->cfg.publication);
    sl_jw_kstr(w, "state", s->stopped ? "stopped" : state_names[s->state]);
    sl_jw_kstr(w, "role",
               s->state == CS_STANDBY     ? "standby"
               : s->state == CS_STREAMING ? "reader"
                                          : "none");
    sl_jw_kbool(w, "paused", s->paused);
    sl_pgo_lsn_fmt(s->confirmed, lsn);
    sl_jw_kstr(w, "confirmedLsn", lsn);
    sl_pgo_lsn_fmt(s->received, lsn);
    sl_jw_kstr(w, "receivedLsn", lsn);
    sl_jw_kint(w, "unconfirmedTransactions", (int64_t)s->fifo_len);
    sl_jw_kint(w, "held", (int64_t)s->held);
    if (s->last_why[0])
        sl_jw_kstr(w, "lastError", s->last_why);
    sl_jw_obj_close(w);
}

static int64_t cdc_backlog(struct sl_source *base)
{
    (void)base;
    return -1;
}

static bool cdc_ready(struct sl_source *base, char *why, size_t n)
{
    struct csrc *s = (struct csrc *)base;
    if (s->state == CS_STREAMING || s->state == CS_STANDBY || s->state == CS_IDLE)
        return true;
    snprintf(why, n, "%s %s%s%s", state_names[s->state], s->endpoint, s->last_why[0] ? ": " : "",
             s->last_why);
    return false;
}

static int cdc_init(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                    struct sl_buf *sql, struct sl_err *err)
{
    struct sl_pgcdc_cfg c;
    int rc = sl_pgcdc_cfg_bind(cfg, sec, &c, err);
    if (rc < 0)
        return rc;
    struct sl_buf mine;
    sl_buf_init(&mine);
    sl_pgcdc_init_sql(&c, &mine);
    sl_buf_append(sql, mine.data, mine.len);
    if (apply)
        rc = sl_pg_exec_script(&c.conn, mine.data, err);
    sl_buf_release(&mine);
    sl_pgcdc_cfg_release(&c);
    return rc;
}

static const char *cdc_group(struct sl_source *base)
{
    return ((struct csrc *)base)->cfg.slot;
}

const struct sl_source_ops sl_source_pgcdc_ops = {
    .type = "postgres-cdc",
    .props = &sl_pgcdc_source_table,
    .create = cdc_create,
    .start = cdc_start,
    .pause = cdc_pause,
    .resume = cdc_resume,
    .ack = cdc_ack,
    .stop = cdc_stop,
    .destroy = cdc_destroy,
    .describe = cdc_describe,
    .encode = sl_pgcdc_encode,
    .backlog = cdc_backlog,
    .filter_view = sl_pgcdc_filter_view,
    .close = cdc_close,
    .ready = cdc_ready,
    .init = cdc_init,
    .group_key = "slot",
    .group = cdc_group,
};
