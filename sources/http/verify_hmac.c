/* hmac-sha256: a configured header holding [prefix]<hex or base64 HMAC-SHA256(secret, raw
 * body)>, the shape most other providers use (docs/WEBHOOKS.md). */
#include <string.h>

#include "sources/http/verify.h"

enum sl_verify_result sl_verify_hmac(struct sl_verify_keys *k, int encoding, const char *prefix,
                                     const char *sig, size_t sig_len, const void *body,
                                     size_t body_len)
{
    if (!sig)
        return SL_VERIFY_MISSING;
    if (sig_len > SL_VERIFY_MAX_HEADER)
        return SL_VERIFY_MALFORMED;
    size_t plen = prefix ? strlen(prefix) : 0;
    if (sig_len < plen || (plen && memcmp(sig, prefix, plen) != 0))
        return SL_VERIFY_MALFORMED;
    unsigned char mac[SL_VERIFY_MAC_LEN];
    int rc = encoding == SL_VERIFY_BASE64 ? sl_verify_b64_mac(sig + plen, sig_len - plen, mac)
                                          : sl_verify_hex_mac(sig + plen, sig_len - plen, mac);
    if (rc < 0)
        return SL_VERIFY_MALFORMED;
    const void *parts[] = {body};
    size_t lens[] = {body_len};
    return sl_verify_match(k, parts, lens, 1, mac, sizeof(mac)) ? SL_VERIFY_OK : SL_VERIFY_MISMATCH;
}
