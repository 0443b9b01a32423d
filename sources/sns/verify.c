/* SNS signatures (verify.h) on OpenSSL's EVP interface. */
#include "sources/sns/verify.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/mem.h"

struct cert_entry {
    char *name;
    EVP_PKEY *key;
};

struct sl_sns_certs {
    struct cert_entry *v;
    size_t n;
};

static const char *const reasons[] = {
    [SL_SNS_VERIFY_OK] = "ok",
    [SL_SNS_VERIFY_UNSIGNED] = "unsigned",
    [SL_SNS_VERIFY_VERSION] = "unsupported_signature_version",
    [SL_SNS_VERIFY_ENCODING] = "bad_signature_encoding",
    [SL_SNS_VERIFY_UNKNOWN_CERT] = "unknown_certificate",
    [SL_SNS_VERIFY_BAD] = "bad_signature",
};

static const char *const messages[] = {
    [SL_SNS_VERIFY_OK] = "the signature matches",
    [SL_SNS_VERIFY_UNSIGNED] = "Signature, SignatureVersion and SigningCertURL are required",
    [SL_SNS_VERIFY_VERSION] = "SignatureVersion must be 1 or 2",
    [SL_SNS_VERIFY_ENCODING] = "Signature is not base64",
    [SL_SNS_VERIFY_UNKNOWN_CERT] = "no trusted certificate for SigningCertURL",
    [SL_SNS_VERIFY_BAD] = "the signature does not match the message",
};

const char *sl_sns_verify_reason(enum sl_sns_verify_result r)
{
    return reasons[r];
}

const char *sl_sns_verify_message(enum sl_sns_verify_result r)
{
    return messages[r];
}

struct sl_sns_certs *sl_sns_certs_new(void)
{
    return SL_NEW(struct sl_sns_certs);
}

void sl_sns_certs_free(struct sl_sns_certs *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        EVP_PKEY_free(c->v[i].key);
    }
    free(c->v);
    free(c);
}

static X509 *read_pem(const void *pem, size_t len)
{
    if (len > SL_SNS_MAX_CERT_BYTES)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return x;
}

/* Takes x's public key under name; frees x. */
static int add_cert(struct sl_sns_certs *c, const char *name, X509 *x)
{
    EVP_PKEY *key = X509_get_pubkey(x);
    X509_free(x);
    if (!key)
        return -1;
    c->v = sl_realloc(c->v, (c->n + 1) * sizeof(*c->v));
    c->v[c->n++] = (struct cert_entry){.name = sl_strdup(name), .key = key};
    return 0;
}

int sl_sns_certs_add_pem(struct sl_sns_certs *c, const char *name, const void *pem, size_t len)
{
    X509 *x = read_pem(pem, len);
    return x ? add_cert(c, name, x) : -1;
}

int sl_sns_certs_add_trusted(struct sl_sns_certs *c, const char *name, const void *pem, size_t len,
                             X509_STORE *trust, char *why, size_t why_len)
{
    X509 *x = read_pem(pem, len);
    if (!x) {
        snprintf(why, why_len, "the answer is not a PEM certificate");
        return -1;
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ctx && X509_STORE_CTX_init(ctx, trust, x, NULL) == 1 ? X509_verify_cert(ctx) : -1;
    if (ok != 1)
        snprintf(why, why_len, "the certificate does not verify against the CA bundle: %s",
                 ctx ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)) : "no memory");
    X509_STORE_CTX_free(ctx);
    if (ok != 1) {
        X509_free(x);
        return -1;
    }
    return add_cert(c, name, x);
}

size_t sl_sns_certs_count(const struct sl_sns_certs *c)
{
    return c ? c->n : 0;
}

X509_STORE *sl_sns_trust_load(const char *ca_file, char *why, size_t why_len)
{
    X509_STORE *st = X509_STORE_new();
    if (!st) {
        snprintf(why, why_len, "no memory");
        return NULL;
    }
    int ok = ca_file ? X509_STORE_load_file(st, ca_file) : X509_STORE_set_default_paths(st);
    if (ok != 1) {
        snprintf(why, why_len, "cannot read the CA bundle %s", ca_file ? ca_file : "(system)");
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int read_file(const char *path, struct sl_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + got > SL_SNS_MAX_CERT_BYTES) {
            fclose(f);
            return -EFBIG;
        }
        sl_buf_append(out, chunk, got);
    }
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    return rc;
}

