/* The schedule event: Amazon EventBridge's scheduled event ("Use Lambda with EventBridge
 * schedules", https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html;
 * docs/SCHEDULES.md), field for field, so handlers written for it run unchanged:
 *   {"version":"0","id":"<uuid>","detail-type":"Scheduled Event","source":"aws.events",
 *    "account":"000000000000","time":"2026-11-30T12:00:00Z","region":"local",
 *    "resources":["arn:aws:events:local:000000000000:rule/<schedule>"],"detail":{}}
 * A record keeps every field but `detail` as its attributes (a JSON object text, what the
 * spool and DLQ entries hold) and `detail` as its body. EventBridge invokes a function with one
 * event: with `format: lambda` a batch of one is that event object itself and a batch of
 * several is a JSON array of them (batch.size: 1 keeps to EventBridge's shape); `format: raw`
 * is always the array. */
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "sources/schedule/civil.h"
#include "sources/schedule/schedule_int.h"

/* "2026-11-30T12:00:00Z": EventBridge's time has whole seconds. */
static void put_time(struct sl_jw *w, int64_t ms)
{
    int64_t s = sl_floor_div(ms, 1000);
    int64_t days = sl_floor_div(s, 86400), sod = s - days * 86400;
    int64_t y, m, d;
    sl_civil_from_days(days, &y, &m, &d);
    char t[32];
    char *p = t;
    int64_t parts[6] = {y, m, d, sod / 3600, sod / 60 % 60, sod % 60};
    static const char seps[6] = {'-', '-', 'T', ':', ':', 'Z'};
    for (int i = 0; i < 6; i++) {
        int width = i == 0 ? 4 : 2;
        for (int k = width - 1; k >= 0; k--) {
            p[k] = (char)('0' + parts[i] % 10);
            parts[i] /= 10;
        }
        p += width;
        *p++ = seps[i];
    }
    sl_jw_strn(w, t, (size_t)(p - t));
}

char *sl_schedule_attrs(const char *id, int64_t tick_ms, const char *account, const char *region,
                        const char *name)
{
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "version", "0");
    sl_jw_kstr(&w, "id", id);
    sl_jw_kstr(&w, "detail-type", "Scheduled Event");
    sl_jw_kstr(&w, "source", "aws.events");
    sl_jw_kstr(&w, "account", account);
    sl_jw_key(&w, "time");
    put_time(&w, tick_ms);
    sl_jw_kstr(&w, "region", region);
    sl_jw_key(&w, "resources");
    sl_jw_arr_open(&w);
    struct sl_buf arn;
    sl_buf_init(&arn);
    sl_buf_printf(&arn, "arn:aws:events:%s:%s:rule/%s", region, account, name);
    sl_jw_strn(&w, arn.data, arn.len);
    sl_buf_release(&arn);
    sl_jw_arr_close(&w);
    sl_jw_obj_close(&w);
    return sl_buf_steal(&b, NULL);
}

static const char *attrs_of(const struct sl_record *r)
{
    const struct sl_text_record *t = sl_record_text(r);
    return t && t->attrs ? t->attrs : "{}";
}

/* The event: the attributes' members, then "detail" (the body, JSON written by this source;
 * an empty or missing one is {}). */
static void encode_record(const struct sl_record *r, struct sl_jw *w)
{
    const char *attrs = attrs_of(r);
    size_t alen = strlen(attrs);
    sl_jw_obj_open(w);
    if (alen > 2 && attrs[0] == '{' && attrs[alen - 1] == '}') {
        sl_buf_append(w->b, attrs + 1, alen - 2);
        w->first[w->depth] = false;
    }
    sl_jw_key(w, "detail");
    if (r->body && r->body_len)
        sl_jw_raw(w, (const char *)r->body, r->body_len);
    else
        sl_jw_raw(w, "{}", 2);
    sl_jw_obj_close(w);
}

void sl_schedule_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                        struct sl_buf *out)
{
    (void)source_name;
    struct sl_jw w;
    sl_jw_init(&w, out);
    if (format == SL_CFG_FORMAT_LAMBDA && n == 1) {
        encode_record(rs[0], &w);
        return;
    }
    sl_jw_arr_open(&w);
    for (size_t i = 0; i < n; i++)
        encode_record(rs[i], &w);
    sl_jw_arr_close(&w);
}

static void schedule_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_puts(out, attrs_of(r));
}

/* Filter patterns see the event as EventBridge patterns do: its fields, and "detail". */
bool sl_schedule_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    *out = (struct sl_fview){
        .r = r,
        .data_key = "detail",
        .data = r->body,
        .data_len = r->body_len,
        .data_flags = SL_FVIEW_DECODE_ANY,
        .write_meta = schedule_write_meta,
    };
    return true;
}
