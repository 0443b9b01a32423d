/* The mappings made through the ESM API: kept in the store, merged into the configuration,
 * applied through a reload (cli/esm.h). */
#include "cli/esm.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/readers.h"
#include "cli/reload.h"
#include "core/log.h"
#include "core/mem.h"

static const char scope[] = "esm";

const char sl_esm_schema[] = "CREATE TABLE IF NOT EXISTS esm_mappings ("
                             " uuid TEXT PRIMARY KEY,"
                             " name TEXT NOT NULL UNIQUE," /* the sluice mapping: esm-<uuid> */
                             " doc TEXT NOT NULL,"         /* the Lambda fields, JSON */
                             " state TEXT NOT NULL,"       /* Enabled or Disabled, as set */
                             " created_ms INTEGER NOT NULL,"
                             " modified_ms INTEGER NOT NULL)";

void sl_esm_entry_free(struct sl_esm_entry *e)
{
    if (!e)
        return;
    free(e->name);
    json_decref(e->doc);
    free(e);
}

int sl_esm_open(struct sl_app *app, struct sl_err *err)
{
    if (sl_store_exec(app->store, sl_esm_schema, err) < 0)
        return SL_ESTORE;
    struct sl_esm *esm = SL_NEW(struct sl_esm);
    app->esm = esm;
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(app->store),
                                    "SELECT uuid, name, doc, modified_ms FROM esm_mappings ORDER "
                                    "BY created_ms, rowid");
    if (!q)
        return sl_err_set(err, SL_ERR_FATAL, SL_ESTORE, "cannot read the table esm_mappings");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *uuid = (const char *)sqlite3_column_text(q, 0);
        const char *name = (const char *)sqlite3_column_text(q, 1);
        const char *doc = (const char *)sqlite3_column_text(q, 2);
        json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
        if (!uuid || strlen(uuid) != SL_ESM_UUID_LEN || !name || !json_is_object(j)) {
            sl_error(scope, "event source mapping %s: unreadable row in the store: left out",
                     uuid ? uuid : "?");
            json_decref(j);
            continue;
        }
        struct sl_esm_entry *e = SL_NEW(struct sl_esm_entry);
        memcpy(e->uuid, uuid, SL_ESM_UUID_LEN + 1);
        e->name = sl_strdup(name);
        e->doc = j;
        e->modified_ms = sqlite3_column_int64(q, 3);
        esm->v = sl_realloc(esm->v, (esm->n + 1) * sizeof(*esm->v));
        esm->v[esm->n++] = e;
    }
    sqlite3_reset(q);
    if (esm->n)
        sl_info(scope, "%zu event source mappings made through the API (kept in the store)",
                esm->n);
    return sl_esm_merge(app, &app->cfg, false, err);
}

void sl_esm_release(struct sl_app *app)
{
    struct sl_esm *esm = app->esm;
    if (!esm)
        return;
    for (size_t i = 0; i < esm->n; i++)
        sl_esm_entry_free(esm->v[i]);
    free(esm->v);
    free(esm);
    app->esm = NULL;
}

/* Why the entry cannot be a mapping of cfg, or 0. */
static int entry_check(const struct sl_esm_entry *e, const struct sl_config *cfg,
                       struct sl_err *err)
{
    char source[256], function[256];
    sl_esm_doc_names(e->doc, source, sizeof(source), function, sizeof(function));
    if (!sl_config_find(&cfg->sources, source))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "event source mapping %s reads source \"%s\", which the configuration "
                          "no longer defines",
                          e->uuid, source);
    if (!sl_config_find(&cfg->functions, function))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "event source mapping %s invokes function \"%s\", which the "
                          "configuration no longer defines",
                          e->uuid, function);
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *m = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (m->name && strcmp(m->name, e->name) == 0)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "event source mapping %s: the mapping name \"%s\" is taken by %s",
                              e->uuid, e->name, m->path ? m->path : "another mapping");
        /* A stream source has a reader per mapping, a push source fans out (cli/readers.h). */
        if (m->source && strcmp(m->source, source) == 0 && !sl_readers_several(cfg, source))
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "event source mapping %s: source \"%s\" is read by mapping \"%s\" "
                              "(%s) too (allowed: one mapping per source)",
                              e->uuid, source, m->name ? m->name : "", m->path ? m->path : "");
    }
    return 0;
}

