/* Internals of the webhook source shared between its files. */
#ifndef SL_SOURCES_HTTP_WEBHOOK_INT_H
#define SL_SOURCES_HTTP_WEBHOOK_INT_H

#include "sources/push_record.h"
#include "sources/source.h"

/* Its typed records: sources/push_record.h with the ops of record.c (the pool's name is the
 * hook's). */
extern const struct sl_record_ops sl_webhook_record_ops;

void sl_webhook_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                       struct sl_buf *out);
bool sl_webhook_filter_view(const struct sl_record *r, struct sl_fview *out);
/* The attributes kept of a request (JSON object text, a new string): method, path, query and
 * the headers kept(arg, name, len) accepts (names lower-cased), plus "invalidUtf8Replaced":
 * true when bytes that were not UTF-8 were replaced. */
char *sl_webhook_attrs(const struct sl_http_req *req,
                       bool (*kept)(const void *arg, const char *name, size_t len),
                       const void *arg);

#endif
