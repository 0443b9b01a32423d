/* The "lambda" function target: signed Invoke API calls through the http target's transport. */
#include "dispatcher/lambda/lambda_target.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/aws/creds.h"
#include "clients/aws/sigv4.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/time.h"
#include "dispatcher/http/http_target.h"
#include "dispatcher/route.h"

#define SL_LAMBDA_POOL_MAX 64
#define SL_LAMBDA_HEADERS  8 /* request header lines, "Expect:" included */
/* Error bodies read for errorType / message; a larger one is not parsed. */
#define SL_LAMBDA_ERROR_BODY_MAX (64 * 1024)
#define SL_LAMBDA_REGION_MAX     32

enum route_outcome {
    RO_OK,
    RO_PARTIAL,
    RO_FUNCTION_ERROR,
    RO_THROTTLED,
    RO_ERROR,
    RO_COUNT,
};

static const char *const route_outcome_names[RO_COUNT] = {
    "ok", "partial", "function_error", "throttled", "error",
};

/* One qualifier the target invokes (one without routing). */
struct sl_lambda_route {
    char *qualifier; /* NULL: none */
    double weight;
    char *url;   /* endpoint + path + query */
    char *query; /* "Qualifier=..." or NULL */
    uint64_t invocations;
    char last_version[64]; /* X-Amz-Executed-Version of its last response */
    struct sl_metric *counts[RO_COUNT];
};

struct sl_lambda_target;

/* One invocation in flight; its header list lives here until the transfer ends. */
struct sl_lambda_call {
    struct sl_lambda_target *t;
    struct sl_lambda_call *next;
    sl_invoke_cb cb;
    void *arg;
    size_t route;
    bool default_terminal; /* the mapping named no terminal statuses */
    struct curl_slist nodes[SL_LAMBDA_HEADERS];
    struct sl_buf lines; /* the header lines, NUL-separated */
};

struct sl_lambda_target {
    struct sl_target base;
    struct sl_target *http; /* the transport */
    char *function_name;
    char *region;
    char *endpoint;
    char *host; /* Host header: the endpoint's host[:port] */
    char *path; /* /2015-03-31/functions/<encoded name>/invocations */
    struct sl_aws_creds creds;
    struct sl_sigv4_key key;
    struct sl_buf scratch, auth;
    struct sl_lambda_route routes[SL_ROUTES_MAX];
    size_t nroutes;
    struct sl_router router;
    struct sl_lambda_call *pool;
    size_t npool;
    size_t ninflight;
    int busy;
    bool closing, free_pending;
};

/* ---- Calls -------------------------------------------------------------------------------- */

static void call_free(struct sl_lambda_call *c)
{
    if (!c)
        return;
    sl_buf_release(&c->lines);
    free(c);
}

static struct sl_lambda_call *call_take(struct sl_lambda_target *t)
{
    struct sl_lambda_call *c = t->pool;
    if (c) {
        t->pool = c->next;
        t->npool--;
        c->next = NULL;
        return c;
    }
    c = SL_NEW(struct sl_lambda_call);
    c->t = t;
    sl_buf_init(&c->lines);
    return c;
}

static void call_recycle(struct sl_lambda_target *t, struct sl_lambda_call *c)
{
    if (t->closing || t->npool >= SL_LAMBDA_POOL_MAX) {
        call_free(c);
        return;
    }
    c->cb = NULL;
    c->arg = NULL;
    c->next = t->pool;
    t->pool = c;
    t->npool++;
}

/* Adds "Name: value" to the call's lines (NUL-terminated; linked once all are written, as
 * the buffer may move while it grows). */
static void put_line(struct sl_lambda_call *c, size_t *off, size_t *n, const char *name,
                     const char *value)
{
    off[(*n)++] = c->lines.len;
    sl_buf_puts(&c->lines, name);
    if (value) {
        SL_BUF_LIT(&c->lines, ": ");
        sl_buf_puts(&c->lines, value);
    }
    sl_buf_putc(&c->lines, '\0');
}

