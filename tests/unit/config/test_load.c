/* Loading sluice configurations: YAML and JSON, interpolation, limits, cross-checks, examples. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"

static int load_yaml(const char *text, struct sl_config *cfg, struct sl_err *err)
{
    sl_err_clear(err);
    return sl_config_load_text(text, strlen(text), false, "config.yaml", cfg, err);
}

static int load_json(const char *text, struct sl_config *cfg, struct sl_err *err)
{
    sl_err_clear(err);
    return sl_config_load_text(text, strlen(text), true, "config.yaml", cfg, err);
}

static void expect_yaml_error(const char *text, const char *msg)
{
    struct sl_config cfg;
    struct sl_err err;
    int rc = load_yaml(text, &cfg, &err);
    if (rc != SL_ECONFIG)
        fail_msg("expected SL_ECONFIG (%d), got %d for:\n%s", SL_ECONFIG, rc, text);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("for:\n%s\n  expected: %s\n  got:      %s", text, msg, err.msg);
    /* A failed load leaves nothing to release (ASan checks), and release is harmless. */
    sl_config_release(&cfg);
}

static void expect_json_error(const char *text, const char *msg)
{
    struct sl_config cfg;
    struct sl_err err;
    int rc = load_json(text, &cfg, &err);
    if (rc != SL_ECONFIG)
        fail_msg("expected SL_ECONFIG, got %d for:\n%s", rc, text);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("for:\n%s\n  expected: %s\n  got:      %s", text, msg, err.msg);
    sl_config_release(&cfg);
}

/* Like expect_yaml_error, for messages that only need to contain `part`. */
static void expect_yaml_error_has(const char *text, const char *part)
{
    struct sl_config cfg;
    struct sl_err err;
    int rc = load_yaml(text, &cfg, &err);
    if (rc != SL_ECONFIG)
        fail_msg("expected SL_ECONFIG, got %d for:\n%.200s", rc, text);
    if (!strstr(err.msg, part))
        fail_msg("for:\n%.200s\n  expected to contain: %s\n  got: %s", text, part, err.msg);
    sl_config_release(&cfg);
}

static const char *base_yaml = "sources:\n"
                               "  - name: orders\n"
                               "    type: http\n"
                               "  - name: billing\n"
                               "    type: http\n"
                               "functions:\n"
                               "  - name: fn\n"
                               "    type: http\n"
                               "    url: http://127.0.0.1:9090/invoke\n"
                               "mappings:\n"
                               "  - name: m0\n"
                               "    source: orders\n"
                               "    function: fn\n";

static void test_defaults(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(load_yaml(base_yaml, &cfg, &err), 0);
    assert_string_equal(cfg.file, "config.yaml");
    assert_int_equal(cfg.log.level, SL_CFG_LOG_INFO);
    assert_int_equal(cfg.log.format, SL_CFG_LOG_TEXT);
    assert_string_equal(cfg.log.instance, "sluice");
    assert_string_equal(cfg.server.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.server.max_connections, 1024);
    assert_int_equal(cfg.server.max_header_bytes, 16384);
    assert_int_equal(cfg.server.max_body_bytes, 1048576);
    assert_int_equal(cfg.server.request_timeout_ms, 30000);
    assert_int_equal(cfg.server.idle_timeout_ms, 60000);
    assert_string_equal(cfg.admin.listener.listen, "127.0.0.1:8081");
    assert_int_equal(cfg.admin.listener.max_body_bytes, 65536);
    assert_int_equal(cfg.admin.listener.max_connections, 1024);
    assert_null(cfg.admin.token);
    assert_string_equal(cfg.store.dir, "./var/sluice");
    assert_int_equal(cfg.store.sync, SL_CFG_SYNC_FULL);
    assert_int_equal(cfg.store.spool_max_bytes, 1ULL << 30);
    assert_int_equal(cfg.store.commit_max_batch, 1024);
    assert_int_equal(cfg.drain_timeout_ms, 30000);
    assert_int_equal(cfg.sources.n, 2);
    assert_int_equal(cfg.functions.n, 1);
    assert_int_equal(cfg.dlqs.n, 0);
    assert_int_equal(cfg.mappings.n, 1);
    const struct sl_cfg_mapping *m = SL_OBJLIST_AT(cfg.mappings, struct sl_cfg_mapping, 0);
    assert_string_equal(m->name, "m0");
    assert_string_equal(m->path, "mappings[0]");
    assert_null(m->dlq);
    assert_true(m->enabled);
    assert_int_equal(m->format, SL_CFG_FORMAT_LAMBDA);
    assert_int_equal(m->ordering, SL_CFG_ORDER_LANE);
    assert_int_equal(m->batch.size, 10);
    assert_int_equal(m->batch.window_ms, 0);
    assert_int_equal(m->batch.max_bytes, 6000000);
    assert_int_equal(m->max_concurrency, 1);
    assert_int_equal(m->max_inflight_records, 10000);
    assert_int_equal(m->max_inflight_bytes, 64ULL << 20);
    assert_int_equal(m->retry.max_attempts, 3);
    assert_int_equal(m->retry.max_record_age_ms, 0);
    assert_int_equal(m->retry.backoff.min_ms, 100);
    assert_int_equal(m->retry.backoff.max_ms, 30000);
    assert_true(m->retry.backoff.multiplier == 2.0);
    assert_false(m->retry.bisect_on_error);
    assert_false(m->retry.report_batch_item_failures);
    assert_int_equal(m->retry.terminal_statuses.n, 0);
    const struct sl_cfg_typed *s = sl_config_find(&cfg.sources, "billing");
    assert_non_null(s);
    assert_string_equal(s->path, "sources[1]");
    assert_string_equal(s->type, "http");
    assert_string_equal(json_string_value(json_object_get(s->raw, "name")), "billing");
    const struct sl_cfg_typed *f = sl_config_find(&cfg.functions, "fn");
    assert_string_equal(json_string_value(json_object_get(f->raw, "url")),
                        "http://127.0.0.1:9090/invoke");
    assert_null(sl_config_find(&cfg.functions, "nope"));
    assert_null(sl_config_find(&cfg.functions, NULL));
    assert_ptr_equal(sl_config_mapping(&cfg, "m0"), m);
    assert_null(sl_config_mapping(&cfg, "m1"));
    sl_config_release(&cfg);
    assert_null(cfg.file);
    sl_config_release(&cfg);
    sl_config_release(NULL);
}

