/* The typed record of every push source (webhooks, object-store notifications, SNS): a spool
 * row's sequence (base.seq), its item identifier, its attributes (a JSON object text, as
 * stored) and its body, in one reused buffer. Records come from a per-source free list, so
 * emitting a row allocates nothing once the list has grown; a buffer grown past 64 KiB by a
 * large body is not kept. A source makes its own sl_record_ops from the shared functions below
 * and its own write_coords (its DLQ coordinates). */
#ifndef SL_SOURCES_PUSH_RECORD_H
#define SL_SOURCES_PUSH_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "sources/record.h"

/* The longest item identifier kept: an SNS MessageId (SNS sends a UUID); an S3 sequencer is at
 * most 64 bytes, a webhook's id 36. A longer id is cut (the parsers refuse one before). */
#define SL_PUSH_ID_MAX 100

struct sl_push_rec;
struct sl_push_pool {
    struct sl_push_rec *free;
    const struct sl_record_ops *ops; /* the source's */
    char *name_json;                 /* the source's name as JSON text, escaped once */
};

struct sl_push_rec {
    struct sl_record base; /* base.seq: the spool row */
    struct sl_push_pool *pool;
    struct sl_push_rec *next_free;
    char id[SL_PUSH_ID_MAX + 1];
    uint8_t id_len;
    size_t attrs_len;
    struct sl_buf buf; /* attrs, NUL, body, NUL */
};

void sl_push_pool_init(struct sl_push_pool *p, const struct sl_record_ops *ops,
                       const char *source_name);
/* Frees the records on the free list (the mapping has released every record by then). */
void sl_push_pool_release(struct sl_push_pool *p);
/* A record of a spool row, from the free list when it has one. */
struct sl_record *sl_push_record_take(struct sl_push_pool *p, uint64_t seq, const char *id,
                                      int64_t received_ms, const char *attrs, const void *body,
                                      size_t body_len);
/* The id and attributes text of a record, typed or text (a redrive). */
void sl_push_record_parts(const struct sl_record *r, const char **id, const char **attrs);
static inline const struct sl_push_rec *sl_push_rec(const struct sl_record *r)
{
    return (const struct sl_push_rec *)r;
}

/* The shared record ops. */
void sl_push_record_write_id(const struct sl_record *r, struct sl_buf *out);
void sl_push_record_write_attrs(const struct sl_record *r, struct sl_buf *out);
bool sl_push_record_matches(const struct sl_record *r, json_t *item);
void sl_push_record_release(struct sl_record *r);
/* Coordinates made of the record's attributes with two more members: "<id_key>": the id and
 * "spoolSeq": the spool row (object-store notifications, SNS). */
void sl_push_record_write_attrs_coords(const struct sl_record *r, const char *id_key,
                                       struct sl_buf *out);

#endif
