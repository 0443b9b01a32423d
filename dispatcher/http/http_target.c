/* The "http" function target: libcurl multi_socket_action on the libev loop. */
#include "dispatcher/http/http_target.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/url.h"

#define SL_HTTP_POOL_MAX 32
/* Response bodies kept in a pooled call above this size are freed instead of reused. */
#define SL_HTTP_KEEP_BODY_BYTES         (64 * 1024)
#define SL_HTTP_DEFAULT_TIMEOUT_MS      30000
#define SL_HTTP_DEFAULT_MAX_RESPONSE    (6 * 1024 * 1024)
#define SL_HTTP_DEFAULT_MAX_CONNECTIONS 64

struct sl_http_target;

/* One socket curl asked us to watch. */
struct sl_http_sock {
    ev_io io;
    curl_socket_t fd;
    struct sl_http_target *t;
    struct sl_http_sock *prev, *next;
};

/* One invocation; its easy handle is reused through the target's pool. */
struct sl_http_call {
    struct sl_http_target *t;
    CURL *easy;
    struct sl_http_call *prev, *next;
    sl_invoke_cb cb;
    void *arg;
    bool report_batch_item_failures;
    const struct sl_intlist *terminal_statuses;
    int64_t timeout_ms;
    int64_t start_ms;
    struct sl_buf body;
    bool too_large;
    bool has_function_error;
    bool has_retry_after;
    bool custom; /* the easy handle holds a sl_http_request's URL and headers */
    char function_error[64];
    char retry_after[64];
    char executed_version[64];
    char service_error_type[64];
    char errbuf[CURL_ERROR_SIZE];
};

struct sl_http_target {
    struct sl_target base;
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    char *url;
    char *url_shown; /* sl_url_redact: no user:password, no query values */
    int64_t timeout_ms;
    uint64_t max_response_bytes;
    long max_connections;
    struct curl_slist *headers;
    struct sl_http_call *calls; /* in flight */
    size_t ninflight;
    struct sl_http_call *pool; /* idle, singly linked through next */
    size_t npool;
    struct sl_http_sock *socks;
    int busy;          /* depth of loop callbacks running on this target */
    bool closing;      /* destroy started: no new invocations */
    bool free_pending; /* destroy ran inside a callback: free when it unwinds */
};

/* ---- Helpers ---------------------------------------------------------------------------- */

static void call_free(struct sl_http_call *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    sl_buf_release(&c->body);
    free(c);
}

static void inflight_link(struct sl_http_target *t, struct sl_http_call *c)
{
    c->prev = NULL;
    c->next = t->calls;
    if (t->calls)
        t->calls->prev = c;
    t->calls = c;
    t->ninflight++;
}

static void inflight_unlink(struct sl_http_target *t, struct sl_http_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        t->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    t->ninflight--;
}

/* Returns a finished call to the pool (or frees it). */
static void call_recycle(struct sl_http_target *t, struct sl_http_call *c)
{
    if (t->closing || t->npool >= SL_HTTP_POOL_MAX) {
        call_free(c);
        return;
    }
    if (c->body.cap > SL_HTTP_KEEP_BODY_BYTES)
        sl_buf_release(&c->body);
    c->cb = NULL;
    c->arg = NULL;
    c->terminal_statuses = NULL;
    c->next = t->pool;
    c->prev = NULL;
    t->pool = c;
    t->npool++;
}

/* ---- curl callbacks ----------------------------------------------------------------------- */