/* Signs the request and fills the call's header list. */
static int call_headers(struct sl_lambda_target *t, struct sl_lambda_call *c,
                        const struct sl_lambda_route *r, const struct sl_invoke *inv)
{
    char date[SL_SIGV4_DATE_LEN + 1];
    char hash[SL_SIGV4_HEX_LEN + 1];
    sl_sigv4_amz_date(sl_now_ms(), date);
    sl_sigv4_sha256_hex(inv->payload, inv->len, hash);
    struct sl_sigv4_header h[6] = {
        {"host", t->host},
        {"content-type", "application/json"},
        {"x-amz-content-sha256", hash},
        {"x-amz-date", date},
        {"x-amz-invocation-type", "RequestResponse"},
        {"x-amz-security-token", t->creds.session_token},
    };
    struct sl_sigv4_request req = {
        .method = "POST",
        .path = t->path,
        .query = r->query,
        .headers = h,
        .nheaders = t->creds.session_token ? 6 : 5,
        .payload_hash = hash,
        .amz_date = date,
        .double_encode_path = true,
    };
    sl_buf_reset(&t->auth);
    int rc = sl_sigv4_authorization(&req, t->creds.access_key_id, t->creds.secret_access_key,
                                    t->region, "lambda", &t->key, &t->scratch, &t->auth);
    if (rc < 0)
        return rc;
    size_t off[SL_LAMBDA_HEADERS], n = 0;
    sl_buf_reset(&c->lines);
    put_line(c, off, &n, "Host", t->host);
    put_line(c, off, &n, "Content-Type", "application/json");
    put_line(c, off, &n, "X-Amz-Content-Sha256", hash);
    put_line(c, off, &n, "X-Amz-Date", date);
    put_line(c, off, &n, "X-Amz-Invocation-Type", "RequestResponse");
    if (t->creds.session_token)
        put_line(c, off, &n, "X-Amz-Security-Token", t->creds.session_token);
    put_line(c, off, &n, "Authorization", t->auth.data);
    put_line(c, off, &n, "Expect:", NULL); /* no 100-continue round trip */
    for (size_t i = 0; i < n; i++) {
        c->nodes[i].data = c->lines.data + off[i];
        c->nodes[i].next = i + 1 < n ? &c->nodes[i + 1] : NULL;
    }
    return 0;
}

/* ---- Outcomes ----------------------------------------------------------------------------- */

