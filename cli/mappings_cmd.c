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
    const char *config = NULL;
    bool json = false;
    int orc = sl_cli_opts(argc, argv, usage_mappings, &config, &json, true);
    if (orc >= 0)
        return orc;
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
    long status = sl_cli_admin_call(&cfg, enable || disable ? "POST" : "GET", path, &body, 10000L);
    int rc = 1;
    json_t *doc = status > 0 ? json_loadb(body.data ? body.data : "", body.len, 0, NULL) : NULL;
    if (status == 200 && doc && (enable || disable) && !json) {
        rc = 0;
        printf("%s: %s (%s)\n", name, json_string_value(json_object_get(doc, "State")),
               json_string_value(json_object_get(doc, "StateTransitionReason")));
    } else if (status == 200 && doc) {
        rc = 0;
        if (json || named) {
            sl_cli_print_json(doc);
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
