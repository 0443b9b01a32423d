/* The ESM API's mappings in a PostgreSQL table shared by several sluice processes
 * (admin.esm_store type postgres; cli/esm.h, docs/ESM_API.md).
 *
 * Every change is one statement (so one transaction) that writes the row, takes the next value
 * of a sequence as the row's version and calls pg_notify: the notification goes out at commit
 * and only if the change committed (https://www.postgresql.org/docs/current/sql-notify.html).
 * The unique constraint on (source, function) makes Lambda's duplicate rule hold across
 * processes: of two concurrent creates one commits, the other fails with unique_violation and
 * becomes a 409. Each process LISTENs on the same connection it writes on, and reads the whole
 * table again on a notification, on every (re)connect and every `poll` (a fallback for a lost
 * notification), handing it to sl_esm_sync. At most SL_ESM_MAX rows: a read stays small. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/esm.h"
#include "clients/postgres/conn.h"
#include "clients/postgres/sync.h"
#include "core/log.h"
#include "core/mem.h"

#define TABLE        "sluice_esm_mappings"
#define CHANNEL      "sluice_esm_mappings"
#define SQLSTATE_DUP "23505" /* unique_violation */

static const char scope[] = "esm";

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS " TABLE " ("
    " uuid text PRIMARY KEY,"
    " source text NOT NULL,"   /* the source the mapping reads */
    " function text NOT NULL," /* the function it invokes */
    " doc text NOT NULL,"      /* the Lambda fields, JSON */
    " created_ms bigint NOT NULL,"
    " modified_ms bigint NOT NULL,"
    " version bigint NOT NULL," /* from the sequence: a change of the row bumps it */
    " UNIQUE (source, function));"
    "CREATE SEQUENCE IF NOT EXISTS " TABLE "_version";

static const char select_sql[] =
    "SELECT uuid, doc, modified_ms, version, created_ms FROM " TABLE " ORDER BY created_ms, uuid";

static const char insert_sql[] =
    "WITH w AS (INSERT INTO " TABLE " (uuid, source, function, doc, created_ms, modified_ms, "
    "version) VALUES ($1, $2, $3, $4, $5::bigint, $5::bigint, nextval('" TABLE "_version')) "
    "RETURNING uuid, version) SELECT version, pg_notify('" CHANNEL "', uuid) FROM w";

static const char update_sql[] =
    "WITH w AS (UPDATE " TABLE " SET function = $2, doc = $3, modified_ms = $4::bigint, "
    "version = nextval('" TABLE "_version') WHERE uuid = $1 RETURNING uuid, version) "
    "SELECT version, pg_notify('" CHANNEL "', uuid) FROM w";

static const char delete_sql[] = "WITH w AS (DELETE FROM " TABLE " WHERE uuid = $1 RETURNING uuid) "
                                 "SELECT 0, pg_notify('" CHANNEL "', uuid) FROM w";

static const char other_sql[] = "SELECT uuid FROM " TABLE " WHERE source = $1 AND function = $2";

struct sl_esm_shared {
    struct sl_esm_watch w; /* first: the engine is its watch */
    struct sl_pg_conn conn;
};

/* ---- reading the table ---------------------------------------------------------------------- */

/* The rows of a SELECT of select_sql; bad rows are left out, logged. */
static struct sl_esm_row *rows_from(const PGresult *res, size_t *n)
{
    int nt = PQntuples(res);
    struct sl_esm_row *rows = sl_calloc(nt > 0 ? (size_t)nt : 1, sizeof(*rows));
    size_t k = 0;
    for (int i = 0; i < nt && k < SL_ESM_MAX; i++) {
        const char *uuid = PQgetvalue(res, i, 0);
        json_t *doc = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        if (strlen(uuid) != SL_ESM_UUID_LEN || !json_is_object(doc)) {
            sl_error(scope, "event source mapping %.40s: unreadable row in " TABLE ": left out",
                     uuid);
            json_decref(doc);
            continue;
        }
        struct sl_esm_row *r = &rows[k++];
        memcpy(r->uuid, uuid, SL_ESM_UUID_LEN + 1);
        r->doc = doc;
        r->modified_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        r->version = strtoull(PQgetvalue(res, i, 3), NULL, 10);
        r->created_ms = strtoll(PQgetvalue(res, i, 4), NULL, 10);
    }
    *n = k;
    return rows;
}

static void read_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct sl_esm_shared *s = priv;
    size_t n = 0;
    struct sl_esm_row *rows = NULL;
    bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (res && !ok)
        sl_error(scope, "reading " TABLE " at %s: %s", s->w.endpoint, PQresultErrorMessage(res));
    if (ok)
        rows = rows_from(res, &n);
    sl_esm_watch_rows(&s->w, ok, rows, n);
    sl_esm_rows_free(rows, n);
}

