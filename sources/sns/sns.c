/* The SNS subscription source: intake (limits, parse, topic allow-list, signature, dedupe, one
 * spool write per Notification), confirmations, replay from the spool. Messages are parse.c's,
 * signatures verify.c's, GETs fetch.c's, records record.c's, events encode.c's. */
#include "sources/sns/sns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/worker.h"
#include "sources/http/dedupe.h"
#include "sources/push.h"
#include "sources/push_reader.h"
#include "sources/sns/fetch.h"
#include "sources/sns/sns_int.h"
#include "sources/sns/verify.h"

#define SNS_MAX_SUB_ARN 1024 /* x-amz-sns-subscription-arn */

struct sns_cfg {
    bool verify;
    char *certs_dir;
    bool fetch_certs;
    struct sl_strlist cert_hosts;
    char *ca_file;
    struct sl_strlist topics;
    bool auto_confirm;
    struct sl_strlist confirm_hosts;
    bool allow_http;
    uint64_t max_body_bytes;
    int64_t lanes;
    int64_t dedupe_window_ms;
    int64_t dedupe_max_entries;
};

static const struct sl_prop sns_props[] = {
    {.name = "verify",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sns_cfg, verify),
     .def = "true",
     .desc = "Check each message's signature (SignatureVersion 1: SHA1withRSA, 2: "
             "SHA256withRSA) against the certificate its SigningCertURL names; a message that "
             "does not verify is answered 403 and not stored. false only for tests and trusted "
             "networks."},
    {.name = "certs_dir",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sns_cfg, certs_dir),
     .flags = SL_PROP_PATH,
     .desc = "Folder of PEM certificates (*.pem), read at start: a message is checked against "
             "the file named as the last path segment of its SigningCertURL. The folder is the "
             "trust decision: its certificates are not checked against a CA. verify needs "
             "certs_dir or fetch_certs."},
    {.name = "fetch_certs",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sns_cfg, fetch_certs),
     .def = "false",
     .desc = "Fetch a certificate certs_dir does not have from the SigningCertURL (https, a "
             "host on cert_hosts, at most 64KiB), check its chain against ca_file and keep it "
             "(up to 64 per source) for later messages."},
    {.name = "cert_hosts",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct sns_cfg, cert_hosts),
     .desc = "Hosts a SigningCertURL may name for fetch_certs; `*` stands for one DNS label. "
             "Default: sns.*.amazonaws.com."},
    {.name = "ca_file",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sns_cfg, ca_file),
     .flags = SL_PROP_PATH,
     .desc = "CA bundle (PEM) a fetched certificate's chain must verify against; unset: the "
             "system's bundle."},
    {.name = "topics",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct sns_cfg, topics),
     .desc = "TopicArns taken (exact match); a message of another topic is answered 403. "
             "Unset: every topic."},
    {.name = "auto_confirm",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sns_cfg, auto_confirm),
     .def = "false",
     .desc = "Confirm a verified SubscriptionConfirmation by fetching its SubscribeURL when the "
             "URL's host is on confirm_hosts; otherwise the URL is logged (info) for an "
             "operator to open."},
    {.name = "confirm_hosts",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct sns_cfg, confirm_hosts),
     .desc = "Hosts a SubscribeURL may name for auto_confirm; `*` stands for one DNS label. "
             "Default: sns.*.amazonaws.com."},
    {.name = "allow_http",
     .type = SL_PROP_BOOL,
     .offset = offsetof(struct sns_cfg, allow_http),
     .def = "false",
     .desc = "Let SubscribeURLs and SigningCertURLs be http:// as well as https:// (for tests "
             "against a local server)."},
    {.name = "max_body_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct sns_cfg, max_body_bytes),
     .def = "1MiB",
     .min = 1,
     .max = 16 * 1024 * 1024,
     .desc = "Largest message body accepted (413 beyond it); also bounded by "
             "server.max_body_bytes. SNS messages are at most 256KiB before JSON escaping."},
    {.name = "lanes",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sns_cfg, lanes),
     .def = "16",
     .min = 1,
     .max = 1024,
     .desc = "Lanes the records are spread over by a hash of MessageId (SNS standard topics "
             "have no order)."},
    {.name = "dedupe_window",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sns_cfg, dedupe_window_ms),
     .def = "24h",
     .min = 0,
     .max = 30 * 24 * 3600 * 1000LL,
     .desc = "How long a MessageId is remembered (across restarts): SNS redelivers a message "
             "it has no 2xx for; a repeat is answered 202 and not stored again. 0: no dedupe."},
    {.name = "dedupe_max_entries",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sns_cfg, dedupe_max_entries),
     .def = "1000000",
     .min = 1,
     .max = 100000000,
     .desc = "MessageIds remembered at most; beyond it the oldest are forgotten first."},
};

