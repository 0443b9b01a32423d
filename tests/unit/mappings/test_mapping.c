/* The mapping engine against a scripted in-memory source, target and DLQ sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "mappings/mapping.h"
#include "mappings/mapping_int.h"

#define MAX_REC   8192
#define MAX_CALLS 16384
#define FLOOD     5000 /* records of the flood tests: deep enough to show any recursion */

/* The stack frames the mocks were called at, lowest and highest: a flat scheduler calls them at
 * about the same depth however many batches finish synchronously. */
static uintptr_t stack_lo, stack_hi;

static void stack_reset(void)
{
    stack_lo = UINTPTR_MAX;
    stack_hi = 0;
}

static void stack_note(uintptr_t fp)
{
    if (fp < stack_lo)
        stack_lo = fp;
    if (fp > stack_hi)
        stack_hi = fp;
}

/* No recursion: the batch-cutting loop never nested, and the mocks ran at one depth (64 KiB
 * leaves room for the different callbacks the loop enters the engine from; the recursion this
 * guards against went one frame chain deeper per batch, megabytes for FLOOD records). */
static void assert_flat(const struct sl_mapping *m)
{
    assert_int_equal(m->pump_depth_max, 1);
    assert_true(stack_hi >= stack_lo);
    assert_true(stack_hi - stack_lo < 64 * 1024);
}

/* ---- source ---- */
struct msrc {
    struct sl_source base;
    int acked[MAX_REC];
    size_t nacked;
    int ack_order[MAX_REC];
    bool paused;
    int pauses, resumes;
    bool defer_stop; /* keep the stop callback for the test to fire */
    sl_source_stopped_cb stopped_cb;
    void *stopped_arg;
};

static void msrc_ack(struct sl_source *s, const struct sl_record *r)
{
    struct msrc *m = (struct msrc *)s;
    m->acked[r->seq]++;
    m->ack_order[m->nacked++] = (int)r->seq;
}

static void msrc_pause(struct sl_source *s)
{
    ((struct msrc *)s)->paused = true;
    ((struct msrc *)s)->pauses++;
}

static void msrc_resume(struct sl_source *s)
{
    ((struct msrc *)s)->paused = false;
    ((struct msrc *)s)->resumes++;
}

static int msrc_start(struct sl_source *s, struct sl_err *err)
{
    return 0;
}

static void msrc_stop(struct sl_source *s, sl_source_stopped_cb cb, void *arg)
{
    struct msrc *m = (struct msrc *)s;
    if (m->defer_stop) {
        m->stopped_cb = cb;
        m->stopped_arg = arg;
        return;
    }
    if (cb)
        cb(s, arg);
}

static void msrc_describe(struct sl_source *s, struct sl_jw *w)
{
    sl_jw_obj_open(w);
    sl_jw_obj_close(w);
}

/* Payload: the ids as a JSON array, so the target can see what it got. */
static void msrc_encode(const char *name, struct sl_record *const *rs, size_t n, int format,
                        struct sl_buf *out)
{
    sl_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(out, "%s%s", i ? "," : "", sl_record_text(rs[i])->id);
    sl_buf_putc(out, ']');
}

static const struct sl_source_ops msrc_ops = {
    .type = "mock",
    .start = msrc_start,
    .pause = msrc_pause,
    .resume = msrc_resume,
    .ack = msrc_ack,
    .stop = msrc_stop,
    .describe = msrc_describe,
    .encode = msrc_encode,
};

/* ---- target ---- */
typedef void (*verdict_fn)(const int *ids, size_t n, struct sl_outcome *o, json_t **failures);

struct mtgt {
    struct sl_target base;
    struct ev_loop *loop;
    verdict_fn verdict;
    int calls;
    size_t sizes[MAX_CALLS];
    int first_id[MAX_CALLS];
    size_t inflight;
    size_t max_inflight; /* high-water mark of inflight */
    int refuse_left;     /* invokes to refuse at once (invoke returns an error) */
    int refused;
};

struct mcall {
    ev_timer t;
    struct mtgt *tg;
    struct sl_outcome o;
    json_t *failures;
    sl_invoke_cb cb;
    void *arg;
};

static void mcall_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mcall *c = (struct mcall *)w;
    c->tg->inflight--;
    c->o.failures = c->failures;
    c->cb(&c->o, c->arg);
    json_decref(c->failures);
    free(c);
}

