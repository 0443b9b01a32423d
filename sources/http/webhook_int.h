/* Internals of the webhook source shared between its files. */
#ifndef SL_SOURCES_HTTP_WEBHOOK_INT_H
#define SL_SOURCES_HTTP_WEBHOOK_INT_H

#include "sources/source.h"

/* A hook's typed records (record.c): a free list and the hook name's JSON text. */
struct sl_webhook_record;
struct sl_webhook_pool {
    struct sl_webhook_record *free;
    char *hook_json;
};

struct sl_webhook_record {
    struct sl_record base; /* base.seq: the spool row */
    struct sl_webhook_pool *pool;
    struct sl_webhook_record *next_free;
    char id[40]; /* the id the pusher got back */
    uint8_t id_len;
    size_t attrs_len;
    struct sl_buf buf; /* attrs, NUL, body, NUL */
};

extern const struct sl_record_ops sl_webhook_record_ops;
void sl_webhook_pool_init(struct sl_webhook_pool *p, const char *hook);
/* Frees the records on the free list (the mapping has released every record by then). */
void sl_webhook_pool_release(struct sl_webhook_pool *p);
/* A record of a spool row, from the free list when it has one. */
struct sl_record *sl_webhook_record_take(struct sl_webhook_pool *p, uint64_t seq, const char *id,
                                         int64_t received_ms, const char *attrs, const void *body,
                                         size_t body_len);
/* The id and attributes text of a webhook record, typed or text (a redrive). */
void sl_webhook_record_parts(const struct sl_record *r, const char **id, const char **attrs);

void sl_webhook_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                       struct sl_buf *out);
bool sl_webhook_filter_view(const struct sl_record *r, struct sl_fview *out);
/* The attributes kept of a request (JSON object text, a new string): method, path, query and
 * the headers kept(arg, name, len) accepts (names lower-cased), plus "invalidUtf8Replaced":
 * true when bytes that were not UTF-8 were replaced. */
char *sl_webhook_attrs(const struct sl_http_req *req,
                       bool (*kept)(const void *arg, const char *name, size_t len),
                       const void *arg);

#endif
