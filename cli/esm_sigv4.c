/* SigV4 on the ESM API (cli/esm.h): the signature of a request is computed again with the
 * configured secret of its access key (clients/aws/sigv4.h) and compared in constant time, as
 * AWS checks it
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html): the key
 * must be known, x-amz-date within SL_ESM_SIGV4_SKEW_MS of now, the credential scope of that day,
 * and every header it signs present. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/app.h"
#include "cli/esm.h"
#include "clients/aws/sigv4.h"
#include "core/buf.h"
#include "core/mem.h"
#include "core/time.h"

#define AUTH_MAX 4096

/* The value of `name=` in an Authorization header's list ("a=x, b=y"), cut at ',' or end. */
static bool auth_field(const char *auth, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = auth; (p = strstr(p, name)) != NULL; p += n) {
        if (p != auth && p[-1] != ' ' && p[-1] != ',')
            continue;
        if (p[n] != '=')
            continue;
        const char *v = p + n + 1, *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        while (len && v[len - 1] == ' ')
            len--;
        if (len >= cap)
            return false;
        memcpy(out, v, len);
        out[len] = '\0';
        return true;
    }
    return false;
}

static int deny(struct sl_esm_error *e, int status, const char *type, const char *msg)
{
    e->status = status;
    e->type = type;
    snprintf(e->message, sizeof(e->message), "%s", msg);
    return -1;
}

/* "YYYYMMDDTHHMMSSZ" as ms since the epoch, or -1. */
static int64_t amz_date_ms(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strlen(s) != SL_SIGV4_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return -1;
    if (sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t * 1000;
}

int sl_esm_sigv4_check(const struct sl_app *app, const struct sl_http_req *req,
                       struct sl_esm_error *e)
{
    const struct sl_objlist *keys = &app->cfg.admin.aws_credentials;
    size_t alen = 0, dlen = 0;
    const char *a = sl_http_header_get(req, "authorization", &alen);
    const char *d = sl_http_header_get(req, "x-amz-date", &dlen);
    if (!a || alen < 17 || alen >= AUTH_MAX || strncmp(a, "AWS4-HMAC-SHA256 ", 17) != 0)
        return deny(e, 403, "MissingAuthenticationTokenException",
                    "Missing Authentication Token: sign the request with AWS Signature Version 4");
    char auth[AUTH_MAX], cred[512], signed_hdrs[1024], sig[SL_SIGV4_HEX_LEN + 2], date[32];
    memcpy(auth, a + 17, alen - 17);
    auth[alen - 17] = '\0';
    if (!auth_field(auth, "Credential", cred, sizeof(cred)) ||
        !auth_field(auth, "SignedHeaders", signed_hdrs, sizeof(signed_hdrs)) ||
        !auth_field(auth, "Signature", sig, sizeof(sig)) || strlen(sig) != SL_SIGV4_HEX_LEN)
        return deny(e, 403, "IncompleteSignatureException",
                    "Authorization header requires Credential, SignedHeaders and Signature");
    if (!d || dlen >= sizeof(date))
        return deny(e, 403, "IncompleteSignatureException", "x-amz-date is missing");
    memcpy(date, d, dlen);
    date[dlen] = '\0';
    /* Credential=AKID/YYYYMMDD/region/service/aws4_request */
    char *parts[5] = {0};
    size_t np = 0;
    for (char *p = cred, *save = NULL; np < 5 && (p = strtok_r(p, "/", &save)); p = NULL)
        parts[np++] = p;
    if (np != 5 || strcmp(parts[4], "aws4_request") != 0)
        return deny(e, 403, "IncompleteSignatureException",
                    "Credential must be <key id>/<date>/<region>/<service>/aws4_request");
    const struct sl_cfg_aws_key *key = NULL;
    for (size_t i = 0; i < keys->n; i++) {
        const struct sl_cfg_aws_key *k = SL_OBJLIST_AT(*keys, const struct sl_cfg_aws_key, i);
        if (strcmp(k->access_key_id, parts[0]) == 0)
            key = k;
    }
    if (!key)
        return deny(e, 403, "UnrecognizedClientException",
                    "The security token included in the request is invalid.");
    int64_t t = amz_date_ms(date), now = sl_now_ms();
    if (t < 0 || strncmp(parts[1], date, 8) != 0)
        return deny(e, 403, "InvalidSignatureException",
                    "x-amz-date must be YYYYMMDDTHHMMSSZ of the day of the credential scope");
    if (t < now - SL_ESM_SIGV4_SKEW_MS || t > now + SL_ESM_SIGV4_SKEW_MS)
        return deny(e, 403, "InvalidSignatureException",
                    "Signature expired: x-amz-date is more than 5 minutes from sluice's clock");
    /* The headers it signed, with their values as received. */
    struct sl_sigv4_header hv[SL_SIGV4_MAX_HEADERS];
    char *owned[SL_SIGV4_MAX_HEADERS];
    size_t nh = 0;
    int rc = 0;
    bool host = false;
    for (char *p = signed_hdrs, *save = NULL; rc == 0 && (p = strtok_r(p, ";", &save)); p = NULL) {
        size_t vlen = 0;
        const char *v = sl_http_header_get(req, p, &vlen);
        if (nh == SL_SIGV4_MAX_HEADERS || !v)
            rc = -1;
        else {
            host = host || strcmp(p, "host") == 0;
            owned[nh] = sl_strndup(v, vlen);
            hv[nh] = (struct sl_sigv4_header){.name = p, .value = owned[nh]};
            nh++;
        }
    }
    char hash[SL_SIGV4_HEX_LEN + 1];
    sl_sigv4_sha256_hex(req->body ? req->body : "", req->body_len, hash);
    size_t clen = 0;
    const char *ch = sl_http_header_get(req, "x-amz-content-sha256", &clen);
    char *path = sl_strndup(req->path, req->path_len);
    char *query = sl_strndup(req->query, req->query_len);
    struct sl_buf scratch, out;
    sl_buf_init(&scratch);
    sl_buf_init(&out);
    if (rc == 0 && host && (!ch || (clen == SL_SIGV4_HEX_LEN && memcmp(ch, hash, clen) == 0))) {
        struct sl_sigv4_request r = {
            .method = req->method,
            .path = path,
            .query = req->query_len ? query : NULL,
            .headers = hv,
            .nheaders = nh,
            .payload_hash = hash,
            .amz_date = date,
            .double_encode_path = true,
        };
        rc = sl_sigv4_authorization(&r, key->access_key_id, key->secret_access_key, parts[2],
                                    parts[3], NULL, &scratch, &out);
    } else {
        rc = -1;
    }
    const char *mine = rc == 0 && out.data ? strstr(out.data, "Signature=") : NULL;
    bool ok = mine && strlen(mine + 10) == SL_SIGV4_HEX_LEN &&
              CRYPTO_memcmp(mine + 10, sig, SL_SIGV4_HEX_LEN) == 0;
    for (size_t i = 0; i < nh; i++)
        free(owned[i]);
    free(path);
    free(query);
    sl_buf_release(&scratch);
    sl_buf_release(&out);
    if (!ok)
        return deny(e, 403, "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method.");
    return 0;
}