static int mtgt_invoke(struct sl_target *t, const struct sl_invoke *inv, sl_invoke_cb cb, void *arg)
{
    struct mtgt *tg = (struct mtgt *)t;
    stack_note((uintptr_t)__builtin_frame_address(0));
    if (tg->refuse_left > 0) {
        tg->refuse_left--;
        tg->refused++;
        return SL_ECLOSED;
    }
    int ids[MAX_REC];
    size_t n = 0;
    json_t *arr = json_loadb(inv->payload, inv->len, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) ids[n++] = (int)json_integer_value(v);
    json_decref(arr);
    struct mcall *c = SL_NEW(struct mcall);
    c->tg = tg;
    c->cb = cb;
    c->arg = arg;
    c->o.retry_after_ms = -1;
    c->o.kind = SL_OUTCOME_OK;
    c->o.status = 200;
    if (tg->calls < MAX_CALLS) {
        tg->sizes[tg->calls] = n;
        tg->first_id[tg->calls] = n ? ids[0] : -1;
    }
    tg->calls++;
    tg->verdict(ids, n, &c->o, &c->failures);
    tg->inflight++;
    if (tg->inflight > tg->max_inflight)
        tg->max_inflight = tg->inflight;
    ev_timer_init(&c->t, mcall_fire, 0.001, 0.);
    ev_timer_start(tg->loop, &c->t);
    return 0;
}

static const struct sl_target_ops mtgt_ops = {.type = "mock", .invoke = mtgt_invoke};

/* ---- dlq ---- */
struct mdlq {
    struct sl_dlq base;
    struct ev_loop *loop;
    int fail_next; /* puts to fail before succeeding */
    bool sync;     /* confirm inside put() (as a sink writing synchronously may) */
    int puts;
    int stored[MAX_REC];
    char conditions[MAX_REC][40];
    uint32_t counted[MAX_REC], uncounted[MAX_REC];
    char flags[MAX_REC][24]; /* per attempt kept: 'c' counted, 'u' not */
    size_t nstored;
};

struct mput {
    ev_timer t;
    struct mdlq *d;
    int status;
    sl_dlq_done_cb cb;
    void *arg;
};

static void mput_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mput *p = (struct mput *)w;
    p->cb(p->status, p->arg);
    free(p);
}

static int mdlq_put(struct sl_dlq *d, const struct sl_dlq_entry *e, sl_dlq_done_cb cb, void *arg)
{
    struct mdlq *m = (struct mdlq *)d;
    stack_note((uintptr_t)__builtin_frame_address(0));
    struct mput *p = SL_NEW(struct mput);
    m->puts++;
    p->d = m;
    p->cb = cb;
    p->arg = arg;
    if (m->fail_next > 0) {
        m->fail_next--;
        p->status = SL_ESTORE;
    } else {
        m->stored[m->nstored] = atoi(e->record_id);
        snprintf(m->conditions[m->nstored], 40, "%s", e->condition);
        assert_true(e->counts_known);
        m->counted[m->nstored] = e->counted_attempts;
        m->uncounted[m->nstored] = e->uncounted_attempts;
        for (size_t i = 0; i < e->nattempts && i < 23; i++)
            m->flags[m->nstored][i] = e->attempts[i].counted == SL_DLQ_COUNTED_YES  ? 'c'
                                      : e->attempts[i].counted == SL_DLQ_COUNTED_NO ? 'u'
                                                                                    : '?';
        m->nstored++;
    }
    if (m->sync) {
        int status = p->status;
        free(p);
        cb(status, arg);
        return 0;
    }
    ev_timer_init(&p->t, mput_fire, 0.001, 0.);
    ev_timer_start(m->loop, &p->t);
    return 0;
}

static const struct sl_dlq_ops mdlq_ops = {.type = "mock", .put = mdlq_put};

/* ---- fixture ---- */
struct fx {
    struct ev_loop *loop;
    struct sl_metrics *metrics;
    struct sl_cfg_mapping cfg;
    struct msrc src;
    struct mtgt tgt;
    struct mdlq dlq;
    struct sl_mapping *m;
    int emitted;
    enum sl_log_level log_threshold; /* restored by fx_release */
};

