/* The Kafka engine of the shared intake: one idempotent producer (enable.idempotence=true,
 * acks=all, https://kafka.apache.org/documentation/#producerconfigs_enable.idempotence) per
 * push source, built from the connection settings of the kafka source it writes to. Its main
 * queue is watched through librdkafka's io-event pipe, so delivery reports (which answer the
 * pushers) are served on the loop, as the Kafka DLQ sink does (docs/KAFKA.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/intake.h"
#include "sources/kafka/kafka_int.h"

#define KI_TICK_S        0.2     /* serves the queue even if an io event was missed */
#define KI_MSG_TIMEOUT   "10000" /* a push waits this long at most for its acknowledgement */
#define KI_DESTROY_FLUSH 5000    /* destroy waits this long at most for writes in flight */

struct kintake {
    struct sl_intake base;
    struct ev_loop *loop;
    rd_kafka_t *prod;
    rd_kafka_queue_t *q;
    int fds[2];
    ev_io io;
    ev_timer tick;
    bool closing; /* delivery reports fire SL_ECLOSED */
    bool failing; /* the last delivery report was a failure */
};

struct kjob {
    sl_intake_done_cb cb;
    void *arg;
    int64_t start_ms;
};

/* Properties the intake sets itself: a user's value would weaken the acknowledgement. */
static const struct sl_kafka_reserved reserved[] = {
    {"bootstrap.servers", "bootstrap_servers"},
    {"metadata.broker.list", "bootstrap_servers"},
    {"enable.idempotence", NULL},
    {"acks", NULL},
    {"request.required.acks", NULL},
};

static void ki_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct kintake *k = rd_kafka_opaque(rk);
    sl_log(sl_kafka_log_level(level), k ? k->base.scope : "source:intake", "librdkafka %s: %s", fac,
           buf);
}

static void ki_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kintake *k = opaque;
    sl_warn(k->base.scope, "intake producer: %s: %s", rd_kafka_err2name(err), reason);
}

static void ki_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kjob *j = m->_private;
    struct kintake *k = opaque;
    k->base.inflight--;
    int status = k->closing ? SL_ECLOSED : m->err ? -EIO : 0;
    /* Logged when deliveries start or stop failing, not once per push. */
    if (m->err && !k->closing && !k->failing)
        sl_warn(k->base.scope, "pushes not acknowledged by Kafka: %s (answered 503)",
                rd_kafka_err2str(m->err));
    else if (!m->err && k->failing)
        sl_info(k->base.scope, "pushes acknowledged by Kafka again");
    if (!k->closing)
        k->failing = m->err != 0;
    if (!k->closing)
        sl_intake_count(&k->base, status, j->start_ms);
    j->cb(status, j->arg);
    free(j);
}

static void ki_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct kintake *k = w->data;
    char buf[256];
    while (read(k->fds[0], buf, sizeof(buf)) > 0) {
    }
    rd_kafka_poll(k->prod, 0);
}

/* The io event is written only when the queue goes from empty to not empty: while writes are
 * in flight the queue is also served at a steady tick. */
static void ki_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kintake *k = w->data;
    if (k->base.inflight > 0)
        rd_kafka_poll(k->prod, 0);
}

static int ki_put(struct sl_intake *in, const struct sl_intake_item *it, sl_intake_done_cb cb,
                  void *arg)
{
    struct kintake *k = (struct kintake *)in;
    if (k->closing)
        return SL_ECLOSED;
    char t[32];
    const char *names[SL_INTAKE_MAX_FIELDS], *vals[SL_INTAKE_MAX_FIELDS];
    size_t lens[SL_INTAKE_MAX_FIELDS];
    size_t n = sl_intake_fields(it, t, names, vals, lens);
    rd_kafka_headers_t *h = rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(h, names[i], -1, vals[i], (ssize_t)lens[i]);
    struct kjob *j = SL_NEW(struct kjob);
    j->cb = cb;
    j->arg = arg;
    j->start_ms = sl_mono_ms();
    /* No key: the default partitioner spreads pushes over the partitions, which the
     * processes of the consumer group share. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        k->prod, RD_KAFKA_V_TOPIC(k->base.target), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)(it->body ? it->body : ""), it->body_len), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h); /* not taken on failure */
        free(j);
        sl_intake_count(&k->base, -EIO, 0);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return SL_EFULL;
        sl_warn(k->base.scope, "cannot produce a push: %s", rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? -EMSGSIZE : -EIO;
    }
    k->base.inflight++;
    return 0;
}

