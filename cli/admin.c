/* The admin API: health, readiness, Prometheus metrics, mapping status and the DLQ
 * (list, show, purge, redrive). Guarded by admin.token when one is set. */
#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/dlqview.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/redrive.h"

#define ADMIN_LIST_DEFAULT 100
#define ADMIN_LIST_MAX     10000

static bool admin_authorized(struct sl_app *app, const struct sl_http_req *req)
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
    if (!admin_authorized(r->app, req)) {
        static const char *const hdr[] = {"WWW-Authenticate: Bearer"};
        static const char body[] =
            "{\"error\":\"unauthorized\",\"message\":\"missing or wrong admin token\"}";
        sl_http_respond(x, 401, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    r->cb(x, req, r->app);
}

/* Finds `name` in a query string and percent-decodes its value into out. */
static bool query_get(const struct sl_http_req *req, const char *name, char *out, size_t cap)
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
    } else {
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
                  "# TYPE sluice_spool_bytes gauge\nsluice_spool_bytes %llu\n"
                  "# HELP sluice_spool_depth Records held in the spool by push sources.\n"
                  "# TYPE sluice_spool_depth gauge\nsluice_spool_depth %lld\n"
                  "# HELP sluice_uptime_seconds Seconds since sluice started.\n"
                  "# TYPE sluice_uptime_seconds gauge\nsluice_uptime_seconds %lld\n",
                  (unsigned long long)(app->spool ? sl_spool_used_bytes(app->spool) : 0),
                  (long long)(app->spool ? sl_spool_depth(app->spool, NULL) : 0),
                  (long long)((sl_now_ms() - app->started_ms) / 1000));
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

static void delete_done_cb(size_t removed, int status, void *arg)
{
    struct sl_http_exchange *x = arg;
    if (status < 0) {
        sl_http_respond_error(x, 500, "dlq_error", sl_strerror(status));
    } else if (removed == 0) {
        sl_http_respond_error(x, 404, "not_found", "no DLQ entry with that id");
    } else {
        static const char body[] = "{\"purged\":1}";
        sl_http_respond_json(x, 200, body, sizeof(body) - 1);
    }
}

static void purge_done_cb(size_t removed, int status, void *arg)
{
    struct sl_http_exchange *x = arg;
    if (status < 0) {
        sl_http_respond_error(x, 500, "dlq_error", sl_strerror(status));
        return;
    }
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"purged\":%zu}", removed);
    sl_http_respond_json(x, 200, body, (size_t)len);
}

/* GET /v1/dlq?mapping=&since=&limit= : summaries. GET /v1/dlq/{id}: one entry.
 * DELETE /v1/dlq/{id}: purge one. */
