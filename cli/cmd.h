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

#endif
