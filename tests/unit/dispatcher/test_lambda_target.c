/* The "lambda" target against a scripted HTTP/1.1 responder on a thread of this test: the
 * request it sends (path, signed headers) and how it reads the Invoke API's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/jw.h"
#include "dispatcher/lambda/lambda_target.h"
#include "dispatcher/target.h"

/* ---- The responder: one connection at a time, one canned answer per request ----------- */

struct srv {
    int lfd, port;
    atomic_bool stop;
    pthread_t thr;
    pthread_mutex_t mu;
    const char *answer; /* the whole response; NULL: never answer (hang) */
    char last_head[8192];
    int requests;
};

static bool readable(struct srv *s, int fd)
{
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0)
            return true;
    }
    return false;
}

static void serve(struct srv *s, int fd)
{
    static char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof(buf) || !readable(s, fd))
                return;
            ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);
            if (r <= 0)
                return;
            have += (size_t)r;
        }
        size_t head = (size_t)(end - buf) + 4;
        const char *cl = strcasestr(buf, "\nContent-Length:");
        size_t body = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
        while (have < head + body) {
            if (!readable(s, fd))
                return;
            ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);
            if (r <= 0)
                return;
            have += (size_t)r;
        }
        pthread_mutex_lock(&s->mu);
        snprintf(s->last_head, sizeof(s->last_head), "%.*s", (int)head, buf);
        s->requests++;
        const char *answer = s->answer;
        pthread_mutex_unlock(&s->mu);
        if (!answer) {
            readable(s, fd); /* until the client goes or the test ends */
            return;
        }
        if (send(fd, answer, strlen(answer), MSG_NOSIGNAL) < 0)
            return;
        memmove(buf, buf + head + body, have - head - body);
        have -= head + body;
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    while (readable(s, s->lfd)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(s, fd);
        close(fd);
    }
    return NULL;
}

static void srv_start(struct srv *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thr, NULL, srv_main, s);
}

/* head: the status line and headers, each ending in CRLF; body NULL: never answer. */
static void srv_answer(struct srv *s, const char *head, const char *body)
{
    static char text[4096];
    pthread_mutex_lock(&s->mu);
    if (body)
        snprintf(text, sizeof(text), "%sContent-Length: %zu\r\n\r\n%s", head, strlen(body), body);
    s->answer = body ? text : NULL;
    pthread_mutex_unlock(&s->mu);
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

/* ---- Fixtures ------------------------------------------------------------------------------ */

struct env {
    struct ev_loop *loop;
    struct srv srv;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    e->loop = ev_loop_new(EVFLAG_AUTO);
    srv_start(&e->srv);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_PROFILE");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sluice-test", 1);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    srv_stop(&e->srv);
    ev_loop_destroy(e->loop);
    free(e);
    return 0;
}

static int create(struct env *e, const char *json, struct sl_target **t, struct sl_err *err)
{
    json_error_t jerr;
    json_t *raw = json_loads(json, 0, &jerr);
    if (!raw)
        fail_msg("bad test JSON: %s", jerr.text);
    struct sl_cfg_typed sec = {.name = "fn", .type = "lambda", .raw = raw, .path = "functions[0]"};
    struct sl_env env = {.loop = e->loop};
    *t = NULL;
    int rc = sl_target_find_type("lambda")->create(&env, &sec, t, err);
    json_decref(raw);
    return rc;
}

/* A target at the responder with a session token and an ARN. */
static struct sl_target *good(struct env *e, const char *extra)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"function_name\":\"arn:aws:lambda:eu-west-1:123456789012:function:orders\","
             "\"region\":\"eu-west-1\",\"endpoint\":\"http://127.0.0.1:%d\","
             "\"access_key_id\":\"AKIDTEST\",\"secret_access_key\":\"TOPSECRETKEY\","
             "\"session_token\":\"TOKENSECRET\",\"timeout\":\"5s\"%s}",
             e->srv.port, extra ? extra : "");
    struct sl_target *t;
    struct sl_err err = {0};
    if (create(e, json, &t, &err) != 0)
        fail_msg("create: %s", err.msg);
    return t;
}

struct result {
    bool done;
    struct sl_outcome o;
    char error[256];
    struct sl_target *destroy; /* destroyed from inside the callback when set */
};

static void on_done(const struct sl_outcome *o, void *arg)
{
    struct result *r = arg;
    r->o = *o;
    r->o.failures = NULL;
    r->o.response = NULL;
    memcpy(r->error, o->error, sizeof(r->error));
    r->done = true;
    if (r->destroy)
        r->destroy->ops->destroy(r->destroy);
}

static void call(struct env *e, struct sl_target *t, struct result *r,
                 const struct sl_intlist *terminal)
{
    memset(r->error, 0, sizeof(r->error));
    r->done = false;
    struct sl_invoke inv = {
        .payload = "{\"Records\":[]}", .len = 14, .terminal_statuses = terminal};
    assert_int_equal(t->ops->invoke(t, &inv, on_done, r), 0);
    assert_false(r->done); /* never from inside invoke */
    while (!r->done)
        ev_run(e->loop, EVRUN_ONCE);
}

