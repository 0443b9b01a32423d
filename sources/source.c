#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void sl_source_init(struct sl_source *s, const struct sl_source_ops *ops, const char *name)
{
    sl_module_init(SL_MODULE(s), ops, "source", ops->type, name);
}

void sl_source_release(struct sl_source *s)
{
    sl_module_release(SL_MODULE(s));
}

const struct sl_source_ops *sl_source_find_type(const char *type)
{
    for (size_t i = 0; sl_source_types[i]; i++) {
        if (strcmp(sl_source_types[i]->type, type) == 0)
            return sl_source_types[i];
    }
    return NULL;
}