static void fx_init(struct fx *f, verdict_fn verdict)
{
    memset(f, 0, sizeof(*f));
    f->log_threshold = sl_log_threshold;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->metrics = sl_metrics_create();
    f->cfg.name = "m";
    f->cfg.enabled = true;
    f->cfg.batch.size = 4;
    f->cfg.batch.window_ms = 0;
    f->cfg.batch.max_bytes = 1 << 20;
    f->cfg.max_concurrency = 1;
    f->cfg.max_inflight_records = 1000;
    f->cfg.max_inflight_bytes = 1 << 30;
    f->cfg.retry.max_attempts = 3;
    f->cfg.retry.backoff.min_ms = 1;
    f->cfg.retry.backoff.max_ms = 2;
    f->cfg.retry.backoff.multiplier = 2;
    f->src.base.ops = &msrc_ops;
    f->src.base.name = "src";
    f->tgt.base.ops = &mtgt_ops;
    f->tgt.base.name = "fn";
    f->tgt.loop = f->loop;
    f->tgt.verdict = verdict;
    f->dlq.base.ops = &mdlq_ops;
    f->dlq.base.name = "dlq";
    f->dlq.loop = f->loop;
}

static void fx_start(struct fx *f)
{
    struct sl_mapping_env env = {.loop = f->loop, .metrics = f->metrics};
    assert_int_equal(
        sl_mapping_create(&env, &f->cfg, &f->src.base, &f->tgt.base, &f->dlq.base, &f->m, NULL), 0);
    assert_int_equal(sl_mapping_start(f->m, NULL), 0);
}

static void fx_emit(struct fx *f, int n)
{
    for (int i = 0; i < n; i++) {
        char id[16];
        int seq = f->emitted++;
        snprintf(id, sizeof(id), "%d", seq);
        struct sl_record *r = sl_record_new(id, NULL, NULL, "x", 1);
        r->seq = (uint64_t)seq;
        r->time_ms = 1;
        sl_source_emit(&f->src.base, r);
    }
}

struct fx_wait {
    ev_prepare check;
    ev_timer deadline;
    struct fx *f;
    bool (*cond)(struct fx *f);
    bool expired;
};

/* Runs last before the loop would block (lowest priority: after the mapping's own hook has
 * started what it could), so a condition met in this iteration ends the wait at once. */
static void wait_check_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct fx_wait *wt = w->data;
    if (wt->cond(wt->f))
        ev_break(loop, EVBREAK_ONE);
}

static void wait_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ((struct fx_wait *)w->data)->expired = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until cond(f) holds or timeout_ms pass, so a stuck engine fails the test
 * instead of hanging it. Returns whether cond holds. */
static bool fx_run_until(struct fx *f, bool (*cond)(struct fx *f), int timeout_ms)
{
    struct fx_wait wt = {.f = f, .cond = cond};
    ev_prepare_init(&wt.check, wait_check_cb);
    ev_set_priority(&wt.check, EV_MINPRI);
    wt.check.data = &wt;
    ev_timer_init(&wt.deadline, wait_deadline_cb, (double)timeout_ms / 1000.0, 0.);
    wt.deadline.data = &wt;
    ev_prepare_start(f->loop, &wt.check);
    ev_timer_start(f->loop, &wt.deadline);
    while (!cond(f) && !wt.expired)
        ev_run(f->loop, 0);
    ev_prepare_stop(f->loop, &wt.check);
    ev_timer_stop(f->loop, &wt.deadline);
    return cond(f);
}

static bool fx_settled(struct fx *f)
{
    return sl_mapping_inflight(f->m) == 0;
}

/* Runs the loop until every record is handled (bounded). */
static void fx_settle(struct fx *f)
{
    fx_run_until(f, fx_settled, 30000);
    assert_int_equal(sl_mapping_inflight(f->m), 0);
}

static void fx_release(struct fx *f)
{
    sl_log_threshold = f->log_threshold;
    sl_mapping_destroy(f->m);
    sl_metrics_destroy(f->metrics);
    ev_loop_destroy(f->loop);
}

/* Every record acked exactly once; the DLQ holds exactly `dead`. */
/* A series' value as /metrics renders it (-1 when absent). */
static double metric_of(struct fx *f, const char *series)
{
    struct sl_buf out;
    sl_buf_init(&out);
    sl_metrics_render(f->metrics, &out);
    char key[256];
    snprintf(key, sizeof(key), "\n%s ", series);
    const char *p = strstr(out.data, key);
    double v = p ? strtod(p + strlen(key), NULL) : -1;
    sl_buf_release(&out);
    return v;
}

static void assert_accounting(struct fx *f, const int *dead, size_t ndead)
{
    for (int i = 0; i < f->emitted; i++)
        assert_int_equal(f->src.acked[i], 1);
    assert_int_equal(f->dlq.nstored, ndead);
    for (size_t i = 0; i < ndead; i++)
        assert_int_equal(f->dlq.stored[i], dead[i]);
}