/* ---- Tests --------------------------------------------------------------------------------- */

static void test_request_is_signed_and_addressed(void **state)
{
    struct env *e = *state;
    struct sl_target *t = good(e, ",\"qualifier\":\"live\"");
    srv_answer(&e->srv, "HTTP/1.1 200 OK\r\nX-Amz-Executed-Version: 3\r\n", "null");
    struct result r = {0};
    call(e, t, &r, NULL);
    assert_int_equal(r.o.kind, SL_OUTCOME_OK);
    assert_string_equal(r.o.executed_version, "3");
    const char *h = e->srv.last_head;
    const char *line = "POST /2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012"
                       "%3Afunction%3Aorders/invocations?Qualifier=live HTTP/1.1\r\n";
    assert_true(strncmp(h, line, strlen(line)) == 0);
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", e->srv.port);
    assert_non_null(strstr(h, host));
    assert_non_null(strstr(h, "\r\nX-Amz-Invocation-Type: RequestResponse\r\n"));
    assert_non_null(strstr(h, "\r\nX-Amz-Security-Token: TOKENSECRET\r\n"));
    assert_non_null(strstr(h, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
    assert_non_null(strstr(h, "/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;"
                              "x-amz-content-sha256;x-amz-date;x-amz-invocation-type;"
                              "x-amz-security-token, Signature="));
    assert_null(strstr(h, "TOPSECRETKEY"));
    assert_null(strstr(h, "Expect:"));

    /* describe: where the credentials came from, never what they are */
    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_jw w;
    sl_jw_init(&w, &b);
    t->ops->describe(t, &w);
    assert_non_null(strstr(b.data, "\"credentials\":\"configuration\""));
    assert_non_null(strstr(b.data, "\"executed_version\":\"3\""));
    assert_null(strstr(b.data, "TOPSECRETKEY"));
    assert_null(strstr(b.data, "TOKENSECRET"));
    sl_buf_release(&b);
    t->ops->destroy(t);
}

static void test_function_error_takes_the_error_type(void **state)
{
    struct env *e = *state;
    struct sl_target *t = good(e, NULL);
    srv_answer(&e->srv, "HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\n",
               "{\"errorMessage\":\"boom\",\"errorType\":\"KeyErr\"}");
    struct result r = {0};
    call(e, t, &r, NULL);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_true(r.o.function_error);
    assert_true(r.o.reached_function);
    assert_string_equal(r.o.function_error_type, "KeyErr");
    assert_string_equal(r.error, "function error (Unhandled): KeyErr");
    /* Without an errorType the header stays. */
    srv_answer(&e->srv, "HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\n", "not json!");
    call(e, t, &r, NULL);
    assert_string_equal(r.o.function_error_type, "Unhandled");
    assert_string_equal(r.error, "function error: Unhandled");
    t->ops->destroy(t);
}

static void test_service_errors(void **state)
{
    struct env *e = *state;
    struct sl_target *t = good(e, NULL);
    struct result r = {0};

    srv_answer(&e->srv,
               "HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\n"
               "X-Amzn-ErrorType: TooManyRequestsException\r\n",
               "{\"Reason\":\"x\",\"Type\":\"User\",\"message\":\"Rate\"}");
    call(e, t, &r, NULL);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_false(r.o.reached_function);
    assert_int_equal(r.o.retry_after_ms, 2000);
    assert_string_equal(r.error, "HTTP 429 TooManyRequestsException: Rate (retry after 2000 ms)");

    srv_answer(&e->srv,
               "HTTP/1.1 403 Forbidden\r\n"
               "X-Amzn-ErrorType: InvalidSignatureException:http://internal.amazon.com/coral/\r\n",
               "{\"message\":\"mismatch\"}");
    call(e, t, &r, NULL);
    assert_int_equal(r.o.kind, SL_OUTCOME_FAIL);
    assert_string_equal(r.error, "HTTP 403 InvalidSignatureException: mismatch");

    /* 409 (the function is being updated) is retried, unless the mapping lists it. */
    srv_answer(&e->srv, "HTTP/1.1 409 Conflict\r\n",
               "{\"Type\":\"User\",\"message\":\"function is Pending...\"}");
    call(e, t, &r, NULL);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_string_equal(r.error, "HTTP 409: function is Pending...");
    int64_t only409[] = {409};
    struct sl_intlist terminal = {.v = only409, .n = 1};
    call(e, t, &r, &terminal);
    assert_int_equal(r.o.kind, SL_OUTCOME_FAIL);

    srv_answer(&e->srv, "HTTP/1.1 502 Bad Gateway\r\n", "{}");
    call(e, t, &r, NULL);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_true(r.o.reached_function);
    assert_string_equal(r.error, "HTTP 502");
    t->ops->destroy(t);
}

static void test_destroy_cancels_and_may_run_in_the_callback(void **state)
{
    struct env *e = *state;
    struct sl_target *t = good(e, NULL);
    srv_answer(&e->srv, "", NULL); /* never answers */
    struct result r = {0};
    struct sl_invoke inv = {.payload = "{}", .len = 2};
    assert_int_equal(t->ops->invoke(t, &inv, on_done, &r), 0);
    while (e->srv.requests == 0)
        ev_run(e->loop, EVRUN_NOWAIT);
    assert_int_equal(t->ops->inflight(t), 1);
    t->ops->destroy(t);
    assert_true(r.done);
    assert_int_equal(r.o.kind, SL_OUTCOME_RETRY);
    assert_string_equal(r.error, "cancelled");

    /* Destroyed from inside its own callback. */
    t = good(e, NULL);
    srv_answer(&e->srv, "HTTP/1.1 200 OK\r\n", "null");
    struct result r2 = {.destroy = t};
    call(e, t, &r2, NULL);
    assert_int_equal(r2.o.kind, SL_OUTCOME_OK);
}

static void test_config_errors_name_key_value_and_allowed(void **state)
{
    struct env *e = *state;
    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"function_name\":\"f\",\"access_key_id\":\"A\",\"secret_access_key\":\"S3CRET\"}",
         "functions[0].region: missing (allowed: a region name"},
        {"{\"region\":\"EU WEST\",\"access_key_id\":\"A\",\"secret_access_key\":\"S3CRET\"}",
         "functions[0].region: \"EU WEST\" has a character that is not allowed"},
        {"{\"function_name\":\"a/b\",\"region\":\"r\"}",
         "functions[0].function_name: \"a/b\" has a character that is not allowed (allowed: "},
        {"{\"qualifier\":\"v 1\",\"region\":\"r\"}", "functions[0].qualifier: \"v 1\" has"},
        {"{\"endpoint\":\"http://h:1/path\",\"region\":\"r\"}",
         "functions[0].endpoint: \"http://h:1/path\" is not a base URL"},
        {"{\"endpoint\":\"ftp://h\",\"region\":\"r\"}", "functions[0].endpoint: \"ftp://h\""},
        {"{\"qualifier\":\"1\",\"routing\":[{\"qualifier\":\"2\",\"weight\":1}],\"region\":\"r\"}",
         "functions[0].routing: set together with qualifier"},
        {"{\"routing\":[{\"qualifier\":\"1\",\"weight\":0.5},{\"qualifier\":\"2\",\"weight\":0.2}],"
         "\"region\":\"r\"}",
         "functions[0].routing: the weights add up to 0.7 (allowed: 1, within 0.001)"},
        {"{\"routing\":[{\"qualifier\":\"1\",\"weight\":0},{\"qualifier\":\"2\",\"weight\":1}],"
         "\"region\":\"r\"}",
         "functions[0].routing[0].weight: 0 is out of range"},
        {"{\"routing\":[{\"qualifier\":\"1\",\"weight\":0.5},{\"qualifier\":\"1\",\"weight\":0.5}"
         "],\"region\":\"r\"}",
         "functions[0].routing[1].qualifier: \"1\" is listed twice"},
        {"{\"region\":\"r\",\"secret_access_key\":\"S3CRET\"}",
         "functions[0].secret_access_key: set with no access_key_id"},
        {"{\"region\":\"r\",\"access_key_id\":\"A\",\"secret_access_key\":\"S3CRET x\"}",
         "functions[0].secret_access_key: has a space or a control character"},
        {"{\"region\":\"r\"}", "functions[0]: no AWS credentials: not in the configuration "
                               "(access_key_id), not in the environment"},
        {"{\"region\":\"r\",\"bogus\":1}", "bogus"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_target *t;
        struct sl_err err = {0};
        if (create(e, bad[i].json, &t, &err) == 0)
            fail_msg("accepted: %s", bad[i].json);
        assert_null(t);
        if (!strstr(err.msg, bad[i].want))
            fail_msg("for %s\n  got:  %s\n  want: %s", bad[i].json, err.msg, bad[i].want);
        if (strstr(err.msg, "S3CRET"))
            fail_msg("secret in error: %s", err.msg);
    }
    /* The region and the credentials may come from the environment. */
    setenv("AWS_REGION", "us-east-2", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    struct sl_target *t;
    struct sl_err err = {0};
    assert_int_equal(create(e, "{}", &t, &err), 0);
    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_jw w;
    sl_jw_init(&w, &b);
    t->ops->describe(t, &w);
    assert_non_null(strstr(b.data, "\"function_name\":\"fn\""));
    assert_non_null(strstr(b.data, "\"endpoint\":\"https://lambda.us-east-2.amazonaws.com\""));
    assert_non_null(strstr(b.data, "\"credentials\":\"environment\""));
    sl_buf_release(&b);
    t->ops->destroy(t);
    unsetenv("AWS_REGION");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_is_signed_and_addressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_error_takes_the_error_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_cancels_and_may_run_in_the_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_errors_name_key_value_and_allowed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
