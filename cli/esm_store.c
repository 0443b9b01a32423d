/* admin.esm_store: where the mappings made through the ESM API are kept (cli/esm.h). Unset, in
 * this process's own SQLite store (cli/esm.c); `type: postgres`, in a table every sluice process
 * sharing it reads (cli/esm_store_pg.c). The key is bound here rather than in config/schema.c
 * because its connection keys are the clients' (clients/postgres/conf.h), which the config
 * library does not link. */
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/esm.h"
#include "core/log.h"
#include "core/mem.h"

#define OFF(f) offsetof(struct sl_esm_store_cfg, f)

static const char *const store_types[] = {"local", "postgres", "redis", NULL};

static const struct sl_prop store_props[] = {
    {.name = "type",
     .type = SL_PROP_ENUM,
     .offset = OFF(type),
     .def = "local",
     .enum_values = store_types,
     .desc = "`local`: each process keeps its own API mappings in its store (table "
             "esm_mappings); `postgres`: they live in the table sluice_esm_mappings of "
             "`postgres`, shared by every process configured so, and each process runs every "
             "one of them; `redis`: likewise in hashes of `redis` under `key` (docs/ESM_API.md)."},
    /* Bound by sl_esm_store_bind with sl_pg_conn_table when the type asks for it: a table row
     * would bind its required conninfo for type local too. */
    {.name = "postgres",
     .type = SL_PROP_JSON,
     .offset = OFF(postgres_raw),
     .desc = "With `type: postgres`: the server, with the keys of `admin.esm_store.postgres` "
             "below (conninfo, password, connect_timeout, command_timeout, as for a PostgreSQL "
             "source)."},
    {.name = "redis",
     .type = SL_PROP_JSON,
     .offset = OFF(redis_raw),
     .desc = "With `type: redis`: the server, with the keys of `admin.esm_store.redis` below "
             "(host, port, unix_socket, password, db, connect_timeout, command_timeout, as for a "
             "Redis source)."},
    {.name = "key",
     .type = SL_PROP_STRING,
     .offset = OFF(key),
     .def = "sluice:esm",
     .desc = "With `type: redis`: the prefix of its keys (`<key>:docs`, `<key>:pairs`, "
             "`<key>:pair_of`, `<key>:version`) and the channel changes are published on "
             "(`<key>`)."},
    {.name = "poll",
     .type = SL_PROP_DURATION,
     .offset = OFF(poll_ms),
     .def = "30s",
     .min = 1000,
     .max = 3600 * 1000LL,
     .desc = "How often the shared table is read again even without a notification (a "
             "fallback: changes are announced with NOTIFY or PUBLISH and applied at once)."},
};

const struct sl_prop_table sl_esm_store_table = {
    .name = "admin.esm_store",
    .desc = "The shared engine of the event-source-mapping API's mappings (docs/ESM_API.md). "
            "Read at start only.",
    .props = store_props,
    .nprops = SL_ARRAY_LEN(store_props),
    .struct_size = sizeof(struct sl_esm_store_cfg),
};

int sl_esm_store_bind(const struct sl_config *cfg, struct sl_esm_store_cfg *out, struct sl_err *err)
{
    const char *file = cfg->file ? cfg->file : "config";
    struct sl_prop_ctx ctx = {.file = cfg->file, .path = "admin.esm_store", .dir = cfg->dir};
    json_t *node = cfg->admin.esm_store ? cfg->admin.esm_store : NULL;
    if (node && !json_is_object(node))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: admin.esm_store: expected a mapping ({type: local} or {type: "
                          "postgres, postgres: {conninfo: ...}})",
                          file);
    int rc = sl_props_bind(&sl_esm_store_table, node, out, &ctx, err);
    if (rc < 0 || out->type == SL_ESM_STORE_LOCAL)
        return rc;
    bool pg = out->type == SL_ESM_STORE_POSTGRES;
    const char *path = pg ? "admin.esm_store.postgres" : "admin.esm_store.redis";
    json_t *raw = pg ? out->postgres_raw : out->redis_raw;
    if (!raw)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s: missing (required with type: %s; its keys: %s)", file, path,
                          store_types[out->type],
                          pg ? "conninfo, password, connect_timeout, command_timeout"
                             : "host, port, unix_socket, password, db, connect_timeout, "
                               "command_timeout");
    struct sl_prop_ctx sub = {.file = cfg->file, .path = path, .dir = cfg->dir};
    if (pg) {
        rc = sl_props_bind(&sl_pg_conn_table, raw, &out->postgres, &sub, err);
        return rc < 0 ? rc : sl_pg_conn_cfg_check(&out->postgres, file, path, err);
    }
    if (!out->key || !*out->key || strlen(out->key) > 200)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: admin.esm_store.key: \"%.40s\" (allowed: 1 to 200 characters)", file,
                          out->key ? out->key : "");
    rc = sl_props_bind(&sl_redis_conn_table, raw, &out->redis, &sub, err);
    return rc < 0 ? rc : sl_redis_conn_cfg_check(&out->redis, file, path, err);
}

