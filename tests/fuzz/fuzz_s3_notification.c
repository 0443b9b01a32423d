/* Object-store notification bodies come from whoever can reach the push listener: any bytes
 * are refused or give records whose Lambda S3 record is a valid JSON object with "aws:s3" as
 * its source, whose key in the event decodes back to the decoded key and encodes again to
 * itself, whose batch encodes to valid JSON and whose filter view reads in place as it does as
 * a tree. Corpus: MinIO, Ceph RGW and AWS bodies written from their documented formats. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/s3/s3_int.h"
#include "tests/fuzz/fview_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_note(const struct sl_s3_note *n, struct sl_push_pool *pool)
{
    json_t *rec = json_loadb(n->json, n->json_len, 0, NULL);
    if (!json_is_object(rec))
        abort();
    if (strcmp(json_string_value(json_object_get(rec, "eventSource")), "aws:s3") != 0)
        abort();
    json_t *key = json_object_get(json_object_get(json_object_get(rec, "s3"), "object"), "key");
    if (!json_is_string(key) || json_string_length(key) != n->key_enc_len ||
        memcmp(json_string_value(key), n->key_enc, n->key_enc_len) != 0)
        abort();
    json_decref(rec);

    struct sl_buf b;
    sl_buf_init(&b);
    sl_s3_key_decode(&b, n->key_enc, n->key_enc_len);
    if (b.len != n->key_len || memcmp(b.data ? b.data : "", n->key, n->key_len) != 0)
        abort();
    sl_buf_reset(&b);
    sl_s3_key_encode(&b, n->key, n->key_len);
    if (b.len != n->key_enc_len || memcmp(b.data ? b.data : "", n->key_enc, b.len) != 0)
        abort();

    sl_buf_reset(&b);
    sl_s3_write_note_attrs(&b, n);
    char id[SL_S3_MAX_SEQUENCER_BYTES + 1];
    memcpy(id, n->sequencer, n->sequencer_len);
    id[n->sequencer_len] = '\0';
    struct sl_record *r = sl_push_record_take(pool, 1, id, 0, b.data, n->json, n->json_len);
    if (sl_s3_lane(b.data, b.len, 7) >= 7)
        abort();
    sl_buf_reset(&b);
    sl_s3_encode("src", &r, 1, SL_CFG_FORMAT_LAMBDA, &b);
    json_t *ev = json_loadb(b.data, b.len, 0, NULL);
    if (json_array_size(json_object_get(ev, "Records")) != 1)
        abort();
    json_decref(ev);
    sl_buf_reset(&b);
    r->ops->write_coords(r, &b);
    json_t *coords = json_loadb(b.data, b.len, 0, NULL);
    if (!json_is_object(coords))
        abort();
    json_decref(coords);
    struct sl_fview fv;
    if (!sl_s3_filter_view(r, &fv))
        abort();
    fuzz_check_fview(&fv, true);
    r->ops->release(r);
    sl_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_s3_batch batch;
    struct sl_push_pool pool;
    sl_push_pool_init(&pool, &sl_s3_record_ops, "orders");
    char why[256];
    sl_s3_batch_init(&batch);
    enum sl_s3_parse_result res = sl_s3_parse(data, size, 8, 0x1234, &batch, why, sizeof(why));
    if (res == SL_S3_PARSE_RECORDS) {
        for (size_t i = 0; i < batch.n; i++)
            check_note(&batch.v[i], &pool);
    } else if (res < 0 && why[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    sl_push_pool_release(&pool);
    sl_s3_batch_release(&batch);
    return 0;
}
