/* Shared intake of push sources: the `spool` keys, the checks against the source they name,
 * what a record is written as, and what both engines share (docs/SCALE_OUT.md). */
#include "sources/intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/kafka/kafka_int.h"
#include "sources/redis/redis_int.h"

static const struct sl_prop intake_props[] = {
    {.name = "to",
     .type = SL_PROP_STRING,
     .offset = offsetof(struct sl_intake_cfg, to),
     .desc = "Name of a `kafka` source (one topic) or `redis` source (one stream) of this config: "
             "each accepted push is written there, and answered 202 only once the engine "
             "acknowledged the write, instead of being stored in the local spool. Map that "
             "source, not this one (docs/SCALE_OUT.md)."},
    {.name = "max_inflight",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_intake_cfg, max_inflight),
     .def = "10000",
     .min = 1,
     .max = 1000000,
     .desc = "Writes not yet acknowledged by the engine at most; a push beyond it (or beyond the "
             "Kafka producer's queue) is answered 503 spool_full with Retry-After."},
    {.name = "maxlen",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_intake_cfg, maxlen),
     .def = "0",
     .min = 0,
     .max = INT64_MAX,
     .desc = "Redis: approximate cap on the stream's length (XADD MAXLEN ~); 0: none. Beyond it "
             "Redis trims the OLDEST entries, read or not."},
    {.name = "wait_replicas",
     .type = SL_PROP_INT,
     .offset = offsetof(struct sl_intake_cfg, wait_replicas),
     .def = "0",
     .min = 0,
     .max = 100,
     .desc = "Redis: after each XADD, WAIT for this many replicas to acknowledge it "
             "(https://redis.io/commands/wait/); fewer within `wait_timeout`: 503. 0: no WAIT."},
    {.name = "wait_timeout",
     .type = SL_PROP_DURATION,
     .offset = offsetof(struct sl_intake_cfg, wait_timeout_ms),
     .def = "1s",
     .min = 1,
     .max = 60000,
     .desc = "Redis: how long WAIT waits for `wait_replicas`."},
};

const struct sl_prop_table sl_intake_table = {
    .name = "sources[].spool (type: http)",
    .desc = "Shared intake: write pushes to a Kafka topic or a Redis stream instead of the local "
            "spool (docs/SCALE_OUT.md).",
    .props = intake_props,
    .nprops = SL_ARRAY_LEN(intake_props),
    .struct_size = sizeof(struct sl_intake_cfg),
};

static int spool_error(struct sl_err *err, const struct sl_config *cfg,
                       const struct sl_cfg_typed *sec, const char *key, const char *msg,
                       const char *to)
{
    sl_config_section_error(err, cfg, sec, key, "\"%s\": %s", to, msg);
    sl_config_err_line(cfg, err);
    return SL_ECONFIG;
}

/* Binds the kafka section quietly (its own errors are reported where it is built) and checks
 * what a spool needs: one topic, no regex, and `earliest` (a group that starts at `latest`
 * skips what was written before it first joined, which was answered 202). */
static int check_kafka(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                       const struct sl_cfg_typed *to, struct sl_err *err)
{
    struct sl_config quiet = *cfg;
    quiet.diags = NULL;
    struct sl_kafka_cfg k;
    memset(&k, 0, sizeof(k));
    struct sl_err e;
    sl_err_clear(&e);
    if (sl_config_bind_typed(&quiet, to, &sl_kafka_source_table, &k, &e) < 0)
        return 0; /* reported with the kafka source itself */
    const char *why = NULL;
    if (k.topic_regex || k.topics.n != 1)
        why = "a kafka source written to by a push source must have exactly one `topics` entry "
              "and no `topic_regex`";
    else if (k.starting_position != SL_KAFKA_START_EARLIEST)
        why = "a kafka source written to by a push source must have `starting_position: "
              "earliest` (else pushes answered 202 before its group first joined are never "
              "read)";
    sl_props_release(&sl_kafka_source_table, &k);
    return why ? spool_error(err, cfg, sec, "spool.to", why, to->name) : 0;
}

