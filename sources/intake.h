/* Shared intake of push sources (docs/SCALE_OUT.md): instead of the local spool, a push source
 * with `spool: {to: <source>}` writes each accepted record to the topic of a configured kafka
 * source (idempotent producer, acks=all) or to the stream of a configured redis source (XADD,
 * then WAIT when asked), and answers the pusher only once that engine acknowledged the write.
 * The mapping reads that kafka/redis source as usual, so several sluice processes behind a
 * load balancer share one durable intake. */
#ifndef SL_SOURCES_INTAKE_H
#define SL_SOURCES_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/props.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/module.h"

/* The `spool` object of a push source. */
struct sl_intake_cfg {
    char *to;                /* the kafka/redis source written to; NULL: the local spool */
    int64_t max_inflight;    /* writes not yet acknowledged at most (503 beyond) */
    int64_t maxlen;          /* redis: XADD MAXLEN ~ (0: none) */
    int64_t wait_replicas;   /* redis: WAIT for this many replicas after each XADD (0: no WAIT) */
    int64_t wait_timeout_ms; /* redis: WAIT's timeout */
};

extern const struct sl_prop_table sl_intake_table;

/* One record as the push source accepted it; everything is borrowed for the call only. */
struct sl_intake_item {
    const char *source;       /* the push source's name */
    const char *id;           /* the id the pusher gets back */
    int64_t received_ms;      /* epoch ms */
    const char *attrs;        /* JSON object text of the push attributes (method, path, ...) */
    const char *content_type; /* the request's Content-Type, or NULL */
    size_t content_type_len;
    const void *body;
    size_t body_len;
};

/* status: 0 when the engine acknowledged the write (and, for redis with wait_replicas, enough
 * replicas did); else a negative code (the write may or may not be there: the pusher retries). */
typedef void (*sl_intake_done_cb)(int status, void *arg);

struct sl_intake;

/* Checks the section `path`.spool of the push source sec against the source it names (a kafka
 * source with one topic or a redis source with one stream, reading from `earliest`). Returns 0,
 * or SL_ECONFIG with err naming file:line, the key path and what is allowed. */
int sl_intake_check(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                    const struct sl_intake_cfg *c, struct sl_err *err);
/* A mapping mc reading the push source `source` whose spool.to is `to` (NULL: none): refused
 * with SL_ECONFIG ("file:line: mappings[i].source: ... map "<to>" instead"), as that source's
 * records are read through the kafka/redis source. A function the lead may call from
 * cross-section checks too. */
int sl_intake_check_mapping(const struct sl_config *cfg, const struct sl_cfg_mapping *mc,
                            const char *source, const char *to, struct sl_err *err);
/* Checks (as sl_intake_check) and, when env has a loop, creates the engine client (connecting
 * in the background). scope: the push source's, for logs. */
int sl_intake_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                     const struct sl_intake_cfg *c, const char *scope, struct sl_intake **out,
                     struct sl_err *err);
/* Writes it. 0: cb fires exactly once, later, on the loop. SL_EFULL (max_inflight or the
 * producer's queue reached), -ENOTCONN (redis down), -EMSGSIZE (larger than the engine takes:
 * Kafka's message.max.bytes), SL_ECLOSED, -EIO: cb never fires. */
int sl_intake_put(struct sl_intake *in, const struct sl_intake_item *it, sl_intake_done_cb cb,
                  void *arg);
/* Waits up to deadline_ms (sl_mono_ms) for writes in flight, then fails the rest (their
 * callbacks fire with SL_ECLOSED before this returns) and frees everything. NULL is fine. */
void sl_intake_destroy(struct sl_intake *in, int64_t deadline_ms);

/* ---- encoding (intake.c), shared by the engines and unit-tested ---- */

/* Header / field names of a written record (docs/SCALE_OUT.md). */
#define SL_INTAKE_F_ID       "sluice-id"
#define SL_INTAKE_F_SOURCE   "sluice-source"
#define SL_INTAKE_F_RECEIVED "sluice-received"
#define SL_INTAKE_F_ATTRS    "sluice-attrs"
#define SL_INTAKE_F_CTYPE    "content-type"
#define SL_INTAKE_F_BODY     "body" /* redis only: Kafka carries the body as the value */
#define SL_INTAKE_MAX_FIELDS 6

/* The name/value pairs written with a record (the body excluded), in a fixed order; the
 * received time is written as an RFC 3339 UTC time with milliseconds into time_buf (at least
 * 32 bytes). Returns how many pairs (content-type only when the item has one). */
size_t sl_intake_fields(const struct sl_intake_item *it, char *time_buf,
                        const char *names[SL_INTAKE_MAX_FIELDS],
                        const char *vals[SL_INTAKE_MAX_FIELDS], size_t lens[SL_INTAKE_MAX_FIELDS]);

/* ---- engines (intake_kafka.c, intake_redis.c) ---- */

struct sl_intake_engine_ops {
    int (*put)(struct sl_intake *in, const struct sl_intake_item *it, sl_intake_done_cb cb,
               void *arg);
    void (*destroy)(struct sl_intake *in, int64_t deadline_ms);
};

/* What both engines share; each embeds it first. */
struct sl_intake {
    const struct sl_intake_engine_ops *ops;
    const char *type;
    char *target;
    char scope[SL_MODULE_SCOPE_MAX];
    size_t inflight;
    size_t max_inflight;
    struct sl_metric *m_writes;
    struct sl_metric *m_failures;
    struct sl_metric *m_latency; /* a histogram of write latency, seconds */
    struct sl_metrics *metrics;  /* its inflight gauge reads inflight: forgotten at release */
};

/* source: the push source's name (metrics labels); to: the section written to. */
int sl_intake_kafka_create(const struct sl_env *env, const char *source,
                           const struct sl_cfg_typed *to, const struct sl_intake_cfg *c,
                           struct sl_intake **out, struct sl_err *err);
int sl_intake_redis_create(const struct sl_env *env, const char *source,
                           const struct sl_cfg_typed *to, const struct sl_intake_cfg *c,
                           struct sl_intake **out, struct sl_err *err);
/* Fills the shared part (metrics labelled with the push source's name). */
void sl_intake_base_init(struct sl_intake *in, const struct sl_intake_engine_ops *ops,
                         const char *type, const char *target, const struct sl_env *env,
                         const char *source, const struct sl_intake_cfg *c);
void sl_intake_base_release(struct sl_intake *in);
/* Counts one finished write (status 0 or not) that began at start_mono_ms. */
void sl_intake_count(struct sl_intake *in, int status, int64_t start_mono_ms);

#endif
