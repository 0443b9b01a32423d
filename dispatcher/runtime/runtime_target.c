/* The "runtime" function target: a pool of runtime processes, each served the Lambda Runtime API
 * (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) on its own loopback port. */
#include "dispatcher/runtime/runtime_target.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "dispatcher/runtime/proc.h"
#include "server/http.h"

#define RT_PREFIX        "/2018-06-01/runtime/"
#define RT_LINE_MAX      8192        /* a longer log line is cut into pieces */
#define RT_ERROR_BODY    (64 * 1024) /* /error bodies parsed for errorType and errorMessage */
#define RT_ENV_FIXED     16          /* Lambda variables and the passed-through ones */
#define RT_REQUEST_LIMIT (60 * 1000)
#define RT_POOL_MAX      64
/* Lambda's message for a response over the limit. */
#define RT_OVERSIZE_MSG                                                                            \
    "Response payload size exceeded maximum allowed payload size (6291556 bytes)."

enum env_state {
    ENV_STARTING, /* spawned, no /next yet */
    ENV_WAITING,  /* its /next is parked: ready for an invocation */
    ENV_RUNNING,  /* serving an invocation, or between its /response and the next /next */
    ENV_DYING,    /* killed: freed once the process is reaped */
};

struct rt_target;
struct rt_env;

/* One invocation. */
struct rt_call {
    struct rt_target *t;
    struct rt_call *next; /* in the queue */
    struct rt_env *env;
    sl_invoke_cb cb;
    void *arg;
    struct sl_invoke inv; /* payload and terminal_statuses borrowed until the callback */
    int64_t deadline_wall_ms;
    bool delivered;
    char id[SL_ID_LEN + 1];
};

/* One environment: one process and its Runtime API listener. */
struct rt_env {
    struct rt_target *t;
    struct rt_env *next;
    unsigned seq;
    enum env_state state;
    struct sl_rt_proc proc;
    ev_io pid_w, out_w, err_w;
    struct sl_buf out_acc, err_acc;
    struct sl_http_server *srv;
    struct sl_http_router *router;
    struct sl_http_exchange *next_x; /* the parked /next */
    struct rt_call *call;
    ev_timer deadline_w, idle_w;
    bool timed_out;
    bool oversize; /* its /response announced more than the Runtime API takes */
    char init_type[64];
    char init_msg[160];
};

struct rt_target {
    struct sl_target base;
    struct ev_loop *loop;
    char *function_name, *arn, *task_root;
    char **argv;
    char **envp; /* [0] is AWS_LAMBDA_RUNTIME_API, filled per environment */
    size_t nenv;
    int64_t timeout_ms, idle_timeout_ms, grace_ms;
    size_t max_envs;
    struct rt_env *envs;
    size_t nenvs;
    struct rt_call *qhead, *qtail;
    struct rt_call *pool; /* finished calls kept for reuse */
    size_t npool;
    size_t nqueued, ninflight;
    unsigned seq;
    uint64_t invocations, started, timeouts;
    ev_timer kick_w;
    int busy;
    bool closing, free_pending;
};

static void target_free(struct rt_target *t);
static void kick(struct rt_target *t);
static void env_kill(struct rt_env *e, const char *why);

/* ---- Calls -------------------------------------------------------------------------------- */

/* Calls are kept for reuse (up to RT_POOL_MAX): no allocation per invocation once warm. */
static struct rt_call *call_take(struct rt_target *t)
{
    struct rt_call *c = t->pool;
    if (!c)
        return SL_NEW(struct rt_call);
    t->pool = c->next;
    t->npool--;
    memset(c, 0, sizeof(*c));
    return c;
}

static void call_recycle(struct rt_target *t, struct rt_call *c)
{
    if (t->closing || t->npool >= RT_POOL_MAX) {
        free(c);
        return;
    }
    c->next = t->pool;
    t->pool = c;
    t->npool++;
}

/* Ends a call: its callback runs with o. The env (if any) is left for the caller to handle. */
static void call_finish(struct rt_call *c, struct sl_outcome *o)
{
    struct rt_target *t = c->t;
    if (c->env) {
        ev_timer_stop(t->loop, &c->env->deadline_w);
        c->env->call = NULL;
        c->env = NULL;
    }
    sl_debug(t->base.scope, "request %s: %s: %s", c->id, sl_outcome_kind_name(o->kind),
             o->error[0] ? o->error : "ok");
    t->ninflight--;
    sl_invoke_cb cb = c->cb;
    void *arg = c->arg;
    call_recycle(t, c);
    t->busy++;
    cb(o, arg);
    t->busy--;
}

