/* A record's filter view as a JSON tree: what the patterns see, for tests and tools (the
 * matcher itself reads the view in place, mappings/filter_match.c). */
#include <jansson.h>
#include <string.h>

#include "core/utf8.h"
#include "sources/source.h"

json_t *sl_fview_json(const struct sl_fview *v)
{
    json_t *view = NULL;
    if (v->write_meta) {
        struct sl_buf b;
        sl_buf_init(&b);
        v->write_meta(v->r, &b);
        view = json_loadb(b.data ? b.data : "", b.len, JSON_ALLOW_NUL, NULL);
        sl_buf_release(&b);
    }
    if (!json_is_object(view)) {
        json_decref(view);
        view = json_object();
    }
    for (const char *const *h = v->hidden; h && *h; h++)
        json_object_del(view, *h);
    size_t flags = (v->data_flags & SL_FVIEW_DECODE_ANY ? JSON_DECODE_ANY : 0) |
                   (v->data_flags & SL_FVIEW_ALLOW_NUL ? JSON_ALLOW_NUL : 0);
    const char *text = v->data ? v->data : "";
    json_t *data =
        v->data_flags & SL_FVIEW_NULL ? json_null() : json_loadb(text, v->data_len, flags, NULL);
    if (!data && (v->data_flags & SL_FVIEW_TEXT) && sl_utf8_valid(text, v->data_len))
        data = json_stringn(text, v->data_len);
    if (data)
        json_object_set_new(view, v->data_key, data);
    else
        json_object_del(view, v->data_key);
    return view;
}