static int send_read(struct sl_esm_watch *w)
{
    struct sl_esm_shared *s = (struct sl_esm_shared *)w;
    if (!s->conn.up)
        return -ENOTCONN;
    return sl_pg_conn_query(&s->conn, select_sql, 0, NULL, NULL, read_cb, s);
}

static void notify_cb(struct sl_pg_conn *c, const PGnotify *n, void *arg)
{
    (void)c;
    (void)n;
    sl_esm_watch_read(arg);
}

/* ---- the connection ------------------------------------------------------------------------- */

static void listen_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct sl_esm_shared *s = priv;
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
        sl_error(scope, "LISTEN " CHANNEL " at %s: %s (changes are seen at the next poll)",
                 s->w.endpoint, PQresultErrorMessage(res));
}

static void pg_connect(struct sl_esm_watch *w)
{
    struct sl_esm_shared *s = (struct sl_esm_shared *)w;
    char why[256];
    if (sl_pg_conn_connect(&s->conn, why, sizeof(why)) < 0)
        sl_esm_watch_down(w, why);
}

static void state_cb(struct sl_pg_conn *c, bool up, const char *why, void *arg)
{
    struct sl_esm_shared *s = arg;
    if (!up) {
        sl_esm_watch_down(&s->w, why);
        return;
    }
    sl_pg_conn_query(c, "LISTEN " CHANNEL, 0, NULL, NULL, listen_cb, s);
    sl_esm_watch_up(&s->w); /* reads what changed while it was down */
}

/* At start, blocking: the table exists and its rows are read before anything is built, so a
 * process starts with every mapping the others run. */
static int load(const struct sl_esm_store_cfg *cfg, struct sl_esm_row **rows, size_t *n,
                struct sl_err *err)
{
    PGconn *pq = sl_pg_connect_blocking(&cfg->postgres, "sluice esm", err);
    if (!pq)
        return err->code;
    PGresult *res = PQexec(pq, schema_sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        res = PQexec(pq, select_sql);
    }
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = sl_err_set(err, SL_ERR_FATAL, -EIO, "preparing the table " TABLE ": %s",
                        PQresultErrorMessage(res));
    else
        *rows = rows_from(res, n);
    PQclear(res);
    PQfinish(pq);
    return rc;
}

static int pg_open(struct sl_app *app, const struct sl_esm_store_cfg *cfg,
                   struct sl_esm_shared **out, struct sl_esm_row **rows, size_t *n,
                   struct sl_err *err)
{
    char where[160];
    sl_pg_conn_endpoint(cfg->postgres.conninfo, where, sizeof(where));
    struct sl_err why;
    sl_err_clear(&why);
    int rc = load(cfg, rows, n, &why);
    if (rc < 0)
        return sl_err_set(err, SL_ERR_FATAL, rc,
                          "admin.esm_store: the shared store of the event-source-mapping API: "
                          "%s (sluice does not start without it: its mappings would be missing)",
                          why.msg);
    struct sl_esm_shared *s = SL_NEW(struct sl_esm_shared);
    memcpy(s->w.endpoint, where, sizeof(where));
    struct sl_pg_conn_opts o = {
        .conninfo = cfg->postgres.conninfo,
        .password = cfg->postgres.password,
        .application_name = "sluice esm",
        .connect_timeout_ms = cfg->postgres.connect_timeout_ms,
        .command_timeout_ms = cfg->postgres.command_timeout_ms,
    };
    sl_pg_conn_init(&s->conn, app->loop, &o, state_cb, s);
    sl_pg_conn_on_notify(&s->conn, notify_cb);
    sl_esm_watch_init(&s->w, app, cfg->poll_ms, send_read, pg_connect);
    pg_connect(&s->w);
    sl_info(scope, "API mappings shared through PostgreSQL at %s (table " TABLE ")", where);
    *out = s;
    return 0;
}

