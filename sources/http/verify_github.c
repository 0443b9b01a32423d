/* GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` (GitHub docs,
 * "Validating webhook deliveries"). */
#include <string.h>

#include "sources/http/verify.h"

#define GITHUB_PREFIX "sha256="

enum sl_verify_result sl_verify_github(struct sl_verify_keys *k, const char *sig, size_t sig_len,
                                       const void *body, size_t body_len)
{
    if (!sig)
        return SL_VERIFY_MISSING;
    size_t plen = sizeof(GITHUB_PREFIX) - 1;
    unsigned char mac[SL_VERIFY_MAC_LEN];
    if (sig_len < plen || memcmp(sig, GITHUB_PREFIX, plen) != 0 ||
        sl_verify_hex_mac(sig + plen, sig_len - plen, mac) < 0)
        return SL_VERIFY_MALFORMED;
    const void *parts[] = {body};
    size_t lens[] = {body_len};
    return sl_verify_match(k, parts, lens, 1, mac, sizeof(mac)) ? SL_VERIFY_OK : SL_VERIFY_MISMATCH;
}