static void test_empty_configs(void **state)
{
    (void)state;
    static const char *const texts[] = {"", "\n# only a comment\n", "---\n", "~\n", "{}\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct sl_config cfg;
        struct sl_err err;
        if (load_yaml(texts[i], &cfg, &err) != 0)
            fail_msg("\"%s\": %s", texts[i], err.msg);
        assert_int_equal(cfg.mappings.n, 0);
        assert_int_equal(cfg.store.commit_max_batch, 1024);
        sl_config_release(&cfg);
    }
    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(load_json("{}", &cfg, &err), 0);
    assert_string_equal(cfg.log.instance, "sluice");
    sl_config_release(&cfg);
}

static const char *full_yaml =
    "log:\n"
    "  level: debug\n"
    "  format: json\n"
    "  instance: \"null\"\n"
    "server:\n"
    "  listen: 0.0.0.0:9000\n"
    "  max_body_bytes: 2MiB\n"
    "admin:\n"
    "  listen: '[::1]:9001'\n"
    "  token: s3cret\n"
    "  idle_timeout: 5s\n"
    "store:\n"
    "  dir: /tmp/x\n"
    "  sync: normal\n"
    "shutdown:\n"
    "  drain_timeout: 2m\n"
    "sources:\n"
    "  - {name: orders, type: http, keep_headers: [X-A, X-B], token: ~}\n"
    "functions:\n"
    "  - name: fn\n"
    "    type: http\n"
    "    headers: {X-Team: t}\n"
    "dlqs:\n"
    "  - name: side\n"
    "    type: sqlite\n"
    "mappings:\n"
    "  - name: m.0\n"
    "    source: orders\n"
    "    function: fn\n"
    "    dlq: side\n"
    "    enabled: no\n"
    "    format: raw\n"
    "    ordering: none\n"
    "    batch: {size: 100, window: 1s, max_bytes: 1MB}\n"
    "    max_concurrency: 4\n"
    "    max_inflight_records: 500\n"
    "    max_inflight_bytes: 1GiB\n"
    "    retry:\n"
    "      max_attempts: 8\n"
    "      max_record_age: 1h\n"
    "      backoff:\n"
    "        min: 200ms\n"
    "        max: 2s\n"
    "        multiplier: 1.5\n"
    "      bisect_on_error: true\n"
    "      report_batch_item_failures: on\n"
    "      terminal_statuses: [400, 422]\n"
    "  - name: m_1\n"
    "    source: orders\n"
    "    function: fn\n"
    "    dlq: default\n";

static const char *full_json =
    "{\"log\": {\"level\": \"debug\", \"format\": \"json\", \"instance\": \"null\"},"
    " \"server\": {\"listen\": \"0.0.0.0:9000\", \"max_body_bytes\": \"2MiB\"},"
    " \"admin\": {\"listen\": \"[::1]:9001\", \"token\": \"s3cret\", \"idle_timeout\": 5},"
    " \"store\": {\"dir\": \"/tmp/x\", \"sync\": \"normal\"},"
    " \"shutdown\": {\"drain_timeout\": \"2m\"},"
    " \"sources\": [{\"name\": \"orders\", \"type\": \"http\", \"keep_headers\": [\"X-A\", "
    "\"X-B\"], \"token\": null}],"
    " \"functions\": [{\"name\": \"fn\", \"type\": \"http\", \"headers\": {\"X-Team\": \"t\"}}],"
    " \"dlqs\": [{\"name\": \"side\", \"type\": \"sqlite\"}],"
    " \"mappings\": [{\"name\": \"m.0\", \"source\": \"orders\", \"function\": \"fn\","
    " \"dlq\": \"side\", \"enabled\": false, \"format\": \"raw\", \"ordering\": \"none\","
    " \"batch\": {\"size\": 100, \"window\": \"1s\", \"max_bytes\": \"1MB\"},"
    " \"max_concurrency\": 4, \"max_inflight_records\": 500, \"max_inflight_bytes\": \"1GiB\","
    " \"retry\": {\"max_attempts\": 8, \"max_record_age\": \"1h\", \"backoff\": {\"min\": "
    "\"200ms\", \"max\": \"2s\", \"multiplier\": 1.5}, \"bisect_on_error\": true,"
    " \"report_batch_item_failures\": true, \"terminal_statuses\": [400, 422]}},"
    " {\"name\": \"m_1\", \"source\": \"orders\", \"function\": \"fn\", \"dlq\": \"default\"}]}";

static void check_full(const struct sl_config *cfg)
{
    assert_int_equal(cfg->log.level, SL_CFG_LOG_DEBUG);
    assert_int_equal(cfg->log.format, SL_CFG_LOG_JSON);
    assert_string_equal(cfg->log.instance, "null"); /* quoted: a string, not null */
    assert_string_equal(cfg->server.listen, "0.0.0.0:9000");
    assert_int_equal(cfg->server.max_body_bytes, 2 * 1048576);
    assert_string_equal(cfg->admin.listener.listen, "[::1]:9001");
    assert_string_equal(cfg->admin.token, "s3cret");
    assert_int_equal(cfg->admin.listener.idle_timeout_ms, 5000);
    assert_string_equal(cfg->store.dir, "/tmp/x");
    assert_int_equal(cfg->store.sync, SL_CFG_SYNC_NORMAL);
    assert_int_equal(cfg->drain_timeout_ms, 120000);
    assert_int_equal(cfg->mappings.n, 2);
    const struct sl_cfg_mapping *m = sl_config_mapping(cfg, "m.0");
    assert_non_null(m);
    assert_string_equal(m->dlq, "side");
    assert_false(m->enabled);
    assert_int_equal(m->format, SL_CFG_FORMAT_RAW);
    assert_int_equal(m->ordering, SL_CFG_ORDER_NONE);
    assert_int_equal(m->batch.size, 100);
    assert_int_equal(m->batch.window_ms, 1000);
    assert_int_equal(m->batch.max_bytes, 1000000);
    assert_int_equal(m->max_concurrency, 4);
    assert_int_equal(m->max_inflight_records, 500);
    assert_int_equal(m->max_inflight_bytes, 1ULL << 30);
    assert_int_equal(m->retry.max_attempts, 8);
    assert_int_equal(m->retry.max_record_age_ms, 3600000);
    assert_int_equal(m->retry.backoff.min_ms, 200);
    assert_int_equal(m->retry.backoff.max_ms, 2000);
    assert_true(m->retry.backoff.multiplier == 1.5);
    assert_true(m->retry.bisect_on_error);
    assert_true(m->retry.report_batch_item_failures);
    assert_int_equal(m->retry.terminal_statuses.n, 2);
    assert_true(sl_intlist_contains(&m->retry.terminal_statuses, 422));
    assert_string_equal(m->path, "mappings[0]");
    const struct sl_cfg_mapping *m1 = sl_config_mapping(cfg, "m_1");
    assert_null(m1->dlq); /* "default" is the built-in DLQ */
    assert_string_equal(m1->path, "mappings[1]");
}

