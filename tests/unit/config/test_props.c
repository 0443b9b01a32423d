/* Property tables: every type, defaults, bounds, unknown keys, errors, secrets, docs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/props.h"

struct inner {
    int64_t n;
    char *s;
};

struct rec {
    char *str;
    int64_t i;
    bool b;
    double f;
    int64_t dur;
    uint64_t size;
    int e;
    struct sl_strlist sl;
    struct sl_intlist il;
    struct sl_strmap sm;
    struct inner obj;
    struct sl_objlist ol;
    json_t *js;
    int64_t pin;
    char *req;
};

static const char *const colors[] = {"red", "green", "blue", NULL};
static const char *const tolerated[] = {"extra", NULL};

static const struct sl_prop inner_props[] = {
    {.name = "n",
     .type = SL_PROP_INT,
     .offset = offsetof(struct inner, n),
     .def = "7",
     .min = 1,
     .max = 9,
     .desc = "A digit."},
    {.name = "s", .type = SL_PROP_STRING, .offset = offsetof(struct inner, s), .desc = "Text."},
};

static const struct sl_prop_table inner_table = {
    .name = "inner",
    .desc = "Nested.",
    .props = inner_props,
    .nprops = sizeof(inner_props) / sizeof(inner_props[0]),
    .struct_size = sizeof(struct inner),
};

static const struct sl_prop rec_props[] = {
    {.name = "str", .type = SL_PROP_STRING, .offset = offsetof(struct rec, str), .def = "hello"},
    {.name = "i",
     .type = SL_PROP_INT,
     .offset = offsetof(struct rec, i),
     .def = "10",
     .min = 1,
     .max = 1000,
     .desc = "An int | with a pipe."},
    {.name = "b", .type = SL_PROP_BOOL, .offset = offsetof(struct rec, b), .def = "yes"},
    {.name = "f",
     .type = SL_PROP_FLOAT,
     .offset = offsetof(struct rec, f),
     .def = "2.5",
     .min = 1,
     .max = 10},
    {.name = "dur",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct rec, dur),
     .def = "30s",
     .min = 0,
     .max = 300000},
    {.name = "size",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct rec, size),
     .def = "64KiB",
     .min = 1024,
     .max = 64 * 1024 * 1024},
    {.name = "e",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct rec, e),
     .def = "green",
     .enum_values = colors},
    {.name = "sl",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct rec, sl),
     .def = "[\"a\"]"},
    {.name = "il",
     .type = SL_PROP_INT_LIST,
     .offset = offsetof(struct rec, il),
     .min = 400,
     .max = 599},
    {.name = "sm", .type = SL_PROP_STRING_MAP, .offset = offsetof(struct rec, sm)},
    {.name = "obj",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct rec, obj),
     .sub = &inner_table},
    {.name = "ol",
     .type = SL_PROP_OBJECT_LIST,
     .offset = offsetof(struct rec, ol),
     .sub = &inner_table},
    {.name = "js", .type = SL_PROP_JSON, .offset = offsetof(struct rec, js)},
    {.name = "pin",
     .type = SL_PROP_INT,
     .offset = offsetof(struct rec, pin),
     .min = 1000,
     .max = 9999,
     .flags = SL_PROP_SECRET,
     .desc = "A PIN."},
    {.name = "req",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct rec, req),
     .flags = SL_PROP_REQUIRED,
     .desc = "Must be there."},
};

static const struct sl_prop_table rec_table = {
    .name = "rec",
    .desc = "A test record.",
    .props = rec_props,
    .nprops = sizeof(rec_props) / sizeof(rec_props[0]),
    .struct_size = sizeof(struct rec),
    .tolerated = tolerated,
};

/* SL_PROP_INLINE: a shared table (like the Redis connection keys) whose keys are keys of every
 * table that inlines it, bound into an embedded struct. */
struct conn {
    char *host;
    int64_t port;
    char *secret;
    struct inner opts;
};

struct user {
    int64_t before;
    struct conn conn;
    char *after;
};

