/* AWS Signature Version 4 on OpenSSL: canonical request, string to sign, signature. */
#include "clients/aws/sigv4.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SL_SIGV4_NAME_MAX     64  /* longest header name signed */
#define SL_SIGV4_QUERY_MAX    32  /* most query parameters signed */
#define SL_SIGV4_SEGMENTS_MAX 64  /* most path segments */
#define SL_SIGV4_SECRET_MAX   256 /* longest secret access key */

static const char hexd[] = "0123456789abcdef";
static const char hexu[] = "0123456789ABCDEF";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[in[i] >> 4];
        out[2 * i + 1] = hexd[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* OpenSSL 3 looks an algorithm up by name at each use of EVP_sha256() or HMAC(); fetched once
 * here, signing a request costs about half as much
 * (https://www.openssl.org/docs/man3.0/man7/crypto.html, "Performance"). */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

void sl_sigv4_sha256_hex(const void *data, size_t len, char *out)
{
    pthread_once(&fetch_once, fetch_algorithms);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data ? data : "", len, md, &n, sha256_md ? sha256_md : EVP_sha256(), NULL);
    to_hex(md, 32, out);
}

void sl_sigv4_amz_date(int64_t now_ms, char *out)
{
    time_t s = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, SL_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void sl_sigv4_uri_encode(struct sl_buf *out, const char *s, size_t len, bool keep_slash)
{
    char *dst = sl_buf_reserve(out, len * 3);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            dst[n++] = (char)c;
        } else {
            dst[n++] = '%';
            dst[n++] = hexu[c >> 4];
            dst[n++] = hexu[c & 15];
        }
    }
    sl_buf_commit(out, n);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX of s[0..len) and encodes the result again with AWS's rules. */
static void reencode(struct sl_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (unsigned char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        char ch = (char)c;
        sl_sigv4_uri_encode(out, &ch, 1, false);
    }
}

/* The canonical URI: dot segments and empty segments removed, each byte encoded again
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). */
static int canonical_path(struct sl_buf *out, const char *path, bool double_encode)
{
    if (!path || !*path) {
        sl_buf_putc(out, '/');
        return 0;
    }
    if (!double_encode) {
        sl_buf_puts(out, path);
        return 0;
    }
    const char *seg[SL_SIGV4_SEGMENTS_MAX];
    size_t seglen[SL_SIGV4_SEGMENTS_MAX];
    size_t n = 0;
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* skipped */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (n > 0)
                n--;
        } else {
            if (n == SL_SIGV4_SEGMENTS_MAX)
                return -EINVAL;
            seg[n] = p;
            seglen[n] = len;
            n++;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    if (path[0] == '/')
        sl_buf_putc(out, '/');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sl_buf_putc(out, '/');
        sl_sigv4_uri_encode(out, seg[i], seglen[i], false);
    }
    size_t plen = strlen(path);
    if (n > 0 && path[plen - 1] == '/')
        sl_buf_putc(out, '/');
    return 0;
}

struct qparam {
    size_t name, name_len, value, value_len; /* offsets into the work buffer */
};

static int qparam_cmp(const char *qwork, const struct qparam *x, const struct qparam *y)
{
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(qwork + x->name, qwork + y->name, n);
    if (c || x->name_len != y->name_len)
        return c ? c : (x->name_len < y->name_len ? -1 : 1);
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = memcmp(qwork + x->value, qwork + y->value, n);
    if (c || x->value_len != y->value_len)
        return c ? c : (x->value_len < y->value_len ? -1 : 1);
    return 0;
}

static int canonical_query(struct sl_buf *out, const char *query)
{
    if (!query || !*query)
        return 0;
    struct qparam q[SL_SIGV4_QUERY_MAX];
    size_t n = 0;
    struct sl_buf work;
    sl_buf_init(&work);
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            if (n == SL_SIGV4_QUERY_MAX) {
                sl_buf_release(&work);
                return -EINVAL;
            }
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            q[n].name = work.len;
            reencode(&work, p, nlen);
            q[n].name_len = work.len - q[n].name;
            q[n].value = work.len;
            if (eq)
                reencode(&work, eq + 1, len - nlen - 1);
            q[n].value_len = work.len - q[n].value;
            n++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    /* Insertion sort (a few parameters; qsort has no context argument). */
    for (size_t i = 1; i < n; i++) {
        struct qparam cur = q[i];
        size_t j = i;
        while (j > 0 && qparam_cmp(work.data, &q[j - 1], &cur) > 0) {
            q[j] = q[j - 1];
            j--;
        }
        q[j] = cur;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sl_buf_putc(out, '&');
        sl_buf_append(out, work.data + q[i].name, q[i].name_len);
        sl_buf_putc(out, '=');
        sl_buf_append(out, work.data + q[i].value, q[i].value_len);
    }
    sl_buf_release(&work);
    return 0;
}

struct hdr {
    char name[SL_SIGV4_NAME_MAX + 1];
    const char *value;
};

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

/* Value without leading and trailing blanks, inner runs of blanks as one space. */
static void put_trimmed(struct sl_buf *out, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    bool blank = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            blank = true;
            continue;
        }
        if (blank)
            sl_buf_putc(out, ' ');
        blank = false;
        sl_buf_putc(out, *v);
    }
}

/* Sorted, lower-cased headers into h; returns how many or -EINVAL. */
static int sorted_headers(const struct sl_sigv4_request *req, struct hdr *h)
{
    if (req->nheaders > SL_SIGV4_MAX_HEADERS || (req->nheaders > 0 && !req->headers))
        return -EINVAL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > SL_SIGV4_NAME_MAX || !req->headers[i].value)
            return -EINVAL;
        for (size_t j = 0; j < len; j++) {
            char c = name[j];
            h[i].name[j] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        h[i].name[len] = '\0';
        h[i].value = req->headers[i].value;
    }
    /* A stable order for equal names keeps their values in the order given. */
    for (size_t i = 1; i < req->nheaders; i++) {
        struct hdr cur = h[i];
        size_t j = i;
        while (j > 0 && hdr_cmp(&h[j - 1], &cur) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = cur;
    }
    return (int)req->nheaders;
}

