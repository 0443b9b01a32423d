/* Internals of the kafka source shared between its files. */
#ifndef SL_SOURCES_KAFKA_INT_H
#define SL_SOURCES_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clients/kafka/conf.h"
#include "clients/kafka/reach.h"
#include "sources/source.h"

enum sl_kafka_start { SL_KAFKA_START_EARLIEST = 0, SL_KAFKA_START_LATEST, SL_KAFKA_START_AT };

/* The source's config section (property table in conf.c). */
struct sl_kafka_cfg {
    char *bootstrap_servers;
    struct sl_strlist topics;
    char *topic_regex;
    char *group_id;
    int starting_position; /* enum sl_kafka_start */
    char *starting_timestamp;
    int64_t session_timeout_ms;
    int64_t commit_interval_ms;
    uint64_t max_record_bytes; /* 0: no source-level limit */
    struct sl_strmap rdkafka;
};

extern const struct sl_prop_table sl_kafka_source_table;

/* Builds the consumer configuration from the section (validated key by key). librdkafka's
 * prefetch is sized from inflight_bytes (the mapping's max_inflight_bytes; 0: none known)
 * unless the section's rdkafka map sets it. Errors name the key path:
 * "<file>: sources[0].rdkafka.<key>: ...". */
int sl_kafka_conf_build(const struct sl_kafka_cfg *c, const char *file, const char *path,
                        const char *group_id, uint64_t inflight_bytes, rd_kafka_conf_t **out,
                        struct sl_err *err);

/* ---- offset window (window.c): offsets read from one partition, in read order, with a
 * handled flag each. The commit position is the first unhandled offset, or the last read + 1
 * when everything read is handled. ---- */
struct sl_kwin {
    int64_t *off;
    int64_t *time_ms; /* the record's timestamp (age of the oldest unhandled record) */
    uint8_t *done;
    size_t cap, head, n;
    int64_t commit; /* position everything before which is handled; -1: nothing read yet */
};

void sl_kwin_init(struct sl_kwin *w);
void sl_kwin_release(struct sl_kwin *w);
/* Forgets everything (a new assignment). */
void sl_kwin_reset(struct sl_kwin *w);
/* Appends a read offset; offsets must ascend. */
void sl_kwin_push(struct sl_kwin *w, int64_t offset, int64_t time_ms);
/* Marks offset handled. Returns 0, or SL_ENOTFOUND when it is not in the window. */
int sl_kwin_ack(struct sl_kwin *w, int64_t offset);
/* The offset to commit (-1: nothing read since the reset). */
int64_t sl_kwin_commit_pos(const struct sl_kwin *w);
/* Timestamp of the oldest unhandled record, or -1 when none. */
int64_t sl_kwin_oldest_ms(const struct sl_kwin *w);
size_t sl_kwin_pending(const struct sl_kwin *w);

/* ---- records and the event shape (record.c, encode.c) ---- */

struct sl_kafka_part;
struct sl_kafka_source;

/* Where a record's headers come from: a held message, or plain arrays (tests, text records). */
struct sl_kafka_headers {
    rd_kafka_headers_t *rk; /* from the message, or NULL */
    const char *const *names;
    const void *const *vals;
    const size_t *lens;
    size_t n;
};

/* A record as read: typed coordinates and the message itself, held until the record is done
 * (key, value and headers point into librdkafka's buffer: nothing is copied). Allocated from
 * the source's free list. */
struct sl_kafka_record {
    struct sl_record base; /* body = the message's value */
    rd_kafka_message_t *rkm;
    rd_kafka_headers_t *hdrs; /* the message's headers (owned by rkm), or NULL */
    struct sl_kafka_part *p;  /* topic, partition, their JSON text, the source */
    int64_t ts;               /* the message timestamp (ms), as Kafka gave it */
    int ts_type;              /* rd_kafka_timestamp_type_t */
    struct sl_kafka_record *next_free;
};

