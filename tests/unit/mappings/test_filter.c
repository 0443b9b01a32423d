/* Filter patterns (docs/FILTERS.md): every operator, AND/OR/$or, missing fields, arrays,
 * exists on objects, case rules, numbers, and every compile error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mappings/filter.h"
#include "mappings/filter_int.h"

/* A pattern given as JSON text (strict JSON types, as Lambda's Pattern strings) or as an object
 * (as YAML config gives it: scalars may be text standing for numbers and booleans). */
enum form { TEXT, OBJECT };

struct mcase {
    const char *pattern; /* one pattern's JSON text */
    const char *event;   /* the view */
    bool want;
};

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    return v;
}

static bool run_match(const char *pattern, const char *event, enum form form)
{
    json_t *list = json_array();
    json_array_append_new(list, form == TEXT ? json_string(pattern) : load(pattern));
    struct sl_filter *f = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_filter_compile(list, "t", &f, &err);
    if (rc < 0)
        fail_msg("pattern %s did not compile: %s", pattern, err.msg);
    assert_non_null(f);
    json_t *view = load(event);
    bool got = sl_filter_match(f, view);
    json_decref(view);
    json_decref(list);
    sl_filter_destroy(f);
    return got;
}

static void run_table(const struct mcase *t, size_t n, enum form form)
{
    for (size_t i = 0; i < n; i++) {
        bool got = run_match(t[i].pattern, t[i].event, form);
        if (got != t[i].want)
            fail_msg("case %zu (%s): pattern %s on %s: got %s, want %s", i,
                     form == TEXT ? "text" : "object", t[i].pattern, t[i].event,
                     got ? "match" : "no match", t[i].want ? "match" : "no match");
    }
}

#define RUN_BOTH(t)                                                                                \
    do {                                                                                           \
        run_table(t, sizeof(t) / sizeof(t[0]), TEXT);                                              \
        run_table(t, sizeof(t) / sizeof(t[0]), OBJECT);                                            \
    } while (0)

static void test_literals(void **state)
{
    static const struct mcase t[] = {
        {"{\"a\":[\"x\"]}", "{\"a\":\"x\"}", true},
        {"{\"a\":[\"x\"]}", "{\"a\":\"X\"}", false},
        {"{\"a\":[\"x\"]}", "{\"a\":\"xy\"}", false},
        {"{\"a\":[\"x\"]}", "{\"a\":\"\"}", false},
        {"{\"a\":[\"x\"]}", "{\"b\":\"x\"}", false},
        {"{\"a\":[\"x\"]}", "{}", false},
        {"{\"a\":[\"x\"]}", "{\"a\":null}", false},
        {"{\"a\":[\"x\",\"y\"]}", "{\"a\":\"y\"}", true},
        {"{\"a\":[\"x\",\"y\"]}", "{\"a\":\"z\"}", false},
        {"{\"a\":[\"\"]}", "{\"a\":\"\"}", true},
        {"{\"a\":[\"\"]}", "{\"a\":null}", false},
        {"{\"a\":[\"\"]}", "{}", false},
        {"{\"a\":[null]}", "{\"a\":null}", true},
        {"{\"a\":[null]}", "{}", false},
        {"{\"a\":[null]}", "{\"a\":\"\"}", false},
        {"{\"a\":[null]}", "{\"a\":\"null\"}", false},
        {"{\"a\":[true]}", "{\"a\":true}", true},
        {"{\"a\":[true]}", "{\"a\":false}", false},
        {"{\"a\":[false]}", "{\"a\":false}", true},
        {"{\"a\":[\"é€😀\"]}", "{\"a\":\"é€😀\"}", true},
        /* a string never matches an object or an array of objects */
        {"{\"a\":[\"x\"]}", "{\"a\":{\"x\":1}}", false},
        /* the view is not an object */
        {"{\"a\":[\"x\"]}", "[1]", false},
        {"{\"a\":[\"x\"]}", "\"x\"", false},
    };
    RUN_BOTH(t);
}

static void test_numbers(void **state)
{
    static const struct mcase t[] = {
        {"{\"n\":[5]}", "{\"n\":5}", true},
        {"{\"n\":[5]}", "{\"n\":5.0}", true}, /* by value (Lambda: by text) */
        {"{\"n\":[5.0]}", "{\"n\":5}", true},
        {"{\"n\":[300]}", "{\"n\":3e2}", true},
        {"{\"n\":[5]}", "{\"n\":6}", false},
        {"{\"n\":[-5]}", "{\"n\":-5}", true},
        {"{\"n\":[-5]}", "{\"n\":5}", false},
        {"{\"n\":[0]}", "{\"n\":-0.0}", true},
        {"{\"n\":[0.1]}", "{\"n\":0.1}", true},
        {"{\"n\":[9007199254740993]}", "{\"n\":9007199254740993}", true},
        {"{\"n\":[9007199254740993]}", "{\"n\":9007199254740992}", false}, /* ints exactly */
        {"{\"n\":[5]}", "{\"n\":true}", false},
        {"{\"n\":[5]}", "{\"n\":null}", false},
        {"{\"n\":[1]}", "{\"n\":true}", false},
    };
    RUN_BOTH(t);
}

/* Pattern text keeps JSON types: "5" is a string and matches only the string. */
static void test_text_types_are_strict(void **state)
{
    static const struct mcase t[] = {
        {"{\"n\":[\"5\"]}", "{\"n\":\"5\"}", true},
        {"{\"n\":[\"5\"]}", "{\"n\":5}", false},
        {"{\"n\":[5]}", "{\"n\":\"5\"}", false},
        {"{\"b\":[\"true\"]}", "{\"b\":true}", false},
        {"{\"b\":[true]}", "{\"b\":\"true\"}", false},
        {"{\"n\":[{\"anything-but\":[\"5\"]}]}", "{\"n\":5}", true},
    };
    run_table(t, sizeof(t) / sizeof(t[0]), TEXT);
}

/* Pattern objects come from YAML, where every scalar is text: text that reads as a number or
 * boolean also matches that number or boolean, and operands may be such text. */
