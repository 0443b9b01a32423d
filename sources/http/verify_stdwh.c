/* Standard Webhooks (standardwebhooks.com, the specification's "Verifying signatures"):
 * headers webhook-id, webhook-timestamp and webhook-signature, a space-separated list of
 * `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>` (other versions, such as the
 * asymmetric v1a, are ignored); the secret is `whsec_` followed by the key in base64. */
#include <openssl/crypto.h>
#include <string.h>

#include "core/b64.h"
#include "sources/http/verify.h"

#define STDWH_SECRET_PREFIX "whsec_"

long sl_verify_stdwh_secret(const char *secret, unsigned char *out, size_t cap)
{
    size_t plen = sizeof(STDWH_SECRET_PREFIX) - 1;
    size_t len = strlen(secret);
    if (len <= plen || strncmp(secret, STDWH_SECRET_PREFIX, plen) != 0)
        return -1;
    len -= plen;
    /* sl_b64_decode writes len / 4 * 3 bytes at most: within tmp. */
    unsigned char tmp[SL_VERIFY_MAX_KEY + 3];
    if (len > SL_B64_ENCODED_LEN(SL_VERIFY_MAX_KEY))
        return -1;
    long n = sl_b64_decode(secret + plen, len, tmp);
    if (n <= 0 || (size_t)n > cap) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return -1;
    }
    memcpy(out, tmp, (size_t)n);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return n;
}

enum sl_verify_result sl_verify_stdwh(struct sl_verify_keys *k, const char *id, size_t id_len,
                                      const char *ts, size_t ts_len, const char *sig,
                                      size_t sig_len, const void *body, size_t body_len,
                                      int64_t now_s, int64_t tolerance_s)
{
    if (!id || !ts || !sig)
        return SL_VERIFY_MISSING;
    int64_t t;
    if (id_len == 0 || id_len > SL_VERIFY_MAX_ID || sig_len > SL_VERIFY_MAX_HEADER ||
        sl_verify_parse_time(ts, ts_len, &t) < 0)
        return SL_VERIFY_MALFORMED;
    /* The specification checks the timestamp first: a replay is refused before any MAC. */
    if (t < now_s - tolerance_s || t > now_s + tolerance_s)
        return SL_VERIFY_STALE;
    const void *parts[] = {id, ".", ts, ".", body};
    size_t lens[] = {id_len, 1, ts_len, 1, body_len};
    size_t nsigs = 0;
    bool ok = false;
    const char *end = sig + sig_len;
    for (const char *item = sig; item < end;) {
        const char *sp = memchr(item, ' ', (size_t)(end - item));
        const char *stop = sp ? sp : end;
        size_t len = (size_t)(stop - item);
        if (len > 0) {
            if (++nsigs > SL_VERIFY_MAX_SIGS)
                return SL_VERIFY_TOO_MANY;
            const char *comma = memchr(item, ',', len);
            if (!comma)
                return SL_VERIFY_MALFORMED;
            unsigned char mac[SL_VERIFY_MAC_LEN];
            /* A v1 value that is not a MAC of the right length matches nothing. */
            if (comma - item == 2 && item[0] == 'v' && item[1] == '1' &&
                sl_verify_b64_mac(comma + 1, (size_t)(stop - comma - 1), mac) == 0)
                ok |= sl_verify_match(k, parts, lens, 5, mac, sizeof(mac));
        }
        item = sp ? sp + 1 : end;
    }
    if (nsigs == 0)
        return SL_VERIFY_MALFORMED;
    return ok ? SL_VERIFY_OK : SL_VERIFY_MISMATCH;
}
