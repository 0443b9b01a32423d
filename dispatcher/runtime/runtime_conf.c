/* Configuration of the "runtime" function target: its property table and checks. */
#include "dispatcher/runtime/runtime_target.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL_RUNTIME_ARGS_MAX    64
#define SL_RUNTIME_ARG_MAX     4096
#define SL_RUNTIME_NAME_MAX    64 /* a Lambda function name is 1..64 characters */
#define SL_RUNTIME_ENV_MAX     64
#define SL_RUNTIME_ENV_VAL_MAX 4096

static const struct sl_prop runtime_props[] = {
    {.name = "command",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct sl_runtime_target_conf, command),
     .flags = SL_PROP_REQUIRED,
     .desc = "The runtime to start, as an argv list, e.g. [\"npx\", \"aws-lambda-ric\"] (it "
             "reads the handler from _HANDLER) or [\"./bootstrap\"]; run in task_root, a bare "
             "name found in PATH."},
    {.name = "handler",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_runtime_target_conf, handler),
     .desc = "The handler name given to the runtime as _HANDLER, e.g. \"index.handler\"."},
    {.name = "task_root",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_runtime_target_conf, task_root),
     .flags = SL_PROP_PATH,
     .desc = "The function's folder: the working directory and LAMBDA_TASK_ROOT (default: the "
             "config file's folder)."},
    {.name = "function_name",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_runtime_target_conf, function_name),
     .desc = "AWS_LAMBDA_FUNCTION_NAME and the name in the invoked function ARN (default: the "
             "section's name)."},
    {.name = "region",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_runtime_target_conf, region),
     .def = "us-east-1",
     .desc = "AWS_REGION given to the handler and used in its function ARN."},
    {.name = "memory_size",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_runtime_target_conf, memory_size),
     .def = "128",
     .min = 128,
     .max = 10240,
     .desc = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (informational: no limit is enforced)."},
    {.name = "timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_runtime_target_conf, timeout_ms),
     .def = "30s",
     .min = 1000,
     .max = 15 * 60 * 1000,
     .desc = "Time limit of one invocation, counted from when an environment takes it (a cold "
             "start included); past it the process group is killed and the batch retried as "
             "Sandbox.Timedout. Given to the handler as AWS_LAMBDA_FUNCTION_TIMEOUT (seconds)."},
    {.name = "max_concurrency",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_runtime_target_conf, max_concurrency),
     .def = "4",
     .min = 1,
     .max = 256,
     .desc = "Environments (processes) at most; each serves one invocation at a time, further "
             "invocations wait."},
    {.name = "idle_timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_runtime_target_conf, idle_timeout_ms),
     .def = "5m",
     .min = 100,
     .max = 24 * 3600 * 1000LL,
     .desc = "An environment waiting this long for an invocation is stopped."},
    {.name = "shutdown_grace",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_runtime_target_conf, shutdown_grace_ms),
     .def = "1s",
     .min = 0,
     .max = 30000,
     .desc = "At shutdown, how long environments get after SIGTERM before SIGKILL."},
    {.name = "environment",
     .type = SL_PROP_STRING_MAP,
     .offset = offsetof(struct sl_runtime_target_conf, environment),
     .desc = "Extra environment variables of the handler (PATH and HOME are passed through; the "
             "Lambda variables cannot be overridden)."},
};

const struct sl_prop_table sl_runtime_target_props = {
    .name = "functions[] (type: runtime)",
    .desc = "A Lambda handler hosted by sluice: it starts the runtime (aws-lambda-ric, a custom "
            "bootstrap) and serves it the Lambda Runtime API on loopback. /error, init errors, "
            "crashes and timeouts are function errors (retried). See docs/RUNTIME.md.",
    .props = runtime_props,
    .nprops = sizeof(runtime_props) / sizeof(runtime_props[0]),
    .struct_size = sizeof(struct sl_runtime_target_conf),
    .tolerated = NULL,
};