/* A function error with the runtime's errorType and errorMessage. */
static void call_function_error(struct rt_call *c, const char *type, const char *msg,
                                const char *body, size_t len)
{
    struct sl_outcome o;
    memset(&o, 0, sizeof(o));
    o.kind = SL_OUTCOME_RETRY;
    o.status = 200;
    o.retry_after_ms = -1;
    o.function_error = true;
    o.reached_function = true;
    snprintf(o.function_error_type, sizeof(o.function_error_type), "%s", type);
    snprintf(o.error, sizeof(o.error), "function error: %s%s%.180s", type, msg && *msg ? ": " : "",
             msg ? msg : "");
    o.response = body;
    o.response_len = len;
    call_finish(c, &o);
}

static void call_plain(struct rt_call *c, enum sl_outcome_kind kind, bool reached, const char *why)
{
    struct sl_outcome o;
    memset(&o, 0, sizeof(o));
    o.kind = kind;
    o.retry_after_ms = -1;
    o.reached_function = reached;
    snprintf(o.error, sizeof(o.error), "%s", why);
    call_finish(c, &o);
}

/* ---- Environments ------------------------------------------------------------------------- */

static void env_log_line(const char *line, size_t len, void *arg)
{
    struct rt_env *e = arg;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    /* Before the runtime took its first event the line belongs to init (of that event). */
    const struct rt_call *c = e->call;
    const char *prefix = c && c->delivered ? "" : c ? "init " : "init";
    sl_info(e->t->base.scope, "env %u [%s%s] %.*s", e->seq, prefix, c ? c->id : "", (int)len, line);
}

static void env_free(struct rt_env *e)
{
    struct rt_target *t = e->t;
    ev_io_stop(t->loop, &e->pid_w);
    ev_io_stop(t->loop, &e->out_w);
    ev_io_stop(t->loop, &e->err_w);
    ev_timer_stop(t->loop, &e->deadline_w);
    ev_timer_stop(t->loop, &e->idle_w);
    if (e->next_x) {
        sl_http_exchange_abort(e->next_x);
        e->next_x = NULL;
    }
    if (e->srv)
        sl_http_server_destroy(e->srv);
    if (e->router)
        sl_http_router_destroy(e->router);
    sl_rt_proc_close(&e->proc);
    sl_buf_release(&e->out_acc);
    sl_buf_release(&e->err_acc);
    for (struct rt_env **pp = &t->envs; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            t->nenvs--;
            break;
        }
    }
    free(e);
}

static void env_pipe_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct rt_env *e = w->data;
    struct sl_buf *acc = w == &e->out_w ? &e->out_acc : &e->err_acc;
    if (sl_rt_lines_read(w->fd, acc, RT_LINE_MAX, env_log_line, e))
        ev_io_stop(loop, w);
}

/* The process has exited: what it was serving fails, and the environment goes. */
static void env_exit_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct rt_env *e = w->data;
    struct rt_target *t = e->t;
    int status = 0;
    if (!sl_rt_proc_reap(&e->proc, false, &status))
        return;
    ev_io_stop(loop, w);
    /* What it wrote before it went is logged against what it was serving. */
    for (int i = 0; i < 2; i++) {
        ev_io *pw = i ? &e->err_w : &e->out_w;
        if (ev_is_active(pw))
            sl_rt_lines_read(pw->fd, i ? &e->err_acc : &e->out_acc, RT_LINE_MAX, env_log_line, e);
        sl_rt_lines_flush(i ? &e->err_acc : &e->out_acc, env_log_line, e);
    }
    char how[64];
    sl_rt_proc_describe_status(status, how, sizeof(how));
    if (e->state != ENV_DYING)
        sl_warn(t->base.scope, "env %u: runtime exited (%s)%s", e->seq, how,
                e->call ? " while serving an invocation" : "");
    e->state = ENV_DYING;
    struct rt_call *c = e->call;
    t->busy++;
    if (c) {
        char msg[200];
        const char *type = "Runtime.ExitError";
        if (e->init_type[0]) {
            type = e->init_type;
            snprintf(msg, sizeof(msg), "%s", e->init_msg);
        } else {
            snprintf(msg, sizeof(msg), "RequestId: %s Error: Runtime exited with error: %s", c->id,
                     how);
        }
        call_function_error(c, type, msg, NULL, 0);
    }
    if (!t->closing) /* else destroy(), called back, has freed every environment */
        env_free(e);
    t->busy--;
    if (t->free_pending && t->busy == 0)
        target_free(t);
    else if (!t->closing)
        kick(t);
}

