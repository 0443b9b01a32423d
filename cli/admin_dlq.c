/* The admin API's DLQ routes: list (cursor pages), show, purge and redrive. Every read runs on
 * the app's worker thread (cli/dlqview.h), so a listing of any size never holds the loop that
 * serves pushes; purges and redrives work in chunks and are visible as tasks while they run. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/dlqview.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/redrive.h"

#define ADMIN_LIST_DEFAULT 100
#define ADMIN_LIST_MAX     10000

static void respond_view(int status, const struct sl_buf *out, const struct sl_err *err, void *arg)
{
    struct sl_http_exchange *x = arg;
    if (status == 0)
        sl_http_respond_json(x, 200, out->data, out->len);
    else if (status == SL_ENOTFOUND)
        sl_http_respond_error(x, 404, "not_found", err->msg);
    else if (status == -EINVAL)
        sl_http_respond_error(x, 400, "bad_request", err->msg);
    else
        sl_http_respond_error(x, status == SL_ECLOSED ? 503 : 500, "dlq_error", err->msg);
}

static void respond_busy(struct sl_http_exchange *x)
{
    sl_http_respond_error(x, 503, "dlq_error", "sluice is stopping");
}

/* ---- purge ---- */

struct admin_purge {
    struct sl_http_exchange *x;
    struct sl_dlq_task *task;
    bool one; /* DELETE /v1/dlq/{id} */
};

static void purged_cb(size_t listed, size_t removed, int status, bool done, void *arg)
{
    struct admin_purge *ap = arg;
    ap->task->matched = listed;
    ap->task->removed = removed;
    ap->task->failed = listed - removed;
    if (!done)
        return;
    sl_dlq_task_end(ap->task, status < 0 ? sl_strerror(status) : NULL);
    if (status < 0) {
        sl_http_respond_error(ap->x, 500, "dlq_error", sl_strerror(status));
    } else if (ap->one && removed == 0) {
        sl_http_respond_error(ap->x, 404, "not_found", "no DLQ entry with that id");
    } else {
        char body[96], id[32];
        sl_dlq_task_id(ap->task, id, sizeof(id));
        int len = snprintf(body, sizeof(body), "{\"purged\":%zu,\"task\":\"%s\"}", removed, id);
        sl_http_respond_json(ap->x, 200, body, (size_t)len);
    }
    free(ap);
}

static void start_purge(struct sl_app *app, struct sl_http_exchange *x,
                        const struct sl_dlq_filter *f, bool one)
{
    struct sl_dlq_task *task = sl_dlq_task_begin(&app->dlq_tasks, "purge");
    if (!task) {
        sl_http_respond_error(x, 429, "too_many_tasks", "too many DLQ tasks are running");
        return;
    }
    struct admin_purge *ap = SL_NEW(struct admin_purge);
    ap->x = x;
    ap->task = task;
    ap->one = one;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_dlqview_purge(app, f, purged_cb, ap, &err);
    if (rc < 0) {
        sl_dlq_task_end(task, err.msg);
        sl_http_respond_error(x,
                              rc == SL_ENOTFOUND ? 404
                              : rc == SL_ECLOSED ? 503
                                                 : 500,
                              "dlq_error", err.msg);
        free(ap);
    }
}

/* ---- list and show ---- */

/* GET /v1/dlq?mapping=&since=&limit=&after= : a page of summaries. GET /v1/dlq/{id}: one entry.
 * DELETE /v1/dlq/{id}: purge one. GET /v1/dlq/tasks: purges and redrives. */