static void test_yaml_json_equivalence(void **state)
{
    (void)state;
    struct sl_config y, j;
    struct sl_err err;
    if (load_yaml(full_yaml, &y, &err) != 0)
        fail_msg("%s", err.msg);
    if (load_json(full_json, &j, &err) != 0)
        fail_msg("%s", err.msg);
    check_full(&y);
    check_full(&j);
    /* The typed sections keep the same keys; YAML keeps scalars as strings, null stays null. */
    const struct sl_cfg_typed *ys = sl_config_find(&y.sources, "orders");
    const struct sl_cfg_typed *js = sl_config_find(&j.sources, "orders");
    assert_true(json_equal(ys->raw, js->raw));
    assert_true(json_is_null(json_object_get(ys->raw, "token")));
    assert_true(json_equal(sl_config_find(&y.functions, "fn")->raw,
                           sl_config_find(&j.functions, "fn")->raw));
    sl_config_release(&y);
    sl_config_release(&j);
}

/* ---- typed sections ----------------------------------------------------------------------- */

struct hook_cfg {
    char *token;
    uint64_t max_body_bytes;
    struct sl_strlist keep_headers;
};

static const struct sl_prop hook_props[] = {
    {.name = "token",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct hook_cfg, token),
     .flags = SL_PROP_SECRET},
    {.name = "max_body_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct hook_cfg, max_body_bytes),
     .def = "1MiB",
     .min = 1,
     .max = 64 << 20},
    {.name = "keep_headers",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct hook_cfg, keep_headers)},
};

static const struct sl_prop_table hook_table = {
    .name = "sources[] (type http)",
    .props = hook_props,
    .nprops = sizeof(hook_props) / sizeof(hook_props[0]),
    .struct_size = sizeof(struct hook_cfg),
};

