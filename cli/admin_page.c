/* The status page's routes on the admin listener. The files are compiled in (cli/status_page/,
 * cmake/embed.cmake); every API call the page makes goes through the guarded admin routes. */
#include "cli/status_page.h"

/* No inline script or style, nothing from elsewhere, no framing, no form posts. */
#define PAGE_CSP                                                                                   \
    "Content-Security-Policy: default-src 'self'; base-uri 'none'; form-action 'none'; "           \
    "frame-ancestors 'none'"

static const char *const page_headers[] = {
    PAGE_CSP,
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
    "Cache-Control: no-cache",
};

static void page_respond(struct sl_http_exchange *x, const char *type, const unsigned char *data,
                         size_t len)
{
    sl_http_respond(x, 200, type, page_headers, sizeof(page_headers) / sizeof(page_headers[0]),
                    data, len);
}

static void index_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    page_respond(x, "text/html; charset=utf-8", sl_embed_index_html, sl_embed_index_html_len);
}

static void css_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    page_respond(x, "text/css; charset=utf-8", sl_embed_status_css, sl_embed_status_css_len);
}

static void js_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    page_respond(x, "text/javascript; charset=utf-8", sl_embed_status_js, sl_embed_status_js_len);
}

static void icon_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    page_respond(x, "image/svg+xml", sl_embed_favicon_svg, sl_embed_favicon_svg_len);
}

void sl_admin_page_routes(struct sl_app *app, struct sl_http_router *r)
{
    sl_http_router_add(r, "GET", "/", false, index_cb, app);
    sl_http_router_add(r, "GET", "/status.css", false, css_cb, app);
    sl_http_router_add(r, "GET", "/status.js", false, js_cb, app);
    sl_http_router_add(r, "GET", "/favicon.svg", false, icon_cb, app);
}