static void test_object_scalars_are_loose(void **state)
{
    static const struct mcase t[] = {
        {"{\"n\":[\"5\"]}", "{\"n\":\"5\"}", true},
        {"{\"n\":[\"5\"]}", "{\"n\":5}", true},
        {"{\"n\":[\"5\"]}", "{\"n\":5.0}", true},
        {"{\"n\":[\"-1.5e1\"]}", "{\"n\":-15}", true},
        {"{\"n\":[\"5\"]}", "{\"n\":6}", false},
        {"{\"n\":[\"5x\"]}", "{\"n\":5}", false},
        {"{\"n\":[\"0x10\"]}", "{\"n\":16}", false},
        {"{\"n\":[\"inf\"]}", "{\"n\":1e308}", false},
        {"{\"b\":[\"true\"]}", "{\"b\":true}", true},
        {"{\"b\":[\"True\"]}", "{\"b\":true}", true},
        {"{\"b\":[\"false\"]}", "{\"b\":true}", false},
        {"{\"b\":[\"true\"]}", "{\"b\":\"true\"}", true},
        {"{\"n\":[{\"numeric\":[\">\",\"10\"]}]}", "{\"n\":11}", true},
        {"{\"n\":[{\"numeric\":[\">\",\"10\",\"<=\",\"2e1\"]}]}", "{\"n\":20}", true},
        {"{\"n\":[{\"numeric\":[\">\",\"10\",\"<=\",\"2e1\"]}]}", "{\"n\":21}", false},
        {"{\"n\":[{\"exists\":\"false\"}]}", "{}", true},
        {"{\"n\":[{\"exists\":\"true\"}]}", "{}", false},
        {"{\"n\":[{\"anything-but\":[\"5\"]}]}", "{\"n\":5}", false},
        {"{\"n\":[{\"anything-but\":\"5\"}]}", "{\"n\":6}", true},
    };
    run_table(t, sizeof(t) / sizeof(t[0]), OBJECT);
}

static void test_equals_ignore_case(void **state)
{
    static const struct mcase t[] = {
        {"{\"a\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"a\":\"ALICE\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"a\":\"Alice\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"ALICE\"}]}", "{\"a\":\"alice\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"a\":\"alic\"}", false},
        {"{\"a\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"a\":\"alices\"}", false},
        {"{\"a\":[{\"equals-ignore-case\":\"5\"}]}", "{\"a\":5}", false},
        {"{\"a\":[{\"equals-ignore-case\":\"\"}]}", "{\"a\":\"\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"ÉCOLE\"}]}", "{\"a\":\"école\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"łódź\"}]}", "{\"a\":\"ŁÓDŹ\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"αθηνα\"}]}", "{\"a\":\"ΑΘΗΝΑ\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"москва\"}]}", "{\"a\":\"МОСКВА\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"ёж\"}]}", "{\"a\":\"ЁЖ\"}", true},
        {"{\"a\":[{\"equals-ignore-case\":\"x×\"}]}", "{\"a\":\"X÷\"}", false},
        /* exact matching has no case folding */
        {"{\"a\":[\"alice\"]}", "{\"a\":\"Alice\"}", false},
    };
    RUN_BOTH(t);
}

static void test_prefix_suffix(void **state)
{
    static const struct mcase t[] = {
        {"{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"us-east-1\"}", true},
        {"{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"us-\"}", true},
        {"{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"us\"}", false},
        {"{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"US-east\"}", false},
        {"{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"eu-us-\"}", false},
        {"{\"r\":[{\"prefix\":\"1\"}]}", "{\"r\":123}", false},
        {"{\"r\":[{\"prefix\":\"\"}]}", "{\"r\":\"\"}", true},
        {"{\"r\":[{\"prefix\":\"\"}]}", "{}", false},
        {"{\"r\":[{\"prefix\":{\"equals-ignore-case\":\"US-\"}}]}", "{\"r\":\"us-east\"}", true},
        {"{\"r\":[{\"prefix\":{\"equals-ignore-case\":\"US-\"}}]}", "{\"r\":\"u\"}", false},
        {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\"a.png\"}", true},
        {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\".png\"}", true},
        {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\"a.PNG\"}", false},
        {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\"png\"}", false},
        {"{\"f\":[{\"suffix\":{\"equals-ignore-case\":\".PNG\"}}]}", "{\"f\":\"a.png\"}", true},
        {"{\"f\":[{\"suffix\":{\"equals-ignore-case\":\"É\"}}]}", "{\"f\":\"caféé\"}", true},
        /* the tail starts inside a 2-byte sequence: no match, no overread */
        {"{\"f\":[{\"suffix\":{\"equals-ignore-case\":\"aé\"}}]}", "{\"f\":\"éé\"}", false},
    };
    RUN_BOTH(t);
}

static void test_wildcard(void **state)
{
    static const struct mcase t[] = {
        {"{\"k\":[{\"wildcard\":\"a*b\"}]}", "{\"k\":\"ab\"}", true},
        {"{\"k\":[{\"wildcard\":\"a*b\"}]}", "{\"k\":\"axxb\"}", true},
        {"{\"k\":[{\"wildcard\":\"a*b\"}]}", "{\"k\":\"axxbc\"}", false},
        {"{\"k\":[{\"wildcard\":\"a*b\"}]}", "{\"k\":\"cab\"}", false},
        {"{\"k\":[{\"wildcard\":\"*\"}]}", "{\"k\":\"\"}", true},
        {"{\"k\":[{\"wildcard\":\"*\"}]}", "{\"k\":5}", false},
        {"{\"k\":[{\"wildcard\":\"dir/*/file-*.png\"}]}", "{\"k\":\"dir/x/y/file-1.png\"}", true},
        {"{\"k\":[{\"wildcard\":\"dir/*/file-*.png\"}]}", "{\"k\":\"dir/file-1.png\"}", false},
        {"{\"k\":[{\"wildcard\":\"*ab*ab*\"}]}", "{\"k\":\"xabab\"}", true},
        {"{\"k\":[{\"wildcard\":\"*ab*ab*\"}]}", "{\"k\":\"xab\"}", false},
        {"{\"k\":[{\"wildcard\":\"a*a\"}]}", "{\"k\":\"a\"}", false},
        {"{\"k\":[{\"wildcard\":\"a*a\"}]}", "{\"k\":\"aa\"}", true},
        {"{\"k\":[{\"wildcard\":\"a\\\\*b\"}]}", "{\"k\":\"a*b\"}", true},
        {"{\"k\":[{\"wildcard\":\"a\\\\*b\"}]}", "{\"k\":\"axb\"}", false},
        {"{\"k\":[{\"wildcard\":\"a\\\\\\\\*\"}]}", "{\"k\":\"a\\\\zz\"}", true},
        {"{\"k\":[{\"wildcard\":\"exact\"}]}", "{\"k\":\"exact\"}", true},
        {"{\"k\":[{\"wildcard\":\"exact\"}]}", "{\"k\":\"exactly\"}", false},
    };
    RUN_BOTH(t);
}