static void dlq_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    const char *rest = req->path + strlen("/v1/dlq");
    char mapping[128] = "", since[64] = "", limit_s[32] = "";
    struct sl_dlq_filter f = {0};
    struct sl_err err;
    sl_err_clear(&err);

    if (*rest == '/' && rest[1]) {
        const char *id = rest + 1;
        if (strlen(id) > 64) {
            sl_http_respond_error(x, 400, "bad_request", "id is too long");
            return;
        }
        f.id = id;
        if (strcmp(req->method, "DELETE") == 0) {
            if (sl_dlqview_purge(app, &f, delete_done_cb, x, &err) < 0)
                sl_http_respond_error(x, 500, "dlq_error", err.msg);
            return;
        }
        struct sl_buf b;
        sl_buf_init(&b);
        int rc = sl_dlqview_show(app, id, &b, &err);
        if (rc == SL_ENOTFOUND)
            sl_http_respond_error(x, 404, "not_found", "no DLQ entry with that id");
        else if (rc < 0)
            sl_http_respond_error(x, 500, "dlq_error", err.msg);
        else
            sl_http_respond_json(x, 200, b.data, b.len);
        sl_buf_release(&b);
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        static const char *const hdr[] = {"Allow: GET"};
        static const char body[] =
            "{\"error\":\"method_not_allowed\",\"message\":\"use GET on /v1/dlq\"}";
        sl_http_respond(x, 405, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (query_get(req, "mapping", mapping, sizeof(mapping)) && *mapping)
        f.mapping = mapping;
    if (query_get(req, "since", since, sizeof(since)) && *since &&
        sl_time_parse(since, sl_now_ms(), &f.since_ms) < 0) {
        sl_http_respond_error(x, 400, "bad_request",
                              "since: not a time (allowed: RFC 3339, or -<duration> like -1h)");
        return;
    }
    f.limit = ADMIN_LIST_DEFAULT;
    if (query_get(req, "limit", limit_s, sizeof(limit_s)) && *limit_s) {
        char *end;
        long v = strtol(limit_s, &end, 10);
        if (*end || v < 1 || v > ADMIN_LIST_MAX) {
            sl_http_respond_error(x, 400, "bad_request", "limit: allowed 1..10000");
            return;
        }
        f.limit = (size_t)v;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    int rc = sl_dlqview_list_json(app, &f, &b, &err);
    if (rc < 0)
        sl_http_respond_error(x, 500, "dlq_error", err.msg);
    else
        sl_http_respond_json(x, 200, b.data, b.len);
    sl_buf_release(&b);
}

static int body_selector(const struct sl_http_req *req, struct sl_http_exchange *x, json_t **doc,
                         struct sl_dlq_filter *f)
{
    json_error_t jerr;
    *doc =
        json_loadb(req->body_len ? req->body : "{}", req->body_len ? req->body_len : 2, 0, &jerr);
    if (!*doc || !json_is_object(*doc)) {
        sl_http_respond_error(x, 400, "invalid_json", "the body must be a JSON object");
        json_decref(*doc);
        return -1;
    }
    json_t *m = json_object_get(*doc, "mapping"), *id = json_object_get(*doc, "id");
    if ((m && !json_is_string(m)) || (id && !json_is_string(id))) {
        sl_http_respond_error(x, 400, "bad_request", "mapping and id must be strings");
        json_decref(*doc);
        return -1;
    }
    f->mapping = m ? json_string_value(m) : NULL;
    f->id = id ? json_string_value(id) : NULL;
    return 0;
}

/* POST /v1/dlq/purge {"mapping": "..."} or {"id": "..."} (one of them is required). */
static void purge_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    struct sl_dlq_filter f = {0};
    json_t *doc;
    struct sl_err err;
    sl_err_clear(&err);
    if (body_selector(req, x, &doc, &f) < 0)
        return;
    if (!f.mapping && !f.id) {
        sl_http_respond_error(x, 400, "bad_request", "give \"mapping\" or \"id\"");
        json_decref(doc);
        return;
    }
    int rc = sl_dlqview_purge(app, &f, purge_done_cb, x, &err);
    json_decref(doc);
    if (rc < 0)
        sl_http_respond_error(x, rc == SL_ENOTFOUND ? 404 : 500, "dlq_error", err.msg);
}

struct admin_redrive {
    struct sl_app *app;
    struct sl_http_exchange *x;
    struct sl_redrive *rd;
    struct sl_buf items;
    struct sl_jw w;
    json_t *doc;
};

static void redrive_entry_cb(const struct sl_dlq_entry *e, const char *status, const char *detail,
                             void *arg)
{
    struct admin_redrive *ar = arg;
    sl_jw_obj_open(&ar->w);
    sl_jw_kstr(&ar->w, "id", e->id);
    sl_jw_kstr(&ar->w, "mapping", e->mapping);
    sl_jw_kstr(&ar->w, "status", status);
    sl_jw_kstr(&ar->w, "detail", detail);
    sl_jw_obj_close(&ar->w);
}

static void redrive_done_idle_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void redrive_done_cb(const struct sl_redrive_result *res, void *arg)
{
    struct admin_redrive *ar = arg;
    struct sl_buf b;
    sl_jw_arr_close(&ar->w);
    sl_buf_init(&b);
    sl_buf_printf(&b,
                  "{\"matched\":%zu,\"redriven\":%zu,\"failed\":%zu,\"skipped\":%zu,\"entries\":",
                  res->matched, res->redriven, res->failed, res->skipped);
    sl_buf_append(&b, ar->items.data, ar->items.len);
    sl_buf_putc(&b, '}');
    sl_http_respond_json(ar->x, 200, b.data, b.len);
    sl_buf_release(&b);
    /* The redrive object is still on the stack of its own callback: free it from the loop. */
    ev_timer *t = SL_NEW(ev_timer);
    ev_timer_init(t, redrive_done_idle_cb, 0., 0.);
    t->data = ar;
    ev_timer_start(ar->app->loop, t);
}

static void redrive_done_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_redrive *ar = w->data;
    sl_redrive_destroy(ar->rd);
    sl_buf_release(&ar->items);
    json_decref(ar->doc);
    free(ar);
    free(w);
}

