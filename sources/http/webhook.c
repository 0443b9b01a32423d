#include "sources/http/webhook.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/json_check.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/http/dedupe.h"
#include "sources/http/verify.h"
#include "sources/http/webhook_int.h"
#include "sources/intake.h"
#include "sources/push.h"
#include "sources/push_reader.h"

struct webhook_cfg {
    char *token;
    uint64_t max_body_bytes;
    struct sl_strlist keep_headers;
    struct sl_verify_cfg verify;
    char *dedupe_header;
    int64_t dedupe_window_ms;
    int64_t dedupe_max_entries;
    struct sl_intake_cfg spool;
};

static const char *const default_keep[] = {"content-type", "user-agent", "x-request-id", NULL};

static const struct sl_prop webhook_props[] = {
    {.name = "token",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct webhook_cfg, token),
     .flags = SL_PROP_SECRET,
     .desc = "Bearer token pushers must send (`Authorization: Bearer <token>`); unset: no check."},
    {.name = "max_body_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct webhook_cfg, max_body_bytes),
     .def = "1MiB",
     .min = 1,
     .max = 64 * 1024 * 1024,
     .desc = "Largest body accepted for this hook (413 beyond it); also bounded by "
             "server.max_body_bytes."},
    {.name = "keep_headers",
     .type = SL_PROP_STRING_LIST,
     .offset = offsetof(struct webhook_cfg, keep_headers),
     .desc = "Request headers copied into the event (case-insensitive); default: content-type, "
             "user-agent, x-request-id. Authorization and Proxy-Authorization are never copied."},
    {.name = "verify",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct webhook_cfg, verify),
     .sub = &sl_verify_table,
     .desc = "Signature check of each push: `type` (github, stripe, standard-webhooks, "
             "hmac-sha256) and its secret(s); a push that fails it gets 401 "
             "(docs/WEBHOOKS.md)."},
    {.name = "dedupe_header",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct webhook_cfg, dedupe_header),
     .desc = "Request header holding the delivery id redeliveries repeat; default: the verify "
             "type's (X-GitHub-Delivery, webhook-id, the Stripe event's id), none without one."},
    {.name = "dedupe_window",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct webhook_cfg, dedupe_window_ms),
     .def = "24h",
     .min = 0,
     .max = 30 * 24 * 3600 * 1000LL,
     .desc = "How long a delivery id is remembered (across restarts): a push repeating one is "
             "answered 202 with the first delivery's id and not stored again. 0: no dedupe."},
    {.name = "dedupe_max_entries",
     .type = SL_PROP_INT,
     .offset = offsetof(struct webhook_cfg, dedupe_max_entries),
     .def = "1000000",
     .min = 1,
     .max = 100000000,
     .desc = "Delivery ids remembered at most for this hook; beyond it the oldest are "
             "forgotten first."},
    {.name = "spool",
     .type = SL_PROP_OBJECT,
     .offset = offsetof(struct webhook_cfg, spool),
     .sub = &sl_intake_table,
     .desc = "Shared intake: `to` names a kafka or redis source of this config that pushes are "
             "written to instead of the local spool, for several sluice processes behind a load "
             "balancer (docs/SCALE_OUT.md)."},
};

static const struct sl_prop_table webhook_table = {
    .name = "sources[] (type: http)",
    .desc = "A webhook: POST /hooks/{name} on the push listener.",
    .props = webhook_props,
    .nprops = SL_ARRAY_LEN(webhook_props),
    .struct_size = sizeof(struct webhook_cfg),
};

struct webhook {
    struct sl_source base;
    struct webhook_cfg cfg;
    struct ev_loop *loop;
    struct sl_spool *spool;
    struct sl_store *store;
    struct sl_http_router *router; /* where its route is (removed on destroy) */
    char route[160];
    size_t puts;              /* spool writes not yet confirmed: each holds h */
    bool destroyed;           /* freed when the last of them is confirmed */
    struct sl_push_reader rd; /* hands the spooled records to the mapping */
    struct sl_metric *m_accepted;
    struct sl_metric *m_rejected;
    struct sl_metric *m_duplicates;
    struct sl_push_pool pool; /* typed records (record.c) */
    struct sl_verifier verifier;
    struct sl_dedupe *dedupe; /* NULL: no dedupe */
    struct sl_intake *intake; /* spool.to: the shared intake (intake.h), or NULL */
    bool intake_closing;      /* its last answers: the store may be closed already */
};