static size_t write_fn(char *data, size_t size, size_t n, void *userp)
{
    struct sl_http_call *c = userp;
    size_t len = size * n;
    uint64_t max = c->t->max_response_bytes;
    if ((uint64_t)c->body.len + len > max) {
        size_t room = (size_t)(max - c->body.len);
        sl_buf_append(&c->body, data, room);
        c->too_large = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    sl_buf_append(&c->body, data, len);
    return len;
}

/* Copies a header value without surrounding blanks (and CR LF), truncated to cap. */
static void copy_value(const char *v, size_t n, char *out, size_t cap)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static bool header_is(const char *line, size_t name_len, const char *name)
{
    return name_len == strlen(name) && strncasecmp(line, name, name_len) == 0;
}

static size_t header_fn(char *line, size_t size, size_t n, void *userp)
{
    struct sl_http_call *c = userp;
    size_t len = size * n;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): forget the previous one's headers. */
        c->has_function_error = c->has_retry_after = false;
        c->executed_version[0] = c->service_error_type[0] = '\0';
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
    if (header_is(line, name_len, "X-Amz-Function-Error")) {
        copy_value(v, vlen, c->function_error, sizeof(c->function_error));
        c->has_function_error = true;
    } else if (header_is(line, name_len, "Retry-After")) {
        copy_value(v, vlen, c->retry_after, sizeof(c->retry_after));
        c->has_retry_after = true;
    } else if (header_is(line, name_len, "X-Amz-Executed-Version")) {
        copy_value(v, vlen, c->executed_version, sizeof(c->executed_version));
    } else if (header_is(line, name_len, "X-Amzn-ErrorType")) {
        /* "InvalidSignatureException:http://internal..." : the name before the colon. */
        const char *colon2 = memchr(v, ':', vlen);
        copy_value(v, colon2 ? (size_t)(colon2 - v) : vlen, c->service_error_type,
                   sizeof(c->service_error_type));
    }
    return len;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct sl_http_target *t = userp;
    struct sl_http_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(t->loop, &s->io);
            if (s->prev)
                s->prev->next = s->next;
            else
                t->socks = s->next;
            if (s->next)
                s->next->prev = s->prev;
            free(s);
        }
        return 0;
    }
    if (!s) {
        s = SL_NEW(struct sl_http_sock);
        s->fd = fd;
        s->t = t;
        s->next = t->socks;
        if (t->socks)
            t->socks->prev = s;
        t->socks = s;
        ev_init(&s->io, io_cb);
        curl_multi_assign(t->multi, fd, s);
    } else {
        ev_io_stop(t->loop, &s->io);
    }
    int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    ev_io_set(&s->io, fd, events);
    ev_io_start(t->loop, &s->io);
    return 0;
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    struct sl_http_target *t = userp;
    ev_timer_stop(t->loop, &t->timer);
    if (timeout_ms >= 0) {
        /* Even 0 goes through the loop: curl must not be re-entered from here. */
        ev_timer_set(&t->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(t->loop, &t->timer);
    }
    return 0;
}

/* ---- Completion --------------------------------------------------------------------------- */

/* True when libcurl says the request cannot have reached the function. */
static bool never_sent(struct sl_http_call *c, CURLcode res)
{
    switch (res) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        return true;
    default:
        break;
    }
    long request_size = 0;
    if (curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &request_size) != CURLE_OK)
        return false;
    return request_size == 0;
}

static void transport_text(struct sl_http_call *c, CURLcode res, long os_errno, const char *detail,
                           char *out, size_t cap)
{
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, cap, "timeout after %lld ms", (long long)c->timeout_ms);
        return;
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED)
            snprintf(out, cap, "connection refused");
        else
            snprintf(out, cap, "connect failed: %.150s", detail);
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, cap, "could not resolve host: %.150s", detail);
        return;
    case CURLE_GOT_NOTHING:
        snprintf(out, cap, "empty reply from server");
        return;
    default:
        break;
    }
    if (os_errno == ECONNRESET)
        snprintf(out, cap, "connection reset: %.150s", detail);
    else
        snprintf(out, cap, "%.200s", detail);
}