static void ki_destroy(struct sl_intake *in, int64_t deadline_ms)
{
    struct kintake *k = (struct kintake *)in;
    if (k->loop) {
        ev_io_stop(k->loop, &k->io);
        ev_timer_stop(k->loop, &k->tick);
    }
    if (k->prod) {
        /* Writes in flight may still be acknowledged: their pushers get 202 as usual. */
        int64_t left = deadline_ms - sl_mono_ms();
        if (left > KI_DESTROY_FLUSH)
            left = KI_DESTROY_FLUSH;
        if (k->base.inflight > 0 && left > 0)
            rd_kafka_flush(k->prod, (int)left);
        /* The rest is purged: their pushers get 503 from the poll below (the write may have
         * reached Kafka: the pusher retries, and the record is then there twice). */
        k->closing = true;
        rd_kafka_purge(k->prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->prod, 0);
        rd_kafka_queue_io_event_enable(k->q, -1, NULL, 0);
        rd_kafka_queue_destroy(k->q);
        rd_kafka_destroy(k->prod);
    }
    for (int i = 0; i < 2; i++) {
        if (k->fds[i] >= 0)
            close(k->fds[i]);
    }
    sl_intake_base_release(&k->base);
    free(k);
}

static const struct sl_intake_engine_ops kintake_ops = {
    .put = ki_put,
    .destroy = ki_destroy,
};

static int ki_conf(const struct sl_kafka_cfg *c, const char *file, const char *path,
                   rd_kafka_conf_t **out, struct sl_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const keys[][2] = {
        {"message.timeout.ms", KI_MSG_TIMEOUT}, {"linger.ms", "1"}, {"log.queue", "true"}};
    static const char *const forced[][2] = {{"enable.idempotence", "true"}, {"acks", "all"}};
    int rc = sl_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap_servers, file, path, err);
    for (size_t i = 0; rc >= 0 && i < SL_ARRAY_LEN(keys); i++)
        rc = sl_kafka_conf_set(conf, keys[i][0], keys[i][1], file, path, err);
    if (rc >= 0)
        rc = sl_kafka_conf_apply(conf, c->rdkafka.keys, c->rdkafka.vals, c->rdkafka.n, reserved,
                                 SL_ARRAY_LEN(reserved),
                                 "push sources write to it with an idempotent producer, "
                                 "acks=all",
                                 file, path, err);
    for (size_t i = 0; rc >= 0 && i < SL_ARRAY_LEN(forced); i++)
        rc = sl_kafka_conf_set(conf, forced[i][0], forced[i][1], file, path, err);
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    *out = conf;
    return 0;
}

int sl_intake_kafka_create(const struct sl_env *env, const char *source,
                           const struct sl_cfg_typed *to, const struct sl_intake_cfg *c,
                           struct sl_intake **out, struct sl_err *err)
{
    const struct sl_config *cfg = env->cfg;
    struct sl_kafka_cfg kc;
    memset(&kc, 0, sizeof(kc));
    struct sl_config quiet = *cfg;
    quiet.diags = NULL;
    int rc = sl_config_bind_typed(&quiet, to, &sl_kafka_source_table, &kc, err);
    if (rc < 0)
        return rc;
    sl_kafka_conf_paths(cfg, &kc.rdkafka);
    const char *file = cfg->file ? cfg->file : "config";
    rd_kafka_conf_t *conf = NULL;
    rc = ki_conf(&kc, file, to->path, &conf, err);
    if (rc < 0) {
        sl_props_release(&sl_kafka_source_table, &kc);
        return rc;
    }
    struct kintake *k = SL_NEW(struct kintake);
    k->fds[0] = k->fds[1] = -1;
    sl_intake_base_init(&k->base, &kintake_ops, "kafka", kc.topics.v[0], env, source, c);
    sl_props_release(&sl_kafka_source_table, &kc);
    snprintf(k->base.scope, sizeof(k->base.scope), "source:intake:%s", to->name);
    k->loop = env->loop;
    char errstr[512];
    if (pipe2(k->fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        rd_kafka_conf_destroy(conf);
        rc = sl_err_set(err, SL_ERR_FATAL, -errno, "%s: pipe: %s", to->path, strerror(errno));
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, ki_dr_cb);
    rd_kafka_conf_set_log_cb(conf, ki_log_cb);
    rd_kafka_conf_set_error_cb(conf, ki_error_cb);
    k->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!k->prod) {
        rd_kafka_conf_destroy(conf);
        rc = sl_err_set(err, SL_ERR_PERMANENT, -EINVAL,
                        "%s: %s: cannot create the intake producer: %s", file, to->path, errstr);
        goto fail;
    }
    rd_kafka_set_log_queue(k->prod, NULL);
    k->q = rd_kafka_queue_get_main(k->prod);
    rd_kafka_queue_io_event_enable(k->q, k->fds[1], "1", 1);
    ev_io_init(&k->io, ki_io_cb, k->fds[0], EV_READ);
    k->io.data = k;
    ev_io_start(k->loop, &k->io);
    ev_timer_init(&k->tick, ki_tick_cb, KI_TICK_S, KI_TICK_S);
    k->tick.data = k;
    ev_timer_start(k->loop, &k->tick);
    *out = &k->base;
    return 0;
fail:
    k->loop = NULL;
    ki_destroy(&k->base, 0);
    return rc;
}