struct webhook_put {
    struct webhook *h;
    struct sl_http_exchange *x;
    uint64_t seq;
    char id[SL_ID_LEN + 1];
    int64_t received_ms;
    size_t charge;
    char *attrs;
    void *body;
    size_t body_len;
    struct sl_dedupe_flight *flight; /* its delivery id, or NULL */
};

/* Credentials never reach events or DLQ entries, whatever keep_headers says. */
static const char *const never_keep[] = {"authorization", "proxy-authorization", NULL};

static bool header_kept(const void *arg, const char *name, size_t len)
{
    const struct webhook *h = arg;
    for (size_t i = 0; never_keep[i]; i++) {
        if (strlen(never_keep[i]) == len && strncasecmp(never_keep[i], name, len) == 0)
            return false;
    }
    if (h->cfg.keep_headers.n == 0) {
        for (size_t i = 0; default_keep[i]; i++) {
            if (strlen(default_keep[i]) == len && strncasecmp(default_keep[i], name, len) == 0)
                return true;
        }
        return false;
    }
    for (size_t i = 0; i < h->cfg.keep_headers.n; i++) {
        const char *k = h->cfg.keep_headers.v[i];
        if (strlen(k) == len && strncasecmp(k, name, len) == 0)
            return true;
    }
    return false;
}

char *sl_webhook_attrs(const struct sl_http_req *req,
                       bool (*kept)(const void *arg, const char *name, size_t len), const void *arg)
{
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "method", req->method);
    sl_jw_kstrn(&w, "path", req->path, req->path_len);
    sl_jw_kstrn(&w, "query", req->query, req->query_len);
    sl_jw_key(&w, "headers");
    sl_jw_obj_open(&w);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sl_http_header *hd = &req->headers[i];
        if (!kept(arg, hd->name, hd->name_len))
            continue;
        char name[128];
        size_t n = hd->name_len < sizeof(name) - 1 ? hd->name_len : sizeof(name) - 1;
        for (size_t k = 0; k < n; k++)
            name[k] = (char)tolower((unsigned char)hd->name[k]);
        name[n] = '\0';
        sl_jw_kstrn(&w, name, hd->value, hd->value_len);
    }
    sl_jw_obj_close(&w);
    /* The writer put U+FFFD for bytes of the path, query or a kept header that were not UTF-8
     * (so the batch stays valid JSON): the event says so, as the function sees altered text. */
    if (w.replaced > 0)
        sl_jw_kbool(&w, "invalidUtf8Replaced", true);
    sl_jw_obj_close(&w);
    return sl_buf_steal(&b, NULL);
}

static void webhook_emit(void *owner, struct sl_source *to, const struct sl_spool_row *row)
{
    struct webhook *h = owner;
    struct sl_record *r = sl_push_record_take(&h->pool, row->seq, row->id, row->received_ms,
                                              row->attrs, row->body, row->body_len);
    r->lane = 0;
    sl_source_emit(to, r);
}

/* 503 spool_unavailable with Retry-After, for a record the spool did not store: `code` says
 * why (SL_ESTORELOST: the store directory is gone until an operator acts; -ENOSPC: no space). */
static void respond_unavailable(struct sl_http_exchange *x, int code)
{
    sl_push_respond_unavailable(x, code);
}

static void webhook_free(struct webhook *h);

/* 202 {"id": ...} for a record id (SL_ID_LEN characters, or fewer). */
static void respond_id(struct sl_http_exchange *x, const char *id)
{
    char body[SL_ID_LEN + 16];
    size_t idlen = strnlen(id, SL_ID_LEN);
    char *d = SL_PUT_LIT(body, "{\"id\":\"");
    d = sl_put_mem(d, id, idlen);
    d = SL_PUT_LIT(d, "\"}");
    sl_http_respond_json(x, 202, body, (size_t)(d - body));
}

