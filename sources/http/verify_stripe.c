/* Stripe: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
 * possibly with several v1 values (while a secret is rolled) and other schemes (v0), which are
 * ignored (Stripe docs, "Verify webhook signatures manually"). */
#include <string.h>

#include "sources/http/verify.h"

static bool time_within(int64_t t, int64_t now_s, int64_t tolerance_s)
{
    return t >= now_s - tolerance_s && t <= now_s + tolerance_s;
}

enum sl_verify_result sl_verify_stripe(struct sl_verify_keys *k, const char *sig, size_t sig_len,
                                       const void *body, size_t body_len, int64_t now_s,
                                       int64_t tolerance_s)
{
    if (!sig)
        return SL_VERIFY_MISSING;
    if (sig_len > SL_VERIFY_MAX_HEADER)
        return SL_VERIFY_MALFORMED;
    const char *t = NULL;
    size_t t_len = 0;
    const char *v1[SL_VERIFY_MAX_SIGS];
    size_t nv1 = 0;
    const char *end = sig + sig_len;
    for (const char *item = sig; item < end;) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        const char *stop = comma ? comma : end;
        const char *eq = memchr(item, '=', (size_t)(stop - item));
        if (!eq)
            return SL_VERIFY_MALFORMED;
        size_t klen = (size_t)(eq - item), vlen = (size_t)(stop - eq - 1);
        if (klen == 1 && item[0] == 't') {
            if (t)
                return SL_VERIFY_MALFORMED;
            t = eq + 1;
            t_len = vlen;
        } else if (klen == 2 && item[0] == 'v' && item[1] == '1') {
            if (nv1 == SL_VERIFY_MAX_SIGS)
                return SL_VERIFY_TOO_MANY;
            if (vlen != 2 * SL_VERIFY_MAC_LEN)
                return SL_VERIFY_MALFORMED;
            v1[nv1++] = eq + 1;
        }
        item = comma ? comma + 1 : end;
    }
    int64_t ts;
    if (!t || nv1 == 0 || sl_verify_parse_time(t, t_len, &ts) < 0)
        return SL_VERIFY_MALFORMED;
    const void *parts[] = {t, ".", body};
    size_t lens[] = {t_len, 1, body_len};
    bool ok = false;
    for (size_t i = 0; i < nv1; i++) {
        unsigned char mac[SL_VERIFY_MAC_LEN];
        if (sl_verify_hex_mac(v1[i], 2 * SL_VERIFY_MAC_LEN, mac) < 0)
            return SL_VERIFY_MALFORMED;
        ok |= sl_verify_match(k, parts, lens, 3, mac, sizeof(mac));
    }
    if (!ok)
        return SL_VERIFY_MISMATCH;
    /* The timestamp is signed: checked once it is known to be the pusher's. */
    return time_within(ts, now_s, tolerance_s) ? SL_VERIFY_OK : SL_VERIFY_STALE;
}
