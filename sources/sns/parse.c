/* SNS messages (parse.h): parsed with jansson once per request (intake, not the delivery
 * path). */
#include "sources/sns/parse.h"

#include <stdio.h>
#include <string.h>

#include "core/jw.h"

static const char *const type_names[] = {"Notification", "SubscriptionConfirmation",
                                         "UnsubscribeConfirmation"};

int sl_sns_type_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strlen(type_names[i]) == len && memcmp(type_names[i], name, len) == 0)
            return (int)i;
    }
    return -1;
}

void sl_sns_msg_release(struct sl_sns_msg *m)
{
    json_decref(m->doc);
    memset(m, 0, sizeof(*m));
}

/* A string member: absent is fine when !required; present must be a string within max. */
static int get_str(struct sl_sns_msg *m, const char *key, bool required, size_t max,
                   struct sl_sns_str *out, char *why, size_t why_len)
{
    json_t *v = json_object_get(m->doc, key);
    if (!v || json_is_null(v)) {
        if (required) {
            snprintf(why, why_len, "%s is missing", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(why, why_len, "%s is not a string", key);
        return -1;
    }
    size_t n = json_string_length(v);
    if (max && n > max) {
        snprintf(why, why_len, "%s is longer than %zu bytes", key, max);
        return -1;
    }
    out->p = json_string_value(v);
    out->n = n;
    return 0;
}

int sl_sns_parse(const void *body, size_t len, struct sl_sns_msg *m, char *why, size_t why_len)
{
    memset(m, 0, sizeof(*m));
    json_error_t jerr;
    m->doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!m->doc) {
        snprintf(why, why_len, "the body is not valid JSON: %s (at byte %d)", jerr.text,
                 jerr.position);
        return -1;
    }
    if (!json_is_object(m->doc)) {
        snprintf(why, why_len, "the body is not a JSON object");
        return -1;
    }
    if (get_str(m, "Type", true, 64, &m->type_name, why, why_len) < 0)
        return -1;
    int t = sl_sns_type_of(m->type_name.p, m->type_name.n);
    if (t < 0) {
        snprintf(why, why_len,
                 "Type is not Notification, SubscriptionConfirmation or UnsubscribeConfirmation");
        return -1;
    }
    m->type = (enum sl_sns_type)t;
    bool note = m->type == SL_SNS_NOTIFICATION;
    if (get_str(m, "MessageId", true, SL_SNS_MAX_ID_BYTES, &m->message_id, why, why_len) < 0 ||
        get_str(m, "TopicArn", true, SL_SNS_MAX_ARN_BYTES, &m->topic_arn, why, why_len) < 0 ||
        get_str(m, "Subject", false, 1024, &m->subject, why, why_len) < 0 ||
        get_str(m, "Message", true, 0, &m->message, why, why_len) < 0 ||
        get_str(m, "Timestamp", true, 64, &m->timestamp, why, why_len) < 0 ||
        get_str(m, "SignatureVersion", false, 8, &m->signature_version, why, why_len) < 0 ||
        get_str(m, "Signature", false, SL_SNS_MAX_SIG_BYTES, &m->signature, why, why_len) < 0 ||
        get_str(m, "SigningCertURL", false, SL_SNS_MAX_URL_BYTES, &m->signing_cert_url, why,
                why_len) < 0 ||
        get_str(m, "UnsubscribeURL", false, SL_SNS_MAX_URL_BYTES, &m->unsubscribe_url, why,
                why_len) < 0 ||
        get_str(m, "SubscribeURL", !note, SL_SNS_MAX_URL_BYTES, &m->subscribe_url, why, why_len) <
            0 ||
        get_str(m, "Token", !note, SL_SNS_MAX_TOKEN_BYTES, &m->token, why, why_len) < 0)
        return -1;
    if (m->message_id.n == 0) {
        snprintf(why, why_len, "MessageId is empty");
        return -1;
    }
    for (size_t i = 0; i < m->message_id.n; i++) {
        unsigned char c = (unsigned char)m->message_id.p[i];
        if (c < 0x21 || c > 0x7e) {
            snprintf(why, why_len, "MessageId holds a byte that is not printable ASCII");
            return -1;
        }
    }
    json_t *attrs = json_object_get(m->doc, "MessageAttributes");
    if (attrs && !json_is_null(attrs)) {
        if (!json_is_object(attrs)) {
            snprintf(why, why_len, "MessageAttributes is not an object");
            return -1;
        }
        m->attributes = attrs;
    }
    return 0;
}

static void put_pair(struct sl_buf *out, const char *key, const struct sl_sns_str *v)
{
    sl_buf_puts(out, key);
    sl_buf_putc(out, '\n');
    if (v->p)
        sl_buf_append(out, v->p, v->n);
    sl_buf_putc(out, '\n');
}

void sl_sns_string_to_sign(const struct sl_sns_msg *m, struct sl_buf *out)
{
    put_pair(out, "Message", &m->message);
    put_pair(out, "MessageId", &m->message_id);
    if (m->type == SL_SNS_NOTIFICATION) {
        if (m->subject.p)
            put_pair(out, "Subject", &m->subject);
    } else {
        put_pair(out, "SubscribeURL", &m->subscribe_url);
    }
    put_pair(out, "Timestamp", &m->timestamp);
    if (m->type != SL_SNS_NOTIFICATION)
        put_pair(out, "Token", &m->token);
    put_pair(out, "TopicArn", &m->topic_arn);
    put_pair(out, "Type", &m->type_name);
}

static void put_member(struct sl_buf *out, const char *key, const struct sl_sns_str *v)
{
    sl_buf_putc(out, '"');
    sl_buf_puts(out, key);
    SL_BUF_LIT(out, "\":");
    if (v->p)
        sl_json_escape(out, v->p, v->n);
    else
        SL_BUF_LIT(out, "null");
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    sl_buf_append(data, buf, size);
    return 0;
}

void sl_sns_write_record(const struct sl_sns_msg *m, struct sl_buf *out)
{
    /* The order of the Sns object in the Lambda developer guide's example event. */
    sl_buf_putc(out, '{');
    put_member(out, "SignatureVersion", &m->signature_version);
    sl_buf_putc(out, ',');
    put_member(out, "Timestamp", &m->timestamp);
    sl_buf_putc(out, ',');
    put_member(out, "Signature", &m->signature);
    sl_buf_putc(out, ',');
    put_member(out, "SigningCertUrl", &m->signing_cert_url);
    sl_buf_putc(out, ',');
    put_member(out, "MessageId", &m->message_id);
    sl_buf_putc(out, ',');
    put_member(out, "Message", &m->message);
    SL_BUF_LIT(out, ",\"MessageAttributes\":");
    if (m->attributes)
        json_dump_callback(m->attributes, dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY);
    else
        SL_BUF_LIT(out, "{}");
    sl_buf_putc(out, ',');
    put_member(out, "Type", &m->type_name);
    sl_buf_putc(out, ',');
    put_member(out, "UnsubscribeUrl", &m->unsubscribe_url);
    sl_buf_putc(out, ',');
    put_member(out, "TopicArn", &m->topic_arn);
    sl_buf_putc(out, ',');
    put_member(out, "Subject", &m->subject);
    sl_buf_putc(out, '}');
}
