/* Method/path dispatch: the most specific matching path wins (exact, then the longest prefix);
 * GET routes also serve HEAD. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/jw.h"
#include "core/mem.h"
#include "server/http.h"

struct sl_http_route {
    char *method;
    char *path;
    size_t path_len;
    bool prefix;
    sl_http_headers_cb on_headers; /* may be NULL */
    sl_http_handler_cb cb;
    void *arg;
};

struct sl_http_router {
    struct sl_http_route *routes;
    size_t n, cap;
};

struct sl_http_router *sl_http_router_create(void)
{
    return SL_NEW(struct sl_http_router);
}

void sl_http_router_destroy(struct sl_http_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].method);
        free(r->routes[i].path);
    }
    free(r->routes);
    free(r);
}

void sl_http_router_add(struct sl_http_router *r, const char *method, const char *path, bool prefix,
                        sl_http_handler_cb cb, void *arg)
{
    sl_http_router_add_hooked(r, method, path, prefix, NULL, cb, arg);
}

void sl_http_router_add_hooked(struct sl_http_router *r, const char *method, const char *path,
                               bool prefix, sl_http_headers_cb on_headers, sl_http_handler_cb cb,
                               void *arg)
{
    if (!r || !method || !path || !cb)
        return;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->routes = sl_realloc(r->routes, r->cap * sizeof(*r->routes));
    }
    struct sl_http_route *rt = &r->routes[r->n++];
    rt->method = sl_strdup(method);
    rt->path = sl_strdup(path);
    rt->path_len = strlen(path);
    rt->prefix = prefix;
    rt->on_headers = on_headers;
    rt->cb = cb;
    rt->arg = arg;
}

void sl_http_router_remove(struct sl_http_router *r, const void *arg)
{
    size_t k = 0;
    for (size_t i = 0; r && i < r->n; i++) {
        if (r->routes[i].arg == arg) {
            free(r->routes[i].method);
            free(r->routes[i].path);
            continue;
        }
        r->routes[k++] = r->routes[i];
    }
    if (r)
        r->n = k;
}

/* How specifically a route's path matches: 0 for no match, higher is more specific. */
static size_t path_score(const struct sl_http_route *rt, const struct sl_http_req *req)
{
    if (rt->prefix) {
        if (req->path_len >= rt->path_len && memcmp(req->path, rt->path, rt->path_len) == 0)
            return rt->path_len + 1;
        return 0;
    }
    if (req->path_len == rt->path_len && memcmp(req->path, rt->path, rt->path_len) == 0)
        return SIZE_MAX;
    return 0;
}

/* 3: same method, 2: "*", 1: GET route for a HEAD request, 0: no. */
static int method_score(const struct sl_http_route *rt, const char *method)
{
    if (strcmp(rt->method, method) == 0)
        return 3;
    if (strcmp(rt->method, "*") == 0)
        return 2;
    if (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)
        return 1;
    return 0;
}

static void allow_add(struct sl_buf *allow, const char *method)
{
    size_t n = strlen(method);
    const char *p = allow->data;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, method, n) == 0)
            return;
        p = end ? end + 2 : p + len;
    }
    if (allow->len)
        sl_buf_puts(allow, ", ");
    sl_buf_puts(allow, method);
}

/* The route a request goes to, or NULL; *path_known says whether some route has its path. */
static const struct sl_http_route *route_find(const struct sl_http_router *r,
                                              const struct sl_http_req *req, bool *path_known)
{
    const struct sl_http_route *best = NULL;
    size_t best_path = 0;
    int best_method = 0;
    *path_known = false;
    for (size_t i = 0; r && i < r->n; i++) {
        const struct sl_http_route *rt = &r->routes[i];
        size_t ps = path_score(rt, req);
        if (ps == 0)
            continue;
        *path_known = true;
        int ms = method_score(rt, req->method);
        if (ms == 0)
            continue;
        if (!best || ps > best_path || (ps == best_path && ms > best_method)) {
            best = rt;
            best_path = ps;
            best_method = ms;
        }
    }
    return best;
}

int sl_http_router_headers(const struct sl_http_req *req, void *router, struct sl_http_reject *rej)
{
    bool path_known;
    const struct sl_http_route *rt = route_find(router, req, &path_known);
    return rt && rt->on_headers ? rt->on_headers(req, rt->arg, rej) : 0;
}

void sl_http_router_handle(struct sl_http_exchange *x, const struct sl_http_req *req, void *router)
{
    struct sl_http_router *r = router;
    bool path_known;
    const struct sl_http_route *best = route_find(r, req, &path_known);
    if (best) {
        best->cb(x, req, best->arg);
        return;
    }
    if (!path_known) {
        sl_http_respond_error(x, 404, "not_found", "no route for this path");
        return;
    }
    struct sl_buf allow, line;
    sl_buf_init(&allow);
    sl_buf_init(&line);
    bool get = false;
    for (size_t i = 0; i < r->n; i++) {
        if (path_score(&r->routes[i], req) == 0)
            continue;
        allow_add(&allow, r->routes[i].method);
        get = get || strcmp(r->routes[i].method, "GET") == 0;
    }
    if (get)
        allow_add(&allow, "HEAD");
    sl_buf_printf(&line, "Allow: %s", allow.data);
    const char *headers[] = {line.data};
    struct sl_buf body, msg;
    struct sl_jw w;
    sl_buf_init(&body);
    sl_buf_init(&msg);
    sl_buf_printf(&msg, "%s is not allowed here (allowed: %s)", req->method, allow.data);
    sl_jw_init(&w, &body);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "error", "method_not_allowed");
    sl_jw_kstr(&w, "message", msg.data);
    sl_jw_obj_close(&w);
    sl_http_respond(x, 405, "application/json", headers, 1, body.data, body.len);
    sl_buf_release(&body);
    sl_buf_release(&msg);
    sl_buf_release(&line);
    sl_buf_release(&allow);
}
