/* Time zones for schedules: the system's tz database read directly, without the C library's
 * process-wide TZ state. setenv("TZ") + localtime_r would change the zone of every thread at
 * once and race with any getenv on another thread (curl's resolver, librdkafka), so a zone is
 * read once from its TZif file (RFC 8536: /usr/share/zoneinfo/<name>, or $TZDIR/<name>) into an
 * immutable table: its transitions plus the POSIX TZ rule of its footer for times past the last
 * transition. Looking an offset up is then a pure function any thread may call. */
#ifndef SL_SOURCES_SCHEDULE_TZ_H
#define SL_SOURCES_SCHEDULE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct sl_tz;

#define SL_TZ_MAX_NAME 64
#define SL_TZ_MAX_FILE (256u << 10)

/* Loads an IANA zone by name ("Europe/Berlin"; "UTC" needs no file). Returns 0, or a negative
 * code with why (cap bytes) saying what is wrong with the name or the file. */
int sl_tz_load(const char *name, struct sl_tz **out, char *why, size_t cap);
/* Parses TZif data (version 2 or later, whose footer rule is read too). */
int sl_tz_parse(const void *data, size_t len, struct sl_tz **out, char *why, size_t cap);
/* A zone from a POSIX TZ rule alone ("CET-1CEST,M3.5.0,M10.5.0/3"). */
int sl_tz_parse_rule(const char *rule, struct sl_tz **out, char *why, size_t cap);
void sl_tz_destroy(struct sl_tz *z);
/* The zone's offset from UTC (seconds east) at the instant t (Unix seconds). NULL is UTC. */
int32_t sl_tz_offset(const struct sl_tz *z, int64_t t);

#endif
