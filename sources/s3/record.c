/* The S3 source's typed record (sources/push_record.h): the spool row (base.seq), the sequencer
 * (the item identifier of partial batch responses), the attributes ({"bucket","key"}: the
 * lane's hash and the DLQ coordinates) and the body, the Lambda S3 record as parse.c wrote it. */
#include "core/jw.h"
#include "sources/s3/s3_int.h"

_Static_assert(SL_S3_MAX_SEQUENCER_BYTES <= SL_PUSH_ID_MAX, "a sequencer fits a push record's id");

void sl_s3_write_note_attrs(struct sl_buf *out, const struct sl_s3_note *n)
{
    SL_BUF_LIT(out, "{\"bucket\":");
    sl_json_escape(out, n->bucket, n->bucket_len);
    SL_BUF_LIT(out, ",\"key\":");
    sl_json_escape(out, n->key_enc, n->key_enc_len);
    sl_buf_putc(out, '}');
}

/* The attributes with the sequencer and the spool row: where the record came from. */
static void s3_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    sl_push_record_write_attrs_coords(r, "sequencer", out);
}

const struct sl_record_ops sl_s3_record_ops = {
    .write_id = sl_push_record_write_id,
    .write_coords = s3_write_coords,
    .write_attrs = sl_push_record_write_attrs,
    .matches = sl_push_record_matches,
    .release = sl_push_record_release,
};
