/* Configuration of the "http" function target: its property table and checks. */
#include "dispatcher/http/http_target.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SL_HTTP_URL_MAX          8192
#define SL_HTTP_HEADER_NAME_MAX  256
#define SL_HTTP_HEADER_VALUE_MAX 8192

static const struct sl_prop http_props[] = {
    {.name = "url",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_http_target_conf, url),
     .flags = SL_PROP_REQUIRED,
     .desc = "Where each batch is POSTed (http:// or https://), e.g. "
             "\"http://127.0.0.1:9000/invoke\"."},
    {.name = "timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_http_target_conf, timeout_ms),
     .def = "30s",
     .min = 1,
     .max = 15 * 60 * 1000,
     .desc = "Time limit of one invocation, connection included; an expired call is retried."},
    {.name = "headers",
     .type = SL_PROP_STRING_MAP,
     .offset = offsetof(struct sl_http_target_conf, headers),
     .flags = SL_PROP_SECRET,
     .desc =
         "Extra request headers (e.g. Authorization). Values are secret: never logged or shown."},
    {.name = "max_response_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_http_target_conf, max_response_bytes),
     .def = "6MiB",
     .min = 1024,
     .max = 64 * 1024 * 1024,
     .desc = "Largest response body read. A larger 2xx body aborts the call, which is retried as a "
             "function error (\"response too large\")."},
    {.name = "max_connections",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_http_target_conf, max_connections),
     .def = "64",
     .min = 1,
     .max = 1024,
     .desc =
         "Connections kept open to the function's host (keep-alive); further calls wait for one."},
};

const struct sl_prop_table sl_http_target_props = {
    .name = "functions[] (type: http)",
    .desc = "A function reached by an HTTP POST of the batch as JSON. The response follows "
            "Lambda's rules: 2xx succeeds (X-Amz-Function-Error makes it a function error), "
            "429/5xx/408 are retried, other 4xx are terminal.",
    .props = http_props,
    .nprops = sizeof(http_props) / sizeof(http_props[0]),
    .struct_size = sizeof(struct sl_http_target_conf),
    .tolerated = NULL,
};

static bool is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Messages are "<where><key>: ...": where is "file: functions[0]." for a config section, or
 * "function 'name': " for a target made from bound keys. */
static int check_url(const char *url, const char *where, struct sl_err *err)
{
    if (!url || !*url)
        return sl_config_key_error(err, where, "url", "missing required key");
    size_t n = strnlen(url, SL_HTTP_URL_MAX + 1);
    if (n > SL_HTTP_URL_MAX)
        return sl_config_key_error(err, where, "url", "longer than %d bytes", SL_HTTP_URL_MAX);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return sl_config_key_error(
            err, where, "url",
            "\"%.60s%s\" has no http:// or https:// scheme (allowed: an http:// or "
            "https:// URL, e.g. \"http://127.0.0.1:9000/invoke\")",
            url, n > 60 ? "..." : "");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= ' ' || ch == 0x7f)
            return sl_config_key_error(err, where, "url",
                                       "contains a space or a control character");
    }
    CURLU *u = curl_url();
    if (!u)
        return sl_err_set(err, SL_ERR_FATAL, -ENOMEM, "%surl: out of memory", where);
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    char *host = NULL;
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    bool ok = uc == CURLUE_OK && host && *host;
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok)
        return sl_config_key_error(err, where, "url", "\"%.60s%s\" is not a valid URL with a host",
                                   url, n > 60 ? "..." : "");
    return 0;
}

static int check_header(const char *key, const char *val, const char *where, struct sl_err *err)
{
    size_t kn = key ? strnlen(key, SL_HTTP_HEADER_NAME_MAX + 1) : 0;
    if (kn == 0 || kn > SL_HTTP_HEADER_NAME_MAX)
        return sl_config_key_error(err, where, "headers",
                                   "a header name is empty or longer than %d bytes",
                                   SL_HTTP_HEADER_NAME_MAX);
    for (size_t i = 0; i < kn; i++) {
        if (!is_tchar((unsigned char)key[i]))
            return sl_config_key_error(err, where, "headers",
                                       "header name \"%.64s\" has an invalid character", key);
    }
    if (strcasecmp(key, "Content-Length") == 0 || strcasecmp(key, "Transfer-Encoding") == 0 ||
        strcasecmp(key, "Host") == 0 || strcasecmp(key, "Expect") == 0 ||
        strcasecmp(key, "Connection") == 0)
        return sl_config_key_error(err, where, "headers", "header %s is managed by sluice", key);
    /* The value is secret: say which header is wrong, never what it holds. */
    size_t vn = val ? strnlen(val, SL_HTTP_HEADER_VALUE_MAX + 1) : 0;
    if (!val || vn > SL_HTTP_HEADER_VALUE_MAX)
        return sl_config_key_error(err, where, "headers",
                                   "header %s has no value or a value over %d bytes", key,
                                   SL_HTTP_HEADER_VALUE_MAX);
    for (size_t i = 0; i < vn; i++) {
        unsigned char ch = (unsigned char)val[i];
        if ((ch < ' ' && ch != '\t') || ch == 0x7f)
            return sl_config_key_error(err, where, "headers",
                                       "header %s value (secret) has a control character", key);
    }
    return 0;
}

int sl_http_target_conf_check(const struct sl_http_target_conf *conf, const char *where,
                              struct sl_err *err)
{
    int rc = check_url(conf->url, where, err);
    if (rc < 0)
        return rc;
    if (conf->timeout_ms < 1 || conf->timeout_ms > 15 * 60 * 1000)
        return sl_config_key_error(err, where, "timeout", "must be within 1ms..15m");
    if (conf->max_response_bytes < 1024 || conf->max_response_bytes > 64 * 1024 * 1024)
        return sl_config_key_error(err, where, "max_response_bytes", "must be within 1KiB..64MiB");
    if (conf->max_connections < 1 || conf->max_connections > 1024)
        return sl_config_key_error(err, where, "max_connections", "must be within 1..1024");
    for (size_t i = 0; i < conf->headers.n; i++) {
        rc = check_header(conf->headers.keys[i], conf->headers.vals[i], where, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sl_target_http_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                          struct sl_target **out, struct sl_err *err)
{
    struct ev_loop *loop = env ? env->loop : NULL;
    const struct sl_config *cfg = env ? env->cfg : NULL;
    *out = NULL;
    if (!sec)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "http target: no config section");
    struct sl_http_target_conf conf;
    memset(&conf, 0, sizeof(conf));
    int rc = sl_config_bind_typed(cfg, sec, &sl_http_target_props, &conf, err);
    if (rc < 0)
        return rc;
    /* Checked here first, so that errors name the file and the key path. */
    char where[512];
    snprintf(where, sizeof(where), "%s: %s.", cfg && cfg->file ? cfg->file : "config",
             sec->path ? sec->path : "functions[]");
    rc = sl_http_target_conf_check(&conf, where, err);
    if (rc == 0)
        rc = sl_target_http_create_conf(loop, sec->name, &conf, out, err);
    sl_props_release(&sl_http_target_props, &conf);
    return rc;
}
