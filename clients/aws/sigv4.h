/* AWS Signature Version 4
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) on OpenSSL's
 * HMAC-SHA256 and SHA-256. Written here rather than taken from libcurl's CURLOPT_AWS_SIGV4 because
 * libcurl 7.88 neither sorts query parameters nor encodes paths the way AWS does (Lambda function
 * ARNs hold ':'), and adds no x-amz-content-sha256.
 *
 * Canonical URI: for every service but S3 the path as sent (already percent-encoded once) is
 * encoded once more, segment by segment ("arn%3Aaws" becomes "arn%253Aaws"), as the AWS SDKs do;
 * `double_encode_path` false keeps it as sent (S3). Canonical query: parameters decoded, then
 * encoded with RFC 3986 unreserved characters kept, sorted by name then value. Canonical headers:
 * names lower-cased, values trimmed with inner runs of blanks collapsed, sorted by name. */
#ifndef SL_CLIENTS_AWS_SIGV4_H
#define SL_CLIENTS_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SL_SIGV4_MAX_HEADERS 16
#define SL_SIGV4_HEX_LEN     64 /* a SHA-256 in hex, without the NUL */
#define SL_SIGV4_DATE_LEN    16 /* "20150830T123600Z" */

struct sl_sigv4_header {
    const char *name; /* any case */
    const char *value;
};

/* One request to sign: every header given is signed (include host and x-amz-date). */
struct sl_sigv4_request {
    const char *method;
    const char *path;  /* as sent, percent-encoded once, starting with '/' */
    const char *query; /* as sent without '?', or NULL */
    const struct sl_sigv4_header *headers;
    size_t nheaders;          /* at most SL_SIGV4_MAX_HEADERS */
    const char *payload_hash; /* hex SHA-256 of the body (sl_sigv4_sha256_hex) */
    const char *amz_date;     /* YYYYMMDDTHHMMSSZ, the x-amz-date value */
    bool double_encode_path;  /* true for every service but S3 */
};

/* The signing key of one day, region and service, kept until the date changes. */
struct sl_sigv4_key {
    char date[9]; /* YYYYMMDD the key was derived for, "" before the first use */
    unsigned char key[32];
};

/* Hex SHA-256 of data into out (SL_SIGV4_HEX_LEN + 1 bytes). */
void sl_sigv4_sha256_hex(const void *data, size_t len, char *out);
/* "YYYYMMDDTHHMMSSZ" of a wall-clock time in ms (out: SL_SIGV4_DATE_LEN + 1 bytes). */
void sl_sigv4_amz_date(int64_t now_ms, char *out);
/* Appends the canonical request of `req` to out (for tests and diagnostics). 0, or -EINVAL
 * when the request cannot be canonicalised (too many headers, a missing field). */
int sl_sigv4_canonical_request(const struct sl_sigv4_request *req, struct sl_buf *out);
/* Appends the Authorization header value ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...") to out. `key` caches the derived signing key across calls with the same
 * secret, region and service (NULL: derived each time); `scratch` is reused working space.
 * 0, or -EINVAL. The secret never reaches out or scratch. */
int sl_sigv4_authorization(const struct sl_sigv4_request *req, const char *access_key_id,
                           const char *secret_access_key, const char *region, const char *service,
                           struct sl_sigv4_key *key, struct sl_buf *scratch, struct sl_buf *out);
/* Appends s percent-encoded with AWS's rules (RFC 3986 unreserved A-Z a-z 0-9 - _ . ~ kept,
 * every other byte as %XX upper-case; '/' kept when keep_slash). */
void sl_sigv4_uri_encode(struct sl_buf *out, const char *s, size_t len, bool keep_slash);

#endif
