/* Internals of the kafka DLQ sink shared between its files. */
#ifndef SL_DLQ_KAFKA_INT_H
#define SL_DLQ_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "clients/kafka/conf.h"
#include "clients/kafka/reach.h"
#include "core/worker.h"
#include "dlq/dlq.h"

enum sl_kdlq_value { SL_KDLQ_VALUE_ORIGINAL = 0, SL_KDLQ_VALUE_LAMBDA };

/* Header names (the error metadata of every DLQ message). */
#define SL_KDLQ_H_ENTRY   "sluice-entry"   /* the canonical entry JSON */
#define SL_KDLQ_H_REMOVES "sluice-removes" /* a removal marker: "<partition>:<offset>" */

struct sl_kdlq_cfg {
    char *bootstrap_servers;
    char *topic;
    int value_format;
    char *group_id;
    int64_t list_timeout_ms;
    struct sl_strmap rdkafka;
};

/* One message of the DLQ topic read by list(): an entry, or done (removed, a marker, or not
 * a sluice message). */
struct sl_kdlq_slot {
    int64_t offset;
    bool done;
    char id[40]; /* the entry's id ("" for markers and other messages) */
};

struct sl_kdlq_part {
    int32_t partition;
    int64_t committed; /* the group's committed offset when last listed (-1: none) */
    int64_t high;
    struct sl_kdlq_slot *slots; /* read since `committed`, ascending */
    size_t nslots;
    int64_t sent; /* last commit position sent */
};

struct sl_dlq_kafka {
    struct sl_dlq base;
    struct sl_kdlq_cfg cfg;
    char *group_id;
    const char *file;
    struct ev_loop *loop;
    rd_kafka_conf_t *pconf; /* producer conf until open */
    rd_kafka_conf_t *cconf; /* reader conf until the reader is created */
    rd_kafka_t *prod;
    rd_kafka_queue_t *pq;
    int pfds[2];
    ev_io pio;
    ev_timer ptick; /* serves the producer's queue even if an io event was missed */
    rd_kafka_t *reader;
    rd_kafka_queue_t *rq;
    int rfds[2];
    ev_io rio;
    int64_t max_message_bytes;
    size_t inflight;
    bool destroying; /* delivery reports no longer fire callbacks */
    bool closed;     /* close() ran */
    bool silent;     /* past close's last poll: delivery reports fire nothing */
    bool abandoned;  /* close() left the clients to a helper thread: destroy frees nothing */
    pthread_mutex_t parts_mu; /* list (admin worker thread) swaps parts; the loop commits */
    struct sl_kdlq_part *parts;
    size_t nparts;
    struct sl_kafka_reachability reach; /* the producer's, from librdkafka's statistics */
    struct sl_worker *depth_worker;     /* depth.c: refreshes `depth` off the loop */
    int64_t depth;                      /* end minus committed offsets, summed; -1: not known yet */
    int64_t depth_asked_ms;
    bool depth_asking;
};

extern const struct sl_prop_table sl_kdlq_table;
int sl_kdlq_conf_build(const struct sl_kdlq_cfg *c, const char *file, const char *path,
                       bool producer, const char *group_id, rd_kafka_conf_t **out,
                       struct sl_err *err);
/* "<partition>:<offset>" -> 0, or -EINVAL. Entries are named by their own id; their place
 * "<partition>:<offset>" is accepted too. */
int sl_kdlq_parse_id(const char *id, int32_t *partition, int64_t *offset);
/* Builds the message value (value_format) of an entry; *omitted is set when the payload had to
 * be left out (over `limit`). Returns the canonical entry JSON in entry_json. */
void sl_kdlq_build(const struct sl_dlq_entry *e, int value_format, size_t limit,
                   struct sl_buf *value, struct sl_buf *entry_json, bool *omitted);
/* The original record's key (base64 "key" of the entry's attrs), decoded; NULL when none. */
void *sl_kdlq_key(const struct sl_dlq_entry *e, size_t *len);

/* depth.c */
/* The last known total (-1 when not known yet); asks for a refresh when the last one is over a
 * second old. Loop thread. */
int64_t sl_kdlq_depth_total(struct sl_dlq_kafka *q);
/* Waits for a refresh under way (until deadline_ms) and stops the worker. */
int sl_kdlq_depth_stop(struct sl_dlq_kafka *q, int64_t deadline_ms);

/* read.c */
int sl_kdlq_list(struct sl_dlq_kafka *q, const struct sl_dlq_filter *f, sl_dlq_each_cb cb,
                 void *arg, struct sl_err *err);
int sl_kdlq_reader(struct sl_dlq_kafka *q, struct sl_err *err);
/* Marks <partition>:<offset> removed and commits the group over the done prefix. cb fires
 * once the commit is confirmed (or at once when there is nothing to commit). */
void sl_kdlq_commit_removed(struct sl_dlq_kafka *q, int32_t partition, int64_t offset,
                            sl_dlq_done_cb cb, void *arg);
void sl_kdlq_parts_release(struct sl_dlq_kafka *q);
/* The place of the entry named id (its id, or "<partition>:<offset>") as the last list saw it:
 * 0, or SL_ENOTFOUND. */
int sl_kdlq_locate(struct sl_dlq_kafka *q, const char *id, int32_t *partition, int64_t *offset);

#endif
