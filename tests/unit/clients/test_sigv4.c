/* The SigV4 signer against AWS's Signature Version 4 test suite and a Lambda Invoke request.
 *
 * The suite's vectors (get-vanilla, post-vanilla, get-vanilla-query-order-key-case,
 * get-header-value-trim, post-x-www-form-urlencoded, get-relative, get-slashes, get-unreserved:
 * credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z,
 * us-east-1, service "service") carry their published signatures; each was also recomputed with
 * the independent Python implementation in tests/lib/sigv4.py, which agrees. The Lambda vector
 * (an ARN function name, a Qualifier, a session token) has no published value: its expected
 * signature and canonical request come from tests/lib/sigv4.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clients/aws/sigv4.h"

#define AKID   "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE   "20150830T123600Z"
#define EMPTY  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PREFIX "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

/* Signs a suite request (host example.amazonaws.com, x-amz-date, extra headers) and returns
 * the Authorization value (static storage). */
static const char *suite_sign(const char *method, const char *path, const char *query,
                              const struct sl_sigv4_header *extra, size_t nextra, const char *body)
{
    static char out[512];
    struct sl_sigv4_header h[SL_SIGV4_MAX_HEADERS] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", DATE},
    };
    for (size_t i = 0; i < nextra; i++)
        h[2 + i] = extra[i];
    char hash[SL_SIGV4_HEX_LEN + 1];
    sl_sigv4_sha256_hex(body, strlen(body), hash);
    struct sl_sigv4_request req = {
        .method = method,
        .path = path,
        .query = query,
        .headers = h,
        .nheaders = 2 + nextra,
        .payload_hash = hash,
        .amz_date = DATE,
        .double_encode_path = true,
    };
    struct sl_buf scratch, auth;
    sl_buf_init(&scratch);
    sl_buf_init(&auth);
    assert_int_equal(
        sl_sigv4_authorization(&req, AKID, SECRET, "us-east-1", "service", NULL, &scratch, &auth),
        0);
    assert_true(auth.len < sizeof(out));
    memcpy(out, auth.data, auth.len + 1);
    sl_buf_release(&scratch);
    sl_buf_release(&auth);
    return out;
}

static void test_get_vanilla(void **state)
{
    assert_string_equal(suite_sign("GET", "/", NULL, NULL, 0, ""),
                        PREFIX "SignedHeaders=host;x-amz-date, "
                               "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d"
                               "763fbf31");
}

static void test_get_vanilla_canonical_request(void **state)
{
    struct sl_sigv4_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", DATE}};
    struct sl_sigv4_request req = {.method = "GET",
                                   .path = "/",
                                   .headers = h,
                                   .nheaders = 2,
                                   .payload_hash = EMPTY,
                                   .amz_date = DATE,
                                   .double_encode_path = true};
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_sigv4_canonical_request(&req, &b), 0);
    assert_string_equal(b.data, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" DATE
                                "\n\nhost;x-amz-date\n" EMPTY);
    sl_buf_release(&b);
}

static void test_post_vanilla(void **state)
{
    assert_string_equal(suite_sign("POST", "/", NULL, NULL, 0, ""),
                        PREFIX "SignedHeaders=host;x-amz-date, "
                               "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e9"
                               "2efbe5d6b");
}

static void test_query_order_key_case(void **state)
{
    /* Parameters are sorted by name: Param1 before Param2 whatever their order in the URL. */
    assert_string_equal(suite_sign("GET", "/", "Param2=value2&Param1=value1", NULL, 0, ""),
                        PREFIX "SignedHeaders=host;x-amz-date, "
                               "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec"
                               "94cdf2500");
}

static void test_header_value_trim(void **state)
{
    struct sl_sigv4_header extra[] = {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}};
    assert_string_equal(suite_sign("GET", "/", NULL, extra, 2, ""),
                        PREFIX "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                               "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359"
                               "757a9c736");
}

