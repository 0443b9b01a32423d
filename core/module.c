#include "core/module.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"

void sl_module_init(struct sl_module *m, const void *ops, const char *kind, const char *type,
                    const char *name)
{
    m->ops = ops;
    m->name = sl_strdup(name ? name : "");
    m->type = type;
    snprintf(m->scope, sizeof(m->scope), "%s:%s:%s", kind, type, m->name);
}

void sl_module_release(struct sl_module *m)
{
    if (!m)
        return;
    free(m->name);
    m->name = NULL;
}
