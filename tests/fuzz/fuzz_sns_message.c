/* SNS messages come from whoever can reach the push listener: any bytes are refused with a
 * reason or parse into a message whose string to sign holds its Type, whose verification with
 * no certificate never says OK, and whose Sns object (for a Notification) makes a record that
 * encodes to Lambda's SNS event as valid JSON with the same MessageId, whose coordinates are a
 * JSON object and whose filter view reads in place as it does as a tree. Corpus: messages
 * written from the formats of Amazon SNS's "Parsing message formats" page. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/sns/sns_int.h"
#include "sources/sns/verify.h"
#include "tests/fuzz/fview_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const struct sl_sns_msg *m)
{
    struct sl_buf body, attrs, out;
    sl_buf_init(&body);
    sl_buf_init(&attrs);
    sl_buf_init(&out);
    sl_sns_write_record(m, &body);
    sl_sns_write_attrs(&attrs, m->topic_arn.p, m->topic_arn.n);
    struct sl_push_pool pool;
    sl_push_pool_init(&pool, &sl_sns_record_ops, "orders");
    char id[SL_SNS_MAX_ID_BYTES + 1];
    memcpy(id, m->message_id.p, m->message_id.n);
    id[m->message_id.n] = '\0';
    struct sl_record *r = sl_push_record_take(&pool, 1, id, 0, attrs.data, body.data, body.len);
    sl_sns_encode("src", &r, 1, SL_CFG_FORMAT_LAMBDA, &out);
    json_t *ev = json_loadb(out.data, out.len, 0, NULL);
    json_t *sns = json_object_get(json_array_get(json_object_get(ev, "Records"), 0), "Sns");
    const char *got = json_string_value(json_object_get(sns, "MessageId"));
    if (!got || strcmp(got, id) != 0)
        abort();
    json_decref(ev);
    sl_buf_reset(&out);
    r->ops->write_coords(r, &out);
    json_t *coords = json_loadb(out.data, out.len, 0, NULL);
    if (!json_is_object(coords))
        abort();
    json_decref(coords);
    struct sl_fview fv;
    if (!sl_sns_filter_view(r, &fv))
        abort();
    fuzz_check_fview(&fv, true);
    r->ops->release(r);
    sl_push_pool_release(&pool);
    sl_buf_release(&body);
    sl_buf_release(&attrs);
    sl_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_sns_msg m;
    char why[256] = "";
    if (sl_sns_parse(data, size, &m, why, sizeof(why)) < 0) {
        if (why[0] == '\0')
            abort(); /* a refusal always says why */
        sl_sns_msg_release(&m);
        return 0;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sns_string_to_sign(&m, &b);
    if (!strstr(b.data, "\nType\n"))
        abort();
    if (sl_sns_verify(&m, NULL, &b) == SL_SNS_VERIFY_OK)
        abort();
    sl_buf_release(&b);
    if (m.type == SL_SNS_NOTIFICATION)
        check_record(&m);
    sl_sns_msg_release(&m);
    return 0;
}