extern const struct sl_record_ops sl_kafka_record_ops;

/* The record of a message, which it takes (rd_kafka_message_destroy when the record is freed).
 */
struct sl_record *sl_kafka_record_take(struct sl_kafka_part *p, rd_kafka_message_t *rkm);
/* Frees the source's free list (every record must have been released). */
void sl_kafka_records_release(struct sl_kafka_source *k);

/* Appends the record's attributes, the layout encode.c splices without parsing:
 *   {"bootstrapServers":"..","topic":"t","partition":0,"offset":15,"timestamp":..,
 *    "timestampType":"CREATE_TIME"[,"key":"b64"],"headers":[...]} */
void sl_kafka_put_attrs(struct sl_buf *b, const char *bootstrap_json, const char *topic_json,
                        int32_t partition, int64_t offset, int64_t ts, int ts_type, const void *key,
                        size_t key_len, const struct sl_kafka_headers *h);
/* Appends one record object of the event from typed parts. */
void sl_kafka_put_record(struct sl_buf *b, const char *topic_json, int32_t partition,
                         int64_t offset, int64_t ts, int ts_type, const void *key, size_t key_len,
                         const void *value, size_t value_len, const struct sl_kafka_headers *h);

/* A text record from plain parts (what redrive rebuilds from a DLQ entry; tests use it too).
 * headers: n name/value pairs. */
struct sl_record *sl_kafka_record_build(const char *topic, int32_t partition, int64_t offset,
                                        int64_t ts_ms, int ts_type, const void *key, size_t key_len,
                                        const void *value, size_t value_len,
                                        const char *const *hnames, const void *const *hvals,
                                        const size_t *hlens, size_t nheaders,
                                        const char *bootstrap);
void sl_kafka_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out);
bool sl_kafka_filter_view(const struct sl_record *r, struct sl_fview *out);

/* ---- the source ---- */

struct sl_kafka_source;

/* One partition ever assigned: its lane is its index in the table (stable for the source's
 * life, so a partition that comes back gets its lane back). */
struct sl_kafka_part {
    struct sl_kafka_source *k;
    char *topic;
    int32_t partition;
    uint32_t lane;
    const rd_kafka_topic_t *rkt; /* cached from messages, for fast lookup */
    bool assigned;
    bool held;            /* paused while its start position is being resolved */
    int64_t next_offset;  /* the next offset expected (-1: any) */
    int64_t committed;    /* last commit position sent (-1: none) */
    int64_t committed_ok; /* last commit position the broker confirmed (-1: unknown) */
    int64_t sent_mono_ms; /* when `committed` was sent */
    char *topic_json;     /* the topic as a JSON string */
    char *group_json;     /* "<topic>-<partition>" as a JSON string (the event's records key) */
    ev_tstamp last_msg;   /* loop time of its last message (or wake-up) */
    /* The high watermark the waker read (-1: none). librdkafka's cached one comes with
     * fetches, so it stands still while the partition is paused in librdkafka. */
    _Atomic int64_t queried_hi;
    struct sl_kwin win;
    struct sl_metric *m_committed;
    struct sl_metric *m_high;
    struct sl_metric *m_lag;
    struct sl_metric *m_age;
};

/* waker.c: wakes the fetchers of partitions, or reads their high watermarks, on a helper
 * thread (takes the list; an element whose opaque is its struct sl_kafka_part gets the high
 * watermark read stored in queried_hi). */
struct sl_kafka_waker;
int sl_kafka_waker_create(rd_kafka_t *rk, struct sl_kafka_waker **out);
void sl_kafka_waker_submit(struct sl_kafka_waker *w, rd_kafka_topic_partition_list_t *parts);
/* Asks the thread to end (it finishes the query it is in); returns at once. */
void sl_kafka_waker_quit(struct sl_kafka_waker *w);
/* quit, then joins the thread (blocks while a query runs) and frees. Any thread. */
void sl_kafka_waker_destroy(struct sl_kafka_waker *w);

