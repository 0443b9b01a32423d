/* Internals of the object-store notification source shared between its files. */
#ifndef SL_SOURCES_S3_S3_INT_H
#define SL_SOURCES_S3_S3_INT_H

#include "sources/s3/parse.h"
#include "sources/push_record.h"
#include "sources/source.h"

/* Its typed records: sources/push_record.h with the ops of record.c. */
extern const struct sl_record_ops sl_s3_record_ops;
/* Appends a note's attributes as kept in the spool: {"bucket":"...","key":"<encoded>"}. */
void sl_s3_write_note_attrs(struct sl_buf *out, const struct sl_s3_note *n);

void sl_s3_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                  struct sl_buf *out);
bool sl_s3_filter_view(const struct sl_record *r, struct sl_fview *out);

#endif
