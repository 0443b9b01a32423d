/* The schedule lock's keys and the calls every kind of lock answers (lock_redis.c: SET NX on a
 * Redis key per tick; lock_pg.c: a row per tick in a PostgreSQL table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "sources/schedule/schedule_int.h"

#define LOCK_RECONNECT_S 1.0
#define LOCK_KEY_MAX     200
#define LOCK_IDENT_MAX   63 /* PostgreSQL's NAMEDATALEN - 1 */

#define OFF(f) offsetof(struct sl_schedule_lock_cfg, f)

const char *const sl_schedule_lock_types[] = {"none", "redis", "postgres", NULL};

static const struct sl_prop lock_props[] = {
    {.name = "type",
     .type = SL_PROP_ENUM,
     .offset = OFF(type),
     .def = "none",
     .enum_values = sl_schedule_lock_types,
     .desc = "`redis` or `postgres`: processes that share this Redis or PostgreSQL database "
             "fire each tick once in total; `none`: every process fires every tick (one process "
             "per schedule)."},
    /* host, port, unix_socket, password, db, connect_timeout, command_timeout. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_redis_conn_table},
    {.name = "conninfo",
     .type = SL_PROP_STRING,
     .offset = OFF(conninfo),
     .desc = "`postgres` (required there): the database, a libpq connection string or URI "
             "without a password, as a PostgreSQL source's `conninfo` (docs/POSTGRES.md); "
             "`password`, `connect_timeout` and `command_timeout` apply to it too."},
    {.name = "table",
     .type = SL_PROP_STRING,
     .offset = OFF(table),
     .def = "sluice_schedule_ticks",
     .desc = "`postgres`: the table of fired ticks, created if missing (letters, digits and "
             "`_`, at most 63 bytes)."},
    {.name = "key",
     .type = SL_PROP_STRING,
     .offset = OFF(key),
     .desc = "Names the schedule in the lock: the prefix of the Redis keys (`<key>:<tick in "
             "Unix ms>`), the `schedule` column of the PostgreSQL table; default "
             "`sluice:schedule:<source name>`."},
    {.name = "ttl",
     .type = SL_PROP_DURATION,
     .offset = OFF(ttl_ms),
     .def = "1h",
     .min = 1000,
     .max = 7 * 86400 * 1000LL,
     .desc = "How long a tick is remembered (a Redis key's life; older rows of the PostgreSQL "
             "table are deleted): a process down for less than this does not fire again "
             "(catch_up) a tick another one fired."},
};

const struct sl_prop_table sl_schedule_lock_table = {
    .name = "lock",
    .desc = "One fire per tick across sluice processes.",
    .props = lock_props,
    .nprops = SL_ARRAY_LEN(lock_props),
    .struct_size = sizeof(struct sl_schedule_lock_cfg),
};

static bool ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LOCK_IDENT_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static int check_postgres(const struct sl_schedule_lock_cfg *c, const struct sl_config *cfg,
                          const struct sl_cfg_typed *sec, const char *path, struct sl_err *err)
{
    if (!c->conninfo)
        return sl_config_section_error(err, cfg, sec, "lock.conninfo",
                                       "missing (required with type: postgres; allowed: a libpq "
                                       "connection string or URI)");
    struct sl_pg_conn_cfg pc = {.conninfo = c->conninfo, .password = c->conn.password};
    int rc = sl_pg_conn_cfg_check(&pc, cfg ? cfg->file : NULL, path, err);
    if (rc < 0)
        return rc;
    if (!ident_ok(c->table))
        return sl_config_section_error(err, cfg, sec, "lock.table",
                                       "\"%.80s\" is not a table name (allowed: letters, digits "
                                       "and _, not starting with a digit, at most %d bytes)",
                                       c->table, LOCK_IDENT_MAX);
    return 0;
}

int sl_schedule_lock_cfg_check(struct sl_schedule_lock_cfg *c, const struct sl_config *cfg,
                               const struct sl_cfg_typed *sec, struct sl_err *err)
{
    if (c->type == SL_SCHEDULE_LOCK_NONE)
        return 0;
    char path[256];
    snprintf(path, sizeof(path), "%s.lock", sec->path ? sec->path : "sources[]");
    int rc;
    if (c->type == SL_SCHEDULE_LOCK_REDIS) {
        if (c->conninfo)
            return sl_config_section_error(err, cfg, sec, "lock.conninfo",
                                           "set with type: redis (allowed: only with type: "
                                           "postgres)");
        rc = sl_redis_conn_cfg_check(&c->conn, cfg ? cfg->file : NULL, path, err);
    } else {
        rc = check_postgres(c, cfg, sec, path, err);
    }
    if (rc < 0)
        return rc;
    if (!c->key) {
        struct sl_buf k;
        sl_buf_init(&k);
        sl_buf_printf(&k, "sluice:schedule:%s", sec->name);
        c->key = sl_buf_steal(&k, NULL);
    } else if (!*c->key || strlen(c->key) > LOCK_KEY_MAX) {
        return sl_config_section_error(err, cfg, sec, "lock.key",
                                       "\"%.*s\" is not a key prefix (allowed: 1 to %d "
                                       "characters)",
                                       LOCK_KEY_MAX, c->key, LOCK_KEY_MAX);
    }
    return 0;
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sl_schedule_lock_connect(w->data);
}

static void fail_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct sl_schedule_lock *l = w->data;
    ev_timer_stop(loop, w);
    l->cb(-1, l->arg);
}

void sl_schedule_lock_base_init(struct sl_schedule_lock *l, const struct sl_schedule_lock_ops *ops,
                                struct ev_loop *loop, const struct sl_schedule_lock_cfg *cfg,
                                const char *scope, const char *owner, sl_schedule_lock_cb cb,
                                void *arg)
{
    l->ops = ops;
    l->loop = loop;
    l->cfg = cfg;
    l->scope = scope;
    l->owner = sl_strdup(owner);
    l->cb = cb;
    l->arg = arg;
    ev_timer_init(&l->reconnect, reconnect_cb, LOCK_RECONNECT_S, 0);
    l->reconnect.data = l;
    ev_timer_init(&l->fail, fail_cb, 0, 0);
    l->fail.data = l;
}

void sl_schedule_lock_base_release(struct sl_schedule_lock *l)
{
    ev_timer_stop(l->loop, &l->reconnect);
    ev_timer_stop(l->loop, &l->fail);
    free(l->owner);
    l->owner = NULL;
}

static void connect_later(struct sl_schedule_lock *l)
{
    ev_timer_set(&l->reconnect, LOCK_RECONNECT_S, 0);
    ev_timer_start(l->loop, &l->reconnect);
}

void sl_schedule_lock_connect(struct sl_schedule_lock *l)
{
    char why[256];
    if (!l->ops->connect(l, why, sizeof(why))) {
        sl_warn(l->scope, "lock: cannot connect to %s: %s (retrying)", l->ops->server, why);
        connect_later(l);
    }
}

void sl_schedule_lock_state(struct sl_schedule_lock *l, bool up, const char *why)
{
    if (up) {
        if (l->logged_down)
            sl_info(l->scope, "lock: %s reachable again", l->ops->server);
        l->logged_down = false;
        return;
    }
    if (!l->logged_down)
        sl_warn(l->scope, "lock: %s unreachable: %s (ticks wait for it)", l->ops->server,
                why ? why : "");
    l->logged_down = true;
    connect_later(l);
}

void sl_schedule_lock_fail_later(struct sl_schedule_lock *l)
{
    ev_timer_start(l->loop, &l->fail);
}

struct sl_schedule_lock *sl_schedule_lock_create(struct ev_loop *loop,
                                                 const struct sl_schedule_lock_cfg *cfg,
                                                 const char *scope, const char *owner,
                                                 sl_schedule_lock_cb cb, void *arg)
{
    struct sl_schedule_lock *l = NULL;
    if (cfg->type == SL_SCHEDULE_LOCK_REDIS)
        l = sl_schedule_lock_redis_create(loop, cfg, scope, owner, cb, arg);
    else if (cfg->type == SL_SCHEDULE_LOCK_POSTGRES)
        l = sl_schedule_lock_pg_create(loop, cfg, scope, owner, cb, arg);
    if (l)
        sl_schedule_lock_connect(l);
    return l;
}

void sl_schedule_lock_take(struct sl_schedule_lock *l, int64_t tick_ms)
{
    l->ops->take(l, tick_ms);
}

bool sl_schedule_lock_up(const struct sl_schedule_lock *l)
{
    return l->ops->up(l);
}

const char *sl_schedule_lock_server(const struct sl_schedule_lock *l)
{
    return l->ops->server;
}

void sl_schedule_lock_destroy(struct sl_schedule_lock *l)
{
    if (l)
        l->ops->destroy(l);
}