/* 202 {"id": ...}: the push is durable (spool commit, or the intake engine's acknowledgement). */
static void respond_accepted(struct webhook *h, struct sl_http_exchange *x, const char *id)
{
    if (!h->destroyed)
        sl_metric_inc(h->m_accepted);
    respond_id(x, id);
}

static void webhook_intake_put(struct webhook *h, struct webhook_put *p,
                               const struct sl_http_req *req);

static void webhook_put_done(int status, void *arg)
{
    struct webhook_put *p = arg;
    struct webhook *h = p->h;
    h->puts--;
    if (status == SL_DEDUPE_SEEN) {
        /* A copy stored before, which this hook did not see in flight: not stored again. */
        if (!h->destroyed)
            sl_metric_inc(h->m_duplicates);
        respond_id(p->x, sl_dedupe_flight_id(p->flight));
    } else if (status < 0) {
        sl_error(h->base.scope, "spool write failed: %s", sl_strerror(status));
        if (!h->destroyed)
            sl_metric_inc(h->m_rejected);
        respond_unavailable(p->x, status);
    } else {
        respond_accepted(h, p->x, p->id);
        /* A hook removed by a reload while the write was queued emits nothing: the row stays
         * in the spool for the hook of that name, when there is one again. */
        if (!h->destroyed)
            sl_push_reader_committed(&h->rd, &(struct sl_spool_row){
                                                 .seq = p->seq,
                                                 .id = p->id,
                                                 .received_ms = p->received_ms,
                                                 .attrs = p->attrs,
                                                 .body = p->body,
                                                 .body_len = p->body_len,
                                             });
    }
    if (p->flight)
        sl_dedupe_end(p->flight, status);
    free(p->attrs);
    free(p->body);
    free(p);
    if (h->destroyed && h->puts == 0)
        webhook_free(h);
}

static bool webhook_authorized(const struct webhook *h, const struct sl_http_req *req)
{
    return sl_push_bearer_ok(h->cfg.token, req);
}

