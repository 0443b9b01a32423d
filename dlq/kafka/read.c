/* Reading the kafka DLQ back (list) and removing entries (commits of the sink's group).
 *
 * list() blocks: it reads the topic from the group's committed offsets up to the high
 * watermarks with a consumer of its own (made on the loop by open), within list_timeout. In a
 * running sluice it runs on the admin worker thread; what it learns (parts) is swapped in under
 * parts_mu, which the loop's remove() takes too. Removal markers (messages with a "sluice-removes"
 * header) hide the entries they name. After a list, remove() commits the group's offset over the
 * prefix of each partition that holds only removed entries and markers, so those are never read
 * again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "dlq/kafka/kafka_int.h"

struct commit_job {
    struct sl_dlq_kafka *q;
    sl_dlq_done_cb cb;
    void *arg;
};

static void rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sl_dlq_kafka *q = w->data;
    char buf[256];
    while (read(q->rfds[0], buf, sizeof(buf)) > 0) {
    }
    rd_kafka_poll(q->reader, 0);
}

static void reader_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct sl_dlq_kafka *q = rd_kafka_opaque(rk);
    if (level <= 4)
        sl_log(level <= 3 ? SL_LOG_ERROR : SL_LOG_WARN, q->base.scope, "librdkafka %s: %s", fac,
               buf);
}

int sl_kdlq_reader(struct sl_dlq_kafka *q, struct sl_err *err)
{
    char errstr[512];
    if (q->reader)
        return 0;
    rd_kafka_conf_set_opaque(q->cconf, q);
    rd_kafka_conf_set_log_cb(q->cconf, reader_log_cb);
    q->reader = rd_kafka_new(RD_KAFKA_CONSUMER, q->cconf, errstr, sizeof(errstr));
    if (!q->reader)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: cannot create the reader: %s",
                          q->base.scope, errstr);
    q->cconf = NULL;
    rd_kafka_set_log_queue(q->reader, NULL);
    q->rq = rd_kafka_queue_get_main(q->reader);
    if (q->loop && pipe2(q->rfds, O_NONBLOCK | O_CLOEXEC) == 0) {
        rd_kafka_queue_io_event_enable(q->rq, q->rfds[1], "1", 1);
        ev_io_init(&q->rio, rio_cb, q->rfds[0], EV_READ);
        q->rio.data = q;
        ev_io_start(q->loop, &q->rio);
    }
    return 0;
}

static void parts_free(struct sl_kdlq_part *parts, size_t n)
{
    for (size_t i = 0; parts && i < n; i++)
        free(parts[i].slots);
    free(parts);
}

void sl_kdlq_parts_release(struct sl_dlq_kafka *q)
{
    pthread_mutex_lock(&q->parts_mu);
    parts_free(q->parts, q->nparts);
    q->parts = NULL;
    q->nparts = 0;
    pthread_mutex_unlock(&q->parts_mu);
}

int sl_kdlq_locate(struct sl_dlq_kafka *q, const char *id, int32_t *partition, int64_t *offset)
{
    if (sl_kdlq_parse_id(id, partition, offset) == 0)
        return 0;
    int rc = SL_ENOTFOUND;
    pthread_mutex_lock(&q->parts_mu);
    for (size_t i = 0; i < q->nparts && rc; i++) {
        const struct sl_kdlq_part *p = &q->parts[i];
        for (size_t k = 0; k < p->nslots; k++) {
            if (!p->slots[k].done && strcmp(p->slots[k].id, id) == 0) {
                *partition = p->partition;
                *offset = p->slots[k].offset;
                rc = 0;
                break;
            }
        }
    }
    pthread_mutex_unlock(&q->parts_mu);
    return rc;
}

/* ---- removal commits ---- */

static void commit_done_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct commit_job *j = opaque;
    int status = 0;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        status = -EIO;
    for (int i = 0; offsets && i < offsets->cnt; i++)
        if (offsets->elems[i].err)
            status = -EIO;
    if (status)
        sl_warn(j->q->base.scope,
                "commit of removed entries failed: %s (they stay hidden by their "
                "removal markers)",
                rd_kafka_err2str(err ? err : offsets->elems[0].err));
    /* The entry is removed either way: its marker is stored. */
    if (j->cb && !j->q->destroying)
        j->cb(0, j->arg);
    free(j);
}