static void test_bind_typed(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(load_yaml(full_yaml, &cfg, &err), 0);
    struct hook_cfg h;
    const struct sl_cfg_typed *s = sl_config_find(&cfg.sources, "orders");
    assert_int_equal(sl_config_bind_typed(&cfg, s, &hook_table, &h, &err), 0);
    assert_null(h.token);
    assert_int_equal(h.max_body_bytes, 1 << 20);
    assert_int_equal(h.keep_headers.n, 2);
    assert_string_equal(h.keep_headers.v[1], "X-B");
    sl_props_release(&hook_table, &h);
    /* The raw section was not modified by binding (name and type are still there). */
    assert_non_null(json_object_get(s->raw, "name"));
    sl_config_release(&cfg);

    const char *bad = "sources:\n"
                      "  - name: a\n"
                      "    type: http\n"
                      "  - name: b\n"
                      "    type: http\n"
                      "    max_body_bytes: 0\n"
                      "    tokn: x\n";
    assert_int_equal(load_yaml(bad, &cfg, &err), 0);
    s = sl_config_find(&cfg.sources, "b");
    assert_int_equal(sl_config_bind_typed(&cfg, s, &hook_table, &h, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "config.yaml: sources[1].tokn: unknown key (allowed: token, "
                                 "max_body_bytes, keep_headers)");
    json_object_del(s->raw, "tokn");
    assert_int_equal(sl_config_bind_typed(&cfg, s, &hook_table, &h, &err), SL_ECONFIG);
    assert_string_equal(err.msg,
                        "config.yaml: sources[1].max_body_bytes: 0 is out of range (allowed: "
                        "1B..64MiB)");
    sl_config_release(&cfg);
}

/* ---- error formats ------------------------------------------------------------------------ */

static void test_error_formats(void **state)
{
    (void)state;
    /* The exact formats, from JSON (no line numbers). */
    expect_json_error("{\"sources\": [{\"name\": \"s\", \"type\": \"http\"}],"
                      " \"functions\": [{\"name\": \"f\", \"type\": \"http\"}],"
                      " \"mappings\": [{\"name\": \"a\", \"source\": \"s\", \"function\": \"f\"},"
                      " {\"name\": \"b\", \"source\": \"s\", \"function\": \"f\","
                      " \"retry\": {\"max_attempts\": \"0\"}}]}",
                      "config.yaml: mappings[1].retry.max_attempts: 0 is out of range (allowed: "
                      "1..10000)");
    expect_json_error("{\"mappings\": [{\"name\": \"a\", \"source\": \"s\", \"function\": \"f\","
                      " \"batch\": {\"window\": \"5 parsecs\"}}]}",
                      "config.yaml: mappings[0].batch.window: \"5 parsecs\" is not a duration "
                      "(e.g. 250ms, 30s, 1h)");
    expect_json_error("{\"server\": {\"listn\": \"x\"}}",
                      "config.yaml: server.listn: unknown key (allowed: listen, max_connections, "
                      "max_header_bytes, max_body_bytes, request_timeout, idle_timeout, "
                      "max_buffered_bytes, max_connections_per_ip)");
    expect_json_error("{\"sources\": [{\"name\": \"s\"}]}",
                      "config.yaml: sources[0].type: missing required key");
    expect_json_error("{\"mappings\": [{\"name\": \"a\", \"source\": \"s\", \"function\": \"f\","
                      " \"format\": \"xml\"}]}",
                      "config.yaml: mappings[0].format: \"xml\" is not allowed (allowed: lambda, "
                      "raw)");
    expect_json_error("{\"nope\": 1}",
                      "config.yaml: nope: unknown key (allowed: log, server, admin, store, "
                      "shutdown, functions, sources, dlqs, mappings)");
    expect_json_error("{\"mappings\": {}}",
                      "config.yaml: mappings: expected a list, got a mapping");
    expect_json_error("[1]", "config.yaml: the top level must be a mapping, not a list");
}

static void test_line_numbers(void **state)
{
    (void)state;
    const char *text = "sources:\n"
                       "  - name: s\n"
                       "    type: http\n"
                       "functions:\n"
                       "  - name: f\n"
                       "    type: http\n"
                       "mappings:\n"
                       "  - name: a\n"
                       "    source: s\n"
                       "    function: f\n"
                       "  - name: b\n"
                       "    source: s\n"
                       "    function: f\n"
                       "    retry:\n"
                       "      backoff: {min: 1s}\n"
                       "      max_attempts: 0\n";
    expect_yaml_error(text, "config.yaml:16: mappings[1].retry.max_attempts: 0 is out of range "
                            "(allowed: 1..10000)");
    /* A missing key points at its parent. */
    expect_yaml_error("log: {}\nsources:\n  - name: s\n",
                      "config.yaml:3: sources[0].type: missing required key");
    expect_yaml_error("\n\nserver:\n  listn: x\n",
                      "config.yaml:4: server.listn: unknown key (allowed: listen, "
                      "max_connections, max_header_bytes, max_body_bytes, request_timeout, "
                      "idle_timeout, max_buffered_bytes, max_connections_per_ip)");
}

static void test_cross_checks(void **state)
{
    (void)state;
    struct sl_buf t;
    sl_buf_init(&t);
    const char *defs = "{\"sources\": [{\"name\": \"orders\", \"type\": \"http\"},"
                       " {\"name\": \"billing\", \"type\": \"http\"}],"
                       " \"functions\": [{\"name\": \"fn\", \"type\": \"http\"}],"
                       " \"dlqs\": [{\"name\": \"side\", \"type\": \"sqlite\"}],";
    sl_buf_printf(&t,
                  "%s \"mappings\": [{\"name\": \"m\", \"source\": \"ordrs\", \"function\": "
                  "\"fn\"}]}",
                  defs);
    expect_json_error(t.data, "config.yaml: mappings[0].source: \"ordrs\" is not a defined source "
                              "(defined: orders, billing)");
    sl_buf_reset(&t);
    sl_buf_printf(&t,
                  "%s \"mappings\": [{\"name\": \"m\", \"source\": \"orders\", \"function\": "
                  "\"fm\"}]}",
                  defs);
    expect_json_error(t.data, "config.yaml: mappings[0].function: \"fm\" is not a defined "
                              "function (defined: fn)");
    sl_buf_reset(&t);
    sl_buf_printf(&t,
                  "%s \"mappings\": [{\"name\": \"m\", \"source\": \"orders\", \"function\": "
                  "\"fn\", \"dlq\": \"sid\"}]}",
                  defs);
    expect_json_error(t.data, "config.yaml: mappings[0].dlq: \"sid\" is not a defined dlq "
                              "(defined: default, side)");
    sl_buf_reset(&t);
    sl_buf_printf(&t,
                  "%s \"mappings\": [{\"name\": \"m\", \"source\": \"orders\", \"function\": "
                  "\"fn\"}, {\"name\": \"m\", \"source\": \"orders\", \"function\": "
                  "\"fn\"}]}",
                  defs);
    expect_json_error(t.data,
                      "config.yaml: mappings[1].name: \"m\" is already used by mappings[0]");
    sl_buf_reset(&t);
    sl_buf_printf(&t,
                  "%s \"mappings\": [{\"name\": \"m\", \"source\": \"orders\", \"function\": "
                  "\"fn\", \"retry\": {\"backoff\": {\"min\": \"5s\", \"max\": \"2s\"}}}]}",
                  defs);
    expect_json_error(t.data, "config.yaml: mappings[0].retry.backoff.min: 5s is more than "
                              "retry.backoff.max (2s)");
    sl_buf_release(&t);

    expect_json_error("{\"sources\": [{\"name\": \"a\", \"type\": \"http\"}, {\"name\": \"a\", "
                      "\"type\": \"kafka\"}]}",
                      "config.yaml: sources[1].name: \"a\" is already used by sources[0]");
    expect_json_error("{\"functions\": [{\"name\": \"has space\", \"type\": \"http\"}]}",
                      "config.yaml: functions[0].name: \"has space\" is not a valid name (allowed: "
                      "1 to 64 characters of A-Z a-z 0-9 _ . -)");
    expect_json_error("{\"functions\": [{\"name\": \"\", \"type\": \"http\"}]}",
                      "config.yaml: functions[0].name: \"\" is not a valid name (allowed: 1 to 64 "
                      "characters of A-Z a-z 0-9 _ . -)");
    char longname[200];
    snprintf(longname, sizeof(longname),
             "{\"functions\": [{\"name\": \"%065d\", \"type\": \"http\"}]}", 0);
    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(load_json(longname, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "is not a valid name"));
    snprintf(longname, sizeof(longname),
             "{\"functions\": [{\"name\": \"%064d\", \"type\": \"http\"}]}", 0);
    assert_int_equal(load_json(longname, &cfg, &err), 0);
    sl_config_release(&cfg);
    expect_json_error("{\"dlqs\": [{\"name\": \"default\", \"type\": \"sqlite\"}]}",
                      "config.yaml: dlqs[0].name: \"default\" is reserved for the built-in SQLite "
                      "dead-letter queue");
    expect_json_error("{\"dlqs\": [{\"name\": \"d\", \"type\": \"\"}]}",
                      "config.yaml: dlqs[0].type: \"\" is not a valid type name");
    expect_json_error("{\"server\": {\"listen\": \"8080\"}}",
                      "config.yaml: server.listen: \"8080\" is not host:port (e.g. "
                      "127.0.0.1:8080)");
    expect_json_error("{\"admin\": {\"listen\": \"localhost:99999\"}}",
                      "config.yaml: admin.listen: \"localhost:99999\" is not host:port (e.g. "
                      "127.0.0.1:8080)");
    /* No sources at all. */
    expect_json_error("{\"functions\": [{\"name\": \"f\", \"type\": \"http\"}], \"mappings\": "
                      "[{\"name\": \"m\", \"source\": \"s\", \"function\": \"f\"}]}",
                      "config.yaml: mappings[0].source: \"s\" is not a defined source (defined: "
                      "none)");
}

static void test_secrets_not_printed(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(load_yaml("admin:\n  token: [hunter2]\n", &cfg, &err), SL_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));
    assert_non_null(strstr(err.msg, "admin.token: expected a string, got a list"));
}

/* ---- YAML specifics ----------------------------------------------------------------------- */

