/* The CLI's side of the admin API: commands that act on a running sluice (mappings, reload)
 * reach it at admin.listen with admin.token, from the config file. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "config/config.h"
#include "core/buf.h"

static size_t collect_cb(char *p, size_t size, size_t n, void *arg)
{
    struct sl_buf *b = arg;
    if (b->len + size * n > 16 * 1024 * 1024)
        return 0;
    sl_buf_append(b, p, size * n);
    return size * n;
}

long sl_cli_admin_call(const struct sl_config *cfg, const char *method, const char *path,
                       struct sl_buf *body, long timeout_ms)
{
    char url[512], auth[1024];
    const char *listen = cfg->admin.listener.listen;
    /* A wildcard listen address is reached on loopback. */
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        snprintf(url, sizeof(url), "http://127.0.0.1:%s%s", listen + 8, path);
    else if (strncmp(listen, "[::]:", 5) == 0)
        snprintf(url, sizeof(url), "http://[::1]:%s%s", listen + 5, path);
    else
        snprintf(url, sizeof(url), "http://%s%s", listen, path);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct curl_slist *hdrs = NULL;
    if (cfg->admin.token && *cfg->admin.token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->admin.token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr,
                "sluice: cannot reach the admin API at %s: %s (is sluice running with "
                "this config?)\n",
                url, curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}

void sl_cli_print_json(json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    printf("%s\n", text ? text : "");
    free(text);
}
