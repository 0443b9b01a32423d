#include "sources/http/verify.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/mem.h"

static const char *const verify_types[] = {"none",        "github", "stripe", "standard-webhooks",
                                           "hmac-sha256", NULL};
static const char *const verify_encodings[] = {"hex", "base64", NULL};

static const struct sl_prop verify_props[] = {
    {.name = "type",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_verify_cfg, type),
     .def = "none",
     .enum_values = verify_types,
     .desc = "The signature scheme pushes must carry (docs/WEBHOOKS.md); `none`: not checked."},
    {.name = "secret",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_verify_cfg, secret),
     .flags = SL_PROP_SECRET,
     .desc = "The signing secret. standard-webhooks: `whsec_` followed by the key in base64; "
             "the other types use the text as it is."},
    {.name = "secrets",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct sl_verify_cfg, secrets),
     .flags = SL_PROP_SECRET,
     .desc = "More secrets, for rotation: a push signed with any of them (or `secret`) is "
             "accepted. At most 8 in all."},
    {.name = "header",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_verify_cfg, header),
     .desc = "hmac-sha256 only (required there): the request header holding the signature."},
    {.name = "encoding",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_verify_cfg, encoding),
     .def = "hex",
     .enum_values = verify_encodings,
     .desc = "hmac-sha256 only: how the header's MAC is written."},
    {.name = "prefix",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_verify_cfg, prefix),
     .desc = "hmac-sha256 only: text before the MAC in the header, e.g. `sha256=` (required "
             "when set)."},
    {.name = "tolerance",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_verify_cfg, tolerance_ms),
     .def = "5m",
     .min = 1000,
     .max = 24 * 3600 * 1000LL,
     .desc = "stripe and standard-webhooks: how far the signed timestamp may be from this "
             "host's clock, either way (older pushes are replays: 401)."},
};

const struct sl_prop_table sl_verify_table = {
    .name = "sources[].verify (type: http)",
    .desc = "Signature check of each push (docs/WEBHOOKS.md).",
    .props = verify_props,
    .nprops = SL_ARRAY_LEN(verify_props),
    .struct_size = sizeof(struct sl_verify_cfg),
};

/* ---- HMAC-SHA256 (RFC 2104) on a reused digest context ----------------------------------- */

int sl_verify_keys_add(struct sl_verify_keys *k, const void *key, size_t len)
{
    if (k->n == SL_VERIFY_MAX_KEYS)
        return -ENOSPC;
    unsigned char block[64] = {0};
    if (len > sizeof(block)) {
        unsigned int n = 0;
        EVP_Digest(key, len, block, &n, EVP_sha256(), NULL);
    } else if (len) {
        memcpy(block, key, len);
    }
    for (size_t i = 0; i < sizeof(block); i++) {
        k->ipad[k->n][i] = block[i] ^ 0x36;
        k->opad[k->n][i] = block[i] ^ 0x5c;
    }
    OPENSSL_cleanse(block, sizeof(block));
    k->n++;
    return 0;
}

void sl_verify_keys_release(struct sl_verify_keys *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(k->ipad, sizeof(k->ipad));
    OPENSSL_cleanse(k->opad, sizeof(k->opad));
    EVP_MD_CTX_free(k->md);
    k->md = NULL;
    k->n = 0;
}

void sl_verify_mac(struct sl_verify_keys *k, size_t i, const void *const *parts, const size_t *lens,
                   size_t n, unsigned char out[SL_VERIFY_MAC_LEN])
{
    if (!k->md)
        k->md = EVP_MD_CTX_new();
    EVP_MD_CTX *md = k->md;
    unsigned char inner[SL_VERIFY_MAC_LEN];
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, k->ipad[i], 64);
    for (size_t p = 0; p < n; p++)
        EVP_DigestUpdate(md, parts[p], lens[p]);
    EVP_DigestFinal_ex(md, inner, NULL);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, k->opad[i], 64);
    EVP_DigestUpdate(md, inner, sizeof(inner));
    EVP_DigestFinal_ex(md, out, NULL);
}