/* The `at` starting position is resolved off the loop (position.c). */
struct sl_kafka_resolver;
struct sl_kafka_closing;

struct sl_kafka_source {
    struct sl_source base;
    struct sl_kafka_cfg cfg;
    char *group_id;
    struct ev_loop *loop;
    struct sl_metrics *metrics;
    const char *file;
    char *path;
    rd_kafka_conf_t *conf; /* until start() hands it to rd_kafka_new */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* the consumer queue (main queue forwarded to it) */
    int pipe_fds[2];
    ev_io io;
    ev_idle more; /* keeps draining when one callback left messages queued */
    ev_timer commit_timer;
    ev_timer pause_timer;      /* a pause that lasts turns into a librdkafka pause */
    ev_timer kick_timer;       /* wakes a fetcher librdkafka left asleep (kick_timer_cb) */
    bool lib_paused;           /* the assigned partitions are paused in librdkafka */
    int64_t starting_ms;       /* `at`: the resolved time */
    bool kick_fetchers;        /* librdkafka < 2.2: wake fetchers left asleep (kick_timer_cb) */
    ev_tstamp paused_hi_asked; /* when the waker last read the paused partitions' watermarks */
    bool started, stopped, paused, closing;
    struct sl_kafka_reachability reach; /* from librdkafka's statistics */
    bool cooperative;                   /* the group's rebalance protocol, as last known */
    bool closed;                        /* close() ran */
    bool abandoned;      /* close() left the handle to a helper thread: destroy frees nothing */
    uint64_t generation; /* bumped at every assignment change */
    struct sl_kafka_part **parts;
    size_t nparts, cap_parts;
    struct sl_kafka_part *last;           /* lookup cache */
    char *bootstrap_json;                 /* bootstrap_servers as a JSON string */
    struct sl_kafka_record *free_records; /* released records, reused */
    struct sl_kafka_resolver *resolver;
    struct sl_kafka_waker *waker;
    struct sl_kafka_closing *closer; /* close.c: the steps left to a helper thread */
    struct sl_metric *m_rebalances;
    struct sl_metric *m_commit_errors;
    struct sl_metric *m_consumed;
    struct sl_metric *m_kicks;
};

/* position.c: resolves the `at` position of newly assigned partitions on a helper thread and
 * seeks those without a committed offset; then resumes them. */
int sl_kafka_resolver_create(struct sl_kafka_source *k, struct sl_kafka_resolver **out);
/* Asks the thread to end and stops delivering its results; returns at once. Loop thread. */
void sl_kafka_resolver_quit(struct sl_kafka_resolver *r);
/* quit (if not done yet, then on the loop thread), joins the thread (blocks while a lookup
 * runs) and frees. After quit, any thread. */
void sl_kafka_resolver_destroy(struct sl_kafka_resolver *r);
/* Hands a copy of the partitions just assigned (generation g) to the helper thread. */
void sl_kafka_resolver_submit(struct sl_kafka_resolver *r,
                              const rd_kafka_topic_partition_list_t *parts, uint64_t g);
/* kafka.c: releases partitions held for resolution (on the loop). */
void sl_kafka_release_held(struct sl_kafka_source *k, rd_kafka_topic_partition_list_t *seek,
                           uint64_t g);

/* kafka.c: the handle's callbacks (opaque: the source), also called for the events of the
 * queue close.c serves. */
void sl_kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *parts, void *opaque);
void sl_kafka_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *offsets, void *opaque);
void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
void sl_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* destroy() without close() first (a source that never ran in a drained process) closes with
 * this much time. */
#define SL_KAFKA_CLOSE_DEFAULT_MS 5000

/* close.c: the source's close op: commits what was handled, leaves the group and destroys the
 * handle, all by deadline_ms (see source.h for the return values). Loop thread, loop stopped. */
int sl_kafka_close(struct sl_kafka_source *k, int64_t deadline_ms);

#endif
