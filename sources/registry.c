#include <stddef.h>

#include "sources/http/webhook.h"
#include "sources/source.h"

const struct sl_source_ops *const sl_source_types[] = {
    &sl_source_http_ops,
    NULL,
};