void sl_kdlq_commit_removed(struct sl_dlq_kafka *q, int32_t partition, int64_t offset,
                            sl_dlq_done_cb cb, void *arg)
{
    struct sl_kdlq_part *p = NULL;
    pthread_mutex_lock(&q->parts_mu);
    for (size_t i = 0; i < q->nparts; i++)
        if (q->parts[i].partition == partition)
            p = &q->parts[i];
    int64_t pos = -1;
    if (p) {
        for (size_t i = 0; i < p->nslots; i++)
            if (p->slots[i].offset == offset)
                p->slots[i].done = true;
        for (size_t i = 0; i < p->nslots && p->slots[i].done; i++)
            pos = p->slots[i].offset + 1;
    }
    bool commit = p && pos > p->committed && pos > p->sent && q->reader && q->rq;
    if (commit)
        p->sent = pos;
    pthread_mutex_unlock(&q->parts_mu);
    if (!commit) {
        if (cb)
            cb(0, arg);
        return;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, q->cfg.topic, partition)->offset = pos;
    struct commit_job *j = SL_NEW(struct commit_job);
    j->q = q;
    j->cb = cb;
    j->arg = arg;
    rd_kafka_resp_err_t e = rd_kafka_commit_queue(q->reader, l, q->rq, commit_done_cb, j);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        sl_warn(q->base.scope, "cannot commit removed entries: %s", rd_kafka_err2str(e));
        free(j);
        if (cb)
            cb(0, arg);
    }
}

/* ---- listing ---- */

struct listed {
    int32_t partition;
    int64_t offset;
    char *doc;
    size_t len;
    int64_t created_ms;
    struct sl_dlq_entry e;
    size_t slot; /* its slot in its partition */
    bool parsed;
};

struct reading {
    struct sl_kdlq_part *parts;
    size_t nparts;
    struct listed *items;
    size_t nitems, cap;
    struct {
        int32_t p;
        int64_t o;
    } * removed;
    size_t nremoved, cap_removed;
};

static struct sl_kdlq_part *part_of(struct reading *rd, int32_t partition)
{
    for (size_t i = 0; i < rd->nparts; i++)
        if (rd->parts[i].partition == partition)
            return &rd->parts[i];
    return NULL;
}

static size_t slot_add(struct sl_kdlq_part *p, int64_t offset, bool done)
{
    p->slots = sl_realloc(p->slots, (p->nslots + 1) * sizeof(*p->slots));
    p->slots[p->nslots].offset = offset;
    p->slots[p->nslots].done = done;
    p->slots[p->nslots].id[0] = '\0';
    return p->nslots++;
}

static void take_message(struct reading *rd, struct sl_kdlq_part *p, rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    if (h && rd_kafka_header_get_last(h, SL_KDLQ_H_REMOVES, &val, &size) == 0 && val) {
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)(size < 63 ? size : 63), (const char *)val);
        int32_t pp;
        int64_t oo;
        if (sl_kdlq_parse_id(id, &pp, &oo) == 0) {
            if (rd->nremoved == rd->cap_removed) {
                rd->cap_removed = rd->cap_removed ? rd->cap_removed * 2 : 16;
                rd->removed = sl_realloc(rd->removed, rd->cap_removed * sizeof(*rd->removed));
            }
            rd->removed[rd->nremoved].p = pp;
            rd->removed[rd->nremoved].o = oo;
            rd->nremoved++;
        }
        slot_add(p, m->offset, true);
        return;
    }
    if (!h || rd_kafka_header_get_last(h, SL_KDLQ_H_ENTRY, &val, &size) != 0 || !val) {
        slot_add(p, m->offset, true); /* not a sluice entry */
        return;
    }
    if (rd->nitems == rd->cap) {
        rd->cap = rd->cap ? rd->cap * 2 : 64;
        rd->items = sl_realloc(rd->items, rd->cap * sizeof(*rd->items));
    }
    struct listed *it = &rd->items[rd->nitems++];
    memset(it, 0, sizeof(*it));
    it->partition = m->partition;
    it->offset = m->offset;
    it->doc = sl_memdup(val, size);
    it->len = size;
    it->slot = slot_add(p, m->offset, false);
}

