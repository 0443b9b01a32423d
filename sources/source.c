#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void sl_source_init(struct sl_source *s, const struct sl_source_ops *ops, const char *name)
{
    sl_module_init(SL_MODULE(s), ops, "source", ops->type, name);
}

void sl_source_init_reader(struct sl_source *s, const struct sl_source_ops *ops, const char *name,
                           const struct sl_env *env)
{
    sl_source_init(s, ops, name);
    if (!env->reader)
        return;
    s->reader = sl_strdup(env->reader);
    snprintf(s->scope, sizeof(s->scope), "source:%s:%s/%s", ops->type, name, env->reader);
}

void sl_source_release(struct sl_source *s)
{
    free(s->reader);
    s->reader = NULL;
    sl_module_release(SL_MODULE(s));
}

void sl_source_labels(const struct sl_source *s, struct sl_buf *labels)
{
    sl_metrics_label(labels, "source", s->name);
    if (s->reader)
        sl_metrics_label(labels, "mapping", s->reader);
}

const struct sl_source_ops *sl_source_find_type(const char *type)
{
    for (size_t i = 0; sl_source_types[i]; i++) {
        if (strcmp(sl_source_types[i]->type, type) == 0)
            return sl_source_types[i];
    }
    return NULL;
}
