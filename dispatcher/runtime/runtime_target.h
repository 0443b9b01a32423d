/* The "runtime" function target: sluice hosts Lambda handlers itself, serving them the Lambda
 * Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), the interface
 * every Lambda runtime (aws-lambda-ric, a custom `bootstrap`) polls for events.
 *
 * Decisions the rest of sluice relies on (see docs/RUNTIME.md):
 * - One environment = one process (group) = one Runtime API listener on its own ephemeral
 *   loopback port (AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>): a /next is always the environment's
 *   own, with no path tricks a runtime might not follow. Each serves one invocation at a time.
 * - Up to max_concurrency environments; invocations beyond wait in a FIFO. Warm environments are
 *   reused; one idle for idle_timeout is killed.
 * - An invocation's deadline runs from the moment an environment takes it (a cold start counts,
 *   as init counts against the first invocation's budget); a missed deadline kills the process
 *   group (SIGKILL) and is a function error "Sandbox.Timedout".
 * - /response is classified like an HTTP 200 body (partial batch responses included); /error,
 *   /init/error and a process exit are function errors (RETRY, function_error true) carrying the
 *   runtime's errorType.
 * - The handlers' stdout and stderr lines go to the log, tagged with the request id in flight. */
#ifndef SL_DISPATCHER_RUNTIME_RUNTIME_TARGET_H
#define SL_DISPATCHER_RUNTIME_RUNTIME_TARGET_H

#include <stdint.h>

#include "config/props.h"
#include "core/err.h"
#include "dispatcher/target.h"

/* The Runtime API's largest response body (6 MiB, plus the emulator's 100 bytes of slack). */
#define SL_RUNTIME_MAX_RESPONSE (6 * 1024 * 1024 + 100)

/* The bound keys of a function section of type "runtime". */
struct sl_runtime_target_conf {
    struct sl_strlist command; /* argv */
    char *handler;             /* _HANDLER */
    char *task_root;           /* NULL: the config's folder */
    char *function_name;       /* NULL: the section's name */
    char *region;
    int64_t memory_size; /* MB */
    int64_t timeout_ms;
    int64_t max_concurrency;
    int64_t idle_timeout_ms;
    int64_t shutdown_grace_ms;
    struct sl_strmap environment;
};

extern const struct sl_target_ops sl_target_runtime_ops;
extern const struct sl_prop_table sl_runtime_target_props;

/* Checks the bound keys; messages start with `where` and the key. */
int sl_runtime_target_conf_check(const struct sl_runtime_target_conf *conf, const char *where,
                                 struct sl_err *err);
/* ops->create. */
int sl_target_runtime_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                             struct sl_target **out, struct sl_err *err);
/* Creates a target from bound keys (copied). `name` is the section name. */
int sl_target_runtime_create_conf(const struct sl_env *env, const char *name,
                                  const struct sl_runtime_target_conf *conf, const char *where,
                                  struct sl_target **out, struct sl_err *err);

#endif
