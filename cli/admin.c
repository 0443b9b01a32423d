/* The admin API: health, readiness, Prometheus metrics, mapping status and the DLQ
 * (list, show, purge, redrive). Guarded by admin.token when one is set. */
#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/app.h"
#include "cli/esm.h"
#include "cli/mapstate.h"
#include "cli/reload.h"
#include "cli/buildinfo.h"
#include "cli/status_page.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/procmetrics.h"
#include "core/time.h"

bool sl_admin_authorized(const struct sl_app *app, const struct sl_http_req *req)
{
    const char *token = app->cfg.admin.token;
    if (!token || !*token)
        return true;
    size_t len;
    const char *auth = sl_http_header_get(req, "authorization", &len);
    if (!auth || len < 7 || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    size_t want = strlen(token);
    return len - 7 == want && CRYPTO_memcmp(auth + 7, token, want) == 0;
}

/* Wraps a handler with the token check. */
struct admin_route {
    struct sl_app *app;
    sl_http_handler_cb cb;
};

static void guarded_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct admin_route *r = arg;
    if (!sl_admin_authorized(r->app, req)) {
        static const char *const hdr[] = {"WWW-Authenticate: Bearer"};
        static const char body[] =
            "{\"error\":\"unauthorized\",\"message\":\"missing or wrong admin token\"}";
        sl_http_respond(x, 401, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    r->cb(x, req, r->app);
}

/* Finds `name` in a query string and percent-decodes its value into out. */
bool sl_admin_query_get(const struct sl_http_req *req, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = req->query, *end = req->query + req->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) >= nlen && strncmp(p, name, nlen) == 0 &&
            (p + nlen == stop || p[nlen] == '=')) {
            const char *v = p + nlen + (p + nlen < stop ? 1 : 0);
            size_t o = 0;
            while (v < stop && o + 1 < cap) {
                if (*v == '%' && stop - v >= 3 && isxdigit((unsigned char)v[1]) &&
                    isxdigit((unsigned char)v[2])) {
                    char hex[3] = {v[1], v[2], 0};
                    out[o++] = (char)strtol(hex, NULL, 16);
                    v += 3;
                } else {
                    out[o++] = *v == '+' ? ' ' : *v;
                    v++;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = stop + 1;
    }
    return false;
}

static void healthz_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    static const char body[] = "{\"status\":\"ok\"}";
    sl_http_respond_json(x, 200, body, sizeof(body) - 1);
}

/* One entry of /readyz's "unreachable" list. */
static void unreachable_item(struct sl_jw *w, const char *kind, const char *name, const char *type,
                             const char *why)
{
    sl_jw_obj_open(w);
    sl_jw_kstr(w, kind, name);
    sl_jw_kstr(w, "type", type);
    sl_jw_kstr(w, "why", why);
    sl_jw_obj_close(w);
}

/* True when the mapping that reads s is disabled. */
static bool source_disabled(const struct sl_app *app, const struct sl_source *s)
{
    for (size_t i = 0; i < app->nmappings; i++) {
        const struct sl_cfg_mapping *mc = sl_mapping_config(app->mappings[i]);
        if (strcmp(mc->source, s->name) == 0 && (!s->reader || strcmp(mc->name, s->reader) == 0))
            return !sl_mapping_enabled(app->mappings[i]);
    }
    return false;
}

/* 503 naming every source of an enabled mapping that cannot reach its engine and every DLQ sink
 * that cannot reach its server; false (nothing sent) when all can. */
static bool unreachable_respond(struct sl_http_exchange *x, struct sl_app *app)
{
    struct sl_buf b;
    struct sl_jw w;
    char why[256];
    size_t n = 0;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "status", "not_ready");
    sl_jw_kstr(&w, "reason", "unreachable");
    sl_jw_key(&w, "unreachable");
    sl_jw_arr_open(&w);
    for (size_t i = 0; i < app->nsources; i++) {
        struct sl_source *s = app->sources[i];
        why[0] = '\0';
        if (source_disabled(app, s))
            continue; /* its mapping does not read it: not a reason to refuse traffic */
        if (s->ops->ready && !s->ops->ready(s, why, sizeof(why))) {
            unreachable_item(&w, "source", s->name, s->ops->type, why);
            n++;
        }
    }
    for (size_t i = 0; i < app->ndlqs; i++) {
        struct sl_dlq *d = app->dlqs[i];
        why[0] = '\0';
        if (d->ops->ready && !d->ops->ready(d, why, sizeof(why))) {
            unreachable_item(&w, "dlq", d->name, d->ops->type, why);
            n++;
        }
    }
    sl_jw_arr_close(&w);
    sl_jw_obj_close(&w);
    if (n > 0)
        sl_http_respond_json(x, 503, b.data, b.len);
    sl_buf_release(&b);
    return n > 0;
}

