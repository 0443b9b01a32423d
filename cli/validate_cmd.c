/* sluice validate [-c FILE] [--no-env] [--json]: every error of a config file (and of each
 * section's own keys), in file order, each with its line and key path; warnings for what is
 * valid but cannot work as written. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/app.h"
#include "cli/cmd.h"
#include "core/jw.h"
#include "sources/http/webhook.h"

static const char usage_validate[] =
    "usage: sluice validate [-c FILE] [--no-env] [--json]\n"
    "\n"
    "Loads FILE and checks every key, type, bound and reference, the sections' own keys\n"
    "(sources, functions, dlqs) and the filters, without opening or starting anything.\n"
    "Prints \"ok\", or every error in file order as FILE:LINE: KEY.PATH: what is wrong\n"
    "(the value and what is allowed); warnings (a filter on a header the webhook does not\n"
    "keep) are printed either way.\n"
    "\n"
    "  --no-env  do not read the environment: ${VAR:-default} takes its default, and a\n"
    "            ${VAR} without one is not required (the checks of its key are skipped),\n"
    "            so a file can be checked without its secrets\n"
    "  --json    print {\"file\", \"valid\", \"errors\": [...], \"warnings\": [...]} on stdout\n"
    "\n"
    "exit status: 0 valid; 2 bad usage; 78 invalid (or the file cannot be read).\n";

/* The pattern object of a filters[] item: an object, its JSON text, or {Pattern: text}. A new
 * reference, or NULL. */
static json_t *pattern_of(json_t *item)
{
    json_t *text = json_is_object(item) ? json_object_get(item, "Pattern") : item;
    if (json_is_string(text))
        return json_loads(json_string_value(text), 0, NULL);
    return json_is_object(item) ? json_incref(item) : NULL;
}

/* A filter on a header a webhook does not keep never matches: its records have no such
 * header. */
static void warn_unkept_headers(struct sl_app *app, struct sl_cfg_diags *d)
{
    const struct sl_config *cfg = &app->cfg;
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        struct sl_source *s = NULL;
        for (size_t k = 0; mc->source && k < app->nsources; k++) {
            if (strcmp(app->sources[k]->name, mc->source) == 0)
                s = app->sources[k];
        }
        if (!s || s->ops != &sl_source_http_ops || !json_is_array(mc->filters))
            continue;
        size_t j;
        json_t *item;
        json_array_foreach(mc->filters, j, item)
        {
            json_t *pat = pattern_of(item);
            const char *name;
            json_t *v;
            json_object_foreach(json_object_get(pat, "headers"), name, v)
            {
                if (sl_webhook_keeps_header(s, name))
                    continue;
                struct sl_buf kept;
                sl_buf_init(&kept);
                sl_webhook_kept_headers(s, &kept);
                sl_cfg_diags_warn(d,
                                  "%s: %s.filters[%zu]: header \"%s\" is not kept by source \"%s\" "
                                  "(keep_headers: %s), so this pattern never matches; add it to "
                                  "the source's keep_headers",
                                  cfg->file, mc->path, j, name, s->name, kept.data);
                sl_buf_release(&kept);
            }
            json_decref(pat);
        }
    }
}

static void json_diags(struct sl_jw *w, const struct sl_cfg_diags *d, bool warnings)
{
    sl_jw_arr_open(w);
    for (size_t i = 0; i < d->n; i++) {
        const struct sl_cfg_diag *g = &d->v[i];
        if (g->warning != warnings)
            continue;
        sl_jw_obj_open(w);
        sl_jw_key(w, "line");
        if (g->line)
            sl_jw_int(w, g->line);
        else
            sl_jw_null(w);
        sl_jw_key(w, "path");
        if (g->path)
            sl_jw_str(w, g->path);
        else
            sl_jw_null(w);
        sl_jw_kstr(w, "message", g->text);
        sl_jw_obj_close(w);
    }
    sl_jw_arr_close(w);
}

static void print_json(const char *file, const struct sl_cfg_diags *d)
{
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "file", file);
    sl_jw_key(&w, "valid");
    sl_jw_bool(&w, d->errors == 0);
    sl_jw_key(&w, "errors");
    json_diags(&w, d, false);
    sl_jw_key(&w, "warnings");
    json_diags(&w, d, true);
    sl_jw_obj_close(&w);
    printf("%s\n", b.data);
    sl_buf_release(&b);
}

static void print_text(const char *file, const struct sl_cfg_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct sl_cfg_diag *g = &d->v[i];
        if (!g->warning) {
            fprintf(stderr, "%s\n", g->msg);
            continue;
        }
        if (g->line)
            fprintf(stderr, "%s:%ld: warning: ", file, g->line);
        else
            fprintf(stderr, "%s: warning: ", file);
        fprintf(stderr, "%s%s%s\n", g->path ? g->path : "", g->path ? ": " : "", g->text);
    }
    if (d->errors)
        fprintf(stderr, "%s: %zu error%s\n", file, d->errors, d->errors == 1 ? "" : "s");
}

int sl_cli_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"no-env", no_argument, NULL, 'E'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    bool json = false;
    struct sl_cfg_diags d;
    sl_cfg_diags_init(&d);
    struct sl_config_opts o = {.diags = &d};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'E':
            o.no_env = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(usage_validate, stdout);
            return SL_EXIT_OK;
        default:
            fputs(usage_validate, stderr);
            return SL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n%s", argv[optind], usage_validate);
        return SL_EXIT_USAGE;
    }
    const char *file = sl_cli_config_path(config);
    struct sl_app app;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_app_check(&app, file, &o, &err);
    if (rc < 0 && d.n == 0)
        sl_cfg_diags_add(&d, &err); /* not a config error: say it anyway */
    warn_unkept_headers(&app, &d);
    sl_cfg_diags_finish(&d, file, app.cfg.lines);
    if (json) {
        print_json(file, &d);
    } else {
        print_text(file, &d);
        if (d.errors == 0)
            printf("%s: ok (%zu sources, %zu functions, %zu mappings)\n", file, app.nsources,
                   app.ntargets, app.cfg.mappings.n);
    }
    int status = d.errors ? SL_EXIT_CONFIG : SL_EXIT_OK;
    sl_app_release(&app);
    sl_cfg_diags_release(&d);
    return status;
}

const char *sl_cli_validate_usage(void)
{
    return usage_validate;
}
