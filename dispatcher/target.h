/* Function targets: where a mapping's batches go. A target is invoked with an encoded payload
 * and reports one classified outcome. Rule: if invoke returns an error the callback never
 * fires; otherwise it fires exactly once, on the loop, never from inside invoke(). */
#ifndef SL_DISPATCHER_TARGET_H
#define SL_DISPATCHER_TARGET_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/module.h"
#include "config/config.h"
#include "core/err.h"
#include "core/jw.h"

enum sl_outcome_kind {
    SL_OUTCOME_OK = 0,  /* the whole batch succeeded */
    SL_OUTCOME_PARTIAL, /* some items failed: see failures */
    SL_OUTCOME_RETRY,   /* retryable: throttle, 5xx, timeout, connection error, function error */
    SL_OUTCOME_FAIL,    /* terminal: retrying will not help */
};

struct sl_outcome {
    enum sl_outcome_kind kind;
    int status;             /* HTTP status, 0 when no response */
    int64_t retry_after_ms; /* from Retry-After, -1 when absent */
    bool function_error;    /* the function ran and failed (X-Amz-Function-Error or the like) */
    bool reached_function;  /* false: throttled/never ran (does not consume attempts) */
    char error[256];        /* short reason, for logs and DLQ attempts */
    char function_error_type[64]; /* X-Amz-Function-Error value (lambda: the errorType), or "" */
    char executed_version[64];    /* X-Amz-Executed-Version of the response, or "" */
    char service_error_type[64];  /* X-Amzn-ErrorType of an AWS error response, or "" */
    const char *response;         /* body (borrowed, may be NULL) */
    size_t response_len;
    json_t *failures; /* PARTIAL: array of itemIdentifier values (borrowed) */
    int64_t duration_ms;
};

/* Options of one invocation. */
struct sl_invoke {
    const char *payload; /* borrowed until the callback */
    size_t len;
    int64_t timeout_ms; /* 0: the target's default */
    bool report_batch_item_failures;
    /* NULL or empty: every 4xx but 408 and 429; borrowed until the callback */
    const struct sl_intlist *terminal_statuses;
};

typedef void (*sl_invoke_cb)(const struct sl_outcome *o, void *arg);

struct sl_target;

struct sl_target_ops {
    const char *type;
    const struct sl_prop_table *props;
    int (*create)(const struct sl_env *env, const struct sl_cfg_typed *sec, struct sl_target **out,
                  struct sl_err *err);
    int (*invoke)(struct sl_target *t, const struct sl_invoke *inv, sl_invoke_cb cb, void *arg);
    /* Invocations in flight. */
    size_t (*inflight)(const struct sl_target *t);
    void (*describe)(struct sl_target *t, struct sl_jw *w);
    /* Cancels what is in flight (their callbacks fire with RETRY "cancelled") and frees. */
    void (*destroy)(struct sl_target *t);
};

/* Every target starts with the module header (core/module.h; scope "function:http:name"). */
struct sl_target {
    SL_MODULE_HEADER(struct sl_target_ops);
};

const struct sl_target_ops *sl_target_find_type(const char *type);
extern const struct sl_target_ops *const sl_target_types[];

/* Classification shared by every HTTP-speaking target (unit-tested on its own):
 * - 2xx: OK, unless `function_error_header` is set (RETRY, function error) or, with
 *   report_batch_item_failures, the body is a partial batch response (Lambda's rules:
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html):
 *   null/{}/empty or null list = OK; a valid non-empty list = PARTIAL; an entry with a
 *   null or "" itemIdentifier, a missing itemIdentifier, or a non-object entry = RETRY (whole
 *   batch failed). A body that is not JSON counts as OK (a handler need not return JSON).
 * - 429, 503, other 5xx, 408: RETRY (429/503 with reached_function=false).
 * - other 4xx: FAIL when in terminal_statuses (default: all of them), else RETRY.
 * - 1xx, 3xx and anything outside 100..599: RETRY "unexpected status".
 * status 0 means a transport error described by transport_error: RETRY with reached_function
 * true (the request may have run); a target that knows it never left clears it.
 * Retry-After (any status) sets retry_after_ms; function_error_header is read for 2xx only.
 * The outcome borrows body; o->failures is a new reference the caller frees with
 * sl_outcome_release(). */
void sl_outcome_classify(struct sl_outcome *o, int status, const char *function_error_header,
                         const char *retry_after_header, const char *body, size_t body_len,
                         const struct sl_invoke *inv, const char *transport_error);
void sl_outcome_release(struct sl_outcome *o);
/* Retry-After: delta seconds or an HTTP date; -1 when absent or unparsable. */
int64_t sl_retry_after_parse(const char *value, int64_t now_ms);
const char *sl_outcome_kind_name(enum sl_outcome_kind k);

#endif