static void env_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rt_env *e = w->data;
    struct rt_target *t = e->t;
    struct rt_call *c = e->call;
    if (!c)
        return;
    if (e->oversize) {
        /* Lambda's error for it; the environment stays (the runtime got its 413). */
        e->oversize = false;
        t->busy++;
        call_function_error(c, "Function.ResponseSizeTooLarge", RT_OVERSIZE_MSG, NULL, 0);
        t->busy--;
        if (t->free_pending && t->busy == 0)
            target_free(t);
        else if (!t->closing)
            kick(t);
        return;
    }
    t->timeouts++;
    e->timed_out = true;
    env_kill(e, "missed its deadline");
    /* Lambda's wording
     * (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html). */
    char msg[96];
    int64_t ms = c->inv.timeout_ms;
    snprintf(msg, sizeof(msg), "Task timed out after %lld.%02lld seconds", (long long)(ms / 1000),
             (long long)(ms % 1000 / 10));
    t->busy++;
    call_function_error(c, "Sandbox.Timedout", msg, NULL, 0);
    t->busy--;
    if (t->free_pending && t->busy == 0)
        target_free(t);
}

static void env_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rt_env *e = w->data;
    if (e->state == ENV_WAITING && !e->call)
        env_kill(e, "idle");
}

/* SIGKILL to its process group; it is freed when the process is reaped. */
static void env_kill(struct rt_env *e, const char *why)
{
    if (e->state == ENV_DYING)
        return;
    sl_info(e->t->base.scope, "env %u: stopping (%s)", e->seq, why);
    e->state = ENV_DYING;
    ev_timer_stop(e->t->loop, &e->idle_w);
    if (e->next_x) {
        sl_http_exchange_abort(e->next_x);
        e->next_x = NULL;
    }
    sl_rt_proc_signal(&e->proc, SIGKILL);
}

/* Hands the environment's call to its parked /next. */
static void env_deliver(struct rt_env *e)
{
    struct rt_call *c = e->call;
    struct sl_http_exchange *x = e->next_x;
    e->next_x = NULL;
    e->state = ENV_RUNNING;
    ev_timer_stop(e->t->loop, &e->idle_w);
    char id[80], deadline[64], arn[300];
    snprintf(id, sizeof(id), "Lambda-Runtime-Aws-Request-Id: %s", c->id);
    snprintf(deadline, sizeof(deadline), "Lambda-Runtime-Deadline-Ms: %lld",
             (long long)c->deadline_wall_ms);
    snprintf(arn, sizeof(arn), "Lambda-Runtime-Invoked-Function-Arn: %s", e->t->arn);
    const char *const hdrs[] = {id, deadline, arn};
    c->delivered = true;
    sl_http_respond(x, 200, "application/json", hdrs, 3, c->inv.payload, c->inv.len);
}

static struct rt_env *env_of(void *arg)
{
    return arg;
}

/* GET .../invocation/next: parks until there is an invocation (no server-side timeout). */
static void api_next(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    (void)req;
    struct rt_env *e = env_of(arg);
    struct rt_target *t = e->t;
    if (e->state == ENV_DYING || e->next_x) {
        sl_http_respond_error(x, 403, "InvalidStateTransition", "the environment is stopping");
        return;
    }
    if (e->call && e->call->delivered) {
        /* Asked for the next event without answering this one. */
        t->busy++;
        bool big = e->oversize; /* its /response got 413: the 0 s timer has not run yet */
        e->oversize = false;
        call_function_error(e->call, big ? "Function.ResponseSizeTooLarge" : "Runtime.NoResponse",
                            big ? RT_OVERSIZE_MSG
                                : "the runtime asked for the next event without answering",
                            NULL, 0);
        t->busy--;
        if (t->free_pending && t->busy == 0) {
            target_free(t);
            sl_http_respond_error(x, 410, "Gone", "sluice is stopping");
            return;
        }
    }
    e->next_x = x;
    if (e->call) {
        env_deliver(e);
        return;
    }
    e->state = ENV_WAITING;
    ev_timer_set(&e->idle_w, (double)t->idle_timeout_ms / 1000.0, 0.);
    ev_timer_start(t->loop, &e->idle_w);
    kick(t);
}

