#include "sources/push.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

bool sl_push_bearer_ok(const char *token, const struct sl_http_req *req)
{
    if (!token || !*token)
        return true;
    size_t len;
    const char *auth = sl_http_header_get(req, "authorization", &len);
    if (!auth || len < 7 || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    size_t given_len = len - 7;
    size_t want_len = strlen(token);
    /* Constant time in the token's content; the length is not secret. */
    return given_len == want_len && CRYPTO_memcmp(given, token, want_len) == 0;
}

void sl_push_respond_unavailable(struct sl_http_exchange *x, int code)
{
#define UNAVAILABLE(msg) "{\"error\":\"spool_unavailable\",\"message\":\"" msg "\"}"
    static const char lost[] = UNAVAILABLE(
        "the store directory is gone: no event is accepted until an operator restores it");
    static const char full[] =
        UNAVAILABLE("the store has no space left (disk full or file size limit); retry later");
    static const char other[] = UNAVAILABLE("the event could not be stored durably; retry later");
#undef UNAVAILABLE
    static const char *const lost_hdr[] = {"Retry-After: 30"};
    static const char *const hdr[] = {"Retry-After: 5"};
    if (code == SL_ESTORELOST)
        sl_http_respond(x, 503, "application/json", lost_hdr, 1, lost, sizeof(lost) - 1);
    else if (code == -ENOSPC)
        sl_http_respond(x, 503, "application/json", hdr, 1, full, sizeof(full) - 1);
    else
        sl_http_respond(x, 503, "application/json", hdr, 1, other, sizeof(other) - 1);
}

void sl_push_respond_put_error(struct sl_http_exchange *x, int rc)
{
    if (rc != SL_EFULL) {
        sl_push_respond_unavailable(x, rc);
        return;
    }
    static const char *const hdr[] = {"Retry-After: 5"};
    static const char body[] =
        "{\"error\":\"spool_full\",\"message\":\"the spool is over its quota; retry later\"}";
    sl_http_respond(x, 503, "application/json", hdr, 1, body, sizeof(body) - 1);
}