/* ---- writes --------------------------------------------------------------------------------- */

struct write {
    struct sl_esm_shared *s;
    sl_esm_store_cb cb;
    void *arg;
    char *source, *function; /* create or update: to name the mapping a duplicate clashes with */
    bool update;
};

static void write_end(struct write *w, int status, uint64_t version, const char *other)
{
    if (!w->s->w.closing)
        w->cb(status, version, other, w->arg);
    free(w->source);
    free(w->function);
    free(w);
}

static void other_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct write *w = priv;
    bool found = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    write_end(w, -EEXIST, 0, found ? PQgetvalue(res, 0, 0) : NULL);
}

static void written_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    struct write *w = priv;
    if (!res) {
        write_end(w, -ENOTCONN, 0, NULL);
        return;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, SQLSTATE_DUP) == 0 && w->source) {
            const char *v[] = {w->source, w->function};
            if (sl_pg_conn_query(c, other_sql, 2, v, NULL, other_cb, w) < 0)
                write_end(w, -EEXIST, 0, NULL);
            return;
        }
        sl_error(scope, "writing to " TABLE " at %s: %s", w->s->w.endpoint,
                 PQresultErrorMessage(res));
        write_end(w, -EIO, 0, NULL);
        return;
    }
    if (PQntuples(res) == 0 && w->update) {
        write_end(w, -ENOENT, 0, NULL); /* deleted by another process meanwhile */
        return;
    }
    write_end(w, 0, PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0, NULL);
}

static int pg_save(struct sl_esm_shared *s, const char *uuid, const char *source,
                   const char *function, const char *doc, int64_t ms, bool create,
                   sl_esm_store_cb cb, void *arg)
{
    if (!s->conn.up)
        return -ENOTCONN;
    struct write *w = SL_NEW(struct write);
    *w = (struct write){.s = s, .cb = cb, .arg = arg, .update = doc && !create};
    char msbuf[32];
    snprintf(msbuf, sizeof(msbuf), "%lld", (long long)ms);
    int rc;
    if (!doc) {
        const char *v[] = {uuid};
        rc = sl_pg_conn_query(&s->conn, delete_sql, 1, v, NULL, written_cb, w);
    } else {
        w->source = sl_strdup(source);
        w->function = sl_strdup(function);
        if (create) {
            const char *v[] = {uuid, source, function, doc, msbuf};
            rc = sl_pg_conn_query(&s->conn, insert_sql, 5, v, NULL, written_cb, w);
        } else {
            const char *v[] = {uuid, function, doc, msbuf};
            rc = sl_pg_conn_query(&s->conn, update_sql, 4, v, NULL, written_cb, w);
        }
    }
    if (rc < 0) {
        free(w->source);
        free(w->function);
        free(w);
    }
    return rc;
}

static void pg_refresh(struct sl_esm_shared *s)
{
    sl_esm_watch_read(&s->w);
}

static void pg_close(struct sl_esm_shared *s)
{
    sl_esm_watch_stop(&s->w);
    sl_pg_conn_release(&s->conn);
    free(s);
}

const struct sl_esm_shared_ops sl_esm_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .save = pg_save,
    .refresh = pg_refresh,
    .close = pg_close,
};
