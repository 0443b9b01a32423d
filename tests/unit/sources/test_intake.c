/* The shared intake (docs/SCALE_OUT.md): the fields a push is written with, and the checks of
 * a webhook's `spool` keys against the source they name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/metrics.h"
#include "sources/http/webhook.h"
#include "sources/intake.h"

static void test_fields(void **state)
{
    (void)state;
    struct sl_intake_item it = {
        .source = "orders",
        .id = "0b7c6f2e-1111-2222-3333-444455556666",
        .received_ms = 1573691886021LL,
        .attrs = "{\"method\":\"POST\"}",
        .content_type = "application/json; charset=utf-8 trailing",
        .content_type_len = 31,
        .body = "{}",
        .body_len = 2,
    };
    char t[32];
    const char *names[SL_INTAKE_MAX_FIELDS], *vals[SL_INTAKE_MAX_FIELDS];
    size_t lens[SL_INTAKE_MAX_FIELDS];
    size_t n = sl_intake_fields(&it, t, names, vals, lens);
    assert_int_equal(n, 5);
    static const char *const want[][2] = {
        {"sluice-id", "0b7c6f2e-1111-2222-3333-444455556666"},
        {"sluice-source", "orders"},
        {"sluice-received", "2019-11-14T00:38:06.021Z"},
        {"sluice-attrs", "{\"method\":\"POST\"}"},
        {"content-type", "application/json; charset=utf-8"},
    };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i][0]);
        assert_int_equal(lens[i], strlen(want[i][1]));
        assert_memory_equal(vals[i], want[i][1], lens[i]);
    }
    /* No content type: left out; no attributes: an empty object. */
    it.content_type = NULL;
    it.attrs = NULL;
    n = sl_intake_fields(&it, t, names, vals, lens);
    assert_int_equal(n, 4);
    assert_int_equal(lens[3], 2);
    assert_memory_equal(vals[3], "{}", 2);
}

/* Creates the webhook of the first source section (no loop: checked, not opened). */
static int create_hook(const char *yaml, struct sl_err *err)
{
    struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = sl_config_load_text(yaml, strlen(yaml), false, "i.yaml", &cfg, err);
    if (rc == 0) {
        struct sl_metrics *mx = sl_metrics_create();
        struct sl_env env = {.cfg = &cfg, .metrics = mx};
        struct sl_source *s = NULL;
        rc = sl_source_http_ops.create(&env, SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0), &s,
                                       err);
        if (rc == 0) {
            /* A mapping of the hook itself is refused when it writes elsewhere. */
            const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg.mappings, struct sl_cfg_mapping, 0);
            if (strcmp(mc->source, s->name) == 0)
                rc = s->ops->check_mapping(s, &cfg, mc, 0, err);
            s->ops->destroy(s);
        }
        sl_metrics_destroy(mx);
    }
    sl_config_release(&cfg);
    return rc;
}

#define FN          "functions: [{name: fn, type: http, url: \"http://127.0.0.1:1/x\"}]\n"
#define HOOK(spool) "sources:\n  - name: orders\n    type: http\n    spool: " spool "\n"
#define KAFKA(extra)                                                                               \
    "  - name: events\n    type: kafka\n    bootstrap_servers: \"127.0.0.1:1\"\n"                  \
    "    starting_position: earliest\n" extra
#define MAP(src) "mappings: [{name: m, source: " src ", function: fn}]\n"

static void expect_error(const char *yaml, const char *msg)
{
    struct sl_err err;
    sl_err_clear(&err);
    int rc = create_hook(yaml, &err);
    if (rc != SL_ECONFIG || !strstr(err.msg, msg))
        fail_msg("rc %d, message \"%s\", expected \"%s\"", rc, err.msg, msg);
}

static void test_config(void **state)
{
    (void)state;
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(
        create_hook(FN HOOK("{to: events}") KAFKA("    topics: [t]\n") MAP("events"), &err), 0);
    assert_int_equal(create_hook(FN HOOK("{to: r}") "  - name: r\n    type: redis\n    host: "
                                                    "127.0.0.1\n    streams: [s]\n    "
                                                    "starting_position: earliest\n" MAP("r"),
                                 &err),
                     0);
    expect_error(FN HOOK("{to: events}") KAFKA("    topics: [t]\n") MAP("orders"),
                 "i.yaml:11: mappings[0].source: \"orders\" writes its pushes to source "
                 "\"events\" (its spool.to), so nothing reads them here: map source \"events\" "
                 "instead");
    expect_error(FN HOOK("{to: nope}") KAFKA("    topics: [t]\n") MAP("events"),
                 "i.yaml:5: sources[0].spool.to: \"nope\": no such source");
    expect_error(FN HOOK("{to: other}") "  - name: other\n    type: http\n" MAP("other"),
                 "sources[0].spool.to: \"other\": is not a `kafka` or `redis` source");
    expect_error(FN HOOK("{to: events}") KAFKA("    topics: [a, b]\n") MAP("events"),
                 "sources[0].spool.to: \"events\": a kafka source written to by a push source "
                 "must have exactly one `topics` entry");
    expect_error(FN HOOK("{to: events}") KAFKA("    topic_regex: \"^a\"\n") MAP("events"),
                 "exactly one `topics` entry and no `topic_regex`");
    expect_error(FN HOOK("{to: events}") "  - name: events\n    type: kafka\n    "
                                         "bootstrap_servers: x\n    topics: [t]\n" MAP("events"),
                 "must have `starting_position: earliest`");
    expect_error(FN HOOK("{to: r}") "  - name: r\n    type: redis\n    host: 127.0.0.1\n    "
                                    "streams: [s]\n" MAP("r"),
                 "a redis source written to by a push source must have `starting_position: "
                 "earliest`");
    expect_error(FN HOOK("{to: r}") "  - name: r\n    type: redis\n    host: 127.0.0.1\n    "
                                    "streams: [s, u]\n    starting_position: earliest\n" MAP("r"),
                 "exactly one `streams` entry");
    expect_error(FN HOOK("{to: events, max_inflight: 0}") KAFKA("    topics: [t]\n") MAP("events"),
                 "sources[0].spool.max_inflight");
    expect_error(FN HOOK("{to: events, bogus: 1}") KAFKA("    topics: [t]\n") MAP("events"),
                 "sources[0].spool.bogus");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
