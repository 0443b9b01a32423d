/* The schedule source's configuration (schedule_int.h): its property table and the checks the
 * table cannot make (the expression, the time zone, the input object; the lock's keys in lock.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/schedule/schedule_int.h"

#define SCHEDULE_MAX_INPUT (64u << 10)
#define SCHEDULE_MAX_NAME  64

const char *const sl_schedule_catch_up_values[] = {"none", "one", NULL};

#define OFF(f) offsetof(struct sl_schedule_cfg, f)

static const struct sl_prop schedule_props[] = {
    {.name = "expression",
     .type = SL_PROP_STRING,
     .offset = OFF(expression),
     .flags = SL_PROP_REQUIRED,
     .desc = "When it fires, in EventBridge syntax: `rate(5 minutes)` (minute(s), hour(s), "
             "day(s); `second(s)` is a sluice extension) or `cron(0 12 * * ? *)` (minutes hours "
             "day-of-month month day-of-week year; docs/SCHEDULES.md)."},
    {.name = "timezone",
     .type = SL_PROP_STRING,
     .offset = OFF(timezone),
     .def = "UTC",
     .desc = "IANA time zone of cron() fields (e.g. Europe/Berlin), read from the system tz "
             "database. Rates count from the Unix epoch whatever the zone."},
    {.name = "input",
     .type = SL_PROP_JSON,
     .offset = OFF(input),
     .desc = "A JSON object delivered as the event's `detail` (at most 64 KiB), or its JSON "
             "text (in YAML, the text keeps numbers and booleans typed); default {}."},
    {.name = "catch_up",
     .type = SL_PROP_ENUM,
     .offset = OFF(catch_up),
     .def = "one",
     .enum_values = sl_schedule_catch_up_values,
     .desc = "Ticks missed while sluice was down: `one` fires once, with the latest missed "
             "tick's time; `none` skips them."},
    {.name = "account",
     .type = SL_PROP_STRING,
     .offset = OFF(account),
     .def = "000000000000",
     .desc = "The event's `account` (and part of its rule ARN in `resources`)."},
    {.name = "region",
     .type = SL_PROP_STRING,
     .offset = OFF(region),
     .def = "local",
     .desc = "The event's `region` (and part of its rule ARN in `resources`)."},
    {.name = "lock",
     .type = SL_PROP_OBJECT,
     .offset = OFF(lock),
     .sub = &sl_schedule_lock_table,
     .desc = "One fire per tick across sluice processes (`type: redis` with the Redis "
             "connection keys); default: every process fires."},
};

const struct sl_prop_table sl_schedule_table = {
    .name = "sources[] (type: schedule)",
    .desc = "A schedule: EventBridge scheduled events on a rate() or cron() expression "
            "(docs/SCHEDULES.md).",
    .props = schedule_props,
    .nprops = SL_ARRAY_LEN(schedule_props),
    .struct_size = sizeof(struct sl_schedule_cfg),
};

static bool text_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > SCHEDULE_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == '"' || v[i] == '\\')
            return false;
    return true;
}

/* What the property table cannot check; fills the expression, zone and detail. */
static int conf_check(struct sl_schedule_conf *s, const struct sl_config *cfg,
                      const struct sl_cfg_typed *sec, struct sl_err *err)
{
    struct sl_schedule_cfg *c = &s->cfg;
    char why[256] = "";
    if (sl_sched_expr_parse(c->expression, &s->expr, why, sizeof(why)) < 0)
        return sl_config_section_error(err, cfg, sec, "expression", "\"%.*s\": %s",
                                       SL_SCHED_EXPR_MAX, c->expression, why);
    if (sl_tz_load(c->timezone, &s->tz, why, sizeof(why)) < 0)
        return sl_config_section_error(err, cfg, sec, "timezone", "\"%.*s\": %s",
                                       SL_TZ_MAX_NAME + 8, c->timezone, why);
    if (c->input) {
        /* YAML makes every scalar a string: JSON text keeps numbers and booleans typed. */
        json_t *obj = json_is_string(c->input)
                          ? json_loads(json_string_value(c->input), JSON_REJECT_DUPLICATES, NULL)
                          : json_incref(c->input);
        if (!json_is_object(obj)) {
            json_decref(obj);
            return sl_config_section_error(
                err, cfg, sec, "input",
                "not a JSON object (allowed: an object, or the text of one, "
                "delivered as `detail`)");
        }
        s->detail = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        if (!s->detail || strlen(s->detail) > SCHEDULE_MAX_INPUT)
            return sl_config_section_error(
                err, cfg, sec, "input",
                "longer than 64 KiB once encoded (allowed: at most 65536 bytes)");
    } else {
        s->detail = sl_strdup("{}");
    }
    s->detail_len = strlen(s->detail);
    if (!text_ok(c->account))
        return sl_config_section_error(
            err, cfg, sec, "account",
            "\"%.*s\" is not allowed (allowed: 1 to 64 characters, no quotes, "
            "backslashes or control characters)",
            SCHEDULE_MAX_NAME, c->account);
    if (!text_ok(c->region))
        return sl_config_section_error(
            err, cfg, sec, "region",
            "\"%.*s\" is not allowed (allowed: 1 to 64 characters, no quotes, "
            "backslashes or control characters)",
            SCHEDULE_MAX_NAME, c->region);
    return sl_schedule_lock_cfg_check(&c->lock, cfg, sec, err);
}

int sl_schedule_conf_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                          struct sl_schedule_conf *c, struct sl_err *err)
{
    memset(c, 0, sizeof(*c));
    int rc = sl_config_bind_typed(cfg, sec, &sl_schedule_table, &c->cfg, err);
    if (rc < 0)
        return rc;
    rc = conf_check(c, cfg, sec, err);
    if (rc < 0)
        sl_schedule_conf_release(c);
    return rc;
}

void sl_schedule_conf_release(struct sl_schedule_conf *c)
{
    sl_tz_destroy(c->tz);
    c->tz = NULL;
    free(c->detail);
    c->detail = NULL;
    sl_props_release(&sl_schedule_table, &c->cfg);
}