static const struct sl_prop conn_props[] = {
    {.name = "host",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct conn, host),
     .def = "localhost",
     .desc = "Host."},
    {.name = "port",
     .type = SL_PROP_INT,
     .offset = offsetof(struct conn, port),
     .def = "80",
     .min = 1,
     .max = 65535,
     .desc = "Port."},
    {.name = "secret",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct conn, secret),
     .flags = SL_PROP_SECRET,
     .desc = "Secret."},
    {.name = "opts",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct conn, opts),
     .sub = &inner_table,
     .desc = "Options."},
};

static const struct sl_prop_table conn_table = {
    .name = "conn",
    .desc = "Never shown: only the rows of an inlined table are.",
    .props = conn_props,
    .nprops = sizeof(conn_props) / sizeof(conn_props[0]),
    .struct_size = sizeof(struct conn),
};

static const struct sl_prop user_props[] = {
    {.name = "before",
     .type = SL_PROP_INT,
     .offset = offsetof(struct user, before),
     .def = "1",
     .desc = "First."},
    {.type = SL_PROP_INLINE, .offset = offsetof(struct user, conn), .sub = &conn_table},
    {.name = "after",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct user, after),
     .flags = SL_PROP_REQUIRED,
     .desc = "Last."},
};

static const struct sl_prop_table user_table = {
    .name = "user",
    .desc = "Inlines conn.",
    .props = user_props,
    .nprops = sizeof(user_props) / sizeof(user_props[0]),
    .struct_size = sizeof(struct user),
};

/* Binds JSON text; returns the rc and leaves the message in err. */
static int bind_text(const char *json, struct rec *r, const char *file, struct sl_err *err)
{
    json_error_t jerr;
    json_t *node = json_loads(json, JSON_ALLOW_NUL, &jerr);
    if (!node)
        fail_msg("bad test JSON: %s: %s", json, jerr.text);
    memset(r, 0xAB, sizeof(*r)); /* garbage: bind must initialise every field */
    struct sl_prop_ctx ctx = {.file = file, .path = "top"};
    sl_err_clear(err);
    int rc = sl_props_bind(&rec_table, node, r, &ctx, err);
    json_decref(node);
    return rc;
}

static void expect_error(const char *json, const char *msg)
{
    struct rec r;
    struct sl_err err;
    int rc = bind_text(json, &r, "config.yaml", &err);
    if (rc != SL_ECONFIG)
        fail_msg("expected SL_ECONFIG for %s, got %d", json, rc);
    assert_int_equal(err.code, SL_ECONFIG);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("for %s\n  expected: %s\n  got:      %s", json, msg, err.msg);
}

static void test_defaults(void **state)
{
    (void)state;
    struct rec r;
    struct sl_err err;
    assert_int_equal(bind_text("{\"req\": \"x\"}", &r, "c.yaml", &err), 0);
    assert_string_equal(r.str, "hello");
    assert_int_equal(r.i, 10);
    assert_true(r.b);
    assert_true(r.f == 2.5);
    assert_int_equal(r.dur, 30000);
    assert_int_equal(r.size, 65536);
    assert_int_equal(r.e, 1);
    assert_int_equal(r.sl.n, 1);
    assert_string_equal(r.sl.v[0], "a");
    assert_int_equal(r.il.n, 0);
    assert_int_equal(r.sm.n, 0);
    assert_int_equal(r.obj.n, 7);
    assert_null(r.obj.s);
    assert_int_equal(r.ol.n, 0);
    assert_null(r.js);
    assert_int_equal(r.pin, 0);
    assert_string_equal(r.req, "x");
    sl_props_release(&rec_table, &r);
    assert_null(r.str);
    assert_null(r.req);
    sl_props_release(&rec_table, &r); /* twice is harmless */
}