static void transport_message(struct sl_http_call *c, CURLcode res, char *out, size_t cap)
{
    long os_errno = 0;
    curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
    /* curl's message may quote the URL; this text goes to logs and DLQ entries. */
    struct sl_buf shown;
    sl_buf_init(&shown);
    sl_url_redact_text(&shown, c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
    transport_text(c, res, os_errno, shown.data, out, cap);
    sl_buf_release(&shown);
}

static void call_outcome(struct sl_http_call *c, CURLcode res, const char *cancelled,
                         struct sl_outcome *o)
{
    struct sl_http_target *t = c->t;
    struct sl_invoke inv = {
        .report_batch_item_failures = c->report_batch_item_failures,
        .terminal_statuses = c->terminal_statuses,
        .timeout_ms = c->timeout_ms,
    };
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *fe = c->has_function_error ? c->function_error : NULL;
    const char *ra = c->has_retry_after ? c->retry_after : NULL;
    const char *body = c->body.data;
    size_t body_len = c->body.len;
    char msg[200];

    if (cancelled) {
        sl_outcome_classify(o, 0, NULL, NULL, body, body_len, &inv, cancelled);
        o->reached_function = !never_sent(c, CURLE_OK);
    } else if (c->too_large && status >= 200 && status <= 299) {
        sl_outcome_classify(o, (int)status, NULL, ra, body, body_len, &inv, NULL);
        sl_outcome_release(o);
        o->kind = SL_OUTCOME_RETRY;
        o->function_error = true;
        snprintf(o->error, sizeof(o->error), "response too large (more than %llu bytes)",
                 (unsigned long long)t->max_response_bytes);
    } else if (c->too_large) {
        sl_outcome_classify(o, (int)status, fe, ra, body, body_len, &inv, NULL);
    } else if (res != CURLE_OK || status <= 0) {
        if (res != CURLE_OK)
            transport_message(c, res, msg, sizeof(msg));
        else
            snprintf(msg, sizeof(msg), "no HTTP status in the response");
        sl_outcome_classify(o, 0, NULL, NULL, body, body_len, &inv, msg);
        o->reached_function = !never_sent(c, res);
    } else {
        sl_outcome_classify(o, (int)status, fe, ra, body, body_len, &inv, NULL);
    }
    if (!cancelled && status > 0) {
        memcpy(o->executed_version, c->executed_version, sizeof(o->executed_version));
        memcpy(o->service_error_type, c->service_error_type, sizeof(o->service_error_type));
    }
    o->duration_ms = sl_mono_ms() - c->start_ms;
}

/* Fires the callback of a call already out of the multi handle and the in-flight list. */
static void call_finish(struct sl_http_call *c, CURLcode res, const char *cancelled)
{
    struct sl_http_target *t = c->t;
    struct sl_outcome o;
    call_outcome(c, res, cancelled, &o);
    sl_debug(t->base.scope, "%s in %lld ms: %s", sl_outcome_kind_name(o.kind),
             (long long)o.duration_ms, o.error[0] ? o.error : "ok");
    c->cb(&o, c->arg);
    sl_outcome_release(&o);
    call_recycle(t, c);
}

static void check_done(struct sl_http_target *t)
{
    CURLMsg *msg;
    int left;
    while (!t->closing && (msg = curl_multi_info_read(t->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct sl_http_call *c = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
        curl_multi_remove_handle(t->multi, easy);
        if (!c)
            continue;
        inflight_unlink(t, c);
        call_finish(c, res, NULL);
    }
}

static void target_free(struct sl_http_target *t);

static void leave(struct sl_http_target *t)
{
    t->busy--;
    if (t->busy == 0 && t->free_pending)
        target_free(t);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_http_sock *s = (struct sl_http_sock *)w;
    struct sl_http_target *t = s->t;
    curl_socket_t fd = s->fd; /* s may be freed by the action */
    int action =
        ((revents & EV_READ) ? CURL_CSELECT_IN : 0) | ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    t->busy++;
    curl_multi_socket_action(t->multi, fd, action, &running);
    check_done(t);
    leave(t);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sl_http_target *t = w->data;
    int running;
    t->busy++;
    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(t);
    leave(t);
}

/* ---- Operations --------------------------------------------------------------------------- */

static CURL *easy_create(struct sl_http_target *t, struct sl_http_call *c)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_URL, t->url);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_fn);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_fn);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)c);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* A call cancelled while its host name is being resolved (a timeout, or the shutdown) does
     * not wait for the resolver thread (https://curl.se/libcurl/c/CURLOPT_QUICK_EXIT.html). */
    rc |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
    if (rc != CURLE_OK) {
        curl_easy_cleanup(e);
        return NULL;
    }
    return e;
}

static struct sl_http_call *call_take(struct sl_http_target *t)
{
    struct sl_http_call *c = t->pool;
    if (c) {
        t->pool = c->next;
        t->npool--;
        c->next = NULL;
        return c;
    }
    c = SL_NEW(struct sl_http_call);
    c->t = t;
    sl_buf_init(&c->body);
    c->easy = easy_create(t, c);
    if (!c->easy) {
        free(c);
        return NULL;
    }
    return c;
}

