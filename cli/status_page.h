/* The status page's files, compiled in from cli/status_page/ (cmake/embed.cmake), and the admin
 * routes that serve them. */
#ifndef SL_CLI_STATUS_PAGE_H
#define SL_CLI_STATUS_PAGE_H

#include <stddef.h>

#include "cli/app.h"
#include "server/http.h"

extern const unsigned char sl_embed_index_html[];
extern const size_t sl_embed_index_html_len;
extern const unsigned char sl_embed_status_css[];
extern const size_t sl_embed_status_css_len;
extern const unsigned char sl_embed_status_js[];
extern const size_t sl_embed_status_js_len;
extern const unsigned char sl_embed_favicon_svg[];
extern const size_t sl_embed_favicon_svg_len;

/* GET / (the page), /status.css, /status.js, /favicon.svg: open without the token (they hold
 * no data; the page asks for the token when the API answers 401), under a CSP of
 * default-src 'self'. */
void sl_admin_page_routes(struct sl_app *app, struct sl_http_router *r);

#endif
