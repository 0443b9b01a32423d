/* The "alias" target over fake versions (targets of this test that keep each invocation until
 * the test answers it): the split, the outcome passed on with the version named, a retry routed
 * again, a version that is not running, destroy with invocations in flight, describe, and the
 * config checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/jw.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "dispatcher/alias/alias_target.h"
#include "dispatcher/target.h"

/* ---- Fake versions --------------------------------------------------------------------- */

#define FAKE_MAX 16

struct fake {
    struct sl_target base;
    sl_invoke_cb cb[FAKE_MAX];
    void *arg[FAKE_MAX];
    size_t n;       /* invocations waiting for an answer */
    size_t invoked; /* in all */
};

static int fake_invoke(struct sl_target *t, const struct sl_invoke *inv, sl_invoke_cb cb, void *arg)
{
    struct fake *f = (struct fake *)t;
    (void)inv;
    if (f->n == FAKE_MAX)
        return -EAGAIN;
    f->cb[f->n] = cb;
    f->arg[f->n] = arg;
    f->n++;
    f->invoked++;
    return 0;
}

static void fake_destroy(struct sl_target *t)
{
    sl_module_release(SL_MODULE(t));
}

static const struct sl_target_ops fake_ops = {
    .type = "fake", .invoke = fake_invoke, .destroy = fake_destroy};

/* Answers the oldest waiting invocation with `kind` (and `error`). */
static void fake_answer(struct fake *f, enum sl_outcome_kind kind, const char *error)
{
    assert_true(f->n > 0);
    struct sl_outcome o = {.kind = kind,
                           .status = kind == SL_OUTCOME_OK ? 200 : 500,
                           .retry_after_ms = -1,
                           .reached_function = true,
                           .duration_ms = 3};
    snprintf(o.error, sizeof(o.error), "%s", error ? error : "");
    sl_invoke_cb cb = f->cb[0];
    void *arg = f->arg[0];
    f->n--;
    memmove(f->cb, f->cb + 1, f->n * sizeof(f->cb[0]));
    memmove(f->arg, f->arg + 1, f->n * sizeof(f->arg[0]));
    cb(&o, arg);
}

/* ---- Fixture ---------------------------------------------------------------------------- */

struct fx {
    struct sl_config cfg;
    struct sl_metrics *metrics;
    struct fake v1, v2;
    bool v2_running;
    struct sl_target *alias;
    /* What the alias passed on. */
    int calls;
    struct sl_outcome last;
};

static struct sl_target *lookup(void *ctx, const char *name)
{
    struct fx *fx = ctx;
    if (strcmp(name, "v1") == 0)
        return &fx->v1.base;
    if (strcmp(name, "v2") == 0 && fx->v2_running)
        return &fx->v2.base;
    return NULL;
}

static void on_outcome(const struct sl_outcome *o, void *arg)
{
    struct fx *fx = arg;
    fx->calls++;
    fx->last = *o;
}

static const char config_text[] =
    "functions:\n"
    "  - {name: v1, type: http, url: \"http://127.0.0.1:1/\"}\n"
    "  - {name: v2, type: http, url: \"http://127.0.0.1:1/\"}\n"
    "  - {name: other, type: alias, routing: [{function: v1, weight: 1}]}\n"
    "  - name: live\n"
    "    type: alias\n"
    "    routing:\n"
    "      - {function: v1, weight: 3}\n"
    "      - {function: v2, weight: 1}\n";