static void test_yaml_rejects(void **state)
{
    (void)state;
    expect_yaml_error("base: &b {a: 1}\nlog: *b\n",
                      "config.yaml:1: base: YAML anchors (&b) and aliases are not supported: "
                      "repeat the value");
    expect_yaml_error("log:\n  level: *lvl\n",
                      "config.yaml:2: log.level: YAML aliases (*lvl) and anchors are not "
                      "supported: repeat the value");
    expect_yaml_error("log:\n  level: &x info\n",
                      "config.yaml:2: log.level: YAML anchors (&x) and aliases are not "
                      "supported: repeat the value");
    expect_yaml_error("server:\n  listen: a:1\n  listen: b:2\n",
                      "config.yaml:3: server.listen: duplicate key");
    expect_yaml_error("log: {}\nlog: {}\n", "config.yaml:2: log: duplicate key");
    expect_yaml_error("log: {}\n---\nlog: {}\n",
                      "config.yaml:2: only one YAML document is allowed");
    expect_yaml_error("- a\n- b\n", "config.yaml: the top level must be a mapping, not a list");
    expect_yaml_error("just text\n", "config.yaml: the top level must be a mapping, not a string");
    expect_yaml_error("? [a, b]\n: c\n", "config.yaml:1: a key must be a plain value, not a list");
    expect_yaml_error_has("log:\n  level: [unclosed\n", "config.yaml:3: YAML syntax error: ");
    expect_yaml_error_has("log:\n\tlevel: info\n", "YAML syntax error");
    expect_yaml_error_has("a: \"x\\0y\"\nb: 1\n", "config.yaml:1: a: unknown key");
    expect_yaml_error_has("\"a\\0\": 1\n", "key contains a NUL character");
    /* Invalid UTF-8 input bytes. */
    expect_yaml_error_has("log:\n  instance: \xc3\x28\n", "YAML syntax error");
}

static void test_yaml_nulls(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    /* Plain null, ~ and empty mean "not set": defaults apply. */
    assert_int_equal(
        load_yaml("log:\n  level: ~\n  format:\n  instance: null\nstore: ~\n", &cfg, &err), 0);
    assert_int_equal(cfg.log.level, SL_CFG_LOG_INFO);
    assert_string_equal(cfg.log.instance, "sluice");
    assert_string_equal(cfg.store.dir, "./var/sluice");
    sl_config_release(&cfg);
    /* Quoted, they are strings. */
    assert_int_equal(load_yaml("log:\n  instance: '~'\nstore:\n  dir: \"\"\n", &cfg, &err), 0);
    assert_string_equal(cfg.log.instance, "~");
    assert_string_equal(cfg.store.dir, "");
    sl_config_release(&cfg);
    /* Required keys cannot be null. */
    expect_yaml_error("sources:\n  - name:\n    type: http\n",
                      "config.yaml:2: sources[0].name: missing required key");
}

/* ---- interpolation ------------------------------------------------------------------------ */

static void test_env(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    setenv("SL_TEST_DIR", "/data", 1);
    setenv("SL_TEST_EMPTY", "", 1);
    unsetenv("SL_TEST_UNSET");
    assert_int_equal(load_yaml("store:\n"
                               "  dir: ${SL_TEST_DIR}/sluice-${SL_TEST_UNSET:-x}\n"
                               "log:\n"
                               "  instance: \"a$${SL_TEST_DIR}b$c$${\"\n"
                               "admin:\n"
                               "  token: ${SL_TEST_EMPTY:-fallback}\n"
                               "server:\n"
                               "  listen: \"${SL_TEST_EMPTY}127.0.0.1:${SL_TEST_UNSET:-}80\"\n",
                               &cfg, &err),
                     0);
    assert_string_equal(cfg.store.dir, "/data/sluice-x");
    assert_string_equal(cfg.log.instance, "a${SL_TEST_DIR}b$c${");
    assert_string_equal(cfg.admin.token, "fallback");
    assert_string_equal(cfg.server.listen, "127.0.0.1:80");
    sl_config_release(&cfg);

    /* Interpolated values are converted like any other value, and in typed sections too. */
    setenv("SL_TEST_N", "7", 1);
    assert_int_equal(load_json("{\"store\": {\"commit_max_batch\": \"${SL_TEST_N}\"},"
                               " \"sources\": [{\"name\": \"s\", \"type\": \"http\","
                               " \"token\": \"${SL_TEST_DIR}\"}]}",
                               &cfg, &err),
                     0);
    assert_int_equal(cfg.store.commit_max_batch, 7);
    assert_string_equal(json_string_value(json_object_get(
                            SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0)->raw, "token")),
                        "/data");
    sl_config_release(&cfg);

    expect_json_error("{\"sources\": [{\"name\": \"s\", \"type\": \"http\", \"hdr\": [\"a\", "
                      "\"${SL_TEST_UNSET}\"]}]}",
                      "config.yaml: sources[0].hdr[1]: environment variable SL_TEST_UNSET is not "
                      "set (use ${SL_TEST_UNSET:-default} for a default)");
    expect_yaml_error("admin:\n  token: ${SL_TEST_UNSET}\n",
                      "config.yaml:2: admin.token: environment variable SL_TEST_UNSET is not set "
                      "(use ${SL_TEST_UNSET:-default} for a default)");
    expect_json_error("{\"log\": {\"instance\": \"${SL_TEST_DIR\"}}",
                      "config.yaml: log.instance: unterminated \"${\" (close it with '}', or "
                      "write $${ for a literal ${)");
    expect_json_error("{\"log\": {\"instance\": \"${1X}\"}}",
                      "config.yaml: log.instance: \"${1X}\" is not a valid reference (use "
                      "${NAME} or ${NAME:-default}; $${ for a literal ${)");
    expect_json_error("{\"log\": {\"instance\": \"${}\"}}",
                      "config.yaml: log.instance: \"${}\" is not a valid reference (use ${NAME} "
                      "or ${NAME:-default}; $${ for a literal ${)");
    /* The value of an environment variable is never interpolated again. */
    setenv("SL_TEST_NESTED", "${SL_TEST_UNSET}", 1);
    assert_int_equal(load_json("{\"log\": {\"instance\": \"${SL_TEST_NESTED}\"}}", &cfg, &err), 0);
    assert_string_equal(cfg.log.instance, "${SL_TEST_UNSET}");
    sl_config_release(&cfg);
    /* Growing past the string limit is an error. */
    char *big = malloc(40000);
    memset(big, 'x', 39999);
    big[39999] = '\0';
    setenv("SL_TEST_BIG", big, 1);
    free(big);
    expect_json_error("{\"log\": {\"instance\": \"${SL_TEST_BIG}${SL_TEST_BIG}\"}}",
                      "config.yaml: log.instance: value is longer than 65536 bytes after ${VAR} "
                      "interpolation");
    unsetenv("SL_TEST_BIG");
}

