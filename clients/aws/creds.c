/* AWS credentials: configuration, environment, shared credentials file. */
#include "clients/aws/creds.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

#define SL_AWS_PROFILE_MAX 128

static bool present(const char *s)
{
    return s && *s;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void sl_aws_creds_release(struct sl_aws_creds *c)
{
    if (!c)
        return;
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    c->access_key_id = c->secret_access_key = c->session_token = NULL;
}

static void set_creds(struct sl_aws_creds *out, const char *id, size_t idn, const char *secret,
                      size_t sn, const char *token, size_t tn)
{
    out->access_key_id = sl_strndup(id, idn);
    out->secret_access_key = sl_strndup(secret, sn);
    out->session_token = token && tn ? sl_strndup(token, tn) : NULL;
}

/* One line without surrounding blanks. */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
}

static bool key_is(const char *k, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(k, name, n) == 0;
}

int sl_aws_creds_parse(const char *text, size_t len, const char *file, const char *profile,
                       struct sl_aws_creds *out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > SL_AWS_CREDS_FILE_MAX)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "AWS credentials file %s: larger than %d bytes", file,
                          SL_AWS_CREDS_FILE_MAX);
    const char *id = NULL, *secret = NULL, *token = NULL;
    size_t idn = 0, sn = 0, tn = 0;
    bool in_profile = false, found = false;
    size_t plen = strlen(profile);
    int lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        p += n + (nl ? 1 : 0);
        lineno++;
        trim(&line, &n);
        if (n == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            if (line[n - 1] != ']')
                return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                                  "AWS credentials file %s:%d: a section header without ']'", file,
                                  lineno);
            const char *name = line + 1;
            size_t nn = n - 2;
            trim(&name, &nn);
            in_profile = nn == plen && memcmp(name, profile, plen) == 0;
            found = found || in_profile;
            continue;
        }
        if (!in_profile)
            continue;
        const char *eq = memchr(line, '=', n);
        if (!eq)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "AWS credentials file %s:%d: expected \"key = value\"", file, lineno);
        const char *k = line, *v = eq + 1;
        size_t kn = (size_t)(eq - line), vn = n - kn - 1;
        trim(&k, &kn);
        trim(&v, &vn);
        if (key_is(k, kn, "aws_access_key_id")) {
            id = v;
            idn = vn;
        } else if (key_is(k, kn, "aws_secret_access_key")) {
            secret = v;
            sn = vn;
        } else if (key_is(k, kn, "aws_session_token")) {
            token = v;
            tn = vn;
        }
    }
    if (!found)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "AWS credentials file %s: no profile [%s]", file, profile);
    if (!id || idn == 0 || !secret || sn == 0)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "AWS credentials file %s: profile [%s] has no aws_access_key_id and "
                          "aws_secret_access_key",
                          file, profile);
    set_creds(out, id, idn, secret, sn, token, tn);
    snprintf(out->source, sizeof(out->source), "profile %s of %.200s", profile, file);
    return 0;
}

/* "config.yaml: functions[0]: " out of where "config.yaml: functions[0].", for messages about
 * the section as a whole ("" for no where). */
static void section_prefix(const char *where, char *out, size_t cap)
{
    size_t n = strlen(where);
    if (n > 0 && where[n - 1] == '.')
        n--;
    if (n == 0)
        out[0] = '\0';
    else
        snprintf(out, cap, "%.*s: ", (int)n, where);
}

static int read_creds_file(const char *path, const char *pre, struct sl_buf *b, struct sl_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%sno AWS credentials: not in the configuration (access_key_id), not in "
                          "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), and %s "
                          "cannot be read: %s",
                          pre, path, strerror(errno));
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > SL_AWS_CREDS_FILE_MAX) {
            fclose(f);
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "AWS credentials file %s: larger than %d bytes", path,
                              SL_AWS_CREDS_FILE_MAX);
        }
        sl_buf_append(b, chunk, n);
    }
    fclose(f);
    return 0;
}

int sl_aws_creds_resolve(const struct sl_aws_creds_conf *conf, const char *where,
                         struct sl_aws_creds *out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!where)
        where = "";
    bool has_id = present(conf->access_key_id), has_secret = present(conf->secret_access_key);
    if (has_id != has_secret)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s%s: set with %s (both or neither: allowed are both keys, or none to "
                          "use the environment or a credentials profile)",
                          where, has_id ? "access_key_id" : "secret_access_key",
                          has_id ? "no secret_access_key" : "no access_key_id");
    if (present(conf->session_token) && !has_id)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%ssession_token: set without access_key_id and secret_access_key",
                          where);
    if (has_id && present(conf->profile))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%sprofile: set together with access_key_id (allowed: one of them)",
                          where);
    if (has_id) {
        const char *t = conf->session_token;
        set_creds(out, conf->access_key_id, strlen(conf->access_key_id), conf->secret_access_key,
                  strlen(conf->secret_access_key), t, t ? strlen(t) : 0);
        snprintf(out->source, sizeof(out->source), "configuration");
        return 0;
    }
    if (!present(conf->profile)) {
        const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
        if (present(id) && present(secret)) {
            const char *t = getenv("AWS_SESSION_TOKEN");
            set_creds(out, id, strlen(id), secret, strlen(secret), t, t ? strlen(t) : 0);
            snprintf(out->source, sizeof(out->source), "environment");
            return 0;
        }
    }
    const char *profile = present(conf->profile)           ? conf->profile
                          : present(getenv("AWS_PROFILE")) ? getenv("AWS_PROFILE")
                                                           : "default";
    if (strlen(profile) > SL_AWS_PROFILE_MAX)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%sprofile: longer than %d characters",
                          where, SL_AWS_PROFILE_MAX);
    char pre[SL_ERR_MSG_MAX / 2];
    section_prefix(where, pre, sizeof(pre));
    char path[4096];
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    if (present(file)) {
        snprintf(path, sizeof(path), "%s", file);
    } else {
        const char *home = getenv("HOME");
        if (!present(home))
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "%sno AWS credentials: not in the configuration, not in the "
                              "environment, and no HOME for ~/.aws/credentials",
                              pre);
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    }
    struct sl_buf text;
    sl_buf_init(&text);
    int rc = read_creds_file(path, pre, &text, err);
    if (rc == 0)
        rc = sl_aws_creds_parse(text.data ? text.data : "", text.len, path, profile, out, err);
    if (rc < 0 && err && pre[0] && strncmp(err->msg, pre, strlen(pre)) != 0) {
        /* A credentials file error: name the section the credentials were for too. */
        char msg[SL_ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s%s", pre, err->msg);
        sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s", msg);
    }
    if (text.data)
        OPENSSL_cleanse(text.data, text.len);
    sl_buf_release(&text);
    return rc;
}