static int check_redis(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                       const struct sl_cfg_typed *to, struct sl_err *err)
{
    struct sl_config quiet = *cfg;
    quiet.diags = NULL;
    struct sl_redis_cfg r;
    memset(&r, 0, sizeof(r));
    struct sl_err e;
    sl_err_clear(&e);
    int64_t start_ms = 0;
    if (sl_redis_cfg_bind(&quiet, to, &r, &start_ms, &e) < 0)
        return 0; /* reported with the redis source itself */
    const char *why = NULL;
    if (r.streams.n != 1)
        why = "a redis source written to by a push source must have exactly one `streams` entry";
    else if (r.starting_position != SL_REDIS_START_EARLIEST)
        why = "a redis source written to by a push source must have `starting_position: "
              "earliest` (else pushes answered 202 before its group was created are never read)";
    sl_redis_cfg_release(&r);
    return why ? spool_error(err, cfg, sec, "spool.to", why, to->name) : 0;
}

int sl_intake_check(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                    const struct sl_intake_cfg *c, struct sl_err *err)
{
    if (!c->to)
        return 0;
    const struct sl_cfg_typed *to = sl_config_find(&cfg->sources, c->to);
    if (!to || !to->type)
        return spool_error(err, cfg, sec, "spool.to",
                           "no such source (allowed: the name of a `kafka` or `redis` source of "
                           "this config)",
                           c->to);
    if (strcmp(to->type, "kafka") == 0)
        return check_kafka(cfg, sec, to, err);
    if (strcmp(to->type, "redis") == 0)
        return check_redis(cfg, sec, to, err);
    return spool_error(err, cfg, sec, "spool.to",
                       "is not a `kafka` or `redis` source (allowed: the name of one)", c->to);
}

int sl_intake_check_mapping(const struct sl_config *cfg, const struct sl_cfg_mapping *mc,
                            const char *source, const char *to, struct sl_err *err)
{
    if (!to)
        return 0;
    sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
               "%s: %s.source: \"%s\" writes its pushes to source \"%s\" (its spool.to), "
               "so nothing reads them here: map source \"%s\" instead",
               cfg->file ? cfg->file : "config", mc->path, source, to, to);
    sl_config_err_line(cfg, err);
    return SL_ECONFIG;
}

int sl_intake_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                     const struct sl_intake_cfg *c, const char *scope, struct sl_intake **out,
                     struct sl_err *err)
{
    *out = NULL;
    int rc = sl_intake_check(env->cfg, sec, c, err);
    if (rc < 0 || !c->to || !env->loop)
        return rc;
    const struct sl_cfg_typed *to = sl_config_find(&env->cfg->sources, c->to);
    rc = strcmp(to->type, "kafka") == 0 ? sl_intake_kafka_create(env, sec->name, to, c, out, err)
                                        : sl_intake_redis_create(env, sec->name, to, c, out, err);
    if (rc == 0) {
        snprintf((*out)->scope, sizeof((*out)->scope), "%s", scope);
        sl_info(scope, "pushes are written to %s %s \"%s\" (source %s)", (*out)->type,
                strcmp((*out)->type, "kafka") == 0 ? "topic" : "stream", (*out)->target, c->to);
    }
    return rc;
}

int sl_intake_put(struct sl_intake *in, const struct sl_intake_item *it, sl_intake_done_cb cb,
                  void *arg)
{
    if (in->inflight >= in->max_inflight)
        return SL_EFULL;
    return in->ops->put(in, it, cb, arg);
}

void sl_intake_destroy(struct sl_intake *in, int64_t deadline_ms)
{
    if (in)
        in->ops->destroy(in, deadline_ms);
}

/* n decimal digits of v, zero-padded. */
static char *put_digits(char *o, int v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + n;
}

