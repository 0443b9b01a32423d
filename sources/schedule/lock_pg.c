/* The schedule lock on PostgreSQL: a table of fired ticks, one row per (schedule, tick). Before
 * firing a tick a process runs, in one autocommitted statement,
 *
 *   INSERT INTO t (schedule, tick, owner) VALUES ($1, $2, $3)
 *   ON CONFLICT (schedule, tick) DO UPDATE SET owner = t.owner RETURNING owner
 *
 * and fires the tick when the row names it as the owner. The primary key does both jobs of a
 * lock: a second process inserting the same tick at the same time waits for the first one's
 * row to commit and then gets that row (INSERT ... ON CONFLICT DO UPDATE "guarantees an atomic
 * INSERT or UPDATE outcome" under concurrency:
 * https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT), and the row stays,
 * so a process that asks later (it started late, or catches up a tick after a restart) sees
 * the tick taken. An advisory lock (pg_try_advisory_xact_lock) alone would give only the
 * first: once the first process's transaction ended, a later one would take the tick again;
 * with the table it adds nothing, so it is used only around the table's creation, which
 * CREATE TABLE IF NOT EXISTS does not make safe against a concurrent one by itself.
 *
 * The "DO UPDATE SET owner = t.owner" writes the same owner back: unlike DO NOTHING it returns
 * the existing row, so one round trip tells who holds the tick. The owner names the process
 * durably (host and store), so a process that took a tick and crashed before spooling it still
 * holds that tick after its restart. Rows older than `ttl` are deleted now and then. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/postgres/conn.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "sources/schedule/schedule_int.h"

#define LOCK_CLEANUP_EVERY 60000 /* ms of ticks between two deletes of old rows */

struct sl_schedule_lock_pg {
    struct sl_schedule_lock base;
    struct sl_pg_conn conn;
    char endpoint[256];
    char *sql_create, *sql_take, *sql_cleanup;
    int64_t cleaned_ms; /* the tick of the last delete of old rows */
    bool need_create;   /* send the table's creation before the next take */
    bool closing;
};

static const struct sl_schedule_lock_ops pg_lock_ops;

static bool pg_lock_connect(struct sl_schedule_lock *base, char *why, size_t cap)
{
    struct sl_schedule_lock_pg *l = (struct sl_schedule_lock_pg *)base;
    return sl_pg_conn_connect(&l->conn, why, cap) == 0;
}

/* The table's creation and the deletes of old rows: only an error is worth a line. */
static void chore_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct sl_schedule_lock_pg *l = priv;
    if (l->closing || !res)
        return;
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        sl_warn(l->base.scope, "lock: %s", PQresultErrorMessage(res));
}

static void state_cb(struct sl_pg_conn *c, bool up, const char *why, void *arg)
{
    (void)c;
    struct sl_schedule_lock_pg *l = arg;
    sl_schedule_lock_state(&l->base, up, why);
    l->need_create = true;
}

static void take_cb(struct sl_pg_conn *c, PGresult *res, void *priv)
{
    (void)c;
    struct sl_schedule_lock_pg *l = priv;
    if (l->closing)
        return;   /* dropped by destroy */
    int won = -1; /* the connection went before the result came, or PostgreSQL refused */
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        won = strcmp(PQgetvalue(res, 0, 0), l->base.owner) == 0;
    else if (res) {
        sl_warn(l->base.scope, "lock: %s", PQresultErrorMessage(res));
        l->need_create = true; /* the table may have gone (dropped, or never made) */
    }
    l->base.cb(won, l->base.arg);
}

static void pg_lock_take(struct sl_schedule_lock *base, int64_t tick_ms)
{
    struct sl_schedule_lock_pg *l = (struct sl_schedule_lock_pg *)base;
    char tick[32];
    snprintf(tick, sizeof(tick), "%lld", (long long)tick_ms);
    const char *values[] = {base->cfg->key, tick, base->owner};
    /* Queued first: the take sent after it finds the table. */
    if (l->need_create &&
        sl_pg_conn_query(&l->conn, l->sql_create, 0, NULL, NULL, chore_cb, l) == 0)
        l->need_create = false;
    if (sl_pg_conn_query(&l->conn, l->sql_take, 3, values, NULL, take_cb, l) < 0) {
        sl_schedule_lock_fail_later(base); /* not connected */
        return;
    }
    if (tick_ms - l->cleaned_ms >= LOCK_CLEANUP_EVERY) {
        char before[32];
        snprintf(before, sizeof(before), "%lld", (long long)(tick_ms - base->cfg->ttl_ms));
        const char *old[] = {base->cfg->key, before};
        if (sl_pg_conn_query(&l->conn, l->sql_cleanup, 2, old, NULL, chore_cb, l) == 0)
            l->cleaned_ms = tick_ms;
    }
}

