/* The object-store notification source (type "s3", docs/S3.md): POST /s3/{name} on the push
 * listener takes the bucket notifications MinIO's and Ceph RGW's webhook targets send; each
 * record of a request is stored in the spool (one commit for the request) before the 200. */
#ifndef SL_SOURCES_S3_S3_H
#define SL_SOURCES_S3_S3_H

#include "sources/source.h"

extern const struct sl_source_ops sl_source_s3_ops;

#endif
