/* Internal to the admin API's files: route registration and query parsing. */
#ifndef SL_CLI_ADMIN_H
#define SL_CLI_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/app.h"
#include "server/http.h"

/* Adds a route; a guarded one checks admin.token first. */
void sl_admin_add(struct sl_app *app, struct sl_http_router *r, const char *method,
                  const char *path, bool prefix, sl_http_handler_cb cb, bool guarded);
/* Whether req carries the admin token (or none is set); compared in constant time. */
bool sl_admin_authorized(const struct sl_app *app, const struct sl_http_req *req);
/* Finds `name` in the query string and percent-decodes its value into out (cut to cap). */
bool sl_admin_query_get(const struct sl_http_req *req, const char *name, char *out, size_t cap);
/* admin_dlq.c: /v1/dlq... */
void sl_admin_dlq_routes(struct sl_app *app, struct sl_http_router *r);

#endif
