/* sluice reload [-c FILE] [--json]: asks the running sluice to reload its configuration
 * (POST /v1/reload on its admin API) and prints what changed, or why nothing did. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "config/config.h"
#include "core/buf.h"

static const char usage_reload[] =
    "usage: sluice reload [-c FILE] [--json]\n"
    "\n"
    "Asks the sluice running with FILE (its admin API: admin.listen and admin.token)\n"
    "to read its configuration file again, as SIGHUP does, and waits until it is\n"
    "applied. The file is validated first: a bad one changes nothing. Mappings that\n"
    "changed, or whose source, function or DLQ changed, drain as on SIGTERM (in-flight\n"
    "batches finish; offsets, pending entries and spool rows are kept) and start again\n"
    "from the new file; removed ones drain and stop; added ones start; the others keep\n"
    "running untouched. log, server, admin and store cannot change while running.\n"
    "Prints one line per change (--json: the API's answer).\n"
    "\n"
    "exit status:\n"
    "  0   applied (or nothing changed)\n"
    "  1   refused (a key that needs a restart, another reload running), applied with\n"
    "      errors, or sluice not reachable\n"
    "  2   bad usage\n"
    "  78  the config file is invalid: nothing changed\n";

int sl_cli_reload(int argc, char **argv)
{
    const char *config = NULL;
    bool json = false;
    int orc = sl_cli_opts(argc, argv, usage_reload, &config, &json, false);
    if (orc >= 0)
        return orc;
    struct sl_config cfg;
    struct sl_err err;
    sl_err_clear(&err);
    /* Only the admin address and token are read here: the running sluice validates the file
     * and reports what is wrong with it. */
    if (sl_config_load(sl_cli_config_path(config), &cfg, &err) < 0) {
        fprintf(stderr, "sluice: reload refused, nothing changed: %s\n", err.msg);
        return SL_EXIT_CONFIG;
    }
    struct sl_buf body;
    sl_buf_init(&body);
    /* It waits for the mappings it replaces to drain. */
    long timeout = (long)cfg.drain_timeout_ms + 60000L;
    long status = sl_cli_admin_call(&cfg, "POST", "/v1/reload", &body, timeout);
    json_t *doc = status > 0 ? json_loadb(body.data ? body.data : "", body.len, 0, NULL) : NULL;
    int rc = status == 200 ? SL_EXIT_OK : SL_EXIT_ERROR;
    if (json && doc) {
        sl_cli_print_json(doc);
    } else if (doc) {
        size_t i;
        json_t *ch;
        json_array_foreach(json_object_get(doc, "changes"), i, ch)
        {
            const char *key = json_string_value(json_object_get(ch, "key"));
            printf("%s %s %s%s%s%s\n", json_string_value(json_object_get(ch, "kind")),
                   json_string_value(json_object_get(ch, "name")),
                   json_string_value(json_object_get(ch, "change")), key ? " (" : "",
                   key ? key : "", key ? ")" : "");
        }
        json_t *e;
        json_array_foreach(json_object_get(doc, "errors"), i, e)
            fprintf(stderr, "sluice: %s\n", json_string_value(e));
        const char *st = json_string_value(json_object_get(doc, "status"));
        const char *msg = json_string_value(json_object_get(doc, "message"));
        if (status == 200)
            printf("%s\n", st && strcmp(st, "unchanged") == 0 ? "no changes" : "reloaded");
        else if (status == 500)
            fprintf(stderr, "sluice: reload applied with errors (above)\n");
        else if (msg)
            fprintf(stderr, "sluice: reload refused, nothing changed: %s\n", msg);
        else
            fprintf(stderr, "sluice: the admin API answered %ld\n", status);
    } else if (status > 0) {
        fprintf(stderr, "sluice: the admin API answered %ld\n", status);
    }
    const char *error = json_string_value(json_object_get(doc, "error"));
    if (status == 400 && error && strcmp(error, "invalid_config") == 0)
        rc = SL_EXIT_CONFIG;
    json_decref(doc);
    sl_buf_release(&body);
    sl_config_release(&cfg);
    return rc;
}

const char *sl_cli_reload_usage(void)
{
    return usage_reload;
}
