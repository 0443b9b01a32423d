/* The webhook source (type "http"): POST /hooks/{name} on the push listener. A request is
 * stored in the spool and answered 202 {"id": ...} only after its commit. */
#ifndef SL_SOURCES_HTTP_WEBHOOK_H
#define SL_SOURCES_HTTP_WEBHOOK_H

#include "core/buf.h"
#include "sources/source.h"

extern const struct sl_source_ops sl_source_http_ops;

/* True when the webhook checks who pushes (a bearer token is set). s must be of this type. */
bool sl_webhook_has_auth(const struct sl_source *s);
/* True when the hook copies request header `name` into its records (keep_headers, any case;
 * never Authorization): a filter on another header never matches. */
bool sl_webhook_keeps_header(const struct sl_source *s, const char *name);
/* The headers it keeps, ", "-separated, for messages. */
void sl_webhook_kept_headers(const struct sl_source *s, struct sl_buf *out);

#endif
