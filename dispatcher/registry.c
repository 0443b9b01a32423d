/* The table of function target types. */
#include "dispatcher/target.h"

#include <string.h>

#include "dispatcher/alias/alias_target.h"
#include "dispatcher/http/http_target.h"
#include "dispatcher/lambda/lambda_target.h"
#include "dispatcher/runtime/runtime_target.h"

const struct sl_target_ops *const sl_target_types[] = {
    &sl_target_http_ops, &sl_target_lambda_ops, &sl_target_runtime_ops, &sl_target_alias_ops, NULL};

const struct sl_target_ops *sl_target_find_type(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; sl_target_types[i]; i++) {
        if (strcmp(sl_target_types[i]->type, type) == 0)
            return sl_target_types[i];
    }
    return NULL;
}
