/* Object-store notification bodies (docs/S3.md): the S3 event format as MinIO's webhook target
 * sends it ({"EventName":..., "Key":..., "Records":[...]}), Ceph RGW's HTTP endpoint
 * notifications ({"Records":[...]}) and AWS S3's own records, each record normalised to the
 * record of Lambda's S3 event
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
 * Probes (S3's s3:TestEvent message, an empty body) hold no record. Pure: no I/O. */
#ifndef SL_SOURCES_S3_PARSE_H
#define SL_SOURCES_S3_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SL_S3_MAX_KEY_BYTES       1024 /* S3's limit on a key, decoded */
#define SL_S3_MAX_BUCKET_BYTES    255
#define SL_S3_MAX_SEQUENCER_BYTES 64

/* What sl_s3_parse found (negative: refused). */
enum sl_s3_parse_result {
    SL_S3_PARSE_RECORDS = 0, /* n records (n may be 0: an empty Records array) */
    SL_S3_PARSE_PROBE = 1,   /* a test event or an empty body: answer 2xx, store nothing */
    SL_S3_PARSE_INVALID = -1,
    SL_S3_PARSE_TOO_MANY = -2, /* more than max_records records */
};

/* One record, normalised. The strings point into the batch's text (valid until it is reset or
 * released) and are not NUL-terminated. */
struct sl_s3_note {
    const char *json; /* the Lambda S3 record, one JSON object with "s3" as its last member */
    size_t json_len;
    const char *bucket; /* s3.bucket.name */
    size_t bucket_len;
    const char *key; /* the key decoded (what prefix and suffix filters compare) */
    size_t key_len;
    const char *key_enc; /* the key in S3's encoding, as the event carries it */
    size_t key_enc_len;
    const char *sequencer; /* the store's, or one sluice made up (docs/S3.md) */
    size_t sequencer_len;
};

struct sl_s3_batch {
    struct sl_s3_note *v;
    size_t n, cap;
    struct sl_buf text;
};

void sl_s3_batch_init(struct sl_s3_batch *b);
void sl_s3_batch_release(struct sl_s3_batch *b);

/* Parses a notification body into b (reset first). max_records bounds the records of one body.
 * nonce makes up the sequencers of records that come without one (a random value per body:
 * the made-up sequencer is its 16 hex digits and the record's index). On refusal why gets a
 * message naming the field ("Records[2].s3.object.key is missing"). */
enum sl_s3_parse_result sl_s3_parse(const void *body, size_t len, size_t max_records,
                                    uint64_t nonce, struct sl_s3_batch *b, char *why,
                                    size_t why_len);

/* Appends key (raw bytes) in S3's notification encoding: application/x-www-form-urlencoded as
 * S3 documents it ("red flower.jpg" becomes "red+flower.jpg"), with '/' kept. */
void sl_s3_key_encode(struct sl_buf *out, const char *key, size_t len);
/* Appends the form-decoded key ('+' is a space, %XX a byte; a '%' not followed by two hex
 * digits stays as it is). */
void sl_s3_key_decode(struct sl_buf *out, const char *key, size_t len);

/* FNV-1a of text (a record's attributes, which name its bucket and key): one object's events
 * share one lane among nlanes, so they are delivered in order. */
uint32_t sl_s3_lane(const char *text, size_t len, uint32_t nlanes);

#endif