int sl_sns_certs_load_dir(struct sl_sns_certs *c, const char *dir, char *why, size_t why_len)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(why, why_len, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    struct sl_buf path, pem;
    sl_buf_init(&path);
    sl_buf_init(&pem);
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".pem"))
            continue;
        if (c->n >= SL_SNS_MAX_CERTS) {
            snprintf(why, why_len, "%s holds more than %d .pem files", dir, SL_SNS_MAX_CERTS);
            rc = -1;
            break;
        }
        sl_buf_reset(&path);
        sl_buf_printf(&path, "%s/%s", dir, e->d_name);
        sl_buf_reset(&pem);
        int r = read_file(path.data, &pem);
        if (r < 0) {
            snprintf(why, why_len, "cannot read %s: %s", path.data,
                     r == -EFBIG ? "larger than 64KiB" : strerror(-r));
            rc = -1;
            break;
        }
        if (sl_sns_certs_add_pem(c, e->d_name, pem.data, pem.len) < 0) {
            snprintf(why, why_len, "%s holds no PEM certificate", path.data);
            rc = -1;
            break;
        }
    }
    closedir(d);
    sl_buf_release(&path);
    sl_buf_release(&pem);
    return rc;
}

EVP_PKEY *sl_sns_certs_find(const struct sl_sns_certs *c, const char *name, size_t len)
{
    for (size_t i = 0; c && i < c->n; i++) {
        if (strlen(c->v[i].name) == len && memcmp(c->v[i].name, name, len) == 0)
            return c->v[i].key;
    }
    return NULL;
}

void sl_sns_cert_name(const char *url, size_t len, const char **name, size_t *name_len)
{
    size_t end = 0;
    while (end < len && url[end] != '?' && url[end] != '#')
        end++;
    size_t start = end;
    while (start > 0 && url[start - 1] != '/')
        start--;
    /* "https://host" has no path: its last segment is the host, not a file. */
    if (start >= 2 && url[start - 2] == '/' && start >= 3 && url[start - 3] == ':')
        start = end;
    *name = url + start;
    *name_len = end - start;
}

enum sl_sns_verify_result sl_sns_verify_precheck(const struct sl_sns_msg *m)
{
    if (!m->signature.p || !m->signature_version.p || !m->signing_cert_url.p)
        return SL_SNS_VERIFY_UNSIGNED;
    if (m->signature_version.n != 1 ||
        (m->signature_version.p[0] != '1' && m->signature_version.p[0] != '2'))
        return SL_SNS_VERIFY_VERSION;
    return SL_SNS_VERIFY_OK;
}

enum sl_sns_verify_result sl_sns_verify(const struct sl_sns_msg *m, EVP_PKEY *key,
                                        struct sl_buf *scratch)
{
    enum sl_sns_verify_result pre = sl_sns_verify_precheck(m);
    if (pre != SL_SNS_VERIFY_OK)
        return pre;
    if (!key)
        return SL_SNS_VERIFY_UNKNOWN_CERT;
    sl_buf_reset(scratch);
    char *sig = sl_buf_reserve(scratch, m->signature.n / 4 * 3 + 3);
    long sig_len = sl_b64_decode(m->signature.p, m->signature.n, sig);
    if (sig_len <= 0)
        return SL_SNS_VERIFY_ENCODING;
    sl_buf_commit(scratch, (size_t)sig_len);
    size_t text_off = scratch->len;
    sl_sns_string_to_sign(m, scratch);
    const EVP_MD *md = m->signature_version.p[0] == '1' ? EVP_sha1() : EVP_sha256();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, (const unsigned char *)scratch->data, (size_t)sig_len,
                               (const unsigned char *)scratch->data + text_off,
                               scratch->len - text_off) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? SL_SNS_VERIFY_OK : SL_SNS_VERIFY_BAD;
}