static void test_anything_but(void **state)
{
    static const struct mcase t[] = {
        {"{\"w\":[{\"anything-but\":[\"Raining\"]}]}", "{\"w\":\"Sunny\"}", true},
        {"{\"w\":[{\"anything-but\":[\"Raining\"]}]}", "{\"w\":\"Raining\"}", false},
        {"{\"w\":[{\"anything-but\":[\"Raining\"]}]}", "{}", false}, /* must exist */
        {"{\"w\":[{\"anything-but\":[\"Raining\"]}]}", "{\"w\":{\"x\":1}}", false},
        {"{\"w\":[{\"anything-but\":[\"Raining\"]}]}", "{\"w\":5}", true},
        {"{\"w\":[{\"anything-but\":[\"Raining\"]}]}", "{\"w\":null}", true},
        {"{\"w\":[{\"anything-but\":[\"a\",\"b\"]}]}", "{\"w\":\"b\"}", false},
        {"{\"w\":[{\"anything-but\":\"a\"}]}", "{\"w\":\"a\"}", false},
        {"{\"w\":[{\"anything-but\":\"a\"}]}", "{\"w\":\"A\"}", true},
        {"{\"w\":[{\"anything-but\":5}]}", "{\"w\":5.0}", false},
        {"{\"w\":[{\"anything-but\":[5,\"x\"]}]}", "{\"w\":6}", true},
        {"{\"w\":[{\"anything-but\":[5,\"x\"]}]}", "{\"w\":\"x\"}", false},
        {"{\"w\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}", "{\"w\":\"eu-1\"}", true},
        {"{\"w\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}", "{\"w\":\"us-1\"}", false},
        {"{\"w\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}", "{\"w\":5}", false}, /* strings */
        {"{\"w\":[{\"anything-but\":{\"suffix\":\".tmp\"}}]}", "{\"w\":\"a.txt\"}", true},
        {"{\"w\":[{\"anything-but\":{\"suffix\":\".tmp\"}}]}", "{\"w\":\"a.tmp\"}", false},
        {"{\"w\":[{\"anything-but\":{\"equals-ignore-case\":\"x\"}}]}", "{\"w\":\"X\"}", false},
        {"{\"w\":[{\"anything-but\":{\"equals-ignore-case\":[\"x\",\"y\"]}}]}", "{\"w\":\"Y\"}",
         false},
        {"{\"w\":[{\"anything-but\":{\"equals-ignore-case\":[\"x\",\"y\"]}}]}", "{\"w\":\"z\"}",
         true},
        {"{\"w\":[{\"anything-but\":{\"wildcard\":\"*.tmp\"}}]}", "{\"w\":\"a.tmp\"}", false},
        {"{\"w\":[{\"anything-but\":{\"wildcard\":[\"*.tmp\",\"~*\"]}}]}", "{\"w\":\"~a\"}", false},
        {"{\"w\":[{\"anything-but\":{\"wildcard\":[\"*.tmp\",\"~*\"]}}]}", "{\"w\":\"a\"}", true},
        /* arrays: any element that is not excluded matches (EventBridge) */
        {"{\"w\":[{\"anything-but\":\"a\"}]}", "{\"w\":[\"a\",\"b\"]}", true},
        {"{\"w\":[{\"anything-but\":\"a\"}]}", "{\"w\":[\"a\",\"a\"]}", false},
        {"{\"w\":[{\"anything-but\":\"a\"}]}", "{\"w\":[]}", false},
    };
    RUN_BOTH(t);
}

static void test_numeric(void **state)
{
    static const struct mcase t[] = {
        {"{\"p\":[{\"numeric\":[\"=\",100]}]}", "{\"p\":100}", true},
        {"{\"p\":[{\"numeric\":[\"=\",100]}]}", "{\"p\":100.0}", true},
        {"{\"p\":[{\"numeric\":[\"=\",100]}]}", "{\"p\":\"100\"}", false}, /* numbers only */
        {"{\"p\":[{\"numeric\":[\"=\",100]}]}", "{\"p\":101}", false},
        {"{\"p\":[{\"numeric\":[\"!=\",100]}]}", "{\"p\":101}", true},
        {"{\"p\":[{\"numeric\":[\"!=\",100]}]}", "{\"p\":100}", false},
        {"{\"p\":[{\"numeric\":[\"!=\",100]}]}", "{}", false},
        {"{\"p\":[{\"numeric\":[\"<\",0]}]}", "{\"p\":-0.5}", true},
        {"{\"p\":[{\"numeric\":[\"<\",0]}]}", "{\"p\":0}", false},
        {"{\"p\":[{\"numeric\":[\"<=\",0]}]}", "{\"p\":0}", true},
        {"{\"p\":[{\"numeric\":[\">\",-10]}]}", "{\"p\":-9}", true},
        {"{\"p\":[{\"numeric\":[\">\",-10]}]}", "{\"p\":-10}", false},
        {"{\"p\":[{\"numeric\":[\">=\",-10]}]}", "{\"p\":-10}", true},
        {"{\"p\":[{\"numeric\":[\">\",1.5]}]}", "{\"p\":2}", true},
        {"{\"p\":[{\"numeric\":[\">\",1.5]}]}", "{\"p\":1}", false},
        {"{\"p\":[{\"numeric\":[\">\",1]}]}", "{\"p\":1.0000001}", true},
        {"{\"p\":[{\"numeric\":[\">\",10,\"<=\",20]}]}", "{\"p\":10}", false},
        {"{\"p\":[{\"numeric\":[\">\",10,\"<=\",20]}]}", "{\"p\":10.5}", true},
        {"{\"p\":[{\"numeric\":[\">\",10,\"<=\",20]}]}", "{\"p\":20}", true},
        {"{\"p\":[{\"numeric\":[\">\",10,\"<=\",20]}]}", "{\"p\":20.01}", false},
        {"{\"p\":[{\"numeric\":[\"<\",20,\">=\",10]}]}", "{\"p\":10}", true}, /* either order */
        {"{\"p\":[{\"numeric\":[\"<\",20,\">=\",10]}]}", "{\"p\":20}", false},
        {"{\"p\":[{\"numeric\":[\">=\",5,\"<=\",5]}]}", "{\"p\":5}", true},
        {"{\"p\":[{\"numeric\":[\">\",-1e3,\"<\",-1e2]}]}", "{\"p\":-500}", true},
        {"{\"p\":[{\"numeric\":[\">\",9007199254740992]}]}", "{\"p\":9007199254740993}", true},
        {"{\"p\":[{\"numeric\":[\">\",0]}]}", "{\"p\":[-1,\"x\",3]}", true},
        {"{\"p\":[{\"numeric\":[\">\",0]}]}", "{\"p\":[-1,\"x\"]}", false},
        {"{\"p\":[{\"numeric\":[\">\",0]}]}", "{\"p\":true}", false},
    };
    RUN_BOTH(t);
}

