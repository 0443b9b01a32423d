/* sluice init [-c FILE] [--print] [NAME|TYPE ...]: creates on their servers what the config's
 * sources and DLQ sinks need there (a PostgreSQL queue table and its wake-up trigger, a
 * PostgreSQL DLQ table), through each type's init op. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "dlq/dlq.h"
#include "sources/source.h"

static const char usage_init[] =
    "usage: sluice init [-c FILE] [--print] [NAME|TYPE ...]\n"
    "\n"
    "Creates what the config's sources and DLQ sinks need on their own servers: the\n"
    "table (and NOTIFY trigger) of a postgres-queue source, the publication of a\n"
    "postgres-cdc source, the table of a postgres DLQ.\n"
    "Every statement is idempotent (IF NOT EXISTS), and each section's run in one\n"
    "transaction, so running it again changes nothing. With operands, only the sections\n"
    "of those names or types (e.g. `sluice init postgres-queue`).\n"
    "\n"
    "  --print  print the SQL instead of running it (for a DBA to review and apply)\n"
    "\n"
    "exit status: 0 done (or nothing to do); 1 a server refused or could not be\n"
    "reached; 2 bad usage; 78 the config file is invalid.\n";

const char *sl_cli_init_usage(void)
{
    return usage_init;
}

typedef int (*init_fn)(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                       struct sl_buf *sql, struct sl_err *err);

static bool wanted(const struct sl_cfg_typed *sec, char **names, int n)
{
    if (n == 0)
        return true;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], sec->name) == 0 || strcmp(names[i], sec->type) == 0)
            return true;
    return false;
}

/* Runs one section's init; prints what was done. Returns 0, 1 (failed) or 2 (its section is
 * invalid). */
static int init_one(const struct sl_config *cfg, const struct sl_cfg_typed *sec, const char *kind,
                    init_fn fn, bool print, int *done)
{
    struct sl_buf sql;
    sl_buf_init(&sql);
    struct sl_err err;
    sl_err_clear(&err);
    int rc = fn(cfg, sec, !print, &sql, &err);
    (*done)++;
    if (rc < 0) {
        fprintf(stderr, "sluice: %s %s (%s): %s\n", kind, sec->name, sec->type, err.msg);
    } else if (print) {
        printf("-- %s %s (%s)\n%s\n", kind, sec->name, sec->type, sql.len ? sql.data : "");
    } else {
        printf("%s %s (%s): ready\n", kind, sec->name, sec->type);
    }
    sl_buf_release(&sql);
    return rc == SL_ECONFIG ? 2 : rc < 0;
}

int sl_cli_init(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"print", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    bool print = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'p':
            print = true;
            break;
        case 'h':
            fputs(usage_init, stdout);
            return 0;
        default:
            fputs(usage_init, stderr);
            return 2;
        }
    }
    struct sl_config cfg;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_config_load(sl_cli_config_path(config), &cfg, &err) < 0) {
        fprintf(stderr, "sluice: %s\n", err.msg);
        sl_config_release(&cfg);
        return sl_app_exit_status(&err);
    }
    char **names = argv + optind;
    int nnames = argc - optind;
    int failed = 0, done = 0; /* failed: bit 1 a server failed, bit 2 a section is invalid */
    for (size_t i = 0; i < cfg.sources.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, i);
        const struct sl_source_ops *ops = sl_source_find_type(sec->type);
        if (ops && ops->init && wanted(sec, names, nnames))
            failed |= init_one(&cfg, sec, "source", ops->init, print, &done);
    }
    for (size_t i = 0; i < cfg.dlqs.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg.dlqs, struct sl_cfg_typed, i);
        const struct sl_dlq_ops *ops = sl_dlq_find_type(sec->type);
        if (ops && ops->init && wanted(sec, names, nnames))
            failed |= init_one(&cfg, sec, "dlq", ops->init, print, &done);
    }
    if (done == 0)
        fprintf(stderr, "sluice: nothing to initialise in %s%s\n", cfg.file ? cfg.file : "config",
                nnames ? " for the names or types given" : " (no source or DLQ needs it)");
    sl_config_release(&cfg);
    return (failed & 2) ? SL_EXIT_CONFIG : failed ? SL_EXIT_ERROR : SL_EXIT_OK;
}
