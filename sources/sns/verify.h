/* SNS message signatures (docs/SNS.md), as Amazon SNS's "Verifying the signatures of Amazon SNS
 * messages" describes them
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html):
 * SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA, over the string to sign (parse.h), the
 * Signature base64, checked against the public key of the certificate SigningCertURL names.
 * Certificates come from a folder the operator fills (trusted as they are: the folder is the
 * trust decision) or are fetched (fetch.h) and checked against a CA bundle. */
#ifndef SL_SOURCES_SNS_VERIFY_H
#define SL_SOURCES_SNS_VERIFY_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "sources/sns/parse.h"

#define SL_SNS_MAX_CERT_BYTES (64u << 10) /* a PEM file or fetched certificate */
#define SL_SNS_MAX_CERTS      256         /* PEM files read from certs_dir */

enum sl_sns_verify_result {
    SL_SNS_VERIFY_OK = 0,
    SL_SNS_VERIFY_UNSIGNED,     /* no Signature, SignatureVersion or SigningCertURL */
    SL_SNS_VERIFY_VERSION,      /* SignatureVersion not 1 or 2 */
    SL_SNS_VERIFY_ENCODING,     /* Signature is not base64 */
    SL_SNS_VERIFY_UNKNOWN_CERT, /* no certificate for SigningCertURL */
    SL_SNS_VERIFY_BAD,          /* the signature does not match */
};

/* A short reason (the 403's error code) and a message for the sender; neither holds key
 * material. */
const char *sl_sns_verify_reason(enum sl_sns_verify_result r);
const char *sl_sns_verify_message(enum sl_sns_verify_result r);

/* Certificates by file name. */
struct sl_sns_certs;

struct sl_sns_certs *sl_sns_certs_new(void);
void sl_sns_certs_free(struct sl_sns_certs *c);
/* Reads every *.pem file of dir (the first certificate of each). -1 with why set (naming the
 * file) when the folder or a file cannot be read or holds no certificate. */
int sl_sns_certs_load_dir(struct sl_sns_certs *c, const char *dir, char *why, size_t why_len);
/* Adds a certificate (PEM) under name; returns 0 or -1 when it is not one. */
int sl_sns_certs_add_pem(struct sl_sns_certs *c, const char *name, const void *pem, size_t len);
/* Adds a fetched certificate (PEM) under name once its chain verifies against trust (a CA
 * bundle: the issuers it holds, checked for validity dates and signatures). Returns 0, or -1
 * with why set. */
int sl_sns_certs_add_trusted(struct sl_sns_certs *c, const char *name, const void *pem, size_t len,
                             X509_STORE *trust, char *why, size_t why_len);
/* Certificates held. */
size_t sl_sns_certs_count(const struct sl_sns_certs *c);
/* The trust store of a CA bundle file (NULL: OpenSSL's default paths, the system bundle), or
 * NULL with why set. */
X509_STORE *sl_sns_trust_load(const char *ca_file, char *why, size_t why_len);
/* The public key of the certificate named name (borrowed), or NULL. */
EVP_PKEY *sl_sns_certs_find(const struct sl_sns_certs *c, const char *name, size_t len);

/* The file name a SigningCertURL names: the last segment of its path, before any query
 * ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem" gives
 * "SimpleNotificationService-abc.pem"). Empty when there is none. */
void sl_sns_cert_name(const char *url, size_t len, const char **name, size_t *name_len);

/* Checks m's signature with key. scratch is reused (the string to sign, the decoded
 * signature). */
enum sl_sns_verify_result sl_sns_verify(const struct sl_sns_msg *m, EVP_PKEY *key,
                                        struct sl_buf *scratch);
/* Checks the signature's form (version, encoding) before a certificate is looked for. */
enum sl_sns_verify_result sl_sns_verify_precheck(const struct sl_sns_msg *m);

#endif