/* "2019-11-14T00:38:06.021Z" without a printf-family call (once per push). */
static void fmt_received(int64_t ms, char *out)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char *o = put_digits(out, tm.tm_year + 1900, 4);
    *o++ = '-';
    o = put_digits(o, tm.tm_mon + 1, 2);
    *o++ = '-';
    o = put_digits(o, tm.tm_mday, 2);
    *o++ = 'T';
    o = put_digits(o, tm.tm_hour, 2);
    *o++ = ':';
    o = put_digits(o, tm.tm_min, 2);
    *o++ = ':';
    o = put_digits(o, tm.tm_sec, 2);
    *o++ = '.';
    o = put_digits(o, (int)(ms % 1000), 3);
    *o++ = 'Z';
    *o = '\0';
}

size_t sl_intake_fields(const struct sl_intake_item *it, char *time_buf,
                        const char *names[SL_INTAKE_MAX_FIELDS],
                        const char *vals[SL_INTAKE_MAX_FIELDS], size_t lens[SL_INTAKE_MAX_FIELDS])
{
    size_t n = 0;
#define FIELD(nm, v, l) (names[n] = (nm), vals[n] = (v), lens[n] = (l), n++)
    fmt_received(it->received_ms, time_buf);
    FIELD(SL_INTAKE_F_ID, it->id, strlen(it->id));
    FIELD(SL_INTAKE_F_SOURCE, it->source, strlen(it->source));
    FIELD(SL_INTAKE_F_RECEIVED, time_buf, strlen(time_buf));
    FIELD(SL_INTAKE_F_ATTRS, it->attrs ? it->attrs : "{}", it->attrs ? strlen(it->attrs) : 2);
    if (it->content_type)
        FIELD(SL_INTAKE_F_CTYPE, it->content_type, it->content_type_len);
#undef FIELD
    return n;
}

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5};

static double read_inflight(void *arg)
{
    return (double)((const struct sl_intake *)arg)->inflight;
}

void sl_intake_base_init(struct sl_intake *in, const struct sl_intake_engine_ops *ops,
                         const char *type, const char *target, const struct sl_env *env,
                         const char *source, const struct sl_intake_cfg *c)
{
    in->ops = ops;
    in->type = type;
    in->target = sl_strdup(target);
    in->max_inflight = (size_t)c->max_inflight;
    struct sl_buf l;
    sl_buf_init(&l);
    sl_metrics_label(&l, "source", source);
    sl_metrics_label(&l, "engine", type);
    in->m_writes =
        sl_metrics_counter(env->metrics, "sluice_intake_writes_total",
                           "Pushes written to the shared intake and acknowledged.", l.data);
    in->m_failures = sl_metrics_counter(env->metrics, "sluice_intake_failures_total",
                                        "Pushes the shared intake refused or did not acknowledge "
                                        "(answered 503).",
                                        l.data);
    in->m_latency = sl_metrics_histogram(env->metrics, "sluice_intake_write_seconds",
                                         "Time from a push's write to its acknowledgement.", l.data,
                                         latency_bounds, SL_ARRAY_LEN(latency_bounds));
    sl_metrics_gauge_fn(env->metrics, "sluice_intake_inflight",
                        "Pushes written to the shared intake and not yet acknowledged.", l.data,
                        read_inflight, in);
    in->metrics = env->metrics;
    sl_buf_release(&l);
}

void sl_intake_base_release(struct sl_intake *in)
{
    if (in->metrics)
        sl_metrics_forget(in->metrics, in);
    free(in->target);
}

void sl_intake_count(struct sl_intake *in, int status, int64_t start_mono_ms)
{
    if (status == 0) {
        sl_metric_inc(in->m_writes);
        sl_metric_observe(in->m_latency, (double)(sl_mono_ms() - start_mono_ms) / 1000.0);
    } else {
        sl_metric_inc(in->m_failures);
    }
}
