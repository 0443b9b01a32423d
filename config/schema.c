/* The property tables of struct sl_config: every generic key, its default, bounds and docs. */
#include <stddef.h>

#include "config/config.h"
#include "core/mem.h"

#define SL_KIB  1024LL
#define SL_MIB  (1024LL * 1024)
#define SL_GIB  (1024LL * 1024 * 1024)
#define SL_SEC  1000LL
#define SL_MIN  (60 * SL_SEC)
#define SL_HOUR (60 * SL_MIN)
#define SL_DAY  (24 * SL_HOUR)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const store_syncs[] = {"full", "normal", NULL};
static const char *const mapping_formats[] = {"lambda", "raw", NULL};
static const char *const mapping_orderings[] = {"lane", "none", NULL};
static const char *const tolerate_all[] = {"*", NULL};

/* ---- log ---------------------------------------------------------------------------------- */

static const struct sl_prop log_props[] = {
    {.name = "level",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_cfg_log, level),
     .def = "info",
     .enum_values = log_levels,
     .desc = "Lowest severity that is written to stderr."},
    {.name = "format",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_cfg_log, format),
     .def = "text",
     .enum_values = log_formats,
     .desc = "Line format: human-readable text, or one JSON object per line for log shippers."},
    {.name = "instance",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_log, instance),
     .def = "sluice",
     .desc = "Name of this sluice process, written on every line to tell instances apart."},
};

static const struct sl_prop_table log_table = {
    .name = "log",
    .desc = "Logging: what is written to stderr and how.",
    .props = log_props,
    .nprops = SL_ARRAY_LEN(log_props),
    .struct_size = sizeof(struct sl_cfg_log),
};

/* ---- listeners (server and admin) --------------------------------------------------------- */

/* The listener keys, with offsets from `base` (the listener's offset in the bound struct). */
#define SL_LISTENER_PROPS(base, listen_def, body_def, what)                                        \
    {.name = "listen",                                                                             \
     .type = SL_PROP_STRING,                                                                       \
     .offset = (base) + offsetof(struct sl_cfg_listener, listen),                                  \
     .def = listen_def,                                                                            \
     .desc = "Address the " what " listens on, as host:port (IPv6 as [addr]:port)."},              \
        {.name = "max_connections",                                                                \
         .type = SL_PROP_INT,                                                                      \
         .offset = (base) + offsetof(struct sl_cfg_listener, max_connections),                     \
         .def = "1024",                                                                            \
         .min = 1,                                                                                 \
         .max = 100000,                                                                            \
         .desc = "Most client connections the " what " keeps open at once."},                      \
        {.name = "max_header_bytes",                                                               \
         .type = SL_PROP_SIZE,                                                                     \
         .offset = (base) + offsetof(struct sl_cfg_listener, max_header_bytes),                    \
         .def = "16KiB",                                                                           \
         .min = SL_KIB,                                                                            \
         .max = SL_MIB,                                                                            \
         .desc = "Largest request line plus headers; a bigger request gets 431."},                 \
        {.name = "max_body_bytes",                                                                 \
         .type = SL_PROP_SIZE,                                                                     \
         .offset = (base) + offsetof(struct sl_cfg_listener, max_body_bytes),                      \
         .def = body_def,                                                                          \
         .min = 1,                                                                                 \
         .max = 64 * SL_MIB,                                                                       \
         .desc = "Largest request body; a bigger request gets 413."},                              \
        {.name = "request_timeout",                                                                \
         .type = SL_PROP_DURATION,                                                                 \
         .offset = (base) + offsetof(struct sl_cfg_listener, request_timeout_ms),                  \
         .def = "30s",                                                                             \
         .min = 100,                                                                               \
         .max = SL_HOUR,                                                                           \
         .desc = "Time a client has to send a whole request before it gets 408 (guards "           \
                 "against slow clients)."},                                                        \
    {                                                                                              \
        .name = "idle_timeout", .type = SL_PROP_DURATION,                                          \
        .offset = (base) + offsetof(struct sl_cfg_listener, idle_timeout_ms), .def = "60s",        \
        .min = 100, .max = SL_HOUR,                                                                \
        .desc = "Time a keep-alive connection may stay idle before the server closes it."          \
    }

