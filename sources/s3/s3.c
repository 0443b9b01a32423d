/* The object-store notification source: intake (auth, probes, limits, filters, one spool
 * commit per request), replay from the spool, lanes per object. The body is parsed by parse.c,
 * records are record.c's, events encode.c's. */
#include "sources/s3/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/push.h"
#include "sources/push_reader.h"
#include "sources/s3/s3_int.h"

struct s3_cfg {
    char *token;
    uint64_t max_body_bytes;
    int64_t max_records;
    char *prefix;
    char *suffix;
    int64_t lanes;
};

static const struct sl_prop s3_props[] = {
    {.name = "token",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct s3_cfg, token),
     .flags = SL_PROP_SECRET,
     .desc = "Bearer token the store must send (`Authorization: Bearer <token>`: MinIO's "
             "`auth_token`); unset: no check."},
    {.name = "max_body_bytes",
     .type = SL_PROP_SIZE,
     .offset = offsetof(struct s3_cfg, max_body_bytes),
     .def = "1MiB",
     .min = 1,
     .max = 64 * 1024 * 1024,
     .desc = "Largest notification body accepted (413 beyond it); also bounded by "
             "server.max_body_bytes."},
    {.name = "max_records",
     .type = SL_PROP_INT,
     .offset = offsetof(struct s3_cfg, max_records),
     .def = "1000",
     .min = 1,
     .max = 100000,
     .desc = "Most records one notification body may hold (413 beyond it)."},
    {.name = "prefix",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct s3_cfg, prefix),
     .desc = "Only objects whose key (decoded) starts with this are taken, as in an S3 "
             "notification configuration's filter; the others are answered and dropped."},
    {.name = "suffix",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct s3_cfg, suffix),
     .desc = "Only objects whose key (decoded) ends with this are taken."},
    {.name = "lanes",
     .type = SL_PROP_INT,
     .offset = offsetof(struct s3_cfg, lanes),
     .def = "16",
     .min = 1,
     .max = 1024,
     .desc = "Lanes the records are spread over by a hash of bucket and key: one object's "
             "events stay in one lane, in order; different objects' may run in parallel."},
};

static const struct sl_prop_table s3_table = {
    .name = "sources[] (type: s3)",
    .desc = "Object-store bucket notifications (MinIO, Ceph RGW): POST /s3/{name} on the push "
            "listener.",
    .props = s3_props,
    .nprops = SL_ARRAY_LEN(s3_props),
    .struct_size = sizeof(struct s3_cfg),
};

struct s3_source {
    struct sl_source base;
    struct s3_cfg cfg;
    struct ev_loop *loop;
    struct sl_spool *spool;
    struct sl_http_router *router;
    char route[160];
    size_t puts;              /* spool writes not yet confirmed: each holds s */
    bool destroyed;           /* freed when the last of them is confirmed */
    struct sl_push_reader rd; /* hands the spooled records to the mapping */
    uint64_t rng;
    struct sl_s3_batch parsed; /* reused for every request */
    struct sl_metric *m_records;
    struct sl_metric *m_rejected;
    struct sl_metric *m_filtered;
    struct sl_metric *m_probes;
    struct sl_push_pool pool;
};

/* One request's records on their way to the spool: items and their texts in one buffer. */
struct s3_put {
    struct s3_source *s;
    struct sl_http_exchange *x;
    uint64_t first_seq;
    int64_t received_ms;
    size_t n;
    struct sl_spool_item *items;
    struct sl_buf text;
};

static void s3_emit(void *owner, struct sl_source *to, const struct sl_spool_row *row)
{
    struct s3_source *s = owner;
    struct sl_record *r = sl_push_record_take(&s->pool, row->seq, row->id, row->received_ms,
                                              row->attrs, row->body, row->body_len);
    r->lane = sl_s3_lane(row->attrs, strlen(row->attrs), (uint32_t)s->cfg.lanes);
    sl_source_emit(to, r);
}

static void s3_free(struct s3_source *s);

static void put_free(struct s3_put *p)
{
    free(p->items);
    sl_buf_release(&p->text);
    free(p);
}

static void s3_put_done(int status, void *arg)
{
    struct s3_put *p = arg;
    struct s3_source *s = p->s;
    s->puts--;
    if (status < 0) {
        sl_error(s->base.scope, "spool write failed: %s", sl_strerror(status));
        if (!s->destroyed)
            sl_metric_inc(s->m_rejected);
        sl_push_respond_unavailable(p->x, status);
    } else {
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"accepted\":%zu}", p->n);
        if (!s->destroyed)
            sl_metric_add(s->m_records, p->n);
        sl_http_respond_json(p->x, 200, body, (size_t)n);
        /* A source removed by a reload while the write was queued emits nothing: the rows
         * stay in the spool for the source of that name, when there is one again. */
        for (size_t i = 0; i < p->n && !s->destroyed; i++) {
            const struct sl_spool_item *it = &p->items[i];
            sl_push_reader_committed(&s->rd, &(struct sl_spool_row){
                                                 .seq = p->first_seq + i,
                                                 .id = it->id,
                                                 .received_ms = p->received_ms,
                                                 .attrs = it->attrs,
                                                 .body = it->body,
                                                 .body_len = it->body_len,
                                             });
        }
    }
    put_free(p);
    if (s->destroyed && s->puts == 0)
        s3_free(s);
}