static void test_string_values(void **state)
{
    (void)state;
    struct rec r;
    struct sl_err err;
    const char *yaml_like =
        "{\"str\": \"s\", \"i\": \"42\", \"b\": \"off\", \"f\": \"1.25\", \"dur\": \"250ms\","
        " \"size\": \"6MB\", \"e\": \"blue\", \"sl\": [\"x\", \"y\"], \"il\": [\"400\", \"503\"],"
        " \"sm\": {\"K\": \"v\", \"L\": \"w\"}, \"obj\": {\"n\": \"3\", \"s\": \"t\"},"
        " \"ol\": [{\"n\": \"1\"}, {\"s\": \"q\"}], \"js\": {\"any\": [1]}, \"pin\": \"1234\","
        " \"req\": \"r\", \"extra\": {\"tolerated\": true}}";
    assert_int_equal(bind_text(yaml_like, &r, "c.yaml", &err), 0);
    assert_string_equal(r.str, "s");
    assert_int_equal(r.i, 42);
    assert_false(r.b);
    assert_true(r.f == 1.25);
    assert_int_equal(r.dur, 250);
    assert_int_equal(r.size, 6000000);
    assert_int_equal(r.e, 2);
    assert_int_equal(r.sl.n, 2);
    assert_string_equal(r.sl.v[1], "y");
    assert_int_equal(r.il.n, 2);
    assert_int_equal(r.il.v[1], 503);
    assert_true(sl_intlist_contains(&r.il, 400));
    assert_false(sl_intlist_contains(&r.il, 404));
    assert_true(sl_strlist_contains(&r.sl, "x"));
    assert_false(sl_strlist_contains(&r.sl, "z"));
    assert_string_equal(sl_strmap_get(&r.sm, "L"), "w");
    assert_null(sl_strmap_get(&r.sm, "M"));
    assert_int_equal(r.obj.n, 3);
    assert_string_equal(r.obj.s, "t");
    assert_int_equal(r.ol.n, 2);
    assert_int_equal(SL_OBJLIST_AT(r.ol, struct inner, 0)->n, 1);
    assert_null(SL_OBJLIST_AT(r.ol, struct inner, 0)->s);
    assert_int_equal(SL_OBJLIST_AT(r.ol, struct inner, 1)->n, 7);
    assert_string_equal(SL_OBJLIST_AT(r.ol, struct inner, 1)->s, "q");
    assert_true(json_is_array(json_object_get(r.js, "any")));
    assert_int_equal(r.pin, 1234);
    sl_props_release(&rec_table, &r);
}

static void test_native_json_values(void **state)
{
    (void)state;
    struct rec r;
    struct sl_err err;
    assert_int_equal(bind_text("{\"str\": 5, \"i\": 1000, \"b\": true, \"f\": 3, \"dur\": 2,"
                               " \"size\": 2048, \"il\": [599], \"req\": \"r\", \"pin\": null}",
                               &r, "c.json", &err),
                     0);
    assert_string_equal(r.str, "5");
    assert_int_equal(r.i, 1000);
    assert_true(r.b);
    assert_true(r.f == 3.0);
    assert_int_equal(r.dur, 2000); /* a bare number is seconds */
    assert_int_equal(r.size, 2048);
    assert_int_equal(r.il.v[0], 599);
    assert_int_equal(r.pin, 0); /* null is "not set" */
    sl_props_release(&rec_table, &r);
}

static void test_bool_words(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool v;
    } cases[] = {{"true", true},   {"True", true}, {"yes", true},  {"ON", true},
                 {"false", false}, {"no", false},  {"Off", false}, {"FALSE", false}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"req\": \"r\", \"b\": \"%s\"}", cases[k].text);
        struct rec r;
        struct sl_err err;
        assert_int_equal(bind_text(json, &r, "c", &err), 0);
        if (r.b != cases[k].v)
            fail_msg("%s gave %d", cases[k].text, r.b);
        sl_props_release(&rec_table, &r);
    }
    expect_error("{\"req\": \"r\", \"b\": \"maybe\"}",
                 "config.yaml: top.b: \"maybe\" is not a boolean (allowed: true, false)");
    expect_error("{\"req\": \"r\", \"b\": 1}",
                 "config.yaml: top.b: 1 is not a boolean (allowed: true, false)");
}