static const struct sl_prop_table sns_table = {
    .name = "sources[] (type: sns)",
    .desc = "Amazon SNS HTTP/HTTPS subscription endpoint: POST /sns/{name} on the push "
            "listener.",
    .props = sns_props,
    .nprops = SL_ARRAY_LEN(sns_props),
    .struct_size = sizeof(struct sns_cfg),
};

struct sns_source {
    struct sl_source base;
    struct sns_cfg cfg;
    struct ev_loop *loop;
    struct sl_spool *spool;
    struct sl_http_router *router;
    struct sl_sns_certs *certs;   /* from certs_dir, by file name */
    struct sl_sns_certs *fetched; /* fetched, by SigningCertURL */
    X509_STORE *trust;            /* fetch_certs: the CA bundle */
    struct cert_fetch *fetches;   /* in flight */
    struct sl_dedupe *dedupe;     /* NULL: no dedupe */
    struct sl_worker *worker;     /* confirmations and certificate GETs; NULL until the first */
    char route[160];
    size_t puts;              /* spool writes not yet confirmed: each holds s */
    bool destroyed;           /* freed when the last of them is confirmed */
    struct sl_push_reader rd; /* hands the spooled records to the mapping */
    struct sl_buf scratch;    /* the string to sign and the signature, reused */
    struct sl_metric *m_records;
    struct sl_metric *m_rejected;
    struct sl_metric *m_duplicates;
    struct sl_metric *m_confirmations;
    struct sl_push_pool pool;
};

/* One Notification on its way to the spool: id, NUL, attrs, NUL, body in one buffer. */
struct sns_put {
    struct sns_source *s;
    struct sl_http_exchange *x;
    uint64_t seq;
    int64_t received_ms;
    struct sl_dedupe_flight *flight;
    size_t attrs_off, body_off;
    struct sl_buf text;
};

static uint32_t lane_of(const char *id, uint32_t nlanes)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % nlanes;
}

static void sns_emit(void *owner, struct sl_source *to, const struct sl_spool_row *row)
{
    struct sns_source *s = owner;
    struct sl_record *r = sl_push_record_take(&s->pool, row->seq, row->id, row->received_ms,
                                              row->attrs, row->body, row->body_len);
    r->lane = lane_of(row->id, (uint32_t)s->cfg.lanes);
    sl_source_emit(to, r);
}

static void sns_free(struct sns_source *s);

static void put_free(struct sns_put *p)
{
    sl_buf_release(&p->text);
    free(p);
}

static void respond_id(struct sl_http_exchange *x, int code, const char *id)
{
    struct sl_buf b;
    sl_buf_init(&b);
    SL_BUF_LIT(&b, "{\"id\":");
    sl_json_escape(&b, id, strlen(id));
    sl_buf_putc(&b, '}');
    sl_http_respond_json(x, code, b.data, b.len);
    sl_buf_release(&b);
}

static void sns_put_done(int status, void *arg)
{
    struct sns_put *p = arg;
    struct sns_source *s = p->s;
    const char *id = p->text.data;
    s->puts--;
    if (status == SL_DEDUPE_SEEN) {
        /* A copy stored before that this source did not see in flight: not stored again. */
        if (!s->destroyed)
            sl_metric_inc(s->m_duplicates);
        respond_id(p->x, 202, id);
    } else if (status < 0) {
        sl_error(s->base.scope, "spool write failed: %s", sl_strerror(status));
        if (!s->destroyed)
            sl_metric_inc(s->m_rejected);
        sl_push_respond_unavailable(p->x, status);
    } else {
        if (!s->destroyed)
            sl_metric_inc(s->m_records);
        respond_id(p->x, 200, id);
        /* A source removed by a reload while the write was queued emits nothing: the row
         * stays in the spool for the source of that name, when there is one again. */
        if (!s->destroyed)
            sl_push_reader_committed(&s->rd, &(struct sl_spool_row){
                                                 .seq = p->seq,
                                                 .id = id,
                                                 .received_ms = p->received_ms,
                                                 .attrs = p->text.data + p->attrs_off,
                                                 .body = p->text.data + p->body_off,
                                                 .body_len = p->text.len - p->body_off,
                                             });
    }
    if (p->flight)
        sl_dedupe_end(p->flight, status);
    put_free(p);
    if (s->destroyed && s->puts == 0)
        sns_free(s);
}

