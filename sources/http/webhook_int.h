/* Internals of the webhook source shared between its files. */
#ifndef SL_SOURCES_HTTP_WEBHOOK_INT_H
#define SL_SOURCES_HTTP_WEBHOOK_INT_H

#include "sources/source.h"

void sl_webhook_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                       struct sl_buf *out);
json_t *sl_webhook_filter_view(const struct sl_record *r);

#endif
