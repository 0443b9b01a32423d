/* What the push sources (webhooks, object-store notifications) share at intake: the bearer
 * token check and the answers for a record the spool did not take. */
#ifndef SL_SOURCES_PUSH_H
#define SL_SOURCES_PUSH_H

#include <stdbool.h>

#include "server/http.h"

/* True when token is unset or empty, or when the request carries `Authorization: Bearer
 * <token>` (compared in constant time in the token's content). */
bool sl_push_bearer_ok(const char *token, const struct sl_http_req *req);
/* 503 spool_unavailable with Retry-After for a spool write that failed: code says why
 * (SL_ESTORELOST: the store directory is gone; -ENOSPC: no space; else another failure). */
void sl_push_respond_unavailable(struct sl_http_exchange *x, int code);
/* The answer for sl_spool_put's refusal rc: 503 spool_full for SL_EFULL, else as above. */
void sl_push_respond_put_error(struct sl_http_exchange *x, int rc);

#endif