static const struct sl_prop server_props[] = {
    SL_LISTENER_PROPS(0, "127.0.0.1:8080", "1MiB", "push listener (webhooks)"),
    {.name = "max_buffered_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_cfg_listener, max_buffered_bytes),
     .def = "64MiB",
     .min = SL_KIB,
     .max = 16 * SL_GIB,
     .desc = "Request body bytes the push listener holds at once, counted from Content-Length "
             "when a request's headers arrive; a request whose body would go beyond it gets 503 "
             "with Retry-After before its body is read. Never below max_body_bytes."},
    {.name = "max_connections_per_ip",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_cfg_listener, max_connections_per_ip),
     .def = "64",
     .min = 0,
     .max = 100000,
     .desc = "Most connections one client address may hold on the push listener at once, so a "
             "single slow client cannot take every slot of max_connections; its further "
             "connections get 503 `too_many_connections_per_ip` and are closed. 0 means no "
             "limit (e.g. behind a proxy that all pushes come through)."},
};

static const struct sl_prop_table server_table = {
    .name = "server",
    .desc = "The push listener: HTTP endpoints that push sources (webhooks) receive records on.",
    .props = server_props,
    .nprops = SL_ARRAY_LEN(server_props),
    .struct_size = sizeof(struct sl_cfg_listener),
};

static const struct sl_prop aws_key_props[] = {
    {.name = "access_key_id",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_aws_key, access_key_id),
     .flags = SL_PROP_REQUIRED,
     .desc = "The access key id a client signs with (the Credential= of its Authorization "
             "header)."},
    {.name = "secret_access_key",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_aws_key, secret_access_key),
     .flags = SL_PROP_REQUIRED | SL_PROP_SECRET,
     .desc = "Its secret key; use ${VAR} to read it from the environment."},
};

static const struct sl_prop_table aws_key_table = {
    .name = "admin.aws_credentials[]",
    .desc = "A key pair that may sign requests to the event-source-mapping API "
            "(docs/ESM_API.md).",
    .props = aws_key_props,
    .nprops = SL_ARRAY_LEN(aws_key_props),
    .struct_size = sizeof(struct sl_cfg_aws_key),
};

static const struct sl_prop admin_props[] = {
    SL_LISTENER_PROPS(offsetof(struct sl_cfg_admin, listener), "127.0.0.1:8081", "64KiB",
                      "admin API"),
    {.name = "token",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_admin, token),
     .flags = SL_PROP_SECRET,
     .desc = "When set, every admin request must carry `Authorization: Bearer <token>`; "
             "use ${VAR} to read it from the environment."},
    {.name = "aws_credentials",
     .type = SL_PROP_OBJECT_LIST,
     .def = "[]",
     .offset = offsetof(struct sl_cfg_admin, aws_credentials),
     .sub = &aws_key_table,
     .desc = "When set, requests to the event-source-mapping API (/2015-03-31/...) must be "
             "signed with AWS Signature Version 4 by one of these keys instead of carrying the "
             "token, as the AWS SDKs and CLI sign them (docs/ESM_API.md)."},
    {.name = "esm_store",
     .type = SL_PROP_JSON,
     .offset = offsetof(struct sl_cfg_admin, esm_store),
     .desc = "Where the mappings made through the event-source-mapping API are kept: unset, in "
             "this process's own store; `{type: postgres, postgres: {...}}`, in a PostgreSQL "
             "table every sluice process sharing it reads and applies (keys: "
             "`admin.esm_store` below; docs/ESM_API.md)."},
};