#define STOPPED_RETRY_AFTER "Retry-After: 1"

static int s3_headers(const struct sl_http_req *req, void *arg, struct sl_http_reject *rej)
{
    struct s3_source *s = arg;
    if (s->rd.stopped) {
        rej->code = "shutting_down";
        rej->message = "sluice is shutting down";
        rej->header = STOPPED_RETRY_AFTER;
        return 503;
    }
    if (!sl_push_bearer_ok(s->cfg.token, req)) {
        sl_metric_inc(s->m_rejected);
        rej->code = "unauthorized";
        rej->message = "missing or wrong bearer token";
        rej->header = "WWW-Authenticate: Bearer";
        return 401;
    }
    if (req->content_length > 0 && (uint64_t)req->content_length > s->cfg.max_body_bytes) {
        sl_metric_inc(s->m_rejected);
        rej->code = "payload_too_large";
        rej->message = "the body is larger than this source's max_body_bytes";
        return 413;
    }
    return 0;
}

static bool key_selected(const struct s3_source *s, const struct sl_s3_note *n)
{
    const char *pre = s->cfg.prefix, *suf = s->cfg.suffix;
    size_t pl = pre ? strlen(pre) : 0, sl = suf ? strlen(suf) : 0;
    if (pl && (n->key_len < pl || memcmp(n->key, pre, pl) != 0))
        return false;
    if (sl && (n->key_len < sl || memcmp(n->key + n->key_len - sl, suf, sl) != 0))
        return false;
    return true;
}

/* An answer that stores nothing (a probe, a body whose records the filters all left out). */
static void respond_none(struct sl_http_exchange *x, size_t filtered)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"accepted\":0,\"filtered\":%zu}", filtered);
    sl_http_respond_json(x, 200, body, (size_t)n);
}

