/* Configuration of the "lambda" function target: its property table and checks. */
#include "dispatcher/lambda/lambda_target.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dispatcher/route.h"

/* Invoke's FunctionName is 1..170 characters, Qualifier 1..128
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html). */
#define SL_LAMBDA_NAME_MAX      170
#define SL_LAMBDA_QUALIFIER_MAX 128
#define SL_LAMBDA_REGION_MAX    32
#define SL_LAMBDA_ENDPOINT_MAX  2048
#define SL_LAMBDA_KEY_ID_MAX    128
#define SL_LAMBDA_SECRET_MAX    256
#define SL_LAMBDA_TOKEN_MAX     4096

static const struct sl_prop route_props[] = {
    {.name = "qualifier",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_route_conf, qualifier),
     .flags = SL_PROP_REQUIRED,
     .desc = "A version or alias of the function, e.g. \"3\"."},
    {.name = "weight",
     .type = SL_PROP_FLOAT,
     .offset = offsetof(struct sl_lambda_route_conf, weight),
     .flags = SL_PROP_REQUIRED,
     .min = 0,
     .max = 1,
     .desc = "Share of the invocations sent to it, above 0; the weights add up to 1."},
};

static const struct sl_prop_table route_table = {
    .name = "functions[].routing[] (type: lambda)",
    .desc = "One qualifier of a weighted split.",
    .props = route_props,
    .nprops = sizeof(route_props) / sizeof(route_props[0]),
    .struct_size = sizeof(struct sl_lambda_route_conf),
};

static const struct sl_prop lambda_props[] = {
    {.name = "function_name",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, function_name),
     .desc = "The Lambda function's name, partial ARN or ARN (default: the section's name)."},
    {.name = "qualifier",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, qualifier),
     .desc = "Version or alias invoked (Invoke's Qualifier); none: $LATEST or the ARN's own."},
    {.name = "routing",
     .type = SL_PROP_OBJECT_LIST,
     .offset = offsetof(struct sl_lambda_target_conf, routing),
     .sub = &route_table,
     .desc = "Weighted split over qualifiers (instead of qualifier): each invocation, each retry "
             "too, goes to one of them chosen by weight. At most 8."},
    {.name = "region",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, region),
     .desc = "AWS region, e.g. \"eu-west-1\" (default: AWS_REGION, then AWS_DEFAULT_REGION)."},
    {.name = "endpoint",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, endpoint),
     .desc = "Base URL of the Invoke API, e.g. \"http://127.0.0.1:9001\" for a local emulator "
             "(default: https://lambda.<region>.amazonaws.com)."},
    {.name = "access_key_id",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, access_key_id),
     .desc = "AWS access key id (with secret_access_key); none: the environment "
             "(AWS_ACCESS_KEY_ID...), then the shared credentials file."},
    {.name = "secret_access_key",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, secret_access_key),
     .flags = SL_PROP_SECRET,
     .desc = "AWS secret access key. Secret: never logged or shown."},
    {.name = "session_token",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, session_token),
     .flags = SL_PROP_SECRET,
     .desc = "AWS session token of temporary credentials. Secret: never logged or shown."},
    {.name = "profile",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_lambda_target_conf, profile),
     .desc = "Profile of the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or "
             "~/.aws/credentials) to use (default: AWS_PROFILE, then \"default\")."},
    {.name = "timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_lambda_target_conf, timeout_ms),
     .def = "30s",
     .min = 1,
     .max = 15 * 60 * 1000,
     .desc = "Time limit of one invocation, connection included; an expired call is retried. "
             "Set it above the function's own timeout."},
    {.name = "max_response_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_lambda_target_conf, max_response_bytes),
     .def = "6MiB",
     .min = 1024,
     .max = 64 * 1024 * 1024,
     .desc = "Largest response body read; a larger 2xx body is retried as a function error."},
    {.name = "max_connections",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_lambda_target_conf, max_connections),
     .def = "64",
     .min = 1,
     .max = 1024,
     .desc = "Connections kept open to the endpoint (keep-alive); further calls wait for one."},
};

