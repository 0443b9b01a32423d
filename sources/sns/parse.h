/* SNS HTTP/HTTPS subscription messages (docs/SNS.md), in the format of Amazon SNS's "Parsing
 * message formats" (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html):
 * one JSON object per POST, of Type Notification, SubscriptionConfirmation or
 * UnsubscribeConfirmation. Parsing, the string to sign
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html) and the Sns
 * object of Lambda's SNS event (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html).
 * Pure: no I/O. */
#ifndef SL_SOURCES_SNS_PARSE_H
#define SL_SOURCES_SNS_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define SL_SNS_MAX_ID_BYTES    100 /* MessageId: SNS sends a UUID */
#define SL_SNS_MAX_ARN_BYTES   1024
#define SL_SNS_MAX_URL_BYTES   2048
#define SL_SNS_MAX_TOKEN_BYTES 2048
#define SL_SNS_MAX_SIG_BYTES   2048 /* the base64 signature (RSA up to 8192 bits) */

enum sl_sns_type {
    SL_SNS_NOTIFICATION = 0,
    SL_SNS_SUBSCRIPTION_CONFIRMATION,
    SL_SNS_UNSUBSCRIBE_CONFIRMATION,
};

/* A string of the message: points into the parsed document (NUL-terminated; the parser
 * refuses \u0000). p NULL: absent. */
struct sl_sns_str {
    const char *p;
    size_t n;
};

struct sl_sns_msg {
    json_t *doc; /* owns the strings */
    enum sl_sns_type type;
    struct sl_sns_str type_name, message_id, topic_arn, subject, message, timestamp,
        signature_version, signature, signing_cert_url, unsubscribe_url, subscribe_url, token;
    json_t *attributes; /* MessageAttributes (borrowed), or NULL */
};

/* Parses body into m (release it with sl_sns_msg_release, also after a refusal). Returns 0 or
 * -1 with a message in why naming the field ("MessageId is missing"). */
int sl_sns_parse(const void *body, size_t len, struct sl_sns_msg *m, char *why, size_t why_len);
void sl_sns_msg_release(struct sl_sns_msg *m);
/* The type named by an x-amz-sns-message-type header value, or -1. */
int sl_sns_type_of(const char *name, size_t len);

/* Appends the string to sign for m's type: "Key\nValue\n" for the documented keys, in their
 * order; Subject only when the Notification has one. */
void sl_sns_string_to_sign(const struct sl_sns_msg *m, struct sl_buf *out);

/* Appends the Sns object of Lambda's SNS event for a Notification (PascalCase, with Lambda's
 * SigningCertUrl and UnsubscribeUrl spellings; Subject null when absent, MessageAttributes {}
 * when absent). */
void sl_sns_write_record(const struct sl_sns_msg *m, struct sl_buf *out);

#endif
