/* The mappings made through the ESM API: kept in the store, merged into the configuration,
 * applied through a reload (cli/esm.h). */
#include "cli/esm.h"

#include <errno.h>
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

/* A write to a shared engine (admin.esm_store). */
struct shared_job {
    struct sl_app *app;
    struct sl_esm_entry *e;
    json_t *doc; /* the document to write (a reference), also for a delete: its names */
    bool remove;
    sl_esm_saved_cb cb;
    void *arg;
    struct shared_job *next; /* held: the next one */
};

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

static struct sl_esm_entry *entry_new(const char *uuid, json_t *doc, int64_t modified_ms)
{
    struct sl_esm_entry *e = SL_NEW(struct sl_esm_entry);
    memcpy(e->uuid, uuid, SL_ESM_UUID_LEN + 1);
    size_t nlen = strlen("esm-") + SL_ESM_UUID_LEN + 1;
    e->name = sl_malloc(nlen);
    snprintf(e->name, nlen, "esm-%s", e->uuid);
    e->doc = doc;
    e->modified_ms = modified_ms;
    return e;
}

static void entry_add(struct sl_esm *esm, struct sl_esm_entry *e)
{
    esm->v = sl_realloc(esm->v, (esm->n + 1) * sizeof(*esm->v));
    esm->v[esm->n++] = e;
}

static int open_local(struct sl_app *app, struct sl_err *err)
{
    struct sl_esm *esm = app->esm;
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
        entry_add(esm, entry_new(uuid, j, sqlite3_column_int64(q, 3)));
    }
    sqlite3_reset(q);
    if (esm->n)
        sl_info(scope, "%zu event source mappings made through the API (kept in the store)",
                esm->n);
    return 0;
}

static int open_shared(struct sl_app *app, const struct sl_esm_shared_ops *ops, struct sl_err *err)
{
    struct sl_esm *esm = app->esm;
    struct sl_esm_row *rows = NULL;
    size_t n = 0;
    int rc = ops->open(app, esm->store_cfg, &esm->sh, &rows, &n, err);
    if (rc < 0)
        return rc;
    esm->shared = ops;
    for (size_t i = 0; i < n; i++) {
        struct sl_esm_entry *e =
            entry_new(rows[i].uuid, json_incref(rows[i].doc), rows[i].modified_ms);
        e->version = rows[i].version;
        e->lenient = true;
        entry_add(esm, e);
    }
    sl_esm_rows_free(rows, n);
    if (esm->n)
        sl_info(scope, "%zu event source mappings made through the API (shared, %s)", esm->n,
                ops->name);
    return 0;
}

int sl_esm_open(struct sl_app *app, struct sl_err *err)
{
    if (sl_store_exec(app->store, sl_esm_schema, err) < 0)
        return SL_ESTORE;
    struct sl_esm *esm = SL_NEW(struct sl_esm);
    app->esm = esm;
    esm->store_cfg = SL_NEW(struct sl_esm_store_cfg);
    int rc = sl_esm_store_bind(&app->cfg, esm->store_cfg, err);
    static const struct sl_esm_shared_ops *const engines[] = {
        [SL_ESM_STORE_POSTGRES] = &sl_esm_pg_ops,
        [SL_ESM_STORE_REDIS] = &sl_esm_redis_ops,
    };
    if (rc == 0)
        rc = esm->store_cfg->type == SL_ESM_STORE_LOCAL
                 ? open_local(app, err)
                 : open_shared(app, engines[esm->store_cfg->type], err);
    if (rc < 0)
        return rc;
    return sl_esm_merge(app, &app->cfg, false, err);
}

void sl_esm_release(struct sl_app *app)
{
    struct sl_esm *esm = app->esm;
    if (!esm)
        return;
    if (esm->shared)
        esm->shared->close(esm->sh);
    for (struct shared_job *j = esm->held, *next; j; j = next) {
        next = j->next; /* the API call waiting for it is abandoned with the listener */
        json_decref(j->doc);
        free(j);
    }
    for (size_t i = 0; i < esm->n; i++)
        sl_esm_entry_free(esm->v[i]);
    if (esm->store_cfg)
        sl_esm_store_release(esm->store_cfg);
    free(esm->store_cfg);
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
                              "(%s) too (allowed: one mapping per postgres-queue source: its rows "
                              "are claimed once)",
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
         * run (its source gone while sluice was stopped) stays out until fixed or deleted, and
         * so does one a shared engine gave (another process made it: this one cannot refuse
         * it, only leave it out). */
        if (rc < 0 && strict && !e->problem[0] && !e->lenient) {
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

/* ---- changes another process made (a shared engine) ------------------------------------------ */

static struct sl_esm_entry *entry_by_uuid(struct sl_esm *esm, const char *uuid)
{
    for (size_t i = 0; i < esm->n; i++) {
        if (strcmp(esm->v[i]->uuid, uuid) == 0)
            return esm->v[i];
    }
    return NULL;
}

static bool rows_have(const struct sl_esm_row *rows, size_t n, const char *uuid)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].uuid, uuid) == 0)
            return true;
    }
    return false;
}

