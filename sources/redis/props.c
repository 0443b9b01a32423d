/* The redis source's keys (they also make its section of docs/CONFIGURATION.md) and the checks
 * a property table cannot express. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/time.h"
#include "sources/redis/redis_int.h"

#define REDIS_DEFAULT_COUNT 100
#define REDIS_NAME_MAX      200

static const char *const start_values[] = {"earliest", "latest", "at", NULL};
static const char *const data_values[] = {"json", "resp", "field", NULL};

#define OFF(f) offsetof(struct sl_redis_cfg, f)

static const struct sl_prop redis_props[] = {
    /* host, port, unix_socket, password, db, connect_timeout, command_timeout: shared with the
     * Redis DLQ sink. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_redis_conn_table},
    {.name = "streams",
     .type = SL_PROP_STRING_LIST,
     .offset = OFF(streams),
     .flags = SL_PROP_REQUIRED,
     .desc = "The stream keys to read (at least one). Each stream is a lane: delivered in order."},
    {.name = "group",
     .type = SL_PROP_STRING,
     .offset = OFF(group),
     .desc =
         "Consumer group; created with MKSTREAM when missing. Default: `sluice-<source name>`."},
    {.name = "consumer",
     .type = SL_PROP_STRING,
     .offset = OFF(consumer),
     .desc = "Consumer name within the group; every sluice process needs its own. Default: "
             "`<hostname>-<pid>`."},
    {.name = "starting_position",
     .type = SL_PROP_ENUM,
     .offset = OFF(starting_position),
     .def = "latest",
     .enum_values = start_values,
     .desc =
         "Where a NEW group starts: `earliest` (the whole stream), `latest` (entries added from "
         "now on) or `at` (entries from `starting_timestamp` on). An existing group keeps its "
         "position."},
    {.name = "starting_timestamp",
     .type = SL_PROP_STRING,
     .offset = OFF(starting_timestamp),
     .desc = "With `starting_position: at`: an RFC 3339 time (2026-01-02T03:04:05Z) or a time ago "
             "(-1h); not in the future."},
    {.name = "partition_key_field",
     .type = SL_PROP_STRING,
     .offset = OFF(partition_key_field),
     .desc =
         "Entry field whose value becomes kinesis.partitionKey; unset (or absent from an entry): "
         "the stream name."},
    {.name = "data_encoding",
     .type = SL_PROP_ENUM,
     .offset = OFF(data_encoding),
     .def = "json",
     .enum_values = data_values,
     .desc = "What kinesis.data holds (base64): `json`, the entry's fields as a JSON object (text: "
             "bytes that are not UTF-8 become U+FFFD, and the record then carries "
             "`\"invalidUtf8Replaced\": true`); `resp`, the fields as a RESP array of bulk strings "
             "(binary-safe: every byte as written); `field`, the raw bytes of the field "
             "`data_field` (an entry without it is dead-lettered as DataFieldMissing). "
             "docs/REDIS.md."},
    {.name = "data_field",
     .type = SL_PROP_STRING,
     .offset = OFF(data_field),
     .desc = "With `data_encoding: field`: the field whose value is kinesis.data, byte for byte "
             "(for producers that XADD one payload field)."},
    {.name = "block",
     .type = SL_PROP_DURATION,
     .offset = OFF(block_ms),
     .def = "1s",
     .min = 10,
     .max = 60000,
     .desc = "XREADGROUP BLOCK: how long one read waits for new entries."},
    {.name = "count",
     .type = SL_PROP_INT,
     .offset = OFF(count),
     .def = "0",
     .max = 10000,
     .desc = "The smallest XREADGROUP COUNT per stream (a read asks for the room `read_ahead` "
             "leaves, up to 4 x count); 0: the batch size of the mapping that reads this source."},
    {.name = "read_ahead",
     .type = SL_PROP_INT,
     .offset = OFF(read_ahead),
     .def = "0",
     .max = 1000000,
     .desc =
         "Entries read but not yet handled above which no more are read, so that several sluice "
         "processes share a group's work (the mapping's max_inflight_records also applies); 0: "
         "4 x count."},
    {.name = "claim_idle",
     .type = SL_PROP_DURATION,
     .offset = OFF(claim_idle_ms),
     .def = "30s",
     .min = 100,
     .max = 86400000,
     .desc = "Entries pending this long with another consumer (a crashed or departed sluice) are "
             "taken over with XCLAIM. Entries this source holds are kept fresh, so they are never "
             "taken from a live process."},
    {.name = "claim_interval",
     .type = SL_PROP_DURATION,
     .offset = OFF(claim_interval_ms),
     .def = "0",
     .max = 3600000,
     .desc = "How often to look for idle entries to take over; 0: a third of claim_idle."},
    {.name = "max_deliveries",
     .type = SL_PROP_INT,
     .offset = OFF(max_deliveries),
     .def = "10",
     .min = 1,
     .max = 1000000,
     .desc = "An entry delivered more often than this (its delivery count, after crashes or "
             "takeovers) goes to the DLQ as MaxDeliveriesExceeded instead of to the function."},
    {.name = "metrics_interval",
     .type = SL_PROP_DURATION,
     .offset = OFF(metrics_interval_ms),
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .desc = "How often pending count, lag and oldest pending age are read from Redis."},
};

const struct sl_prop_table sl_redis_source_table = {
    .name = "sources[] (type: redis)",
    .desc = "Redis Streams read through a consumer group (XREADGROUP, XACK, XCLAIM); records "
            "are Kinesis-shaped (docs/REDIS.md).",
    .props = redis_props,
    .nprops = SL_ARRAY_LEN(redis_props),
    .struct_size = sizeof(struct sl_redis_cfg),
};

void sl_redis_cfg_release(struct sl_redis_cfg *c)
{
    sl_props_release(&sl_redis_source_table, c);
}

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) <= REDIS_NAME_MAX;
}

int sl_redis_cfg_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                      struct sl_redis_cfg *c, int64_t *start_ms, struct sl_err *err)
{
    memset(c, 0, sizeof(*c));
    int rc = sl_config_bind_typed(cfg, sec, &sl_redis_source_table, c, err);
    if (rc < 0)
        return rc;
    *start_ms = 0;
    if (c->streams.n == 0) {
        rc = sl_config_section_error(err, cfg, sec, "streams",
                                     "no streams given (allowed: a list of 1 or more stream keys)");
        goto fail;
    }
    for (size_t i = 0; i < c->streams.n; i++) {
        if (!name_ok(c->streams.v[i])) {
            char key[64];
            snprintf(key, sizeof(key), "streams[%zu]", i);
            rc = sl_config_section_error(
                err, cfg, sec, key, "\"%s\" is not a stream key (allowed: 1 to 200 characters)",
                c->streams.v[i]);
            goto fail;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(c->streams.v[k], c->streams.v[i]) == 0) {
                char key[64];
                snprintf(key, sizeof(key), "streams[%zu]", i);
                rc = sl_config_section_error(err, cfg, sec, key,
                                             "\"%s\" is listed twice (allowed: distinct streams)",
                                             c->streams.v[i]);
                goto fail;
            }
        }
    }
    if (c->group && !name_ok(c->group)) {
        rc = sl_config_section_error(err, cfg, sec, "group",
                                     "\"%s\" is not a group name (allowed: 1 to 200 characters)",
                                     c->group);
        goto fail;
    }
    if (c->consumer && !name_ok(c->consumer)) {
        rc = sl_config_section_error(err, cfg, sec, "consumer",
                                     "\"%s\" is not a consumer name (allowed: 1 to 200 characters)",
                                     c->consumer);
        goto fail;
    }
    rc = sl_redis_conn_cfg_check(&c->conn, cfg ? cfg->file : NULL,
                                 sec->path ? sec->path : "sources[]", err);
    if (rc < 0)
        goto fail;
    if (c->starting_position == SL_REDIS_START_AT) {
        if (!c->starting_timestamp || !*c->starting_timestamp) {
            rc = sl_config_section_error(
                err, cfg, sec, "starting_timestamp",
                "missing: `starting_position: at` needs it (allowed: an RFC 3339 "
                "time, or a time ago like -1h)");
            goto fail;
        }
        int64_t now = sl_now_ms();
        if (sl_time_parse(c->starting_timestamp, now, start_ms) < 0 || *start_ms < 0) {
            rc = sl_config_section_error(err, cfg, sec, "starting_timestamp",
                                         "\"%s\" is not a time (allowed: an RFC 3339 time like "
                                         "2026-01-02T03:04:05Z, or a time ago like -1h)",
                                         c->starting_timestamp);
            goto fail;
        }
        if (*start_ms > now + 1000) {
            rc = sl_config_section_error(err, cfg, sec, "starting_timestamp",
                                         "\"%s\" is in the future (allowed: a past time)",
                                         c->starting_timestamp);
            goto fail;
        }
    } else if (c->starting_timestamp) {
        rc = sl_config_section_error(err, cfg, sec, "starting_timestamp",
                                     "set, but starting_position is not `at` (allowed: only with "
                                     "starting_position: at)");
        goto fail;
    }
    if (c->data_encoding == SL_REDIS_DATA_FIELD) {
        if (!c->data_field || !*c->data_field) {
            rc = sl_config_section_error(
                err, cfg, sec, "data_field",
                "%s: `data_encoding: field` needs it (allowed: the name of the field "
                "whose value is the data)",
                c->data_field ? "\"\" is empty" : "missing");
            goto fail;
        }
    } else if (c->data_field) {
        rc = sl_config_section_error(
            err, cfg, sec, "data_field",
            "\"%s\" is set, but data_encoding is not `field` (allowed: only with "
            "data_encoding: field)",
            c->data_field);
        goto fail;
    }
    /* Derived defaults. */
    if (!c->group) {
        char g[REDIS_NAME_MAX + 16];
        snprintf(g, sizeof(g), "sluice-%s", sec->name ? sec->name : "redis");
        c->group = sl_strdup(g);
    }
    if (!c->consumer) {
        char host[128] = "sluice", name[192];
        if (gethostname(host, sizeof(host) - 1) != 0)
            strcpy(host, "sluice");
        host[sizeof(host) - 1] = '\0';
        snprintf(name, sizeof(name), "%s-%ld", host, (long)getpid());
        c->consumer = sl_strdup(name);
    }
    if (c->count == 0) {
        c->count = REDIS_DEFAULT_COUNT;
        for (size_t i = 0; cfg && i < cfg->mappings.n; i++) {
            const struct sl_cfg_mapping *mc =
                SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
            if (mc->source && sec->name && strcmp(mc->source, sec->name) == 0 && mc->batch.size > 0)
                c->count = mc->batch.size < 10000 ? mc->batch.size : 10000;
        }
    }
    if (c->read_ahead == 0)
        c->read_ahead = c->count * 4;
    if (c->claim_interval_ms == 0)
        c->claim_interval_ms = c->claim_idle_ms / 3 > 50 ? c->claim_idle_ms / 3 : 50;
    return 0;
fail:
    sl_redis_cfg_release(c);
    return rc;
}