/* POST /v1/dlq/redrive {"mapping"|"id", "to", "rate", "dryRun", "limit"} */
static void redrive_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    struct sl_dlq_filter f = {0};
    json_t *doc;
    struct sl_err err;
    sl_err_clear(&err);
    if (body_selector(req, x, &doc, &f) < 0)
        return;
    json_t *to = json_object_get(doc, "to"), *rate = json_object_get(doc, "rate");
    json_t *dry = json_object_get(doc, "dryRun"), *limit = json_object_get(doc, "limit");
    if ((to && !json_is_string(to)) || (rate && !json_is_number(rate)) ||
        (dry && !json_is_boolean(dry)) || (limit && !json_is_integer(limit))) {
        sl_http_respond_error(x, 400, "bad_request",
                              "to: string, rate: number, dryRun: boolean, limit: integer");
        json_decref(doc);
        return;
    }
    struct sl_redrive_opts o = {
        .mapping = f.mapping,
        .id = f.id,
        .to = to ? json_string_value(to) : NULL,
        .rate = rate ? json_number_value(rate) : 10.0,
        .dry_run = dry && json_is_true(dry),
        .limit = limit ? (size_t)json_integer_value(limit) : 0,
    };
    if (o.rate <= 0 || o.rate > 100000) {
        sl_http_respond_error(x, 400, "bad_request", "rate: allowed 0 < rate <= 100000");
        json_decref(doc);
        return;
    }
    struct admin_redrive *ar = SL_NEW(struct admin_redrive);
    ar->app = app;
    ar->x = x;
    ar->doc = doc;
    sl_buf_init(&ar->items);
    sl_jw_init(&ar->w, &ar->items);
    sl_jw_arr_open(&ar->w);
    struct sl_redrive_env env;
    sl_app_redrive_env(app, &env);
    int rc = sl_redrive_start(&env, &o, redrive_entry_cb, redrive_done_cb, ar, &ar->rd, &err);
    if (rc < 0) {
        sl_http_respond_error(x, rc == SL_ENOTFOUND ? 404 : 500, "redrive_error", err.msg);
        sl_buf_release(&ar->items);
        json_decref(doc);
        free(ar);
    }
}

static void add(struct sl_app *app, struct sl_http_router *r, const char *method, const char *path,
                bool prefix, sl_http_handler_cb cb, bool guarded)
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
    add(app, r, "GET", "/healthz", false, healthz_cb, false);
    add(app, r, "GET", "/readyz", false, readyz_cb, false);
    add(app, r, "GET", "/metrics", false, metrics_cb, true);
    add(app, r, "GET", "/v1/mappings", false, mappings_cb, true);
    add(app, r, "GET", "/v1/mappings/", true, mappings_cb, true);
    add(app, r, "GET", "/v1/dlq", false, dlq_cb, true);
    add(app, r, "POST", "/v1/dlq/purge", false, purge_cb, true);
    add(app, r, "POST", "/v1/dlq/redrive", false, redrive_cb, true);
    add(app, r, "GET", "/v1/dlq/", true, dlq_cb, true);
    add(app, r, "DELETE", "/v1/dlq/", true, dlq_cb, true);
}
