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

/* Webhook records keep their attributes as the text stored in the spool. */
static void encode_record(const char *hook, const struct sl_record *rec, struct sl_jw *w)
{
    const char *id, *attrs;
    sl_push_record_parts(rec, &id, &attrs);
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "eventSource", "sluice:http");
    sl_jw_kstr(w, "eventVersion", "1.0");
    sl_jw_kstr(w, "hook", hook);
    sl_jw_kstr(w, "id", id);
    sl_jw_key(w, "receivedAt");
    sl_jw_time(w, rec->time_ms);
    /* attrs is a JSON object of method, path, query and headers: splice its members in. */
    size_t alen = strlen(attrs);
    if (alen > 2) {
        sl_buf_putc(w->b, ',');
        sl_buf_append(w->b, attrs + 1, alen - 2);
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

/* The view's metadata: the record's attributes (method, path, query, headers) and its id. */
static void webhook_write_meta(const struct sl_record *rec, struct sl_buf *out)
{
    const char *id, *attrs;
    sl_push_record_parts(rec, &id, &attrs);
    size_t alen = strlen(attrs);
    if (alen >= 2 && attrs[0] == '{' && attrs[alen - 1] == '}') {
        sl_buf_append(out, attrs, alen - 1);
        if (alen > 2)
            sl_buf_putc(out, ',');
    } else {
        sl_buf_putc(out, '{');
    }
    struct sl_jw w;
    sl_jw_init(&w, out);
    SL_BUF_LIT(out, "\"id\":");
    sl_jw_str(&w, id);
    sl_buf_putc(out, '}');
}

/* The filter view: the record's metadata and "body", matched as JSON when it is JSON, else as
 * the text (so a JSON pattern on a text body does not match). */
bool sl_webhook_filter_view(const struct sl_record *rec, struct sl_fview *out)
{
    *out = (struct sl_fview){
        .r = rec,
        .data_key = "body",
        .data = rec->body,
        .data_len = rec->body_len,
        .data_flags = SL_FVIEW_DECODE_ANY | SL_FVIEW_TEXT,
        .write_meta = webhook_write_meta,
    };
    return true;
}