static void test_exists(void **state)
{
    static const struct mcase t[] = {
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":\"x\"}", true},
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":null}", true},
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":\"\"}", true},
        {"{\"p\":[{\"exists\":true}]}", "{}", false},
        {"{\"p\":[{\"exists\":false}]}", "{}", true},
        {"{\"p\":[{\"exists\":false}]}", "{\"p\":0}", false},
        /* exists works on leaves only: an object value does not exist */
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":{\"q\":1}}", false},
        {"{\"p\":[{\"exists\":false}]}", "{\"p\":{\"q\":1}}", true},
        {"{\"p\":{\"q\":[{\"exists\":true}]}}", "{\"p\":{\"q\":1}}", true},
        {"{\"p\":{\"q\":[{\"exists\":true}]}}", "{\"p\":{\"q\":{}}}", false},
        /* arrays: a leaf exists when the array holds a scalar */
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":[1]}", true},
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":[]}", false},
        {"{\"p\":[{\"exists\":false}]}", "{\"p\":[]}", true},
        {"{\"p\":[{\"exists\":true}]}", "{\"p\":[{\"q\":1}]}", false},
        /* exists:false under a missing parent matches; any other matcher needs the parent */
        {"{\"p\":{\"q\":[{\"exists\":false}]}}", "{}", true},
        {"{\"p\":{\"q\":[{\"exists\":false}]}}", "{\"p\":5}", true},
        {"{\"p\":{\"q\":[{\"exists\":false}]}}", "{\"p\":{\"q\":5}}", false},
        {"{\"p\":{\"q\":[\"x\"]}}", "{}", false},
        {"{\"p\":{\"q\":[\"x\"]}}", "{\"p\":\"x\"}", false},
        /* exists ORed with a value */
        {"{\"p\":[\"x\",{\"exists\":false}]}", "{}", true},
        {"{\"p\":[\"x\",{\"exists\":false}]}", "{\"p\":\"x\"}", true},
        {"{\"p\":[\"x\",{\"exists\":false}]}", "{\"p\":\"y\"}", false},
    };
    RUN_BOTH(t);
}

static void test_and_or(void **state)
{
    static const struct mcase t[] = {
        /* fields of a pattern are ANDed */
        {"{\"l\":[\"NY\"],\"d\":[\"Mon\"]}", "{\"l\":\"NY\",\"d\":\"Mon\"}", true},
        {"{\"l\":[\"NY\"],\"d\":[\"Mon\"]}", "{\"l\":\"NY\",\"d\":\"Tue\"}", false},
        {"{\"l\":[\"NY\"],\"d\":[\"Mon\"]}", "{\"l\":\"NY\"}", false},
        /* $or */
        {"{\"$or\":[{\"l\":[\"NY\"]},{\"d\":[\"Mon\"]}]}", "{\"d\":\"Mon\"}", true},
        {"{\"$or\":[{\"l\":[\"NY\"]},{\"d\":[\"Mon\"]}]}", "{\"l\":\"NY\"}", true},
        {"{\"$or\":[{\"l\":[\"NY\"]},{\"d\":[\"Mon\"]}]}", "{\"l\":\"LA\",\"d\":\"Tue\"}", false},
        {"{\"$or\":[{\"l\":[\"NY\"]},{\"d\":[\"Mon\"]}]}", "{}", false},
        /* $or ANDed with the other fields */
        {"{\"k\":[\"a\"],\"$or\":[{\"x\":[1]},{\"y\":[2]}]}", "{\"k\":\"a\",\"y\":2}", true},
        {"{\"k\":[\"a\"],\"$or\":[{\"x\":[1]},{\"y\":[2]}]}", "{\"k\":\"b\",\"y\":2}", false},
        {"{\"k\":[\"a\"],\"$or\":[{\"x\":[1]},{\"y\":[2]}]}", "{\"k\":\"a\"}", false},
        /* $or nested in an object and inside an alternative */
        {"{\"b\":{\"$or\":[{\"c\":[1]},{\"d\":[{\"prefix\":\"z\"}]}]}}", "{\"b\":{\"d\":\"zz\"}}",
         true},
        {"{\"b\":{\"$or\":[{\"c\":[1]},{\"d\":[{\"prefix\":\"z\"}]}]}}", "{\"b\":{\"d\":\"y\"}}",
         false},
        {"{\"$or\":[{\"a\":[1]},{\"$or\":[{\"b\":[2]},{\"c\":[3]}]}]}", "{\"c\":3}", true},
        {"{\"$or\":[{\"a\":[1]},{\"$or\":[{\"b\":[2]},{\"c\":[3]}]}]}", "{\"c\":4}", false},
        /* nested objects descend */
        {"{\"body\":{\"kind\":[\"order\"]}}", "{\"body\":{\"kind\":\"order\"}}", true},
        {"{\"body\":{\"kind\":[\"order\"]}}", "{\"body\":{\"kind\":\"refund\"}}", false},
        {"{\"body\":{\"kind\":[\"order\"]}}", "{\"body\":\"{\\\"kind\\\":\\\"order\\\"}\"}", false},
        {"{\"body\":{\"kind\":[\"order\"]}}", "{\"kind\":\"order\"}", false},
        {"{\"a\":{\"b\":{\"c\":[1]}},\"a2\":[2]}", "{\"a\":{\"b\":{\"c\":1}},\"a2\":2}", true},
        /* a leaf pattern on an object value does not match */
        {"{\"body\":[\"x\"]}", "{\"body\":{\"x\":1}}", false},
        /* duplicate keys in JSON text: the last one wins (both forms see it via jansson) */
        {"{\"a\":[\"x\"],\"a\":[\"y\"]}", "{\"a\":\"y\"}", true},
        {"{\"a\":[\"x\"],\"a\":[\"y\"]}", "{\"a\":\"x\"}", false},
    };
    RUN_BOTH(t);
}

