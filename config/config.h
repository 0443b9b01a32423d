/* The sluice configuration: its C shape, loading (YAML or JSON, ${VAR} interpolation) and
 * validation. Type-specific sections (a source's, a function's or a DLQ's own keys) are kept as
 * JSON and bound by their module's property table through sl_config_bind_typed(). */
#ifndef SL_CONFIG_CONFIG_H
#define SL_CONFIG_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/diags.h"
#include "config/props.h"
#include "core/err.h"

/* Input limits: going over one is a clear SL_ECONFIG error. */
#define SL_CONFIG_MAX_FILE_BYTES   (4u << 20)  /* whole file                          */
#define SL_CONFIG_MAX_DEPTH        32          /* nested mappings/lists, the top one counts */
#define SL_CONFIG_MAX_STRING_BYTES (64u << 10) /* one scalar or key, after interpolation */

enum sl_cfg_log_format { SL_CFG_LOG_TEXT = 0, SL_CFG_LOG_JSON };
enum sl_cfg_log_level { SL_CFG_LOG_DEBUG = 0, SL_CFG_LOG_INFO, SL_CFG_LOG_WARN, SL_CFG_LOG_ERROR };
enum sl_cfg_sync { SL_CFG_SYNC_FULL = 0, SL_CFG_SYNC_NORMAL };
enum sl_cfg_format { SL_CFG_FORMAT_LAMBDA = 0, SL_CFG_FORMAT_RAW };
enum sl_cfg_ordering { SL_CFG_ORDER_LANE = 0, SL_CFG_ORDER_NONE };

struct sl_cfg_log {
    int level;      /* enum sl_cfg_log_level */
    int format;     /* enum sl_cfg_log_format */
    char *instance; /* per-instance prefix of every line */
};

/* One HTTP listener (push or admin). */
struct sl_cfg_listener {
    char *listen; /* "host:port" */
    int64_t max_connections;
    uint64_t max_header_bytes;
    uint64_t max_body_bytes;
    int64_t request_timeout_ms;     /* whole request must arrive within this (slow clients) */
    int64_t idle_timeout_ms;        /* keep-alive idle time before the server closes */
    uint64_t max_buffered_bytes;    /* request bodies held at once (server only; 0: default) */
    int64_t max_connections_per_ip; /* per client address (server only; 0: unlimited) */
};

/* A key pair that may sign requests to the ESM API (SigV4). */
struct sl_cfg_aws_key {
    char *access_key_id;
    char *secret_access_key; /* secret */
};
struct sl_cfg_admin {
    struct sl_cfg_listener listener;   /* keys inlined: admin.listen, admin.max_connections... */
    char *token;                       /* secret; when set, Authorization: Bearer is required */
    struct sl_objlist aws_credentials; /* struct sl_cfg_aws_key: SigV4 on the ESM API */
    json_t *esm_store; /* the ESM API's shared engine, or NULL: bound by cli/esm_store.c */
};

struct sl_cfg_store {
    char *dir;                /* data directory (SQLite files); absolute once loaded from a file */
    int sync;                 /* enum sl_cfg_sync */
    uint64_t spool_max_bytes; /* accepted-but-unacked bytes before pushes get 503 */
    int64_t commit_max_batch; /* writes per group commit */
};

/* A typed section: name and type are bound here; every other key is bound by the module the
 * type names (sources/, dispatcher/, dlq/), from `raw`. */
struct sl_cfg_typed {
    char *name;
    char *type;
    json_t *raw; /* the whole section object (new reference) */
    char *path;  /* its key path, e.g. "sources[0]" */
};

struct sl_cfg_batch {
    int64_t size;       /* records per invocation */
    int64_t window_ms;  /* how long to gather records; 0 = invoke as soon as records are there */
    uint64_t max_bytes; /* encoded payload cap */
};

struct sl_cfg_backoff {
    int64_t min_ms;
    int64_t max_ms;
    double multiplier; /* growth of the backoff ceiling per retry */
};

struct sl_cfg_retry {
    int64_t max_attempts;      /* total invocations of a record, the first included */
    int64_t max_record_age_ms; /* 0 = no limit */
    struct sl_cfg_backoff backoff;
    bool bisect_on_error;
    bool report_batch_item_failures;
    struct sl_intlist terminal_statuses; /* HTTP statuses sent to the DLQ without retrying */
};

/* The mapping's own reader of a pull source (Kafka, Redis Streams, PostgreSQL CDC): each mapping
 * of such a source reads it with an instance of its own; NULL keys keep the source's values. */
struct sl_cfg_reader {
    char *group;              /* consumer group, Redis group or replication slot */
    char *starting_position;  /* as the source's key of the same name */
    char *starting_timestamp; /* as the source's key of the same name */
};

struct sl_cfg_mapping {
    char *name;
    char *source;
    char *function;
    char *dlq; /* NULL: the store's default SQLite DLQ (`dlq: default` is stored as NULL) */
    bool enabled;
    int format;   /* enum sl_cfg_format */
    int ordering; /* enum sl_cfg_ordering */
    struct sl_cfg_batch batch;
    int64_t max_concurrency;
    int64_t max_inflight_records;
    uint64_t max_inflight_bytes;
    struct sl_cfg_retry retry;
    struct sl_cfg_reader reader;
    json_t *filters; /* array of Lambda filter patterns (objects or JSON text), or NULL */
    char *path;      /* "mappings[1]" */
};

