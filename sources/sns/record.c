/* The SNS source's typed record (sources/push_record.h): the spool row (base.seq), the
 * MessageId (the item identifier of partial batch responses), the attributes
 * ({"EventSubscriptionArn"}: what the event adds around the Sns object) and the body, the Sns
 * object as parse.c wrote it. */
#include "core/jw.h"
#include "sources/sns/sns_int.h"

_Static_assert(SL_SNS_MAX_ID_BYTES <= SL_PUSH_ID_MAX, "a MessageId fits a push record's id");

void sl_sns_write_attrs(struct sl_buf *out, const char *subscription_arn, size_t len)
{
    SL_BUF_LIT(out, "{\"EventSubscriptionArn\":");
    sl_json_escape(out, subscription_arn, len);
    sl_buf_putc(out, '}');
}

/* The attributes with the MessageId and the spool row: where the record came from. */
static void sns_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    sl_push_record_write_attrs_coords(r, "MessageId", out);
}

const struct sl_record_ops sl_sns_record_ops = {
    .write_id = sl_push_record_write_id,
    .write_coords = sns_write_coords,
    .write_attrs = sl_push_record_write_attrs,
    .matches = sl_push_record_matches,
    .release = sl_push_record_release,
};
