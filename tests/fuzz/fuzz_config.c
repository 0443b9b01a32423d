/* Fuzzes the config loader: YAML or JSON (JSON when the input starts with '{'), then binding of
 * every typed section with a small module-like table. Nothing may crash or leak. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

struct fuzz_typed {
    char *token;
    int64_t timeout_ms;
    uint64_t max_bytes;
    struct sl_strlist list;
    struct sl_strmap map;
    struct sl_intlist codes;
    bool flag;
};

static const struct sl_prop fuzz_props[] = {
    {.name = "token",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct fuzz_typed, token),
     .flags = SL_PROP_SECRET},
    {.name = "timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct fuzz_typed, timeout_ms),
     .def = "10s",
     .min = 1,
     .max = 3600000},
    {.name = "max_body_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct fuzz_typed, max_bytes),
     .def = "1MiB"},
    {.name = "keep_headers",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct fuzz_typed, list)},
    {.name = "headers", .type = SL_PROP_STRING_MAP, .offset = offsetof(struct fuzz_typed, map)},
    {.name = "codes",
     .type = SL_PROP_INT_LIST,
     .offset = offsetof(struct fuzz_typed, codes),
     .min = 100,
     .max = 599},
    {.name = "flag", .type = SL_PROP_BOOL, .offset = offsetof(struct fuzz_typed, flag)},
};

static const struct sl_prop_table fuzz_table = {
    .name = "fuzz",
    .props = fuzz_props,
    .nprops = sizeof(fuzz_props) / sizeof(fuzz_props[0]),
    .struct_size = sizeof(struct fuzz_typed),
    .tolerated = NULL,
};

static void bind_all(const struct sl_config *cfg, const struct sl_objlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(*l, const struct sl_cfg_typed, i);
        struct fuzz_typed out;
        struct sl_err err;
        if (sl_config_bind_typed(cfg, sec, &fuzz_table, &out, &err) == 0)
            sl_props_release(&fuzz_table, &out);
        else if (strlen(err.msg) >= sizeof(err.msg))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool json = size > 0 && data[0] == '{';
    struct sl_config cfg;
    struct sl_err err;
    memset(&err, 0, sizeof(err));
    int rc = sl_config_load_text((const char *)data, size, json, "fuzz.yaml", &cfg, &err);
    if (rc == 0) {
        bind_all(&cfg, &cfg.sources);
        bind_all(&cfg, &cfg.functions);
        bind_all(&cfg, &cfg.dlqs);
        for (size_t i = 0; i < cfg.mappings.n; i++) {
            const struct sl_cfg_mapping *m =
                SL_OBJLIST_AT(cfg.mappings, const struct sl_cfg_mapping, i);
            if (sl_config_mapping(&cfg, m->name) == NULL)
                abort();
        }
        sl_config_release(&cfg);
    } else if (rc != SL_ECONFIG || err.msg[0] == '\0') {
        abort(); /* every failure is a config error with a message */
    }
    return 0;
}