static int sns_headers(const struct sl_http_req *req, void *arg, struct sl_http_reject *rej)
{
    struct sns_source *s = arg;
    if (s->rd.stopped) {
        rej->code = "shutting_down";
        rej->message = "sluice is shutting down";
        rej->header = "Retry-After: 1";
        return 503;
    }
    if (req->content_length > 0 && (uint64_t)req->content_length > s->cfg.max_body_bytes) {
        sl_metric_inc(s->m_rejected);
        rej->code = "payload_too_large";
        rej->message = "the body is larger than this source's max_body_bytes";
        return 413;
    }
    return 0;
}

static bool topic_allowed(const struct sns_source *s, const struct sl_sns_str *arn)
{
    if (s->cfg.topics.n == 0)
        return true;
    for (size_t i = 0; i < s->cfg.topics.n; i++) {
        if (strlen(s->cfg.topics.v[i]) == arn->n && memcmp(s->cfg.topics.v[i], arn->p, arn->n) == 0)
            return true;
    }
    return false;
}

/* A redelivery: answered 202 with its MessageId once the first is stored, not stored again. */
static bool sns_duplicate(struct sns_source *s, struct sl_http_exchange *x,
                          const struct sl_sns_str *id)
{
    struct sl_dedupe_flight *f = sl_dedupe_in_flight(s->dedupe, id->p, id->n);
    if (f) {
        sl_metric_inc(s->m_duplicates);
        sl_dedupe_wait(f, x);
        return true;
    }
    char first[SL_ID_LEN + 1];
    int found = sl_dedupe_find(s->dedupe, id->p, id->n, sl_now_ms(), first);
    if (found < 0) {
        /* Storing a message twice is better than losing one: it is treated as new. */
        sl_warn(s->base.scope, "cannot read the MessageIds seen: %s", sl_strerror(found));
        return false;
    }
    if (found == 0)
        return false;
    sl_metric_inc(s->m_duplicates);
    /* The key is the MessageId itself: answer with it (the table keeps SL_ID_LEN bytes). */
    respond_id(x, 202, id->p);
    return true;
}

/* A confirmation GET: what it needs after the source may be gone. */
struct confirm_job {
    struct sl_sns_get get;
    char scope[128];
    char topic[SL_SNS_MAX_ARN_BYTES + 1];
};

static int confirm_run(void *arg)
{
    return sl_sns_get_run(&((struct confirm_job *)arg)->get);
}

static void confirm_done(int status, void *arg)
{
    struct confirm_job *j = arg;
    if (status == 0)
        sl_info(j->scope, "subscription to %s confirmed", j->topic);
    else
        sl_warn(j->scope, "confirming the subscription to %s failed: %s; confirm by hand: GET %s",
                j->topic, status == SL_ECLOSED ? "cancelled" : j->get.error, j->get.url);
    sl_sns_get_free_fields(&j->get);
    free(j);
}

static void sns_confirm(struct sns_source *s, const struct sl_sns_msg *m)
{
    sl_metric_inc(s->m_confirmations);
    char why[256];
    if (!s->cfg.auto_confirm) {
        sl_info(s->base.scope,
                "subscription confirmation for %s: confirm by hand: GET %s (auto_confirm is off)",
                m->topic_arn.p, m->subscribe_url.p);
        return;
    }
    if (!sl_sns_url_allowed(m->subscribe_url.p, &s->cfg.confirm_hosts, s->cfg.allow_http, why,
                            sizeof(why))) {
        sl_warn(s->base.scope,
                "subscription confirmation for %s not confirmed: SubscribeURL %s; confirm by "
                "hand if it is genuine: GET %s",
                m->topic_arn.p, why, m->subscribe_url.p);
        return;
    }
    if (!s->worker && sl_worker_create(s->loop, "sns-confirm", &s->worker) < 0) {
        sl_warn(s->base.scope, "cannot start the confirmation thread; confirm by hand: GET %s",
                m->subscribe_url.p);
        return;
    }
    struct confirm_job *j = SL_NEW(struct confirm_job);
    j->get.url = sl_strdup(m->subscribe_url.p);
    j->get.max_bytes = 64 << 10;
    sl_buf_init(&j->get.body);
    snprintf(j->scope, sizeof(j->scope), "%s", s->base.scope);
    snprintf(j->topic, sizeof(j->topic), "%s", m->topic_arn.p);
    if (sl_worker_submit(s->worker, confirm_run, confirm_done, j) < 0)
        confirm_done(SL_ECLOSED, j);
}

