/* The source module interface. A source produces records into one mapping through
 * sl_source_emit() (a push source may feed several, each through a handle of its own:
 * sources/push_reader.h) and learns through ack() that a record was handled (delivered, filtered or
 * durably dead-lettered): only then may it release the record's position (offset commit, XACK,
 * spool delete). The ops struct is appended to only, never reordered. */
#ifndef SL_SOURCES_SOURCE_H
#define SL_SOURCES_SOURCE_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/metrics.h"
#include "core/module.h"
#include "core/store.h"
#include "server/http.h"
#include "sources/record.h"
#include "sources/spool.h"

struct sl_source;
struct sl_push_reader;

/* Where records go: set by the mapping before start(). The mapping takes ownership of r. */
typedef void (*sl_source_emit_cb)(struct sl_record *r, void *arg);
/* The source lost a lane (Kafka partition revoked): the mapping drops what it holds of that
 * lane without acking and will not dispatch it any more (until new records of it arrive). */
typedef void (*sl_source_revoke_cb)(uint32_t lane, void *arg);
typedef void (*sl_source_stopped_cb)(struct sl_source *s, void *arg);

/* A record as filter patterns see it (Lambda event filtering,
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): a metadata
 * object plus one data key holding the body. The matcher reads both in place: the body is
 * checked and walked as JSON text only when a pattern names the data key, and the metadata is
 * written only when a pattern names another key. */
#define SL_FVIEW_DECODE_ANY 1u /* a JSON body may be a scalar */
#define SL_FVIEW_ALLOW_NUL  2u /* a JSON body may hold \u0000 in strings */
#define SL_FVIEW_TEXT       4u /* a body that is not JSON but UTF-8 is a string (else absent) */
#define SL_FVIEW_NULL       8u /* there is no body at all (a Kafka tombstone): the data is null */

struct sl_fview {
    const struct sl_record *r;
    const char *data_key; /* "body", "data" or "value" */
    const void *data;
    size_t data_len;
    unsigned data_flags;       /* SL_FVIEW_* */
    const char *const *hidden; /* metadata keys left out of the view (NULL-terminated), or NULL */
    /* Writes the metadata as one JSON object (a later member wins over an earlier one of the
     * same name). */
    void (*write_meta)(const struct sl_record *r, struct sl_buf *out);
};

/* The view as a JSON object (a new reference): what the patterns see, for tests and tools. */
json_t *sl_fview_json(const struct sl_fview *v);

/* close() left a helper thread running, with nothing handled left unacknowledged. */
#define SL_CLOSE_LEFT_RUNNING 1

