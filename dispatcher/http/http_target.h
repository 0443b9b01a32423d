/* The "http" function target: POSTs each batch to a URL with libcurl's multi_socket API driven
 * by the libev loop, and classifies the response with sl_outcome_classify().
 *
 * Decisions the rest of sluice relies on:
 * - reached_function is false for a transport error when the request never left: libcurl
 *   reports a resolve/connect/TLS-handshake failure (CURLE_COULDNT_RESOLVE_*,
 *   CURLE_COULDNT_CONNECT, CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION) or the
 *   transfer ended before the connection was ready to send (CURLINFO_PRETRANSFER_TIME_T is 0,
 *   e.g. a timeout while connecting). Any other transport error (reset, timeout after sending,
 *   truncated response) keeps reached_function true: the function may have run.
 * - A 2xx response body larger than max_response_bytes aborts the transfer: RETRY "response
 *   too large" with function_error true (like Lambda's Function.ResponseSizeTooLarge), so a
 *   truncated partial batch response is never mistaken for success. For other statuses the
 *   body is cut at the limit and the status decides.
 * - Header values are secrets: never logged, never described. */
#ifndef SL_DISPATCHER_HTTP_HTTP_TARGET_H
#define SL_DISPATCHER_HTTP_HTTP_TARGET_H

#include <ev.h>
#include <stdint.h>

#include "config/props.h"
#include "core/err.h"
#include "dispatcher/target.h"

/* The bound keys of a function section of type "http". */
struct sl_http_target_conf {
    char *url;
    int64_t timeout_ms;
    struct sl_strmap headers; /* values are secret */
    uint64_t max_response_bytes;
    int64_t max_connections;
};

extern const struct sl_target_ops sl_target_http_ops;
extern const struct sl_prop_table sl_http_target_props;

struct curl_slist;

/* One request with its own URL and headers, for targets that speak HTTP through this one's
 * transport (connections, timeouts, Retry-After, classification), e.g. the lambda target that
 * signs each request. */
struct sl_http_request {
    const char *url;                  /* NULL: the target's URL */
    const struct curl_slist *headers; /* NULL: the target's headers; borrowed until the callback */
};

/* ops->invoke with a request of its own (NULL: the target's URL and headers). Same rules as
 * invoke: on error the callback never fires, else exactly once, on the loop. */
int sl_target_http_send(struct sl_target *t, const struct sl_invoke *inv,
                        const struct sl_http_request *req, sl_invoke_cb cb, void *arg);

/* Checks bound keys (also those not made by the property table): URL scheme and syntax, bounds,
 * header names and values (no CR/LF, no framing headers). Messages never show header values.
 * They start with `where` and the key: "config.yaml: functions[0].url: ..." for where
 * "config.yaml: functions[0].". */
int sl_http_target_conf_check(const struct sl_http_target_conf *conf, const char *where,
                              struct sl_err *err);
/* ops->create: binds the section with sl_http_target_props, then creates the target. */
int sl_target_http_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                          struct sl_target **out, struct sl_err *err);
/* Creates a target from bound keys (conf is copied; the caller keeps it). */
int sl_target_http_create_conf(struct ev_loop *loop, const char *name,
                               const struct sl_http_target_conf *conf, struct sl_target **out,
                               struct sl_err *err);
/* The defaults (6MB responses, 64 connections, no extra headers) with a URL and a timeout
 * (0: 30 s). For tests and tools. */
int sl_target_http_create_url(struct ev_loop *loop, const char *name, const char *url,
                              int64_t timeout_ms, struct sl_target **out, struct sl_err *err);

#endif
