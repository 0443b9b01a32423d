/* URLs as they may be shown (logs, the admin API, error messages): function URLs carry secrets
 * in their user:password part and in query values (Azure's ?code=, API Gateway keys). */
#ifndef SL_CORE_URL_H
#define SL_CORE_URL_H

#include <stddef.h>

#include "core/buf.h"

#define SL_URL_REDACTED "(redacted)"

/* Appends the first len bytes of url to b with its secrets hidden: user:password becomes "***",
 * each query value "(redacted)" (the names stay, to tell which parameters are set; a parameter
 * without '=' is hidden whole), a fragment "(redacted)". Scheme, host, port and path stay. */
void sl_url_redact_append(struct sl_buf *b, const char *url, size_t len);
/* The same as a new string (free it). */
char *sl_url_redact(const char *url);
/* Appends text to b with every http:// or https:// URL in it redacted: messages from libraries
 * may quote the URL they were given. */
void sl_url_redact_text(struct sl_buf *b, const char *text);

#endif
