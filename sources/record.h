/* A record: one event from a source, as the mapping batches, retries and dead-letters it.
 * One allocation holds the struct and its strings and body. */
#ifndef SL_SOURCES_RECORD_H
#define SL_SOURCES_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

struct sl_attempt *sl_attempt_new(void);
void sl_attempt_unref(struct sl_attempt *a);

#define SL_RECORD_MAX_HISTORY 16 /* attempts kept per record (the newest) */

struct sl_record {
    struct sl_record *next; /* queue and batch link, owned by whoever holds the record */
    uint32_t lane;          /* the source's lane (partition, stream, hook) */
    uint64_t seq;           /* position within the lane, ascending */
    int64_t time_ms;        /* when the source received or produced it (wall clock) */
    size_t bytes;           /* the source's estimate of the record's encoded size */

    const char *id;     /* item identifier (partial batch responses) */
    const char *attrs;  /* JSON object text: the record's attributes for the encoder */
    const char *coords; /* JSON object text: where it came from (DLQ coordinates) */
    const unsigned char *body;
    size_t body_len;
    /* Set by the source when the record must not be delivered but dead-lettered at once, with
     * this condition (e.g. "MaxDeliveriesExceeded" for a poison entry, or
     * "MaximumPayloadSizeExceeded"). NULL normally. Must be a static string. */
    const char *dead_letter;

    /* Mapping-side state. */
    struct sl_record *all_prev, *all_next; /* the mapping's list of live records, oldest first */
    int64_t arrived_mono_ms;               /* when the mapping got it (monotonic) */
    bool failed_now;                       /* named as failed by the latest outcome */
    uint32_t attempts;                     /* invocations that count toward max_attempts */
    uint32_t failures;                     /* failed invocations of any kind (grow the backoff) */
    uint32_t nhistory;                     /* attempts recorded in history (ring, newest last) */
    uint32_t history_total;                /* attempts ever recorded */
    struct sl_attempt *history[SL_RECORD_MAX_HISTORY];
    int64_t first_failure_ms;
    int64_t last_failure_ms;
};

/* Allocates a record with copies of the strings (NULL attrs/coords become "{}"). */
struct sl_record *sl_record_new(const char *id, const char *attrs, const char *coords,
                                const void *body, size_t body_len);
/* Frees the record and drops its references to attempts. NULL is fine. */
void sl_record_free(struct sl_record *r);
/* Appends a to the record's history (a new reference), dropping the oldest when full. */
void sl_record_add_attempt(struct sl_record *r, struct sl_attempt *a);

#endif
