/* AWS credentials for request signing, found the way the AWS SDKs look for them
 * (https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html), in a subset:
 * 1. the configuration: access_key_id + secret_access_key (+ session_token);
 * 2. unless a profile is configured: the environment, AWS_ACCESS_KEY_ID +
 *    AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 * 3. a profile of the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *    ~/.aws/credentials): the configured profile, else AWS_PROFILE, else "default"
 *    (https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html).
 * Credentials are read once, at start. Error messages name keys, files, lines and profiles,
 * never a key or token. */
#ifndef SL_CLIENTS_AWS_CREDS_H
#define SL_CLIENTS_AWS_CREDS_H

#include <stddef.h>

#include "core/err.h"

#define SL_AWS_CREDS_FILE_MAX (1024 * 1024) /* a larger credentials file is refused */

struct sl_aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL when none */
    char source[300];    /* where they came from, for logs: "environment", "profile x of FILE" */
};

/* What the configuration says (each NULL or "" when absent). `where` prefixes config errors,
 * e.g. "config.yaml: functions[0]." */
struct sl_aws_creds_conf {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const char *profile;
};

/* Finds credentials with the rules above, reading the environment through getenv. */
int sl_aws_creds_resolve(const struct sl_aws_creds_conf *conf, const char *where,
                         struct sl_aws_creds *out, struct sl_err *err);
/* Reads profile `profile` out of the text of a shared credentials file (`file` names it in
 * messages). For tests and sl_aws_creds_resolve. */
int sl_aws_creds_parse(const char *text, size_t len, const char *file, const char *profile,
                       struct sl_aws_creds *out, struct sl_err *err);
/* Wipes and frees the strings. */
void sl_aws_creds_release(struct sl_aws_creds *c);

#endif