static void respond_none(struct sl_http_exchange *x)
{
    static const char body[] = "{\"accepted\":0}";
    sl_http_respond_json(x, 200, body, sizeof(body) - 1);
}

static void sns_store(struct sns_source *s, struct sl_http_exchange *x, const struct sl_sns_msg *m,
                      const char *sub, size_t sub_len)
{
    if (s->dedupe && sns_duplicate(s, x, &m->message_id))
        return;
    struct sns_put *p = SL_NEW(struct sns_put);
    p->s = s;
    p->x = x;
    p->received_ms = sl_now_ms();
    sl_buf_init(&p->text);
    sl_buf_append(&p->text, m->message_id.p, m->message_id.n);
    sl_buf_putc(&p->text, '\0');
    p->attrs_off = p->text.len;
    sl_sns_write_attrs(&p->text, sub, sub_len);
    sl_buf_putc(&p->text, '\0');
    p->body_off = p->text.len;
    sl_sns_write_record(m, &p->text);
    if (s->dedupe)
        p->flight = sl_dedupe_begin(s->dedupe, m->message_id.p, m->message_id.n, p->text.data,
                                    p->received_ms);
    struct sl_spool_item it = {
        .source = s->base.name,
        .id = p->text.data,
        .received_ms = p->received_ms,
        .attrs = p->text.data + p->attrs_off,
        .body = p->text.data + p->body_off,
        .body_len = p->text.len - p->body_off,
        .also = p->flight ? sl_dedupe_record_job : NULL,
        .also_arg = p->flight,
    };
    int rc = sl_spool_put(s->spool, &it, &p->seq, sns_put_done, p);
    if (rc < 0) {
        sl_metric_inc(s->m_rejected);
        sl_push_respond_put_error(x, rc);
        if (p->flight)
            sl_dedupe_end(p->flight, rc);
        put_free(p);
        return;
    }
    s->puts++;
}

/* A verified message: stored (Notification) or acted on (the confirmations). */
static void sns_dispatch(struct sns_source *s, struct sl_http_exchange *x,
                         const struct sl_sns_msg *m, const char *sub, size_t sub_len)
{
    switch (m->type) {
    case SL_SNS_NOTIFICATION:
        sns_store(s, x, m, sub, sub_len);
        break;
    case SL_SNS_SUBSCRIPTION_CONFIRMATION:
        sns_confirm(s, m);
        respond_none(x);
        break;
    case SL_SNS_UNSUBSCRIBE_CONFIRMATION:
        sl_info(s->base.scope, "unsubscribed from %s", m->topic_arn.p);
        respond_none(x);
        break;
    }
}

static void respond_refused(struct sns_source *s, struct sl_http_exchange *x,
                            enum sl_sns_verify_result vr)
{
    sl_metric_inc(s->m_rejected);
    sl_http_respond_error(x, 403, sl_sns_verify_reason(vr), sl_sns_verify_message(vr));
}

/* The key for m's SigningCertURL: the certs_dir file of its name, else a fetched one. */
static EVP_PKEY *sns_key(const struct sns_source *s, const struct sl_sns_msg *m)
{
    const char *name;
    size_t name_len;
    sl_sns_cert_name(m->signing_cert_url.p, m->signing_cert_url.n, &name, &name_len);
    EVP_PKEY *key = name_len ? sl_sns_certs_find(s->certs, name, name_len) : NULL;
    return key ? key : sl_sns_certs_find(s->fetched, m->signing_cert_url.p, m->signing_cert_url.n);
}

/* A message waiting for its certificate: owns its parsed message. */
struct cert_waiter {
    struct cert_waiter *next;
    struct sl_http_exchange *x;
    struct sl_sns_msg m;
    size_t sub_len;
    char sub[]; /* the subscription ARN, NUL-terminated */
};

