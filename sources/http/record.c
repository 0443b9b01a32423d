/* The webhook source's typed record (sources/push_record.h): the spool row's sequence
 * (base.seq), the id the pusher got back, the kept attributes (a JSON object text, as stored)
 * and the body. The coordinates' text is made only for a DLQ entry; it is byte for byte what
 * webhook text records carried. */
#include "core/id.h"
#include "core/jw.h"
#include "sources/http/webhook_int.h"

_Static_assert(SL_ID_LEN <= SL_PUSH_ID_MAX, "an id fits a push record's id");

static void webhook_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_push_rec *pr = sl_push_rec(r);
    SL_BUF_LIT(out, "{\"hook\":");
    sl_buf_puts(out, pr->pool->name_json);
    SL_BUF_LIT(out, ",\"id\":");
    sl_json_escape(out, pr->id, pr->id_len);
    SL_BUF_LIT(out, ",\"spoolSeq\":");
    sl_buf_put_u64(out, r->seq);
    sl_buf_putc(out, '}');
}

const struct sl_record_ops sl_webhook_record_ops = {
    .write_id = sl_push_record_write_id,
    .write_coords = webhook_write_coords,
    .write_attrs = sl_push_record_write_attrs,
    .matches = sl_push_record_matches,
    .release = sl_push_record_release,
};