static void signed_header_names(struct sl_buf *out, const struct hdr *h, int n)
{
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0)
            continue;
        if (i > 0)
            sl_buf_putc(out, ';');
        sl_buf_puts(out, h[i].name);
    }
}

int sl_sigv4_canonical_request(const struct sl_sigv4_request *req, struct sl_buf *out)
{
    if (!req || !req->method || !req->payload_hash || !out)
        return -EINVAL;
    struct hdr h[SL_SIGV4_MAX_HEADERS];
    int n = sorted_headers(req, h);
    if (n < 0)
        return n;
    sl_buf_puts(out, req->method);
    sl_buf_putc(out, '\n');
    if (canonical_path(out, req->path, req->double_encode_path) < 0)
        return -EINVAL;
    sl_buf_putc(out, '\n');
    if (canonical_query(out, req->query) < 0)
        return -EINVAL;
    sl_buf_putc(out, '\n');
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
            /* A repeated header: its values joined by commas on one line. */
            out->len--;
            sl_buf_putc(out, ',');
        } else {
            sl_buf_puts(out, h[i].name);
            sl_buf_putc(out, ':');
        }
        put_trimmed(out, h[i].value);
        sl_buf_putc(out, '\n');
    }
    sl_buf_putc(out, '\n');
    signed_header_names(out, h, n);
    sl_buf_putc(out, '\n');
    sl_buf_puts(out, req->payload_hash);
    return 0;
}

static void hmac(const void *key, size_t key_len, const void *data, size_t len, unsigned char *out)
{
    pthread_once(&fetch_once, fetch_algorithms);
    EVP_MAC_CTX *ctx = hmac_mac ? EVP_MAC_CTX_new(hmac_mac) : NULL;
    if (ctx) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        size_t n = 0;
        bool ok = EVP_MAC_init(ctx, key, key_len, params) && EVP_MAC_update(ctx, data, len) &&
                  EVP_MAC_final(ctx, out, &n, 32) && n == 32;
        EVP_MAC_CTX_free(ctx);
        if (ok)
            return;
    }
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

static int derive_key(const char *secret, const char *date, const char *region, const char *service,
                      unsigned char *out)
{
    size_t slen = strlen(secret);
    if (slen > SL_SIGV4_SECRET_MAX)
        return -EINVAL;
    char k[4 + SL_SIGV4_SECRET_MAX];
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, slen);
    unsigned char a[32], b[32];
    hmac(k, 4 + slen, date, 8, a);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return 0;
}

int sl_sigv4_authorization(const struct sl_sigv4_request *req, const char *access_key_id,
                           const char *secret_access_key, const char *region, const char *service,
                           struct sl_sigv4_key *key, struct sl_buf *scratch, struct sl_buf *out)
{
    if (!req || !access_key_id || !secret_access_key || !region || !service || !scratch || !out ||
        !req->amz_date || strlen(req->amz_date) != SL_SIGV4_DATE_LEN)
        return -EINVAL;
    const char *date = req->amz_date; /* its first 8 characters: YYYYMMDD */
    sl_buf_reset(scratch);
    int rc = sl_sigv4_canonical_request(req, scratch);
    if (rc < 0)
        return rc;
    char creq_hash[SL_SIGV4_HEX_LEN + 1];
    sl_sigv4_sha256_hex(scratch->data, scratch->len, creq_hash);

    /* String to sign: algorithm, date, credential scope, hash of the canonical request. */
    sl_buf_reset(scratch);
    SL_BUF_LIT(scratch, "AWS4-HMAC-SHA256\n");
    sl_buf_puts(scratch, req->amz_date);
    sl_buf_putc(scratch, '\n');
    size_t scope_at = scratch->len;
    sl_buf_append(scratch, date, 8);
    sl_buf_putc(scratch, '/');
    sl_buf_puts(scratch, region);
    sl_buf_putc(scratch, '/');
    sl_buf_puts(scratch, service);
    SL_BUF_LIT(scratch, "/aws4_request");
    size_t scope_len = scratch->len - scope_at;
    sl_buf_putc(scratch, '\n');
    sl_buf_puts(scratch, creq_hash);

    unsigned char fresh[32];
    const unsigned char *kp = fresh;
    if (key && key->date[0] && memcmp(key->date, date, 8) == 0) {
        kp = key->key;
    } else {
        if (derive_key(secret_access_key, date, region, service, fresh) < 0)
            return -EINVAL;
        if (key) {
            memcpy(key->key, fresh, 32);
            memcpy(key->date, date, 8);
            key->date[8] = '\0';
        }
    }
    unsigned char sig[32];
    hmac(kp, 32, scratch->data, scratch->len, sig);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    char sig_hex[SL_SIGV4_HEX_LEN + 1];
    to_hex(sig, 32, sig_hex);

    struct hdr h[SL_SIGV4_MAX_HEADERS];
    int n = sorted_headers(req, h);
    SL_BUF_LIT(out, "AWS4-HMAC-SHA256 Credential=");
    sl_buf_puts(out, access_key_id);
    sl_buf_putc(out, '/');
    sl_buf_append(out, scratch->data + scope_at, scope_len);
    SL_BUF_LIT(out, ", SignedHeaders=");
    signed_header_names(out, h, n);
    SL_BUF_LIT(out, ", Signature=");
    sl_buf_puts(out, sig_hex);
    return 0;
}
