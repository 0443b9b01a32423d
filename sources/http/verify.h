/* Signed webhooks: the `verify:` object of a `type: http` source checks each push's signature
 * over its raw body before the push is stored (docs/WEBHOOKS.md). One file per scheme
 * (verify_github.c, verify_stripe.c, verify_stdwh.c, verify_hmac.c); verify.c holds the config,
 * the keys, HMAC-SHA256 and the dispatch. Every MAC is compared in constant time
 * (CRYPTO_memcmp on equal-length decoded values); keys are never logged or described. */
#ifndef SL_SOURCES_HTTP_VERIFY_H
#define SL_SOURCES_HTTP_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/props.h"
#include "server/http.h"

enum sl_verify_type {
    SL_VERIFY_NONE,
    SL_VERIFY_GITHUB,
    SL_VERIFY_STRIPE,
    SL_VERIFY_STDWH, /* Standard Webhooks */
    SL_VERIFY_HMAC,  /* hmac-sha256 with a configured header */
};

enum sl_verify_encoding { SL_VERIFY_HEX, SL_VERIFY_BASE64 };

/* Why a push was refused (401, docs/WEBHOOKS.md lists the reasons). */
enum sl_verify_result {
    SL_VERIFY_OK,
    SL_VERIFY_MISSING,   /* signature_missing: a header the scheme needs is absent */
    SL_VERIFY_MALFORMED, /* signature_malformed: a header is not in the scheme's syntax */
    SL_VERIFY_MISMATCH,  /* signature_mismatch: no signature matches any key */
    SL_VERIFY_STALE,     /* timestamp_outside_tolerance */
    SL_VERIFY_TOO_MANY,  /* too_many_signatures */
};

#define SL_VERIFY_MAC_LEN  32
#define SL_VERIFY_MAX_KEYS 8 /* secret + secrets, for rotation */
#define SL_VERIFY_MAX_KEY  256
/* Limits on what a pusher sends: longer headers are malformed, more signatures too many. */
#define SL_VERIFY_MAX_HEADER 2048
#define SL_VERIFY_MAX_SIGS   8
#define SL_VERIFY_MAX_ID     256 /* webhook-id of Standard Webhooks */

struct sl_verify_cfg {
    int type; /* enum sl_verify_type */
    char *secret;
    struct sl_strlist secrets;
    char *header;
    int encoding; /* enum sl_verify_encoding */
    char *prefix;
    int64_t tolerance_ms;
};

extern const struct sl_prop_table sl_verify_table;

/* HMAC-SHA256 keys, prepared once (RFC 2104: the key padded to SHA-256's 64-byte block, XORed
 * with ipad and opad), and a digest context reused for every push: no allocation per push. */
struct sl_verify_keys {
    unsigned char ipad[SL_VERIFY_MAX_KEYS][64];
    unsigned char opad[SL_VERIFY_MAX_KEYS][64];
    size_t n;
    void *md; /* EVP_MD_CTX */
};

/* Adds a key (any length: longer than 64 bytes is hashed first). -ENOSPC when full. */
int sl_verify_keys_add(struct sl_verify_keys *k, const void *key, size_t len);
/* Wipes the keys and frees the context. */
void sl_verify_keys_release(struct sl_verify_keys *k);
/* HMAC-SHA256 with key i over the concatenation of n parts. */
void sl_verify_mac(struct sl_verify_keys *k, size_t i, const void *const *parts, const size_t *lens,
                   size_t n, unsigned char out[SL_VERIFY_MAC_LEN]);
/* Whether mac equals the HMAC of the parts under any key; constant time in the MAC. */
bool sl_verify_match(struct sl_verify_keys *k, const void *const *parts, const size_t *lens,
                     size_t n, const unsigned char *mac, size_t mac_len);
/* Decodes exactly 2*SL_VERIFY_MAC_LEN hex digits (either case); -1 when it is not that. */
int sl_verify_hex_mac(const char *s, size_t len, unsigned char out[SL_VERIFY_MAC_LEN]);
/* Decodes padded base64 of SL_VERIFY_MAC_LEN bytes; -1 when it is not that. */
int sl_verify_b64_mac(const char *s, size_t len, unsigned char out[SL_VERIFY_MAC_LEN]);
/* A decimal Unix time of 1 to 12 digits; -1 when it is not that. */
int sl_verify_parse_time(const char *s, size_t len, int64_t *out);

/* The schemes, on header values (NULL: absent) and the raw body. now_s: Unix seconds. */
enum sl_verify_result sl_verify_github(struct sl_verify_keys *k, const char *sig, size_t sig_len,
                                       const void *body, size_t body_len);
enum sl_verify_result sl_verify_stripe(struct sl_verify_keys *k, const char *sig, size_t sig_len,
                                       const void *body, size_t body_len, int64_t now_s,
                                       int64_t tolerance_s);
enum sl_verify_result sl_verify_stdwh(struct sl_verify_keys *k, const char *id, size_t id_len,
                                      const char *ts, size_t ts_len, const char *sig,
                                      size_t sig_len, const void *body, size_t body_len,
                                      int64_t now_s, int64_t tolerance_s);
enum sl_verify_result sl_verify_hmac(struct sl_verify_keys *k, int encoding, const char *prefix,
                                     const char *sig, size_t sig_len, const void *body,
                                     size_t body_len);
/* A Standard Webhooks secret ("whsec_" + base64 of the key) decoded; -1 when it is not that. */
long sl_verify_stdwh_secret(const char *secret, unsigned char *out, size_t cap);

/* A hook's verifier, built from its bound `verify:` config. */
struct sl_verifier {
    int type;
    int encoding;
    const char *header; /* hmac-sha256: borrowed from the config */
    const char *prefix; /* hmac-sha256: borrowed, or NULL */
    int64_t tolerance_s;
    struct sl_verify_keys keys;
};

/* What is wrong with a `verify:` config: the key under `verify.` ("secret", "secrets[1]",
 * "header"...) and what is allowed (never a secret's value). */
struct sl_verify_err {
    char key[32];
    char why[200];
};

/* Checks the config and prepares the keys; SL_ECONFIG with e filled in on error. */
int sl_verifier_init(struct sl_verifier *v, const struct sl_verify_cfg *c, struct sl_verify_err *e);
void sl_verifier_release(struct sl_verifier *v);
enum sl_verify_result sl_verifier_check(struct sl_verifier *v, const struct sl_http_req *req,
                                        int64_t now_s);
/* Whether the headers the scheme needs are all there: checked when the headers arrive, so a
 * push that cannot be verified is refused before its body is read. */
bool sl_verifier_headers_present(const struct sl_verifier *v, const struct sl_http_req *req);
/* "signature_mismatch", ... (the 401 body's error code). */
const char *sl_verify_reason(enum sl_verify_result r);
/* A sentence for the 401 body's message; names no key material. */
const char *sl_verify_message(enum sl_verify_result r);
const char *sl_verify_type_name(int type);

#endif
