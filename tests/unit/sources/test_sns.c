/* The SNS source's message parser, string to sign, signature verifier and event encoder:
 * messages in the formats of Amazon SNS's "Parsing message formats" page, signed here with a
 * key and certificate made with OpenSSL (SHA1withRSA for SignatureVersion 1, SHA256withRSA for
 * 2), verified as its "Verifying the signatures of Amazon SNS messages" page describes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/buf.h"
#include "sources/sns/fetch.h"
#include "sources/sns/sns_int.h"
#include "sources/sns/verify.h"

static const char note_json[] =
    "{\"Type\":\"Notification\",\"MessageId\":\"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\","
    "\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:MyTopic\",\"Subject\":\"My First Message\","
    "\"Message\":\"Hello world!\",\"Timestamp\":\"2012-05-02T00:54:06.655Z\","
    "\"SignatureVersion\":\"1\",\"Signature\":\"EXAMPLEw6JRN...\","
    "\"SigningCertURL\":\"https://sns.us-west-2.amazonaws.com/"
    "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem\","
    "\"UnsubscribeURL\":\"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&"
    "SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0\"}";

static const char confirm_json[] =
    "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"165545c9-2a5c-472c-8df2-7ff2be2b3b1b\","
    "\"Token\":\"2336412f37f\",\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:MyTopic\","
    "\"Message\":\"You have chosen to subscribe.\",\"SubscribeURL\":"
    "\"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37f\","
    "\"Timestamp\":\"2012-04-26T20:45:04.751Z\",\"SignatureVersion\":\"2\","
    "\"Signature\":\"EXAMPLEpH+\",\"SigningCertURL\":\"https://sns.us-west-2.amazonaws.com/"
    "x.pem\"}";

static void parse_ok(const char *json, struct sl_sns_msg *m)
{
    char why[256];
    int rc = sl_sns_parse(json, strlen(json), m, why, sizeof(why));
    if (rc != 0)
        fail_msg("parse: %s", why);
}

static void test_string_to_sign(void **state)
{
    (void)state;
    struct sl_sns_msg m;
    struct sl_buf b;
    sl_buf_init(&b);
    parse_ok(note_json, &m);
    assert_int_equal(m.type, SL_SNS_NOTIFICATION);
    sl_sns_string_to_sign(&m, &b);
    assert_string_equal(b.data, "Message\nHello world!\n"
                                "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                                "Subject\nMy First Message\n"
                                "Timestamp\n2012-05-02T00:54:06.655Z\n"
                                "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
                                "Type\nNotification\n");
    sl_sns_msg_release(&m);
    /* Without a Subject, no Subject pair. */
    json_t *doc = json_loads(note_json, 0, NULL);
    json_object_del(doc, "Subject");
    char *text = json_dumps(doc, JSON_COMPACT);
    parse_ok(text, &m);
    sl_buf_reset(&b);
    sl_sns_string_to_sign(&m, &b);
    assert_null(strstr(b.data, "Subject"));
    sl_sns_msg_release(&m);
    free(text);
    json_decref(doc);
    parse_ok(confirm_json, &m);
    sl_buf_reset(&b);
    sl_sns_string_to_sign(&m, &b);
    assert_string_equal(b.data, "Message\nYou have chosen to subscribe.\n"
                                "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
                                "SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/"
                                "?Action=ConfirmSubscription&Token=2336412f37f\n"
                                "Timestamp\n2012-04-26T20:45:04.751Z\nToken\n2336412f37f\n"
                                "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
                                "Type\nSubscriptionConfirmation\n");
    sl_sns_msg_release(&m);
    sl_buf_release(&b);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"[1]", "not a JSON object"},
        {"{\"Type\":\"Other\"}", "Type is not"},
        {"{\"Type\":\"Notification\",\"TopicArn\":\"t\",\"Message\":\"m\",\"Timestamp\":\"t\"}",
         "MessageId is missing"},
        {"{\"Type\":\"Notification\",\"MessageId\":\"a b\",\"TopicArn\":\"t\",\"Message\":\"m\","
         "\"Timestamp\":\"t\"}",
         "printable"},
        {"{\"Type\":\"Notification\",\"MessageId\":1,\"TopicArn\":\"t\"}", "MessageId is not"},
        {"{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"i\",\"TopicArn\":\"t\","
         "\"Message\":\"m\",\"Timestamp\":\"t\",\"Token\":\"k\"}",
         "SubscribeURL is missing"},
        {"{\"Type\":\"Notification\",\"MessageId\":\"i\",\"TopicArn\":\"t\",\"Message\":\"m\","
         "\"Timestamp\":\"t\",\"MessageAttributes\":[]}",
         "MessageAttributes is not an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_sns_msg m;
        char why[256] = "";
        assert_int_equal(sl_sns_parse(cases[i].json, strlen(cases[i].json), &m, why, sizeof(why)),
                         -1);
        if (!strstr(why, cases[i].why))
            fail_msg("case %zu: %s does not say %s", i, why, cases[i].why);
        sl_sns_msg_release(&m);
    }
}

