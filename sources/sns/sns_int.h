/* Internals of the SNS subscription source shared between its files. */
#ifndef SL_SOURCES_SNS_SNS_INT_H
#define SL_SOURCES_SNS_SNS_INT_H

#include "sources/sns/parse.h"
#include "sources/source.h"

/* A source's typed records (record.c), reused through a free list. */
struct sl_sns_rec;
struct sl_sns_pool {
    struct sl_sns_rec *free;
};

struct sl_sns_rec {
    struct sl_record base; /* base.seq: the spool row */
    struct sl_sns_pool *pool;
    struct sl_sns_rec *next_free;
    char id[SL_SNS_MAX_ID_BYTES + 1]; /* the MessageId: the item identifier */
    uint8_t id_len;
    size_t attrs_len;
    struct sl_buf buf; /* attrs, NUL, body (the Sns object), NUL */
};

extern const struct sl_record_ops sl_sns_record_ops;
/* Frees the records on the free list (the mapping has released every record by then). */
void sl_sns_pool_release(struct sl_sns_pool *p);
/* A record of a spool row, from the free list when it has one. */
struct sl_record *sl_sns_record_take(struct sl_sns_pool *p, uint64_t seq, const char *id,
                                     int64_t received_ms, const char *attrs, const void *body,
                                     size_t body_len);
/* The id and attributes text of a record, typed or text (a redrive). */
void sl_sns_record_parts(const struct sl_record *r, const char **id, const char **attrs);
/* Appends a record's attributes as kept in the spool: {"EventSubscriptionArn":"..."}. */
void sl_sns_write_attrs(struct sl_buf *out, const char *subscription_arn, size_t len);

void sl_sns_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                   struct sl_buf *out);
bool sl_sns_filter_view(const struct sl_record *r, struct sl_fview *out);

#endif
