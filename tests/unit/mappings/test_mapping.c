/* The mapping engine against a scripted in-memory source, target and DLQ sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "mappings/mapping.h"

#define MAX_REC 256

/* ---- source ---- */
struct msrc {
    struct sl_source base;
    int acked[MAX_REC];
    size_t nacked;
    int ack_order[MAX_REC];
    bool paused;
    int pauses, resumes;
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
        sl_buf_printf(out, "%s%s", i ? "," : "", rs[i]->id);
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
    size_t sizes[1024];
    int first_id[1024];
    size_t inflight;
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
    tg->sizes[tg->calls] = n;
    tg->first_id[tg->calls] = n ? ids[0] : -1;
    tg->calls++;
    tg->verdict(ids, n, &c->o, &c->failures);
    tg->inflight++;
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
    int puts;
    int stored[MAX_REC];
    char conditions[MAX_REC][40];
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
        m->nstored++;
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
};

static void fx_init(struct fx *f, verdict_fn verdict)
{
    memset(f, 0, sizeof(*f));
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

/* Runs the loop until every record is handled (bounded). */
static void fx_settle(struct fx *f)
{
    for (int i = 0; i < 100000 && sl_mapping_inflight(f->m) > 0; i++)
        ev_run(f->loop, EVRUN_ONCE);
    assert_int_equal(sl_mapping_inflight(f->m), 0);
}

static void fx_release(struct fx *f)
{
    sl_mapping_destroy(f->m);
    sl_metrics_destroy(f->metrics);
    ev_loop_destroy(f->loop);
}

/* Every record acked exactly once; the DLQ holds exactly `dead`. */
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
    assert_string_equal(f.dlq.conditions[0], SL_DLQ_AGE_EXCEEDED);
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
    assert_string_equal(f.dlq.conditions[0], SL_DLQ_RETRIES_EXHAUSTED);
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
    assert_string_equal(f.dlq.conditions[0], SL_DLQ_TERMINAL);
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

static void test_unordered_uses_concurrency(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.ordering = SL_CFG_ORDER_NONE;
    f.cfg.max_concurrency = 3;
    f.cfg.batch.size = 1;
    fx_start(&f);
    fx_emit(&f, 5);
    ev_run(f.loop, EVRUN_NOWAIT);
    assert_int_equal(f.tgt.inflight, 3);
    fx_settle(&f);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

static void test_window_waits_then_flushes_on_drain(void **state)
{
    struct fx f;
    fx_init(&f, verdict_ok);
    f.cfg.batch.window_ms = 60000;
    fx_start(&f);
    fx_emit(&f, 2);
    ev_run(f.loop, EVRUN_NOWAIT);
    assert_int_equal(f.tgt.calls, 0); /* waiting for the window */
    fx_emit(&f, 2);
    ev_run(f.loop, EVRUN_NOWAIT);
    assert_int_equal(f.tgt.calls, 1); /* size reached */
    fx_emit(&f, 1);
    sl_mapping_drain(f.m, NULL, NULL);
    fx_settle(&f);
    assert_int_equal(f.tgt.calls, 2);
    assert_accounting(&f, NULL, 0);
    fx_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_by_size_in_order),
        cmocka_unit_test(test_retries_exhaust_into_dlq),
        cmocka_unit_test(test_bisect_isolates_poison),
        cmocka_unit_test(test_partial_ordered_retries_from_first_failure),
        cmocka_unit_test(test_partial_unordered_retries_only_failed),
        cmocka_unit_test(test_terminal_goes_to_dlq_at_once),
        cmocka_unit_test(test_dlq_write_failure_blocks_then_retries),
        cmocka_unit_test(test_caps_pause_and_resume_the_source),
        cmocka_unit_test(test_unordered_uses_concurrency),
        cmocka_unit_test(test_window_waits_then_flushes_on_drain),
        cmocka_unit_test(test_record_age_exceeded_goes_to_dlq_uninvoked),
        cmocka_unit_test(test_unreached_failures_do_not_use_attempts),
        cmocka_unit_test(test_lanes_share_one_concurrency_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
