/* The redis source (type "redis"). */
#ifndef SL_SOURCES_REDIS_H
#define SL_SOURCES_REDIS_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_redis_ops;

#endif