static void entry_set(struct sl_esm *esm, struct sl_esm_entry *e, const struct sl_esm_row *r,
                      const char *transition)
{
    json_decref(e->doc);
    e->doc = json_incref(r->doc);
    e->modified_ms = r->modified_ms;
    e->version = r->version;
    e->lenient = true;
    e->transition = transition;
    e->gen = ++esm->gen;
}

void sl_esm_sync(struct sl_app *app, struct sl_esm_row *rows, size_t n)
{
    struct sl_esm *esm = app->esm;
    size_t changes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sl_esm_row *r = &rows[i];
        struct sl_esm_entry *e = entry_by_uuid(esm, r->uuid);
        if (e && (e->writing || e->saving)) {
            esm->stale = true; /* our own write decides; read again once it is done */
            continue;
        }
        if (e && (e->deleted || e->version == r->version))
            continue;
        if (!e && esm->n >= SL_ESM_MAX) {
            sl_error(scope, "event source mapping %s: more than %d in the shared store: left out",
                     r->uuid, SL_ESM_MAX);
            continue;
        }
        if (!e) {
            e = entry_new(r->uuid, NULL, 0);
            entry_add(esm, e);
            entry_set(esm, e, r, "Creating");
            sl_info(scope, "event source mapping %s: made by another process: starting", e->uuid);
        } else {
            bool was = !json_is_false(json_object_get(e->doc, "Enabled"));
            bool now = !json_is_false(json_object_get(r->doc, "Enabled"));
            entry_set(esm, e, r, was == now ? "Updating" : now ? "Enabling" : "Disabling");
            sl_info(scope, "event source mapping %s: changed by another process: applying",
                    e->uuid);
        }
        changes++;
    }
    for (size_t i = 0; i < esm->n; i++) {
        struct sl_esm_entry *e = esm->v[i];
        if (e->deleted || e->writing || e->saving || rows_have(rows, n, e->uuid))
            continue;
        e->deleted = true;
        e->transition = "Deleting";
        e->gen = ++esm->gen;
        sl_info(scope, "event source mapping %s: deleted by another process: stopping", e->uuid);
        changes++;
    }
    if (!changes)
        return;
    if (app->state == SL_APP_RUNNING)
        kick(app);
    else
        esm->pending = true;
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
        j->cb(status, NULL, j->arg);
    free(j->name);
    free(j->doc);
    free(j);
}

/* ---- a shared engine ----------------------------------------------------------------------- */

static void shared_done(int status, uint64_t version, const char *other, void *arg)
{
    struct shared_job *j = arg;
    struct sl_app *app = j->app;
    struct sl_esm_entry *e = j->e;
    e->writing = false;
    if (status == 0 && version)
        e->version = version; /* our own change: the notification it sent changes nothing */
    if (status < 0 && status != -EEXIST && status != -ENOENT)
        sl_error(scope, "event source mapping %s: cannot write its row to the shared store: %s",
                 e->uuid, sl_strerror(status));
    j->cb(status, other, j->arg); /* may free e (a create that failed) */
    json_decref(j->doc);
    free(j);
    struct sl_esm *esm = app->esm;
    if (esm && esm->stale) {
        esm->stale = false;
        esm->shared->refresh(esm->sh);
    }
}

static int shared_send(struct shared_job *j)
{
    struct sl_esm *esm = j->app->esm;
    struct sl_esm_entry *e = j->e;
    char source[256], function[256];
    sl_esm_doc_names(j->doc, source, sizeof(source), function, sizeof(function));
    char *text = j->remove ? NULL : json_dumps(j->doc, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = esm->shared->save(esm->sh, e->uuid, source, function, text, e->modified_ms, e->saving,
                               shared_done, j);
    free(text);
    return rc;
}

static int save_shared(struct sl_app *app, struct sl_esm_entry *e, const json_t *doc, bool remove,
                       sl_esm_saved_cb cb, void *arg)
{
    struct sl_esm *esm = app->esm;
    struct shared_job *j = SL_NEW(struct shared_job);
    *j = (struct shared_job){.app = app,
                             .e = e,
                             .doc = json_incref((json_t *)doc),
                             .remove = remove,
                             .cb = cb,
                             .arg = arg};
    e->writing = true;
    int rc = shared_send(j);
    /* The first connection is still being made (just after the start): the write waits for
     * it rather than failing, as it would during an outage (the engine's watch is down). */
    if (rc == -ENOTCONN && !((struct sl_esm_watch *)esm->sh)->down) {
        struct shared_job **tail = &esm->held;
        while (*tail)
            tail = &(*tail)->next;
        *tail = j;
        return 0;
    }
    if (rc < 0) {
        e->writing = false;
        json_decref(j->doc);
        free(j);
    }
    return rc;
}

void sl_esm_held_go(struct sl_app *app, bool up)
{
    struct sl_esm *esm = app->esm;
    struct shared_job *j = esm ? esm->held : NULL;
    if (esm)
        esm->held = NULL;
    while (j) {
        struct shared_job *next = j->next;
        if (!up || shared_send(j) < 0)
            shared_done(-ENOTCONN, 0, NULL, j);
        j = next;
    }
}

int sl_esm_save(struct sl_app *app, struct sl_esm_entry *e, const json_t *doc, bool remove,
                sl_esm_saved_cb cb, void *arg)
{
    if (app->esm->shared)
        return save_shared(app, e, doc, remove, cb, arg);
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