static const struct sl_prop_table admin_table = {
    .name = "admin",
    .desc = "The admin API listener (health, metrics, DLQ and mapping control). Keep it on "
            "loopback or set a token.",
    .props = admin_props,
    .nprops = SL_ARRAY_LEN(admin_props),
    .struct_size = sizeof(struct sl_cfg_admin),
};

/* ---- store and shutdown ------------------------------------------------------------------- */

static const struct sl_prop store_props[] = {
    {.name = "dir",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_store, dir),
     .def = "./var/sluice",
     .flags = SL_PROP_PATH,
     .desc = "Directory that holds the SQLite files of the spool and of the default dead-letter "
             "queue. One `sluice run` owns it at a time (it holds the lock file `sluice.lock` "
             "there)."},
    {.name = "sync",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_cfg_store, sync),
     .def = "full",
     .enum_values = store_syncs,
     .desc = "SQLite synchronous mode: with `full` every commit survives a power loss; `normal` "
             "survives process crashes only, but commits several times faster."},
    {.name = "spool_max_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_cfg_store, spool_max_bytes),
     .def = "1GiB",
     .min = SL_MIB,
     .max = 1024 * SL_GIB,
     .desc = "Accepted but not yet acknowledged bytes in the spool; beyond it pushes get 503."},
    {.name = "commit_max_batch",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_cfg_store, commit_max_batch),
     .def = "1024",
     .min = 1,
     .max = 100000,
     .desc = "Most writes grouped into one SQLite transaction by the store writer thread."},
};

static const struct sl_prop_table store_table = {
    .name = "store",
    .desc = "The embedded store (SQLite): spool of accepted pushes and the default dead-letter "
            "queue.",
    .props = store_props,
    .nprops = SL_ARRAY_LEN(store_props),
    .struct_size = sizeof(struct sl_cfg_store),
};

/* Offsets are into struct sl_config itself: `shutdown` is bound at offset 0. */
static const struct sl_prop shutdown_props[] = {
    {.name = "drain_timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_config, drain_timeout_ms),
     .def = "30s",
     .min = 0,
     .max = 10 * SL_MIN,
     .desc = "On SIGTERM, how long in-flight batches may finish. Closing (last offset commits, "
             "DLQ writes in flight) then gets what is left of it, and at least 1 s. Records "
             "left unfinished stay unacknowledged at their source, are delivered again after "
             "the restart, and make `sluice run` exit with status 75."},
};

static const struct sl_prop_table shutdown_table = {
    .name = "shutdown",
    .desc = "Graceful shutdown.",
    .props = shutdown_props,
    .nprops = SL_ARRAY_LEN(shutdown_props),
    .struct_size = sizeof(struct sl_config),
};

/* ---- typed sections ----------------------------------------------------------------------- */

#define SL_TYPED_PROPS(what)                                                                       \
    {.name = "name",                                                                               \
     .type = SL_PROP_STRING,                                                                       \
     .offset = offsetof(struct sl_cfg_typed, name),                                                \
     .flags = SL_PROP_REQUIRED,                                                                    \
     .desc = "Unique name of this " what ": 1 to 64 characters of A-Z a-z 0-9 _ . -"},             \
    {                                                                                              \
        .name = "type", .type = SL_PROP_STRING, .offset = offsetof(struct sl_cfg_typed, type),     \
        .flags = SL_PROP_REQUIRED,                                                                 \
        .desc = "Module that implements this " what "; it decides which other keys are allowed."   \
    }

static const struct sl_prop function_props[] = {SL_TYPED_PROPS("function")};
static const struct sl_prop source_props[] = {SL_TYPED_PROPS("source")};
static const struct sl_prop dlq_props[] = {SL_TYPED_PROPS("dead-letter queue")};

static const struct sl_prop_table functions_table = {
    .name = "functions[]",
    .desc = "Function targets that mappings invoke with batches (type `http`: POST to a URL).",
    .props = function_props,
    .nprops = SL_ARRAY_LEN(function_props),
    .struct_size = sizeof(struct sl_cfg_typed),
    .tolerated = tolerate_all,
};

