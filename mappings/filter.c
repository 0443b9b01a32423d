/* Placeholder until the filter engine lands: no filters means match everything. */
#include "mappings/filter.h"

int sl_filter_compile(json_t *patterns, const char *path, struct sl_filter **out,
                      struct sl_err *err)
{
    *out = NULL;
    if (!patterns || (json_is_array(patterns) && json_array_size(patterns) == 0))
        return 0;
    return sl_err_set(err, SL_ERR_PERMANENT, SL_EUNSUPP, "%s: filters are not supported yet", path);
}

bool sl_filter_match(const struct sl_filter *f, json_t *view)
{
    return f == NULL;
}

void sl_filter_destroy(struct sl_filter *f)
{
    (void)f;
}
