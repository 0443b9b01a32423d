/* Webhook signatures (sources/http/verify*.c) against the schemes' published test vectors:
 * GitHub's ("Validating webhook deliveries"), the Standard Webhooks reference vector, RFC 4231
 * for HMAC-SHA256 with a key longer than a block, and a Stripe header built with Stripe's
 * documented algorithm; then the config checks, and the dedupe table on a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/store.h"
#include "sources/http/dedupe.h"
#include "sources/http/verify.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void keys_of(struct sl_verify_keys *k, const char *secret)
{
    memset(k, 0, sizeof(*k));
    assert_int_equal(sl_verify_keys_add(k, secret, strlen(secret)), 0);
}

/* GitHub docs: secret "It's a Secret to Everybody", payload "Hello, World!". */
static const char GH_SIG[] =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

static void test_github_vector(void **state)
{
    struct sl_verify_keys k;
    keys_of(&k, "It's a Secret to Everybody");
    assert_int_equal(sl_verify_github(&k, S(GH_SIG), S("Hello, World!")), SL_VERIFY_OK);
    /* Hex digits in upper case are the same MAC. */
    char upper[sizeof(GH_SIG)];
    memcpy(upper, GH_SIG, sizeof(GH_SIG));
    for (char *c = upper + 7; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    assert_int_equal(sl_verify_github(&k, upper, strlen(upper), S("Hello, World!")), SL_VERIFY_OK);
    assert_int_equal(sl_verify_github(&k, S(GH_SIG), S("Hello, World?")), SL_VERIFY_MISMATCH);
    assert_int_equal(sl_verify_github(&k, NULL, 0, S("Hello, World!")), SL_VERIFY_MISSING);
    assert_int_equal(sl_verify_github(&k, S("sha1=757107ea"), S("x")), SL_VERIFY_MALFORMED);
    assert_int_equal(sl_verify_github(&k, GH_SIG, sizeof(GH_SIG) - 2, S("x")), SL_VERIFY_MALFORMED);
    assert_int_equal(sl_verify_github(&k,
                                      S("sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586"
                                        "c22c46f4379c8b043e17"),
                                      S("Hello, World!")),
                     SL_VERIFY_MALFORMED);
    sl_verify_keys_release(&k);
    /* Rotation: the old secret first, the right one second. */
    keys_of(&k, "old secret");
    assert_int_equal(sl_verify_github(&k, S(GH_SIG), S("Hello, World!")), SL_VERIFY_MISMATCH);
    assert_int_equal(sl_verify_keys_add(&k, S("It's a Secret to Everybody")), 0);
    assert_int_equal(sl_verify_github(&k, S(GH_SIG), S("Hello, World!")), SL_VERIFY_OK);
    sl_verify_keys_release(&k);
}

/* RFC 4231 test case 6: a 131-byte key is hashed first. */
static void test_hmac_long_key(void **state)
{
    unsigned char key[131];
    memset(key, 0xaa, sizeof(key));
    struct sl_verify_keys k = {0};
    assert_int_equal(sl_verify_keys_add(&k, key, sizeof(key)), 0);
    assert_int_equal(
        sl_verify_hmac(&k, SL_VERIFY_HEX, NULL,
                       S("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
                       S("Test Using Larger Than Block-Size Key - Hash Key First")),
        SL_VERIFY_OK);
    for (int i = 1; i < SL_VERIFY_MAX_KEYS; i++)
        assert_int_equal(sl_verify_keys_add(&k, "k", 1), 0);
    assert_int_equal(sl_verify_keys_add(&k, "k", 1), -ENOSPC);
    sl_verify_keys_release(&k);
}

static void test_hmac_header(void **state)
{
    struct sl_verify_keys k;
    keys_of(&k, "It's a Secret to Everybody");
    /* The GitHub MAC in base64, under a prefix. */
    static const char b64[] = "v=dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=";
    assert_int_equal(sl_verify_hmac(&k, SL_VERIFY_BASE64, "v=", S(b64), S("Hello, World!")),
                     SL_VERIFY_OK);
    assert_int_equal(sl_verify_hmac(&k, SL_VERIFY_BASE64, "w=", S(b64), S("Hello, World!")),
                     SL_VERIFY_MALFORMED);
    assert_int_equal(sl_verify_hmac(&k, SL_VERIFY_HEX, "sha256=", S(GH_SIG), S("Hello, World!")),
                     SL_VERIFY_OK);
    assert_int_equal(sl_verify_hmac(&k, SL_VERIFY_HEX, NULL, S(GH_SIG), S("Hello, World!")),
                     SL_VERIFY_MALFORMED);
    assert_int_equal(sl_verify_hmac(&k, SL_VERIFY_HEX, NULL, NULL, 0, S("x")), SL_VERIFY_MISSING);
    assert_int_equal(sl_verify_hmac(&k, SL_VERIFY_HEX, "sha256=", S(GH_SIG), S("Hello")),
                     SL_VERIFY_MISMATCH);
    sl_verify_keys_release(&k);
}

/* Built with Stripe's documented algorithm: HMAC-SHA256(secret, "<t>.<body>") in hex. */
static const char STRIPE_BODY[] = "{\"id\":\"evt_test_webhook\",\"object\":\"event\"}";
static const char STRIPE_V1[] = "3c5817089d739023dd6190f70a3757e04f7a2fd8b5dab12c2e000f51970dccff";
#define STRIPE_T 1614265330

static void test_stripe(void **state)
{
    struct sl_verify_keys k;
    keys_of(&k, "whsec_test_secret");
    char hdr[512];
    snprintf(hdr, sizeof(hdr), "t=%d,v1=%s", STRIPE_T, STRIPE_V1);
    assert_int_equal(sl_verify_stripe(&k, hdr, strlen(hdr), S(STRIPE_BODY), STRIPE_T, 300),
                     SL_VERIFY_OK);
    /* Within the tolerance either way; outside it a replay. */
    assert_int_equal(sl_verify_stripe(&k, hdr, strlen(hdr), S(STRIPE_BODY), STRIPE_T + 300, 300),
                     SL_VERIFY_OK);
    assert_int_equal(sl_verify_stripe(&k, hdr, strlen(hdr), S(STRIPE_BODY), STRIPE_T + 301, 300),
                     SL_VERIFY_STALE);
    assert_int_equal(sl_verify_stripe(&k, hdr, strlen(hdr), S(STRIPE_BODY), STRIPE_T - 301, 300),
                     SL_VERIFY_STALE);
    /* Several v1 (a secret being rolled) and a v0 among them: any v1 may match. */
    snprintf(hdr, sizeof(hdr), "t=%d,v1=%064d,v0=abc,v1=%s", STRIPE_T, 0, STRIPE_V1);
    assert_int_equal(sl_verify_stripe(&k, hdr, strlen(hdr), S(STRIPE_BODY), STRIPE_T, 300),
                     SL_VERIFY_OK);
    /* A changed timestamp does not match (it is signed). */
    snprintf(hdr, sizeof(hdr), "t=%d,v1=%s", STRIPE_T + 1, STRIPE_V1);
    assert_int_equal(sl_verify_stripe(&k, hdr, strlen(hdr), S(STRIPE_BODY), STRIPE_T, 300),
                     SL_VERIFY_MISMATCH);
    assert_int_equal(sl_verify_stripe(&k, NULL, 0, S(STRIPE_BODY), STRIPE_T, 300),
                     SL_VERIFY_MISSING);
    const char *bad[] = {"",
                         "t=1614265330",
                         "v1="
                         "3c5817089d739023dd6190f70a3757e04f7a2fd8b5dab"
                         "12c2e000f51970dccff",
                         "t=abc,v1=00",
                         "garbage",
                         "t=1,t=2,v1=00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            sl_verify_stripe(&k, bad[i], strlen(bad[i]), S(STRIPE_BODY), STRIPE_T, 300),
            SL_VERIFY_MALFORMED);
    char many[2048];
    int n = snprintf(many, sizeof(many), "t=%d", STRIPE_T);
    for (int i = 0; i <= SL_VERIFY_MAX_SIGS; i++)
        n += snprintf(many + n, sizeof(many) - (size_t)n, ",v1=%s", STRIPE_V1);
    assert_int_equal(sl_verify_stripe(&k, many, (size_t)n, S(STRIPE_BODY), STRIPE_T, 300),
                     SL_VERIFY_TOO_MANY);
    sl_verify_keys_release(&k);
}

/* The Standard Webhooks reference vector. */
static const char SW_SECRET[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char SW_ID[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char SW_TS[] = "1614265330";
static const char SW_BODY[] = "{\"test\": 2432232314}";
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_NOW 1614265330

static enum sl_verify_result sw(struct sl_verify_keys *k, const char *sig, int64_t now)
{
    return sl_verify_stdwh(k, S(SW_ID), S(SW_TS), sig, sig ? strlen(sig) : 0, S(SW_BODY), now, 300);
}

static void test_standard_webhooks_vector(void **state)
{
    unsigned char raw[SL_VERIFY_MAX_KEY];
    long n = sl_verify_stdwh_secret(SW_SECRET, raw, sizeof(raw));
    assert_int_equal(n, 24);
    struct sl_verify_keys k = {0};
    assert_int_equal(sl_verify_keys_add(&k, raw, (size_t)n), 0);
    assert_int_equal(sw(&k, SW_SIG, SW_NOW), SL_VERIFY_OK);
    /* A list: other versions and bad values are skipped, any v1 may match. */
    assert_int_equal(sw(&k, "v1a,abc v1,bm9wZQ== " SW_SIG, SW_NOW), SL_VERIFY_OK);
    assert_int_equal(sw(&k, "v1,bm9wZQ== v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_NOW),
                     SL_VERIFY_MISMATCH);
    assert_int_equal(sw(&k, SW_SIG, SW_NOW + 301), SL_VERIFY_STALE);
    assert_int_equal(sw(&k, SW_SIG, SW_NOW - 301), SL_VERIFY_STALE);
    assert_int_equal(sw(&k, NULL, SW_NOW), SL_VERIFY_MISSING);
    assert_int_equal(sw(&k, "", SW_NOW), SL_VERIFY_MALFORMED);
    assert_int_equal(sw(&k, "nocomma", SW_NOW), SL_VERIFY_MALFORMED);
    char many[1024] = "";
    for (int i = 0; i <= SL_VERIFY_MAX_SIGS; i++)
        strcat(many, "v1,bm9wZQ== ");
    assert_int_equal(sw(&k, many, SW_NOW), SL_VERIFY_TOO_MANY);
    assert_int_equal(
        sl_verify_stdwh(&k, S(SW_ID), S("16142x5330"), S(SW_SIG), S(SW_BODY), SW_NOW, 300),
        SL_VERIFY_MALFORMED);
    assert_int_equal(
        sl_verify_stdwh(&k, S(SW_ID), S(SW_TS), S(SW_SIG), S("{\"test\": 1}"), SW_NOW, 300),
        SL_VERIFY_MISMATCH);
    sl_verify_keys_release(&k);
    /* Secrets that are not whsec_ + base64. */
    assert_true(sl_verify_stdwh_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", raw, sizeof(raw)) < 0);
    assert_true(sl_verify_stdwh_secret("whsec_", raw, sizeof(raw)) < 0);
    assert_true(sl_verify_stdwh_secret("whsec_MfKQ9r8G!YqrTwjUPD8ILPZIo2LaLaSw", raw, sizeof(raw)) <
                0);
    assert_true(sl_verify_stdwh_secret("whsec_MfK", raw, sizeof(raw)) < 0);
}

static int init_err(struct sl_verify_cfg *c, char *key, size_t cap)
{
    struct sl_verifier v;
    struct sl_verify_err e;
    int rc = sl_verifier_init(&v, c, &e);
    if (rc == 0) {
        sl_verifier_release(&v);
        return 0;
    }
    snprintf(key, cap, "%s", e.key);
    /* The message never holds a secret's value. */
    assert_null(strstr(e.why, "MfKQ9r8"));
    assert_null(strstr(e.why, "hunter2"));
    return rc;
}

static void test_config_checks(void **state)
{
    char key[32];
    char *list[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64"};
    struct sl_verify_cfg c = {.type = SL_VERIFY_GITHUB, .tolerance_ms = 300000};
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "secret");
    c.secret = "hunter2";
    assert_int_equal(init_err(&c, key, sizeof(key)), 0);
    c.header = "x-sig";
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "header");
    c.header = NULL;
    c.encoding = SL_VERIFY_BASE64;
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "encoding");
    c.encoding = SL_VERIFY_HEX;

    c.type = SL_VERIFY_HMAC;
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "header");
    c.header = "bad header:";
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "header");
    c.header = "X-Signature";
    assert_int_equal(init_err(&c, key, sizeof(key)), 0);
    c.header = NULL;

    c.type = SL_VERIFY_STDWH;
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "secret");
    c.secret = NULL;
    c.secrets.v = list;
    c.secrets.n = 1;
    assert_int_equal(init_err(&c, key, sizeof(key)), 0);
    c.secrets.n = 2;
    assert_int_equal(init_err(&c, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "secrets[1]");

    struct sl_verify_cfg none = {.type = SL_VERIFY_NONE, .secret = "hunter2"};
    assert_int_equal(init_err(&none, key, sizeof(key)), SL_ECONFIG);
    assert_string_equal(key, "type");
}

struct job_arg {
    struct sl_dedupe_flight *f;
    int status;
};

static int record_with_status(struct sl_store_conn *c, void *arg)
{
    return sl_dedupe_record_job(c, ((struct job_arg *)arg)->f);
}

static void status_done(int status, void *arg)
{
    ((struct job_arg *)arg)->status = status;
}

/* The delivery ids on a real store: recorded by the job the spool runs, found within the window
 * only, across a reopen. */
static void test_dedupe_table(void **state)
{
    char dir[] = "/tmp/sl-dedupe-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sl_store *st;
    struct sl_err err;
    assert_int_equal(sl_store_open(NULL, dir, NULL, &st, &err), 0);
    assert_int_equal(sl_store_exec(st, sl_webhook_dedupe_schema, &err), 0);
    struct sl_dedupe *d = sl_dedupe_create(NULL, st, "gh", 60000, 100);
    char first[SL_ID_LEN + 1];
    assert_int_equal(sl_dedupe_find(d, S("delivery-1"), 1000000, first), 0);
    struct sl_dedupe_flight *f = sl_dedupe_begin(d, S("delivery-1"), "id-of-first", 1000000);
    assert_ptr_equal(sl_dedupe_in_flight(d, S("delivery-1")), f);
    assert_null(sl_dedupe_in_flight(d, S("delivery-2")));
    assert_int_equal(sl_store_submit(st, sl_dedupe_record_job, NULL, f), 0);
    sl_dedupe_end(f, 0);
    assert_null(sl_dedupe_in_flight(d, S("delivery-1")));
    assert_int_equal(sl_dedupe_find(d, S("delivery-1"), 1000000 + 60000, first), 1);
    assert_string_equal(first, "id-of-first");
    /* Past the window it is a new delivery; another hook's ids are its own. */
    assert_int_equal(sl_dedupe_find(d, S("delivery-1"), 1000000 + 60001, first), 0);
    /* A copy recorded again within the window (a hook made anew by a reload did not see the
     * first in flight): the table refuses it, its savepoint rolls back, and the answer is the
     * first delivery's id. */
    struct sl_dedupe_flight *g = sl_dedupe_begin(d, S("delivery-1"), "id-of-copy", 1000500);
    struct job_arg ja = {g, 1};
    assert_int_equal(sl_store_submit(st, record_with_status, status_done, &ja), 0);
    assert_int_equal(ja.status, SL_DEDUPE_SEEN);
    assert_string_equal(sl_dedupe_flight_id(g), "id-of-first");
    sl_dedupe_end(g, SL_DEDUPE_SEEN);
    /* Past the window, the row is taken over by the new delivery. */
    g = sl_dedupe_begin(d, S("delivery-1"), "id-of-later", 1000000 + 60001);
    ja = (struct job_arg){g, 1};
    assert_int_equal(sl_store_submit(st, record_with_status, status_done, &ja), 0);
    assert_int_equal(ja.status, 0);
    assert_string_equal(sl_dedupe_flight_id(g), "id-of-later");
    sl_dedupe_end(g, 0);
    assert_int_equal(sl_dedupe_find(d, S("delivery-1"), 1000000 + 60001, first), 1);
    assert_string_equal(first, "id-of-later");
    struct sl_dedupe *other = sl_dedupe_create(NULL, st, "other", 60000, 100);
    assert_int_equal(sl_dedupe_find(other, S("delivery-1"), 1000000, first), 0);
    sl_dedupe_destroy(other);
    sl_dedupe_destroy(d);
    sl_store_close(st);

    assert_int_equal(sl_store_open(NULL, dir, NULL, &st, &err), 0);
    d = sl_dedupe_create(NULL, st, "gh", 60000, 100);
    assert_int_equal(sl_dedupe_find(d, S("delivery-1"), 1000001, first), 1);
    assert_string_equal(first, "id-of-later");
    sl_dedupe_destroy(d);
    sl_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github_vector),
        cmocka_unit_test(test_hmac_long_key),
        cmocka_unit_test(test_hmac_header),
        cmocka_unit_test(test_stripe),
        cmocka_unit_test(test_standard_webhooks_vector),
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_dedupe_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