static bool pg_lock_up(const struct sl_schedule_lock *base)
{
    return ((const struct sl_schedule_lock_pg *)base)->conn.up;
}

static void pg_lock_destroy(struct sl_schedule_lock *base)
{
    struct sl_schedule_lock_pg *l = (struct sl_schedule_lock_pg *)base;
    l->closing = true; /* results delivered by the release below are dropped */
    sl_schedule_lock_base_release(base);
    sl_pg_conn_release(&l->conn);
    free(l->sql_create);
    free(l->sql_take);
    free(l->sql_cleanup);
    free(l);
}

/* The statements, the table name quoted (lock.c allows only letters, digits and _). */
static void build_sql(struct sl_schedule_lock_pg *l)
{
    const char *t = l->base.cfg->table;
    struct sl_buf b;
    sl_buf_init(&b);
    /* Two processes creating the table at once can both pass IF NOT EXISTS's check and collide
     * on the catalog: the advisory lock, held to the end of the transaction, serialises them.
     * Both statements in one simple query run as one implicit transaction; no explicit BEGIN,
     * which an error would leave open and aborted for the takes that follow
     * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT).
     */
    sl_buf_printf(
        &b,
        "SELECT pg_advisory_xact_lock(hashtext('sluice schedule lock table %s')); "
        "CREATE TABLE IF NOT EXISTS \"%s\" (schedule text NOT NULL, tick bigint NOT NULL, "
        "owner text NOT NULL, fired_at timestamptz NOT NULL DEFAULT now(), "
        "PRIMARY KEY (schedule, tick))",
        t, t);
    l->sql_create = sl_buf_steal(&b, NULL);
    sl_buf_init(&b);
    sl_buf_printf(&b,
                  "INSERT INTO \"%s\" (schedule, tick, owner) VALUES ($1, $2, $3) ON CONFLICT "
                  "(schedule, tick) DO UPDATE SET owner = \"%s\".owner RETURNING owner",
                  t, t);
    l->sql_take = sl_buf_steal(&b, NULL);
    sl_buf_init(&b);
    sl_buf_printf(&b, "DELETE FROM \"%s\" WHERE schedule = $1 AND tick < $2", t);
    l->sql_cleanup = sl_buf_steal(&b, NULL);
}

struct sl_schedule_lock *sl_schedule_lock_pg_create(struct ev_loop *loop,
                                                    const struct sl_schedule_lock_cfg *cfg,
                                                    const char *scope, const char *owner,
                                                    sl_schedule_lock_cb cb, void *arg)
{
    struct sl_schedule_lock_pg *l = SL_NEW(struct sl_schedule_lock_pg);
    sl_schedule_lock_base_init(&l->base, &pg_lock_ops, loop, cfg, scope, owner, cb, arg);
    build_sql(l);
    sl_pg_conn_endpoint(cfg->conninfo, l->endpoint, sizeof(l->endpoint));
    sl_info(scope, "lock: PostgreSQL %s, table %s, schedule %s, owner %s", l->endpoint, cfg->table,
            cfg->key, owner);
    struct sl_pg_conn_opts o = {
        .conninfo = cfg->conninfo,
        .password = cfg->conn.password && *cfg->conn.password ? cfg->conn.password : NULL,
        .application_name = "sluice schedule lock",
        .connect_timeout_ms = cfg->conn.connect_timeout_ms,
        .command_timeout_ms = cfg->conn.command_timeout_ms,
    };
    sl_pg_conn_init(&l->conn, loop, &o, state_cb, l);
    return &l->base;
}

static const struct sl_schedule_lock_ops pg_lock_ops = {
    .server = "PostgreSQL",
    .connect = pg_lock_connect,
    .take = pg_lock_take,
    .up = pg_lock_up,
    .destroy = pg_lock_destroy,
};
