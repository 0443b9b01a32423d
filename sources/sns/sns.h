/* The SNS subscription source (type "sns", docs/SNS.md): POST /sns/{name} on the push listener
 * is an Amazon SNS HTTP/HTTPS subscription endpoint. Signatures are verified, the topic is
 * checked, redeliveries are deduped by MessageId; each Notification is stored in the spool
 * before the 200 and reaches the function as Lambda's SNS event. SubscriptionConfirmation is
 * confirmed (auto_confirm, allow-listed hosts) or logged for an operator. */
#ifndef SL_SOURCES_SNS_SNS_H
#define SL_SOURCES_SNS_SNS_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_sns_ops;

#endif
