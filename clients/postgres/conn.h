/* One asynchronous PostgreSQL connection on a libev loop: libpq in non-blocking mode
 * (PQconnectStartParams/PQconnectPoll, PQsendQuery*, PQconsumeInput) watched by one ev_io, with
 * a connect timeout, a per-statement timeout, a FIFO of statements (one at a time on the wire),
 * LISTEN notifications, and a copy mode for a replication stream (START_REPLICATION answers
 * PGRES_COPY_BOTH; from then on the owner reads and writes copy data itself).
 *
 * Like clients/redis/conn.h: a connection is down or up; the owner learns of every change through
 * one state callback and reconnects when it likes (conn never retries by itself). */
#ifndef SL_CLIENTS_POSTGRES_CONN_H
#define SL_CLIENTS_POSTGRES_CONN_H

#include <ev.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_pg_conn;

/* up: connected and authenticated. !up: a connect failed or the connection was lost (why says
 * how; never the password). Not called for sl_pg_conn_close(). */
typedef void (*sl_pg_conn_state_cb)(struct sl_pg_conn *c, bool up, const char *why, void *arg);
/* res: the statement's last result (PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_FATAL_ERROR...,
 * or PGRES_COPY_BOTH, after which the connection is in copy mode); the conn frees it after the
 * callback. NULL when the connection went away before the result came, or was closed: the
 * callback then only releases priv. */
typedef void (*sl_pg_result_cb)(struct sl_pg_conn *c, PGresult *res, void *priv);
/* A NOTIFY on a channel this connection LISTENs to. */
typedef void (*sl_pg_notify_cb)(struct sl_pg_conn *c, const PGnotify *n, void *arg);
/* Copy mode: the socket is readable and PQconsumeInput ran; read with PQgetCopyData(pq, &buf,
 * 1) until it returns 0. */
typedef void (*sl_pg_copy_cb)(struct sl_pg_conn *c, void *arg);

struct sl_pg_conn_opts {
    const char *conninfo; /* borrowed, must outlive the conn */
    const char *password; /* NULL: none */
    const char *application_name;
    bool replication; /* replication=database: a walsender connection (simple queries only) */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
};

struct pg_stmt;

struct sl_pg_conn {
    struct ev_loop *loop;
    struct sl_pg_conn_opts o;
    PGconn *pq;
    uint64_t gen; /* bumped whenever a connection is dropped: callbacks notice it */
    bool connecting;
    bool up;
    bool copy;    /* in copy mode (after PGRES_COPY_BOTH) */
    bool sending; /* the statement at the head is on the wire */
    bool broken;  /* sending failed: the timer reports it on the next loop turn */
    bool hold;    /* copy mode: the owner reads nothing for now (sl_pg_conn_hold_reads) */
    int fd;
    ev_io io;
    ev_timer timer; /* connect deadline, then the head statement's deadline */
    struct pg_stmt *head, *tail;
    PGresult *last; /* the head statement's latest result */
    sl_pg_conn_state_cb state_cb;
    sl_pg_notify_cb notify_cb;
    sl_pg_copy_cb copy_cb;
    void *arg;
};

void sl_pg_conn_init(struct sl_pg_conn *c, struct ev_loop *loop, const struct sl_pg_conn_opts *o,
                     sl_pg_conn_state_cb cb, void *arg);
void sl_pg_conn_on_notify(struct sl_pg_conn *c, sl_pg_notify_cb cb);
void sl_pg_conn_on_copy(struct sl_pg_conn *c, sl_pg_copy_cb cb);
/* Starts connecting. Returns 0 (the state callback fires later, never from inside this call) or
 * a negative code with why filled (nothing will fire). */
int sl_pg_conn_connect(struct sl_pg_conn *c, char *why, size_t why_cap);
/* Drops the connection now (queued statements get NULL). No state callback. Idempotent. */
void sl_pg_conn_close(struct sl_pg_conn *c);
void sl_pg_conn_release(struct sl_pg_conn *c);
/* Queues a statement; statements go out one at a time, in order. nparams 0 with values NULL
 * sends it with the simple query protocol (several statements allowed; the only one a
 * replication connection takes); otherwise with parameters in text form (lengths may be NULL).
 * sql and the values are copied. Returns 0 (cb fires exactly once) or -ENOTCONN (cb never
 * fires). */
int sl_pg_conn_query(struct sl_pg_conn *c, const char *sql, int nparams, const char *const *values,
                     const int *lengths, sl_pg_result_cb cb, void *priv);
/* Copy mode: after PQputCopyData, makes sure the data goes out (watches for writability while
 * libpq holds unsent bytes). Returns 0, or -EIO when the connection failed (the state callback
 * fires). */
int sl_pg_conn_flush(struct sl_pg_conn *c);
/* Copy mode: while hold is true the socket is not read (the server's sends block: back
 * pressure on the stream); writes still go out. On release the owner reads what libpq already
 * holds itself (the copy callback fires only for new input). */
void sl_pg_conn_hold_reads(struct sl_pg_conn *c, bool hold);
/* Shutdown, when the loop no longer runs: serves the connection itself (poll) until every
 * statement queued got its result (callbacks fire as usual) or deadline_ms (sl_mono_ms clock)
 * passes. 0; -ETIMEDOUT (statements still pending); -ENOTCONN when the connection is down or
 * went away (those statements got NULL). */
int sl_pg_conn_drain(struct sl_pg_conn *c, int64_t deadline_ms);
/* Statements queued or on the wire. */
size_t sl_pg_conn_pending(const struct sl_pg_conn *c);
/* A notice processor for libpq (PQsetNoticeProcessor) that logs the server's notices at debug
 * level, one line each, instead of libpq's default of printing them to stderr past the log
 * ("relation ... already exists, skipping" from every CREATE ... IF NOT EXISTS). */
void sl_pg_notice_to_log(void *arg, const char *message);
/* libpq's error message, one line, for logs. */
const char *sl_pg_conn_error(const struct sl_pg_conn *c, char *buf, size_t cap);

#endif