static void verdict_ok(const int *ids, size_t n, struct sl_outcome *o, json_t **f) {}

static void verdict_always_500(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    o->kind = SL_OUTCOME_RETRY;
    o->status = 500;
    o->reached_function = true;
    snprintf(o->error, sizeof(o->error), "HTTP 500");
}

static void verdict_poison_7(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == 7) {
            verdict_always_500(ids, n, o, f);
            o->function_error = true;
        }
    }
}

static void verdict_partial_odd(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (ids[i] % 2) {
            char id[16];
            snprintf(id, sizeof(id), "%d", ids[i]);
            json_array_append_new(arr, json_string(id));
        }
    }
    if (json_array_size(arr)) {
        o->kind = SL_OUTCOME_PARTIAL;
        *f = arr;
    } else {
        json_decref(arr);
    }
}

static void verdict_terminal(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    o->kind = SL_OUTCOME_FAIL;
    o->status = 400;
    o->reached_function = true;
}

static int refused_left;

static void verdict_refused_then_ok(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    if (refused_left > 0) {
        refused_left--;
        o->kind = SL_OUTCOME_RETRY;
        o->status = 0;
        o->reached_function = false;
        snprintf(o->error, sizeof(o->error), "connection refused");
    }
}

static void test_record_age_exceeded_goes_to_dlq_uninvoked(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.retry.max_record_age_ms = 60000; /* fx_emit stamps records at 1970 */
    fx_start(&f);
    fx_emit(&f, 3);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 0);
    int dead[] = {0, 1, 2};
    assert_accounting(&f, dead, 3);
    assert_string_equal(f.dlq.conditions[0], SL_COND_AGE_EXCEEDED);
    fx_release(&f);
}

static void test_unreached_failures_do_not_use_attempts(void **state)
{
    struct fx f;
    fx_init(&f, verdict_refused_then_ok);
    refused_left = 5;
    f.cfg.retry.max_attempts = 2;
    fx_start(&f);
    fx_emit(&f, 2);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 6);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static void verdict_refused_then_500(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    if (refused_left > 0)
        verdict_refused_then_ok(ids, n, o, f);
    else
        verdict_always_500(ids, n, o, f);
}

/* Today's complaint: "ATTEMPTS 4" with max_attempts 2. The entry now says 2 counted, 2 not. */
static void test_entry_keeps_uncounted_attempts_apart(void **state)
{
    struct fx f;
    fx_init(&f, verdict_refused_then_500);
    refused_left = 2;
    f.cfg.retry.max_attempts = 2;
    fx_start(&f);
    fx_emit(&f, 1);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 4);
    int dead[] = {0};
    assert_accounting(&f, dead, 1);
    assert_int_equal(f.dlq.counted[0], 2);
    assert_int_equal(f.dlq.uncounted[0], 2);
    assert_string_equal(f.dlq.flags[0], "uucc");
    fx_release(&f);
}

static void test_lanes_share_one_concurrency_slot(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.batch.size = 2;
    fx_start(&f);
    /* Two lanes, one invocation at a time: the second lane must not stall. */
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        struct sl_record *r = sl_record_new(id, NULL, NULL, "x", 1);
        r->seq = (uint64_t)i;
        r->lane = (uint32_t)(i % 2);
        r->time_ms = 1;
        f.emitted++;
        sl_source_emit(&f.src.base, r);
    }
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 4);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static void test_batches_by_size_in_order(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    fx_start(&f);
    fx_emit(&f, 10);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 3);
    assert_int_equal(f.tgt.sizes[0], 4);
    assert_int_equal(f.tgt.sizes[1], 4);
    assert_int_equal(f.tgt.sizes[2], 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(f.src.ack_order[i], i);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

/* Records a source marks as a group (sl_record.group: a database transaction) are not split
 * over two batches when the group fits in one; a group bigger than a batch is split as usual. */
static void test_groups_kept_in_one_batch(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    fx_start(&f); /* batch size 4 */
    const int groups[] = {3, 3, 6, 1};
    int seq = 0;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        for (int i = 0; i < groups[g]; i++) {
            char id[16];
            snprintf(id, sizeof(id), "%d", seq);
            struct sl_record *r = sl_record_new(id, NULL, NULL, "x", 1);
            r->seq = (uint64_t)seq++;
            r->time_ms = 1;
            r->group = i == 0 ? (uint32_t)groups[g] : 0;
            f.emitted++;
            sl_source_emit(&f.src.base, r);
        }
    }
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 4);
    assert_int_equal(f.tgt.sizes[0], 3);
    assert_int_equal(f.tgt.sizes[1], 3);
    assert_int_equal(f.tgt.sizes[2], 4); /* the group of 6 is bigger than a batch */
    assert_int_equal(f.tgt.sizes[3], 3);
    for (int i = 0; i < seq; i++)
        assert_int_equal(f.src.ack_order[i], i);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static void test_retries_exhaust_into_dlq(void **state)
{
    struct fx f;
    fx_init(&f, verdict_always_500);
    f.cfg.batch.size = 2;
    fx_start(&f);
    fx_emit(&f, 2);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 3); /* max_attempts */
    int dead[] = {0, 1};
    assert_accounting(&f, dead, 2);
    assert_string_equal(f.dlq.conditions[0], SL_COND_RETRIES_EXHAUSTED);
    fx_release(&f);
}

