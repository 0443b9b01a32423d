/* sluice: run | validate | dlq list|show|redrive|purge | config docs|man | version */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "core/log.h"

static const char usage_main[] =
    "usage: sluice <command> [options]\n"
    "\n"
    "An event-source integration hub: sources (webhooks) -> mappings (batch, retry,\n"
    "bisect, partial batch responses) -> functions (HTTP), with a dead-letter queue.\n"
    "\n"
    "commands:\n"
    "  run        run sluice with a config file\n"
    "  validate   check a config file without starting anything\n"
    "  dlq        inspect, redrive and purge dead-lettered records\n"
    "  mappings   status of a running sluice's mappings (via its admin API)\n"
    "  config     print the configuration reference (docs) or the manual page (man)\n"
    "  version    print the version\n"
    "\n"
    "Every command takes --help. The config file is -c FILE, else $SLUICE_CONFIG,\n"
    "else ./sluice.yaml.\n";

static const char usage_run[] =
    "usage: sluice run [-c FILE]\n"
    "\n"
    "Runs sluice until SIGINT or SIGTERM. The first signal drains: no new requests,\n"
    "in-flight batches finish within shutdown.drain_timeout; then the last offsets are\n"
    "committed and connections closed, within what is left of drain_timeout (at least\n"
    "1 s). A second signal ends the drain at once. Records not finished stay\n"
    "unacknowledged at their source and are delivered again after the restart.\n"
    "SIGHUP is logged and ignored: reloading the configuration is not supported yet.\n"
    "\n"
    "exit status:\n"
    "  0   everything drained and acknowledged\n"
    "  1   could not start (bad config, port in use, the store owned by another\n"
    "      sluice or of a newer schema version, ...)\n"
    "  75  stopped with records not acknowledged (drain deadline reached, second\n"
    "      signal, or a last commit or DLQ write not confirmed in time)\n"
    "  70  the shutdown did not end 5 s after drain_timeout: the watchdog ended it\n";

static const char usage_validate[] =
    "usage: sluice validate [-c FILE]\n"
    "\n"
    "Loads FILE, checks every key, type, bound and reference, and prints \"ok\" or the\n"
    "first error (file, key path, value and what is allowed). Exit 0 when valid, 1 if not.\n";

static const char usage_config[] = "usage: sluice config docs | man\n"
                                   "\n"
                                   "docs prints the Markdown configuration reference generated\n"
                                   "from the property tables (docs/CONFIGURATION.md); man prints\n"
                                   "the sluice(1) manual page (roff) made from the same tables\n"
                                   "and every command's --help.\n";

const char *sl_cli_config_path(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("SLUICE_CONFIG");
    return env && *env ? env : "sluice.yaml";
}

/* Parses the -c/--config and --help options shared by simple commands. */
static int simple_opts(int argc, char **argv, const char *usage, const char **config)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return 2;
    }
    return -1;
}

/* librdkafka's broker threads allocate the fetched messages that the loop thread frees. With
 * glibc's default of 8 malloc arenas per core, memory freed across threads stays mapped in
 * many arenas and RSS drifts above the mapping's caps; two arenas keep it near them.
 * MALLOC_ARENA_MAX in the environment overrides this (glibc's tunable, mallopt(3)). */
static void run_malloc_tuning(void)
{
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 2);
}

static int cmd_run(int argc, char **argv)
{
    const char *config = NULL;
    int rc = simple_opts(argc, argv, usage_run, &config);
    if (rc >= 0)
        return rc;
    run_malloc_tuning();
    struct sl_app app;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_app_init(&app, sl_cli_config_path(config), SL_APP_SERVE, &err) < 0) {
        sl_error("sluice", "cannot start: %s", err.msg);
        sl_app_release(&app);
        return 1;
    }
    rc = sl_app_run(&app);
    int status = sl_app_close(&app);
    if (rc != 0)
        status = rc;
    if (app.abandoned) {
        /* A close step still runs on a helper thread and uses what release would free: leave
         * it to the exit. */
        sl_info("sluice", "stopped (exit status %d)", status);
        _exit(status);
    }
    sl_app_release(&app);
    sl_info("sluice", "stopped%s", status == SL_EXIT_OK ? "" : " (records left unacknowledged)");
    return status;
}

static int cmd_validate(int argc, char **argv)
{
    const char *config = NULL;
    int rc = simple_opts(argc, argv, usage_validate, &config);
    if (rc >= 0)
        return rc;
    struct sl_app app;
    struct sl_err err;
    sl_err_clear(&err);
    rc = sl_app_init(&app, sl_cli_config_path(config), SL_APP_VALIDATE, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    else
        printf("%s: ok (%zu sources, %zu functions, %zu mappings)\n", sl_cli_config_path(config),
               app.nsources, app.ntargets, app.cfg.mappings.n);
    sl_app_release(&app);
    return rc < 0 ? 1 : 0;
}

static void config_man(struct sl_buf *b)
{
    const struct sl_cli_usage cmds[] = {
        {"run", usage_run},          {"validate", usage_validate},
        {"dlq", sl_cli_dlq_usage()}, {"mappings", sl_cli_mappings_usage()},
        {"config", usage_config},    {NULL, NULL},
    };
    sl_cli_man(usage_main, cmds, b);
}

static int cmd_config(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "docs") == 0 || strcmp(argv[1], "man") == 0)) {
        struct sl_buf b;
        sl_buf_init(&b);
        if (strcmp(argv[1], "docs") == 0)
            sl_cli_config_docs(&b);
        else
            config_man(&b);
        fwrite(b.data, 1, b.len, stdout);
        sl_buf_release(&b);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_config, stdout);
        return 0;
    }
    fputs(usage_config, stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sluice %s\n", SL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "dlq") == 0)
        return sl_cli_dlq(argc - 1, argv + 1);
    if (strcmp(cmd, "mappings") == 0)
        return sl_cli_mappings(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    fprintf(stderr, "sluice: unknown command \"%s\"\n\n%s", cmd, usage_main);
    return 2;
}