static int load(struct fx *fx, const char *text)
{
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_config_load_text(text, strlen(text), false, "alias.yaml", &fx->cfg, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* Creates the section named `name`; 0, or the error with its message in err. */
static int create(struct fx *fx, const char *name, struct sl_err *err)
{
    struct sl_env env = {
        .cfg = &fx->cfg, .metrics = fx->metrics, .function = lookup, .function_ctx = fx};
    const struct sl_cfg_typed *sec = sl_config_find(&fx->cfg.functions, name);
    assert_non_null(sec);
    sl_err_clear(err);
    return sl_target_alias_ops.create(&env, sec, &fx->alias, err);
}

static int setup(void **state)
{
    struct fx *fx = SL_NEW(struct fx);
    assert_int_equal(load(fx, config_text), 0);
    fx->metrics = sl_metrics_create();
    sl_module_init(SL_MODULE(&fx->v1.base), &fake_ops, "function", "fake", "v1");
    sl_module_init(SL_MODULE(&fx->v2.base), &fake_ops, "function", "fake", "v2");
    fx->v2_running = true;
    struct sl_err err;
    assert_int_equal(create(fx, "live", &err), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx->alias)
        fx->alias->ops->destroy(fx->alias);
    /* Answers what the alias left in the versions (after destroy: dropped). */
    while (fx->v1.n)
        fake_answer(&fx->v1, SL_OUTCOME_RETRY, "cancelled");
    while (fx->v2.n)
        fake_answer(&fx->v2, SL_OUTCOME_RETRY, "cancelled");
    fake_destroy(&fx->v1.base);
    fake_destroy(&fx->v2.base);
    sl_metrics_destroy(fx->metrics);
    sl_config_release(&fx->cfg);
    free(fx);
    return 0;
}

static const struct sl_invoke inv = {.payload = "[]", .len = 2};

/* ---- Tests ------------------------------------------------------------------------------ */

static void test_split_within_5_sigma_and_version_named(void **state)
{
    struct fx *fx = *state;
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        assert_int_equal(fx->alias->ops->invoke(fx->alias, &inv, on_outcome, fx), 0);
        assert_int_equal(fx->alias->ops->inflight(fx->alias), 1);
        struct fake *f = fx->v1.n ? &fx->v1 : &fx->v2;
        fake_answer(f, SL_OUTCOME_OK, NULL);
        assert_string_equal(fx->last.executed_version, f == &fx->v1 ? "v1" : "v2");
        assert_string_equal(fx->last.error, "");
    }
    assert_int_equal(fx->calls, n);
    assert_int_equal(fx->alias->ops->inflight(fx->alias), 0);
    /* Binomial(10000, 1/4): mean 2500, sd 43.3. */
    double sd = sqrt(n * 0.25 * 0.75);
    assert_true(fabs((double)fx->v2.invoked - n * 0.25) <= 5 * sd);
    assert_int_equal(fx->v1.invoked + fx->v2.invoked, n);
    struct sl_buf out;
    sl_buf_init(&out);
    sl_metrics_render(fx->metrics, &out);
    char line[160];
    snprintf(line, sizeof(line),
             "sluice_alias_invocations_total{function=\"live\",version=\"v2\",outcome=\"ok\"} "
             "%zu\n",
             fx->v2.invoked);
    assert_non_null(strstr(out.data, line));
    sl_buf_release(&out);
}

static void test_failure_names_the_version_and_retry_routes_again(void **state)
{
    struct fx *fx = *state;
    /* A failure passes on unchanged but for the version's name; each new invoke draws again,
     * so over 400 retries both versions are chosen. */
    for (int i = 0; i < 400; i++) {
        assert_int_equal(fx->alias->ops->invoke(fx->alias, &inv, on_outcome, fx), 0);
        struct fake *f = fx->v1.n ? &fx->v1 : &fx->v2;
        fake_answer(f, SL_OUTCOME_RETRY, "HTTP 500");
        assert_int_equal(fx->last.kind, SL_OUTCOME_RETRY);
        assert_int_equal(fx->last.status, 500);
        assert_true(fx->last.reached_function);
        assert_string_equal(fx->last.error, f == &fx->v1 ? "v1: HTTP 500" : "v2: HTTP 500");
    }
    assert_true(fx->v1.invoked > 0 && fx->v2.invoked > 0);
}

static void test_version_not_running(void **state)
{
    struct fx *fx = *state;
    fx->v2_running = false;
    int enoent = 0;
    for (int i = 0; i < 200; i++) {
        int rc = fx->alias->ops->invoke(fx->alias, &inv, on_outcome, fx);
        if (rc == -ENOENT) {
            enoent++;
            continue;
        }
        assert_int_equal(rc, 0);
        fake_answer(&fx->v1, SL_OUTCOME_OK, NULL);
    }
    assert_true(enoent > 0);
    assert_int_equal(fx->calls, 200 - enoent); /* no callback after an error */
    assert_int_equal(fx->v2.invoked, 0);
}

static void test_destroy_cancels_in_flight(void **state)
{
    struct fx *fx = *state;
    for (int i = 0; i < 6; i++)
        assert_int_equal(fx->alias->ops->invoke(fx->alias, &inv, on_outcome, fx), 0);
    fx->alias->ops->destroy(fx->alias);
    fx->alias = NULL;
    assert_int_equal(fx->calls, 6);
    assert_int_equal(fx->last.kind, SL_OUTCOME_RETRY);
    assert_non_null(strstr(fx->last.error, ": cancelled"));
    /* The versions answer later: dropped, and the alias is freed with the last (ASan). */
    while (fx->v1.n)
        fake_answer(&fx->v1, SL_OUTCOME_OK, NULL);
    while (fx->v2.n)
        fake_answer(&fx->v2, SL_OUTCOME_OK, NULL);
    assert_int_equal(fx->calls, 6);
}

static void test_describe_and_routes_to(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(fx->alias->ops->invoke(fx->alias, &inv, on_outcome, fx), 0);
    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_jw w;
    sl_jw_init(&w, &b);
    fx->alias->ops->describe(fx->alias, &w);
    assert_non_null(strstr(b.data, "\"type\":\"alias\""));
    assert_non_null(strstr(b.data, "\"inflight\":1"));
    assert_non_null(strstr(b.data, "{\"function\":\"v1\",\"weight\":3,"));
    assert_non_null(strstr(b.data, "{\"function\":\"v2\",\"weight\":1,"));
    sl_buf_release(&b);
    assert_true(sl_target_alias_routes_to(fx->alias, "v2"));
    assert_false(sl_target_alias_routes_to(fx->alias, "other"));
    assert_false(sl_target_alias_routes_to(&fx->v1.base, "v2"));
}

static void expect_error(const char *routing, const char *msg)
{
    struct fx fx;
    memset(&fx, 0, sizeof(fx));
    struct sl_buf text;
    sl_buf_init(&text);
    sl_buf_printf(&text,
                  "functions:\n"
                  "  - {name: v1, type: http, url: \"http://127.0.0.1:1/\"}\n"
                  "  - {name: other, type: alias, routing: [{function: v1, weight: 1}]}\n"
                  "  - {name: live, type: alias, routing: %s}\n",
                  routing);
    assert_int_equal(load(&fx, text.data), 0);
    struct sl_err err;
    assert_int_equal(create(&fx, "live", &err), SL_ECONFIG);
    assert_null(fx.alias);
    if (!strstr(err.msg, msg))
        fail_msg("\"%s\" does not hold \"%s\"", err.msg, msg);
    sl_config_release(&fx.cfg);
    sl_buf_release(&text);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("[{function: v3, weight: 1}]",
                 "functions[2].routing[0].function: \"v3\" is not a function section of this "
                 "file (allowed: v1)");
    expect_error("[{function: other, weight: 1}]", "routing[0].function: \"other\" is an alias");
    expect_error("[{function: live, weight: 1}]", "routing[0].function: \"live\" is the alias");
    expect_error("[{function: v1, weight: 1}, {function: v1, weight: 1}]",
                 "routing[1].function: \"v1\" is listed twice");
    expect_error("[{function: v1, weight: 0}]", "routing[0].weight: 0 (allowed: a number above 0");
    expect_error("[{function: v1, weight: -1}]", "routing[0].weight");
    expect_error("[{function: v1, weight: x}]", "routing[0].weight");
    expect_error("[{weight: 1}]", "routing[0].function");
    expect_error("[]", "functions[2].routing");
    expect_error(
        "[{function: v1, weight: 1}, {function: v1, weight: 1}, {function: v1, weight: 1},"
        " {function: v1, weight: 1}, {function: v1, weight: 1}, {function: v1, weight: 1},"
        " {function: v1, weight: 1}, {function: v1, weight: 1}, {function: v1, weight: 1}]",
        "routing: 9 entries (allowed: 1..8 versions)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_split_within_5_sigma_and_version_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failure_names_the_version_and_retry_routes_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_not_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_cancels_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_and_routes_to, setup, teardown),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