/* ---- limits ------------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    /* File size. */
    size_t n = SL_CONFIG_MAX_FILE_BYTES + 1;
    char *text = malloc(n);
    memset(text, '#', n);
    assert_int_equal(sl_config_load_text(text, n, false, "big.yaml", &cfg, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "big.yaml: larger than the limit of 4194304 bytes");
    assert_int_equal(sl_config_load_text(text, n, true, "big.json", &cfg, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "big.json: larger than the limit of 4194304 bytes");
    /* Just under the limit is fine (a comment-only YAML file). */
    text[0] = '#';
    text[n - 2] = '\n';
    assert_int_equal(sl_config_load_text(text, n - 1, false, "ok.yaml", &cfg, &err), 0);
    sl_config_release(&cfg);
    free(text);

    /* Depth: 32 levels are allowed (root + 31), 33 are not; deep input never crashes. */
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "sources: [{name: s, type: t, x: ");
    for (int i = 0; i < 29; i++) /* root, sources, the item: 3 levels */
        sl_buf_putc(&b, '[');
    for (int i = 0; i < 29; i++)
        sl_buf_putc(&b, ']');
    sl_buf_puts(&b, "}]\n");
    if (load_yaml(b.data, &cfg, &err) != 0)
        fail_msg("32 levels: %s", err.msg);
    sl_config_release(&cfg);
    sl_buf_reset(&b);
    sl_buf_puts(&b, "sources: [{name: s, type: t, x: ");
    for (int i = 0; i < 30; i++)
        sl_buf_putc(&b, '[');
    for (int i = 0; i < 30; i++)
        sl_buf_putc(&b, ']');
    sl_buf_puts(&b, "}]\n");
    expect_yaml_error_has(b.data, "nested deeper than 32 levels");
    sl_buf_reset(&b);
    for (int i = 0; i < 100000; i++)
        sl_buf_puts(&b, "[");
    expect_yaml_error_has(b.data, "config.yaml:1: ");
    sl_buf_reset(&b);
    sl_buf_puts(&b, "{\"sources\": [{\"name\": \"s\", \"type\": \"t\", \"x\": ");
    for (int i = 0; i < 31; i++)
        sl_buf_putc(&b, '[');
    for (int i = 0; i < 31; i++)
        sl_buf_putc(&b, ']');
    sl_buf_puts(&b, "}]}");
    assert_int_equal(load_json(b.data, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "nested deeper than 32 levels"));
    sl_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        sl_buf_puts(&b, "{\"a\":");
    assert_int_equal(load_json(b.data, &cfg, &err), SL_ECONFIG);

    /* String length, for values and keys, YAML and JSON. */
    sl_buf_reset(&b);
    sl_buf_puts(&b, "log:\n  instance: ");
    for (unsigned i = 0; i < SL_CONFIG_MAX_STRING_BYTES + 1; i++)
        sl_buf_putc(&b, 'x');
    sl_buf_putc(&b, '\n');
    expect_yaml_error(b.data, "config.yaml:2: log.instance: value is longer than 65536 bytes");
    sl_buf_reset(&b);
    sl_buf_puts(&b, "log:\n  ? ");
    for (unsigned i = 0; i < SL_CONFIG_MAX_STRING_BYTES + 1; i++)
        sl_buf_putc(&b, 'k');
    sl_buf_puts(&b, "\n  : 1\n");
    expect_yaml_error_has(b.data, "key is longer than 65536 bytes");
    sl_buf_reset(&b);
    sl_buf_puts(&b, "{\"log\": {\"instance\": \"");
    for (unsigned i = 0; i < SL_CONFIG_MAX_STRING_BYTES + 1; i++)
        sl_buf_putc(&b, 'x');
    sl_buf_puts(&b, "\"}}");
    expect_json_error(b.data, "config.yaml: log.instance: value is longer than 65536 bytes");
    /* Exactly at the limit is accepted. */
    sl_buf_reset(&b);
    sl_buf_puts(&b, "log:\n  instance: ");
    for (unsigned i = 0; i < SL_CONFIG_MAX_STRING_BYTES; i++)
        sl_buf_putc(&b, 'x');
    sl_buf_putc(&b, '\n');
    assert_int_equal(load_yaml(b.data, &cfg, &err), 0);
    assert_int_equal(strlen(cfg.log.instance), SL_CONFIG_MAX_STRING_BYTES);
    sl_config_release(&cfg);
    sl_buf_release(&b);
}

static void test_json_specifics(void **state)
{
    (void)state;
    expect_json_error("{\"log\": {}, \"log\": {}}",
                      "config.yaml:1: JSON syntax error: duplicate object key near '\"log\"'");
    static const char *const bad[] = {"{\"log\": ", "", "nul\x01", "{\"a\": 1,}", "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_config cfg;
        struct sl_err err;
        assert_int_equal(load_json(bad[i], &cfg, &err), SL_ECONFIG);
        if (strncmp(err.msg, "config.yaml:1: JSON syntax error: ", 34) != 0)
            fail_msg("%s", err.msg);
    }
    expect_json_error("{\"log\": {\"instance\": \"a\\u0000b\"}}",
                      "config.yaml:1: JSON syntax error: \\u0000 is not allowed without "
                      "JSON_ALLOW_NUL near '\"a\\u0000b\"'");
}