static void s3_handle_post(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct s3_source *s = arg;
    if (s->rd.stopped) {
        static const char *const hdr[] = {STOPPED_RETRY_AFTER};
        static const char body[] =
            "{\"error\":\"shutting_down\",\"message\":\"sluice is shutting down\"}";
        sl_http_respond(x, 503, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (!sl_push_bearer_ok(s->cfg.token, req)) {
        static const char *const hdr[] = {"WWW-Authenticate: Bearer"};
        static const char body[] =
            "{\"error\":\"unauthorized\",\"message\":\"missing or wrong bearer token\"}";
        sl_metric_inc(s->m_rejected);
        sl_http_respond(x, 401, "application/json", hdr, 1, body, sizeof(body) - 1);
        return;
    }
    if (req->body_len > s->cfg.max_body_bytes) {
        sl_metric_inc(s->m_rejected);
        sl_http_respond_error(x, 413, "payload_too_large",
                              "the body is larger than this source's max_body_bytes");
        return;
    }
    char why[256];
    enum sl_s3_parse_result pr = sl_s3_parse(req->body, req->body_len, (size_t)s->cfg.max_records,
                                             sl_rng_next(&s->rng), &s->parsed, why, sizeof(why));
    if (pr == SL_S3_PARSE_PROBE) {
        sl_metric_inc(s->m_probes);
        respond_none(x, 0);
        return;
    }
    if (pr < 0) {
        sl_metric_inc(s->m_rejected);
        if (pr == SL_S3_PARSE_TOO_MANY)
            sl_http_respond_error(x, 413, "too_many_records", why);
        else
            sl_http_respond_error(x, 400, "invalid_notification", why);
        return;
    }
    struct s3_put *p = SL_NEW(struct s3_put);
    p->s = s;
    p->x = x;
    p->received_ms = sl_now_ms();
    sl_buf_init(&p->text);
    const struct sl_s3_batch *b = &s->parsed;
    /* Texts first (the buffer may move while it grows), then the items pointing into it. */
    size_t *offs = sl_malloc((b->n ? b->n : 1) * 3 * sizeof(*offs));
    size_t filtered = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_s3_note *n = &b->v[i];
        if (!key_selected(s, n)) {
            filtered++;
            continue;
        }
        size_t *o = &offs[p->n * 3];
        o[0] = p->text.len;
        sl_buf_append(&p->text, n->sequencer, n->sequencer_len);
        sl_buf_putc(&p->text, '\0');
        o[1] = p->text.len;
        sl_s3_write_note_attrs(&p->text, n);
        sl_buf_putc(&p->text, '\0');
        o[2] = p->text.len;
        sl_buf_append(&p->text, n->json, n->json_len);
        p->n++;
    }
    if (filtered)
        sl_metric_add(s->m_filtered, filtered);
    if (p->n == 0) {
        free(offs);
        put_free(p);
        respond_none(x, filtered);
        return;
    }
    p->items = sl_calloc(p->n, sizeof(*p->items));
    for (size_t i = 0; i < p->n; i++) {
        const size_t *o = &offs[i * 3];
        size_t end = i + 1 < p->n ? offs[(i + 1) * 3] : p->text.len;
        p->items[i] = (struct sl_spool_item){
            .source = s->base.name,
            .id = p->text.data + o[0],
            .received_ms = p->received_ms,
            .attrs = p->text.data + o[1],
            .body = p->text.data + o[2],
            .body_len = end - o[2],
        };
    }
    free(offs);
    int rc = sl_spool_put_many(s->spool, p->items, p->n, &p->first_seq, s3_put_done, p);
    if (rc < 0) {
        sl_metric_inc(s->m_rejected);
        sl_push_respond_put_error(x, rc);
        put_free(p);
        return;
    }
    s->puts++;
}

/* A store checks that its target answers when the target is configured (MinIO sends a HEAD):
 * any 2xx does; nothing is stored and no token is needed, as nothing is revealed. */
static void s3_handle_probe(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    (void)req;
    struct s3_source *s = arg;
    sl_metric_inc(s->m_probes);
    respond_none(x, 0);
}

static int s3_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                     struct sl_source **out, struct sl_err *err)
{
    struct s3_source *s = SL_NEW(struct s3_source);
    int rc = sl_config_bind_typed(env->cfg, sec, &s3_table, &s->cfg, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    sl_source_init(&s->base, &sl_source_s3_ops, sec->name);
    s->loop = env->loop;
    s->spool = env->spool;
    sl_push_pool_init(&s->pool, &sl_s3_record_ops, sec->name);
    sl_push_reader_init(&s->rd, &s->base, env->loop, env->spool, s3_emit, s);
    s->rng = sl_random_u64() | 1;
    sl_s3_batch_init(&s->parsed);
    snprintf(s->route, sizeof(s->route), "/s3/%s", sec->name);
    s->router = env->push;
    if (env->push) {
        sl_http_router_add_hooked(env->push, "POST", s->route, false, s3_headers, s3_handle_post,
                                  s);
        sl_http_router_add(env->push, "GET", s->route, false, s3_handle_probe, s);
    }
    struct sl_buf l;
    sl_buf_init(&l);
    sl_metrics_label(&l, "source", sec->name);
    s->m_records = sl_metrics_counter(env->metrics, "sluice_s3_records_total",
                                      "Object-store notification records stored.", l.data);
    s->m_rejected = sl_metrics_counter(env->metrics, "sluice_s3_rejected_total",
                                       "Notification requests refused (4xx or 503).", l.data);
    s->m_filtered =
        sl_metrics_counter(env->metrics, "sluice_s3_filtered_total",
                           "Notification records left out by the prefix/suffix filters.", l.data);
    s->m_probes =
        sl_metrics_counter(env->metrics, "sluice_s3_probes_total",
                           "Test events, empty bodies and GET/HEAD checks answered.", l.data);
    sl_buf_release(&l);
    *out = &s->base;
    return 0;
}

static void s3_free(struct s3_source *s)
{
    sl_props_release(&s3_table, &s->cfg);
    sl_push_pool_release(&s->pool);
    sl_s3_batch_release(&s->parsed);
    sl_source_release(&s->base);
    free(s);
}

static void s3_destroy(struct sl_source *base)
{
    if (!base)
        return;
    struct s3_source *s = (struct s3_source *)base;
    sl_push_reader_release(&s->rd);
    sl_http_router_remove(s->router, s);
    s->destroyed = true;
    if (s->puts == 0)
        s3_free(s);
}

static void s3_describe(struct sl_source *base, struct sl_jw *w)
{
    struct s3_source *s = (struct s3_source *)base;
    sl_jw_obj_open(w);
    sl_jw_kstr(w, "type", base->ops->type);
    sl_jw_kstr(w, "name", base->name);
    sl_jw_kstr(w, "path", s->route);
    sl_jw_kbool(w, "auth", s->cfg.token && *s->cfg.token);
    sl_jw_kbool(w, "paused", s->rd.paused);
    sl_jw_kint(w, "lanes", s->cfg.lanes);
    sl_jw_kint(w, "spooled", sl_spool_depth(s->spool, base->name));
    sl_jw_obj_close(w);
}

const struct sl_source_ops sl_source_s3_ops = {
    .type = "s3",
    .props = &s3_table,
    .create = s3_create,
    .start = sl_push_source_start,
    .pause = sl_push_source_pause,
    .resume = sl_push_source_resume,
    .ack = sl_push_source_ack,
    .stop = sl_push_source_stop,
    .destroy = s3_destroy,
    .describe = s3_describe,
    .encode = sl_s3_encode,
    .backlog = sl_push_source_backlog,
    .filter_view = sl_s3_filter_view,
    .fan_out = true,
};