struct sl_config {
    char *file; /* path it was loaded from, or NULL */
    /* The absolute path of the folder of `file` (sl_config_load): relative paths in the config
     * (store.dir, keys flagged SL_PROP_PATH, see sl_config_path) are read from there, not from
     * the working directory. NULL (sl_config_load_text): they are kept as written. */
    char *dir;
    struct sl_cfg_log log;
    struct sl_cfg_listener server;
    struct sl_cfg_admin admin;
    struct sl_cfg_store store;
    int64_t drain_timeout_ms;
    struct sl_objlist functions; /* struct sl_cfg_typed */
    struct sl_objlist sources;   /* struct sl_cfg_typed */
    struct sl_objlist dlqs;      /* struct sl_cfg_typed */
    struct sl_objlist mappings;  /* struct sl_cfg_mapping */
    json_t *lines;               /* key path -> line in the file (YAML), or NULL: for messages */
    /* Set by sl_config_load_opts with opts->diags (sluice validate), borrowed: typed sections
     * (sl_config_bind_typed) and the app's own checks add every error there and go on. */
    struct sl_cfg_diags *diags;
    /* The text it was bound from (before interpolation) and whether it is JSON: what
     * sl_config_copy binds again. */
    char *text;
    size_t text_len;
    bool text_json;
};

struct sl_config_opts {
    bool no_env; /* the environment is not read: ${VAR} without a default is unknown */
    /* NULL: stop at the first error. Else every error goes there, and on error the config
     * stays loaded as far as it could be (the caller releases it in any case). */
    struct sl_cfg_diags *diags;
};

/* Loads and validates a file: ".json" is parsed as JSON, anything else as YAML (YAML 1.1
 * scalars: true/false/yes/no, numbers, null). ${VAR}, ${VAR:-default} (used when VAR is unset
 * or empty) and $${ (a literal ${) are replaced in every string value first. Checks names are
 * valid and unique, listen addresses, backoff.min <= backoff.max, and that every mapping's
 * source, function and dlq exist. YAML anchors/aliases, duplicate keys and more than one
 * document are errors. Returns 0, or SL_ECONFIG with err set ("file:line: path: message"; the
 * line when known); on error cfg needs no release (releasing it is harmless). */
int sl_config_load(const char *path, struct sl_config *cfg, struct sl_err *err);
/* The same with options (sluice validate). */
int sl_config_load_opts(const char *path, const struct sl_config_opts *opts, struct sl_config *cfg,
                        struct sl_err *err);
/* Puts the line of err's key path into err ("file: path: msg" -> "file:LINE: path: msg") when
 * cfg knows it: for errors found after loading (a typed section's keys). */
void sl_config_err_line(const struct sl_config *cfg, struct sl_err *err);
/* The same from text already in memory; `name` is used in messages and kept as cfg->file;
 * relative paths are kept as written (cfg->dir is NULL). */
int sl_config_load_text(const char *text, size_t len, bool json, const char *name,
                        struct sl_config *cfg, struct sl_err *err);
void sl_config_release(struct sl_config *cfg);
/* Binds the text src was loaded from again into dst (same file name, same folder): a deep copy
 * of what the file gave, without the mappings added since (sl_config_add_mapping). */
int sl_config_copy(const struct sl_config *src, struct sl_config *dst, struct sl_err *err);
/* Binds one mapping section (a JSON object in the config's shape) and appends it to cfg, with
 * the checks a mapping of the file gets (its source, function and dlq exist; a unique name);
 * `path` names it in messages (e.g. "event-source-mappings/<uuid>"). 0, or SL_ECONFIG. */
int sl_config_add_mapping(struct sl_config *cfg, json_t *section, const char *path,
                          struct sl_err *err);

/* An error a module finds in its section beyond what its table checks: sets err to
 * "file: path.key: msg" (pass it to sl_config_err_line for the line) and returns SL_ECONFIG. */
int sl_config_section_error(struct sl_err *err, const struct sl_config *cfg,
                            const struct sl_cfg_typed *sec, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The same for a key whose path the caller has: "<where><key>: msg" (where: "functions[2]."). */
int sl_config_key_error(struct sl_err *err, const char *where, const char *key, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Binds a typed section's own keys with a module's table, tolerating "name" and "type"; key
 * paths in errors start at the section's path ("sources[0].token"). sec->raw is not modified.
 * On success release `out` with sl_props_release(t, out). */
int sl_config_bind_typed(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                         const struct sl_prop_table *t, void *out, struct sl_err *err);

/* A path from the config as the config means it: relative to its folder (cfg->dir). A new
 * string (see sl_prop_path). */
char *sl_config_path(const struct sl_config *cfg, const char *path);

const struct sl_cfg_typed *sl_config_find(const struct sl_objlist *list, const char *name);
const struct sl_cfg_mapping *sl_config_mapping(const struct sl_config *cfg, const char *name);

/* The tables of the generic part, for docs: every top-level section. */
extern const struct sl_prop_table sl_config_root_table;

#endif