const struct sl_prop_table sl_lambda_target_props = {
    .name = "functions[] (type: lambda)",
    .desc = "An AWS Lambda function called through the Invoke API (RequestResponse), each request "
            "signed with Signature Version 4. Function errors (X-Amz-Function-Error) are retried; "
            "429 throttles are retried after Retry-After without using an attempt; other 4xx "
            "but 408/409 are terminal. See docs/LAMBDA.md.",
    .props = lambda_props,
    .nprops = sizeof(lambda_props) / sizeof(lambda_props[0]),
    .struct_size = sizeof(struct sl_lambda_target_conf),
    .tolerated = NULL,
};

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* s is 1..max characters of alphanumerics and `extra`; NULL when it is, else the reason. */
static const char *check_chars(const char *s, size_t max, const char *extra)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0)
        return "is empty";
    if (n > max)
        return "is too long";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!alnum(c) && !strchr(extra, c))
            return "has a character that is not allowed";
    }
    return NULL;
}

static int check_qualifier(const char *q, const char *where, const char *key, struct sl_err *err)
{
    const char *why = check_chars(q, SL_LAMBDA_QUALIFIER_MAX, "$_-");
    if (why)
        return sl_config_key_error(
            err, where, key,
            "\"%.60s\" %s (allowed: 1..%d of A-Z a-z 0-9 $ _ -, a version such as "
            "\"3\" or an alias)",
            q, why, SL_LAMBDA_QUALIFIER_MAX);
    return 0;
}

static int check_endpoint(const char *e, const char *where, struct sl_err *err)
{
    size_t n = strnlen(e, SL_LAMBDA_ENDPOINT_MAX + 1);
    if (n > SL_LAMBDA_ENDPOINT_MAX)
        return sl_config_key_error(err, where, "endpoint", "longer than %d bytes",
                                   SL_LAMBDA_ENDPOINT_MAX);
    const char *rest = NULL;
    if (strncasecmp(e, "http://", 7) == 0)
        rest = e + 7;
    else if (strncasecmp(e, "https://", 8) == 0)
        rest = e + 8;
    bool ok = rest && *rest;
    for (const char *p = rest; ok && *p; p++) {
        unsigned char c = (unsigned char)*p;
        /* host[:port] and at most a trailing '/': the Invoke path is added to it. */
        if (c == '/' && p[1] == '\0')
            break;
        if (!alnum(c) && !strchr(".-:[]", c))
            ok = false;
    }
    if (!ok)
        return sl_config_key_error(
            err, where, "endpoint",
            "\"%.80s%s\" is not a base URL (allowed: http:// or https:// with a host "
            "and an optional port, no path, e.g. \"http://127.0.0.1:9001\")",
            e, n > 80 ? "..." : "");
    return 0;
}

static int check_secretish(const char *v, size_t max, const char *where, const char *key,
                           struct sl_err *err)
{
    /* Never quotes the value: it may be a secret. */
    size_t n = strnlen(v, max + 1);
    if (n == 0 || n > max)
        return sl_config_key_error(err, where, key, "empty or longer than %zu bytes", max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c == 0x7f)
            return sl_config_key_error(err, where, key, "has a space or a control character");
    }
    return 0;
}

