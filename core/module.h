/* What sources, functions (targets) and DLQ sinks have in common: the environment they are
 * created in, and the header every instance starts with (as libuv's handles share
 * UV_HANDLE_FIELDS): its ops, its config name, its type and its log scope. Each kind's create
 * has the same shape: create(env, section, out, err). */
#ifndef SL_CORE_MODULE_H
#define SL_CORE_MODULE_H

struct ev_loop;
struct sl_config;
struct sl_store;
struct sl_spool;
struct sl_metrics;
struct sl_http_router;
struct sl_target;

/* Everything a module may use, owned by the process; any member may be NULL where the caller
 * has no such thing (a tool without a loop, a unit test without a store). */
struct sl_env {
    struct ev_loop *loop;
    const struct sl_config *cfg;
    struct sl_store *store; /* the embedded store */
    struct sl_spool *spool; /* durable intake of push sources (sources/spool.h) */
    struct sl_metrics *metrics;
    struct sl_http_router *push; /* the push listener's router */
    /* The running function (target) of that name, or NULL: how an alias finds its versions at
     * each invocation (dispatcher/alias/alias_target.h). */
    struct sl_target *(*function)(void *ctx, const char *name);
    void *function_ctx;
};

#define SL_MODULE_SCOPE_MAX 112

/* The first members of every source, target and sink, in this order. */
#define SL_MODULE_HEADER(ops_type)                                                                 \
    const ops_type *ops;                                                                           \
    char *name;                     /* its config section's name (owned) */                        \
    const char *type;               /* its type, e.g. "kafka" (ops->type) */                       \
    char scope[SL_MODULE_SCOPE_MAX] /* its log scope, "<kind>:<type>:<name>" */

struct sl_module {
    SL_MODULE_HEADER(void);
};

/* Any instance as its header. */
#define SL_MODULE(p) ((struct sl_module *)(void *)(p))

/* Fills the header: name copied, type borrowed, scope "<kind>:<type>:<name>". */
void sl_module_init(struct sl_module *m, const void *ops, const char *kind, const char *type,
                    const char *name);
/* Frees the name. NULL is fine. */
void sl_module_release(struct sl_module *m);

#endif
