#ifndef SL_CLI_CMD_H
#define SL_CLI_CMD_H

#include "core/buf.h"

/* The config file to use: the given one, $SLUICE_CONFIG, or ./sluice.yaml. */
const char *sl_cli_config_path(const char *given);
/* sluice dlq ... (argv[0] is "dlq"). */
int sl_cli_dlq(int argc, char **argv);
/* sluice mappings ... (argv[0] is "mappings"). */
int sl_cli_mappings(int argc, char **argv);
/* The Markdown configuration reference. */
void sl_cli_config_docs(struct sl_buf *out);
/* The --help texts of `sluice dlq` and `sluice mappings`. */
const char *sl_cli_dlq_usage(void);
const char *sl_cli_mappings_usage(void);

/* A command's name and its --help text. */
struct sl_cli_usage {
    const char *name;
    const char *text;
};
/* The sluice(1) manual page in roff: main_usage is `sluice --help`'s text (its "commands:"
 * list names the commands), cmds the --help text of each (NULL name ends it); the
 * CONFIGURATION section is the reference of sl_cli_config_docs. */
void sl_cli_man(const char *main_usage, const struct sl_cli_usage *cmds, struct sl_buf *out);

#endif
