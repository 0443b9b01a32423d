/* Fuzzes filter patterns: the first line is the filters value (a JSON list of pattern objects
 * or texts, or one pattern object), the rest is the event (the view). Compiles it both as JSON
 * text and as an object, matches, destroys; a failed compile must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mappings/filter.h"

static void fuzz_meta(const struct sl_record *r, struct sl_buf *out)
{
    /* A metadata "body" the data key must shadow, and a key of its own. */
    sl_buf_puts(out, "{\"body\":\"shadow\",\"id\":\"x\",\"n\":[1,{\"a\":2}]}");
}

/* The event's raw bytes as a record's body, read in place, against the same view as a tree. */
static void check_view(const struct sl_filter *f, const char *event, size_t elen)
{
    static const unsigned flag_sets[] = {SL_FVIEW_DECODE_ANY | SL_FVIEW_TEXT, SL_FVIEW_ALLOW_NUL,
                                         SL_FVIEW_DECODE_ANY | SL_FVIEW_ALLOW_NUL};
    struct sl_buf scratch;
    sl_buf_init(&scratch);
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
        struct sl_fview v = {.data_key = "body",
                             .data = event,
                             .data_len = elen,
                             .data_flags = flag_sets[i],
                             .write_meta = fuzz_meta};
        json_t *tree = sl_fview_json(&v);
        if (sl_filter_match(f, tree) != sl_filter_match_view(f, &v, &scratch))
            abort(); /* read in place and as a tree must agree */
        json_decref(tree);
    }
    sl_buf_release(&scratch);
}

static const char *g_event;
static size_t g_elen;

static void check(json_t *filters, json_t *view)
{
    struct sl_filter *f = (struct sl_filter *)1;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_filter_compile(filters, "fuzz", &f, &err);
    if (rc < 0) {
        if (f != NULL || err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
            abort();
        return;
    }
    if (rc != 0)
        abort();
    bool match = sl_filter_match(f, view);
    /* Matching is a pure function of the view. */
    if (sl_filter_match(f, view) != match)
        abort();
    if (!f && !match)
        abort();
    check_view(f, g_event, g_elen);
    sl_filter_destroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t plen = nl ? (size_t)(nl - text) : size;
    const char *event = nl ? nl + 1 : "";
    size_t elen = nl ? size - plen - 1 : 0;

    g_event = event;
    g_elen = elen;
    json_t *view = json_loadb(event, elen, JSON_DECODE_ANY, NULL);
    if (!view)
        view = json_object();
    json_t *pat = json_loadb(text, plen, JSON_DECODE_ANY, NULL);
    if (pat) {
        /* As given (a list), and wrapped as one pattern object. */
        check(pat, view);
        if (json_is_object(pat)) {
            json_t *list = json_pack("[O]", pat);
            check(list, view);
            json_decref(list);
        }
        json_decref(pat);
    }
    /* The first line as one pattern's JSON text (valid or not). */
    json_t *s = json_stringn_nocheck(text, plen);
    json_t *list = s ? json_pack("[o]", s) : NULL;
    if (list)
        check(list, view);
    json_decref(list);
    json_decref(view);
    return 0;
}
