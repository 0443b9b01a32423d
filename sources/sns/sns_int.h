/* Internals of the SNS subscription source shared between its files. */
#ifndef SL_SOURCES_SNS_SNS_INT_H
#define SL_SOURCES_SNS_SNS_INT_H

#include "sources/sns/parse.h"
#include "sources/push_record.h"
#include "sources/source.h"

/* Its typed records: sources/push_record.h with the ops of record.c. */
extern const struct sl_record_ops sl_sns_record_ops;
/* Appends a record's attributes as kept in the spool: {"EventSubscriptionArn":"..."}. */
void sl_sns_write_attrs(struct sl_buf *out, const char *subscription_arn, size_t len);

void sl_sns_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                   struct sl_buf *out);
bool sl_sns_filter_view(const struct sl_record *r, struct sl_fview *out);

#endif