/* A key and its self-signed certificate as PEM. */
static EVP_PKEY *make_key(char **pem)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    assert_non_null(key);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"sns test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    *pem = strndup(data, (size_t)n);
    BIO_free(bio);
    X509_free(x);
    return key;
}

/* Signs m's string to sign with key as version (1 or 2) and puts the base64 signature in sig. */
static void sign(const struct sl_sns_msg *m, EVP_PKEY *key, int version, char *sig)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sns_string_to_sign(m, &b);
    unsigned char raw[512];
    size_t raw_len = sizeof(raw);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(
        EVP_DigestSignInit(ctx, NULL, version == 1 ? EVP_sha1() : EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, raw, &raw_len, (const unsigned char *)b.data, b.len), 1);
    EVP_MD_CTX_free(ctx);
    sig[sl_b64_encode(raw, raw_len, sig)] = '\0';
    sl_buf_release(&b);
}

/* note_json with SignatureVersion, Signature and Message replaced. */
static char *signed_note(EVP_PKEY *key, int version, const char *message)
{
    json_t *doc = json_loads(note_json, 0, NULL);
    json_object_set_new(doc, "SignatureVersion", json_string(version == 1 ? "1" : "2"));
    char *text = json_dumps(doc, JSON_COMPACT);
    struct sl_sns_msg m;
    parse_ok(text, &m);
    char sig[1024];
    sign(&m, key, version, sig);
    sl_sns_msg_release(&m);
    free(text);
    json_object_set_new(doc, "Signature", json_string(sig));
    if (message)
        json_object_set_new(doc, "Message", json_string(message));
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void test_verify(void **state)
{
    (void)state;
    char *pem, *other_pem;
    EVP_PKEY *key = make_key(&pem), *other = make_key(&other_pem);
    struct sl_sns_certs *certs = sl_sns_certs_new();
    assert_int_equal(sl_sns_certs_add_pem(certs, "good.pem", pem, strlen(pem)), 0);
    assert_int_equal(sl_sns_certs_add_pem(certs, "other.pem", other_pem, strlen(other_pem)), 0);
    assert_int_equal(sl_sns_certs_add_pem(certs, "junk.pem", "junk", 4), -1);
    EVP_PKEY *good = sl_sns_certs_find(certs, "good.pem", 8);
    EVP_PKEY *wrong = sl_sns_certs_find(certs, "other.pem", 9);
    assert_non_null(good);
    assert_null(sl_sns_certs_find(certs, "good.pe", 7));
    struct sl_buf scratch;
    sl_buf_init(&scratch);
    for (int version = 1; version <= 2; version++) {
        char *text = signed_note(key, version, NULL);
        struct sl_sns_msg m;
        parse_ok(text, &m);
        assert_int_equal(sl_sns_verify(&m, good, &scratch), SL_SNS_VERIFY_OK);
        assert_int_equal(sl_sns_verify(&m, wrong, &scratch), SL_SNS_VERIFY_BAD);
        assert_int_equal(sl_sns_verify(&m, NULL, &scratch), SL_SNS_VERIFY_UNKNOWN_CERT);
        sl_sns_msg_release(&m);
        free(text);
        /* The Message changed after signing. */
        text = signed_note(key, version, "Hello world?");
        parse_ok(text, &m);
        assert_int_equal(sl_sns_verify(&m, good, &scratch), SL_SNS_VERIFY_BAD);
        /* Claimed as the other version: the other digest. */
        m.signature_version.p = version == 1 ? "2" : "1";
        sl_sns_msg_release(&m);
        free(text);
        text = signed_note(key, version, NULL);
        parse_ok(text, &m);
        m.signature_version.p = version == 1 ? "2" : "1";
        assert_int_equal(sl_sns_verify(&m, good, &scratch), SL_SNS_VERIFY_BAD);
        m.signature_version.p = "3";
        assert_int_equal(sl_sns_verify(&m, good, &scratch), SL_SNS_VERIFY_VERSION);
        m.signature.p = "not base64!";
        m.signature.n = 11;
        m.signature_version.p = "1";
        assert_int_equal(sl_sns_verify(&m, good, &scratch), SL_SNS_VERIFY_ENCODING);
        m.signature.p = NULL;
        assert_int_equal(sl_sns_verify(&m, good, &scratch), SL_SNS_VERIFY_UNSIGNED);
        sl_sns_msg_release(&m);
        free(text);
    }
    for (int r = SL_SNS_VERIFY_OK; r <= SL_SNS_VERIFY_BAD; r++)
        assert_null(strstr(sl_sns_verify_message(r), "BEGIN"));
    sl_buf_release(&scratch);
    sl_sns_certs_free(certs);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    free(pem);
    free(other_pem);
}

static void test_cert_name(void **state)
{
    (void)state;
    static const struct {
        const char *url, *name;
    } cases[] = {
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
         "SimpleNotificationService-abc.pem"},
        {"https://h/a/b/c.pem?x=/y.pem", "c.pem"},
        {"https://h/", ""},
        {"https://h", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name;
        size_t n;
        sl_sns_cert_name(cases[i].url, strlen(cases[i].url), &name, &n);
        assert_int_equal(n, strlen(cases[i].name));
        assert_memory_equal(name, cases[i].name, n);
    }
}

static void test_hosts(void **state)
{
    (void)state;
    assert_true(sl_sns_host_match("sns.*.amazonaws.com", "sns.us-east-1.amazonaws.com"));
    assert_true(sl_sns_host_match("sns.*.amazonaws.com", "SNS.eu-west-3.AmazonAWS.com"));
    assert_false(sl_sns_host_match("sns.*.amazonaws.com", "sns.a.b.amazonaws.com"));
    assert_false(sl_sns_host_match("sns.*.amazonaws.com", "sns..amazonaws.com"));
    assert_false(sl_sns_host_match("sns.*.amazonaws.com", "sns.x.amazonaws.com.evil.net"));
    assert_true(sl_sns_host_match("127.0.0.1", "127.0.0.1"));
    char why[256];
    struct sl_strlist none = {0};
    assert_true(sl_sns_url_allowed("https://sns.us-east-1.amazonaws.com/?Action=X", &none, false,
                                   why, sizeof(why)));
    assert_false(
        sl_sns_url_allowed("http://sns.us-east-1.amazonaws.com/", &none, false, why, sizeof(why)));
    assert_non_null(strstr(why, "not https"));
    assert_false(sl_sns_url_allowed("https://evil.example/", &none, false, why, sizeof(why)));
    assert_non_null(strstr(why, "allow-list"));
    assert_false(sl_sns_url_allowed("https://sns.us-east-1.amazonaws.com@evil.example/", &none,
                                    false, why, sizeof(why)));
    char *loop[] = {"127.0.0.1"};
    struct sl_strlist local = {.v = loop, .n = 1};
    assert_true(sl_sns_url_allowed("http://127.0.0.1:9/x", &local, true, why, sizeof(why)));
    assert_false(sl_sns_url_allowed("http://127.0.0.1:9/x", &local, false, why, sizeof(why)));
    assert_false(sl_sns_url_allowed("not a url", &local, true, why, sizeof(why)));
}

static void test_record_event_and_view(void **state)
{
    (void)state;
    struct sl_sns_msg m;
    parse_ok(note_json, &m);
    struct sl_buf body, attrs, out;
    sl_buf_init(&body);
    sl_buf_init(&attrs);
    sl_buf_init(&out);
    sl_sns_write_record(&m, &body);
    sl_sns_write_attrs(&attrs, "arn:sub", 7);
    struct sl_push_pool pool;
    sl_push_pool_init(&pool, &sl_sns_record_ops, "orders");
    struct sl_record *r =
        sl_push_record_take(&pool, 5, m.message_id.p, 0, attrs.data, body.data, body.len);
    sl_sns_encode("src", &r, 1, SL_CFG_FORMAT_LAMBDA, &out);
    json_error_t jerr;
    json_t *ev = json_loads(out.data, 0, &jerr);
    assert_non_null(ev);
    json_t *rec = json_array_get(json_object_get(ev, "Records"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "EventSource")), "aws:sns");
    assert_string_equal(json_string_value(json_object_get(rec, "EventVersion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(rec, "EventSubscriptionArn")), "arn:sub");
    json_t *sns = json_object_get(rec, "Sns");
    assert_string_equal(json_string_value(json_object_get(sns, "SigningCertUrl")),
                        json_string_value(json_object_get(m.doc, "SigningCertURL")));
    assert_string_equal(json_string_value(json_object_get(sns, "Subject")), "My First Message");
    assert_true(json_is_object(json_object_get(sns, "MessageAttributes")));
    assert_null(json_object_get(sns, "SigningCertURL"));
    json_decref(ev);
    /* The partial batch identifier is the MessageId. */
    json_t *item = json_string(m.message_id.p);
    assert_true(r->ops->matches(r, item));
    json_decref(item);
    item = json_string("other");
    assert_false(r->ops->matches(r, item));
    json_decref(item);
    struct sl_fview v;
    assert_true(sl_sns_filter_view(r, &v));
    json_t *view = sl_fview_json(&v);
    assert_string_equal(json_string_value(json_object_get(json_object_get(view, "Sns"), "Message")),
                        "Hello world!");
    assert_string_equal(json_string_value(json_object_get(view, "EventSource")), "aws:sns");
    json_decref(view);
    r->ops->release(r);
    sl_push_pool_release(&pool);
    sl_sns_msg_release(&m);
    sl_buf_release(&body);
    sl_buf_release(&attrs);
    sl_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_to_sign), cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_verify),         cmocka_unit_test(test_cert_name),
        cmocka_unit_test(test_hosts),          cmocka_unit_test(test_record_event_and_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
