/* Internals of the object-store notification source shared between its files. */
#ifndef SL_SOURCES_S3_S3_INT_H
#define SL_SOURCES_S3_S3_INT_H

#include "sources/s3/parse.h"
#include "sources/source.h"

/* A source's typed records (record.c), reused through a free list. */
struct sl_s3_rec;
struct sl_s3_pool {
    struct sl_s3_rec *free;
};

struct sl_s3_rec {
    struct sl_record base; /* base.seq: the spool row */
    struct sl_s3_pool *pool;
    struct sl_s3_rec *next_free;
    char id[SL_S3_MAX_SEQUENCER_BYTES + 1]; /* the sequencer: the item identifier */
    uint8_t id_len;
    size_t attrs_len;
    struct sl_buf buf; /* attrs, NUL, body (the Lambda S3 record), NUL */
};

extern const struct sl_record_ops sl_s3_record_ops;
/* Frees the records on the free list (the mapping has released every record by then). */
void sl_s3_pool_release(struct sl_s3_pool *p);
/* A record of a spool row, from the free list when it has one. */
struct sl_record *sl_s3_record_take(struct sl_s3_pool *p, uint64_t seq, const char *id,
                                    int64_t received_ms, const char *attrs, const void *body,
                                    size_t body_len);
/* The id and attributes text of a record, typed or text (a redrive). */
void sl_s3_record_parts(const struct sl_record *r, const char **id, const char **attrs);
/* Appends a note's attributes as kept in the spool: {"bucket":"...","key":"<encoded>"}. */
void sl_s3_write_note_attrs(struct sl_buf *out, const struct sl_s3_note *n);

void sl_s3_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                  struct sl_buf *out);
bool sl_s3_filter_view(const struct sl_record *r, struct sl_fview *out);

#endif