int sl_esm_merge(struct sl_app *app, struct sl_config *cfg, bool strict, struct sl_err *err)
{
    struct sl_esm *esm = app->esm;
    for (size_t i = 0; esm && i < esm->n; i++) {
        struct sl_esm_entry *e = esm->v[i];
        if (e->deleted || e->saving)
            continue;
        struct sl_err ee;
        sl_err_clear(&ee);
        int rc = entry_check(e, cfg, &ee);
        if (rc == 0) {
            json_t *sec = sl_esm_section(e);
            char path[64];
            snprintf(path, sizeof(path), "event-source-mappings/%s", e->uuid);
            rc = sl_config_add_mapping(cfg, sec, path, &ee);
            json_decref(sec);
        }
        /* One that ran is kept running or the change is refused; one that already could not
         * run (its source gone while sluice was stopped) stays out until fixed or deleted. */
        if (rc < 0 && strict && !e->problem[0]) {
            *err = ee;
            return rc;
        }
        if (rc < 0) {
            if (strcmp(e->problem, ee.msg) != 0)
                sl_error(scope, "%s: not started", ee.msg);
            snprintf(e->problem, sizeof(e->problem), "%s", ee.msg);
        } else {
            e->problem[0] = '\0';
        }
    }
    return 0;
}

/* ---- applying a change -------------------------------------------------------------------- */

static void kick(struct sl_app *app);

static void applied_cb(int status, const char *body, size_t len, void *arg)
{
    struct sl_app *app = arg;
    struct sl_esm *esm = app->esm;
    if (!esm)
        return;
    esm->applying = false;
    if (status == 409) {
        esm->pending = true; /* another reload runs: again once it is done */
        return;
    }
    if (status != 200)
        sl_error(scope, "applying the API's change: %.*s", (int)len, body);
    size_t k = 0;
    for (size_t i = 0; i < esm->n; i++) {
        struct sl_esm_entry *e = esm->v[i];
        if (e->gen <= esm->applied_gen) {
            e->transition = NULL;
            if (e->deleted) {
                sl_esm_entry_free(e);
                continue;
            }
        }
        esm->v[k++] = e;
    }
    esm->n = k;
    if (esm->pending && app->state == SL_APP_RUNNING)
        kick(app);
}

static void kick(struct sl_app *app)
{
    struct sl_esm *esm = app->esm;
    if (esm->applying || app->reload) {
        esm->pending = true;
        return;
    }
    esm->pending = false;
    esm->applying = true;
    esm->applied_gen = esm->gen;
    sl_reload_mappings(app, applied_cb, app);
}

void sl_esm_changed(struct sl_app *app)
{
    kick(app);
}

void sl_esm_after_reload(struct sl_app *app)
{
    struct sl_esm *esm = app->esm;
    if (esm && esm->pending && !esm->applying && !app->reload && app->state == SL_APP_RUNNING)
        kick(app);
}

/* ---- the store ---------------------------------------------------------------------------- */

struct save_job {
    char uuid[SL_ESM_UUID_LEN + 1];
    char *name;
    char *doc; /* NULL: delete */
    bool enabled;
    int64_t ms;
    sl_esm_saved_cb cb;
    void *arg;
};

static int save_fn(struct sl_store_conn *c, void *arg)
{
    struct save_job *j = arg;
    sqlite3_stmt *st =
        !j->doc ? sl_store_stmt(c, "DELETE FROM esm_mappings WHERE uuid = ?1")
                : sl_store_stmt(c, "INSERT INTO esm_mappings (uuid, name, doc, state, created_ms, "
                                   "modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(uuid) "
                                   "DO UPDATE SET doc = ?3, state = ?4, modified_ms = ?5");
    if (!st)
        return SL_ESTORE;
    sqlite3_bind_text(st, 1, j->uuid, -1, SQLITE_STATIC);
    if (j->doc) {
        sqlite3_bind_text(st, 2, j->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->doc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, j->enabled ? "Enabled" : "Disabled", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, j->ms);
    }
    return sqlite3_step(st) == SQLITE_DONE ? 0 : SL_ESTORE;
}

static void save_done(int status, void *arg)
{
    struct save_job *j = arg;
    if (status < 0)
        sl_error(scope, "event source mapping %s: cannot write its row: %s", j->uuid,
                 sl_strerror(status));
    if (j->cb)
        j->cb(status, j->arg);
    free(j->name);
    free(j->doc);
    free(j);
}

int sl_esm_save(struct sl_app *app, const struct sl_esm_entry *e, const json_t *doc, bool remove,
                sl_esm_saved_cb cb, void *arg)
{
    struct save_job *j = SL_NEW(struct save_job);
    memcpy(j->uuid, e->uuid, sizeof(j->uuid));
    j->name = sl_strdup(e->name);
    j->doc = remove ? NULL : json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    j->enabled = !json_is_false(json_object_get(doc, "Enabled"));
    j->ms = e->modified_ms;
    j->cb = cb;
    j->arg = arg;
    int rc = sl_store_submit(app->store, save_fn, save_done, j);
    if (rc < 0) {
        free(j->name);
        free(j->doc);
        free(j);
    }
    return rc;
}