static void test_bisect_isolates_poison(void **state)
{
    struct fx f;
    fx_init(&f, verdict_poison_7);
    f.cfg.batch.size = 8;
    f.cfg.retry.bisect_on_error = true;
    fx_start(&f);
    fx_emit(&f, 8);
    fx_settle(&f);
    int dead[] = {7};
    assert_accounting(&f, dead, 1);
    /* 8 -> 4+4 -> 2+2 -> 1+1, then the poison alone is retried to max_attempts. */
    assert_int_equal(f.tgt.sizes[0], 8);
    assert_int_equal(f.tgt.calls, 1 + 2 + 2 + 2 + 2);
    /* The three bisect rounds it failed in did not count toward max_attempts (3): its entry
     * keeps them apart, and so do the metrics. */
    assert_int_equal(f.dlq.counted[0], 3);
    assert_int_equal(f.dlq.uncounted[0], 3);
    assert_string_equal(f.dlq.flags[0], "uuuccc");
    assert_true(metric_of(&f, "sluice_failed_attempts_total{mapping=\"m\",counted=\"true\"}") == 3);
    /* 8 + 4 + 2 records in the failed bisect rounds. */
    assert_true(metric_of(&f, "sluice_failed_attempts_total{mapping=\"m\",counted=\"false\"}") ==
                14);
    /* Order kept: acks of the good records ascend. */
    for (size_t i = 1; i + 1 < f.src.nacked; i++) {
        if (f.src.ack_order[i] != 7 && f.src.ack_order[i - 1] != 7)
            assert_true(f.src.ack_order[i] > f.src.ack_order[i - 1]);
    }
    fx_release(&f);
}

static void test_partial_ordered_retries_from_first_failure(void **state)
{
    struct fx f;
    fx_init(&f, verdict_partial_odd);
    f.cfg.batch.size = 4;
    f.cfg.retry.report_batch_item_failures = true;
    fx_start(&f);
    fx_emit(&f, 4);
    fx_settle(&f);
    /* First call [0,1,2,3]: 1 and 3 fail -> 0 acked, retry [1,2,3] ... */
    assert_int_equal(f.tgt.first_id[0], 0);
    assert_int_equal(f.tgt.first_id[1], 1);
    assert_int_equal(f.tgt.sizes[1], 3);
    int dead[] = {1, 3};
    assert_int_equal(f.dlq.nstored, 2);
    assert_accounting(&f, dead, 2);
    fx_release(&f);
}

static void test_partial_unordered_retries_only_failed(void **state)
{
    struct fx f;
    fx_init(&f, verdict_partial_odd);
    f.cfg.ordering = SL_CFG_ORDER_NONE;
    f.cfg.retry.report_batch_item_failures = true;
    fx_start(&f);
    fx_emit(&f, 4);
    fx_settle(&f);
    assert_int_equal(f.tgt.sizes[1], 2); /* [1,3] */
    int dead[] = {1, 3};
    assert_accounting(&f, dead, 2);
    fx_release(&f);
}

static void test_terminal_goes_to_dlq_at_once(void **state)
{
    struct fx f;
    fx_init(&f, verdict_terminal);
    fx_start(&f);
    fx_emit(&f, 3);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 1);
    int dead[] = {0, 1, 2};
    assert_accounting(&f, dead, 3);
    assert_string_equal(f.dlq.conditions[0], SL_COND_TERMINAL);
    fx_release(&f);
}