bool sl_verify_match(struct sl_verify_keys *k, const void *const *parts, const size_t *lens,
                     size_t n, const unsigned char *mac, size_t mac_len)
{
    if (mac_len != SL_VERIFY_MAC_LEN)
        return false;
    bool ok = false;
    /* Every key is tried (no early exit): the time taken does not tell which key matched. */
    for (size_t i = 0; i < k->n; i++) {
        unsigned char want[SL_VERIFY_MAC_LEN];
        sl_verify_mac(k, i, parts, lens, n, want);
        ok |= CRYPTO_memcmp(want, mac, SL_VERIFY_MAC_LEN) == 0;
    }
    return ok;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sl_verify_hex_mac(const char *s, size_t len, unsigned char out[SL_VERIFY_MAC_LEN])
{
    if (len != 2 * SL_VERIFY_MAC_LEN)
        return -1;
    for (size_t i = 0; i < SL_VERIFY_MAC_LEN; i++) {
        int hi = hex_digit((unsigned char)s[2 * i]), lo = hex_digit((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int sl_verify_b64_mac(const char *s, size_t len, unsigned char out[SL_VERIFY_MAC_LEN])
{
    unsigned char tmp[SL_VERIFY_MAC_LEN + 3];
    if (len != SL_B64_ENCODED_LEN(SL_VERIFY_MAC_LEN))
        return -1;
    if (sl_b64_decode(s, len, tmp) != SL_VERIFY_MAC_LEN)
        return -1;
    memcpy(out, tmp, SL_VERIFY_MAC_LEN);
    return 0;
}

int sl_verify_parse_time(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 12)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ---- config ------------------------------------------------------------------------------- */

static int init_error(struct sl_verify_err *e, const char *which, const char *msg)
{
    snprintf(e->key, sizeof(e->key), "%s", which);
    snprintf(e->why, sizeof(e->why), "%s", msg);
    return SL_ECONFIG;
}

static bool header_name_ok(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (!s || !*s || strlen(s) > 128)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
            !strchr(tchar, c))
            return false;
    }
    return true;
}

/* One configured secret as a key: raw text, or for standard-webhooks the decoded whsec_ key. */
static int add_secret(struct sl_verifier *v, const char *secret, const char *which,
                      struct sl_verify_err *e)
{
    if (!*secret)
        return init_error(e, which, "empty (allowed: the signing secret)");
    if (v->type != SL_VERIFY_STDWH) {
        if (strlen(secret) > SL_VERIFY_MAX_KEY)
            return init_error(e, which, "(secret) is longer than 256 bytes");
        if (sl_verify_keys_add(&v->keys, secret, strlen(secret)) < 0)
            return init_error(e, which, "more than 8 secrets in all");
        return 0;
    }
    unsigned char raw[SL_VERIFY_MAX_KEY];
    long n = sl_verify_stdwh_secret(secret, raw, sizeof(raw));
    if (n < 0) {
        return init_error(e, which,
                          "(secret) is not a Standard Webhooks secret (allowed: whsec_ followed "
                          "by the key in padded base64, 1 to 256 bytes)");
    }
    int rc = sl_verify_keys_add(&v->keys, raw, (size_t)n);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (rc < 0)
        return init_error(e, which, "more than 8 secrets in all");
    return 0;
}

int sl_verifier_init(struct sl_verifier *v, const struct sl_verify_cfg *c, struct sl_verify_err *e)
{
    memset(v, 0, sizeof(*v));
    v->type = c->type;
    v->encoding = c->encoding;
    v->tolerance_s = c->tolerance_ms / 1000;
    bool hmac = c->type == SL_VERIFY_HMAC;
    if (c->type == SL_VERIFY_NONE) {
        if (c->secret || c->secrets.n)
            return init_error(e, "type",
                              "missing: a secret is set but no type (allowed: github, stripe, "
                              "standard-webhooks, hmac-sha256)");
        return 0;
    }
    if (!hmac && c->header)
        return init_error(e, "header",
                          "only for type: hmac-sha256 (the other types have their own headers)");
    if (!hmac && c->prefix)
        return init_error(e, "prefix", "only for type: hmac-sha256");
    if (!hmac && c->encoding != SL_VERIFY_HEX)
        return init_error(e, "encoding", "only for type: hmac-sha256");
    if (hmac && !c->header)
        return init_error(e, "header",
                          "missing: type hmac-sha256 needs the name of the signature header");
    if (hmac && !header_name_ok(c->header))
        return init_error(e, "header", "not a header name (allowed: 1 to 128 token characters)");
    if (hmac && c->prefix && strlen(c->prefix) > 64)
        return init_error(e, "prefix", "longer than 64 bytes");
    if (!c->secret && c->secrets.n == 0)
        return init_error(e, "secret",
                          "missing: a signature check needs a secret (or secrets: a list)");
    v->header = c->header;
    v->prefix = c->prefix && *c->prefix ? c->prefix : NULL;
    int rc = 0;
    if (c->secret)
        rc = add_secret(v, c->secret, "secret", e);
    for (size_t i = 0; rc == 0 && i < c->secrets.n; i++) {
        char which[32];
        snprintf(which, sizeof(which), "secrets[%zu]", i);
        rc = add_secret(v, c->secrets.v[i], which, e);
    }
    if (rc < 0)
        sl_verifier_release(v);
    return rc;
}

void sl_verifier_release(struct sl_verifier *v)
{
    if (v)
        sl_verify_keys_release(&v->keys);
}

enum sl_verify_result sl_verifier_check(struct sl_verifier *v, const struct sl_http_req *req,
                                        int64_t now_s)
{
    size_t a = 0, b = 0, c = 0;
    const char *sa, *sb, *sc;
    switch (v->type) {
    case SL_VERIFY_GITHUB:
        sa = sl_http_header_get(req, "x-hub-signature-256", &a);
        return sl_verify_github(&v->keys, sa, a, req->body, req->body_len);
    case SL_VERIFY_STRIPE:
        sa = sl_http_header_get(req, "stripe-signature", &a);
        return sl_verify_stripe(&v->keys, sa, a, req->body, req->body_len, now_s, v->tolerance_s);
    case SL_VERIFY_STDWH:
        sa = sl_http_header_get(req, "webhook-id", &a);
        sb = sl_http_header_get(req, "webhook-timestamp", &b);
        sc = sl_http_header_get(req, "webhook-signature", &c);
        return sl_verify_stdwh(&v->keys, sa, a, sb, b, sc, c, req->body, req->body_len, now_s,
                               v->tolerance_s);
    case SL_VERIFY_HMAC:
        sa = sl_http_header_get(req, v->header, &a);
        return sl_verify_hmac(&v->keys, v->encoding, v->prefix, sa, a, req->body, req->body_len);
    default:
        return SL_VERIFY_OK;
    }
}

bool sl_verifier_headers_present(const struct sl_verifier *v, const struct sl_http_req *req)
{
    size_t len;
    switch (v->type) {
    case SL_VERIFY_GITHUB:
        return sl_http_header_get(req, "x-hub-signature-256", &len) != NULL;
    case SL_VERIFY_STRIPE:
        return sl_http_header_get(req, "stripe-signature", &len) != NULL;
    case SL_VERIFY_STDWH:
        return sl_http_header_get(req, "webhook-id", &len) &&
               sl_http_header_get(req, "webhook-timestamp", &len) &&
               sl_http_header_get(req, "webhook-signature", &len);
    case SL_VERIFY_HMAC:
        return sl_http_header_get(req, v->header, &len) != NULL;
    default:
        return true;
    }
}

const char *sl_verify_reason(enum sl_verify_result r)
{
    switch (r) {
    case SL_VERIFY_OK:
        return "ok";
    case SL_VERIFY_MISSING:
        return "signature_missing";
    case SL_VERIFY_MALFORMED:
        return "signature_malformed";
    case SL_VERIFY_MISMATCH:
        return "signature_mismatch";
    case SL_VERIFY_STALE:
        return "timestamp_outside_tolerance";
    case SL_VERIFY_TOO_MANY:
        return "too_many_signatures";
    }
    return "signature_mismatch";
}

const char *sl_verify_message(enum sl_verify_result r)
{
    switch (r) {
    case SL_VERIFY_MISSING:
        return "a signature header this hook requires is missing";
    case SL_VERIFY_MALFORMED:
        return "a signature header is not in its scheme's syntax (or over 2048 bytes)";
    case SL_VERIFY_STALE:
        return "the signed timestamp is outside this hook's tolerance";
    case SL_VERIFY_TOO_MANY:
        return "more than 8 signatures in the header";
    default:
        return "no signature matches this hook's secrets";
    }
}

const char *sl_verify_type_name(int type)
{
    return type >= 0 && type < (int)SL_ARRAY_LEN(verify_types) - 1 ? verify_types[type] : "none";
}