static void dlq_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    const char *rest = req->path + strlen("/v1/dlq");
    char mapping[128] = "", since[64] = "", limit_s[32] = "", after[SL_DLQVIEW_CURSOR_MAX] = "";
    struct sl_dlq_filter f = {0};

    if (*rest == '/' && rest[1]) {
        const char *id = rest + 1;
        if (strcmp(req->method, "GET") == 0 && strcmp(id, "tasks") == 0) {
            struct sl_buf b;
            struct sl_jw w;
            sl_buf_init(&b);
            sl_jw_init(&w, &b);
            sl_dlq_tasks_json(&app->dlq_tasks, &w);
            sl_http_respond_json(x, 200, b.data, b.len);
            sl_buf_release(&b);
            return;
        }
        if (strlen(id) > 64) {
            sl_http_respond_error(x, 400, "bad_request", "id is too long");
            return;
        }
        f.id = id;
        if (strcmp(req->method, "DELETE") == 0) {
            start_purge(app, x, &f, true);
            return;
        }
        if (sl_dlqview_show_async(app, id, respond_view, x) < 0)
            respond_busy(x);
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        static const char *const hdr[] = {"Allow: GET"};
        static const char body[] =
            "{\"error\":\"method_not_allowed\",\"message\":\"use GET on /v1/dlq\"}";
        sl_http_respond(x, 405, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (sl_admin_query_get(req, "mapping", mapping, sizeof(mapping)) && *mapping)
        f.mapping = mapping;
    if (sl_admin_query_get(req, "since", since, sizeof(since)) && *since &&
        sl_time_parse(since, sl_now_ms(), &f.since_ms) < 0) {
        sl_http_respond_error(x, 400, "bad_request",
                              "since: not a time (allowed: RFC 3339, or -<duration> like -1h)");
        return;
    }
    if (sl_admin_query_get(req, "after", after, sizeof(after)) && *after)
        f.after = after;
    f.limit = ADMIN_LIST_DEFAULT;
    if (sl_admin_query_get(req, "limit", limit_s, sizeof(limit_s)) && *limit_s) {
        char *end;
        long v = strtol(limit_s, &end, 10);
        if (*end || v < 1 || v > ADMIN_LIST_MAX) {
            sl_http_respond_error(x, 400, "bad_request", "limit: allowed 1..10000");
            return;
        }
        f.limit = (size_t)v;
    }
    if (sl_dlqview_list_async(app, &f, respond_view, x) < 0)
        respond_busy(x);
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
    if (body_selector(req, x, &doc, &f) < 0)
        return;
    if (!f.mapping && !f.id)
        sl_http_respond_error(x, 400, "bad_request", "give \"mapping\" or \"id\"");
    else
        start_purge(app, x, &f, false);
    json_decref(doc);
}

/* ---- redrive ---- */

struct admin_redrive {
    struct sl_app *app;
    struct sl_http_exchange *x;
    struct sl_redrive *rd;
    struct sl_dlq_task *task;
    struct sl_buf items;
    struct sl_jw w;
    size_t nitems; /* entries detailed in the response (the counts cover all) */
    json_t *doc;
    ev_timer reap;
};

#define ADMIN_REDRIVE_DETAIL_MAX 10000

static void redrive_entry_cb(const struct sl_dlq_entry *e, const char *status, const char *detail,
                             void *arg)
{
    struct admin_redrive *ar = arg;
    struct sl_dlq_task *t = ar->task;
    if (strcmp(status, "redriven") == 0)
        t->removed++;
    else if (strcmp(status, "failed") == 0)
        t->failed++;
    else
        t->skipped++;
    t->matched = t->removed + t->failed + t->skipped;
    if (ar->nitems++ >= ADMIN_REDRIVE_DETAIL_MAX)
        return;
    sl_jw_obj_open(&ar->w);
    sl_jw_kstr(&ar->w, "id", e->id);
    sl_jw_kstr(&ar->w, "mapping", e->mapping);
    sl_jw_kstr(&ar->w, "status", status);
    sl_jw_kstr(&ar->w, "detail", detail);
    sl_jw_obj_close(&ar->w);
}

static void redrive_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_redrive *ar = w->data;
    sl_redrive_destroy(ar->rd);
    sl_buf_release(&ar->items);
    json_decref(ar->doc);
    free(ar);
}