static int cmp_listed(const void *a, const void *b)
{
    const struct listed *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void reading_release(struct reading *rd)
{
    for (size_t i = 0; i < rd->nitems; i++) {
        free(rd->items[i].doc);
        sl_dlq_entry_release(&rd->items[i].e);
    }
    free(rd->items);
    free(rd->removed);
    parts_free(rd->parts, rd->nparts);
}

/* "<created_ms>.<partition>.<offset>": list's order. */
static int parse_pos(const char *pos, int64_t *created, int32_t *partition, int64_t *offset)
{
    long long c, o;
    int p, n = 0;
    if (sscanf(pos, "%lld.%d.%lld%n", &c, &p, &o, &n) != 3 || pos[n] || p < 0 || o < 0)
        return -EINVAL;
    *created = c;
    *partition = p;
    *offset = o;
    return 0;
}

/* Milliseconds left before deadline, at least 1 (librdkafka reads -1 as "forever"). */
static int left_ms(int64_t deadline)
{
    int64_t left = deadline - sl_mono_ms();
    return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Reads the topic into rd; returns 0 or an error (err set). */
static int read_topic(struct sl_dlq_kafka *q, struct reading *rd, struct sl_err *err)
{
    int64_t deadline = sl_mono_ms() + q->cfg.list_timeout_ms;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(q->reader, q->cfg.topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(q->reader, 0, rkt, &md, left_ms(deadline));
    rd_kafka_topic_destroy(rkt);
    if (e)
        return sl_err_set(err, SL_ERR_TRANSIENT, -EIO, "%s: cannot read the topic's metadata: %s",
                          q->base.scope, rd_kafka_err2str(e));
    if (md->topic_cnt != 1 || md->topics[0].err) {
        rd_kafka_resp_err_t te = md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_metadata_destroy(md);
        if (te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return 0; /* no topic yet: no entries */
        return sl_err_set(err, SL_ERR_TRANSIENT, -EIO, "%s: topic %s: %s", q->base.scope,
                          q->cfg.topic, rd_kafka_err2str(te));
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(l, q->cfg.topic, md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    rd->parts = sl_calloc((size_t)(np > 0 ? np : 1), sizeof(*rd->parts));
    rd->nparts = (size_t)np;
    int rc = 0;
    e = rd_kafka_committed(q->reader, l, left_ms(deadline));
    if (e) {
        rc = sl_err_set(err, SL_ERR_TRANSIENT, -EIO, "%s: cannot read committed offsets: %s",
                        q->base.scope, rd_kafka_err2str(e));
        goto out;
    }
    int pending = 0;
    for (int i = 0; i < l->cnt; i++) {
        struct sl_kdlq_part *p = &rd->parts[i];
        int64_t lo, hi;
        p->partition = l->elems[i].partition;
        p->committed = l->elems[i].offset >= 0 ? l->elems[i].offset : -1;
        p->sent = -1;
        e = rd_kafka_query_watermark_offsets(q->reader, q->cfg.topic, p->partition, &lo, &hi,
                                             left_ms(deadline));
        if (e) {
            rc = sl_err_set(err, SL_ERR_TRANSIENT, -EIO, "%s: cannot read watermarks: %s",
                            q->base.scope, rd_kafka_err2str(e));
            goto out;
        }
        p->high = hi;
        int64_t start = p->committed >= 0 ? p->committed : lo;
        l->elems[i].offset = start < hi ? start : RD_KAFKA_OFFSET_END;
        pending += start < hi;
    }
    rd_kafka_assign(q->reader, l);
    while (pending > 0 && sl_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(q->reader, 100);
        if (!m)
            continue;
        struct sl_kdlq_part *p = part_of(rd, m->partition);
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sl_warn(q->base.scope, "reading: %s", rd_kafka_message_errstr(m));
        } else if (p && p->high >= 0 && m->offset < p->high) {
            take_message(rd, p, m);
            if (m->offset + 1 >= p->high) {
                p->high = -p->high - 1; /* done: remember it negated */
                pending--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(q->reader, NULL);
    for (size_t i = 0; i < rd->nparts; i++)
        if (rd->parts[i].high < 0)
            rd->parts[i].high = -rd->parts[i].high - 1;
    if (pending > 0)
        rc = sl_err_set(err, SL_ERR_TRANSIENT, -ETIMEDOUT,
                        "%s: reading topic %s timed out (list_timeout %lld ms)", q->base.scope,
                        q->cfg.topic, (long long)q->cfg.list_timeout_ms);
out:
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int sl_kdlq_list(struct sl_dlq_kafka *q, const struct sl_dlq_filter *f, sl_dlq_each_cb cb,
                 void *arg, struct sl_err *err)
{
    struct sl_dlq_filter none = {0};
    if (!f)
        f = &none;
    int32_t want_p = -1, after_p = -1;
    int64_t want_o = -1, after_c = INT64_MIN, after_o = -1;
    if (f->id && sl_kdlq_parse_id(f->id, &want_p, &want_o) < 0)
        want_p = -1; /* not a place: an entry's or a record's id */
    if (f->after && parse_pos(f->after, &after_c, &after_p, &after_o) < 0)
        return sl_err_set(err, SL_ERR_PERMANENT, -EINVAL, "%s: not a position of this sink: %.64s",
                          q->base.scope, f->after);
    int rc = sl_kdlq_reader(q, err);
    if (rc < 0)
        return rc;
    struct reading rd = {0};
    rc = read_topic(q, &rd, err);
    if (rc < 0) {
        reading_release(&rd);
        return rc;
    }
    /* Hide removed entries. */
    for (size_t r = 0; r < rd.nremoved; r++) {
        struct sl_kdlq_part *p = part_of(&rd, rd.removed[r].p);
        for (size_t i = 0; p && i < p->nslots; i++)
            if (p->slots[i].offset == rd.removed[r].o)
                p->slots[i].done = true;
    }
    for (size_t i = 0; i < rd.nitems; i++) {
        struct listed *it = &rd.items[i];
        struct sl_kdlq_part *p = part_of(&rd, it->partition);
        bool removed = p && p->slots[it->slot].done;
        struct sl_err perr;
        if (removed || sl_dlq_entry_from_json(it->doc, it->len, &it->e, &perr) < 0) {
            if (!removed)
                sl_warn(q->base.scope, "skipping unreadable entry %d:%lld: %s", (int)it->partition,
                        (long long)it->offset, perr.msg);
            it->created_ms = INT64_MAX;
            continue;
        }
        it->parsed = true;
        it->created_ms = it->e.created_ms;
        /* The entry keeps the id it was written with (logged then, and the requestId of a
         * lambda value); remove() finds its place through the slot. */
        if (p)
            memcpy(p->slots[it->slot].id, it->e.id, sizeof(it->e.id));
    }
    if (rd.nitems > 1)
        qsort(rd.items, rd.nitems, sizeof(*rd.items), cmp_listed);
    /* Keep what was read: remove() commits over it. */
    pthread_mutex_lock(&q->parts_mu);
    parts_free(q->parts, q->nparts);
    q->parts = rd.parts;
    q->nparts = rd.nparts;
    pthread_mutex_unlock(&q->parts_mu);
    rd.parts = NULL;
    size_t n = 0;
    for (size_t i = 0; i < rd.nitems; i++) {
        struct listed *it = &rd.items[i];
        if (!it->parsed)
            continue;
        if (f->mapping && strcmp(f->mapping, it->e.mapping) != 0)
            continue;
        if (f->since_ms && it->e.created_ms < f->since_ms)
            continue;
        if (f->id && (it->partition != want_p || it->offset != want_o) &&
            !sl_dlq_entry_has_id(&it->e, f->id))
            continue;
        struct listed cursor = {.created_ms = after_c, .partition = after_p, .offset = after_o};
        if (f->after && cmp_listed(it, &cursor) <= 0)
            continue;
        if (f->limit && n >= f->limit)
            break;
        n++;
        char pos[SL_DLQ_POS_MAX];
        snprintf(pos, sizeof(pos), "%lld.%d.%lld", (long long)it->created_ms, (int)it->partition,
                 (long long)it->offset);
        if (cb(&it->e, pos, arg))
            break;
    }
    reading_release(&rd);
    return 0;
}
