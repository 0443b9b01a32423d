/* A record: one event from a source, as the mapping batches, retries and dead-letters it.
 *
 * The generic part below is all the mapping reads. Where the record came from (a Kafka
 * partition and offset, a Redis entry id, a spool row) is the source's business: a source
 * embeds struct sl_record at the start of its own typed record and gives its ops, which make
 * the text forms (identifier, coordinates, attributes) only when somebody needs them (a DLQ
 * entry, a log line) and match partial batch response identifiers. Records rebuilt from text
 * (DLQ redrive, push sources that keep their attributes as text) are text records
 * (sl_record_new). */
#ifndef SL_SOURCES_RECORD_H
#define SL_SOURCES_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* One invocation's outcome, shared (refcounted) by the records the batch carried. */
struct sl_attempt {
    int refs;
    int64_t time_ms; /* wall clock at the start of the invocation */
    int64_t duration_ms;
    int status;       /* HTTP status, 0 when none */
    char outcome[16]; /* "retry", "fail", "partial", "ok" */
    char error[256];
    char function_error[64];
    char *response; /* excerpt of the response body, or NULL */
    size_t response_len;
    bool counted; /* counts toward max_attempts (false: a bisect round, a throttle, a request
                   * that never reached the function) */
};

struct sl_attempt *sl_attempt_new(void);
void sl_attempt_unref(struct sl_attempt *a);

struct sl_record;

/* What a record's source knows about it. Every op is required. */
struct sl_record_ops {
    /* Appends the item identifier as text ("orders-0:15", an entry id, a spool id). */
    void (*write_id)(const struct sl_record *r, struct sl_buf *out);
    /* Appends a JSON object: where the record came from (a DLQ entry's coordinates). */
    void (*write_coords)(const struct sl_record *r, struct sl_buf *out);
    /* Appends a JSON object: what the source's encoder needs besides the body (a DLQ entry's
     * attributes, from which redrive rebuilds a text record). */
    void (*write_attrs)(const struct sl_record *r, struct sl_buf *out);
    /* Does a partial batch response's itemIdentifier (any JSON value) name r? */
    bool (*matches)(const struct sl_record *r, json_t *item);
    /* Frees r and whatever it holds (its history is already gone). */
    void (*release)(struct sl_record *r);
};

#define SL_RECORD_MAX_HISTORY 16 /* attempts kept per record (the newest) */

/* Kept only once a record has failed (most records never do). */
struct sl_record_failure {
    uint32_t nhistory;      /* attempts recorded in history (ring, newest last) */
    uint32_t history_total; /* attempts ever recorded */
    uint32_t counted_total; /* of those, attempts that counted toward max_attempts */
    struct sl_attempt *history[SL_RECORD_MAX_HISTORY];
    int64_t first_failure_ms;
    int64_t last_failure_ms;
};

struct sl_record {
    const struct sl_record_ops *ops;
    struct sl_record *next; /* queue and batch link, owned by whoever holds the record */
    uint32_t lane;          /* the source's lane (partition, stream, hook) */
    uint64_t seq;           /* position within the lane, ascending */
    int64_t time_ms;        /* when the source received or produced it (wall clock) */
    size_t bytes;           /* the source's estimate of the record's encoded size */
    /* NULL: no value at all (a Kafka tombstone), unlike an empty one. */
    const unsigned char *body;
    size_t body_len;
    /* Set by the source when the record must not be delivered but dead-lettered at once, with
     * this condition (sources/conditions.h). NULL normally. Must be a static string. */
    const char *dead_letter;
    /* Set by the source on the first record of records that belong together (a database
     * transaction): how many they are, this one included; 0 or 1 on every other record. The
     * mapping cuts a batch before such a record rather than split the group over two batches,
     * unless the group alone exceeds the batch size or bytes (then it is split as usual). */
    uint32_t group;

    /* Mapping-side state. */
    struct sl_record *all_prev, *all_next; /* the mapping's list of live records, oldest first */
    int64_t arrived_mono_ms;               /* when the mapping got it (monotonic) */
    bool failed_now;                       /* named as failed by the latest outcome */
    uint32_t attempts;                     /* invocations that count toward max_attempts */
    uint32_t failures;                     /* failed invocations of any kind (grow the backoff) */
    struct sl_record_failure *fail;        /* NULL until it fails */
};

/* A record whose source keeps its forms as text (one allocation holds it all). */
struct sl_text_record {
    struct sl_record base;
    const char *id;     /* item identifier (partial batch responses match it as a string) */
    const char *attrs;  /* JSON object text: the record's attributes for the encoder */
    const char *coords; /* JSON object text: where it came from (DLQ coordinates) */
};

extern const struct sl_record_ops sl_text_record_ops;

/* Allocates a text record with copies of the strings (NULL attrs/coords become "{}"). */
struct sl_record *sl_record_new(const char *id, const char *attrs, const char *coords,
                                const void *body, size_t body_len);
/* The text forms of a text record, or NULL for a record of another kind. */
static inline const struct sl_text_record *sl_record_text(const struct sl_record *r)
{
    return r->ops == &sl_text_record_ops ? (const struct sl_text_record *)r : NULL;
}
/* Frees the record and drops its references to attempts. NULL is fine. */
void sl_record_free(struct sl_record *r);
/* Appends a to the record's history (a new reference), dropping the oldest when full. */
void sl_record_add_attempt(struct sl_record *r, struct sl_attempt *a);
/* The record's identifier as text in buf (reset first); returns buf's data. For log lines. */
const char *sl_record_id_text(const struct sl_record *r, struct sl_buf *buf);

#endif
