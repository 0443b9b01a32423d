/* sluice-fn [--listen ADDR] [--log FILE] [--script JSON] [--fail-rate P] [--seed N]
 *           [--poison-partial] [--quiet]
 * POST /invoke            the function (Lambda conventions); 400 unless the payload is JSON with
 *                         a "Records" array (or a bare array: format raw)
 * PUT  /control/script    replace the script of responses (JSON array of steps)
 * POST /control/fix       "deploy a fix": records asking to fail succeed from now on
 * POST /control/break     undo /control/fix
 * GET  /stats             {"invocations":N,"records":M}
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/jw.h"
#include "core/mem.h"
#include "core/time.h"
#include "demo/fn.h"
#include "server/http.h"

static const char usage[] =
    "usage: sluice-fn [options]\n"
    "\n"
    "A local function for the sluice tour and tests: POST /invoke answers 200 unless told to\n"
    "fail. A record whose body is JSON with \"fail\": true makes the invocation fail with a\n"
    "function error (200 + X-Amz-Function-Error); \"fail\": \"partial\" reports just that\n"
    "record in batchItemFailures. POST /control/fix makes such records succeed (a \"fix\n"
    "deployed\"), POST /control/break undoes it. A payload that is not JSON with a \"Records\"\n"
    "array (or a bare array, sluice's raw format) gets 400 with a JSON error.\n"
    "\n"
    "  --listen ADDR        where to listen (default 127.0.0.1:9090; port 0 picks one)\n"
    "  --log FILE           append one JSON line per invocation\n"
    "  --script JSON        responses to give first, e.g. '[{\"status\":500,\"count\":2}]'\n"
    "                       (step keys: status, retryAfter, delayMs, reset, functionError,\n"
    "                       body, count); replace it later with PUT /control/script\n"
    "  --fail-rate P        after the script, answer 500 with probability P (0..1)\n"
    "  --seed N             seed for --fail-rate\n"
    "  --poison-partial     report \"fail\": true records as batchItemFailures\n"
    "  --quiet              do not print invocations\n";

struct fn {
    struct ev_loop *loop;
    struct fn_script script;
    FILE *log;
    bool quiet;
    bool fixed; /* "fail" requests in records are ignored (POST /control/fix) */
    uint64_t invocations;
    uint64_t records;
};

struct delayed {
    ev_timer timer;
    struct sl_http_exchange *x;
    int status;
    char *body;
    bool function_error;
    int retry_after;
};

static void fn_log(struct fn *f, const struct fn_batch *b, int status, const char *outcome)
{
    if (f->log) {
        fprintf(f->log,
                "{\"time\":%lld,\"records\":%zu,\"status\":%d,\"outcome\":\"%s\",\"ids\":%s,"
                "\"failed\":%s}\n",
                (long long)sl_now_ms(), b->n, status, outcome, b->ids.data, b->failed.data);
        fflush(f->log);
    }
    if (!f->quiet) {
        printf("invoked with %zu record(s) -> %s (HTTP %d) ids=%s\n", b->n, outcome, status,
               b->ids.data);
        fflush(stdout);
    }
}

static void respond(struct sl_http_exchange *x, int status, const char *body, bool function_error,
                    int retry_after)
{
    const char *hdrs[2];
    char ra[64];
    size_t n = 0;
    if (function_error)
        hdrs[n++] = "X-Amz-Function-Error: Unhandled";
    if (retry_after >= 0) {
        snprintf(ra, sizeof(ra), "Retry-After: %d", retry_after);
        hdrs[n++] = ra;
    }
    sl_http_respond(x, status, "application/json", hdrs, n, body, strlen(body));
}

static void delayed_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct delayed *d = (struct delayed *)w;
    respond(d->x, d->status, d->body, d->function_error, d->retry_after);
    free(d->body);
    free(d);
}

