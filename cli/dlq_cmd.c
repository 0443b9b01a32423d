/* sluice dlq list | show | redrive | purge: work on the DLQ sinks directly, so they work whether
 * sluice runs or not. They open the store that exists (never create one) without taking its
 * lock: `sluice run` owns it, and SQLite's file locks order their writes with the owner's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "cli/dlqview.h"
#include "core/jw.h"
#include "core/time.h"
#include "mappings/redrive.h"

static const char usage_dlq[] =
    "usage: sluice dlq <list|show|redrive|purge> [options]\n"
    "\n"
    "  list    [--mapping M] [--since T] [--limit N] [--after CURSOR] [--json]\n"
    "  show    ID [--json]\n"
    "  redrive --mapping M | --id ID | --all  [--to FUNCTION] [--rate N/s] [--limit N]\n"
    "          [--dry-run] [--json]\n"
    "  purge   --mapping M | --id ID | --all  [--json]\n"
    "\n"
    "Common options: -c FILE (the config: it locates the store and the functions; a relative\n"
    "store.dir is read from the folder of FILE). They never create a store.\n"
    "T is an RFC 3339 time (2026-11-23T10:00:00Z) or a duration ago (-1h).\n"
    "list shows every match, or a page of --limit entries; when more match, the page ends with\n"
    "the cursor of the next page (\"more: --after CURSOR\", or \"next\" with --json).\n"
    "ID is an entry's id or its record's id (the id a webhook's 202 returned, a stream entry\n"
    "id, a Kafka <topic>-<partition>:<offset>).\n"
    "purge removes in chunks of 500 and prints its progress.\n"
    "Redrive sends each entry back through its mapping's function (or --to), one at a\n"
    "time at --rate (default 10/s), and removes it only after the function succeeded.\n"
    "\n"
    "--json prints one JSON document on stdout instead of the table or text.\n"
    "\n"
    "exit status: 0 done; 1 failed (no store for this config, a store of another schema\n"
    "version, a sink that cannot be reached, no such entry, a failed redrive); 2 bad usage;\n"
    "78 the config file is invalid.\n";

struct dlq_args {
    const char *config;
    const char *mapping;
    const char *id;
    const char *to;
    const char *since;
    const char *after;
    double rate;
    long limit;
    bool json;
    bool dry_run;
    bool all;
};

static int parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "/s") != 0) || v <= 0 || v > 100000)
        return -1;
    *out = v;
    return 0;
}

static int dlq_parse(int argc, char **argv, struct dlq_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"mapping", required_argument, NULL, 'm'},
        {"id", required_argument, NULL, 'i'},
        {"to", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"dry-run", no_argument, NULL, 'd'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {"after", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:m:i:t:s:r:n:jdahA:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'm':
            a->mapping = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case 'A':
            a->after = optarg;
            break;
        case 't':
            a->to = optarg;
            break;
        case 's':
            a->since = optarg;
            break;
        case 'r':
            if (parse_rate(optarg, &a->rate) < 0) {
                fprintf(stderr,
                        "sluice: --rate: \"%s\" is not a rate (allowed: 0 < N <= "
                        "100000, written N or N/s)\n",
                        optarg);
                return 2;
            }
            break;
        case 'n':
            a->limit = strtol(optarg, &end, 10);
            if (*end || a->limit < 1) {
                fprintf(stderr, "sluice: --limit: \"%s\" is not a positive number\n", optarg);
                return 2;
            }
            break;
        case 'j':
            a->json = true;
            break;
        case 'd':
            a->dry_run = true;
            break;
        case 'a':
            a->all = true;
            break;
        case 'h':
            fputs(usage_dlq, stdout);
            return 0;
        default:
            fputs(usage_dlq, stderr);
            return 2;
        }
    }
    return -1;
}

/* 0, or the exit status. */
static int open_app(struct sl_app *app, const struct dlq_args *a)
{
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_app_init(app, sl_cli_config_path(a->config), SL_APP_TOOL, &err) < 0) {
        fprintf(stderr, "sluice: %s\n", err.msg);
        return sl_app_exit_status(&err);
    }
    return 0;
}