static const struct sl_prop_table sources_table = {
    .name = "sources[]",
    .desc = "Where records come from (type `http`: a webhook endpoint on the push listener).",
    .props = source_props,
    .nprops = SL_ARRAY_LEN(source_props),
    .struct_size = sizeof(struct sl_cfg_typed),
    .tolerated = tolerate_all,
};

static const struct sl_prop_table dlqs_table = {
    .name = "dlqs[]",
    .desc = "Extra dead-letter queues. A DLQ named `default` (SQLite, in store.dir) always "
            "exists and cannot be redefined.",
    .props = dlq_props,
    .nprops = SL_ARRAY_LEN(dlq_props),
    .struct_size = sizeof(struct sl_cfg_typed),
    .tolerated = tolerate_all,
};

/* ---- mappings ----------------------------------------------------------------------------- */

static const struct sl_prop batch_props[] = {
    {.name = "size",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_cfg_batch, size),
     .def = "10",
     .min = 1,
     .max = 10000,
     .desc = "Most records in one invocation."},
    {.name = "window",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_cfg_batch, window_ms),
     .def = "0s",
     .min = 0,
     .max = 300 * SL_SEC,
     .desc = "How long to gather records before invoking; 0 invokes as soon as records are "
             "there."},
    {.name = "max_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_cfg_batch, max_bytes),
     .def = "6MB",
     .min = SL_KIB,
     .max = 64 * SL_MIB,
     .desc = "Largest encoded payload of one invocation; a batch is cut before it would grow "
             "past this."},
};

static const struct sl_prop_table batch_table = {
    .name = "batch",
    .desc = "When a batch is cut: whichever of size, window and max_bytes is reached first.",
    .props = batch_props,
    .nprops = SL_ARRAY_LEN(batch_props),
    .struct_size = sizeof(struct sl_cfg_batch),
};

static const struct sl_prop backoff_props[] = {
    {.name = "min",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_cfg_backoff, min_ms),
     .def = "100ms",
     .min = 1,
     .max = SL_HOUR,
     .desc = "Ceiling of the delay before the first retry."},
    {.name = "max",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_cfg_backoff, max_ms),
     .def = "30s",
     .min = 1,
     .max = SL_DAY,
     .desc = "Largest delay between two attempts; must not be below min."},
    {.name = "multiplier",
     .type = SL_PROP_FLOAT,
     .offset = offsetof(struct sl_cfg_backoff, multiplier),
     .def = "2.0",
     .min = 1,
     .max = 10,
     .desc = "Growth of the delay ceiling per retry (the delay itself is drawn with full "
             "jitter)."},
};

static const struct sl_prop_table backoff_table = {
    .name = "backoff",
    .desc = "Exponential backoff with full jitter between attempts; a Retry-After from the "
            "function is honoured.",
    .props = backoff_props,
    .nprops = SL_ARRAY_LEN(backoff_props),
    .struct_size = sizeof(struct sl_cfg_backoff),
};

static const struct sl_prop retry_props[] = {
    {.name = "max_attempts",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_cfg_retry, max_attempts),
     .def = "3",
     .min = 1,
     .max = 10000,
     .desc = "Invocations of a record in all, the first one included; then it goes to the DLQ."},
    {.name = "max_record_age",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_cfg_retry, max_record_age_ms),
     .def = "0s",
     .min = 0,
     .max = 7 * SL_DAY,
     .desc = "A record older than this is sent to the DLQ instead of being retried; 0 means no "
             "limit."},
    {.name = "backoff",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_cfg_retry, backoff),
     .sub = &backoff_table,
     .desc = "Delay between attempts."},
    {.name = "bisect_on_error",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sl_cfg_retry, bisect_on_error),
     .def = "false",
     .desc = "When a batch fails, split it in two and retry each half, to isolate the bad "
             "record."},
    {.name = "report_batch_item_failures",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sl_cfg_retry, report_batch_item_failures),
     .def = "false",
     .desc = "Honour partial batch responses (`batchItemFailures`): only the listed records are "
             "retried."},
    {.name = "terminal_statuses",
     .type = SL_PROP_INT_LIST,
     .offset = offsetof(struct sl_cfg_retry, terminal_statuses),
     .def = "[]",
     .min = 400,
     .max = 599,
     .desc = "HTTP statuses from the function that send the batch to the DLQ without retrying; "
             "empty means every 4xx except 408 and 429."},
};