int sl_target_http_send(struct sl_target *base, const struct sl_invoke *inv,
                        const struct sl_http_request *req, sl_invoke_cb cb, void *arg)
{
    struct sl_http_target *t = (struct sl_http_target *)base;
    if (!t || !inv || !cb || (inv->len > 0 && !inv->payload) || inv->timeout_ms < 0)
        return -EINVAL;
    if (t->closing)
        return SL_ECLOSED;
    struct sl_http_call *c = call_take(t);
    if (!c)
        return -ENOMEM;
    c->cb = cb;
    c->arg = arg;
    c->report_batch_item_failures = inv->report_batch_item_failures;
    c->terminal_statuses = inv->terminal_statuses;
    c->timeout_ms = inv->timeout_ms > 0 ? inv->timeout_ms : t->timeout_ms;
    c->too_large = false;
    c->has_function_error = c->has_retry_after = false;
    c->executed_version[0] = c->service_error_type[0] = '\0';
    c->errbuf[0] = '\0';
    sl_buf_reset(&c->body);

    CURLcode rc = CURLE_OK;
    if (req || c->custom) {
        /* A pooled handle keeps what it was last given: put back the target's own URL and
         * headers after a request that brought its own. */
        const char *url = req && req->url ? req->url : t->url;
        const struct curl_slist *h = req && req->headers ? req->headers : t->headers;
        rc |= curl_easy_setopt(c->easy, CURLOPT_URL, url);
        rc |= curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, h);
        c->custom = req != NULL;
    }
    rc |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, inv->payload ? inv->payload : "");
    rc |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)inv->len);
    rc |= curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    if (rc != CURLE_OK) {
        call_recycle(t, c);
        return -EINVAL;
    }
    c->start_ms = sl_mono_ms();
    CURLMcode mc = curl_multi_add_handle(t->multi, c->easy);
    if (mc != CURLM_OK) {
        sl_warn(t->base.scope, "cannot start a request: %s", curl_multi_strerror(mc));
        call_recycle(t, c);
        return -EIO;
    }
    inflight_link(t, c);
    return 0;
}

static int http_invoke(struct sl_target *base, const struct sl_invoke *inv, sl_invoke_cb cb,
                       void *arg)
{
    return sl_target_http_send(base, inv, NULL, cb, arg);
}

static size_t http_inflight(const struct sl_target *base)
{
    const struct sl_http_target *t = (const struct sl_http_target *)base;
    return t ? t->ninflight : 0;
}

static void http_describe(struct sl_target *base, struct sl_jw *w)
{
    struct sl_http_target *t = (struct sl_http_target *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "url", t->url_shown);
    sl_jw_kint(w, "inflight", (int64_t)t->ninflight);
    sl_jw_obj_close(w);
}

static void target_free(struct sl_http_target *t)
{
    struct sl_http_call *c;
    while ((c = t->pool)) {
        t->pool = c->next;
        call_free(c);
    }
    if (t->multi)
        curl_multi_cleanup(t->multi);
    struct sl_http_sock *s;
    while ((s = t->socks)) {
        t->socks = s->next;
        ev_io_stop(t->loop, &s->io);
        free(s);
    }
    ev_timer_stop(t->loop, &t->timer);
    curl_slist_free_all(t->headers);
    free(t->url);
    free(t->url_shown);
    sl_module_release(SL_MODULE(&t->base));
    free(t);
}

static void http_destroy(struct sl_target *base)
{
    struct sl_http_target *t = (struct sl_http_target *)base;
    if (!t || t->closing)
        return;
    t->closing = true;
    ev_timer_stop(t->loop, &t->timer);
    struct sl_http_call *c;
    while ((c = t->calls)) {
        inflight_unlink(t, c);
        curl_multi_remove_handle(t->multi, c->easy);
        call_finish(c, CURLE_OK, "cancelled");
    }
    if (t->busy > 0)
        t->free_pending = true; /* a loop callback of ours is still on the stack */
    else
        target_free(t);
}

/* ---- Creation ----------------------------------------------------------------------------- */