static void test_error_formats(void **state)
{
    (void)state;
    expect_error("{\"req\": \"r\", \"i\": \"0\"}",
                 "config.yaml: top.i: 0 is out of range (allowed: 1..1000)");
    expect_error("{\"req\": \"r\", \"i\": 1001}",
                 "config.yaml: top.i: 1001 is out of range (allowed: 1..1000)");
    expect_error("{\"req\": \"r\", \"i\": \"12a\"}",
                 "config.yaml: top.i: \"12a\" is not an integer");
    expect_error("{\"req\": \"r\", \"i\": \"1.5\"}",
                 "config.yaml: top.i: \"1.5\" is not an integer");
    expect_error("{\"req\": \"r\", \"i\": \"99999999999999999999\"}",
                 "config.yaml: top.i: \"99999999999999999999\" is not an integer");
    expect_error("{\"req\": \"r\", \"i\": \"\"}", "config.yaml: top.i: \"\" is not an integer");
    expect_error("{\"req\": \"r\", \"i\": [1]}",
                 "config.yaml: top.i: expected an integer, got a list");
    expect_error("{\"req\": \"r\", \"dur\": \"5 parsecs\"}",
                 "config.yaml: top.dur: \"5 parsecs\" is not a duration (e.g. 250ms, 30s, 1h)");
    expect_error("{\"req\": \"r\", \"dur\": \"-1s\"}",
                 "config.yaml: top.dur: \"-1s\" is not a duration (e.g. 250ms, 30s, 1h)");
    expect_error("{\"req\": \"r\", \"dur\": \"301s\"}",
                 "config.yaml: top.dur: 301s is out of range (allowed: 0..5m)");
    expect_error("{\"req\": \"r\", \"size\": \"lots\"}",
                 "config.yaml: top.size: \"lots\" is not a size (e.g. 64KB, 6MB, 1GiB)");
    expect_error("{\"req\": \"r\", \"size\": \"1000\"}",
                 "config.yaml: top.size: 1000 is out of range (allowed: 1KiB..64MiB)");
    expect_error("{\"req\": \"r\", \"f\": \"0.5\"}",
                 "config.yaml: top.f: 0.5 is out of range (allowed: 1..10)");
    expect_error("{\"req\": \"r\", \"f\": \"nan\"}", "config.yaml: top.f: \"nan\" is not a number");
    expect_error("{\"req\": \"r\", \"e\": \"Red\"}",
                 "config.yaml: top.e: \"Red\" is not allowed (allowed: red, green, blue)");
    expect_error("{\"req\": \"r\", \"e\": {}}",
                 "config.yaml: top.e: expected one of red, green, blue, got a mapping");
    expect_error("{\"req\": \"r\", \"strr\": 1}",
                 "config.yaml: top.strr: unknown key (allowed: str, i, b, f, dur, size, e, sl, "
                 "il, sm, obj, ol, js, pin, req)");
    expect_error("{\"i\": 5}", "config.yaml: top.req: missing required key");
    expect_error("{\"req\": null}", "config.yaml: top.req: missing required key");
    expect_error("{\"req\": \"r\", \"il\": [400, \"200\"]}",
                 "config.yaml: top.il[1]: 200 is out of range (allowed: 400..599)");
    expect_error("{\"req\": \"r\", \"il\": 404}",
                 "config.yaml: top.il: expected a list of integers, got a number");
    expect_error("{\"req\": \"r\", \"sl\": [\"a\", {}]}",
                 "config.yaml: top.sl[1]: expected a string, got a mapping");
    expect_error("{\"req\": \"r\", \"sl\": \"a\"}",
                 "config.yaml: top.sl: expected a list of strings, got a string");
    expect_error("{\"req\": \"r\", \"sm\": {\"K\": [1]}}",
                 "config.yaml: top.sm.K: expected a string, got a list");
    expect_error("{\"req\": \"r\", \"obj\": {\"n\": \"10\"}}",
                 "config.yaml: top.obj.n: 10 is out of range (allowed: 1..9)");
    expect_error("{\"req\": \"r\", \"obj\": {\"m\": 1}}",
                 "config.yaml: top.obj.m: unknown key (allowed: n, s)");
    expect_error("{\"req\": \"r\", \"obj\": [1]}",
                 "config.yaml: top.obj: expected a mapping, got a list");
    expect_error("{\"req\": \"r\", \"ol\": [{\"n\": 1}, 5]}",
                 "config.yaml: top.ol[1]: expected a mapping, got a number");
    expect_error("{\"req\": \"r\", \"ol\": [{\"n\": 1}, {\"n\": \"0\"}]}",
                 "config.yaml: top.ol[1].n: 0 is out of range (allowed: 1..9)");
    expect_error("{\"req\": \"r\", \"str\": \"a\\u0000b\"}",
                 "config.yaml: top.str: contains a NUL character");
}