static const struct sl_prop_table retry_table = {
    .name = "retry",
    .desc = "What happens when an invocation fails.",
    .props = retry_props,
    .nprops = SL_ARRAY_LEN(retry_props),
    .struct_size = sizeof(struct sl_cfg_retry),
};

static const struct sl_prop reader_props[] = {
    {.name = "group",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_reader, group),
     .desc = "What this mapping reads the source with: the consumer group (`kafka` `group_id`), "
             "the Redis consumer group (`redis` `group`) or the replication slot "
             "(`postgres-cdc` `slot`). Default: the source's own. Two mappings of one source "
             "need different ones."},
    {.name = "starting_position",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_reader, starting_position),
     .desc = "This mapping's `starting_position`, in place of the source's (checked by the "
             "source type)."},
    {.name = "starting_timestamp",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_reader, starting_timestamp),
     .desc = "This mapping's `starting_timestamp`, in place of the source's (checked by the "
             "source type)."},
};

static const struct sl_prop_table reader_table = {
    .name = "reader",
    .desc = "This mapping's own reader of a pull source (`kafka`, `redis`, `postgres-cdc`): "
            "every mapping of such a source reads it with a reader of its own, so mappings "
            "never hold each other back (docs/ARCHITECTURE.md, Fan-out). Other source types "
            "refuse it.",
    .props = reader_props,
    .nprops = SL_ARRAY_LEN(reader_props),
    .struct_size = sizeof(struct sl_cfg_reader),
};

static const struct sl_prop mapping_props[] = {
    {.name = "name",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_mapping, name),
     .flags = SL_PROP_REQUIRED,
     .desc = "Unique name of this mapping: 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    {.name = "source",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_mapping, source),
     .flags = SL_PROP_REQUIRED,
     .desc = "Name of the source (in `sources`) whose records this mapping reads."},
    {.name = "function",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_mapping, function),
     .flags = SL_PROP_REQUIRED,
     .desc = "Name of the function (in `functions`) invoked with the batches."},
    {.name = "dlq",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_cfg_mapping, dlq),
     .desc = "Name of the dead-letter queue (in `dlqs`) for records that exhausted their "
             "retries; unset or `default` means the built-in SQLite DLQ."},
    {.name = "enabled",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sl_cfg_mapping, enabled),
     .def = "true",
     .desc = "A disabled mapping is validated but neither reads nor invokes."},
    {.name = "format",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_cfg_mapping, format),
     .def = "lambda",
     .enum_values = mapping_formats,
     .desc = "Payload sent to the function: the AWS Lambda event shape of the source, or a "
             "plain JSON array of records."},
    {.name = "ordering",
     .type = SL_PROP_ENUM,
     .offset = offsetof(struct sl_cfg_mapping, ordering),
     .def = "lane",
     .enum_values = mapping_orderings,
     .desc = "`lane` delivers each lane (partition, stream) in order and blocks it on failure; "
             "`none` lets batches overtake each other."},
    {.name = "batch",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_cfg_mapping, batch),
     .sub = &batch_table,
     .desc = "How records are grouped into invocations."},
    {.name = "max_concurrency",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_cfg_mapping, max_concurrency),
     .def = "1",
     .min = 1,
     .max = 1000,
     .desc = "Invocations of this mapping in flight at once."},
    {.name = "max_inflight_records",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_cfg_mapping, max_inflight_records),
     .def = "10000",
     .min = 1,
     .max = 10000000,
     .desc = "Records read but not yet acknowledged; at this cap the source is paused."},
    {.name = "max_inflight_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sl_cfg_mapping, max_inflight_bytes),
     .def = "64MiB",
     .min = SL_KIB,
     .max = 16 * SL_GIB,
     .desc = "Bytes of records read but not yet acknowledged; at this cap the source is "
             "paused."},
    {.name = "retry",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_cfg_mapping, retry),
     .sub = &retry_table,
     .desc = "Retries, bisection, partial batch responses and terminal failures."},
    {.name = "reader",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_cfg_mapping, reader),
     .sub = &reader_table,
     .desc = "This mapping's reader of a pull source: its group and starting position."},
    {.name = "filters",
     .type = SL_PROP_JSON,
     .offset = offsetof(struct sl_cfg_mapping, filters),
     .desc = "Lambda filter patterns (FilterCriteria), ORed: a list of pattern objects or of "
             "JSON texts, at most 10, each at most 4096 characters once encoded. Records that "
             "match none are acknowledged without being delivered (docs/FILTERS.md)."},
};