int sl_lambda_target_conf_check(const struct sl_lambda_target_conf *conf, const char *where,
                                struct sl_err *err)
{
    int rc;
    if (conf->function_name) {
        const char *why = check_chars(conf->function_name, SL_LAMBDA_NAME_MAX, "-_.:$");
        if (why)
            return sl_config_key_error(
                err, where, "function_name",
                "\"%.80s\" %s (allowed: 1..%d of A-Z a-z 0-9 - _ . : $, a function "
                "name or ARN)",
                conf->function_name, why, SL_LAMBDA_NAME_MAX);
    }
    if (conf->qualifier && (rc = check_qualifier(conf->qualifier, where, "qualifier", err)) < 0)
        return rc;
    if (conf->routing.n > 0) {
        if (conf->qualifier)
            return sl_config_key_error(err, where, "routing",
                                       "set together with qualifier (allowed: one of them)");
        if (conf->routing.n > SL_ROUTES_MAX)
            return sl_config_key_error(err, where, "routing", "%zu entries (allowed: 1..%d)",
                                       conf->routing.n, SL_ROUTES_MAX);
        double sum = 0;
        for (size_t i = 0; i < conf->routing.n; i++) {
            const struct sl_lambda_route_conf *r =
                SL_OBJLIST_AT(conf->routing, struct sl_lambda_route_conf, i);
            char key[64];
            snprintf(key, sizeof(key), "routing[%zu].qualifier", i);
            if ((rc = check_qualifier(r->qualifier ? r->qualifier : "", where, key, err)) < 0)
                return rc;
            for (size_t j = 0; j < i; j++) {
                if (strcmp(SL_OBJLIST_AT(conf->routing, struct sl_lambda_route_conf, j)->qualifier,
                           r->qualifier) == 0)
                    return sl_config_key_error(err, where, key, "\"%s\" is listed twice",
                                               r->qualifier);
            }
            if (!(r->weight > 0) || r->weight > 1) {
                snprintf(key, sizeof(key), "routing[%zu].weight", i);
                return sl_config_key_error(
                    err, where, key, "%g is out of range (allowed: above 0, up to 1)", r->weight);
            }
            sum += r->weight;
        }
        if (fabs(sum - 1.0) > 0.001)
            return sl_config_key_error(err, where, "routing",
                                       "the weights add up to %g (allowed: 1, within 0.001)", sum);
    }
    if (conf->region) {
        const char *why = check_chars(conf->region, SL_LAMBDA_REGION_MAX, "-");
        if (why)
            return sl_config_key_error(
                err, where, "region", "\"%.40s\" %s (allowed: a region name such as \"eu-west-1\")",
                conf->region, why);
    }
    if (conf->endpoint && (rc = check_endpoint(conf->endpoint, where, err)) < 0)
        return rc;
    if (conf->access_key_id) {
        const char *why = check_chars(conf->access_key_id, SL_LAMBDA_KEY_ID_MAX, "");
        if (why)
            return sl_config_key_error(err, where, "access_key_id",
                                       "%s (allowed: 1..%d of A-Z a-z 0-9)", why,
                                       SL_LAMBDA_KEY_ID_MAX);
    }
    if (conf->secret_access_key &&
        (rc = check_secretish(conf->secret_access_key, SL_LAMBDA_SECRET_MAX, where,
                              "secret_access_key", err)) < 0)
        return rc;
    if (conf->session_token && (rc = check_secretish(conf->session_token, SL_LAMBDA_TOKEN_MAX,
                                                     where, "session_token", err)) < 0)
        return rc;
    if (conf->profile) {
        const char *why = check_chars(conf->profile, 128, "-_.@+");
        if (why)
            return sl_config_key_error(err, where, "profile", "\"%.60s\" %s", conf->profile, why);
    }
    if (conf->timeout_ms < 1 || conf->timeout_ms > 15 * 60 * 1000)
        return sl_config_key_error(err, where, "timeout", "must be within 1ms..15m");
    if (conf->max_response_bytes < 1024 || conf->max_response_bytes > 64 * 1024 * 1024)
        return sl_config_key_error(err, where, "max_response_bytes", "must be within 1KiB..64MiB");
    if (conf->max_connections < 1 || conf->max_connections > 1024)
        return sl_config_key_error(err, where, "max_connections", "must be within 1..1024");
    return 0;
}

int sl_target_lambda_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                            struct sl_target **out, struct sl_err *err)
{
    const struct sl_config *cfg = env ? env->cfg : NULL;
    *out = NULL;
    if (!sec)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "lambda target: no config section");
    struct sl_lambda_target_conf conf;
    memset(&conf, 0, sizeof(conf));
    int rc = sl_config_bind_typed(cfg, sec, &sl_lambda_target_props, &conf, err);
    if (rc < 0)
        return rc;
    char where[512];
    snprintf(where, sizeof(where), "%s: %s.", cfg && cfg->file ? cfg->file : "config",
             sec->path ? sec->path : "functions[]");
    rc = sl_lambda_target_conf_check(&conf, where, err);
    if (rc == 0)
        rc = sl_target_lambda_create_conf(env, sec->name, &conf, where, out, err);
    sl_props_release(&sl_lambda_target_props, &conf);
    return rc;
}
