/* sl_config_copy (the running file bound again) and sl_config_add_mapping (a mapping of the
 * ESM API joining a configuration, with the file's checks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"

static const char text[] = "sources:\n"
                           "  - {name: a, type: http}\n"
                           "  - {name: b, type: http}\n"
                           "functions:\n"
                           "  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                           "mappings:\n"
                           "  - {name: m, source: a, function: fn}\n";

static void load(struct sl_config *cfg)
{
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(sl_config_load_text(text, strlen(text), false, "c.yaml", cfg, &err), 0);
}

static void add_error(const char *json, const char *msg)
{
    struct sl_config cfg;
    struct sl_err err;
    load(&cfg);
    json_t *sec = json_loads(json, 0, NULL);
    assert_non_null(sec);
    sl_err_clear(&err);
    assert_int_equal(sl_config_add_mapping(&cfg, sec, "esm/u", &err), SL_ECONFIG);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("expected: %s\ngot:      %s", msg, err.msg);
    assert_int_equal(cfg.mappings.n, 1); /* nothing added */
    json_decref(sec);
    sl_config_release(&cfg);
}

static void test_copy_binds_the_same_file_without_added_mappings(void **state)
{
    struct sl_config cfg, copy;
    struct sl_err err;
    load(&cfg);
    json_t *sec = json_pack("{s:s, s:s, s:s, s:{s:i}}", "name", "esm-1", "source", "b", "function",
                            "fn", "batch", "size", 7);
    assert_int_equal(sl_config_add_mapping(&cfg, sec, "esm/1", &err), 0);
    json_decref(sec);
    assert_int_equal(cfg.mappings.n, 2);
    const struct sl_cfg_mapping *m = sl_config_mapping(&cfg, "esm-1");
    assert_non_null(m);
    assert_int_equal(m->batch.size, 7);
    assert_string_equal(m->path, "esm/1");
    assert_null(m->dlq);
    sl_err_clear(&err);
    assert_int_equal(sl_config_copy(&cfg, &copy, &err), 0);
    assert_int_equal(copy.mappings.n, 1);
    assert_string_equal(copy.file, "c.yaml");
    assert_string_equal(SL_OBJLIST_AT(copy.mappings, struct sl_cfg_mapping, 0)->name, "m");
    sl_config_release(&copy);
    sl_config_release(&cfg);
}

static void test_add_refuses_what_the_file_would(void **state)
{
    add_error("{\"name\":\"m\",\"source\":\"b\",\"function\":\"fn\"}",
              "esm/u: the name \"m\" is already used by mappings[0]");
    add_error("{\"name\":\"x\",\"source\":\"zz\",\"function\":\"fn\"}",
              "esm/u.source: \"zz\" is not a defined source (defined: a, b)");
    add_error("{\"name\":\"x\",\"source\":\"b\",\"function\":\"fn\",\"dlq\":\"nope\"}",
              "esm/u.dlq: \"nope\" is not a defined dlq (defined: default)");
    add_error("{\"name\":\"x\",\"source\":\"b\",\"function\":\"fn\",\"batch\":{\"size\":0}}",
              "esm/u.batch.size: 0 is out of range (allowed: 1..10000)");
    add_error("{\"name\":\"bad name\",\"source\":\"b\",\"function\":\"fn\"}",
              "esm/u: \"bad name\" is not a valid name (allowed: 1 to 64 characters of A-Z a-z 0-9 "
              "_ . -)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_binds_the_same_file_without_added_mappings),
        cmocka_unit_test(test_add_refuses_what_the_file_would),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
