/* The kafka source (type "kafka"). */
#ifndef SL_SOURCES_KAFKA_H
#define SL_SOURCES_KAFKA_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_kafka_ops;

#endif
