/* The "lambda" function target: the AWS Lambda Invoke API
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), each request signed with
 * Signature Version 4 (clients/aws/sigv4.h) and sent through the http target's transport
 * (sl_target_http_send: libcurl multi on the loop, keep-alive, timeouts, Retry-After, partial
 * batch responses).
 *
 * Decisions the rest of sluice relies on:
 * - POST /2015-03-31/functions/{function_name}/invocations[?Qualifier=q] with
 *   X-Amz-Invocation-Type: RequestResponse; the function name (or ARN) is percent-encoded in the
 *   path, so an ARN's ':' travels as %3A.
 * - A 200 with X-Amz-Function-Error is a function error (RETRY, function_error true); the
 *   outcome's function_error_type is the body's errorType when there is one, else the header.
 * - 429 (TooManyRequestsException) and 503 are throttles: RETRY with reached_function false,
 *   Retry-After honoured. 5xx, 408 and 409 (ResourceConflictException: the function is being
 *   created or updated, https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html)
 *   are retried; other 4xx (e.g. 403 InvalidSignatureException, 404 ResourceNotFoundException)
 *   are terminal unless the mapping says otherwise. The error text carries the service's
 *   error type and message from the body.
 * - With `routing`, each invocation (each retry too) goes to one qualifier chosen by weight.
 * - Secrets (secret_access_key, session_token) are never logged or described. */
#ifndef SL_DISPATCHER_LAMBDA_LAMBDA_TARGET_H
#define SL_DISPATCHER_LAMBDA_LAMBDA_TARGET_H

#include <stdint.h>

#include "config/props.h"
#include "core/err.h"
#include "dispatcher/target.h"

/* One entry of `routing`. */
struct sl_lambda_route_conf {
    char *qualifier;
    double weight;
};

/* The bound keys of a function section of type "lambda". */
struct sl_lambda_target_conf {
    char *function_name; /* NULL: the section's name */
    char *qualifier;
    struct sl_objlist routing; /* of struct sl_lambda_route_conf */
    char *region;              /* NULL: AWS_REGION, then AWS_DEFAULT_REGION */
    char *endpoint;            /* NULL: https://lambda.<region>.amazonaws.com */
    char *access_key_id;
    char *secret_access_key; /* secret */
    char *session_token;     /* secret */
    char *profile;
    int64_t timeout_ms;
    uint64_t max_response_bytes;
    int64_t max_connections;
};

extern const struct sl_target_ops sl_target_lambda_ops;
extern const struct sl_prop_table sl_lambda_target_props;

/* Checks the bound keys (names, qualifiers, weights, region, endpoint); messages start with
 * `where` and the key. */
int sl_lambda_target_conf_check(const struct sl_lambda_target_conf *conf, const char *where,
                                struct sl_err *err);
/* ops->create. */
int sl_target_lambda_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                            struct sl_target **out, struct sl_err *err);
/* Creates a target from bound keys (copied; credentials resolved now). `name` is the section
 * name (the default function name). */
int sl_target_lambda_create_conf(const struct sl_env *env, const char *name,
                                 const struct sl_lambda_target_conf *conf, const char *where,
                                 struct sl_target **out, struct sl_err *err);

#endif