/* One certificate GET in flight, and the messages waiting for it. */
struct cert_fetch {
    struct cert_fetch *next;
    struct sns_source *s;
    struct sl_sns_get get;
    struct cert_waiter *waiters;
};

static int cert_fetch_run(void *arg)
{
    return sl_sns_get_run(&((struct cert_fetch *)arg)->get);
}

#define SNS_MAX_FETCHED 64

static void cert_fetch_done(int status, void *arg)
{
    struct cert_fetch *f = arg;
    struct sns_source *s = f->s;
    for (struct cert_fetch **pp = &s->fetches; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    char why[256] = "";
    bool have = false;
    if (status == 0) {
        if (sl_sns_certs_count(s->fetched) >= SNS_MAX_FETCHED) {
            /* SNS signs with one certificate per region at a time: a full cache is stale. */
            sl_sns_certs_free(s->fetched);
            s->fetched = sl_sns_certs_new();
        }
        have = sl_sns_certs_add_trusted(s->fetched, f->get.url, f->get.body.data, f->get.body.len,
                                        s->trust, why, sizeof(why)) == 0;
    } else {
        snprintf(why, sizeof(why), "%s", status == SL_ECLOSED ? "cancelled" : f->get.error);
    }
    if (have)
        sl_info(s->base.scope, "fetched the signing certificate %s", f->get.url);
    else
        sl_warn(s->base.scope, "cannot use the signing certificate %s: %s", f->get.url, why);
    while (f->waiters) {
        struct cert_waiter *w = f->waiters;
        f->waiters = w->next;
        if (s->destroyed || s->rd.stopped || status == SL_ECLOSED) {
            static const char *const hdr[] = {"Retry-After: 1"};
            static const char body[] =
                "{\"error\":\"shutting_down\",\"message\":\"the source is going away\"}";
            sl_http_respond(w->x, 503, "application/json", hdr, 1, body, sizeof(body) - 1);
        } else {
            enum sl_sns_verify_result vr = sl_sns_verify(&w->m, sns_key(s, &w->m), &s->scratch);
            if (vr == SL_SNS_VERIFY_OK)
                sns_dispatch(s, w->x, &w->m, w->sub, w->sub_len);
            else
                respond_refused(s, w->x, vr);
        }
        sl_sns_msg_release(&w->m);
        free(w);
    }
    sl_sns_get_free_fields(&f->get);
    free(f);
}

/* Queues m (taken over) behind the GET of its certificate; false when it cannot be fetched. */
static bool sns_fetch_cert(struct sns_source *s, struct sl_http_exchange *x, struct sl_sns_msg *m,
                           const char *sub, size_t sub_len)
{
    char why[256];
    if (!sl_sns_url_allowed(m->signing_cert_url.p, &s->cfg.cert_hosts, s->cfg.allow_http, why,
                            sizeof(why))) {
        sl_debug(s->base.scope, "SigningCertURL %s not fetched: %s", m->signing_cert_url.p, why);
        return false;
    }
    struct cert_fetch *f = s->fetches;
    while (f && strcmp(f->get.url, m->signing_cert_url.p) != 0)
        f = f->next;
    if (!f) {
        if (!s->worker && sl_worker_create(s->loop, "sns-fetch", &s->worker) < 0)
            return false;
        f = SL_NEW(struct cert_fetch);
        f->s = s;
        f->get.url = sl_strdup(m->signing_cert_url.p);
        f->get.max_bytes = SL_SNS_MAX_CERT_BYTES;
        sl_buf_init(&f->get.body);
        if (sl_worker_submit(s->worker, cert_fetch_run, cert_fetch_done, f) < 0) {
            sl_sns_get_free_fields(&f->get);
            free(f);
            return false;
        }
        f->next = s->fetches;
        s->fetches = f;
    }
    struct cert_waiter *w = sl_malloc(sizeof(*w) + sub_len + 1);
    w->x = x;
    w->m = *m;
    memset(m, 0, sizeof(*m)); /* the waiter owns the document now */
    memcpy(w->sub, sub, sub_len);
    w->sub[sub_len] = '\0';
    w->sub_len = sub_len;
    w->next = f->waiters;
    f->waiters = w;
    return true;
}

static void sns_handle_post(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sns_source *s = arg;
    if (s->rd.stopped) {
        static const char *const hdr[] = {"Retry-After: 1"};
        static const char body[] =
            "{\"error\":\"shutting_down\",\"message\":\"sluice is shutting down\"}";
        sl_http_respond(x, 503, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (req->body_len > s->cfg.max_body_bytes) {
        sl_metric_inc(s->m_rejected);
        sl_http_respond_error(x, 413, "payload_too_large",
                              "the body is larger than this source's max_body_bytes");
        return;
    }
    char why[256];
    struct sl_sns_msg m;
    if (sl_sns_parse(req->body, req->body_len, &m, why, sizeof(why)) < 0) {
        sl_metric_inc(s->m_rejected);
        sl_http_respond_error(x, 400, "invalid_message", why);
        sl_sns_msg_release(&m);
        return;
    }
    size_t hlen;
    const char *htype = sl_http_header_get(req, "x-amz-sns-message-type", &hlen);
    if (htype && sl_sns_type_of(htype, hlen) != (int)m.type) {
        sl_metric_inc(s->m_rejected);
        sl_http_respond_error(x, 400, "invalid_message",
                              "x-amz-sns-message-type does not match the message's Type");
        sl_sns_msg_release(&m);
        return;
    }
    if (!topic_allowed(s, &m.topic_arn)) {
        sl_metric_inc(s->m_rejected);
        sl_http_respond_error(x, 403, "topic_not_allowed",
                              "this source does not take messages of this TopicArn");
        sl_sns_msg_release(&m);
        return;
    }
    size_t sub_len = 0;
    const char *sub = sl_http_header_get(req, "x-amz-sns-subscription-arn", &sub_len);
    if (!sub || sub_len > SNS_MAX_SUB_ARN) {
        /* SNS sends it with each Notification; without it the topic stands in (docs/SNS.md). */
        sub = m.topic_arn.p;
        sub_len = m.topic_arn.n;
    }
    if (s->cfg.verify) {
        enum sl_sns_verify_result vr = sl_sns_verify_precheck(&m);
        EVP_PKEY *key = vr == SL_SNS_VERIFY_OK ? sns_key(s, &m) : NULL;
        if (vr == SL_SNS_VERIFY_OK && !key && s->cfg.fetch_certs) {
            char sub_copy[SNS_MAX_SUB_ARN + 1];
            memcpy(sub_copy, sub, sub_len); /* sub may point into m, which moves */
            if (sns_fetch_cert(s, x, &m, sub_copy, sub_len))
                return;
        }
        if (vr == SL_SNS_VERIFY_OK)
            vr = sl_sns_verify(&m, key, &s->scratch);
        if (vr != SL_SNS_VERIFY_OK) {
            sl_debug(s->base.scope, "message from %s refused: %s", req->peer,
                     sl_sns_verify_reason(vr));
            respond_refused(s, x, vr);
            sl_sns_msg_release(&m);
            return;
        }
    }
    sns_dispatch(s, x, &m, sub, sub_len);
    sl_sns_msg_release(&m);
}

/* Checks what the property table cannot and reads certs_dir. */
static int sns_check_cfg(struct sns_source *s, const struct sl_config *cfg,
                         const struct sl_cfg_typed *sec, struct sl_err *err)
{
    const char *file = cfg && cfg->file ? cfg->file : "config";
    const char *path = sec->path ? sec->path : "sources[]";
    char why[512];
    if (s->cfg.verify && !s->cfg.certs_dir && !s->cfg.fetch_certs) {
        sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                   "%s: %s.certs_dir: required when verify is true and fetch_certs is false (a "
                   "folder of PEM certificates; verify: false only for tests and trusted "
                   "networks)",
                   file, path);
    } else if (s->cfg.fetch_certs &&
               !(s->trust = sl_sns_trust_load(s->cfg.ca_file, why, sizeof(why)))) {
        sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s.ca_file: %s", file, path, why);
    } else if (s->cfg.certs_dir &&
               sl_sns_certs_load_dir(s->certs, s->cfg.certs_dir, why, sizeof(why)) < 0) {
        sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s.certs_dir: %s", file, path, why);
    } else {
        return 0;
    }
    sl_config_err_line(cfg, err);
    return SL_ECONFIG;
}

static int sns_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                      struct sl_source **out, struct sl_err *err)
{
    struct sns_source *s = SL_NEW(struct sns_source);
    int rc = sl_config_bind_typed(env->cfg, sec, &sns_table, &s->cfg, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->certs = sl_sns_certs_new();
    s->fetched = sl_sns_certs_new();
    rc = sns_check_cfg(s, env->cfg, sec, err);
    if (rc < 0) {
        X509_STORE_free(s->trust);
        sl_props_release(&sns_table, &s->cfg);
        sl_sns_certs_free(s->certs);
        sl_sns_certs_free(s->fetched);
        free(s);
        return rc;
    }
    sl_source_init(&s->base, &sl_source_sns_ops, sec->name);
    s->loop = env->loop;
    s->spool = env->spool;
    sl_push_pool_init(&s->pool, &sl_sns_record_ops, sec->name);
    sl_push_reader_init(&s->rd, &s->base, env->loop, env->spool, sns_emit, s);
    sl_buf_init(&s->scratch);
    if (s->cfg.dedupe_window_ms > 0)
        s->dedupe = sl_dedupe_create(env->loop, env->store, sec->name, s->cfg.dedupe_window_ms,
                                     s->cfg.dedupe_max_entries);
    snprintf(s->route, sizeof(s->route), "/sns/%s", sec->name);
    s->router = env->push;
    if (env->push)
        sl_http_router_add_hooked(env->push, "POST", s->route, false, sns_headers, sns_handle_post,
                                  s);
    struct sl_buf l;
    sl_buf_init(&l);
    sl_metrics_label(&l, "source", sec->name);
    s->m_records = sl_metrics_counter(env->metrics, "sluice_sns_records_total",
                                      "SNS notifications stored.", l.data);
    s->m_rejected = sl_metrics_counter(env->metrics, "sluice_sns_rejected_total",
                                       "SNS messages refused (4xx or 503).", l.data);
    s->m_duplicates =
        sl_metrics_counter(env->metrics, "sluice_sns_duplicates_total",
                           "SNS redeliveries of a MessageId seen within dedupe_window.", l.data);
    s->m_confirmations =
        sl_metrics_counter(env->metrics, "sluice_sns_confirmations_total",
                           "Verified SubscriptionConfirmation messages received.", l.data);
    sl_buf_release(&l);
    *out = &s->base;
    return 0;
}

static void sns_free(struct sns_source *s)
{
    sl_worker_destroy(s->worker);
    sl_dedupe_destroy(s->dedupe);
    sl_sns_certs_free(s->certs);
    sl_sns_certs_free(s->fetched);
    X509_STORE_free(s->trust);
    sl_buf_release(&s->scratch);
    sl_props_release(&sns_table, &s->cfg);
    sl_push_pool_release(&s->pool);
    sl_source_release(&s->base);
    free(s);
}

static void sns_destroy(struct sl_source *base)
{
    if (!base)
        return;
    struct sns_source *s = (struct sns_source *)base;
    sl_push_reader_release(&s->rd);
    sl_http_router_remove(s->router, s);
    s->destroyed = true;
    if (s->puts == 0)
        sns_free(s);
}

static void sns_describe(struct sl_source *base, struct sl_jw *w)
{
    struct sns_source *s = (struct sns_source *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "name", base->name);
    sl_jw_kstr(w, "path", s->route);
    sl_jw_kbool(w, "verify", s->cfg.verify);
    sl_jw_kbool(w, "auto_confirm", s->cfg.auto_confirm);
    sl_jw_kbool(w, "paused", s->rd.paused);
    sl_jw_kint(w, "lanes", s->cfg.lanes);
    sl_jw_kint(w, "dedupe_window_ms", s->dedupe ? s->cfg.dedupe_window_ms : 0);
    sl_jw_kint(w, "spooled", sl_spool_depth(s->spool, base->name));
    sl_jw_obj_close(w);
}

const struct sl_source_ops sl_source_sns_ops = {
    .type = "sns",
    .props = &sns_table,
    .create = sns_create,
    .start = sl_push_source_start,
    .pause = sl_push_source_pause,
    .resume = sl_push_source_resume,
    .ack = sl_push_source_ack,
    .stop = sl_push_source_stop,
    .destroy = sns_destroy,
    .describe = sns_describe,
    .encode = sl_sns_encode,
    .backlog = sl_push_source_backlog,
    .filter_view = sl_sns_filter_view,
    .fan_out = true,
};