/* A payload sluice sends is {"Records":[...]} (format: lambda) or a bare array (format: raw).
 * Anything else is refused, so a test that drives sluice through this function sees an event
 * sluice got wrong (say, invalid JSON) instead of "0 records, ok". On failure msg says why. */
static bool payload_ok(const struct sl_http_req *req, char *msg, size_t cap)
{
    json_error_t jerr;
    /* \u0000 is valid JSON: only jansson's default refuses it. */
    json_t *doc = json_loadb(req->body, req->body_len, JSON_ALLOW_NUL, &jerr);
    if (!doc) {
        snprintf(msg, cap, "the payload is not valid JSON: %s (at byte %d)", jerr.text,
                 jerr.position);
        return false;
    }
    bool ok = json_is_array(doc) || json_is_array(json_object_get(doc, "Records"));
    json_decref(doc);
    if (!ok)
        snprintf(msg, cap, "the payload has no \"Records\" array");
    return ok;
}

static void invoke_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fn *f = arg;
    struct fn_batch b;
    char why[256];
    fn_batch_parse(&b, req->body, req->body_len);
    f->invocations++;
    f->records += b.n;
    if (!payload_ok(req, why, sizeof(why))) {
        fn_log(f, &b, 400, "invalid");
        sl_http_respond_error(x, 400, "invalid_payload", why);
        fn_batch_release(&b);
        return;
    }

    const struct fn_step *st = fn_script_next(&f->script);
    if (st) {
        int status = st->status ? st->status : 200;
        const char *body = st->body        ? st->body
                           : status >= 400 ? "{\"errorMessage\":\"scripted\"}"
                                           : "{}";
        if (st->reset) {
            fn_log(f, &b, 0, "reset");
            sl_http_exchange_abort(x);
        } else {
            const char *outcome = status >= 300 || st->function_error ? "error" : "ok";
            fn_log(f, &b, status,
                   st->delay_ms ? (status < 300 ? "slow-ok" : "slow-error") : outcome);
            if (st->delay_ms > 0) {
                struct delayed *d = SL_NEW(struct delayed);
                d->x = x;
                d->status = status;
                d->body = sl_strdup(body);
                d->function_error = st->function_error;
                d->retry_after = st->retry_after;
                ev_timer_init(&d->timer, delayed_cb, (double)st->delay_ms / 1000.0, 0.);
                ev_timer_start(f->loop, &d->timer);
            } else {
                respond(x, status, body, st->function_error, st->retry_after);
            }
        }
        fn_batch_release(&b);
        return;
    }
    if (b.nfailed > 0 && !f->fixed) {
        if (b.want_partial || f->script.poison_partial) {
            struct sl_buf out;
            sl_buf_init(&out);
            sl_buf_puts(&out, "{\"batchItemFailures\":[");
            json_t *ids = json_loads(b.failed.data, 0, NULL);
            size_t i;
            json_t *id;
            json_array_foreach(ids, i, id)
            {
                char *t = json_dumps(id, JSON_ENCODE_ANY);
                sl_buf_printf(&out, "%s{\"itemIdentifier\":%s}", i ? "," : "", t ? t : "null");
                free(t);
            }
            json_decref(ids);
            sl_buf_puts(&out, "]}");
            fn_log(f, &b, 200, "partial");
            respond(x, 200, out.data, false, -1);
            sl_buf_release(&out);
        } else {
            fn_log(f, &b, 200, "error");
            respond(x, 200,
                    "{\"errorMessage\":\"a record asked to fail\",\"errorType\":\"DemoError\"}",
                    true, -1);
        }
        fn_batch_release(&b);
        return;
    }
    if (f->script.fail_rate > 0 &&
        (double)(sl_rng_next(&f->script.rng) % 1000000) / 1e6 < f->script.fail_rate) {
        fn_log(f, &b, 500, "error");
        respond(x, 500, "{\"errorMessage\":\"random failure\"}", false, -1);
        fn_batch_release(&b);
        return;
    }
    fn_log(f, &b, 200, "ok");
    respond(x, 200, "{}", false, -1);
    fn_batch_release(&b);
}