static int dlq_list(struct sl_app *app, const struct dlq_args *a)
{
    struct sl_dlq_filter f = {.mapping = a->mapping, .limit = (size_t)a->limit, .after = a->after};
    struct sl_err err;
    sl_err_clear(&err);
    if (a->since && sl_time_parse(a->since, sl_now_ms(), &f.since_ms) < 0) {
        fprintf(stderr,
                "sluice: --since: \"%s\" is not a time (allowed: RFC 3339 like "
                "2026-11-23T10:00:00Z, or a duration ago like -1h)\n",
                a->since);
        return 2;
    }
    int rc;
    if (a->json) {
        struct sl_buf b;
        sl_buf_init(&b);
        rc = sl_dlqview_list_json(app, &f, &b, &err);
        if (rc == 0)
            printf("%s\n", b.data);
        sl_buf_release(&b);
    } else {
        rc = sl_dlqview_list_table(app, &f, stdout, &err);
    }
    if (rc < 0) {
        fprintf(stderr, "sluice: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int dlq_show(struct sl_app *app, const char *id, bool json)
{
    struct sl_buf b;
    struct sl_err err;
    sl_err_clear(&err);
    sl_buf_init(&b);
    int rc = sl_dlqview_show(app, id, &b, &err);
    if (rc == 0 && json) {
        printf("%s\n", b.data);
    } else if (rc == 0) {
        /* Pretty-print for people. */
        json_t *doc = json_loadb(b.data, b.len, 0, NULL);
        if (doc)
            sl_cli_print_json(doc);
        else
            printf("%s\n", b.data);
        json_decref(doc);
    } else {
        fprintf(stderr, "sluice: %s\n", err.msg);
    }
    sl_buf_release(&b);
    return rc == 0 ? 0 : 1;
}

struct cli_purge {
    struct sl_app *app;
    size_t removed;
    int status;
    bool done;
    bool json;
};

static void cli_purged_cb(size_t listed, size_t removed, int status, bool done, void *arg)
{
    struct cli_purge *c = arg;
    c->removed = removed;
    c->status = status;
    c->done = done;
    if (!done && !c->json)
        fprintf(stderr, "purged %zu entries so far\n", removed);
}

static int dlq_purge(struct sl_app *app, const struct dlq_args *a)
{
    if (!a->mapping && !a->id && !a->all) {
        fprintf(stderr, "sluice: dlq purge needs --mapping M, --id ID or --all\n");
        return 2;
    }
    struct sl_dlq_filter f = {.mapping = a->mapping, .id = a->id};
    struct sl_err err;
    struct cli_purge c = {.app = app, .json = a->json};
    sl_err_clear(&err);
    if (sl_dlqview_purge(app, &f, cli_purged_cb, &c, &err) < 0) {
        fprintf(stderr, "sluice: %s\n", err.msg);
        return 1;
    }
    while (!c.done)
        ev_run(app->loop, EVRUN_ONCE);
    if (a->json)
        printf("{\"purged\":%zu}\n", c.removed);
    else
        printf("purged %zu entries\n", c.removed);
    if (c.status < 0) {
        fprintf(stderr, "sluice: some entries could not be removed: %s\n", sl_strerror(c.status));
        return 1;
    }
    return a->id && c.removed == 0 ? 1 : 0;
}

struct cli_redrive {
    struct sl_app *app;
    struct sl_redrive_result res;
    bool done;
    struct sl_buf *json; /* --json: the entries' outcomes, a JSON array being written */
    struct sl_jw w;
};

static void cli_entry_cb(const struct sl_dlq_entry *e, const char *status, const char *detail,
                         void *arg)
{
    struct cli_redrive *c = arg;
    if (!c->json) {
        printf("%-36s  %-20s  %-14s  %s\n", e->id, e->mapping, status, detail);
        return;
    }
    sl_jw_obj_open(&c->w);
    sl_jw_kstr(&c->w, "id", e->id);
    sl_jw_kstr(&c->w, "mapping", e->mapping);
    sl_jw_kstr(&c->w, "status", status);
    sl_jw_kstr(&c->w, "detail", detail);
    sl_jw_obj_close(&c->w);
}

static void cli_done_cb(const struct sl_redrive_result *res, void *arg)
{
    struct cli_redrive *c = arg;
    c->res = *res;
    c->done = true;
    ev_break(c->app->loop, EVBREAK_ALL);
}

static int dlq_redrive(struct sl_app *app, const struct dlq_args *a)
{
    struct sl_redrive_opts o = {
        .mapping = a->mapping,
        .id = a->id,
        .to = a->to,
        .rate = a->rate > 0 ? a->rate : 10.0,
        .dry_run = a->dry_run,
        .limit = (size_t)a->limit,
    };
    struct sl_redrive_env env;
    sl_app_redrive_env(app, &env);
    struct cli_redrive c = {.app = app};
    struct sl_buf json;
    sl_buf_init(&json);
    if (a->json) {
        c.json = &json;
        sl_jw_init(&c.w, &json);
        sl_jw_obj_open(&c.w);
        sl_jw_key(&c.w, "entries");
        sl_jw_arr_open(&c.w);
    }
    struct sl_redrive *rd = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_redrive_start(&env, &o, cli_entry_cb, cli_done_cb, &c, &rd, &err) < 0) {
        fprintf(stderr, "sluice: %s\n", err.msg);
        sl_buf_release(&json);
        return 1;
    }
    while (!c.done)
        ev_run(app->loop, 0);
    sl_redrive_destroy(rd);
    if (a->json) {
        sl_jw_arr_close(&c.w);
        sl_jw_kint(&c.w, "matched", (int64_t)c.res.matched);
        sl_jw_kint(&c.w, "redriven", (int64_t)c.res.redriven);
        sl_jw_kint(&c.w, "failed", (int64_t)c.res.failed);
        sl_jw_kint(&c.w, "skipped", (int64_t)c.res.skipped);
        sl_jw_obj_close(&c.w);
        printf("%s\n", json.data);
    } else {
        printf("matched %zu, redriven %zu, failed %zu, skipped %zu\n", c.res.matched,
               c.res.redriven, c.res.failed, c.res.skipped);
    }
    sl_buf_release(&json);
    if (a->id && c.res.matched == 0) {
        fprintf(stderr, "sluice: no DLQ entry with id %s\n", a->id);
        return SL_EXIT_ERROR;
    }
    return c.res.failed ? SL_EXIT_ERROR : SL_EXIT_OK;
}

int sl_cli_dlq(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_dlq, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    struct dlq_args a = {0};
    int rc = dlq_parse(argc - 1, argv + 1, &a);
    if (rc >= 0)
        return rc;
    const char *pos = optind < argc - 1 ? argv[1 + optind] : NULL;
    bool is_show = strcmp(sub, "show") == 0;
    if (!is_show && pos) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n", pos);
        return 2;
    }
    if (is_show && !pos) {
        fprintf(stderr, "sluice: dlq show needs an entry ID\n");
        return 2;
    }
    if (strcmp(sub, "list") && !is_show && strcmp(sub, "redrive") && strcmp(sub, "purge")) {
        fprintf(stderr, "sluice: unknown dlq command \"%s\"\n\n%s", sub, usage_dlq);
        return 2;
    }
    if (strcmp(sub, "redrive") == 0 && !a.mapping && !a.id && !a.all) {
        fprintf(stderr, "sluice: dlq redrive needs --mapping M, --id ID or --all\n");
        return SL_EXIT_USAGE;
    }
    struct sl_app app;
    if ((rc = open_app(&app, &a)) != 0) {
        sl_app_release(&app);
        return rc;
    }
    if (strcmp(sub, "list") == 0)
        rc = dlq_list(&app, &a);
    else if (is_show)
        rc = dlq_show(&app, pos, a.json);
    else if (strcmp(sub, "redrive") == 0)
        rc = dlq_redrive(&app, &a);
    else
        rc = dlq_purge(&app, &a);
    sl_app_release(&app);
    return rc;
}

const char *sl_cli_dlq_usage(void)
{
    return usage_dlq;
}