static void test_post_x_www_form_urlencoded(void **state)
{
    struct sl_sigv4_header extra[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    assert_string_equal(suite_sign("POST", "/", NULL, extra, 1, "Param1=value1"),
                        PREFIX "SignedHeaders=content-type;host;x-amz-date, "
                               "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a"
                               "0fe09473a");
}

static void test_path_normalisation(void **state)
{
    /* get-relative: "/example/.." is "/"; get-slashes: "//example//" is "/example/". */
    assert_string_equal(suite_sign("GET", "/example/..", NULL, NULL, 0, ""),
                        suite_sign("GET", "/", NULL, NULL, 0, ""));
    assert_string_equal(suite_sign("GET", "//example//", NULL, NULL, 0, ""),
                        PREFIX "SignedHeaders=host;x-amz-date, "
                               "Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570"
                               "885f57e84");
    assert_string_equal(
        suite_sign("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                   NULL, NULL, 0, ""),
        PREFIX "SignedHeaders=host;x-amz-date, "
               "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

#define LAMBDA_PATH                                                                                \
    "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Amy-fn/"      \
    "invocations"
#define LAMBDA_BODY "{\"Records\":[{\"n\":1}]}"
#define LAMBDA_HASH "1abf4d76336b6e77d135ad88dec57caac8a412342f43e61bd7ace55809e7963d"

static struct sl_sigv4_request lambda_request(struct sl_sigv4_header *h)
{
    struct sl_sigv4_header src[] = {
        {"host", "lambda.eu-west-1.amazonaws.com"},
        {"content-type", "application/json"},
        {"x-amz-content-sha256", LAMBDA_HASH},
        {"x-amz-date", "20261130T091500Z"},
        {"x-amz-invocation-type", "RequestResponse"},
        {"x-amz-security-token", "FQoGZXIvYXdzEXAMPLETOKEN"},
    };
    memcpy(h, src, sizeof(src));
    struct sl_sigv4_request req = {
        .method = "POST",
        .path = LAMBDA_PATH,
        .query = "Qualifier=%24LATEST",
        .headers = h,
        .nheaders = 6,
        .payload_hash = LAMBDA_HASH,
        .amz_date = "20261130T091500Z",
        .double_encode_path = true,
    };
    return req;
}

static void test_lambda_invoke_arn(void **state)
{
    char hash[SL_SIGV4_HEX_LEN + 1];
    sl_sigv4_sha256_hex(LAMBDA_BODY, strlen(LAMBDA_BODY), hash);
    assert_string_equal(hash, LAMBDA_HASH);

    struct sl_sigv4_header h[6];
    struct sl_sigv4_request req = lambda_request(h);
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_sigv4_canonical_request(&req, &b), 0);
    /* The ARN's ':' is %3A on the wire and %253A in the canonical URI (encoded once more). */
    assert_string_equal(
        b.data, "POST\n/2015-03-31/functions/"
                "arn%253Aaws%253Alambda%253Aeu-west-1%253A123456789012%253Afunction%253Amy-fn/"
                "invocations\nQualifier=%24LATEST\ncontent-type:application/json\n"
                "host:lambda.eu-west-1.amazonaws.com\nx-amz-content-sha256:" LAMBDA_HASH "\n"
                "x-amz-date:20261130T091500Z\nx-amz-invocation-type:RequestResponse\n"
                "x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN\n\n"
                "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-invocation-type;"
                "x-amz-security-token\n" LAMBDA_HASH);

    struct sl_buf scratch, auth;
    sl_buf_init(&scratch);
    sl_buf_init(&auth);
    struct sl_sigv4_key key = {.date = ""};
    assert_int_equal(
        sl_sigv4_authorization(&req, AKID, SECRET, "eu-west-1", "lambda", &key, &scratch, &auth),
        0);
    const char *want = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/eu-west-1/lambda/"
                       "aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;"
                       "x-amz-date;x-amz-invocation-type;x-amz-security-token, "
                       "Signature=192e29b2e077d1aae318178a9c3eacd1b9bd25bfe9aa176109cfd13fb8d2960e";
    assert_string_equal(auth.data, want);
    assert_string_equal(key.date, "20261130");
    /* The cached key signs the same; the secret is in neither buffer. */
    sl_buf_reset(&auth);
    assert_int_equal(sl_sigv4_authorization(&req, AKID, "not-used-while-cached", "eu-west-1",
                                            "lambda", &key, &scratch, &auth),
                     0);
    assert_string_equal(auth.data, want);
    assert_null(strstr(auth.data, SECRET));
    assert_null(strstr(scratch.data, SECRET));
    /* A new day derives a new key. */
    req.amz_date = "20261201T000000Z";
    sl_buf_reset(&auth);
    assert_int_equal(
        sl_sigv4_authorization(&req, AKID, SECRET, "eu-west-1", "lambda", &key, &scratch, &auth),
        0);
    assert_string_equal(key.date, "20261201");
    assert_non_null(strstr(auth.data, "/20261201/eu-west-1/lambda/aws4_request"));
    sl_buf_release(&b);
    sl_buf_release(&scratch);
    sl_buf_release(&auth);
}

static void test_s3_style_path_kept(void **state)
{
    struct sl_sigv4_header h[6];
    struct sl_sigv4_request req = lambda_request(h);
    req.double_encode_path = false;
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_sigv4_canonical_request(&req, &b), 0);
    assert_true(strncmp(b.data, "POST\n" LAMBDA_PATH "\n", strlen("POST\n" LAMBDA_PATH "\n")) == 0);
    sl_buf_release(&b);
}

static void test_query_encoding(void **state)
{
    struct sl_sigv4_header h[] = {{"host", "h"}};
    struct sl_sigv4_request req = {.method = "GET",
                                   .path = "/",
                                   .query = "b=2&a=x%20y&a=%2a&c&=z",
                                   .headers = h,
                                   .nheaders = 1,
                                   .payload_hash = EMPTY,
                                   .double_encode_path = true};
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_sigv4_canonical_request(&req, &b), 0);
    /* Decoded then encoded again (%2a -> *, -> %2A), sorted by name then value. */
    assert_non_null(strstr(b.data, "\n=z&a=%2A&a=x%20y&b=2&c=\n"));
    sl_buf_release(&b);
}

static void test_repeated_header_joined(void **state)
{
    struct sl_sigv4_header h[] = {{"X-B", "2"}, {"host", "h"}, {"x-b", " 1 "}};
    struct sl_sigv4_request req = {.method = "GET",
                                   .path = "/",
                                   .headers = h,
                                   .nheaders = 3,
                                   .payload_hash = EMPTY,
                                   .double_encode_path = true};
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_sigv4_canonical_request(&req, &b), 0);
    assert_string_equal(b.data, "GET\n/\n\nhost:h\nx-b:2,1\n\nhost;x-b\n" EMPTY);
    sl_buf_release(&b);
}

