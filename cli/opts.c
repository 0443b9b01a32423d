/* The options every simple command shares: -c/--config FILE, --help and, for commands that
 * print data, --json. */
#include <getopt.h>
#include <stdio.h>

#include "cli/app.h"
#include "cli/cmd.h"

int sl_cli_opts(int argc, char **argv, const char *usage, const char **config, bool *json,
                bool operands)
{
    static const struct option with_json[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    static const struct option without_json[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    /* Without a json flag, --json is an unknown option: a usage error, never accepted. */
    while ((c = getopt_long(argc, argv, json ? "c:jh" : "c:h", json ? with_json : without_json,
                            NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'j':
            *json = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return SL_EXIT_OK;
        default:
            fputs(usage, stderr);
            return SL_EXIT_USAGE;
        }
    }
    if (!operands && optind < argc) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return SL_EXIT_USAGE;
    }
    return -1;
}
