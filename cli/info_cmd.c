/* sluice version | config docs, and the module types every --help lists: from the registries
 * (sources/registry.c, dispatcher/registry.c, dlq/registry.c), never a list written by hand. */
#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "core/jw.h"
#include "dispatcher/target.h"
#include "dlq/dlq.h"
#include "sources/source.h"

/* The type names of a NULL-terminated registry of ops structs with a `type` field. */
#define SL_PRINT_TYPES(out, label, registry)                                                       \
    do {                                                                                           \
        fprintf(out, "  %-16s", label);                                                            \
        for (size_t i_ = 0; (registry)[i_]; i_++)                                                  \
            fprintf(out, "%s%s", i_ ? ", " : "", (registry)[i_]->type);                            \
        fputc('\n', out);                                                                          \
    } while (0)

void sl_cli_print_types(FILE *out)
{
    fputs("types (the `type:` of a section):\n", out);
    SL_PRINT_TYPES(out, "sources[]", sl_source_types);
    SL_PRINT_TYPES(out, "functions[]", sl_target_types);
    SL_PRINT_TYPES(out, "dlqs[]", sl_dlq_types);
}

static const char usage_version[] = "usage: sluice version [--json]\n"
                                    "\n"
                                    "Prints the version of sluice; with --json, also the\n"
                                    "versions of the libraries it runs with, as one JSON object.\n";

static const char usage_config[] = "usage: sluice config docs | man\n"
                                   "\n"
                                   "docs prints the Markdown configuration reference generated\n"
                                   "from the property tables (docs/CONFIGURATION.md); man prints\n"
                                   "the sluice(1) manual page (roff) made from the same tables\n"
                                   "and every command's --help.\n";

const char *sl_cli_config_usage(void)
{
    return usage_config;
}

const char *sl_cli_version_usage(void)
{
    return usage_version;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* An argument the command does not take: --json where the output is not data (exit 2). */
static int refuse(const char *cmd, const char *arg, const char *usage)
{
    if (strcmp(arg, "--json") == 0)
        fprintf(stderr, "sluice: %s does not print JSON (--json is not accepted)\n%s", cmd, usage);
    else
        fprintf(stderr, "sluice: %s: unexpected argument \"%s\"\n%s", cmd, arg, usage);
    return SL_EXIT_USAGE;
}

int sl_cli_version(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_version, stdout);
            return SL_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") != 0)
            return refuse("version", argv[i], usage_version);
        json = true;
    }
    if (!json) {
        printf("sluice %s\n", SL_VERSION);
        return SL_EXIT_OK;
    }
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "version", SL_VERSION);
    sl_jw_kstr(&w, "librdkafka", rd_kafka_version_str());
    sl_jw_kstr(&w, "libcurl", curl_version_info(CURLVERSION_NOW)->version);
    sl_jw_kstr(&w, "sqlite", sqlite3_libversion());
    sl_jw_kstr(&w, "jansson", jansson_version_str());
    sl_jw_obj_close(&w);
    printf("%s\n", b.data);
    sl_buf_release(&b);
    return SL_EXIT_OK;
}

int sl_cli_config(int argc, char **argv)
{
    const char *what = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_config, stdout);
            return SL_EXIT_OK;
        }
        if ((strcmp(argv[i], "docs") != 0 && strcmp(argv[i], "man") != 0) || what)
            return refuse("config", argv[i], usage_config);
        what = argv[i];
    }
    if (!what) {
        fputs(usage_config, stderr);
        return SL_EXIT_USAGE;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    if (strcmp(what, "docs") == 0)
        sl_cli_config_docs(&b);
    else
        sl_cli_man_page(&b);
    fwrite(b.data, 1, b.len, stdout);
    sl_buf_release(&b);
    return SL_EXIT_OK;
}
