#ifndef SL_CLI_CMD_H
#define SL_CLI_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/buf.h"

/* The config file to use: the given one, $SLUICE_CONFIG, or ./sluice.yaml. */
const char *sl_cli_config_path(const char *given);
/* sluice dlq ... (argv[0] is "dlq"). */
int sl_cli_dlq(int argc, char **argv);
/* sluice mappings ... (argv[0] is "mappings"). */
int sl_cli_mappings(int argc, char **argv);
/* sluice version [--json] (argv[0] is "version"). */
int sl_cli_version(int argc, char **argv);
/* sluice config docs | man (argv[0] is "config"). */
int sl_cli_config(int argc, char **argv);
/* sluice validate [-c FILE] [--no-env] [--json] (argv[0] is "validate"). */
int sl_cli_validate(int argc, char **argv);
/* The source, function and DLQ types this binary has, from the registries (for --help). */
void sl_cli_print_types(FILE *out);
/* sluice init [-c FILE] [--print] [NAME|TYPE ...] (argv[0] is "init"). */
int sl_cli_init(int argc, char **argv);
const char *sl_cli_init_usage(void);
/* sluice reload (argv[0] is "reload"). */
int sl_cli_reload(int argc, char **argv);
const char *sl_cli_reload_usage(void);
struct sl_config;
/* `method` path on the admin API of the sluice running with cfg (admin.listen, admin.token);
 * body gets the answer. Returns the HTTP status, or -1 after printing why it was not reached. */
long sl_cli_admin_call(const struct sl_config *cfg, const char *method, const char *path,
                       struct sl_buf *body, long timeout_ms);
/* Prints a JSON document indented, for people (an empty line for NULL). */
void sl_cli_print_json(json_t *doc);
/* Parses -c/--config FILE, --help and, when json is not NULL, --json (else --json is refused).
 * operands: whether arguments may follow the options (from optind). Returns -1 to go on, else
 * the exit status (--help printed: 0; bad usage printed: 2). */
int sl_cli_opts(int argc, char **argv, const char *usage, const char **config, bool *json,
                bool operands);
/* The Markdown configuration reference. */
void sl_cli_config_docs(struct sl_buf *out);
/* The --help texts of the commands. */
const char *sl_cli_dlq_usage(void);
const char *sl_cli_mappings_usage(void);
const char *sl_cli_validate_usage(void);
const char *sl_cli_config_usage(void);
const char *sl_cli_version_usage(void);
/* The sluice(1) manual page (sl_cli_man with every command's --help). */
void sl_cli_man_page(struct sl_buf *out);

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