static void test_arrays(void **state)
{
    static const struct mcase t[] = {
        {"{\"t\":[\"red\"]}", "{\"t\":[\"blue\",\"red\"]}", true},
        {"{\"t\":[\"red\"]}", "{\"t\":[\"blue\",\"green\"]}", false},
        {"{\"t\":[\"red\"]}", "{\"t\":[]}", false},
        {"{\"t\":[\"red\"]}", "{\"t\":[[\"red\"]]}", true},
        {"{\"t\":[{\"prefix\":\"r\"}]}", "{\"t\":[1,null,\"rose\"]}", true},
        /* a nested pattern matches inside an array of objects, element by element */
        {"{\"items\":{\"sku\":[\"A\"]}}", "{\"items\":[{\"sku\":\"B\"},{\"sku\":\"A\"}]}", true},
        {"{\"items\":{\"sku\":[\"A\"]}}", "{\"items\":[{\"sku\":\"B\"}]}", false},
        {"{\"items\":{\"sku\":[\"A\"],\"n\":[2]}}",
         "{\"items\":[{\"sku\":\"A\",\"n\":1},{\"sku\":\"B\","
         "\"n\":2}]}",
         false},
        {"{\"items\":{\"sku\":[\"A\"],\"n\":[2]}}", "{\"items\":[{\"sku\":\"A\",\"n\":2}]}", true},
        {"{\"items\":{\"sku\":[{\"exists\":false}]}}", "{\"items\":[{\"sku\":\"A\"}]}", false},
        {"{\"items\":{\"sku\":[{\"exists\":false}]}}", "{\"items\":[1,2]}", true},
        {"{\"items\":{\"sku\":[\"A\"]}}", "{\"items\":[[{\"sku\":\"A\"}]]}", true},
    };
    RUN_BOTH(t);
}

static json_t *list_of(const char *json)
{
    return load(json);
}

static void test_patterns_are_ored(void **state)
{
    json_t *list =
        list_of("[{\"kind\":[\"order\"]}, \"{\\\"amount\\\":[{\\\"numeric\\\":[\\\">\\\",100]}]}\","
                " {\"Pattern\": \"{\\\"vip\\\":[true]}\"}]");
    struct sl_filter *f = NULL;
    struct sl_err err;
    assert_int_equal(sl_filter_compile(list, "t", &f, &err), 0);
    static const struct {
        const char *event;
        bool want;
    } t[] = {
        {"{\"kind\":\"order\",\"amount\":1}", true},
        {"{\"kind\":\"refund\",\"amount\":101}", true},
        {"{\"kind\":\"refund\",\"amount\":100}", false},
        {"{\"vip\":true}", true},
        {"{\"vip\":\"true\"}", false},
        {"{}", false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *v = load(t[i].event);
        if (sl_filter_match(f, v) != t[i].want)
            fail_msg("event %s: want %d", t[i].event, t[i].want);
        json_decref(v);
    }
    sl_filter_destroy(f);
    json_decref(list);
}

/* A view without data (a Kafka tombstone) has a null value; an empty one has "". */
static void test_view_null_vs_empty_data(void **state)
{
    static const char *const patterns[] = {"{\"value\":[null]}", "{\"value\":[\"\"]}",
                                           "{\"value\":[{\"exists\":true}]}"};
    static const bool want[][3] = {{true, false, true}, {false, true, true}};
    struct sl_buf scratch;
    sl_buf_init(&scratch);
    for (size_t i = 0; i < 3; i++) {
        json_t *list = json_array();
        json_array_append_new(list, json_string(patterns[i]));
        struct sl_filter *f = NULL;
        struct sl_err err;
        assert_int_equal(sl_filter_compile(list, "t", &f, &err), 0);
        struct sl_fview tomb = {.data_key = "value",
                                .data_flags = SL_FVIEW_DECODE_ANY | SL_FVIEW_TEXT | SL_FVIEW_NULL};
        struct sl_fview empty = {
            .data_key = "value", .data = "", .data_flags = SL_FVIEW_DECODE_ANY | SL_FVIEW_TEXT};
        if (sl_filter_match_view(f, &tomb, &scratch) != want[0][i])
            fail_msg("tombstone, pattern %s", patterns[i]);
        if (sl_filter_match_view(f, &empty, &scratch) != want[1][i])
            fail_msg("empty value, pattern %s", patterns[i]);
        json_t *v = sl_fview_json(&tomb);
        assert_true(json_is_null(json_object_get(v, "value")));
        json_decref(v);
        sl_filter_destroy(f);
        json_decref(list);
    }
    sl_buf_release(&scratch);
}

static void test_empty_and_null(void **state)
{
    struct sl_filter *f = (struct sl_filter *)1;
    struct sl_err err;
    assert_int_equal(sl_filter_compile(NULL, "t", &f, &err), 0);
    assert_null(f);
    json_t *empty = json_array();
    f = (struct sl_filter *)1;
    assert_int_equal(sl_filter_compile(empty, "t", &f, &err), 0);
    assert_null(f);
    json_decref(empty);
    json_t *null = json_null();
    assert_int_equal(sl_filter_compile(null, "t", &f, &err), 0);
    assert_null(f);
    json_t *view = json_object();
    assert_true(sl_filter_match(NULL, view));
    json_decref(view);
    sl_filter_destroy(NULL);
}

/* ---- compile errors ---- */

struct ecase {
    const char *filters; /* JSON of the whole filters value */
    const char *want;    /* the exact message */
};

static void run_errors(const struct ecase *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *list = load(t[i].filters);
        struct sl_filter *f = (struct sl_filter *)1;
        struct sl_err err;
        sl_err_clear(&err);
        int rc = sl_filter_compile(list, "config.yaml: mappings[0].filters", &f, &err);
        json_decref(list);
        if (rc != SL_ECONFIG || f != NULL)
            fail_msg("case %zu: %s compiled (rc %d)", i, t[i].filters, rc);
        if (strcmp(err.msg, t[i].want) != 0)
            fail_msg("case %zu: %s\n got: %s\nwant: %s", i, t[i].filters, err.msg, t[i].want);
    }
}

