/* SNS GETs (fetch.h) on libcurl's easy interface, on a worker thread. */
#include "sources/sns/fetch.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool sl_sns_host_match(const char *p, const char *h)
{
    if (!*p)
        return !*h;
    if (*p == '*') {
        /* One or more characters of one label. */
        if (!*h || *h == '.')
            return false;
        for (const char *e = h; *e && *e != '.'; e++) {
            if (sl_sns_host_match(p + 1, e + 1))
                return true;
        }
        return false;
    }
    return *h && tolower((unsigned char)*p) == tolower((unsigned char)*h) &&
           sl_sns_host_match(p + 1, h + 1);
}

bool sl_sns_url_allowed(const char *url, const struct sl_strlist *hosts, bool allow_http, char *why,
                        size_t why_len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(why, why_len, "not a URL");
        goto out;
    }
    if (strcasecmp(scheme, "https") != 0 && !(allow_http && strcasecmp(scheme, "http") == 0)) {
        snprintf(why, why_len, "the scheme is %s, not https", scheme);
        goto out;
    }
    if (!hosts || hosts->n == 0) {
        ok = sl_sns_host_match(SL_SNS_DEFAULT_HOST, host);
    } else {
        for (size_t i = 0; i < hosts->n && !ok; i++)
            ok = sl_sns_host_match(hosts->v[i], host);
    }
    if (!ok)
        snprintf(why, why_len, "the host %s is not on the allow-list", host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sl_sns_get *g = arg;
    size_t n = size * nmemb;
    if (g->body.len + n > g->max_bytes)
        return 0; /* curl fails the transfer: too large */
    sl_buf_append(&g->body, data, n);
    return n;
}

int sl_sns_get_run(void *arg)
{
    struct sl_sns_get *g = arg;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(g->error, sizeof(g->error), "cannot make a curl handle");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, g->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)SL_SNS_FETCH_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could leave the allow-list */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_cleanup(c);
    if (res != CURLE_OK) {
        snprintf(g->error, sizeof(g->error), "%s",
                 res == CURLE_WRITE_ERROR ? "the answer is too large"
                 : errbuf[0]              ? errbuf
                                          : curl_easy_strerror(res));
        return -1;
    }
    if (g->status < 200 || g->status > 299) {
        snprintf(g->error, sizeof(g->error), "HTTP status %ld", g->status);
        return -1;
    }
    return 0;
}

void sl_sns_get_free_fields(struct sl_sns_get *g)
{
    free(g->url);
    g->url = NULL;
    sl_buf_release(&g->body);
}
