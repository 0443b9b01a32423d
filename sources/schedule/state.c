/* The schedule source's durable state: per source name, done_ms, the tick up to which every
 * tick was fired (its event is in the spool) or deliberately skipped. A restart compares it
 * with the clock to see what was missed (catch_up). A fired tick's done_ms is written in the
 * same savepoint as its spool row (the spool item's `also` write), so the two commit together
 * or not at all; skipped ticks are written on their own. The table is created when the first
 * schedule source is created (CREATE TABLE IF NOT EXISTS): a store without it is read by older
 * sluice versions as before, so it needs no schema step (cli/app.c). */
#include <sqlite3.h>
#include <stdlib.h>

#include "core/mem.h"
#include "sources/schedule/schedule_int.h"

const char sl_schedule_state_schema[] = "CREATE TABLE IF NOT EXISTS schedule_state("
                                        " source TEXT PRIMARY KEY,"
                                        " done_ms INTEGER NOT NULL)";

static const char sql_read[] = "SELECT done_ms FROM schedule_state WHERE source = ?";
static const char sql_write[] =
    "INSERT OR REPLACE INTO schedule_state(source, done_ms) VALUES(?, ?)";

struct state_job {
    struct sl_schedule_state_row row;
    char *source;
    sl_store_done_cb done;
    void *arg;
};

int sl_schedule_state_read(struct sl_store *st, const char *source, int64_t *done_ms)
{
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(st), sql_read);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int found = rc == SQLITE_ROW;
    if (found)
        *done_ms = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return found || rc == SQLITE_DONE ? found : SL_ESTORE;
}

int sl_schedule_state_put(struct sl_store_conn *c, void *arg)
{
    const struct sl_schedule_state_row *row = arg;
    sqlite3_stmt *q = sl_store_stmt(c, sql_write);
    if (!q)
        return SL_ESTORE;
    sqlite3_bind_text(q, 1, row->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, row->done_ms);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : SL_ESTORE;
}

static int state_job_fn(struct sl_store_conn *c, void *arg)
{
    struct state_job *j = arg;
    return sl_schedule_state_put(c, &j->row);
}

static void state_job_done(int status, void *arg)
{
    struct state_job *j = arg;
    if (j->done)
        j->done(status, j->arg);
    free(j->source);
    free(j);
}

int sl_schedule_state_write(struct sl_store *st, const char *source, int64_t done_ms,
                            sl_store_done_cb done, void *arg)
{
    struct state_job *j = SL_NEW(struct state_job);
    j->source = sl_strdup(source);
    j->row.source = j->source;
    j->row.done_ms = done_ms;
    j->done = done;
    j->arg = arg;
    int rc = sl_store_submit(st, state_job_fn, state_job_done, j);
    if (rc < 0) {
        free(j->source);
        free(j);
    }
    return rc;
}
