/* Fuzzes the signature-header parsers of signed webhooks (sources/http/verify_*.c): GitHub's
 * X-Hub-Signature-256, Stripe-Signature, the Standard Webhooks headers, the hmac-sha256 header
 * and the whsec_ secret. Input: one byte choosing the scheme, then newline-separated header
 * values, then the body. Besides not crashing: a result is one of the enum's; a header the
 * parser accepts as matching is the MAC OpenSSL's HMAC() computes; and the MAC HMAC() computes
 * for the fuzzed body (and id and timestamp) is accepted. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "sources/http/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char KEY[] = "fuzz-secret";
#define NOW 1700000000

/* The next newline-terminated field of [*p, end), or the rest when there is no newline. */
static const char *field(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    *len = nl ? (size_t)(nl - s) : (size_t)(end - s);
    *p = nl ? nl + 1 : end;
    return s;
}

static void check_result(enum sl_verify_result r)
{
    if (r < SL_VERIFY_OK || r > SL_VERIFY_TOO_MANY)
        abort();
}

static void hmac_of(const void *msg, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    HMAC(EVP_sha256(), KEY, (int)strlen(KEY), msg, len, out, &n);
}

static void to_hex(const unsigned char *mac, char *out)
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sl_verify_keys k = {0};
    sl_verify_keys_add(&k, KEY, strlen(KEY));
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    size_t a_len, b_len, c_len;
    const char *a = field(&p, end, &a_len);
    const char *b = field(&p, end, &b_len);
    const char *c = field(&p, end, &c_len);
    const char *body = p;
    size_t body_len = (size_t)(end - p);
    unsigned char mac[32];
    char hex[80];
    enum sl_verify_result r;

    switch (data[0] % 5) {
    case 0: /* github: a is the header */
        r = sl_verify_github(&k, a, a_len, body, body_len);
        check_result(r);
        hmac_of(body, body_len, mac);
        to_hex(mac, hex);
        if (r == SL_VERIFY_OK && (a_len != 71 || strncasecmp(a + 7, hex, 64) != 0))
            abort();
        {
            char good[80];
            snprintf(good, sizeof(good), "sha256=%s", hex);
            if (sl_verify_github(&k, good, strlen(good), body, body_len) != SL_VERIFY_OK)
                abort();
        }
        break;
    case 1: /* stripe: a is the header */
        check_result(sl_verify_stripe(&k, a, a_len, body, body_len, NOW, 300));
        break;
    case 2: { /* standard webhooks: a id, b timestamp, c signature */
        r = sl_verify_stdwh(&k, a, a_len, b, b_len, c, c_len, body, body_len, NOW, 300);
        check_result(r);
        int64_t t;
        if (a_len > 0 && a_len <= SL_VERIFY_MAX_ID && sl_verify_parse_time(b, b_len, &t) == 0 &&
            t >= NOW - 300 && t <= NOW + 300) {
            /* The MAC HMAC() computes over id.timestamp.body is accepted. */
            size_t n = a_len + b_len + 2 + body_len;
            char *msg = malloc(n ? n : 1);
            if (!msg)
                break;
            memcpy(msg, a, a_len);
            msg[a_len] = '.';
            memcpy(msg + a_len + 1, b, b_len);
            msg[a_len + 1 + b_len] = '.';
            if (body_len)
                memcpy(msg + a_len + b_len + 2, body, body_len);
            hmac_of(msg, n, mac);
            free(msg);
            char sig[64] = "v1,";
            sl_b64_encode(mac, 32, sig + 3);
            sig[3 + 44] = '\0';
            if (sl_verify_stdwh(&k, a, a_len, b, b_len, sig, strlen(sig), body, body_len, NOW,
                                300) != SL_VERIFY_OK)
                abort();
        }
        break;
    }
    case 3: /* hmac-sha256, base64 under a prefix */
        check_result(sl_verify_hmac(&k, SL_VERIFY_BASE64, "v=", a, a_len, body, body_len));
        check_result(sl_verify_hmac(&k, SL_VERIFY_HEX, NULL, a, a_len, body, body_len));
        break;
    default: { /* a whsec_ secret */
        char *s = malloc(a_len + 1);
        if (!s)
            break;
        memcpy(s, a, a_len);
        s[a_len] = '\0';
        unsigned char raw[SL_VERIFY_MAX_KEY];
        long n = sl_verify_stdwh_secret(s, raw, sizeof(raw));
        if (n == 0 || n > SL_VERIFY_MAX_KEY)
            abort();
        free(s);
        break;
    }
    }
    sl_verify_keys_release(&k);
    return 0;
}
