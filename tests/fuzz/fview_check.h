/* Shared by the fuzz harnesses: a record's filter view read in place must give the same answers
 * as the same view built as a jansson tree, and its metadata must be a JSON object. */
#ifndef SL_TESTS_FUZZ_FVIEW_CHECK_H
#define SL_TESTS_FUZZ_FVIEW_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "mappings/filter.h"
#include "sources/source.h"

/* pat with each '@' replaced by key. */
static inline void fuzz_subst(char *out, size_t cap, const char *pat, const char *key)
{
    size_t n = 0;
    for (const char *p = pat; *p && n + 1 < cap; p++) {
        if (*p != '@') {
            out[n++] = *p;
            continue;
        }
        for (const char *k = key; *k && n + 1 < cap; k++)
            out[n++] = *k;
    }
    out[n] = '\0';
}

/* meta_object: the source promises a JSON object (text records from outside may not hold one;
 * their metadata then reads as empty both ways). */
static inline void fuzz_check_fview(const struct sl_fview *v, bool meta_object)
{
    static const char *const patterns[] = {
        "{\"@\":[{\"exists\":true}]}",
        "{\"@\":[{\"exists\":false}]}",
        "{\"@\":{\"a\":[{\"exists\":false}]}}",
        "{\"@\":{\"a\":{\"b\":[{\"anything-but\":[\"x\"]}]}}}",
        "{\"@\":[{\"prefix\":\"\"}]}",
        "{\"@\":[{\"anything-but\":{\"prefix\":\"a\"}}]}",
        "{\"@\":{\"n\":[{\"numeric\":[\">\",0]}]}}",
        "{\"@\":{\"n\":[1,\"1\",true,null]}}",
        "{\"id\":[{\"exists\":true}],\"@\":[{\"exists\":true}]}",
        "{\"partition\":[{\"numeric\":[\">=\",0]}],\"x@\":[{\"exists\":false}]}",
        "{\"eventID\":[{\"suffix\":\"-0\"}],\"x@\":[{\"exists\":false}]}",
        "{\"approximateArrivalTimestamp\":[{\"numeric\":[\">=\",0]}],\"x@\":[{\"exists\":false}]}",
        "{\"headers\":[{\"exists\":true}],\"x@\":[{\"exists\":false}]}",
        "{\"bootstrapServers\":[{\"exists\":true}],\"x@\":[{\"exists\":false}]}",
        "{\"$or\":[{\"@\":[{\"wildcard\":\"*a*\"}]},{\"method\":[\"POST\"]}]}",
    };
    struct sl_buf meta;
    sl_buf_init(&meta);
    if (v->write_meta) {
        v->write_meta(v->r, &meta);
        json_t *m = json_loadb(meta.data ? meta.data : "", meta.len, JSON_ALLOW_NUL, NULL);
        if (meta_object && !json_is_object(m))
            abort(); /* the metadata must be a JSON object */
        json_decref(m);
    }
    json_t *tree = sl_fview_json(v);
    struct sl_buf scratch;
    sl_buf_init(&scratch);
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        char text[256];
        fuzz_subst(text, sizeof(text), patterns[i], v->data_key);
        json_t *list = json_pack("[s]", text);
        struct sl_filter *f = NULL;
        struct sl_err err;
        if (sl_filter_compile(list, "fuzz", &f, &err) < 0)
            abort();
        if (sl_filter_match(f, tree) != sl_filter_match_view(f, v, &scratch))
            abort(); /* read in place and as a tree must agree */
        sl_filter_destroy(f);
        json_decref(list);
    }
    sl_buf_release(&scratch);
    sl_buf_release(&meta);
    json_decref(tree);
}

#endif