void sl_esm_store_release(struct sl_esm_store_cfg *c)
{
    sl_props_release(&sl_pg_conn_table, &c->postgres);
    sl_props_release(&sl_redis_conn_table, &c->redis);
    sl_props_release(&sl_esm_store_table, c);
}

int sl_esm_store_check(const struct sl_config *cfg, struct sl_err *err)
{
    struct sl_esm_store_cfg c;
    memset(&c, 0, sizeof(c));
    int rc = sl_esm_store_bind(cfg, &c, err);
    sl_esm_store_release(&c);
    return rc;
}

void sl_esm_rows_free(struct sl_esm_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(rows[i].doc);
    free(rows);
}

/* ---- what every shared engine does alike ------------------------------------------------------
 */

#define RECONNECT_S 1.0

static const char scope[] = "esm";

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    sl_esm_watch_read(t->data);
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct sl_esm_watch *w = t->data;
    w->connect(w);
}

void sl_esm_watch_init(struct sl_esm_watch *w, struct sl_app *app, int64_t poll_ms,
                       int (*read)(struct sl_esm_watch *), void (*connect)(struct sl_esm_watch *))
{
    w->app = app;
    w->read = read;
    w->connect = connect;
    ev_init(&w->reconnect, reconnect_cb);
    w->reconnect.data = w;
    ev_timer_init(&w->poll, poll_cb, (double)poll_ms / 1000.0, (double)poll_ms / 1000.0);
    w->poll.data = w;
    ev_timer_start(app->loop, &w->poll);
}

void sl_esm_watch_read(struct sl_esm_watch *w)
{
    if (w->reading) {
        w->again = true;
        return;
    }
    if (w->read(w) == 0)
        w->reading = true;
}

void sl_esm_watch_rows(struct sl_esm_watch *w, bool ok, struct sl_esm_row *rows, size_t n)
{
    w->reading = false;
    if (w->closing)
        return;
    if (ok) {
        sl_debug(scope, "read %zu rows of the shared store", n);
        sl_esm_sync(w->app, rows, n);
    }
    if (w->again) {
        w->again = false;
        sl_esm_watch_read(w);
    }
}

void sl_esm_watch_up(struct sl_esm_watch *w)
{
    if (w->down)
        sl_info(scope, "the shared ESM store at %s is reachable again", w->endpoint);
    w->down = false;
    w->reading = false; /* a read on the connection that went got its NULL */
    sl_esm_held_go(w->app, true);
    sl_esm_watch_read(w);
}

void sl_esm_watch_down(struct sl_esm_watch *w, const char *why)
{
    if (!w->down)
        sl_warn(scope,
                "the shared ESM store at %s is unreachable: %s (API changes answer 500 until it "
                "is back; the mappings known run on; retrying every second)",
                w->endpoint, why ? why : "");
    w->down = true;
    w->reading = false;
    sl_esm_held_go(w->app, false);
    ev_timer_set(&w->reconnect, RECONNECT_S, 0);
    ev_timer_start(w->app->loop, &w->reconnect);
}

void sl_esm_watch_stop(struct sl_esm_watch *w)
{
    w->closing = true;
    ev_timer_stop(w->app->loop, &w->reconnect);
    ev_timer_stop(w->app->loop, &w->poll);
}