static void redrive_done_cb(const struct sl_redrive_result *res, void *arg)
{
    struct admin_redrive *ar = arg;
    sl_dlq_task_end(ar->task, res->error);
    struct sl_buf b;
    sl_jw_arr_close(&ar->w);
    sl_buf_init(&b);
    char id[32];
    sl_dlq_task_id(ar->task, id, sizeof(id));
    if (res->error && res->matched == 0) {
        sl_http_respond_error(ar->x, 500, "redrive_error", res->error);
    } else {
        struct sl_jw w;
        sl_jw_init(&w, &b);
        sl_jw_obj_open(&w);
        sl_jw_kstr(&w, "task", id);
        sl_jw_kint(&w, "matched", (int64_t)res->matched);
        sl_jw_kint(&w, "redriven", (int64_t)res->redriven);
        sl_jw_kint(&w, "failed", (int64_t)res->failed);
        sl_jw_kint(&w, "skipped", (int64_t)res->skipped);
        if (res->error)
            sl_jw_kstr(&w, "error", res->error);
        sl_jw_key(&w, "entries");
        sl_jw_raw(&w, ar->items.data, ar->items.len);
        sl_jw_obj_close(&w);
        sl_http_respond_json(ar->x, 200, b.data, b.len);
    }
    sl_buf_release(&b);
    /* The redrive object is still on the stack of its own callback: free it from the loop. */
    ev_timer_init(&ar->reap, redrive_reap_cb, 0., 0.);
    ar->reap.data = ar;
    ev_timer_start(ar->app->loop, &ar->reap);
}

/* POST /v1/dlq/redrive {"mapping"|"id", "to", "rate", "dryRun", "limit"} */
/* POST /v1/dlq/redrive {"mapping"?, "id"?, "all"?, "to"?, "rate"?, "dryRun"?, "limit"?}: one of
 * mapping, id or "all": true is required. */
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
    json_t *all = json_object_get(doc, "all");
    if ((to && !json_is_string(to)) || (rate && !json_is_number(rate)) ||
        (dry && !json_is_boolean(dry)) || (limit && !json_is_integer(limit)) ||
        (all && !json_is_boolean(all))) {
        sl_http_respond_error(x, 400, "bad_request",
                              "to: string, rate: number, dryRun: boolean, limit: integer, all: "
                              "boolean");
        json_decref(doc);
        return;
    }
    /* As `sluice dlq redrive --all`: every entry only when asked for by name. */
    if (!f.mapping && !f.id && !json_is_true(all)) {
        sl_http_respond_error(x, 400, "bad_request", "give \"mapping\", \"id\" or \"all\": true");
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
    if (limit && json_integer_value(limit) < 0) {
        sl_http_respond_error(x, 400, "bad_request", "limit: allowed 0 (all) or more");
        json_decref(doc);
        return;
    }
    struct sl_dlq_task *task = sl_dlq_task_begin(&app->dlq_tasks, "redrive");
    if (!task) {
        sl_http_respond_error(x, 429, "too_many_tasks", "too many DLQ tasks are running");
        json_decref(doc);
        return;
    }
    task->dry_run = o.dry_run;
    struct admin_redrive *ar = SL_NEW(struct admin_redrive);
    ar->app = app;
    ar->x = x;
    ar->doc = doc;
    ar->task = task;
    sl_buf_init(&ar->items);
    sl_jw_init(&ar->w, &ar->items);
    sl_jw_arr_open(&ar->w);
    struct sl_redrive_env env;
    sl_app_redrive_env(app, &env);
    int rc = sl_redrive_start(&env, &o, redrive_entry_cb, redrive_done_cb, ar, &ar->rd, &err);
    if (rc < 0) {
        sl_dlq_task_end(task, err.msg);
        sl_http_respond_error(x, rc == SL_ENOTFOUND ? 404 : 500, "redrive_error", err.msg);
        sl_buf_release(&ar->items);
        json_decref(doc);
        free(ar);
    }
}

void sl_admin_dlq_routes(struct sl_app *app, struct sl_http_router *r)
{
    sl_admin_add(app, r, "GET", "/v1/dlq", false, dlq_cb, true);
    sl_admin_add(app, r, "POST", "/v1/dlq/purge", false, purge_cb, true);
    sl_admin_add(app, r, "POST", "/v1/dlq/redrive", false, redrive_cb, true);
    sl_admin_add(app, r, "GET", "/v1/dlq/", true, dlq_cb, true);
    sl_admin_add(app, r, "DELETE", "/v1/dlq/", true, dlq_cb, true);
}
