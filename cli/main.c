/* sluice: run | validate | init | dlq list|show|redrive|purge | mappings | reload | config docs|man
 * | version */
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
    "An event-source integration hub: sources -> mappings (filter, batch, retry,\n"
    "bisect, partial batch responses) -> functions, with dead-letter queues.\n"
    "\n"
    "commands:\n"
    "  run        run sluice with a config file\n"
    "  validate   check a config file without starting anything\n"
    "  init       create the tables a config's PostgreSQL sources and DLQs need\n"
    "  dlq        inspect, redrive and purge dead-lettered records\n"
    "  mappings   status of a running sluice's mappings (via its admin API)\n"
    "  reload     make a running sluice read its config file again\n"
    "  config     print the configuration reference (docs) or the manual page (man)\n"
    "  version    print the version\n"
    "\n"
    "Every command takes --help; every command that prints data takes --json. The config\n"
    "file is -c FILE, else $SLUICE_CONFIG, else ./sluice.yaml.\n"
    "\n"
    "exit status: 0 ok; 1 runtime failure; 2 bad usage; 78 the config file is invalid;\n"
    "`sluice run` also 75 and 70 (sluice run --help).\n"
    "\n";

static const char usage_run[] =
    "usage: sluice run [-c FILE]\n"
    "\n"
    "Runs sluice until SIGINT or SIGTERM. The first signal drains: no new requests,\n"
    "in-flight batches finish within shutdown.drain_timeout; then the last offsets are\n"
    "committed and connections closed, within what is left of drain_timeout (at least\n"
    "1 s). A second signal ends the drain at once. Records not finished stay\n"
    "unacknowledged at their source and are delivered again after the restart.\n"
    "SIGHUP reloads the configuration file, as `sluice reload` does: a bad file\n"
    "changes nothing (the error is logged with its key path); changed mappings drain\n"
    "and start again, added ones start, removed ones drain and stop, the others run on.\n"
    "\n"
    "exit status:\n"
    "  0   everything drained and acknowledged\n"
    "  1   could not start (port in use, the store owned by another sluice or of a\n"
    "      newer schema version, ...)\n"
    "  2   bad usage\n"
    "  78  the config file is invalid (sluice validate lists every error)\n"
    "  75  stopped with records not acknowledged (drain deadline reached, second\n"
    "      signal, or a last commit or DLQ write not confirmed in time)\n"
    "  70  the shutdown did not end 5 s after drain_timeout: the watchdog ended it\n";

const char *sl_cli_config_path(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("SLUICE_CONFIG");
    return env && *env ? env : "sluice.yaml";
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
    int rc = sl_cli_opts(argc, argv, usage_run, &config, NULL, false);
    if (rc >= 0)
        return rc;
    run_malloc_tuning();
    struct sl_app app;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_app_init(&app, sl_cli_config_path(config), SL_APP_SERVE, &err) < 0) {
        sl_error("sluice", "cannot start: %s", err.msg);
        sl_app_release(&app);
        return sl_app_exit_status(&err);
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

void sl_cli_man_page(struct sl_buf *out)
{
    const struct sl_cli_usage cmds[] = {
        {"run", usage_run},
        {"validate", sl_cli_validate_usage()},
        {"init", sl_cli_init_usage()},
        {"dlq", sl_cli_dlq_usage()},
        {"mappings", sl_cli_mappings_usage()},
        {"reload", sl_cli_reload_usage()},
        {"config", sl_cli_config_usage()},
        {"version", sl_cli_version_usage()},
        {NULL, NULL},
    };
    sl_cli_man(usage_main, cmds, out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        sl_cli_print_types(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        sl_cli_print_types(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return sl_cli_version(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return sl_cli_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "init") == 0)
        return sl_cli_init(argc - 1, argv + 1);
    if (strcmp(cmd, "dlq") == 0)
        return sl_cli_dlq(argc - 1, argv + 1);
    if (strcmp(cmd, "mappings") == 0)
        return sl_cli_mappings(argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0)
        return sl_cli_reload(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return sl_cli_config(argc - 1, argv + 1);
    fprintf(stderr, "sluice: unknown command \"%s\"\n\n%s", cmd, usage_main);
    return 2;
}