struct sl_source_ops {
    const char *type;
    const struct sl_prop_table *props;
    int (*create)(const struct sl_env *env, const struct sl_cfg_typed *sec, struct sl_source **out,
                  struct sl_err *err);
    /* Begins producing (replaying what a previous run left first). */
    int (*start)(struct sl_source *s, struct sl_err *err);
    /* Stop handing records to the mapping until resume(); intake may continue durably. */
    void (*pause)(struct sl_source *s);
    void (*resume)(struct sl_source *s);
    /* r was handled: its position may be released. r is borrowed; the mapping frees it. */
    void (*ack)(struct sl_source *s, const struct sl_record *r);
    /* Stops intake; cb fires once nothing more will be emitted (may fire before returning). */
    void (*stop)(struct sl_source *s, sl_source_stopped_cb cb, void *arg);
    void (*destroy)(struct sl_source *s);
    void (*describe)(struct sl_source *s, struct sl_jw *w);
    /* Writes the function payload for records rs[0..n) (format: enum sl_cfg_format). Needs no
     * source instance, so redrive can encode from DLQ entries. */
    void (*encode)(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                   struct sl_buf *out);
    /* Records this source holds durably that are not yet acked (spool depth), or -1. */
    int64_t (*backlog)(struct sl_source *s);
    /* Fills the view filter patterns are matched against; false when the record cannot be
     * viewed (it then matches only an empty filter). Needs no instance; allocates nothing. */
    bool (*filter_view)(const struct sl_record *r, struct sl_fview *out);
    /* Optional. Shutdown, after the mapping is gone and before destroy: releases positions and
     * connections (last offset commit, leaving a consumer group) and returns by deadline_ms
     * (sl_mono_ms clock). Returns 0 when everything handled was acknowledged and the source
     * is closed; -ETIMEDOUT when the deadline left something unconfirmed (those records are
     * delivered again after the restart); -EINPROGRESS when a blocking call was still running
     * at the deadline and was left on a helper thread: destroy then frees nothing, and the
     * process must exit without freeing what the source uses (its loop included);
     * SL_CLOSE_LEFT_RUNNING likewise, when everything handled had been acknowledged before the
     * step left running (leaving a group, freeing a client) began. */
    int (*close)(struct sl_source *s, int64_t deadline_ms);
    /* Optional (absent: always ready). False while the source cannot reach its engine (every
     * broker down, the connection lost); why (n bytes) then gets a short reason. Loop thread,
     * cheap: it reads state the source keeps. */
    bool (*ready)(struct sl_source *s, char *why, size_t n);
    /* Optional: what the source needs on its server (tables, indexes, triggers), for
     * `sluice init`. Binds sec, appends the SQL (idempotent statements, each ending ";\n") to
     * sql, and when apply is true runs it on the server in one transaction. Blocking. */
    int (*init)(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                struct sl_buf *sql, struct sl_err *err);
    /* Optional: checks the mapping mc that reads this source against its function, whose
     * `timeout` key is function_timeout_ms (0: its type has none), for `sluice run`, `sluice
     * validate` and reloads (SQS's rule: a queue's visibility timeout not shorter than the
     * function's timeout). Returns 0, or SL_ECONFIG with err naming the key path. */
    int (*check_mapping)(struct sl_source *s, const struct sl_config *cfg,
                         const struct sl_cfg_mapping *mc, int64_t function_timeout_ms,
                         struct sl_err *err);
    /* Optional, for pull sources whose position is kept per reader (a Kafka consumer group, a
     * Redis consumer group, a replication slot): the key of the source's section that names it
     * (a mapping's `reader.group` sets it). Such a source read by several mappings gets one
     * instance per mapping (cli/readers.c); a type without it refuses `reader:`. */
    const char *group_key;
    /* With group_key: the group (slot) this instance reads with, its default applied. */
    const char *(*group)(struct sl_source *s);
    /* Several mappings may read one instance (push sources; cli/app.c gives each its handle
     * through sl_push_reader_attach). */
    bool fan_out;
};

/* Every source starts with the module header (core/module.h; scope "source:http:orders"). */
struct sl_source {
    SL_MODULE_HEADER(struct sl_source_ops);
    sl_source_emit_cb emit;
    sl_source_revoke_cb revoke;
    void *emit_arg; /* for emit and revoke */
    /* The mapping this instance reads for when its source feeds several mappings (one
     * instance each, cli/readers.c), or NULL: its log scope ends in "/<mapping>" and
     * sl_source_labels adds mapping="<mapping>". Owned. */
    char *reader;
    /* Push sources: the reader this handle emits through (sources/push_reader.h), which
     * sl_push_reader_attach fans out to several mappings; NULL for other sources. */
    struct sl_push_reader *push;
};

static inline void sl_source_emit(struct sl_source *s, struct sl_record *r)
{
    s->emit(r, s->emit_arg);
}

static inline void sl_source_revoke_lane(struct sl_source *s, uint32_t lane)
{
    if (s->revoke)
        s->revoke(lane, s->emit_arg);
}

/* Fills the header (sl_module_init with kind "source"). */
void sl_source_init(struct sl_source *s, const struct sl_source_ops *ops, const char *name);
/* The same for a source type with group_key: env->reader (may be NULL) becomes s->reader. */
void sl_source_init_reader(struct sl_source *s, const struct sl_source_ops *ops, const char *name,
                           const struct sl_env *env);
void sl_source_release(struct sl_source *s);
/* Appends the labels of the source's metrics: source="<name>", and mapping="<reader>" for one
 * of several readers. */
void sl_source_labels(const struct sl_source *s, struct sl_buf *labels);

const struct sl_source_ops *sl_source_find_type(const char *type);
extern const struct sl_source_ops *const sl_source_types[];

#endif