static int global_init(struct sl_err *err)
{
    /* curl_global_init is not thread-safe: targets are created on the loop thread at
     * start-up, and this flag keeps it to one call. */
    static bool done;
    if (done)
        return 0;
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return sl_err_set(err, SL_ERR_FATAL, -EIO, "curl_global_init: %s", curl_easy_strerror(rc));
    done = true;
    return 0;
}

static int build_headers(struct sl_http_target *t, const struct sl_strmap *h)
{
    bool has_type = false;
    struct sl_buf line;
    sl_buf_init(&line);
    for (size_t i = 0; h && i < h->n; i++) {
        if (strcasecmp(h->keys[i], "Content-Type") == 0)
            has_type = true;
        sl_buf_reset(&line);
        sl_buf_printf(&line, "%s: %s", h->keys[i], h->vals[i]);
        t->headers = curl_slist_append(t->headers, line.data);
        if (!t->headers)
            break;
    }
    sl_buf_release(&line);
    if (!t->headers && h && h->n > 0)
        return -ENOMEM;
    if (!has_type)
        t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    if (t->headers)
        t->headers = curl_slist_append(t->headers, "Expect:");
    return t->headers ? 0 : -ENOMEM;
}

int sl_target_http_create_conf(struct ev_loop *loop, const char *name,
                               const struct sl_http_target_conf *conf, struct sl_target **out,
                               struct sl_err *err)
{
    *out = NULL;
    if (!loop || !conf)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "http target: no loop or config");
    if (!name)
        name = "http";
    char where[160];
    snprintf(where, sizeof(where), "function '%.64s': ", name);
    int rc = sl_http_target_conf_check(conf, where, err);
    if (rc < 0)
        return rc;
    rc = global_init(err);
    if (rc < 0)
        return rc;

    struct sl_http_target *t = SL_NEW(struct sl_http_target);
    sl_module_init(SL_MODULE(&t->base), &sl_target_http_ops, "function", sl_target_http_ops.type,
                   name);
    t->loop = loop;
    t->url = sl_strdup(conf->url);
    t->url_shown = sl_url_redact(conf->url);
    t->timeout_ms = conf->timeout_ms;
    t->max_response_bytes = conf->max_response_bytes;
    t->max_connections = (long)conf->max_connections;
    ev_init(&t->timer, timer_cb);
    t->timer.data = t;

    if (build_headers(t, &conf->headers) < 0) {
        target_free(t);
        return sl_err_set(err, SL_ERR_FATAL, -ENOMEM, "function '%s': out of memory", name);
    }
    t->multi = curl_multi_init();
    if (!t->multi) {
        target_free(t);
        return sl_err_set(err, SL_ERR_FATAL, -ENOMEM, "function '%s': curl_multi_init failed",
                          name);
    }
    CURLMcode mc = CURLM_OK;
    mc |= curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    mc |= curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    mc |= curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    mc |= curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    mc |= curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, t->max_connections);
    mc |= curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, t->max_connections);
    if (mc != CURLM_OK) {
        target_free(t);
        return sl_err_set(err, SL_ERR_FATAL, -EIO, "function '%s': curl_multi_setopt failed", name);
    }
    sl_debug(t->base.scope, "created for %s", t->url_shown);
    *out = &t->base;
    return 0;
}

int sl_target_http_create_url(struct ev_loop *loop, const char *name, const char *url,
                              int64_t timeout_ms, struct sl_target **out, struct sl_err *err)
{
    struct sl_http_target_conf conf = {
        .url = (char *)url,
        .timeout_ms = timeout_ms > 0 ? timeout_ms : SL_HTTP_DEFAULT_TIMEOUT_MS,
        .max_response_bytes = SL_HTTP_DEFAULT_MAX_RESPONSE,
        .max_connections = SL_HTTP_DEFAULT_MAX_CONNECTIONS,
    };
    return sl_target_http_create_conf(loop, name, &conf, out, err);
}

const struct sl_target_ops sl_target_http_ops = {
    .type = "http",
    .props = &sl_http_target_props,
    .create = sl_target_http_create,
    .invoke = http_invoke,
    .inflight = http_inflight,
    .describe = http_describe,
    .destroy = http_destroy,
};