/* The call of `id` this environment is serving, or NULL (answered 400). */
static struct rt_call *api_call_of(struct rt_env *e, struct sl_http_exchange *x, const char *id,
                                   size_t len)
{
    struct rt_call *c = e->call;
    if (!c || !c->delivered || len != SL_ID_LEN || memcmp(c->id, id, len) != 0) {
        sl_http_respond_error(x, 400, "InvalidRequestID", "no invocation in flight has this id");
        return NULL;
    }
    return c;
}

/* errorType and errorMessage of an /error body (Lambda's error shape), else the header's. */
static void error_fields(const struct sl_http_req *req, char *type, size_t tn, char *msg, size_t mn)
{
    size_t hl = 0;
    const char *h = sl_http_header_get(req, "Lambda-Runtime-Function-Error-Type", &hl);
    snprintf(type, tn, "%.*s", h ? (int)hl : 0, h ? h : "");
    msg[0] = '\0';
    if (req->body_len > 0 && req->body_len <= RT_ERROR_BODY) {
        json_t *doc = json_loadb(req->body, req->body_len, 0, NULL);
        json_t *et = json_is_object(doc) ? json_object_get(doc, "errorType") : NULL;
        json_t *em = json_is_object(doc) ? json_object_get(doc, "errorMessage") : NULL;
        if (json_is_string(et) && json_string_length(et) > 0)
            snprintf(type, tn, "%s", json_string_value(et));
        if (json_is_string(em))
            snprintf(msg, mn, "%s", json_string_value(em));
        json_decref(doc);
    }
    if (!type[0])
        snprintf(type, tn, "Unhandled");
    for (char *p = type; *p; p++) /* it goes into logs and DLQ attempts as one token */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
}

static void api_done(struct rt_target *t, struct sl_http_exchange *x)
{
    static const char ok[] = "{\"status\":\"OK\"}";
    sl_http_respond(x, 202, "application/json", NULL, 0, ok, sizeof(ok) - 1);
    t->busy--;
    if (t->free_pending && t->busy == 0)
        target_free(t);
}

/* A /response whose announced body is over the limit gets 413 before it is read; the call
 * fails from the loop (this hook may not run callbacks that could destroy the server). */
static int api_headers(const struct sl_http_req *req, void *arg, struct sl_http_reject *rej)
{
    struct rt_env *e = env_of(arg);
    if (req->content_length <= SL_RUNTIME_MAX_RESPONSE)
        return 0;
    if (e->call && e->call->delivered && !e->oversize) {
        e->oversize = true;
        ev_timer_stop(e->t->loop, &e->deadline_w);
        ev_timer_set(&e->deadline_w, 0., 0.);
        ev_timer_start(e->t->loop, &e->deadline_w);
    }
    rej->code = "RequestEntityTooLarge";
    rej->message = "the response is over 6291556 bytes";
    return 413;
}

/* POST .../invocation/{id}/response and .../invocation/{id}/error. */
static void api_invocation(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct rt_env *e = env_of(arg);
    struct rt_target *t = e->t;
    const char *rest = req->path + strlen(RT_PREFIX "invocation/");
    const char *slash = memchr(rest, '/', req->path_len - (size_t)(rest - req->path));
    if (!slash || (strcmp(slash, "/response") != 0 && strcmp(slash, "/error") != 0)) {
        sl_http_respond_error(x, 404, "NotFound", "unknown Runtime API path");
        return;
    }
    struct rt_call *c = api_call_of(e, x, rest, (size_t)(slash - rest));
    if (!c)
        return;
    t->busy++;
    if (req->body_len > SL_RUNTIME_MAX_RESPONSE) { /* a chunked body one byte over */
        call_function_error(c, "Function.ResponseSizeTooLarge", RT_OVERSIZE_MSG, NULL, 0);
    } else if (strcmp(slash, "/response") == 0) {
        struct sl_outcome o;
        sl_outcome_classify(&o, 200, NULL, NULL, req->body, req->body_len, &c->inv, NULL);
        call_finish(c, &o);
        sl_outcome_release(&o);
    } else {
        char type[64], msg[200];
        error_fields(req, type, sizeof(type), msg, sizeof(msg));
        sl_info(t->base.scope, "env %u [%s] function error %s: %s", e->seq, c->id, type, msg);
        call_function_error(c, type, msg, req->body, req->body_len);
    }
    if (!t->free_pending && e->state != ENV_DYING)
        kick(t);
    api_done(t, x);
}