static void test_secret_never_printed(void **state)
{
    (void)state;
    expect_error("{\"req\": \"r\", \"pin\": \"12\"}",
                 "config.yaml: top.pin: (secret) is out of range (allowed: 1000..9999)");
    expect_error("{\"req\": \"r\", \"pin\": \"hunter2\"}",
                 "config.yaml: top.pin: (secret) is not an integer");
    struct rec r;
    struct sl_err err;
    assert_int_equal(bind_text("{\"req\": \"r\", \"pin\": \"hunter2\"}", &r, "c", &err),
                     SL_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));
}

static void test_no_file_and_root_path(void **state)
{
    (void)state;
    json_t *node = json_loads("{\"req\": \"r\", \"i\": \"0\"}", 0, NULL);
    struct rec r;
    struct sl_err err;
    struct sl_prop_ctx ctx = {.file = NULL, .path = ""};
    assert_int_equal(sl_props_bind(&rec_table, node, &r, &ctx, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "i: 0 is out of range (allowed: 1..1000)");
    /* A NULL ctx works too. */
    assert_int_equal(sl_props_bind(&rec_table, node, &r, NULL, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "i: 0 is out of range (allowed: 1..1000)");
    json_decref(node);
    /* Not an object. */
    node = json_loads("[1]", 0, NULL);
    ctx.file = "f.yaml";
    assert_int_equal(sl_props_bind(&rec_table, node, &r, &ctx, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "f.yaml: expected a mapping, got a list");
    json_decref(node);
    /* NULL node: every default, but a required key is missing. */
    assert_int_equal(sl_props_bind(&rec_table, NULL, &r, &ctx, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "f.yaml: req: missing required key");
}

static void test_error_releases_partial(void **state)
{
    (void)state;
    /* Strings, lists and nested objects bound before the failing key are released (ASan's leak
     * checker fails this test otherwise). */
    struct rec r;
    struct sl_err err;
    assert_int_equal(bind_text("{\"str\": \"s\", \"sl\": [\"x\"], \"sm\": {\"a\": \"b\"},"
                               " \"obj\": {\"s\": \"t\"}, \"ol\": [{\"s\": \"u\"}],"
                               " \"js\": [1], \"pin\": \"1\", \"req\": \"r\"}",
                               &r, "c", &err),
                     SL_ECONFIG);
    assert_null(r.str);
    assert_int_equal(r.sl.n, 0);
    assert_int_equal(r.ol.n, 0);
    assert_null(r.js);
}

static void test_control_chars_in_messages(void **state)
{
    (void)state;
    expect_error("{\"req\": \"r\", \"e\": \"a\\nb\\\"c\"}",
                 "config.yaml: top.e: \"a\\x0ab\\\"c\" is not allowed (allowed: red, green, blue)");
    expect_error("{\"req\": \"r\", \"x\\ny\": 1}",
                 "config.yaml: top.x?y: unknown key (allowed: str, i, b, f, dur, size, e, sl, il, "
                 "sm, obj, ol, js, pin, req)");
    /* Long values are cut. */
    char json[512];
    snprintf(json, sizeof(json), "{\"req\": \"r\", \"e\": \"%0200d\"}", 0);
    struct rec r;
    struct sl_err err;
    assert_int_equal(bind_text(json, &r, "c", &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "...\" is not allowed"));
    assert_true(strlen(err.msg) < 200);
}

static void test_doc(void **state)
{
    (void)state;
    struct sl_buf a, b;
    sl_buf_init(&a);
    sl_buf_init(&b);
    sl_props_doc(&rec_table, "", &a);
    sl_props_doc(&rec_table, "", &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_non_null(strstr(a.data, "## rec\n\nA test record.\n\n"));
    assert_non_null(strstr(a.data, "| Key | Type | Default | Allowed | Description |\n"));
    assert_non_null(
        strstr(a.data, "| `i` | integer | `10` | 1..1000 | An int \\| with a pipe. |\n"));
    assert_non_null(strstr(a.data, "| `dur` | duration | `30s` | 0..5m |"));
    assert_non_null(strstr(a.data, "| `size` | size | `64KiB` | 1KiB..64MiB |"));
    assert_non_null(strstr(a.data, "| `e` | enum | `green` | `red`, `green`, `blue` |"));
    assert_non_null(strstr(a.data, "| `il` | list of integers | - | each 400..599 |"));
    assert_non_null(strstr(a.data, "| `req` | string | required |"));
    assert_non_null(strstr(a.data, "| `pin` | integer | - | 1000..9999 | A PIN. Secret"));
    assert_non_null(strstr(a.data, "| `ol` | list of sections |"));
    /* Nested tables come after, with their key paths. */
    char *nested = strstr(a.data, "## `obj`");
    assert_non_null(nested);
    assert_non_null(strstr(nested, "| `obj.n` | integer | `7` | 1..9 | A digit. |"));
    assert_non_null(strstr(a.data, "## `ol[]`"));
    assert_non_null(strstr(a.data, "| `ol[].s` | string |"));
    assert_true(strstr(a.data, "## `obj`") < strstr(a.data, "## `ol[]`"));
    sl_buf_release(&a);
    sl_buf_release(&b);
}

static void test_config_doc(void **state)
{
    (void)state;
    struct sl_buf a, b;
    sl_buf_init(&a);
    sl_buf_init(&b);
    sl_props_doc(&sl_config_root_table, "", &a);
    sl_props_doc(&sl_config_root_table, "", &b);
    assert_string_equal(a.data, b.data);
    assert_non_null(
        strstr(a.data, "| `mappings[].retry.max_attempts` | integer | `3` | 1..10000 |"));
    assert_non_null(strstr(a.data, "| `mappings[].batch.window` | duration | `0s` | 0..5m |"));
    assert_non_null(strstr(a.data, "| `admin.token` | string | - |  |"));
    assert_non_null(strstr(a.data, "| `admin.max_body_bytes` | size | `64KiB` | 1B..64MiB |"));
    assert_non_null(strstr(a.data, "| `shutdown.drain_timeout` | duration | `30s` | 0..10m |"));
    assert_non_null(strstr(a.data, "| `sources[].name` | string | required |"));
    /* Every key of every table has a description. */
    const char *line = a.data;
    while ((line = strstr(line, "\n| `"))) {
        const char *end = strchr(line + 1, '\n');
        assert_non_null(end);
        assert_true(end - line > 4);
        if (strncmp(end - 4, " |  |", 4) == 0 || strncmp(end - 3, "| |", 3) == 0)
            fail_msg("key without a description: %.*s", (int)(end - line), line);
        line = end;
    }
    sl_buf_release(&a);
    sl_buf_release(&b);
}

static int bind_user(const char *json, struct user *u, struct sl_err *err)
{
    json_t *node = json_loads(json, 0, NULL);
    if (!node)
        fail_msg("bad test JSON: %s", json);
    memset(u, 0xAB, sizeof(*u)); /* garbage: bind must initialise the inlined struct too */
    struct sl_prop_ctx ctx = {.file = "config.yaml", .path = "top"};
    sl_err_clear(err);
    int rc = sl_props_bind(&user_table, node, u, &ctx, err);
    json_decref(node);
    return rc;
}

static void expect_user_error(const char *json, const char *msg)
{
    struct user u;
    struct sl_err err;
    if (bind_user(json, &u, &err) != SL_ECONFIG)
        fail_msg("expected SL_ECONFIG for %s", json);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("for %s\n  expected: %s\n  got:      %s", json, msg, err.msg);
}

static void test_inline_bind(void **state)
{
    (void)state;
    struct user u;
    struct sl_err err;
    /* Defaults of the inlined rows, nested sections included. */
    assert_int_equal(bind_user("{\"after\": \"a\"}", &u, &err), 0);
    assert_int_equal(u.before, 1);
    assert_string_equal(u.conn.host, "localhost");
    assert_int_equal(u.conn.port, 80);
    assert_null(u.conn.secret);
    assert_int_equal(u.conn.opts.n, 7);
    assert_null(u.conn.opts.s);
    assert_string_equal(u.after, "a");
    sl_props_release(&user_table, &u);
    assert_null(u.conn.host);
    assert_null(u.after);

    /* The inlined keys sit at the table's own level. */
    assert_int_equal(bind_user("{\"before\": 2, \"host\": \"h\", \"port\": \"8080\", \"secret\": "
                               "\"s\", \"opts\": {\"n\": 3, \"s\": \"t\"}, \"after\": \"a\"}",
                               &u, &err),
                     0);
    assert_int_equal(u.before, 2);
    assert_string_equal(u.conn.host, "h");
    assert_int_equal(u.conn.port, 8080);
    assert_string_equal(u.conn.secret, "s");
    assert_int_equal(u.conn.opts.n, 3);
    assert_string_equal(u.conn.opts.s, "t");
    sl_props_release(&user_table, &u);
    assert_null(u.conn.secret);
    assert_null(u.conn.opts.s);
    sl_props_release(&user_table, &u); /* twice is harmless */
}

static void test_inline_errors(void **state)
{
    (void)state;
    /* Key paths have no trace of the inlined table. */
    expect_user_error("{\"after\": \"a\", \"port\": 0}",
                      "config.yaml: top.port: 0 is out of range (allowed: 1..65535)");
    expect_user_error("{\"after\": \"a\", \"opts\": {\"n\": 10}}",
                      "config.yaml: top.opts.n: 10 is out of range (allowed: 1..9)");
    expect_user_error("{\"after\": \"a\", \"secret\": [1]}",
                      "config.yaml: top.secret: expected a string, got a list");
    /* The allowed keys list the inlined ones in the inlining row's place. */
    expect_user_error("{\"after\": \"a\", \"nope\": 1}",
                      "config.yaml: top.nope: unknown key (allowed: before, host, port, secret, "
                      "opts, after)");
    expect_user_error("{\"after\": \"a\", \"conn\": {}}",
                      "config.yaml: top.conn: unknown key (allowed: before, host, port, secret, "
                      "opts, after)");
    /* A failure after the inlined rows were bound releases them (no leak under ASan). */
    expect_user_error("{\"host\": \"h\", \"opts\": {\"s\": \"t\"}}",
                      "config.yaml: top.after: missing required key");
}

static void test_inline_doc(void **state)
{
    (void)state;
    struct sl_buf md;
    sl_buf_init(&md);
    sl_props_doc(&user_table, "users[]", &md);
    const char *rows[] = {
        "| `users[].before` | integer | `1` |  | First. |\n",
        "| `users[].host` | string | `localhost` |  | Host. |\n",
        "| `users[].port` | integer | `80` | 1..65535 | Port. |\n",
        "| `users[].secret` | string | - |  | Secret. Secret: never printed",
        "| `users[].opts` | section | see below |  | Options. |\n",
        "| `users[].after` | string | required |  | Last. |\n",
    };
    /* In the table's own key table, in row order. */
    const char *at = md.data;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *found = strstr(at, rows[i]);
        if (!found)
            fail_msg("missing or out of order: %s\nin:\n%s", rows[i], md.data);
        at = found;
    }
    /* No section of its own; the inlined table's nested sections follow. */
    assert_null(strstr(md.data, "## conn"));
    assert_null(strstr(md.data, "`users[].conn"));
    assert_null(strstr(md.data, "Never shown"));
    const char *nested = strstr(md.data, "## `users[].opts`\n");
    assert_non_null(nested);
    assert_true(nested > at);
    assert_non_null(strstr(nested, "| `users[].opts.n` | integer | `7` | 1..9 | A digit. |"));
    sl_buf_release(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_string_values),
        cmocka_unit_test(test_native_json_values),
        cmocka_unit_test(test_bool_words),
        cmocka_unit_test(test_error_formats),
        cmocka_unit_test(test_secret_never_printed),
        cmocka_unit_test(test_no_file_and_root_path),
        cmocka_unit_test(test_error_releases_partial),
        cmocka_unit_test(test_control_chars_in_messages),
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_config_doc),
        cmocka_unit_test(test_inline_bind),
        cmocka_unit_test(test_inline_errors),
        cmocka_unit_test(test_inline_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