#define P "config.yaml: mappings[0].filters"

static void test_errors_structure(void **state)
{
    static const struct ecase t[] = {
        {"{\"a\":[1]}", P ": must be a list of filter patterns (objects or JSON text), got "
                          "{\"a\":[1]}"},
        {"\"x\"", P ": must be a list of filter patterns (objects or JSON text), got \"x\""},
        {"[{\"a\":[1]},{\"a\":[1]},{\"a\":[1]},{\"a\":[1]},{\"a\":[1]},{\"a\":[1]},{\"a\":[1]},"
         "{\"a\":[1]},{\"a\":[1]},{\"a\":[1]},{\"a\":[1]}]",
         P ": at most 10 filter patterns are allowed, got 11"},
        {"[{\"a\":[1]}, 42]",
         P "[1]: a filter pattern must be an object or a string of JSON text, got 42"},
        {"[null]", P "[0]: a filter pattern must be an object or a string of JSON text, got null"},
        {"[[{\"a\":[1]}]]", P "[0]: a filter pattern must be an object or a string of JSON text, "
                              "got [{\"a\":[1]}]"},
        {"[\"[1]\"]", P "[0]: a filter pattern must be a JSON object, got [1]"},
        {"[\"\\\"a\\\"\"]", P "[0]: a filter pattern must be a JSON object, got \"a\""},
        {"[\"{\\\"a\\\": [1]\"]",
         P "[0]: the pattern is not valid JSON: '}' expected near end of file (line 1, column 9)"},
        {"[{}]", P "[0]: empty pattern: name at least one field"},
        {"[\"{}\"]", P "[0]: empty pattern: name at least one field"},
        {"[{\"body\":{}}]", P "[0]: body: empty pattern object: name at least one field"},
        {"[{\"body\":{\"kind\":\"order\"}}]",
         P "[0]: body.kind: a field's value must be a list of matchers (e.g. [\"order\"]), got "
           "\"order\""},
        {"[\"{\\\"n\\\": 5}\"]",
         P "[0]: n: a field's value must be a list of matchers (e.g. [5]), got 5"},
        {"[{\"n\":null}]",
         P "[0]: n: a field's value must be a list of matchers (e.g. [null]), got null"},
        {"[{\"n\":[]}]", P "[0]: n: the list of matchers is empty"},
        {"[{\"n\":[[1]]}]", P "[0]: n[0]: a matcher is a string, a number, true, false, null or "
                              "an operator object, got [1]"},
        {"[{\"a\":[1]},{\"n\":[\"x\",{}]}]",
         P "[1]: n[1]: a matcher object holds exactly one operator, got {}"},
        {"[{\"n\":[{\"prefix\":\"a\",\"suffix\":\"b\"}]}]",
         P "[0]: n[0]: a matcher object holds exactly one operator, got "
           "{\"prefix\":\"a\",\"suffix\":\"b\"}"},
        {"[{\"n\":[{\"regex\":\"a.*\"}]}]",
         P "[0]: n[0]: unknown operator \"regex\" (allowed: equals-ignore-case, anything-but, "
           "numeric, exists, prefix, suffix, wildcard)"},
        {"[{\"$or\":{\"a\":[1]}}]", P "[0]: $or: \"$or\" needs a list of pattern objects, got "
                                      "{\"a\":[1]}"},
        {"[{\"$or\":[]}]", P "[0]: $or: \"$or\" needs a list of pattern objects, got []"},
        {"[{\"$or\":[{\"a\":[1]},\"b\"]}]",
         P "[0]: $or: \"$or\" needs a list of pattern objects, got [{\"a\":[1]},\"b\"]"},
        {"[{\"$or\":[{\"a\":[1]},{\"b\":[{\"exists\":1}]}]}]",
         P "[0]: $or[1].b[0]: \"exists\" needs true or false, got 1"},
        {"[{\"$or\":[{\"a\":[1]},{}]}]",
         P "[0]: $or[1]: empty pattern object: name at least one field"},
    };
    run_errors(t, sizeof(t) / sizeof(t[0]));
}