static bool env_name_ok(const char *k)
{
    if (!k || !*k || strlen(k) > 128 || (*k >= '0' && *k <= '9'))
        return false;
    for (const char *p = k; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

int sl_runtime_target_conf_check(const struct sl_runtime_target_conf *conf, const char *where,
                                 struct sl_err *err)
{
    if (conf->command.n == 0 || conf->command.n > SL_RUNTIME_ARGS_MAX)
        return sl_config_key_error(err, where, "command",
                                   "%zu arguments (allowed: 1..%d, the program first)",
                                   conf->command.n, SL_RUNTIME_ARGS_MAX);
    for (size_t i = 0; i < conf->command.n; i++) {
        size_t n = strnlen(conf->command.v[i], SL_RUNTIME_ARG_MAX + 1);
        if ((i == 0 && n == 0) || n > SL_RUNTIME_ARG_MAX)
            return sl_config_key_error(err, where, "command",
                                       "argument %zu is empty or longer than %d bytes", i,
                                       SL_RUNTIME_ARG_MAX);
    }
    if (conf->handler && strnlen(conf->handler, 256) > 255)
        return sl_config_key_error(err, where, "handler", "longer than 255 bytes");
    if (conf->function_name) {
        size_t n = strnlen(conf->function_name, SL_RUNTIME_NAME_MAX + 1);
        bool ok = n > 0 && n <= SL_RUNTIME_NAME_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            char c = conf->function_name[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_';
        }
        if (!ok)
            return sl_config_key_error(
                err, where, "function_name",
                "\"%.80s\" is not a function name (allowed: 1..%d of A-Z a-z 0-9 - _)",
                conf->function_name, SL_RUNTIME_NAME_MAX);
    }
    if (conf->region) {
        size_t n = strnlen(conf->region, 33);
        bool ok = n > 0 && n <= 32;
        for (size_t i = 0; ok && i < n; i++) {
            char c = conf->region[i];
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }
        if (!ok)
            return sl_config_key_error(err, where, "region",
                                       "\"%.40s\" is not a region name (allowed: a-z 0-9 -, e.g. "
                                       "\"eu-west-1\")",
                                       conf->region);
    }
    if (conf->environment.n > SL_RUNTIME_ENV_MAX)
        return sl_config_key_error(err, where, "environment", "%zu variables (allowed: at most %d)",
                                   conf->environment.n, SL_RUNTIME_ENV_MAX);
    for (size_t i = 0; i < conf->environment.n; i++) {
        const char *k = conf->environment.keys[i];
        if (!env_name_ok(k))
            return sl_config_key_error(
                err, where, "environment",
                "\"%.60s\" is not a variable name (allowed: A-Z a-z 0-9 _, not "
                "starting with a digit)",
                k ? k : "");
        if (strncmp(k, "AWS_LAMBDA_", 11) == 0 || strcmp(k, "_HANDLER") == 0 ||
            strcmp(k, "LAMBDA_TASK_ROOT") == 0 || strcmp(k, "AWS_REGION") == 0)
            return sl_config_key_error(
                err, where, "environment",
                "%s is set by sluice (allowed: other names; see docs/RUNTIME.md)", k);
        if (strnlen(conf->environment.vals[i], SL_RUNTIME_ENV_VAL_MAX + 1) > SL_RUNTIME_ENV_VAL_MAX)
            return sl_config_key_error(err, where, "environment", "%s: longer than %d bytes", k,
                                       SL_RUNTIME_ENV_VAL_MAX);
    }
    return 0;
}

int sl_target_runtime_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                             struct sl_target **out, struct sl_err *err)
{
    const struct sl_config *cfg = env ? env->cfg : NULL;
    *out = NULL;
    if (!sec)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "runtime target: no config section");
    struct sl_runtime_target_conf conf;
    memset(&conf, 0, sizeof(conf));
    int rc = sl_config_bind_typed(cfg, sec, &sl_runtime_target_props, &conf, err);
    if (rc < 0)
        return rc;
    char where[512];
    snprintf(where, sizeof(where), "%s: %s.", cfg && cfg->file ? cfg->file : "config",
             sec->path ? sec->path : "functions[]");
    if (!conf.task_root)
        conf.task_root = strdup(cfg && cfg->dir ? cfg->dir : ".");
    rc = sl_runtime_target_conf_check(&conf, where, err);
    if (rc == 0)
        rc = sl_target_runtime_create_conf(env, sec->name, &conf, where, out, err);
    sl_props_release(&sl_runtime_target_props, &conf);
    return rc;
}