/* POST .../init/error: the runtime could not start; the environment goes. */
static void api_init_error(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct rt_env *e = env_of(arg);
    struct rt_target *t = e->t;
    char type[64], msg[160];
    error_fields(req, type, sizeof(type), msg, sizeof(msg));
    sl_warn(t->base.scope, "env %u: init error %s: %s", e->seq, type, msg);
    memcpy(e->init_type, type, sizeof(e->init_type));
    memcpy(e->init_msg, msg, sizeof(e->init_msg));
    t->busy++;
    struct rt_call *c = e->call;
    if (c)
        call_function_error(c, type, msg, req->body, req->body_len);
    if (!t->free_pending)
        env_kill(e, "init error");
    api_done(t, x);
}

static void build_envp(struct rt_target *t, int port)
{
    free(t->envp[0]);
    char v[64];
    snprintf(v, sizeof(v), "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
    t->envp[0] = sl_strdup(v);
}

static struct rt_env *env_spawn(struct rt_target *t, struct sl_err *err)
{
    struct rt_env *e = SL_NEW(struct rt_env);
    e->t = t;
    e->seq = ++t->seq;
    e->state = ENV_STARTING;
    e->proc.pidfd = e->proc.out_fd = e->proc.err_fd = -1;
    sl_buf_init(&e->out_acc);
    sl_buf_init(&e->err_acc);
    ev_timer_init(&e->deadline_w, env_deadline_cb, 0., 0.);
    ev_timer_init(&e->idle_w, env_idle_cb, 0., 0.);
    e->deadline_w.data = e->idle_w.data = e;
    e->router = sl_http_router_create();
    sl_http_router_add(e->router, "GET", RT_PREFIX "invocation/next", false, api_next, e);
    sl_http_router_add_hooked(e->router, "POST", RT_PREFIX "invocation/", true, api_headers,
                              api_invocation, e);
    sl_http_router_add(e->router, "POST", RT_PREFIX "init/error", false, api_init_error, e);
    struct sl_http_limits lim = {
        .max_connections = 16,
        /* Above what the Runtime API takes, so that api_headers sees an announced length over
         * the limit first (it answers 413 and fails the invocation: the server's own 413 would
         * not tell us); a chunked body is bounded by this and checked in api_invocation. */
        .max_body_bytes = 2 * (size_t)SL_RUNTIME_MAX_RESPONSE,
        .request_timeout_ms = RT_REQUEST_LIMIT,
        /* A warm runtime's keep-alive connection sits idle between invocations. */
        .idle_timeout_ms = t->idle_timeout_ms + RT_REQUEST_LIMIT,
    };
    e->next = t->envs;
    t->envs = e;
    t->nenvs++;
    int rc = sl_http_server_create(t->loop, "127.0.0.1:0", &lim, sl_http_router_handle, e->router,
                                   &e->srv, err);
    if (rc == 0) {
        build_envp(t, sl_http_server_port(e->srv));
        rc = sl_rt_proc_spawn(t->argv, t->envp, t->task_root, &e->proc, err);
    }
    if (rc < 0) {
        env_free(e);
        return NULL;
    }
    ev_io_init(&e->pid_w, env_exit_cb, e->proc.pidfd, EV_READ);
    ev_io_init(&e->out_w, env_pipe_cb, e->proc.out_fd, EV_READ);
    ev_io_init(&e->err_w, env_pipe_cb, e->proc.err_fd, EV_READ);
    e->pid_w.data = e->out_w.data = e->err_w.data = e;
    ev_io_start(t->loop, &e->pid_w);
    ev_io_start(t->loop, &e->out_w);
    ev_io_start(t->loop, &e->err_w);
    t->started++;
    sl_info(t->base.scope, "env %u: started %s (pid %d, Runtime API 127.0.0.1:%d)", e->seq,
            t->argv[0], (int)e->proc.pid, sl_http_server_port(e->srv));
    return e;
}

/* ---- Dispatch ----------------------------------------------------------------------------- */

static void assign(struct rt_env *e, struct rt_call *c)
{
    struct rt_target *t = e->t;
    e->call = c;
    c->env = e;
    c->deadline_wall_ms = sl_now_ms() + c->inv.timeout_ms;
    ev_timer_stop(t->loop, &e->idle_w);
    ev_timer_set(&e->deadline_w, (double)c->inv.timeout_ms / 1000.0, 0.);
    ev_timer_start(t->loop, &e->deadline_w);
    if (e->next_x)
        env_deliver(e);
}

/* An environment free to take an invocation: a waiting one first, then one on its way. */
static struct rt_env *free_env(struct rt_target *t)
{
    struct rt_env *other = NULL;
    for (struct rt_env *e = t->envs; e; e = e->next) {
        if (e->call || e->state == ENV_DYING)
            continue;
        if (e->state == ENV_WAITING)
            return e;
        other = e;
    }
    return other;
}

static void dispatch(struct rt_target *t)
{
    while (t->qhead && !t->closing) {
        struct rt_env *e = free_env(t);
        struct sl_err err = {0};
        if (!e && t->nenvs < t->max_envs) {
            e = env_spawn(t, &err);
            if (!e) {
                struct rt_call *c = t->qhead;
                t->qhead = c->next;
                if (!t->qhead)
                    t->qtail = NULL;
                t->nqueued--;
                sl_warn(t->base.scope, "%s", err.msg);
                char why[256];
                snprintf(why, sizeof(why), "runtime not started: %.200s", err.msg);
                call_plain(c, SL_OUTCOME_RETRY, false, why);
                continue;
            }
        }
        if (!e)
            break;
        struct rt_call *c = t->qhead;
        t->qhead = c->next;
        if (!t->qhead)
            t->qtail = NULL;
        t->nqueued--;
        c->next = NULL;
        assign(e, c);
    }
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rt_target *t = w->data;
    t->busy++;
    dispatch(t);
    t->busy--;
    if (t->free_pending && t->busy == 0)
        target_free(t);
}

/* Dispatch runs from the loop, never inside invoke() or a callback. */
static void kick(struct rt_target *t)
{
    if (!ev_is_active(&t->kick_w) && !t->closing) {
        ev_timer_set(&t->kick_w, 0., 0.);
        ev_timer_start(t->loop, &t->kick_w);
    }
}

/* ---- Operations --------------------------------------------------------------------------- */

static int runtime_invoke(struct sl_target *base, const struct sl_invoke *inv, sl_invoke_cb cb,
                          void *arg)
{
    struct rt_target *t = (struct rt_target *)base;
    if (!t || !inv || !cb || (inv->len > 0 && !inv->payload) || inv->timeout_ms < 0)
        return -EINVAL;
    if (t->closing)
        return SL_ECLOSED;
    struct rt_call *c = call_take(t);
    c->t = t;
    c->cb = cb;
    c->arg = arg;
    c->inv = *inv;
    if (c->inv.timeout_ms <= 0 || c->inv.timeout_ms > t->timeout_ms)
        c->inv.timeout_ms = t->timeout_ms;
    sl_id_new(c->id);
    if (t->qtail)
        t->qtail->next = c;
    else
        t->qhead = c;
    t->qtail = c;
    t->nqueued++;
    t->ninflight++;
    t->invocations++;
    kick(t);
    return 0;
}

static size_t runtime_inflight(const struct sl_target *base)
{
    const struct rt_target *t = (const struct rt_target *)base;
    return t ? t->ninflight : 0;
}

static void runtime_describe(struct sl_target *base, struct sl_jw *w)
{
    struct rt_target *t = (struct rt_target *)base;
    size_t waiting = 0, running = 0;
    for (struct rt_env *e = t->envs; e; e = e->next) {
        if (e->state == ENV_WAITING)
            waiting++;
        else if (e->call)
            running++;
    }
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "function_name", t->function_name);
    sl_jw_kstr(w, "command", t->argv[0]);
    sl_jw_kint(w, "environments", (int64_t)t->nenvs);
    sl_jw_kint(w, "environments_idle", (int64_t)waiting);
    sl_jw_kint(w, "environments_busy", (int64_t)running);
    sl_jw_kint(w, "max_concurrency", (int64_t)t->max_envs);
    sl_jw_kint(w, "queued", (int64_t)t->nqueued);
    sl_jw_kint(w, "inflight", (int64_t)t->ninflight);
    sl_jw_kint(w, "invocations", (int64_t)t->invocations);
    sl_jw_kint(w, "environments_started", (int64_t)t->started);
    sl_jw_kint(w, "timeouts", (int64_t)t->timeouts);
    sl_jw_obj_close(w);
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static void target_free(struct rt_target *t)
{
    while (t->envs)
        env_free(t->envs);
    ev_timer_stop(t->loop, &t->kick_w);
    struct rt_call *c;
    while ((c = t->pool)) {
        t->pool = c->next;
        free(c);
    }
    free_strv(t->argv);
    free_strv(t->envp);
    free(t->function_name);
    free(t->arn);
    free(t->task_root);
    sl_module_release(SL_MODULE(&t->base));
    free(t);
}

/* SIGTERM to every environment, SIGKILL to those still there after the grace period. Blocks
 * for at most the grace period: it runs when sluice stops or a reload drops the function. */
static void stop_all(struct rt_target *t)
{
    size_t alive = 0;
    for (struct rt_env *e = t->envs; e; e = e->next) {
        if (e->proc.pid > 0) {
            sl_rt_proc_signal(&e->proc, e->state == ENV_DYING ? SIGKILL : SIGTERM);
            alive++;
        }
    }
    int64_t until = sl_mono_ms() + t->grace_ms;
    while (alive > 0 && sl_mono_ms() < until) {
        alive = 0;
        for (struct rt_env *e = t->envs; e; e = e->next) {
            int st;
            if (e->proc.pid > 0 && !sl_rt_proc_reap(&e->proc, false, &st))
                alive++;
        }
        if (alive > 0)
            usleep(10 * 1000);
    }
    for (struct rt_env *e = t->envs; e; e = e->next) {
        int st;
        if (e->proc.pid > 0) {
            sl_rt_proc_signal(&e->proc, SIGKILL);
            sl_rt_proc_reap(&e->proc, true, &st);
        }
    }
}

static void runtime_destroy(struct sl_target *base)
{
    struct rt_target *t = (struct rt_target *)base;
    if (!t || t->closing)
        return;
    t->closing = true;
    t->busy++;
    ev_timer_stop(t->loop, &t->kick_w);
    struct rt_call *c;
    while ((c = t->qhead)) {
        t->qhead = c->next;
        t->nqueued--;
        call_plain(c, SL_OUTCOME_RETRY, false, "cancelled");
    }
    t->qtail = NULL;
    for (struct rt_env *e = t->envs; e; e = e->next) {
        if (e->call)
            call_plain(e->call, SL_OUTCOME_RETRY, true, "cancelled");
    }
    stop_all(t);
    while (t->envs) {
        struct rt_env *e = t->envs;
        /* Their last lines. */
        sl_rt_lines_read(e->proc.out_fd, &e->out_acc, RT_LINE_MAX, env_log_line, e);
        sl_rt_lines_read(e->proc.err_fd, &e->err_acc, RT_LINE_MAX, env_log_line, e);
        env_free(e);
    }
    t->busy--;
    if (t->busy > 0)
        t->free_pending = true;
    else
        target_free(t);
}

/* ---- Creation ----------------------------------------------------------------------------- */

static char *env_pair(const char *k, const char *v)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, k);
    sl_buf_putc(&b, '=');
    sl_buf_puts(&b, v ? v : "");
    return sl_buf_steal(&b, NULL);
}

