/* Configuration of the "alias" function target: its property table and checks. */
#include "dispatcher/alias/alias_target.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dispatcher/route.h"

static const struct sl_prop version_props[] = {
    {.name = "function",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_alias_version_conf, function),
     .flags = SL_PROP_REQUIRED,
     .desc = "Name of another function section (not an alias): the version."},
    {.name = "weight",
     .type = SL_PROP_FLOAT,
     .offset = offsetof(struct sl_alias_version_conf, weight),
     .flags = SL_PROP_REQUIRED,
     .min = 0,
     .max = 1000000,
     .desc = "Relative share of the invocations sent to it, above 0: weight / (sum of the "
             "weights). Weights 0.9 and 0.1 are Lambda's primary and additional version."},
};

static const struct sl_prop_table version_table = {
    .name = "functions[].routing[] (type: alias)",
    .desc = "One version of an alias.",
    .props = version_props,
    .nprops = sizeof(version_props) / sizeof(version_props[0]),
    .struct_size = sizeof(struct sl_alias_version_conf),
};

static const struct sl_prop alias_props[] = {
    {.name = "routing",
     .type = SL_PROP_OBJECT_LIST,
     .offset = offsetof(struct sl_alias_target_conf, routing),
     .flags = SL_PROP_REQUIRED,
     .sub = &version_table,
     .desc = "The versions, 1..8: each invocation, each retry too, goes to one of them chosen by "
             "weight."},
};

const struct sl_prop_table sl_alias_target_props = {
    .name = "functions[] (type: alias)",
    .desc = "A name in front of other functions (versions) that sends each invocation to one of "
            "them chosen by weight, like a Lambda alias with a routing configuration; retries "
            "are routed again. Metrics per version: sluice_alias_invocations_total. See "
            "docs/ALIASES.md.",
    .props = alias_props,
    .nprops = sizeof(alias_props) / sizeof(alias_props[0]),
    .struct_size = sizeof(struct sl_alias_target_conf),
    .tolerated = NULL,
};

/* The function sections a version may name, for the message: "a, b, c" (cut when long). */
static void version_names(const struct sl_config *cfg, const char *self, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; cfg && i < cfg->functions.n && len + 1 < cap; i++) {
        const struct sl_cfg_typed *f = SL_OBJLIST_AT(cfg->functions, struct sl_cfg_typed, i);
        if (!f->name || !f->type || strcmp(f->type, "alias") == 0 || strcmp(f->name, self) == 0)
            continue;
        int n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", f->name);
        if (n < 0 || (size_t)n >= cap - len) {
            snprintf(out + (cap > 4 ? cap - 4 : 0), cap > 4 ? 4 : cap, "...");
            return;
        }
        len += (size_t)n;
    }
    if (len == 0)
        snprintf(out, cap, "none: add a function section of another type");
}

static int check_version(const struct sl_alias_target_conf *conf, size_t i,
                         const struct sl_config *cfg, const char *self, const char *where,
                         struct sl_err *err)
{
    const struct sl_alias_version_conf *v =
        SL_OBJLIST_AT(conf->routing, struct sl_alias_version_conf, i);
    char names[256];
    const char *fn = v->function ? v->function : "";
    const struct sl_cfg_typed *sec = cfg ? sl_config_find(&cfg->functions, fn) : NULL;
    const char *why = NULL;
    if (strcmp(fn, self) == 0)
        why = "is the alias itself";
    else if (!sec)
        why = "is not a function section of this file";
    else if (sec->type && strcmp(sec->type, "alias") == 0)
        why = "is an alias (an alias routes to functions of other types only)";
    if (why) {
        version_names(cfg, self, names, sizeof(names));
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%srouting[%zu].function: \"%.64s\" %s (allowed: %s)", where, i, fn, why,
                          names);
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(SL_OBJLIST_AT(conf->routing, struct sl_alias_version_conf, j)->function, fn) ==
            0)
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "%srouting[%zu].function: \"%s\" is listed twice (allowed: each "
                              "version once)",
                              where, i, fn);
    }
    if (!(v->weight > 0))
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%srouting[%zu].weight: %g (allowed: a number above 0, up to 1000000)",
                          where, i, v->weight);
    return 0;
}

int sl_alias_target_conf_check(const struct sl_alias_target_conf *conf, const struct sl_config *cfg,
                               const char *self, const char *where, struct sl_err *err)
{
    if (conf->routing.n == 0 || conf->routing.n > SL_ROUTES_MAX)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%srouting: %zu entries (allowed: 1..%d versions)", where,
                          conf->routing.n, SL_ROUTES_MAX);
    for (size_t i = 0; i < conf->routing.n; i++) {
        int rc = check_version(conf, i, cfg, self ? self : "", where, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