static bool content_is_json(const struct sl_http_req *req)
{
    size_t len;
    const char *ct = sl_http_header_get(req, "content-type", &len);
    if (!ct)
        return false;
    const char *semi = memchr(ct, ';', len);
    size_t n = semi ? (size_t)(semi - ct) : len;
    while (n && isspace((unsigned char)ct[n - 1]))
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* A stopped hook (sluice draining, or its mapping restarting in a reload, which takes
 * milliseconds): the pusher may try again at once, here or at another instance. */
#define STOPPED_RETRY_AFTER "Retry-After: 1"

/* Runs when a request's headers are in, before its body is read: a pusher without the token, or
 * announcing a body over this hook's limit, is refused without the server buffering the body. */
static int webhook_headers(const struct sl_http_req *req, void *arg, struct sl_http_reject *rej)
{
    struct webhook *h = arg;
    if (h->rd.stopped) {
        rej->code = "shutting_down";
        rej->message = "sluice is shutting down";
        rej->header = STOPPED_RETRY_AFTER;
        return 503;
    }
    if (!webhook_authorized(h, req)) {
        sl_metric_inc(h->m_rejected);
        rej->code = "unauthorized";
        rej->message = "missing or wrong bearer token";
        rej->header = "WWW-Authenticate: Bearer";
        return 401;
    }
    if (!sl_verifier_headers_present(&h->verifier, req)) {
        sl_metric_inc(h->m_rejected);
        rej->code = sl_verify_reason(SL_VERIFY_MISSING);
        rej->message = sl_verify_message(SL_VERIFY_MISSING);
        return 401;
    }
    if (req->content_length > 0 && (uint64_t)req->content_length > h->cfg.max_body_bytes) {
        sl_metric_inc(h->m_rejected);
        rej->code = "payload_too_large";
        rej->message = "the body is larger than this hook's max_body_bytes";
        return 413;
    }
    return 0;
}

/* The header holding a delivery id: the configured one, else the verify type's. */
static const char *delivery_header(const struct webhook *h)
{
    if (h->cfg.dedupe_header)
        return h->cfg.dedupe_header;
    return h->cfg.verify.type == SL_VERIFY_GITHUB ? "x-github-delivery" : "webhook-id";
}

static void respond_long_id(struct webhook *h, struct sl_http_exchange *x)
{
    sl_metric_inc(h->m_rejected);
    sl_http_respond_error(x, 400, "delivery_id_too_long",
                          "the delivery id is longer than 256 bytes");
}

/* A redelivery: answered as its first delivery was (202 with that id, once it is stored), and
 * not stored again. */
static bool webhook_duplicate(struct webhook *h, struct sl_http_exchange *x, const char *key,
                              size_t key_len)
{
    struct sl_dedupe_flight *f = sl_dedupe_in_flight(h->dedupe, key, key_len);
    if (f) {
        sl_metric_inc(h->m_duplicates);
        sl_dedupe_wait(f, x);
        return true;
    }
    char first[SL_ID_LEN + 1];
    int found = sl_dedupe_find(h->dedupe, key, key_len, sl_now_ms(), first);
    if (found < 0) {
        /* Storing a push twice is better than losing one: it is treated as new. */
        sl_warn(h->base.scope, "cannot read the delivery ids: %s", sl_strerror(found));
        return false;
    }
    if (found == 0)
        return false;
    sl_metric_inc(h->m_duplicates);
    respond_id(x, first);
    return true;
}

/* Checks a JSON body is JSON, and finds the delivery id when this hook dedupes (from a header,
 * or the Stripe event's id in the body) into key (SL_DEDUPE_KEY_MAX bytes; *key_len 0: none).
 * -1 when x was answered (400). */
static int webhook_check_body(struct webhook *h, struct sl_http_exchange *x,
                              const struct sl_http_req *req, char *key, size_t *key_len)
{
    bool body_id = h->dedupe && !h->cfg.dedupe_header && h->cfg.verify.type == SL_VERIFY_STRIPE;
    size_t len = 0;
    if (h->dedupe && !body_id) {
        const char *v = sl_http_header_get(req, delivery_header(h), &len);
        if (v && len > SL_DEDUPE_KEY_MAX) {
            respond_long_id(h, x);
            return -1;
        }
        if (v)
            memcpy(key, v, len);
        else
            len = 0;
    }
    if (content_is_json(req)) {
        /* Checked without building a tree (jansson's would be one per push). */
        struct sl_json_check_err jerr;
        if (!sl_json_check(req->body, req->body_len, &jerr)) {
            char msg[160];
            snprintf(msg, sizeof(msg), "the body is not valid JSON: %s (at byte %zu)", jerr.what,
                     jerr.pos);
            sl_metric_inc(h->m_rejected);
            sl_http_respond_error(x, 400, "invalid_json", msg);
            return -1;
        }
    }
    if (body_id) {
        json_t *doc = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL);
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (id && strlen(id) > SL_DEDUPE_KEY_MAX) {
            json_decref(doc);
            respond_long_id(h, x);
            return -1;
        }
        if (id) {
            len = strlen(id);
            memcpy(key, id, len);
        }
        json_decref(doc);
    }
    *key_len = len;
    return 0;
}