/* ---- files -------------------------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_files(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sl_config_test.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char yaml[128], json[128], missing[128];
    snprintf(yaml, sizeof(yaml), "%s/c.yaml", tmpdir);
    snprintf(json, sizeof(json), "%s/c.json", tmpdir);
    snprintf(missing, sizeof(missing), "%s/missing.yaml", tmpdir);
    write_file(yaml, full_yaml);
    write_file(json, full_json);

    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(sl_config_load(yaml, &cfg, &err), 0);
    check_full(&cfg);
    assert_string_equal(cfg.file, yaml);
    sl_config_release(&cfg);
    assert_int_equal(sl_config_load(json, &cfg, &err), 0);
    check_full(&cfg);
    sl_config_release(&cfg);

    /* A ".json" file is parsed as JSON: YAML text in it is a JSON error. */
    write_file(json, "log: {}\n");
    assert_int_equal(sl_config_load(json, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "JSON syntax error"));
    char expect[256];
    snprintf(expect, sizeof(expect), "%s: mappings[0].source: missing required key", json);
    write_file(json, "{\"mappings\": [{\"name\": \"m\", \"function\": \"f\"}]}");
    assert_int_equal(sl_config_load(json, &cfg, &err), SL_ECONFIG);
    assert_string_equal(err.msg, expect);

    assert_int_equal(sl_config_load(missing, &cfg, &err), SL_ECONFIG);
    snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory", missing);
    assert_string_equal(err.msg, expect);
    assert_int_equal(sl_config_load(tmpdir, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "is a directory"));
    assert_int_equal(sl_config_load(NULL, &cfg, &err), SL_ECONFIG);

    unlink(yaml);
    unlink(json);
    rmdir(tmpdir);
}

/* config/examples: the test finds the source tree through SLUICE_SRC, or this file's path. */
static void source_dir(char *out, size_t cap)
{
    const char *env = getenv("SLUICE_SRC");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    snprintf(out, cap, "%s", __FILE__);
    char *p = strstr(out, "/tests/unit/config/");
    if (!p)
        fail_msg("SLUICE_SRC is not set and the source tree cannot be found from %s", __FILE__);
    *p = '\0';
}

/* sluice validate's loader: every error (bind, unknown keys, cross-checks, a typed section's
 * keys), each with its line and key path, in file order; --no-env skips what needs a ${VAR}. */
static void test_collect_every_error_with_lines(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl_config_diags.XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    write_file(path, "server:\n"                        /* 1 */
                     "  listen: 127.0.0.1:9000\n"       /* 2 */
                     "admin:\n"                         /* 3 */
                     "  listen: 127.0.0.1:9000\n"       /* 4 */
                     "functions:\n"                     /* 5 */
                     "  - name: fn\n"                   /* 6 */
                     "    type: http\n"                 /* 7 */
                     "    url: ${SL_DIAGS_UNSET_URL}\n" /* 8 */
                     "sources:\n"                       /* 9 */
                     "  - {name: s, type: http}\n"      /* 10 */
                     "mappings:\n"                      /* 11 */
                     "  - name: m\n"                    /* 12 */
                     "    colour: blue\n"               /* 13 */
                     "    source: nope\n"               /* 14 */
                     "    function: fn\n"               /* 15 */
                     "    retry: {max_attempts: 0}\n"); /* 16 */
    unsetenv("SL_DIAGS_UNSET_URL");
    struct sl_cfg_diags d;
    sl_cfg_diags_init(&d);
    struct sl_config_opts o = {.diags = &d};
    struct sl_config cfg;
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(sl_config_load_opts(path, &o, &cfg, &err), SL_ECONFIG);
    /* The typed section's keys, as the app binds them. */
    const struct sl_prop_table t = {.name = "t", .props = NULL, .nprops = 0, .struct_size = 1};
    char dummy;
    assert_int_equal(sl_config_bind_typed(&cfg, SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0),
                                          &t, &dummy, &err),
                     0);
    sl_cfg_diags_finish(&d, path, cfg.lines);
    static const struct {
        long line;
        const char *path;
    } want[] = {
        {4, "admin.listen"},
        {8, "functions[0].url"},
        {13, "mappings[0].colour"},
        {14, "mappings[0].source"},
        {16, "mappings[0].retry.max_attempts"},
    };
    assert_int_equal(d.n, sizeof(want) / sizeof(want[0]));
    assert_int_equal(d.errors, d.n);
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(d.v[i].line, want[i].line);
        assert_string_equal(d.v[i].path, want[i].path);
        char head[256];
        snprintf(head, sizeof(head), "%s:%ld: %s: ", path, want[i].line, want[i].path);
        assert_memory_equal(d.v[i].msg, head, strlen(head));
    }
    assert_non_null(strstr(d.v[1].text, "SL_DIAGS_UNSET_URL"));
    sl_config_release(&cfg);
    sl_cfg_diags_release(&d);

    /* --no-env: the unset ${VAR} is not an error, the others stay. */
    sl_cfg_diags_init(&d);
    o = (struct sl_config_opts){.diags = &d, .no_env = true};
    assert_int_equal(sl_config_load_opts(path, &o, &cfg, &err), SL_ECONFIG);
    sl_cfg_diags_finish(&d, path, cfg.lines);
    assert_int_equal(d.n, 4);
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.v[i].msg, "SL_DIAGS_UNSET_URL"));
    sl_config_release(&cfg);
    sl_cfg_diags_release(&d);

    /* Without diags, the first error only, and nothing left to release. */
    assert_int_equal(sl_config_load(path, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, ":8: functions[0].url"));
    unlink(path);
    rmdir(dir);
}

static void test_examples(void **state)
{
    (void)state;
    char src[1024], dir[1100];
    source_dir(src, sizeof(src));
    snprintf(dir, sizeof(dir), "%s/config/examples", src);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (set SLUICE_SRC to the source tree)", dir);
    setenv("SLUICE_ADMIN_TOKEN", "example-token", 1);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 ||
            (strcmp(e->d_name + n - 5, ".yaml") != 0 && strcmp(e->d_name + n - 5, ".json") != 0))
            continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct sl_config cfg;
        struct sl_err err;
        if (sl_config_load(path, &cfg, &err) != 0)
            fail_msg("%s", err.msg);
        assert_true(cfg.mappings.n > 0);
        sl_config_release(&cfg);
        count++;
    }
    closedir(d);
    assert_true(count >= 4);

    char path[1200];
    struct sl_config cfg;
    struct sl_err err;
    snprintf(path, sizeof(path), "%s/quickstart.yaml", dir);
    assert_int_equal(sl_config_load(path, &cfg, &err), 0);
    const struct sl_cfg_mapping *m = sl_config_mapping(&cfg, "demo-hook-to-demo");
    assert_non_null(m);
    assert_string_equal(m->source, "demo-hook");
    assert_string_equal(m->function, "demo");
    assert_int_equal(m->batch.size, 10);
    assert_int_equal(m->batch.window_ms, 1000);
    assert_int_equal(m->retry.max_attempts, 3);
    assert_int_equal(m->retry.backoff.min_ms, 200);
    assert_int_equal(m->retry.backoff.max_ms, 2000);
    assert_true(m->retry.bisect_on_error);
    assert_true(m->retry.report_batch_item_failures);
    /* "./var/sluice" is read from the folder of the file. */
    char *real = realpath(dir, NULL), want[1400];
    snprintf(want, sizeof(want), "%s/var/sluice", real);
    assert_string_equal(cfg.store.dir, want);
    free(real);
    const struct sl_cfg_typed *s = sl_config_find(&cfg.sources, "demo-hook");
    assert_string_equal(s->type, "http");
    const struct sl_cfg_typed *f = sl_config_find(&cfg.functions, "demo");
    assert_string_equal(f->type, "http");
    assert_string_equal(json_string_value(json_object_get(f->raw, "url")),
                        "http://127.0.0.1:9090/invoke");
    sl_config_release(&cfg);

    snprintf(path, sizeof(path), "%s/admin-token.yaml", dir);
    assert_int_equal(sl_config_load(path, &cfg, &err), 0);
    assert_string_equal(cfg.admin.token, "example-token");
    sl_config_release(&cfg);
    unsetenv("SLUICE_ADMIN_TOKEN");
    assert_int_equal(sl_config_load(path, &cfg, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "admin.token: environment variable SLUICE_ADMIN_TOKEN is not "
                                    "set"));
}