static void readyz_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    if (app->state != SL_APP_RUNNING) {
        static const char body[] = "{\"status\":\"draining\"}";
        sl_http_respond_json(x, 503, body, sizeof(body) - 1);
    } else if (sl_store_lost(app->store)) {
        /* Pushes get 503 until an operator restores the store directory and restarts. */
        static const char body[] = "{\"status\":\"not_ready\",\"reason\":\"store_lost\"}";
        sl_http_respond_json(x, 503, body, sizeof(body) - 1);
    } else if (!unreachable_respond(x, app)) {
        static const char body[] = "{\"status\":\"ready\"}";
        sl_http_respond_json(x, 200, body, sizeof(body) - 1);
    }
}

static void metrics_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_metrics_render(app->metrics, &b);
    sl_buf_printf(&b,
                  "# HELP sluice_spool_bytes Bytes held in the spool by push sources.\n"
                  "# TYPE sluice_spool_bytes gauge\nsluice_spool_bytes %llu\n",
                  (unsigned long long)(app->spool ? sl_spool_used_bytes(app->spool) : 0));
    /* Left out when the store cannot be read (never -1). */
    int64_t depth = app->spool ? sl_spool_depth(app->spool, NULL) : 0;
    if (depth >= 0)
        sl_buf_printf(&b,
                      "# HELP sluice_spool_depth Records held in the spool by push sources.\n"
                      "# TYPE sluice_spool_depth gauge\nsluice_spool_depth %lld\n",
                      (long long)depth);
    sl_buf_printf(&b,
                  "# HELP sluice_uptime_seconds Seconds since sluice started.\n"
                  "# TYPE sluice_uptime_seconds gauge\nsluice_uptime_seconds %lld\n",
                  (long long)((sl_now_ms() - app->started_ms) / 1000));
    sl_build_info_render(&b);
    sl_proc_metrics_render(&b);
    sl_http_respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, 0, b.data, b.len);
    sl_buf_release(&b);
}

static struct sl_mapping *find_mapping(struct sl_app *app, const char *name, size_t len)
{
    for (size_t i = 0; i < app->nmappings; i++) {
        const char *n = sl_mapping_name(app->mappings[i]);
        if (strlen(n) == len && strncmp(n, name, len) == 0)
            return app->mappings[i];
    }
    return NULL;
}

struct mapping_control {
    struct sl_http_exchange *x;
    struct sl_mapping *m;
};

/* The new state is committed (or not): the answer. */
static void mapping_saved_cb(int status, void *arg)
{
    struct mapping_control *mc = arg;
    if (status < 0) {
        /* The change holds in this process, but would not survive a restart. */
        sl_http_respond_error(mc->x, 503, "store_error",
                              "the state changed, but could not be kept in the store: it holds "
                              "until sluice stops");
    } else {
        struct sl_buf b;
        struct sl_jw w;
        sl_buf_init(&b);
        sl_jw_init(&w, &b);
        sl_mapping_describe(mc->m, &w);
        sl_http_respond_json(mc->x, 200, b.data, b.len);
        sl_buf_release(&b);
    }
    free(mc);
}