static void webhook_handle(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct webhook *h = arg;
    if (h->rd.stopped) {
        static const char *const hdr[] = {STOPPED_RETRY_AFTER};
        static const char body[] =
            "{\"error\":\"shutting_down\",\"message\":\"sluice is shutting down\"}";
        sl_http_respond(x, 503, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (!webhook_authorized(h, req)) {
        static const char *const hdr[] = {"WWW-Authenticate: Bearer"};
        static const char body[] =
            "{\"error\":\"unauthorized\",\"message\":\"missing or wrong bearer token\"}";
        sl_metric_inc(h->m_rejected);
        sl_http_respond(x, 401, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (req->body_len > h->cfg.max_body_bytes) {
        sl_metric_inc(h->m_rejected);
        sl_http_respond_error(x, 413, "payload_too_large",
                              "the body is larger than this hook's max_body_bytes");
        return;
    }
    enum sl_verify_result vr = sl_verifier_check(&h->verifier, req, sl_now_ms() / 1000);
    if (vr != SL_VERIFY_OK) {
        sl_metric_inc(h->m_rejected);
        sl_debug(h->base.scope, "push from %s refused: %s", req->peer, sl_verify_reason(vr));
        sl_http_respond_error(x, 401, sl_verify_reason(vr), sl_verify_message(vr));
        return;
    }
    char key[SL_DEDUPE_KEY_MAX + 1];
    size_t key_len = 0;
    if (webhook_check_body(h, x, req, key, &key_len) < 0)
        return;
    if (key_len > 0 && webhook_duplicate(h, x, key, key_len))
        return;
    struct webhook_put *p = SL_NEW(struct webhook_put);
    p->h = h;
    p->x = x;
    sl_id_new(p->id);
    p->received_ms = sl_now_ms();
    p->attrs = sl_webhook_attrs(req, header_kept, h);
    p->body = sl_memdup(req->body_len ? req->body : "", req->body_len);
    p->body_len = req->body_len;
    if (key_len > 0)
        p->flight = sl_dedupe_begin(h->dedupe, key, key_len, p->id, p->received_ms);
    if (h->intake) {
        webhook_intake_put(h, p, req);
        return;
    }
    struct sl_spool_item it = {
        .source = h->base.name,
        .id = p->id,
        .received_ms = p->received_ms,
        .attrs = p->attrs,
        .body = p->body,
        .body_len = p->body_len,
        .also = p->flight ? sl_dedupe_record_job : NULL,
        .also_arg = p->flight,
    };
    int rc = sl_spool_put(h->spool, &it, &p->seq, webhook_put_done, p);
    if (rc >= 0)
        h->puts++;
    if (rc < 0) {
        sl_metric_inc(h->m_rejected);
        if (rc == SL_EFULL) {
            static const char *const hdr[] = {"Retry-After: 5"};
            static const char body[] =
                "{\"error\":\"spool_full\",\"message\":\"the spool is over its quota; retry "
                "later\"}";
            sl_http_respond(x, 503, "application/json", hdr, 1, body, sizeof(body) - 1);
        } else {
            /* A lost store was logged once, when it was noticed. */
            respond_unavailable(x, rc);
        }
        if (p->flight)
            sl_dedupe_end(p->flight, rc);
        free(p->attrs);
        free(p->body);
        free(p);
    }
}

/* ---- shared intake (spool.to, docs/SCALE_OUT.md) ---- */

static void webhook_put_free(struct webhook_put *p)
{
    struct webhook *h = p->h;
    free(p->attrs);
    free(p->body);
    free(p);
    if (h->destroyed && h->puts == 0)
        webhook_free(h);
}

/* The delivery id is recorded in the local store once the engine has the record. */
static int webhook_intake_record_job(struct sl_store_conn *c, void *arg)
{
    return sl_dedupe_record_job(c, ((struct webhook_put *)arg)->flight);
}

static void webhook_intake_recorded(int status, void *arg)
{
    struct webhook_put *p = arg;
    p->h->puts--;
    /* Waiters get 202 either way: the record is in the engine. */
    sl_dedupe_end(p->flight, status == SL_DEDUPE_SEEN ? SL_DEDUPE_SEEN : 0);
    webhook_put_free(p);
}

static void webhook_intake_done(int status, void *arg)
{
    struct webhook_put *p = arg;
    struct webhook *h = p->h;
    if (status < 0 && !h->destroyed)
        sl_metric_inc(h->m_rejected);
    if (status == -EMSGSIZE)
        sl_http_respond_error(p->x, 413, "payload_too_large",
                              "the push is larger than the intake's engine accepts (Kafka: "
                              "message.max.bytes)");
    else if (status < 0)
        sl_push_respond_put_error(p->x, status);
    else
        respond_accepted(h, p->x, p->id);
    if (p->flight && status == 0 && !h->intake_closing &&
        sl_store_submit(h->store, webhook_intake_record_job, webhook_intake_recorded, p) == 0)
        return; /* p->flight ends once recorded */
    h->puts--;
    if (p->flight)
        sl_dedupe_end(p->flight, status);
    webhook_put_free(p);
}

/* Writes p to the engine instead of the spool; p is the engine's until its answer. */
static void webhook_intake_put(struct webhook *h, struct webhook_put *p,
                               const struct sl_http_req *req)
{
    size_t ct_len = 0;
    const char *ct = sl_http_header_get(req, "content-type", &ct_len);
    struct sl_intake_item it = {
        .source = h->base.name,
        .id = p->id,
        .received_ms = p->received_ms,
        .attrs = p->attrs,
        .content_type = ct,
        .content_type_len = ct_len,
        .body = p->body,
        .body_len = p->body_len,
    };
    h->puts++;
    int rc = sl_intake_put(h->intake, &it, webhook_intake_done, p);
    if (rc < 0)
        webhook_intake_done(rc, p);
}

static void webhook_release_cfg(struct webhook *h)
{
    sl_verifier_release(&h->verifier);
    sl_props_release(&webhook_table, &h->cfg);
}

/* Checks what the property table cannot: the verify object's keys as a whole. */
static int webhook_check_cfg(struct webhook *h, const struct sl_config *cfg,
                             const struct sl_cfg_typed *sec, struct sl_err *err)
{
    struct sl_verify_err ve;
    if (sl_verifier_init(&h->verifier, &h->cfg.verify, &ve) < 0) {
        char key[128];
        snprintf(key, sizeof(key), "verify.%s", ve.key);
        sl_config_section_error(err, cfg, sec, key, "%s", ve.why);
        sl_config_err_line(cfg, err);
        return SL_ECONFIG;
    }
    const char *hd = h->cfg.dedupe_header;
    if (hd && (!*hd || strlen(hd) > 128 || strpbrk(hd, " \t:\r\n"))) {
        sl_config_section_error(err, cfg, sec, "dedupe_header",
                                "\"%s\" is not a header name (allowed: 1 to 128 token "
                                "characters)",
                                hd);
        sl_config_err_line(cfg, err);
        return SL_ECONFIG;
    }
    return 0;
}

/* Whether pushes to this hook carry a delivery id to dedupe on. */
static bool webhook_has_delivery_id(const struct webhook *h)
{
    int t = h->cfg.verify.type;
    return h->cfg.dedupe_header || t == SL_VERIFY_GITHUB || t == SL_VERIFY_STRIPE ||
           t == SL_VERIFY_STDWH;
}

static int webhook_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                          struct sl_source **out, struct sl_err *err)
{
    struct webhook *h = SL_NEW(struct webhook);
    int rc = sl_config_bind_typed(env->cfg, sec, &webhook_table, &h->cfg, err);
    if (rc < 0) {
        free(h);
        return rc;
    }
    rc = webhook_check_cfg(h, env->cfg, sec, err);
    if (rc < 0) {
        webhook_release_cfg(h);
        free(h);
        return rc;
    }
    sl_source_init(&h->base, &sl_source_http_ops, sec->name);
    /* sluice validate has no store: the intake is checked there, and opened only to serve. */
    struct sl_env ienv = *env;
    if (!env->store)
        ienv.loop = NULL;
    rc = sl_intake_create(&ienv, sec, &h->cfg.spool, h->base.scope, &h->intake, err);
    if (rc < 0) {
        sl_source_release(&h->base);
        webhook_release_cfg(h);
        free(h);
        return rc;
    }
    if (h->cfg.dedupe_window_ms > 0 && webhook_has_delivery_id(h))
        h->dedupe = sl_dedupe_create(env->loop, env->store, sec->name, h->cfg.dedupe_window_ms,
                                     h->cfg.dedupe_max_entries);
    sl_push_pool_init(&h->pool, &sl_webhook_record_ops, sec->name);
    h->loop = env->loop;
    h->spool = env->spool;
    h->store = env->store;
    sl_push_reader_init(&h->rd, &h->base, env->loop, env->spool, webhook_emit, h);
    snprintf(h->route, sizeof(h->route), "/hooks/%s", sec->name);
    h->router = env->push;
    if (env->push)
        sl_http_router_add_hooked(env->push, "POST", h->route, false, webhook_headers,
                                  webhook_handle, h);
    {
        struct sl_buf l;
        sl_buf_init(&l);
        sl_metrics_label(&l, "source", sec->name);
        h->m_accepted = sl_metrics_counter(env->metrics, "sluice_webhook_accepted_total",
                                           "Webhook requests stored and answered 202.", l.data);
        h->m_rejected = sl_metrics_counter(env->metrics, "sluice_webhook_rejected_total",
                                           "Webhook requests refused (4xx or 503).", l.data);
        h->m_duplicates = sl_metrics_counter(
            env->metrics, "sluice_webhook_duplicates_total",
            "Webhook redeliveries of a delivery id seen within dedupe_window: answered 202, "
            "not stored again.",
            l.data);
        sl_buf_release(&l);
    }
    *out = &h->base;
    return 0;
}

bool sl_webhook_has_auth(const struct sl_source *s)
{
    const struct webhook *h = (const struct webhook *)s;
    return (h->cfg.token && *h->cfg.token) || h->cfg.verify.type != SL_VERIFY_NONE;
}

bool sl_webhook_keeps_header(const struct sl_source *s, const char *name)
{
    return header_kept(s, name, strlen(name));
}

void sl_webhook_kept_headers(const struct sl_source *s, struct sl_buf *out)
{
    const struct webhook *h = (const struct webhook *)s;
    if (h->cfg.keep_headers.n == 0) {
        for (size_t i = 0; default_keep[i]; i++)
            sl_buf_printf(out, "%s%s", i ? ", " : "", default_keep[i]);
        sl_buf_puts(out, " (the default)");
        return;
    }
    for (size_t i = 0; i < h->cfg.keep_headers.n; i++)
        sl_buf_printf(out, "%s%s", i ? ", " : "", h->cfg.keep_headers.v[i]);
}

static void webhook_free(struct webhook *h)
{
    sl_dedupe_destroy(h->dedupe);
    webhook_release_cfg(h);
    sl_push_pool_release(&h->pool);
    sl_source_release(&h->base);
    free(h);
}

static void webhook_destroy(struct sl_source *s)
{
    if (!s)
        return;
    struct webhook *h = (struct webhook *)s;
    sl_push_reader_release(&h->rd);
    sl_http_router_remove(h->router, h);
    /* Its writes in flight are answered first (202 when acknowledged in time, else 503). */
    h->intake_closing = true;
    sl_intake_destroy(h->intake, sl_mono_ms() + 5000);
    h->intake = NULL;
    h->destroyed = true;
    if (h->puts == 0)
        webhook_free(h);
}

static void webhook_describe(struct sl_source *s, struct sl_jw *w)
{
    struct webhook *h = (struct webhook *)s;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", s->ops->type);
    sl_jw_kstr(w, "name", s->name);
    sl_jw_kstr(w, "path", h->route);
    sl_jw_kbool(w, "auth", h->cfg.token && *h->cfg.token);
    sl_jw_kstr(w, "verify", sl_verify_type_name(h->cfg.verify.type));
    sl_jw_kint(w, "dedupe_window_ms", h->dedupe ? h->cfg.dedupe_window_ms : 0);
    sl_jw_kbool(w, "paused", h->rd.paused);
    sl_jw_kint(w, "spooled", sl_spool_depth(h->spool, s->name));
    sl_jw_obj_close(w);
}

/* A hook with spool.to is read through the source it writes to: its own records never exist. */
static int webhook_check_mapping(struct sl_source *s, const struct sl_config *cfg,
                                 const struct sl_cfg_mapping *mc, int64_t function_timeout_ms,
                                 struct sl_err *err)
{
    (void)function_timeout_ms;
    const struct webhook *h = (const struct webhook *)s;
    return sl_intake_check_mapping(cfg, mc, s->name, h->cfg.spool.to, err);
}

const struct sl_source_ops sl_source_http_ops = {
    .type = "http",
    .props = &webhook_table,
    .create = webhook_create,
    .start = sl_push_source_start,
    .pause = sl_push_source_pause,
    .resume = sl_push_source_resume,
    .ack = sl_push_source_ack,
    .stop = sl_push_source_stop,
    .destroy = webhook_destroy,
    .describe = webhook_describe,
    .encode = sl_webhook_encode,
    .backlog = sl_push_source_backlog,
    .filter_view = sl_webhook_filter_view,
    .check_mapping = webhook_check_mapping,
    .fan_out = true,
};
