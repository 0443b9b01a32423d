#include "cli/mapstate.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

const char sl_mapstate_schema[] =
    "CREATE TABLE IF NOT EXISTS mapping_state ("
    " name TEXT PRIMARY KEY,"
    " enabled INTEGER NOT NULL,"        /* what an operator set */
    " config_enabled INTEGER NOT NULL," /* the config's `enabled` then */
    " changed_ms INTEGER NOT NULL)";    /* wall clock of the change */

struct mapstate_job {
    char *name;
    int enabled; /* -1: forget the row */
    int config_enabled;
    int64_t changed_ms;
    sl_mapstate_saved_cb cb;
    void *arg;
};

static int mapstate_job_fn(struct sl_store_conn *c, void *arg)
{
    struct mapstate_job *j = arg;
    sqlite3_stmt *st =
        j->enabled < 0 ? sl_store_stmt(c, "DELETE FROM mapping_state WHERE name = ?1")
                       : sl_store_stmt(c, "INSERT OR REPLACE INTO mapping_state (name, enabled, "
                                          "config_enabled, changed_ms) VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        return SL_ESTORE;
    sqlite3_bind_text(st, 1, j->name, -1, SQLITE_STATIC);
    if (j->enabled >= 0) {
        sqlite3_bind_int(st, 2, j->enabled);
        sqlite3_bind_int(st, 3, j->config_enabled);
        sqlite3_bind_int64(st, 4, j->changed_ms);
    }
    return sqlite3_step(st) == SQLITE_DONE ? 0 : SL_ESTORE;
}

static void mapstate_done(int status, void *arg)
{
    struct mapstate_job *j = arg;
    if (j->cb)
        j->cb(status, j->arg);
    free(j->name);
    free(j);
}

static int submit(struct sl_store *st, const char *name, int enabled, int config_enabled,
                  sl_mapstate_saved_cb cb, void *arg)
{
    struct mapstate_job *j = SL_NEW(struct mapstate_job);
    j->name = sl_strdup(name);
    j->enabled = enabled;
    j->config_enabled = config_enabled;
    j->changed_ms = sl_now_ms();
    j->cb = cb;
    j->arg = arg;
    int rc = sl_store_submit(st, mapstate_job_fn, mapstate_done, j);
    if (rc < 0) {
        free(j->name);
        free(j);
    }
    return rc;
}

void sl_mapstate_apply(struct sl_store *st, const struct sl_cfg_mapping *cfg, struct sl_mapping *m)
{
    sqlite3_stmt *q = sl_store_stmt(
        sl_store_reader(st),
        "SELECT enabled, config_enabled, changed_ms FROM mapping_state WHERE name = ?1");
    if (!q)
        return;
    sqlite3_bind_text(q, 1, cfg->name, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_reset(q);
        return;
    }
    bool enabled = sqlite3_column_int(q, 0) != 0;
    bool config_enabled = sqlite3_column_int(q, 1) != 0;
    int64_t changed_ms = sqlite3_column_int64(q, 2);
    sqlite3_reset(q);
    char scope[96];
    snprintf(scope, sizeof(scope), "mapping:%s", cfg->name);
    if (config_enabled != cfg->enabled) {
        sl_info(scope,
                "the config's enabled (%s) changed since an operator %s this mapping: the "
                "config's value holds",
                cfg->enabled ? "true" : "false", enabled ? "enabled" : "disabled");
        submit(st, cfg->name, -1, 0, NULL, NULL);
        return;
    }
    sl_mapping_init_state(m, enabled, "User action", changed_ms);
    if (enabled != cfg->enabled)
        sl_info(scope, "%s by an operator (kept in the store): `sluice mappings %s %s` to change",
                enabled ? "enabled" : "disabled", enabled ? "disable" : "enable", cfg->name);
}

int sl_mapstate_save(struct sl_store *st, const struct sl_cfg_mapping *cfg,
                     const struct sl_mapping *m, sl_mapstate_saved_cb cb, void *arg)
{
    return submit(st, cfg->name, sl_mapping_enabled(m) ? 1 : 0, cfg->enabled ? 1 : 0, cb, arg);
}