/* POST /v1/mappings/{name}/enable and /disable: Lambda's Enabled flag, kept in the store. */
static void mapping_control_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    const char *rest = req->path + strlen("/v1/mappings/");
    const char *slash = strrchr(rest, '/');
    bool enable = slash && strcmp(slash, "/enable") == 0;
    if (!slash || slash == rest || (!enable && strcmp(slash, "/disable") != 0)) {
        sl_http_respond_error(x, 404, "not_found",
                              "use POST /v1/mappings/{name}/enable or /v1/mappings/{name}/disable");
        return;
    }
    struct sl_mapping *m = find_mapping(app, rest, (size_t)(slash - rest));
    if (!m) {
        sl_http_respond_error(x, 404, "not_found", "no mapping with that name");
        return;
    }
    struct sl_err err = {0};
    if (sl_reload_running(app)) {
        sl_http_respond_error(x, 409, "conflict",
                              "a configuration reload is being applied: try again once it is done");
        return;
    }
    if (app->state != SL_APP_RUNNING ||
        sl_mapping_set_enabled(m, enable, "User action", &err) < 0) {
        sl_http_respond_error(x, 409, "conflict",
                              app->state != SL_APP_RUNNING ? "sluice is stopping" : err.msg);
        return;
    }
    struct mapping_control *mc = SL_NEW(struct mapping_control);
    mc->x = x;
    mc->m = m;
    if (sl_mapstate_save(app->store, sl_mapping_config(m), m, mapping_saved_cb, mc) < 0)
        mapping_saved_cb(SL_ECLOSED, mc);
}

static void mappings_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    struct sl_buf b;
    struct sl_jw w;
    const char *rest = req->path + strlen("/v1/mappings");
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    if (*rest == '/' && rest[1]) {
        struct sl_mapping *m = find_mapping(app, rest + 1, strlen(rest + 1));
        if (!m) {
            sl_http_respond_error(x, 404, "not_found", "no mapping with that name");
            sl_buf_release(&b);
            return;
        }
        sl_mapping_describe(m, &w);
    } else {
        sl_jw_obj_open(&w);
        sl_jw_key(&w, "mappings");
        sl_jw_arr_open(&w);
        for (size_t i = 0; i < app->nmappings; i++)
            sl_mapping_describe(app->mappings[i], &w);
        sl_jw_arr_close(&w);
        sl_jw_obj_close(&w);
    }
    sl_http_respond_json(x, 200, b.data, b.len);
    sl_buf_release(&b);
}

void sl_admin_add(struct sl_app *app, struct sl_http_router *r, const char *method,
                  const char *path, bool prefix, sl_http_handler_cb cb, bool guarded)
{
    if (!guarded) {
        sl_http_router_add(r, method, path, prefix, cb, app);
        return;
    }
    struct admin_route *ar = SL_NEW(struct admin_route);
    if (app->nadmin_allocs == SL_ARRAY_LEN(app->admin_allocs))
        abort(); /* a programming error: raise the array size */
    app->admin_allocs[app->nadmin_allocs++] = ar;
    ar->app = app;
    ar->cb = cb;
    sl_http_router_add(r, method, path, prefix, guarded_cb, ar);
}

void sl_admin_routes(struct sl_app *app, struct sl_http_router *r)
{
    /* Liveness and readiness reveal nothing and are left open for probes. */
    sl_admin_add(app, r, "GET", "/healthz", false, healthz_cb, false);
    sl_admin_add(app, r, "GET", "/readyz", false, readyz_cb, false);
    sl_admin_add(app, r, "GET", "/metrics", false, metrics_cb, true);
    sl_admin_add(app, r, "GET", "/v1/mappings", false, mappings_cb, true);
    sl_admin_add(app, r, "GET", "/v1/mappings/", true, mappings_cb, true);
    sl_admin_add(app, r, "POST", "/v1/mappings/", true, mapping_control_cb, true);
    sl_admin_add(app, r, "POST", "/v1/reload", false, sl_reload_http, true);
    sl_admin_dlq_routes(app, r);
    if (app->esm)
        sl_esm_routes(app, r);
    /* The status page: no data in it, so no token to load it. */
    sl_admin_page_routes(app, r);
}