static void test_dlq_write_failure_blocks_then_retries(void **state)
{
    struct fx f;
    fx_init(&f, verdict_terminal);
    f.cfg.batch.size = 1;
    f.dlq.fail_next = 3;
    fx_start(&f);
    fx_emit(&f, 2);
    fx_settle(&f);
    int dead[] = {0, 1};
    assert_accounting(&f, dead, 2);
    assert_int_equal(f.dlq.puts, 5);
    /* Record 1 was not invoked before record 0's DLQ write succeeded (the lane blocked). */
    assert_int_equal(f.tgt.calls, 2);
    assert_int_equal(f.src.ack_order[0], 0);
    fx_release(&f);
}

static bool fx_dlq_failed_once(struct fx *f)
{
    return f->dlq.puts >= 1;
}

/* Shutting down while a DLQ write waits to retry: the write is dropped with its timer (the
 * sanitizer build reports a leak otherwise) and the record stays unacked, to be replayed. */
static void test_shutdown_while_a_dlq_write_waits(void **state)
{
    struct fx f;
    fx_init(&f, verdict_terminal);
    f.cfg.batch.size = 1;
    f.cfg.retry.backoff.min_ms = 60000;
    f.cfg.retry.backoff.max_ms = 60000;
    f.dlq.fail_next = 1000;
    f.dlq.sync = true; /* the write fails inside put(): the job then waits for its retry */
    fx_start(&f);
    fx_emit(&f, 1);
    assert_true(fx_run_until(&f, fx_dlq_failed_once, 10000));
    sl_mapping_halt(f.m);
    assert_int_equal(f.src.acked[0], 0);
    assert_int_equal(f.dlq.nstored, 0);
    fx_release(&f);
}