/* The string member `key` of a JSON object body, or NULL. */
static const char *body_str(json_t *doc, const char *key)
{
    json_t *v = json_is_object(doc) ? json_object_get(doc, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *parse_body(const struct sl_outcome *o)
{
    if (!o->response || o->response_len == 0 || o->response_len > SL_LAMBDA_ERROR_BODY_MAX)
        return NULL;
    return json_loadb(o->response, o->response_len, 0, NULL);
}

/* Function errors name the errorType of the body; service errors their exception and
 * message; 409 is retried. Runs only for failed calls (not per record). */
static void refine(struct sl_outcome *o, bool default_terminal)
{
    if (o->kind == SL_OUTCOME_RETRY && o->function_error && o->status >= 200 && o->status <= 299 &&
        strncmp(o->error, "function error", 14) == 0) {
        json_t *doc = parse_body(o);
        const char *type = body_str(doc, "errorType");
        if (type && *type) {
            char header[64];
            snprintf(header, sizeof(header), "%s", o->function_error_type);
            snprintf(o->function_error_type, sizeof(o->function_error_type), "%s", type);
            snprintf(o->error, sizeof(o->error), "function error%s%s%s: %s", header[0] ? " (" : "",
                     header, header[0] ? ")" : "", o->function_error_type);
        }
        json_decref(doc);
        return;
    }
    if (o->status < 400)
        return;
    /* ResourceConflictException: the function is being created or updated; retried as Lambda
     * retries it for event source mappings. */
    if (o->status == 409 && o->kind == SL_OUTCOME_FAIL && default_terminal)
        o->kind = SL_OUTCOME_RETRY;
    json_t *doc = parse_body(o);
    const char *type = o->service_error_type[0] ? o->service_error_type : NULL;
    if (!type)
        type = body_str(doc, "__type");
    const char *msg = body_str(doc, "message");
    if (!msg)
        msg = body_str(doc, "Message");
    if (type || msg) {
        char tail[64] = "";
        if (o->retry_after_ms >= 0)
            snprintf(tail, sizeof(tail), " (retry after %lld ms)", (long long)o->retry_after_ms);
        snprintf(o->error, sizeof(o->error), "HTTP %d%s%s%s%.160s%s", o->status, type ? " " : "",
                 type ? type : "", msg ? ": " : "", msg ? msg : "", tail);
    }
    json_decref(doc);
}

static enum route_outcome route_outcome_of(const struct sl_outcome *o)
{
    switch (o->kind) {
    case SL_OUTCOME_OK:
        return RO_OK;
    case SL_OUTCOME_PARTIAL:
        return RO_PARTIAL;
    default:
        break;
    }
    if (o->function_error)
        return RO_FUNCTION_ERROR;
    if (o->status == 429 || o->status == 503)
        return RO_THROTTLED;
    return RO_ERROR;
}

static void target_free(struct sl_lambda_target *t);

static void lambda_done(const struct sl_outcome *o, void *arg)
{
    struct sl_lambda_call *c = arg;
    struct sl_lambda_target *t = c->t;
    struct sl_lambda_route *r = &t->routes[c->route];
    struct sl_outcome lo = *o; /* body and failures stay borrowed from the transport */
    if (lo.kind != SL_OUTCOME_OK)
        refine(&lo, c->default_terminal);
    if (lo.executed_version[0])
        memcpy(r->last_version, lo.executed_version, sizeof(r->last_version));
    struct sl_metric *count = r->counts[route_outcome_of(&lo)];
    if (count) /* NULL without a metrics registry (tools, tests) */
        sl_metric_inc(count);
    sl_debug(t->base.scope, "%s%s%s (version %s): %s in %lld ms: %s", t->function_name,
             r->qualifier ? ":" : "", r->qualifier ? r->qualifier : "",
             lo.executed_version[0] ? lo.executed_version : "?", sl_outcome_kind_name(lo.kind),
             (long long)lo.duration_ms, lo.error[0] ? lo.error : "ok");
    sl_invoke_cb cb = c->cb;
    void *cb_arg = c->arg;
    t->ninflight--;
    call_recycle(t, c);
    t->busy++;
    cb(&lo, cb_arg);
    t->busy--;
    if (t->free_pending && t->busy == 0)
        target_free(t);
}

/* ---- Operations --------------------------------------------------------------------------- */

static int lambda_invoke(struct sl_target *base, const struct sl_invoke *inv, sl_invoke_cb cb,
                         void *arg)
{
    struct sl_lambda_target *t = (struct sl_lambda_target *)base;
    if (!t || !inv || !cb || (inv->len > 0 && !inv->payload) || inv->timeout_ms < 0)
        return -EINVAL;
    if (t->closing)
        return SL_ECLOSED;
    struct sl_lambda_call *c = call_take(t);
    c->cb = cb;
    c->arg = arg;
    c->route = sl_router_pick(&t->router);
    c->default_terminal = !inv->terminal_statuses || inv->terminal_statuses->n == 0;
    struct sl_lambda_route *r = &t->routes[c->route];
    int rc = call_headers(t, c, r, inv);
    if (rc == 0) {
        struct sl_http_request req = {.url = r->url, .headers = &c->nodes[0]};
        rc = sl_target_http_send(t->http, inv, &req, lambda_done, c);
    }
    if (rc < 0) {
        call_recycle(t, c);
        return rc;
    }
    r->invocations++;
    t->ninflight++;
    return 0;
}

static size_t lambda_inflight(const struct sl_target *base)
{
    const struct sl_lambda_target *t = (const struct sl_lambda_target *)base;
    return t ? t->ninflight : 0;
}

static void lambda_describe(struct sl_target *base, struct sl_jw *w)
{
    struct sl_lambda_target *t = (struct sl_lambda_target *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "function_name", t->function_name);
    sl_jw_kstr(w, "region", t->region);
    sl_jw_kstr(w, "endpoint", t->endpoint);
    sl_jw_kstr(w, "credentials", t->creds.source); /* where from, never what */
    sl_jw_kint(w, "inflight", (int64_t)t->ninflight);
    sl_jw_key(w, "routes");
    sl_jw_arr_open(w);
    for (size_t i = 0; i < t->nroutes; i++) {
        const struct sl_lambda_route *r = &t->routes[i];
        sl_jw_obj_open(w);
        if (r->qualifier)
            sl_jw_kstr(w, "qualifier", r->qualifier);
        sl_route_describe_weight(w, r->weight);
        sl_jw_kint(w, "invocations", (int64_t)r->invocations);
        if (r->last_version[0])
            sl_jw_kstr(w, "executed_version", r->last_version);
        sl_jw_obj_close(w);
    }
    sl_jw_arr_close(w);
    sl_jw_obj_close(w);
}

static void target_free(struct sl_lambda_target *t)
{
    if (t->http) {
        struct sl_target *h = t->http;
        t->http = NULL;
        h->ops->destroy(h);
    }
    struct sl_lambda_call *c;
    while ((c = t->pool)) {
        t->pool = c->next;
        call_free(c);
    }
    for (size_t i = 0; i < t->nroutes; i++) {
        free(t->routes[i].qualifier);
        free(t->routes[i].url);
        free(t->routes[i].query);
    }
    sl_aws_creds_release(&t->creds);
    OPENSSL_cleanse(&t->key, sizeof(t->key));
    sl_buf_release(&t->scratch);
    sl_buf_release(&t->auth);
    free(t->function_name);
    free(t->region);
    free(t->endpoint);
    free(t->host);
    free(t->path);
    sl_module_release(SL_MODULE(&t->base));
    free(t);
}

static void lambda_destroy(struct sl_target *base)
{
    struct sl_lambda_target *t = (struct sl_lambda_target *)base;
    if (!t || t->closing)
        return;
    t->closing = true;
    t->busy++;
    /* Cancels what is in flight: each call's lambda_done runs now, with RETRY "cancelled". */
    if (t->http) {
        struct sl_target *h = t->http;
        t->http = NULL;
        h->ops->destroy(h);
    }
    t->busy--;
    if (t->busy > 0)
        t->free_pending = true;
    else
        target_free(t);
}

/* ---- Creation ----------------------------------------------------------------------------- */

static bool region_ok(const char *r)
{
    size_t n = strnlen(r, SL_LAMBDA_REGION_MAX + 1);
    if (n == 0 || n > SL_LAMBDA_REGION_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = r[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* The region: the configuration, else AWS_REGION, else AWS_DEFAULT_REGION. */
static int resolve_region(const struct sl_lambda_target_conf *conf, const char *where,
                          const char **out, struct sl_err *err)
{
    const char *r = conf->region;
    const char *from = "region";
    if (!r || !*r) {
        r = getenv("AWS_REGION");
        from = "AWS_REGION";
    }
    if (!r || !*r) {
        r = getenv("AWS_DEFAULT_REGION");
        from = "AWS_DEFAULT_REGION";
    }
    if (!r || !*r)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%sregion: missing (allowed: a region name such as \"eu-west-1\"; or "
                          "set AWS_REGION)",
                          where);
    if (!region_ok(r))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%sregion: \"%.40s\" from %s is not a region name (allowed: a-z 0-9 -, "
                          "e.g. \"eu-west-1\")",
                          where, r, from);
    *out = r;
    return 0;
}

static int add_route(struct sl_lambda_target *t, const char *qualifier, double weight)
{
    struct sl_lambda_route *r = &t->routes[t->nroutes++];
    r->qualifier = qualifier && *qualifier ? sl_strdup(qualifier) : NULL;
    r->weight = weight;
    struct sl_buf b;
    sl_buf_init(&b);
    if (r->qualifier) {
        SL_BUF_LIT(&b, "Qualifier=");
        sl_sigv4_uri_encode(&b, r->qualifier, strlen(r->qualifier), false);
        r->query = sl_strdup(b.data);
        sl_buf_reset(&b);
    }
    sl_buf_puts(&b, t->endpoint);
    sl_buf_puts(&b, t->path);
    if (r->query) {
        sl_buf_putc(&b, '?');
        sl_buf_puts(&b, r->query);
    }
    r->url = sl_buf_steal(&b, NULL);
    return 0;
}

static void route_metrics(struct sl_lambda_target *t, struct sl_metrics *m)
{
    struct sl_buf l;
    sl_buf_init(&l);
    for (size_t i = 0; i < t->nroutes; i++) {
        struct sl_lambda_route *r = &t->routes[i];
        for (int k = 0; k < RO_COUNT; k++) {
            sl_buf_reset(&l);
            sl_metrics_label(&l, "function", t->base.name);
            sl_metrics_label(&l, "qualifier", r->qualifier ? r->qualifier : "");
            sl_metrics_label(&l, "outcome", route_outcome_names[k]);
            r->counts[k] =
                m ? sl_metrics_counter(m, "sluice_lambda_invocations_total",
                                       "Lambda Invoke calls by qualifier and outcome", l.data)
                  : NULL;
        }
    }
    sl_buf_release(&l);
}

int sl_target_lambda_create_conf(const struct sl_env *env, const char *name,
                                 const struct sl_lambda_target_conf *conf, const char *where,
                                 struct sl_target **out, struct sl_err *err)
{
    *out = NULL;
    struct ev_loop *loop = env ? env->loop : NULL;
    if (!loop || !conf)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "lambda target: no loop or config");
    if (!name)
        name = "lambda";
    char fallback[160];
    if (!where) {
        snprintf(fallback, sizeof(fallback), "function '%.64s': ", name);
        where = fallback;
    }
    int rc = sl_lambda_target_conf_check(conf, where, err);
    if (rc < 0)
        return rc;
    const char *region = NULL;
    rc = resolve_region(conf, where, &region, err);
    if (rc < 0)
        return rc;

    struct sl_lambda_target *t = SL_NEW(struct sl_lambda_target);
    sl_module_init(SL_MODULE(&t->base), &sl_target_lambda_ops, "function",
                   sl_target_lambda_ops.type, name);
    sl_buf_init(&t->scratch);
    sl_buf_init(&t->auth);
    struct sl_aws_creds_conf cc = {
        .access_key_id = conf->access_key_id,
        .secret_access_key = conf->secret_access_key,
        .session_token = conf->session_token,
        .profile = conf->profile,
    };
    rc = sl_aws_creds_resolve(&cc, where, &t->creds, err);
    if (rc < 0) {
        target_free(t);
        return rc;
    }
    t->function_name = sl_strdup(conf->function_name ? conf->function_name : name);
    t->region = sl_strdup(region);
    struct sl_buf b;
    sl_buf_init(&b);
    if (conf->endpoint) {
        sl_buf_puts(&b, conf->endpoint);
        if (b.len > 0 && b.data[b.len - 1] == '/')
            b.data[--b.len] = '\0';
    } else {
        sl_buf_printf(&b, "https://lambda.%s.amazonaws.com", region);
    }
    t->endpoint = sl_buf_steal(&b, NULL);
    t->host = sl_strdup(strstr(t->endpoint, "://") + 3);
    sl_buf_init(&b);
    SL_BUF_LIT(&b, "/2015-03-31/functions/");
    sl_sigv4_uri_encode(&b, t->function_name, strlen(t->function_name), false);
    SL_BUF_LIT(&b, "/invocations");
    t->path = sl_buf_steal(&b, NULL);

    double weights[SL_ROUTES_MAX];
    if (conf->routing.n > 0) {
        for (size_t i = 0; i < conf->routing.n; i++) {
            const struct sl_lambda_route_conf *rc_ =
                SL_OBJLIST_AT(conf->routing, struct sl_lambda_route_conf, i);
            add_route(t, rc_->qualifier, rc_->weight);
            weights[i] = rc_->weight;
        }
    } else {
        add_route(t, conf->qualifier, 1.0);
        weights[0] = 1.0;
    }
    sl_router_init(&t->router, weights, t->nroutes, sl_router_seed(t));
    route_metrics(t, env->metrics);

    struct sl_http_target_conf hc = {
        .url = t->routes[0].url,
        .timeout_ms = conf->timeout_ms,
        .max_response_bytes = conf->max_response_bytes,
        .max_connections = conf->max_connections,
    };
    rc = sl_target_http_create_conf(loop, name, &hc, &t->http, err);
    if (rc < 0) {
        target_free(t);
        return rc;
    }
    sl_debug(t->base.scope, "invokes %s in %s at %s (credentials from %s)", t->function_name,
             t->region, t->endpoint, t->creds.source);
    *out = &t->base;
    return 0;
}

const struct sl_target_ops sl_target_lambda_ops = {
    .type = "lambda",
    .props = &sl_lambda_target_props,
    .create = sl_target_lambda_create,
    .invoke = lambda_invoke,
    .inflight = lambda_inflight,
    .describe = lambda_describe,
    .destroy = lambda_destroy,
};
