/* The GETs the SNS source makes (docs/SNS.md): a SubscriptionConfirmation's SubscribeURL (the
 * confirmation itself) and signing certificates (fetch_certs). URLs are checked against a host
 * allow-list first; the GET runs on a worker thread (core/worker.h) with libcurl, bounded in time
 * and size. */
#ifndef SL_SOURCES_SNS_FETCH_H
#define SL_SOURCES_SNS_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "config/props.h"
#include "core/buf.h"

#define SL_SNS_DEFAULT_HOST  "sns.*.amazonaws.com"
#define SL_SNS_FETCH_TIMEOUT 10 /* seconds, the whole GET */

/* Whether url is https (or http when allow_http) with a host matching one of hosts (none: the
 * default, sns.*.amazonaws.com). In a pattern '*' stands for one or more characters other than
 * '.', so "sns.*.amazonaws.com" takes "sns.us-east-1.amazonaws.com" and no other domain. On
 * false why says what is wrong. */
bool sl_sns_url_allowed(const char *url, const struct sl_strlist *hosts, bool allow_http, char *why,
                        size_t why_len);
/* Whether host matches pattern as above (case-insensitive). */
bool sl_sns_host_match(const char *pattern, const char *host);

struct sl_sns_get {
    char *url;
    size_t max_bytes; /* more is an error */
    long status;      /* HTTP status, 0 when none */
    struct sl_buf body;
    char error[256];
};

/* A GET job (sl_worker_fn): fills status, body, error; returns 0 on a 2xx, else -1. */
int sl_sns_get_run(void *get);
/* Frees what g holds (its url and body), not g. */
void sl_sns_get_free_fields(struct sl_sns_get *g);

#endif
