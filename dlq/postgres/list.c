/* Listing the PostgreSQL DLQ: blocking, on a connection of its own (made on first use, again
 * after it broke), so that it can run on the admin worker thread while the loop goes on with
 * the sink's writes; it shares with the loop only what never changes after create (the keys
 * and the statements). Pages of PGDLQ_PAGE rows, each its own statement (no transaction held
 * open across a listing), in (created_at, seq) order: the position of a row is that pair, so a
 * listing resumes after it even when rows before it were removed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/postgres/sync.h"
#include "core/log.h"
#include "dlq/postgres/postgres_int.h"

#define PGDLQ_PAGE   500
#define PGDLQ_ID_MAX 1024

void sl_pgdlq_list_release(struct sl_dlq_postgres *q)
{
    if (q->lconn)
        PQfinish(q->lconn);
    q->lconn = NULL;
}

static int result_error(struct sl_dlq_postgres *q, const PGresult *res, const char *what,
                        struct sl_err *err)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "%s",
             res        ? PQresultErrorMessage(res)
             : q->lconn ? PQerrorMessage(q->lconn)
                        : "");
    msg[strcspn(msg, "\n")] = '\0';
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool missing = state && strcmp(state, "42P01") == 0; /* undefined_table */
    bool broken = !q->lconn || PQstatus(q->lconn) != CONNECTION_OK;
    int rc = sl_err_set(err, broken ? SL_ERR_TRANSIENT : SL_ERR_PERMANENT, -EIO, "%s: %s %s: %s%s",
                        q->base.scope, what, q->sql.table, msg[0] ? msg : "no result",
                        missing ? " (create it with `sluice init`)" : "");
    if (broken)
        sl_pgdlq_list_release(q);
    return rc;
}

static int exec_ok(struct sl_dlq_postgres *q, const char *sql, const char *what, struct sl_err *err)
{
    PGresult *res = PQexec(q->lconn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : result_error(q, res, what, err);
    PQclear(res);
    return rc;
}

static int list_connect(struct sl_dlq_postgres *q, struct sl_err *err)
{
    if (q->lconn && PQstatus(q->lconn) == CONNECTION_OK)
        return 0;
    sl_pgdlq_list_release(q);
    q->lconn = sl_pg_connect_blocking(&q->cfg.conn, "sluice dlq list", err);
    if (!q->lconn)
        return -EIO;
    /* Bounds every statement of a listing as command_timeout bounds the writes'
     * (statement_timeout is in milliseconds). */
    char set[64];
    snprintf(set, sizeof(set), "SET statement_timeout = %lld",
             (long long)q->cfg.conn.command_timeout_ms);
    int rc = exec_ok(q, set, "setting statement_timeout for", err);
    if (rc < 0) {
        sl_pgdlq_list_release(q);
        return rc;
    }
    /* A listing may come before the loop's connection made the table (the CLI's first). A
     * role without CREATE on the schema may still read a table made for it: the listing says
     * whether the table is there. */
    if (q->cfg.create_table) {
        PGresult *res = PQexec(q->lconn, q->sql.schema);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
            msg[strcspn(msg, "\n")] = '\0';
            sl_debug(q->base.scope, "creating %s: %s", q->sql.table, msg);
        }
        PQclear(res);
    }
    return 0;
}

/* "<created_at in microseconds>.<seq>" -> 0, or -EINVAL. */
static int parse_pos(const char *pos, long long *us, long long *seq)
{
    char *end;
    errno = 0;
    *us = strtoll(pos, &end, 10);
    if (end == pos || *end != '.' || errno)
        return -EINVAL;
    const char *s = end + 1;
    *seq = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return -EINVAL;
    return 0;
}

/* One page from (after_us, after_seq); NULL with err set when it failed. */
static PGresult *page(struct sl_dlq_postgres *q, const struct sl_dlq_filter *f, bool after,
                      long long after_us, long long after_seq, size_t want, struct sl_err *err)
{
    char since[32], aus[32], aseq[32], limit[32];
    snprintf(since, sizeof(since), "%lld", (long long)f->since_ms * 1000);
    snprintf(aus, sizeof(aus), "%lld", after_us);
    snprintf(aseq, sizeof(aseq), "%lld", after_seq);
    snprintf(limit, sizeof(limit), "%zu", want);
    const char *values[6] = {f->mapping,         f->since_ms ? since : NULL, f->id,
                             after ? aus : NULL, after ? aseq : NULL,        limit};
    PGresult *res = PQexecParams(q->lconn, q->sql.list, 6, NULL, values, NULL, NULL, 0);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    result_error(q, res, "listing", err);
    PQclear(res);
    return NULL;
}

int sl_pgdlq_list(struct sl_dlq *d, const struct sl_dlq_filter *f, sl_dlq_each_cb cb, void *arg,
                  struct sl_err *err)
{
    struct sl_dlq_postgres *q = (struct sl_dlq_postgres *)d;
    if (!q->opened)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECLOSED, "%s: not open", q->base.scope);
    if (q->listing)
        return sl_err_set(err, SL_ERR_PERMANENT, -EBUSY, "%s: list called from a list callback",
                          q->base.scope);
    struct sl_dlq_filter none = {0};
    if (!f)
        f = &none;
    if (f->id && strlen(f->id) > PGDLQ_ID_MAX)
        return 0; /* no such id */
    long long after_us = 0, after_seq = 0;
    bool after = f->after != NULL;
    if (after && parse_pos(f->after, &after_us, &after_seq) < 0)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: not a position of this sink: %.64s",
                          q->base.scope, f->after);
    int rc = list_connect(q, err);
    if (rc < 0)
        return rc;
    q->listing = true;
    size_t seen = 0;
    bool stop = false, retried = false;
    while (!stop) {
        size_t want = PGDLQ_PAGE;
        if (f->limit && f->limit - seen < want)
            want = f->limit - seen;
        PGresult *res = page(q, f, after, after_us, after_seq, want, err);
        if (!res && !retried && seen == 0 && !q->lconn && list_connect(q, err) == 0) {
            /* The connection a previous listing left broke since (a server restart): once
             * more on a new one. */
            retried = true;
            continue;
        }
        if (!res) {
            rc = -EIO;
            break;
        }
        int rows = PQntuples(res);
        for (int i = 0; i < rows && !stop; i++) {
            after = true;
            after_us = strtoll(PQgetvalue(res, i, 2), NULL, 10);
            after_seq = strtoll(PQgetvalue(res, i, 3), NULL, 10);
            struct sl_dlq_entry e;
            struct sl_err perr;
            if (sl_dlq_entry_from_json(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), &e,
                                       &perr) < 0) {
                sl_warn(q->base.scope, "skipping unreadable entry %.64s: %s", PQgetvalue(res, i, 0),
                        perr.msg);
                continue;
            }
            seen++;
            char pos[SL_DLQ_POS_MAX];
            snprintf(pos, sizeof(pos), "%lld.%lld", after_us, after_seq);
            stop = cb(&e, pos, arg) != 0;
            sl_dlq_entry_release(&e);
        }
        PQclear(res);
        if ((size_t)rows < want || (f->limit && seen >= f->limit))
            break;
    }
    q->listing = false;
    return rc;
}
