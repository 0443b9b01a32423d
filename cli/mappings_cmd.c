/* sluice mappings [list | show NAME | enable NAME | disable NAME]: the status of a running
 * sluice's mappings, and Lambda's Enabled flag, through its admin API (address and token from
 * the config file). */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "config/config.h"
#include "core/buf.h"

static const char usage_mappings[] =
    "usage: sluice mappings [list | show NAME | enable NAME | disable NAME] [-c FILE] [--json]\n"
    "\n"
    "Asks the running sluice (its admin API: admin.listen and admin.token from the config)\n"
    "for the status of its mappings: state (Lambda's Enabled, Disabling, Disabled...), the\n"
    "source's reachability and lag, records in flight, oldest record age and counters.\n"
    "\n"
    "  disable NAME   stop reading the source (its position is kept) and let the records in\n"
    "                 flight finish; the state is kept in the store across restarts\n"
    "  enable NAME    read the source again\n"
    "\n"
    "--json prints the admin API's JSON answer instead of the table or text.\n"
    "\n"
    "exit status: 0 done; 1 the admin API cannot be reached or answered an error (404: no\n"
    "such mapping); 2 bad usage; 78 the config file is invalid.\n";

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

/* `method` path on the admin API; returns the HTTP status, or -1 with a message. */
static long admin_call(const struct sl_config *cfg, const char *method, const char *path,
                       struct sl_buf *body)
{
    return sl_cli_admin_call(cfg, method, path, body, 10000L);
}

static void print_row(json_t *m)
{
    json_t *in = json_object_get(m, "inflight"), *rec = json_object_get(m, "records");
    json_t *age = json_object_get(in, "oldestRecordAgeMs");
    char agebuf[32] = "-";
    if (json_is_integer(age))
        snprintf(agebuf, sizeof(agebuf), "%lldms", (long long)json_integer_value(age));
    json_t *lag = json_object_get(m, "lagRecords");
    char lagbuf[32] = "-";
    if (json_is_integer(lag))
        snprintf(lagbuf, sizeof(lagbuf), "%lld", (long long)json_integer_value(lag));
    printf("%-24s %-10s %-16s %-5s %8s %8lld %8s %10lld %10lld %8lld\n",
           json_string_value(json_object_get(m, "name")),
           json_string_value(json_object_get(m, "State")),
           json_string_value(json_object_get(json_object_get(m, "source"), "name")),
           json_is_false(json_object_get(m, "SourceReachable")) ? "no" : "yes", lagbuf,
           (long long)json_integer_value(json_object_get(in, "records")), agebuf,
           (long long)json_integer_value(json_object_get(rec, "received")),
           (long long)json_integer_value(json_object_get(rec, "delivered")),
           (long long)json_integer_value(json_object_get(rec, "deadLettered")));
}

int sl_cli_mappings(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(usage_mappings, stdout);
            return 0;
        default:
            fputs(usage_mappings, stderr);
            return 2;
        }
    }
    const char *sub = optind < argc ? argv[optind] : "list";
    const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool show = strcmp(sub, "show") == 0;
    bool enable = strcmp(sub, "enable") == 0, disable = strcmp(sub, "disable") == 0;
    bool named = show || enable || disable;
    if ((!named && strcmp(sub, "list") != 0) || (named && !name) || (!named && name) ||
        optind + (named ? 2 : 1) < argc) {
        fputs(usage_mappings, stderr);
        return 2;
    }
    struct sl_config cfg;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_config_load(sl_cli_config_path(config), &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return SL_EXIT_CONFIG;
    }
    char path[256];
    if (named) {
        char *esc = curl_easy_escape(NULL, name, 0);
        snprintf(path, sizeof(path), "/v1/mappings/%s%s", esc ? esc : "",
                 enable    ? "/enable"
                 : disable ? "/disable"
                           : "");
        curl_free(esc);
    } else {
        snprintf(path, sizeof(path), "/v1/mappings");
    }
    struct sl_buf body;
    sl_buf_init(&body);
    long status = admin_call(&cfg, enable || disable ? "POST" : "GET", path, &body);
    int rc = 1;
    json_t *doc = status > 0 ? json_loadb(body.data ? body.data : "", body.len, 0, NULL) : NULL;
    if (status == 200 && doc && (enable || disable) && !json) {
        rc = 0;
        printf("%s: %s (%s)\n", name, json_string_value(json_object_get(doc, "State")),
               json_string_value(json_object_get(doc, "StateTransitionReason")));
    } else if (status == 200 && doc) {
        rc = 0;
        if (json || named) {
            char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", text ? text : "");
            free(text);
        } else {
            printf("%-24s %-10s %-16s %-5s %8s %8s %8s %10s %10s %8s\n", "MAPPING", "STATE",
                   "SOURCE", "REACH", "LAG", "INFLIGHT", "OLDEST", "RECEIVED", "DELIVERED", "DEAD");
            size_t i;
            json_t *m;
            json_array_foreach(json_object_get(doc, "mappings"), i, m) print_row(m);
        }
    } else if (status > 0) {
        json_t *msg = json_object_get(doc, "message");
        fprintf(stderr, "sluice: the admin API answered %ld%s%s\n", status, msg ? ": " : "",
                msg ? json_string_value(msg) : "");
    }
    json_decref(doc);
    sl_buf_release(&body);
    sl_config_release(&cfg);
    return rc;
}

const char *sl_cli_mappings_usage(void)
{
    return usage_mappings;
}
