/* Internals of the schedule source shared between its files. */
#ifndef SL_SOURCES_SCHEDULE_SCHEDULE_INT_H
#define SL_SOURCES_SCHEDULE_SCHEDULE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "clients/postgres/conf.h"
#include "clients/redis/conf.h"
#include "clients/redis/conn.h"
#include "core/store.h"
#include "sources/schedule/expr.h"
#include "sources/source.h"

/* ---- the event (encode.c) ---- */

/* The record's attributes: the EventBridge scheduled event's fields but `detail` (a new
 * string): version, id, detail-type, source, account, time (the tick), region, resources. */
char *sl_schedule_attrs(const char *id, int64_t tick_ms, const char *account, const char *region,
                        const char *name);
void sl_schedule_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                        struct sl_buf *out);
bool sl_schedule_filter_view(const struct sl_record *r, struct sl_fview *out);

/* ---- the durable state (state.c): per source, the tick up to which every tick was fired or
 * skipped, in the embedded store's schedule_state table ---- */

extern const char sl_schedule_state_schema[];
/* 1 and *done_ms when the source has a row, 0 when not, or a negative code. Loop thread. */
int sl_schedule_state_read(struct sl_store *st, const char *source, int64_t *done_ms);
/* A row to write: in a spool item's `also` (sl_schedule_state_put, on the store's writer
 * thread, in the insert's savepoint) or through sl_schedule_state_write. */
struct sl_schedule_state_row {
    const char *source;
    int64_t done_ms;
};
int sl_schedule_state_put(struct sl_store_conn *c, void *arg);
/* Queues the write of done_ms (committed after every write queued before it). */
int sl_schedule_state_write(struct sl_store *st, const char *source, int64_t done_ms,
                            sl_store_done_cb done, void *arg);

/* ---- the lock (lock.c, lock_redis.c, lock_pg.c): one fire per tick across processes sharing
 * a Redis or a PostgreSQL database ---- */

enum { SL_SCHEDULE_LOCK_NONE = 0, SL_SCHEDULE_LOCK_REDIS, SL_SCHEDULE_LOCK_POSTGRES };
extern const char *const sl_schedule_lock_types[];

struct sl_schedule_lock_cfg {
    int type;
    struct sl_redis_conn_cfg conn; /* redis; postgres uses its password and timeouts */
    char *conninfo;                /* postgres */
    char *table;                   /* postgres: the table of fired ticks */
    char *key;
    int64_t ttl_ms;
};

extern const struct sl_prop_table sl_schedule_lock_table;

/* Checks the lock's keys for its type and fills the default key; errors name the file and
 * `<section path>.lock.<key>`. */
int sl_schedule_lock_cfg_check(struct sl_schedule_lock_cfg *c, const struct sl_config *cfg,
                               const struct sl_cfg_typed *sec, struct sl_err *err);

/* The outcome of taking a tick: 1 this process fires it, 0 another one did, < 0 unknown (the
 * lock could not be asked: retry). */
typedef void (*sl_schedule_lock_cb)(int won, void *arg);

struct sl_schedule_lock;

/* One kind of lock. */
struct sl_schedule_lock_ops {
    const char *server; /* "Redis", "PostgreSQL": for messages */
    /* Starts connecting; false (with why) when it cannot even start (retried in a second). */
    bool (*connect)(struct sl_schedule_lock *l, char *why, size_t cap);
    void (*take)(struct sl_schedule_lock *l, int64_t tick_ms);
    bool (*up)(const struct sl_schedule_lock *l);
    void (*destroy)(struct sl_schedule_lock *l);
};

/* What every kind of lock keeps (the first member of each). */
struct sl_schedule_lock {
    const struct sl_schedule_lock_ops *ops;
    struct ev_loop *loop;
    const struct sl_schedule_lock_cfg *cfg;
    const char *scope;
    char *owner;
    sl_schedule_lock_cb cb;
    void *arg;
    ev_timer reconnect;
    ev_timer fail; /* fails a request that could not be sent, from the loop */
    bool logged_down;
};

/* For the kinds of lock (lock.c). */
void sl_schedule_lock_base_init(struct sl_schedule_lock *l, const struct sl_schedule_lock_ops *ops,
                                struct ev_loop *loop, const struct sl_schedule_lock_cfg *cfg,
                                const char *scope, const char *owner, sl_schedule_lock_cb cb,
                                void *arg);
void sl_schedule_lock_base_release(struct sl_schedule_lock *l);
/* ops->connect now, and again every second until it starts. */
void sl_schedule_lock_connect(struct sl_schedule_lock *l);
/* The connection came up or went down (then connects again in a second); logs each change. */
void sl_schedule_lock_state(struct sl_schedule_lock *l, bool up, const char *why);
/* The request could not be sent: cb(-1) from the loop, not from inside take. */
void sl_schedule_lock_fail_later(struct sl_schedule_lock *l);

/* owner names this process durably (the same after a restart): the owner the lock records for
 * the ticks it takes. Connects now (retried every second while the server is unreachable). */
struct sl_schedule_lock *sl_schedule_lock_create(struct ev_loop *loop,
                                                 const struct sl_schedule_lock_cfg *cfg,
                                                 const char *scope, const char *owner,
                                                 sl_schedule_lock_cb cb, void *arg);
struct sl_schedule_lock *sl_schedule_lock_redis_create(struct ev_loop *loop,
                                                       const struct sl_schedule_lock_cfg *cfg,
                                                       const char *scope, const char *owner,
                                                       sl_schedule_lock_cb cb, void *arg);
struct sl_schedule_lock *sl_schedule_lock_pg_create(struct ev_loop *loop,
                                                    const struct sl_schedule_lock_cfg *cfg,
                                                    const char *scope, const char *owner,
                                                    sl_schedule_lock_cb cb, void *arg);
/* Asks for tick_ms: won when the lock records our owner for it. cb fires exactly once per call
 * (possibly later), never from inside this call. One request at a time. */
void sl_schedule_lock_take(struct sl_schedule_lock *l, int64_t tick_ms);
bool sl_schedule_lock_up(const struct sl_schedule_lock *l);
/* "Redis" or "PostgreSQL". */
const char *sl_schedule_lock_server(const struct sl_schedule_lock *l);
/* Drops the connection; a request in flight gets no callback. NULL is fine. */
void sl_schedule_lock_destroy(struct sl_schedule_lock *l);

/* ---- the configuration (conf.c) ---- */

enum { SL_SCHEDULE_CATCH_UP_NONE = 0, SL_SCHEDULE_CATCH_UP_ONE };
extern const char *const sl_schedule_catch_up_values[];

struct sl_schedule_cfg {
    char *expression;
    char *timezone;
    json_t *input;
    int catch_up;
    char *account;
    char *region;
    struct sl_schedule_lock_cfg lock;
};

extern const struct sl_prop_table sl_schedule_table;

/* The bound keys and what they give. */
struct sl_schedule_conf {
    struct sl_schedule_cfg cfg;
    struct sl_sched_expr expr;
    struct sl_tz *tz;
    char *detail; /* input as compact JSON text ("{}" without one) */
    size_t detail_len;
};

/* Binds sec and checks it; errors name the file, the key path, the value and what is allowed.
 * On error c needs no release. */
int sl_schedule_conf_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                          struct sl_schedule_conf *c, struct sl_err *err);
void sl_schedule_conf_release(struct sl_schedule_conf *c);

#endif
