/* sl_props_equal: two loaded configs compared through the property tables, as a reload does:
 * the same values written differently are equal; a difference names its key path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config/config.h"

static const char base[] = "server: {listen: '127.0.0.1:8080'}\n"
                           "functions: [{name: fn, type: http, url: 'http://x/'}]\n"
                           "sources: [{name: s, type: http}]\n"
                           "mappings:\n"
                           "  - name: m\n"
                           "    source: s\n"
                           "    function: fn\n"
                           "    batch: {size: 10, window: 1s}\n"
                           "    retry: {terminal_statuses: [400, 422]}\n";

static void load(const char *text, struct sl_config *cfg)
{
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_config_load_text(text, strlen(text), false, "c.yaml", cfg, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
}

static const struct sl_prop *row(const char *name)
{
    for (size_t i = 0; i < sl_config_root_table.nprops; i++) {
        if (strcmp(sl_config_root_table.props[i].name, name) == 0)
            return &sl_config_root_table.props[i];
    }
    fail_msg("no row %s", name);
    return NULL;
}

/* Compares mapping m of two texts; returns the differing key ("" when equal). */
static void compare(const char *a_text, const char *b_text, const char *want_key)
{
    struct sl_config a, b;
    load(a_text, &a);
    load(b_text, &b);
    char key[256] = "x";
    const struct sl_prop_table *mt = row("mappings")->sub;
    bool eq = sl_props_equal(mt, sl_config_mapping(&a, "m"), sl_config_mapping(&b, "m"),
                             "mappings[0]", key, sizeof(key));
    assert_int_equal(eq, *want_key == '\0');
    assert_string_equal(key, want_key);
    /* The whole file, through the root table. */
    eq = sl_props_equal(&sl_config_root_table, &a, &b, "", key, sizeof(key));
    assert_int_equal(eq, *want_key == '\0');
    assert_string_equal(key, want_key);
    sl_config_release(&a);
    sl_config_release(&b);
}

static void test_same_values_written_differently(void **state)
{
    char other[sizeof(base) + 64];
    strcpy(other, base);
    /* 1s is 1000ms; a default written out is the default. */
    char *w = strstr(other, "window: 1s");
    memcpy(w, "window: 1000ms}\n    retry: {terminal_statuses: [400, 422]}\n", 60);
    compare(base, other, "");
}

static void test_difference_names_key(void **state)
{
    char other[sizeof(base)];
    strcpy(other, base);
    memcpy(strstr(other, "size: 10"), "size: 11", 8);
    compare(base, other, "mappings[0].batch.size");
    strcpy(other, base);
    memcpy(strstr(other, "422"), "429", 3);
    compare(base, other, "mappings[0].retry.terminal_statuses");
    strcpy(other, base);
    memcpy(strstr(other, "8080"), "8090", 4);
    struct sl_config a, b;
    load(base, &a);
    load(other, &b);
    char key[256];
    assert_false(sl_prop_equal(row("server"), &a, &b, "", key, sizeof(key)));
    assert_string_equal(key, "server.listen");
    assert_true(sl_prop_equal(row("store"), &a, &b, "", key, sizeof(key)));
    assert_string_equal(key, "");
    sl_config_release(&a);
    sl_config_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_values_written_differently),
        cmocka_unit_test(test_difference_names_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
