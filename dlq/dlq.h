/* Dead-letter queues: the sink interface, the record-level entry every sink stores, and the
 * registry of sink types. Rule (as libuv's): if put/remove returns an error the callback never
 * fires; otherwise it fires exactly once, on the loop. */
#ifndef SL_DLQ_DLQ_H
#define SL_DLQ_DLQ_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/conditions.h"
#include "core/jw.h"
#include "core/module.h"
#include "core/store.h"

#define SL_DLQ_RESPONSE_EXCERPT 1024  /* bytes of a response kept per attempt */
#define SL_DLQ_MAX_ATTEMPTS     10000 /* attempts kept per entry (add_attempt drops the oldest) */
#define SL_DLQ_ENTRY_MAX_JSON   (64u << 20) /* largest document from_json accepts */

/* Whether an attempt counted toward max_attempts (unknown: an entry written before sluice
 * recorded it). */
enum sl_dlq_counted {
    SL_DLQ_COUNTED_UNKNOWN = 0,
    SL_DLQ_COUNTED_YES,
    SL_DLQ_COUNTED_NO,
};

struct sl_dlq_attempt {
    int64_t time_ms; /* when the invocation started */
    int64_t duration_ms;
    int status;           /* HTTP status, 0 when none (timeout, connection error) */
    char *outcome;        /* "retry", "fail", "partial" */
    char *error;          /* short reason */
    char *function_error; /* X-Amz-Function-Error value, or NULL */
    char *response;       /* first SL_DLQ_RESPONSE_EXCERPT bytes of the body, or NULL */
    size_t response_len;
    enum sl_dlq_counted counted;
};

/* Self-contained: everything needed to understand and redrive the record. */
struct sl_dlq_entry {
    char id[40];
    char *mapping;
    char *function;
    char *source;      /* source name */
    char *source_type; /* "http", "redis", ... */
    char *coords;      /* JSON object text: source coordinates (hook id + seq, stream id...) */
    char *attrs;       /* JSON object text: the record's attributes (headers, content type...) */
    char *record_id;   /* the record's own id (item identifier) */
    void *payload;     /* the original record body, as received; NULL: the record had no value at
                        * all (a Kafka tombstone), written "payload": null */
    size_t payload_len;
    int64_t record_time_ms; /* when the source received/produced it */
    int64_t first_failure_ms;
    int64_t last_failure_ms;
    int64_t created_ms; /* when it was dead-lettered */
    char *condition;    /* SL_DLQ_* */
    struct sl_dlq_attempt *attempts;
    size_t nattempts; /* the attempts kept (a record keeps its newest 16) */
    /* Every failed attempt of the record, apart: those that counted toward max_attempts and
     * those that did not (bisect rounds, throttles, requests that never reached the function).
     * Not known (counts_known false) for entries written before sluice recorded them. */
    bool counts_known;
    uint32_t counted_attempts;
    uint32_t uncounted_attempts;
};

/* Entries and attempts own their strings; release frees them (not the struct itself) and
 * leaves the entry zeroed. NULL is fine. */
void sl_dlq_entry_release(struct sl_dlq_entry *e);
/* Appends a deep copy of *a. The response is cut to SL_DLQ_RESPONSE_EXCERPT bytes on a character
 * boundary, with invalid UTF-8 (and NUL) replaced by U+FFFD; the copy is NUL-terminated. */
void sl_dlq_entry_add_attempt(struct sl_dlq_entry *e, const struct sl_dlq_attempt *a);
/* Appends the canonical JSON document of an entry to out ("attemptCount": the attempts listed;
 * "countedAttempts"/"uncountedAttempts": null unless counts_known), also holding the Lambda-style
 * on-failure record ("onFailure": requestContext, responseContext, version, timestamp) and the
 * payload as text ("payload") when it is UTF-8 without NUL, else base64 ("payloadBase64").
 * Canonical: NULL strings are null; times <= 0 (unknown) are null; coords/attrs are re-encoded
 * compactly ("{}" when NULL; text that is not a JSON object is kept as {"unparsed":"..."});
 * strings are made valid UTF-8. responseContext is absent for RecordAgeExceeded and null for
 * MaximumPayloadSizeExceeded or when there was no attempt. */
void sl_dlq_entry_to_json(const struct sl_dlq_entry *e, struct sl_buf *out);
/* Parses a document into *e (overwritten: pass an empty or released entry). On success e owns
 * everything (payload and strings are NUL-terminated; coords/attrs are "{}" when absent); on
 * failure returns SL_EPARSE with err naming the field, and *e is left empty. Required: id,
 * mapping, condition, createdAt, one of payload/payloadBase64 ("payload": null gives a NULL
 * payload). Derived fields (attemptCount, onFailure) are checked for shape and ignored; unknown
 * keys are tolerated.
 * to_json(from_json(to_json(e))) is byte-identical to to_json(e). */
int sl_dlq_entry_from_json(const char *json, size_t len, struct sl_dlq_entry *e,
                           struct sl_err *err);

/* Whether id names the entry: its own id, or its record's id (record_id). */
bool sl_dlq_entry_has_id(const struct sl_dlq_entry *e, const char *id);

