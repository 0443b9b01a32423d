/* Fuzzes filter patterns: the first line is the filters value (a JSON list of pattern objects
 * or texts, or one pattern object), the rest is the event (the view). Compiles it both as JSON
 * text and as an object, matches, destroys; a failed compile must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mappings/filter.h"

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