/* Relative paths in a config file are read from the file's folder, whatever the working
 * directory: store.dir (also its default), and every key flagged SL_PROP_PATH in a typed
 * section. Text loaded from memory keeps them as written. */
static void test_relative_paths(void **state)
{
    (void)state;
    char top[64] = "/tmp/sl_config_paths.XXXXXX", sub[128], file[160], cwd[4096];
    assert_non_null(mkdtemp(top));
    char *real = realpath(top, NULL); /* /tmp may be a link */
    snprintf(sub, sizeof(sub), "%s/conf", top);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(file, sizeof(file), "%s/s.yaml", sub);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    char want[1024];

    struct {
        const char *yaml;
        const char *dir; /* expected store.dir below the folder ("" for the folder itself) */
    } cases[] = {
        {"store: {dir: ./data}\n", "/data"},
        {"store: {dir: data/x}\n", "/data/x"},
        {"store: {dir: ././data}\n", "/data"},
        {"store: {dir: ../data}\n", "/../data"},
        {"store: {dir: .}\n", ""},
        {"{}\n", "/var/sluice"}, /* the default, ./var/sluice */
        {"store: {dir: \"${SL_TEST_STORE_DIR}\"}\n", "/from-env"},
    };
    setenv("SL_TEST_STORE_DIR", "from-env", 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(file, cases[i].yaml);
        /* From the root, from the folder itself (a bare file name), from elsewhere. */
        const char *from[] = {"/", sub, top};
        const char *as[] = {file, "s.yaml", "conf/s.yaml"};
        for (size_t k = 0; k < 3; k++) {
            assert_int_equal(chdir(from[k]), 0);
            struct sl_config cfg;
            struct sl_err err;
            if (sl_config_load(as[k], &cfg, &err) != 0)
                fail_msg("%s: %s", as[k], err.msg);
            snprintf(want, sizeof(want), "%s/conf", real);
            assert_string_equal(cfg.dir, want);
            snprintf(want, sizeof(want), "%s/conf%s", real, cases[i].dir);
            assert_string_equal(cfg.store.dir, want);
            sl_config_release(&cfg);
        }
    }
    unsetenv("SL_TEST_STORE_DIR");
    assert_int_equal(chdir(cwd), 0);

    /* Absolute paths stay as they are. */
    write_file(file, "store: {dir: /srv/sluice/data}\n");
    struct sl_config cfg;
    struct sl_err err;
    assert_int_equal(sl_config_load(file, &cfg, &err), 0);
    assert_string_equal(cfg.store.dir, "/srv/sluice/data");

    /* A typed section's path keys: relative to the same folder. */
    struct path_conf {
        char *sock;
        char *name;
    } pc;
    static const struct sl_prop props[] = {
        {.name = "sock",
         .type = SL_PROP_STRING,
         .offset = offsetof(struct path_conf, sock),
         .flags = SL_PROP_PATH,
         .desc = "a path"},
        {.name = "label",
         .type = SL_PROP_STRING,
         .offset = offsetof(struct path_conf, name),
         .desc = "not a path"},
    };
    static const struct sl_prop_table table = {
        .name = "t", .props = props, .nprops = 2, .struct_size = sizeof(struct path_conf)};
    struct sl_cfg_typed sec = {.name = "s", .type = "x", .path = "sources[0]"};
    sec.raw = json_pack("{s:s, s:s}", "sock", "run/redis.sock", "label", "run/x");
    assert_int_equal(sl_config_bind_typed(&cfg, &sec, &table, &pc, &err), 0);
    snprintf(want, sizeof(want), "%s/conf/run/redis.sock", real);
    assert_string_equal(pc.sock, want);
    assert_string_equal(pc.name, "run/x");
    sl_props_release(&table, &pc);
    char *p = sl_config_path(&cfg, "/abs/file.pem");
    assert_string_equal(p, "/abs/file.pem");
    free(p);
    p = sl_config_path(&cfg, "certs/ca.pem");
    snprintf(want, sizeof(want), "%s/conf/certs/ca.pem", real);
    assert_string_equal(p, want);
    free(p);
    sl_config_release(&cfg);

    /* Text from memory has no folder: paths are kept as written. */
    assert_int_equal(load_yaml("store: {dir: ./data}\n", &cfg, &err), 0);
    assert_null(cfg.dir);
    assert_string_equal(cfg.store.dir, "./data");
    assert_int_equal(sl_config_bind_typed(&cfg, &sec, &table, &pc, &err), 0);
    assert_string_equal(pc.sock, "run/redis.sock");
    sl_props_release(&table, &pc);
    sl_config_release(&cfg);
    json_decref(sec.raw);

    unlink(file);
    rmdir(sub);
    rmdir(top);
    free(real);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_configs),
        cmocka_unit_test(test_yaml_json_equivalence),
        cmocka_unit_test(test_bind_typed),
        cmocka_unit_test(test_error_formats),
        cmocka_unit_test(test_line_numbers),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_secrets_not_printed),
        cmocka_unit_test(test_yaml_rejects),
        cmocka_unit_test(test_yaml_nulls),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_json_specifics),
        cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_collect_every_error_with_lines),
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_relative_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