struct sl_dlq_filter {
    const char *mapping; /* NULL: all */
    int64_t since_ms;    /* 0: all; else created_ms >= since_ms */
    const char *id;      /* NULL: all; else the entries whose id is this, or whose record's id
                          * is (the id a webhook's 202 gave, a stream entry id, a Kafka
                          * "<topic>-<partition>:<offset>"): sl_dlq_entry_has_id */
    size_t limit;        /* 0: no limit */
    const char *after;   /* NULL: from the start; else a `pos` a list of this sink gave: the
                          * listing resumes after that entry (a cursor that survives removals) */
};

#define SL_DLQ_POS_MAX 64 /* bytes of a position, with its NUL */

struct sl_dlq;
typedef void (*sl_dlq_done_cb)(int status, void *arg);
/* Called for each entry listed, in the sink's order; return non-zero to stop. The entry is
 * borrowed; pos is the entry's place in that order (text of [0-9A-Za-z:._-], shorter than
 * SL_DLQ_POS_MAX), for sl_dlq_filter.after. */
typedef int (*sl_dlq_each_cb)(const struct sl_dlq_entry *e, const char *pos, void *arg);

struct sl_dlq_ops {
    const char *type;
    const struct sl_prop_table *props; /* the type's own keys */
    /* Binds the section and allocates the sink (not yet open); the sink keeps env's loop and
     * store (base.env) for open. */
    int (*create)(const struct sl_env *env, const struct sl_cfg_typed *sec, struct sl_dlq **out,
                  struct sl_err *err);
    /* Starts I/O in the env given at create (a NULL loop: synchronous use by a tool). */
    int (*open)(struct sl_dlq *d, struct sl_err *err);
    int (*put)(struct sl_dlq *d, const struct sl_dlq_entry *e, sl_dlq_done_cb cb, void *arg);
    /* Blocking: in a running sluice it runs on the admin worker thread (core/worker.h), never
     * on the loop, while the loop goes on with put/remove/depth; so it reads through a
     * connection or client of its own and guards what it shares with the loop. One list at a
     * time per sink; a list from inside a list callback gets -EBUSY. */
    int (*list)(struct sl_dlq *d, const struct sl_dlq_filter *f, sl_dlq_each_cb cb, void *arg,
                struct sl_err *err);
    /* Loop thread (or the CLI's). */
    int (*remove)(struct sl_dlq *d, const char *id, sl_dlq_done_cb cb, void *arg);
    /* Entries currently held, of one mapping or (mapping NULL) in all; -1 when unknown. The
     * sluice_dlq_depth metric of a mapping that is the sink's only writer falls back to the
     * total when the sink cannot count per mapping. */
    int64_t (*depth)(struct sl_dlq *d, const char *mapping);
    void (*describe)(struct sl_dlq *d, struct sl_jw *w);
    /* Fires the callbacks of operations not yet confirmed with SL_ECLOSED, then frees. */
    void (*destroy)(struct sl_dlq *d);
    /* Optional. Shutdown, before destroy and while the mappings still exist: waits for writes
     * in flight until deadline_ms (sl_mono_ms clock; their callbacks fire as usual) and closes
     * connections. Returns 0 when every write was confirmed; -ETIMEDOUT when the deadline left
     * writes unconfirmed (their records stay unacknowledged at their source); -EINPROGRESS
     * when a blocking call was left running on a helper thread: destroy then frees nothing,
     * and the process must exit without freeing what the sink uses. */
    int (*close)(struct sl_dlq *d, int64_t deadline_ms);
    /* Optional (absent: always ready). False while writes cannot reach the sink's server (the
     * connection lost, every broker down); why (n bytes) then gets a short reason. Loop thread,
     * cheap. */
    bool (*ready)(struct sl_dlq *d, char *why, size_t n);
    /* Optional: what the sink needs on its server (tables, indexes), for `sluice init`; as
     * sl_source_ops.init. */
    int (*init)(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                struct sl_buf *sql, struct sl_err *err);
};

/* Every sink starts with this header. */
/* Every sink starts with the module header (core/module.h; scope "dlq:redis:name"). */
struct sl_dlq {
    SL_MODULE_HEADER(struct sl_dlq_ops);
    struct sl_env env; /* given at create */
    unsigned writers;  /* mappings dead-lettering to it (counted by sl_mapping_create) */
};

/* Fills a sink's header (sl_module_init with kind "dlq") and keeps env. */
void sl_dlq_init(struct sl_dlq *d, const struct sl_dlq_ops *ops, const struct sl_env *env,
                 const char *name);
void sl_dlq_release(struct sl_dlq *d);

/* The sink types built in; NULL when the type is unknown. */
const struct sl_dlq_ops *sl_dlq_find_type(const char *type);
/* The NULL-terminated list of sink types (for docs and error messages). */
extern const struct sl_dlq_ops *const sl_dlq_types[];

/* The name of the implicit SQLite DLQ every config has. */
#define SL_DLQ_DEFAULT_NAME "default"

#endif
