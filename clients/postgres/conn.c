#include "clients/postgres/conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

struct pg_stmt {
    struct pg_stmt *next;
    sl_pg_result_cb cb;
    void *priv;
    int nparams;
    bool simple;
    char **values;
    int *lengths;
    char sql[];
};

static void stmt_free(struct pg_stmt *s)
{
    for (int i = 0; i < s->nparams; i++)
        free(s->values[i]);
    free(s->values);
    free(s->lengths);
    free(s);
}

const char *sl_pg_conn_error(const struct sl_pg_conn *c, char *buf, size_t cap)
{
    const char *m = c->pq ? PQerrorMessage(c->pq) : "";
    snprintf(buf, cap, "%s", m && *m ? m : "connection lost");
    /* libpq's messages end with a newline and may span lines: keep one line. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' ';)
        buf[--n] = '\0';
    return buf;
}

void sl_pg_notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char line[400];
    snprintf(line, sizeof(line), "%s", message ? message : "");
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    sl_debug("postgres", "server notice: %s", line);
}

static void watch(struct sl_pg_conn *c, int events)
{
    if (c->hold && c->copy)
        events &= ~EV_READ;
    int fd = PQsocket(c->pq);
    if (events == 0) {
        ev_io_stop(c->loop, &c->io);
        c->fd = fd;
        return;
    }
    if (fd == c->fd && ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(c->loop, &c->io);
    c->fd = fd;
    if (fd < 0)
        return;
    ev_io_set(&c->io, fd, events);
    ev_io_start(c->loop, &c->io);
}

static void arm(struct sl_pg_conn *c, int64_t ms)
{
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, (double)ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->timer);
}

/* Drops the libpq connection and hands back the statements queued (the caller fires them). */
static struct pg_stmt *drop(struct sl_pg_conn *c)
{
    c->gen++;
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    if (c->pq)
        PQfinish(c->pq);
    c->pq = NULL;
    c->fd = -1;
    if (c->last)
        PQclear(c->last);
    c->last = NULL;
    c->connecting = c->up = c->copy = c->sending = c->broken = c->hold = false;
    struct pg_stmt *q = c->head;
    c->head = c->tail = NULL;
    return q;
}

static void fire_dropped(struct sl_pg_conn *c, struct pg_stmt *q)
{
    while (q) {
        struct pg_stmt *next = q->next;
        q->cb(c, NULL, q->priv);
        stmt_free(q);
        q = next;
    }
}

static void fail(struct sl_pg_conn *c, const char *why)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", why);
    fire_dropped(c, drop(c));
    if (c->state_cb)
        c->state_cb(c, false, msg, c->arg);
}

static void fail_pq(struct sl_pg_conn *c, const char *what)
{
    char e[400], msg[512];
    snprintf(msg, sizeof(msg), "%s: %s", what, sl_pg_conn_error(c, e, sizeof(e)));
    fail(c, msg);
}

/* Flushes what libpq holds; watches for writability while some is left. 0 or -1 (failed). */
static int flush(struct sl_pg_conn *c)
{
    int r = PQflush(c->pq);
    if (r < 0) {
        fail_pq(c, "sending");
        return -1;
    }
    watch(c, r ? EV_READ | EV_WRITE : EV_READ);
    return 0;
}

static void send_next(struct sl_pg_conn *c)
{
    if (!c->up || c->copy || c->sending || !c->head)
        return;
    struct pg_stmt *s = c->head;
    int ok = s->simple ? PQsendQuery(c->pq, s->sql)
                       : PQsendQueryParams(c->pq, s->sql, s->nparams, NULL,
                                           (const char *const *)s->values, s->lengths, NULL, 0);
    c->sending = true;
    /* A failure here is reported from the timer, never from inside sl_pg_conn_query. */
    int r = ok ? PQflush(c->pq) : -1;
    if (r < 0) {
        c->broken = true;
        arm(c, 0);
        return;
    }
    arm(c, c->o.command_timeout_ms);
    watch(c, r ? EV_READ | EV_WRITE : EV_READ);
}

static void finish_head(struct sl_pg_conn *c, PGresult *res)
{
    struct pg_stmt *s = c->head;
    c->head = s->next;
    if (!c->head)
        c->tail = NULL;
    c->sending = false;
    c->last = NULL;
    ev_timer_stop(c->loop, &c->timer);
    uint64_t gen = c->gen;
    s->cb(c, res, s->priv);
    stmt_free(s);
    if (res)
        PQclear(res);
    if (gen == c->gen)
        send_next(c);
}