/* The environment of Lambda's runtimes
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
 * then PATH and HOME, then the configured variables. */
static void build_env_template(struct rt_target *t, const struct sl_runtime_target_conf *conf)
{
    size_t cap = RT_ENV_FIXED + conf->environment.n + 1;
    t->envp = sl_calloc(cap, sizeof(char *));
    size_t n = 0;
    char num[32], stream[96], group[128], id[SL_ID_LEN + 1];
    t->envp[n++] = env_pair("AWS_LAMBDA_RUNTIME_API", "");
    t->envp[n++] = env_pair("_HANDLER", conf->handler ? conf->handler : "");
    t->envp[n++] = env_pair("LAMBDA_TASK_ROOT", t->task_root);
    t->envp[n++] = env_pair("AWS_LAMBDA_FUNCTION_NAME", t->function_name);
    t->envp[n++] = env_pair("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    snprintf(num, sizeof(num), "%lld", (long long)conf->memory_size);
    t->envp[n++] = env_pair("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", num);
    snprintf(num, sizeof(num), "%lld", (long long)((conf->timeout_ms + 999) / 1000));
    t->envp[n++] = env_pair("AWS_LAMBDA_FUNCTION_TIMEOUT", num);
    snprintf(group, sizeof(group), "/aws/lambda/%s", t->function_name);
    t->envp[n++] = env_pair("AWS_LAMBDA_LOG_GROUP_NAME", group);
    sl_id_new(id);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(stream, sizeof(stream), "%04d/%02d/%02d/[$LATEST]%.8s%.4s%.4s%.4s%.12s",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, id, id + 9, id + 14, id + 19, id + 24);
    t->envp[n++] = env_pair("AWS_LAMBDA_LOG_STREAM_NAME", stream);
    t->envp[n++] = env_pair("AWS_REGION", conf->region);
    t->envp[n++] = env_pair("AWS_DEFAULT_REGION", conf->region);
    t->envp[n++] = env_pair("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    const char *path = getenv("PATH");
    t->envp[n++] = env_pair("PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
    const char *home = getenv("HOME");
    if (home)
        t->envp[n++] = env_pair("HOME", home);
    for (size_t i = 0; i < conf->environment.n; i++)
        t->envp[n++] = env_pair(conf->environment.keys[i], conf->environment.vals[i]);
    t->envp[n] = NULL;
    t->nenv = n;
}

int sl_target_runtime_create_conf(const struct sl_env *env, const char *name,
                                  const struct sl_runtime_target_conf *conf, const char *where,
                                  struct sl_target **out, struct sl_err *err)
{
    *out = NULL;
    struct ev_loop *loop = env ? env->loop : NULL;
    if (!loop || !conf)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "runtime target: no loop or config");
    if (!name)
        name = "runtime";
    char fallback[160];
    if (!where) {
        snprintf(fallback, sizeof(fallback), "function '%.64s': ", name);
        where = fallback;
    }
    int rc = sl_runtime_target_conf_check(conf, where, err);
    if (rc < 0)
        return rc;
    struct rt_target *t = SL_NEW(struct rt_target);
    sl_module_init(SL_MODULE(&t->base), &sl_target_runtime_ops, "function",
                   sl_target_runtime_ops.type, name);
    t->loop = loop;
    t->function_name = sl_strdup(conf->function_name ? conf->function_name : name);
    t->task_root = sl_strdup(conf->task_root ? conf->task_root : ".");
    const char *region = conf->region ? conf->region : "us-east-1";
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "arn:aws:lambda:%s:000000000000:function:%s", region, t->function_name);
    t->arn = sl_buf_steal(&b, NULL);
    t->argv = sl_calloc(conf->command.n + 1, sizeof(char *));
    for (size_t i = 0; i < conf->command.n; i++)
        t->argv[i] = sl_strdup(conf->command.v[i]);
    struct sl_runtime_target_conf c2 = *conf;
    c2.region = (char *)region;
    build_env_template(t, &c2);
    t->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 30000;
    t->idle_timeout_ms = conf->idle_timeout_ms > 0 ? conf->idle_timeout_ms : 300000;
    t->grace_ms = conf->shutdown_grace_ms;
    t->max_envs = conf->max_concurrency > 0 ? (size_t)conf->max_concurrency : 1;
    ev_timer_init(&t->kick_w, kick_cb, 0., 0.);
    t->kick_w.data = t;
    if (access(t->task_root, X_OK) != 0) {
        int e = errno;
        rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%stask_root: \"%.200s\": %s", where,
                        t->task_root, strerror(e));
        target_free(t);
        return rc;
    }
    /* A program named by a path is checked now, so that a typo is a config error rather than
     * a retry loop (a bare name is searched in PATH when started). */
    if (strchr(t->argv[0], '/')) {
        char path[4200];
        snprintf(path, sizeof(path), "%s%s%s", t->argv[0][0] == '/' ? "" : t->task_root,
                 t->argv[0][0] == '/' ? "" : "/", t->argv[0]);
        if (access(path, X_OK) != 0) {
            int e = errno;
            rc = sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                            "%scommand: \"%.200s\" in task_root \"%.200s\": %s (allowed: an "
                            "executable file, or a program name found in PATH)",
                            where, t->argv[0], t->task_root, strerror(e));
            target_free(t);
            return rc;
        }
    }
    sl_debug(t->base.scope, "runs %s in %s (at most %zu environments)", t->argv[0], t->task_root,
             t->max_envs);
    *out = &t->base;
    return 0;
}

const struct sl_target_ops sl_target_runtime_ops = {
    .type = "runtime",
    .props = &sl_runtime_target_props,
    .create = sl_target_runtime_create,
    .invoke = runtime_invoke,
    .inflight = runtime_inflight,
    .describe = runtime_describe,
    .destroy = runtime_destroy,
};