static void test_errors_operators(void **state)
{
    static const struct ecase t[] = {
        {"[{\"a\":[{\"numeric\":[\">\"]}]}]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got [\">\"]"},
        {"[{\"a\":[{\"numeric\":5}]}]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got 5"},
        {"[{\"a\":[{\"numeric\":[]}]}]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got []"},
        {"[\"{\\\"a\\\":[{\\\"numeric\\\":[\\\">\\\",\\\"5\\\"]}]}\"]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got [\">\",\"5\"]"},
        {"[{\"a\":[{\"numeric\":[\">\",\"five\"]}]}]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got [\">\",\"five\"]"},
        {"[{\"a\":[{\"numeric\":[5,\">\"]}]}]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got [5,\">\"]"},
        {"[{\"a\":[{\"numeric\":[\"=>\",5]}]}]",
         P "[0]: a[0]: \"numeric\": unknown comparison \"=>\" (allowed: =, !=, <, <=, >, >=)"},
        {"[{\"a\":[{\"numeric\":[\">\",1,\"<\"]}]}]",
         P "[0]: a[0]: \"numeric\" needs an operator and a number, got [\">\",1,\"<\"]"},
        {"[{\"a\":[{\"numeric\":[\">\",1,\"<\",2,\"=\"]}]}]",
         P "[0]: a[0]: \"numeric\" takes one comparison or a range of two, got "
           "[\">\",1,\"<\",2,\"=\"]"},
        {"[{\"a\":[{\"numeric\":[\">\",1,\">\",2]}]}]",
         P "[0]: a[0]: \"numeric\" range needs a lower bound (> or >=) and an upper bound (< or "
           "<=), got [\">\",1,\">\",2]"},
        {"[{\"a\":[{\"numeric\":[\"=\",1,\"<\",2]}]}]",
         P "[0]: a[0]: \"numeric\" range needs a lower bound (> or >=) and an upper bound (< or "
           "<=), got [\"=\",1,\"<\",2]"},
        {"[{\"a\":[{\"numeric\":[\">\",5,\"<\",2]}]}]",
         P "[0]: a[0]: \"numeric\" range matches no number, got [\">\",5,\"<\",2]"},
        {"[{\"a\":[{\"numeric\":[\">=\",5,\"<\",5]}]}]",
         P "[0]: a[0]: \"numeric\" range matches no number, got [\">=\",5,\"<\",5]"},
        {"[{\"a\":[{\"exists\":\"yes\"}]}]", P "[0]: a[0]: \"exists\" needs true or false, got "
                                               "\"yes\""},
        {"[\"{\\\"a\\\":[{\\\"exists\\\":\\\"true\\\"}]}\"]",
         P "[0]: a[0]: \"exists\" needs true or false, got \"true\""},
        {"[{\"a\":[{\"prefix\":5}]}]", P "[0]: a[0]: \"prefix\" needs a string (or "
                                         "{\"equals-ignore-case\": string}), got 5"},
        {"[{\"a\":[{\"suffix\":{\"wildcard\":\"x\"}}]}]",
         P "[0]: a[0]: \"suffix\" needs a string (or {\"equals-ignore-case\": string}), got "
           "{\"wildcard\":\"x\"}"},
        {"[{\"a\":[{\"equals-ignore-case\":[\"x\"]}]}]",
         P "[0]: a[0]: \"equals-ignore-case\" needs a string, got [\"x\"]"},
        {"[{\"a\":[{\"wildcard\":5}]}]", P "[0]: a[0]: \"wildcard\" needs a string, got 5"},
        {"[{\"a\":[{\"wildcard\":\"a**b\"}]}]",
         P "[0]: a[0]: \"wildcard\": consecutive '*' are not allowed, got \"a**b\""},
        {"[{\"a\":[{\"wildcard\":\"a\\\\b\"}]}]",
         P "[0]: a[0]: \"wildcard\": '\\' must be followed by '*' or '\\', got \"a\\\\b\""},
        {"[{\"a\":[{\"wildcard\":\"ab\\\\\"}]}]",
         P "[0]: a[0]: \"wildcard\": '\\' must be followed by '*' or '\\', got \"ab\\\\\""},
        {"[{\"a\":[{\"anything-but\":[]}]}]",
         P "[0]: a[0]: \"anything-but\" needs at least one value, got []"},
        {"[{\"a\":[{\"anything-but\":[null]}]}]",
         P "[0]: a[0]: \"anything-but\" needs a string, a number, a list of them, or one of "
           "{\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string}, got [null]"},
        {"[{\"a\":[{\"anything-but\":true}]}]",
         P "[0]: a[0]: \"anything-but\" needs a string, a number, a list of them, or one of "
           "{\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string}, got true"},
        {"[{\"a\":[{\"anything-but\":{\"exists\":true}}]}]",
         P "[0]: a[0]: \"anything-but\" needs a string, a number, a list of them, or one of "
           "{\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string}, got "
           "{\"exists\":true}"},
        {"[{\"a\":[{\"anything-but\":{\"prefix\":[\"x\"]}}]}]",
         P "[0]: a[0]: \"anything-but\" needs a string, a number, a list of them, or one of "
           "{\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string}, got "
           "{\"prefix\":[\"x\"]}"},
        {"[{\"a\":[{\"anything-but\":{\"equals-ignore-case\":[\"x\",1]}}]}]",
         P "[0]: a[0]: \"anything-but\" needs a string, a number, a list of them, or one of "
           "{\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string}, got "
           "{\"equals-ignore-case\":[\"x\",1]}"},
        {"[{\"a\":[{\"anything-but\":{\"equals-ignore-case\":[]}}]}]",
         P "[0]: a[0]: \"anything-but\" needs at least one value, got {\"equals-ignore-case\":[]}"},
        {"[{\"a\":[{\"anything-but\":{\"wildcard\":[\"x**\"]}}]}]",
         P "[0]: a[0]: \"wildcard\": consecutive '*' are not allowed, got \"x**\""},
    };
    run_errors(t, sizeof(t) / sizeof(t[0]));
}

static void test_errors_limits(void **state)
{
    /* nesting: 32 levels compile, 33 do not */
    char deep[512] = "";
    for (int i = 0; i < 31; i++)
        strcat(deep, "{\"a\":");
    strcat(deep, "{\"b\":[1]}");
    for (int i = 0; i < 31; i++)
        strcat(deep, "}");
    json_t *v = json_pack("[s]", deep);
    struct sl_filter *f = NULL;
    struct sl_err err;
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), 0);
    json_t *view = load(deep);
    json_t *leaf = view;
    for (int i = 0; i < 31; i++)
        leaf = json_object_get(leaf, "a");
    json_object_set_new(leaf, "b", json_integer(1));
    assert_true(sl_filter_match(f, view));
    json_decref(view);
    sl_filter_destroy(f);
    json_decref(v);

    char deeper[600];
    snprintf(deeper, sizeof(deeper), "{\"a\":%s}", deep);
    v = json_pack("[s]", deeper);
    f = (struct sl_filter *)1;
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), SL_ECONFIG);
    assert_null(f);
    assert_string_equal(err.msg,
                        "p[0]: a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
                        "a.a: the pattern is nested deeper than 32 levels");
    json_decref(v);

    /* $or counts as a level too */
    char ors[1200] = "";
    for (int i = 0; i < 32; i++)
        strcat(ors, "{\"$or\":[");
    strcat(ors, "{\"b\":[1]}");
    for (int i = 0; i < 32; i++)
        strcat(ors, "]}");
    v = json_pack("[s]", ors);
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "nested deeper than 32 levels"));
    json_decref(v);

    /* 4096 characters (not bytes) are allowed, 4097 are not, as text or as an object */
    char text[8200];
    const char *head = "{\"k\":[\"", *tail = "\"]}";
    size_t fill = 4096 - strlen(head) - strlen(tail);
    strcpy(text, head);
    for (size_t i = 0; i < fill; i++)
        strcat(text, i % 2 ? "x" : "é");
    strcat(text, tail);
    v = json_pack("[s]", text);
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), 0);
    sl_filter_destroy(f);
    json_decref(v);
    json_t *obj = load(text);
    v = json_pack("[o]", obj);
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), 0);
    sl_filter_destroy(f);
    json_decref(v);

    strcpy(text + strlen(text) - strlen(tail), "y\"]}");
    v = json_pack("[s]", text);
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), SL_ECONFIG);
    assert_string_equal(err.msg,
                        "p[0]: the pattern is 4097 characters long once encoded (at most 4096)");
    json_decref(v);
    obj = load(text);
    v = json_pack("[o, o]", load("{\"k\":[\"x\"]}"), obj);
    assert_int_equal(sl_filter_compile(v, "p", &f, &err), SL_ECONFIG);
    assert_string_equal(err.msg,
                        "p[1]: the pattern is 4097 characters long once encoded (at most 4096)");
    json_decref(v);
}