static const struct sl_prop_table mappings_table = {
    .name = "mappings[]",
    .desc = "Each mapping reads one source, batches its records and invokes one function; "
            "failed records end in a dead-letter queue.",
    .props = mapping_props,
    .nprops = SL_ARRAY_LEN(mapping_props),
    .struct_size = sizeof(struct sl_cfg_mapping),
};

/* ---- root --------------------------------------------------------------------------------- */

static const struct sl_prop root_props[] = {
    {.name = "log",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_config, log),
     .sub = &log_table,
     .desc = "How sluice writes its log lines: level, format and instance name."},
    {.name = "server",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_config, server),
     .sub = &server_table,
     .desc = "The HTTP listener that webhook (push) sources receive records on."},
    {.name = "admin",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_config, admin),
     .sub = &admin_table,
     .desc = "The HTTP listener of the admin API: health, metrics, DLQ and mapping control."},
    {.name = "store",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct sl_config, store),
     .sub = &store_table,
     .desc = "The embedded SQLite store: where accepted pushes and dead letters are kept."},
    {.name = "shutdown",
     .type = SL_PROP_OBJECT,
     .offset = 0,
     .sub = &shutdown_table,
     .desc = "What sluice does on SIGTERM before it exits."},
    {.name = "functions",
     .type = SL_PROP_OBJECT_LIST,
     .def = "[]",
     .offset = offsetof(struct sl_config, functions),
     .sub = &functions_table,
     .desc = "The functions that mappings invoke, each with a name and a type."},
    {.name = "sources",
     .type = SL_PROP_OBJECT_LIST,
     .def = "[]",
     .offset = offsetof(struct sl_config, sources),
     .sub = &sources_table,
     .desc = "The sources records come from, each with a name and a type."},
    {.name = "dlqs",
     .type = SL_PROP_OBJECT_LIST,
     .def = "[]",
     .offset = offsetof(struct sl_config, dlqs),
     .sub = &dlqs_table,
     .desc = "Dead-letter queues in addition to the built-in SQLite one named `default`."},
    {.name = "mappings",
     .type = SL_PROP_OBJECT_LIST,
     .def = "[]",
     .offset = offsetof(struct sl_config, mappings),
     .sub = &mappings_table,
     .desc = "The mappings: each reads one source and invokes one function with batches."},
};

const struct sl_prop_table sl_config_root_table = {
    .name = "Top level",
    .desc = "A sluice configuration file (YAML, or JSON when the file name ends in `.json`) has "
            "these sections; all are optional. Any string value may use `${VAR}` or "
            "`${VAR:-default}` to read the environment (`$${` is a literal `${`).",
    .props = root_props,
    .nprops = SL_ARRAY_LEN(root_props),
    .struct_size = sizeof(struct sl_config),
};