static void test_caps_pause_and_resume_the_source(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.max_inflight_records = 8;
    fx_start(&f);
    fx_emit(&f, 8);
    assert_true(f.src.paused); /* at once, from inside emit */
    fx_settle(&f);
    assert_false(f.src.paused);
    assert_int_equal(f.src.pauses, 1);
    assert_int_equal(f.src.resumes, 1);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static bool fx_three_in_flight(struct fx *f)
{
    return f->tgt.max_inflight >= 3;
}

static void test_unordered_uses_concurrency(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.ordering = SL_CFG_ORDER_NONE;
    f.cfg.max_concurrency = 3;
    f.cfg.batch.size = 1;
    fx_start(&f);
    fx_emit(&f, 5);
    /* The high-water mark, not the current count: on a slow machine the first calls may
     * already have completed by the time the loop returns. */
    assert_true(fx_run_until(&f, fx_three_in_flight, 10000));
    fx_settle(&f);
    assert_int_equal(f.tgt.max_inflight, 3); /* never more than max_concurrency */
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static bool fx_one_call(struct fx *f)
{
    return f->tgt.calls >= 1;
}

static void test_window_waits_then_flushes_on_drain(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.batch.window_ms = 60000;
    fx_start(&f);
    fx_emit(&f, 2);
    /* Waiting for the window: the loop runs for a while and calls nothing. */
    assert_false(fx_run_until(&f, fx_one_call, 100));
    assert_int_equal(f.tgt.calls, 0);
    fx_emit(&f, 2);
    assert_true(fx_run_until(&f, fx_one_call, 10000)); /* size reached */
    assert_int_equal(f.tgt.calls, 1);
    assert_int_equal(f.tgt.sizes[0], 4);
    fx_emit(&f, 1);
    sl_mapping_drain(f.m, NULL, NULL);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 2);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static void drained_count_cb(struct sl_mapping *m, void *arg)
{
    (*(int *)arg)++;
}

/* The drain ends only once the source said it emits nothing more (its stop callback), even
 * when nothing is in flight, and once every record is handled. */
static void test_drain_waits_for_the_source_to_stop(void **state)
{
    struct fx f;
    int drained = 0;
    fx_init(&f, verdict_ok);
    f.src.defer_stop = true;
    fx_start(&f);
    assert_false(sl_mapping_drained(f.m)); /* not draining */
    sl_mapping_drain(f.m, drained_count_cb, &drained);
    fx_settle(&f);
    assert_int_equal(drained, 0); /* nothing in flight, but the source has not stopped */
    assert_int_equal(sl_mapping_inflight(f.m), 0);
    assert_false(sl_mapping_drained(f.m)); /* what the app's stop asks */
    assert_non_null(f.src.stopped_cb);
    f.src.stopped_cb(&f.src.base, f.src.stopped_arg);
    assert_int_equal(drained, 1);
    assert_true(sl_mapping_drained(f.m));
    fx_release(&f);

    /* Records in flight and a source that stops at once: drained when they are handled. */
    fx_init(&f, verdict_ok);
    drained = 0;
    fx_start(&f);
    fx_emit(&f, 3);
    sl_mapping_drain(f.m, drained_count_cb, &drained);
    assert_int_equal(drained, 0);
    assert_false(sl_mapping_drained(f.m));
    fx_settle(&f);
    assert_int_equal(drained, 1);
    assert_true(sl_mapping_drained(f.m));
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

/* A mapping for FLOOD records on one lane, small batches, a DLQ sink that confirms inside
 * put(), and quiet logs (one line per record otherwise). */
static void fx_flood_start(struct fx *f, verdict_fn verdict, int ordering)
{
    fx_init(f, verdict);
    sl_log_threshold = SL_LOG_OFF;
    f->cfg.ordering = ordering;
    f->cfg.batch.size = 2;
    f->cfg.max_inflight_records = FLOOD + 1;
    f->dlq.sync = true;
}

/* Every record acked once and dead-lettered once, for condition (in any order: the lane is
 * unordered or the records are independent failures). */
static void assert_all_dead_lettered(struct fx *f, const char *condition)
{
    static int seen[FLOOD];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(f->emitted, FLOOD);
    for (int i = 0; i < FLOOD; i++)
        assert_int_equal(f->src.acked[i], 1);
    assert_int_equal(f->dlq.nstored, FLOOD);
    for (int i = 0; i < FLOOD; i++) {
        assert_in_range(f->dlq.stored[i], 0, FLOOD - 1);
        seen[f->dlq.stored[i]]++;
        assert_string_equal(f->dlq.conditions[i], condition);
    }
    for (int i = 0; i < FLOOD; i++)
        assert_int_equal(seen[i], 1);
}

static const int orderings[] = {SL_CFG_ORDER_NONE, SL_CFG_ORDER_LANE};

/* Every batch finishes inside the scheduler (all records expired, each dead-letter write
 * confirmed at once): the lane is served by one loop, not one stack frame per batch. */
static void test_expired_flood_stays_flat(void **state)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(orderings); i++) {
        struct fx f;
        fx_flood_start(&f, verdict_ok, orderings[i]);
        f.cfg.retry.max_record_age_ms = 60000; /* fx_emit stamps records at 1970 */
        fx_start(&f);
        stack_reset();
        fx_emit(&f, FLOOD);
        fx_settle(&f);
        assert_int_equal(f.tgt.calls, 0);
        assert_all_dead_lettered(&f, SL_COND_AGE_EXCEEDED);
        assert_flat(f.m);
        fx_release(&f);
    }
}

/* The same with records that each encode over batch.max_bytes. */
static void test_oversized_flood_stays_flat(void **state)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(orderings); i++) {
        struct fx f;
        fx_flood_start(&f, verdict_ok, orderings[i]);
        f.cfg.batch.max_bytes = 2; /* "[0]" is already 3 bytes */
        fx_start(&f);
        stack_reset();
        fx_emit(&f, FLOOD);
        fx_settle(&f);
        assert_int_equal(f.tgt.calls, 0);
        assert_all_dead_lettered(&f, SL_COND_PAYLOAD_TOO_LARGE);
        assert_flat(f.m);
        fx_release(&f);
    }
}

/* A target that refuses every invoke at once: each batch is queued for a retry without
 * recursing, and once the target accepts again everything is delivered. */
static void test_refused_invokes_stay_flat(void **state)
{
    struct fx f;
    fx_flood_start(&f, verdict_ok, SL_CFG_ORDER_NONE);
    f.cfg.batch.size = 1;
    f.cfg.max_concurrency = 64;
    f.tgt.refuse_left = FLOOD;
    fx_start(&f);
    stack_reset();
    fx_emit(&f, FLOOD);
    fx_settle(&f);
    assert_int_equal(f.tgt.refused, FLOOD);
    assert_int_equal(f.tgt.calls, FLOOD);
    assert_true(f.tgt.max_inflight <= 64);
    assert_accounting(&f, NULL, 0);
    assert_flat(f.m);
    fx_release(&f);
}

/* One concurrency slot, three ordered lanes: the slot goes round the lanes, not back to the
 * lane that just finished. */