static void test_bad_input_refused(void **state)
{
    struct sl_sigv4_header h[SL_SIGV4_MAX_HEADERS + 1];
    for (size_t i = 0; i < SL_SIGV4_MAX_HEADERS + 1; i++)
        h[i] = (struct sl_sigv4_header){"x-h", "v"};
    struct sl_sigv4_request req = {.method = "GET",
                                   .path = "/",
                                   .headers = h,
                                   .nheaders = SL_SIGV4_MAX_HEADERS + 1,
                                   .payload_hash = EMPTY,
                                   .amz_date = DATE};
    struct sl_buf b, s;
    sl_buf_init(&b);
    sl_buf_init(&s);
    assert_int_equal(sl_sigv4_canonical_request(&req, &b), -EINVAL);
    req.nheaders = 1;
    req.amz_date = "2015";
    assert_int_equal(sl_sigv4_authorization(&req, AKID, SECRET, "r", "s", NULL, &s, &b), -EINVAL);
    char long_secret[400];
    memset(long_secret, 'k', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    req.amz_date = DATE;
    assert_int_equal(sl_sigv4_authorization(&req, AKID, long_secret, "r", "s", NULL, &s, &b),
                     -EINVAL);
    sl_buf_release(&b);
    sl_buf_release(&s);
}

static void test_amz_date_and_encode(void **state)
{
    char d[SL_SIGV4_DATE_LEN + 1];
    sl_sigv4_amz_date(1440938160000, d); /* 2015-08-30T12:36:00Z */
    assert_string_equal(d, DATE);
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sigv4_uri_encode(&b, "a:b/c $~", 8, false);
    assert_string_equal(b.data, "a%3Ab%2Fc%20%24~");
    sl_buf_reset(&b);
    sl_sigv4_uri_encode(&b, "a/b", 3, true);
    assert_string_equal(b.data, "a/b");
    sl_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_get_vanilla_canonical_request),
        cmocka_unit_test(test_post_vanilla),
        cmocka_unit_test(test_query_order_key_case),
        cmocka_unit_test(test_header_value_trim),
        cmocka_unit_test(test_post_x_www_form_urlencoded),
        cmocka_unit_test(test_path_normalisation),
        cmocka_unit_test(test_lambda_invoke_arn),
        cmocka_unit_test(test_s3_style_path_kept),
        cmocka_unit_test(test_query_encoding),
        cmocka_unit_test(test_repeated_header_joined),
        cmocka_unit_test(test_bad_input_refused),
        cmocka_unit_test(test_amz_date_and_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