/* The in-place reader accepts exactly what jansson accepts. */
static void test_json_text_like_jansson(void **state)
{
    static const char *const texts[] = {
        "{}",
        "[]",
        " {\"a\" : [1, 2.5, -0, 1e3, true, false, null, \"x\"]} ",
        "1",
        "\"s\"",
        "-",
        "01",
        "1.",
        ".5",
        "1e",
        "+1",
        "-01",
        "0.0e+1",
        "1E-2",
        "--1",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e308",
        "1e309",
        "-1e400",
        "1e-400",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ude00\"",
        "\"\\ud83dx\"",
        "\"\\u00e9\"",
        "\"\\u0000\"",
        "{\"\\u0000\":1}",
        "{\"a\\u0000b\":1}",
        "[\"\\u0000\"]",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"a\tb\"",
        "\"\xc3\xa9\"",
        "\"\xc3\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xe0\x80\x80\"",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "[1 2]",
        "[",
        "]",
        "{\"a\":}",
        "tru",
        "nulll",
        "true false",
        "{} x",
        "\xef\xbb\xbf{}",
        "",
        "   ",
        "[\"a\",{\"b\":[{\"c\":null}]}]",
        "'a'",
        "NaN",
        "[1]\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t len = strlen(texts[i]);
        for (unsigned flags = 0; flags < 4; flags++) {
            size_t jflags = (flags & SL_JT_DECODE_ANY ? JSON_DECODE_ANY : 0) |
                            (flags & SL_JT_ALLOW_NUL ? JSON_ALLOW_NUL : 0);
            json_t *j = json_loadb(texts[i], len, jflags, NULL);
            struct sl_jv v;
            bool ok = sl_jt_validate(texts[i], len, flags, &v);
            if (ok != (j != NULL))
                fail_msg("text %zu (%s), flags %u: jansson %d, in place %d", i, texts[i], flags,
                         j != NULL, ok);
            json_decref(j);
        }
    }
    /* NUL bytes: jansson skips one right after a number or a literal, nowhere else. */
    static const struct {
        const char *t;
        size_t len;
    } nuls[] = {
        {"1\0", 2},         {"[1\0]", 4},    {"true\0 ", 6},  {"{\"a\":null\0}", 11},
        {"\"a\"\0", 4},     {"1\0\0", 3},    {"{}\0", 3},     {"{\"a\":1}\0", 8},
        {"[1\0,2]", 6},     {"1\0x", 3},     {"-1.5e3\0", 7}, {"[false\0\0]", 9},
        {"{\"a\0\":1}", 8}, {"[\"\0\"]", 5},
    };
    for (size_t i = 0; i < sizeof(nuls) / sizeof(nuls[0]); i++) {
        for (unsigned flags = 0; flags < 4; flags++) {
            size_t jflags = (flags & SL_JT_DECODE_ANY ? JSON_DECODE_ANY : 0) |
                            (flags & SL_JT_ALLOW_NUL ? JSON_ALLOW_NUL : 0);
            json_t *j = json_loadb(nuls[i].t, nuls[i].len, jflags, NULL);
            struct sl_jv v;
            bool ok = sl_jt_validate(nuls[i].t, nuls[i].len, flags, &v);
            if (ok != (j != NULL))
                fail_msg("NUL text %zu, flags %u: jansson %d, in place %d", i, flags, j != NULL,
                         ok);
            json_decref(j);
        }
    }
    /* Depth: jansson's limit is 2048 levels. */
    char deep[4200];
    for (int depth = 2047; depth <= 2049; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        json_t *j = json_loadb(deep, (size_t)depth * 2, 0, NULL);
        struct sl_jv v;
        assert_int_equal(sl_jt_validate(deep, (size_t)depth * 2, 0, &v), j != NULL);
        json_decref(j);
    }
}

/* Strings read in place decode to what jansson decodes. */
static void test_json_text_strings(void **state)
{
    const char *text =
        "{\"k\\u00e9y\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\ud83d\\ude00\\u20ac\",\"k\":1,"
        "\"k\":2}";
    struct sl_jv o, v;
    assert_true(sl_jt_validate(text, strlen(text), 0, &o));
    assert_true(sl_jt_get(&o, "k\xc3\xa9y", 4, &v));
    struct sl_jt_buf b;
    size_t n;
    const char *s = sl_jt_str(&v, &b, &n);
    json_t *j = json_loads(text, 0, NULL);
    const char *want = json_string_value(json_object_get(j, "k\xc3\xa9y"));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
    sl_jt_buf_release(&b);
    /* The last of duplicate keys wins, as in jansson. */
    assert_true(sl_jt_get(&o, "k", 1, &v));
    assert_int_equal(v.t, SL_JV_NUMBER);
    assert_memory_equal(v.p, "2", 1);
    assert_false(sl_jt_get(&o, "missing", 7, &v));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_text_types_are_strict),
        cmocka_unit_test(test_object_scalars_are_loose),
        cmocka_unit_test(test_equals_ignore_case),
        cmocka_unit_test(test_prefix_suffix),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_anything_but),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_exists),
        cmocka_unit_test(test_and_or),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_patterns_are_ored),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_errors_structure),
        cmocka_unit_test(test_errors_operators),
        cmocka_unit_test(test_errors_limits),
        cmocka_unit_test(test_json_text_like_jansson),
        cmocka_unit_test(test_json_text_strings),
        cmocka_unit_test(test_view_null_vs_empty_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