static void test_lanes_take_turns_for_a_slot(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.batch.size = 1;
    fx_start(&f);
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        struct sl_record *r = sl_record_new(id, NULL, NULL, "x", 1);
        r->seq = (uint64_t)i;
        r->lane = (uint32_t)(i % 3);
        r->time_ms = 1;
        f.emitted++;
        sl_source_emit(&f.src.base, r);
    }
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 12);
    for (int i = 0; i < 12; i++)
        assert_int_equal(f.tgt.first_id[i], i); /* lanes 0, 1, 2, 0, 1, 2, ... */
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static void verdict_0_retry_after_10s(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    if (n && ids[0] == 0) {
        verdict_always_500(ids, n, o, f);
        o->retry_after_ms = 10000;
    }
}

static bool fx_first_outcome_in(struct fx *f)
{
    return f->tgt.calls == 1 && f->tgt.inflight == 0;
}

static bool fx_target_idle(struct fx *f)
{
    return f->tgt.inflight == 0;
}

static bool fx_two_calls(struct fx *f)
{
    return f->tgt.calls >= 2;
}

/* One timer serves a lane's batch window and its retry backoff: a long backoff must not hold
 * back the window of new records on an unordered lane. */
static void test_window_not_delayed_by_retry_backoff(void **state)
{
    struct fx f;
    fx_init(&f, verdict_0_retry_after_10s);
    f.cfg.ordering = SL_CFG_ORDER_NONE;
    f.cfg.max_concurrency = 2;
    f.cfg.batch.window_ms = 20;
    fx_start(&f);
    fx_emit(&f, 1);
    assert_true(fx_run_until(&f, fx_first_outcome_in, 5000)); /* record 0 waits 10 s now */
    fx_emit(&f, 2);
    assert_true(fx_run_until(&f, fx_two_calls, 5000));
    assert_int_equal(f.tgt.first_id[1], 1);
    assert_int_equal(f.tgt.sizes[1], 2);
    assert_true(fx_run_until(&f, fx_target_idle, 5000)); /* the mock call is freed */
    fx_release(&f); /* record 0 is dropped unacked, as at shutdown */
}

static void verdict_fail_batches_of_4(const int *ids, size_t n, struct sl_outcome *o, json_t **f)
{
    if (n == 4) {
        verdict_always_500(ids, n, o, f);
        o->function_error = true;
    }
}

/* On an ordered lane a batch the target refuses at once is retried before the rest of the
 * lane's work: here the first half of a bisect must not be overtaken by the second. */
static void test_refused_half_keeps_lane_order(void **state)
{
    struct fx f;
    fx_init(&f, verdict_fail_batches_of_4);
    f.cfg.retry.bisect_on_error = true;
    fx_start(&f);
    fx_emit(&f, 4);
    assert_true(fx_run_until(&f, fx_one_call, 5000));
    f.tgt.refuse_left = 1; /* the first half, dispatched when the failure comes back */
    fx_settle(&f);
    assert_int_equal(f.tgt.refused, 1);
    assert_int_equal(f.tgt.calls, 3);
    assert_int_equal(f.tgt.first_id[1], 0);
    assert_int_equal(f.tgt.first_id[2], 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f.src.ack_order[i], i);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_by_size_in_order),
        cmocka_unit_test(test_groups_kept_in_one_batch),
        cmocka_unit_test(test_retries_exhaust_into_dlq),
        cmocka_unit_test(test_bisect_isolates_poison),
        cmocka_unit_test(test_entry_keeps_uncounted_attempts_apart),
        cmocka_unit_test(test_partial_ordered_retries_from_first_failure),
        cmocka_unit_test(test_partial_unordered_retries_only_failed),
        cmocka_unit_test(test_terminal_goes_to_dlq_at_once),
        cmocka_unit_test(test_dlq_write_failure_blocks_then_retries),
        cmocka_unit_test(test_shutdown_while_a_dlq_write_waits),
        cmocka_unit_test(test_caps_pause_and_resume_the_source),
        cmocka_unit_test(test_unordered_uses_concurrency),
        cmocka_unit_test(test_window_waits_then_flushes_on_drain),
        cmocka_unit_test(test_drain_waits_for_the_source_to_stop),
        cmocka_unit_test(test_record_age_exceeded_goes_to_dlq_uninvoked),
        cmocka_unit_test(test_unreached_failures_do_not_use_attempts),
        cmocka_unit_test(test_lanes_share_one_concurrency_slot),
        cmocka_unit_test(test_lanes_take_turns_for_a_slot),
        cmocka_unit_test(test_expired_flood_stays_flat),
        cmocka_unit_test(test_oversized_flood_stays_flat),
        cmocka_unit_test(test_refused_invokes_stay_flat),
        cmocka_unit_test(test_window_not_delayed_by_retry_backoff),
        cmocka_unit_test(test_refused_half_keeps_lane_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
