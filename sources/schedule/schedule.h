/* The schedule source (type "schedule"): EventBridge scheduled events on a rate() or cron()
 * expression (docs/SCHEDULES.md). */
#ifndef SL_SOURCES_SCHEDULE_SCHEDULE_H
#define SL_SOURCES_SCHEDULE_SCHEDULE_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_schedule_ops;

#endif