static void connected(struct sl_pg_conn *c)
{
    c->connecting = false;
    ev_timer_stop(c->loop, &c->timer);
    if (PQsetnonblocking(c->pq, 1) != 0) {
        fail_pq(c, "connect");
        return;
    }
    c->up = true;
    watch(c, EV_READ);
    if (c->state_cb)
        c->state_cb(c, true, NULL, c->arg);
}

static void poll_connect(struct sl_pg_conn *c)
{
    /* PQconnectPoll may close the socket and open another (the next host or address of the
     * conninfo, a retry without SSL), which the kernel often gives the same number: epoll then
     * no longer watches it, and libev cannot tell. While connecting, the watcher is armed anew
     * after every call. */
    ev_io_stop(c->loop, &c->io);
    switch (PQconnectPoll(c->pq)) {
    case PGRES_POLLING_READING:
        watch(c, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        watch(c, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        connected(c);
        return;
    default:
        fail_pq(c, "connect");
        return;
    }
}

/* Reads what came: results of the statement on the wire, then notifications. */
static void read_input(struct sl_pg_conn *c)
{
    uint64_t gen = c->gen;
    if (!PQconsumeInput(c->pq)) {
        fail_pq(c, "connection lost");
        return;
    }
    if (c->copy) {
        if (c->copy_cb)
            c->copy_cb(c, c->arg);
        return;
    }
    while (c->sending && !PQisBusy(c->pq)) {
        PGresult *res = PQgetResult(c->pq);
        if (!res) {
            finish_head(c, c->last);
            if (gen != c->gen)
                return;
            continue;
        }
        if (PQresultStatus(res) == PGRES_COPY_BOTH) {
            if (c->last)
                PQclear(c->last);
            c->copy = true;
            finish_head(c, res);
            return;
        }
        /* Of several results (a multi-statement simple query) the first error wins. */
        if (c->last && PQresultStatus(c->last) == PGRES_FATAL_ERROR) {
            PQclear(res);
        } else {
            if (c->last)
                PQclear(c->last);
            c->last = res;
        }
    }
    PGnotify *n;
    while (gen == c->gen && (n = PQnotifies(c->pq))) {
        if (c->notify_cb)
            c->notify_cb(c, n, c->arg);
        PQfreemem(n);
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct sl_pg_conn *c = w->data;
    if (c->connecting) {
        poll_connect(c);
        return;
    }
    uint64_t gen = c->gen;
    if ((revents & EV_WRITE) && flush(c) != 0)
        return;
    if ((revents & EV_READ) && gen == c->gen)
        read_input(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sl_pg_conn *c = w->data;
    char msg[128];
    if (c->broken) {
        fail_pq(c, "sending a statement");
        return;
    }
    if (c->connecting)
        snprintf(msg, sizeof(msg), "connect timed out after %lld ms",
                 (long long)c->o.connect_timeout_ms);
    else
        snprintf(msg, sizeof(msg), "a statement got no result within %lld ms",
                 (long long)c->o.command_timeout_ms);
    fail(c, msg);
}

void sl_pg_conn_init(struct sl_pg_conn *c, struct ev_loop *loop, const struct sl_pg_conn_opts *o,
                     sl_pg_conn_state_cb cb, void *arg)
{
    *c = (struct sl_pg_conn){.loop = loop, .o = *o, .fd = -1, .state_cb = cb, .arg = arg};
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 5000;
    if (c->o.command_timeout_ms <= 0)
        c->o.command_timeout_ms = 30000;
    ev_init(&c->io, io_cb);
    c->io.data = c;
    ev_init(&c->timer, timer_cb);
    c->timer.data = c;
}

void sl_pg_conn_on_notify(struct sl_pg_conn *c, sl_pg_notify_cb cb)
{
    c->notify_cb = cb;
}

void sl_pg_conn_on_copy(struct sl_pg_conn *c, sl_pg_copy_cb cb)
{
    c->copy_cb = cb;
}

int sl_pg_conn_connect(struct sl_pg_conn *c, char *why, size_t why_cap)
{
    if (c->pq) {
        snprintf(why, why_cap, "already connecting or connected");
        return -EALREADY;
    }
    /* Keywords before dbname (the expanded conninfo) are defaults it may override; those after
     * it are ours to force. */
    const char *kw[6], *val[6];
    int n = 0;
    kw[n] = "application_name";
    val[n++] = c->o.application_name ? c->o.application_name : "sluice";
    kw[n] = "dbname";
    val[n++] = c->o.conninfo ? c->o.conninfo : "";
    if (c->o.password) {
        kw[n] = "password";
        val[n++] = c->o.password;
    }
    if (c->o.replication) {
        kw[n] = "replication";
        val[n++] = "database";
    }
    kw[n] = NULL;
    val[n] = NULL;
    c->pq = PQconnectStartParams(kw, val, 1);
    if (!c->pq) {
        snprintf(why, why_cap, "out of memory");
        return -ENOMEM;
    }
    if (PQstatus(c->pq) == CONNECTION_BAD) {
        char e[400];
        snprintf(why, why_cap, "connect: %s", sl_pg_conn_error(c, e, sizeof(e)));
        PQfinish(c->pq);
        c->pq = NULL;
        return -ECONNREFUSED;
    }
    PQsetNoticeProcessor(c->pq, sl_pg_notice_to_log, NULL);
    c->gen++;
    c->connecting = true;
    arm(c, c->o.connect_timeout_ms);
    /* As if PQconnectPoll had answered PGRES_POLLING_WRITING (libpq's documented start). */
    watch(c, EV_WRITE);
    return 0;
}

void sl_pg_conn_close(struct sl_pg_conn *c)
{
    fire_dropped(c, drop(c));
}

void sl_pg_conn_release(struct sl_pg_conn *c)
{
    sl_pg_conn_close(c);
}

int sl_pg_conn_query(struct sl_pg_conn *c, const char *sql, int nparams, const char *const *values,
                     const int *lengths, sl_pg_result_cb cb, void *priv)
{
    if (!c->up || c->copy)
        return -ENOTCONN;
    size_t len = strlen(sql);
    struct pg_stmt *s = sl_calloc(1, sizeof(*s) + len + 1);
    memcpy(s->sql, sql, len + 1);
    s->cb = cb;
    s->priv = priv;
    s->simple = nparams == 0 && !values;
    s->nparams = nparams;
    if (nparams > 0) {
        s->values = sl_calloc((size_t)nparams, sizeof(char *));
        s->lengths = sl_calloc((size_t)nparams, sizeof(int));
        for (int i = 0; i < nparams; i++) {
            if (!values[i])
                continue; /* SQL NULL */
            size_t l = lengths ? (size_t)lengths[i] : strlen(values[i]);
            s->values[i] = sl_malloc(l + 1);
            memcpy(s->values[i], values[i], l);
            s->values[i][l] = '\0';
            s->lengths[i] = (int)l;
        }
    }
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    send_next(c);
    return 0;
}

int sl_pg_conn_flush(struct sl_pg_conn *c)
{
    if (!c->pq)
        return -ENOTCONN;
    return flush(c) == 0 ? 0 : -EIO;
}

size_t sl_pg_conn_pending(const struct sl_pg_conn *c)
{
    size_t n = 0;
    for (const struct pg_stmt *s = c->head; s; s = s->next)
        n++;
    return n;
}

void sl_pg_conn_hold_reads(struct sl_pg_conn *c, bool hold)
{
    if (c->hold == hold)
        return;
    c->hold = hold;
    if (c->pq && c->up && c->copy)
        watch(c, PQflush(c->pq) > 0 ? EV_READ | EV_WRITE : EV_READ);
}

int sl_pg_conn_drain(struct sl_pg_conn *c, int64_t deadline_ms)
{
    /* What the loop would do, by hand: poll the socket for what the watcher waits for and run
     * the same handler; results and failures reach their callbacks as usual. */
    while (c->head && c->up && !c->copy) {
        if (c->broken) {
            fail_pq(c, "sending a statement");
            break;
        }
        int64_t left = deadline_ms - sl_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (ev_is_active(&c->io) && (c->io.events & EV_WRITE))
            p.events |= POLLOUT;
        int n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        int revents = 0;
        if (p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
            revents |= EV_READ;
        if (p.revents & POLLOUT)
            revents |= EV_WRITE;
        io_cb(c->loop, &c->io, revents);
    }
    return c->up && !c->head ? 0 : c->up ? -ETIMEDOUT : -ENOTCONN;
}
