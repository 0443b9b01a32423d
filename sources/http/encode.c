/* The webhook event shape (docs/EVENTS.md):
 * {"Records":[{"eventSource":"sluice:http","eventVersion":"1.0","hook":"orders","id":"...",
 *   "receivedAt":"2026-...Z","method":"POST","path":"/hooks/orders","query":"",
 *   "headers":{"content-type":"application/json"},"body":"...","isBase64Encoded":false}]}
 * `format: raw` gives the array of records alone. */
#include <jansson.h>
#include <string.h>

#include "core/jw.h"
#include "core/utf8.h"
#include "sources/http/webhook_int.h"

/* Webhook records are text records (their attributes are kept as text in the spool). */
static void encode_record(const char *hook, const struct sl_record *rec, struct sl_jw *w)
{
    const struct sl_text_record *r = sl_record_text(rec);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "eventSource", "sluice:http");
    sl_jw_kstr(w, "eventVersion", "1.0");
    sl_jw_kstr(w, "hook", hook);
    sl_jw_kstr(w, "id", r->id);
    sl_jw_key(w, "receivedAt");
    sl_jw_time(w, rec->time_ms);
    /* attrs is a JSON object of method, path, query and headers: splice its members in. */
    size_t alen = strlen(r->attrs);
    if (alen > 2) {
        sl_buf_putc(w->b, ',');
        sl_buf_append(w->b, r->attrs + 1, alen - 2);
    }
    bool text = sl_utf8_valid((const char *)rec->body, rec->body_len);
    sl_jw_key(w, "body");
    if (text)
        sl_jw_strn(w, (const char *)rec->body, rec->body_len);
    else
        sl_jw_b64(w, rec->body, rec->body_len);
    sl_jw_kbool(w, "isBase64Encoded", !text);
    sl_jw_obj_close(w);
}

void sl_webhook_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                       struct sl_buf *out)
{
    struct sl_jw w;
    sl_jw_init(&w, out);
    if (format == SL_CFG_FORMAT_LAMBDA) {
        sl_jw_obj_open(&w);
        sl_jw_key(&w, "Records");
    }
    sl_jw_arr_open(&w);
    for (size_t i = 0; i < n; i++)
        encode_record(source_name, rs[i], &w);
    sl_jw_arr_close(&w);
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_jw_obj_close(&w);
}

/* The filter view: the record's metadata (method, path, query, headers, id) and "body",
 * parsed when it is JSON, else the text (so a JSON pattern on a text body does not match). */
json_t *sl_webhook_filter_view(const struct sl_record *rec)
{
    const struct sl_text_record *r = sl_record_text(rec);
    json_t *view = json_loads(r->attrs, 0, NULL);
    if (!json_is_object(view)) {
        json_decref(view);
        view = json_object();
    }
    json_object_set_new(view, "id", json_string(r->id));
    json_t *body = json_loadb((const char *)rec->body, rec->body_len, JSON_DECODE_ANY, NULL);
    if (!body && sl_utf8_valid((const char *)rec->body, rec->body_len))
        body = json_stringn((const char *)rec->body, rec->body_len);
    if (body)
        json_object_set_new(view, "body", body);
    return view;
}
