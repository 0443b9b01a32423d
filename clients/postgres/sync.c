#include "clients/postgres/sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clients/postgres/conn.h"

static void one_line(const char *m, char *out, size_t cap)
{
    snprintf(out, cap, "%s", m && *m ? m : "unknown error");
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    for (size_t n = strlen(out); n > 0 && out[n - 1] == ' ';)
        out[--n] = '\0';
}

PGconn *sl_pg_connect_blocking(const struct sl_pg_conn_cfg *c, const char *application_name,
                               struct sl_err *err)
{
    char timeout[32];
    /* libpq's connect_timeout is in whole seconds (at least 2 s, it says). */
    snprintf(timeout, sizeof(timeout), "%lld",
             (long long)(c->connect_timeout_ms < 2000 ? 2 : (c->connect_timeout_ms + 999) / 1000));
    const char *kw[] = {"application_name", "connect_timeout", "dbname", "password", NULL};
    const char *val[] = {application_name ? application_name : "sluice", timeout,
                         c->conninfo ? c->conninfo : "", c->password, NULL};
    if (!c->password)
        kw[3] = NULL;
    PGconn *pq = PQconnectdbParams(kw, val, 1);
    if (pq && PQstatus(pq) == CONNECTION_OK) {
        PQsetNoticeProcessor(pq, sl_pg_notice_to_log, NULL);
        return pq;
    }
    char m[400];
    one_line(pq ? PQerrorMessage(pq) : "out of memory", m, sizeof(m));
    char where[160];
    sl_pg_conn_endpoint(c->conninfo, where, sizeof(where));
    sl_err_set(err, SL_ERR_TRANSIENT, -EIO, "connecting to PostgreSQL at %s: %s", where, m);
    if (pq)
        PQfinish(pq);
    return NULL;
}

int sl_pg_exec_script(const struct sl_pg_conn_cfg *c, const char *sql, struct sl_err *err)
{
    PGconn *pq = sl_pg_connect_blocking(c, "sluice init", err);
    if (!pq)
        return -EIO;
    int rc = 0;
    const char *steps[] = {"BEGIN", sql, "COMMIT"};
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        PGresult *res = PQexec(pq, steps[i]);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            char m[400];
            one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(pq), m, sizeof(m));
            rc = sl_err_set(err, SL_ERR_PERMANENT, -EIO, "%s", m);
        }
        PQclear(res);
    }
    PQfinish(pq);
    return rc;
}