static void script_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fn *f = arg;
    char msg[256];
    if (fn_script_parse(&f->script, req->body, req->body_len, msg, sizeof(msg)) < 0) {
        sl_http_respond_error(x, 400, "bad_script", msg);
        return;
    }
    sl_http_respond_json(x, 200, "{}", 2);
}

static void fix_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fn *f = arg;
    f->fixed = strstr(req->path, "/fix") != NULL;
    printf("function %s: records asking to fail now %s\n", f->fixed ? "fixed" : "broken",
           f->fixed ? "succeed" : "fail");
    fflush(stdout);
    sl_http_respond_json(x, 200, "{}", 2);
}

static void stats_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct fn *f = arg;
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"invocations\":%llu,\"records\":%llu}",
                     (unsigned long long)f->invocations, (unsigned long long)f->records);
    sl_http_respond_json(x, 200, body, (size_t)n);
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"log", required_argument, NULL, 'o'},
        {"script", required_argument, NULL, 's'},
        {"fail-rate", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'r'},
        {"poison-partial", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fn f = {0};
    const char *listen = "127.0.0.1:9090", *script = NULL, *log_path = NULL;
    uint64_t seed = 0;
    int c;
    while ((c = getopt_long(argc, argv, "l:o:s:f:r:pqh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'o':
            log_path = optarg;
            break;
        case 's':
            script = optarg;
            break;
        case 'f':
            f.script.fail_rate = atof(optarg);
            break;
        case 'r':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'p':
            f.script.poison_partial = true;
            break;
        case 'q':
            f.quiet = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    f.script.rng = seed ? seed : sl_random_u64();
    if (script) {
        char msg[256];
        bool poison = f.script.poison_partial;
        double rate = f.script.fail_rate;
        if (fn_script_parse(&f.script, script, strlen(script), msg, sizeof(msg)) < 0) {
            fprintf(stderr, "sluice-fn: --script: %s\n", msg);
            return 2;
        }
        f.script.poison_partial = poison;
        f.script.fail_rate = rate;
    }
    if (log_path && !(f.log = fopen(log_path, "a"))) {
        perror(log_path);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    f.loop = EV_DEFAULT;
    struct sl_http_router *r = sl_http_router_create();
    sl_http_router_add(r, "POST", "/invoke", false, invoke_cb, &f);
    sl_http_router_add(r, "PUT", "/control/script", false, script_cb, &f);
    sl_http_router_add(r, "GET", "/stats", false, stats_cb, &f);
    sl_http_router_add(r, "POST", "/control/fix", false, fix_cb, &f);
    sl_http_router_add(r, "POST", "/control/break", false, fix_cb, &f);
    struct sl_http_limits lim = {
        .max_connections = 1024,
        .max_header_bytes = 64 * 1024,
        .max_body_bytes = 64 * 1024 * 1024,
        .request_timeout_ms = 60000,
        .idle_timeout_ms = 120000,
        .max_headers = 100,
    };
    struct sl_http_server *srv;
    struct sl_err err;
    if (sl_http_server_create(f.loop, listen, &lim, sl_http_router_handle, r, &srv, &err) < 0) {
        fprintf(stderr, "sluice-fn: %s\n", err.msg);
        return 1;
    }
    printf("sluice-fn listening on port %d\n", sl_http_server_port(srv));
    fflush(stdout);
    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, stop_cb, SIGINT);
    ev_signal_init(&sigterm, stop_cb, SIGTERM);
    ev_signal_start(f.loop, &sigint);
    ev_signal_start(f.loop, &sigterm);
    ev_run(f.loop, 0);
    sl_http_server_destroy(srv);
    sl_http_router_destroy(r);
    fn_script_release(&f.script);
    if (f.log)
        fclose(f.log);
    return 0;
}
